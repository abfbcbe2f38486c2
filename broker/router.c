/* router.c — what the broker does with each frame an agent sends.
 *
 * The sender is the organisation its CURVE key authenticated as (the ZAP
 * User-Id on the frame), never what the envelope claims; an envelope whose
 * origin differs is refused. Routes (org -> ROUTER routing id) are learned
 * only from such authenticated frames. Domain events and acks are forwarded
 * byte for byte to their destinations with ZMQ_DONTWAIT; a destination that
 * is unknown, offline or full gets the sender a Nack. The broker never acks
 * on anyone's behalf and stores nothing. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "router.h"
#include "rotation.h"
#include "routes.h"
#include "access.h"
#include "admit.h"
#include "claim_auth.h"
#include "fold.h"
#include "gate.h"
#include "ha_link.h"
#include "views.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"

/* One message as it arrived: a frame, or one message of a Bundle. */
typedef struct frame_bytes {
    const uint8_t *data;
    size_t len;
} frame_bytes;

/* Sends payload to a routing id at once, without blocking. 0 or errno. */
static int send_now(broker *b, const uint8_t *rid, size_t rid_len,
                    const void *data, size_t len)
{
    polku_zwatch_sent(b->router_watch);
    if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno();
    if (zmq_send(b->router, data, len, ZMQ_DONTWAIT) < 0)
        return zmq_errno();
    return 0;
}

/* The directory index whose live connection is rid, or -1 (a refused
 * second connection, a removed organisation). */
static int route_of_rid(const broker *b, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < b->routes.count; i++) {
        const route *r = &b->routes.by_org[i];
        if (r->routing_id_len == rid_len &&
            memcmp(r->routing_id, rid, rid_len) == 0)
            return (int)i;
    }
    return -1;
}

/* A forwarded event that cannot leave is Nacked to its sender by this tag:
 * the sender's index + 1 above bit 48, its sequence below (0: no Nack). */
#define FORWARD_TAG_SEQ_BITS 48

static uint64_t forward_tag(int origin_idx, uint64_t seq)
{
    if (origin_idx < 0 || seq >= (1ULL << FORWARD_TAG_SEQ_BITS))
        return 0;
    return ((uint64_t)origin_idx + 1) << FORWARD_TAG_SEQ_BITS | seq;
}

/* Queues payload for a connection: a live route's frames leave together
 * before the loop sleeps (router_flush), any other connection's at once.
 * 0 or errno. */
static int send_to(broker *b, const uint8_t *rid, size_t rid_len,
                   const void *data, size_t len)
{
    int idx = route_of_rid(b, rid, rid_len);
    if (idx < 0 || !b->outq)
        return send_now(b, rid, rid_len, data, len);
    return polku_outq_add(b->outq, idx, data, len, 0) ? ENOMEM : 0;
}

static void fill_header(polku_envelope *env, uint8_t msg_id[16])
{
    polku_id id = polku_id_new(polku_now_ms());
    memcpy(msg_id, id.b, 16);
    env->version = POLKU_PROTOCOL_VERSION;
    env->msg_id.data = msg_id;
    env->msg_id.len = 16;
    env->origin_org = "";
    env->time_ms = polku_now_ms();
}

/* A heartbeat of this epoch (msg_id: the caller's 16 bytes). */
static void heartbeat_envelope(broker *b, polku_envelope *env,
                               Polku__Heartbeat *hb, uint8_t msg_id[16])
{
    fill_header(env, msg_id);
    hb->epoch = b->epoch;
    env->body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    env->heartbeat = hb;
}

/* Encodes env and sends it to one connection. */
static int send_envelope(broker *b, const uint8_t *rid, size_t rid_len,
                         const polku_envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(env, &buf, &len))
        return ENOMEM;
    int rc = send_to(b, rid, rid_len, buf, len);
    free(buf);
    return rc;
}

int router_send_envelope(broker *b, const uint8_t *rid, size_t rid_len,
                         polku_envelope *env)
{
    uint8_t msg_id[16];
    fill_header(env, msg_id);
    int rc = send_envelope(b, rid, rid_len, env);
    env->msg_id.data = NULL;
    env->msg_id.len = 0;
    return rc;
}

int router_send_raw(broker *b, const char *org, const void *data, size_t len)
{
    int idx = routes_org_index(&b->routes, org);
    if (idx < 0)
        return ENOENT;
    route *r = &b->routes.by_org[idx];
    if (!r->connected)
        return EHOSTUNREACH;
    int rc = send_to(b, r->routing_id, r->routing_id_len, data, len);
    if (rc == EHOSTUNREACH) {
        log_info("%s: connection gone, marked offline", org);
        r->connected = false;
    }
    return rc;
}

int router_send_to_org(broker *b, const char *org, polku_envelope *env)
{
    uint8_t msg_id[16];
    uint8_t *buf = NULL;
    size_t len = 0;
    fill_header(env, msg_id);
    int rc = polku_envelope_encode(env, &buf, &len) ? ENOMEM : 0;
    env->msg_id.data = NULL;
    env->msg_id.len = 0;
    if (!rc)
        rc = router_send_raw(b, org, buf, len);
    free(buf);
    return rc;
}

static void send_nack(broker *b, const uint8_t *rid, size_t rid_len,
                      const char *to_org, Polku__NackCode code,
                      uint64_t origin_seq, const char *dest, const char *reason)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Nack nack = POLKU__NACK__INIT;
    uint8_t msg_id[16];
    char *to[1] = {(char *)to_org};
    fill_header(&env, msg_id);
    if (to_org && *to_org) {
        env.n_to = 1;
        env.to = to;
    }
    nack.code = code;
    nack.reason = (char *)reason;
    nack.origin_seq = origin_seq;
    nack.dest_org = (char *)(dest ? dest : "");
    env.body_case = POLKU__ENVELOPE__BODY_NACK;
    env.nack = &nack;
    if ((unsigned)code < sizeof b->counters.nacks / sizeof b->counters.nacks[0])
        b->counters.nacks[code]++;
    /* a destination outside the directory is the sender's text: not logged */
    const char *shown = "-";
    if (dest && *dest)
        shown = routes_org_index(&b->routes, dest) >= 0
                    ? dest
                    : "(not in the directory)";
    log_debug("nack %s to %s seq %llu dest %s", polku_nack_code_name(code),
              to_org ? to_org : "?", (unsigned long long)origin_seq, shown);
    send_envelope(b, rid, rid_len, &env);
}

static void send_welcome(broker *b, const uint8_t *rid, size_t rid_len,
                         const char *org, uint64_t known_seq)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Welcome welcome = POLKU__WELCOME__INIT;
    size_t n = b->cfg->org_count;
    Polku__DirectoryEntry *entries = calloc(n ? n : 1, sizeof *entries);
    Polku__DirectoryEntry **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    uint8_t msg_id[16];
    char *to[1] = {(char *)org};
    if (!entries || !ptrs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const broker_org *o = &b->cfg->orgs[i];
        polku__directory_entry__init(&entries[i]);
        entries[i].org = (char *)o->id;
        entries[i].name = o->name;
        entries[i].public_key = (char *)o->public_z85;
        entries[i].sign_key = (char *)o->sign_z85;
        entries[i].n_services = o->service_count;
        entries[i].services = (char **)o->services;
        if (o->has_previous) { /* rotation.h */
            entries[i].previous_public_key = (char *)o->previous_z85;
            entries[i].previous_key_until = o->previous_until_ms;
        }
        entries[i].n_overrides = o->override_count;
        entries[i].overrides = (char **)o->overrides;
        ptrs[i] = &entries[i];
    }
    fill_header(&env, msg_id);
    env.n_to = 1;
    env.to = to;
    welcome.epoch = b->epoch;
    welcome.applied_seq = 0; /* nothing folded yet: the path issue replays */
    welcome.known_seq = known_seq;
    welcome.bundles = true; /* router_on_message takes them */
    welcome.n_directory = n;
    welcome.directory = ptrs;
    env.body_case = POLKU__ENVELOPE__BODY_WELCOME;
    env.welcome = &welcome;
    send_envelope(b, rid, rid_len, &env);
out:
    free(entries);
    free(ptrs);
}

void router_send_directory(broker *b)
{
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        route *r = &b->routes.by_org[i];
        r->directory_missed = !r->connected;
        if (r->connected) /* known_seq 0: nothing about its store */
            send_welcome(b, r->routing_id, r->routing_id_len,
                         b->cfg->orgs[i].id, 0);
    }
}

void router_refuse_removed(broker *b, const uint8_t *rid, size_t rid_len,
                           const char *org)
{
    send_nack(b, rid, rid_len, org, POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED, 0,
              NULL, "this organisation is not in the directory any more");
}

void router_refuse_retired_key(broker *b, const uint8_t *rid, size_t rid_len,
                               const char *org)
{
    send_nack(b, rid, rid_len, org, POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED, 0,
              NULL,
              "this connection's key was retired by a key rotation: connect "
              "with the new key");
}

void router_send_heartbeats(broker *b)
{
    uint64_t now = polku_mono_ms();
    uint64_t stale_after = 4 * b->cfg->heartbeat_ms + 1000;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Heartbeat hb = POLKU__HEARTBEAT__INIT;
    uint8_t msg_id[16];
    heartbeat_envelope(b, &env, &hb, msg_id);
    heads_all(b->heads, &hb.heads, &hb.n_heads); /* republished to all */
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        route *r = &b->routes.by_org[i];
        if (!r->connected)
            continue;
        if (now - r->last_seen_ms > stale_after) {
            log_info("%s: no traffic for %llu ms, marked offline",
                     b->cfg->orgs[i].id,
                     (unsigned long long)(now - r->last_seen_ms));
            r->connected = false;
            continue;
        }
        send_envelope(b, r->routing_id, r->routing_id_len, &env);
    }
}

/* Forwards payload to one destination org. Returns the Nack code to give
 * the sender, or 0 when the frame was queued. */
static Polku__NackCode forward(broker *b, const char *dest,
                               const frame_bytes *payload, uint64_t tag)
{
    int idx = routes_org_index(&b->routes, dest);
    if (idx < 0)
        return POLKU__NACK_CODE__NACK_UNKNOWN_ORG;
    route *r = &b->routes.by_org[idx];
    if (!r->connected)
        return POLKU__NACK_CODE__NACK_RETRY_LATER;
    int err =
        b->outq
            ? (polku_outq_add(b->outq, idx, payload->data, payload->len, tag)
                   ? ENOMEM
                   : 0)
            : send_now(b, r->routing_id, r->routing_id_len, payload->data,
                       payload->len);
    if (err == 0)
        return 0;
    b->counters.send_failures++;
    if (err == EHOSTUNREACH) {
        log_info("%s: connection gone, marked offline", dest);
        r->connected = false;
        return POLKU__NACK_CODE__NACK_RETRY_LATER;
    }
    return POLKU__NACK_CODE__NACK_OVERLOADED;
}

static bool org_replayed(void *arg, const char *org)
{
    broker *b = arg;
    int idx = routes_org_index(&b->routes, org);
    /* gone orgs cannot block */
    return idx < 0 || b->routes.by_org[idx].replayed;
}

/* What the gate may consult: valid while b and x are. */
static gate_env gate_of(broker *b, const broker_indexes *x)
{
    gate_env g = {.cfg = b->cfg,
                  .x = x,
                  .held = b->held,
                  .replayed = org_replayed,
                  .arg = b,
                  .claim_key = b->claim_key,
                  .live = true,
                  .claim_keyed = &b->claim_keyed};
    return g;
}

/* Refused events are logged at most this often (metrics keep totals). */
#define REFUSAL_LOG_PER_S 10

static void log_refusal(broker *b, const char *sender,
                        const polku_envelope *env, const char *why,
                        bool replayed)
{
    if (!polku_log_limit_allow(&b->refusal_log, REFUSAL_LOG_PER_S,
                               "refused events"))
        return;
    log_warn("%s: %s %s seq %llu refused: %s", sender,
             replayed ? "replayed" : "live", polku_body_name(env->body_case),
             (unsigned long long)env->origin_seq, why ? why : "refused");
}

static void decide_woken(broker *b);

/* What the broker learns from a live event the gate accepted; news goes
 * to the feed (replayed events go through admit.h). */
static void fold_event(broker *b, const polku_envelope *env)
{
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    unsigned done = fold_apply(&x, env);
    if (done & FOLD_PATH)
        b->counters.events_folded++;
    if (hb_count(b->held)) { /* replayed events may wait on it */
        admit_wake(b->held, env);
        decide_woken(b);
    }
    if (!(done & FOLD_CLIENT))
        return;
    feed_publish_event(b->feed, env, b->clients, b->paths, b->display);
}

/* The writer rules refused (or cannot yet decide) a live event: every
 * destination hears why, nothing is folded. */
static void refuse_live(broker *b, const uint8_t *rid, size_t rid_len,
                        const char *sender, const polku_envelope *env,
                        gate_result w)
{
    Polku__NackCode code =
        w.verdict == GATE_WAIT ? POLKU__NACK_CODE__NACK_RETRY_LATER : w.code;
    const char *why = w.verdict == GATE_WAIT ? gate_nack_reason(code) : w.why;
    if (w.verdict == GATE_REFUSE) {
        b->counters.events_refused++;
        log_refusal(b, sender, env, why, false);
    }
    for (size_t i = 0; i < env->n_to; i++)
        send_nack(b, rid, rid_len, sender, code, env->origin_seq, env->to[i],
                  why);
    if (env->n_to == 0)
        send_nack(b, rid, rid_len, sender, code, env->origin_seq, "", why);
}

static void route_event(broker *b, const uint8_t *rid, size_t rid_len,
                        const char *sender, const polku_envelope *env,
                        const frame_bytes *payload)
{
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    gate_result w = gate_writer(&g, env);
    if (w.verdict != GATE_ACCEPT) {
        refuse_live(b, rid, rid_len, sender, env, w);
        return;
    }
    Polku__NackCode codes[POLKU_MAX_DESTS];
    bool any = false;
    uint64_t now = polku_now_ms();
    for (size_t i = 0; i < env->n_to && i < POLKU_MAX_DESTS; i++) {
        codes[i] = gate_route(&g, env, env->to[i], now);
        any |= codes[i] == 0;
    }
    /* folded only if it may go somewhere: a refused event is the sender's
     * failure to record, not news (consents take effect as they pass; the
     * gates saw the state before) */
    if (any)
        fold_event(b, env);
    bool consent = env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    if (consent && any)
        ci_mark_delivered(b->consents, env->consent_granted->consent_id.data,
                          sender);
    for (size_t i = 0; i < env->n_to && i < POLKU_MAX_DESTS; i++) {
        const char *dest = env->to[i];
        Polku__NackCode code = codes[i];
        if (code == 0)
            code = forward(b, dest, payload,
                           forward_tag(routes_org_index(&b->routes, sender),
                                       env->origin_seq));
        if (code == 0) {
            b->counters.routed++;
            if (consent)
                ci_mark_delivered(b->consents,
                                  env->consent_granted->consent_id.data, dest);
            continue;
        }
        char reason[128];
        snprintf(reason, sizeof reason, "%s: %s", dest, gate_nack_reason(code));
        send_nack(b, rid, rid_len, sender, code, env->origin_seq, dest, reason);
    }
}

static void send_ack(broker *b, const uint8_t *rid, size_t rid_len,
                     const char *to_org, uint64_t origin_seq)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Ack ack = POLKU__ACK__INIT;
    uint8_t msg_id[16];
    char *to[1] = {(char *)to_org};
    fill_header(&env, msg_id);
    env.n_to = 1;
    env.to = to;
    ack.origin_org = (char *)to_org;
    ack.origin_seq = origin_seq;
    env.body_case = POLKU__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    send_envelope(b, rid, rid_len, &env);
}

static void send_claim_answer(broker *b, const uint8_t *rid, size_t rid_len,
                              const char *claimant, const polku_envelope *claim,
                              Polku__ClaimOutcome outcome,
                              const path_view *view, const char *refusal)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClaimAnswered a = POLKU__PATH_CLAIM_ANSWERED__INIT;
    uint8_t msg_id[16];
    char *to[1] = {(char *)claimant};
    fill_header(&env, msg_id);
    env.n_to = 1;
    env.to = to;
    env.client_key = claim->client_key;
    a.claim_id = claim->path_claimed->claim_id;
    a.outcome = outcome;
    a.claim_seq = claim->origin_seq;
    a.refusal = (char *)(refusal ? refusal : "");
    uint8_t mac[CLAIM_AUTH_BYTES];
    if (view) {
        a.coordinator = (char *)view->coordinator;
        a.term = view->term;
        a.since_ms = view->since_ms;
        claim_auth_mac(b->claim_key, claim->client_key.data, claimant, &a, mac);
        a.authenticator.data = mac;
        a.authenticator.len = sizeof mac;
    }
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    env.path_claim_answered = &a;
    send_envelope(b, rid, rid_len, &env);
}

/* The broker arbitrates claims: the first it sees for a path without a
 * coordinator wins. The answer goes into the claimant's log (it sends it
 * back as its own event), so a broker restart cannot change it. */
static void on_claim(broker *b, const uint8_t *rid, size_t rid_len,
                     const char *sender, const polku_envelope *env)
{
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    Polku__NackCode code = ci_check(b->consents, env, sender, sender, NULL,
                                    polku_now_ms(), org_replayed, b);
    if (code == 0 && !gate_client_ready(&g, env))
        code = POLKU__NACK_CODE__NACK_RETRY_LATER;
    if (code == POLKU__NACK_CODE__NACK_RETRY_LATER) {
        send_nack(b, rid, rid_len, sender, code, env->origin_seq, "",
                  "not yet rebuilt, retry later");
        return;
    }
    if (code) {
        b->counters.claims_refused++;
        send_claim_answer(b, rid, rid_len, sender, env,
                          POLKU__CLAIM_OUTCOME__CLAIM_REFUSED, NULL,
                          polku_nack_code_name(code));
        return;
    }
    path_view view;
    Polku__ClaimOutcome outcome = pi_decide_claim(
        b->paths, env->client_key.data, sender, polku_now_ms(), &view);
    if (outcome == POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED ||
        view.term == UINT32_MAX) {
        send_nack(b, rid, rid_len, sender, POLKU__NACK_CODE__NACK_OVERLOADED,
                  env->origin_seq, "", "out of memory, retry later");
        return;
    }
    if (outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON)
        b->counters.claims_won++;
    else
        b->counters.claims_lost++;
    log_info("%s: claim %s (coordinator %s, term %" PRIu32 ")", sender,
             outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON ? "won" : "lost",
             view.coordinator, view.term);
    send_claim_answer(b, rid, rid_len, sender, env, outcome, &view, NULL);
}

/* An event for the broker alone (no destination): folded, then acked —
 * except a claim, which its answer settles. */
static void on_broker_event(broker *b, const uint8_t *rid, size_t rid_len,
                            const char *sender, const polku_envelope *env)
{
    if (env->body_case == POLKU__ENVELOPE__BODY_PATH_CLAIMED) {
        if (env->client_key.len != 16) {
            send_nack(b, rid, rid_len, sender, POLKU__NACK_CODE__NACK_MALFORMED,
                      env->origin_seq, "", "a claim needs a client key");
            return;
        }
        /* a resent claim is decided again: the same answer (the winner
         * stays), so an answer lost on the way is never lost for good */
        on_claim(b, rid, rid_len, sender, env);
        fold_event(b, env); /* marks its seq seen */
        return;
    }
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    gate_result w = gate_writer(&g, env);
    if (w.verdict == GATE_IGNORE) { /* its own failure of a refused event */
        pi_mark(b->paths, sender, env->origin_seq);
        send_ack(b, rid, rid_len, sender, env->origin_seq);
        return;
    }
    if (w.verdict != GATE_ACCEPT) {
        refuse_live(b, rid, rid_len, sender, env, w);
        return;
    }
    if (env->body_case == POLKU__ENVELOPE__BODY_PATH_CLOSED &&
        !pi_seen(b->paths, sender, env->origin_seq)) {
        if (!gate_client_ready(&g, env)) {
            send_nack(b, rid, rid_len, sender,
                      POLKU__NACK_CODE__NACK_RETRY_LATER, env->origin_seq, "",
                      "not yet rebuilt, retry later");
            return;
        }
        Polku__NackCode code = pi_check_coordinator(
            b->paths, env->client_key.data, sender, env->path_closed->term);
        if (code) { /* the agent ends it as a visible failure */
            send_nack(b, rid, rid_len, sender, code, env->origin_seq, "",
                      gate_nack_reason(code));
            return;
        }
    }
    fold_event(b, env);
    send_ack(b, rid, rid_len, sender, env->origin_seq);
}

static void route_ack(broker *b, const polku_envelope *env,
                      const frame_bytes *payload)
{
    /* An ack that cannot be delivered now is dropped: the event's sender
     * retries and the receiver re-acks the duplicate. */
    for (size_t i = 0; i < env->n_to; i++)
        if (forward(b, env->to[i], payload, 0) == 0)
            b->counters.acks_routed++;
}

/* Whether the connection holding r is still open. A heartbeat (which the
 * agent expects anyway) fails with EHOSTUNREACH once ZeroMQ has seen that
 * connection close: a killed or restarted agent's successor need not wait
 * for the silence. Asked at most twice a heartbeat, however fast the
 * second connection speaks. */
static bool connection_open(broker *b, route *r, uint64_t now)
{
    if (now - r->open_checked_ms < b->cfg->heartbeat_ms / 2)
        return true;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Heartbeat hb = POLKU__HEARTBEAT__INIT;
    uint8_t msg_id[16];
    heartbeat_envelope(b, &env, &hb, msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(&env, &buf, &len))
        return true; /* no memory to ask: taken as open */
    /* at once, not queued: the answer is needed now */
    int err = send_now(b, r->routing_id, r->routing_id_len, buf, len);
    free(buf);
    if (err == EHOSTUNREACH)
        return false;
    r->open_checked_ms = now;
    return true;
}

/* A second connection of an organisation whose session is live: refused
 * (routes.h). It hears why and where the live one is; the first frame of
 * each such connection is counted and logged (rate-limited), the alert
 * duplicate_session names both while they last. */
static void refuse_second_session(broker *b, int idx, zmq_msg_t *rid,
                                  const char *peer)
{
    route *r = &b->routes.by_org[idx];
    const char *org = b->cfg->orgs[idx].id;
    const uint8_t *id = zmq_msg_data(rid);
    size_t len = zmq_msg_size(rid);
    b->counters.rejected++;
    if (routes_note_duplicate(r, id, len, peer, polku_mono_ms(),
                              polku_now_ms())) {
        b->counters.duplicate_sessions++;
        if (polku_log_limit_allow(&b->frame_log, REFUSAL_LOG_PER_S,
                                  "refused frames"))
            log_warn("%s: a second connection (from %s) refused: the "
                     "organisation is already connected from %s. Two "
                     "processes share its key; the second takes over only "
                     "after the first has been silent for %llu ms",
                     org, peer && *peer ? peer : "an unknown address",
                     r->peer[0] ? r->peer : "an unknown address",
                     (unsigned long long)routes_stale_after_ms(
                         b->cfg->heartbeat_ms));
    }
    send_nack(b, id, len, org, POLKU__NACK_CODE__NACK_DUPLICATE_SESSION, 0,
              NULL, r->peer[0] ? r->peer : "unknown");
}

/* Learns where org idx is reached from one of its authenticated frames.
 * False when the frame comes from a second connection while the first is
 * live: it was refused and goes no further. */
static bool learn_route(broker *b, int idx, zmq_msg_t *rid, zmq_msg_t *payload)
{
    route *r = &b->routes.by_org[idx];
    size_t len = zmq_msg_size(rid);
    if (len > ROUTES_ROUTING_ID_MAX)
        return true;
    uint64_t now = polku_mono_ms();
    const char *peer = zmq_msg_gets(payload, "Peer-Address");
    routes_session s =
        routes_session_of(r, zmq_msg_data(rid), len, now,
                          routes_stale_after_ms(b->cfg->heartbeat_ms));
    if (s == ROUTES_DUPLICATE && connection_open(b, r, now)) {
        refuse_second_session(b, idx, rid, peer);
        return false;
    }
    bool returning = !r->connected && r->routing_id_len == len &&
                     memcmp(r->routing_id, zmq_msg_data(rid), len) == 0;
    if (s != ROUTES_SAME) {
        log_info("%s: connected from %s%s", b->cfg->orgs[idx].id,
                 peer && *peer ? peer : "an unknown address",
                 s == ROUTES_DUPLICATE ? " (its previous connection closed)"
                                       : "");
        r->replay_requested = false; /* a new connection: ask again */
        r->bundles = false;          /* until its Hello says so */
        if (b->outq) /* what this turn had for the old one goes with it */
            polku_outq_drop(b->outq, idx);
    }
    routes_take(r, zmq_msg_data(rid), len, peer, now);
    if (returning && r->directory_missed) /* routes.h */
        send_welcome(b, r->routing_id, r->routing_id_len, b->cfg->orgs[idx].id,
                     0);
    r->directory_missed = false; /* else its Hello's Welcome carries it */
    return true;
}

#define REPLAY_REQUEST_AGAIN_MS 10000

/* After a restart the broker knows nothing: each agent replays its log
 * once per epoch, and what matters (consents) is folded from it. */
/* The shared path for an org the client's consent names with purpose
 * `path` (metadata only); refused otherwise. Answered at once. */
static void on_path_query(broker *b, const uint8_t *rid, size_t rid_len,
                          const char *sender, const polku_envelope *env)
{
    polku_envelope out = POLKU__ENVELOPE__INIT;
    Polku__PathAnswer ans = POLKU__PATH_ANSWER__INIT;
    uint8_t msg_id[16];
    char *to[1] = {(char *)sender};
    uint64_t now = polku_now_ms();
    char *text = NULL;
    fill_header(&out, msg_id);
    out.n_to = 1;
    out.to = to;
    out.client_key = env->client_key;
    ans.query_id = env->path_query->query_id;
    if (env->client_key.len != 16) {
        ans.status = 400;
        ans.error_code = "bad_request";
    } else if (!ci_allows_shared(b->consents, env->client_key.data, sender,
                                 "path", now)) {
        const broker_indexes x = {b->consents, b->paths, b->clients,
                                  b->display};
        gate_env g = gate_of(b, &x);
        bool ready = gate_client_ready(&g, env);
        ans.status = ready ? 403 : 503;
        ans.error_code = ready ? "consent_required" : "broker_rebuilding";
    } else {
        const views_state v = broker_state_views(b);
        /* over the asking agent's own link: the client key it asked
         * with, and the display pseudonym the dashboard shows, so that
         * staff of an organisation in the client's consent find their
         * client there (it names no one they do not know already) */
        json_t *j = views_path_json(&v, env->client_key.data, now, NULL);
        if (j) {
            char shown[DISPLAY_NAME_TEXT];
            display_name(b->display, env->client_key.data, shown);
            json_object_set_new(j, "display_name", json_string(shown));
        }
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        ans.status = text ? 200 : 404;
        ans.error_code = text ? "" : "not_found";
        ans.json = text ? text : "";
    }
    out.body_case = POLKU__ENVELOPE__BODY_PATH_ANSWER;
    out.path_answer = &ans;
    b->counters.path_queries++;
    send_envelope(b, rid, rid_len, &out);
    free(text);
}

/* Asks the agent for its log from the first seq not yet applied here. */
static void request_replay(broker *b, const uint8_t *rid, size_t rid_len,
                           int idx)
{
    route *r = &b->routes.by_org[idx];
    uint64_t now = polku_mono_ms();
    if ((r->replayed && !r->added_live) ||
        (r->replay_requested &&
         now - r->replay_requested_ms < REPLAY_REQUEST_AGAIN_MS))
        return; /* done, or under way (an agent says Hello again and again
                   while it waits for Welcome) */
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayRequest req = POLKU__REPLAY_REQUEST__INIT;
    uint8_t msg_id[16];
    char *to[1] = {b->cfg->orgs[idx].id};
    fill_header(&env, msg_id);
    env.n_to = 1;
    env.to = to;
    memcpy(r->replay_request_id, msg_id, sizeof r->replay_request_id);
    r->replay_stale_logged = false;
    req.from_seq = pi_contiguous(b->paths, b->cfg->orgs[idx].id) + 1;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_REQUEST;
    env.replay_request = &req;
    r->replay_requested = true;
    r->replay_requested_ms = now;
    r->replay_from = req.from_seq;
    r->replayed_events = 0;
    r->progress_logged_ms = now;
    if (r->last_seq >= req.from_seq)
        log_info("%s: asking for its log from seq %llu (%llu events to "
                 "rebuild from)",
                 b->cfg->orgs[idx].id, (unsigned long long)req.from_seq,
                 (unsigned long long)(r->last_seq - req.from_seq + 1));
    send_envelope(b, rid, rid_len, &env);
}

#define REPLAY_PROGRESS_MS 5000 /* a progress line this often */

/* A replayed event the writer rules refused: nothing folded, the org's
 * count grows (an alert names it), the log says so, rate-limited. */
static void on_replay_refused(const polku_envelope *env, gate_result w,
                              void *arg)
{
    broker *b = arg;
    int idx = routes_org_index(&b->routes, env->origin_org);
    b->counters.events_refused++;
    if (idx >= 0) {
        route *r = &b->routes.by_org[idx];
        if (r->events_refused++ == 0)
            r->first_refused_ms = polku_now_ms();
    }
    log_refusal(b, env->origin_org, env, w.why, true);
}

static void on_replay_folded(const polku_envelope *env, unsigned done,
                             void *arg)
{
    broker *b = arg;
    (void)env;
    if (done & FOLD_PATH)
        b->counters.events_folded++;
}

static void replay_event(broker *b, const ra_event *e, const uint8_t *data,
                         size_t len)
{
    const polku_envelope *ev = e->env;
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    g.live = false;
    if (e->claim >= 0) { /* its authenticator, checked ahead */
        g.claim_checked = ev;
        g.claim_checked_ok = e->claim == 1;
    }
    admit_report report = {on_replay_refused, on_replay_folded, b};
    admit_replayed(&g, b->held, ev, data, len, &report);
}

/* What the event just replayed woke among the held ones (admit.h). */
static void decide_woken(broker *b)
{
    if (hb_count(b->held) == 0)
        return;
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    g.live = false;
    admit_report report = {on_replay_refused, on_replay_folded, b};
    admit_woken(&g, b->held, b->replay_arena, b->cfg->max_frame, &report);
}

/* A replay ended (org's; NULL: something else changed): the held events
 * decided again (admit_replay_done). */
static void decide_held_after(broker *b, const char *org)
{
    if (hb_count(b->held) == 0)
        return;
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    gate_env g = gate_of(b, &x);
    g.live = false;
    admit_report report = {on_replay_refused, on_replay_folded, b};
    bool every_log_in = true;
    for (size_t i = 0; i < b->cfg->org_count; i++)
        if (!b->routes.by_org[i].replayed)
            every_log_in = false; /* a log still to come may decide them */
    size_t waiting = hb_count(b->held), dropped = 0;
    size_t settled =
        admit_replay_done(&g, b->held, b->replay_arena, b->cfg->max_frame, org,
                          every_log_in, &report, &dropped);
    if (settled)
        log_info("%zu held-back events decided, %zu still wait for other "
                 "logs",
                 settled, waiting - settled);
    if (dropped)
        log_warn("every log is in and %zu held-back events still waited: %zu "
                 "refused as waiting for events no log holds (a store "
                 "restored from an older copy?), the rest decided",
                 waiting - settled, dropped);
}

void router_decide_held(broker *b)
{
    decide_held_after(b, NULL);
}

static void note_seen(broker *b, int idx, const polku_envelope *ev);

static bool chain_refuses_event(broker *b, const uint8_t *rid, size_t rid_len,
                                int idx, const polku_envelope *ev,
                                const void *data, size_t len,
                                const uint8_t *hash, uint64_t now_ms);

#define REPLAY_SLICE_MS 20 /* replay folded in one loop turn, at most */

/* Whether a replay frame (its `answers`) answers the request this broker
 * asked last. An agent's DEALER sends the frames it had queued for a
 * broker that died to the next one once it reconnects, and an agent
 * answers an earlier request until it sees the later one: folded, such a
 * frame would apply events from the middle of a log before the ones ahead
 * of them, and the writer rules would refuse what depends on those (a
 * handover offered in a term whose claim had not been folded yet). It is
 * dropped and counted (stats: replay.stale); the log is asked for in
 * order. An agent older than the field answers nothing: taken while a
 * request is outstanding, as before. */
static bool replay_answers_ours(broker *b, int idx,
                                const ProtobufCBinaryData *answers)
{
    route *r = &b->routes.by_org[idx];
    bool ours =
        r->replay_requested &&
        (answers->len == 0 || (answers->len == sizeof r->replay_request_id &&
                               memcmp(answers->data, r->replay_request_id,
                                      sizeof r->replay_request_id) == 0));
    if (ours)
        return true;
    r->replay_stale++;
    if (!r->replay_stale_logged) {
        r->replay_stale_logged = true;
        log_info("%s: replay frames answering another request than this "
                 "broker's last (queued for an earlier broker or ask) are "
                 "dropped; its log is folded in order from what it asked",
                 b->cfg->orgs[idx].id);
    }
    return false;
}

/* The indexes sized for every log the Hellos announced so far, before
 * more of them is folded (fold_presize): sized while they are small,
 * they are not rehashed again and again as they fill. */
static void presize_for_replay(broker *b)
{
    uint64_t events = 0;
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        uint64_t last = b->routes.by_org[i].last_seq;
        events = last > UINT64_MAX - events ? UINT64_MAX : events + last;
    }
    if (events <= b->presized_events)
        return;
    b->presized_events = events;
    const broker_indexes x = {b->consents, b->paths, b->clients, b->display};
    fold_presize(&x, events);
}

static void on_replay_batch(broker *b, const uint8_t *rid, size_t rid_len,
                            int idx, const polku_envelope *env)
{
    const Polku__ReplayBatch *batch = env->replay_batch;
    const char *org = b->cfg->orgs[idx].id;
    if (heads_diverged(b->heads, org, NULL, NULL, NULL))
        return; /* refused: nothing more of its log is folded */
    if (!replay_answers_ours(b, idx, &batch->answers))
        return;
    if (!b->replay_slice_ms) /* the turn's first batch */
        b->replay_slice_ms = polku_mono_ms();
    presize_for_replay(b);
    /* thousands of events a frame: decoded and hashed ahead on the helper
     * thread (replay_ahead.h), folded here in order (the indexes copy what
     * they keep), forgotten with the batch; one that does not decode is
     * skipped (a gap, asked for again at the replay's end) */
    if (ra_begin(b->ahead, org, batch->events, batch->n_events,
                 &b->claim_keyed))
        return; /* no memory: the same gap */
    uint64_t now_ms = polku_now_ms(); /* (a batch takes milliseconds) */
    for (size_t i = 0; i < batch->n_events; i++) {
        const ra_event *e = ra_get(b->ahead, i);
        if (e->ours) { /* decoded, an event, its own */
            if (chain_refuses_event(b, rid, rid_len, idx, e->env,
                                    batch->events[i].data,
                                    batch->events[i].len, e->hash, now_ms))
                break;
            note_seen(b, idx, e->env);
            replay_event(b, e, batch->events[i].data, batch->events[i].len);
        }
        decide_woken(b);
    }
    ra_end(b->ahead);
    /* a batch is thousands of events (milliseconds): once a turn has
     * folded for REPLAY_SLICE_MS the next message waits for the next loop
     * turn, so that other agents' Hellos, the authentication of their
     * handshakes (ZAP) and timers are answered between slices of a
     * rebuild, not after hundreds of batches */
    if (b->router_watch &&
        polku_mono_ms() - b->replay_slice_ms >= REPLAY_SLICE_MS) {
        polku_zwatch_yield(b->router_watch);
        b->replay_slice_ms = 0;
    }
    /* the next batches' pages, in one call, on the replay thread */
    uintptr_t from;
    size_t len;
    if (heap_warm_take(&b->heap, &from, &len))
        ra_populate(b->ahead, from, len);
    if (ra_populate_refused(b->ahead))
        b->heap.off = true;
    route *r = &b->routes.by_org[idx];
    r->replayed_events += batch->n_events;
    uint64_t now = polku_mono_ms();
    if (now - r->progress_logged_ms >= REPLAY_PROGRESS_MS) {
        r->progress_logged_ms = now;
        uint64_t expected = r->last_seq >= r->replay_from
                                ? r->last_seq - r->replay_from + 1
                                : 0;
        log_info("%s: replayed %llu of %llu events", org, r->replayed_events,
                 (unsigned long long)expected);
    }
}

#define REPLAY_GAP_RETRIES 3

/* The replay ends; a gap in what was applied (a batch lost or unreadable)
 * is asked for again from its first seq. */
static void on_replay_done(broker *b, const uint8_t *rid, size_t rid_len,
                           int idx, const polku_envelope *env)
{
    route *r = &b->routes.by_org[idx];
    const char *org = b->cfg->orgs[idx].id;
    if (!replay_answers_ours(b, idx, &env->replay_done->answers))
        return;
    uint64_t last = env->replay_done->last_seq;
    uint64_t have = pi_contiguous(b->paths, org);
    if (last > r->last_seq)
        r->last_seq = last;
    if (r->replayed && !r->added_live)
        return;
    if (have < last && r->gap_retries < REPLAY_GAP_RETRIES) {
        r->gap_retries++;
        r->gaps_detected++;
        log_warn("%s: replay left a gap after seq %llu (last %llu): asking "
                 "again from %llu",
                 org, (unsigned long long)have, (unsigned long long)last,
                 (unsigned long long)(have + 1));
        r->replay_requested = false;
        request_replay(b, rid, rid_len, idx);
        return;
    }
    if (have < last) /* the retries ran out: say so, do not block */
        log_warn("%s: replay done with a gap after seq %llu (last %llu) "
                 "after %u retries",
                 org, (unsigned long long)have, (unsigned long long)last,
                 r->gap_retries);
    else
        log_info("%s: replay done, %llu events from seq %llu (last seq %llu)",
                 org, r->replayed_events, (unsigned long long)r->replay_from,
                 (unsigned long long)last);
    r->replayed = true;
    r->added_live = false;
    decide_held_after(b, org);
    if (r->events_refused)
        log_warn("%s: %llu events of its log refused by the writer rules "
                 "(alert events_refused)",
                 org, r->events_refused);
}

static Polku__NackCode decode_error_code(int rc)
{
    if (rc == POLKU_ETOOLARGE)
        return POLKU__NACK_CODE__NACK_TOO_LARGE;
    if (rc == POLKU_EVERSION)
        return POLKU__NACK_CODE__NACK_UNSUPPORTED_VERSION;
    return POLKU__NACK_CODE__NACK_MALFORMED;
}

static void on_event(broker *b, const uint8_t *r, size_t rl, const char *sender,
                     const polku_envelope *env, const frame_bytes *payload)
{
    if (env->origin_seq == 0) {
        b->counters.rejected++;
        send_nack(b, r, rl, sender, POLKU__NACK_CODE__NACK_MALFORMED, 0, NULL,
                  "an event needs an origin sequence");
        return;
    }
    if (gate_carries_clear_text(env)) {
        b->counters.rejected++;
        for (size_t i = 0; i < env->n_to; i++)
            send_nack(b, r, rl, sender, POLKU__NACK_CODE__NACK_MALFORMED,
                      env->origin_seq, env->to[i], "free text must be sealed");
        if (env->n_to == 0)
            send_nack(b, r, rl, sender, POLKU__NACK_CODE__NACK_MALFORMED,
                      env->origin_seq, "", "free text must be sealed");
        return;
    }
    if (env->n_to == 0)
        on_broker_event(b, r, rl, sender, env);
    else
        route_event(b, r, rl, sender, env, payload);
}

#define CLOCK_SKEW_WARN_MS 60000 /* an agent's clock this far off is said */

/* A Hello or heartbeat is sent when it is stamped: its time against ours
 * is the agent's clock offset (loopback or LAN: the transit is noise). */
static void note_clock(broker *b, int idx, const polku_envelope *env)
{
    if (!env->time_ms)
        return;
    route *r = &b->routes.by_org[idx];
    int64_t offset = (int64_t)env->time_ms - (int64_t)polku_now_ms();
    r->clock_offset_ms = offset;
    bool skewed = offset > CLOCK_SKEW_WARN_MS || offset < -CLOCK_SKEW_WARN_MS;
    if (skewed && !r->clock_skew_logged)
        log_warn("%s: its clock is %lld s %s the broker's; SLA ages of its "
                 "events are corrected by it",
                 b->cfg->orgs[idx].id,
                 (long long)(offset < 0 ? -offset : offset) / 1000,
                 offset < 0 ? "behind" : "ahead of");
    else if (!skewed && r->clock_skew_logged)
        log_info("%s: its clock agrees with the broker's again",
                 b->cfg->orgs[idx].id);
    r->clock_skew_logged = skewed;
}

/* The highest seq the broker has seen from the org in this epoch. A
 * regressed store's event at or past what it was told, written by a newer
 * incarnation than the one found regressed, ends the regression. */
static void note_seen(broker *b, int idx, const polku_envelope *ev)
{
    route *rt = &b->routes.by_org[idx];
    uint64_t seq = ev->origin_seq;
    if (seq > rt->seen_seq)
        rt->seen_seq = seq;
    if (rt->regressed_to && !rt->regression_over && seq >= rt->regressed_to &&
        ev->origin_incarnation != rt->regressed_incarnation) {
        log_info("%s: its log is past seq %llu again (new incarnation "
                 "%016llx): the store is in step",
                 b->cfg->orgs[idx].id, (unsigned long long)rt->regressed_to,
                 (unsigned long long)ev->origin_incarnation);
        rt->regression_over = true;
    }
}

/* The org's store went back in time: its log is at from, others hold it
 * up to to. Alerted (store_regressed) until the org's log is past to
 * again, in a new incarnation. */
static void mark_regressed(broker *b, int idx, uint64_t from, uint64_t to)
{
    route *rt = &b->routes.by_org[idx];
    bool ongoing = rt->regressed_to && !rt->regression_over;
    if (!rt->regressed_to) {
        rt->regressions++;
        rt->regressed_since_ms = polku_now_ms();
    }
    if (!ongoing || to > rt->regressed_to) {
        rt->regressed_from = from;
        rt->regressed_to = to;
    }
    rt->regressed_incarnation = rt->incarnation;
    rt->regression_over = rt->regression_reported = false;
    if (!ongoing)
        b->counters.store_regressions++;
}

/* A Hello below what the broker has seen from the org in this epoch: its
 * store went back in time (a restored backup or VM snapshot). Welcomed all
 * the same, told how far the broker has seen, so the agent continues after
 * that and never reuses a sequence its receivers hold; alerted until it
 * does. Returns the known seq the Welcome carries. */
static uint64_t note_hello(broker *b, int idx, const Polku__Hello *hello)
{
    route *rt = &b->routes.by_org[idx];
    const char *org = b->cfg->orgs[idx].id;
    uint64_t known = rt->seen_seq;
    uint64_t applied = pi_contiguous(b->paths, org);
    if (applied > known)
        known = applied;
    rt->incarnation = hello->incarnation;
    if (hello->last_seq >= known)
        return hello->last_seq;
    mark_regressed(b, idx, hello->last_seq, known);
    log_error("%s: its store has gone back in time: hello at seq %llu, the "
              "broker has seen up to %llu from it in this epoch; events "
              "%llu..%llu are not in its log any more (its receivers and "
              "the broker hold them); it continues after %llu",
              org, (unsigned long long)hello->last_seq,
              (unsigned long long)known,
              (unsigned long long)hello->last_seq + 1,
              (unsigned long long)known, (unsigned long long)known);
    return known;
}

/* A receiver holds another event of the origin at a sequence the origin
 * sent again: the origin's store went back in time where this broker did
 * not see it (it restarted in between, or the events were written before
 * the first Hello). Passed on like an Ack; the origin repairs its log
 * (continues after held_through); alerted until it has. */
static void on_seq_conflict(broker *b, int idx, const polku_envelope *env,
                            const frame_bytes *payload)
{
    const Polku__SeqConflict *sc = env->seq_conflict;
    int origin = routes_org_index(&b->routes, sc->origin_org);
    if (origin < 0 || origin == idx)
        return; /* the codec checked the name; not one of ours, or itself */
    b->counters.seq_conflicts++;
    route *rt = &b->routes.by_org[origin];
    if (!rt->regressed_to || rt->regression_over)
        log_error("%s holds another event of %s at seq %llu than the one "
                  "%s sends now (it holds %s's log up to %llu): %s's store "
                  "went back in time without this broker seeing it; told "
                  "to continue after %llu",
                  b->cfg->orgs[idx].id, sc->origin_org,
                  (unsigned long long)sc->origin_seq, sc->origin_org,
                  sc->origin_org, (unsigned long long)sc->held_through,
                  sc->origin_org, (unsigned long long)sc->held_through);
    mark_regressed(b, origin, sc->origin_seq - 1, sc->held_through + 1);
    if (forward(b, sc->origin_org, payload, 0) == 0)
        b->counters.acks_routed++;
}

/* ---- the hash chain (heads.h): every log must extend what the broker
 * witnessed; one that does not is refused with log_diverged ---- */

static void refuse_diverged(broker *b, const uint8_t *rid, size_t rid_len,
                            int idx, uint64_t origin_seq)
{
    const char *org = b->cfg->orgs[idx].id;
    uint64_t seq = 0;
    const char *detail = "";
    heads_diverged(b->heads, org, &seq, NULL, &detail);
    char reason[200];
    snprintf(reason, sizeof reason,
             "the event log does not extend the chain the broker knows: %s",
             detail);
    send_nack(b, rid, rid_len, org, POLKU__NACK_CODE__NACK_LOG_DIVERGED,
              origin_seq, "", reason);
}

static bool chain_refuses_event(broker *b, const uint8_t *rid, size_t rid_len,
                                int idx, const polku_envelope *ev,
                                const void *data, size_t len,
                                const uint8_t *hash, uint64_t now_ms)
{
    route *rt = &b->routes.by_org[idx];
    const char *org = b->cfg->orgs[idx].id;
    bool regressed = rt->regressed_to != 0;
    heads_verdict v =
        hash ? heads_note_event_hashed(b->heads, org, ev, hash, regressed,
                                       now_ms)
             : heads_note_event(b->heads, org, ev, data, len, regressed,
                                now_ms);
    if (v != HEADS_DIVERGED)
        return false;
    refuse_diverged(b, rid, rid_len, idx, ev->origin_seq);
    if (!rt->replayed) { /* the rest of the region does not wait for it */
        rt->replayed = true;
        rt->added_live = false;
        router_decide_held(b);
    }
    return true;
}

/* A Hello: the heads other organisations held (so a rebuilt broker learns
 * them again), then the org's own head. A diverged org is refused, unless
 * it comes back with a new incarnation: its store was restored
 * (`polku-agent --restore`), the operator's step that re-anchors it. */
static bool chain_admits_hello(broker *b, const uint8_t *rid, size_t rid_len,
                               int idx, const Polku__Hello *hello)
{
    const char *org = b->cfg->orgs[idx].id;
    uint64_t now = polku_now_ms();
    if (heads_diverged(b->heads, org, NULL, NULL, NULL) &&
        hello->incarnation != heads_diverged_incarnation(b->heads, org)) {
        log_error("%s: comes back with a new incarnation %016llx after its "
                  "log diverged: a restored store, re-anchored; check with "
                  "the organisation that this was its operator's restore",
                  org, (unsigned long long)hello->incarnation);
        heads_reanchor(b->heads, org);
    }
    for (size_t i = 0; i < hello->n_held; i++)
        if (strcmp(hello->held[i]->org, org) != 0)
            heads_note_head(b->heads, b->cfg, hello->held[i], false, now);
    if (hello->chain && strcmp(hello->chain->org, org) == 0)
        heads_note_head(b->heads, b->cfg, hello->chain, true, now);
    if (!heads_diverged(b->heads, org, NULL, NULL, NULL))
        return true;
    refuse_diverged(b, rid, rid_len, idx, 0);
    return false;
}

static void chain_note_heartbeat(broker *b, const uint8_t *rid, size_t rid_len,
                                 int idx, const Polku__Heartbeat *hb)
{
    const char *org = b->cfg->orgs[idx].id;
    if (hb->chain && strcmp(hb->chain->org, org) == 0)
        heads_note_head(b->heads, b->cfg, hb->chain, true, polku_now_ms());
    if (heads_diverged(b->heads, org, NULL, NULL, NULL))
        refuse_diverged(b, rid, rid_len, idx, 0);
}

static void dispatch(broker *b, zmq_msg_t *rid, int idx, polku_envelope *env,
                     const frame_bytes *payload)
{
    const char *sender = b->cfg->orgs[idx].id;
    const uint8_t *r = zmq_msg_data(rid);
    size_t rl = zmq_msg_size(rid);
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_HELLO:
        note_clock(b, idx, env);
        b->counters.hellos++;
        b->routes.by_org[idx].bundles = env->hello->bundles;
        log_info("%s: hello, last seq %llu, incarnation %016llx", sender,
                 (unsigned long long)env->hello->last_seq,
                 (unsigned long long)env->hello->incarnation);
        if (!chain_admits_hello(b, r, rl, idx, env->hello))
            break;
        send_welcome(b, r, rl, sender, note_hello(b, idx, env->hello));
        if (env->hello->last_seq > b->routes.by_org[idx].last_seq)
            b->routes.by_org[idx].last_seq = env->hello->last_seq;
        request_replay(b, r, rl, idx);
        break;
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        note_clock(b, idx, env); /* and the route was refreshed */
        chain_note_heartbeat(b, r, rl, idx, env->heartbeat);
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_BATCH:
        on_replay_batch(b, r, rl, idx, env);
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_DONE:
        on_replay_done(b, r, rl, idx, env);
        break;
    case POLKU__ENVELOPE__BODY_ACK:
        route_ack(b, env, payload);
        break;
    case POLKU__ENVELOPE__BODY_SEQ_CONFLICT:
        on_seq_conflict(b, idx, env, payload);
        break;
    case POLKU__ENVELOPE__BODY_PATH_QUERY:
        on_path_query(b, r, rl, sender, env);
        break;
    case POLKU__ENVELOPE__BODY_ACCESS_QUERY:
        access_on_query(b, r, rl, sender, env);
        break;
    case POLKU__ENVELOPE__BODY_ACCESS_ANSWER:
        access_on_answer(b, sender, env, payload->data, payload->len);
        break;
    default:
        if (polku_body_is_event(env->body_case)) {
            /* while its replay runs, live events (its outbox, resent)
             * would move the chain's tip past what the replay checks */
            if (b->routes.by_org[idx].replayed &&
                chain_refuses_event(b, r, rl, idx, env, payload->data,
                                    payload->len, NULL, polku_now_ms()))
                break;
            note_seen(b, idx, env);
            on_event(b, r, rl, sender, env, payload);
            break;
        }
        b->counters.rejected++;
        send_nack(b, r, rl, sender, POLKU__NACK_CODE__NACK_MALFORMED,
                  env->origin_seq, NULL,
                  "message type not accepted from an agent");
        break;
    }
}

/* One message from org idx (a frame, or one message of its Bundle):
 * decoded, its origin checked, dispatched. */
/* The decoded frame is forgotten: its arena reset, or freed. */
static void frame_done(broker *b, polku_envelope **env, bool in_arena)
{
    if (!in_arena) {
        polku_envelope_free(env);
        return;
    }
    *env = NULL;
    polku_arena_reset(b->frame_arena);
    b->frame_arena_busy = false;
}

static void on_payload(broker *b, zmq_msg_t *rid, int idx, const char *sender,
                       const frame_bytes *payload, bool in_bundle)
{
    polku_envelope *env = NULL;
    char why[128] = "";
    /* a frame (a replay batch: thousands of byte fields) decodes into the
     * frame arena, forgotten when it has been handled; a message of a
     * bundle, decoded while its frame is handled, on the heap */
    bool in_arena = !b->frame_arena_busy;
    int rc =
        in_arena
            ? polku_envelope_decode_in(b->frame_arena, payload->data,
                                       payload->len, b->cfg->max_frame, &env,
                                       why, sizeof why)
            : polku_envelope_decode(payload->data, payload->len,
                                    b->cfg->max_frame, &env, why, sizeof why);
    if (in_arena)
        b->frame_arena_busy = true;
    if (rc == 0 && in_bundle &&
        env->body_case == POLKU__ENVELOPE__BODY_BUNDLE) {
        snprintf(why, sizeof why, "a bundle inside a bundle");
        rc = POLKU_EMALFORMED;
    }
    if (rc) {
        b->counters.rejected++;
        if (polku_log_limit_allow(&b->frame_log, REFUSAL_LOG_PER_S,
                                  "refused frames"))
            log_warn("%s: frame refused: %s", sender, why);
        send_nack(b, zmq_msg_data(rid), zmq_msg_size(rid), sender,
                  decode_error_code(rc), env ? env->origin_seq : 0, NULL, why);
        frame_done(b, &env, in_arena);
        return;
    }
    if (strcmp(env->origin_org, sender) != 0) {
        b->counters.rejected++;
        if (polku_log_limit_allow(&b->frame_log, REFUSAL_LOG_PER_S,
                                  "refused frames"))
            log_warn("%s: envelope claims another origin, refused", sender);
        send_nack(b, zmq_msg_data(rid), zmq_msg_size(rid), sender,
                  POLKU__NACK_CODE__NACK_ORIGIN_MISMATCH, env->origin_seq, NULL,
                  "origin_org differs from the authenticated "
                  "organisation");
    } else if (env->body_case == POLKU__ENVELOPE__BODY_BUNDLE) {
        b->counters.bundles_in++;
        const Polku__Bundle *bundle = env->bundle;
        for (size_t i = 0; i < bundle->n_messages; i++) {
            frame_bytes inner = {bundle->messages[i].data,
                                 bundle->messages[i].len};
            on_payload(b, rid, idx, sender, &inner, true);
        }
    } else {
        dispatch(b, rid, idx, env, payload);
    }
    frame_done(b, &env, in_arena);
}

void router_on_message(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                       void *arg)
{
    broker *b = arg;
    (void)zw;
    b->counters.frames_in++;
    if (nframes != 2) {
        b->counters.rejected++;
        return;
    }
    zmq_msg_t *rid = &frames[0], *payload = &frames[1];
    const char *sender = zmq_msg_gets(payload, "User-Id");
    int idx = sender ? routes_org_index(&b->routes, sender) : -1;
    if (idx < 0) {
        /* A connection authenticated before its organisation was removed
         * from the directory (reload.h); without ZAP's User-Id it cannot
         * happen. Never routed: told so, each frame. */
        b->counters.rejected++;
        if (sender && *sender)
            router_refuse_removed(b, zmq_msg_data(rid), zmq_msg_size(rid),
                                  sender);
        else
            b->counters.nacks[POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED]++;
        return;
    }
    if (!pair_admit(b, zmq_msg_data(rid), zmq_msg_size(rid), sender))
        return; /* passive: answered Nack broker_passive, nothing else */
    if (rotation_refuses(b, idx, rid, payload) ||
        !learn_route(b, idx, rid, payload))
        return;
    if (b->dump) {
        fwrite(zmq_msg_data(payload), 1, zmq_msg_size(payload), b->dump);
        fflush(b->dump);
    }
    frame_bytes bytes = {zmq_msg_data(payload), zmq_msg_size(payload)};
    on_payload(b, rid, idx, sender, &bytes, false);
}

/* ---- sending what the turn gathered ---- */

static bool route_bundles(void *arg, int dest)
{
    const broker *b = arg;
    return (size_t)dest < b->routes.count && b->routes.by_org[dest].bundles;
}

static int route_send(void *arg, int dest, const uint8_t *data, size_t len)
{
    broker *b = arg;
    if ((size_t)dest >= b->routes.count)
        return ENOENT;
    const route *r = &b->routes.by_org[dest];
    return send_now(b, r->routing_id, r->routing_id_len, data, len);
}

/* A queued message did not leave: the destination is marked offline if its
 * connection is gone, and a forwarded event is Nacked to its sender (who
 * keeps it and retries) as forward() would have. */
static void route_send_failed(void *arg, int dest, uint64_t tag, int err)
{
    broker *b = arg;
    b->counters.send_failures++;
    route *r = &b->routes.by_org[dest];
    const char *dest_org = b->cfg->orgs[dest].id;
    if (err == EHOSTUNREACH && r->connected) {
        log_info("%s: connection gone, marked offline", dest_org);
        r->connected = false;
    }
    if (tag == 0)
        return; /* an ack or an answer: its sender sends again */
    size_t origin = (size_t)(tag >> FORWARD_TAG_SEQ_BITS) - 1;
    if (origin >= b->routes.count || !b->routes.by_org[origin].connected)
        return;
    Polku__NackCode code = err == EHOSTUNREACH
                               ? POLKU__NACK_CODE__NACK_RETRY_LATER
                               : POLKU__NACK_CODE__NACK_OVERLOADED;
    char reason[128];
    snprintf(reason, sizeof reason, "%s: %s", dest_org, gate_nack_reason(code));
    const route *o = &b->routes.by_org[origin];
    send_nack(b, o->routing_id, o->routing_id_len, b->cfg->orgs[origin].id,
              code, tag & ((1ULL << FORWARD_TAG_SEQ_BITS) - 1), dest_org,
              reason);
}

void router_flush(broker *b)
{
    if (!b->outq)
        return;
    polku_outq_sink sink = {route_bundles, route_send, route_send_failed, b,
                            ""};
    /* failures queue Nacks: a second round sends them */
    for (int round = 0; round < 2 && polku_outq_pending(b->outq); round++)
        polku_outq_flush(b->outq, &sink);
}
