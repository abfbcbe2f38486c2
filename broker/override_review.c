/* override_review.c — the operator's review, sent to be logged (see .h). */
#include "override_review.h"

#include <errno.h>
#include <string.h>

#include "router.h"
#include "polku/id.h"
#include "polku/log.h"

void override_review_http(broker *b, polku_http_req *req, const char *idtext)
{
    polku_id id;
    ov_view v;
    if (strlen(idtext) != POLKU_ID_TEXT - 1 || polku_id_parse(idtext, &id)) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "an override is named by the id of its "
                                 "referral or handover (26 characters)");
        return;
    }
    if (!ov_find(cl_overrides(b->clients), id.b, &v)) {
        polku_http_respond_error(req, 404, "not_found",
                                 "no referral or handover under an override "
                                 "has that id");
        return;
    }
    if (v.reviewed) {
        polku_http_respond_error(req, 409, "already_reviewed",
                                 "this override has been reviewed");
        return;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__OverrideReviewed r = POLKU__OVERRIDE_REVIEWED__INIT;
    uint8_t mac[32];
    char *to[1] = {(char *)v.used_by};
    env.n_to = 1;
    env.to = to;
    env.client_key.data = (uint8_t *)v.client_key;
    env.client_key.len = 16;
    r.object_id.data = id.b;
    r.object_id.len = 16;
    r.used_by = (char *)v.used_by;
    r.reviewer = "operator";
    ov_review_mac(b->claim_key, v.client_key, id.b, v.used_by, mac);
    r.authenticator.data = mac;
    r.authenticator.len = sizeof mac;
    env.body_case = POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED;
    env.override_reviewed = &r;
    int rc = router_send_to_org(b, v.used_by, &env);
    if (rc) {
        polku_http_respond_error(req, 503, "org_offline",
                                 "the organisation that used the override is "
                                 "not connected: its log must record the "
                                 "review; try again when it is");
        return;
    }
    log_info("override on %s: operator review sent to %s to be logged", idtext,
             v.used_by);
    polku_http_respond_json(req, 202,
                            json_pack("{s:s, s:s, s:s}", "object_id", idtext,
                                      "used_by", v.used_by, "status", "sent"));
}
