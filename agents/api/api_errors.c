/* api_errors.c — one table from what went wrong to what the caller hears.
 *
 * The domain says why it refused (a domain_reason) and the store and codec
 * say what failed (a polku_err); neither knows HTTP. Here each becomes one
 * status and one error code, and the message names the object the route is
 * about, so a missing handover is never called a missing referral. */
#include <stdio.h>

#include "api_call.h"
#include "polku/error.h"

static const unsigned reason_status[DOMAIN_REASON_COUNT] = {
    [DOMAIN_REFUSED_NONE] = 409,        [DOMAIN_BAD_INPUT] = 400,
    [DOMAIN_NOT_FOUND] = 404,           [DOMAIN_NOT_COORDINATOR] = 403,
    [DOMAIN_HANDOVER_OPEN] = 409,       [DOMAIN_CONSENT_REQUIRED] = 403,
    [DOMAIN_INVALID_TRANSITION] = 409,  [DOMAIN_SUCCESSOR_REQUIRED] = 409,
    [DOMAIN_STALE_PLAN] = 409,          [DOMAIN_OVERRIDE_NOT_PERMITTED] = 403,
    [DOMAIN_OVERRIDE_NOT_NEEDED] = 409,
};

static const struct {
    api_object object; /* API_NONE: any */
    int rc;
    unsigned status;
    const char *code;
    const char *message; /* %s: the object, when it has one */
} errors[] = {
    {API_CONSENT, POLKU_EEXIST, 409, "already_revoked",
     "the consent was already revoked"},
    {API_NONE, POLKU_ENOTFOUND, 404, "not_found", "no such %s"},
    {API_NONE, POLKU_ETRANSITION, 409, "invalid_transition",
     "that change is not allowed from the %s's current status, or not by "
     "this organisation"},
    {API_NONE, POLKU_EINVAL, 400, "bad_request",
     "a reason is required for this change of the %s"},
    {API_NONE, POLKU_EFORBIDDEN, 403, "consent_required",
     "no active consent of this client covers both organisations and this "
     "purpose"},
    {API_NONE, POLKU_EEXIST, 409, "conflict",
     "already done: nothing was changed"},
    {API_NONE, POLKU_EFULL, 507, "store_full",
     "the store is full; nothing was changed"},
};

static const char *object_name(api_object object)
{
    switch (object) {
    case API_REFERRAL:
        return "referral";
    case API_CONSENT:
        return "consent";
    case API_HANDOVER:
        return "handover";
    case API_PATH:
        return "client path";
    default:
        return "object";
    }
}

void api_respond_err(polku_http_req *req, api_object object, int rc)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        if (errors[i].rc != rc ||
            (errors[i].object != API_NONE && errors[i].object != object))
            continue;
        char msg[200];
        snprintf(msg, sizeof msg, errors[i].message, object_name(object));
        polku_http_respond_error(req, errors[i].status, errors[i].code, msg);
        return;
    }
    polku_http_respond_error(req, 500, "internal", polku_strerror(rc));
}

void api_respond_refusal(polku_http_req *req, const domain_refusal *why)
{
    unsigned status = (unsigned)why->reason < DOMAIN_REASON_COUNT
                          ? reason_status[why->reason]
                          : 409;
    polku_http_respond_error(req, status, domain_reason_code(why->reason),
                             why->message);
}
