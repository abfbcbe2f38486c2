/* routes.h — where each organisation's agent can be reached, and what the
 * broker knows of its connection in this epoch.
 *
 * Why it exists: the router learns and uses the routes, the views and
 * /metrics read them, the alerts read the clock offsets. Kept in broker.c
 * they made every reader call up into the file that starts the broker;
 * here they are a table of their own, below all of them, that knows
 * nothing of sockets, the loop or the broker. One entry per organisation
 * of the directory, at the directory's index; no durable state (a new
 * epoch starts from zero).
 *
 * One session per organisation: a connection is live while the broker has
 * heard from it within 4 heartbeats + 1 s (routes_stale_after_ms). A
 * second connection (another routing id: a copied key file, a second
 * process) is refused while the first is live — Nack duplicate_session,
 * nothing of it routed, welcomed, replayed or folded, an alert
 * duplicate_session — so sequences of two stores never mix. Once the first
 * is silent past the timeout, or its connection is known closed (a send
 * to it fails: a killed or restarted agent), the next frame of the new one
 * takes over: that is how a restarted or moved agent comes back.
 *
 * Lifecycle of an entry (the router makes every transition):
 *
 *   state          event                                   next
 *   offline        authenticated frame from the org        connected
 *   connected      frame from its routing id               connected
 *   connected      frame from another routing id while     connected
 *                  the session is live and its connection  (the other
 *                  open: refused, duplicate_session        refused)
 *   connected      frame from another routing id after     connected
 *                  4 heartbeats + 1 s of silence, or once  (a new connection:
 *                  the old connection is closed            replay asked again)
 *   connected      no traffic for 4 heartbeats + 1 s,      offline
 *                  or the connection gone on a send
 *
 *   refused second connection   event                      next
 *   none           frame from another routing id while     refused (alert
 *                  the session is live                     raised, counted
 * once) refused        its frames (Hello each heartbeat)       refused (Nack
 * again) refused        the session silent or closed: its next  none (it holds
 * the frame takes over                        route; alert cleared) refused
 * silent for 4 heartbeats + 1 s itself    none (alert cleared)
 *
 *   replay         event                                   next
 *   not asked      Hello (or a new connection)             asked
 *   not asked      ReplayBatch or ReplayDone               not asked (dropped)
 *   asked          no answer for 10 s, or a gap            asked (again)
 *   asked          ReplayBatch answering this request      asked (folded)
 *   asked          ReplayBatch or ReplayDone answering     asked (dropped,
 *                  another request                         counted stale)
 *   asked          ReplayDone answering this request       replayed
 *   replayed       -                                       (for the epoch)
 *
 *   store          event                                   next
 *   in step        Hello with last_seq >= seen_seq         in step
 *   in step        Hello with last_seq < seen_seq          regressed
 *                  (Welcome says known_seq = seen_seq)
 *   in step        a receiver's SeqConflict about the org  regressed
 *                  (passed on: the org continues after it)
 *   regressed      an event of the org at seq >= the       over
 *                  known_seq it was told (its SeqLost), of
 *                  a newer incarnation
 *   over           the alerts have seen it (raised, then   in step
 *                  cleared at the next evaluation)
 */
#ifndef POLKU_BROKER_ROUTES_H
#define POLKU_BROKER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_config.h"

#define ROUTES_ROUTING_ID_MAX 256
#define ROUTES_PEER_MAX 64 /* a peer's IP address as text */

/* Where an organisation's agent can be reached now (index = cfg org index). */
typedef struct route {
    bool connected;
    uint8_t routing_id[ROUTES_ROUTING_ID_MAX];
    size_t routing_id_len;
    uint64_t last_seen_ms;      /* monotonic */
    char peer[ROUTES_PEER_MAX]; /* the connection's address, "" unknown */
    /* a second connection refused while this one is live */
    uint8_t dup_routing_id[ROUTES_ROUTING_ID_MAX];
    size_t dup_routing_id_len; /* 0: none */
    char dup_peer[ROUTES_PEER_MAX];
    uint64_t dup_last_seen_ms; /* monotonic */
    uint64_t dup_since_ms;     /* wall clock: refused first (the alert's) */
    uint64_t open_checked_ms;  /* monotonic: the connection last found open */
    bool bundles; /* its Hello said it takes a Bundle (polku/outq.h) */
    /* rebuild from the agent's log, once per broker epoch */
    bool replay_requested;
    uint64_t replay_requested_ms; /* monotonic */
    bool replayed;
    /* added to the directory by a reload: counted as replayed (it has no
     * history the broker could be missing, and nothing waits for an agent
     * not yet deployed), its log still asked for on its first Hello */
    bool added_live;
    /* a reload's directory went out while this org was marked offline: a
     * connection that was only silent (not closed) gets it when it speaks
     * again, since it will not say Hello */
    bool directory_missed;
    unsigned long long replayed_events;
    uint64_t replay_from;        /* first seq asked for */
    uint64_t last_seq;           /* the agent's last seq, as it told us */
    uint64_t progress_logged_ms; /* monotonic: a long replay says how far */
    unsigned gap_retries;
    unsigned long long gaps_detected;
    /* the msg_id of the last ReplayRequest: a replay frame answering
     * another (queued for a broker that died, or for an earlier ask) is
     * dropped and counted, never folded */
    uint8_t replay_request_id[16];
    unsigned long long replay_stale;
    bool replay_stale_logged; /* once per request */
    /* the agent's clock minus the broker's, from its Hello and heartbeats:
     * SLA ages of its events are read on the broker's clock */
    int64_t clock_offset_ms;
    bool clock_skew_logged;
    /* the store behind the agent: its incarnation (from Hello) and the
     * highest seq the broker has seen from it in this epoch (live or
     * replayed). A Hello below seen_seq means the store went back in time
     * (a restored backup or snapshot): alert store_regressed until the
     * agent's log passes regressed_to again (it continues after it). */
    uint64_t incarnation;
    uint64_t seen_seq;
    uint64_t regressed_from, regressed_to; /* 0: not regressed */
    uint64_t regressed_incarnation;        /* the one found regressed */
    uint64_t regressed_since_ms;           /* Unix ms */
    bool regression_over;                  /* its log has passed regressed_to */
    bool regression_reported;              /* an alert evaluation has seen it */
    unsigned long long regressions;
    /* replayed events the writer rules refused (alert events_refused) */
    unsigned long long events_refused;
    uint64_t first_refused_ms;
} route;

typedef struct routes {
    route *by_org;              /* count entries, at the cfg org index */
    size_t count;               /* cfg->org_count */
    struct routes_org *org_ids; /* uthash: org id -> index */
} routes;

/* One offline entry per organisation of cfg (the ids are copied).
 * POLKU_OK or POLKU_ENOMEM; on error, routes_fini still must be called. */
int routes_init(routes *t, const broker_config *cfg);

/* Frees the table; t is empty afterwards (a second call does nothing). */
void routes_fini(routes *t);

/* Index of org id in the directory, or -1. */
int routes_org_index(const routes *t, const char *org);

/* How long a connection stays live without a frame: 4 heartbeats + 1 s. */
uint64_t routes_stale_after_ms(uint64_t heartbeat_ms);

/* What a frame from routing id (rid, len) is to the route. */
typedef enum routes_session {
    ROUTES_SAME,     /* from the live connection itself */
    ROUTES_NEW,      /* no live connection: this one may take the route */
    ROUTES_DUPLICATE /* another connection is live: refuse this one (unless
                        the caller knows the other closed) */
} routes_session;

/* Pure: decided from the route, the time (monotonic) and the timeout. */
routes_session routes_session_of(const route *r, const uint8_t *rid, size_t len,
                                 uint64_t now_ms, uint64_t stale_after_ms);

/* The connection rid (len <= ROUTES_ROUTING_ID_MAX) holds the route, heard
 * now; a new one also records its peer address (NULL: unknown) and ends
 * any refused second connection (it took over, or is now the other). */
void routes_take(route *r, const uint8_t *rid, size_t len, const char *peer,
                 uint64_t now_ms);

/* A frame from a second connection was refused. True the first time this
 * connection is refused (count it, log it). */
bool routes_note_duplicate(route *r, const uint8_t *rid, size_t len,
                           const char *peer, uint64_t now_ms, uint64_t wall_ms);

/* Two sessions now: a refused connection heard within the timeout while
 * the route's own is live (the alert duplicate_session holds). */
bool routes_duplicate_live(const route *r, uint64_t now_ms,
                           uint64_t stale_after_ms);

/* How far org's clock is ahead of the broker's (negative: behind), as
 * its last Hello or heartbeat told; 0 if unknown. */
int64_t routes_clock_offset(const routes *t, const char *org);

#endif
