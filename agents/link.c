/* link.c — the agent's one connection to the broker.
 *
 * A DEALER socket, CURVE client with the organisation's key. The agent
 * says Hello with its last event sequence, learns the broker's epoch and the
 * directory from Welcome, sends heartbeats, and watches the broker's: a new
 * epoch (broker restarted) means Hello again and resend everything not yet
 * acknowledged. Inbound events are applied in the batch and acked after the
 * commit; Nacks either pause a destination ("retry later") or end the event
 * as a visible failure. */
#include <stdio.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"
#include "polku/sse.h"
#include "consents.h"
#include "handovers.h"
#include "path_query.h"
#include "paths.h"
#include "referrals.h"

static void send_envelope(agent *a, polku_envelope *env)
{
    uint8_t msg_id[16];
    agent_header(a, env, msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(env, &buf, &len) == 0)
        agent_send_now(a, buf, len);
    free(buf);
}

void agent_send_hello(agent *a)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Hello hello = POLKU__HELLO__INIT;
    hello.org = a->cfg->org;
    hello.last_seq = a->committed_seq;
    hello.protocol_version = POLKU_PROTOCOL_VERSION;
    env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    a->last_hello_ms = polku_mono_ms();
    send_envelope(a, &env);
}

static void send_heartbeat(agent *a)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Heartbeat hb = POLKU__HEARTBEAT__INIT;
    hb.epoch = a->epoch;
    env.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    a->last_beat_ms = polku_mono_ms();
    send_envelope(a, &env);
}

bool agent_broker_connected(const agent *a)
{
    return a->welcomed &&
           polku_mono_ms() - a->last_heard_ms < 4 * a->cfg->heartbeat_ms + 1000;
}

static void link_reconnect(agent *a);

void agent_link_tick(agent *a)
{
    uint64_t now = polku_mono_ms();
    if (a->reconnect_at_ms && now >= a->reconnect_at_ms)
        link_reconnect(a);
    if (a->welcomed && !agent_broker_connected(a)) {
        log_warn("broker silent for %llu ms: disconnected",
                 (unsigned long long)(now - a->last_heard_ms));
        a->welcomed = false;
    }
    if (!a->welcomed && now - a->last_hello_ms >= a->cfg->heartbeat_ms)
        agent_send_hello(a);
    if (a->welcomed && now - a->last_beat_ms >= a->cfg->heartbeat_ms)
        send_heartbeat(a);
    agent_expire_claims(a, now);
    path_query_expire(a, now);
    if (now - a->last_keepalive_ms >= 15000) {
        a->last_keepalive_ms = now;
        polku_sse_keepalive(a->events);
    }
    if (a->welcomed)
        outbox_pump(&a->ob, now);
}

/* ---- directory ---- */

int agent_resolve_service(const agent *a, const char *service, const char **org)
{
    *org = NULL;
    if (!a->directory)
        return POLKU_EAGAIN;
    int found = 0;
    for (size_t i = 0; i < a->directory->n_directory; i++) {
        const Polku__DirectoryEntry *e = a->directory->directory[i];
        if (strcmp(e->org, a->cfg->org) == 0)
            continue;
        for (size_t j = 0; j < e->n_services; j++) {
            if (strcmp(e->services[j], service) == 0) {
                if (found++ == 0)
                    *org = e->org;
                break;
            }
        }
    }
    if (found > 1)
        *org = NULL;
    return found == 0 ? POLKU_ENOTFOUND : found > 1 ? POLKU_EEXIST : POLKU_OK;
}

bool agent_offers_service(const agent *a, const char *service)
{
    if (!a->directory)
        return true; /* not known yet: the broker's gate decides */
    for (size_t i = 0; i < a->directory->n_directory; i++) {
        const Polku__DirectoryEntry *e = a->directory->directory[i];
        if (strcmp(e->org, a->cfg->org) != 0)
            continue;
        for (size_t j = 0; j < e->n_services; j++)
            if (strcmp(e->services[j], service) == 0)
                return true;
        return false;
    }
    return true;
}

const char *agent_org_public_key(const agent *a, const char *org)
{
    if (!a->directory)
        return NULL;
    for (size_t i = 0; i < a->directory->n_directory; i++)
        if (strcmp(a->directory->directory[i]->org, org) == 0)
            return a->directory->directory[i]->public_key;
    return NULL;
}

const char *agent_directory_org_name(const agent *a, const char *org)
{
    if (!a->directory)
        return NULL;
    for (size_t i = 0; i < a->directory->n_directory; i++)
        if (strcmp(a->directory->directory[i]->org, org) == 0)
            return a->directory->directory[i]->org;
    return NULL;
}

bool agent_knows_org(const agent *a, const char *org)
{
    return agent_org_public_key(a, org) != NULL;
}

static int save_directory(agent *a, MDB_txn *txn, void *ctx)
{
    const Polku__Welcome *w = ctx;
    size_t len = polku__welcome__get_packed_size(w);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return POLKU_ENOMEM;
    polku__welcome__pack(w, buf);
    int rc = store_meta_put(&a->st, txn, "directory", buf, len);
    free(buf);
    return rc;
}

static void set_directory(agent *a, const Polku__Welcome *w)
{
    size_t len = polku__welcome__get_packed_size(w);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    polku__welcome__pack(w, buf);
    Polku__Welcome *copy = polku__welcome__unpack(NULL, len, buf);
    free(buf);
    if (!copy)
        return;
    if (a->directory)
        polku__welcome__free_unpacked(a->directory, NULL);
    a->directory = copy;
}

static void load_saved_directory(agent *a)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    if (mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn))
        return;
    if (store_meta_get(&a->st, txn, "directory", &v) == POLKU_OK)
        a->directory = polku__welcome__unpack(NULL, v.mv_size, v.mv_data);
    mdb_txn_abort(txn);
}

static bool directory_has(void *arg, const char *org)
{
    return agent_knows_org(arg, org);
}

/* Rules naming organisations the directory does not have: at start (the
 * directory saved from the last Welcome) the agent refuses to run; later
 * (the directory changed under a running agent) it says so loudly. */
static int check_rule_orgs(agent *a, bool at_start)
{
    polku_cfgerr err = {{0}};
    if (!a->directory ||
        agent_rules_check_orgs(a->cfg, directory_has, a, &err) == POLKU_OK)
        return POLKU_OK;
    if (at_start) {
        fprintf(stderr, "polku-agent: %s\n", err.msg);
        log_error("%s", err.msg);
        return POLKU_ECONFIG;
    }
    log_error("%s (the rule cannot offer to it)", err.msg);
    return POLKU_OK;
}

static void on_welcome(agent *a, const Polku__Welcome *w)
{
    bool new_epoch = w->epoch != a->epoch;
    a->epoch = w->epoch;
    a->welcomed = true;
    a->last_heard_ms = polku_mono_ms();
    set_directory(a, w);
    agent_run_item(a, save_directory, (void *)w);
    check_rule_orgs(a, false);
    log_info("welcomed by broker epoch %016llx (%zu organisations)%s",
             (unsigned long long)w->epoch, w->n_directory,
             new_epoch ? "; resending what is unacknowledged" : "");
    outbox_rewind_all(&a->ob);
}

/* ---- inbound ---- */

static int apply_ack(agent *a, MDB_txn *txn, void *ctx)
{
    const polku_envelope *env = ctx;
    const Polku__Ack *ack = env->ack;
    if (strcmp(ack->origin_org, a->cfg->org) != 0)
        return POLKU_EINVAL;
    int rc = store_outbox_del(&a->st, txn, ack->origin_seq, env->origin_org);
    if (rc == POLKU_ENOTFOUND)
        return POLKU_OK; /* a repeated ack */
    if (!rc)
        agent_after_outbox_ack(a, ack->origin_seq, env->origin_org);
    return rc;
}

static void queue_ack(agent *a, const polku_envelope *event)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Ack ack = POLKU__ACK__INIT;
    uint8_t msg_id[16];
    char *to[1] = {event->origin_org};
    agent_header(a, &env, msg_id);
    env.n_to = 1;
    env.to = to;
    ack.origin_org = event->origin_org;
    ack.origin_seq = event->origin_seq;
    env.body_case = POLKU__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(&env, &buf, &len) == 0)
        agent_after_send(a, buf, len);
}

static int apply_inbound(agent *a, MDB_txn *txn, const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return consents_apply_inbound(a, txn, env);
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return referrals_apply_inbound(a, txn, env);
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return handovers_apply_inbound(a, txn, env);
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return paths_apply_inbound(a, txn, env);
    default:
        return POLKU_EINVAL; /* not for an agent: acknowledged, ignored */
    }
}

/* Receipt first: a duplicate is re-acked and changes nothing. */
static int apply_event(agent *a, MDB_txn *txn, void *ctx)
{
    const polku_envelope *env = ctx;
    bool dup = false;
    int rc = store_receipt_add(&a->st, txn, env->origin_org, env->origin_seq,
                               polku_now_ms(), &dup);
    if (rc)
        return rc;
    if (dup) {
        a->counters.duplicates++;
    } else {
        rc = apply_inbound(a, txn, env);
        if (rc == POLKU_EFULL || rc == POLKU_ESTORE || rc == POLKU_ENOMEM)
            return rc; /* not acked: the sender retries */
        if (!rc)
            agent_after_publish(a, env);
        if (rc)
            log_warn("event %s/%llu (%s) not applicable: %s; acknowledged",
                     env->origin_org, (unsigned long long)env->origin_seq,
                     polku_body_name(env->body_case), polku_strerror(rc));
    }
    queue_ack(a, env);
    return POLKU_OK;
}

static int apply_claim_answer(agent *a, MDB_txn *txn, void *ctx)
{
    return paths_claim_answered(a, txn, ctx);
}

static int apply_nack_failure(agent *a, MDB_txn *txn, void *ctx)
{
    const Polku__Nack *nack = ctx;
    size_t len = 0;
    const uint8_t *frame =
        outbox_find(&a->ob, nack->origin_seq, nack->dest_org, &len);
    if (!frame)
        return POLKU_ENOTFOUND;
    int rc = store_outbox_del(&a->st, txn, nack->origin_seq, nack->dest_org);
    if (rc)
        return rc;
    agent_after_outbox_ack(a, nack->origin_seq, nack->dest_org);
    polku_envelope *env = NULL;
    char why[64];
    if (polku_envelope_decode(frame, len, POLKU_MAX_FRAME_DEFAULT, &env, why,
                              sizeof why))
        return POLKU_OK; /* our own frame: cannot happen */
    const char *code = polku_nack_code_name(nack->code);
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        rc = referrals_undeliverable(a, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        rc = handovers_undeliverable(a, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        rc = paths_undeliverable(a, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        rc = consents_undeliverable(a, txn, env, nack->dest_org, code);
        break;
    default:
        log_warn("%s %llu to %s refused: %s", polku_body_name(env->body_case),
                 (unsigned long long)nack->origin_seq,
                 nack->dest_org[0] ? nack->dest_org : "the broker", code);
        break;
    }
    polku_envelope_free(&env);
    return rc;
}

static void on_nack(agent *a, const Polku__Nack *nack)
{
    a->counters.nacks_received++;
    switch (nack->code) {
    case POLKU__NACK_CODE__NACK_RETRY_LATER: /* also: broker still replaying */
    case POLKU__NACK_CODE__NACK_OVERLOADED:
        outbox_retry_later(&a->ob, nack->dest_org, polku_mono_ms());
        return;
    case POLKU__NACK_CODE__NACK_ORIGIN_MISMATCH:
    case POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED:
    case POLKU__NACK_CODE__NACK_UNSUPPORTED_VERSION:
        log_error("broker refused us: %s (check org id, keys and versions)",
                  polku_nack_code_name(nack->code));
        return;
    default:
        break;
    }
    if (nack->origin_seq == 0) {
        log_warn("broker refused a frame: %s",
                 polku_nack_code_name(nack->code));
        return;
    }
    a->counters.failed_deliveries++;
    log_warn("event %llu to %s refused by the broker: %s",
             (unsigned long long)nack->origin_seq,
             nack->dest_org[0] ? nack->dest_org : "the broker",
             polku_nack_code_name(nack->code));
    agent_run_item(a, apply_nack_failure, (void *)nack);
}

static void on_broker_message(agent *a, polku_envelope *env)
{
    a->last_heard_ms = polku_mono_ms();
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_WELCOME:
        on_welcome(a, env->welcome);
        break;
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        if (env->heartbeat->epoch != a->epoch || !a->welcomed)
            agent_send_hello(a);
        break;
    case POLKU__ENVELOPE__BODY_NACK:
        on_nack(a, env->nack);
        break;
    case POLKU__ENVELOPE__BODY_ACK:
        a->counters.acks_received++;
        agent_run_item(a, apply_ack, env);
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_REQUEST:
        a->replaying = true;
        a->replay_next =
            env->replay_request->from_seq ? env->replay_request->from_seq : 1;
        a->replay_last = a->committed_seq;
        log_info("replaying events %llu..%llu for the broker",
                 (unsigned long long)a->replay_next,
                 (unsigned long long)a->replay_last);
        agent_replay_step(a);
        break;
    case POLKU__ENVELOPE__BODY_PATH_ANSWER:
        if (env->origin_org[0] == '\0')
            path_query_answered(a, env);
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        if (env->origin_org[0] == '\0') /* the broker's decision */
            agent_run_item(a, apply_claim_answer, env);
        break;
    default:
        if (!polku_body_is_event(env->body_case) || env->origin_seq == 0 ||
            !env->origin_org[0]) {
            log_debug("ignored %s from the broker",
                      polku_body_name(env->body_case));
            break;
        }
        a->counters.inbound++;
        agent_run_item(a, apply_event, env);
        break;
    }
}

static void on_frames(polku_zwatch *zw, zmq_msg_t *frames, size_t n, void *arg)
{
    agent *a = arg;
    if (n != 1)
        return;
    polku_envelope *env = NULL;
    char why[128];
    int rc = polku_envelope_decode(
        zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
        POLKU_MAX_FRAME_DEFAULT, &env, why, sizeof why);
    if (rc) {
        log_warn("undecodable frame from the broker: %s", why);
        polku_envelope_free(&env);
        return;
    }
    on_broker_message(a, env);
    polku_envelope_free(&env);
}

/* ---- the socket, and a new one after the broker refused us ----
 *
 * libzmq (4.3.4) treats a refused CURVE handshake as a protocol error: the
 * session ends and it never reconnects, so an agent whose organisation was
 * missing from the broker's directory for a moment would stay away for
 * good. A monitor on the DEALER reports the refusal
 * (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, with the ZAP status); the agent says
 * why and, after a backoff that doubles from 1 s up to 60 s, replaces the
 * DEALER with a new one. A handshake that succeeds resets the backoff. */

#define REFUSED_BACKOFF_MIN_MS 1000
#define REFUSED_BACKOFF_MAX_MS 60000
#define MONITOR_EVENTS                                                         \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |   \
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED)

static void link_refused(agent *a, uint16_t event, uint32_t value)
{
    uint64_t wait = a->refused_backoff_ms;
    a->refused_backoff_ms =
        wait * 2 < REFUSED_BACKOFF_MAX_MS ? wait * 2 : REFUSED_BACKOFF_MAX_MS;
    a->reconnect_at_ms = polku_mono_ms() + wait;
    a->welcomed = false;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        log_warn("the broker refused this organisation's key (ZAP status "
                 "%u): is org %s with public key %s in the broker's "
                 "directory? trying again in %llu s",
                 (unsigned)value, a->cfg->org, a->cfg->key.public_z85,
                 (unsigned long long)(wait / 1000));
    else
        log_warn("the CURVE handshake with the broker at %s failed "
                 "(protocol error 0x%x): is broker_public_key the broker's "
                 "key? trying again in %llu s",
                 a->cfg->broker, (unsigned)value,
                 (unsigned long long)(wait / 1000));
}

static void on_monitor(polku_zwatch *zw, zmq_msg_t *frames, size_t n, void *arg)
{
    (void)zw;
    agent *a = arg;
    if (n < 1 || zmq_msg_size(&frames[0]) != 6)
        return;
    const uint8_t *d = zmq_msg_data(&frames[0]);
    uint16_t event;
    uint32_t value;
    memcpy(&event, d, 2);
    memcpy(&value, d + 2, 4);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        a->refused_backoff_ms = REFUSED_BACKOFF_MIN_MS;
    else if (a->reconnect_at_ms == 0)
        link_refused(a, event, value);
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

void agent_link_close(agent *a)
{
    polku_zwatch_close(&a->watch);
    polku_zwatch_close(&a->monitor_watch);
    if (a->monitor)
        zmq_close(a->monitor);
    if (a->dealer)
        zmq_close(a->dealer);
    a->monitor = a->dealer = NULL;
}

/* A new DEALER (and its monitor) connected to the broker; says Hello. */
static int link_connect(agent *a)
{
    void *s = zmq_socket(a->zctx, ZMQ_DEALER);
    a->dealer = s;
    uint8_t pub[32], sec[32], srv[32];
    zmq_z85_decode(pub, a->cfg->key.public_z85);
    zmq_z85_decode(sec, a->cfg->key.secret_z85);
    zmq_z85_decode(srv, a->cfg->broker_public_z85);
    int64_t maxmsg = POLKU_MAX_FRAME_DEFAULT * 2;
    int rc = !s || setopt_int(s, ZMQ_LINGER, 0) ||
             setopt_int(s, ZMQ_SNDHWM, 200000) ||
             setopt_int(s, ZMQ_RCVHWM, 200000) ||
             setopt_int(s, ZMQ_RECONNECT_IVL, 100) ||
             setopt_int(s, ZMQ_RECONNECT_IVL_MAX, 2000) ||
             setopt_int(s, ZMQ_HANDSHAKE_IVL, POLKU_ZMQ_HANDSHAKE_IVL_MS) ||
             zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
             zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, srv, 32) ||
             zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 32) ||
             zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 32);
    sodium_memzero(sec, sizeof sec);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://polku-agent-link-%u",
             ++a->link_generation);
    if (!rc &&
        (zmq_socket_monitor(s, mon, MONITOR_EVENTS) ||
         !(a->monitor = zmq_socket(a->zctx, ZMQ_PAIR)) ||
         setopt_int(a->monitor, ZMQ_LINGER, 0) || zmq_connect(a->monitor, mon)))
        rc = -1;
    if (rc || zmq_connect(s, a->cfg->broker)) {
        log_error("cannot connect to the broker at %s: %s", a->cfg->broker,
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    rc = polku_zwatch_start(a->loop, s, 512, on_frames, a, &a->watch);
    if (!rc)
        rc = polku_zwatch_start(a->loop, a->monitor, 16, on_monitor, a,
                                &a->monitor_watch);
    if (rc)
        return rc;
    agent_send_hello(a);
    return POLKU_OK;
}

static void link_reconnect(agent *a)
{
    a->reconnect_at_ms = 0;
    agent_link_close(a);
    log_info("connecting to the broker at %s again", a->cfg->broker);
    if (link_connect(a)) /* resources only: try again later */
        a->reconnect_at_ms = polku_mono_ms() + a->refused_backoff_ms;
}

int agent_link_start(agent *a)
{
    load_saved_directory(a);
    if (check_rule_orgs(a, true))
        return POLKU_ECONFIG;
    a->refused_backoff_ms = REFUSED_BACKOFF_MIN_MS;
    a->zctx = zmq_ctx_new();
    if (!a->zctx) {
        log_error("cannot create a zmq context: %s", zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    return link_connect(a);
}

/* ---- replay: many events per frame, a few frames per loop turn ---- */

#define REPLAY_FRAME_BYTES (256 * 1024)
#define REPLAY_FRAMES_PER_TURN 8

static void on_replay_idle(uv_idle_t *h)
{
    agent_replay_step(h->data);
}

static void send_replay_done(agent *a)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    done.last_seq = a->replay_last;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    env.replay_done = &done;
    send_envelope(a, &env);
    a->replaying = false;
    uv_idle_stop(&a->replay_idle);
    log_info("replay done up to %llu", (unsigned long long)a->replay_last);
}

/* Sends one ReplayBatch from replay_next. 0 sent, 1 nothing left, -1 the
 * socket is full (try next turn). */
static int replay_one_frame(agent *a, MDB_txn *txn)
{
    ProtobufCBinaryData *events = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    uint64_t seq = a->replay_next;
    MDB_val v;
    while (seq <= a->replay_last && bytes < REPLAY_FRAME_BYTES &&
           store_event_get(&a->st, txn, seq, &v) == POLKU_OK) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ProtobufCBinaryData *e = realloc(events, cap * sizeof *e);
            if (!e)
                break;
            events = e;
        }
        events[n].data = v.mv_data;
        events[n].len = v.mv_size;
        bytes += v.mv_size;
        n++;
        seq++;
    }
    if (n == 0) {
        free(events);
        return 1;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayBatch batch = POLKU__REPLAY_BATCH__INIT;
    uint8_t msg_id[16];
    batch.n_events = n;
    batch.events = events;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_BATCH;
    env.replay_batch = &batch;
    agent_header(a, &env, msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(&env, &buf, &len);
    free(events);
    if (rc)
        return -1;
    rc = agent_send_now(a, buf, len);
    free(buf);
    if (rc)
        return -1;
    a->counters.replayed += n;
    a->replay_next = seq;
    return 0;
}

void agent_replay_step(agent *a)
{
    if (!a->replaying)
        return;
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn))
        return;
    int rc = 0;
    for (int i = 0; i < REPLAY_FRAMES_PER_TURN && rc == 0; i++)
        rc = replay_one_frame(a, txn);
    mdb_txn_abort(txn);
    if (rc == 1)
        send_replay_done(a);
    else
        uv_idle_start(&a->replay_idle, on_replay_idle);
}
