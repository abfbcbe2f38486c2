/* api_consents.c — /v1/consents: record, list and revoke a client's consents.
 *
 * Validation happens before anything is stored: every organisation must be
 * in the broker's directory, the purposes known, the validity in the
 * future; the recording organisation is always in scope. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"

static const char *const known_purposes[] = {"referral", "handover", "path",
                                             "plan"};

static bool listed(const char *const *list, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], x) == 0)
            return true;
    return false;
}

static int bad(api_call *c, const char *code, const char *msg)
{
    polku_http_respond_error(c->req, 400, code, msg);
    return POLKU_EINVAL;
}

static int parse_orgs(agent *a, api_call *c, json_t *orgs)
{
    consent_new *n = &c->consent;
    size_t i;
    json_t *v;
    if (!json_is_array(orgs) || json_array_size(orgs) == 0)
        return bad(c, "bad_request",
                   "'orgs' must be a non-empty list of "
                   "organisation ids");
    if (json_array_size(orgs) > CONSENT_MAX_ORGS)
        return bad(c, "bad_request", "'orgs' lists too many organisations");
    if (!a->directory) {
        polku_http_respond_error(c->req, 503, "broker_unreachable",
                                 "no directory from the broker yet to check "
                                 "the organisations");
        return POLKU_EINVAL;
    }
    json_array_foreach(orgs, i, v)
    {
        const char *org = json_string_value(v);
        if (!org || !polku_org_id_valid(org))
            return bad(c, "bad_request", "'orgs' must hold organisation ids");
        if (!agent_knows_org(a, org)) {
            char msg[96];
            snprintf(msg, sizeof msg, "'%s' is not in the directory", org);
            return bad(c, "unknown_org", msg);
        }
        if (!listed(n->orgs, n->n_orgs, org))
            n->orgs[n->n_orgs++] = org;
    }
    if (!listed(n->orgs, n->n_orgs, a->cfg->org))
        n->orgs[n->n_orgs++] = a->cfg->org;
    if (n->n_orgs < 2)
        return bad(c, "bad_request",
                   "a consent needs at least one other "
                   "organisation");
    return POLKU_OK;
}

static int parse_purposes(api_call *c, json_t *purposes)
{
    consent_new *n = &c->consent;
    size_t i;
    json_t *v;
    if (!json_is_array(purposes) || json_array_size(purposes) == 0 ||
        json_array_size(purposes) > 4)
        return bad(c, "bad_request",
                   "'purposes' must list some of referral, "
                   "handover, path, plan");
    json_array_foreach(purposes, i, v)
    {
        const char *p = json_string_value(v);
        if (!p || !listed(known_purposes, 4, p))
            return bad(c, "unknown_purpose",
                       "purposes are referral, "
                       "handover, path and plan");
        if (!listed(n->purposes, n->n_purposes, p))
            n->purposes[n->n_purposes++] = p;
    }
    return POLKU_OK;
}

static int parse_grant(agent *a, api_call *c)
{
    json_t *b = c->body;
    consent_new *n = &c->consent;
    const char *until = NULL, *form = NULL;
    if (parse_client(a, c, b, n->client_key) ||
        parse_orgs(a, c, json_object_get(b, "orgs")) ||
        parse_purposes(c, json_object_get(b, "purposes")) ||
        opt_string(c->req, b, "valid_until", 64, &until) ||
        opt_string(c->req, b, "form", 32, &form))
        return POLKU_EINVAL;
    if (!until || polku_time_parse(until, &n->valid_until_ms))
        return bad(c, "bad_request",
                   "'valid_until' must be an RFC 3339 time "
                   "or a date");
    if (n->valid_until_ms <= polku_now_ms())
        return bad(c, "invalid_validity", "'valid_until' is in the past");
    if (form && *form && !polku_consent_form_valid(form))
        return bad(c, "bad_request",
                   "'form' must be Y100, written or verbal");
    n->form = form && *form ? form : "written";
    return POLKU_OK;
}

static int item_grant(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ConsentRecord *r = NULL;
    int rc = remember_client(a, txn, c, c->consent.client_key);
    if (!rc)
        rc = consents_grant(a, txn, &c->consent, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 201, consents_json(r, polku_now_ms()));
    polku__consent_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_revoke(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ConsentRecord *r = NULL;
    int rc = consents_revoke(a, txn, c->id.b, c->reason, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, consents_json(r, polku_now_ms()));
    polku__consent_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_list(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_after_reply(a, c->req, 200,
                      consents_list_json(a, txn, c->consent.client_key));
    return POLKU_OK;
}

static void list_consents(agent *a, api_call *c)
{
    const char *client = polku_http_query(c->req, "client");
    if (!client || polku_client_key_parse(client, c->consent.client_key)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "?client= must be a 32-hex client key");
        return;
    }
    run_read(a, c, item_list);
}

static void revoke_consent(agent *a, api_call *c, const char *idtext)
{
    if (polku_id_parse(idtext, &c->id)) {
        polku_http_respond_error(c->req, 404, "not_found", "no such consent");
        return;
    }
    if (parse_body(c->req, &c->body) ||
        opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
        return;
    if (!c->reason || !*c->reason) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'reason' is required");
        return;
    }
    int rc = agent_run_item(a, item_revoke, c);
    if (rc == POLKU_ENOTFOUND)
        polku_http_respond_error(c->req, 404, "not_found", "no such consent");
    else if (rc == POLKU_EEXIST)
        polku_http_respond_error(c->req, 409, "already_revoked",
                                 "the consent was already revoked");
    else if (rc)
        respond_err(c->req, rc);
}

void api_consent_routes(agent *a, api_call *c, const char *method,
                        const char *rest)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if ((*rest == '\0' || strcmp(rest, "/") == 0) && get) {
        list_consents(a, c);
    } else if ((*rest == '\0' || strcmp(rest, "/") == 0) && post) {
        if (parse_body(c->req, &c->body) == 0 && parse_grant(a, c) == 0)
            run(a, c, item_grant);
    } else if (post && strlen(rest) == 1 + 26 + 7 &&
               strcmp(rest + 27, "/revoke") == 0) {
        char idtext[POLKU_ID_TEXT];
        memcpy(idtext, rest + 1, 26);
        idtext[26] = '\0';
        revoke_consent(a, c, idtext);
    } else {
        polku_http_respond_error(c->req, 404, "not_found", "no such endpoint");
    }
}
