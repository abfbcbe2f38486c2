/* inbox_test.c — what arrives at an organisation: events of the others,
 * the broker's acks and its nacks.
 *
 * Every event is acknowledged unless the store failed, so the sender never
 * resends forever; its receipt (origin, seq) is what makes a resend a
 * duplicate that changes nothing, and receipts must be per origin, since
 * every organisation numbers its events from 1. One table routes each body
 * to its module: a body no module takes is acknowledged and changes
 * nothing. An ack ends exactly the outbox entry it names; a nack that ends
 * a delivery ends the entry and shows on the record it was about, never a
 * silent drop. These cases pin that routing (one family each), the
 * receipts, and the acks and nacks as the outbox sees them after the
 * commit (the fixture's outbox never sends: entries stay until acked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "consents.h"
#include "domain_fixture.h"
#include "handovers.h"
#include "paths.h"
#include "polku/error.h"
#include "referrals.h"

/* A synthetic client key: 16 bytes, no identity code behind it. */
static const uint8_t CLIENT[16] = {0xc1, 0x1e, 0x47, 0x04, 0x5e, 0xed,
                                   0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
                                   0x36, 0x37, 0x38, 0x39};

typedef struct world {
    fx_region r;
    fx_org *sote, *kela, *typ;
    uint8_t consent[16]; /* sote's consent naming all three */
    uint64_t consent_seq;
} world;

/* ---- the calls, each run as one batch item ---- */

static int ack_fn(domain *d, MDB_txn *txn, void *ctx)
{
    return inbox_ack(d, txn, ctx);
}

static int nack_fn(domain *d, MDB_txn *txn, void *ctx)
{
    return inbox_undeliverable(d, txn, ctx);
}

typedef struct claim_call {
    domain_refusal why;
    Polku__PathRecord *p;
    bool decided;
} claim_call;

static int claim_fn(domain *d, MDB_txn *txn, void *ctx)
{
    claim_call *c = ctx;
    return paths_claim(d, txn, CLIENT, &c->why, &c->p, &c->decided);
}

typedef struct referral_call {
    referral_new n;
    Polku__ReferralRecord *r;
} referral_call;

static int referral_fn(domain *d, MDB_txn *txn, void *ctx)
{
    referral_call *c = ctx;
    return referrals_create(d, txn, &c->n, &c->r);
}

typedef struct offer_call {
    handover_new n;
    domain_refusal why;
    Polku__HandoverRecord *h;
} offer_call;

static int offer_fn(domain *d, MDB_txn *txn, void *ctx)
{
    offer_call *c = ctx;
    return handovers_offer(d, txn, &c->n, &c->why, &c->h);
}

typedef struct plan_call {
    domain_refusal why;
    Polku__PathRecord *p;
} plan_call;

static int plan_fn(domain *d, MDB_txn *txn, void *ctx)
{
    plan_call *c = ctx;
    return paths_plan(d, txn, CLIENT, "plan-3", 3, 0, &c->why, &c->p);
}

typedef struct revoke_call {
    const uint8_t *id;
    Polku__ConsentRecord *r;
} revoke_call;

static int revoke_fn(domain *d, MDB_txn *txn, void *ctx)
{
    revoke_call *c = ctx;
    return consents_revoke(d, txn, c->id, "client asked", &c->r);
}

/* ---- helpers ---- */

/* o claims the client; the claim's event seq. */
static uint64_t claim(fx_org *o)
{
    claim_call c = {0};
    assert_int_equal(fx_run(o, claim_fn, &c), POLKU_OK);
    uint64_t seq = c.p->claim_seq;
    assert_int_equal(seq, fx_last_seq(o));
    polku__path_record__free_unpacked(c.p, NULL);
    return seq;
}

/* o claims and the broker answers "won" at term 1. */
static void coordinate(fx_org *o)
{
    assert_int_equal(fx_coordinate(o, CLIENT, 1), POLKU_OK);
}

/* sote refers the client to kela: the referral's id and event seq. */
static uint64_t refer(world *w, uint8_t id[16])
{
    referral_call c = {.n = {.to = "kela",
                             .service = "rehab",
                             .reason = "back pain",
                             .urgency = "routine"}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, referral_fn, &c), POLKU_OK);
    memcpy(id, c.r->id.data, 16);
    polku__referral_record__free_unpacked(c.r, NULL);
    return fx_last_seq(w->sote);
}

/* sote offers the client to kela: the handover's id and event seq. */
static uint64_t offer(world *w, uint8_t id[16])
{
    offer_call c = {.n = {.to = "kela", .note = "plan attached"}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, offer_fn, &c), POLKU_OK);
    memcpy(id, c.h->id.data, 16);
    polku__handover_record__free_unpacked(c.h, NULL);
    return fx_last_seq(w->sote);
}

/* o's event seq applied at to: the outcome (the call must succeed). */
static inbox_outcome pass(fx_org *o, uint64_t seq, fx_org *to)
{
    polku_envelope *ev = fx_event(o, seq);
    assert_non_null(ev);
    inbox_outcome out = INBOX_DUPLICATE;
    int rc = fx_inbox(to, ev, &out);
    polku_envelope_free(&ev);
    assert_int_equal(rc, POLKU_OK);
    return out;
}

/* An Ack of ack_origin's event seq, as sent by from ("" the broker). */
static int ack(fx_org *o, const char *from, const char *ack_origin,
               uint64_t seq)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Ack a = POLKU__ACK__INIT;
    char *to[1] = {o->cfg.org};
    env.origin_org = (char *)from;
    env.to = to;
    env.n_to = 1;
    a.origin_org = (char *)ack_origin;
    a.origin_seq = seq;
    env.body_case = POLKU__ENVELOPE__BODY_ACK;
    env.ack = &a;
    return fx_run(o, ack_fn, &env);
}

static int nack(fx_org *o, Polku__NackCode code, uint64_t seq, const char *dest)
{
    Polku__Nack n = POLKU__NACK__INIT;
    n.code = code;
    n.origin_seq = seq;
    n.dest_org = (char *)dest;
    n.reason = (char *)"refused";
    return fx_run(o, nack_fn, &n);
}

static bool owed(fx_org *o, uint64_t seq, const char *dest)
{
    size_t len = 0;
    return outbox_find(&o->ob, seq, dest, &len) != NULL;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    fx_region_init(&w->r, 3, (const char *const[]){"sote", "kela", "typ"},
                   (const char *const[]){NULL, "rehab", NULL});
    w->sote = fx_org_of(&w->r, "sote");
    w->kela = fx_org_of(&w->r, "kela");
    w->typ = fx_org_of(&w->r, "typ");
    *state = w;
    return 0;
}

/* sote records a consent naming all three; not yet delivered. */
static int setup_consent(void **state)
{
    setup(state);
    world *w = *state;
    assert_int_equal(
        fx_consent_grant(w->sote, CLIENT,
                         (const char *const[]){"sote", "kela", "typ", NULL},
                         w->consent),
        POLKU_OK);
    w->consent_seq = fx_last_seq(w->sote);
    return 0;
}

/* ... and every organisation knows it. */
static int setup_settled(void **state)
{
    setup_consent(state);
    world *w = *state;
    fx_settle(&w->r);
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    fx_region_fini(&w->r);
    free(w);
    return 0;
}

/* ---- the body table: one family each ---- */

static void consent_events_are_applied_by_consents(void **state)
{
    world *w = *state;
    assert_null(fx_consent(w->kela, w->consent));
    assert_int_equal(pass(w->sote, w->consent_seq, w->kela), INBOX_APPLIED);
    Polku__ConsentRecord *c = fx_consent(w->kela, w->consent);
    assert_non_null(c);
    assert_string_equal(c->recorded_by, "sote");
    assert_false(c->revoked);
    polku__consent_record__free_unpacked(c, NULL);

    revoke_call rv = {.id = w->consent};
    assert_int_equal(fx_run(w->sote, revoke_fn, &rv), POLKU_OK);
    polku__consent_record__free_unpacked(rv.r, NULL);
    assert_int_equal(pass(w->sote, fx_last_seq(w->sote), w->kela),
                     INBOX_APPLIED);
    c = fx_consent(w->kela, w->consent);
    assert_true(c->revoked);
    assert_string_equal(c->revoked_by, "sote");
    polku__consent_record__free_unpacked(c, NULL);
}

static void referral_events_are_applied_by_referrals(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_null(fx_referral(w->kela, id));
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_APPLIED);
    Polku__ReferralRecord *r = fx_referral(w->kela, id);
    assert_non_null(r);
    assert_false(r->outgoing);
    assert_int_equal(r->status, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED);
    polku__referral_record__free_unpacked(r, NULL);
    /* and kela's status event back to sote */
    assert_int_equal(pass(w->kela, fx_last_seq(w->kela), w->sote),
                     INBOX_APPLIED);
    r = fx_referral(w->sote, id);
    assert_int_equal(r->status, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED);
    polku__referral_record__free_unpacked(r, NULL);
}

static void handover_events_are_applied_by_handovers(void **state)
{
    world *w = *state;
    coordinate(w->sote);
    uint8_t id[16];
    uint64_t seq = offer(w, id);
    assert_null(fx_handover(w->kela, id));
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_APPLIED);
    Polku__HandoverRecord *h = fx_handover(w->kela, id);
    assert_non_null(h);
    assert_int_equal(h->status, POLKU__HANDOVER_STATE__HANDOVER_OFFERED);
    assert_string_equal(h->note, "plan attached");
    polku__handover_record__free_unpacked(h, NULL);
}

static void plan_events_are_applied_by_paths(void **state)
{
    world *w = *state;
    coordinate(w->sote);
    plan_call c = {0};
    assert_int_equal(fx_run(w->sote, plan_fn, &c), POLKU_OK);
    polku__path_record__free_unpacked(c.p, NULL);
    assert_null(fx_path(w->kela, CLIENT));
    assert_int_equal(pass(w->sote, fx_last_seq(w->sote), w->kela),
                     INBOX_APPLIED);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_non_null(p);
    assert_non_null(p->plan);
    assert_string_equal(p->plan->plan_id, "plan-3");
    assert_string_equal(p->plan->org, "sote");
    polku__path_record__free_unpacked(p, NULL);
}

static void
a_body_for_no_agent_module_is_acknowledged_and_changes_nothing(void **state)
{
    world *w = *state;
    uint64_t seq = claim(w->sote); /* a claim is for the broker */
    uint64_t kela_seq = fx_last_seq(w->kela);
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_NOT_APPLICABLE);
    assert_int_equal(fx_last_seq(w->kela), kela_seq);
    assert_null(fx_path(w->kela, CLIENT));
    /* received all the same: a resend is a duplicate */
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_DUPLICATE);
}

static void an_event_that_cannot_apply_here_is_not_applicable(void **state)
{
    world *w = *state;
    /* a consent that does not name kela */
    uint8_t id[16];
    assert_int_equal(
        fx_consent_grant(w->sote, CLIENT,
                         (const char *const[]){"sote", "typ", NULL}, id),
        POLKU_OK);
    assert_int_equal(pass(w->sote, fx_last_seq(w->sote), w->kela),
                     INBOX_NOT_APPLICABLE);
    assert_null(fx_consent(w->kela, id));
}

/* ---- receipts ---- */

static void the_same_event_twice_is_a_duplicate(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_APPLIED);
    uint64_t kela_seq = fx_last_seq(w->kela);
    Polku__ReferralRecord *before = fx_referral(w->kela, id);
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_DUPLICATE);
    Polku__ReferralRecord *after = fx_referral(w->kela, id);
    assert_int_equal(fx_last_seq(w->kela), kela_seq); /* no second status */
    assert_int_equal(after->version, before->version);
    assert_int_equal(after->n_history, before->n_history);
    polku__referral_record__free_unpacked(before, NULL);
    polku__referral_record__free_unpacked(after, NULL);
}

/* Another event at a sequence already received (the sender's store went
 * back in time and reused it) is neither applied nor taken for a
 * duplicate: a conflict, which the link leaves unacknowledged. */
static void another_event_at_a_received_seq_is_a_conflict(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_APPLIED);
    uint64_t kela_seq = fx_last_seq(w->kela);
    polku_envelope *ev = fx_event(w->sote, seq);
    assert_non_null(ev);
    uint8_t other_id[16];
    memcpy(other_id, ev->msg_id.data, 16);
    other_id[15] ^= 0xff; /* another message at the same (origin, seq) */
    memcpy(ev->msg_id.data, other_id, 16);
    ev->referral_requested->referral_id.data[15] ^= 0xff; /* a new referral */
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, ev, &out), POLKU_OK);
    assert_int_equal(out, INBOX_CONFLICT);
    Polku__ReferralRecord *r =
        fx_referral(w->kela, ev->referral_requested->referral_id.data);
    assert_null(r); /* not applied */
    assert_int_equal(fx_last_seq(w->kela), kela_seq);
    polku_envelope_free(&ev);
    /* the original event again is still a plain duplicate */
    assert_int_equal(pass(w->sote, seq, w->kela), INBOX_DUPLICATE);
}

static void the_same_seq_from_another_origin_is_not_a_duplicate(void **state)
{
    world *w = *state;
    uint8_t typ_consent[16];
    assert_int_equal(
        fx_consent_grant(w->typ, CLIENT,
                         (const char *const[]){"typ", "kela", NULL},
                         typ_consent),
        POLKU_OK);
    /* both first events of their logs */
    assert_int_equal(fx_last_seq(w->typ), w->consent_seq);
    assert_int_equal(pass(w->sote, w->consent_seq, w->kela), INBOX_APPLIED);
    assert_int_equal(pass(w->typ, fx_last_seq(w->typ), w->kela), INBOX_APPLIED);
    Polku__ConsentRecord *c = fx_consent(w->kela, typ_consent);
    assert_non_null(c);
    assert_string_equal(c->recorded_by, "typ");
    polku__consent_record__free_unpacked(c, NULL);
}

/* ---- a store that went back in time ---- */

/* kela's store went back in time and asks sote for what sote addressed to
 * it from seq from on: each such event is owed to kela again, nothing
 * else is. */
static void a_resend_request_owes_again_what_was_sent_to_the_asker(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_int_equal(ack(w->sote, "kela", "sote", w->consent_seq), POLKU_OK);
    assert_int_equal(ack(w->sote, "kela", "sote", seq), POLKU_OK);
    assert_false(owed(w->sote, seq, "kela"));
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ResendRequested rr = POLKU__RESEND_REQUESTED__INIT;
    uint8_t msg_id[16] = {0x5e, 0x4d};
    char *to[1] = {"sote"};
    env.origin_org = "kela";
    env.origin_seq = 40;
    env.msg_id = (ProtobufCBinaryData){16, msg_id};
    env.n_to = 1;
    env.to = to;
    rr.from_seq = seq; /* kela holds sote's log up to seq - 1 */
    env.body_case = POLKU__ENVELOPE__BODY_RESEND_REQUESTED;
    env.resend_requested = &rr;
    inbox_outcome out = INBOX_DUPLICATE;
    assert_int_equal(fx_inbox(w->sote, &env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_true(owed(w->sote, seq, "kela"));
    assert_false(owed(w->sote, w->consent_seq, "kela")); /* before from */
    assert_true(owed(w->sote, w->consent_seq, "typ"));   /* untouched */
    /* asked twice (a duplicate): owed once, as before */
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(fx_inbox(w->sote, &env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);
    assert_int_equal(outbox_pending(&w->sote->ob), pending);
}

typedef struct repair_call {
    uint64_t through;
    eventlog_repair_result res;
} repair_call;

static int repair_fn(domain *d, MDB_txn *txn, void *ctx)
{
    repair_call *c = ctx;
    return eventlog_repair(d->log, txn, c->through, "kela", &c->res);
}

/* kela holds sote's log two sequences past sote's own (sote's store went
 * back in time where no broker saw it): sote marks those two lost, sends
 * the referral still pending for kela again at a new sequence, in a new
 * incarnation, and is to ask the others for what it lost. */
static void
a_repair_sends_what_is_pending_again_after_what_others_hold(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_int_equal(ack(w->sote, "kela", "sote", w->consent_seq), POLKU_OK);
    uint64_t incarnation = w->sote->log.incarnation;
    repair_call c = {.through = seq + 2};
    assert_int_equal(fx_run(w->sote, repair_fn, &c), POLKU_OK);
    assert_int_equal(c.res.from_seq, seq);
    assert_int_equal(c.res.lost, 2);
    assert_int_equal(c.res.reemitted, 1);
    assert_int_equal(c.res.old_incarnation, incarnation);
    assert_int_not_equal(w->sote->log.incarnation, incarnation);
    assert_true(w->sote->log.resend_needed);
    assert_int_equal(fx_last_seq(w->sote), seq + 3);
    for (uint64_t lost = seq + 1; lost <= seq + 2; lost++) {
        polku_envelope *ev = fx_event(w->sote, lost);
        assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_SEQ_LOST);
        assert_int_equal(ev->n_to, 0);
        polku_envelope_free(&ev);
    }
    polku_envelope *again = fx_event(w->sote, seq + 3);
    assert_int_equal(again->body_case,
                     POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED);
    assert_memory_equal(again->referral_requested->referral_id.data, id, 16);
    assert_int_equal(again->origin_incarnation, w->sote->log.incarnation);
    polku_envelope_free(&again);
    assert_false(owed(w->sote, seq, "kela"));
    assert_true(owed(w->sote, seq + 3, "kela"));
    /* kela takes it once; it knew nothing of the first */
    assert_int_equal(pass(w->sote, seq + 3, w->kela), INBOX_APPLIED);
    Polku__ReferralRecord *r = fx_referral(w->kela, id);
    assert_non_null(r);
    polku__referral_record__free_unpacked(r, NULL);
}

/* ---- acks ---- */

static void an_ack_ends_the_outbox_entry_it_names(void **state)
{
    world *w = *state;
    /* the consent is owed to kela and to typ */
    assert_true(owed(w->sote, w->consent_seq, "kela"));
    assert_true(owed(w->sote, w->consent_seq, "typ"));
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(ack(w->sote, "kela", "sote", w->consent_seq), POLKU_OK);
    assert_false(owed(w->sote, w->consent_seq, "kela"));
    assert_true(owed(w->sote, w->consent_seq, "typ"));
    assert_int_equal(outbox_pending(&w->sote->ob), pending - 1);
    /* a repeated ack is fine and ends nothing more */
    assert_int_equal(ack(w->sote, "kela", "sote", w->consent_seq), POLKU_OK);
    assert_int_equal(outbox_pending(&w->sote->ob), pending - 1);
    assert_true(owed(w->sote, w->consent_seq, "typ"));
}

static void the_brokers_ack_ends_an_event_for_the_broker(void **state)
{
    world *w = *state;
    uint64_t seq = claim(w->sote);
    assert_true(owed(w->sote, seq, ""));
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(ack(w->sote, "", "sote", seq), POLKU_OK);
    assert_false(owed(w->sote, seq, ""));
    assert_int_equal(outbox_pending(&w->sote->ob), pending - 1);
}

static void an_ack_of_another_origins_event_is_invalid(void **state)
{
    world *w = *state;
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(ack(w->sote, "kela", "kela", w->consent_seq),
                     POLKU_EINVAL);
    assert_int_equal(outbox_pending(&w->sote->ob), pending);
    assert_true(owed(w->sote, w->consent_seq, "kela"));
}

/* ---- nacks ---- */

static void a_refused_referral_request_fails_the_referral(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_true(owed(w->sote, seq, "kela"));
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_UNKNOWN_ORG, seq, "kela"),
        POLKU_OK);
    assert_false(owed(w->sote, seq, "kela"));
    /* in its place the failure, an event for the broker alone */
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    assert_true(owed(w->sote, seq + 1, ""));
    assert_int_equal(outbox_pending(&w->sote->ob), pending);
    Polku__ReferralRecord *r = fx_referral(w->sote, id);
    assert_int_equal(r->status, POLKU__REFERRAL_STATE__REFERRAL_FAILED);
    assert_true(r->n_history > 0);
    assert_string_equal(r->history[r->n_history - 1]->reason, "unknown_org");
    polku__referral_record__free_unpacked(r, NULL);
}

static void a_nack_of_nothing_pending_is_not_found(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = refer(w, id);
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_UNKNOWN_ORG, seq + 100, "kela"),
        POLKU_ENOTFOUND);
    /* pending, but not to that destination */
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_UNKNOWN_ORG, seq, "typ"),
        POLKU_ENOTFOUND);
    Polku__ReferralRecord *r = fx_referral(w->sote, id);
    assert_int_equal(r->status, POLKU__REFERRAL_STATE__REFERRAL_REQUESTED);
    polku__referral_record__free_unpacked(r, NULL);
    /* no longer pending once acknowledged */
    assert_int_equal(ack(w->sote, "kela", "sote", seq), POLKU_OK);
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_UNKNOWN_ORG, seq, "kela"),
        POLKU_ENOTFOUND);
    r = fx_referral(w->sote, id);
    assert_int_equal(r->status, POLKU__REFERRAL_STATE__REFERRAL_REQUESTED);
    polku__referral_record__free_unpacked(r, NULL);
}

static void a_refused_handover_offer_fails_the_handover(void **state)
{
    world *w = *state;
    coordinate(w->sote);
    uint8_t id[16];
    uint64_t seq = offer(w, id);
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_CONSENT_REQUIRED, seq, "kela"),
        POLKU_OK);
    assert_false(owed(w->sote, seq, "kela"));
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_int_equal(h->status, POLKU__HANDOVER_STATE__HANDOVER_FAILED);
    assert_string_equal(h->reason, "consent_required");
    polku__handover_record__free_unpacked(h, NULL);
}

static void a_refused_claim_ends_refused(void **state)
{
    world *w = *state;
    uint64_t seq = claim(w->sote);
    assert_int_equal(
        nack(w->sote, POLKU__NACK_CODE__NACK_CONSENT_REQUIRED, seq, ""),
        POLKU_OK);
    assert_false(owed(w->sote, seq, ""));
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_int_equal(p->claim_outcome, POLKU__CLAIM_OUTCOME__CLAIM_REFUSED);
    assert_string_equal(p->coordinator, "");
    polku__path_record__free_unpacked(p, NULL);
    assert_int_equal(w->sote->claims_decided, 1);
}

static void a_refused_consent_is_marked_undelivered(void **state)
{
    world *w = *state;
    assert_int_equal(nack(w->sote, POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                          w->consent_seq, "typ"),
                     POLKU_OK);
    assert_false(owed(w->sote, w->consent_seq, "typ"));
    assert_true(owed(w->sote, w->consent_seq, "kela"));
    Polku__ConsentRecord *c = fx_consent(w->sote, w->consent);
    assert_int_equal(c->n_undelivered, 1);
    assert_string_equal(c->undelivered[0], "typ:unknown_org");
    polku__consent_record__free_unpacked(c, NULL);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup_settled, teardown)
#define FRESH(f) cmocka_unit_test_setup_teardown(f, setup_consent, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FRESH(consent_events_are_applied_by_consents),
        CASE(referral_events_are_applied_by_referrals),
        CASE(handover_events_are_applied_by_handovers),
        CASE(plan_events_are_applied_by_paths),
        CASE(a_body_for_no_agent_module_is_acknowledged_and_changes_nothing),
        CASE(an_event_that_cannot_apply_here_is_not_applicable),
        CASE(the_same_event_twice_is_a_duplicate),
        FRESH(the_same_seq_from_another_origin_is_not_a_duplicate),
        FRESH(an_ack_ends_the_outbox_entry_it_names),
        CASE(the_brokers_ack_ends_an_event_for_the_broker),
        FRESH(an_ack_of_another_origins_event_is_invalid),
        CASE(a_refused_referral_request_fails_the_referral),
        CASE(a_nack_of_nothing_pending_is_not_found),
        CASE(a_refused_handover_offer_fails_the_handover),
        CASE(a_refused_claim_ends_refused),
        CASE(another_event_at_a_received_seq_is_a_conflict),
        CASE(a_resend_request_owes_again_what_was_sent_to_the_asker),
        CASE(a_repair_sends_what_is_pending_again_after_what_others_hold),
        FRESH(a_refused_consent_is_marked_undelivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
