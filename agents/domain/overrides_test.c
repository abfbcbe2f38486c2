/* overrides_test — break-glass and the access report's rows at the domain.
 *
 * Three organisations; the directory lets ensihoito use `emergency`. The
 * check refuses what the directory does not permit, a malformed request
 * and an override where a consent covers the referral; a permitted
 * referral goes out with the basis and no consent, its reason sealed, and
 * the receiver keeps both. Each log's access rows show the override: the
 * sender's request, the receiver's receipt. The coordinator's review is an
 * event for the broker; the organisation that used the override cannot
 * review it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "access.h"
#include "domain_fixture.h"
#include "overrides.h"
#include "polku/error.h"
#include "referrals.h"

#define ENSI "ensihoito"
#define TIIMI "tyokykytiimi"
#define SOTE "sote-keskus"

static const uint8_t KEY[16] = {0x0e, 1, 2, 3};

/* The directory again, ensihoito with overrides = emergency. */
static void permit(fx_region *r)
{
    Polku__Welcome w = POLKU__WELCOME__INIT;
    Polku__DirectoryEntry e[3], *p[3];
    static char *bases[] = {"emergency"};
    static char *service[] = {"care"};
    for (size_t i = 0; i < 3; i++) {
        polku__directory_entry__init(&e[i]);
        e[i].org = r->org[i].cfg.org;
        e[i].public_key = r->org[i].cfg.key.public_z85;
        e[i].n_services = 1;
        e[i].services = service;
        p[i] = &e[i];
    }
    e[0].n_overrides = 1;
    e[0].overrides = bases;
    w.n_directory = 3;
    w.directory = p;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(directory_set(&r->org[i].dir, &w), POLKU_OK);
}

typedef struct check_ctx {
    const char *to, *basis, *reason;
    domain_refusal why;
} check_ctx;

static int run_check(domain *d, MDB_txn *txn, void *arg)
{
    check_ctx *c = arg;
    override_request o = {c->basis, c->reason};
    return overrides_check(d, txn, KEY, c->to, "referral", &o, &c->why);
}

static domain_reason check(fx_org *o, const char *to, const char *basis,
                           const char *reason)
{
    check_ctx c = {to, basis, reason, {0}};
    int rc = fx_run(o, run_check, &c);
    if (rc == POLKU_OK)
        return DOMAIN_REFUSED_NONE;
    assert_int_equal(rc, POLKU_EREFUSED);
    return c.why.reason;
}

typedef struct create_ctx {
    referral_new n;
    Polku__ReferralRecord *r;
} create_ctx;

static int run_create(domain *d, MDB_txn *txn, void *arg)
{
    create_ctx *c = arg;
    return referrals_create(d, txn, &c->n, &c->r);
}

typedef struct rows_ctx {
    Polku__AccessAnswer a;
} rows_ctx;

static int run_rows(domain *d, MDB_txn *txn, void *arg)
{
    rows_ctx *c = arg;
    return access_collect(d, txn, KEY, &c->a);
}

static const Polku__AccessEntry *row(const Polku__AccessAnswer *a,
                                     const char *kind)
{
    for (size_t i = 0; i < a->n_entries; i++)
        if (strcmp(a->entries[i]->kind, kind) == 0)
            return a->entries[i];
    return NULL;
}

typedef struct review_ctx {
    uint8_t id[16];
    domain_refusal why;
} review_ctx;

static int run_review(domain *d, MDB_txn *txn, void *arg)
{
    review_ctx *c = arg;
    return overrides_review(d, txn, KEY, c->id, &c->why);
}

static void test_break_glass(void **state)
{
    (void)state;
    static const char *const ids[] = {ENSI, TIIMI, SOTE};
    static const char *const services[] = {"care", "care", "care"};
    fx_region r;
    fx_region_init(&r, 3, ids, services);
    permit(&r);
    fx_org *ensi = fx_org_of(&r, ENSI), *tiimi = fx_org_of(&r, TIIMI),
           *sote = fx_org_of(&r, SOTE);

    assert_int_equal(check(ensi, TIIMI, "emergency", "fire"),
                     DOMAIN_REFUSED_NONE);
    assert_int_equal(check(ensi, TIIMI, "statutory", "duty"),
                     DOMAIN_OVERRIDE_NOT_PERMITTED);
    assert_int_equal(check(sote, TIIMI, "emergency", "fire"),
                     DOMAIN_OVERRIDE_NOT_PERMITTED);
    assert_int_equal(check(ensi, TIIMI, "urgent", "x"), DOMAIN_BAD_INPUT);
    assert_int_equal(check(ensi, TIIMI, "emergency", ""), DOMAIN_BAD_INPUT);
    uint8_t cid[16];
    const char *const scope[] = {SOTE, TIIMI, NULL};
    assert_int_equal(fx_consent_grant(sote, KEY, scope, cid), POLKU_OK);
    fx_settle(&r);
    assert_int_equal(check(tiimi, SOTE, "emergency", "x"),
                     DOMAIN_OVERRIDE_NOT_PERMITTED);
    assert_int_equal(fx_coordinate(sote, KEY, 1), POLKU_OK);
    fx_settle(&r);

    create_ctx c = {.n = {.to = TIIMI,
                          .service = "care",
                          .reason = "assessment",
                          .urgency = "routine",
                          .override = {"emergency", "unconscious"}}};
    memcpy(c.n.client_key, KEY, 16);
    assert_int_equal(fx_run(ensi, run_create, &c), POLKU_OK);
    uint8_t rid[16];
    memcpy(rid, c.r->id.data, 16);
    polku__referral_record__free_unpacked(c.r, NULL);
    polku_envelope *ev = fx_event(ensi, fx_last_seq(ensi));
    assert_non_null(ev);
    assert_string_equal(ev->referral_requested->override_basis, "emergency");
    assert_int_equal(ev->referral_requested->consent_id.len, 0);
    assert_true(ev->referral_requested->sealed.len > 0);
    polku_envelope_free(&ev);
    fx_settle(&r);
    Polku__ReferralRecord *got = fx_referral(tiimi, rid);
    assert_non_null(got);
    assert_non_null(got->override);
    assert_string_equal(got->override->basis, "emergency");
    assert_string_equal(got->override->reason, "unconscious");
    polku__referral_record__free_unpacked(got, NULL);

    /* both logs show it */
    rows_ctx mine = {POLKU__ACCESS_ANSWER__INIT};
    assert_int_equal(fx_run(ensi, run_rows, &mine), POLKU_OK);
    const Polku__AccessEntry *e = row(&mine.a, "referral_requested");
    assert_non_null(e);
    assert_string_equal(e->override_basis, "emergency");
    assert_int_equal(e->consent_id.len, 0);
    assert_memory_equal(e->object_id.data, rid, 16);
    access_entries_free(&mine.a);
    rows_ctx theirs = {POLKU__ACCESS_ANSWER__INIT};
    assert_int_equal(fx_run(tiimi, run_rows, &theirs), POLKU_OK);
    e = row(&theirs.a, "referral_status");
    assert_non_null(e);
    assert_string_equal(e->status, "received");
    assert_string_equal(e->override_basis, "emergency");
    const Polku__AccessEntry *g = row(&theirs.a, "consent_granted");
    assert_null(g); /* sote recorded it: not in tiimi's log */
    access_entries_free(&theirs.a);

    /* reviews: not by a non-coordinator, by the coordinator */
    review_ctx rv = {{0}, {0}};
    memcpy(rv.id, rid, 16);
    assert_int_equal(fx_run(ensi, run_review, &rv), POLKU_EREFUSED);
    assert_int_equal(rv.why.reason, DOMAIN_NOT_COORDINATOR);
    uint64_t before = fx_last_seq(sote);
    assert_int_equal(fx_run(sote, run_review, &rv), POLKU_OK);
    ev = fx_event(sote, before + 1);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED);
    assert_string_equal(ev->override_reviewed->reviewer, SOTE);
    assert_int_equal(ev->n_to, 0);
    polku_envelope_free(&ev);
    fx_region_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_break_glass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
