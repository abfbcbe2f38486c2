/* paths_test.c — what one organisation knows of a client's path: its
 * claim, the broker's answer, its close, its plan and its services.
 *
 * Invariant 3 at the agent: an organisation coordinates only after the
 * broker answered its claim "won" (or after it accepted a handover), and
 * stops when it closes the path (or its handover is accepted). The claim
 * goes to the broker alone, the answer is written back into our own log so
 * a broker restart cannot change it, and every change of coordination is a
 * new term: a record keeps the highest term it has heard of, so a resent
 * or late answer, handover or plan cannot turn the clock back. These cases
 * pin each of those decisions and refusals, with the claim answers built as
 * the broker sends them (origin "", the claim's id). */
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

#define WON POLKU__CLAIM_OUTCOME__CLAIM_WON
#define LOST POLKU__CLAIM_OUTCOME__CLAIM_LOST
#define REFUSED POLKU__CLAIM_OUTCOME__CLAIM_REFUSED
#define PENDING POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED

/* Synthetic client keys: 16 bytes, no identity code behind them. */
static const uint8_t CLIENT[16] = {0xc1, 0x1e, 0x47, 0x02, 0x5e, 0xed,
                                   0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
                                   0x16, 0x17, 0x18, 0x19};
static const uint8_t OTHER[16] = {0xc1, 0x1e, 0x47, 0x03, 0x5e, 0xed,
                                  0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                                  0x26, 0x27, 0x28, 0x29};

#define SINCE 1796000123000ull

typedef struct world {
    fx_region r;
    fx_org *sote, *kela, *typ;
} world;

/* ---- the calls, each run as one batch item ---- */

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

static int claim_refused_fn(domain *d, MDB_txn *txn, void *ctx)
{
    return paths_undeliverable(d, txn, ctx, "consent_required");
}

typedef struct close_call {
    const char *reason, *text;
    domain_refusal why;
    Polku__PathRecord *p;
} close_call;

static int close_fn(domain *d, MDB_txn *txn, void *ctx)
{
    close_call *c = ctx;
    return paths_close(d, txn, CLIENT, c->reason, c->text, &c->why, &c->p);
}

typedef struct plan_call {
    const char *plan_id;
    uint32_t version;
    uint64_t review_due_ms; /* 0: SINCE */
    domain_refusal why;
    Polku__PathRecord *p;
} plan_call;

static int plan_fn(domain *d, MDB_txn *txn, void *ctx)
{
    plan_call *c = ctx;
    return paths_plan(d, txn, CLIENT, c->plan_id, c->version,
                      c->review_due_ms ? c->review_due_ms : SINCE, &c->why,
                      &c->p);
}

typedef struct service_call {
    const char *service;
    bool ended;
    Polku__PathRecord *p;
} service_call;

static int service_fn(domain *d, MDB_txn *txn, void *ctx)
{
    service_call *c = ctx;
    return paths_service(d, txn, CLIENT, c->service, c->ended, &c->p);
}

typedef struct coordinator_call {
    const char *org;
    uint32_t term;
} coordinator_call;

static int set_coordinator_fn(domain *d, MDB_txn *txn, void *ctx)
{
    coordinator_call *c = ctx;
    return paths_set_coordinator(d, txn, CLIENT, c->org, c->term, SINCE);
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

typedef struct grant_call {
    consent_new c;
    Polku__ConsentRecord *r;
} grant_call;

static int grant_fn(domain *d, MDB_txn *txn, void *ctx)
{
    grant_call *g = ctx;
    return consents_grant(d, txn, &g->c, &g->r);
}

/* ---- helpers ---- */

/* o claims the client: POLKU_OK and the claim's id, or the refusal. */
static int claim(fx_org *o, uint8_t claim_id[16], bool *decided,
                 domain_reason *reason)
{
    claim_call c = {0};
    int rc = fx_run(o, claim_fn, &c);
    if (reason)
        *reason = c.why.reason;
    if (decided)
        *decided = c.decided;
    if (rc == POLKU_OK) {
        if (claim_id) {
            assert_int_equal(c.p->claim_id.len, 16);
            memcpy(claim_id, c.p->claim_id.data, 16);
        }
        polku__path_record__free_unpacked(c.p, NULL);
    }
    return rc;
}

/* The broker's answer to claim_id, as it arrives at o (origin ""). */
static int broker_answers(fx_org *o, const uint8_t claim_id[16],
                          Polku__ClaimOutcome outcome, const char *coordinator,
                          uint32_t term)
{
    return fx_claim_answer(o, CLIENT, claim_id, outcome, coordinator, term,
                           SINCE);
}

/* o claims and wins at term. */
static void coordinate(fx_org *o, uint32_t term)
{
    uint8_t id[16];
    assert_int_equal(claim(o, id, NULL, NULL), POLKU_OK);
    assert_int_equal(broker_answers(o, id, WON, o->cfg.org, term), POLKU_OK);
}

static int plan(fx_org *o, const char *plan_id, uint32_t version,
                domain_reason *reason)
{
    plan_call c = {.plan_id = plan_id, .version = version};
    int rc = fx_run(o, plan_fn, &c);
    if (reason)
        *reason = c.why.reason;
    if (c.p)
        polku__path_record__free_unpacked(c.p, NULL);
    return rc;
}

static int close_path(fx_org *o, const char *reason, const char *text,
                      domain_reason *why)
{
    close_call c = {.reason = reason, .text = text};
    int rc = fx_run(o, close_fn, &c);
    if (why)
        *why = c.why.reason;
    if (c.p)
        polku__path_record__free_unpacked(c.p, NULL);
    return rc;
}

static void set_coordinator(fx_org *o, const char *org, uint32_t term)
{
    coordinator_call c = {org, term};
    assert_int_equal(fx_run(o, set_coordinator_fn, &c), POLKU_OK);
}

/* A consent of the client recorded by o for orgs and purposes. */
static void grant(fx_org *o, const char *const orgs[],
                  const char *const purposes[])
{
    grant_call g = {.c = {.form = "written"}};
    memcpy(g.c.client_key, CLIENT, 16);
    for (size_t i = 0; orgs[i]; i++)
        g.c.orgs[g.c.n_orgs++] = orgs[i];
    for (size_t i = 0; purposes[i]; i++)
        g.c.purposes[g.c.n_purposes++] = purposes[i];
    g.c.valid_until_ms = o->d.clock_ms + 86400000;
    assert_int_equal(fx_run(o, grant_fn, &g), POLKU_OK);
    polku__consent_record__free_unpacked(g.r, NULL);
}

static void assert_coordinator(fx_org *o, const char *coordinator,
                               uint32_t term)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    assert_string_equal(p->coordinator, coordinator);
    assert_int_equal(p->term, term);
    polku__path_record__free_unpacked(p, NULL);
}

/* A PlanUpdated from origin (seq) pointing at plan_id, as it arrives. */
static int plan_arrives(fx_org *o, const char *origin, uint64_t seq,
                        uint32_t term, const char *plan_id, uint32_t version)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PlanUpdated u = POLKU__PLAN_UPDATED__INIT;
    Polku__PlanPointer pp = POLKU__PLAN_POINTER__INIT;
    char *to[1] = {o->cfg.org};
    pp.org = (char *)origin;
    pp.plan_id = (char *)plan_id;
    pp.version = version;
    u.plan = &pp;
    u.term = term;
    env.origin_org = (char *)origin;
    env.origin_seq = seq;
    env.to = to;
    env.n_to = 1;
    env.client_key = (ProtobufCBinaryData){16, (uint8_t *)CLIENT};
    env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    env.plan_updated = &u;
    inbox_outcome out = INBOX_NOT_APPLICABLE;
    int rc = fx_inbox(o, &env, &out);
    assert_int_equal(out, INBOX_APPLIED);
    return rc;
}

/* The plan o points at for the client: id, version and plan term. */
static void assert_plan(fx_org *o, const char *plan_id, uint32_t version,
                        uint32_t plan_term)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    assert_non_null(p->plan);
    assert_string_equal(p->plan->plan_id, plan_id);
    assert_int_equal(p->plan->version, version);
    assert_int_equal(p->plan_term, plan_term);
    polku__path_record__free_unpacked(p, NULL);
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

/* A consent naming all three for every purpose, known to all three. */
static int setup_consented(void **state)
{
    setup(state);
    world *w = *state;
    uint8_t consent[16];
    assert_int_equal(
        fx_consent_grant(w->sote, CLIENT,
                         (const char *const[]){"sote", "kela", "typ", NULL},
                         consent),
        POLKU_OK);
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

/* ---- claims ---- */

static void claim_without_a_consent_is_refused(void **state)
{
    world *w = *state;
    /* a consent of another client does not count */
    uint8_t consent[16];
    assert_int_equal(
        fx_consent_grant(w->sote, OTHER,
                         (const char *const[]){"sote", "kela", NULL}, consent),
        POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(claim(w->sote, NULL, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_CONSENT_REQUIRED);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_null(fx_path(w->sote, CLIENT));
}

static void claim_goes_to_the_broker_alone(void **state)
{
    world *w = *state;
    uint64_t seq = fx_last_seq(w->sote);
    size_t pending = outbox_pending(&w->sote->ob);
    uint8_t id[16];
    bool decided = true;
    assert_int_equal(claim(w->sote, id, &decided, NULL), POLKU_OK);
    assert_false(decided);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *ev = fx_event(w->sote, seq + 1);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PATH_CLAIMED);
    assert_int_equal(ev->n_to, 0);
    assert_memory_equal(ev->client_key.data, CLIENT, 16);
    assert_memory_equal(ev->path_claimed->claim_id.data, id, 16);
    assert_int_equal(ev->path_claimed->consent_id.len, 16);
    polku_envelope_free(&ev);
    /* owed to the broker until it answers */
    assert_int_equal(outbox_pending(&w->sote->ob), pending + 1);
    size_t len = 0;
    assert_non_null(outbox_find(&w->sote->ob, seq + 1, "", &len));
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_int_equal(p->claim_seq, seq + 1);
    assert_int_equal(p->claim_outcome, PENDING);
    assert_string_equal(p->coordinator, "");
    assert_false(paths_i_coordinate(&w->sote->d, p));
    polku__path_record__free_unpacked(p, NULL);
}

static void second_claim_while_pending_sends_nothing_new(void **state)
{
    world *w = *state;
    uint8_t first[16], second[16];
    assert_int_equal(claim(w->sote, first, NULL, NULL), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    bool decided = true;
    assert_int_equal(claim(w->sote, second, &decided, NULL), POLKU_OK);
    assert_false(decided);
    assert_memory_equal(second, first, 16); /* wait for the same answer */
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void won_claim_makes_this_organisation_the_coordinator(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->sote, id, NULL, NULL), POLKU_OK);
    uint64_t claim_seq = fx_last_seq(w->sote);
    size_t pending = outbox_pending(&w->sote->ob);
    assert_int_equal(w->sote->claims_decided, 0);
    assert_int_equal(broker_answers(w->sote, id, WON, "sote", 3), POLKU_OK);

    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_string_equal(p->coordinator, "sote");
    assert_int_equal(p->term, 3);
    assert_int_equal(p->since_ms, SINCE);
    assert_int_equal(p->claim_outcome, WON);
    assert_true(paths_i_coordinate(&w->sote->d, p));
    polku__path_record__free_unpacked(p, NULL);
    assert_int_equal(w->sote->claims_decided, 1);
    /* the answer is our own event, for the broker ... */
    assert_int_equal(fx_last_seq(w->sote), claim_seq + 1);
    polku_envelope *ev = fx_event(w->sote, claim_seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED);
    assert_int_equal(ev->n_to, 0);
    assert_int_equal(ev->path_claim_answered->outcome, WON);
    assert_int_equal(ev->path_claim_answered->term, 3);
    assert_memory_equal(ev->path_claim_answered->claim_id.data, id, 16);
    polku_envelope_free(&ev);
    /* ... which replaces the claim in what we owe it */
    size_t len = 0;
    assert_null(outbox_find(&w->sote->ob, claim_seq, "", &len));
    assert_non_null(outbox_find(&w->sote->ob, claim_seq + 1, "", &len));
    assert_int_equal(outbox_pending(&w->sote->ob), pending);
}

static void a_repeated_claim_answer_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->sote, id, NULL, NULL), POLKU_OK);
    assert_int_equal(broker_answers(w->sote, id, WON, "sote", 3), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    /* resent, or answered differently by a broker that rebuilt */
    assert_int_equal(broker_answers(w->sote, id, WON, "sote", 3), POLKU_OK);
    assert_int_equal(broker_answers(w->sote, id, LOST, "kela", 4), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_int_equal(w->sote->claims_decided, 1);
    assert_coordinator(w->sote, "sote", 3);
}

static void an_answer_to_another_claim_is_ignored(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->sote, id, NULL, NULL), POLKU_OK);
    uint8_t stale[16];
    memcpy(stale, id, 16);
    stale[15] ^= 0xff;
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(broker_answers(w->sote, stale, WON, "sote", 1), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_int_equal(w->sote->claims_decided, 0);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_int_equal(p->claim_outcome, PENDING);
    assert_string_equal(p->coordinator, "");
    polku__path_record__free_unpacked(p, NULL);
}

static void claim_when_already_coordinating_is_decided_at_once(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    uint64_t seq = fx_last_seq(w->sote);
    bool decided = false;
    assert_int_equal(claim(w->sote, NULL, &decided, NULL), POLKU_OK);
    assert_true(decided);
    assert_int_equal(fx_last_seq(w->sote), seq);
}

static void lost_claim_names_the_other_coordinator(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->kela, id, NULL, NULL), POLKU_OK);
    assert_int_equal(broker_answers(w->kela, id, LOST, "sote", 2), POLKU_OK);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_string_equal(p->coordinator, "sote");
    assert_int_equal(p->term, 2);
    assert_int_equal(p->claim_outcome, LOST);
    assert_false(paths_i_coordinate(&w->kela->d, p));
    polku__path_record__free_unpacked(p, NULL);
    assert_int_equal(w->kela->claims_decided, 1);
}

static void refused_claim_ends_refused(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->sote, id, NULL, NULL), POLKU_OK);
    uint64_t claim_seq = fx_last_seq(w->sote);
    polku_envelope *ev = fx_event(w->sote, claim_seq);
    assert_int_equal(fx_run(w->sote, claim_refused_fn, ev), POLKU_OK);
    polku_envelope_free(&ev);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_int_equal(p->claim_outcome, REFUSED);
    assert_string_equal(p->coordinator, "");
    assert_int_equal(p->term, 0);
    polku__path_record__free_unpacked(p, NULL);
    assert_int_equal(w->sote->claims_decided, 1);
    /* the refusal is recorded like an answer, with the code */
    assert_int_equal(fx_last_seq(w->sote), claim_seq + 1);
    ev = fx_event(w->sote, claim_seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED);
    assert_int_equal(ev->path_claim_answered->outcome, REFUSED);
    assert_string_equal(ev->path_claim_answered->refusal, "consent_required");
    assert_int_equal(ev->path_claim_answered->claim_seq, claim_seq);
    polku_envelope_free(&ev);
    /* a refused claim is over: the next claim is a new one */
    uint8_t next[16];
    assert_int_equal(claim(w->sote, next, NULL, NULL), POLKU_OK);
    assert_memory_not_equal(next, id, 16);
    assert_int_equal(fx_last_seq(w->sote), claim_seq + 2);
}

/* ---- close ---- */

static void close_needs_a_known_reason(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, "bored", NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, NULL, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_coordinator(w->sote, "sote", 1);
}

static void closing_for_another_reason_needs_a_text(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, "other", NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, "other", "", &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_int_equal(close_path(w->sote, "other", "client moved abroad", NULL),
                     POLKU_OK);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_true(p->closed);
    assert_string_equal(p->closed_reason, "other");
    assert_string_equal(p->closed_text, "client moved abroad");
    polku__path_record__free_unpacked(p, NULL);
    /* the text stays here: the event carries only the reason */
    polku_envelope *ev = fx_event(w->sote, fx_last_seq(w->sote));
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PATH_CLOSED);
    assert_string_equal(ev->path_closed->reason, "other");
    polku_envelope_free(&ev);
}

static void only_the_coordinator_closes(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(claim(w->kela, id, NULL, NULL), POLKU_OK);
    assert_int_equal(broker_answers(w->kela, id, LOST, "sote", 1), POLKU_OK);
    uint64_t seq = fx_last_seq(w->kela);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->kela, "no_longer_needed", NULL, &why),
                     POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_coordinator(w->kela, "sote", 1);
    /* nor one that knows nothing of the path */
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->typ, "no_longer_needed", NULL, &why),
                     POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
}

static void close_waits_for_an_open_handover(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    offer_call o = {.n = {.to = "kela"}};
    memcpy(o.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, offer_fn, &o), POLKU_OK);
    polku__handover_record__free_unpacked(o.h, NULL);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, "moved_away", NULL, &why),
                     POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_HANDOVER_OPEN);
    assert_int_equal(fx_last_seq(w->sote), seq);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_false(p->closed);
    assert_int_equal(p->term, 1);
    polku__path_record__free_unpacked(p, NULL);
}

static void close_ends_the_term_and_the_coordination(void **state)
{
    world *w = *state;
    coordinate(w->sote, 4);
    uint64_t seq = fx_last_seq(w->sote);
    fx_set_clock(&w->r, w->r.now_ms + 60000);
    assert_int_equal(close_path(w->sote, "client_declined", NULL, NULL),
                     POLKU_OK);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_true(p->closed);
    assert_int_equal(p->term, 5);
    assert_string_equal(p->coordinator, "");
    assert_string_equal(p->closed_reason, "client_declined");
    assert_int_equal(p->since_ms, w->r.now_ms);
    assert_false(paths_i_coordinate(&w->sote->d, p));
    polku__path_record__free_unpacked(p, NULL);
    /* the close is an event for the broker, at the term it ends */
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *ev = fx_event(w->sote, seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PATH_CLOSED);
    assert_int_equal(ev->n_to, 0);
    assert_int_equal(ev->path_closed->term, 4);
    polku_envelope_free(&ev);
    /* closed: nothing more for a coordinator to do */
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(close_path(w->sote, "client_declined", NULL, &why),
                     POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(plan(w->sote, "plan-1", 1, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
}

/* ---- plans ---- */

static void only_the_coordinator_updates_the_plan(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    uint64_t seq = fx_last_seq(w->kela);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(plan(w->kela, "plan-k", 1, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_null(fx_path(w->kela, CLIENT));
}

static void plan_goes_to_the_organisations_its_consent_lets_see_it(void **state)
{
    world *w = *state;
    /* kela may see the plan; typ is in the network, not for plans */
    grant(w->sote, (const char *const[]){"sote", "kela", NULL},
          (const char *const[]){"plan", NULL});
    grant(w->sote, (const char *const[]){"sote", "typ", NULL},
          (const char *const[]){"referral", "handover", "path", NULL});
    fx_settle(&w->r);
    coordinate(w->sote, 2);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(plan(w->sote, "plan-7", 3, NULL), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *ev = fx_event(w->sote, seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_PLAN_UPDATED);
    assert_int_equal(ev->n_to, 1);
    assert_string_equal(ev->to[0], "kela");
    assert_int_equal(ev->plan_updated->term, 2);
    assert_string_equal(ev->plan_updated->plan->org, "sote");
    assert_int_equal(ev->plan_updated->consent_id.len, 16);
    polku_envelope_free(&ev);
    assert_plan(w->sote, "plan-7", 3, 2);

    fx_settle(&w->r);
    assert_plan(w->kela, "plan-7", 3, 2);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_string_equal(p->plan->org, "sote");
    polku__path_record__free_unpacked(p, NULL);
    assert_null(fx_path(w->typ, CLIENT));
}

static void a_late_older_plan_does_not_replace_a_newer_one(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    assert_int_equal(plan(w->sote, "plan-1", 1, NULL), POLKU_OK);
    uint64_t v1 = fx_last_seq(w->sote);
    assert_int_equal(plan(w->sote, "plan-1", 2, NULL), POLKU_OK);
    uint64_t v2 = fx_last_seq(w->sote);
    /* version 2 overtakes version 1 */
    polku_envelope *ev = fx_event(w->sote, v2);
    inbox_outcome out = INBOX_NOT_APPLICABLE;
    assert_int_equal(fx_inbox(w->kela, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_APPLIED);
    assert_plan(w->kela, "plan-1", 2, 1);
    ev = fx_event(w->sote, v1);
    assert_int_equal(fx_inbox(w->kela, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_APPLIED);
    assert_plan(w->kela, "plan-1", 2, 1);
}

static void a_plan_of_a_later_term_replaces_any_version(void **state)
{
    world *w = *state;
    assert_int_equal(plan_arrives(w->kela, "sote", 10, 1, "plan-s", 9),
                     POLKU_OK);
    assert_plan(w->kela, "plan-s", 9, 1);
    /* the next coordinator starts its own plan at version 1 */
    assert_int_equal(plan_arrives(w->kela, "typ", 4, 2, "plan-t", 1), POLKU_OK);
    assert_plan(w->kela, "plan-t", 1, 2);
    /* the old coordinator's plan, late: not newer whatever its version */
    assert_int_equal(plan_arrives(w->kela, "sote", 11, 1, "plan-s", 10),
                     POLKU_OK);
    assert_plan(w->kela, "plan-t", 1, 2);
    /* nor the same version from earlier in its coordinator's log */
    assert_int_equal(plan_arrives(w->kela, "typ", 3, 2, "plan-x", 1), POLKU_OK);
    assert_plan(w->kela, "plan-t", 1, 2);
}

/* The coordinator postpones the review: the same plan and version with a
 * new review date moves the date, here and wherever it arrives (later in
 * its log than the date it replaces). */
static void the_same_version_moves_the_review_date(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    plan_call c = {
        .plan_id = "plan-7", .version = 3, .review_due_ms = SINCE + 1000};
    assert_int_equal(fx_run(w->sote, plan_fn, &c), POLKU_OK);
    polku__path_record__free_unpacked(c.p, NULL);
    c.p = NULL;
    c.review_due_ms = SINCE + 86400000;
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(fx_run(w->sote, plan_fn, &c), POLKU_OK);
    assert_int_equal(c.p->plan->review_due_ms, SINCE + 86400000);
    polku__path_record__free_unpacked(c.p, NULL);
    assert_int_equal(fx_last_seq(w->sote), seq + 1); /* it travels */
    fx_settle(&w->r);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_non_null(p);
    assert_int_equal(p->plan->version, 3);
    assert_int_equal(p->plan->review_due_ms, SINCE + 86400000);
    polku__path_record__free_unpacked(p, NULL);
}

/* An older version than this term's is refused (409 stale_plan_version,
 * naming the current version) and sends nothing. */
static void an_older_version_is_refused_as_stale(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    assert_int_equal(plan(w->sote, "plan-7", 3, NULL), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    plan_call c = {.plan_id = "plan-7", .version = 2};
    assert_int_equal(fx_run(w->sote, plan_fn, &c), POLKU_EREFUSED);
    assert_int_equal(c.why.reason, DOMAIN_STALE_PLAN);
    assert_string_equal(domain_reason_code(c.why.reason), "stale_plan_version");
    assert_non_null(strstr(c.why.message, "version 3"));
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_plan(w->sote, "plan-7", 3, 1);
    /* a higher version replaces */
    assert_int_equal(plan(w->sote, "plan-7", 4, NULL), POLKU_OK);
    assert_plan(w->sote, "plan-7", 4, 1);
}

/* A close ends the plan pointer and the supporter; so does a claim won
 * after a close someone else wrote (a path without coordinator). */
static void a_close_and_a_claim_after_it_end_the_old_plan(void **state)
{
    world *w = *state;
    coordinate(w->sote, 1);
    assert_int_equal(plan(w->sote, "plan-7", 3, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_plan(w->kela, "plan-7", 3, 1);
    assert_int_equal(close_path(w->sote, "moved_away", NULL, NULL), POLKU_OK);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_null(p->plan);
    polku__path_record__free_unpacked(p, NULL);
    /* kela never saw the close (it is for the broker): its won claim at
     * term 3 tells it the path was closed */
    coordinate(w->kela, 3);
    p = fx_path(w->kela, CLIENT);
    assert_null(p->plan);
    assert_int_equal(p->term, 3);
    polku__path_record__free_unpacked(p, NULL);
    /* and the old coordinator's update, late, does not bring it back */
    assert_int_equal(plan_arrives(w->kela, "sote", 50, 1, "plan-7", 9),
                     POLKU_OK);
    p = fx_path(w->kela, CLIENT);
    assert_null(p->plan);
    polku__path_record__free_unpacked(p, NULL);
}

/* ---- services ---- */

static void a_service_starts_once_and_ends(void **state)
{
    world *w = *state;
    uint64_t seq = fx_last_seq(w->kela);
    service_call c = {.service = "rehab"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fx_run(w->kela, service_fn, &c), POLKU_OK);
        assert_int_equal(c.p->n_services, 1);
        assert_string_equal(c.p->services[0], "rehab");
        polku__path_record__free_unpacked(c.p, NULL);
        c.p = NULL;
    }
    /* each start is an event all the same */
    assert_int_equal(fx_last_seq(w->kela), seq + 2);
    polku_envelope *ev = fx_event(w->kela, seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_SERVICE_STARTED);
    assert_string_equal(ev->service_started->service, "rehab");
    polku_envelope_free(&ev);

    service_call other = {.service = "counselling"};
    assert_int_equal(fx_run(w->kela, service_fn, &other), POLKU_OK);
    polku__path_record__free_unpacked(other.p, NULL);
    c.ended = true;
    assert_int_equal(fx_run(w->kela, service_fn, &c), POLKU_OK);
    assert_int_equal(c.p->n_services, 1);
    assert_string_equal(c.p->services[0], "counselling");
    polku__path_record__free_unpacked(c.p, NULL);
    ev = fx_event(w->kela, fx_last_seq(w->kela));
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_SERVICE_ENDED);
    assert_string_equal(ev->service_ended->service, "rehab");
    polku_envelope_free(&ev);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_int_equal(p->n_services, 1);
    assert_string_equal(p->services[0], "counselling");
    polku__path_record__free_unpacked(p, NULL);
}

/* ---- coordination learned from handovers ---- */

static void the_path_keeps_the_highest_term_it_heard_of(void **state)
{
    world *w = *state;
    set_coordinator(w->kela, "sote", 3);
    assert_coordinator(w->kela, "sote", 3);
    set_coordinator(w->kela, "typ", 2); /* older */
    assert_coordinator(w->kela, "sote", 3);
    set_coordinator(w->kela, "typ", 3); /* same term: the first stands */
    assert_coordinator(w->kela, "sote", 3);
    set_coordinator(w->kela, "typ", 4);
    assert_coordinator(w->kela, "typ", 4);
    Polku__PathRecord *p = fx_path(w->kela, CLIENT);
    assert_int_equal(p->since_ms, SINCE);
    assert_false(p->closed);
    polku__path_record__free_unpacked(p, NULL);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup_consented, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(claim_without_a_consent_is_refused,
                                        setup, teardown),
        CASE(claim_goes_to_the_broker_alone),
        CASE(second_claim_while_pending_sends_nothing_new),
        CASE(won_claim_makes_this_organisation_the_coordinator),
        CASE(a_repeated_claim_answer_changes_nothing),
        CASE(an_answer_to_another_claim_is_ignored),
        CASE(claim_when_already_coordinating_is_decided_at_once),
        CASE(lost_claim_names_the_other_coordinator),
        CASE(refused_claim_ends_refused),
        CASE(close_needs_a_known_reason),
        CASE(closing_for_another_reason_needs_a_text),
        CASE(only_the_coordinator_closes),
        CASE(close_waits_for_an_open_handover),
        CASE(close_ends_the_term_and_the_coordination),
        CASE(only_the_coordinator_updates_the_plan),
        cmocka_unit_test_setup_teardown(
            plan_goes_to_the_organisations_its_consent_lets_see_it, setup,
            teardown),
        CASE(a_late_older_plan_does_not_replace_a_newer_one),
        CASE(a_plan_of_a_later_term_replaces_any_version),
        CASE(the_same_version_moves_the_review_date),
        CASE(an_older_version_is_refused_as_stale),
        CASE(a_close_and_a_claim_after_it_end_the_old_plan),
        CASE(a_service_starts_once_and_ends),
        CASE(the_path_keeps_the_highest_term_it_heard_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
