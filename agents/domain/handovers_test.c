/* handovers_test.c — a handover of a client's coordination between two
 * organisations, decided over real stores without sockets.
 *
 * A handover moves invariant 3 (one coordinator per open path) from one
 * organisation to another, so each refusal must change nothing, and the
 * outcome must have one writer: the receiver accepts, declines (with a
 * reason) or applies the withdrawal the offerer asked for; the offerer
 * alone writes `failed` when the broker refused the offer. These cases pin
 * every refusal of the offer, the answer and the withdrawal, each outcome
 * at both ends (who coordinates, at which term, whether an offer is still
 * open), and what resends and late or raced arrivals do: an answer twice,
 * a withdrawal that arrives after the acceptance, an answer after our own
 * `failed` (it stands, per handover.h), an answer the lifecycle forbids, a
 * second withdrawal, an answer from someone else, a note that cannot be
 * opened; and that an accepted offer's plan and supporter become the
 * path's at both ends. */
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

#define OFFERED POLKU__HANDOVER_STATE__HANDOVER_OFFERED
#define ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
#define DECLINED POLKU__HANDOVER_STATE__HANDOVER_DECLINED
#define WITHDRAWN POLKU__HANDOVER_STATE__HANDOVER_WITHDRAWN
#define FAILED POLKU__HANDOVER_STATE__HANDOVER_FAILED

/* A synthetic client key: 16 bytes, no identity code behind it. */
static const uint8_t CLIENT[16] = {0xc1, 0x1e, 0x47, 0x01, 0x5e, 0xed,
                                   0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
                                   0x06, 0x07, 0x08, 0x09};

#define NOTE "see the plan of 12 November"

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

typedef struct answer_call {
    const uint8_t *id;
    bool accept;
    const char *reason;
    domain_refusal why;
    Polku__HandoverRecord *h;
} answer_call;

static int answer_fn(domain *d, MDB_txn *txn, void *ctx)
{
    answer_call *c = ctx;
    return handovers_answer(d, txn, c->id, c->accept, c->reason, &c->why,
                            &c->h);
}

static int withdraw_fn(domain *d, MDB_txn *txn, void *ctx)
{
    answer_call *c = ctx;
    return handovers_withdraw(d, txn, c->id, &c->why, &c->h);
}

typedef struct close_call {
    const char *reason;
    domain_refusal why;
    Polku__PathRecord *p;
} close_call;

static int close_fn(domain *d, MDB_txn *txn, void *ctx)
{
    close_call *c = ctx;
    return paths_close(d, txn, CLIENT, c->reason, NULL, &c->why, &c->p);
}

static int undeliverable_fn(domain *d, MDB_txn *txn, void *ctx)
{
    return handovers_undeliverable(d, txn, ctx, "unknown_org");
}

/* ---- helpers ---- */

/* o claims the client and the broker answers "won" at term. */
static void coordinate(fx_org *o, uint32_t term)
{
    assert_int_equal(fx_coordinate(o, CLIENT, term), POLKU_OK);
}

/* o offers the client to `to` with NOTE; POLKU_OK and the id, or the
 * refusal's reason in *reason. */
static int offer(fx_org *o, const char *to, uint8_t id[16],
                 domain_reason *reason)
{
    offer_call c = {.n = {.to = to, .note = NOTE}};
    memcpy(c.n.client_key, CLIENT, 16);
    int rc = fx_run(o, offer_fn, &c);
    if (reason)
        *reason = c.why.reason;
    if (rc == POLKU_OK) {
        memcpy(id, c.h->id.data, 16);
        polku__handover_record__free_unpacked(c.h, NULL);
    }
    return rc;
}

static int answer(fx_org *o, const uint8_t id[16], bool accept,
                  const char *why_text, domain_reason *reason)
{
    answer_call c = {.id = id, .accept = accept, .reason = why_text};
    int rc = fx_run(o, answer_fn, &c);
    if (reason)
        *reason = c.why.reason;
    if (c.h)
        polku__handover_record__free_unpacked(c.h, NULL);
    return rc;
}

static int withdraw(fx_org *o, const uint8_t id[16], domain_reason *reason)
{
    answer_call c = {.id = id};
    int rc = fx_run(o, withdraw_fn, &c);
    if (reason)
        *reason = c.why.reason;
    if (c.h)
        polku__handover_record__free_unpacked(c.h, NULL);
    return rc;
}

static Polku__HandoverState status_of(fx_org *o, const uint8_t id[16])
{
    Polku__HandoverRecord *h = fx_handover(o, id);
    assert_non_null(h);
    Polku__HandoverState st = h->status;
    polku__handover_record__free_unpacked(h, NULL);
    return st;
}

/* Who o thinks coordinates the client, and at which term. */
static void assert_coordinator(fx_org *o, const char *coordinator,
                               uint32_t term)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    assert_string_equal(p->coordinator, coordinator);
    assert_int_equal(p->term, term);
    polku__path_record__free_unpacked(p, NULL);
}

/* The handover o has open for the client: *id, or none (NULL). */
static void assert_open_handover(fx_org *o, const uint8_t *id)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    if (id) {
        assert_int_equal(p->open_handover.len, 16);
        assert_memory_equal(p->open_handover.data, id, 16);
    } else {
        assert_int_equal(p->open_handover.len, 0);
    }
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

/* sote coordinates at term 1, with a consent naming all three for every
 * purpose that all three know. */
static int setup_coordinating(void **state)
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
    coordinate(w->sote, 1);
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    fx_region_fini(&w->r);
    free(w);
    return 0;
}

/* ---- offering: refusals change nothing ---- */

static void offer_to_ourselves_is_bad_input(void **state)
{
    world *w = *state;
    uint64_t seq = fx_last_seq(w->sote);
    uint8_t id[16];
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(offer(w->sote, "sote", id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    assert_int_equal(offer(w->sote, "Not An Org!", id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_open_handover(w->sote, NULL);
}

static void offer_naming_a_malformed_supporter_is_bad_input(void **state)
{
    world *w = *state;
    uint64_t seq = fx_last_seq(w->sote);
    offer_call c = {.n = {.to = "kela", .supporter = "Typ Office"}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, offer_fn, &c), POLKU_EREFUSED);
    assert_int_equal(c.why.reason, DOMAIN_BAD_INPUT);
    assert_null(c.h);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_open_handover(w->sote, NULL);
}

static void
offer_by_an_organisation_that_does_not_coordinate_is_refused(void **state)
{
    world *w = *state;
    uint8_t id[16];
    domain_reason why = DOMAIN_REFUSED_NONE;
    /* kela has never coordinated: no path at all */
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(offer(w->kela, "typ", id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_null(fx_path(w->kela, CLIENT));
    /* typ knows the path (a claim pending) but does not coordinate */
    claim_call c = {0};
    assert_int_equal(fx_run(w->typ, claim_fn, &c), POLKU_OK);
    polku__path_record__free_unpacked(c.p, NULL);
    seq = fx_last_seq(w->typ);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(offer(w->typ, "kela", id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
    assert_int_equal(fx_last_seq(w->typ), seq);
}

static void second_offer_while_one_is_open_is_refused(void **state)
{
    world *w = *state;
    uint8_t first[16], second[16];
    assert_int_equal(offer(w->sote, "kela", first, NULL), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(offer(w->sote, "typ", second, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_HANDOVER_OPEN);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_open_handover(w->sote, first);
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

static void offer_without_a_handover_consent_for_both_is_refused(void **state)
{
    world *w = *state;
    /* both named, but not for handover */
    grant(w->sote, (const char *const[]){"sote", "kela", NULL},
          (const char *const[]){"referral", "path", "plan", NULL});
    /* for handover, but kela not named */
    grant(w->sote, (const char *const[]){"sote", "typ", NULL},
          (const char *const[]){"handover", NULL});
    coordinate(w->sote, 1);
    uint64_t seq = fx_last_seq(w->sote);
    uint8_t id[16];
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(offer(w->sote, "kela", id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_CONSENT_REQUIRED);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_open_handover(w->sote, NULL);
    /* the consent naming typ for handover does let it go to typ */
    assert_int_equal(offer(w->sote, "typ", id, &why), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
}

/* ---- an offer delivered ---- */

static void
offer_reaches_the_receiver_as_offered_with_the_coordinator(void **state)
{
    world *w = *state;
    offer_call c = {.n = {.to = "kela", .supporter = "typ", .note = NOTE}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, offer_fn, &c), POLKU_OK);
    assert_true(c.h->outgoing);
    assert_int_equal(c.h->status, OFFERED);
    assert_int_equal(c.h->term, 1);
    assert_open_handover(w->sote, c.h->id.data);

    /* the offer is one event, for kela alone */
    polku_envelope *ev = fx_event(w->sote, fx_last_seq(w->sote));
    assert_non_null(ev);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_HANDOVER_OFFERED);
    assert_int_equal(ev->n_to, 1);
    assert_string_equal(ev->to[0], "kela");
    assert_true(ev->handover_offered->sealed.len > 0); /* the note sealed */
    polku_envelope_free(&ev);

    assert_null(fx_handover(w->kela, c.h->id.data));
    assert_int_equal(fx_deliver(&w->r, w->sote), 1);
    Polku__HandoverRecord *in = fx_handover(w->kela, c.h->id.data);
    assert_non_null(in);
    assert_false(in->outgoing);
    assert_int_equal(in->status, OFFERED);
    assert_string_equal(in->from_org, "sote");
    assert_string_equal(in->to_org, "kela");
    assert_string_equal(in->supporter, "typ");
    assert_string_equal(in->note, NOTE); /* opened with sote's key */
    assert_int_equal(in->term, 1);
    assert_memory_equal(in->client_key.data, CLIENT, 16);
    /* the offer told kela who coordinates, at which term */
    assert_coordinator(w->kela, "sote", 1);
    polku__handover_record__free_unpacked(in, NULL);
    polku__handover_record__free_unpacked(c.h, NULL);
}

/* ---- answers ---- */

static void accepted_offer_moves_the_coordination_to_the_next_term(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->kela);
    assert_int_equal(answer(w->kela, id, true, NULL, NULL), POLKU_OK);
    assert_int_equal(fx_last_seq(w->kela), seq + 1);
    assert_int_equal(status_of(w->kela, id), ACCEPTED);
    assert_coordinator(w->kela, "kela", 2);

    /* sote still believes it coordinates until the answer arrives */
    assert_coordinator(w->sote, "sote", 1);
    assert_open_handover(w->sote, id);
    fx_settle(&w->r);
    assert_int_equal(status_of(w->sote, id), ACCEPTED);
    assert_coordinator(w->sote, "kela", 2);
    assert_open_handover(w->sote, NULL);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_false(paths_i_coordinate(&w->sote->d, p));
    polku__path_record__free_unpacked(p, NULL);
    /* and sote, no longer the coordinator, cannot offer again */
    domain_reason why = DOMAIN_REFUSED_NONE;
    uint8_t again[16];
    assert_int_equal(offer(w->sote, "typ", again, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_COORDINATOR);
}

static void declining_needs_a_reason(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->kela);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->kela, id, false, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->kela, id, false, "", &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_BAD_INPUT);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_int_equal(status_of(w->kela, id), OFFERED);
}

static void declined_offer_leaves_the_offerer_coordinating(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, false, "no capacity this month", NULL),
                     POLKU_OK);
    assert_int_equal(status_of(w->kela, id), DECLINED);
    assert_coordinator(w->kela, "sote", 1);
    fx_settle(&w->r);
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_non_null(h);
    assert_int_equal(h->status, DECLINED);
    assert_string_equal(h->reason, "no capacity this month"); /* unsealed */
    polku__handover_record__free_unpacked(h, NULL);
    assert_coordinator(w->sote, "sote", 1);
    assert_open_handover(w->sote, NULL);
    /* the client may be offered again */
    uint8_t again[16];
    assert_int_equal(offer(w->sote, "typ", again, NULL), POLKU_OK);
}

static void the_offerer_cannot_answer_its_own_offer(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->sote, id, true, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->sote, id, false, "changed my mind", &why),
                     POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_int_equal(status_of(w->sote, id), OFFERED);
    assert_coordinator(w->sote, "sote", 1);
}

static void the_receiver_answers_only_while_the_offer_is_open(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, false, "not our client", NULL),
                     POLKU_OK);
    uint64_t seq = fx_last_seq(w->kela);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->kela, id, true, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_int_equal(status_of(w->kela, id), DECLINED);
    assert_coordinator(w->kela, "sote", 1);
}

static void answering_an_unknown_handover_is_not_found(void **state)
{
    world *w = *state;
    static const uint8_t nobody[16] = {0x01, 0x99};
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->kela, nobody, true, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_FOUND);
    why = DOMAIN_REFUSED_NONE;
    assert_int_equal(withdraw(w->sote, nobody, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_NOT_FOUND);
}

/* ---- withdrawal ---- */

static void only_the_offerer_withdraws(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->kela);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(withdraw(w->kela, id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
    assert_int_equal(fx_last_seq(w->kela), seq);
    assert_int_equal(status_of(w->kela, id), OFFERED);
}

static void withdrawing_a_concluded_offer_is_refused(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, false, "no capacity", NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->sote);
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(withdraw(w->sote, id, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
    assert_int_equal(fx_last_seq(w->sote), seq);
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_int_equal(h->status, DECLINED);
    assert_false(h->withdraw_requested);
    polku__handover_record__free_unpacked(h, NULL);
}

static void withdrawn_offer_is_concluded_by_the_receiver(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(withdraw(w->sote, id, NULL), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    /* asked, not concluded: only the receiver writes the outcome */
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_int_equal(h->status, OFFERED);
    assert_true(h->withdraw_requested);
    polku__handover_record__free_unpacked(h, NULL);
    assert_open_handover(w->sote, id);

    assert_int_equal(fx_deliver(&w->r, w->sote), 1);
    assert_int_equal(status_of(w->kela, id), WITHDRAWN);
    fx_settle(&w->r);
    assert_int_equal(status_of(w->sote, id), WITHDRAWN);
    assert_open_handover(w->sote, NULL);
    assert_coordinator(w->sote, "sote", 1);
    assert_coordinator(w->kela, "sote", 1);
    /* a withdrawn offer can no longer be accepted */
    domain_reason why = DOMAIN_REFUSED_NONE;
    assert_int_equal(answer(w->kela, id, true, NULL, &why), POLKU_EREFUSED);
    assert_int_equal(why, DOMAIN_INVALID_TRANSITION);
}

static void withdrawal_arriving_after_the_acceptance_is_ignored(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    /* they cross: kela accepts while sote asks to withdraw */
    assert_int_equal(answer(w->kela, id, true, NULL, NULL), POLKU_OK);
    assert_int_equal(withdraw(w->sote, id, NULL), POLKU_OK);
    uint64_t kela_seq = fx_last_seq(w->kela);
    polku_envelope *wr = fx_event(w->sote, fx_last_seq(w->sote));
    assert_non_null(wr);
    assert_int_equal(wr->body_case, POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED);
    inbox_outcome out = INBOX_DUPLICATE;
    assert_int_equal(fx_inbox(w->kela, wr, &out), POLKU_OK);
    polku_envelope_free(&wr);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(fx_last_seq(w->kela), kela_seq); /* no second answer */
    assert_int_equal(status_of(w->kela, id), ACCEPTED);
    assert_coordinator(w->kela, "kela", 2);
    /* one outcome at both ends: the acceptance */
    fx_settle(&w->r);
    assert_int_equal(status_of(w->sote, id), ACCEPTED);
    assert_coordinator(w->sote, "kela", 2);
    assert_open_handover(w->sote, NULL);
}

/* ---- resends and late arrivals ---- */

static void a_duplicate_answer_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, true, NULL, NULL), POLKU_OK);
    uint64_t answer_seq = fx_last_seq(w->kela);
    fx_settle(&w->r);
    Polku__HandoverRecord *before = fx_handover(w->sote, id);
    uint64_t seq = fx_last_seq(w->sote);

    polku_envelope *ev = fx_event(w->kela, answer_seq);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED);
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->sote, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_DUPLICATE);

    Polku__HandoverRecord *after = fx_handover(w->sote, id);
    assert_int_equal(after->status, ACCEPTED);
    assert_int_equal(after->n_history, before->n_history);
    assert_int_equal(after->updated_ms, before->updated_ms);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_coordinator(w->sote, "kela", 2);
    polku__handover_record__free_unpacked(before, NULL);
    polku__handover_record__free_unpacked(after, NULL);
}

static void a_duplicate_offer_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    uint64_t offer_seq = fx_last_seq(w->sote);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, false, "not ours", NULL), POLKU_OK);
    uint64_t seq = fx_last_seq(w->kela);
    polku_envelope *ev = fx_event(w->sote, offer_seq);
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->kela, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_DUPLICATE);
    assert_int_equal(status_of(w->kela, id), DECLINED); /* not re-opened */
    assert_int_equal(fx_last_seq(w->kela), seq);
}

static void refused_offer_ends_failed_at_the_offerer(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    uint64_t offer_seq = fx_last_seq(w->sote);
    polku_envelope *ev = fx_event(w->sote, offer_seq);
    assert_int_equal(fx_run(w->sote, undeliverable_fn, ev), POLKU_OK);
    polku_envelope_free(&ev);
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_int_equal(h->status, FAILED);
    assert_string_equal(h->reason, "unknown_org");
    polku__handover_record__free_unpacked(h, NULL);
    assert_open_handover(w->sote, NULL);
    assert_coordinator(w->sote, "sote", 1);
    /* the failure is an event for the broker alone, with the code */
    assert_int_equal(fx_last_seq(w->sote), offer_seq + 1);
    ev = fx_event(w->sote, offer_seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED);
    assert_int_equal(ev->n_to, 0);
    assert_int_equal(ev->handover_answered->status, FAILED);
    assert_string_equal(ev->handover_answered->reason, "unknown_org");
    assert_int_equal(ev->handover_answered->sealed.len, 0);
    polku_envelope_free(&ev);
    /* a second refusal of the same offer changes nothing */
    ev = fx_event(w->sote, offer_seq);
    assert_int_equal(fx_run(w->sote, undeliverable_fn, ev), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(fx_last_seq(w->sote), offer_seq + 1);
}

/* The broker refused a resend of the offer after a first copy reached
 * kela: sote's offer is `failed`; kela's answer reaches sote afterwards. */
static void answer_after_our_own_failed(world *w, uint8_t id[16], bool accept)
{
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    uint64_t offer_seq = fx_last_seq(w->sote);
    assert_int_equal(fx_deliver(&w->r, w->sote), 1);
    polku_envelope *ev = fx_event(w->sote, offer_seq);
    assert_int_equal(fx_run(w->sote, undeliverable_fn, ev), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(status_of(w->sote, id), FAILED);
    assert_open_handover(w->sote, NULL);
    assert_int_equal(
        answer(w->kela, id, accept, accept ? NULL : "no capacity", NULL),
        POLKU_OK);
    uint64_t seq = fx_last_seq(w->sote);
    ev = fx_event(w->kela, fx_last_seq(w->kela));
    inbox_outcome out = INBOX_DUPLICATE;
    assert_int_equal(fx_inbox(w->sote, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(fx_last_seq(w->sote), seq); /* nothing to tell anyone */
}

/* handover.h: the receiver's answer stands over the offerer's `failed`. */
static void a_declined_answer_after_our_own_failed_stands(void **state)
{
    world *w = *state;
    uint8_t id[16];
    answer_after_our_own_failed(w, id, false);
    assert_int_equal(status_of(w->sote, id), DECLINED);
    assert_coordinator(w->sote, "sote", 1);
    assert_open_handover(w->sote, NULL);
}

/* Accepted, it moves the coordination at sote as it did at kela: else
 * both would think they coordinate. */
static void
an_accepted_answer_after_our_own_failed_moves_the_coordination(void **state)
{
    world *w = *state;
    uint8_t id[16];
    answer_after_our_own_failed(w, id, true);
    assert_int_equal(status_of(w->sote, id), ACCEPTED);
    assert_coordinator(w->kela, "kela", 2);
    assert_coordinator(w->sote, "kela", 2);
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_false(paths_i_coordinate(&w->sote->d, p));
    polku__path_record__free_unpacked(p, NULL);
}

/* The answer after our `failed` closes that offer only: a newer offer
 * sote made meanwhile stays open. */
static void a_late_answer_leaves_a_newer_offer_open(void **state)
{
    world *w = *state;
    uint8_t id[16], newer[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    uint64_t offer_seq = fx_last_seq(w->sote);
    assert_int_equal(fx_deliver(&w->r, w->sote), 1);
    polku_envelope *ev = fx_event(w->sote, offer_seq);
    assert_int_equal(fx_run(w->sote, undeliverable_fn, ev), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(offer(w->sote, "typ", newer, NULL), POLKU_OK);
    assert_open_handover(w->sote, newer);
    assert_int_equal(answer(w->kela, id, false, "no capacity", NULL), POLKU_OK);
    ev = fx_event(w->kela, fx_last_seq(w->kela));
    assert_int_equal(fx_inbox(w->sote, ev, NULL), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(status_of(w->sote, id), DECLINED);
    assert_open_handover(w->sote, newer);
}

/* The lifecycle's table decides what an answer may change: a second,
 * different answer of the receiver, or a state the receiver never writes,
 * is not applicable and changes nothing. */
static void an_answer_the_lifecycle_forbids_changes_nothing(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, false, "no capacity", NULL), POLKU_OK);
    polku_envelope *ev = fx_event(w->kela, fx_last_seq(w->kela));
    polku_envelope forged = *ev; /* shallow: ev keeps what it owns */
    Polku__HandoverAnswered a = *ev->handover_answered;
    forged.handover_answered = &a;
    forged.origin_seq = ev->origin_seq + 100;
    inbox_outcome out = INBOX_APPLIED;
    /* `offered` and `failed` are no answers of the receiver */
    a.status = OFFERED;
    assert_int_equal(fx_inbox(w->sote, &forged, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    forged.origin_seq++;
    a.status = FAILED;
    assert_int_equal(fx_inbox(w->sote, &forged, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_int_equal(status_of(w->sote, id), OFFERED);
    /* the real answer applies; another answer after it does not */
    assert_int_equal(fx_inbox(w->sote, ev, &out), POLKU_OK);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(status_of(w->sote, id), DECLINED);
    forged.origin_seq++;
    a.status = ACCEPTED;
    a.term = 2;
    assert_int_equal(fx_inbox(w->sote, &forged, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    polku_envelope_free(&ev);
    assert_int_equal(status_of(w->sote, id), DECLINED);
    assert_coordinator(w->sote, "sote", 1);
}

/* Withdrawing twice while the offer is open: the same answer, one
 * request on its way. */
static void withdrawing_twice_sends_one_request(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(withdraw(w->sote, id, NULL), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    assert_int_equal(withdraw(w->sote, id, NULL), POLKU_OK);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    Polku__HandoverRecord *h = fx_handover(w->sote, id);
    assert_int_equal(h->status, OFFERED);
    assert_true(h->withdraw_requested);
    polku__handover_record__free_unpacked(h, NULL);
    fx_settle(&w->r);
    assert_int_equal(status_of(w->sote, id), WITHDRAWN);
}

static int plan_fn(domain *d, MDB_txn *txn, void *ctx)
{
    domain_refusal why;
    Polku__PathRecord *p = NULL;
    (void)ctx;
    int rc =
        paths_plan(d, txn, CLIENT, "plan-7", 3, 1797000000000ull, &why, &p);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return rc;
}

/* Both ends' path: plan pointer and supporter. */
static void assert_plan_and_supporter(fx_org *o, const char *plan_org,
                                      uint32_t version, const char *supporter)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    if (plan_org) {
        assert_non_null(p->plan);
        assert_string_equal(p->plan->org, plan_org);
        assert_string_equal(p->plan->plan_id, "plan-7");
        assert_int_equal(p->plan->version, version);
    } else {
        assert_null(p->plan);
    }
    assert_string_equal(p->supporter, supporter);
    polku__path_record__free_unpacked(p, NULL);
}

/* An accepted handover's plan pointer and supporter become the path's at
 * both ends, as at the broker. */
static void accepted_offer_brings_its_plan_and_supporter(void **state)
{
    world *w = *state;
    assert_int_equal(fx_run(w->sote, plan_fn, NULL), POLKU_OK);
    offer_call c = {.n = {.to = "kela", .supporter = "typ", .note = NOTE}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, offer_fn, &c), POLKU_OK);
    uint8_t id[16];
    memcpy(id, c.h->id.data, 16);
    polku__handover_record__free_unpacked(c.h, NULL);
    fx_settle(&w->r);
    assert_plan_and_supporter(w->sote, "sote", 3, "");
    assert_int_equal(answer(w->kela, id, true, NULL, NULL), POLKU_OK);
    assert_plan_and_supporter(w->kela, "sote", 3, "typ");
    fx_settle(&w->r);
    assert_plan_and_supporter(w->sote, "sote", 3, "typ");
    /* and a close ends both */
    close_call cc = {.reason = "no_longer_needed"};
    assert_int_equal(fx_run(w->kela, close_fn, &cc), POLKU_OK);
    polku__path_record__free_unpacked(cc.p, NULL);
    assert_plan_and_supporter(w->kela, NULL, 0, "");
}

static void
an_answer_from_anyone_but_the_receiver_is_not_applicable(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    fx_settle(&w->r);
    assert_int_equal(answer(w->kela, id, true, NULL, NULL), POLKU_OK);
    polku_envelope *ev = fx_event(w->kela, fx_last_seq(w->kela));
    polku_envelope forged = *ev; /* shallow: ev keeps what it owns */
    forged.origin_org = (char *)"typ";
    inbox_outcome out = INBOX_APPLIED;
    assert_int_equal(fx_inbox(w->sote, &forged, &out), POLKU_OK);
    assert_int_equal(out, INBOX_NOT_APPLICABLE);
    assert_int_equal(status_of(w->sote, id), OFFERED);
    assert_coordinator(w->sote, "sote", 1);
    assert_open_handover(w->sote, id);
    /* the real answer still applies */
    assert_int_equal(fx_inbox(w->sote, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_APPLIED);
    assert_int_equal(status_of(w->sote, id), ACCEPTED);
}

static void an_unreadable_note_is_declined_visibly(void **state)
{
    world *w = *state;
    uint8_t id[16];
    assert_int_equal(offer(w->sote, "kela", id, NULL), POLKU_OK);
    polku_envelope *ev = fx_event(w->sote, fx_last_seq(w->sote));
    ProtobufCBinaryData *sealed = &ev->handover_offered->sealed;
    assert_true(sealed->len > 0);
    sealed->data[sealed->len - 1] ^= 0x01; /* tampered on the way */
    uint64_t seq = fx_last_seq(w->kela);
    inbox_outcome out = INBOX_NOT_APPLICABLE;
    assert_int_equal(fx_inbox(w->kela, ev, &out), POLKU_OK);
    polku_envelope_free(&ev);
    assert_int_equal(out, INBOX_APPLIED);

    Polku__HandoverRecord *h = fx_handover(w->kela, id);
    assert_non_null(h);
    assert_int_equal(h->status, DECLINED);
    assert_string_equal(h->note, "");
    assert_memory_equal(h->reason, "unverifiable_content",
                        strlen("unverifiable_content"));
    polku__handover_record__free_unpacked(h, NULL);
    /* declined as an answer to sote, not dropped */
    assert_int_equal(fx_last_seq(w->kela), seq + 1);
    ev = fx_event(w->kela, seq + 1);
    assert_int_equal(ev->body_case, POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED);
    assert_int_equal(ev->n_to, 1);
    assert_string_equal(ev->to[0], "sote");
    assert_int_equal(ev->handover_answered->status, DECLINED);
    polku_envelope_free(&ev);

    assert_int_equal(fx_deliver(&w->r, w->kela), 1);
    h = fx_handover(w->sote, id);
    assert_int_equal(h->status, DECLINED);
    assert_memory_equal(h->reason, "unverifiable_content",
                        strlen("unverifiable_content"));
    polku__handover_record__free_unpacked(h, NULL);
    assert_coordinator(w->sote, "sote", 1);
    assert_open_handover(w->sote, NULL);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup_coordinating, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(offer_to_ourselves_is_bad_input),
        CASE(offer_naming_a_malformed_supporter_is_bad_input),
        CASE(offer_by_an_organisation_that_does_not_coordinate_is_refused),
        CASE(second_offer_while_one_is_open_is_refused),
        cmocka_unit_test_setup_teardown(
            offer_without_a_handover_consent_for_both_is_refused, setup,
            teardown),
        CASE(offer_reaches_the_receiver_as_offered_with_the_coordinator),
        CASE(accepted_offer_moves_the_coordination_to_the_next_term),
        CASE(declining_needs_a_reason),
        CASE(declined_offer_leaves_the_offerer_coordinating),
        CASE(the_offerer_cannot_answer_its_own_offer),
        CASE(the_receiver_answers_only_while_the_offer_is_open),
        CASE(answering_an_unknown_handover_is_not_found),
        CASE(only_the_offerer_withdraws),
        CASE(withdrawing_a_concluded_offer_is_refused),
        CASE(withdrawn_offer_is_concluded_by_the_receiver),
        CASE(withdrawal_arriving_after_the_acceptance_is_ignored),
        CASE(a_duplicate_answer_changes_nothing),
        CASE(a_duplicate_offer_changes_nothing),
        CASE(refused_offer_ends_failed_at_the_offerer),
        CASE(a_declined_answer_after_our_own_failed_stands),
        CASE(an_accepted_answer_after_our_own_failed_moves_the_coordination),
        CASE(a_late_answer_leaves_a_newer_offer_open),
        CASE(an_answer_the_lifecycle_forbids_changes_nothing),
        CASE(withdrawing_twice_sends_one_request),
        CASE(accepted_offer_brings_its_plan_and_supporter),
        CASE(an_answer_from_anyone_but_the_receiver_is_not_applicable),
        CASE(an_unreadable_note_is_declined_visibly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
