/* api.c — the API's server, its route table, parsing and health (see api.h).
 *
 * One table lists every route: method, pattern, handler, and whether it
 * writes (a batch item, answered after the commit) or reads. A pattern's
 * {id} is a 26-character id and {key} a client key of 32 hex characters;
 * a segment that is neither is answered 404 naming the object. */
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

static void metrics_outbox(agent_api *api, FILE *f)
{
    dest_metrics m = {.f = f, .now_ms = domain_now(api->d)};
    fprintf(f, "# HELP polku_agent_outbox_pending_by_dest Events not yet "
               "acknowledged, by destination.\n"
               "# TYPE polku_agent_outbox_pending_by_dest gauge\n");
    outbox_each_dest(api->ob, metric_dest, &m);
    m.ages = true;
    fprintf(f, "# HELP polku_agent_outbox_oldest_seconds Age of the oldest "
               "unacknowledged event, by destination.\n"
               "# TYPE polku_agent_outbox_oldest_seconds gauge\n");
    outbox_each_dest(api->ob, metric_dest, &m);
}

static void metrics(agent_api *api, api_call *c)
{
    polku_http_req *req = c->req;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        polku_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    const batch_counters *b = &api->d->b->counters;
    const link_counters *l = &api->link->counters;
    fprintf(
        f,
        "# HELP polku_agent_broker_connected 1 when welcomed by the broker and "
        "heard from recently.\n"
        "# TYPE polku_agent_broker_connected gauge\n"
        "polku_agent_broker_connected %d\n"
        "# HELP polku_agent_outbox_pending Events not yet acknowledged.\n"
        "# TYPE polku_agent_outbox_pending gauge\n"
        "polku_agent_outbox_pending %zu\n"
        "# HELP polku_agent_last_seq Sequence of the last event committed to "
        "the log.\n"
        "# TYPE polku_agent_last_seq gauge\n"
        "polku_agent_last_seq %llu\n"
        "# HELP polku_agent_commits_total Store write transactions committed.\n"
        "# TYPE polku_agent_commits_total counter\n"
        "polku_agent_commits_total %llu\n"
        "# HELP polku_agent_commit_failures_total Store write transactions "
        "that failed.\n"
        "# TYPE polku_agent_commit_failures_total counter\n"
        "polku_agent_commit_failures_total %llu\n"
        "# HELP polku_agent_batch_items_total Changes written in those "
        "transactions.\n"
        "# TYPE polku_agent_batch_items_total counter\n"
        "polku_agent_batch_items_total %llu\n"
        "# HELP polku_agent_inbound_total Events received from other "
        "organisations.\n"
        "# TYPE polku_agent_inbound_total counter\n"
        "polku_agent_inbound_total %llu\n"
        "# HELP polku_agent_duplicates_total Events received again "
        "(re-acknowledged, not applied).\n"
        "# TYPE polku_agent_duplicates_total counter\n"
        "polku_agent_duplicates_total %llu\n"
        "# HELP polku_agent_acks_sent_total Acks sent for events received.\n"
        "# TYPE polku_agent_acks_sent_total counter\n"
        "polku_agent_acks_sent_total %llu\n"
        "# HELP polku_agent_acks_received_total Acks received for events "
        "sent.\n"
        "# TYPE polku_agent_acks_received_total counter\n"
        "polku_agent_acks_received_total %llu\n"
        "# HELP polku_agent_nacks_received_total Nacks received from the "
        "broker.\n"
        "# TYPE polku_agent_nacks_received_total counter\n"
        "polku_agent_nacks_received_total %llu\n"
        "# HELP polku_agent_failed_deliveries_total Events that ended as a "
        "visible delivery failure.\n"
        "# TYPE polku_agent_failed_deliveries_total counter\n"
        "polku_agent_failed_deliveries_total %llu\n"
        "# HELP polku_agent_store_full_total Writes refused because the store "
        "was full.\n"
        "# TYPE polku_agent_store_full_total counter\n"
        "polku_agent_store_full_total %llu\n"
        "# HELP polku_agent_replayed_events_total Events replayed to the "
        "broker on its request.\n"
        "# TYPE polku_agent_replayed_events_total counter\n"
        "polku_agent_replayed_events_total %llu\n"
        "# HELP polku_agent_sequence_conflicts_total Events from another "
        "organisation at a sequence already received for another event "
        "(its store went back in time); not acknowledged.\n"
        "# TYPE polku_agent_sequence_conflicts_total counter\n"
        "polku_agent_sequence_conflicts_total %llu\n"
        "# HELP polku_agent_log_repairs_total Times this store's log "
        "continued after what a receiver holds (it went back in time "
        "where no broker saw it).\n"
        "# TYPE polku_agent_log_repairs_total counter\n"
        "polku_agent_log_repairs_total %llu\n"
        "# HELP polku_agent_store_map_bytes Size of the LMDB map.\n"
        "# TYPE polku_agent_store_map_bytes gauge\n"
        "polku_agent_store_map_bytes %llu\n",
        link_up(api->link), outbox_pending(api->ob),
        (unsigned long long)api->d->b->committed_seq, b->commits,
        b->commit_failures, b->items, l->inbound, l->duplicates, l->acks_sent,
        l->acks_received, l->nacks_received, l->failed_deliveries,
        b->store_full, l->replayed, l->sequence_conflicts, l->log_repairs,
        (unsigned long long)api->d->st->map_size);
    fprintf(f,
            "# HELP polku_agent_store_syncs_total Flushes of a commit's meta "
            "page on their own (when no later commit flushed it first).\n"
            "# TYPE polku_agent_store_syncs_total counter\n"
            "polku_agent_store_syncs_total %llu\n"
            "# HELP polku_agent_store_sync_failures_total Those flushes that "
            "failed (nothing was answered for their commit).\n"
            "# TYPE polku_agent_store_sync_failures_total counter\n"
            "polku_agent_store_sync_failures_total %llu\n",
            b->syncs, b->sync_failures);
    metrics_outbox(api, f);
    const polku_outq *q = api->link->outq;
    fprintf(f,
            "# HELP polku_agent_bundles_received_total Frames from the broker "
            "that held several messages (a Bundle).\n"
            "# TYPE polku_agent_bundles_received_total counter\n"
            "polku_agent_bundles_received_total %llu\n"
            "# HELP polku_agent_messages_sent_total Messages sent to the "
            "broker, alone or in a Bundle.\n"
            "# TYPE polku_agent_messages_sent_total counter\n"
            "polku_agent_messages_sent_total %llu\n"
            "# HELP polku_agent_frames_sent_total Frames those messages left "
            "in (one per loop turn when the broker takes bundles).\n"
            "# TYPE polku_agent_frames_sent_total counter\n"
            "polku_agent_frames_sent_total %llu\n",
            l->bundles_in, q ? polku_outq_messages(q) : 0ULL,
            q ? polku_outq_frames(q) : 0ULL);
    fclose(f);
    polku_http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
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
