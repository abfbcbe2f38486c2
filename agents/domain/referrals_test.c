/* referrals_test.c — a referral's life between two organisations, no
 * sockets: created at the sender, received at once by the receiver, moved
 * on by the receiver only, cancelled on the sender's request.
 *
 * A referral is kept twice, at its sender and at its receiver, and only the
 * receiver writes it after `requested` (one writer, DESIGN §4); the sender
 * learns each change as a ReferralStatus event and applies it by version.
 * The broker may resend events and deliver them late, so these cases pin:
 * the consent gate at creation (nothing stored, nothing sent without it),
 * every row of lib/referral.c's table as the receiver meets it through
 * referrals_set_status and every move the table refuses (and that the
 * sender can write none of them), versions that never roll the sender's
 * copy back, cancel requests (only the sender's, only while not final),
 * duplicates and events that overtake the one they follow, and the two
 * visible failures: a request that could not be delivered and one whose
 * sealed text could not be opened. Client keys are synthetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "domain_fixture.h"
#include "polku/error.h"
#include "consents.h"
#include "polku/keys.h"
#include "referrals.h"

#define REQUESTED POLKU__REFERRAL_STATE__REFERRAL_REQUESTED
#define RECEIVED POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define REJECTED POLKU__REFERRAL_STATE__REFERRAL_REJECTED
#define IN_PROGRESS POLKU__REFERRAL_STATE__REFERRAL_IN_PROGRESS
#define ON_HOLD POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD
#define COMPLETED POLKU__REFERRAL_STATE__REFERRAL_COMPLETED
#define FAILED POLKU__REFERRAL_STATE__REFERRAL_FAILED
#define CANCELLED POLKU__REFERRAL_STATE__REFERRAL_CANCELLED

static const uint8_t CLIENT[16] = {0x5a, 1, 2,  3,  4,  5,  6,  7,
                                   8,    9, 10, 11, 12, 13, 14, 15};
static const uint8_t OTHER_CLIENT[16] = {0x6b, 15, 14, 13};

#define UNVERIFIABLE "unverifiable_content"

/* ---- the region: sote sends, kela receives, tk looks on ---- */

/* One row of a table-driven case: a move from -> to by the receiver, and
 * what referrals_set_status answers. */
typedef struct move {
    polku_referral_state from, to;
    const char *reason; /* NULL or "": none given */
    int expect;
} move;

typedef struct world {
    fx_region r;
    fx_org *sote, *kela, *tk;
    const move *move; /* the case of a table-driven test, else NULL */
} world;

static int setup(void **state)
{
    static world w;
    const move *m = *state; /* a table-driven test's row, or NULL */
    fx_region_init(&w.r, 3, (const char *const[]){"sote", "kela", "tk"},
                   (const char *const[]){NULL, "rehab", "work"});
    w.sote = fx_org_of(&w.r, "sote");
    w.kela = fx_org_of(&w.r, "kela");
    w.tk = fx_org_of(&w.r, "tk");
    w.move = m;
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    fx_region_fini(&w->r);
    return 0;
}

/* ---- calls, each one item of one organisation ---- */

typedef struct create_call {
    referral_new n;
    Polku__ReferralRecord *r;
} create_call;

static int create(domain *d, MDB_txn *txn, void *ctx)
{
    create_call *c = ctx;
    return referrals_create(d, txn, &c->n, &c->r);
}

typedef struct status_call {
    const uint8_t *id;
    polku_referral_state to;
    const char *reason, *outcome;
    Polku__ReferralRecord *r;
} status_call;

static int set_status_fn(domain *d, MDB_txn *txn, void *ctx)
{
    status_call *c = ctx;
    return referrals_set_status(d, txn, c->id, c->to, c->reason, c->outcome,
                                &c->r);
}

static int cancel_fn(domain *d, MDB_txn *txn, void *ctx)
{
    status_call *c = ctx;
    return referrals_request_cancel(d, txn, c->id, c->reason, &c->r);
}

typedef struct undeliverable_call {
    const polku_envelope *env;
    const char *code;
} undeliverable_call;

static int undeliverable_fn(domain *d, MDB_txn *txn, void *ctx)
{
    undeliverable_call *c = ctx;
    return referrals_undeliverable(d, txn, c->env, c->code);
}

/* A consent of CLIENT naming orgs (NULL-terminated) for every purpose. */
static void consent_for(fx_org *o, const char *const orgs[])
{
    uint8_t id[16];
    assert_int_equal(fx_consent_grant(o, CLIENT, orgs, id), POLKU_OK);
}

static void consent_all(world *w)
{
    consent_for(w->sote, (const char *const[]){"sote", "kela", "tk", NULL});
}

/* referrals_create at sote for kela: its result; *id the referral's id. */
static int try_refer(world *w, const uint8_t client[16], uint8_t id[16])
{
    create_call c = {.n = {.to = "kela",
                           .service = "rehab",
                           .reason = "back pain",
                           .urgency = "routine"}};
    memcpy(c.n.client_key, client, 16);
    int rc = fx_run(w->sote, create, &c);
    if (rc == POLKU_OK) {
        assert_non_null(c.r);
        memcpy(id, c.r->id.data, 16);
        polku__referral_record__free_unpacked(c.r, NULL);
    } else {
        assert_null(c.r);
    }
    return rc;
}

/* A referral sote sent to kela, not delivered yet. */
static void refer(world *w, uint8_t id[16])
{
    consent_all(w);
    assert_int_equal(try_refer(w, CLIENT, id), POLKU_OK);
}

/* A referral kela has received, and sote knows it. */
static void refer_received(world *w, uint8_t id[16])
{
    refer(w, id);
    fx_settle(&w->r);
}

static int set_status(fx_org *o, const uint8_t id[16], polku_referral_state to,
                      const char *reason, const char *outcome)
{
    status_call c = {.id = id, .to = to, .reason = reason, .outcome = outcome};
    int rc = fx_run(o, set_status_fn, &c);
    if (rc == POLKU_OK) {
        assert_non_null(c.r);
        assert_int_equal(c.r->status, to);
        polku__referral_record__free_unpacked(c.r, NULL);
    } else {
        assert_null(c.r);
    }
    return rc;
}

static int request_cancel(fx_org *o, const uint8_t id[16], const char *reason)
{
    status_call c = {.id = id, .reason = reason};
    int rc = fx_run(o, cancel_fn, &c);
    if (rc == POLKU_OK) {
        assert_non_null(c.r);
        assert_true(c.r->cancel_requested);
        polku__referral_record__free_unpacked(c.r, NULL);
    } else {
        assert_null(c.r);
    }
    return rc;
}

static Polku__ReferralRecord *record(fx_org *o, const uint8_t id[16])
{
    Polku__ReferralRecord *r = fx_referral(o, id);
    assert_non_null(r);
    return r;
}

static void record_free(Polku__ReferralRecord *r)
{
    polku__referral_record__free_unpacked(r, NULL);
}

/* The status of o's copy (REFERRAL_UNSPECIFIED when o has none). */
static polku_referral_state status_at(fx_org *o, const uint8_t id[16])
{
    Polku__ReferralRecord *r = fx_referral(o, id);
    if (!r)
        return POLKU__REFERRAL_STATE__REFERRAL_UNSPECIFIED;
    polku_referral_state s = r->status;
    record_free(r);
    return s;
}

static size_t referrals_stored(fx_org *o)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(o->st.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_stat(txn, o->st.referrals, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

static polku_envelope *event(fx_org *o, uint64_t seq)
{
    polku_envelope *env = fx_event(o, seq);
    assert_non_null(env);
    return env;
}

/* The referral's state before a move, as the receiver gets there: the
 * table's shortest way from `received`. */
static polku_referral_state before(polku_referral_state s)
{
    switch (s) {
    case IN_PROGRESS:
        return ACCEPTED;
    case ON_HOLD:
        return IN_PROGRESS;
    case COMPLETED:
        return ACCEPTED;
    default: /* accepted, rejected, cancelled, failed */
        return RECEIVED;
    }
}

/* kela moves the received referral id on to s; sote learns it. */
static void walk_to(world *w, const uint8_t id[16], polku_referral_state s)
{
    if (s == RECEIVED)
        return;
    walk_to(w, id, before(s));
    assert_int_equal(set_status(w->kela, id, s, "on the way", ""), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(status_at(w->sote, id), s);
}

/* ---- creating ---- */

static void created_and_received(void **state)
{
    world *w = *state;
    fx_org *sote = w->sote, *kela = w->kela;
    uint8_t consent[16];
    assert_int_equal(
        fx_consent_grant(sote, CLIENT,
                         (const char *const[]){"sote", "kela", NULL}, consent),
        POLKU_OK);
    create_call c = {.n = {.to = "kela",
                           .service = "rehab",
                           .reason = "back pain",
                           .urgency = "routine"}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(sote, create, &c), POLKU_OK);
    assert_int_equal(c.r->status, POLKU__REFERRAL_STATE__REFERRAL_REQUESTED);
    fx_settle(&w->r);
    Polku__ReferralRecord *in = fx_referral(kela, c.r->id.data);
    assert_non_null(in);
    assert_int_equal(in->status, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED);
    assert_string_equal(in->reason, "back pain"); /* sealed, opened */
    Polku__ReferralRecord *out = fx_referral(sote, c.r->id.data);
    assert_int_equal(out->status, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED);
    polku__referral_record__free_unpacked(in, NULL);
    polku__referral_record__free_unpacked(out, NULL);
    polku__referral_record__free_unpacked(c.r, NULL);
}

static void
a_referral_without_consent_is_forbidden_and_leaves_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(try_refer(w, CLIENT, id), POLKU_EFORBIDDEN);
    assert_int_equal(referrals_stored(w->sote), 0);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void a_consent_not_naming_the_receiver_does_not_let_it_go(void **state)
{
    world *w = *state;
    uint8_t id[16];
    consent_for(w->sote, (const char *const[]){"sote", "tk", NULL});
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(try_refer(w, CLIENT, id), POLKU_EFORBIDDEN);
    assert_int_equal(referrals_stored(w->sote), 0);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void another_clients_consent_does_not_let_it_go(void **state)
{
    world *w = *state;
    uint8_t id[16];
    consent_all(w); /* CLIENT's, not OTHER_CLIENT's */
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(try_refer(w, OTHER_CLIENT, id), POLKU_EFORBIDDEN);
    assert_int_equal(referrals_stored(w->sote), 0);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

typedef struct grant_call {
    consent_new c;
    Polku__ConsentRecord *r;
} grant_call;

static int grant_fn(domain *d, MDB_txn *txn, void *ctx)
{
    grant_call *g = ctx;
    return consents_grant(d, txn, &g->c, &g->r);
}

static void a_consent_without_purpose_referral_does_not_let_it_go(void **state)
{
    world *w = *state;
    grant_call g = {.c = {.orgs = {"sote", "kela"},
                          .n_orgs = 2,
                          .purposes = {"handover", "path", "plan"},
                          .n_purposes = 3,
                          .valid_until_ms = w->r.now_ms + 86400000,
                          .form = "written"}};
    memcpy(g.c.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, grant_fn, &g), POLKU_OK);
    polku__consent_record__free_unpacked(g.r, NULL);
    uint8_t id[16];
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(try_refer(w, CLIENT, id), POLKU_EFORBIDDEN);
    assert_int_equal(referrals_stored(w->sote), 0);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void an_expired_consent_does_not_let_it_go(void **state)
{
    world *w = *state;
    consent_all(w); /* valid for a year */
    fx_set_clock(&w->r, w->r.now_ms + 366ull * 86400000);
    uint8_t id[16];
    assert_int_equal(try_refer(w, CLIENT, id), POLKU_EFORBIDDEN);
    assert_int_equal(referrals_stored(w->sote), 0);
}

static void
a_new_referral_is_requested_and_its_reason_travels_sealed(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    Polku__ReferralRecord *r = record(w->sote, id);
    assert_true(r->outgoing);
    assert_int_equal(r->status, REQUESTED);
    assert_int_equal(r->version, 0);
    assert_int_equal(r->n_history, 1);
    assert_int_equal(r->history[0]->status, REQUESTED);
    assert_int_equal(r->consent_id.len, 16);
    assert_memory_equal(r->client_key.data, CLIENT, 16);
    record_free(r);
    polku_envelope *env = event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED);
    assert_int_equal(env->n_to, 1);
    assert_string_equal(env->to[0], "kela");
    assert_memory_equal(env->referral_requested->referral_id.data, id, 16);
    assert_string_equal(env->referral_requested->reason, "");
    assert_true(env->referral_requested->sealed.len > 0);
    polku_envelope_free(&env);
}

/* ---- the receiver ---- */

static void the_receiver_writes_received_at_once(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    uint64_t kela_seq = fx_last_seq(w->kela);
    /* the consent to kela and tk, the request to kela */
    assert_int_equal(fx_deliver(&w->r, w->sote), 3);
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_false(r->outgoing);
    assert_string_equal(r->from_org, "sote");
    assert_string_equal(r->to_org, "kela");
    assert_int_equal(r->status, RECEIVED);
    assert_int_equal(r->version, 1);
    assert_int_equal(r->n_history, 2);
    assert_int_equal(r->history[0]->status, REQUESTED);
    assert_string_equal(r->history[0]->by, "sote");
    assert_int_equal(r->history[1]->status, RECEIVED);
    assert_string_equal(r->history[1]->by, "kela");
    record_free(r);
    /* one status event, for the sender, which has not seen it yet */
    assert_int_equal(fx_last_seq(w->kela), kela_seq + 1);
    polku_envelope *env = event(w->kela, kela_seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
    assert_int_equal(env->n_to, 1);
    assert_string_equal(env->to[0], "sote");
    assert_int_equal(env->referral_status->status, RECEIVED);
    assert_int_equal(env->referral_status->version, 1);
    polku_envelope_free(&env);
    assert_int_equal(status_at(w->sote, id), REQUESTED);
}

/* Table-driven: w->move is a row the receiver may take. */
static void the_receiver_moves_it_and_the_sender_follows(void **state)
{
    world *w = *state;
    const move *m = w->move;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, m->from);
    Polku__ReferralRecord *r = record(w->kela, id);
    uint32_t version = r->version;
    size_t n_history = r->n_history;
    record_free(r);
    uint64_t seq = fx_last_seq(w->kela);

    assert_int_equal(set_status(w->kela, id, m->to, m->reason, "next steps"),
                     m->expect);

    r = record(w->kela, id);
    assert_int_equal(r->status, m->to);
    assert_int_equal(r->version, version + 1);
    assert_int_equal(r->n_history, n_history + 1);
    assert_int_equal(r->history[n_history]->status, m->to);
    assert_string_equal(r->history[n_history]->reason, m->reason);
    assert_string_equal(r->outcome, "next steps");
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq + 1);
    polku_envelope *env = event(w->kela, seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
    assert_string_equal(env->to[0], "sote");
    assert_int_equal(env->referral_status->version, version + 1);
    assert_string_equal(env->referral_status->reason, ""); /* sealed */
    polku_envelope_free(&env);

    fx_settle(&w->r);
    r = record(w->sote, id);
    assert_int_equal(r->status, m->to);
    assert_int_equal(r->version, version + 1);
    const Polku__HistoryEntry *last = r->history[r->n_history - 1];
    assert_int_equal(last->status, m->to);
    assert_string_equal(last->by, "kela");
    assert_string_equal(last->reason, m->reason); /* opened at the sender */
    assert_string_equal(last->outcome, "next steps");
    assert_string_equal(r->outcome, "next steps");
    record_free(r);
}

/* Table-driven: w->move is a move the receiver may not make. */
static void a_refused_move_changes_nothing(void **state)
{
    world *w = *state;
    const move *m = w->move;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, m->from);
    Polku__ReferralRecord *r = record(w->kela, id);
    uint32_t version = r->version;
    size_t n_history = r->n_history;
    record_free(r);
    uint64_t seq = fx_last_seq(w->kela);

    assert_int_equal(set_status(w->kela, id, m->to, m->reason, ""), m->expect);

    r = record(w->kela, id);
    assert_int_equal(r->status, m->from);
    assert_int_equal(r->version, version);
    assert_int_equal(r->n_history, n_history);
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq);
}

static void the_sender_cannot_write_even_the_failed_its_row_allows(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    /* requested -> failed is the sender's row, kept for undeliverable
     * requests: not something to set by hand */
    assert_int_equal(
        polku_referral_check(REQUESTED, FAILED, POLKU_WRITER_SENDER, true),
        POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(set_status(w->sote, id, FAILED, "gave up", ""),
                     POLKU_ETRANSITION);
    assert_int_equal(status_at(w->sote, id), REQUESTED);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void the_sender_cannot_accept_its_own_referral(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(set_status(w->sote, id, ACCEPTED, "", ""),
                     POLKU_ETRANSITION);
    assert_int_equal(status_at(w->sote, id), RECEIVED);
    assert_int_equal(status_at(w->kela, id), RECEIVED);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void an_unknown_referral_has_no_status_to_set(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint8_t unknown[16];
    memcpy(unknown, id, 16);
    unknown[15] ^= 0xff;
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(set_status(w->kela, unknown, ACCEPTED, "", ""),
                     POLKU_ENOTFOUND);
    assert_int_equal(fx_last_seq(w->kela), seq);
}

/* ---- the sender applies by version ---- */

static void an_older_status_after_a_newer_one_goes_to_history_only(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(set_status(w->kela, id, ACCEPTED, "", ""), POLKU_OK);
    assert_int_equal(set_status(w->kela, id, IN_PROGRESS, "", ""), POLKU_OK);
    polku_envelope *accepted = event(w->kela, seq + 1);
    polku_envelope *in_progress = event(w->kela, seq + 2);
    assert_int_equal(accepted->referral_status->version, 2);
    assert_int_equal(in_progress->referral_status->version, 3);

    inbox_outcome out;
    assert_int_equal(fx_inbox(w->sote, in_progress, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(fx_inbox(w->sote, accepted, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);

    Polku__ReferralRecord *r = record(w->sote, id);
    assert_int_equal(r->status, IN_PROGRESS);
    assert_int_equal(r->version, 3);
    /* the history holds both, in version order */
    bool seen_accepted = false;
    for (size_t i = 0; i < r->n_history; i++) {
        if (i > 0)
            assert_true(r->history[i - 1]->version <= r->history[i]->version);
        if (r->history[i]->status == ACCEPTED) {
            seen_accepted = true;
            assert_int_equal(r->history[i]->version, 2);
        }
    }
    assert_true(seen_accepted);
    assert_int_equal(r->history[r->n_history - 1]->status, IN_PROGRESS);
    record_free(r);
    polku_envelope_free(&accepted);
    polku_envelope_free(&in_progress);
}

static void a_duplicate_status_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(set_status(w->kela, id, ACCEPTED, "", ""), POLKU_OK);
    polku_envelope *accepted = event(w->kela, seq + 1);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->sote, accepted, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    Polku__ReferralRecord *r = record(w->sote, id);
    size_t n_history = r->n_history;
    record_free(r);
    uint64_t sote_seq = fx_last_seq(w->sote);

    assert_int_equal(fx_inbox(w->sote, accepted, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);

    r = record(w->sote, id);
    assert_int_equal(r->status, ACCEPTED);
    assert_int_equal(r->version, 2);
    assert_int_equal(r->n_history, n_history);
    record_free(r);
    assert_int_equal(fx_last_seq(w->sote), sote_seq);
    polku_envelope_free(&accepted);
}

static void a_status_for_a_referral_unknown_here_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    assert_int_equal(fx_deliver(&w->r, w->sote), 3);
    /* kela's `received` arrives where the referral never was */
    polku_envelope *received = event(w->kela, fx_last_seq(w->kela));
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->tk, received, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_int_equal(referrals_stored(w->tk), 0);
    polku_envelope_free(&received);
}

static void a_status_not_from_the_receiver_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(set_status(w->kela, id, ACCEPTED, "", ""), POLKU_OK);
    polku_envelope *accepted = event(w->kela, seq + 1);
    char *origin = accepted->origin_org;
    accepted->origin_org = "tk"; /* someone else writes kela's referral */
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->sote, accepted, &out), POLKU_OK);
    accepted->origin_org = origin;
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    Polku__ReferralRecord *r = record(w->sote, id);
    assert_int_equal(r->status, RECEIVED);
    assert_int_equal(r->version, 1);
    record_free(r);
    polku_envelope_free(&accepted);
}

/* ---- duplicates and reordering of the request ---- */

static void a_duplicate_request_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    polku_envelope *req = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(set_status(w->kela, id, ACCEPTED, "", ""), POLKU_OK);
    uint64_t seq = fx_last_seq(w->kela);

    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);

    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, ACCEPTED);
    assert_int_equal(r->version, 2);
    assert_int_equal(r->n_history, 3);
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq); /* no second `received` */
    polku_envelope_free(&req);
}

static void a_request_seen_under_another_seq_is_not_applied_again(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    polku_envelope *req = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(set_status(w->kela, id, ACCEPTED, "", ""), POLKU_OK);
    uint64_t seq = fx_last_seq(w->kela);

    req->origin_seq += 100; /* a new receipt, the same referral */
    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);

    assert_int_equal(status_at(w->kela, id), ACCEPTED);
    assert_int_equal(fx_last_seq(w->kela), seq);
    polku_envelope_free(&req);
}

static void
a_cancel_that_overtakes_its_request_is_acknowledged_unapplied(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    uint64_t req_seq = fx_last_seq(w->sote);
    assert_int_equal(request_cancel(w->sote, id, "changed plans"), POLKU_OK);
    polku_envelope *req = event(w->sote, req_seq);
    polku_envelope *cancel = event(w->sote, req_seq + 1);
    assert_int_equal(cancel->body_case, POLKU__ENVELOPE__BODY_CANCEL_REQUESTED);

    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, cancel, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_int_equal(referrals_stored(w->kela), 0);
    assert_int_equal(fx_last_seq(w->kela), 0);

    /* the request, late, is still received */
    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(status_at(w->kela, id), RECEIVED);
    polku_envelope_free(&req);
    polku_envelope_free(&cancel);
}

/* ---- cancelling ---- */

static void the_receiver_cancels_on_the_senders_request(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, ACCEPTED);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(request_cancel(w->sote, id, "moved away"), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = event(w->sote, seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_CANCEL_REQUESTED);
    assert_string_equal(env->to[0], "kela");
    assert_string_equal(env->cancel_requested->reason, ""); /* sealed */
    polku_envelope_free(&env);
    /* asking is not cancelling: the sender waits for the receiver */
    assert_int_equal(status_at(w->sote, id), ACCEPTED);

    fx_settle(&w->r);
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, CANCELLED);
    assert_true(r->cancel_requested);
    assert_string_equal(r->history[r->n_history - 1]->reason, "moved away");
    assert_string_equal(r->history[r->n_history - 1]->by, "kela");
    record_free(r);
    r = record(w->sote, id);
    assert_int_equal(r->status, CANCELLED);
    assert_true(r->cancel_requested);
    assert_string_equal(r->history[r->n_history - 1]->reason, "moved away");
    record_free(r);
}

static void a_cancel_without_a_reason_is_said_to_be_the_senders(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    assert_int_equal(request_cancel(w->sote, id, ""), POLKU_OK);
    fx_settle(&w->r);
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, CANCELLED);
    assert_string_equal(r->history[r->n_history - 1]->reason,
                        "cancelled by sender");
    record_free(r);
}

static void the_receiver_cannot_request_a_cancel(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(request_cancel(w->kela, id, "no"), POLKU_ETRANSITION);
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, RECEIVED);
    assert_false(r->cancel_requested);
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq);
}

static void a_finished_referral_cannot_be_asked_to_cancel(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, REJECTED);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(request_cancel(w->sote, id, "too late"),
                     POLKU_ETRANSITION);
    Polku__ReferralRecord *r = record(w->sote, id);
    assert_int_equal(r->status, REJECTED);
    assert_false(r->cancel_requested);
    record_free(r);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

/* The race: the sender asks to cancel while the receiver finishes the
 * referral. The referral stays completed, and both records say the sender
 * asked (the sender's flag stays, the receiver's is set when the late
 * request arrives): the same story at both ends. */
static void
a_cancel_racing_the_final_status_is_recorded_at_both_ends(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, IN_PROGRESS);
    fx_settle(&w->r);
    assert_int_equal(request_cancel(w->sote, id, "moved away"), POLKU_OK);
    assert_int_equal(set_status(w->kela, id, COMPLETED, NULL, "done"),
                     POLKU_OK);
    uint64_t kela_seq = fx_last_seq(w->kela);
    fx_settle(&w->r);
    assert_int_equal(fx_last_seq(w->kela), kela_seq); /* nothing more sent */
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, COMPLETED);
    assert_true(r->cancel_requested);
    record_free(r);
    r = record(w->sote, id);
    assert_int_equal(r->status, COMPLETED);
    assert_true(r->cancel_requested);
    record_free(r);
}

static void an_unknown_referral_cannot_be_asked_to_cancel(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    id[15] ^= 0xff;
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(request_cancel(w->sote, id, "x"), POLKU_ENOTFOUND);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void a_cancel_for_a_referral_finished_meanwhile_is_ignored(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    walk_to(w, id, ACCEPTED);
    /* kela completes it; sote asks to cancel before it hears */
    assert_int_equal(set_status(w->kela, id, COMPLETED, "", "done"), POLKU_OK);
    assert_int_equal(request_cancel(w->sote, id, "never mind"), POLKU_OK);
    polku_envelope *cancel = event(w->sote, fx_last_seq(w->sote));
    Polku__ReferralRecord *r = record(w->kela, id);
    uint32_t version = r->version;
    size_t n_history = r->n_history;
    record_free(r);
    uint64_t seq = fx_last_seq(w->kela);

    inbox_outcome out = INBOX_NOT_APPLICABLE;
    assert_int_equal(fx_inbox(w->kela, cancel, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED); /* acknowledged, nothing to do */

    r = record(w->kela, id);
    assert_int_equal(r->status, COMPLETED);
    assert_int_equal(r->version, version);
    assert_int_equal(r->n_history, n_history);
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq);
    polku_envelope_free(&cancel);
    fx_settle(&w->r);
    assert_int_equal(status_at(w->sote, id), COMPLETED);
}

static void a_cancel_not_from_the_sender_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    /* no text: nothing sealed, so only the origin can refuse it */
    assert_int_equal(request_cancel(w->sote, id, ""), POLKU_OK);
    polku_envelope *cancel = event(w->sote, fx_last_seq(w->sote));
    char *origin = cancel->origin_org;
    cancel->origin_org = "tk";
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, cancel, &out), POLKU_OK);
    cancel->origin_org = origin;
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_int_equal(status_at(w->kela, id), RECEIVED);
    polku_envelope_free(&cancel);
}

static void a_duplicate_cancel_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    assert_int_equal(request_cancel(w->sote, id, "x"), POLKU_OK);
    polku_envelope *cancel = event(w->sote, fx_last_seq(w->sote));
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, cancel, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    uint64_t seq = fx_last_seq(w->kela);
    Polku__ReferralRecord *r = record(w->kela, id);
    uint32_t version = r->version;
    record_free(r);

    assert_int_equal(fx_inbox(w->kela, cancel, &out), POLKU_OK);
    assert_int_equal(out, INBOX_DUPLICATE);
    r = record(w->kela, id);
    assert_int_equal(r->status, CANCELLED);
    assert_int_equal(r->version, version);
    record_free(r);
    assert_int_equal(fx_last_seq(w->kela), seq);
    polku_envelope_free(&cancel);
}

/* ---- visible failures ---- */

static void an_undeliverable_request_fails_with_the_code_as_reason(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    uint64_t seq = fx_last_seq(w->sote);
    polku_envelope *req = event(w->sote, seq);
    undeliverable_call c = {req, "unknown_org"};
    assert_int_equal(fx_run(w->sote, undeliverable_fn, &c), POLKU_OK);
    polku_envelope_free(&req);

    Polku__ReferralRecord *r = record(w->sote, id);
    assert_int_equal(r->status, FAILED);
    assert_int_equal(r->version, 1);
    const Polku__HistoryEntry *last = r->history[r->n_history - 1];
    assert_int_equal(last->status, FAILED);
    assert_string_equal(last->reason, "unknown_org");
    assert_string_equal(last->by, "sote");
    record_free(r);
    /* a local event: for the broker alone, the code in the clear */
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = event(w->sote, seq + 1);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
    assert_int_equal(env->n_to, 0);
    assert_int_equal(env->referral_status->status, FAILED);
    assert_string_equal(env->referral_status->reason, "unknown_org");
    polku_envelope_free(&env);
}

static void a_late_undeliverable_leaves_a_received_referral_alone(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    polku_envelope *req = event(w->sote, fx_last_seq(w->sote));
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->sote);
    undeliverable_call c = {req, "retry_later"};
    assert_int_equal(fx_run(w->sote, undeliverable_fn, &c), POLKU_OK);
    polku_envelope_free(&req);
    assert_int_equal(status_at(w->sote, id), RECEIVED);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

/* Gives o's directory a key for peer that is not peer's: what o seals for
 * peer, or opens from it, no longer matches (a key rotated under it). */
static void stale_key(fx_org *o, const char *peer)
{
    polku_keypair stale;
    assert_int_equal(polku_keypair_generate(&stale), POLKU_OK);
    const Polku__Welcome *cur = o->dir.w;
    assert_non_null(cur);
    Polku__Welcome w = POLKU__WELCOME__INIT;
    Polku__DirectoryEntry e[FX_MAX_ORGS], *list[FX_MAX_ORGS];
    assert_true(cur->n_directory <= FX_MAX_ORGS);
    bool found = false;
    for (size_t i = 0; i < cur->n_directory; i++) {
        e[i] = *cur->directory[i];
        if (strcmp(e[i].org, peer) == 0) {
            e[i].public_key = stale.public_z85;
            found = true;
        }
        list[i] = &e[i];
    }
    assert_true(found);
    w.directory = list;
    w.n_directory = cur->n_directory;
    assert_int_equal(directory_set(&o->dir, &w), POLKU_OK);
}

static void
a_request_whose_text_cannot_be_opened_is_received_then_failed(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer(w, id);
    stale_key(w->kela, "sote");
    uint64_t seq = fx_last_seq(w->kela);
    inbox_outcome out;
    polku_envelope *req = event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(fx_inbox(w->kela, req, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED); /* kept, not dropped */
    polku_envelope_free(&req);

    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, FAILED);
    assert_int_equal(r->version, 2);
    assert_string_equal(r->reason, ""); /* nothing readable to keep */
    assert_int_equal(r->n_history, 3);
    assert_int_equal(r->history[1]->status, RECEIVED);
    assert_int_equal(r->history[2]->status, FAILED);
    assert_int_equal(r->history[2]->version, 2);
    assert_memory_equal(r->history[2]->reason, UNVERIFIABLE,
                        strlen(UNVERIFIABLE));
    record_free(r);
    /* both changes go to the sender, in order */
    assert_int_equal(fx_last_seq(w->kela), seq + 2);
    for (uint32_t v = 1; v <= 2; v++) {
        polku_envelope *env = event(w->kela, seq + v);
        assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
        assert_string_equal(env->to[0], "sote");
        assert_int_equal(env->referral_status->version, v);
        assert_int_equal(env->referral_status->status,
                         v == 1 ? RECEIVED : FAILED);
        polku_envelope_free(&env);
    }
}

static void
a_status_whose_reason_cannot_be_opened_is_applied_as_unverifiable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    stale_key(w->sote, "kela"); /* sote cannot open what kela seals */
    assert_int_equal(set_status(w->kela, id, REJECTED, "no capacity", ""),
                     POLKU_OK);
    polku_envelope *st = event(w->kela, fx_last_seq(w->kela));
    assert_int_equal(st->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->sote, st, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED); /* not dropped as not applicable */
    polku_envelope_free(&st);
    Polku__ReferralRecord *r = record(w->sote, id);
    assert_int_equal(r->status, REJECTED);
    assert_int_equal(r->version, 2);
    const Polku__HistoryEntry *last = r->history[r->n_history - 1];
    assert_int_equal(last->status, REJECTED);
    assert_string_equal(last->reason, UNVERIFIABLE);
    assert_string_equal(last->by, "kela");
    record_free(r);
}

static void
a_cancel_whose_reason_cannot_be_opened_is_still_applied(void **state)
{
    world *w = *state;
    uint8_t id[16];
    refer_received(w, id);
    stale_key(w->kela, "sote"); /* kela cannot open what sote seals */
    assert_int_equal(request_cancel(w->sote, id, "client moved"), POLKU_OK);
    polku_envelope *c = event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(c->body_case, POLKU__ENVELOPE__BODY_CANCEL_REQUESTED);
    uint64_t seq = fx_last_seq(w->kela);
    inbox_outcome out;
    assert_int_equal(fx_inbox(w->kela, c, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    polku_envelope_free(&c);
    Polku__ReferralRecord *r = record(w->kela, id);
    assert_int_equal(r->status, CANCELLED);
    assert_true(r->cancel_requested);
    assert_string_equal(r->history[r->n_history - 1]->reason,
                        "cancelled by sender (reason unreadable)");
    record_free(r);
    /* and the sender hears it */
    assert_int_equal(fx_last_seq(w->kela), seq + 1);
    fx_settle(&w->r);
    r = record(w->sote, id);
    assert_int_equal(r->status, CANCELLED);
    record_free(r);
}

/* ---- the tables ---- */

/* Every row lib/referral.c gives the receiver, past `received`. */
static move allowed[] = {
    {RECEIVED, ACCEPTED, "", POLKU_OK},
    {RECEIVED, REJECTED, "no capacity", POLKU_OK},
    {ACCEPTED, IN_PROGRESS, "", POLKU_OK},
    {IN_PROGRESS, ON_HOLD, "client ill", POLKU_OK},
    {ON_HOLD, IN_PROGRESS, "", POLKU_OK},
    {ACCEPTED, COMPLETED, "", POLKU_OK},
    {IN_PROGRESS, COMPLETED, "", POLKU_OK},
    {RECEIVED, CANCELLED, "duplicate", POLKU_OK},
    {ACCEPTED, CANCELLED, "client declined", POLKU_OK},
    {IN_PROGRESS, CANCELLED, "moved away", POLKU_OK},
    {ON_HOLD, CANCELLED, "no response", POLKU_OK},
    {RECEIVED, FAILED, "lost contact", POLKU_OK},
    {ACCEPTED, FAILED, "lost contact", POLKU_OK},
    {IN_PROGRESS, FAILED, "lost contact", POLKU_OK},
    {ON_HOLD, FAILED, "lost contact", POLKU_OK},
};

/* Moves no row allows, and moves whose row wants a reason not given. */
static move refused[] = {
    {RECEIVED, RECEIVED, "", POLKU_ETRANSITION},
    {RECEIVED, REQUESTED, "", POLKU_ETRANSITION},
    {RECEIVED, IN_PROGRESS, "", POLKU_ETRANSITION},
    {RECEIVED, COMPLETED, "", POLKU_ETRANSITION},
    {RECEIVED, ON_HOLD, "", POLKU_ETRANSITION},
    {ACCEPTED, RECEIVED, "", POLKU_ETRANSITION},
    {ACCEPTED, REJECTED, "too late", POLKU_ETRANSITION},
    {ACCEPTED, ON_HOLD, "", POLKU_ETRANSITION},
    {ON_HOLD, COMPLETED, "", POLKU_ETRANSITION},
    {COMPLETED, IN_PROGRESS, "", POLKU_ETRANSITION},
    {COMPLETED, CANCELLED, "oops", POLKU_ETRANSITION},
    {REJECTED, ACCEPTED, "", POLKU_ETRANSITION},
    {CANCELLED, CANCELLED, "again", POLKU_ETRANSITION},
    {FAILED, RECEIVED, "", POLKU_ETRANSITION},
    {RECEIVED, REJECTED, NULL, POLKU_EINVAL},
    {RECEIVED, REJECTED, "", POLKU_EINVAL},
    {ACCEPTED, CANCELLED, "", POLKU_EINVAL},
    {ON_HOLD, CANCELLED, NULL, POLKU_EINVAL},
    {IN_PROGRESS, FAILED, "", POLKU_EINVAL},
    {RECEIVED, FAILED, NULL, POLKU_EINVAL},
};

#define N_ALLOWED (sizeof allowed / sizeof allowed[0])
#define N_REFUSED (sizeof refused / sizeof refused[0])

static char names[N_ALLOWED + N_REFUSED][96];

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    struct CMUnitTest tests[64 + N_ALLOWED + N_REFUSED] = {
        TEST(created_and_received),
        TEST(a_referral_without_consent_is_forbidden_and_leaves_nothing),
        TEST(a_consent_not_naming_the_receiver_does_not_let_it_go),
        TEST(another_clients_consent_does_not_let_it_go),
        TEST(a_consent_without_purpose_referral_does_not_let_it_go),
        TEST(an_expired_consent_does_not_let_it_go),
        TEST(a_new_referral_is_requested_and_its_reason_travels_sealed),
        TEST(the_receiver_writes_received_at_once),
        TEST(the_sender_cannot_write_even_the_failed_its_row_allows),
        TEST(the_sender_cannot_accept_its_own_referral),
        TEST(an_unknown_referral_has_no_status_to_set),
        TEST(an_older_status_after_a_newer_one_goes_to_history_only),
        TEST(a_duplicate_status_changes_nothing),
        TEST(a_status_for_a_referral_unknown_here_is_not_applicable),
        TEST(a_status_not_from_the_receiver_is_not_applicable),
        TEST(a_duplicate_request_changes_nothing),
        TEST(a_request_seen_under_another_seq_is_not_applied_again),
        TEST(a_cancel_that_overtakes_its_request_is_acknowledged_unapplied),
        TEST(the_receiver_cancels_on_the_senders_request),
        TEST(a_cancel_without_a_reason_is_said_to_be_the_senders),
        TEST(the_receiver_cannot_request_a_cancel),
        TEST(a_finished_referral_cannot_be_asked_to_cancel),
        TEST(a_cancel_racing_the_final_status_is_recorded_at_both_ends),
        TEST(an_unknown_referral_cannot_be_asked_to_cancel),
        TEST(a_cancel_for_a_referral_finished_meanwhile_is_ignored),
        TEST(a_cancel_not_from_the_sender_is_not_applicable),
        TEST(a_duplicate_cancel_changes_nothing),
        TEST(an_undeliverable_request_fails_with_the_code_as_reason),
        TEST(a_late_undeliverable_leaves_a_received_referral_alone),
        TEST(a_request_whose_text_cannot_be_opened_is_received_then_failed),
        TEST(a_status_whose_reason_cannot_be_opened_is_applied_as_unverifiable),
        TEST(a_cancel_whose_reason_cannot_be_opened_is_still_applied),
    };
    size_t n = 0;
    while (tests[n].test_func)
        n++;
    for (size_t i = 0; i < N_ALLOWED + N_REFUSED; i++) {
        bool ok = i < N_ALLOWED;
        move *m = ok ? &allowed[i] : &refused[i - N_ALLOWED];
        snprintf(names[i], sizeof names[i], "the receiver %s %s -> %s%s",
                 ok ? "moves" : "may not move",
                 polku_referral_state_name(m->from),
                 polku_referral_state_name(m->to),
                 m->expect != POLKU_EINVAL ? ""
                 : m->reason               ? " with an empty reason"
                                           : " without a reason");
        tests[n++] = (struct CMUnitTest){
            .name = names[i],
            .test_func = ok ? the_receiver_moves_it_and_the_sender_follows
                            : a_refused_move_changes_nothing,
            .setup_func = setup,
            .teardown_func = teardown,
            .initial_state = m};
    }
    return _cmocka_run_group_tests("referrals", tests, n, NULL, NULL);
}
