/* api_paths.c — /v1/paths: claim, close, plan pointer and services.
 *
 * A claim is the one call that waits for the broker: the broker arbitrates
 * between organisations claiming the same client, and its answer is written
 * into this agent's log before the caller hears it. When the broker is not
 * connected the claim is refused at once and nothing is stored; when it is
 * connected but slow, the caller gets 202 and the claim stays queued. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "path_query.h"
#include "paths.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"

#define PLAN_ID_MAX 64
#define SERVICE_MAX 64

static int bad(api_call *c, const char *msg)
{
    polku_http_respond_error(c->req, 400, "bad_request", msg);
    return POLKU_EINVAL;
}

/* ---- items ---- */

static int item_claim(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__PathRecord *p = NULL;
    bool decided = false;
    int rc = remember_client(a, txn, c, c->key);
    if (!rc)
        rc = paths_claim(a, txn, c->key, &c->why, &p, &decided);
    if (rc)
        return rc;
    if (decided)
        agent_after_reply(a, c->req, 200, paths_json(a, p));
    else
        agent_after_wait_claim(a, c->req, p->claim_id.data, c->key);
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_close(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_close(a, txn, c->key, c->reason, c->text, &c->why, &p);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, paths_json(a, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_plan(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_plan(a, txn, c->key, c->plan_id, c->version,
                        c->review_due_ms, &c->why, &p);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, paths_json(a, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_service(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__PathRecord *p = NULL;
    Polku__HandoverRecord *h = NULL;
    int rc = paths_service(a, txn, c->key, c->service, c->flag, &c->why, &p,
                           &h);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200,
                      json_pack("{s:o, s:o}", "path", paths_json(a, p),
                                "handover",
                                h ? handovers_json(a, h, false)
                                  : json_null()));
    polku__path_record__free_unpacked(p, NULL);
    if (h)
        polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_show(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_load(a, txn, c->key, &p);
    if (rc == POLKU_ENOTFOUND)
        return agent_refuse(&c->why, 404, "not_found",
                            "this organisation knows nothing of this "
                            "client's path");
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, paths_json(a, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_list(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, a->st.paths, &cur);
    if (rc)
        return store_err(rc);
    json_t *list = json_array();
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        Polku__PathRecord *p =
            polku__path_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!p)
            continue;
        json_array_append_new(list, paths_json(a, p));
        polku__path_record__free_unpacked(p, NULL);
    }
    mdb_cursor_close(cur);
    agent_after_reply(a, c->req, 200,
                      json_pack("{s:I, s:o}", "count",
                                (json_int_t)json_array_size(list), "paths",
                                list));
    return POLKU_OK;
}

/* ---- parsing ---- */

static void claim(agent *a, api_call *c)
{
    if (parse_body(c->req, &c->body) || parse_client(a, c, c->body, c->key))
        return;
    if (!agent_broker_connected(a)) {
        polku_http_respond_error(c->req, 503, "broker_unreachable",
                                 "the broker arbitrates claims and is not "
                                 "connected: nothing was stored, try again");
        return;
    }
    run(a, c, item_claim);
}

static void close_path(agent *a, api_call *c)
{
    if (parse_body(c->req, &c->body) ||
        opt_string(c->req, c->body, "reason", 32, &c->reason) ||
        opt_string(c->req, c->body, "text", POLKU_MAX_TEXT, &c->text))
        return;
    run(a, c, item_close);
}

static void set_plan(agent *a, api_call *c)
{
    const char *due = NULL;
    if (parse_body(c->req, &c->body) ||
        opt_string(c->req, c->body, "plan_id", PLAN_ID_MAX, &c->plan_id) ||
        opt_string(c->req, c->body, "review_due", 64, &due))
        return;
    json_t *version = json_object_get(c->body, "version");
    if (!c->plan_id || !*c->plan_id) {
        bad(c, "'plan_id' is required");
        return;
    }
    if (!polku_token_valid(c->plan_id)) {
        bad(c, "'plan_id' must be 1 to 64 of A-Z a-z 0-9 . _ : - (an "
               "identifier, never words or an identity code)");
        return;
    }
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > UINT32_MAX) {
        bad(c, "'version' must be a positive integer");
        return;
    }
    c->version = (uint32_t)json_integer_value(version);
    if (!due || polku_time_parse(due, &c->review_due_ms)) {
        bad(c, "'review_due' must be an RFC 3339 time or a date");
        return;
    }
    run(a, c, item_plan);
}

static void set_service(agent *a, api_call *c)
{
    const char *state = NULL;
    if (parse_body(c->req, &c->body) ||
        opt_string(c->req, c->body, "service", SERVICE_MAX, &c->service) ||
        opt_string(c->req, c->body, "state", 16, &state))
        return;
    if (!c->service || !*c->service) {
        bad(c, "'service' is required");
        return;
    }
    if (!polku_token_valid(c->service)) {
        bad(c, "'service' must be a service name of the directory (1 to 64 "
               "of A-Z a-z 0-9 . _ : -)");
        return;
    }
    if (!agent_offers_service(a, c->service)) {
        polku_http_respond_error(c->req, 400, "unknown_service",
                                 "the broker's directory does not list that "
                                 "service for this organisation");
        return;
    }
    if (!state || (strcmp(state, "started") && strcmp(state, "ended"))) {
        bad(c, "'state' must be started or ended");
        return;
    }
    c->flag = strcmp(state, "ended") == 0;
    run(a, c, item_service);
}

void api_path_routes(agent *a, api_call *c, const char *method,
                     const char *rest)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (get)
            run_read(a, c, item_list);
        else if (post)
            claim(a, c);
        else
            polku_http_respond_error(c->req, 405, "method_not_allowed",
                                     "use GET or POST");
        return;
    }
    /* "/{32 hex}" then "", "/close", "/plan" or "/services" */
    char hex[33];
    if (rest[0] != '/' || strlen(rest) < 33 ||
        (rest[33] != '\0' && rest[33] != '/')) {
        polku_http_respond_error(c->req, 404, "not_found",
                                 "no such endpoint: paths are named by a "
                                 "32-hex client key");
        return;
    }
    memcpy(hex, rest + 1, 32);
    hex[32] = '\0';
    if (polku_client_key_parse(hex, c->key)) {
        polku_http_respond_error(c->req, 404, "not_found",
                                 "paths are named by a 32-hex client key");
        return;
    }
    const char *tail = rest + 33;
    const char *view = polku_http_query(c->req, "view");
    if (*tail == '\0' && get && view && strcmp(view, "local") == 0)
        run_read(a, c, item_show);
    else if (*tail == '\0' && get && view && strcmp(view, "shared") != 0)
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "view must be shared (default) or local");
    else if (*tail == '\0' && get)
        path_query_start(a, c->req, c->key);
    else if (strcmp(tail, "/close") == 0 && post)
        close_path(a, c);
    else if (strcmp(tail, "/plan") == 0 && post)
        set_plan(a, c);
    else if (strcmp(tail, "/services") == 0 && post)
        set_service(a, c);
    else
        polku_http_respond_error(c->req, 404, "not_found", "no such endpoint");
}
