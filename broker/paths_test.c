/* paths_test.c — the broker's client paths, event by event.
 *
 * The broker keeps no state of its own: after a restart it rebuilds every
 * client path by folding each agent's log, and the agents' replays arrive
 * in any interleaving (DESIGN.md invariant 1). So the fold must give the
 * same paths whatever the order, apply each (origin org, origin seq) once,
 * and still keep exactly one coordinator per open path, changed only by an
 * accepted handover or ended by its own coordinator's close (invariant 3).
 * These cases pin the claim decision, the dedupe, the handover and close
 * rules, and then replay a realistic history of four organisations in many
 * random interleavings. Set POLKU_TEST_SEED to repeat a failed run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "paths.h"

#define SOTE "sote-keskus"
#define TK "tyokykytiimi"
#define TYP "typ"
#define KELA "kela"

#define WON POLKU__CLAIM_OUTCOME__CLAIM_WON
#define LOST POLKU__CLAIM_OUTCOME__CLAIM_LOST
#define OFFERED POLKU__HANDOVER_STATE__HANDOVER_OFFERED
#define ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
#define DECLINED POLKU__HANDOVER_STATE__HANDOVER_DECLINED
#define WITHDRAWN POLKU__HANDOVER_STATE__HANDOVER_WITHDRAWN
#define FAILED POLKU__HANDOVER_STATE__HANDOVER_FAILED
#define NOT_COORDINATOR POLKU__NACK_CODE__NACK_NOT_COORDINATOR
#define RETRY_LATER POLKU__NACK_CODE__NACK_RETRY_LATER

static const uint8_t KEY_A[16] = {0xa0, 1}, KEY_B[16] = {0xb0, 2},
                     KEY_C[16] = {0xc0, 3}, KEY_D[16] = {0xd0, 4};

/* ---- envelope builders: one agent's log, one event at a time ---- */

#define MAX_EVENTS 32

/* One event of a log; the envelope points into the rest of the struct, so
 * an event is built in place and never copied. */
typedef struct event {
    polku_envelope env;
    char *to[1];
    uint8_t id[16]; /* claim or handover id */
    Polku__PlanPointer plan;
    union {
        Polku__PathClaimed claimed;
        Polku__PathClaimAnswered claim_answer;
        Polku__PathClosed closed;
        Polku__PlanUpdated plan_updated;
        Polku__HandoverOffered offered;
        Polku__HandoverAnswered answered;
    } body;
} event;

/* An agent's event log: origin seqs 1, 2, ... in the order written. */
typedef struct org_log {
    const char *org;
    size_t n;
    event ev[MAX_EVENTS];
} org_log;

/* Handover ids are time-ordered like the real ones: n-th offer, n-th id. */
static void handover_id(unsigned n, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = 0x01;
    out[15] = (uint8_t)n;
}

/* The next event of l: header filled, body left to the caller. */
static event *append(org_log *l, const uint8_t *key, uint64_t t, const char *to)
{
    assert_true(l->n < MAX_EVENTS);
    event *e = &l->ev[l->n++];
    memset(e, 0, sizeof *e);
    polku__envelope__init(&e->env);
    e->env.version = POLKU_PROTOCOL_VERSION;
    e->env.origin_org = (char *)l->org;
    e->env.origin_seq = l->n;
    e->env.client_key = (ProtobufCBinaryData){16, (uint8_t *)key};
    e->env.time_ms = t;
    if (to) {
        e->to[0] = (char *)to;
        e->env.to = e->to;
        e->env.n_to = 1;
    }
    return e;
}

/* A claim to the broker: in the log, but no effect on paths by itself. */
static polku_envelope *claimed(org_log *l, const uint8_t *key, uint64_t t)
{
    event *e = append(l, key, t, NULL);
    polku__path_claimed__init(&e->body.claimed);
    e->id[0] = 0xc1;
    e->id[15] = (uint8_t)l->n;
    e->body.claimed.claim_id = (ProtobufCBinaryData){16, e->id};
    e->env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIMED;
    e->env.path_claimed = &e->body.claimed;
    return &e->env;
}

/* The broker's answer to l's claim, as l writes it into its own log. */
static polku_envelope *claim_answer(org_log *l, const uint8_t *key,
                                    Polku__ClaimOutcome outcome,
                                    const char *coordinator, uint32_t term,
                                    uint64_t since, uint64_t t)
{
    event *e = append(l, key, t, NULL);
    Polku__PathClaimAnswered *a = &e->body.claim_answer;
    polku__path_claim_answered__init(a);
    e->id[0] = 0xc1;
    a->claim_id = (ProtobufCBinaryData){16, e->id};
    a->outcome = outcome;
    a->coordinator = (char *)coordinator;
    a->term = term;
    a->since_ms = since;
    e->env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    e->env.path_claim_answered = a;
    return &e->env;
}

static polku_envelope *won(org_log *l, const uint8_t *key, uint32_t term,
                           uint64_t since)
{
    return claim_answer(l, key, WON, l->org, term, since, since);
}

static polku_envelope *lost(org_log *l, const uint8_t *key,
                            const char *coordinator, uint32_t term,
                            uint64_t since, uint64_t t)
{
    return claim_answer(l, key, LOST, coordinator, term, since, t);
}

static polku_envelope *closed(org_log *l, const uint8_t *key, uint32_t term,
                              const char *reason, uint64_t t)
{
    event *e = append(l, key, t, NULL);
    polku__path_closed__init(&e->body.closed);
    e->body.closed.term = term;
    e->body.closed.reason = (char *)reason;
    e->env.body_case = POLKU__ENVELOPE__BODY_PATH_CLOSED;
    e->env.path_closed = &e->body.closed;
    return &e->env;
}

static polku_envelope *plan(org_log *l, const uint8_t *key, uint32_t term,
                            const char *plan_id, uint32_t version,
                            uint64_t review_due, uint64_t t)
{
    event *e = append(l, key, t, NULL);
    polku__plan_pointer__init(&e->plan);
    e->plan.org = (char *)l->org;
    e->plan.plan_id = (char *)plan_id;
    e->plan.version = version;
    e->plan.review_due_ms = review_due;
    polku__plan_updated__init(&e->body.plan_updated);
    e->body.plan_updated.plan = &e->plan;
    e->body.plan_updated.term = term;
    e->env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    e->env.plan_updated = &e->body.plan_updated;
    return &e->env;
}

static polku_envelope *offered(org_log *l, const uint8_t *key, const char *to,
                               unsigned hid, uint32_t term, uint64_t t)
{
    event *e = append(l, key, t, to);
    polku__handover_offered__init(&e->body.offered);
    handover_id(hid, e->id);
    e->body.offered.handover_id = (ProtobufCBinaryData){16, e->id};
    e->body.offered.term = term;
    e->env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_OFFERED;
    e->env.handover_offered = &e->body.offered;
    return &e->env;
}

/* An answer to offer hid from `by` to `to`: the receiver's (accepted,
 * declined, withdrawn; sent to the offerer) or the offerer's own failed. */
static polku_envelope *answered(org_log *l, const uint8_t *key, unsigned hid,
                                Polku__HandoverState status, uint32_t term,
                                const char *by, const char *to, uint64_t t)
{
    event *e = append(l, key, t, status == FAILED ? NULL : by);
    Polku__HandoverAnswered *a = &e->body.answered;
    polku__handover_answered__init(a);
    handover_id(hid, e->id);
    a->handover_id = (ProtobufCBinaryData){16, e->id};
    a->status = status;
    a->term = term;
    a->offered_by = (char *)by;
    a->offered_to = (char *)to;
    e->env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED;
    e->env.handover_answered = a;
    return &e->env;
}

/* ---- small checks ---- */

static path_view view_of(const path_index *pi, const uint8_t *key)
{
    path_view v;
    assert_true(pi_view(pi, key, &v));
    return v;
}

static void assert_coordinator(const path_index *pi, const uint8_t *key,
                               const char *org, uint32_t term)
{
    path_view v = view_of(pi, key);
    assert_string_equal(v.coordinator, org);
    assert_int_equal(v.term, term);
    assert_false(v.closed);
}

static Polku__HandoverState handover_status(const path_index *pi,
                                            const uint8_t *key, unsigned hid)
{
    uint8_t id[16];
    path_handover_view h;
    handover_id(hid, id);
    assert_true(pi_handover(pi, key, id, &h));
    return h.status;
}

static void digest(const path_index *pi, char out[65])
{
    pi_digest(pi, out);
    assert_int_equal(strlen(out), 64);
}

/* ---- fixture: an empty broker and four agents' empty logs ---- */

typedef struct fixture {
    path_index *pi;
    org_log sote, tk, typ, kela;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || !(f->pi = pi_new()))
        return -1;
    f->sote.org = SOTE;
    f->tk.org = TK;
    f->typ.org = TYP;
    f->kela.org = KELA;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pi_destroy(&f->pi);
    assert_null(f->pi);
    pi_destroy(&f->pi); /* NULL is fine */
    free(f);
    return 0;
}

/* ---- claims ---- */

static void claim_first_wins_second_loses(void **state)
{
    fixture *f = *state;
    path_view v;
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, SOTE, 1000, &v), WON);
    assert_string_equal(v.coordinator, SOTE);
    assert_int_equal(v.term, 1);
    assert_int_equal(v.since_ms, 1000);
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, KELA, 2000, &v), LOST);
    assert_string_equal(v.coordinator, SOTE); /* names the winner */
    assert_int_equal(v.term, 1);
    assert_int_equal(v.since_ms, 1000);
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    assert_int_equal(pi_coordinated(f->pi), 1);
    /* another client is another path */
    assert_int_equal(pi_decide_claim(f->pi, KEY_B, KELA, 2100, &v), WON);
    assert_int_equal(v.term, 1);
    assert_int_equal(pi_count(f->pi), 2);
    assert_int_equal(pi_coordinated(f->pi), 2);
}

static void claim_repeated_by_the_winner(void **state)
{
    fixture *f = *state;
    path_view v;
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, SOTE, 1000, &v), WON);
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, SOTE, 5000, &v), WON);
    assert_string_equal(v.coordinator, SOTE);
    assert_int_equal(v.term, 1); /* no new term */
    assert_int_equal(v.since_ms, 1000);
}

static void claim_after_close_begins_the_next_term(void **state)
{
    fixture *f = *state;
    path_view v;
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, SOTE, 1000, &v), WON);
    assert_true(pi_apply(f->pi, won(&f->sote, KEY_A, 1, 1000)));
    assert_true(
        pi_apply(f->pi, closed(&f->sote, KEY_A, 1, "moved_away", 2000)));
    v = view_of(f->pi, KEY_A);
    assert_true(v.closed);
    assert_int_equal(v.term, 2);
    assert_int_equal(pi_coordinated(f->pi), 0);
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, KELA, 3000, &v), WON);
    assert_string_equal(v.coordinator, KELA);
    assert_int_equal(v.term, 3);
    assert_int_equal(v.since_ms, 3000);
    assert_false(v.closed);
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, SOTE, 3100, &v), LOST);
    assert_string_equal(v.coordinator, KELA);
    assert_int_equal(v.term, 3);
}

static void claim_answers_from_the_logs_rebuild_the_path(void **state)
{
    fixture *f = *state;
    /* after a restart: the loser's log first, it names the coordinator */
    assert_true(pi_apply(f->pi, lost(&f->kela, KEY_A, SOTE, 1, 1000, 1500)));
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    assert_true(pi_apply(f->pi, won(&f->sote, KEY_A, 1, 1000)));
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    assert_int_equal(view_of(f->pi, KEY_A).since_ms, 1000);
    assert_int_equal(pi_conflicts(f->pi), 0);
    /* the claim itself is in the log but changes no path */
    assert_false(pi_apply(f->pi, claimed(&f->tk, KEY_A, 1600)));
    path_view v;
    assert_int_equal(pi_decide_claim(f->pi, KEY_A, TK, 1700, &v), LOST);
    assert_string_equal(v.coordinator, SOTE);
}

/* ---- dedupe by (origin org, origin seq) ---- */

static void same_seq_twice_changes_nothing(void **state)
{
    fixture *f = *state;
    char before[65], after[65];
    const polku_envelope *w = won(&f->sote, KEY_A, 1, 1000);
    assert_false(pi_seen(f->pi, SOTE, 1));
    assert_true(pi_apply(f->pi, w));
    assert_true(pi_seen(f->pi, SOTE, 1));
    digest(f->pi, before);
    assert_false(pi_apply(f->pi, w));
    digest(f->pi, after);
    assert_string_equal(before, after);
    /* the seq is what counts, not the content: a different body under a
     * seq already applied is still a duplicate */
    polku_envelope *c = closed(&f->sote, KEY_A, 1, "other", 2000);
    c->origin_seq = 1;
    assert_false(pi_apply(f->pi, c));
    digest(f->pi, after);
    assert_string_equal(before, after);
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    /* the same seq from another org is another event */
    assert_true(pi_apply(f->pi, lost(&f->kela, KEY_A, SOTE, 1, 1000, 1100)));
    assert_true(pi_seen(f->pi, KELA, 1));
    /* seq 0 is not an event */
    polku_envelope *z = plan(&f->typ, KEY_A, 1, "p", 1, 0, 1200);
    z->origin_seq = 0;
    assert_false(pi_apply(f->pi, z));
}

static void out_of_order_seqs_apply_once_each(void **state)
{
    fixture *f = *state;
    won(&f->sote, KEY_A, 1, 1000);                     /* seq 1 */
    plan(&f->sote, KEY_A, 1, "plan-a", 1, 9000, 1100); /* seq 2 */
    offered(&f->sote, KEY_A, KELA, 1, 1, 1200);        /* seq 3 */
    plan(&f->sote, KEY_A, 1, "plan-a", 2, 9500, 1300); /* seq 4 */
    const size_t order[] = {2, 0, 3, 1};               /* seqs 3, 1, 4, 2 */
    for (size_t i = 0; i < 4; i++) {
        const polku_envelope *env = &f->sote.ev[order[i]].env;
        assert_false(pi_seen(f->pi, SOTE, env->origin_seq));
        assert_true(pi_apply(f->pi, env));
        assert_true(pi_seen(f->pi, SOTE, env->origin_seq));
        for (size_t j = 0; j <= i; j++) /* all so far stay duplicates */
            assert_false(pi_apply(f->pi, &f->sote.ev[order[j]].env));
    }
    assert_false(pi_seen(f->pi, SOTE, 5));
    assert_false(pi_seen(f->pi, KELA, 1));
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    json_t *j = pi_json(f->pi, KEY_A, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(j, "plan"), "version")),
                     2);
    json_decref(j);
}

/* ---- handovers ---- */

/* sote coordinates KEY_A at term 1 and offers it (handover 1) to typ. */
static void sote_offers_a_to_typ(fixture *f)
{
    assert_true(pi_apply(f->pi, won(&f->sote, KEY_A, 1, 1000)));
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 1), 0);
    assert_true(pi_apply(f->pi, offered(&f->sote, KEY_A, TYP, 1, 1, 2000)));
}

static void offer_shows_as_open(void **state)
{
    fixture *f = *state;
    sote_offers_a_to_typ(f);
    path_view v = view_of(f->pi, KEY_A);
    assert_true(v.has_open_handover);
    assert_string_equal(v.open_handover.from, SOTE);
    assert_string_equal(v.open_handover.to, TYP);
    assert_int_equal(v.open_handover.term, 1);
    assert_int_equal(v.open_handover.status, OFFERED);
    assert_int_equal(v.open_handover.offered_ms, 2000);
    assert_string_equal(v.coordinator, SOTE); /* until it is accepted */
    json_t *j = pi_json(f->pi, KEY_A, NULL);
    json_t *open = json_object_get(j, "open_handover");
    assert_true(json_is_object(open));
    assert_string_equal(json_string_value(json_object_get(open, "from")), SOTE);
    assert_string_equal(json_string_value(json_object_get(open, "to")), TYP);
    assert_int_equal(json_integer_value(json_object_get(open, "term")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "coordinator")),
                        SOTE);
    json_decref(j);
    assert_null(pi_json(f->pi, KEY_B, NULL));
}

static void declined_offer_leaves_the_coordinator(void **state)
{
    fixture *f = *state;
    sote_offers_a_to_typ(f);
    assert_true(pi_apply(
        f->pi, answered(&f->typ, KEY_A, 1, DECLINED, 0, SOTE, TYP, 3000)));
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
    assert_false(view_of(f->pi, KEY_A).has_open_handover);
    assert_int_equal(handover_status(f->pi, KEY_A, 1), DECLINED);
    json_t *j = pi_json(f->pi, KEY_A, NULL);
    assert_true(json_is_null(json_object_get(j, "open_handover")));
    json_decref(j);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 1), 0);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, TYP, 1),
                     NOT_COORDINATOR);
}

static void accepted_offer_moves_the_coordinator(void **state)
{
    fixture *f = *state;
    sote_offers_a_to_typ(f);
    assert_true(pi_apply(
        f->pi, answered(&f->typ, KEY_A, 1, ACCEPTED, 2, SOTE, TYP, 3000)));
    assert_coordinator(f->pi, KEY_A, TYP, 2);
    path_view v = view_of(f->pi, KEY_A);
    assert_int_equal(v.since_ms, 3000);
    assert_false(v.has_open_handover);
    assert_int_equal(handover_status(f->pi, KEY_A, 1), ACCEPTED);
    assert_int_equal(pi_coordinated(f->pi), 1);
    /* the gate: only typ at term 2 may offer or close now */
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, TYP, 2), 0);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 1),
                     NOT_COORDINATOR);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 2),
                     NOT_COORDINATOR);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, KELA, 2),
                     NOT_COORDINATOR);
    /* a term the broker has not seen begin: its event is on its way */
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, KELA, 3), RETRY_LATER);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_B, KELA, 1), RETRY_LATER);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_B, KELA, 0),
                     NOT_COORDINATOR);
}

static void withdrawn_or_failed_offer_closes_it(void **state)
{
    fixture *f = *state;
    sote_offers_a_to_typ(f);
    /* withdrawn: written by the receiver, at the offerer's request */
    assert_true(pi_apply(
        f->pi, answered(&f->typ, KEY_A, 1, WITHDRAWN, 0, SOTE, TYP, 3000)));
    assert_false(view_of(f->pi, KEY_A).has_open_handover);
    assert_int_equal(handover_status(f->pi, KEY_A, 1), WITHDRAWN);
    /* failed: written by the offerer, the offer could not be delivered */
    assert_true(pi_apply(f->pi, offered(&f->sote, KEY_A, KELA, 2, 1, 4000)));
    assert_true(view_of(f->pi, KEY_A).has_open_handover);
    assert_true(pi_apply(
        f->pi, answered(&f->sote, KEY_A, 2, FAILED, 0, SOTE, KELA, 4100)));
    assert_false(view_of(f->pi, KEY_A).has_open_handover);
    assert_int_equal(handover_status(f->pi, KEY_A, 2), FAILED);
    assert_coordinator(f->pi, KEY_A, SOTE, 1);
}

/* ---- close ---- */

static void coordinator_closes_at_its_term(void **state)
{
    fixture *f = *state;
    assert_true(pi_apply(f->pi, won(&f->sote, KEY_A, 1, 1000)));
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 1), 0);
    assert_true(
        pi_apply(f->pi, closed(&f->sote, KEY_A, 1, "no_longer_needed", 2000)));
    path_view v = view_of(f->pi, KEY_A);
    assert_true(v.closed);
    assert_string_equal(v.coordinator, "");
    assert_int_equal(v.term, 2);
    assert_int_equal(v.since_ms, 2000);
    assert_int_equal(pi_coordinated(f->pi), 0);
    assert_int_equal(pi_count(f->pi), 1);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 1),
                     NOT_COORDINATOR);
    assert_int_equal(pi_check_coordinator(f->pi, KEY_A, SOTE, 2),
                     NOT_COORDINATOR);
    json_t *j = pi_json(f->pi, KEY_A, NULL);
    assert_true(json_is_null(json_object_get(j, "coordinator")));
    assert_true(json_is_true(json_object_get(j, "closed")));
    assert_string_equal(json_string_value(json_object_get(j, "closed_reason")),
                        "no_longer_needed");
    json_decref(j);
}

static void stale_close_does_not_count(void **state)
{
    fixture *f = *state;
    char before[65], after[65];
    sote_offers_a_to_typ(f);
    assert_true(pi_apply(
        f->pi, answered(&f->typ, KEY_A, 1, ACCEPTED, 2, SOTE, TYP, 3000)));
    digest(f->pi, before);
    /* sote closing its old term, kela closing a term it does not hold */
    assert_true(pi_apply(f->pi, closed(&f->sote, KEY_A, 1, "other", 4000)));
    assert_true(pi_apply(f->pi, closed(&f->kela, KEY_A, 2, "other", 4100)));
    assert_coordinator(f->pi, KEY_A, TYP, 2);
    digest(f->pi, after);
    assert_string_equal(before, after);
    /* the coordinator's own close at its term does */
    assert_true(pi_apply(f->pi, closed(&f->typ, KEY_A, 2, "moved_away", 5000)));
    assert_true(view_of(f->pi, KEY_A).closed);
    assert_int_equal(view_of(f->pi, KEY_A).term, 3);
}

/* ---- order independence ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return splitmix64(s) % n;
}

/* From POLKU_TEST_SEED, else fresh each run (and printed on failure). */
static uint64_t base_seed(void)
{
    const char *s = getenv("POLKU_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* Folds the logs into pi in one random interleaving that keeps each log's
 * own order (each interleaving equally likely), re-delivering an earlier
 * event now and then as a reconnect would. False if a re-delivery had an
 * effect. */
static bool replay_shuffled(path_index *pi, org_log *const *logs, size_t n_logs,
                            uint64_t *rng)
{
    size_t next[8] = {0}, left = 0;
    assert_true(n_logs <= 8);
    for (size_t i = 0; i < n_logs; i++)
        left += logs[i]->n;
    for (; left > 0; left--) {
        uint64_t r = below(rng, left);
        size_t i = 0;
        for (; r >= logs[i]->n - next[i]; i++)
            r -= logs[i]->n - next[i];
        pi_apply(pi, &logs[i]->ev[next[i]++].env);
        if (below(rng, 6) == 0 &&
            pi_apply(pi, &logs[i]->ev[below(rng, next[i])].env))
            return false;
    }
    return true;
}

/* Replays the logs in `trials` random interleavings, each into a fresh
 * index; each must give digest `want` and `coordinated` coordinated
 * paths. */
static void assert_any_interleaving(org_log *const *logs, size_t n_logs,
                                    int trials, const char *want,
                                    size_t coordinated)
{
    uint64_t seed = base_seed();
    for (int t = 0; t < trials; t++) {
        uint64_t rng = seed + (uint64_t)t;
        path_index *pi = pi_new();
        assert_non_null(pi);
        bool redelivery_ok = replay_shuffled(pi, logs, n_logs, &rng);
        char got[65];
        pi_digest(pi, got);
        size_t n = pi_coordinated(pi);
        pi_destroy(&pi);
        if (!redelivery_ok || strcmp(got, want) != 0 || n != coordinated)
            fail_msg("interleaving %d of POLKU_TEST_SEED=%llu: %s, "
                     "digest %s (want %s), %zu coordinated (want %zu)",
                     t, (unsigned long long)seed,
                     redelivery_ok ? "re-deliveries had no effect"
                                   : "a re-delivery had an effect",
                     got, want, n, coordinated);
    }
}

/* A race the fold must settle the same way in any order. KEY_A: sote's
 * offer reached tyokykytiimi, but a resend of it was refused (the consent
 * had been revoked meanwhile), so sote wrote the offer failed and still
 * thought itself coordinator; tyokykytiimi accepted, and sote's close at
 * term 1, refused by the broker, stays in sote's log. KEY_B: the same, but
 * declined, so sote's close of it is good. */
static void stale_close_counts_in_no_order(void **state)
{
    fixture *f = *state;
    won(&f->sote, KEY_A, 1, 1000);                           /* sote 1 */
    offered(&f->sote, KEY_A, TK, 1, 1, 1100);                /* sote 2 */
    answered(&f->tk, KEY_A, 1, ACCEPTED, 2, SOTE, TK, 1200); /* tk 1 */
    answered(&f->sote, KEY_A, 1, FAILED, 0, SOTE, TK, 1300); /* sote 3 */
    closed(&f->sote, KEY_A, 1, "other", 1400);               /* sote 4 */
    won(&f->sote, KEY_B, 1, 2000);                           /* sote 5 */
    offered(&f->sote, KEY_B, TK, 2, 1, 2100);                /* sote 6 */
    answered(&f->tk, KEY_B, 2, DECLINED, 0, SOTE, TK, 2200); /* tk 2 */
    answered(&f->sote, KEY_B, 2, FAILED, 0, SOTE, TK, 2300); /* sote 7 */
    closed(&f->sote, KEY_B, 1, "client_declined", 2400);     /* sote 8 */
    /* as the broker saw them live: the refused close was not folded */
    const polku_envelope *live[] = {
        &f->sote.ev[0].env, &f->sote.ev[1].env, &f->tk.ev[0].env,
        &f->sote.ev[2].env, &f->sote.ev[4].env, &f->sote.ev[5].env,
        &f->tk.ev[1].env,   &f->sote.ev[6].env, &f->sote.ev[7].env};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        assert_true(pi_apply(f->pi, live[i]));
    assert_coordinator(f->pi, KEY_A, TK, 2);
    assert_int_equal(handover_status(f->pi, KEY_A, 1), ACCEPTED);
    assert_true(view_of(f->pi, KEY_B).closed);
    assert_int_equal(handover_status(f->pi, KEY_B, 2), DECLINED);
    char want[65], got[65];
    digest(f->pi, want);
    /* the refused close, replayed after a restart, changes nothing */
    assert_true(pi_apply(f->pi, &f->sote.ev[3].env));
    digest(f->pi, got);
    assert_string_equal(got, want);
    org_log *const logs[] = {&f->sote, &f->tk};
    assert_any_interleaving(logs, 2, 200, want, 1);
}

/* A history as it happened: four agents' logs, written while a live
 * broker (`live`) decided the claims and gated every offer and close. */
#define N_ORGS 4

typedef struct history {
    path_index *live;
    org_log logs[N_ORGS];
    const polku_envelope *order[N_ORGS * MAX_EVENTS]; /* as `live` saw it */
    size_t n;
    uint64_t now;
} history;

static history *history_new(void)
{
    history *h = calloc(1, sizeof *h);
    assert_non_null(h);
    assert_non_null(h->live = pi_new());
    const char *orgs[N_ORGS] = {SOTE, TK, TYP, KELA};
    for (size_t i = 0; i < N_ORGS; i++)
        h->logs[i].org = orgs[i];
    h->now = 1700000000000ull;
    return h;
}

static void history_free(history *h)
{
    pi_destroy(&h->live);
    free(h);
}

static org_log *log_of(history *h, const char *org)
{
    for (size_t i = 0; i < N_ORGS; i++)
        if (strcmp(h->logs[i].org, org) == 0)
            return &h->logs[i];
    fail_msg("no log for %s", org);
    return NULL;
}

/* The live broker folds what an agent has just written, as it passes. */
static void pass(history *h, const polku_envelope *env)
{
    pi_apply(h->live, env);
    h->order[h->n++] = env;
}

static void h_claim(history *h, const char *org, const uint8_t *key,
                    Polku__ClaimOutcome expect)
{
    org_log *l = log_of(h, org);
    path_view v;
    pass(h, claimed(l, key, h->now += 100));
    assert_int_equal(pi_decide_claim(h->live, key, org, h->now, &v), expect);
    pass(h, claim_answer(l, key, expect, log_of(h, v.coordinator)->org, v.term,
                         v.since_ms, h->now += 10));
}

/* What the broker's coordinator gate lets through: org at its term. */
static uint32_t gated_term(history *h, const char *org, const uint8_t *key)
{
    path_view v = view_of(h->live, key);
    assert_int_equal(pi_check_coordinator(h->live, key, org, v.term), 0);
    return v.term;
}

static void h_offer(history *h, const char *org, const uint8_t *key,
                    const char *to, unsigned hid)
{
    uint32_t term = gated_term(h, org, key);
    pass(h, offered(log_of(h, org), key, log_of(h, to)->org, hid, term,
                    h->now += 100));
}

/* The receiver's answer, or the offerer's own `failed`. */
static void h_answer(history *h, const char *org, const uint8_t *key,
                     unsigned hid, Polku__HandoverState status)
{
    uint8_t id[16];
    path_handover_view ho;
    handover_id(hid, id);
    assert_true(pi_handover(h->live, key, id, &ho));
    assert_int_equal(ho.status, OFFERED);
    assert_string_equal(status == FAILED ? ho.from : ho.to, org);
    pass(h,
         answered(log_of(h, org), key, hid, status,
                  status == ACCEPTED ? ho.term + 1 : 0, log_of(h, ho.from)->org,
                  log_of(h, ho.to)->org, h->now += 100));
}

static void h_close(history *h, const char *org, const uint8_t *key,
                    const char *reason)
{
    uint32_t term = gated_term(h, org, key);
    pass(h, closed(log_of(h, org), key, term, reason, h->now += 100));
}

static void h_plan(history *h, const char *org, const uint8_t *key,
                   const char *plan_id, uint32_t version)
{
    uint32_t term = gated_term(h, org, key);
    h->now += 100;
    pass(h, plan(log_of(h, org), key, term, plan_id, version,
                 h->now + 30ull * 86400000, h->now));
}

/* The typical paths of DESIGN.md §1 over four clients. variant 1 closes
 * KEY_A for another reason; variant 2 has kela decline the last offer. */
static history *build_history(int variant)
{
    history *h = history_new();
    h_claim(h, SOTE, KEY_A, WON);
    h_claim(h, KELA, KEY_B, WON);
    h_claim(h, TK, KEY_C, WON);
    h_plan(h, SOTE, KEY_A, "sote-a", 1);
    h_claim(h, TK, KEY_A, LOST);
    h_claim(h, TYP, KEY_B, LOST);
    h_offer(h, SOTE, KEY_A, TK, 1);
    h_answer(h, TK, KEY_A, 1, DECLINED);
    h_close(h, TK, KEY_C, "client_declined");
    h_offer(h, KELA, KEY_B, TYP, 2);
    h_answer(h, TYP, KEY_B, 2, ACCEPTED);
    h_claim(h, SOTE, KEY_C, WON); /* after the close: term 3 */
    h_plan(h, SOTE, KEY_A, "sote-a", 2);
    h_offer(h, SOTE, KEY_A, TYP, 3);
    h_answer(h, TYP, KEY_A, 3, ACCEPTED);
    h_plan(h, TYP, KEY_A, "typ-a", 1);
    h_claim(h, KELA, KEY_A, LOST);
    h_offer(h, TYP, KEY_B, TK, 4);
    h_answer(h, TYP, KEY_B, 4, FAILED);
    h_claim(h, KELA, KEY_C, LOST);
    h_offer(h, SOTE, KEY_C, KELA, 5);
    h_answer(h, KELA, KEY_C, 5, ACCEPTED);
    h_plan(h, KELA, KEY_C, "kela-c", 1);
    h_offer(h, TYP, KEY_A, KELA, 6);
    h_answer(h, KELA, KEY_A, 6, WITHDRAWN);
    h_close(h, TYP, KEY_A, variant == 1 ? "moved_away" : "no_longer_needed");
    h_claim(h, TYP, KEY_D, WON);
    h_claim(h, SOTE, KEY_D, LOST);
    h_plan(h, TYP, KEY_B, "typ-b", 1);
    h_offer(h, TYP, KEY_B, KELA, 7);
    if (variant == 2)
        h_answer(h, KELA, KEY_B, 7, DECLINED);
    assert_int_equal(pi_conflicts(h->live), 0);
    return h;
}

/* The history folded in the order the live broker saw it. */
static path_index *in_order(const history *h)
{
    path_index *pi = pi_new();
    assert_non_null(pi);
    for (size_t i = 0; i < h->n; i++)
        pi_apply(pi, h->order[i]);
    return pi;
}

static void history_same_in_any_interleaving(void **state)
{
    history *h = build_history(0);
    path_index *pi = in_order(h);
    char want[65], live[65];
    digest(pi, want);
    digest(h->live, live);
    assert_string_equal(want, live); /* a rebuild gives what was live */
    assert_int_equal(pi_count(pi), 4);
    assert_int_equal(pi_coordinated(pi), 3);
    path_view a = view_of(pi, KEY_A);
    assert_true(a.closed);
    assert_int_equal(a.term, 3);
    assert_false(a.has_open_handover);
    path_view b = view_of(pi, KEY_B);
    assert_coordinator(pi, KEY_B, TYP, 2);
    assert_true(b.has_open_handover);
    assert_string_equal(b.open_handover.to, KELA);
    assert_coordinator(pi, KEY_C, KELA, 4);
    assert_coordinator(pi, KEY_D, TYP, 1);
    pi_destroy(&pi);
    org_log *const logs[N_ORGS] = {&h->logs[0], &h->logs[1], &h->logs[2],
                                   &h->logs[3]};
    assert_any_interleaving(logs, N_ORGS, 200, want, 3);
    history_free(h);
}

static void digest_tells_histories_apart(void **state)
{
    char d[3][65], empty[65];
    for (int variant = 0; variant < 3; variant++) {
        history *h = build_history(variant);
        path_index *pi = in_order(h);
        digest(pi, d[variant]);
        pi_destroy(&pi);
        history_free(h);
    }
    path_index *none = pi_new();
    digest(none, empty);
    pi_destroy(&none);
    assert_string_not_equal(d[0], d[1]); /* a close reason */
    assert_string_not_equal(d[0], d[2]); /* one more answer */
    assert_string_not_equal(d[1], d[2]);
    assert_string_not_equal(d[0], empty);
}

/* ---- the plan pointer and supporter follow every change ---- */

/* Applies list[order[i]] for i < n to a fresh index; its digest in out. */
static void fold_in(polku_envelope *const list[], const size_t order[],
                    size_t n, const uint8_t *key, path_view *v, char out[65])
{
    path_index *pi = pi_new();
    for (size_t i = 0; i < n; i++)
        assert_true(pi_apply(pi, list[order[i]]));
    *v = view_of(pi, key);
    digest(pi, out);
    pi_destroy(&pi);
}

/* Postponing the review on the same version moves the date (the review is
 * no longer overdue); a new version replaces; an older one changes nothing
 * and is stale; and the order they are folded in does not matter. */
static void plan_follows_postponement_and_versions(void **state)
{
    fixture *f = *state;
    polku_envelope *list[5];
    list[0] = won(&f->sote, KEY_A, 1, 1000);
    list[1] = plan(&f->sote, KEY_A, 1, "p-1", 2, 5000, 2000);
    list[2] = plan(&f->sote, KEY_A, 1, "p-1", 2, 9000, 3000); /* postponed */
    list[3] = plan(&f->sote, KEY_A, 1, "p-1", 1, 7000, 4000); /* stale */
    list[4] = plan(&f->sote, KEY_A, 1, "p-1", 2, 8000, 4500); /* sooner */
    const size_t orders[][5] = {
        {0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}, {3, 1, 0, 4, 2}};
    char first[65] = "", d[65];
    for (size_t o = 0; o < 4; o++) {
        path_view v;
        fold_in(list, orders[o], 5, KEY_A, &v, d);
        assert_true(v.has_plan);
        assert_int_equal(v.plan_version, 2);
        assert_int_equal(v.plan_review_due_ms, 8000);
        if (o == 0)
            memcpy(first, d, 65);
        assert_string_equal(d, first);
    }
    for (size_t i = 0; i < 3; i++)
        pi_apply(f->pi, list[i]);
    assert_int_equal(view_of(f->pi, KEY_A).plan_review_due_ms, 9000);
    uint32_t current = 0;
    assert_true(pi_plan_stale(f->pi, KEY_A, 1, 1, &current));
    assert_int_equal(current, 2);
    assert_false(pi_plan_stale(f->pi, KEY_A, 1, 2, NULL)); /* postponement */
    assert_false(pi_plan_stale(f->pi, KEY_A, 2, 1, NULL)); /* next term */
    /* a new version replaces */
    pi_apply(f->pi, plan(&f->sote, KEY_A, 1, "p-1", 3, 6000, 5000));
    assert_int_equal(view_of(f->pi, KEY_A).plan_version, 3);
    assert_int_equal(view_of(f->pi, KEY_A).plan_review_due_ms, 6000);
}

/* An accepted handover's plan pointer and supporter become the path's,
 * whichever of the offer and the acceptance is folded first; the offerer's
 * plan update of the old term, folded late, does not undo it; a close
 * ends both. */
static void accepted_handover_brings_plan_and_supporter(void **state)
{
    fixture *f = *state;
    polku_envelope *list[5];
    list[0] = won(&f->sote, KEY_A, 1, 1000);
    list[1] = plan(&f->sote, KEY_A, 1, "p-1", 1, 5000, 2000);
    list[2] = offered(&f->sote, KEY_A, KELA, 1, 1, 3000);
    event *o = &f->sote.ev[f->sote.n - 1];
    o->body.offered.supporter = (char *)TYP;
    polku__plan_pointer__init(&o->plan);
    o->plan.org = (char *)SOTE;
    o->plan.plan_id = (char *)"p-1";
    o->plan.version = 1;
    o->plan.review_due_ms = 5000;
    o->body.offered.plan = &o->plan;
    /* sote postpones after offering: the offer's pointer is what kela took */
    list[3] = plan(&f->sote, KEY_A, 1, "p-1", 1, 9000, 3500);
    list[4] = answered(&f->kela, KEY_A, 1, ACCEPTED, 2, SOTE, KELA, 4000);
    const size_t orders[][5] = {
        {0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 3, 0, 1}, {4, 0, 3, 1, 2}};
    char first[65] = "", d[65];
    for (size_t i = 0; i < 4; i++) {
        path_view v;
        fold_in(list, orders[i], 5, KEY_A, &v, d);
        assert_string_equal(v.coordinator, KELA);
        assert_int_equal(v.term, 2);
        assert_string_equal(v.supporter, TYP);
        assert_true(v.has_plan);
        assert_string_equal(v.plan_org, SOTE);
        assert_int_equal(v.plan_review_due_ms, 5000);
        if (i == 0)
            memcpy(first, d, 65);
        assert_string_equal(d, first);
    }
    for (size_t i = 0; i < 5; i++)
        pi_apply(f->pi, list[i]);
    json_t *j = pi_json(f->pi, KEY_A, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "supporter")),
                        TYP);
    assert_non_null(json_object_get(json_object_get(j, "plan"), "org"));
    assert_null(json_object_get(json_object_get(j, "plan"), "plan_id"));
    json_decref(j);
    /* kela closes: no plan, no supporter */
    pi_apply(f->pi, closed(&f->kela, KEY_A, 2, "moved_away", 6000));
    path_view v = view_of(f->pi, KEY_A);
    assert_true(v.closed);
    assert_false(v.has_plan);
    assert_string_equal(v.supporter, "");
    j = pi_json(f->pi, KEY_A, NULL);
    assert_true(json_is_null(json_object_get(j, "supporter")));
    json_decref(j);
}

/* A declined offer changes neither plan nor supporter. */
static void declined_handover_leaves_plan_and_supporter(void **state)
{
    fixture *f = *state;
    pi_apply(f->pi, won(&f->sote, KEY_A, 1, 1000));
    pi_apply(f->pi, plan(&f->sote, KEY_A, 1, "p-1", 1, 5000, 2000));
    polku_envelope *offer = offered(&f->sote, KEY_A, KELA, 1, 1, 3000);
    f->sote.ev[f->sote.n - 1].body.offered.supporter = (char *)TYP;
    pi_apply(f->pi, offer);
    pi_apply(f->pi,
             answered(&f->kela, KEY_A, 1, DECLINED, 1, SOTE, KELA, 4000));
    path_view v = view_of(f->pi, KEY_A);
    assert_string_equal(v.coordinator, SOTE);
    assert_string_equal(v.supporter, "");
    assert_int_equal(v.plan_review_due_ms, 5000);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(claim_first_wins_second_loses),
        CASE(claim_repeated_by_the_winner),
        CASE(claim_after_close_begins_the_next_term),
        CASE(claim_answers_from_the_logs_rebuild_the_path),
        CASE(same_seq_twice_changes_nothing),
        CASE(out_of_order_seqs_apply_once_each),
        CASE(offer_shows_as_open),
        CASE(declined_offer_leaves_the_coordinator),
        CASE(accepted_offer_moves_the_coordinator),
        CASE(withdrawn_or_failed_offer_closes_it),
        CASE(coordinator_closes_at_its_term),
        CASE(stale_close_does_not_count),
        CASE(stale_close_counts_in_no_order),
        CASE(plan_follows_postponement_and_versions),
        CASE(accepted_handover_brings_plan_and_supporter),
        CASE(declined_handover_leaves_plan_and_supporter),
        cmocka_unit_test(history_same_in_any_interleaving),
        cmocka_unit_test(digest_tells_histories_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
