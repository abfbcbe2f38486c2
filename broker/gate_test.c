/* gate_test.c — the writer rules, event by event, and the rebuild they
 * make order-independent.
 *
 * An organisation with a valid key can write anything into its own log;
 * the gate decides what the broker believes of it. Each case below is one
 * attack found by hand (a forged claim answer, an answer to an offer
 * nobody made, a status from a stranger, a consent only the broker hears
 * of, a revocation from outside the scope, a term at its maximum) and the
 * honest event beside it, so a rule that refuses too much fails too. Then
 * a region's logs with an attacker's events mixed in are replayed through
 * admit.h in many random interleavings: the state digest is the same
 * every time and every forged event is refused. POLKU_TEST_SEED repeats a
 * failed run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>

#include "admit.h"
#include "claim_auth.h"
#include "gate.h"
#include "test_events.h"

#define SOTE "sote-keskus"
#define TYP "typ"
#define KELA "kela"
#define EVIL "evil-org"

#define T0 1800000000000ull
#define DAY 86400000ull

static const uint8_t KEY[16] = {0x4b, 1};
static uint8_t claim_key[32];

/* ---- a region: directory, indexes, holdback, who has replayed ---- */

typedef struct region {
    broker_config cfg;
    broker_org orgs[4];
    broker_indexes x;
    holdback *held;
    polku_arena *arena;
    bool replayed[4];
    gate_env g;
    claim_auth_keyed keyed; /* claim_key made ready, as the broker's */
    unsigned refused, folded;
    Polku__NackCode last_code;
} region;

static const char *const org_ids[4] = {SOTE, TYP, KELA, EVIL};
static char *kela_services[] = {"vocational-rehab", "benefits"};

static bool replayed(void *arg, const char *org)
{
    region *r = arg;
    for (int i = 0; i < 4; i++)
        if (strcmp(org_ids[i], org) == 0)
            return r->replayed[i];
    return true;
}

static void region_init(region *r, bool all_replayed)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 4; i++) {
        snprintf(r->orgs[i].id, sizeof r->orgs[i].id, "%s", org_ids[i]);
        r->replayed[i] = all_replayed;
    }
    r->orgs[2].services[0] = kela_services[0];
    r->orgs[2].services[1] = kela_services[1];
    r->orgs[2].service_count = 2;
    r->cfg.orgs = r->orgs;
    r->cfg.org_count = 4;
    r->x.consents = ci_new();
    r->x.paths = pi_new();
    r->x.clients = cl_new();
    r->held = hb_new(1000);
    assert_int_equal(polku_arena_new(4096, &r->arena), 0);
    claim_auth_keyed_init(&r->keyed, claim_key);
    r->g = (gate_env){.cfg = &r->cfg,
                      .x = &r->x,
                      .held = r->held,
                      .replayed = replayed,
                      .arg = r,
                      .claim_key = claim_key,
                      .claim_keyed = &r->keyed};
}

static void region_fini(region *r)
{
    ci_destroy(&r->x.consents);
    pi_destroy(&r->x.paths);
    cl_destroy(&r->x.clients);
    hb_destroy(&r->held);
    polku_arena_free(&r->arena);
    claim_auth_keyed_wipe(&r->keyed);
}

static void on_refused(const polku_envelope *env, gate_result w, void *arg)
{
    region *r = arg;
    r->refused++;
    r->last_code = w.code;
    if (getenv("GATE_TEST_VERBOSE"))
        fprintf(stderr, "refused %s seq %llu %s: %s\n", env->origin_org,
                (unsigned long long)env->origin_seq,
                polku_body_name(env->body_case), w.why);
}

static void on_folded(const polku_envelope *env, unsigned done, void *arg)
{
    region *r = arg;
    (void)env;
    (void)done;
    r->folded++;
}

/* Replays one event as the router does (encoded, then admitted). */
static admit_outcome replay(region *r, polku_envelope *env)
{
    static uint8_t msg_id[16] = {0x01};
    env->msg_id = test_bytes(msg_id, 16); /* the builders leave it out */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(polku_envelope_encode(env, &buf, &len), 0);
    polku_envelope *decoded = NULL; /* as the router has it: validated */
    char why[128] = "";
    if (polku_envelope_decode(buf, len, 1u << 20, &decoded, why, sizeof why))
        fail_msg("a test event does not decode: %s", why);
    admit_report rep = {on_refused, on_folded, r};
    admit_outcome o = admit_replayed(&r->g, r->held, decoded, buf, len, &rep);
    polku_envelope_free(&decoded);
    free(buf);
    /* what it woke among the held events, as the router decides them */
    admit_woken(&r->g, r->held, r->arena, 1u << 20, &rep);
    return o;
}

static void org_done(region *r, const char *org)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(org_ids[i], org) == 0)
            r->replayed[i] = true;
    admit_report rep = {on_refused, on_folded, r};
    bool every_log_in = true;
    for (int i = 0; i < 4; i++)
        every_log_in = every_log_in && r->replayed[i];
    size_t undecidable = 0;
    admit_replay_done(&r->g, r->held, r->arena, 1u << 20, org, every_log_in,
                      &rep, &undecidable);
}

/* ---- event helpers beyond test_events.h ---- */

/* A consent between l and other, sent to other (as agents do). */
static polku_envelope *granted(org_log *l, unsigned consent, const char *other,
                               const char *purpose, uint64_t t)
{
    polku_envelope *env =
        ev_granted(l, KEY, consent, other, purpose, T0 + 365 * DAY, t);
    test_event *e = &l->ev[l->n - 1];
    e->to[0] = (char *)other;
    env->to = e->to;
    env->n_to = 1;
    return env;
}

/* The broker's won answer to l's claim, with its authenticator. */
static uint8_t macs[64][32];
static unsigned n_macs;
static polku_envelope *won(org_log *l, uint32_t term, uint64_t t)
{
    polku_envelope *env = ev_won(l, KEY, term, t);
    Polku__PathClaimAnswered *a = env->path_claim_answered;
    assert_true(n_macs < 64);
    uint8_t *mac = macs[n_macs++];
    claim_auth_mac(claim_key, KEY, l->org, a, mac);
    a->authenticator = test_bytes(mac, 32);
    return env;
}

/* Clear text the gate refuses anyway: the builders fill it to catch
 * leaks, the region's events here travel as agents send them. */
static polku_envelope *sealed_only(polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        env->referral_requested->reason = "";
        env->referral_requested->service = "vocational-rehab";
        env->referral_requested->sealed.len = 0;
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        env->referral_status->reason = "";
        env->referral_status->outcome = "";
        env->referral_status->sealed.len = 0;
        break;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        env->cancel_requested->reason = "";
        env->cancel_requested->sealed.len = 0;
        break;
    default:
        break;
    }
    return env;
}

static gate_verdict verdict(region *r, const polku_envelope *env)
{
    return gate_writer(&r->g, env).verdict;
}

static Polku__NackCode refusal(region *r, const polku_envelope *env)
{
    gate_result w = gate_writer(&r->g, env);
    assert_int_equal(w.verdict, GATE_REFUSE);
    assert_non_null(w.why);
    return w.code;
}

/* ---- claims ---- */

static void test_claim_answer_needs_the_brokers_authenticator(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log evil = {.org = EVIL};
    polku_envelope *forged = ev_won(&evil, KEY, 1000, T0);
    assert_int_equal(refusal(&r, forged),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    /* a MAC under another key, or over another term, does not verify */
    uint8_t other_key[32] = {9}, mac[32];
    claim_auth_mac(other_key, KEY, EVIL, forged->path_claim_answered, mac);
    forged->path_claim_answered->authenticator = test_bytes(mac, 32);
    assert_int_equal(verdict(&r, forged), GATE_REFUSE);
    claim_auth_mac(claim_key, KEY, EVIL, forged->path_claim_answered, mac);
    forged->path_claim_answered->term = 1001;
    assert_int_equal(verdict(&r, forged), GATE_REFUSE);
    /* the broker's own answer is believed, and only for its claimant */
    org_log sote = {.org = SOTE};
    polku_envelope *real = won(&sote, 1, T0);
    assert_int_equal(verdict(&r, real), GATE_ACCEPT);
    real->origin_org = EVIL;
    assert_int_equal(verdict(&r, real), GATE_REFUSE);
    /* the state made ready stays usable: the same answers, the same
     * verdicts again */
    assert_int_equal(verdict(&r, real), GATE_REFUSE);
    real->origin_org = SOTE;
    assert_int_equal(verdict(&r, real), GATE_ACCEPT);
    assert_int_equal(verdict(&r, forged), GATE_REFUSE);
    region_fini(&r);
}

/* An authenticator checked ahead (replay_ahead.h) is the verdict for
 * that envelope only: another envelope is checked here as before. */
static void test_claim_checked_ahead_is_for_its_envelope(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log sote = {.org = SOTE};
    polku_envelope *real = won(&sote, 1, T0);
    r.g.claim_checked = real; /* found not authentic ahead */
    r.g.claim_checked_ok = false;
    assert_int_equal(verdict(&r, real), GATE_REFUSE);
    r.g.claim_checked_ok = true;
    assert_int_equal(verdict(&r, real), GATE_ACCEPT);
    org_log evil = {.org = EVIL};
    polku_envelope *forged = ev_won(&evil, KEY, 1000, T0);
    assert_int_equal(verdict(&r, forged), GATE_REFUSE); /* not that one */
    r.g.claim_checked = forged;
    assert_int_equal(verdict(&r, forged), GATE_ACCEPT);
    assert_int_equal(verdict(&r, real), GATE_ACCEPT); /* checked here */
    region_fini(&r);
}

/* ---- handovers and terms ---- */

static void test_answers_and_terms(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log sote = {.org = SOTE}, typ = {.org = TYP}, evil = {.org = EVIL};
    assert_int_equal(replay(&r, won(&sote, 1, T0)), ADMIT_FOLDED);

    /* an acceptance of an offer nobody made */
    polku_envelope *fake =
        ev_answered(&evil, KEY, 7, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 2,
                    SOTE, T0 + 1);
    assert_int_equal(refusal(&r, fake),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    /* the offerer's own `failed` and then its own acceptance of it */
    polku_envelope *failed = ev_answered(
        &evil, KEY, 8, POLKU__HANDOVER_STATE__HANDOVER_FAILED, 0, EVIL, T0);
    failed->handover_answered->offered_by = EVIL;
    failed->n_to = 0;
    assert_int_equal(replay(&r, failed), ADMIT_IGNORED); /* folds nothing */
    assert_false(pi_view(r.x.paths, KEY, &(path_view){0}) &&
                 pi_handover(r.x.paths, KEY,
                             failed->handover_answered->handover_id.data,
                             &(path_handover_view){0}));
    polku_envelope *self = ev_answered(
        &evil, KEY, 8, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 1, EVIL, T0);
    self->handover_answered->offered_by = EVIL;
    assert_int_equal(verdict(&r, self), GATE_REFUSE);

    /* an offer from someone who does not coordinate */
    polku_envelope *offer = ev_offered(&evil, KEY, TYP, 9, 1, T0 + 2);
    assert_int_equal(refusal(&r, offer),
                     POLKU__NACK_CODE__NACK_NOT_COORDINATOR);
    /* the coordinator's offer, and its receiver's answer at term + 1 only */
    assert_int_equal(replay(&r, ev_offered(&sote, KEY, TYP, 1, 1, T0 + 3)),
                     ADMIT_FOLDED);
    polku_envelope *skip = ev_answered(
        &typ, KEY, 1, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 5, SOTE, T0);
    assert_int_equal(verdict(&r, skip), GATE_REFUSE);
    polku_envelope *by_other = ev_answered(
        &evil, KEY, 1, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 2, SOTE, T0);
    assert_int_equal(verdict(&r, by_other), GATE_REFUSE);
    skip->handover_answered->term = 2;
    assert_int_equal(replay(&r, skip), ADMIT_FOLDED);
    path_view v;
    assert_true(pi_view(r.x.paths, KEY, &v));
    assert_string_equal(v.coordinator, TYP);
    assert_int_equal(v.term, 2);

    /* a close by the old coordinator, by a stranger, at the last term */
    assert_int_equal(verdict(&r, ev_closed(&sote, KEY, 2, T0 + 4)),
                     GATE_REFUSE);
    assert_int_equal(verdict(&r, ev_closed(&evil, KEY, 2, T0 + 4)),
                     GATE_REFUSE);
    assert_int_equal(verdict(&r, ev_closed(&typ, KEY, UINT32_MAX, T0 + 4)),
                     GATE_REFUSE);
    assert_int_equal(verdict(&r, ev_closed(&typ, KEY, 2, T0 + 4)), GATE_ACCEPT);
    region_fini(&r);
}

/* An answer replayed before its offer waits, then folds; one for an offer
 * that never comes is refused once its offerer's log is in. */
static void test_answer_waits_for_its_offer(void **state)
{
    (void)state;
    region r;
    region_init(&r, false);
    org_log sote = {.org = SOTE}, typ = {.org = TYP};
    won(&sote, 1, T0);
    ev_offered(&sote, KEY, TYP, 1, 1, T0 + 1);
    ev_answered(&typ, KEY, 1, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 2, SOTE,
                T0 + 2);
    ev_answered(&typ, KEY, 2, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 3, SOTE,
                T0 + 3); /* offer 2 was never made */
    assert_int_equal(replay(&r, &typ.ev[0].env), ADMIT_HELD);
    assert_int_equal(replay(&r, &typ.ev[1].env), ADMIT_HELD);
    org_done(&r, TYP);
    assert_int_equal(hb_count(r.held), 2);
    assert_int_equal(replay(&r, &sote.ev[0].env), ADMIT_FOLDED);
    assert_int_equal(replay(&r, &sote.ev[1].env), ADMIT_FOLDED);
    assert_int_equal(r.refused, 0);
    org_done(&r, SOTE);
    assert_int_equal(hb_count(r.held), 0);
    assert_int_equal(r.refused, 1);
    path_view v;
    assert_true(pi_view(r.x.paths, KEY, &v));
    assert_string_equal(v.coordinator, TYP);
    assert_int_equal(v.term, 2);
    region_fini(&r);
}

/* ---- plans ---- */

typedef struct plan_event {
    Polku__PlanPointer plan;
    Polku__PlanUpdated u;
} plan_event;

/* The coordinator's PlanUpdated at term: plan p-1 at version, due. */
static polku_envelope *plan_updated(org_log *l, plan_event *pe, uint32_t term,
                                    uint32_t version, uint64_t due, uint64_t t)
{
    test_event *e = test_append(l, KEY, t, NULL);
    polku__plan_pointer__init(&pe->plan);
    pe->plan.org = (char *)l->org;
    pe->plan.plan_id = "p-1";
    pe->plan.version = version;
    pe->plan.review_due_ms = due;
    polku__plan_updated__init(&pe->u);
    pe->u.plan = &pe->plan;
    pe->u.term = term;
    e->env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    e->env.plan_updated = &pe->u;
    return &e->env;
}

/* A plan version older than the path's at the same term is refused with
 * its own Nack (stale_plan), live and replayed (skipped, counted); the same
 * version later (a postponement) is folded and moves the review date. */
static void test_stale_plan_is_refused(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log sote = {.org = SOTE};
    plan_event pe[4];
    assert_int_equal(replay(&r, won(&sote, 1, T0)), ADMIT_FOLDED);
    assert_int_equal(
        replay(&r, plan_updated(&sote, &pe[0], 1, 2, T0 + DAY, T0 + 1)),
        ADMIT_FOLDED);
    polku_envelope *stale =
        plan_updated(&sote, &pe[1], 1, 1, T0 + 9 * DAY, T0 + 2);
    assert_int_equal(refusal(&r, stale), POLKU__NACK_CODE__NACK_STALE_PLAN);
    assert_string_equal(polku_nack_code_name(POLKU__NACK_CODE__NACK_STALE_PLAN),
                        "stale_plan");
    assert_non_null(
        strstr(gate_nack_reason(POLKU__NACK_CODE__NACK_STALE_PLAN), "older"));
    unsigned refused = r.refused;
    assert_int_equal(replay(&r, stale), ADMIT_REFUSED);
    assert_int_equal(r.refused, refused + 1);
    assert_int_equal(r.last_code, POLKU__NACK_CODE__NACK_STALE_PLAN);
    assert_true(pi_seen(r.x.paths, SOTE, stale->origin_seq));
    path_view v;
    assert_true(pi_view(r.x.paths, KEY, &v));
    assert_int_equal(v.plan_version, 2);
    assert_int_equal(v.plan_review_due_ms, T0 + DAY);
    /* postponed on the same version */
    assert_int_equal(
        replay(&r, plan_updated(&sote, &pe[2], 1, 2, T0 + 30 * DAY, T0 + 3)),
        ADMIT_FOLDED);
    assert_true(pi_view(r.x.paths, KEY, &v));
    assert_int_equal(v.plan_review_due_ms, T0 + 30 * DAY);
    region_fini(&r);
}

/* ---- referrals ---- */

static void test_referral_writers(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log sote = {.org = SOTE}, kela = {.org = KELA}, evil = {.org = EVIL};
    assert_int_equal(replay(&r, granted(&sote, 1, KELA, "referral", T0)),
                     ADMIT_FOLDED);
    polku_envelope *q =
        sealed_only(ev_requested(&sote, KEY, 1, KELA, "x", 1, T0 + 1));
    q->referral_requested->service = "social-work"; /* kela lists others */
    assert_int_equal(verdict(&r, q), GATE_REFUSE);
    q->referral_requested->service = "vocational-rehab";
    assert_int_equal(replay(&r, q), ADMIT_FOLDED);

    /* a stranger's status, cancel and duplicate id */
    polku_envelope *st = sealed_only(
        ev_status(&evil, KEY, 1, SOTE,
                  POLKU__REFERRAL_STATE__REFERRAL_CANCELLED, 99, T0 + 2));
    assert_int_equal(refusal(&r, st),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    assert_int_equal(
        verdict(&r, sealed_only(ev_cancel(&evil, KEY, 1, KELA, T0 + 2))),
        GATE_REFUSE);
    polku_envelope *dup =
        sealed_only(ev_requested(&evil, KEY, 1, KELA, "", 0, T0 + 2));
    assert_int_equal(verdict(&r, dup), GATE_REFUSE);
    /* the receiver's status and the sender's own failure are believed */
    assert_int_equal(
        replay(&r, sealed_only(ev_status(
                       &kela, KEY, 1, SOTE,
                       POLKU__REFERRAL_STATE__REFERRAL_RECEIVED, 1, T0 + 3))),
        ADMIT_FOLDED);
    polku_envelope *sender_status = sealed_only(
        ev_status(&sote, KEY, 1, KELA, POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED,
                  9, T0 + 4));
    assert_int_equal(verdict(&r, sender_status), GATE_REFUSE);
    const cl_referral *ref = cl_referral_find(r.x.clients, sote.ev[1].id);
    assert_non_null(ref);
    assert_int_equal(ref->status, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED);

    /* no consent covering the receiver: refused, not folded */
    polku_envelope *nocons =
        sealed_only(ev_requested(&evil, KEY, 2, KELA, "", 1, T0 + 5));
    nocons->referral_requested->consent_recorded_by = SOTE;
    assert_int_equal(refusal(&r, nocons),
                     POLKU__NACK_CODE__NACK_CONSENT_REQUIRED);
    /* its own failure of a referral the broker never folded: ignored,
     * nothing of it is kept (a flood of them fills nothing) */
    polku_envelope *own = sealed_only(
        ev_status(&evil, KEY, 77, NULL, POLKU__REFERRAL_STATE__REFERRAL_FAILED,
                  1, T0 + 5));
    own->referral_status->reason = "consent_required";
    size_t before = cl_count_referrals(r.x.clients);
    assert_int_equal(replay(&r, own), ADMIT_IGNORED);
    assert_int_equal(cl_count_referrals(r.x.clients), before);
    /* a consent nobody recorded, once every log is in: refused, not held */
    polku_envelope *unknown =
        sealed_only(ev_requested(&sote, KEY, 4, KELA, "", 9, T0 + 5));
    assert_int_equal(refusal(&r, unknown),
                     POLKU__NACK_CODE__NACK_CONSENT_REQUIRED);
    /* a receiver outside the directory */
    polku_envelope *nowhere =
        sealed_only(ev_requested(&sote, KEY, 3, "ips", "", 1, T0 + 6));
    assert_int_equal(refusal(&r, nowhere), POLKU__NACK_CODE__NACK_UNKNOWN_ORG);
    region_fini(&r);
}

/* ---- consents ---- */

/* Break-glass: only where the directory lists the basis for the sender,
 * never with a consent besides; a permitted one needs no consent at the
 * writer rule nor at routing. A review: the coordinator's, not the
 * overrider's; an operator's only with the broker's authenticator. */
static void test_overrides_from_the_directory(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    static const char *sote_bases[] = {"emergency"};
    r.orgs[0].overrides[0] = sote_bases[0];
    r.orgs[0].override_count = 1;
    org_log sote = {.org = SOTE}, evil = {.org = EVIL};
    polku_envelope *q =
        sealed_only(ev_requested(&sote, KEY, 5, KELA, "", 0, T0 + 1));
    q->referral_requested->override_basis = "statutory";
    assert_int_equal(refusal(&r, q),
                     POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED);
    q->referral_requested->override_basis = "emergency";
    assert_int_equal(verdict(&r, q), GATE_ACCEPT);
    assert_int_equal(gate_route(&r.g, q, KELA, T0 + 1), 0);
    polku_envelope *forged =
        sealed_only(ev_requested(&evil, KEY, 6, KELA, "", 0, T0 + 1));
    forged->referral_requested->override_basis = "emergency";
    assert_int_equal(refusal(&r, forged),
                     POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED);
    polku_envelope *both =
        sealed_only(ev_requested(&sote, KEY, 7, KELA, "", 1, T0 + 1));
    both->referral_requested->override_basis = "emergency";
    assert_int_equal(refusal(&r, both), POLKU__NACK_CODE__NACK_MALFORMED);
    assert_int_equal(replay(&r, q), ADMIT_FOLDED);

    /* reviews */
    polku_envelope rev = POLKU__ENVELOPE__INIT;
    Polku__OverrideReviewed rv = POLKU__OVERRIDE_REVIEWED__INIT;
    uint8_t obj[16], mac[32];
    test_id(0x5e, 5, obj);
    rev.version = POLKU_PROTOCOL_VERSION;
    rev.origin_org = SOTE;
    rev.origin_seq = 9;
    rev.client_key = test_bytes((uint8_t *)KEY, 16);
    rv.object_id = test_bytes(obj, 16);
    rv.used_by = SOTE;
    rv.reviewer = SOTE;
    rev.body_case = POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED;
    rev.override_reviewed = &rv;
    assert_int_equal(refusal(&r, &rev),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    rv.reviewer = "operator"; /* without the broker's authenticator */
    assert_int_equal(refusal(&r, &rev),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    ov_review_mac(claim_key, KEY, obj, SOTE, mac);
    rv.authenticator = test_bytes(mac, 32);
    assert_int_equal(verdict(&r, &rev), GATE_ACCEPT);
    rev.origin_org = EVIL; /* another org logging the operator's review */
    assert_int_equal(refusal(&r, &rev),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    region_fini(&r);
}

static void test_consent_writers(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log sote = {.org = SOTE}, evil = {.org = EVIL};
    /* a grant for the broker alone, or naming the others only */
    polku_envelope *quiet =
        ev_granted(&evil, KEY, 5, SOTE, "path", T0 + DAY, T0);
    assert_int_equal(refusal(&r, quiet), POLKU__NACK_CODE__NACK_MALFORMED);
    polku_envelope *outside = granted(&evil, 6, KELA, "path", T0);
    outside->consent_granted->orgs[0] = TYP; /* TYP and KELA, sent by evil */
    assert_int_equal(refusal(&r, outside),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    /* the real one; a stranger's revocation; reuse of its id */
    assert_int_equal(replay(&r, granted(&sote, 1, KELA, "path", T0)),
                     ADMIT_FOLDED);
    polku_envelope *rv = ev_revoked(&evil, KEY, 1, T0 + 1);
    assert_int_equal(refusal(&r, rv),
                     POLKU__NACK_CODE__NACK_INVALID_TRANSITION);
    polku_envelope *reuse = granted(&evil, 1, SOTE, "path", T0);
    assert_int_equal(verdict(&r, reuse), GATE_REFUSE);
    assert_int_equal(ci_consent_active(r.x.consents, sote.ev[0].id, T0 + 2), 1);
    region_fini(&r);
}

/* Before the grant's log is in, a revocation waits; a stranger's is then
 * refused and the consent stays active. */
static void test_revocation_waits_for_its_grant(void **state)
{
    (void)state;
    region r;
    region_init(&r, false);
    org_log sote = {.org = SOTE}, evil = {.org = EVIL};
    granted(&sote, 1, KELA, "path", T0);
    assert_int_equal(replay(&r, ev_revoked(&evil, KEY, 1, T0 + 1)), ADMIT_HELD);
    org_done(&r, EVIL);
    org_done(&r, TYP);
    org_done(&r, KELA);
    assert_int_equal(hb_count(r.held), 1); /* SOTE may still hold it */
    assert_int_equal(replay(&r, &sote.ev[0].env), ADMIT_FOLDED);
    org_done(&r, SOTE);
    assert_int_equal(hb_count(r.held), 0);
    assert_int_equal(r.refused, 1);
    assert_int_equal(ci_consent_active(r.x.consents, sote.ev[0].id, T0 + 2), 1);
    region_fini(&r);
}

/* ---- services ---- */

static void test_services_from_the_directory(void **state)
{
    (void)state;
    region r;
    region_init(&r, true);
    org_log kela = {.org = KELA}, typ = {.org = TYP};
    assert_int_equal(verdict(&r, ev_service(&kela, KEY, "benefits", true, T0)),
                     GATE_ACCEPT);
    assert_int_equal(
        refusal(&r, ev_service(&kela, KEY, "social-work", true, T0)),
        POLKU__NACK_CODE__NACK_MALFORMED);
    /* an org that lists no services starts none */
    assert_int_equal(verdict(&r, ev_service(&typ, KEY, "svc-1", true, T0)),
                     GATE_REFUSE);
    region_fini(&r);
}

/* ---- the rebuild in any order ---- */

typedef struct logs {
    org_log sote, typ, kela, evil;
    unsigned forged;
} logs;

/* A client's path across three honest organisations (claimed, handed
 * over, offered back and declined, closed, claimed again) and the attacks
 * of a fourth that has a valid key. */
static void write_logs(logs *l)
{
    memset(l, 0, sizeof *l);
    l->sote.org = SOTE;
    l->typ.org = TYP;
    l->kela.org = KELA;
    l->evil.org = EVIL;
    uint64_t t = T0;
    granted(&l->sote, 1, KELA, "referral", t++);
    granted(&l->sote, 2, TYP, "handover", t++);
    won(&l->sote, 1, t++);
    sealed_only(ev_requested(&l->sote, KEY, 1, KELA, "", 1, t++));
    sealed_only(ev_status(&l->kela, KEY, 1, SOTE,
                          POLKU__REFERRAL_STATE__REFERRAL_RECEIVED, 1, t++));
    sealed_only(ev_status(&l->kela, KEY, 1, SOTE,
                          POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED, 2, t++));
    ev_service(&l->kela, KEY, "vocational-rehab", true, t++);
    ev_offered(&l->sote, KEY, TYP, 1, 1, t++);
    ev_answered(&l->typ, KEY, 1, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 2,
                SOTE, t++);
    ev_offered(&l->typ, KEY, SOTE, 2, 2, t++);
    ev_answered(&l->sote, KEY, 2, POLKU__HANDOVER_STATE__HANDOVER_DECLINED, 0,
                TYP, t++);
    ev_revoked(&l->sote, KEY, 2, t++);
    ev_closed(&l->typ, KEY, 2, t++); /* term 3: closed */
    won(&l->kela, 4, t++);           /* a new claim after the close */
    ev_service(&l->kela, KEY, "vocational-rehab", false, t++);
    sealed_only(ev_status(&l->kela, KEY, 1, SOTE,
                          POLKU__REFERRAL_STATE__REFERRAL_COMPLETED, 3, t++));

    /* the attacker: every one of these must be refused */
    ev_won(&l->evil, KEY, 1000, t++);
    ev_answered(&l->evil, KEY, 9, POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED, 3,
                TYP, t++);
    ev_closed(&l->evil, KEY, 2, t++);
    ev_granted(&l->evil, KEY, 7, TYP, "path", T0 + DAY, t++);
    ev_revoked(&l->evil, KEY, 1, t++);
    sealed_only(ev_status(&l->evil, KEY, 1, SOTE,
                          POLKU__REFERRAL_STATE__REFERRAL_CANCELLED, 99, t++));
    ev_offered(&l->evil, KEY, KELA, 10, 2, t++);
    ev_closed(&l->evil, KEY, UINT32_MAX, t++);
    l->forged = (unsigned)l->evil.n;
}

static void shuffle(org_log **order, size_t n)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1);
        org_log *tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* Replays the logs interleaved at random (each log in its own order), an
 * org's replay done when its last event is in. */
static void rebuild(region *r, logs *l, char digest[65])
{
    org_log *all[4] = {&l->sote, &l->typ, &l->kela, &l->evil};
    size_t next[4] = {0};
    shuffle(all, 4);
    size_t left = l->sote.n + l->typ.n + l->kela.n + l->evil.n;
    while (left > 0) {
        int k = rand() % 4;
        if (next[k] == all[k]->n)
            continue;
        replay(r, &all[k]->ev[next[k]++].env);
        left--;
        if (next[k] == all[k]->n)
            org_done(r, all[k]->org);
    }
    fold_digest(&r->x, digest, NULL);
}

static void test_rebuild_in_any_order(void **state)
{
    (void)state;
    const char *seed_env = getenv("POLKU_TEST_SEED");
    unsigned seed =
        seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    srand(seed);
    static logs l;
    write_logs(&l);
    char first[65] = "";
    for (int round = 0; round < 300; round++) {
        region r;
        region_init(&r, false);
        char digest[65];
        rebuild(&r, &l, digest);
        if (r.refused != l.forged || hb_count(r.held) != 0)
            fail_msg("seed %u round %d: %u refused (want %u), %zu held", seed,
                     round, r.refused, l.forged, hb_count(r.held));
        path_view v;
        assert_true(pi_view(r.x.paths, KEY, &v));
        if (strcmp(v.coordinator, KELA) != 0 || v.term != 4)
            fail_msg("seed %u round %d: coordinator %s at term %u", seed, round,
                     v.coordinator, v.term);
        if (round == 0)
            memcpy(first, digest, sizeof first);
        else if (strcmp(first, digest) != 0)
            fail_msg("seed %u round %d: digest %s differs from %s", seed, round,
                     digest, first);
        region_fini(&r);
    }
}

/* ---- many events waiting on one log that comes last ---- */

#define WAITING_CLIENTS 1000
#define WAITING_EACH 60 /* referrals of each client to typ and to kela */

static uint8_t waiting_keys[WAITING_CLIENTS][16];
static org_log scratch; /* one event built at a time */

/* Referral i's id: beyond test_id's 16 bits. */
static void waiting_id(uint8_t id[16], unsigned i)
{
    id[10] = (uint8_t)(i >> 24);
    id[11] = (uint8_t)(i >> 16);
    id[12] = (uint8_t)(i >> 8);
    id[13] = (uint8_t)i;
}

/* sote's referral consent for client c with typ (k 0) or kela (k 1). */
static void waiting_consent(region *r, unsigned c, int k, uint64_t seq)
{
    scratch.org = SOTE;
    scratch.n = 0;
    const char *other = k ? KELA : TYP;
    polku_envelope *env = ev_granted(&scratch, waiting_keys[c], 2 * c + k + 1,
                                     other, "referral", T0 + 365 * DAY, T0);
    scratch.ev[0].to[0] = (char *)other;
    env->to = scratch.ev[0].to;
    env->n_to = 1;
    env->origin_seq = seq;
    assert_int_equal(replay(r, env), ADMIT_FOLDED);
}

/* Referral i (client i % clients, to typ or kela by k) requested by sote
 * (status false) or received by its receiver (status true). */
static admit_outcome waiting_referral(region *r, unsigned i, int k, bool status,
                                      uint64_t seq)
{
    unsigned c = i % WAITING_CLIENTS;
    const char *to = k ? KELA : TYP;
    scratch.n = 0;
    polku_envelope *env;
    if (status) {
        scratch.org = to;
        env = sealed_only(ev_status(&scratch, waiting_keys[c], 0, SOTE,
                                    POLKU__REFERRAL_STATE__REFERRAL_RECEIVED, 1,
                                    T0 + i));
    } else {
        scratch.org = SOTE;
        env = ev_requested(&scratch, waiting_keys[c], 0, to, "", 2 * c + k + 1,
                           T0 + i);
        env->referral_requested->reason = "";
        env->referral_requested->sealed.len = 0;
    }
    waiting_id(scratch.ev[0].id, i);
    env->origin_seq = seq;
    return replay(r, env);
}

static void region_big(region *r)
{
    region_init(r, false);
    hb_destroy(&r->held);
    r->held = hb_new(100000); /* per origin: the 120 000 come from two */
    r->g.held = r->held;
}

/* typ's and kela's logs come first: 120 000 statuses wait for sote's log
 * (more than any one log may hold); it comes last, and every status is
 * folded, none refused, to the state of the logs merged in time order. */
static void test_many_wait_for_a_log_to_come(void **state)
{
    (void)state;
    const unsigned n = WAITING_CLIENTS * WAITING_EACH; /* to each receiver */
    for (unsigned c = 0; c < WAITING_CLIENTS; c++) {
        test_id(0x4c, c, waiting_keys[c]);
        waiting_keys[c][2] = 0x77;
    }
    region r;
    char in_time[65], held_first[65];

    region_big(&r); /* in time: each status just after its request */
    uint64_t sote_seq = 0, seq[2] = {0, 0};
    for (unsigned c = 0; c < WAITING_CLIENTS; c++)
        for (int k = 0; k < 2; k++)
            waiting_consent(&r, c, k, ++sote_seq);
    for (unsigned i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            unsigned id = 2 * i + (unsigned)k;
            assert_int_equal(waiting_referral(&r, id, k, false, ++sote_seq),
                             ADMIT_FOLDED);
            assert_int_equal(waiting_referral(&r, id, k, true, ++seq[k]),
                             ADMIT_FOLDED);
        }
    org_done(&r, SOTE);
    org_done(&r, TYP);
    org_done(&r, KELA);
    org_done(&r, EVIL);
    assert_int_equal(r.refused, 0);
    assert_int_equal(cl_count_referrals(r.x.clients), 2 * n);
    fold_digest(&r.x, in_time, NULL);
    region_fini(&r);

    region_big(&r); /* typ's log, kela's, then sote's */
    org_done(&r, EVIL);
    for (int k = 0; k < 2; k++) {
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(
                waiting_referral(&r, 2 * i + (unsigned)k, k, true, i + 1),
                ADMIT_HELD);
        org_done(&r, k ? KELA : TYP);
    }
    assert_int_equal(hb_count(r.held), 2 * n); /* > 100 000 */
    sote_seq = 0;
    for (unsigned c = 0; c < WAITING_CLIENTS; c++)
        for (int k = 0; k < 2; k++)
            waiting_consent(&r, c, k, ++sote_seq);
    for (unsigned i = 0; i < 2 * n; i++) {
        assert_int_equal(
            waiting_referral(&r, i, (int)(i % 2), false, ++sote_seq),
            ADMIT_FOLDED);
        /* its status was decided as soon as the request was folded */
        assert_int_equal(hb_count(r.held), 2 * n - i - 1);
    }
    org_done(&r, SOTE);
    assert_int_equal(r.refused, 0);
    assert_int_equal(hb_count(r.held), 0);
    assert_int_equal(r.folded, 2 * WAITING_CLIENTS + 4 * n);
    fold_digest(&r.x, held_first, NULL);
    region_fini(&r);
    assert_string_equal(held_first, in_time);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    randombytes_buf(claim_key, sizeof claim_key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_answer_needs_the_brokers_authenticator),
        cmocka_unit_test(test_claim_checked_ahead_is_for_its_envelope),
        cmocka_unit_test(test_answers_and_terms),
        cmocka_unit_test(test_answer_waits_for_its_offer),
        cmocka_unit_test(test_stale_plan_is_refused),
        cmocka_unit_test(test_referral_writers),
        cmocka_unit_test(test_overrides_from_the_directory),
        cmocka_unit_test(test_consent_writers),
        cmocka_unit_test(test_revocation_waits_for_its_grant),
        cmocka_unit_test(test_services_from_the_directory),
        cmocka_unit_test(test_rebuild_in_any_order),
        cmocka_unit_test(test_many_wait_for_a_log_to_come),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
