/* broker_state.h — the broker's state shared by its modules.
 *
 * One libuv loop thread owns everything here: the ROUTER socket (CURVE
 * server), the ZAP handler that authenticates organisations against the
 * directory, the route table learned from authenticated messages, and the
 * HTTP endpoint. The broker keeps no durable state: after a restart it has a
 * new epoch and learns routes again as agents speak.
 *
 * Why it is not broker.h: the loop's handlers (router.c, zap.c,
 * http_api.c) read and write this state, and broker.c, which creates it,
 * starts them. Defined here, below all of them, the state lets broker.c
 * call down into the handlers while no handler depends on broker.c. */
#ifndef POLKU_BROKER_STATE_H
#define POLKU_BROKER_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "alerts.h"
#include "broker_config.h"
#include "claim_auth.h"
#include "clients.h"
#include "consent_index.h"
#include "feed.h"
#include "heads.h"
#include "heap_warm.h"
#include "holdback.h"
#include "paths.h"
#include "replay_ahead.h"
#include "routes.h"
#include "views.h"
#include "polku/codec.h"
#include "polku/http.h"
#include "polku/outq.h"
#include "polku/zwatch.h"

typedef struct broker_counters {
    unsigned long long frames_in;
    unsigned long long routed;
    unsigned long long acks_routed;
    unsigned long long rejected; /* frames refused before routing */
    unsigned long long send_failures;
    unsigned long long hellos;
    unsigned long long nacks[POLKU_NACK_CODE_LAST + 1];
    unsigned long long duplicate_sessions; /* connections refused */
    unsigned long long claims_won, claims_lost, claims_refused;
    unsigned long long events_folded;
    unsigned long long path_queries;
    unsigned long long events_refused;    /* by the writer rules (gate.h) */
    unsigned long long store_regressions; /* stores found gone back */
    unsigned long long seq_conflicts;     /* SeqConflicts passed on */
    unsigned long long bundles_in;        /* Bundles received (of frames_in) */
    unsigned long long access_queries;    /* access reports asked (access.h) */
    unsigned long long access_refused;    /* ... refused: not in the scope */
} broker_counters;

typedef struct broker {
    uv_loop_t *loop;
    broker_config *cfg;
    void *zctx;
    void *router;
    void *zap;
    polku_zwatch *router_watch;
    polku_outq *outq; /* what a loop turn sends, per connection (router.h) */
    polku_zwatch *zap_watch;
    void *handshake_monitor; /* handshakes.h */
    polku_zwatch *handshake_watch;
    polku_http *http;
    char http_token[POLKU_TOKEN_TEXT]; /* empty: no token required */
    uv_timer_t heartbeat_timer;
    uv_timer_t alert_timer; /* alerts evaluated, SSE kept alive */
    uint64_t last_keepalive_ms;
    uint64_t alerts_held_ms; /* monotonic: ticks wait for replays since */
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup;      /* reload.h: the directory read again */
    const char *config_path; /* the file a reload reads (main's argv) */
    unsigned long long reloads, reloads_refused;
    uint64_t epoch;
    uint64_t started_ms;
    routes routes; /* where each org is reached, its replay and clock */
    broker_counters counters;
    unsigned long long zap_allowed, zap_denied;
    consent_index *consents;
    path_index *paths;
    client_index *clients; /* referrals, services, timelines */
    display *display;      /* display pseudonyms: all a viewer sees */
    alert_set *alerts;
    feed *feed;
    polku_arena *replay_arena; /* held events decode here, one by one */
    replay_ahead *ahead;       /* replayed batches decode here, ahead */
    polku_arena *frame_arena;  /* an agent's frame decodes here (not nested) */
    bool frame_arena_busy;     /* a frame decoded in it is being handled */
    holdback *held;            /* replayed events waiting for other logs */
    uint64_t replay_slice_ms;  /* when this loop turn began folding replay */
    uint64_t presized_events;  /* the indexes are sized for (fold_presize) */
    heap_warm heap;            /* a rebuild's heap paged in ahead */
    broker_heads *heads;       /* heads.h: every org's chain, witnessed */
    uint8_t claim_key[32];     /* claim_auth.h: from the broker's secret */
    claim_auth_keyed claim_keyed; /* claim_key made ready (claim_auth.h) */
    /* lines a peer can provoke: at most a few a second */
    polku_log_limit refusal_log, frame_log;
    FILE *dump; /* debug_dump_file: every frame received, for privacy tests */
    struct pair_link *pair;            /* ha_link.h: one of a pair, or alone */
    struct access_pending_set *access; /* access reports under way */
} broker;

/* What the views (views.h) read of b, for one call. */
static inline views_state broker_state_views(const broker *b)
{
    views_state v = {
        b->cfg,     {b->consents, b->paths, b->clients, b->display},
        &b->routes, b->alerts,
        b->epoch,   feed_seq(b->feed)};
    return v;
}

#endif
