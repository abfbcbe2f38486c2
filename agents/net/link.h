/* link.h — the agent's one connection to the broker.
 *
 * A DEALER socket, CURVE client with the organisation's key. The link says
 * Hello with the last event sequence, learns the broker's epoch and the
 * directory from Welcome, sends heartbeats, and watches the broker's: a new
 * epoch (the broker restarted) means Hello again and resend everything not
 * yet acknowledged. What arrives is handed to the domain's inbox in a batch
 * item and acknowledged after the commit; Nacks pause a destination ("retry
 * later") or end a delivery as a visible failure. On the broker's request
 * the link replays the event log, many events per frame.
 *
 * Lifecycle of the link:
 *
 *   | state        | event                         | next         |
 *   |--------------|-------------------------------|--------------|
 *   | connecting   | Welcome                       | welcomed     |
 *   | connecting   | no Welcome for a heartbeat    | connecting   |
 *   |              | (Hello again)                 |              |
 *   | welcomed     | silence > 4 heartbeats + 1 s  | connecting   |
 *   | welcomed     | heartbeat with another epoch  | connecting   |
 *   | any          | handshake refused (ZAP/CURVE) | refused      |
 *   | refused      | backoff (1 s doubling to 60 s)| connecting   |
 *   |              | (a new DEALER)                |              |
 *   | any          | Nack duplicate_session        | duplicate    |
 *   | duplicate    | every heartbeat: Hello again  | duplicate    |
 *   |              | (outbox held back)            |              |
 *   | duplicate    | Welcome (the other process    | welcomed     |
 *   |              | went silent: taken over)      |              |
 *
 * With several addresses (`broker = tcp://A tcp://B`, a broker pair,
 * broker/ha.h) the link uses one at a time:
 *
 *   | any, not     | nothing heard from it for     | connecting to |
 *   | welcomed     | 4 heartbeats + 1 s            | the next one  |
 *   | any          | Nack broker_passive naming X  | connecting    |
 *   |              | (X, else the next address;    | there         |
 *   |              | not back to one just left for |               |
 *   |              | silence: Hello again instead) |               |
 *
 * duplicate: another connection with this organisation's key is live at
 * the broker (a second process, a copied key file); the broker welcomes
 * only one session per organisation (broker/routes.h).
 *
 * It knows the domain (to apply what arrives) and nothing of HTTP: what
 * the API wants to hear — an event applied, a path answer — it is told
 * through hooks. */
#ifndef POLKU_AGENT_LINK_H
#define POLKU_AGENT_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker_list.h"
#include "domain.h"
#include "link_chain.h"
#include "polku/codec.h"
#include "polku/log.h"
#include "polku/outq.h"
#include "polku/zwatch.h"

typedef struct link_counters {
    unsigned long long inbound, duplicates, acks_sent, acks_received,
        nacks_received, failed_deliveries, replayed, sequence_conflicts,
        log_repairs;
    unsigned long long bundles_in; /* Bundles received from the broker */
} link_counters;

/* What the socket monitor last said went wrong (see link_state_name). */
typedef enum link_trouble {
    LINK_TROUBLE_NONE = 0,
    LINK_TROUBLE_AUTH,      /* the broker's ZAP refused our key */
    LINK_TROUBLE_HANDSHAKE, /* CURVE handshake failed, or the peer closed
                               the connection before it completed: wrong
                               broker key, or not a polku broker */
    LINK_TROUBLE_REFUSED,   /* TCP connect failed: nothing listens there */
} link_trouble;

typedef struct link_hooks {
    /* an event from another organisation was applied (inside its item:
     * act after the commit) */
    void (*event_applied)(void *arg, const polku_envelope *env);
    /* the broker answered a path query (env->path_answer) */
    void (*path_answered)(void *arg, const polku_envelope *env);
    void *arg;
    /* an organisation (or the broker) answered our access query
     * (env->access_answer) */
    void (*access_answered)(void *arg, const polku_envelope *env);
} link_hooks;

typedef struct broker_link {
    uv_loop_t *loop;
    const agent_config *cfg;
    domain *d;
    directory *dir; /* the link updates it from Welcome */
    outbox *ob;
    link_hooks hooks;
    link_counters counters;
    polku_log_limit conflict_log;

    void *zctx;
    void *dealer;
    polku_zwatch *watch;
    /* what a loop turn sends, one frame when the broker takes bundles (its
     * Welcome said so; polku/outq.h) */
    polku_outq *outq;
    bool broker_bundles;
    /* a turn whose frames are all Acks sends them one turn later, after
     * the HTTP answers and events of that turn (link.c, flush_hook) */
    bool outq_acks_only; /* everything in outq is an Ack */
    bool acks_held;      /* they wait for the next turn */
    uv_idle_t ack_idle;  /* that turn comes without waiting */
    /* what a frame from the broker decodes into, forgotten after it; and
     * the run of its messages applied in one batch item (link_runs.h) */
    polku_arena *arena;
    polku_envelope **run;
    size_t run_cap;
    void *monitor; /* PAIR reading the DEALER's handshake events */
    polku_zwatch *monitor_watch;
    unsigned generation;         /* a new DEALER after each refusal */
    uint64_t refused_backoff_ms; /* next wait after a refused handshake */
    uint64_t reconnect_at_ms;    /* monotonic; 0: no reconnect due */
    uint64_t epoch;
    bool welcomed;
    /* the public key this DEALER authenticated with: during a key
     * rotation the one the broker's directory lists for us (link_keys) */
    char connected_key[POLKU_Z85_KEY];
    /* refused: another session of this organisation is live at the
     * broker, connected from duplicate_peer (as the broker saw it) */
    bool duplicate;
    char duplicate_peer[64];
    uint64_t duplicate_logged_ms;                        /* monotonic */
    uint64_t last_heard_ms, last_hello_ms, last_beat_ms; /* monotonic */

    /* diagnostics, from the socket monitor and the broker's heartbeats */
    link_trouble trouble;
    bool tcp_up;                /* the DEALER's TCP connection is open */
    bool tcp_was_up;            /* it opened since libzmq last retried */
    bool handshaken;            /* CURVE handshake done on this one */
    uint64_t tcp_since_ms;      /* when it opened, or connecting began */
    uint64_t broker_beat_ms;    /* interval of the broker's heartbeats */
    uint64_t broker_beat_at_ms; /* its last heartbeat (monotonic) */
    const char *shown_state;    /* link_state_name last logged */

    /* a broker pair: the addresses, the one in use (link_broker) */
    broker_list addrs;
    size_t addr_at;
    uint64_t addr_since_ms; /* monotonic: when we came to it */
    size_t left_silent;     /* the address last left for silence, when */
    uint64_t left_silent_ms;
    unsigned long long moves; /* to another address of the pair */
    /* the hash chain: heads said and heard (link_chain.h); refused: the
     * broker found this log not to extend the chain it witnessed */
    link_chain chain;
    bool diverged;
    char diverged_reason[200];
    uint64_t diverged_logged_ms;

    /* replay on the broker's request */
    uv_idle_t replay_idle;
    bool replaying;
    uint64_t replay_next, replay_last;
    /* the msg_id of the request being answered, echoed in every batch
     * (ReplayBatch.answers): a broker folds only its latest request's */
    uint8_t replay_answers[16];
    size_t replay_answers_len;

    /* what leads this link's log lines: "region NAME: " on an agent of
     * several regions (which region's broker a line is about), else "" */
    char log_tag[48];
} broker_link;

/* A log line about link l (polku/log.h), led by l->log_tag. */
#define link_log(l, level, fmt, ...)                                           \
    POLKU_LOG(level, "%s" fmt, (l)->log_tag, ##__VA_ARGS__)
#define link_debug(l, ...) link_log(l, POLKU_LOG_DEBUG, __VA_ARGS__)
#define link_info(l, ...) link_log(l, POLKU_LOG_INFO, __VA_ARGS__)
#define link_warn(l, ...) link_log(l, POLKU_LOG_WARN, __VA_ARGS__)
#define link_error(l, ...) link_log(l, POLKU_LOG_ERROR, __VA_ARGS__)

/* Loads the saved directory, checks the rules' organisations against it
 * (POLKU_ECONFIG when one is missing), connects and says Hello. */
int link_start(broker_link *l, uv_loop_t *loop, const agent_config *cfg,
               domain *d, directory *dir, outbox *ob, link_hooks hooks);
/* Sends what this loop turn queued for the broker (link_send
 * queues; this runs just before the loop sleeps). */
void link_flush(broker_link *l);

/* Closes the sockets and their watchers. */
void link_close(broker_link *l);

/* After the key pairs changed (a reload) or the directory did: when the
 * broker lists a key pair of ours that this connection does not use,
 * connects again with it (at the next tick). During a rotation that is
 * the old pair until the broker has the new one, so neither side refuses
 * the other; a key the broker does not list is never switched to (a new
 * connection, after this one closes, uses key_file). */
void link_keys(broker_link *l);

/* Every tick: reconnect, notice silence, Hello or heartbeat, pump. */
void link_tick(broker_link *l);

/* Welcomed and heard from within 4 heartbeats + 1 s. */
bool link_connected(const broker_link *l);

/* The broker address in use (of `broker`'s one or more). */
const char *link_broker(const broker_link *l);

/* The broker connection for /healthz and `polku status`, a static string:
 *   "connected"                  welcomed, and the broker not silent for
 *                                more than two of its heartbeats + 200 ms
 *   "refused: authentication"    the broker's ZAP refused our key
 *   "refused: handshake"         the CURVE handshake failed or the peer
 *                                closed the connection during it (wrong
 *                                broker_public_key, not a polku broker)
 *   "refused: duplicate_session" another process holds our session
 *   "refused: log_diverged"      the broker found this log not to extend
 *                                the chain it witnessed (docs/trust.md)
 *   "connection lost"            the connection closed; reconnecting
 *   "connection refused"         TCP connect failed (nothing listens at
 *                                `broker`, or the broker has stopped)
 *   "no answer"                  connected or connecting, but the broker
 *                                has said nothing for that long
 *   "disconnected"               none of these yet (starting). */
const char *link_state_name(const broker_link *l);

/* One sentence on why the link is not connected and what to check ("" when
 * connected), into buf. */
void link_state_detail(const broker_link *l, char *buf, size_t len);

/* link_state_name is "connected". */
bool link_up(const broker_link *l);

/* Queues a frame for the broker: it leaves with the rest of the loop
 * turn's, before the loop sleeps (link_flush). 0, ENOTCONN without a
 * socket, or ENOMEM. */
int link_send(broker_link *l, const uint8_t *data, size_t len);

/* Fills the header of a message that is not an event and sends it. */
int link_send_envelope(broker_link *l, polku_envelope *env);

/* The outbox's sender (outbox_init's send, arg: the link). */
int link_outbox_send(void *arg, const uint8_t *data, size_t len);

#endif
