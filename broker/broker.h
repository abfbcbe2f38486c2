/* broker.h — the broker's state shared by its modules.
 *
 * One libuv loop thread owns everything here: the ROUTER socket (CURVE
 * server), the ZAP handler that authenticates organisations against the
 * directory, the route table learned from authenticated messages, and the
 * HTTP endpoint. The broker keeps no durable state: after a restart it has a
 * new epoch and learns routes again as agents speak. */
#ifndef POLKU_BROKER_H
#define POLKU_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "alerts.h"
#include "broker_config.h"
#include "clients.h"
#include "consent_index.h"
#include "feed.h"
#include "holdback.h"
#include "paths.h"
#include "routes.h"
#include "views.h"
#include "polku/codec.h"
#include "polku/http.h"
#include "polku/zwatch.h"

typedef struct broker_counters {
    unsigned long long frames_in;
    unsigned long long routed;
    unsigned long long acks_routed;
    unsigned long long rejected; /* frames refused before routing */
    unsigned long long send_failures;
    unsigned long long hellos;
    unsigned long long nacks[POLKU__NACK_CODE__NACK_RETRY_LATER + 1];
    unsigned long long claims_won, claims_lost, claims_refused;
    unsigned long long events_folded;
    unsigned long long path_queries;
    unsigned long long events_refused; /* by the writer rules (gate.h) */
} broker_counters;

typedef struct broker {
    uv_loop_t *loop;
    broker_config *cfg;
    void *zctx;
    void *router;
    void *zap;
    polku_zwatch *router_watch;
    polku_zwatch *zap_watch;
    polku_http *http;
    char http_token[POLKU_TOKEN_TEXT]; /* empty: no token required */
    uv_timer_t heartbeat_timer;
    uv_timer_t alert_timer; /* alerts evaluated, SSE kept alive */
    uint64_t last_keepalive_ms;
    uv_signal_t sigterm, sigint;
    uint64_t epoch;
    uint64_t started_ms;
    routes routes; /* where each org is reached, its replay and clock */
    broker_counters counters;
    unsigned long long zap_allowed, zap_denied;
    consent_index *consents;
    path_index *paths;
    client_index *clients; /* referrals, services, timelines */
    alert_set *alerts;
    feed *feed;
    polku_arena *replay_arena; /* replayed events decode here, one by one */
    holdback *held;            /* replayed events waiting for other logs */
    uint8_t claim_key[32];     /* claim_auth.h: from the broker's secret */
    /* lines a peer can provoke: at most a few a second */
    polku_log_limit refusal_log, frame_log;
    FILE *dump; /* debug_dump_file: every frame received, for privacy tests */
} broker;

/* What the views (views.h) read of b, for one call. */
static inline views_state broker_views(const broker *b)
{
    views_state v = {b->cfg,     {b->consents, b->paths, b->clients},
                     &b->routes, b->alerts,
                     b->epoch,   feed_seq(b->feed)};
    return v;
}

/* Sets up sockets, ZAP, HTTP and timers on loop. POLKU_OK or an error
 * (logged). On error, broker_fini still must be called. */
int broker_init(broker *b, uv_loop_t *loop, broker_config *cfg);

/* Closes everything (handles freed when the loop runs on). */
void broker_fini(broker *b);

/* zap.c: binds the ZAP handler; must run before the ROUTER binds. */
int broker_zap_start(broker *b);

/* router.c: the ROUTER message handler and the heartbeat. */
void broker_on_router_message(polku_zwatch *zw, zmq_msg_t *frames,
                              size_t nframes, void *arg);
void broker_send_heartbeats(broker *b);

/* Decides again the replayed events held back for other logs. */
void broker_decide_held(broker *b);

/* Evaluates the alerts now; raised and cleared ones go to the feed. */
void broker_evaluate_alerts(broker *b);

/* http_api.c: /healthz, /metrics and the /api/v1 JSON. */
int broker_http_start(broker *b);

#endif
