/* consents_test.c — a client's consents as each organisation of a region
 * knows them, no sockets.
 *
 * Every referral, handover, claim and plan pointer is gated on an active
 * consent naming both organisations for its purpose (invariant 4; the
 * broker checks again), so each organisation must see the same consents:
 * the one that records a grant sends it to every other organisation of its
 * scope and nowhere else; any of them may revoke, once; a revocation may
 * arrive before the grant it revokes and must still win, and one from an
 * organisation outside the scope must not. These cases pin that, the
 * choice consents_find_active makes among several consents (the longest
 * lived active one, for the purpose asked, never an expired or revoked
 * one), the list consents_scope gives, and how a grant the broker would
 * not deliver is recorded. Client keys are synthetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "consents.h"
#include "domain_fixture.h"
#include "polku/error.h"
#include "polku/log.h"

#define DAY_MS 86400000ull

static const uint8_t CLIENT[16] = {0xc1, 0x1e, 0x47, 0x01, 9, 8, 7, 6,
                                   5,    4,    3,    2,    1, 0, 1, 2};
static const uint8_t OTHER_CLIENT[16] = {0xc2, 0x2e, 0x57, 0x02};

/* sote, kela and tk share the client; typ does not. */
typedef struct world {
    fx_region r;
    fx_org *sote, *kela, *tk, *typ;
} world;

static int setup(void **state)
{
    static world w;
    fx_region_init(&w.r, 4, (const char *const[]){"sote", "kela", "tk", "typ"},
                   (const char *const[]){NULL, "rehab", "work", "youth"});
    w.sote = fx_org_of(&w.r, "sote");
    w.kela = fx_org_of(&w.r, "kela");
    w.tk = fx_org_of(&w.r, "tk");
    w.typ = fx_org_of(&w.r, "typ");
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    fx_region_fini(&w->r);
    return 0;
}

/* ---- calls ---- */

typedef struct grant_call {
    consent_new c;
    Polku__ConsentRecord *r;
} grant_call;

static int grant_fn(domain *d, MDB_txn *txn, void *ctx)
{
    grant_call *g = ctx;
    return consents_grant(d, txn, &g->c, &g->r);
}

/* o records a consent of client naming orgs (NULL-terminated) for
 * purposes (NULL-terminated), valid for valid_ms from now; *id its id. */
static void grant(fx_org *o, const uint8_t client[16], const char *const orgs[],
                  const char *const purposes[], uint64_t valid_ms,
                  uint8_t id[16])
{
    grant_call g = {
        .c = {.valid_until_ms = o->d.clock_ms + valid_ms, .form = "written"}};
    memcpy(g.c.client_key, client, 16);
    for (size_t i = 0; orgs[i]; i++)
        g.c.orgs[g.c.n_orgs++] = orgs[i];
    for (size_t i = 0; purposes[i]; i++)
        g.c.purposes[g.c.n_purposes++] = purposes[i];
    assert_int_equal(fx_run(o, grant_fn, &g), POLKU_OK);
    assert_non_null(g.r);
    memcpy(id, g.r->id.data, 16);
    polku__consent_record__free_unpacked(g.r, NULL);
}

static const char *const ALL_PURPOSES[] = {"referral", "handover", "path",
                                           "plan", NULL};

/* sote records CLIENT's consent for sote, kela and tk, for a year. */
static void grant_three(world *w, uint8_t id[16])
{
    grant(w->sote, CLIENT, (const char *const[]){"sote", "kela", "tk", NULL},
          ALL_PURPOSES, 365 * DAY_MS, id);
}

typedef struct revoke_call {
    const uint8_t *id;
    const char *reason;
    Polku__ConsentRecord *r;
} revoke_call;

static int revoke_fn(domain *d, MDB_txn *txn, void *ctx)
{
    revoke_call *c = ctx;
    return consents_revoke(d, txn, c->id, c->reason, &c->r);
}

static int revoke_at(fx_org *o, const uint8_t id[16], const char *reason)
{
    revoke_call c = {.id = id, .reason = reason};
    int rc = fx_run(o, revoke_fn, &c);
    if (rc == POLKU_OK) {
        assert_non_null(c.r);
        assert_true(c.r->revoked);
        polku__consent_record__free_unpacked(c.r, NULL);
    } else {
        assert_null(c.r);
    }
    return rc;
}

typedef struct find_call {
    const uint8_t *client;
    const char *a, *b, *purpose;
    uint8_t id[16];
    char recorded_by[33];
} find_call;

static int find_fn(domain *d, MDB_txn *txn, void *ctx)
{
    find_call *f = ctx;
    return consents_find_active(d, txn, f->client, f->a, f->b, f->purpose,
                                domain_now(d), f->id, f->recorded_by);
}

/* consents_find_active at o, now; *found (if not NULL) the consent. */
static int find(fx_org *o, const uint8_t client[16], const char *a,
                const char *b, const char *purpose, uint8_t found[16])
{
    find_call f = {.client = client, .a = a, .b = b, .purpose = purpose};
    int rc = fx_run(o, find_fn, &f);
    if (rc == POLKU_OK && found)
        memcpy(found, f.id, 16);
    return rc;
}

typedef struct scope_call {
    const char *org;
    uint8_t id[16];
    char recorded_by[33];
    const char *others[CONSENT_MAX_ORGS];
    size_t n_others;
} scope_call;

static int scope_fn(domain *d, MDB_txn *txn, void *ctx)
{
    scope_call *s = ctx;
    return consents_scope(d, txn, CLIENT, s->org, "plan", domain_now(d), s->id,
                          s->recorded_by, s->others, &s->n_others,
                          CONSENT_MAX_ORGS);
}

typedef struct undeliverable_call {
    const polku_envelope *env;
    const char *dest, *code;
} undeliverable_call;

static int undeliverable_fn(domain *d, MDB_txn *txn, void *ctx)
{
    undeliverable_call *c = ctx;
    return consents_undeliverable(d, txn, c->env, c->dest, c->code);
}

static void undeliverable(fx_org *o, const polku_envelope *env,
                          const char *dest, const char *code)
{
    undeliverable_call c = {env, dest, code};
    assert_int_equal(fx_run(o, undeliverable_fn, &c), POLKU_OK);
}

static Polku__ConsentRecord *record(fx_org *o, const uint8_t id[16])
{
    Polku__ConsentRecord *r = fx_consent(o, id);
    assert_non_null(r);
    return r;
}

static void record_free(Polku__ConsentRecord *r)
{
    polku__consent_record__free_unpacked(r, NULL);
}

static polku_envelope *event(fx_org *o, uint64_t seq)
{
    polku_envelope *env = fx_event(o, seq);
    assert_non_null(env);
    return env;
}

static bool listed(char *const *list, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], x) == 0)
            return true;
    return false;
}

/* ---- granting ---- */

static void a_grant_is_stored_with_its_scope_and_recorder(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_memory_equal(r->client_key.data, CLIENT, 16);
    assert_int_equal(r->n_orgs, 3);
    assert_true(listed(r->orgs, r->n_orgs, "sote"));
    assert_true(listed(r->orgs, r->n_orgs, "kela"));
    assert_true(listed(r->orgs, r->n_orgs, "tk"));
    assert_int_equal(r->n_purposes, 4);
    assert_string_equal(r->recorded_by, "sote");
    assert_string_equal(r->form, "written");
    assert_int_equal(r->created_ms, w->r.now_ms);
    assert_int_equal(r->valid_until_ms, w->r.now_ms + 365 * DAY_MS);
    assert_false(r->revoked);
    assert_true(consents_active(r, w->r.now_ms));
    record_free(r);
}

static void a_grant_is_sent_to_every_other_org_of_its_scope(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = fx_last_seq(w->sote);
    grant_three(w, id);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = event(w->sote, seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_CONSENT_GRANTED);
    assert_int_equal(env->n_to, 2);
    assert_true(listed(env->to, env->n_to, "kela"));
    assert_true(listed(env->to, env->n_to, "tk"));
    assert_false(listed(env->to, env->n_to, "sote")); /* not to itself */
    assert_false(listed(env->to, env->n_to, "typ"));  /* not in scope */
    assert_int_equal(env->client_key.len, 16);
    assert_memory_equal(env->client_key.data, CLIENT, 16);
    assert_memory_equal(env->consent_granted->consent_id.data, id, 16);
    assert_int_equal(env->consent_granted->n_orgs, 3);
    polku_envelope_free(&env);
}

static void
the_others_of_the_scope_learn_the_grant_through_their_inbox(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    fx_org *others[] = {w->kela, w->tk};
    for (size_t i = 0; i < 2; i++) {
        Polku__ConsentRecord *r = record(others[i], id);
        assert_memory_equal(r->client_key.data, CLIENT, 16);
        assert_string_equal(r->recorded_by, "sote");
        assert_int_equal(r->n_orgs, 3);
        assert_int_equal(r->n_purposes, 4);
        assert_int_equal(r->valid_until_ms, w->r.now_ms + 365 * DAY_MS);
        assert_true(consents_active(r, w->r.now_ms));
        record_free(r);
    }
    assert_null(fx_consent(w->typ, id));
    assert_int_equal(find(w->kela, CLIENT, "kela", "tk", "referral", NULL),
                     POLKU_OK);
}

static void a_grant_for_an_org_outside_its_scope_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->typ, env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_null(fx_consent(w->typ, id));
    polku_envelope_free(&env);
}

static void
a_grant_from_an_org_outside_its_scope_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    char *origin = env->origin_org;
    env->origin_org = "typ"; /* typ records a consent it is not part of */
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, env, &out), POLKU_OK);
    env->origin_org = origin;
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_null(fx_consent(w->kela, id));
    polku_envelope_free(&env);
}

static void a_duplicate_grant_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(revoke_at(w->kela, id, "asked by client"), POLKU_OK);

    assert_int_equal(fx_inbox(w->kela, env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_true(r->revoked); /* not granted afresh */
    record_free(r);
    polku_envelope_free(&env);
}

/* ---- revoking ---- */

static void a_revocation_is_recorded_and_sent_to_the_scope(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    fx_set_clock(&w->r, w->r.now_ms + 5 * DAY_MS);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(revoke_at(w->sote, id, "client asked"), POLKU_OK);

    Polku__ConsentRecord *r = record(w->sote, id);
    assert_true(r->revoked);
    assert_int_equal(r->revoked_ms, w->r.now_ms);
    assert_string_equal(r->revoked_by, "sote");
    assert_string_equal(r->revoke_reason, "client asked");
    assert_false(consents_active(r, w->r.now_ms));
    record_free(r);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = event(w->sote, seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_CONSENT_REVOKED);
    assert_int_equal(env->n_to, 2);
    assert_true(listed(env->to, env->n_to, "kela"));
    assert_true(listed(env->to, env->n_to, "tk"));
    assert_memory_equal(env->consent_revoked->consent_id.data, id, 16);
    polku_envelope_free(&env);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, NULL),
                     POLKU_EFORBIDDEN);
}

static void the_others_learn_the_revocation_but_not_its_reason(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    assert_int_equal(revoke_at(w->sote, id, "client asked"), POLKU_OK);
    fx_settle(&w->r);
    fx_org *others[] = {w->kela, w->tk};
    for (size_t i = 0; i < 2; i++) {
        Polku__ConsentRecord *r = record(others[i], id);
        assert_true(r->revoked);
        assert_string_equal(r->revoked_by, "sote");
        assert_string_equal(r->revoke_reason, "");
        record_free(r);
        assert_int_equal(find(others[i], CLIENT, "kela", "tk", NULL, NULL),
                         POLKU_EFORBIDDEN);
    }
}

static void any_org_of_the_scope_may_revoke(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    assert_int_equal(revoke_at(w->tk, id, "client asked tk"), POLKU_OK);
    fx_settle(&w->r);
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_true(r->revoked);
    assert_string_equal(r->revoked_by, "tk");
    record_free(r);
    r = record(w->kela, id);
    assert_true(r->revoked);
    assert_string_equal(r->revoked_by, "tk");
    record_free(r);
}

static void a_consent_is_revoked_only_once(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    assert_int_equal(revoke_at(w->sote, id, "first"), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(revoke_at(w->sote, id, "second"), POLKU_EEXIST);
    assert_int_equal(fx_last_seq(w->sote), seq);
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_string_equal(r->revoke_reason, "first");
    record_free(r);
}

static void an_unknown_consent_cannot_be_revoked(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    id[15] ^= 0xff;
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(revoke_at(w->sote, id, "x"), POLKU_ENOTFOUND);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_null(fx_consent(w->sote, id));
}

static void a_second_revocation_keeps_the_first_revoker(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    /* sote and tk revoke at once; kela hears sote first */
    assert_int_equal(revoke_at(w->sote, id, "a"), POLKU_OK);
    assert_int_equal(revoke_at(w->tk, id, "b"), POLKU_OK);
    polku_envelope *by_sote = event(w->sote, fx_last_seq(w->sote));
    polku_envelope *by_tk = event(w->tk, fx_last_seq(w->tk));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, by_sote, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(fx_inbox(w->kela, by_tk, &out), POLKU_OK);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_true(r->revoked);
    assert_string_equal(r->revoked_by, "sote");
    record_free(r);
    assert_int_equal(fx_inbox(w->kela, by_sote, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);
    polku_envelope_free(&by_sote);
    polku_envelope_free(&by_tk);
}

/* sote grants; tk hears it and revokes; kela hears tk's revocation first. */
static void revocation_overtakes_grant(world *w, uint8_t id[16],
                                       polku_envelope **grant_env)
{
    grant_three(w, id);
    *grant_env = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->tk, *grant_env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(revoke_at(w->tk, id, "client asked tk"), POLKU_OK);
    polku_envelope *rv = event(w->tk, fx_last_seq(w->tk));
    assert_int_equal(fx_inbox(w->kela, rv, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    polku_envelope_free(&rv);
}

static void a_revocation_before_its_grant_is_no_consent_yet(void **state)
{
    world *w = *state;
    uint8_t id[16];
    polku_envelope *grant_env = NULL;
    revocation_overtakes_grant(w, id, &grant_env);
    /* kela holds a tombstone: nothing it may use or revoke */
    assert_int_equal(find(w->kela, CLIENT, "kela", "sote", NULL, NULL),
                     POLKU_EFORBIDDEN);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(revoke_at(w->kela, id, "x"), POLKU_ENOTFOUND);
    assert_int_equal(fx_last_seq(w->kela), seq);
    polku_envelope_free(&grant_env);
}

static void a_grant_after_its_revocation_stays_revoked(void **state)
{
    world *w = *state;
    uint8_t id[16];
    polku_envelope *grant_env = NULL;
    revocation_overtakes_grant(w, id, &grant_env);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, grant_env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_memory_equal(r->client_key.data, CLIENT, 16); /* the grant */
    assert_string_equal(r->recorded_by, "sote");
    assert_int_equal(r->n_orgs, 3);
    assert_true(r->revoked); /* and the revocation */
    assert_string_equal(r->revoked_by, "tk");
    assert_false(consents_active(r, w->r.now_ms));
    record_free(r);
    assert_int_equal(find(w->kela, CLIENT, "kela", "sote", NULL, NULL),
                     POLKU_EFORBIDDEN);
    assert_int_equal(revoke_at(w->kela, id, "x"), POLKU_EEXIST);
    polku_envelope_free(&grant_env);
}

static void a_revocation_from_outside_the_scope_is_not_applied(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    fx_settle(&w->r);
    Polku__ConsentRevoked rv = POLKU__CONSENT_REVOKED__INIT;
    rv.consent_id.data = id;
    rv.consent_id.len = 16;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    env.origin_org = "typ";
    env.origin_seq = 1;
    env.time_ms = w->r.now_ms;
    char *to[] = {"kela"};
    env.to = to;
    env.n_to = 1;
    env.client_key.data = (uint8_t *)CLIENT;
    env.client_key.len = 16;
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_REVOKED;
    env.consent_revoked = &rv;
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, &env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_false(r->revoked);
    assert_string_equal(r->revoked_by, "");
    record_free(r);
    assert_int_equal(find(w->kela, CLIENT, "kela", "sote", NULL, NULL),
                     POLKU_OK);
}

/* ---- choosing the active consent ---- */

static void the_longest_lived_active_consent_is_chosen(void **state)
{
    world *w = *state;
    const char *const orgs[] = {"sote", "kela", NULL};
    uint8_t year[16], two_years[16], half_year[16], found[16];
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 365 * DAY_MS, year);
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 730 * DAY_MS, two_years);
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 182 * DAY_MS, half_year);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", "referral", found),
                     POLKU_OK);
    assert_memory_equal(found, two_years, 16);
}

static void the_recorder_of_the_chosen_consent_is_told(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant(w->kela, CLIENT, (const char *const[]){"kela", "sote", NULL},
          ALL_PURPOSES, 30 * DAY_MS, id);
    fx_settle(&w->r);
    find_call f = {.client = CLIENT, .a = "sote", .b = "kela"};
    assert_int_equal(fx_run(w->sote, find_fn, &f), POLKU_OK);
    assert_memory_equal(f.id, id, 16);
    assert_string_equal(f.recorded_by, "kela");
}

static void an_expired_consent_is_not_active(void **state)
{
    world *w = *state;
    uint8_t id[16], found[16];
    uint64_t start = w->r.now_ms;
    grant(w->sote, CLIENT, (const char *const[]){"sote", "kela", NULL},
          ALL_PURPOSES, 10 * DAY_MS, id);
    fx_set_clock(&w->r, start + 10 * DAY_MS - 1);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_OK);
    assert_memory_equal(found, id, 16);
    fx_set_clock(&w->r, start + 10 * DAY_MS); /* valid until, not through */
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_EFORBIDDEN);
}

static void an_expired_consent_gives_way_to_a_shorter_active_one(void **state)
{
    world *w = *state;
    const char *const orgs[] = {"sote", "kela", NULL};
    uint64_t start = w->r.now_ms;
    uint8_t old[16], fresh[16], found[16];
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 10 * DAY_MS, old);
    fx_set_clock(&w->r, start + 9 * DAY_MS);
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 30 * DAY_MS, fresh);
    fx_set_clock(&w->r, start + 11 * DAY_MS);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_OK);
    assert_memory_equal(found, fresh, 16);
    fx_set_clock(&w->r, start + 40 * DAY_MS);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_EFORBIDDEN);
}

static void a_revoked_consent_gives_way_to_a_shorter_active_one(void **state)
{
    world *w = *state;
    const char *const orgs[] = {"sote", "kela", NULL};
    uint8_t longer[16], shorter[16], found[16];
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 730 * DAY_MS, longer);
    grant(w->sote, CLIENT, orgs, ALL_PURPOSES, 30 * DAY_MS, shorter);
    assert_int_equal(revoke_at(w->sote, longer, "client asked"), POLKU_OK);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_OK);
    assert_memory_equal(found, shorter, 16);
    assert_int_equal(revoke_at(w->sote, shorter, "client asked"), POLKU_OK);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_EFORBIDDEN);
}

static void a_consent_covers_only_its_purposes(void **state)
{
    world *w = *state;
    uint8_t id[16], found[16];
    grant(w->sote, CLIENT, (const char *const[]){"sote", "kela", NULL},
          (const char *const[]){"referral", NULL}, 30 * DAY_MS, id);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", "handover", found),
                     POLKU_EFORBIDDEN);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", "plan", found),
                     POLKU_EFORBIDDEN);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", "referral", found),
                     POLKU_OK);
    assert_memory_equal(found, id, 16);
    memset(found, 0, 16);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", NULL, found),
                     POLKU_OK); /* any purpose */
    assert_memory_equal(found, id, 16);
}

static void
the_longest_lived_is_chosen_among_those_for_the_purpose(void **state)
{
    world *w = *state;
    const char *const orgs[] = {"sote", "kela", NULL};
    uint8_t referral_only[16], handover_only[16], found[16];
    grant(w->sote, CLIENT, orgs, (const char *const[]){"referral", NULL},
          30 * DAY_MS, referral_only);
    grant(w->sote, CLIENT, orgs, (const char *const[]){"handover", NULL},
          300 * DAY_MS, handover_only);
    assert_int_equal(find(w->sote, CLIENT, "sote", "kela", "referral", found),
                     POLKU_OK);
    assert_memory_equal(found, referral_only, 16);
}

static void a_consent_covers_only_the_orgs_it_names(void **state)
{
    world *w = *state;
    uint8_t id[16], found[16];
    grant(w->sote, CLIENT, (const char *const[]){"sote", "kela", NULL},
          ALL_PURPOSES, 30 * DAY_MS, id);
    assert_int_equal(find(w->sote, CLIENT, "sote", "tk", NULL, found),
                     POLKU_EFORBIDDEN);
    assert_int_equal(find(w->sote, CLIENT, "tk", "kela", NULL, found),
                     POLKU_EFORBIDDEN);
    assert_int_equal(find(w->sote, CLIENT, "kela", "sote", NULL, found),
                     POLKU_OK);
    assert_memory_equal(found, id, 16);
}

static void a_consent_covers_only_its_client(void **state)
{
    world *w = *state;
    uint8_t id[16], found[16];
    grant_three(w, id);
    assert_int_equal(find(w->sote, OTHER_CLIENT, "sote", "kela", NULL, found),
                     POLKU_EFORBIDDEN);
}

/* ---- the scope ---- */

static void the_scope_lists_the_other_orgs(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    scope_call s = {.org = "sote"};
    assert_int_equal(fx_run(w->sote, scope_fn, &s), POLKU_OK);
    assert_memory_equal(s.id, id, 16);
    assert_string_equal(s.recorded_by, "sote");
    assert_int_equal(s.n_others, 2);
    assert_string_equal(s.others[0], "kela");
    assert_string_equal(s.others[1], "tk");
}

static void the_scope_leaves_out_orgs_not_in_the_directory(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant(w->sote, CLIENT, (const char *const[]){"sote", "ghost", "tk", NULL},
          ALL_PURPOSES, 30 * DAY_MS, id);
    scope_call s = {.org = "sote"};
    assert_int_equal(fx_run(w->sote, scope_fn, &s), POLKU_OK);
    assert_int_equal(s.n_others, 1);
    assert_string_equal(s.others[0], "tk");
}

static void there_is_no_scope_without_an_active_consent(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    assert_int_equal(revoke_at(w->sote, id, "x"), POLKU_OK);
    scope_call s = {.org = "sote"};
    assert_int_equal(fx_run(w->sote, scope_fn, &s), POLKU_EFORBIDDEN);
    assert_int_equal(s.n_others, 0);
}

/* ---- undeliverable ---- */

static void
an_undeliverable_grant_is_recorded_once_per_org_and_code(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    undeliverable(w->sote, env, "tk", "unknown_org");
    undeliverable(w->sote, env, "tk", "unknown_org");
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_int_equal(r->n_undelivered, 1);
    assert_string_equal(r->undelivered[0], "tk:unknown_org");
    assert_false(r->revoked); /* still a consent */
    record_free(r);
    polku_envelope_free(&env);
}

static void each_undelivered_destination_is_recorded(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    undeliverable(w->sote, env, "tk", "unknown_org");
    undeliverable(w->sote, env, "kela", "consent_required");
    undeliverable(w->sote, env, "", "malformed");
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_int_equal(r->n_undelivered, 3);
    assert_true(listed(r->undelivered, r->n_undelivered, "tk:unknown_org"));
    assert_true(
        listed(r->undelivered, r->n_undelivered, "kela:consent_required"));
    assert_true(listed(r->undelivered, r->n_undelivered, "broker:malformed"));
    record_free(r);
    polku_envelope_free(&env);
}

static void an_undeliverable_revocation_is_recorded_on_its_consent(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    assert_int_equal(revoke_at(w->sote, id, "x"), POLKU_OK);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_CONSENT_REVOKED);
    undeliverable(w->sote, env, "kela", "unknown_org");
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_int_equal(r->n_undelivered, 1);
    assert_string_equal(r->undelivered[0], "kela:unknown_org");
    assert_true(r->revoked);
    record_free(r);
    polku_envelope_free(&env);
}

static void an_undeliverable_unknown_consent_is_ignored(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    /* the same envelope at kela, which never recorded the consent */
    undeliverable(w->kela, env, "tk", "unknown_org");
    assert_null(fx_consent(w->kela, id));
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_int_equal(r->n_undelivered, 0);
    record_free(r);
    polku_envelope_free(&env);
}

/* ---- what is logged ---- */

/* Log lines are written to stderr after each commit: a test sends them to
 * a temporary file between log_start and log_stop and counts a phrase. */
typedef struct log_capture {
    FILE *file;
    int saved;
} log_capture;

static void log_start(log_capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(fileno(stderr));
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->file), fileno(stderr)) >= 0);
    polku_log_init("consents_test", POLKU_LOG_INFO);
}

/* Restores stderr; the number of lines holding phrase. */
static int log_stop(log_capture *c, const char *phrase)
{
    fflush(stderr);
    assert_true(dup2(c->saved, fileno(stderr)) >= 0);
    close(c->saved);
    rewind(c->file);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, c->file))
        n += strstr(line, phrase) != NULL;
    fclose(c->file);
    return n;
}

static void a_repeated_nack_is_logged_once(void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    log_capture cap;
    log_start(&cap);
    undeliverable(w->sote, env, "tk", "unknown_org");
    undeliverable(w->sote, env, "tk", "unknown_org");
    undeliverable(w->sote, env, "tk", "unknown_org");
    undeliverable(w->sote, env, "kela", "unknown_org");
    assert_int_equal(log_stop(&cap, "could not be delivered to tk"), 1);
    log_start(&cap);
    undeliverable(w->sote, env, "kela", "unknown_org");
    assert_int_equal(log_stop(&cap, "could not be delivered"), 0);
    polku_envelope_free(&env);
}

/* A ConsentRevoked for consent id as org would send it (origin seq seq). */
static polku_envelope revoked_by(const char *org, uint64_t seq,
                                 const uint8_t id[16],
                                 Polku__ConsentRevoked *rv, uint64_t now)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    polku__consent_revoked__init(rv);
    rv->consent_id.data = (uint8_t *)id;
    rv->consent_id.len = 16;
    env.origin_org = (char *)org;
    env.origin_seq = seq;
    env.time_ms = now;
    env.client_key.data = (uint8_t *)CLIENT;
    env.client_key.len = 16;
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_REVOKED;
    env.consent_revoked = rv;
    return env;
}

static void an_out_of_scope_revocation_before_its_grant_is_dropped_by_the_grant(
    void **state)
{
    world *w = *state;
    uint8_t id[16];
    grant_three(w, id); /* sote, kela, tk: typ is outside */
    polku_envelope *grant_env = event(w->sote, fx_last_seq(w->sote));
    Polku__ConsentRevoked rv;
    polku_envelope forged = revoked_by("typ", 900, id, &rv, w->r.now_ms);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, &forged, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED); /* a tombstone: not judged yet */
    log_capture cap;
    log_start(&cap);
    assert_int_equal(fx_inbox(w->kela, grant_env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(log_stop(&cap, "outside its scope, dropped"), 1);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_false(r->revoked);
    assert_string_equal(r->revoked_by, "");
    assert_int_equal(r->revoked_ms, 0);
    assert_true(consents_active(r, w->r.now_ms));
    record_free(r);
    assert_int_equal(find(w->kela, CLIENT, "kela", "sote", "referral", NULL),
                     POLKU_OK);
    /* an org in scope may still revoke it */
    assert_int_equal(revoke_at(w->kela, id, "client asked kela"), POLKU_OK);
    polku_envelope_free(&grant_env);
}

static void
an_in_scope_revocation_before_its_grant_is_kept_silently(void **state)
{
    world *w = *state;
    uint8_t id[16];
    polku_envelope *grant_env = NULL;
    revocation_overtakes_grant(w, id, &grant_env); /* by tk, in scope */
    log_capture cap;
    log_start(&cap);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, grant_env, &out), POLKU_OK);
    assert_int_equal(log_stop(&cap, "outside its scope"), 0);
    Polku__ConsentRecord *r = record(w->kela, id);
    assert_true(r->revoked);
    assert_string_equal(r->revoked_by, "tk");
    record_free(r);
    polku_envelope_free(&grant_env);
}

static void a_grant_always_names_the_recording_org(void **state)
{
    world *w = *state;
    uint8_t id[16];
    /* consents_grant called without sote in the list */
    grant(w->sote, CLIENT, (const char *const[]){"kela", NULL}, ALL_PURPOSES,
          365 * DAY_MS, id);
    Polku__ConsentRecord *r = record(w->sote, id);
    assert_int_equal(r->n_orgs, 2);
    assert_true(listed(r->orgs, r->n_orgs, "kela"));
    assert_true(listed(r->orgs, r->n_orgs, "sote"));
    record_free(r);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(env->consent_granted->n_orgs, 2);
    assert_int_equal(env->n_to, 1);
    assert_string_equal(env->to[0], "kela");
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, env, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED); /* kela accepts it: sote in scope */
    polku_envelope_free(&env);
    assert_int_equal(find(w->kela, CLIENT, "kela", "sote", "referral", NULL),
                     POLKU_OK);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_grant_is_stored_with_its_scope_and_recorder),
        TEST(a_grant_is_sent_to_every_other_org_of_its_scope),
        TEST(the_others_of_the_scope_learn_the_grant_through_their_inbox),
        TEST(a_grant_for_an_org_outside_its_scope_is_not_applicable),
        TEST(a_grant_from_an_org_outside_its_scope_is_not_applicable),
        TEST(a_duplicate_grant_changes_nothing),
        TEST(a_revocation_is_recorded_and_sent_to_the_scope),
        TEST(the_others_learn_the_revocation_but_not_its_reason),
        TEST(any_org_of_the_scope_may_revoke),
        TEST(a_consent_is_revoked_only_once),
        TEST(an_unknown_consent_cannot_be_revoked),
        TEST(a_second_revocation_keeps_the_first_revoker),
        TEST(a_revocation_before_its_grant_is_no_consent_yet),
        TEST(a_grant_after_its_revocation_stays_revoked),
        TEST(a_revocation_from_outside_the_scope_is_not_applied),
        TEST(the_longest_lived_active_consent_is_chosen),
        TEST(the_recorder_of_the_chosen_consent_is_told),
        TEST(an_expired_consent_is_not_active),
        TEST(an_expired_consent_gives_way_to_a_shorter_active_one),
        TEST(a_revoked_consent_gives_way_to_a_shorter_active_one),
        TEST(a_consent_covers_only_its_purposes),
        TEST(the_longest_lived_is_chosen_among_those_for_the_purpose),
        TEST(a_consent_covers_only_the_orgs_it_names),
        TEST(a_consent_covers_only_its_client),
        TEST(the_scope_lists_the_other_orgs),
        TEST(the_scope_leaves_out_orgs_not_in_the_directory),
        TEST(there_is_no_scope_without_an_active_consent),
        TEST(an_undeliverable_grant_is_recorded_once_per_org_and_code),
        TEST(each_undelivered_destination_is_recorded),
        TEST(an_undeliverable_revocation_is_recorded_on_its_consent),
        TEST(an_undeliverable_unknown_consent_is_ignored),
        TEST(a_repeated_nack_is_logged_once),
        TEST(
            an_out_of_scope_revocation_before_its_grant_is_dropped_by_the_grant),
        TEST(an_in_scope_revocation_before_its_grant_is_kept_silently),
        TEST(a_grant_always_names_the_recording_org),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
