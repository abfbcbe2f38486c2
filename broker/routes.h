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
 * Lifecycle of an entry (the router makes every transition):
 *
 *   state          event                                   next
 *   offline        authenticated frame from the org        connected
 *   connected      frame from another routing id           connected
 *                  (a new connection: replay asked again)
 *   connected      no traffic for 4 heartbeats + 1 s,      offline
 *                  or the connection gone on a send
 *
 *   replay         event                                   next
 *   not asked      Hello (or a new connection)             asked
 *   asked          no answer for 10 s, or a gap            asked (again)
 *   asked          ReplayDone                              replayed
 *   replayed       -                                       (for the epoch)
 *
 *   store          event                                   next
 *   in step        Hello with last_seq >= seen_seq         in step
 *   in step        Hello with last_seq < seen_seq          regressed
 *                  (Welcome says known_seq = seen_seq)
 *   regressed      an event of the org at seq >= the       over
 *                  known_seq it was told (its SeqLost)
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

/* Where an organisation's agent can be reached now (index = cfg org index). */
typedef struct route {
    bool connected;
    uint8_t routing_id[ROUTES_ROUTING_ID_MAX];
    size_t routing_id_len;
    uint64_t last_seen_ms; /* monotonic */
    /* rebuild from the agent's log, once per broker epoch */
    bool replay_requested;
    uint64_t replay_requested_ms; /* monotonic */
    bool replayed;
    unsigned long long replayed_events;
    uint64_t replay_from;        /* first seq asked for */
    uint64_t last_seq;           /* the agent's last seq, as it told us */
    uint64_t progress_logged_ms; /* monotonic: a long replay says how far */
    unsigned gap_retries;
    unsigned long long gaps_detected;
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

/* How far org's clock is ahead of the broker's (negative: behind), as
 * its last Hello or heartbeat told; 0 if unknown. */
int64_t routes_clock_offset(const routes *t, const char *org);

#endif
