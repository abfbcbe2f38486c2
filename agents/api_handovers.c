/* api_handovers.c — /v1/handovers: offer, answer, withdraw and list.
 *
 * Only shapes are checked here; who may do what (the coordinator offers,
 * the receiver answers, the offerer asks to withdraw) is decided in
 * handovers.c inside the item, against the stored records, so a refused
 * call stores nothing. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "polku/handover.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"

static void bad(api_call *c, const char *msg)
{
    polku_http_respond_error(c->req, 400, "bad_request", msg);
}

/* ---- items ---- */

static int item_offer(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc = remember_client(a, txn, c, c->offer.client_key);
    if (!rc)
        rc = handovers_offer(a, txn, &c->offer, &c->why, &h);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 201, handovers_json(a, h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_answer(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_answer(a, txn, c->id.b, c->flag, c->reason, &c->why,
                              &h);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, handovers_json(a, h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_withdraw(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_withdraw(a, txn, c->id.b, &c->why, &h);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 202, handovers_json(a, h, false));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_show(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc = store_handover_get(&a->st, txn, c->id.b, &h);
    if (rc == POLKU_ENOTFOUND)
        return agent_refuse(&c->why, 404, "not_found", "no such handover");
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, handovers_json(a, h, true));
    polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

typedef struct handover_filter {
    api_call *call;
    int direction; /* -1 any, 0 in, 1 out */
    int status;    /* -1 any */
} handover_filter;

static int item_list(agent *a, MDB_txn *txn, void *ctx)
{
    handover_filter *f = ctx;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, a->st.handovers, &cur);
    if (rc)
        return store_err(rc);
    json_t *list = json_array();
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        Polku__HandoverRecord *h =
            polku__handover_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!h)
            continue;
        if ((f->direction < 0 || f->direction == (int)h->outgoing) &&
            (f->status < 0 || f->status == (int)h->status))
            json_array_append_new(list, handovers_json(a, h, false));
        polku__handover_record__free_unpacked(h, NULL);
    }
    mdb_cursor_close(cur);
    agent_after_reply(a, f->call->req, 200,
                      json_pack("{s:I, s:o}", "count",
                                (json_int_t)json_array_size(list),
                                "handovers", list));
    return POLKU_OK;
}

/* ---- parsing ---- */

/* body.plan: {plan_id, version, review_due, org?} into c->plan. */
static int parse_plan(agent *a, api_call *c, json_t *plan)
{
    const char *org = NULL, *plan_id = NULL, *due = NULL;
    json_t *version = json_object_get(plan, "version");
    if (!json_is_object(plan)) {
        bad(c, "'plan' must be an object {plan_id, version, review_due}");
        return POLKU_EINVAL;
    }
    if (opt_string(c->req, plan, "org", 32, &org) ||
        opt_string(c->req, plan, "plan_id", 64, &plan_id) ||
        opt_string(c->req, plan, "review_due", 64, &due))
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
    if (due && polku_time_parse(due, &c->plan.review_due_ms)) {
        bad(c, "'plan.review_due' must be an RFC 3339 time or a date");
        return POLKU_EINVAL;
    }
    c->plan.org = (char *)(org ? org : a->cfg->org);
    c->plan.plan_id = (char *)plan_id;
    c->plan.version = (uint32_t)json_integer_value(version);
    c->offer.plan = &c->plan;
    return POLKU_OK;
}

static void offer(agent *a, api_call *c)
{
    handover_new *n = &c->offer;
    json_t *b, *plan, *current;
    if (parse_body(c->req, &c->body))
        return;
    b = c->body;
    if (parse_client(a, c, b, n->client_key) ||
        opt_string(c->req, b, "to", 32, &n->to) ||
        opt_string(c->req, b, "supporter", 32, &n->supporter) ||
        opt_string(c->req, b, "note", POLKU_MAX_TEXT, &n->note))
        return;
    if (!n->to || !polku_org_id_valid(n->to)) {
        bad(c, "'to' must be an organisation id");
        return;
    }
    if (a->directory && !agent_knows_org(a, n->to)) {
        polku_http_respond_error(c->req, 400, "unknown_org",
                                 "'to' is not in the directory");
        return;
    }
    if (n->supporter && a->directory && !agent_knows_org(a, n->supporter)) {
        polku_http_respond_error(c->req, 400, "unknown_org",
                                 "'supporter' is not in the directory");
        return;
    }
    plan = json_object_get(b, "plan");
    if (plan && !json_is_null(plan) && parse_plan(a, c, plan))
        return;
    current = json_object_get(b, "plan_current");
    if (current && !json_is_boolean(current)) {
        bad(c, "'plan_current' must be true or false");
        return;
    }
    n->plan_current = json_is_true(current);
    run(a, c, item_offer);
}

static void answer(agent *a, api_call *c, bool accept)
{
    size_t len = 0;
    polku_http_body(c->req, &len);
    if (len > 0 || !accept) {
        if (parse_body(c->req, &c->body) ||
            opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
            return;
    }
    if (!accept && (!c->reason || !*c->reason)) {
        bad(c, "declining needs a 'reason'");
        return;
    }
    c->flag = accept;
    run(a, c, item_answer);
}

static void list(agent *a, api_call *c)
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
    int rc = agent_read(a, item_list, &f);
    if (rc)
        respond_err(c->req, rc);
}

void api_handover_routes(agent *a, api_call *c, const char *method,
                         const char *rest)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    const char *tail = NULL;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (get)
            list(a, c);
        else if (post)
            offer(a, c);
        else
            polku_http_respond_error(c->req, 405, "method_not_allowed",
                                     "use GET or POST");
        return;
    }
    if (!route_id(rest, &c->id, &tail)) {
        polku_http_respond_error(c->req, 404, "not_found", "no such handover");
        return;
    }
    if (*tail == '\0' && get)
        run_read(a, c, item_show);
    else if (strcmp(tail, "/accept") == 0 && post)
        answer(a, c, true);
    else if (strcmp(tail, "/decline") == 0 && post)
        answer(a, c, false);
    else if (strcmp(tail, "/withdraw") == 0 && post)
        run(a, c, item_withdraw);
    else
        polku_http_respond_error(c->req, 404, "not_found", "no such endpoint");
}
