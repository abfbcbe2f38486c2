/* api_override.c — break-glass in the API: the `override` object of a
 * referral or handover, and POST /v1/overrides/{id}/review.
 *
 * {"override": {"basis": "emergency" | "statutory", "reason": "..."}}:
 * both fields required, nothing else in the object; the reason is free
 * text (sealed for the receiver, kept here). Whether this organisation may
 * use it and whether a consent covers the message anyway is the domain's
 * (overrides.h): 403 override_not_permitted, 409 override_not_needed.
 *
 * The review ({"client": {...}}) is the client's coordinator's: an event
 * for the broker, which then clears the alert override_used. */
#include "api_override.h"

#include <stdio.h>
#include <string.h>

#include "api_call.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "render.h"

int api_override_parse(json_t *body, override_request *o, char *msg, size_t len)
{
    o->basis = o->reason = NULL;
    json_t *v = json_object_get(body, "override");
    if (!v || json_is_null(v))
        return POLKU_OK;
    if (!json_is_object(v)) {
        snprintf(msg, len,
                 "'override' must be an object: {\"basis\": \"emergency\" "
                 "or \"statutory\", \"reason\": \"...\"}");
        return POLKU_EINVAL;
    }
    const char *key;
    json_t *field;
    json_object_foreach(v, key, field)
    {
        if (strcmp(key, "basis") != 0 && strcmp(key, "reason") != 0) {
            snprintf(msg, len,
                     "'override' has an unknown field; expected only "
                     "'basis' and 'reason'");
            return POLKU_EINVAL;
        }
    }
    json_t *basis = json_object_get(v, "basis");
    json_t *reason = json_object_get(v, "reason");
    if (!json_is_string(basis) ||
        !polku_override_basis_valid(json_string_value(basis))) {
        snprintf(msg, len,
                 "'override.basis' must be " POLKU_OVERRIDE_BASES_TEXT);
        return POLKU_EINVAL;
    }
    if (!json_is_string(reason)) {
        snprintf(msg, len,
                 "'override.reason' is required: a text saying why no "
                 "consent could be asked");
        return POLKU_EINVAL;
    }
    const char *r = json_string_value(reason);
    size_t n = json_string_length(reason);
    bool blank = true;
    for (size_t i = 0; i < n; i++)
        blank &= r[i] == ' ' || r[i] == '\t' || r[i] == '\n' || r[i] == '\r';
    if (blank || n > POLKU_MAX_TEXT || strlen(r) != n) {
        snprintf(msg, len,
                 "'override.reason' must hold text (at most %d bytes, no "
                 "NUL)",
                 POLKU_MAX_TEXT);
        return POLKU_EINVAL;
    }
    o->basis = json_string_value(basis);
    o->reason = r;
    return POLKU_OK;
}

int api_parse_override(api_call *c, json_t *body, override_request *o)
{
    char msg[200];
    if (api_override_parse(body, o, msg, sizeof msg) == POLKU_OK)
        return POLKU_OK;
    polku_http_respond_error(c->req, 400, "bad_override", msg);
    return POLKU_EINVAL;
}

static int item_review(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    int rc = overrides_review(c->api->d, txn, c->key, c->id.b, &c->why);
    if (rc)
        return rc;
    char id[POLKU_ID_TEXT];
    api_after_reply(c->api, c->req, 202,
                    json_pack("{s:s, s:s, s:s}", "object_id",
                              polku_id_text(c->id.b, id), "reviewed_by",
                              c->api->cfg->org, "status", "reviewed"));
    return POLKU_OK;
}

void api_override_review(agent_api *api, api_call *c)
{
    if (api_parse_body(c) || api_parse_client(c, c->body, c->key))
        return;
    api_run(api, c, item_review);
}
