/* clients_test.c — referrals, services and timelines per client.
 *
 * After a restart the broker folds every agent's log again and the replays
 * interleave in any order (DESIGN.md invariant 1), so the client index must
 * come out the same whatever the order, each event counted once. The first
 * cases pin the single rules (highest version wins, which event sets which
 * time, follow-ups, services, the bounded timeline, metadata-only JSON);
 * the last ones fold a four-organisation history the way router.c does, in
 * many random orders, and compare digests. Set POLKU_TEST_SEED to repeat a
 * failed run. */
#include "test_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clients.h"
#include "consent_index.h"
#include "fold.h"
#include "paths.h"
#include "polku/clock.h"
#include "polku/referral.h"

#define SOTE "sote-keskus"
#define TK "tyokykytiimi"
#define TYP "typ"
#define KELA "kela"

#define REQUESTED POLKU__REFERRAL_STATE__REFERRAL_REQUESTED
#define RECEIVED POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define REJECTED POLKU__REFERRAL_STATE__REFERRAL_REJECTED
#define IN_PROGRESS POLKU__REFERRAL_STATE__REFERRAL_IN_PROGRESS
#define ON_HOLD POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD
#define COMPLETED POLKU__REFERRAL_STATE__REFERRAL_COMPLETED
#define FAILED POLKU__REFERRAL_STATE__REFERRAL_FAILED
#define CANCELLED POLKU__REFERRAL_STATE__REFERRAL_CANCELLED
#define HO_ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED

static const uint8_t KEY_A[16] = {0xa0, 1}, KEY_B[16] = {0xb0, 2},
                     KEY_C[16] = {0xc0, 3}, KEY_D[16] = {0xd0, 4};

#define T0 1700000000000ull

static const cl_referral *referral(const client_index *cl, unsigned rid)
{
    uint8_t id[16];
    test_id(0x5e, rid, id);
    const cl_referral *r = cl_referral_find(cl, id);
    assert_non_null(r);
    return r;
}

/* ---- fixture: an empty index and four empty logs ---- */

typedef struct fixture {
    client_index *cl;
    org_log sote, tk, typ, kela;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || !(f->cl = cl_new()))
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
    cl_destroy(&f->cl);
    assert_null(f->cl);
    cl_destroy(&f->cl); /* NULL is fine */
    free(f);
    return 0;
}

/* ---- statuses ---- */

/* sote refers KEY_A to tk (referral 1); tk receives, accepts and
 * completes it. Returns the events in log order. */
static void referral_life(fixture *f, const polku_envelope *ev[4])
{
    ev[0] = ev_requested(&f->sote, KEY_A, 1, TK, "tyokyky", 0, T0 + 1000);
    ev[1] = ev_status(&f->tk, KEY_A, 1, SOTE, RECEIVED, 1, T0 + 2000);
    ev[2] = ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 2, T0 + 3000);
    ev[3] = ev_status(&f->tk, KEY_A, 1, SOTE, COMPLETED, 3, T0 + 9000);
}

static void status_is_highest_version_in_any_order(void **state)
{
    fixture *f = *state;
    const polku_envelope *ev[4];
    referral_life(f, ev);
    /* every one of the 24 orders into a fresh index */
    for (unsigned p = 0; p < 24; p++) {
        size_t idx[4] = {0, 1, 2, 3};
        unsigned q = p;
        for (size_t i = 0; i < 4; i++) { /* p as a factorial number */
            size_t j = i + q % (4 - i);
            q /= (unsigned)(4 - i);
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        client_index *cl = cl_new();
        assert_non_null(cl);
        for (size_t i = 0; i < 4; i++)
            assert_true(cl_apply(cl, ev[idx[i]]));
        const cl_referral *r = referral(cl, 1);
        assert_int_equal(r->status, COMPLETED);
        assert_int_equal(r->version, 3);
        assert_true(r->requested);
        assert_int_equal(r->created_ms, T0 + 1000);
        assert_int_equal(r->received_ms, T0 + 2000);
        assert_int_equal(r->answered_ms, T0 + 3000); /* the accept */
        assert_int_equal(r->status_ms, T0 + 9000);
        assert_string_equal(cl_name(cl, r->from), SOTE);
        assert_string_equal(cl_name(cl, r->to), TK);
        assert_string_equal(cl_name(cl, r->service), "tyokyky");
        assert_int_equal(cl_count_open(cl), 0);
        assert_int_equal(cl_count_referrals(cl), 1);
        cl_destroy(&cl);
    }
}

static void equal_versions_take_the_higher_state(void **state)
{
    fixture *f = *state;
    const polku_envelope *hold =
        ev_status(&f->tk, KEY_A, 1, SOTE, ON_HOLD, 4, T0 + 5000);
    const polku_envelope *prog =
        ev_status(&f->tk, KEY_A, 1, SOTE, IN_PROGRESS, 4, T0 + 6000);
    assert_true(cl_apply(f->cl, hold));
    assert_true(cl_apply(f->cl, prog));
    assert_int_equal(referral(f->cl, 1)->status, ON_HOLD);
    assert_int_equal(referral(f->cl, 1)->status_ms, T0 + 5000);
    client_index *other = cl_new();
    assert_true(cl_apply(other, prog));
    assert_true(cl_apply(other, hold));
    assert_int_equal(referral(other, 1)->status, ON_HOLD);
    assert_int_equal(referral(other, 1)->status_ms, T0 + 5000);
    /* a status before its request names the parties from the envelope */
    assert_string_equal(cl_name(other, referral(other, 1)->to), TK);
    assert_string_equal(cl_name(other, referral(other, 1)->from), SOTE);
    assert_false(referral(other, 1)->requested);
    cl_destroy(&other);
}

static void received_and_answered_times(void **state)
{
    fixture *f = *state;
    assert_true(cl_apply(
        f->cl, ev_requested(&f->sote, KEY_A, 1, TK, "tyokyky", 0, T0 + 1000)));
    const cl_referral *r = referral(f->cl, 1);
    assert_int_equal(r->status, REQUESTED);
    assert_int_equal(r->status_ms, T0 + 1000);
    assert_int_equal(r->received_ms, 0);
    assert_int_equal(r->answered_ms, 0);
    assert_true(cl_apply(
        f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, RECEIVED, 1, T0 + 2000)));
    assert_int_equal(r->received_ms, T0 + 2000);
    assert_int_equal(r->answered_ms, 0); /* received is not an answer */
    assert_true(cl_apply(
        f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, REJECTED, 3, T0 + 5000)));
    assert_int_equal(r->answered_ms, T0 + 5000);
    /* an earlier answer arriving late is the answer time */
    assert_true(cl_apply(
        f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 2, T0 + 4000)));
    assert_int_equal(r->answered_ms, T0 + 4000);
    assert_int_equal(r->received_ms, T0 + 2000);
    assert_int_equal(r->status, REJECTED); /* version 3 still wins */
    assert_int_equal(r->status_ms, T0 + 5000);
}

static void pending_and_open_by_state(void **state)
{
    fixture *f = *state;
    static const struct {
        Polku__ReferralState s;
        bool pending, open;
    } rows[] = {
        {REQUESTED, true, true},   {RECEIVED, true, true},
        {ACCEPTED, false, true},   {IN_PROGRESS, false, true},
        {ON_HOLD, false, true},    {REJECTED, false, false},
        {COMPLETED, false, false}, {FAILED, false, false},
        {CANCELLED, false, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cl_referral r = {.status = (uint8_t)rows[i].s};
        assert_int_equal(cl_referral_pending(&r), rows[i].pending);
        assert_int_equal(cl_referral_open(&r), rows[i].open);
    }
    cl_referral unknown = {0};
    assert_false(cl_referral_open(&unknown));
    assert_false(cl_referral_pending(&unknown));
    /* and the open count follows the folded statuses */
    cl_apply(f->cl, ev_requested(&f->sote, KEY_A, 1, TK, "tk", 0, T0 + 1));
    cl_apply(f->cl, ev_requested(&f->sote, KEY_B, 2, KELA, "k", 0, T0 + 2));
    assert_int_equal(cl_count_open(f->cl), 2);
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 1, T0 + 3));
    assert_int_equal(cl_count_open(f->cl), 2);
    cl_apply(f->cl, ev_status(&f->sote, KEY_B, 2, NULL, FAILED, 1, T0 + 4));
    assert_int_equal(cl_count_open(f->cl), 1);
    assert_int_equal(referral(f->cl, 2)->status, FAILED);
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, COMPLETED, 2, T0 + 5));
    assert_int_equal(cl_count_open(f->cl), 0);
    assert_int_equal(cl_count_clients(f->cl), 2);
}

static void followed_up_only_by_a_later_request(void **state)
{
    fixture *f = *state;
    cl_apply(f->cl, ev_requested(&f->sote, KEY_A, 1, TK, "tk", 0, T0));
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, REJECTED, 1, T0 + 100));
    assert_false(cl_followed_up(f->cl, KEY_A, T0 + 100));
    /* a status of another referral is no request */
    cl_apply(f->cl, ev_status(&f->typ, KEY_A, 2, SOTE, RECEIVED, 1, T0 + 300));
    assert_false(cl_followed_up(f->cl, KEY_A, T0 + 100));
    /* a request at the same ms is not after it */
    cl_apply(f->cl, ev_requested(&f->sote, KEY_B, 3, TYP, "o", 0, T0 + 100));
    cl_apply(f->cl, ev_requested(&f->sote, KEY_A, 4, TYP, "o", 0, T0 + 100));
    assert_false(cl_followed_up(f->cl, KEY_A, T0 + 100));
    cl_apply(f->cl, ev_requested(&f->sote, KEY_B, 5, TYP, "o", 0, T0 + 500));
    assert_false(cl_followed_up(f->cl, KEY_A, T0 + 100)); /* other client */
    assert_true(cl_followed_up(f->cl, KEY_B, T0 + 100));
    cl_apply(f->cl, ev_requested(&f->sote, KEY_A, 2, TYP, "o", 0, T0 + 200));
    assert_true(cl_followed_up(f->cl, KEY_A, T0 + 100));
    assert_false(cl_followed_up(f->cl, KEY_A, T0 + 200));
    assert_false(cl_followed_up(f->cl, KEY_C, 0)); /* unknown client */
}

static void in_services_by_service_or_referral(void **state)
{
    fixture *f = *state;
    assert_false(cl_in_services(f->cl, KEY_A));
    assert_false(cl_known(f->cl, KEY_A));
    const polku_envelope *start =
        ev_service(&f->tk, KEY_A, "tyokyky", true, T0 + 2000);
    const polku_envelope *end =
        ev_service(&f->tk, KEY_A, "tyokyky", false, T0 + 1000);
    assert_true(cl_apply(f->cl, start));
    assert_true(cl_known(f->cl, KEY_A));
    assert_true(cl_in_services(f->cl, KEY_A));
    /* an older end, arriving late, does not stop a newer start */
    assert_true(cl_apply(f->cl, end));
    assert_true(cl_in_services(f->cl, KEY_A));
    assert_true(cl_apply(
        f->cl, ev_service(&f->tk, KEY_A, "tyokyky", false, T0 + 3000)));
    assert_false(cl_in_services(f->cl, KEY_A));
    /* another org's service of the same name is another service */
    assert_true(cl_apply(
        f->cl, ev_service(&f->kela, KEY_A, "tyokyky", true, T0 + 2500)));
    assert_true(cl_in_services(f->cl, KEY_A));
    json_t *j = cl_client_json(f->cl, KEY_A, T0 + 4000, NULL);
    json_t *svc = json_object_get(j, "services");
    assert_int_equal(json_array_size(svc), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(svc, 0), "org")),
        KELA);
    json_decref(j);
    assert_true(cl_apply(
        f->cl, ev_service(&f->kela, KEY_A, "tyokyky", false, T0 + 2600)));
    assert_false(cl_in_services(f->cl, KEY_A));
    /* a referral accepted, in progress or on hold counts; completed not */
    cl_apply(f->cl, ev_requested(&f->sote, KEY_A, 1, TK, "tk", 0, T0 + 4000));
    assert_false(cl_in_services(f->cl, KEY_A));
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 1, T0 + 4100));
    assert_true(cl_in_services(f->cl, KEY_A));
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, ON_HOLD, 2, T0 + 4200));
    assert_true(cl_in_services(f->cl, KEY_A));
    cl_apply(f->cl, ev_status(&f->tk, KEY_A, 1, SOTE, COMPLETED, 3, T0 + 4300));
    assert_false(cl_in_services(f->cl, KEY_A));
}

static void timeline_keeps_the_newest(void **state)
{
    fixture *f = *state;
    enum { N = CL_TIMELINE_MAX + 20 };
    /* N events, times 1..N s; folded newest first, then the rest */
    org_log *logs[2] = {&f->tk, &f->kela};
    for (unsigned i = 1; i <= N; i++)
        ev_service(logs[i % 2], KEY_A, "s", i % 3 == 0, T0 + i * 1000ull);
    for (size_t k = f->kela.n; k-- > 0;)
        assert_true(cl_apply(f->cl, &f->kela.ev[k].env));
    for (size_t k = 0; k < f->tk.n; k++)
        assert_true(cl_apply(f->cl, &f->tk.ev[k].env));
    json_t *j = cl_client_json(f->cl, KEY_A, T0 + N * 1000ull, NULL);
    assert_non_null(j);
    json_t *tl = json_object_get(j, "timeline");
    assert_int_equal(json_array_size(tl), CL_TIMELINE_MAX);
    for (size_t i = 0; i < CL_TIMELINE_MAX; i++) {
        unsigned sec = N - CL_TIMELINE_MAX + 1 + (unsigned)i; /* oldest first */
        char want[POLKU_TIME_TEXT];
        polku_time_format(T0 + sec * 1000ull, want, sizeof want);
        json_t *e = json_array_get(tl, i);
        assert_string_equal(json_string_value(json_object_get(e, "at")), want);
        assert_string_equal(json_string_value(json_object_get(e, "org")),
                            sec % 2 ? KELA : TK);
        assert_string_equal(json_string_value(json_object_get(e, "event")),
                            sec % 3 == 0 ? "service.started" : "service.ended");
    }
    /* first_seen is the oldest event, even one dropped from the timeline */
    char first[POLKU_TIME_TEXT];
    polku_time_format(T0 + 1000, first, sizeof first);
    assert_string_equal(json_string_value(json_object_get(j, "first_seen")),
                        first);
    json_decref(j);
    /* an event older than all kept changes nothing */
    crypto_hash_sha256_state h;
    uint8_t before[32], after[32];
    crypto_hash_sha256_init(&h);
    cl_digest_update(f->cl, &h);
    crypto_hash_sha256_final(&h, before);
    assert_true(cl_apply(
        f->cl, ev_won(&f->typ, KEY_A, 1, T0 + 1000 * (N - CL_TIMELINE_MAX))));
    crypto_hash_sha256_init(&h);
    cl_digest_update(f->cl, &h);
    crypto_hash_sha256_final(&h, after);
    assert_memory_equal(before, after, 32);
}

static void json_has_no_identity_code_or_free_text(void **state)
{
    fixture *f = *state;
    const polku_envelope *ev[4];
    referral_life(f, ev);
    for (size_t i = 0; i < 4; i++)
        assert_true(cl_apply(f->cl, ev[i]));
    assert_true(cl_apply(f->cl, ev_cancel(&f->sote, KEY_A, 1, TK, T0 + 9500)));
    assert_true(cl_apply(
        f->cl, ev_status(&f->sote, KEY_A, 7, NULL, FAILED, 1, T0 + 9600)));
    json_t *j = cl_client_json(f->cl, KEY_A, T0 + 10000, NULL);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_SORT_KEYS);
    assert_non_null(s);
    /* the metadata is there ... */
    assert_non_null(strstr(s, "\"tyokyky\""));
    assert_non_null(strstr(s, "referral.cancel_requested"));
    assert_int_equal(json_array_size(json_object_get(j, "referrals")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "timeline")), 6);
    /* ... the free text is not */
    assert_null(strstr(s, SECRET_TEXT));
    assert_null(strstr(s, SECRET_HETU));
    free(s);
    json_decref(j);
    json_t *r = cl_referral_json(f->cl, referral(f->cl, 1), T0 + 10000, NULL);
    s = json_dumps(r, 0);
    assert_null(strstr(s, SECRET_TEXT));
    assert_null(strstr(s, SECRET_HETU));
    assert_string_equal(json_string_value(json_object_get(r, "status")),
                        polku_referral_state_name(COMPLETED));
    free(s);
    json_decref(r);
    assert_null(cl_client_json(f->cl, KEY_D, T0, NULL));
}

/* ---- the fold, as router.c does it, in any order ---- */

typedef struct bstate {
    path_index *pi;
    consent_index *ci;
    client_index *cl;
} bstate;

static void bstate_init(bstate *b)
{
    b->pi = pi_new();
    b->ci = ci_new();
    b->cl = cl_new();
    assert_true(b->pi && b->ci && b->cl);
}

static void bstate_fini(bstate *b)
{
    pi_destroy(&b->pi);
    ci_destroy(&b->ci);
    cl_destroy(&b->cl);
}

/* As the router folds (fold.c). */
static void fold(bstate *b, const polku_envelope *env)
{
    const broker_indexes x = {b->ci, b->pi, b->cl, NULL};
    fold_apply(&x, env);
}

#define N_CONSENTS 3
#define DIGEST_NOW (T0 + 200000)

static void feed_count(crypto_hash_sha256_state *h, uint64_t v)
{
    crypto_hash_sha256_update(h, (const uint8_t *)&v, sizeof v);
}

/* The clients, the consents' states and (with_paths) the paths. */
static void bstate_digest(const bstate *b, bool with_paths, char out[65])
{
    crypto_hash_sha256_state h;
    uint8_t d[32];
    crypto_hash_sha256_init(&h);
    if (with_paths) {
        char pd[65];
        pi_digest(b->pi, pd);
        crypto_hash_sha256_update(&h, (const uint8_t *)pd, 64);
    }
    cl_digest_update(b->cl, &h);
    feed_count(&h, cl_count_clients(b->cl));
    feed_count(&h, cl_count_referrals(b->cl));
    feed_count(&h, cl_count_open(b->cl));
    feed_count(&h, ci_count(b->ci));
    for (unsigned c = 1; c <= N_CONSENTS; c++) {
        uint8_t id[16];
        test_id(0xc0, c, id);
        feed_count(&h,
                   (uint64_t)(ci_consent_active(b->ci, id, DIGEST_NOW) + 1));
    }
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(out, 65, d, 32);
}

#define N_ORGS 4

typedef struct history {
    org_log logs[N_ORGS];
    uint64_t now;
} history;

static org_log *log_of(history *h, const char *org)
{
    for (size_t i = 0; i < N_ORGS; i++)
        if (strcmp(h->logs[i].org, org) == 0)
            return &h->logs[i];
    fail_msg("no log for %s", org);
    return NULL;
}

#define AT (h->now += 100)

/* Four organisations, four clients: referrals through every status,
 * a cancel, consents granted and revoked, claims, a handover, services,
 * and client A with more events than its timeline keeps. variant 1 drops
 * tk's last status. */
static history *build_history(int variant)
{
    history *h = calloc(1, sizeof *h);
    assert_non_null(h);
    const char *orgs[N_ORGS] = {SOTE, TK, TYP, KELA};
    for (size_t i = 0; i < N_ORGS; i++)
        h->logs[i].org = orgs[i];
    h->now = T0;
    org_log *sote = log_of(h, SOTE), *tk = log_of(h, TK), *typ = log_of(h, TYP),
            *kela = log_of(h, KELA);
    ev_granted(sote, KEY_A, 1, TK, "referral", T0 + 1000000, AT);
    ev_won(sote, KEY_A, 1, AT);
    ev_requested(sote, KEY_A, 1, TK, "tyokyky", 1, AT);
    ev_status(tk, KEY_A, 1, SOTE, RECEIVED, 1, AT);
    ev_requested(sote, KEY_B, 2, KELA, "kuntoutus", 0, AT);
    ev_status(tk, KEY_A, 1, SOTE, ACCEPTED, 2, AT);
    ev_won(kela, KEY_C, 1, AT);
    ev_granted(kela, KEY_C, 2, TYP, "referral", T0 + 100000, AT);
    ev_requested(kela, KEY_C, 3, TYP, "ohjaus", 2, AT);
    ev_status(kela, KEY_B, 2, SOTE, RECEIVED, 1, AT);
    ev_cancel(sote, KEY_B, 2, KELA, AT);
    ev_status(kela, KEY_B, 2, SOTE, CANCELLED, 2, AT);
    ev_status(typ, KEY_C, 3, KELA, RECEIVED, 1, AT);
    ev_status(typ, KEY_C, 3, KELA, REJECTED, 2, AT);
    ev_revoked(typ, KEY_C, 2, AT);
    ev_requested(kela, KEY_C, 4, TK, "tyokyky", 0, AT);
    ev_status(tk, KEY_C, 4, KELA, RECEIVED, 1, AT);
    ev_status(tk, KEY_A, 1, SOTE, IN_PROGRESS, 3, AT);
    ev_won(typ, KEY_D, 1, AT);
    ev_granted(typ, KEY_D, 3, KELA, "handover", T0 + 1000000, AT);
    ev_offered(typ, KEY_D, KELA, 1, 1, AT);
    ev_answered(kela, KEY_D, 1, HO_ACCEPTED, 2, TYP, AT);
    ev_requested(kela, KEY_D, 5, TK, "tyokyky", 3, AT);
    ev_status(kela, KEY_D, 5, NULL, FAILED, 1, AT);
    ev_closed(sote, KEY_A, 1, AT);
    /* client A's services: 13 start/end events in each log */
    for (unsigned i = 0; i < 13; i++)
        for (size_t o = 0; o < N_ORGS; o++)
            ev_service(&h->logs[o], KEY_A, o % 2 ? "palvelu" : "tuki",
                       i % 2 == 0, h->now + 10 * i); /* same ms across logs */
    h->now += 1000;
    ev_service(typ, KEY_B, "ohjaus", true, AT);
    if (variant != 1)
        ev_status(tk, KEY_A, 1, SOTE, COMPLETED, 4, AT);
    return h;
}

static void fold_in_log_order(bstate *b, history *h)
{
    for (size_t o = 0; o < N_ORGS; o++)
        for (size_t i = 0; i < h->logs[o].n; i++)
            fold(b, &h->logs[o].ev[i].env);
}

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

static uint64_t base_seed(void)
{
    const char *s = getenv("POLKU_TEST_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* One random interleaving keeping each log's order, re-delivering an
 * earlier event now and then as a reconnect would. */
static void fold_interleaved(bstate *b, history *h, uint64_t *rng)
{
    size_t next[N_ORGS] = {0}, left = 0;
    for (size_t i = 0; i < N_ORGS; i++)
        left += h->logs[i].n;
    for (; left > 0; left--) {
        uint64_t r = below(rng, left);
        size_t i = 0;
        for (; r >= h->logs[i].n - next[i]; i++)
            r -= h->logs[i].n - next[i];
        fold(b, &h->logs[i].ev[next[i]++].env);
        if (below(rng, 5) == 0)
            fold(b, &h->logs[i].ev[below(rng, next[i])].env);
    }
}

/* Every event of every log in one uniformly random order. */
static void fold_any_order(bstate *b, history *h, uint64_t *rng)
{
    const polku_envelope *all[N_ORGS * TEST_LOG_MAX];
    size_t n = 0;
    for (size_t o = 0; o < N_ORGS; o++)
        for (size_t i = 0; i < h->logs[o].n; i++)
            all[n++] = &h->logs[o].ev[i].env;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)below(rng, i);
        const polku_envelope *t = all[i - 1];
        all[i - 1] = all[j];
        all[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        fold(b, all[i]);
}

static void history_is_what_it_should_be(void **state)
{
    (void)state;
    history *h = build_history(0);
    bstate b;
    bstate_init(&b);
    fold_in_log_order(&b, h);
    assert_int_equal(cl_count_clients(b.cl), 4);
    assert_int_equal(cl_count_referrals(b.cl), 5);
    assert_int_equal(cl_count_open(b.cl), 1); /* referral 4 */
    assert_int_equal(referral(b.cl, 1)->status, COMPLETED);
    assert_int_equal(referral(b.cl, 2)->status, CANCELLED);
    assert_int_equal(referral(b.cl, 3)->status, REJECTED);
    assert_int_equal(referral(b.cl, 4)->status, RECEIVED);
    assert_int_equal(referral(b.cl, 5)->status, FAILED);
    assert_true(cl_followed_up(b.cl, KEY_C, referral(b.cl, 3)->status_ms));
    assert_true(cl_in_services(b.cl, KEY_B));
    json_t *j = cl_client_json(b.cl, KEY_A, DIGEST_NOW, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "timeline")),
                     CL_TIMELINE_MAX);
    json_decref(j);
    char d[65];
    bstate_digest(&b, true, d);
    assert_int_equal(strlen(d), 64);
    bstate_fini(&b);
    free(h);
}

/* Per-agent order kept: clients, consents and paths all the same. */
static void same_in_any_interleaving(void **state)
{
    (void)state;
    history *h = build_history(0);
    bstate b;
    char want[65], got[65];
    bstate_init(&b);
    fold_in_log_order(&b, h);
    bstate_digest(&b, true, want);
    /* a full replay on top changes nothing */
    fold_in_log_order(&b, h);
    bstate_digest(&b, true, got);
    assert_string_equal(got, want);
    bstate_fini(&b);
    uint64_t seed = base_seed();
    for (int t = 0; t < 200; t++) {
        uint64_t rng = seed + (uint64_t)t;
        bstate_init(&b);
        fold_interleaved(&b, h, &rng);
        bstate_digest(&b, true, got);
        if (strcmp(got, want) != 0)
            fail_msg("interleaving %d of POLKU_TEST_SEED=%llu: digest %s, "
                     "want %s",
                     t, (unsigned long long)seed, got, want);
        fold_interleaved(&b, h, &rng); /* everything a second time */
        bstate_digest(&b, true, got);
        if (strcmp(got, want) != 0)
            fail_msg("replay %d of POLKU_TEST_SEED=%llu changed the digest", t,
                     (unsigned long long)seed);
        bstate_fini(&b);
    }
    free(h);
}

/* clients.h claims order independence outright: any order at all gives
 * the same clients (the paths need each log's order, so they are left
 * out here). */
static void clients_same_in_any_order(void **state)
{
    (void)state;
    history *h = build_history(0);
    bstate b;
    char want[65], got[65];
    bstate_init(&b);
    fold_in_log_order(&b, h);
    bstate_digest(&b, false, want);
    bstate_fini(&b);
    uint64_t seed = base_seed() ^ 0x5555;
    for (int t = 0; t < 200; t++) {
        uint64_t rng = seed + (uint64_t)t;
        bstate_init(&b);
        fold_any_order(&b, h, &rng);
        bstate_digest(&b, false, got);
        if (strcmp(got, want) != 0)
            fail_msg("order %d of POLKU_TEST_SEED=%llu: digest %s, want %s", t,
                     (unsigned long long)(seed ^ 0x5555), got, want);
        fold_any_order(&b, h, &rng);
        bstate_digest(&b, false, got);
        if (strcmp(got, want) != 0)
            fail_msg("replay %d of POLKU_TEST_SEED=%llu changed the digest", t,
                     (unsigned long long)(seed ^ 0x5555));
        bstate_fini(&b);
    }
    free(h);
}

static void digest_tells_histories_apart(void **state)
{
    (void)state;
    char d[2][65], empty[65], half[65];
    for (int v = 0; v < 2; v++) {
        history *h = build_history(v);
        bstate b;
        bstate_init(&b);
        fold_in_log_order(&b, h);
        bstate_digest(&b, false, d[v]);
        bstate_fini(&b);
        free(h);
    }
    assert_string_not_equal(d[0], d[1]); /* one status fewer */
    bstate b;
    bstate_init(&b);
    bstate_digest(&b, false, empty);
    history *h = build_history(0);
    /* the same events without the cl fold: not the same */
    for (size_t o = 0; o < N_ORGS; o++)
        for (size_t i = 0; i < h->logs[o].n / 2; i++)
            fold(&b, &h->logs[o].ev[i].env);
    bstate_digest(&b, false, half);
    bstate_fini(&b);
    free(h);
    assert_string_not_equal(d[0], empty);
    assert_string_not_equal(d[0], half);
    assert_string_not_equal(half, empty);
}

/* The timeline numbers events by body and status: the same names as
 * polku_event_topic gives, for every body, status, outcome and answer. */
static void event_names_are_the_topics(void **state)
{
    (void)state;
    Polku__ReferralStatus st = POLKU__REFERRAL_STATUS__INIT;
    Polku__PathClaimAnswered ans = POLKU__PATH_CLAIM_ANSWERED__INIT;
    Polku__HandoverAnswered ho = POLKU__HANDOVER_ANSWERED__INIT;
    size_t named = 0;
    for (int body = 0; body < 64; body++)
        for (int v = 0; v < 12; v++) {
            polku_envelope env = POLKU__ENVELOPE__INIT;
            env.body_case = (Polku__Envelope__BodyCase)body;
            /* every body pointer of the union is the same one: the
             * cases read only the member of their own body */
            st.status = (Polku__ReferralState)v;
            ans.outcome = (Polku__ClaimOutcome)v;
            ho.status = (Polku__HandoverState)v;
            if (body == POLKU__ENVELOPE__BODY_REFERRAL_STATUS)
                env.referral_status = &st;
            else if (body == POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED)
                env.path_claim_answered = &ans;
            else if (body == POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED)
                env.handover_answered = &ho;
            else if (v > 0)
                continue;
            const char *want = polku_event_topic(&env);
            const char *got = cl_event_name(&env);
            if (!want)
                assert_null(got);
            else {
                assert_non_null(got);
                assert_string_equal(got, want);
                named++;
            }
        }
    assert_int_equal(named, 25); /* the 24 names; requested as a status too */
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        CASE(status_is_highest_version_in_any_order),
        CASE(equal_versions_take_the_higher_state),
        CASE(received_and_answered_times),
        CASE(pending_and_open_by_state),
        CASE(followed_up_only_by_a_later_request),
        CASE(in_services_by_service_or_referral),
        CASE(timeline_keeps_the_newest),
        CASE(json_has_no_identity_code_or_free_text),
        cmocka_unit_test(history_is_what_it_should_be),
        cmocka_unit_test(same_in_any_interleaving),
        cmocka_unit_test(clients_same_in_any_order),
        cmocka_unit_test(digest_tells_histories_apart),
        cmocka_unit_test(event_names_are_the_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
