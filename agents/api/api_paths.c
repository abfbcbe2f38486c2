/* api_paths.c — /v1/paths: claim, close, plan pointer and services.
 *
 * A claim is the one call that waits for the broker: the broker arbitrates
 * between organisations claiming the same client, and its answer is written
 * into this agent's log before the caller hears it. When the broker is not
 * connected the claim is refused at once and nothing is stored; when it is
 * connected but slow, the caller gets 202 and the claim stays queued. */
#include <stdio.h>
#include <string.h>

#include "api_call.h"
#include "render.h"
#include "paths.h"
#include "rules.h"
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

static int item_claim(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__PathRecord *p = NULL;
    bool decided = false;
    int rc = api_remember_client(c, txn, c->key);
    if (!rc)
        rc = paths_claim(api->d, txn, c->key, &c->why, &p, &decided);
    if (rc)
        return rc;
    if (decided)
        api_after_reply(api, c->req, 200, render_path(api->d, p));
    else
        api_after_wait_claim(api, c->req, p->claim_id.data, c->key);
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_close(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__PathRecord *p = NULL;
    int rc = paths_close(api->d, txn, c->key, c->reason, c->text, &c->why, &p);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_path(api->d, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_plan(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__PathRecord *p = NULL;
    int rc = paths_plan(api->d, txn, c->key, c->plan_id, c->version,
                        c->review_due_ms, &c->why, &p);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_path(api->d, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static int item_service(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__PathRecord *p = NULL;
    Polku__HandoverRecord *h = NULL;
    int rc = rules_service_change(api->d, txn, c->key, c->service, c->flag,
                                  &c->why, &p, &h);
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200,
                    json_pack("{s:o, s:o}", "path", render_path(api->d, p),
                              "handover",
                              h ? render_handover(h, false) : json_null()));
    polku__path_record__free_unpacked(p, NULL);
    if (h)
        polku__handover_record__free_unpacked(h, NULL);
    return POLKU_OK;
}

static int item_show(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    Polku__PathRecord *p = NULL;
    int rc = paths_load(api->d, txn, c->key, &p);
    if (rc == POLKU_ENOTFOUND)
        return domain_refuse(&c->why, DOMAIN_NOT_FOUND,
                             "this organisation knows nothing of this "
                             "client's path");
    if (rc)
        return rc;
    api_after_reply(api, c->req, 200, render_path(api->d, p));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

typedef struct path_list {
    domain *d;
    json_t *list;
} path_list;

static int add_path(Polku__PathRecord *p, void *arg)
{
    path_list *l = arg;
    json_array_append_new(l->list, render_path(l->d, p));
    return 0;
}

static int item_list(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    path_list l = {api->d, json_array()};
    int rc = store_each_path(api->d->st, txn, add_path, &l);
    if (rc) {
        json_decref(l.list);
        return rc;
    }
    api_after_reply(api, c->req, 200,
                    json_pack("{s:I, s:o}", "count",
                              (json_int_t)json_array_size(l.list), "paths",
                              l.list));
    return POLKU_OK;
}

/* ---- parsing ---- */

void api_path_claim(agent_api *api, api_call *c)
{
    if (api_parse_body(c) || api_parse_client(c, c->body, c->key))
        return;
    if (!link_connected(api->link)) {
        polku_http_respond_error(c->req, 503, "broker_unreachable",
                                 "the broker arbitrates claims and is not "
                                 "connected: nothing was stored, try again");
        return;
    }
    api_run(api, c, item_claim);
}

void api_path_close(agent_api *api, api_call *c)
{
    if (api_parse_body(c) ||
        api_opt_string(c->req, c->body, "reason", 32, &c->reason) ||
        api_opt_text(c->req, c->body, "text", POLKU_MAX_TEXT, &c->text))
        return;
    api_run(api, c, item_close);
}

void api_path_plan(agent_api *api, api_call *c)
{
    const char *due = NULL;
    if (api_parse_body(c) ||
        api_opt_string(c->req, c->body, "plan_id", PLAN_ID_MAX, &c->plan_id) ||
        api_opt_string(c->req, c->body, "review_due", 64, &due))
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
    if (!due) {
        bad(c, "'review_due' is required: when the plan is next reviewed, "
               "YYYY-MM-DD or an RFC 3339 time");
        return;
    }
    if (api_parse_time(c, "review_due", due, &c->review_due_ms, NULL))
        return;
    api_run(api, c, item_plan);
}

void api_path_service(agent_api *api, api_call *c)
{
    const char *state = NULL;
    if (api_parse_body(c) ||
        api_opt_string(c->req, c->body, "service", SERVICE_MAX, &c->service) ||
        api_opt_string(c->req, c->body, "state", 16, &state))
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
    if (!directory_offers_service(api->dir, c->service)) {
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
    api_run(api, c, item_service);
}

void api_path_list(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_list);
}

/* The shared path (the broker's, by default) or this organisation's own
 * record of it (?view=local). */
void api_path_show(agent_api *api, api_call *c)
{
    const char *view = polku_http_query(c->req, "view");
    if (view && strcmp(view, "local") == 0)
        api_run_read(api, c, item_show);
    else if (view && strcmp(view, "shared") != 0)
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "view must be shared (default) or local");
    else
        api_path_query_start(api, c->req, c->key);
}
