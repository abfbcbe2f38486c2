/* api_access.c — the client's access report: GET /v1/clients/{key}/access
 * and POST /v1/clients/access ({client}, for an identity code).
 *
 * Without `network` the report is this organisation's own log about the
 * client (domain/access.h). With `network=1` the agent also sends an
 * AccessQuery to the broker, which asks every other organisation of the
 * client's active consent scope; each answers from its own log, and the
 * answers come back through the broker. The request is answered when
 * every organisation asked has answered or after ACCESS_WAIT_MS: those
 * that did not (stopped, unreachable) are listed under not_answering.
 * Only an organisation in an active consent of the client may ask the
 * network (403 consent_required here, and again at the broker).
 * ?format=csv (or "format": "csv") answers the printable report. */
#include "api_call.h"

#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "render_access.h"

#define ACCESS_WAIT_MS 3000
#define ACCESS_WAITING_MAX 256

typedef struct access_waiter {
    uint8_t query_id[16];
    polku_http_req *req;
    json_t *report;
    bool csv;
    bool broker_answered;
    json_t *asked; /* the organisations the broker asked */
    uint64_t deadline_ms;
} access_waiter;

struct access_queries {
    access_waiter w[ACCESS_WAITING_MAX];
    size_t n;
};

typedef struct access_req {
    agent_api *api;
    uint8_t key[16];
    bool network, csv;
    bool in_scope;
    json_t *report;
} access_req;

static void respond(polku_http_req *req, json_t *report, bool csv)
{
    render_access_sort(report);
    if (!csv) {
        polku_http_respond_json(req, 200, report);
        return;
    }
    char *text = render_access_csv(report);
    json_decref(report);
    if (!text) {
        polku_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    polku_http_respond(req, 200, "text/csv; charset=utf-8", text, strlen(text));
    free(text);
}

static int read_own(MDB_txn *txn, void *ctx)
{
    access_req *r = ctx;
    domain *d = r->api->d;
    Polku__AccessAnswer own = POLKU__ACCESS_ANSWER__INIT;
    if (r->network)
        r->in_scope = access_asker_in_scope(d, txn, r->key, d->org);
    int rc = access_collect(d, txn, r->key, &own);
    if (rc)
        return rc;
    rc = render_access_add(r->report, d->org, &own) ? POLKU_ENOMEM : POLKU_OK;
    access_entries_free(&own);
    return rc;
}

static void start_network(agent_api *api, polku_http_req *req, access_req *r)
{
    if (!api->access)
        api->access = calloc(1, sizeof *api->access);
    struct access_queries *q = api->access;
    if (!link_connected(api->link)) {
        polku_http_respond_error(req, 503, "broker_unreachable",
                                 "the network report goes through the "
                                 "broker and it is not connected; ask "
                                 "without network=1 for this "
                                 "organisation's own log");
        return;
    }
    if (!q || q->n == ACCESS_WAITING_MAX) {
        polku_http_respond_error(req, 503, "overloaded",
                                 "too many access reports waiting");
        return;
    }
    polku_id id = polku_id_new(polku_now_ms());
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__AccessQuery aq = POLKU__ACCESS_QUERY__INIT;
    env.client_key.data = r->key;
    env.client_key.len = 16;
    aq.query_id.data = id.b;
    aq.query_id.len = 16;
    env.body_case = POLKU__ENVELOPE__BODY_ACCESS_QUERY;
    env.access_query = &aq;
    if (link_send_envelope(api->link, &env) != 0) {
        polku_http_respond_error(req, 503, "broker_unreachable",
                                 "the query could not be sent to the broker");
        return;
    }
    access_waiter *w = &q->w[q->n++];
    memset(w, 0, sizeof *w);
    memcpy(w->query_id, id.b, 16);
    w->req = req;
    w->report = r->report;
    w->csv = r->csv;
    w->asked = json_array();
    w->deadline_ms = polku_mono_ms() + ACCESS_WAIT_MS;
    r->report = NULL; /* the waiter's now */
}

static void run(agent_api *api, api_call *c, const uint8_t key[16],
                bool network, bool csv)
{
    access_req r = {.api = api, .network = network, .csv = csv};
    memcpy(r.key, key, 16);
    r.report =
        render_access_report(key, api->cfg->org, network, domain_now(api->d));
    int rc = r.report ? batch_read(api->d->b, read_own, &r) : POLKU_ENOMEM;
    if (rc) {
        json_decref(r.report);
        api_respond_err(c->req, API_NONE, rc);
        return;
    }
    if (!network) {
        respond(c->req, r.report, csv);
        return;
    }
    if (!r.in_scope) {
        json_decref(r.report);
        polku_http_respond_error(c->req, 403, "consent_required",
                                 "only an organisation named in an active "
                                 "consent of this client may ask the "
                                 "network for its access report");
        return;
    }
    start_network(api, c->req, &r);
    json_decref(r.report);
}

/* network and format from the query (GET) or the body (POST). */
static int parse_options(api_call *c, json_t *body, bool *network, bool *csv)
{
    const char *net = NULL, *format = NULL;
    if (body) {
        json_t *n = json_object_get(body, "network");
        if (n && !json_is_boolean(n)) {
            polku_http_respond_error(c->req, 400, "bad_request",
                                     "'network' must be true or false");
            return POLKU_EINVAL;
        }
        *network = json_is_true(n);
        if (api_opt_string(c->req, body, "format", 8, &format))
            return POLKU_EINVAL;
    } else {
        net = polku_http_query(c->req, "network");
        format = polku_http_query(c->req, "format");
        if (net && strcmp(net, "1") && strcmp(net, "0") &&
            strcmp(net, "true") && strcmp(net, "false")) {
            polku_http_respond_error(c->req, 400, "bad_request",
                                     "network must be 1 or 0");
            return POLKU_EINVAL;
        }
        *network = net && (!strcmp(net, "1") || !strcmp(net, "true"));
    }
    if (format && strcmp(format, "csv") && strcmp(format, "json")) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "format must be json or csv");
        return POLKU_EINVAL;
    }
    *csv = format && strcmp(format, "csv") == 0;
    return POLKU_OK;
}

void api_access_show(agent_api *api, api_call *c)
{
    bool network = false, csv = false;
    if (parse_options(c, NULL, &network, &csv))
        return;
    run(api, c, c->key, network, csv);
}

void api_access_post(agent_api *api, api_call *c)
{
    bool network = false, csv = false;
    uint8_t key[16];
    if (api_parse_body(c) || api_parse_client(c, c->body, key) ||
        parse_options(c, c->body, &network, &csv))
        return;
    run(api, c, key, network, csv);
}

/* ---- answers through the broker ---- */

static bool listed(json_t *arr, const char *org)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), org) ==
                                      0) return true;
    return false;
}

static void finish(struct access_queries *q, size_t i)
{
    access_waiter w = q->w[i];
    q->w[i] = q->w[--q->n];
    json_t *answered = json_object_get(w.report, "answered");
    json_t *missing = json_object_get(w.report, "not_answering");
    size_t k;
    json_t *v;
    json_array_foreach(w.asked, k,
                       v) if (!listed(answered, json_string_value(v)) &&
                              !listed(missing, json_string_value(v)))
        json_array_append(missing, v);
    json_decref(w.asked);
    respond(w.req, w.report, w.csv);
}

static void refuse(struct access_queries *q, size_t i,
                   const Polku__AccessAnswer *a)
{
    access_waiter w = q->w[i];
    q->w[i] = q->w[--q->n];
    json_decref(w.asked);
    json_decref(w.report);
    const char *code = a->error_code[0] ? a->error_code : "refused";
    const char *msg =
        strcmp(code, "consent_required") == 0
            ? "the broker knows no active consent of this client naming "
              "this organisation"
        : strcmp(code, "broker_rebuilding") == 0
            ? "the broker is still rebuilding from the agents' logs; try "
              "again shortly"
            : "the broker refused the query";
    unsigned status = a->status >= 400 && a->status < 600 ? a->status : 502;
    polku_http_respond_error(w.req, status, code, msg);
}

void api_access_answered(void *arg, const polku_envelope *env)
{
    agent_api *api = arg;
    struct access_queries *q = api->access;
    const Polku__AccessAnswer *a = env->access_answer;
    if (!q || a->query_id.len != 16)
        return;
    for (size_t i = 0; i < q->n; i++) {
        access_waiter *w = &q->w[i];
        if (memcmp(w->query_id, a->query_id.data, 16) != 0)
            continue;
        if (env->origin_org[0] == '\0') { /* the broker: who it asked */
            if (a->status != 200) {
                refuse(q, i, a);
                return;
            }
            w->broker_answered = true;
            for (size_t k = 0; k < a->n_asked; k++)
                if (!listed(w->asked, a->asked[k]))
                    json_array_append_new(w->asked, json_string(a->asked[k]));
            for (size_t k = 0; k < a->n_unreachable; k++)
                json_array_append_new(
                    json_object_get(w->report, "not_answering"),
                    json_string(a->unreachable[k]));
        } else if (strcmp(a->from_org, env->origin_org) == 0 &&
                   listed(w->asked, env->origin_org) &&
                   !listed(json_object_get(w->report, "answered"),
                           env->origin_org)) {
            if (a->status == 200)
                render_access_add(w->report, env->origin_org, a);
            else /* it refused us: it did not answer */
                json_array_append_new(
                    json_object_get(w->report, "not_answering"),
                    json_string(env->origin_org));
        }
        json_t *answered = json_object_get(w->report, "answered");
        json_t *missing = json_object_get(w->report, "not_answering");
        size_t k, done = 0;
        json_t *v;
        json_array_foreach(w->asked, k, v) done +=
            listed(answered, json_string_value(v)) ||
            listed(missing, json_string_value(v));
        /* every organisation asked has answered (or refused) */
        if (w->broker_answered && done == json_array_size(w->asked))
            finish(q, i);
        return;
    }
}

void api_access_expire(agent_api *api, uint64_t now)
{
    struct access_queries *q = api->access;
    for (size_t i = 0; q && i < q->n;) {
        if (now < q->w[i].deadline_ms) {
            i++;
            continue;
        }
        if (!q->w[i].broker_answered) {
            access_waiter w = q->w[i];
            q->w[i] = q->w[--q->n];
            json_decref(w.asked);
            json_decref(w.report);
            polku_http_respond_error(w.req, 504, "broker_timeout",
                                     "the broker did not answer in time");
            continue;
        }
        finish(q, i);
    }
}

void api_access_fini(agent_api *api)
{
    struct access_queries *q = api->access;
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++) {
        json_decref(q->w[i].asked);
        json_decref(q->w[i].report);
    }
    free(q); /* polku_http_stop answers the kept requests itself */
    api->access = NULL;
}
