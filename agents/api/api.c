/* api.c — the API's server, its route table, parsing and health (see api.h).
 *
 * One table lists every route: method, pattern, handler, and whether it
 * writes (a batch item, answered after the commit) or reads. A pattern's
 * {id} is a 26-character id and {key} a client key of 32 hex characters;
 * a segment that is neither is answered 404 naming the object. */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/keys.h"
#include "polku/log.h"
#include "polku/sse.h"

/* ---- parsing ---- */

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

int api_parse_body(api_call *c)
{
    polku_http_req *req = c->req;
    json_t **out = &c->body;
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
int api_opt_string(polku_http_req *req, json_t *obj, const char *name,
                   size_t max, const char **out)
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

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

int api_opt_text(polku_http_req *req, json_t *obj, const char *name, size_t max,
                 const char **out)
{
    int rc = api_opt_string(req, obj, name, max, out);
    if (rc || !*out || !blank(*out))
        return rc;
    char msg[128];
    snprintf(msg, sizeof msg,
             "'%s' must contain something other than whitespace", name);
    polku_http_respond_error(req, 400, "bad_request", msg);
    *out = NULL;
    return POLKU_EINVAL;
}

int api_parse_time(api_call *c, const char *name, const char *text,
                   uint64_t *ms, bool *date_only)
{
    char why[160], msg[224];
    if (polku_time_parse_why(text, ms, date_only, why, sizeof why) == 0)
        return POLKU_OK;
    snprintf(msg, sizeof msg, "'%s': %s", name, why);
    polku_http_respond_error(c->req, 400, "invalid_date", msg);
    return POLKU_EINVAL;
}

/* The identity code becomes the region's client key; the code itself is
 * kept in c->hetu only until the item stores it locally. */
static int client_from_hetu(agent_api *api, api_call *c, const char *text,
                            uint8_t key[16])
{
    polku_hetu_problem problem = POLKU_HETU_OK;
    if (!api->cfg->has_pseudonym_secret) {
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
    polku_client_key(api->cfg->pseudonym_secret, c->hetu, key);
    return POLKU_OK;
}

int api_parse_client(api_call *c, json_t *body, uint8_t key[16])
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
    if (api_opt_string(req, client, "hetu", 16, &hetu) ||
        api_opt_string(req, client, "key", 32, &hex))
        return POLKU_EINVAL;
    return api_client_from_text(c, hetu, hex, key);
}

int api_client_from_text(api_call *c, const char *hetu, const char *hex,
                         uint8_t key[16])
{
    agent_api *api = c->api;
    polku_http_req *req = c->req;
    if (hetu && hex) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "give client.hetu or client.key, not both");
        return POLKU_EINVAL;
    }
    if (hetu)
        return client_from_hetu(api, c, hetu, key);
    if (!hex || polku_client_key_parse(hex, key)) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "client.key must be 32 lowercase hex "
                                 "characters");
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

int api_remember_client(api_call *c, MDB_txn *txn, const uint8_t key[16])
{
    return c->hetu[0] ? store_client_put(c->api->d->st, txn, key, c->hetu)
                      : POLKU_OK;
}

/* ---- health ---- */

static void healthz(agent_api *api, api_call *c)
{
    polku_http_req *req = c->req;
    char epoch[17], incarnation[17];
    snprintf(epoch, sizeof epoch, "%016llx",
             (unsigned long long)api->link->epoch);
    snprintf(incarnation, sizeof incarnation, "%016llx",
             (unsigned long long)api->d->log->incarnation);
    char why[512];
    link_state_detail(api->link, why, sizeof why);
    polku_http_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I}",
                  "status", "ok", "org", api->cfg->org, "broker",
                  link_state_name(api->link), "broker_detail", why, "epoch",
                  epoch, "outbox_pending", (json_int_t)outbox_pending(api->ob),
                  "last_seq", (json_int_t)api->d->b->committed_seq,
                  "incarnation", incarnation, "broker_address",
                  link_broker(api->link), "broker_moves",
                  (json_int_t)api->link->moves));
}

/* ---- /metrics ---- */

/* The agent's metric families, one value per region. Names, help and
 * type here; the values in metric_values, by the same index. */
enum {
    M_BROKER_CONNECTED,
    M_OUTBOX_PENDING,
    M_LAST_SEQ,
    M_COMMITS,
    M_COMMIT_FAILURES,
    M_BATCH_ITEMS,
    M_INBOUND,
    M_DUPLICATES,
    M_ACKS_SENT,
    M_ACKS_RECEIVED,
    M_NACKS_RECEIVED,
    M_FAILED_DELIVERIES,
    M_STORE_FULL,
    M_REPLAYED,
    M_SEQUENCE_CONFLICTS,
    M_LOG_REPAIRS,
    M_STORE_MAP_BYTES,
    M_STORE_SYNCS,
    M_STORE_SYNC_FAILURES,
    M_BUNDLES_RECEIVED,
    M_MESSAGES_SENT,
    M_FRAMES_SENT,
    M_COUNT
};

typedef struct agent_metric {
    const char *name;
    bool counter; /* else a gauge */
    const char *help;
} agent_metric;

static const agent_metric metric_table[M_COUNT] = {
    [M_BROKER_CONNECTED] = {"polku_agent_broker_connected", false,
                            "1 when welcomed by the broker and heard from "
                            "recently."},
    [M_OUTBOX_PENDING] = {"polku_agent_outbox_pending", false,
                          "Events not yet acknowledged."},
    [M_LAST_SEQ] = {"polku_agent_last_seq", false,
                    "Sequence of the last event committed to the log."},
    [M_COMMITS] = {"polku_agent_commits_total", true,
                   "Store write transactions committed."},
    [M_COMMIT_FAILURES] = {"polku_agent_commit_failures_total", true,
                           "Store write transactions that failed."},
    [M_BATCH_ITEMS] = {"polku_agent_batch_items_total", true,
                       "Changes written in those transactions."},
    [M_INBOUND] = {"polku_agent_inbound_total", true,
                   "Events received from other organisations."},
    [M_DUPLICATES] = {"polku_agent_duplicates_total", true,
                      "Events received again (re-acknowledged, not "
                      "applied)."},
    [M_ACKS_SENT] = {"polku_agent_acks_sent_total", true,
                     "Acks sent for events received."},
    [M_ACKS_RECEIVED] = {"polku_agent_acks_received_total", true,
                         "Acks received for events sent."},
    [M_NACKS_RECEIVED] = {"polku_agent_nacks_received_total", true,
                          "Nacks received from the broker."},
    [M_FAILED_DELIVERIES] = {"polku_agent_failed_deliveries_total", true,
                             "Events that ended as a visible delivery "
                             "failure."},
    [M_STORE_FULL] = {"polku_agent_store_full_total", true,
                      "Writes refused because the store was full."},
    [M_REPLAYED] = {"polku_agent_replayed_events_total", true,
                    "Events replayed to the broker on its request."},
    [M_SEQUENCE_CONFLICTS] = {"polku_agent_sequence_conflicts_total", true,
                              "Events from another organisation at a "
                              "sequence already received for another event "
                              "(its store went back in time); not "
                              "acknowledged."},
    [M_LOG_REPAIRS] = {"polku_agent_log_repairs_total", true,
                       "Times this store's log continued after what a "
                       "receiver holds (it went back in time where no "
                       "broker saw it)."},
    [M_STORE_MAP_BYTES] = {"polku_agent_store_map_bytes", false,
                           "Size of the LMDB map."},
    [M_STORE_SYNCS] = {"polku_agent_store_syncs_total", true,
                       "Flushes of a commit's meta page on their own (when "
                       "no later commit flushed it first)."},
    [M_STORE_SYNC_FAILURES] = {"polku_agent_store_sync_failures_total", true,
                               "Those flushes that failed (nothing was "
                               "answered for their commit)."},
    [M_BUNDLES_RECEIVED] = {"polku_agent_bundles_received_total", true,
                            "Frames from the broker that held several "
                            "messages (a Bundle)."},
    [M_MESSAGES_SENT] = {"polku_agent_messages_sent_total", true,
                         "Messages sent to the broker, alone or in a "
                         "Bundle."},
    [M_FRAMES_SENT] = {"polku_agent_frames_sent_total", true,
                       "Frames those messages left in (one per loop turn "
                       "when the broker takes bundles)."},
};

static void metric_values(const agent_api *api, unsigned long long v[M_COUNT])
{
    const batch_counters *b = &api->d->b->counters;
    const link_counters *l = &api->link->counters;
    const polku_outq *q = api->link->outq;
    v[M_BROKER_CONNECTED] = (unsigned long long)link_up(api->link);
    v[M_OUTBOX_PENDING] = outbox_pending(api->ob);
    v[M_LAST_SEQ] = api->d->b->committed_seq;
    v[M_COMMITS] = b->commits;
    v[M_COMMIT_FAILURES] = b->commit_failures;
    v[M_BATCH_ITEMS] = b->items;
    v[M_INBOUND] = l->inbound;
    v[M_DUPLICATES] = l->duplicates;
    v[M_ACKS_SENT] = l->acks_sent;
    v[M_ACKS_RECEIVED] = l->acks_received;
    v[M_NACKS_RECEIVED] = l->nacks_received;
    v[M_FAILED_DELIVERIES] = l->failed_deliveries;
    v[M_STORE_FULL] = b->store_full;
    v[M_REPLAYED] = l->replayed;
    v[M_SEQUENCE_CONFLICTS] = l->sequence_conflicts;
    v[M_LOG_REPAIRS] = l->log_repairs;
    v[M_STORE_MAP_BYTES] = api->d->st->map_size;
    v[M_STORE_SYNCS] = b->syncs;
    v[M_STORE_SYNC_FAILURES] = b->sync_failures;
    v[M_BUNDLES_RECEIVED] = l->bundles_in;
    v[M_MESSAGES_SENT] = q ? polku_outq_messages(q) : 0ULL;
    v[M_FRAMES_SENT] = q ? polku_outq_frames(q) : 0ULL;
}

typedef struct dest_metrics {
    FILE *f;
    const char *region; /* the label's value; NULL: no region label */
    uint64_t now_ms;
    bool ages; /* second pass: ages instead of counts */
} dest_metrics;

static void metric_dest(const char *dest, size_t pending, uint64_t oldest,
                        void *arg)
{
    dest_metrics *m = arg;
    if (!dest[0])
        dest = "@broker";
    char labels[160];
    if (m->region)
        snprintf(labels, sizeof labels, "region=\"%s\",dest=\"%s\"", m->region,
                 dest);
    else
        snprintf(labels, sizeof labels, "dest=\"%s\"", dest);
    if (m->ages)
        fprintf(m->f, "polku_agent_outbox_oldest_seconds{%s} %.3f\n", labels,
                oldest && oldest < m->now_ms ? (m->now_ms - oldest) / 1e3
                                             : 0.0);
    else
        fprintf(m->f, "polku_agent_outbox_pending_by_dest{%s} %zu\n", labels,
                pending);
}

static void metrics_outbox(agent_api *const *apis, size_t n, bool by_region,
                           FILE *f)
{
    fprintf(f, "# HELP polku_agent_outbox_pending_by_dest Events not yet "
               "acknowledged, by destination.\n"
               "# TYPE polku_agent_outbox_pending_by_dest gauge\n");
    for (size_t i = 0; i < n; i++) {
        dest_metrics m = {.f = f,
                          .region = by_region ? apis[i]->region : NULL,
                          .now_ms = domain_now(apis[i]->d)};
        outbox_each_dest(apis[i]->ob, metric_dest, &m);
    }
    fprintf(f, "# HELP polku_agent_outbox_oldest_seconds Age of the oldest "
               "unacknowledged event, by destination.\n"
               "# TYPE polku_agent_outbox_oldest_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        dest_metrics m = {.f = f,
                          .region = by_region ? apis[i]->region : NULL,
                          .now_ms = domain_now(apis[i]->d),
                          .ages = true};
        outbox_each_dest(apis[i]->ob, metric_dest, &m);
    }
}

void api_metrics_respond(polku_http_req *req, agent_api *const *apis, size_t n,
                         bool by_region)
{
    assert(n >= 1 && n <= AGENT_MAX_REGIONS);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        polku_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    unsigned long long values[AGENT_MAX_REGIONS][M_COUNT];
    for (size_t i = 0; i < n; i++)
        metric_values(apis[i], values[i]);
    for (size_t k = 0; k < M_COUNT; k++) {
        const agent_metric *m = &metric_table[k];
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                m->counter ? "counter" : "gauge");
        for (size_t i = 0; i < n; i++) {
            if (by_region)
                fprintf(f, "%s{region=\"%s\"} %llu\n", m->name, apis[i]->region,
                        values[i][k]);
            else
                fprintf(f, "%s %llu\n", m->name, values[i][k]);
        }
    }
    metrics_outbox(apis, n, by_region, f);
    fclose(f);
    polku_http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* One region's metrics, without a region label (an agent of several
 * regions answers /metrics in its front: api_front.c). */
static void metrics(agent_api *api, api_call *c)
{
    agent_api *one[1] = {api};
    api_metrics_respond(c->req, one, 1, false);
}

/* ---- the route table ---- */

typedef struct api_route {
    const char *method;
    const char *pattern;
    api_handler handler;
    bool writes;       /* a batch item; else a read (or no store at all) */
    bool public;       /* no bearer token needed */
    api_object object; /* what {id} or {key} names */
} api_route;

static const api_route routes[] = {
    {"GET", "/healthz", healthz, false, true, API_NONE},
    {"GET", "/metrics", metrics, false, false, API_NONE},
    {"GET", "/v1/events", api_events_attach, false, false, API_NONE},
    {"GET", "/v1/reconcile", api_reconcile_show, false, false, API_NONE},
    {"GET", "/v1/log/verify", api_log_verify, false, false, API_NONE},
    {"GET", "/v1/referrals", api_referral_list, false, false, API_REFERRAL},
    {"POST", "/v1/referrals", api_referral_create, true, false, API_REFERRAL},
    {"POST", "/v1/referrals/batch", api_referral_batch, true, false,
     API_REFERRAL},
    {"GET", "/v1/referrals/{id}", api_referral_show, false, false,
     API_REFERRAL},
    {"POST", "/v1/referrals/{id}/status", api_referral_status, true, false,
     API_REFERRAL},
    {"POST", "/v1/referrals/{id}/cancel", api_referral_cancel, true, false,
     API_REFERRAL},
    {"GET", "/v1/consents", api_consent_list, false, false, API_CONSENT},
    {"POST", "/v1/consents", api_consent_grant, true, false, API_CONSENT},
    {"POST", "/v1/consents/{id}/revoke", api_consent_revoke, true, false,
     API_CONSENT},
    {"GET", "/v1/paths", api_path_list, false, false, API_PATH},
    {"POST", "/v1/paths", api_path_claim, true, false, API_PATH},
    {"GET", "/v1/paths/{key}", api_path_show, false, false, API_PATH},
    {"POST", "/v1/paths/{key}/close", api_path_close, true, false, API_PATH},
    {"POST", "/v1/paths/{key}/plan", api_path_plan, true, false, API_PATH},
    {"POST", "/v1/paths/{key}/services", api_path_service, true, false,
     API_PATH},
    {"GET", "/v1/handovers", api_handover_list, false, false, API_HANDOVER},
    {"POST", "/v1/handovers", api_handover_offer, true, false, API_HANDOVER},
    {"GET", "/v1/handovers/{id}", api_handover_show, false, false,
     API_HANDOVER},
    {"POST", "/v1/handovers/{id}/accept", api_handover_accept, true, false,
     API_HANDOVER},
    {"POST", "/v1/handovers/{id}/decline", api_handover_decline, true, false,
     API_HANDOVER},
    {"POST", "/v1/handovers/{id}/withdraw", api_handover_withdraw, true, false,
     API_HANDOVER},
    {"GET", "/v1/clients/{key}/access", api_access_show, false, false,
     API_NONE},
    {"POST", "/v1/clients/access", api_access_post, false, false, API_NONE},
    {"POST", "/v1/overrides/{id}/review", api_override_review, true, false,
     API_NONE},
    {"GET", "/v1/openapi.json", api_openapi, false, true, API_NONE},
    /* the FHIR R4 view (api_fhir.c) */
    {"GET", "/fhir/metadata", api_fhir_metadata, false, true, API_NONE},
    {"GET", "/fhir/Task", api_fhir_task_search, false, false, API_REFERRAL},
    {"POST", "/fhir/Task", api_fhir_task_create, true, false, API_REFERRAL},
    {"GET", "/fhir/Task/{id}", api_fhir_task_read, false, false, API_REFERRAL},
    {"GET", "/fhir/Consent", api_fhir_consent_search, false, false,
     API_CONSENT},
};

size_t api_route_count(void)
{
    return sizeof routes / sizeof routes[0];
}

void api_route_get(size_t i, const char **method, const char **pattern,
                   bool *public)
{
    *method = routes[i].method;
    *pattern = routes[i].pattern;
    *public = routes[i].public;
}

typedef enum match {
    MATCH_NO,       /* another route */
    MATCH_YES,      /* this route; {id}/{key} parsed into c */
    MATCH_BAD_NAME, /* this route's shape, but {id}/{key} is not one */
} match;

/* Matches path (without a trailing "/") against pattern, segment by
 * segment; fills c->id or c->key. */
static match route_match(const char *pattern, const char *path, api_call *c)
{
    match result = MATCH_YES;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return MATCH_NO;
        pattern++, path++;
        size_t pn = strcspn(pattern, "/"), sn = strcspn(path, "/");
        char seg[64];
        if (strncmp(pattern, "{id}", pn) == 0 && pn == 4) {
            snprintf(seg, sizeof seg, "%.*s", (int)sn, path);
            if (sn != POLKU_ID_TEXT - 1 || polku_id_parse(seg, &c->id))
                result = MATCH_BAD_NAME;
        } else if (strncmp(pattern, "{key}", pn) == 0 && pn == 5) {
            snprintf(seg, sizeof seg, "%.*s", (int)sn, path);
            if (sn != 32 || polku_client_key_parse(seg, c->key))
                result = MATCH_BAD_NAME;
        } else if (pn != sn || strncmp(pattern, path, pn) != 0) {
            return MATCH_NO;
        }
        pattern += pn, path += sn;
    }
    return *pattern || *path ? MATCH_NO : result;
}

static void no_such(polku_http_req *req, api_object object)
{
    if (object == API_PATH)
        polku_http_respond_error(req, 404, "not_found",
                                 "no such endpoint: paths are named by a "
                                 "32-hex client key");
    else
        api_respond_err(req, object, POLKU_ENOTFOUND);
}

static bool authorised(agent_api *api, polku_http_req *req)
{
    const char *h = polku_http_header(req, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 &&
           polku_token_equal(h + 7, api->cfg->token);
}

void api_handle(agent_api *api, polku_http_req *req)
{
    char path[256];
    const char *method = polku_http_method(req);
    snprintf(path, sizeof path, "%s", polku_http_path(req));
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        path[len - 1] = '\0'; /* "/v1/referrals/" is "/v1/referrals" */
    api_call c = {.api = api, .req = req};
    if (api->region &&
        (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/healthz") == 0) &&
        strcmp(path, "/v1/openapi.json") != 0)
        polku_http_set_json_tag(req, "region", api->region); /* not FHIR's */
    if (strncmp(path, "/fhir", 5) == 0 && (path[5] == '/' || !path[5]))
        api_fhir_style(req); /* OperationOutcome from here on, 401 too */
    const api_route *found = NULL, *bad_name = NULL;
    char allowed[32] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !found; i++) {
        match m = route_match(routes[i].pattern, path, &c);
        if (m == MATCH_NO)
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            size_t n = strlen(allowed);
            snprintf(allowed + n, sizeof allowed - n, "%s%s", n ? " or " : "",
                     routes[i].method);
        } else if (m == MATCH_BAD_NAME) {
            bad_name = &routes[i];
        } else {
            found = &routes[i];
        }
    }
    if (!(found && found->public) && !authorised(api, req)) {
        polku_http_respond_error(req, 401, "unauthorized",
                                 "a valid bearer token is required");
    } else if (found) {
        c.object = found->object;
        found->handler(api, &c);
    } else if (bad_name) {
        no_such(req, bad_name->object);
    } else if (allowed[0]) {
        char msg[64];
        snprintf(msg, sizeof msg, "use %s", allowed);
        polku_http_respond_error(req, 405, "method_not_allowed", msg);
    } else {
        polku_http_respond_error(req, 404, "not_found", "no such endpoint");
    }
    json_decref(c.body);
}

int api_start(agent_api *api, uv_loop_t *loop, const agent_config *cfg,
              const char *region, domain *d, broker_link *link, outbox *ob)
{
    api->loop = loop;
    api->cfg = cfg;
    api->region = region;
    api->d = d;
    api->dir = d->dir;
    api->link = link;
    api->ob = ob;
    return api_events_start(api);
}

void api_stop_streams(agent_api *api)
{
    api_events_stop(api); /* its streams end before the server */
}

void api_stop(agent_api *api)
{
    api_path_query_fini(api);
    api_access_fini(api);
    api_claims_fini(api);
}

void api_tick(agent_api *api, uint64_t now)
{
    api_claims_expire(api, now);
    api_path_query_expire(api, now);
    api_access_expire(api, now);
    api_events_keepalive(api, now);
}
