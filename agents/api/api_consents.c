/* api_consents.c — /v1/consents: record, list and revoke a client's consents.
 *
 * Validation happens before anything is stored: every organisation must be
 * in the broker's directory, the purposes known, the validity in the
 * future; the recording organisation is always in scope. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_call.h"
#include "render.h"
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

static int parse_orgs(agent_api *api, api_call *c, json_t *orgs)
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
    if (!directory_known(api->dir)) {
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
        if (!directory_knows_org(api->dir, org)) {
            char msg[96];
            snprintf(msg, sizeof msg, "'%s' is not in the directory", org);
            return bad(c, "unknown_org", msg);
        }
        if (!listed(n->orgs, n->n_orgs, org))
            n->orgs[n->n_orgs++] = org;
    }
    if (!listed(n->orgs, n->n_orgs, api->cfg->org))
        n->orgs[n->n_orgs++] = api->cfg->org;
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

/* The latest valid_until a consent recorded now may have: the end, in
 * Finland, of the same day consent_max_years ahead. */
static uint64_t latest_validity(agent_api *api, char *day, size_t len)
{
    time_t secs = (time_t)(domain_now(api->d) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    tm.tm_year += (int)api->cfg->consent_max_years;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    time_t later = timegm(&tm); /* 29 February becomes 1 March */
    gmtime_r(&later, &tm);
    snprintf(day, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    return polku_helsinki_end_of_day((uint64_t)later * 1000);
}

static int parse_grant(agent_api *api, api_call *c)
{
    json_t *b = c->body;
    consent_new *n = &c->consent;
    const char *until = NULL, *form = NULL;
    bool date_only = false;
    char msg[256], day[40];
    if (api_parse_client(c, b, n->client_key) ||
        parse_orgs(api, c, json_object_get(b, "orgs")) ||
        parse_purposes(c, json_object_get(b, "purposes")) ||
        api_opt_string(c->req, b, "valid_until", 64, &until) ||
        api_opt_string(c->req, b, "form", 32, &form))
        return POLKU_EINVAL;
    if (!until)
        return bad(c, "bad_request",
                   "'valid_until' is required: YYYY-MM-DD (to the end of "
                   "that day in Finland) or an RFC 3339 time");
    if (api_parse_time(c, "valid_until", until, &n->valid_until_ms, &date_only))
        return POLKU_EINVAL;
    if (date_only) /* to the end of that day where it was given */
        n->valid_until_ms = polku_helsinki_end_of_day(n->valid_until_ms);
    if (n->valid_until_ms <= domain_now(api->d))
        return bad(c, "invalid_validity", "'valid_until' is in the past");
    if (n->valid_until_ms > latest_validity(api, day, sizeof day)) {
        snprintf(msg, sizeof msg,
                 "'valid_until' is more than %llu years ahead "
                 "(consent_max_years); the latest allowed is %s",
                 (unsigned long long)api->cfg->consent_max_years, day);
        return bad(c, "invalid_validity", msg);
    }
    if (form && !polku_consent_form_valid(form))
        return bad(c, "invalid_form",
                   "'form' must be one of " POLKU_CONSENT_FORMS_TEXT);
    n->form = form ? form : "written";
    return POLKU_OK;
}

static int item_grant(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ConsentRecord *r = NULL;
    int rc = api_remember_client(c, txn, c->consent.client_key);
    if (!rc)
        rc = consents_grant(api->d, txn, &c->consent, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 201, render_consent(r, domain_now(api->d)));
    polku__consent_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_revoke(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ConsentRecord *r = NULL;
    int rc = consents_revoke(api->d, txn, c->id.b, c->reason, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_consent(r, domain_now(api->d)));
    polku__consent_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_list(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    api_after_reply(api, c->req, 200,
                    render_consent_list(api->d->st, txn, c->consent.client_key,
                                        domain_now(api->d)));
    return POLKU_OK;
}

void api_consent_list(agent_api *api, api_call *c)
{
    const char *client = polku_http_query(c->req, "client");
    if (!client || polku_client_key_parse(client, c->consent.client_key)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "?client= must be a 32-hex client key");
        return;
    }
    api_run_read(api, c, item_list);
}

void api_consent_grant(agent_api *api, api_call *c)
{
    if (api_parse_body(c) == 0 && parse_grant(api, c) == 0)
        api_run(api, c, item_grant);
}

void api_consent_revoke(agent_api *api, api_call *c)
{
    if (api_parse_body(c) ||
        api_opt_text(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
        return;
    if (!c->reason || !*c->reason) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'reason' is required");
        return;
    }
    api_run(api, c, item_revoke);
}
