/* ha.h — which broker of a pair routes: zguide's Binary Star, as a pure
 * state machine (no sockets, no clock of its own: every call takes now).
 *
 * Why: with one broker, its death stops all routing until someone restarts
 * it. The broker keeps no durable state (it rebuilds from the agents' logs),
 * so a standby has nothing to replicate: it only has to know when it may
 * take over, and never while the other still decides. Claims are decided by
 * whichever broker routes; two deciding at once could name two coordinators.
 *
 * Two brokers, a primary and a backup, send each other a heartbeat with
 * their state every heartbeat (ha_link.h does the sockets). One is active
 * (routes, folds, decides claims), the other passive (answers every frame
 * with Nack broker_passive naming the active one, folds nothing). The rule
 * that keeps a split network from making two actives: a passive broker
 * takes over only when its peer has been silent for the timeout AND an
 * agent comes to it — agents come only when the active one went silent for
 * them too (or they were told it is passive).
 *
 * Lifecycle ("peer X": the peer's heartbeat says it is in state X; each
 * one pushes the peer's expiry to now + timeout; "gen": generation, below):
 *
 *   | state   | event                       | next    | why                |
 *   |---------|-----------------------------|---------|--------------------|
 *   | primary | peer backup                 | active  | cold start         |
 *   | primary | peer active                 | passive | backup took over   |
 *   | primary | peer primary                | failed  | both primary       |
 *   | primary | client, peer expired        | active  | alone              |
 *   | primary | client, peer not expired    | primary | refused            |
 *   | backup  | peer active                 | passive |                    |
 *   | backup  | peer backup                 | failed  | both backup        |
 *   | backup  | client, peer expired        | active  | alone              |
 *   | backup  | client, peer not expired    | backup  | refused            |
 *   | active  | client                      | active  | served             |
 *   | active  | peer active, its gen higher | failed  | two actives: the   |
 *   |         | (equal: we are the backup)  |         | earlier one stops  |
 *   | active  | peer active, its gen lower  | active  | the peer stops     |
 *   | active  | no beat sent for timeout    | failed  | frozen (SIGSTOP):  |
 *   |         | - margin (tick or client)   |         | peer may have taken|
 *   |         |                             |         | over               |
 *   | passive | peer primary / peer backup  | active  | peer restarted; it |
 *   |         |                             |         | goes passive       |
 *   | passive | peer passive, role primary  | active  | primary leads      |
 *   | passive | client, peer expired        | active  | FAILOVER (counted) |
 *   | passive | client, peer not expired    | passive | refused: Nack names|
 *   |         |                             |         | the peer           |
 *   | passive,| no beat sent for timeout    | same    | its own stall: the |
 *   | waiting | - margin                    |         | peer's expiry anew |
 *   | failed  | anything                    | failed  | refused; exit 1    |
 *
 * The generation: a broker that becomes active takes one more than the
 * highest it has heard (its own or its peer's) and sends it in every
 * heartbeat. Of two actives, the later takeover has the higher generation:
 * a broker frozen while active (SIGSTOP) may get one stale heartbeat out
 * when it wakes, before it sees the time; that beat must stop it, not the
 * broker that rightly took over meanwhile.
 *
 * failed is final: the broker stops (exit 1) and its supervisor (systemd
 * Restart=on-failure) starts it again, empty, in its role's waiting state —
 * from which it hears the other active and goes passive. An active never
 * turns passive in the same process, so what a broker has folded is always
 * the rebuild of one active term, never a stale mix. */
#ifndef POLKU_BROKER_HA_H
#define POLKU_BROKER_HA_H

#include <stdbool.h>
#include <stdint.h>

typedef enum ha_role {
    HA_ROLE_NONE = 0, /* a single broker: always active */
    HA_ROLE_PRIMARY = 1,
    HA_ROLE_BACKUP = 2,
} ha_role;

/* Values as on the wire (PairBeat.state), 5 never leaves the process. */
typedef enum ha_state {
    HA_STATE_PRIMARY = 1, /* started as primary, waiting for the peer */
    HA_STATE_BACKUP = 2,  /* started as backup, waiting for the peer */
    HA_STATE_ACTIVE = 3,
    HA_STATE_PASSIVE = 4,
    HA_STATE_FAILED = 5,
} ha_state;

typedef enum ha_event {
    HA_PEER_PRIMARY = 1, /* the peer's heartbeat, by the peer's state */
    HA_PEER_BACKUP = 2,
    HA_PEER_ACTIVE = 3,
    HA_PEER_PASSIVE = 4,
    HA_CLIENT_REQUEST = 5, /* a frame from an agent */
} ha_event;

typedef struct ha {
    ha_role role;
    ha_state state;
    uint64_t timeout_ms;     /* peer silent this long: presumed gone */
    uint64_t margin_ms;      /* stall detected this much before timeout */
    uint64_t peer_expiry_ms; /* monotonic */
    uint64_t last_beat_ms;   /* our last heartbeat sent (or the start) */
    bool peer_heard;
    ha_state peer_state; /* as its last heartbeat said (0: never heard) */
    uint64_t generation; /* of our active term (0: never active) */
    uint64_t peer_generation;
    unsigned long long failovers; /* passive -> active on a client */
    char why[160];                /* the last transition, for the log */
} ha;

/* Starts in the role's waiting state (HA_ROLE_NONE: active for good); the
 * peer is presumed gone only after timeout_ms from now. margin_ms: a
 * frozen active gives up this long before the peer could take over (half a
 * heartbeat is right). */
void ha_init(ha *h, ha_role role, uint64_t timeout_ms, uint64_t margin_ms,
             uint64_t now);

/* Applies ev at now. Returns true if a client request is to be served
 * (always false for peer events). h->state may have changed: compare with
 * the state before to log h->why. */
bool ha_on(ha *h, ha_event ev, uint64_t now);

/* A peer's heartbeat: its state as ev (HA_PEER_*) and its generation. */
void ha_on_peer(ha *h, ha_event ev, uint64_t peer_generation, uint64_t now);

/* Called on the heartbeat timer before a heartbeat is sent: an active that
 * has not sent one for (timeout - margin) was frozen and fails. Returns
 * false when no heartbeat may be sent (failed). */
bool ha_tick(ha *h, uint64_t now);

/* The heartbeat was sent at now. */
void ha_beat_sent(ha *h, uint64_t now);

static inline bool ha_is_active(const ha *h)
{
    return h->state == HA_STATE_ACTIVE;
}

/* "primary", "backup", "active", "passive", "failed". */
const char *ha_state_name(ha_state s);
/* "primary", "backup", "single". */
const char *ha_role_name(ha_role r);
/* The peer event for a heartbeat's state value; 0 for a bad value. */
ha_event ha_peer_event(uint32_t wire_state);

#endif
