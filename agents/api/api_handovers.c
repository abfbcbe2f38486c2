/* api_handovers.c — /v1/handovers: offer, answer, withdraw and list.
 *
 * Only shapes are checked here; who may do what (the coordinator offers,
 * the receiver answers, the offerer asks to withdraw) is decided in
 * handovers.c inside the item, against the stored records, so a refused
 * call stores nothing. */
#include <stdio.h>
#include <string.h>

#include "api_call.h"
#include "render.h"
#include "polku/handover.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"

static void bad(api_call *c, const char *msg)
{
    polku_http_respond_error(c->req, 400, "bad_request", msg);
}

/* ---- items ---- */

static int item_offer(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__HandoverRecord *h = NULL;
    int rc = api_remember_client(c, txn, c->offer.client_key);
    if (!rc)
        rc = handovers_offer(api->d, txn, &c->offer, &c->why, &h);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 201, render_handover(h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_answer(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__HandoverRecord *h = NULL;
    int rc =
        handovers_answer(api->d, txn, c->id.b, c->flag, c->reason, &c->why, &h);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_handover(h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_withdraw(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_withdraw(api->d, txn, c->id.b, &c->why, &h);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 202, render_handover(h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_show(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__HandoverRecord *h = NULL;
    int rc = store_handover_get(api->d->st, txn, c->id.b, &h);
    if (rc == POLKU_ENOTFOUND)
        return domain_refuse(&c->why, DOMAIN_NOT_FOUND, "no such handover");
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_handover(h, true));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

typedef struct handover_filter {
    api_call *call;
    int direction; /* -1 any, 0 in, 1 out */
    int status;    /* -1 any */
    json_t *list;
} handover_filter;

static int add_listed(Polku__HandoverRecord *h, void *arg)
{
    handover_filter *f = arg;
    if ((f->direction < 0 || f->direction == (int)h->outgoing) &&
        (f->status < 0 || f->status == (int)h->status))
        json_array_append_new(f->list, render_handover(h, false));
    return 0;
}

static int item_list(MDB_txn *txn, void *ctx)
{
    handover_filter *f = ctx;
    agent_api *api = f->call->api;
    f->list = json_array();
    int rc = store_each_handover(api->d->st, txn, add_listed, f);
    if (rc) {
        json_decref(f->list);
        return rc;
    }
    api_after_reply(api, f->call->req, 200,
                    json_pack("{s:I, s:o}", "count",
                              (json_int_t)json_array_size(f->list), "handovers",
                              f->list));
    return POLKU_OK;
}

/* ---- parsing ---- */

/* body.plan: {plan_id, version, review_due, org?} into c->plan. */
static int parse_plan(agent_api *api, api_call *c, json_t *plan)
{
    const char *org = NULL, *plan_id = NULL, *due = NULL;
    json_t *version = json_object_get(plan, "version");
    if (!json_is_object(plan)) {
        bad(c, "'plan' must be an object {plan_id, version, review_due}");
        return POLKU_EINVAL;
    }
    if (api_opt_string(c->req, plan, "org", 32, &org) ||
        api_opt_string(c->req, plan, "plan_id", 64, &plan_id) ||
        api_opt_string(c->req, plan, "review_due", 64, &due))
        return POLKU_EINVAL;
    if (org && !polku_org_id_valid(org)) {
        bad(c, "'plan.org' must be an organisation id");
        return POLKU_EINVAL;
    }
    if (!plan_id || !*plan_id) {
        bad(c, "'plan.plan_id' is required");
        return POLKU_EINVAL;
    }
    if (!polku_token_valid(plan_id)) {
        bad(c, "'plan.plan_id' must be 1 to 64 of A-Z a-z 0-9 . _ : - (an "
               "identifier, never words or an identity code)");
        return POLKU_EINVAL;
    }
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > UINT32_MAX) {
        bad(c, "'plan.version' must be a positive integer");
        return POLKU_EINVAL;
    }
    if (due &&
        api_parse_time(c, "plan.review_due", due, &c->plan.review_due_ms, NULL))
        return POLKU_EINVAL;
    c->plan.org = (char *)(org ? org : api->cfg->org);
    c->plan.plan_id = (char *)plan_id;
    c->plan.version = (uint32_t)json_integer_value(version);
    c->offer.plan = &c->plan;
    return POLKU_OK;
}

void api_handover_offer(agent_api *api, api_call *c)
{
    handover_new *n = &c->offer;
    json_t *b, *plan, *current;
    if (api_parse_body(c))
        return;
    b = c->body;
    if (api_parse_client(c, b, n->client_key) ||
        api_opt_string(c->req, b, "to", 32, &n->to) ||
        api_opt_string(c->req, b, "supporter", 32, &n->supporter) ||
        api_opt_text(c->req, b, "note", POLKU_MAX_TEXT, &n->note) ||
        api_parse_override(c, b, &n->override))
        return;
    if (!n->to || !polku_org_id_valid(n->to)) {
        bad(c, "'to' must be an organisation id");
        return;
    }
    if (directory_known(api->dir) && !directory_knows_org(api->dir, n->to)) {
        polku_http_respond_error(c->req, 400, "unknown_org",
                                 "'to' is not in the directory");
        return;
    }
    if (n->supporter && directory_known(api->dir) &&
        !directory_knows_org(api->dir, n->supporter)) {
        polku_http_respond_error(c->req, 400, "unknown_org",
                                 "'supporter' is not in the directory");
        return;
    }
    plan = json_object_get(b, "plan");
    if (plan && !json_is_null(plan) && parse_plan(api, c, plan))
        return;
    current = json_object_get(b, "plan_current");
    if (current && !json_is_boolean(current)) {
        bad(c, "'plan_current' must be true or false");
        return;
    }
    n->plan_current = json_is_true(current);
    api_run(api, c, item_offer);
}

static void answer(agent_api *api, api_call *c, bool accept)
{
    size_t len = 0;
    polku_http_body(c->req, &len);
    if (len > 0 || !accept) {
        if (api_parse_body(c) ||
            api_opt_text(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
            return;
    }
    if (!accept && (!c->reason || !*c->reason)) {
        bad(c, "declining needs a 'reason'");
        return;
    }
    c->flag = accept;
    api_run(api, c, item_answer);
}

void api_handover_list(agent_api *api, api_call *c)
{
    handover_filter f = {.call = c, .direction = -1, .status = -1};
    const char *dir = polku_http_query(c->req, "direction");
    const char *st = polku_http_query(c->req, "status");
    if (dir && strcmp(dir, "in") && strcmp(dir, "out")) {
        bad(c, "direction must be in or out");
        return;
    }
    if (dir)
        f.direction = strcmp(dir, "out") == 0;
    polku_handover_state parsed;
    if (st && polku_handover_state_parse(st, &parsed) == POLKU_OK)
        f.status = (int)parsed;
    else if (st) {
        bad(c, "status must be offered, accepted, declined, withdrawn or "
               "failed");
        return;
    }
    int rc = batch_read(api->d->b, item_list, &f);
    if (rc)
        api_respond_err(c->req, c->object, rc);
}

void api_handover_show(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_show);
}

void api_handover_accept(agent_api *api, api_call *c)
{
    answer(api, c, true);
}

void api_handover_decline(agent_api *api, api_call *c)
{
    answer(api, c, false);
}

void api_handover_withdraw(agent_api *api, api_call *c)
{
    api_run(api, c, item_withdraw);
}
