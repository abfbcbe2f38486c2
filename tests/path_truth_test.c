/* path_truth_test.c — the broker's shared path tells what the coordinator
 * knows (issue 15), whatever happens and in whatever order.
 *
 * A property test over the real pieces, without sockets: a region of four
 * organisations on real temporary stores (agents/domain/domain_fixture.h)
 * does random things to one client through the agents' own domain
 * functions — consents granted and revoked, claims (decided by the
 * broker's path index, as the broker decides them) and their answers, plan
 * updates (new versions, postponements, stale versions), handover offers,
 * acceptances, declines, withdrawals and failures, services started and
 * ended, closes — while the events travel among the agents in a random
 * order (each organisation's log in order, as its outbox sends it). When
 * everything is delivered, every organisation's log is folded by the
 * broker's fold (broker/fold.h) in several random interleavings, and:
 *
 *   - every interleaving gives the same digest (invariant 1), equal to the
 *     broker that saw the events as they passed;
 *   - the broker's path and the coordinator's own path record agree field
 *     by field: coordinator, term, closed, plan org/id/version/review date,
 *     supporter, open handover (for a closed path: the record of the
 *     organisation that closed it).
 *
 * POLKU_TEST_SEED repeats a run (the seed is printed); POLKU_TEST_RUNS sets
 * how many (default 300). */
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../agents/domain/consents.h"
#include "../agents/domain/domain_fixture.h"
#include "../agents/domain/handovers.h"
#include "../agents/domain/inbox.h"
#include "../agents/domain/paths.h"
#include "../broker/fold.h"
#include "polku/error.h"
#include "polku/log.h"

#define N_ORGS 4
#define STEPS 90
#define CLIENTS_PER_REGION 10 /* a region's stores serve several runs */
#define INTERLEAVINGS 4
#define MAX_IDS 64
#define DAY 86400000ull

static const char *const ORGS[N_ORGS] = {"sote", "kela", "typ", "tyo"};
static const char *const SERVICES[N_ORGS] = {"home-care", "rehab",
                                             "counselling", "coaching"};

/* ---- a seeded generator ---- */

static uint64_t rng;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t pick(size_t n)
{
    return (size_t)(next_random() % n);
}

/* ---- one run ---- */

typedef struct sim {
    fx_region r;
    uint8_t client[16];        /* this run's client */
    broker_indexes live;       /* the broker as the events pass it */
    uint64_t sent[N_ORGS];     /* each log's events passed so far */
    uint64_t dropped[1024][2]; /* (org index, seq) the broker refused */
    size_t n_dropped;
    uint8_t consents[MAX_IDS][16];
    size_t n_consents;
    uint8_t handovers[MAX_IDS][16];
    size_t n_handovers;
    /* what happened, for the summary */
    unsigned stale_refused, postponed, accepted, failed, closed, claims_won;
} sim;

static fx_org *org_at(sim *s, size_t i)
{
    return &s->r.org[i];
}

static size_t index_of(sim *s, const char *org)
{
    for (size_t i = 0; i < N_ORGS; i++)
        if (strcmp(ORGS[i], org) == 0)
            return i;
    fail_msg("unknown organisation %s", org);
    return 0;
}

static bool is_dropped(const sim *s, size_t org, uint64_t seq)
{
    for (size_t i = 0; i < s->n_dropped; i++)
        if (s->dropped[i][0] == org && s->dropped[i][1] == seq)
            return true;
    return false;
}

/* ---- the broker passing events on ---- */

static int claim_answered_fn(domain *d, MDB_txn *txn, void *ctx)
{
    return inbox_claim_answered(d, txn, ctx);
}

/* The broker decides a claim and answers its claimant. */
static void answer_claim(sim *s, fx_org *o, const polku_envelope *claim)
{
    path_view v;
    Polku__ClaimOutcome outcome =
        pi_decide_claim(s->live.paths, claim->client_key.data,
                        claim->origin_org, claim->time_ms, &v);
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClaimAnswered a = POLKU__PATH_CLAIM_ANSWERED__INIT;
    env.origin_org = (char *)"";
    env.client_key = claim->client_key;
    a.claim_id = claim->path_claimed->claim_id;
    a.claim_seq = claim->origin_seq;
    a.outcome = outcome;
    a.coordinator = v.coordinator;
    a.term = v.term;
    a.since_ms = v.since_ms;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    env.path_claim_answered = &a;
    assert_int_equal(fx_run(o, claim_answered_fn, &env), POLKU_OK);
    if (outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON)
        s->claims_won++;
}

/* The next event of org i passes the broker; false if none is left. */
static bool pass_one(sim *s, size_t i)
{
    fx_org *o = org_at(s, i);
    if (s->sent[i] >= fx_last_seq(o))
        return false;
    uint64_t seq = ++s->sent[i];
    polku_envelope *env = fx_event(o, seq);
    assert_non_null(env);
    fold_apply(&s->live, env);
    if (env->body_case == POLKU__ENVELOPE__BODY_PATH_CLAIMED) {
        answer_claim(s, o, env);
    } else if (!is_dropped(s, i, seq)) {
        for (size_t k = 0; k < env->n_to; k++) {
            fx_org *to = fx_org_of(&s->r, env->to[k]);
            assert_non_null(to);
            assert_int_equal(fx_inbox(to, env, NULL), POLKU_OK);
        }
    }
    polku_envelope_free(&env);
    return true;
}

static void pass_random(sim *s)
{
    size_t start = pick(N_ORGS);
    for (size_t k = 0; k < N_ORGS; k++)
        if (pass_one(s, (start + k) % N_ORGS))
            return;
}

static void settle(sim *s)
{
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < N_ORGS; i++)
            while (pass_one(s, i))
                moved = true;
    }
}

/* ---- what the organisations do ---- */

typedef struct call {
    sim *s;
    const void *arg;
    domain_refusal why;
    bool flag;
    uint32_t version;
    uint64_t due;
    const char *text;
    const char *to;
} call;

static int claim_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__PathRecord *p = NULL;
    bool decided = false;
    int rc = paths_claim(d, txn, c->s->client, &c->why, &p, &decided);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return rc;
}

static int plan_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_plan(d, txn, c->s->client, c->text, c->version, c->due,
                        &c->why, &p);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return rc;
}

static int close_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_close(d, txn, c->s->client, "no_longer_needed", NULL,
                         &c->why, &p);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return rc;
}

static int service_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__PathRecord *p = NULL;
    int rc = paths_service(d, txn, c->s->client, c->text, c->flag, &p);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return rc;
}

static int offer_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    handover_new n = {.to = c->to, .supporter = c->text, .note = "see plan"};
    memcpy(n.client_key, c->s->client, 16);
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_offer(d, txn, &n, &c->why, &h);
    if (h) {
        sim *s = c->s;
        if (s->n_handovers < MAX_IDS)
            memcpy(s->handovers[s->n_handovers++], h->id.data, 16);
        polku__handover_record__free_unpacked(h, NULL);
    }
    return rc;
}

static int answer_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc =
        handovers_answer(d, txn, c->arg, c->flag, "no capacity", &c->why, &h);
    if (h)
        polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

static int withdraw_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_withdraw(d, txn, c->arg, &c->why, &h);
    if (h)
        polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

static int fail_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    return handovers_undeliverable(d, txn, c->arg, "not_coordinator");
}

static int revoke_fn(domain *d, MDB_txn *txn, void *ctx)
{
    call *c = ctx;
    Polku__ConsentRecord *r = NULL;
    int rc = consents_revoke(d, txn, c->arg, "client asked", &r);
    if (r)
        polku__consent_record__free_unpacked(r, NULL);
    return rc;
}

/* A domain call may refuse (that is the point of many of them) but never
 * fail otherwise. */
static void expect_ok_or_refused(int rc)
{
    if (rc != POLKU_OK && rc != POLKU_EREFUSED && rc != POLKU_ENOTFOUND &&
        rc != POLKU_EEXIST && rc != POLKU_ETRANSITION)
        fail_msg("a domain call failed: %s", polku_strerror(rc));
}

static void do_grant(sim *s, fx_org *o)
{
    const char *orgs[N_ORGS + 1] = {ORGS[0], ORGS[1], ORGS[2], ORGS[3], NULL};
    uint8_t id[16];
    assert_int_equal(fx_consent_grant(o, s->client, orgs, id), POLKU_OK);
    if (s->n_consents < MAX_IDS)
        memcpy(s->consents[s->n_consents++], id, 16);
}

static void do_revoke(sim *s, fx_org *o)
{
    if (s->n_consents == 0)
        return;
    call c = {.s = s, .arg = s->consents[pick(s->n_consents)]};
    expect_ok_or_refused(fx_run(o, revoke_fn, &c));
}

static void do_plan(sim *s, fx_org *o)
{
    Polku__PathRecord *p = fx_path(o, s->client);
    char plan_id[65] = "plan-a";
    call c = {.s = s,
              .text = plan_id,
              .version = 1,
              .due = s->r.now_ms + (1 + pick(60)) * DAY};
    bool stale = false, same = false;
    if (p && p->plan) {
        uint32_t v = p->plan->version;
        bool this_term = p->plan_kind == 0 && p->plan_term == p->term &&
                         paths_i_coordinate(&o->d, p);
        switch (pick(4)) {
        case 0: /* a new version */
            c.version = v + 1;
            break;
        case 1: /* postponed (or brought forward) on the same version */
        case 2:
            c.version = v;
            snprintf(plan_id, sizeof plan_id, "%s", p->plan->plan_id);
            same = this_term;
            break;
        default: /* an older version */
            c.version = v > 1 ? v - 1 : v;
            stale = this_term && v > 1;
            break;
        }
        if (!same && pick(5) == 0)
            c.text = "plan-b"; /* another plan of the organisation */
    }
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    int rc = fx_run(o, plan_fn, &c);
    expect_ok_or_refused(rc);
    if (stale) {
        assert_int_equal(rc, POLKU_EREFUSED);
        assert_int_equal(c.why.reason, DOMAIN_STALE_PLAN);
        s->stale_refused++;
    } else if (same && rc == POLKU_OK) {
        s->postponed++;
    }
}

static void do_offer(sim *s, size_t i)
{
    size_t to = (i + 1 + pick(N_ORGS - 1)) % N_ORGS;
    size_t sup = pick(N_ORGS + 1);
    call c = {.s = s, .to = ORGS[to], .text = sup < N_ORGS ? ORGS[sup] : NULL};
    expect_ok_or_refused(fx_run(org_at(s, i), offer_fn, &c));
}

/* A handover record o holds with the given direction and status, if any
 * (its id in id). */
static bool find_handover(sim *s, fx_org *o, bool outgoing,
                          Polku__HandoverState status, uint8_t id[16])
{
    size_t start = s->n_handovers ? pick(s->n_handovers) : 0;
    for (size_t k = 0; k < s->n_handovers; k++) {
        const uint8_t *hid = s->handovers[(start + k) % s->n_handovers];
        Polku__HandoverRecord *h = fx_handover(o, hid);
        bool match = h && h->outgoing == outgoing && h->status == status;
        if (h)
            polku__handover_record__free_unpacked(h, NULL);
        if (match) {
            memcpy(id, hid, 16);
            return true;
        }
    }
    return false;
}

/* A receiver with an open offer answers it. */
static void do_answer(sim *s)
{
    uint8_t id[16];
    fx_org *o = NULL;
    size_t start = pick(N_ORGS);
    for (size_t k = 0; k < N_ORGS && !o; k++)
        if (find_handover(s, org_at(s, (start + k) % N_ORGS), false,
                          POLKU__HANDOVER_STATE__HANDOVER_OFFERED, id))
            o = org_at(s, (start + k) % N_ORGS);
    if (!o)
        return;
    call c = {.s = s, .arg = id, .flag = pick(3) != 0};
    int rc = fx_run(o, answer_fn, &c);
    expect_ok_or_refused(rc);
    if (rc == POLKU_OK && c.flag)
        s->accepted++;
}

static void do_withdraw(sim *s, fx_org *o)
{
    uint8_t id[16];
    if (!find_handover(s, o, true, POLKU__HANDOVER_STATE__HANDOVER_OFFERED, id))
        return;
    call c = {.s = s, .arg = id};
    expect_ok_or_refused(fx_run(o, withdraw_fn, &c));
}

/* The broker refuses an offer of org i it has not passed on yet: it never
 * reaches its receiver, and the offerer records its own `failed`. */
static void do_fail(sim *s, size_t i)
{
    fx_org *o = org_at(s, i);
    for (uint64_t seq = s->sent[i] + 1; seq <= fx_last_seq(o); seq++) {
        polku_envelope *env = fx_event(o, seq);
        assert_non_null(env);
        if (env->body_case == POLKU__ENVELOPE__BODY_HANDOVER_OFFERED &&
            memcmp(env->client_key.data, s->client, 16) == 0 &&
            s->n_dropped < 1024) {
            s->dropped[s->n_dropped][0] = i;
            s->dropped[s->n_dropped][1] = seq;
            s->n_dropped++;
            call c = {.s = s, .arg = env};
            expect_ok_or_refused(fx_run(o, fail_fn, &c));
            s->failed++;
            polku_envelope_free(&env);
            return;
        }
        polku_envelope_free(&env);
    }
}

static void do_service(sim *s, size_t i)
{
    call c = {.s = s, .text = SERVICES[i], .flag = pick(2) == 0};
    expect_ok_or_refused(fx_run(org_at(s, i), service_fn, &c));
}

/* The organisation that believes it coordinates the client, if one does;
 * else one at random. */
static size_t believer(sim *s)
{
    for (size_t i = 0; i < N_ORGS; i++) {
        Polku__PathRecord *p = fx_path(org_at(s, i), s->client);
        bool mine = p && paths_i_coordinate(&org_at(s, i)->d, p);
        if (p)
            polku__path_record__free_unpacked(p, NULL);
        if (mine)
            return i;
    }
    return pick(N_ORGS);
}

static void act(sim *s)
{
    /* mostly the coordinator acts (else most offers, plans and closes
     * would only be refused), sometimes anyone */
    size_t i = pick(3) ? believer(s) : pick(N_ORGS);
    fx_org *o = org_at(s, i);
    call c = {.s = s};
    unsigned roll = (unsigned)pick(100);
    if (roll < 40)
        pass_random(s);
    else if (roll < 43)
        do_grant(s, o);
    else if (roll < 45)
        do_revoke(s, o);
    else if (roll < 53)
        expect_ok_or_refused(fx_run(o, claim_fn, &c));
    else if (roll < 65)
        do_plan(s, o);
    else if (roll < 73)
        do_offer(s, i);
    else if (roll < 82)
        do_answer(s);
    else if (roll < 85)
        do_withdraw(s, o);
    else if (roll < 88)
        do_fail(s, i);
    else if (roll < 95)
        do_service(s, i);
    else if (fx_run(o, close_fn, &c) == POLKU_OK)
        s->closed++;
}

/* ---- the broker rebuilt from the logs ---- */

/* Folds every organisation's log, each in order, interleaved at random,
 * into x (fresh indexes). */
static void rebuild(sim *s, broker_indexes *x)
{
    uint64_t next[N_ORGS], left = 0;
    for (size_t i = 0; i < N_ORGS; i++) {
        next[i] = 1;
        left += fx_last_seq(org_at(s, i));
    }
    for (; left > 0; left--) {
        size_t i = pick(N_ORGS);
        while (next[i] > fx_last_seq(org_at(s, i)))
            i = (i + 1) % N_ORGS;
        polku_envelope *env = fx_event(org_at(s, i), next[i]++);
        assert_non_null(env);
        fold_apply(x, env);
        polku_envelope_free(&env);
    }
}

static void indexes_new(broker_indexes *x)
{
    x->consents = ci_new();
    x->paths = pi_new();
    x->clients = cl_new();
    x->names = NULL;
    assert_true(x->consents && x->paths && x->clients);
}

static void indexes_free(broker_indexes *x)
{
    ci_destroy(&x->consents);
    pi_destroy(&x->paths);
    cl_destroy(&x->clients);
}

/* The supporter of p is v's, and so is the plan pointer if plan. */
static void assert_same_plan(const Polku__PathRecord *p, const path_view *v,
                             bool plan)
{
    assert_string_equal(p->supporter, v->supporter);
    if (!plan)
        return;
    assert_int_equal(p->plan != NULL, v->has_plan);
    if (p->plan) {
        assert_string_equal(p->plan->org, v->plan_org);
        assert_string_equal(p->plan->plan_id, v->plan_id);
        assert_int_equal(p->plan->version, v->plan_version);
        assert_int_equal(p->plan->review_due_ms, v->plan_review_due_ms);
    }
}

/* The organisation that handed the coordination over at the term before
 * agrees too, once the acceptance reached it: on the supporter, and on the
 * plan while it is still the one handed over (the new coordinator's own
 * updates reach it only under a consent for plans). */
static void assert_offerer_agrees(sim *s, const path_view *v)
{
    for (size_t i = 0; i < N_ORGS; i++) {
        if (strcmp(ORGS[i], v->coordinator) == 0)
            continue;
        Polku__PathRecord *p = fx_path(org_at(s, i), s->client);
        if (p && p->term == v->term &&
            strcmp(p->coordinator, v->coordinator) == 0 &&
            p->supporter_kind == 2 && p->supporter_term + 1 == v->term)
            assert_same_plan(p, v, v->plan_term + 1 == v->term);
        if (p)
            polku__path_record__free_unpacked(p, NULL);
    }
}

/* The broker's path and the coordinator's record say the same. */
static void assert_truthful(sim *s, const broker_indexes *x)
{
    path_view v;
    if (!pi_view(x->paths, s->client, &v) || v.term == 0) {
        /* nobody ever coordinated: nobody thinks so */
        for (size_t i = 0; i < N_ORGS; i++) {
            Polku__PathRecord *p = fx_path(org_at(s, i), s->client);
            if (p)
                assert_int_equal(p->term, 0);
            if (p)
                polku__path_record__free_unpacked(p, NULL);
        }
        return;
    }
    Polku__PathRecord *p = NULL;
    if (!v.closed) {
        p = fx_path(org_at(s, index_of(s, v.coordinator)), s->client);
        assert_non_null(p);
        assert_string_equal(p->coordinator, v.coordinator);
        assert_false(p->closed);
    } else {
        for (size_t i = 0; i < N_ORGS && !p; i++) {
            p = fx_path(org_at(s, i), s->client);
            if (p && !(p->closed && p->term == v.term)) {
                polku__path_record__free_unpacked(p, NULL);
                p = NULL;
            }
        }
        assert_non_null(p); /* the organisation that closed it */
    }
    assert_int_equal(p->term, v.term);
    assert_int_equal(p->closed, v.closed);
    assert_same_plan(p, &v, true);
    assert_int_equal(p->open_handover.len == 16, v.has_open_handover);
    if (v.has_open_handover)
        assert_memory_equal(p->open_handover.data, v.open_handover.id, 16);
    polku__path_record__free_unpacked(p, NULL);
    if (!v.closed)
        assert_offerer_agrees(s, &v);
}

/* One client's random history in s's region, then the checks. */
static void one_run(sim *s, unsigned run, uint64_t seed)
{
    rng = seed ? seed : 1;
    for (size_t k = 0; k < 16; k++)
        s->client[k] = (uint8_t)next_random();
    s->n_consents = s->n_handovers = 0;
    do_grant(s, org_at(s, pick(N_ORGS)));
    for (unsigned step = 0; step < STEPS; step++) {
        fx_set_clock(&s->r, s->r.now_ms + 1 + pick(3600000));
        act(s);
    }
    settle(s);

    /* every log of the region, so far, in several interleavings */
    char live[65], first[65], d[65];
    fold_digest(&s->live, live, NULL);
    for (unsigned k = 0; k < INTERLEAVINGS; k++) {
        broker_indexes x;
        indexes_new(&x);
        rebuild(s, &x);
        fold_digest(&x, d, NULL);
        if (k == 0) {
            memcpy(first, d, sizeof d);
            assert_truthful(s, &x);
        }
        if (strcmp(d, first) != 0 || strcmp(d, live) != 0)
            fail_msg("run %u: interleaving %u gives another digest", run, k);
        indexes_free(&x);
    }
}

static void region_open(sim *s)
{
    memset(s, 0, sizeof *s);
    fx_region_init(&s->r, N_ORGS, ORGS, SERVICES);
    /* durability is not what this test is about: no fsync per commit */
    for (size_t i = 0; i < N_ORGS; i++)
        assert_int_equal(mdb_env_set_flags(org_at(s, i)->st.env, MDB_NOSYNC, 1),
                         0);
    indexes_new(&s->live);
}

static void region_close(sim *s, unsigned totals[6])
{
    totals[0] += s->stale_refused;
    totals[1] += s->postponed;
    totals[2] += s->accepted;
    totals[3] += s->failed;
    totals[4] += s->closed;
    totals[5] += s->claims_won;
    indexes_free(&s->live);
    fx_region_fini(&s->r);
}

static void the_path_tells_the_truth(void **state)
{
    (void)state;
    const char *env_seed = getenv("POLKU_TEST_SEED");
    const char *env_runs = getenv("POLKU_TEST_RUNS");
    uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10)
                             : (uint64_t)time(NULL) ^ (uint64_t)clock();
    unsigned runs = env_runs ? (unsigned)strtoul(env_runs, NULL, 10) : 300;
    fprintf(stderr, "path_truth: POLKU_TEST_SEED=%llu, %u runs\n",
            (unsigned long long)seed, runs);
    polku_log_init("path_truth", POLKU_LOG_OFF);
    unsigned totals[6] = {0};
    sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (unsigned run = 0; run < runs; run++) {
        if (run % CLIENTS_PER_REGION == 0) {
            if (run)
                region_close(s, totals);
            region_open(s);
        }
        /* a failure repeats with the same POLKU_TEST_SEED (printed) */
        one_run(s, run, seed * 6364136223846793005ull + run + 1);
    }
    region_close(s, totals);
    free(s);
    fprintf(stderr,
            "path_truth: stale plans refused %u, postponed %u, accepted "
            "%u, failed %u, closed %u, claims won %u\n",
            totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]);
    /* the runs did exercise what they are about */
    assert_true(totals[0] > 0 && totals[1] > 0 && totals[2] > 0 &&
                totals[3] > 0 && totals[4] > 0 && totals[5] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_path_tells_the_truth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
