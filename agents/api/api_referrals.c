/* api_referrals.c — /v1/referrals: create, list, show, status, cancel.
 *
 * A referral is addressed to an organisation ('to') or to whoever offers a
 * service ('service', resolved in the broker's directory). The receiver
 * moves it on; the sender may only ask to cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/keys.h"
#include "render.h"

static int resolve_destination(agent_api *api, api_call *c)
{
    referral_new *n = &c->create;
    if (n->to && n->service) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "give either 'to' or 'service', not both");
        return POLKU_EINVAL;
    }
    if (n->to) {
        if (!polku_org_id_valid(n->to) || strcmp(n->to, api->cfg->org) == 0) {
            polku_http_respond_error(c->req, 400, "bad_request",
                                     "'to' must be another organisation's "
                                     "id");
            return POLKU_EINVAL;
        }
        return POLKU_OK;
    }
    if (!n->service || !*n->service) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'to' or 'service' is required");
        return POLKU_EINVAL;
    }
    int rc = directory_resolve_service(api->dir, n->service, &n->to);
    if (rc == POLKU_EAGAIN)
        polku_http_respond_error(c->req, 503, "broker_unreachable",
                                 "no directory from the broker yet to "
                                 "resolve the service");
    else if (rc == POLKU_ENOTFOUND)
        polku_http_respond_error(c->req, 400, "unknown_service",
                                 "no organisation offers that service");
    else if (rc == POLKU_EEXIST)
        polku_http_respond_error(c->req, 400, "ambiguous_service",
                                 "several organisations offer that service; "
                                 "name one with 'to'");
    return rc ? POLKU_EINVAL : POLKU_OK;
}

static int parse_create(agent_api *api, api_call *c)
{
    json_t *b = c->body;
    referral_new *n = &c->create;
    const char *due = NULL;
    json_t *transfer = json_object_get(b, "transfer");
    if (api_parse_client(c, b, n->client_key) ||
        api_opt_string(c->req, b, "to", 32, &n->to) ||
        api_opt_string(c->req, b, "service", 128, &n->service) ||
        api_opt_string(c->req, b, "reason", POLKU_MAX_TEXT, &n->reason) ||
        api_opt_string(c->req, b, "urgency", 32, &n->urgency) ||
        api_opt_string(c->req, b, "due", 64, &due))
        return POLKU_EINVAL;
    if (!n->urgency)
        n->urgency = "routine";
    if (strcmp(n->urgency, "routine") && strcmp(n->urgency, "urgent")) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'urgency' must be routine or urgent");
        return POLKU_EINVAL;
    }
    if (due && polku_time_parse(due, &n->due_ms)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'due' must be an RFC 3339 time or a date");
        return POLKU_EINVAL;
    }
    if (transfer && !json_is_boolean(transfer)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'transfer' must be true or false");
        return POLKU_EINVAL;
    }
    n->transfer = json_is_true(transfer);
    return resolve_destination(api, c);
}

/* ---- batch items ---- */

static int item_create(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ReferralRecord *r = NULL;
    int rc = api_remember_client(c, txn, c->create.client_key);
    if (!rc)
        rc = referrals_create(api->d, txn, &c->create, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 201, render_referral(r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_status(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ReferralRecord *r = NULL;
    int rc = referrals_set_status(api->d, txn, c->id.b, c->status, c->reason,
                                  c->outcome, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_referral(r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_cancel(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ReferralRecord *r = NULL;
    int rc = referrals_request_cancel(api->d, txn, c->id.b, c->reason, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 202, render_referral(r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_show(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(api->d->st, txn, c->id.b, &r);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_referral(r, true));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

typedef struct list_filter {
    api_call *call;
    int direction; /* -1 any, 0 in, 1 out */
    int status;    /* -1 any */
    size_t limit;
    json_t *list;
} list_filter;

static int add_listed(Polku__ReferralRecord *r, void *arg)
{
    list_filter *f = arg;
    if ((f->direction < 0 || f->direction == (int)r->outgoing) &&
        (f->status < 0 || f->status == (int)r->status))
        json_array_append_new(f->list, render_referral(r, false));
    return json_array_size(f->list) >= f->limit;
}

static int item_list(MDB_txn *txn, void *ctx)
{
    list_filter *f = ctx;
    agent_api *api = f->call->api;
    f->list = json_array();
    int rc = store_each_referral(api->d->st, txn, add_listed, f);
    if (rc) {
        json_decref(f->list);
        return rc;
    }
    api_after_reply(api, f->call->req, 200,
                    json_pack("{s:I, s:o}", "count",
                              (json_int_t)json_array_size(f->list), "referrals",
                              f->list));
    return POLKU_OK;
}

void api_referral_list(agent_api *api, api_call *c)
{
    list_filter f = {.call = c, .direction = -1, .status = -1, .limit = 100000};
    const char *dir = polku_http_query(c->req, "direction");
    const char *st = polku_http_query(c->req, "status");
    const char *limit = polku_http_query(c->req, "limit");
    polku_referral_state s;
    if (dir && strcmp(dir, "in") && strcmp(dir, "out")) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "direction must be in or out");
        return;
    }
    if (dir)
        f.direction = strcmp(dir, "out") == 0;
    if (st) {
        if (polku_referral_state_parse(st, &s)) {
            polku_http_respond_error(c->req, 400, "bad_request",
                                     "unknown status");
            return;
        }
        f.status = (int)s;
    }
    if (limit) {
        char *end = NULL;
        unsigned long n = strtoul(limit, &end, 10);
        if (!*limit || *end || n == 0 || n > 100000) {
            polku_http_respond_error(c->req, 400, "bad_request",
                                     "limit must be 1..100000");
            return;
        }
        f.limit = n;
    }
    int rc = batch_read(api->d->b, item_list, &f);
    if (rc)
        api_respond_err(c->req, c->object, rc);
}

void api_referral_create(agent_api *api, api_call *c)
{
    if (api_parse_body(c) == 0 && parse_create(api, c) == 0)
        api_run(api, c, item_create);
}

void api_referral_show(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_show);
}

void api_referral_status(agent_api *api, api_call *c)
{
    const char *status = NULL;
    if (api_parse_body(c))
        return;
    if (api_opt_string(c->req, c->body, "status", 32, &status) ||
        api_opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason) ||
        api_opt_string(c->req, c->body, "outcome", POLKU_MAX_TEXT, &c->outcome))
        return;
    if (!status || polku_referral_state_parse(status, &c->status)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'status' must be one of received, accepted, "
                                 "rejected, in-progress, on-hold, completed, "
                                 "failed, cancelled");
        return;
    }
    api_run(api, c, item_status);
}

void api_referral_cancel(agent_api *api, api_call *c)
{
    if (api_parse_body(c))
        return;
    if (api_opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
        return;
    if (!c->reason || !*c->reason) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'reason' is required");
        return;
    }
    api_run(api, c, item_cancel);
}
