/* api.c — the agent's local HTTP/JSON API for the organisation's systems.
 *
 * Every /v1 call needs the bearer token. Input is validated completely
 * before anything is stored; a bad request gets a JSON error and changes
 * nothing. Writes run as batch items and are answered after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "agent.h"
#include "api.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/keys.h"
#include "polku/log.h"
#include "polku/sse.h"
#include "consents.h"
#include "polku/hetu.h"
#include "referrals.h"

void respond_err(polku_http_req *req, int rc)
{
    switch (rc) {
    case POLKU_ENOTFOUND:
        polku_http_respond_error(req, 404, "not_found", "no such referral");
        break;
    case POLKU_ETRANSITION:
        polku_http_respond_error(req, 409, "invalid_transition",
                                 "that change is not allowed from the "
                                 "referral's current status, or not by "
                                 "this organisation");
        break;
    case POLKU_EINVAL:
        polku_http_respond_error(req, 400, "bad_request",
                                 "a reason is required for this status");
        break;
    case POLKU_EFORBIDDEN:
        polku_http_respond_error(req, 403, "consent_required",
                                 "no active consent of this client covers "
                                 "both organisations and this purpose");
        break;
    case POLKU_EEXIST:
        polku_http_respond_error(req, 409, "conflict",
                                 "already done: nothing was changed");
        break;
    case POLKU_EFULL:
        polku_http_respond_error(req, 507, "store_full",
                                 "the store is full; nothing was changed");
        break;
    default:
        polku_http_respond_error(req, 500, "internal", polku_strerror(rc));
        break;
    }
}

/* jansson's parse error without the "near '...'" that quotes the body:
 * the body may hold an identity code or free text, and need not be UTF-8.
 * What is left is the library's own ASCII wording. */
static void json_error_text(const json_error_t *err, char *out, size_t len)
{
    const char *near = strstr(err->text, " near ");
    size_t n = near ? (size_t)(near - err->text) : strlen(err->text);
    snprintf(out, len, "invalid JSON at line %d column %d: %.*s", err->line,
             err->column, (int)n, err->text);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
}

int parse_body(polku_http_req *req, json_t **out)
{
    size_t len = 0;
    const char *data = polku_http_body(req, &len);
    json_error_t err;
    *out = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!*out || !json_is_object(*out)) {
        char msg[256];
        if (*out)
            snprintf(msg, sizeof msg, "the body must be a JSON object");
        else
            json_error_text(&err, msg, sizeof msg);
        json_decref(*out);
        *out = NULL;
        polku_http_respond_error(req, 400, "invalid_json", msg);
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

/* Optional string field: NULL if absent; error if present and not a
 * string or longer than max. */
int opt_string(polku_http_req *req, json_t *obj, const char *name, size_t max,
               const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return POLKU_OK;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        char msg[128];
        snprintf(msg, sizeof msg, "'%s' must be a string of at most %zu bytes",
                 name, max);
        polku_http_respond_error(req, 400, "bad_request", msg);
        return POLKU_EINVAL;
    }
    *out = json_string_value(v);
    return POLKU_OK;
}

/* The identity code becomes the region's client key; the code itself is
 * kept in c->hetu only until the item stores it locally. */
static int client_from_hetu(agent *a, api_call *c, const char *text,
                            uint8_t key[16])
{
    polku_hetu_problem problem = POLKU_HETU_OK;
    if (!a->cfg->has_pseudonym_secret) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "this agent has no pseudonym_secret_file: "
                                 "give client.key");
        return POLKU_EINVAL;
    }
    if (polku_hetu_parse(text, c->hetu, &problem)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "client.hetu is not a valid identity code: "
                 "%s",
                 polku_hetu_problem_text(problem));
        polku_http_respond_error(c->req, 400, "invalid_hetu", msg);
        return POLKU_EINVAL;
    }
    polku_client_key(a->cfg->pseudonym_secret, c->hetu, key);
    return POLKU_OK;
}

int parse_client(agent *a, api_call *c, json_t *body, uint8_t key[16])
{
    polku_http_req *req = c->req;
    json_t *client = json_object_get(body, "client");
    const char *hex = NULL, *hetu = NULL;
    if (!json_is_object(client)) {
        polku_http_respond_error(
            req, 400, "bad_request",
            "'client' must be an object: "
            "{\"hetu\": \"...\"} or {\"key\": \"<32 hex>\"}");
        return POLKU_EINVAL;
    }
    if (opt_string(req, client, "hetu", 16, &hetu) ||
        opt_string(req, client, "key", 32, &hex))
        return POLKU_EINVAL;
    if (hetu && hex) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "give client.hetu or client.key, not both");
        return POLKU_EINVAL;
    }
    if (hetu)
        return client_from_hetu(a, c, hetu, key);
    if (!hex || polku_client_key_parse(hex, key)) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "client.key must be 32 lowercase hex "
                                 "characters");
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

static int resolve_destination(agent *a, api_call *c)
{
    referral_new *n = &c->create;
    if (n->to && n->service) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "give either 'to' or 'service', not both");
        return POLKU_EINVAL;
    }
    if (n->to) {
        if (!polku_org_id_valid(n->to) || strcmp(n->to, a->cfg->org) == 0) {
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
    int rc = agent_resolve_service(a, n->service, &n->to);
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

static int parse_create(agent *a, api_call *c)
{
    json_t *b = c->body;
    referral_new *n = &c->create;
    const char *due = NULL;
    json_t *transfer = json_object_get(b, "transfer");
    if (parse_client(a, c, b, n->client_key) ||
        opt_string(c->req, b, "to", 32, &n->to) ||
        opt_string(c->req, b, "service", 128, &n->service) ||
        opt_string(c->req, b, "reason", POLKU_MAX_TEXT, &n->reason) ||
        opt_string(c->req, b, "urgency", 32, &n->urgency) ||
        opt_string(c->req, b, "due", 64, &due))
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
    return resolve_destination(a, c);
}

/* ---- batch items ---- */

int remember_client(agent *a, MDB_txn *txn, const api_call *c,
                    const uint8_t key[16])
{
    return c->hetu[0] ? store_client_put(&a->st, txn, key, c->hetu) : POLKU_OK;
}

static int item_create(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ReferralRecord *r = NULL;
    int rc = remember_client(a, txn, c, c->create.client_key);
    if (!rc)
        rc = referrals_create(a, txn, &c->create, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 201, referrals_json(a, r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_status(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ReferralRecord *r = NULL;
    int rc = referrals_set_status(a, txn, c->id.b, c->status, c->reason,
                                  c->outcome, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, referrals_json(a, r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_cancel(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ReferralRecord *r = NULL;
    int rc = referrals_request_cancel(a, txn, c->id.b, c->reason, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 202, referrals_json(a, r, false));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

static int item_show(agent *a, MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(&a->st, txn, c->id.b, &r);
    if (rc)
        return rc;
    agent_after_reply(a, c->req, 200, referrals_json(a, r, true));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

typedef struct list_filter {
    api_call *call;
    int direction; /* -1 any, 0 in, 1 out */
    int status;    /* -1 any */
    size_t limit;
} list_filter;

static int item_list(agent *a, MDB_txn *txn, void *ctx)
{
    list_filter *f = ctx;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, a->st.referrals, &cur);
    if (rc)
        return store_err(rc);
    json_t *list = json_array();
    while (json_array_size(list) < f->limit &&
           mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        Polku__ReferralRecord *r =
            polku__referral_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!r)
            continue;
        if ((f->direction < 0 || f->direction == (int)r->outgoing) &&
            (f->status < 0 || f->status == (int)r->status))
            json_array_append_new(list, referrals_json(a, r, false));
        polku__referral_record__free_unpacked(r, NULL);
    }
    mdb_cursor_close(cur);
    agent_after_reply(a, f->call->req, 200,
                      json_pack("{s:I, s:o}", "count",
                                (json_int_t)json_array_size(list), "referrals",
                                list));
    return POLKU_OK;
}

/* ---- routing ---- */

void respond_refusal(polku_http_req *req, agent_refusal *why)
{
    json_t *body =
        json_pack("{s:{s:s, s:s}}", "error", "code",
                  why->code ? why->code : "refused", "message", why->message);
    if (body && why->extra)
        json_object_update(body, why->extra);
    json_decref(why->extra);
    why->extra = NULL;
    if (body)
        polku_http_respond_json(req, why->status ? why->status : 409, body);
    else
        polku_http_respond_error(req, 500, "internal", "out of memory");
}

static void answer_failure(api_call *c, int rc)
{
    if (rc == POLKU_EREFUSED)
        respond_refusal(c->req, &c->why);
    else
        respond_err(c->req, rc);
}

void run(agent *a, api_call *c, agent_item_fn fn)
{
    int rc = agent_run_item(a, fn, c);
    if (rc)
        answer_failure(c, rc);
}

void run_read(agent *a, api_call *c, agent_item_fn fn)
{
    int rc = agent_read(a, fn, c);
    if (rc)
        answer_failure(c, rc);
}

bool route_id(const char *rest, polku_id *id, const char **after)
{
    char text[POLKU_ID_TEXT];
    if (rest[0] != '/' || strlen(rest) < 27 ||
        (rest[27] != '\0' && rest[27] != '/'))
        return false;
    memcpy(text, rest + 1, 26);
    text[26] = '\0';
    if (polku_id_parse(text, id))
        return false;
    *after = rest + 27;
    return true;
}

static void list_referrals(agent *a, api_call *c)
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
    int rc = agent_read(a, item_list, &f);
    if (rc)
        respond_err(c->req, rc);
}

static void post_status(agent *a, api_call *c)
{
    const char *status = NULL;
    if (parse_body(c->req, &c->body))
        return;
    if (opt_string(c->req, c->body, "status", 32, &status) ||
        opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason) ||
        opt_string(c->req, c->body, "outcome", POLKU_MAX_TEXT, &c->outcome))
        return;
    if (!status || polku_referral_state_parse(status, &c->status)) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'status' must be one of received, accepted, "
                                 "rejected, in-progress, on-hold, completed, "
                                 "failed, cancelled");
        return;
    }
    run(a, c, item_status);
}

static void post_cancel(agent *a, api_call *c)
{
    if (parse_body(c->req, &c->body))
        return;
    if (opt_string(c->req, c->body, "reason", POLKU_MAX_TEXT, &c->reason))
        return;
    if (!c->reason || !*c->reason) {
        polku_http_respond_error(c->req, 400, "bad_request",
                                 "'reason' is required");
        return;
    }
    run(a, c, item_cancel);
}

static void referral_routes(agent *a, api_call *c, const char *method,
                            const char *rest)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (get)
            list_referrals(a, c);
        else if (post && parse_body(c->req, &c->body) == 0 &&
                 parse_create(a, c) == 0)
            run(a, c, item_create);
        else if (!get && !post)
            polku_http_respond_error(c->req, 405, "method_not_allowed",
                                     "use GET or POST");
        return;
    }
    char idtext[POLKU_ID_TEXT + 1];
    const char *slash = strchr(rest + 1, '/');
    size_t idlen = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    if (idlen != 26) {
        polku_http_respond_error(c->req, 404, "not_found", "no such referral");
        return;
    }
    memcpy(idtext, rest + 1, 26);
    idtext[26] = '\0';
    if (polku_id_parse(idtext, &c->id)) {
        polku_http_respond_error(c->req, 404, "not_found", "no such referral");
        return;
    }
    const char *verb = slash ? slash : "";
    if (get && !*verb)
        run_read(a, c, item_show);
    else if (post && strcmp(verb, "/status") == 0)
        post_status(a, c);
    else if (post && strcmp(verb, "/cancel") == 0)
        post_cancel(a, c);
    else
        polku_http_respond_error(c->req, 404, "not_found", "no such endpoint");
}

static void healthz(agent *a, polku_http_req *req)
{
    char epoch[17];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)a->epoch);
    polku_http_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "status", "ok", "org",
                  a->cfg->org, "broker",
                  agent_broker_connected(a) ? "connected" : "disconnected",
                  "epoch", epoch, "outbox_pending",
                  (json_int_t)outbox_pending(&a->ob), "last_seq",
                  (json_int_t)a->committed_seq));
}

typedef struct dest_metrics {
    FILE *f;
    uint64_t now_ms;
    bool ages; /* second pass: ages instead of counts */
} dest_metrics;

static void metric_dest(const char *dest, size_t pending, uint64_t oldest,
                        void *arg)
{
    dest_metrics *m = arg;
    if (!dest[0])
        dest = "@broker";
    if (m->ages)
        fprintf(
            m->f, "polku_agent_outbox_oldest_seconds{dest=\"%s\"} %.3f\n", dest,
            oldest && oldest < m->now_ms ? (m->now_ms - oldest) / 1e3 : 0.0);
    else
        fprintf(m->f, "polku_agent_outbox_pending_by_dest{dest=\"%s\"} %zu\n",
                dest, pending);
}

static void metrics_outbox(agent *a, FILE *f)
{
    dest_metrics m = {.f = f, .now_ms = polku_now_ms()};
    fprintf(f, "# HELP polku_agent_outbox_pending_by_dest Events not yet "
               "acknowledged, by destination.\n"
               "# TYPE polku_agent_outbox_pending_by_dest gauge\n");
    outbox_each_dest(&a->ob, metric_dest, &m);
    m.ages = true;
    fprintf(f, "# HELP polku_agent_outbox_oldest_seconds Age of the oldest "
               "unacknowledged event, by destination.\n"
               "# TYPE polku_agent_outbox_oldest_seconds gauge\n");
    outbox_each_dest(&a->ob, metric_dest, &m);
}

static void metrics(agent *a, polku_http_req *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        polku_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    const agent_counters *c = &a->counters;
    fprintf(f,
            "# TYPE polku_agent_broker_connected gauge\n"
            "polku_agent_broker_connected %d\n"
            "# TYPE polku_agent_outbox_pending gauge\n"
            "polku_agent_outbox_pending %zu\n"
            "# TYPE polku_agent_last_seq gauge\n"
            "polku_agent_last_seq %llu\n"
            "# TYPE polku_agent_commits_total counter\n"
            "polku_agent_commits_total %llu\n"
            "polku_agent_commit_failures_total %llu\n"
            "# TYPE polku_agent_batch_items_total counter\n"
            "polku_agent_batch_items_total %llu\n"
            "polku_agent_inbound_total %llu\n"
            "polku_agent_duplicates_total %llu\n"
            "polku_agent_acks_sent_total %llu\n"
            "polku_agent_acks_received_total %llu\n"
            "polku_agent_nacks_received_total %llu\n"
            "polku_agent_failed_deliveries_total %llu\n"
            "polku_agent_store_full_total %llu\n"
            "polku_agent_replayed_events_total %llu\n"
            "# TYPE polku_agent_store_map_bytes gauge\n"
            "polku_agent_store_map_bytes %llu\n",
            agent_broker_connected(a), outbox_pending(&a->ob),
            (unsigned long long)a->committed_seq, c->commits,
            c->commit_failures, c->items, c->inbound, c->duplicates,
            c->acks_sent, c->acks_received, c->nacks_received,
            c->failed_deliveries, c->store_full, c->replayed,
            (unsigned long long)a->st.map_size);
    metrics_outbox(a, f);
    fclose(f);
    polku_http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static bool authorised(agent *a, polku_http_req *req)
{
    const char *h = polku_http_header(req, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 &&
           polku_token_equal(h + 7, a->cfg->token);
}

void agent_api_handle(agent *a, polku_http_req *req)
{
    const char *path = polku_http_path(req);
    const char *method = polku_http_method(req);
    if (strcmp(path, "/healthz") == 0) {
        healthz(a, req);
        return;
    }
    if (!authorised(a, req)) {
        polku_http_respond_error(req, 401, "unauthorized",
                                 "a valid bearer token is required");
        return;
    }
    api_call c = {.req = req};
    if (strcmp(path, "/metrics") == 0)
        metrics(a, req);
    else if (strncmp(path, "/v1/referrals", 13) == 0 &&
             (path[13] == '\0' || path[13] == '/'))
        referral_routes(a, &c, method, path + 13);
    else if (strncmp(path, "/v1/consents", 12) == 0 &&
             (path[12] == '\0' || path[12] == '/'))
        api_consent_routes(a, &c, method, path + 12);
    else if (strcmp(path, "/v1/events") == 0 && strcmp(method, "GET") == 0)
        polku_sse_attach(a->events, req);
    else if (strncmp(path, "/v1/paths", 9) == 0 &&
             (path[9] == '\0' || path[9] == '/'))
        api_path_routes(a, &c, method, path + 9);
    else if (strncmp(path, "/v1/handovers", 13) == 0 &&
             (path[13] == '\0' || path[13] == '/'))
        api_handover_routes(a, &c, method, path + 13);
    else
        polku_http_respond_error(req, 404, "not_found", "no such endpoint");
    json_decref(c.body);
}

static void on_request(polku_http_req *req, void *arg)
{
    agent_api_handle(arg, req);
}

int agent_api_start(agent *a)
{
    int rc = polku_http_start(a->loop, a->cfg->http, a->cfg->max_body,
                              on_request, a, &a->http);
    if (rc)
        log_error("cannot serve the API on %s: %s", a->cfg->http,
                  polku_strerror(rc));
    return rc;
}
