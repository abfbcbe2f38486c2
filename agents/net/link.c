/* link.c — the agent's one connection to the broker (see link.h). */
#include <stdio.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "link.h"
#include "link_access.h"
#include "link_runs.h"
#include "overrides.h"
#include "inbox.h"
#include "reconcile.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"
#include "polku/notify.h"

/* One frame to the broker at once, without blocking. 0 or an errno. */
static int send_frame(broker_link *l, const uint8_t *data, size_t len)
{
    if (!l->dealer)
        return ENOTCONN;
    int rc = zmq_send(l->dealer, data, len, ZMQ_DONTWAIT);
    polku_zwatch_sent(l->watch);
    if (rc < 0)
        return zmq_errno() ? zmq_errno() : EIO;
    return 0;
}

/* A frame into this turn's queue; is_ack says whether it is an Ack. */
static int queue_frame(broker_link *l, const uint8_t *data, size_t len,
                       bool is_ack)
{
    if (!l->dealer)
        return ENOTCONN;
    if (!l->outq)
        return send_frame(l, data, len);
    bool first = polku_outq_pending(l->outq) == 0;
    if (polku_outq_add(l->outq, 0, data, len, 0))
        return ENOMEM;
    l->outq_acks_only = is_ack && (first || l->outq_acks_only);
    return 0;
}

int link_send(broker_link *l, const uint8_t *data, size_t len)
{
    return queue_frame(l, data, len, false);
}

static bool sink_bundles(void *arg, int dest)
{
    (void)dest;
    return ((broker_link *)arg)->broker_bundles;
}

static int sink_send(void *arg, int dest, const uint8_t *data, size_t len)
{
    (void)dest;
    return send_frame(arg, data, len);
}

/* What could not leave is not lost: the outbox sends an unacknowledged
 * event again, the broker's sender an unanswered one. */
static void sink_failed(void *arg, int dest, uint64_t tag, int err)
{
    const broker_link *l = arg;
    (void)dest;
    (void)tag;
    link_debug(l, "a frame to the broker could not be sent now: %s",
               zmq_strerror(err));
}

void link_flush(broker_link *l)
{
    if (l->acks_held) {
        l->acks_held = false;
        uv_idle_stop(&l->ack_idle);
    }
    if (!l->outq || !polku_outq_pending(l->outq))
        return;
    polku_outq_sink sink = {sink_bundles, sink_send, sink_failed, l,
                            l->cfg->org};
    polku_outq_flush(l->outq, &sink);
}

/* The turn after Acks were held, after its timers (the HTTP server's
 * writes): they leave. */
static void on_ack_idle(uv_idle_t *h)
{
    link_flush(h->data);
}

/* Before the loop sleeps: what the turn queued leaves. Only Acks (what
 * the agent's acknowledging the last frames from the broker left, e.g. of
 * a receipt) wait one more turn: that turn's HTTP answers and event
 * streams are written first, since someone waits for them, while an Ack
 * only lets the sender forget what is durable here already. An Ack is
 * never held twice. */
static void flush_hook(void *arg)
{
    broker_link *l = arg;
    if (l->outq && l->outq_acks_only && !l->acks_held &&
        polku_outq_pending(l->outq)) {
        l->acks_held = true;
        uv_idle_start(&l->ack_idle, on_ack_idle);
        return;
    }
    link_flush(l);
}

int link_outbox_send(void *arg, const uint8_t *data, size_t len)
{
    return link_send(arg, data, len);
}

int link_send_envelope(broker_link *l, polku_envelope *env)
{
    uint8_t msg_id[16];
    eventlog_header(l->cfg->org, env, msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(env, &buf, &len);
    if (rc == 0)
        rc = link_send(l, buf, len);
    free(buf);
    env->msg_id.data = NULL; /* msg_id lived on this stack frame */
    env->msg_id.len = 0;
    return rc;
}

static void send_hello(broker_link *l)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Hello hello = POLKU__HELLO__INIT;
    hello.org = (char *)l->cfg->org;
    hello.last_seq = l->d->b->committed_seq;
    hello.incarnation = l->d->log->incarnation;
    hello.protocol_version = POLKU_PROTOCOL_VERSION;
    hello.bundles = true; /* on_frames takes them */
    hello.chain = link_chain_own(&l->chain);
    hello.held = link_chain_held(&l->chain, &hello.n_held);
    env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    l->last_hello_ms = polku_mono_ms();
    link_send_envelope(l, &env);
}

static void send_heartbeat(broker_link *l)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Heartbeat hb = POLKU__HEARTBEAT__INIT;
    hb.epoch = l->epoch;
    hb.chain = link_chain_own(&l->chain);
    env.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    l->last_beat_ms = polku_mono_ms();
    link_send_envelope(l, &env);
}

const char *link_broker(const broker_link *l)
{
    return l->addrs.addr[l->addr_at];
}

bool link_connected(const broker_link *l)
{
    return l->welcomed &&
           polku_mono_ms() - l->last_heard_ms < 4 * l->cfg->heartbeat_ms + 1000;
}

/* Silence longer than this is "no answer": two of the broker's heartbeats
 * (as observed, never less than our own interval) and a margin. */
static uint64_t silence_limit_ms(const broker_link *l)
{
    uint64_t beat = l->cfg->heartbeat_ms;
    if (l->broker_beat_ms > beat)
        beat = l->broker_beat_ms;
    return 2 * beat + 200;
}

const char *link_state_name(const broker_link *l)
{
    uint64_t now = polku_mono_ms();
    if (l->duplicate && !l->welcomed)
        return "refused: duplicate_session";
    if (l->diverged && !l->welcomed)
        return "refused: log_diverged";
    if (l->trouble == LINK_TROUBLE_AUTH)
        return "refused: authentication";
    if (l->trouble == LINK_TROUBLE_HANDSHAKE)
        return "refused: handshake";
    if (!l->tcp_up && l->trouble == LINK_TROUBLE_REFUSED)
        return "connection refused";
    if (l->welcomed && !l->tcp_up)
        return "connection lost";
    if (l->welcomed && link_connected(l))
        return now - l->last_heard_ms <= silence_limit_ms(l) ? "connected"
                                                             : "no answer";
    if (l->tcp_since_ms && now - l->tcp_since_ms > silence_limit_ms(l))
        return "no answer";
    return "disconnected";
}

bool link_up(const broker_link *l)
{
    return strcmp(link_state_name(l), "connected") == 0;
}

void link_state_detail(const broker_link *l, char *buf, size_t len)
{
    const char *state = link_state_name(l);
    uint64_t now = polku_mono_ms();
    uint64_t quiet = now - (l->welcomed ? l->last_heard_ms : l->tcp_since_ms);
    if (strcmp(state, "connected") == 0)
        snprintf(buf, len, "%s", "");
    else if (strcmp(state, "refused: log_diverged") == 0)
        snprintf(buf, len,
                 "the broker refuses this organisation's event log: %s; run "
                 "`polku log verify` and see docs/operations.md",
                 l->diverged_reason);
    else if (strcmp(state, "refused: duplicate_session") == 0)
        snprintf(buf, len,
                 "another process with organisation %s's key is connected "
                 "to the broker from %s",
                 l->cfg->org, l->duplicate_peer);
    else if (l->trouble == LINK_TROUBLE_AUTH)
        snprintf(buf, len,
                 "the broker refused this organisation's key: is org %s "
                 "with public key %s in the broker's directory?",
                 l->cfg->org, l->connected_key);
    else if (l->trouble == LINK_TROUBLE_HANDSHAKE)
        snprintf(buf, len,
                 "the CURVE handshake with %s failed or was cut off: is "
                 "broker_public_key the broker's public key, and is `broker` "
                 "a polku broker's listen address?",
                 link_broker(l));
    else if (strcmp(state, "connection refused") == 0)
        snprintf(buf, len,
                 "nothing accepts connections at %s: is the broker running, "
                 "and are the host and port of `broker` its listen address?",
                 link_broker(l));
    else if (strcmp(state, "connection lost") == 0)
        snprintf(buf, len,
                 "the connection to the broker at %s closed; reconnecting",
                 link_broker(l));
    else if (strcmp(state, "no answer") == 0)
        snprintf(buf, len,
                 "the broker at %s has not answered for %llu ms: is it "
                 "running (not stopped or overloaded), is `broker` a polku "
                 "broker's listen address and broker_public_key its key?",
                 link_broker(l), (unsigned long long)quiet);
    else
        snprintf(buf, len, "connecting to the broker at %s", link_broker(l));
}

/* Logs each change of the link's state once: why it is not connected and
 * what to check, or that it is connected again. Refusals by the broker
 * (key, duplicate session) are logged where they are learnt. */
static void log_state_change(broker_link *l)
{
    const char *state = link_state_name(l);
    /* "disconnected" is a passing state (between two attempts): it does
     * not count as a change, so a retried failure is logged once. */
    if (state == l->shown_state || strcmp(state, "disconnected") == 0)
        return;
    const char *was = l->shown_state;
    l->shown_state = state;
    char detail[384];
    link_state_detail(l, detail, sizeof detail);
    char status[448];
    snprintf(status, sizeof status, "broker: %s%s%s", state,
             detail[0] ? ": " : "", detail);
    polku_notify_status(status);
    if (strcmp(state, "connected") == 0) {
        if (was != NULL)
            link_info(l, "broker link connected again (was: %s)", was);
        return;
    }
    /* a refused key or session is logged where it is learnt */
    if (strcmp(state, "refused: authentication") != 0 &&
        strcmp(state, "refused: duplicate_session") != 0)
        link_warn(l, "broker link %s: %s", state, detail);
}

static void link_reconnect(broker_link *l);
static void link_move(broker_link *l, size_t to, const char *why);

void link_tick(broker_link *l)
{
    uint64_t now = polku_mono_ms();
    if (l->reconnect_at_ms && now >= l->reconnect_at_ms)
        link_reconnect(l);
    if (l->welcomed && !link_connected(l)) {
        link_warn(l, "broker silent for %llu ms: disconnected",
                  (unsigned long long)(now - l->last_heard_ms));
        l->welcomed = false;
    }
    /* a pair: a broker silent for the session timeout since we came to it
     * or last heard it is left for the next address */
    uint64_t quiet_since = l->last_heard_ms > l->addr_since_ms
                               ? l->last_heard_ms
                               : l->addr_since_ms;
    if (l->addrs.n > 1 && !l->welcomed && !l->reconnect_at_ms &&
        now - quiet_since >= 4 * l->cfg->heartbeat_ms + 1000) {
        l->left_silent = l->addr_at;
        l->left_silent_ms = now;
        link_move(l, broker_list_next(&l->addrs, l->addr_at, NULL), "silent");
    }
    if (!l->welcomed && now - l->last_hello_ms >= l->cfg->heartbeat_ms)
        send_hello(l);
    if (l->welcomed && now - l->last_beat_ms >= l->cfg->heartbeat_ms)
        send_heartbeat(l);
    if (l->welcomed)
        outbox_pump(l->ob, now);
    log_state_change(l);
}

/* ---- directory ---- */

static bool directory_has(void *arg, const char *org)
{
    return directory_knows_org(arg, org);
}

/* Rules naming organisations the directory does not have: at start (the
 * directory saved from the last Welcome) the agent refuses to run; later
 * (the directory changed under a running agent) it says so loudly. */
static int check_rule_orgs(broker_link *l, bool at_start)
{
    polku_cfgerr err = {{0}};
    if (!directory_known(l->dir) ||
        agent_rules_check_orgs(l->cfg, directory_has, l->dir, &err) == POLKU_OK)
        return POLKU_OK;
    if (at_start) {
        fprintf(stderr, "polku-agent: %s\n", err.msg);
        link_error(l, "%s", err.msg);
        return POLKU_ECONFIG;
    }
    link_error(l, "%s (the rule cannot offer to it)", err.msg);
    return POLKU_OK;
}

/* A batch item of the link: fn with the domain and what arrived. */
typedef struct link_item {
    broker_link *l;
    const void *what;
    int (*fn)(broker_link *l, MDB_txn *txn, const void *what);
} link_item;

static int run_link_item(MDB_txn *txn, void *ctx)
{
    link_item *it = ctx;
    return it->fn(it->l, txn, it->what);
}

static int link_run(broker_link *l,
                    int (*fn)(broker_link *l, MDB_txn *txn, const void *what),
                    const void *what)
{
    link_item it = {l, what, fn};
    return batch_run_item(l->d->b, run_link_item, &it);
}

static int save_directory(broker_link *l, MDB_txn *txn, const void *what)
{
    (void)what;
    return directory_save(l->dir, l->d->st, txn);
}

/* A store that went back in time asks every other organisation for what
 * it addressed to the store after the last it holds from it (its
 * receipts): that went with the disk. One ResendRequested each, an event
 * like any other, so it survives restarts and is answered once. */
#define RESEND_MARGIN 4096

static int ask_resend(broker_link *l, MDB_txn *txn)
{
    if (!directory_known(l->dir))
        return POLKU_OK; /* the flag stays: the next Welcome asks */
    int rc = POLKU_OK;
    size_t asked = 0;
    for (size_t i = 0; !rc && i < directory_count(l->dir); i++) {
        const char *org = directory_org_at(l->dir, i);
        if (strcmp(org, l->cfg->org) == 0)
            continue;
        uint64_t held = 0;
        rc = store_receipt_last(l->d->st, txn, org, &held);
        if (rc)
            break;
        /* events to one organisation mostly arrive in order, but a retry
         * after a Nack can overtake: ask from a margin before the last
         * held (what the store has it takes for duplicates) */
        held = held > RESEND_MARGIN ? held - RESEND_MARGIN : 0;
        polku_envelope env = POLKU__ENVELOPE__INIT;
        Polku__ResendRequested rr = POLKU__RESEND_REQUESTED__INIT;
        char *to[1] = {(char *)org};
        env.n_to = 1;
        env.to = to;
        rr.from_seq = held + 1;
        env.body_case = POLKU__ENVELOPE__BODY_RESEND_REQUESTED;
        env.resend_requested = &rr;
        rc = eventlog_emit(l->d->log, txn, &env, NULL);
        asked++;
    }
    if (!rc)
        rc = eventlog_resend_asked(l->d->log, txn);
    if (!rc && asked)
        batch_after_log(l->d->b, POLKU_LOG_WARN,
                        "this store went back in time: asked %zu "
                        "organisations to send again what they sent it "
                        "after the last it holds from each",
                        asked);
    return rc;
}

/* The broker has seen more of this organisation's log than the store
 * holds: the store went back in time (eventlog_continue_after). And a
 * store restored or repaired asks the others for what it lost. */
static int continue_after(broker_link *l, MDB_txn *txn, const void *what)
{
    const Polku__Welcome *w = what;
    eventlog_repair_result res;
    int rc = eventlog_continue_after(l->d->log, txn, w->known_seq, &res);
    if (!rc && res.lost) {
        rc = reconcile_note_repair(l->d->st, txn, &res, w->known_seq,
                                   l->d->log->incarnation, "broker",
                                   polku_now_ms());
        batch_after_log(
            l->d->b, POLKU_LOG_ERROR,
            "the broker has seen this organisation's log up to seq %llu, "
            "past this store's last seq %llu: the store was restored from "
            "an older copy. Events %llu..%llu are not in this store (their "
            "receivers and the broker hold them); a new incarnation "
            "%016llx continues after seq %llu; %llu pending events sent "
            "again at new sequences (polku reconcile lists this)",
            (unsigned long long)w->known_seq, (unsigned long long)res.from_seq,
            (unsigned long long)res.from_seq + 1,
            (unsigned long long)w->known_seq,
            (unsigned long long)l->d->log->incarnation,
            (unsigned long long)w->known_seq,
            (unsigned long long)res.reemitted);
    }
    if (!rc && l->d->log->resend_needed)
        rc = ask_resend(l, txn);
    return rc;
}

/* A receiver trusts a conflict answer this far past the store's own log
 * (one SeqLost per sequence skipped); a larger claim is logged and left
 * to the operator (docs/operations.md). */
#define CONFLICT_SKIP_MAX 1000000

/* A receiver holds another event at one of our pending sequences: the
 * store went back in time where no broker saw it (restored behind a
 * restarted broker, or events written before the first Welcome after a
 * snapshot). The log continues after what the receiver holds and the
 * events pending for it are sent again at new sequences. */
static int repair_after_conflict(broker_link *l, MDB_txn *txn, const void *what)
{
    const polku_envelope *env = what;
    const Polku__SeqConflict *sc = env->seq_conflict;
    /* the store's view: a repair earlier in this batch has ended it */
    if (!store_outbox_has(l->d->st, txn, sc->origin_seq, env->origin_org))
        return POLKU_OK; /* already repaired: a late answer */
    uint64_t last = l->d->b->last_seq;
    if (sc->held_through > last &&
        sc->held_through - last > CONFLICT_SKIP_MAX) {
        link_error(l,
                   "%s says it holds this organisation's log up to seq %llu, "
                   "%llu past this store's last seq %llu: not skipped on its "
                   "word alone; event %llu stays pending (docs/operations.md)",
                   env->origin_org, (unsigned long long)sc->held_through,
                   (unsigned long long)(sc->held_through - last),
                   (unsigned long long)last,
                   (unsigned long long)sc->origin_seq);
        return POLKU_OK;
    }
    eventlog_repair_result res;
    int rc = eventlog_repair(l->d->log, txn, sc->held_through, env->origin_org,
                             &res);
    if (!rc)
        rc = reconcile_note_repair(l->d->st, txn, &res, sc->held_through,
                                   l->d->log->incarnation, env->origin_org,
                                   polku_now_ms());
    /* a conflict about an event written before the others were last
     * asked comes from the same trip back in time: asked already */
    if (!rc)
        rc = sc->origin_seq > l->d->log->resend_asked_seq
                 ? ask_resend(l, txn)
                 : eventlog_set_resend_needed(l->d->log, txn, false);
    if (!rc) {
        l->counters.log_repairs++;
        batch_after_log(
            l->d->b, POLKU_LOG_ERROR,
            "%s holds another event of this organisation at seq %llu (it "
            "has received up to seq %llu): this store went back in time "
            "without the broker seeing it. A new incarnation %016llx "
            "continues after seq %llu (%llu sequences marked lost); %llu "
            "events pending for %s sent again at new sequences (polku "
            "reconcile lists this)",
            env->origin_org, (unsigned long long)sc->origin_seq,
            (unsigned long long)sc->held_through,
            (unsigned long long)l->d->log->incarnation,
            (unsigned long long)(sc->held_through > res.from_seq
                                     ? sc->held_through
                                     : res.from_seq),
            (unsigned long long)res.lost, (unsigned long long)res.reemitted,
            env->origin_org);
    }
    return rc;
}

/* A Welcome of the epoch this link is already welcomed in: the broker's
 * directory changed (its config reloaded). The directory is taken and
 * saved; nothing is resent, the session goes on. */
static void on_directory_update(broker_link *l, const Polku__Welcome *w)
{
    if (directory_set(l->dir, w) == POLKU_OK)
        link_run(l, save_directory, NULL);
    check_rule_orgs(l, false);
    link_info(l,
              "directory updated by the broker (%zu organisations), epoch "
              "%016llx unchanged",
              w->n_directory, (unsigned long long)w->epoch);
    link_keys(l); /* the broker may list our new key now */
}

/* A replay ends: answered, given up for another broker, or moved away
 * from; its idle handle stops sending. */
static void replay_stop(broker_link *l)
{
    l->replaying = false;
    uv_idle_stop(&l->replay_idle);
}

static void on_welcome(broker_link *l, const Polku__Welcome *w)
{
    bool new_epoch = w->epoch != l->epoch;
    if (!new_epoch && l->welcomed && w->known_seq == 0) {
        on_directory_update(l, w);
        return;
    }
    if (new_epoch && l->replaying) {
        /* it answered another broker (one that died, or the pair's other
         * half): this one asks for its own replay after its Welcome */
        replay_stop(l);
        link_info(l,
                  "replay for broker epoch %016llx stopped at seq %llu: a new "
                  "broker asks for its own",
                  (unsigned long long)l->epoch,
                  (unsigned long long)l->replay_next);
    }
    l->epoch = w->epoch;
    l->welcomed = true;
    l->broker_bundles = w->bundles;
    l->last_heard_ms = polku_mono_ms();
    /* a Welcome came over an open, authenticated connection, whatever the
     * monitor (another socket) has told us so far */
    l->tcp_up = l->tcp_was_up = l->handshaken = true;
    if (directory_set(l->dir, w) == POLKU_OK)
        link_run(l, save_directory, NULL);
    if ((w->known_seq > l->d->b->last_seq || l->d->log->resend_needed) &&
        link_run(l, continue_after, w) != POLKU_OK) {
        link_error(l,
                   "cannot continue the log after seq %llu; nothing is sent "
                   "until it can (the next Welcome tries again)",
                   (unsigned long long)w->known_seq);
        l->welcomed = false; /* no outbox pump; Hello again */
        return;
    }
    check_rule_orgs(l, false);
    link_info(l, "welcomed by broker epoch %016llx (%zu organisations)%s",
              (unsigned long long)w->epoch, w->n_directory,
              new_epoch ? "; resending what is unacknowledged" : "");
    if (l->duplicate)
        link_warn(l,
                  "this agent now holds org %s's session at the broker: the "
                  "other process (from %s) went silent or stopped. If it comes "
                  "back it is refused; stop one of them for good",
                  l->cfg->org, l->duplicate_peer);
    l->duplicate = false;
    l->diverged = false;
    outbox_rewind_all(l->ob);
    link_keys(l);
}

/* ---- inbound ---- */

typedef struct ack_frame {
    broker_link *l;
    bool is_ack; /* counted as sent */
    size_t len;
    uint8_t data[];
} ack_frame;

static void send_ack(void *arg, bool committed)
{
    ack_frame *f = arg;
    if (committed && queue_frame(f->l, f->data, f->len, f->is_ack) == 0 &&
        f->is_ack)
        f->l->counters.acks_sent++;
}

/* After the commit, an answer to event (its body set in env by the
 * caller) sent to event's origin: an answer leaves once what it answers
 * is durable. */
static int queue_answer(broker_link *l, const polku_envelope *event,
                        polku_envelope *env)
{
    uint8_t msg_id[16];
    char *to[1] = {event->origin_org};
    eventlog_header(l->cfg->org, env, msg_id);
    env->n_to = 1;
    env->to = to;
    /* packed straight into the frame that waits for the commit */
    size_t len = polku__envelope__get_packed_size(env);
    ack_frame *f = malloc(sizeof *f + len);
    if (!f)
        return POLKU_ENOMEM;
    f->l = l;
    f->is_ack = env->body_case == POLKU__ENVELOPE__BODY_ACK;
    f->len = polku__envelope__pack(env, f->data);
    return batch_after(l->d->b, send_ack, f, free);
}

/* The Ack of event (so it is acked once it is durable). */
static int queue_ack(broker_link *l, const polku_envelope *event)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Ack ack = POLKU__ACK__INIT;
    ack.origin_org = event->origin_org;
    ack.origin_seq = event->origin_seq;
    env.body_case = POLKU__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    return queue_answer(l, event, &env);
}

/* The answer to an event at a sequence we hold another event of its
 * origin at: how far we hold the origin's log. */
static int queue_conflict_answer(broker_link *l, MDB_txn *txn,
                                 const polku_envelope *event)
{
    uint64_t held = 0;
    int rc = store_receipt_last(l->d->st, txn, event->origin_org, &held);
    if (rc)
        return rc;
    if (held < event->origin_seq)
        held = event->origin_seq; /* cannot happen: it holds that one */
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__SeqConflict sc = POLKU__SEQ_CONFLICT__INIT;
    sc.origin_org = event->origin_org;
    sc.origin_seq = event->origin_seq;
    sc.held_through = held;
    env.body_case = POLKU__ENVELOPE__BODY_SEQ_CONFLICT;
    env.seq_conflict = &sc;
    return queue_answer(l, event, &env);
}

static int apply_event(broker_link *l, MDB_txn *txn, const void *what)
{
    const polku_envelope *env = what;
    inbox_outcome outcome = INBOX_NOT_APPLICABLE;
    int rc = inbox_event(l->d, txn, env, &outcome);
    if (rc)
        return rc; /* not acked: the sender retries */
    if (outcome == INBOX_CONFLICT) {
        l->counters.sequence_conflicts++;
        if (polku_log_limit_allow(&l->conflict_log, 5, "sequence conflicts"))
            link_error(l,
                       "%s sent another event at its seq %llu than the one "
                       "received before: its store has gone back in time "
                       "(a restored copy?) and reuses sequences. Not "
                       "applied, not acknowledged: %s is told how far its "
                       "log is held here and sends it again after that",
                       env->origin_org, (unsigned long long)env->origin_seq,
                       env->origin_org);
        return queue_conflict_answer(l, txn, env);
    }
    if (outcome == INBOX_DUPLICATE)
        l->counters.duplicates++;
    else if (outcome == INBOX_APPLIED && l->hooks.event_applied)
        l->hooks.event_applied(l->hooks.arg, env);
    return queue_ack(l, env);
}

static int apply_ack(broker_link *l, MDB_txn *txn, const void *what)
{
    return inbox_ack(l->d, txn, what);
}

static int apply_claim_answer(broker_link *l, MDB_txn *txn, const void *what)
{
    return inbox_claim_answered(l->d, txn, what);
}

/* An operator reviewed our override at the broker: our log says so. */
static int apply_operator_review(broker_link *l, MDB_txn *txn, const void *what)
{
    int rc = overrides_operator_reviewed(l->d, txn, what);
    if (rc == POLKU_ENOTFOUND || rc == POLKU_EINVAL) {
        link_warn(l, "the broker sent a review of an override this "
                     "organisation does not hold: ignored");
        return POLKU_OK;
    }
    return rc;
}

static int apply_nack_failure(broker_link *l, MDB_txn *txn, const void *what)
{
    return inbox_undeliverable(l->d, txn, what);
}

/* while refused, a reminder this often */
#define DUPLICATE_LOG_AGAIN_MS 60000

/* The broker holds another live session of this organisation: nothing is
 * sent but Hello (each heartbeat, from link_tick) until it welcomes us. */
static void on_duplicate_session(broker_link *l, const char *peer)
{
    uint64_t now = polku_mono_ms();
    bool news = !l->duplicate;
    l->welcomed = false;
    l->duplicate = true;
    snprintf(l->duplicate_peer, sizeof l->duplicate_peer, "%s",
             peer && *peer ? peer : "an unknown address");
    if (!news && now - l->duplicate_logged_ms < DUPLICATE_LOG_AGAIN_MS)
        return;
    l->duplicate_logged_ms = now;
    link_error(l,
               "the broker refused this agent (duplicate_session): is another "
               "process with organisation %s's key connected to the broker "
               "from %s? Two agents must never share a key. This agent sends "
               "nothing, keeps retrying and takes over when the other goes "
               "silent",
               l->cfg->org, l->duplicate_peer);
}

/* The broker is the passive one of a pair: go to the one it names (or the
 * next address) — unless that is where we just left for silence: then the
 * passive takes over once it finds its peer silent too, and we stay, saying
 * Hello each heartbeat. */
static void on_broker_passive(broker_link *l, const char *active)
{
    l->welcomed = false;
    size_t to = broker_list_next(&l->addrs, l->addr_at, active);
    uint64_t now = polku_mono_ms();
    bool just_left = l->left_silent_ms && to == l->left_silent &&
                     now - l->left_silent_ms < 4 * l->cfg->heartbeat_ms + 1000;
    if (l->addrs.n < 2 || to == l->addr_at || just_left) {
        if (polku_log_limit_allow(&l->conflict_log, 1, "passive answers"))
            link_info(l,
                      "the broker at %s is passive (active: %s); asking it "
                      "again",
                      link_broker(l), active && *active ? active : "unknown");
        return;
    }
    link_move(l, to, "passive");
}

/* The broker found this log not to extend the chain it witnessed: nothing
 * is sent but Hello (each heartbeat) until an operator restores the store
 * (a new incarnation) or the broker welcomes it again. */
static void on_log_diverged(broker_link *l, const char *reason)
{
    uint64_t now = polku_mono_ms();
    bool news = !l->diverged;
    l->welcomed = false;
    l->diverged = true;
    snprintf(l->diverged_reason, sizeof l->diverged_reason, "%s",
             reason && *reason ? reason : "log_diverged");
    if (!news && now - l->diverged_logged_ms < DUPLICATE_LOG_AGAIN_MS)
        return;
    l->diverged_logged_ms = now;
    link_error(l,
               "the broker refused this agent (log_diverged): %s. Was the "
               "store edited or replaced? `polku log verify --config` names "
               "the first bad sequence; restore a good backup "
               "(polku-agent --restore) to be accepted again",
               l->diverged_reason);
}

static void on_nack(broker_link *l, const Polku__Nack *nack)
{
    l->counters.nacks_received++;
    switch (nack->code) {
    case POLKU__NACK_CODE__NACK_LOG_DIVERGED:
        on_log_diverged(l, nack->reason);
        return;
    case POLKU__NACK_CODE__NACK_DUPLICATE_SESSION:
        on_duplicate_session(l, nack->reason);
        return;
    case POLKU__NACK_CODE__NACK_BROKER_PASSIVE:
        on_broker_passive(l, nack->active_broker);
        return;
    case POLKU__NACK_CODE__NACK_RETRY_LATER: /* also: broker still replaying */
    case POLKU__NACK_CODE__NACK_OVERLOADED:
        outbox_retry_later(l->ob, nack->dest_org, polku_mono_ms());
        return;
    case POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED:
        /* the broker's directory dropped this organisation (a reload):
         * the session ends; a new connection is refused by ZAP, which the
         * link reports and retries with its backoff */
        if (l->welcomed || !l->reconnect_at_ms) {
            link_error(l,
                       "the broker refused us: not_authenticated (org %s is "
                       "not in its directory any more?); connecting again "
                       "in %llu s",
                       l->cfg->org,
                       (unsigned long long)(l->refused_backoff_ms / 1000));
            l->welcomed = false;
            l->trouble = LINK_TROUBLE_AUTH;
            l->reconnect_at_ms = polku_mono_ms() + l->refused_backoff_ms;
        }
        return;
    case POLKU__NACK_CODE__NACK_ORIGIN_MISMATCH:
    case POLKU__NACK_CODE__NACK_UNSUPPORTED_VERSION:
        link_error(l, "broker refused us: %s (check org id, keys and versions)",
                   polku_nack_code_name(nack->code));
        return;
    default:
        break;
    }
    if (nack->origin_seq == 0) {
        link_warn(l, "broker refused a frame: %s",
                  polku_nack_code_name(nack->code));
        return;
    }
    l->counters.failed_deliveries++;
    link_warn(l, "event %llu to %s refused by the broker: %s",
              (unsigned long long)nack->origin_seq,
              nack->dest_org[0] ? nack->dest_org : "the broker",
              polku_nack_code_name(nack->code));
    link_run(l, apply_nack_failure, nack);
}

static void link_replay_step(broker_link *l);

/* The interval of the broker's own heartbeats, so that silence is judged
 * by its clock: the last gap, at most the session timeout. */
static void observe_broker_beat(broker_link *l)
{
    uint64_t now = polku_mono_ms();
    uint64_t cap = 4 * l->cfg->heartbeat_ms + 1000;
    if (l->broker_beat_at_ms) {
        uint64_t gap = now - l->broker_beat_at_ms;
        l->broker_beat_ms = gap < cap ? gap : cap;
    }
    l->broker_beat_at_ms = now;
}

/* ---- a frame's acks and events, in one batch item (link_runs.h) ---- */

/* What is applied as a batch item with the others of its frame: the
 * broker's Ack of one of our events, or an event of another organisation
 * (the bodies on_broker_message handles alone are not). */
static bool runs_together(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_ACK:
        return true;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        return false;
    default:
        return polku_body_is_event(env->body_case) && env->origin_seq != 0 &&
               env->origin_org[0];
    }
}

typedef struct inbound_run {
    broker_link *l;
    polku_envelope *const *msgs;
    link_counters counters; /* as they were before the run was applied */
} inbound_run;

static int apply_inbound(void *arg, MDB_txn *txn, size_t i)
{
    inbound_run *r = arg;
    const polku_envelope *env = r->msgs[i];
    return env->body_case == POLKU__ENVELOPE__BODY_ACK
               ? apply_ack(r->l, txn, env)
               : apply_event(r->l, txn, env);
}

/* The run failed and its messages are applied again one by one: what
 * they counted is counted again. */
static void undo_run(void *arg)
{
    inbound_run *r = arg;
    r->l->counters = r->counters;
}

/* A run of acks only while no batch is open: their outbox entries leave
 * the store with the next batch (eventlog_ack_later), not in a commit and
 * a flush of their own. Returns how many of msgs were taken so (those
 * after go as items). */
static size_t acks_later(broker_link *l, polku_envelope *const *msgs, size_t n)
{
    if (l->d->b->txn)
        return 0; /* a batch is open: they join it as items */
    for (size_t i = 0; i < n; i++)
        if (msgs[i]->body_case != POLKU__ENVELOPE__BODY_ACK ||
            strcmp(msgs[i]->ack->origin_org, l->d->org) != 0)
            return 0;
    size_t taken = 0;
    while (taken < n &&
           eventlog_ack_later(l->d->log, msgs[taken]->ack->origin_seq,
                              msgs[taken]->origin_org) != POLKU_ENOMEM)
        taken++; /* POLKU_ENOTFOUND: a repeated ack, nothing to do */
    /* an entry acked may have opened the window for the next */
    if (taken && l->welcomed)
        outbox_pump(l->ob, polku_mono_ms());
    return taken;
}

static void on_run(broker_link *l, polku_envelope *const *msgs, size_t n)
{
    if (n == 0)
        return;
    l->last_heard_ms = polku_mono_ms();
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->body_case == POLKU__ENVELOPE__BODY_ACK)
            l->counters.acks_received++;
        else
            l->counters.inbound++;
    }
    size_t taken = acks_later(l, msgs, n);
    msgs += taken;
    n -= taken;
    if (n == 0)
        return;
    inbound_run r = {l, msgs, l->counters};
    link_runs_apply(l->d->b, n, apply_inbound, undo_run, &r);
}

static void on_broker_message(broker_link *l, polku_envelope *env)
{
    if (runs_together(env)) {
        on_run(l, &env, 1);
        return;
    }
    l->last_heard_ms = polku_mono_ms();
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_WELCOME:
        on_welcome(l, env->welcome);
        break;
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        observe_broker_beat(l);
        if (env->heartbeat->n_heads && env->origin_org[0] == '\0')
            link_chain_heard(&l->chain, env->heartbeat->heads,
                             env->heartbeat->n_heads);
        if (env->heartbeat->epoch != l->epoch || !l->welcomed)
            send_hello(l);
        break;
    case POLKU__ENVELOPE__BODY_NACK:
        on_nack(l, env->nack);
        break;
    case POLKU__ENVELOPE__BODY_SEQ_CONFLICT:
        if (strcmp(env->seq_conflict->origin_org, l->cfg->org) == 0 &&
            env->origin_org[0])
            link_run(l, repair_after_conflict, env);
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_REQUEST:
        l->replaying = true;
        l->replay_next =
            env->replay_request->from_seq ? env->replay_request->from_seq : 1;
        l->replay_last = l->d->b->committed_seq;
        l->replay_answers_len = env->msg_id.len == sizeof l->replay_answers
                                    ? sizeof l->replay_answers
                                    : 0;
        if (l->replay_answers_len)
            memcpy(l->replay_answers, env->msg_id.data, l->replay_answers_len);
        link_info(l, "replaying events %llu..%llu for the broker",
                  (unsigned long long)l->replay_next,
                  (unsigned long long)l->replay_last);
        link_replay_step(l);
        break;
    case POLKU__ENVELOPE__BODY_PATH_ANSWER:
        if (env->origin_org[0] == '\0' && l->hooks.path_answered)
            l->hooks.path_answered(l->hooks.arg, env);
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        if (env->origin_org[0] == '\0') /* the broker's decision */
            link_run(l, apply_claim_answer, env);
        break;
    case POLKU__ENVELOPE__BODY_ACCESS_QUERY:
        if (env->origin_org[0] == '\0')
            link_answer_access(l, env);
        break;
    case POLKU__ENVELOPE__BODY_ACCESS_ANSWER:
        if (l->hooks.access_answered)
            l->hooks.access_answered(l->hooks.arg, env);
        break;
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        if (env->origin_org[0] == '\0' && env->origin_seq == 0)
            link_run(l, apply_operator_review, env);
        break;
    default: /* acks and events went to on_run */
        link_debug(l, "ignored %s from the broker",
                   polku_body_name(env->body_case));
        break;
    }
}

/* Decodes one message of a frame into the link's arena. */
static polku_envelope *decode_message(broker_link *l, const uint8_t *data,
                                      size_t len)
{
    polku_envelope *env = NULL;
    char why[128];
    if (polku_envelope_decode_in(l->arena, data, len, POLKU_MAX_FRAME_DEFAULT,
                                 &env, why, sizeof why)) {
        link_warn(l, "undecodable frame from the broker: %s", why);
        return NULL;
    }
    return env;
}

/* The messages of a Bundle in order; each run of acks and events between
 * the others is applied in one batch item. */
static void on_bundle(broker_link *l, const Polku__Bundle *bundle)
{
    l->counters.bundles_in++;
    if (l->run_cap < bundle->n_messages) {
        polku_envelope **grown =
            realloc(l->run, bundle->n_messages * sizeof *grown);
        if (grown) {
            l->run = grown;
            l->run_cap = bundle->n_messages;
        }
    }
    size_t n = 0; /* waiting in l->run */
    for (size_t i = 0; i < bundle->n_messages; i++) {
        polku_envelope *env = decode_message(l, bundle->messages[i].data,
                                             bundle->messages[i].len);
        if (!env)
            continue;
        if (env->body_case == POLKU__ENVELOPE__BODY_BUNDLE) {
            link_warn(l, "undecodable frame from the broker: a bundle inside a "
                         "bundle");
            continue;
        }
        if (runs_together(env) && n < l->run_cap) {
            l->run[n++] = env;
            continue;
        }
        on_run(l, l->run, n); /* what came before it goes first */
        n = 0;
        on_broker_message(l, env);
    }
    on_run(l, l->run, n);
}

/* One frame from the broker: a message, or a Bundle of them. */
static void on_payload(broker_link *l, const uint8_t *data, size_t len)
{
    polku_envelope *env = decode_message(l, data, len);
    if (env && env->body_case == POLKU__ENVELOPE__BODY_BUNDLE)
        on_bundle(l, env->bundle);
    else if (env)
        on_broker_message(l, env);
    polku_arena_reset(l->arena);
}

static void on_frames(polku_zwatch *zw, zmq_msg_t *frames, size_t n, void *arg)
{
    (void)zw;
    if (n != 1)
        return;
    on_payload(arg, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]));
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
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_CONNECTED |                     \
     ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED)

static void link_refused(broker_link *l, uint16_t event, uint32_t value)
{
    uint64_t wait = l->refused_backoff_ms;
    l->refused_backoff_ms =
        wait * 2 < REFUSED_BACKOFF_MAX_MS ? wait * 2 : REFUSED_BACKOFF_MAX_MS;
    l->reconnect_at_ms = polku_mono_ms() + wait;
    l->welcomed = false;
    l->trouble = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                     ? LINK_TROUBLE_AUTH
                     : LINK_TROUBLE_HANDSHAKE;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        link_warn(l,
                  "the broker refused this organisation's key (ZAP status "
                  "%u): is org %s with public key %s in the broker's "
                  "directory? trying again in %llu s",
                  (unsigned)value, l->cfg->org, l->connected_key,
                  (unsigned long long)(wait / 1000));
    else
        link_warn(l,
                  "the CURVE handshake with the broker at %s failed "
                  "(protocol error 0x%x): is broker_public_key the broker's "
                  "key? trying again in %llu s",
                  link_broker(l), (unsigned)value,
                  (unsigned long long)(wait / 1000));
}

static void on_monitor(polku_zwatch *zw, zmq_msg_t *frames, size_t n, void *arg)
{
    (void)zw;
    broker_link *l = arg;
    if (n < 1 || zmq_msg_size(&frames[0]) != 6)
        return;
    const uint8_t *d = zmq_msg_data(&frames[0]);
    uint16_t event;
    uint32_t value;
    memcpy(&event, d, 2);
    memcpy(&value, d + 2, 4);
    uint64_t now = polku_mono_ms();
    switch (event) {
    case ZMQ_EVENT_CONNECTED: /* TCP up; the handshake follows */
        l->tcp_up = l->tcp_was_up = true;
        l->handshaken = false;
        l->tcp_since_ms = now;
        if (l->trouble == LINK_TROUBLE_REFUSED)
            l->trouble = LINK_TROUBLE_NONE;
        break;
    case ZMQ_EVENT_CONNECT_RETRIED: /* libzmq will connect again */
        if (!l->tcp_was_up)         /* the last attempt never got through */
            l->trouble = LINK_TROUBLE_REFUSED;
        l->tcp_was_up = false;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (l->tcp_up && !l->handshaken && l->trouble == LINK_TROUBLE_NONE)
            l->trouble = LINK_TROUBLE_HANDSHAKE; /* closed mid-handshake */
        l->tcp_up = false;
        l->tcp_since_ms = now;
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        l->refused_backoff_ms = REFUSED_BACKOFF_MIN_MS;
        l->trouble = LINK_TROUBLE_NONE;
        l->handshaken = true;
        break;
    default: /* HANDSHAKE_FAILED_AUTH or _PROTOCOL */
        if (l->reconnect_at_ms == 0)
            link_refused(l, event, value);
        break;
    }
    log_state_change(l);
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* The DEALER stops reporting to its monitor before either closes: libzmq's
 * I/O thread sends those events (a reconnecting DEALER: every retry), and
 * one sent to a monitor socket that is gone can wedge it. */
static void close_sockets(broker_link *l)
{
    polku_zwatch_close(&l->watch);
    polku_zwatch_close(&l->monitor_watch);
    if (l->dealer && l->monitor)
        zmq_socket_monitor(l->dealer, NULL, 0);
    if (l->dealer)
        zmq_close(l->dealer);
    if (l->monitor)
        zmq_close(l->monitor);
    l->monitor = l->dealer = NULL;
}

/* The pair to connect with (link.h, link_keys). */
static const polku_keypair *connect_pair(const broker_link *l)
{
    const char *listed = directory_public_key(l->dir, l->cfg->org);
    if (l->cfg->has_previous_key && listed &&
        strcmp(listed, l->cfg->previous_key.public_z85) == 0)
        return &l->cfg->previous_key;
    return &l->cfg->key;
}

void link_keys(broker_link *l)
{
    const polku_keypair *kp = connect_pair(l);
    const char *listed = directory_public_key(l->dir, l->cfg->org);
    if (!l->dealer || strcmp(kp->public_z85, l->connected_key) == 0 ||
        (listed && strcmp(listed, kp->public_z85) != 0))
        return; /* connected with it already, or the broker does not list it
                   (yet): the live connection stays */
    link_info(l,
              "connecting again with key %s (was %s): the broker lists it "
              "for %s",
              kp->public_z85, l->connected_key, l->cfg->org);
    l->welcomed = false; /* the new session's Welcome resends what is due */
    l->reconnect_at_ms = polku_mono_ms();
}

/* While the broker is down libzmq retries the TCP connection after
 * RECONNECT_IVL_MS, doubling up to RECONNECT_IVL_MAX_MS, each wait plus a
 * random jitter of up to RECONNECT_IVL_MS (libzmq's own), so the agents of a
 * region do not retry in step. A restarted broker has its agents back
 * within about 0.3 s (it rebuilds from their logs and answers "retry later"
 * until every log is in, so the last agent back bounds the restart); a
 * broker that stays down costs each agent three to five refused
 * connection attempts a second: a SYN answered by a RST from the broker's
 * host (none from a host that is down), at most 2 500 a second for a region of
 * 500 agents, nothing a kernel notices, and no CURVE handshake before a TCP
 * connection exists. */
#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 200

/* A new DEALER (and its monitor) connected to the broker; says Hello. */
static int link_connect(broker_link *l)
{
    void *s = zmq_socket(l->zctx, ZMQ_DEALER);
    l->dealer = s;
    uint8_t pub[32], sec[32], srv[32];
    const polku_keypair *kp = connect_pair(l);
    snprintf(l->connected_key, sizeof l->connected_key, "%s", kp->public_z85);
    zmq_z85_decode(pub, kp->public_z85);
    zmq_z85_decode(sec, kp->secret_z85);
    zmq_z85_decode(srv, l->cfg->broker_public_z85);
    int64_t maxmsg = POLKU_MAX_FRAME_DEFAULT * 2;
    int rc = !s || setopt_int(s, ZMQ_LINGER, 0) ||
             setopt_int(s, ZMQ_SNDHWM, 200000) ||
             setopt_int(s, ZMQ_RCVHWM, 200000) ||
             setopt_int(s, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS) ||
             setopt_int(s, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS) ||
             setopt_int(s, ZMQ_HANDSHAKE_IVL, POLKU_ZMQ_HANDSHAKE_IVL_MS) ||
             zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
             zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, srv, 32) ||
             zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 32) ||
             zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 32);
    sodium_memzero(sec, sizeof sec);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://polku-agent-link-%u", ++l->generation);
    if (!rc &&
        (zmq_socket_monitor(s, mon, MONITOR_EVENTS) ||
         !(l->monitor = zmq_socket(l->zctx, ZMQ_PAIR)) ||
         setopt_int(l->monitor, ZMQ_LINGER, 0) || zmq_connect(l->monitor, mon)))
        rc = -1;
    l->tcp_up = l->tcp_was_up = l->handshaken = false;
    l->tcp_since_ms = polku_mono_ms();
    if (rc || zmq_connect(s, link_broker(l))) {
        link_error(l, "cannot connect to the broker at %s: %s", link_broker(l),
                   zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    l->broker_bundles = false; /* until this connection's Welcome */
    if (l->outq) /* what waited was for the connection that is gone */
        polku_outq_drop(l->outq, 0);
    rc = polku_zwatch_start(l->loop, s, 512, on_frames, l, &l->watch);
    if (!rc)
        polku_zwatch_before_sleep(l->watch, flush_hook, l);
    if (!rc)
        rc = polku_zwatch_start(l->loop, l->monitor, 16, on_monitor, l,
                                &l->monitor_watch);
    if (rc)
        return rc;
    send_hello(l);
    return POLKU_OK;
}

/* Leaves the current broker of a pair for addrs[to]: a new DEALER there,
 * Hello; its Welcome (another epoch) resends what is unacknowledged. */
static void link_move(broker_link *l, size_t to, const char *why)
{
    const char *from = link_broker(l);
    link_warn(l, "broker at %s is %s: moving to %s", from,
              strcmp(why, "silent") == 0 ? "silent" : "passive",
              l->addrs.addr[to]);
    l->moves++;
    close_sockets(l);
    l->addr_at = to;
    l->addr_since_ms = polku_mono_ms();
    l->welcomed = false;
    replay_stop(l);
    l->broker_beat_at_ms = 0;
    l->trouble = LINK_TROUBLE_NONE; /* that was the other address's */
    l->shown_state = NULL;
    if (link_connect(l))
        l->reconnect_at_ms = polku_mono_ms() + l->refused_backoff_ms;
}

static void link_reconnect(broker_link *l)
{
    l->reconnect_at_ms = 0;
    close_sockets(l);
    link_info(l, "connecting to the broker at %s again", link_broker(l));
    if (link_connect(l)) /* resources only: try again later */
        l->reconnect_at_ms = polku_mono_ms() + l->refused_backoff_ms;
}

int link_start(broker_link *l, uv_loop_t *loop, const agent_config *cfg,
               domain *d, directory *dir, outbox *ob, link_hooks hooks)
{
    l->loop = loop;
    l->cfg = cfg;
    l->d = d;
    l->dir = dir;
    l->ob = ob;
    l->hooks = hooks;
    if (cfg->region_count > 0)
        snprintf(l->log_tag, sizeof l->log_tag,
                 "region %.32s: ", agent_default_region(cfg));
    uv_idle_init(loop, &l->replay_idle);
    l->replay_idle.data = l;
    uv_idle_init(loop, &l->ack_idle);
    l->ack_idle.data = l;
    if (link_chain_init(&l->chain, cfg->org, cfg->key.secret_z85, d->st, d->b,
                        dir)) {
        link_error(l, "cannot derive the chain signing key from the key file");
        return POLKU_ECONFIG;
    }
    if (directory_load(dir, d->st))
        link_warn(l, "the saved directory could not be read; waiting for the "
                     "broker's");
    if (check_rule_orgs(l, true))
        return POLKU_ECONFIG;
    l->refused_backoff_ms = REFUSED_BACKOFF_MIN_MS;
    if (polku_outq_new(0, &l->outq) || polku_arena_new(64 * 1024, &l->arena))
        return POLKU_ENOMEM;
    char why[160];
    if (broker_list_parse(cfg->broker, &l->addrs, why, sizeof why)) {
        link_error(l, "broker: %s", why); /* agent_config checked it */
        return POLKU_ECONFIG;
    }
    l->addr_since_ms = polku_mono_ms();
    l->zctx = zmq_ctx_new();
    if (!l->zctx) {
        link_error(l, "cannot create a zmq context: %s",
                   zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    return link_connect(l);
}

/* ---- replay: many events per frame, a few frames per loop turn ---- */

#define REPLAY_FRAME_BYTES (256 * 1024)
#define REPLAY_FRAMES_PER_TURN 8

static void on_replay_idle(uv_idle_t *h)
{
    link_replay_step(h->data);
}

static void send_replay_done(broker_link *l)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    done.last_seq = l->replay_last;
    done.answers.data = l->replay_answers;
    done.answers.len = l->replay_answers_len;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    env.replay_done = &done;
    link_send_envelope(l, &env);
    replay_stop(l);
    link_info(l, "replay done up to %llu", (unsigned long long)l->replay_last);
}

/* Sends one ReplayBatch from replay_next. 0 sent, 1 nothing left, -1 the
 * socket is full (try next turn). */
static int replay_one_frame(broker_link *l, MDB_txn *txn)
{
    ProtobufCBinaryData *events = NULL;
    size_t n = 0, cap = 0, bytes = 0;
    uint64_t seq = l->replay_next;
    MDB_val v;
    while (seq <= l->replay_last && bytes < REPLAY_FRAME_BYTES &&
           store_event_get(l->d->st, txn, seq, &v) == POLKU_OK) {
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
    Polku__ReplayBatch replay = POLKU__REPLAY_BATCH__INIT;
    uint8_t msg_id[16];
    replay.n_events = n;
    replay.events = events;
    replay.answers.data = l->replay_answers;
    replay.answers.len = l->replay_answers_len;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_BATCH;
    env.replay_batch = &replay;
    eventlog_header(l->cfg->org, &env, msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(&env, &buf, &len);
    free(events);
    if (rc)
        return -1;
    link_flush(l); /* what the turn queued before goes first */
    rc = send_frame(l, buf, len);
    free(buf);
    if (rc)
        return -1;
    l->counters.replayed += n;
    l->replay_next = seq;
    return 0;
}

static void link_replay_step(broker_link *l)
{
    if (!l->replaying)
        return;
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(l->d->st->env, NULL, MDB_RDONLY, &txn))
        return;
    int rc = 0;
    for (int i = 0; i < REPLAY_FRAMES_PER_TURN && rc == 0; i++)
        rc = replay_one_frame(l, txn);
    mdb_txn_abort(txn);
    if (rc == 1)
        send_replay_done(l);
    else
        uv_idle_start(&l->replay_idle, on_replay_idle);
}

void link_close(broker_link *l)
{
    link_flush(l); /* the last turn's acks and answers */
    link_chain_fini(&l->chain);
    close_sockets(l);
    polku_outq_free(&l->outq);
    polku_arena_free(&l->arena);
    free(l->run);
    l->run = NULL;
    l->run_cap = 0;
    if (l->replay_idle.loop && !uv_is_closing((uv_handle_t *)&l->replay_idle))
        uv_close((uv_handle_t *)&l->replay_idle, NULL);
    if (l->ack_idle.loop && !uv_is_closing((uv_handle_t *)&l->ack_idle))
        uv_close((uv_handle_t *)&l->ack_idle, NULL);
    if (l->zctx)
        zmq_ctx_term(l->zctx);
    l->zctx = NULL;
}
