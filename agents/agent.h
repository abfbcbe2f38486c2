/* agent.h — polku-agent's state and its group commit.
 *
 * Everything that arrives in one loop turn — API calls, inbound messages,
 * acks — is applied inside one LMDB write transaction (the batch). Each item
 * runs in a nested transaction, so an item that fails changes nothing while
 * the rest of the batch stands. Replies, acks and first sends are queued as
 * after-commit actions and happen only once the batch has committed; an idle
 * handle started with the batch commits it on the next loop turn, so at low
 * load a message costs one commit and under load batches grow by themselves. */
#ifndef POLKU_AGENT_H
#define POLKU_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent_config.h"
#include "outbox.h"
#include "polku/codec.h"
#include "polku/http.h"
#include "polku/zwatch.h"
#include "store.h"

typedef enum after_kind {
    AFTER_REPLY,      /* HTTP answer */
    AFTER_SEND,       /* a frame to the broker (acks) */
    AFTER_OUTBOX_ADD, /* a new event enters the in-memory outbox */
    AFTER_OUTBOX_ACK, /* an outbox entry was acknowledged or failed */
    AFTER_WAIT_CLAIM, /* an HTTP request waits for the broker's answer */
    AFTER_PUBLISH,    /* an event for /v1/events (data: topic NUL json) */
    AFTER_LOG,        /* a log line (data: text, status: level) */
} after_kind;

typedef struct after_action {
    after_kind kind;
    polku_http_req *req;
    unsigned status;
    json_t *json;
    uint8_t *data;
    size_t len;
    uint64_t seq;
    uint64_t at_ms;
    char dest[33];
} after_action;

/* A claim's HTTP request, kept until the broker answers (or a deadline). */
typedef struct claim_waiter {
    uint8_t claim_id[16];
    uint8_t client_key[16];
    polku_http_req *req;
    uint64_t deadline_ms; /* monotonic */
} claim_waiter;

/* Why an item refused, in the terms the API answers with. */
typedef struct agent_refusal {
    unsigned status;  /* HTTP status */
    const char *code; /* "not_coordinator", "handover_open", ... */
    char message[200];
    json_t *extra;    /* fields added to the error answer (owned) */
} agent_refusal;

/* Fills why (if not NULL) and returns POLKU_EREFUSED. */
int agent_refuse(agent_refusal *why, unsigned status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

typedef struct agent_counters {
    unsigned long long commits, commit_failures, items, inbound, duplicates,
        acks_sent, acks_received, nacks_received, failed_deliveries, store_full,
        replayed;
} agent_counters;

typedef struct agent {
    uv_loop_t *loop;
    agent_config *cfg;
    store st;
    void *zctx;
    void *dealer;
    polku_zwatch *watch;
    polku_http *http;
    uv_idle_t commit_idle;
    uv_idle_t replay_idle;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;

    /* batch */
    MDB_txn *txn;
    after_action *after;
    size_t n_after, cap_after;
    bool map_full;
    uint64_t last_seq;      /* highest seq assigned, in the open batch too */
    uint64_t committed_seq; /* highest seq durably stored */

    /* broker link */
    void *monitor; /* PAIR reading the DEALER's handshake events */
    polku_zwatch *monitor_watch;
    unsigned link_generation;    /* a new DEALER after each refusal */
    uint64_t refused_backoff_ms; /* next wait after a refused handshake */
    uint64_t reconnect_at_ms;    /* monotonic; 0: no reconnect due */
    uint64_t epoch;
    bool welcomed;
    uint64_t last_heard_ms, last_hello_ms, last_beat_ms; /* monotonic */
    Polku__Welcome *directory; /* last Welcome (org ids, keys, services) */

    outbox ob;

    /* replay on the broker's request */
    bool replaying;
    uint64_t replay_next, replay_last;

    /* claims waiting for the broker's answer */
    claim_waiter *waiters;
    size_t n_waiters, cap_waiters;

    /* /v1/events: what arrived here, for this org's own systems */
    struct polku_sse_hub *events;
    uint64_t last_keepalive_ms;

    /* shared-path queries waiting for the broker (path_query.c) */
    struct path_queries *queries;

    /* sealing keys derived per peer organisation (sealed.c) */
    struct seal_peer *seal_peers;
    size_t n_seal_peers;

    agent_counters counters;
} agent;

int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg);
void agent_fini(agent *a);

/* An item of the batch: runs fn in a nested transaction of the batch.
 * fn returns POLKU_OK to keep its changes, anything else to drop them
 * (and the after-actions it queued). POLKU_EFULL marks the map for growth
 * after the commit. Returns fn's result, or the store error. */
typedef int (*agent_item_fn)(agent *a, MDB_txn *txn, void *ctx);
int agent_run_item(agent *a, agent_item_fn fn, void *ctx);

/* A read: runs fn in a read-only transaction of its own (it does not wait
 * for the open batch, and sees only what is committed); the replies fn
 * queues are sent at once. Returns fn's result. */
int agent_read(agent *a, agent_item_fn fn, void *ctx);

/* Queues an after-commit action (takes json / data). */
void agent_after_reply(agent *a, polku_http_req *req, unsigned status,
                       json_t *json);
void agent_after_send(agent *a, uint8_t *data, size_t len);
void agent_after_outbox_ack(agent *a, uint64_t seq, const char *dest);
/* After the commit, req waits (up to wait_ms) for the answer to claim_id;
 * paths_claim_answered wakes it. */
void agent_after_wait_claim(agent *a, polku_http_req *req,
                            const uint8_t claim_id[16],
                            const uint8_t client_key[16]);
/* After the commit, env (an event that arrived from another org) is
 * published on /v1/events as metadata: topic, from, client key, object id,
 * origin seq, time. */
void agent_after_publish(agent *a, const polku_envelope *env);

/* After the commit, a log line: a state change ("received", "accepted",
 * "consent revoked"...) is announced only once it is durable; the line
 * goes with the item or the batch if they fail. Formatted now (nothing
 * when the level is filtered). */
void agent_after_log(agent *a, polku_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers (after the commit) every request waiting for claim_id with
 * status and a copy of json (json itself is not taken). */
void agent_wake_claim(agent *a, const uint8_t claim_id[16], unsigned status,
                      const json_t *json);
/* Answers waiters whose deadline has passed: 202 pending. */
void agent_expire_claims(agent *a, uint64_t now_mono_ms);

/* The outbox destination of events for the broker alone. */
#define AGENT_DEST_BROKER ""

/* Appends an event: assigns the next sequence, fills the header (origin,
 * msg id, time), stores it and, for each destination in env->to, an outbox
 * entry. env->to may be empty: an event for the broker alone (a claim, a
 * close, the sender's own `failed`), delivered and acknowledged by the
 * broker like any other. */
int agent_emit(agent *a, MDB_txn *txn, polku_envelope *env, uint64_t *seq);

/* Sends a frame to the broker now (ZMQ_DONTWAIT). 0 or errno. */
int agent_send_now(agent *a, const uint8_t *data, size_t len);

/* Fills a message header that is not an event (acks, hello, heartbeat). */
void agent_header(agent *a, polku_envelope *env, uint8_t msg_id[16]);

/* link.c */
int agent_link_start(agent *a);
/* Closes the DEALER, its monitor and their watchers (agent_fini). */
void agent_link_close(agent *a);
void agent_link_tick(agent *a);
void agent_send_hello(agent *a);
bool agent_broker_connected(const agent *a);
void agent_replay_step(agent *a);

/* The directory org offering service: POLKU_OK with *org,
 * POLKU_ENOTFOUND (none), POLKU_EEXIST (several; *org = NULL),
 * POLKU_EAGAIN (no directory yet). */
int agent_resolve_service(const agent *a, const char *service,
                          const char **org);

/* True if the broker's directory lists service for this organisation, or
 * no directory has come yet (the broker's gate decides then). */
bool agent_offers_service(const agent *a, const char *service);
bool agent_knows_org(const agent *a, const char *org);
/* The directory's own copy of org's id (lives as long as the directory
 * does: until the next Welcome), or NULL. */
const char *agent_directory_org_name(const agent *a, const char *org);
/* The org's public key (Z85) from the directory, or NULL. */
const char *agent_org_public_key(const agent *a, const char *org);

/* api.c */
int agent_api_start(agent *a);
/* Routes one request of the local API (the server's handler; the API fuzz
 * target hands it local requests). */
void agent_api_handle(agent *a, polku_http_req *req);

#endif
