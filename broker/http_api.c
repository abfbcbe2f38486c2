/* http_api.c — the broker's HTTP endpoints: liveness, Prometheus metrics
 * and the JSON API over the client paths.
 *
 * Only metadata: org ids, counts, the epoch. Bound to loopback by default;
 * when bound elsewhere a bearer token (http_token_file) is required. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha_link.h"
#include "http_api.h"
#include "reload.h"
#include "override_review.h"
#include "report.h"
#include "routes.h"
#include "views.h"
#include "web_assets.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/hetu.h"
#include "polku/keys.h"
#include "polku/log.h"

static void healthz(broker *b, polku_http_req *req)
{
    json_t *connected = json_array(), *replayed = json_array();
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        if (b->routes.by_org[i].connected)
            json_array_append_new(connected, json_string(b->cfg->orgs[i].id));
        if (b->routes.by_org[i].replayed)
            json_array_append_new(replayed, json_string(b->cfg->orgs[i].id));
    }
    char epoch[17];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)b->epoch);
    polku_http_respond_json(
        req, 200,
        json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}", "status", "ok", "epoch",
                  epoch, "uptime_s",
                  (json_int_t)((polku_now_ms() - b->started_ms) / 1000),
                  "connected", connected, "replayed", replayed, "ha",
                  pair_json(b)));
}

static void metrics(broker *b, polku_http_req *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        polku_http_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    const broker_counters *c = &b->counters;
    size_t connected = 0;
    for (size_t i = 0; i < b->cfg->org_count; i++)
        connected += b->routes.by_org[i].connected;
    fprintf(f,
            "# HELP polku_broker_frames_total Frames received from agents.\n"
            "# TYPE polku_broker_frames_total counter\n"
            "polku_broker_frames_total %llu\n"
            "# HELP polku_broker_routed_total Events forwarded to a "
            "destination.\n"
            "# TYPE polku_broker_routed_total counter\n"
            "polku_broker_routed_total %llu\n"
            "# HELP polku_broker_acks_routed_total Acks forwarded to the "
            "event's origin.\n"
            "# TYPE polku_broker_acks_routed_total counter\n"
            "polku_broker_acks_routed_total %llu\n"
            "# HELP polku_broker_frames_rejected_total Frames refused before "
            "routing.\n"
            "# TYPE polku_broker_frames_rejected_total counter\n"
            "polku_broker_frames_rejected_total %llu\n"
            "# HELP polku_broker_hellos_total Hellos received from agents.\n"
            "# TYPE polku_broker_hellos_total counter\n"
            "polku_broker_hellos_total %llu\n"
            "# HELP polku_broker_zap_total CURVE handshakes decided by the "
            "organisation directory, by result.\n"
            "# TYPE polku_broker_zap_total counter\n"
            "polku_broker_zap_total{result=\"allowed\"} %llu\n"
            "polku_broker_zap_total{result=\"denied\"} %llu\n"
            "# HELP polku_broker_orgs_connected Organisations with a live "
            "session.\n"
            "# TYPE polku_broker_orgs_connected gauge\n"
            "polku_broker_orgs_connected %zu\n"
            "# HELP polku_broker_nacks_total Nacks sent, by code.\n"
            "# TYPE polku_broker_nacks_total counter\n",
            c->frames_in, c->routed, c->acks_routed, c->rejected, c->hellos,
            b->zap_allowed, b->zap_denied, connected);
    for (int code = 1; code <= POLKU_NACK_CODE_LAST; code++) {
        const char *name = polku_nack_code_name((Polku__NackCode)code);
        if (strcmp(name, "unspecified") != 0) /* numbers not in use */
            fprintf(f, "polku_broker_nacks_total{code=\"%s\"} %llu\n", name,
                    c->nacks[code]);
    }
    fprintf(f,
            "# HELP polku_broker_duplicate_sessions_total Connections refused "
            "because another connection of the same organisation was live.\n"
            "# TYPE polku_broker_duplicate_sessions_total counter\n"
            "polku_broker_duplicate_sessions_total %llu\n"
            "# HELP polku_broker_reloads_total Config reloads (SIGHUP), by "
            "result: done, or refused (an invalid file; nothing changed).\n"
            "# TYPE polku_broker_reloads_total counter\n"
            "polku_broker_reloads_total{result=\"done\"} %llu\n"
            "polku_broker_reloads_total{result=\"refused\"} %llu\n",
            c->duplicate_sessions, b->reloads, b->reloads_refused);
    pair_metrics(b, f);
    fprintf(f,
            "# HELP polku_broker_consents Consents known (folded from "
            "events).\n# TYPE polku_broker_consents gauge\n"
            "polku_broker_consents %zu\n"
            "# HELP polku_broker_replayed 1 when the org's log has been "
            "replayed in this epoch.\n# TYPE polku_broker_replayed gauge\n",
            ci_count(b->consents));
    for (size_t i = 0; i < b->cfg->org_count; i++)
        fprintf(f, "polku_broker_replayed{org=\"%s\"} %d\n", b->cfg->orgs[i].id,
                b->routes.by_org[i].replayed);
    fprintf(f, "# HELP polku_broker_replayed_events_total Events "
               "replayed from the org's log in this epoch.\n"
               "# TYPE polku_broker_replayed_events_total counter\n");
    for (size_t i = 0; i < b->cfg->org_count; i++)
        fprintf(f, "polku_broker_replayed_events_total{org=\"%s\"} %llu\n",
                b->cfg->orgs[i].id, b->routes.by_org[i].replayed_events);
    fprintf(f,
            "# HELP polku_broker_paths Client paths known.\n"
            "# TYPE polku_broker_paths gauge\npolku_broker_paths %zu\n"
            "# HELP polku_broker_paths_coordinated Client paths with a "
            "coordinator.\n"
            "# TYPE polku_broker_paths_coordinated gauge\n"
            "polku_broker_paths_coordinated %zu\n"
            "# HELP polku_broker_claims_total Coordination claims decided.\n"
            "# TYPE polku_broker_claims_total counter\n"
            "polku_broker_claims_total{outcome=\"won\"} %llu\n"
            "polku_broker_claims_total{outcome=\"lost\"} %llu\n"
            "polku_broker_claims_total{outcome=\"refused\"} %llu\n"
            "# HELP polku_broker_path_conflicts_total Events that disagreed "
            "about a coordination term (should stay 0).\n"
            "# TYPE polku_broker_path_conflicts_total counter\n"
            "polku_broker_path_conflicts_total %llu\n",
            pi_count(b->paths), pi_coordinated(b->paths), c->claims_won,
            c->claims_lost, c->claims_refused, pi_conflicts(b->paths));
    fprintf(f,
            "# HELP polku_broker_events_refused_total Events the writer rules "
            "refused (gate.h), live and replayed.\n"
            "# TYPE polku_broker_events_refused_total counter\n"
            "polku_broker_events_refused_total %llu\n"
            "# HELP polku_broker_events_held Replayed events waiting for "
            "other organisations' logs.\n"
            "# TYPE polku_broker_events_held gauge\n"
            "polku_broker_events_held %zu\n"
            "# HELP polku_broker_replayed_events_refused_total Replayed "
            "events the writer rules refused, by org.\n"
            "# TYPE polku_broker_replayed_events_refused_total counter\n",
            c->events_refused, hb_count(b->held));
    for (size_t i = 0; i < b->cfg->org_count; i++)
        fprintf(f,
                "polku_broker_replayed_events_refused_total{org=\"%s\"} "
                "%llu\n",
                b->cfg->orgs[i].id, b->routes.by_org[i].events_refused);
    fprintf(f,
            "# HELP polku_broker_store_regressions_total Agents' stores found "
            "gone back in time (a restored backup or snapshot) in this "
            "epoch, by their Hello or a receiver's sequence conflict.\n"
            "# TYPE polku_broker_store_regressions_total counter\n"
            "polku_broker_store_regressions_total %llu\n"
            "# HELP polku_broker_sequence_conflicts_total Receivers' answers "
            "that they hold another event at a sequence its origin sent "
            "again, passed on to the origin.\n"
            "# TYPE polku_broker_sequence_conflicts_total counter\n"
            "polku_broker_sequence_conflicts_total %llu\n",
            c->store_regressions, c->seq_conflicts);
    fprintf(f,
            "# HELP polku_broker_bundles_received_total Frames from agents "
            "that held several messages (a Bundle).\n"
            "# TYPE polku_broker_bundles_received_total counter\n"
            "polku_broker_bundles_received_total %llu\n"
            "# HELP polku_broker_messages_sent_total Messages sent to agents "
            "(events, acks, answers), alone or in a Bundle.\n"
            "# TYPE polku_broker_messages_sent_total counter\n"
            "polku_broker_messages_sent_total %llu\n"
            "# HELP polku_broker_frames_sent_total Frames those messages left "
            "in (one per agent and loop turn where it takes bundles).\n"
            "# TYPE polku_broker_frames_sent_total counter\n"
            "polku_broker_frames_sent_total %llu\n",
            c->bundles_in, b->outq ? polku_outq_messages(b->outq) : 0ULL,
            b->outq ? polku_outq_frames(b->outq) : 0ULL);
    fprintf(f,
            "# HELP polku_broker_log_divergences_total Organisations' event "
            "logs found not to extend the hash chain the broker witnessed "
            "(alert log_diverged).\n"
            "# TYPE polku_broker_log_divergences_total counter\n"
            "polku_broker_log_divergences_total %llu\n"
            "# HELP polku_broker_chain_reanchors_total Chains started again "
            "at a new incarnation after a restore.\n"
            "# TYPE polku_broker_chain_reanchors_total counter\n"
            "polku_broker_chain_reanchors_total %llu\n",
            heads_divergences(b->heads), heads_reanchors(b->heads));
    fprintf(f,
            "# HELP polku_broker_referrals_open Referrals not yet in a final "
            "state.\n"
            "# TYPE polku_broker_referrals_open gauge\n"
            "polku_broker_referrals_open %zu\n"
            "# HELP polku_broker_alerts Alerts raised and not yet cleared.\n"
            "# TYPE polku_broker_alerts gauge\npolku_broker_alerts %zu\n"
            "# HELP polku_broker_feed_events_total Events published on the "
            "feed.\n"
            "# TYPE polku_broker_feed_events_total counter\n"
            "polku_broker_feed_events_total %llu\n"
            "# HELP polku_broker_feed_clients Server-Sent Events streams "
            "open.\n"
            "# TYPE polku_broker_feed_clients gauge\n"
            "polku_broker_feed_clients %zu\n",
            cl_count_open(b->clients), alerts_count(b->alerts),
            (unsigned long long)feed_seq(b->feed), feed_clients(b->feed));
    fclose(f);
    polku_http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* /api/v1/paths/{display}: a client named by its display pseudonym
 * (display.h), never by its client key. */
/* /api/v1/stats: counts, the epoch, each organisation's replay; the
 * state digest only with ?digest=1 (views.h: it costs the loop about a
 * second per million events, and the dashboard polls this). */
static void stats(broker *b, polku_http_req *req)
{
    const char *digest = polku_http_query(req, "digest");
    if (digest && strcmp(digest, "1") != 0 && strcmp(digest, "0") != 0) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "digest must be 1 (add the state digest) "
                                 "or 0");
        return;
    }
    const views_state v = broker_state_views(b);
    json_t *j = views_stats_json(&v, digest && digest[0] == '1');
    json_object_set_new(j, "ha", pair_json(b)); /* which one routes */
    polku_http_respond_json(req, 200, j);
}

static void path_one(broker *b, polku_http_req *req, const char *name)
{
    uint8_t key[16];
    if (polku_client_key_parse(name, key)) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "a client is named here by its display "
                                 "pseudonym, 32 lowercase hex characters "
                                 "as the dashboard shows it");
        return;
    }
    const views_state v = broker_state_views(b);
    json_t *j = display_lookup(b->display, name, key)
                    ? views_path_json(&v, key, polku_now_ms(), b->display)
                    : NULL;
    if (!j) {
        polku_http_respond_error(req, 404, "not_found",
                                 "no path known for this display "
                                 "pseudonym (the broker never takes a "
                                 "client key here)");
        return;
    }
    polku_http_respond_json(req, 200, j);
}

/* /api/v1/reports?from=&to=[&org=][&format=csv] */
static void reports(broker *b, polku_http_req *req)
{
    report_query q;
    char why[200];
    if (report_parse_query(
            b->cfg, polku_http_query(req, "from"), polku_http_query(req, "to"),
            polku_http_query(req, "org"), polku_http_query(req, "format"), &q,
            why, sizeof why)) {
        polku_http_respond_error(req, 400, "bad_request", why);
        return;
    }
    json_t *r = report_json(b->cfg, b->clients, b->paths, &q, polku_now_ms());
    char *csv = r && q.csv ? report_csv(r) : NULL;
    if (!r || (q.csv && !csv)) {
        json_decref(r);
        polku_http_respond_error(req, 500, "internal", "out of memory");
    } else if (q.csv) {
        polku_http_respond(req, 200, "text/csv; charset=utf-8", csv,
                           strlen(csv));
        json_decref(r);
    } else {
        polku_http_respond_json(req, 200, r);
    }
    free(csv);
}

/* The page's file at path ("/" is index.html), or NULL. */
static const web_asset *asset_of(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const web_asset *a = web_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

/* The token as a header, or (for a browser's EventSource and page, which
 * cannot set headers) as ?access_token=. */
static bool authorised(broker *b, polku_http_req *req)
{
    if (!b->http_token[0])
        return true;
    const char *h = polku_http_header(req, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0)
        return polku_token_equal(h + 7, b->http_token);
    const char *q = polku_http_query(req, "access_token");
    return q && polku_token_equal(q, b->http_token);
}

static bool is_loopback(const char *hostport);

/* POST /api/v1/reload: what SIGHUP does, answered with its outcome
 * (`polku-broker --reload`). The one call that changes anything, so a
 * browser must not be able to make it for a page of another site: it
 * takes only Content-Type application/json (a cross-site page cannot
 * send that without the preflight this server never approves) and a Host
 * that is this server's own address (no DNS rebinding). */
static void reload_call(broker *b, polku_http_req *req)
{
    const char *type = polku_http_header(req, "Content-Type");
    const char *host = polku_http_header(req, "Host");
    char why[1024] = "";
    if (strcmp(polku_http_method(req), "POST") != 0) {
        polku_http_respond_error(req, 405, "method_not_allowed",
                                 "POST /api/v1/reload reloads the config");
    } else if (!type || strncmp(type, "application/json", 16) != 0) {
        polku_http_respond_error(req, 415, "unsupported_media_type",
                                 "send Content-Type: application/json");
    } else if (!host ||
               (strcmp(host, b->cfg->http) != 0 && !is_loopback(host))) {
        polku_http_respond_error(req, 421, "misdirected_request",
                                 "Host must be the broker's http address");
    } else if (!b->config_path) {
        polku_http_respond_error(req, 409, "no_config",
                                 "this broker has no config file to read");
    } else if (broker_reload_report(b, b->config_path, why, sizeof why) ==
               POLKU_OK) {
        polku_http_respond_json(
            req, 200, json_pack("{s:b, s:s}", "reloaded", 1, "message", why));
    } else {
        polku_http_respond_error(req, 422, "config_refused", why);
    }
}

static void on_request(polku_http_req *req, void *arg)
{
    broker *b = arg;
    const char *path = polku_http_path(req);
    if (strcmp(path, "/api/v1/reload") == 0) {
        if (!authorised(b, req))
            polku_http_respond_error(req, 401, "unauthorized",
                                     "a bearer token is required");
        else
            reload_call(b, req);
    } else if (strcmp(polku_http_method(req), "POST") == 0 &&
        strncmp(path, "/api/v1/overrides/", 18) == 0) {
        const char *rest = path + 18, *slash = strchr(rest, '/');
        char id[32];
        if (!authorised(b, req))
            polku_http_respond_error(req, 401, "unauthorized",
                                     "a bearer token is required");
        else if (!slash || strcmp(slash, "/review") != 0 ||
                 (size_t)(slash - rest) >= sizeof id)
            polku_http_respond_error(req, 404, "not_found", "no such endpoint");
        else {
            snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
            override_review_http(b, req, id);
        }
    } else if (strcmp(polku_http_method(req), "GET") != 0) {
        polku_http_respond_error(req, 405, "method_not_allowed",
                                 "only GET is served here");
    } else if (strcmp(path, "/healthz") == 0) {
        healthz(b, req);
    } else if (asset_of(path)) {
        /* the page and its words hold no data: the API calls do */
        const web_asset *a = asset_of(path);
        polku_http_respond(req, 200, a->content_type, (const char *)a->data,
                           a->len);
    } else if (!authorised(b, req)) {
        polku_http_respond_error(req, 401, "unauthorized",
                                 "a bearer token is required");
    } else if (strcmp(path, "/metrics") == 0) {
        metrics(b, req);
    } else if (strcmp(path, "/api/v1/stats") == 0) {
        stats(b, req);
    } else if (strcmp(path, "/api/v1/pending") == 0) {
        const views_state v = broker_state_views(b);
        polku_http_respond_json(req, 200,
                                views_pending_json(&v, polku_now_ms()));
    } else if (strcmp(path, "/api/v1/directory") == 0) {
        const views_state v = broker_state_views(b);
        polku_http_respond_json(req, 200, views_directory_json(&v));
    } else if (strcmp(path, "/api/v1/reports") == 0) {
        reports(b, req);
    } else if (strcmp(path, "/api/v1/alerts") == 0) {
        polku_http_respond_json(req, 200, alerts_json(b->alerts));
    } else if (strncmp(path, "/api/v1/paths/", 14) == 0) {
        path_one(b, req, path + 14);
    } else if (strcmp(path, "/events") == 0) {
        feed_attach(b->feed, req);
    } else {
        polku_http_respond_error(req, 404, "not_found", "no such endpoint");
    }
}

static bool is_loopback(const char *hostport)
{
    return strncmp(hostport, "127.", 4) == 0 ||
           strncmp(hostport, "localhost:", 10) == 0;
}

int http_api_start(broker *b)
{
    if (!is_loopback(b->cfg->http)) {
        polku_cfgerr err;
        if (!b->cfg->http_token_file) {
            log_error("http = %s is not loopback: http_token_file is required",
                      b->cfg->http);
            return POLKU_ECONFIG;
        }
        if (polku_token_load(b->cfg->http_token_file, true, b->http_token,
                             &err)) {
            log_error("%s", err.msg);
            return POLKU_ECONFIG;
        }
    }
    int rc = polku_http_start_limited(b->loop, b->cfg->http, 64 * 1024,
                                      POLKU_HTTP_STREAM_SERVER_LIMIT,
                                      on_request, b, &b->http);
    if (rc)
        log_error("cannot serve HTTP on %s: %s", b->cfg->http,
                  polku_strerror(rc));
    return rc;
}
