/* api_referrals.c — /v1/referrals: create, list, show, status, cancel.
 *
 * A referral is addressed to an organisation ('to') or to whoever offers a
 * service ('service', resolved in the broker's directory). The receiver
 * moves it on; the sender may only ask to cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "json_create.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/keys.h"
#include "render.h"

static int bad(api_call *c, const char *code, const char *msg)
{
    polku_http_respond_error(c->req, 400, code, msg);
    return POLKU_EINVAL;
}

/* A service named back to the caller only when it is a token (never
 * words or an identity code someone typed there). */
static const char *shown_service(const char *service)
{
    return polku_token_valid(service) ? service : "that service";
}

/* 'to' alone, 'service' alone (resolved in the directory), or both when
 * 'to' offers 'service'. Checked before the consent, so an organisation
 * that does not exist is named as such. */
static int resolve_destination(agent_api *api, api_call *c)
{
    referral_new *n = &c->create;
    char msg[256];
    if (n->service && !*n->service)
        n->service = NULL;
    if (n->to) {
        if (!polku_org_id_valid(n->to) || strcmp(n->to, api->cfg->org) == 0)
            return bad(c, "bad_request",
                       "'to' must be another organisation's id");
        if (!directory_known(api->dir))
            return POLKU_OK; /* the broker refuses an unknown one */
        if (!directory_knows_org(api->dir, n->to)) {
            snprintf(msg, sizeof msg,
                     "'to': '%s' is not an organisation in the broker's "
                     "directory",
                     n->to);
            return bad(c, "unknown_org", msg);
        }
        if (n->service && !directory_org_offers(api->dir, n->to, n->service)) {
            snprintf(msg, sizeof msg,
                     "'%s' does not offer '%s' in the broker's directory; "
                     "leave out 'service' or 'to'",
                     n->to, shown_service(n->service));
            return bad(c, "service_not_offered", msg);
        }
        return POLKU_OK;
    }
    if (!n->service)
        return bad(c, "bad_request", "'to' or 'service' is required");
    int rc = directory_resolve_service(api->dir, n->service, &n->to);
    if (rc == POLKU_EAGAIN) {
        polku_http_respond_error(c->req, 503, "broker_unreachable",
                                 "no directory from the broker yet to "
                                 "resolve the service");
    } else if (rc == POLKU_ENOTFOUND &&
               directory_org_offers(api->dir, api->cfg->org, n->service)) {
        snprintf(msg, sizeof msg,
                 "only this organisation (%s) offers '%s'; a referral goes "
                 "to another organisation",
                 api->cfg->org, shown_service(n->service));
        bad(c, "service_not_offered", msg);
    } else if (rc == POLKU_ENOTFOUND) {
        snprintf(msg, sizeof msg, "no organisation offers '%s'",
                 shown_service(n->service));
        bad(c, "unknown_service", msg);
    } else if (rc == POLKU_EEXIST) {
        bad(c, "ambiguous_service",
            "several organisations offer that service; name one with 'to'");
    }
    return rc ? POLKU_EINVAL : POLKU_OK;
}

/* transfer: true needs the rule that will offer the handover once the
 * referral is accepted; without one the flag would do nothing. */
static int check_transfer(agent_api *api, api_call *c)
{
    referral_new *n = &c->create;
    if (!n->transfer || agent_rule_for_referral(api->cfg, n->service))
        return POLKU_OK;
    char msg[320];
    if (n->service)
        snprintf(msg, sizeof msg,
                 "'transfer' needs a rule in this agent's config to offer "
                 "the handover once the referral is accepted: [rule NAME] "
                 "on = referral_accepted, service = %s",
                 shown_service(n->service));
    else
        snprintf(msg, sizeof msg,
                 "'transfer' needs a rule in this agent's config to offer "
                 "the handover once the referral is accepted: [rule NAME] "
                 "on = referral_accepted (without service =, as the "
                 "referral names no service)");
    return bad(c, "no_transfer_rule", msg);
}

/* What both readers of the body share once its members are read: the
 * values checked in this order, the destination resolved. transfer_bad:
 * 'transfer' was there and not a boolean. */
static int check_create(agent_api *api, api_call *c, const char *due,
                        bool transfer_bad)
{
    referral_new *n = &c->create;
    bool date_only = false;
    if (!n->urgency)
        n->urgency = "routine";
    if (strcmp(n->urgency, "routine") && strcmp(n->urgency, "urgent"))
        return bad(c, "bad_request", "'urgency' must be routine or urgent");
    if (due && api_parse_time(c, "due", due, &n->due_ms, &date_only))
        return POLKU_EINVAL;
    /* a plain date is due until its end in Finland, and stored so: every
     * reader (the receiver, the broker's SLA, the dashboard) sees the same
     * instant */
    if (due && date_only)
        n->due_ms = polku_helsinki_end_of_day(n->due_ms);
    if (due && n->due_ms < domain_now(api->d)) {
        char now[POLKU_TIME_TEXT], msg[128];
        polku_time_format(domain_now(api->d), now, sizeof now);
        snprintf(msg, sizeof msg, "'due' is in the past (now %s)", now);
        return bad(c, "invalid_due", msg);
    }
    if (transfer_bad)
        return bad(c, "bad_request", "'transfer' must be true or false");
    if (resolve_destination(api, c))
        return POLKU_EINVAL;
    return check_transfer(api, c);
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
        api_opt_text(c->req, b, "reason", POLKU_MAX_TEXT, &n->reason) ||
        api_opt_string(c->req, b, "urgency", 32, &n->urgency) ||
        api_opt_string(c->req, b, "due", 64, &due) ||
        api_parse_override(c, b, &n->override))
        return POLKU_EINVAL;
    n->transfer = json_is_true(transfer);
    return check_create(api, c, due, transfer && !json_is_boolean(transfer));
}

/* The fields the hot path read (json_create.h), checked as parse_create
 * checks them. */
static int parse_create_fast(agent_api *api, api_call *c,
                             const create_fields *f)
{
    referral_new *n = &c->create;
    if (api_client_from_text(c, f->hetu, f->key, n->client_key))
        return POLKU_EINVAL;
    n->to = f->to;
    n->service = f->service;
    n->reason = f->reason;
    n->urgency = f->urgency;
    n->transfer = f->transfer;
    return check_create(api, c, f->due, false);
}

/* ---- batch items ---- */

/* 201 with the record: written directly (json_create.h), or through
 * jansson for another view or a record the writer cannot write. */
static void answer_created(api_call *c, const Polku__ReferralRecord *r)
{
    if (!c->view) {
        jw w;
        jw_init(&w);
        const char *tag_value = NULL;
        const char *tag_name = polku_http_json_tag(c->req, &tag_value);
        json_write_referral(&w, r, tag_name, tag_value);
        size_t len = 0;
        char *text = jw_take(&w, &len);
        if (text) {
            api_after_reply_text(c->api, c->req, 201, text, len);
            return;
        }
    }
    api_after_reply(c->api, c->req, 201,
                    c->view ? c->view(c, r) : render_referral(r, false));
}

static int item_create(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__ReferralRecord *r = NULL;
    int rc = api_remember_client(c, txn, c->create.client_key);
    if (!rc && c->create.override.basis)
        rc = overrides_check(api->d, txn, c->create.client_key, c->create.to,
                             "referral", &c->create.override, &c->why);
    if (!rc)
        rc = referrals_create(api->d, txn, &c->create, &r);
    if (rc)
        return rc;
    answer_created(c, r);
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

void api_referral_create_parsed(agent_api *api, api_call *c)
{
    if (parse_create(api, c) == 0)
        api_run(api, c, item_create);
}

/* The hot path reads the body without jansson when it is the usual kind
 * (json_create.h); anything else, an error included, goes the general
 * way, which names what is wrong as it always has. */
void api_referral_create(agent_api *api, api_call *c)
{
    size_t len = 0;
    const char *data = polku_http_body(c->req, &len);
    jr_doc doc;
    create_fields f;
    if (jr_parse(&doc, data ? data : "", len) &&
        json_create_fields(doc.root, &f)) {
        if (parse_create_fast(api, c, &f) == 0)
            api_run(api, c, item_create);
    } else if (api_parse_body(c) == 0) {
        api_referral_create_parsed(api, c);
    }
    jr_doc_fini(&doc);
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
        api_opt_text(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason) ||
        api_opt_text(c->req, c->body, "outcome", POLKU_MAX_TEXT, &c->outcome))
        return;
    if (!status || polku_referral_state_parse(status, &c->status)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'status' must be one of received, accepted, "
                                 "rejected, in-progress, on-hold, completed, "
                                 "failed, cancelled");
        return;
    }
    if (c->status == POLKU__REFERRAL_STATE__REFERRAL_COMPLETED && !c->outcome) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'outcome' is required when the status is "
                                 "completed: what came of the referral");
        return;
    }
    api_run(api, c, item_status);
}

void api_referral_cancel(agent_api *api, api_call *c)
{
    if (api_parse_body(c))
        return;
    if (api_opt_text(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
        return;
    if (!c->reason || !*c->reason) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'reason' is required");
        return;
    }
    api_run(api, c, item_cancel);
}
