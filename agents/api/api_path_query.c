/* api_path_query.c — GET /v1/paths/{key}: the client's shared path, asked
 * of the broker.
 *
 * The broker holds the only view of a client's whole path (every
 * organisation's events folded together). The request sends a PathQuery
 * (not an event: nothing is stored) and is answered when the broker's
 * PathAnswer arrives: 200 with the path, 403 when no active consent of the
 * client names this organisation with purpose `path`, 404, or 503 when the
 * broker is not connected or rebuilding, 504 if it does not answer within
 * 5 s. */
#include "api_call.h"

#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "paths.h"

#define QUERY_WAIT_MS 5000

typedef struct path_query_waiter {
    uint8_t query_id[16];
    polku_http_req *req;
    uint64_t deadline_ms; /* monotonic */
} path_query_waiter;

struct path_queries {
    path_query_waiter *w;
    size_t n, cap;
};

static struct path_queries *queries(agent_api *api)
{
    if (!api->queries)
        api->queries = calloc(1, sizeof *api->queries);
    return api->queries;
}

void api_path_query_start(agent_api *api, polku_http_req *req,
                          const uint8_t key[16])
{
    struct path_queries *q = queries(api);
    if (!link_connected(api->link)) {
        polku_http_respond_error(req, 503, "broker_unreachable",
                                 "the shared path is the broker's and it is "
                                 "not connected; try again");
        return;
    }
    if (!q || (q->n == q->cap && q->cap >= 4096)) {
        polku_http_respond_error(req, 503, "overloaded",
                                 "too many path queries waiting");
        return;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 8;
        path_query_waiter *w = realloc(q->w, cap * sizeof *w);
        if (!w) {
            polku_http_respond_error(req, 503, "overloaded", "out of memory");
            return;
        }
        q->w = w;
        q->cap = cap;
    }
    polku_id id = polku_id_new(polku_now_ms());
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathQuery pq = POLKU__PATH_QUERY__INIT;
    env.client_key.data = (uint8_t *)key;
    env.client_key.len = 16;
    pq.query_id.data = id.b;
    pq.query_id.len = 16;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_QUERY;
    env.path_query = &pq;
    if (link_send_envelope(api->link, &env) != 0) {
        polku_http_respond_error(req, 503, "broker_unreachable",
                                 "the query could not be sent to the broker");
        return;
    }
    path_query_waiter *w = &q->w[q->n++];
    memcpy(w->query_id, id.b, 16);
    w->req = req;
    w->deadline_ms = polku_mono_ms() + QUERY_WAIT_MS;
}

typedef struct plan_fill {
    domain *d;
    const uint8_t *key;
    json_t *plan; /* the broker's {org, version, review_due} */
} plan_fill;

/* The broker's shared path names no plan id (its dashboard must not show
 * identifiers the coordinator chose); this organisation got the id with
 * the PlanUpdated if the consent lets it see the plan, and adds it. */
static int fill_plan_id(MDB_txn *txn, void *ctx)
{
    plan_fill *f = ctx;
    Polku__PathRecord *p = NULL;
    if (paths_load(f->d, txn, f->key, &p) != POLKU_OK)
        return POLKU_OK;
    const char *org = json_string_value(json_object_get(f->plan, "org"));
    json_int_t version =
        json_integer_value(json_object_get(f->plan, "version"));
    if (p->plan && org && strcmp(p->plan->org, org) == 0 &&
        (json_int_t)p->plan->version == version)
        json_object_set_new(f->plan, "plan_id", json_string(p->plan->plan_id));
    polku__path_record__free_unpacked(p, NULL);
    return POLKU_OK;
}

static void answer(agent_api *api, polku_http_req *req,
                   const polku_envelope *env)
{
    const Polku__PathAnswer *ans = env->path_answer;
    if (ans->status != 200) {
        const char *code = ans->error_code[0] ? ans->error_code : "refused";
        const char *msg =
            strcmp(code, "consent_required") == 0
                ? "no active consent of this client names this organisation "
                  "with purpose 'path'"
            : strcmp(code, "not_found") == 0
                ? "the broker knows nothing of this client's path"
            : strcmp(code, "broker_rebuilding") == 0
                ? "the broker is still rebuilding this client's path from "
                  "the agents' logs; try again shortly"
                : "the broker refused the query";
        unsigned status =
            ans->status >= 400 && ans->status < 600 ? ans->status : 502;
        polku_http_respond_error(req, status, code, msg);
        return;
    }
    json_error_t err;
    json_t *j = json_loads(ans->json, 0, &err);
    if (!json_is_object(j)) {
        json_decref(j);
        polku_http_respond_error(req, 502, "bad_gateway",
                                 "the broker's answer was not a path");
        return;
    }
    json_t *plan = json_object_get(j, "plan");
    if (json_is_object(plan) && env->client_key.len == 16) {
        plan_fill f = {api->d, env->client_key.data, plan};
        batch_read(api->d->b, fill_plan_id, &f);
    }
    const char *coordinator =
        json_string_value(json_object_get(j, "coordinator"));
    json_object_set_new(
        j, "i_coordinate",
        json_boolean(coordinator && strcmp(coordinator, api->cfg->org) == 0));
    polku_http_respond_json(req, 200, j);
}

void api_path_answered(void *arg, const polku_envelope *env)
{
    agent_api *api = arg;
    struct path_queries *q = api->queries;
    const Polku__PathAnswer *ans = env->path_answer;
    if (!q || ans->query_id.len != 16)
        return;
    for (size_t i = 0; i < q->n; i++) {
        if (memcmp(q->w[i].query_id, ans->query_id.data, 16) != 0)
            continue;
        polku_http_req *req = q->w[i].req;
        q->w[i] = q->w[--q->n];
        answer(api, req, env);
        return;
    }
}

void api_path_query_expire(agent_api *api, uint64_t now)
{
    struct path_queries *q = api->queries;
    size_t kept = 0;
    for (size_t i = 0; q && i < q->n; i++) {
        if (now < q->w[i].deadline_ms) {
            q->w[kept++] = q->w[i];
            continue;
        }
        polku_http_respond_error(q->w[i].req, 504, "broker_timeout",
                                 "the broker did not answer in time");
    }
    if (q)
        q->n = kept;
}

void api_path_query_fini(agent_api *api)
{
    struct path_queries *q = api->queries;
    if (!q)
        return;
    free(q->w); /* polku_http_stop answers the kept requests itself */
    free(q);
    api->queries = NULL;
}
