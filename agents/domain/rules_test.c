/* rules_test.c — the automatic handovers of the [rule] sections, no
 * sockets.
 *
 * The rules are the only place that offers a client's coordination
 * without a person asking, so they must offer exactly when the config says
 * and never twice: referral_accepted offers the coordination to the
 * receiver of a transfer referral once its acceptance arrives, and only
 * once even if the acceptance comes again; when no offer is possible the
 * referral says why (transfer_note). service_ended names the successor
 * when the coordinator's own service ends; without it the coordinator may
 * not end its service at all (invariant 3: a path is not left without a
 * coordinator by accident), and with it the end is logged before the offer
 * so the timeline reads in order. The coordinator is made the way the
 * agent makes one: a claim the broker answered won. Client keys are
 * synthetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "consents.h"
#include "domain_fixture.h"
#include "handovers.h"
#include "paths.h"
#include "polku/error.h"
#include "referrals.h"
#include "rules.h"

#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define OFFERED POLKU__HANDOVER_STATE__HANDOVER_OFFERED

static const uint8_t CLIENT[16] = {0x7e, 0x57, 0xc1, 0x1e, 0x00, 0x11,
                                   0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                   0x88, 0x99, 0xaa, 0xbb};

/* sote coordinates and sends; kela receives referrals; tk is a third. */
typedef struct world {
    fx_region r;
    fx_org *sote, *kela, *tk;
} world;

static int setup(void **state)
{
    static world w;
    fx_region_init(&w.r, 3, (const char *const[]){"sote", "kela", "tk"},
                   (const char *const[]){"care", "rehab", "work"});
    w.sote = fx_org_of(&w.r, "sote");
    w.kela = fx_org_of(&w.r, "kela");
    w.tk = fx_org_of(&w.r, "tk");
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    fx_region_fini(&w->r);
    return 0;
}

/* ---- consents ---- */

static void consent_all(world *w)
{
    uint8_t id[16];
    assert_int_equal(
        fx_consent_grant(w->sote, CLIENT,
                         (const char *const[]){"sote", "kela", "tk", NULL}, id),
        POLKU_OK);
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

/* A consent of the client for referrals and paths, not for handovers. */
static void consent_without_handover(world *w)
{
    grant_call g = {.c = {.orgs = {"sote", "kela", "tk"},
                          .n_orgs = 3,
                          .purposes = {"referral", "path", "plan"},
                          .n_purposes = 3,
                          .valid_until_ms = w->r.now_ms + 86400000ull * 30,
                          .form = "written"}};
    memcpy(g.c.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, grant_fn, &g), POLKU_OK);
    polku__consent_record__free_unpacked(g.r, NULL);
}

/* ---- coordination: a claim the broker answered won ---- */

static void coordinate(fx_org *o)
{
    assert_int_equal(fx_coordinate(o, CLIENT, 1), POLKU_OK);
    Polku__PathRecord *p = fx_path(o, CLIENT);
    assert_non_null(p);
    assert_string_equal(p->coordinator, o->cfg.org);
    assert_int_equal(p->term, 1);
    polku__path_record__free_unpacked(p, NULL);
}

/* ---- referrals ---- */

typedef struct create_call {
    referral_new n;
    Polku__ReferralRecord *r;
} create_call;

static int create_fn(domain *d, MDB_txn *txn, void *ctx)
{
    create_call *c = ctx;
    return referrals_create(d, txn, &c->n, &c->r);
}

typedef struct status_call {
    const uint8_t *id;
    Polku__ReferralRecord *r;
} status_call;

static int accept_fn(domain *d, MDB_txn *txn, void *ctx)
{
    status_call *c = ctx;
    return referrals_set_status(d, txn, c->id, ACCEPTED, "", "", &c->r);
}

/* sote refers the client to kela (service), kela receives and accepts;
 * the acceptance is not delivered yet: *accepted is it (free it). */
static void refer_and_accept(world *w, bool transfer, const char *service,
                             uint8_t id[16], polku_envelope **accepted)
{
    create_call c = {.n = {.to = "kela",
                           .service = service,
                           .reason = "needs rehabilitation",
                           .urgency = "routine",
                           .transfer = transfer}};
    memcpy(c.n.client_key, CLIENT, 16);
    assert_int_equal(fx_run(w->sote, create_fn, &c), POLKU_OK);
    memcpy(id, c.r->id.data, 16);
    polku__referral_record__free_unpacked(c.r, NULL);
    fx_settle(&w->r);
    status_call s = {.id = id};
    assert_int_equal(fx_run(w->kela, accept_fn, &s), POLKU_OK);
    polku__referral_record__free_unpacked(s.r, NULL);
    *accepted = fx_event(w->kela, fx_last_seq(w->kela));
    assert_non_null(*accepted);
    assert_int_equal((*accepted)->referral_status->status, ACCEPTED);
}

/* The acceptance arrives at sote: what inbox says. */
static inbox_outcome deliver(world *w, const polku_envelope *accepted)
{
    inbox_outcome out = INBOX_NOT_APPLICABLE;
    assert_int_equal(fx_inbox(w->sote, accepted, &out), POLKU_OK);
    return out;
}

static Polku__ReferralRecord *referral(fx_org *o, const uint8_t id[16])
{
    Polku__ReferralRecord *r = fx_referral(o, id);
    assert_non_null(r);
    return r;
}

/* The path's open offer at o (zeroes if none); true if there is one. */
static bool open_offer(fx_org *o, uint8_t id[16])
{
    memset(id, 0, 16);
    Polku__PathRecord *p = fx_path(o, CLIENT);
    bool open = p && p->open_handover.len == 16;
    if (open)
        memcpy(id, p->open_handover.data, 16);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return open;
}

/* The referral at sote after its acceptance: the rule did nothing. */
static void assert_no_transfer(world *w, const uint8_t id[16], bool done,
                               const char *note)
{
    Polku__ReferralRecord *r = referral(w->sote, id);
    assert_int_equal(r->status, ACCEPTED);
    assert_int_equal(r->transfer_done, done);
    assert_int_equal(r->transfer_handover.len, 0);
    assert_string_equal(r->transfer_note, note);
    polku__referral_record__free_unpacked(r, NULL);
}

/* ---- referral_accepted ---- */

static void
an_accepted_transfer_offers_the_coordination_to_the_receiver(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, "self");
    uint8_t id[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);

    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);

    Polku__ReferralRecord *r = referral(w->sote, id);
    assert_int_equal(r->status, ACCEPTED);
    assert_true(r->transfer_done);
    assert_string_equal(r->transfer_note, "");
    assert_int_equal(r->transfer_handover.len, 16);
    uint8_t hid[16];
    memcpy(hid, r->transfer_handover.data, 16);
    polku__referral_record__free_unpacked(r, NULL);

    Polku__HandoverRecord *h = fx_handover(w->sote, hid);
    assert_non_null(h);
    assert_true(h->outgoing);
    assert_int_equal(h->status, OFFERED);
    assert_string_equal(h->from_org, "sote");
    assert_string_equal(h->to_org, "kela");
    assert_string_equal(h->rule, "rehab-transfer");
    assert_string_equal(h->supporter, "sote"); /* "self" */
    assert_int_equal(h->referral_id.len, 16);
    assert_memory_equal(h->referral_id.data, id, 16);
    assert_int_equal(h->term, 1);
    polku__handover_record__free_unpacked(h, NULL);

    uint8_t open[16];
    assert_true(open_offer(w->sote, open));
    assert_memory_equal(open, hid, 16);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = fx_event(w->sote, seq + 1);
    assert_non_null(env);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_HANDOVER_OFFERED);
    assert_int_equal(env->n_to, 1);
    assert_string_equal(env->to[0], "kela");
    assert_memory_equal(env->handover_offered->handover_id.data, hid, 16);
    polku_envelope_free(&env);

    fx_settle(&w->r); /* the offer reaches kela */
    h = fx_handover(w->kela, hid);
    assert_non_null(h);
    assert_false(h->outgoing);
    assert_string_equal(h->from_org, "sote");
    polku__handover_record__free_unpacked(h, NULL);
    polku_envelope_free(&accepted);
}

static void a_rule_for_any_service_applies_to_this_one(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "any-transfer", "", NULL,
                NULL);
    uint8_t id[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    Polku__ReferralRecord *r = referral(w->sote, id);
    assert_int_equal(r->transfer_handover.len, 16);
    Polku__HandoverRecord *h = fx_handover(w->sote, r->transfer_handover.data);
    assert_non_null(h);
    assert_string_equal(h->rule, "any-transfer");
    assert_string_equal(h->supporter, ""); /* none */
    polku__handover_record__free_unpacked(h, NULL);
    polku__referral_record__free_unpacked(r, NULL);
    polku_envelope_free(&accepted);
}

typedef struct decline_call {
    const uint8_t *id;
} decline_call;

static int decline_fn(domain *d, MDB_txn *txn, void *ctx)
{
    decline_call *c = ctx;
    domain_refusal why = {0};
    Polku__HandoverRecord *h = NULL;
    int rc = handovers_answer(d, txn, c->id, false, "not now", &why, &h);
    if (rc == POLKU_OK)
        polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

static void
the_rule_offers_once_even_if_the_acceptance_comes_again(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], hid[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_true(open_offer(w->sote, hid));
    /* kela declines: no offer is open, another one would be possible */
    fx_settle(&w->r);
    decline_call dc = {hid};
    assert_int_equal(fx_run(w->kela, decline_fn, &dc), POLKU_OK);
    fx_settle(&w->r);
    uint8_t none[16];
    assert_false(open_offer(w->sote, none));
    uint64_t seq = fx_last_seq(w->sote);

    accepted->origin_seq += 1000; /* the acceptance again, as a new event */
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);

    assert_int_equal(fx_last_seq(w->sote), seq); /* no second offer */
    assert_false(open_offer(w->sote, none));
    Polku__ReferralRecord *r = referral(w->sote, id);
    assert_true(r->transfer_done);
    assert_int_equal(r->transfer_handover.len, 16);
    assert_memory_equal(r->transfer_handover.data, hid, 16);
    polku__referral_record__free_unpacked(r, NULL);
    polku_envelope_free(&accepted);
}

static void a_duplicate_acceptance_offers_nothing(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], hid[16], again[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_true(open_offer(w->sote, hid));
    uint64_t seq = fx_last_seq(w->sote);

    assert_int_equal(deliver(w, accepted), INBOX_DUPLICATE);

    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_true(open_offer(w->sote, again));
    assert_memory_equal(again, hid, 16);
    polku_envelope_free(&accepted);
}

static void
a_sender_that_does_not_coordinate_notes_not_coordinator(void **state)
{
    world *w = *state;
    consent_all(w); /* but no claim: nobody coordinates */
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, true, "not_coordinator");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

static void
a_coordinator_without_handover_consent_notes_consent_required(void **state)
{
    world *w = *state;
    consent_without_handover(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, true, "consent_required");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

typedef struct offer_call {
    const char *to;
    Polku__HandoverRecord *h;
} offer_call;

static int offer_fn(domain *d, MDB_txn *txn, void *ctx)
{
    offer_call *c = ctx;
    domain_refusal why = {0};
    handover_new n = {.to = c->to};
    memcpy(n.client_key, CLIENT, 16);
    return handovers_offer(d, txn, &n, &why, &c->h);
}

/* sote offers the coordination to `to` by hand; *id the offer. */
static void offer(fx_org *o, const char *to, uint8_t id[16])
{
    offer_call c = {.to = to};
    assert_int_equal(fx_run(o, offer_fn, &c), POLKU_OK);
    memcpy(id, c.h->id.data, 16);
    polku__handover_record__free_unpacked(c.h, NULL);
}

static void an_offer_already_open_notes_handover_open(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], to_tk[16], open[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    offer(w->sote, "tk", to_tk);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, true, "handover_open");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_true(open_offer(w->sote, open));
    assert_memory_equal(open, to_tk, 16); /* still the one to tk */
    polku_envelope_free(&accepted);
}

static void without_a_rule_a_transfer_stays_a_wish(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, false, "");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

static void a_rule_for_another_service_does_nothing(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "work-transfer", "work", NULL,
                NULL);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, false, "");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

static void a_referral_without_transfer_offers_nothing(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "rehab",
                NULL, NULL);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, false, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, false, "");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

static void a_service_ended_rule_does_not_fire_on_acceptance(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_SERVICE_ENDED, "care-ends", "", "kela", NULL);
    uint8_t id[16], none[16];
    polku_envelope *accepted = NULL;
    refer_and_accept(w, true, "rehab", id, &accepted);
    uint64_t seq = fx_last_seq(w->sote);
    assert_int_equal(deliver(w, accepted), INBOX_APPLIED);
    assert_no_transfer(w, id, false, "");
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_false(open_offer(w->sote, none));
    polku_envelope_free(&accepted);
}

/* ---- service changes ---- */

typedef struct service_call {
    const char *service;
    bool ended;
    domain_refusal why;
    Polku__PathRecord *p;
    Polku__HandoverRecord *h;
} service_call;

static int service_fn(domain *d, MDB_txn *txn, void *ctx)
{
    service_call *c = ctx;
    return rules_service_change(d, txn, CLIENT, c->service, c->ended, &c->why,
                                &c->p, &c->h);
}

static void service_call_free(service_call *c)
{
    if (c->p)
        polku__path_record__free_unpacked(c->p, NULL);
    if (c->h)
        polku__handover_record__free_unpacked(c->h, NULL);
    c->p = NULL;
    c->h = NULL;
}

/* o's service starts or ends; the result, c filled. */
static int service(fx_org *o, const char *name, bool ended, service_call *c)
{
    *c = (service_call){.service = name, .ended = ended};
    int rc = fx_run(o, service_fn, c);
    if (rc != POLKU_OK) {
        assert_null(c->p);
        assert_null(c->h);
    } else {
        assert_non_null(c->p);
    }
    return rc;
}

static bool runs(fx_org *o, const char *name)
{
    Polku__PathRecord *p = fx_path(o, CLIENT);
    bool found = false;
    for (size_t i = 0; p && i < p->n_services; i++)
        if (strcmp(p->services[i], name) == 0)
            found = true;
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    return found;
}

static void start(fx_org *o, const char *name)
{
    service_call c;
    assert_int_equal(service(o, name, false, &c), POLKU_OK);
    assert_null(c.h);
    service_call_free(&c);
    assert_true(runs(o, name));
}

static void starting_a_service_logs_it_and_adds_it_to_the_path(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", false, &c), POLKU_OK);
    assert_null(c.h);
    assert_int_equal(c.p->n_services, 1);
    assert_string_equal(c.p->services[0], "care");
    service_call_free(&c);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = fx_event(w->sote, seq + 1);
    assert_non_null(env);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_SERVICE_STARTED);
    assert_string_equal(env->service_started->service, "care");
    assert_int_equal(env->n_to, 0); /* for the broker */
    polku_envelope_free(&env);
}

static void starting_a_service_twice_lists_it_once(void **state)
{
    world *w = *state;
    consent_all(w);
    start(w->sote, "care");
    start(w->sote, "care");
    Polku__PathRecord *p = fx_path(w->sote, CLIENT);
    assert_non_null(p);
    assert_int_equal(p->n_services, 1);
    assert_string_equal(p->services[0], "care");
    polku__path_record__free_unpacked(p, NULL);
}

static void
a_coordinator_may_not_end_its_service_without_a_successor(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    start(w->sote, "care");
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", true, &c), POLKU_EREFUSED);
    assert_int_equal(c.why.reason, DOMAIN_SUCCESSOR_REQUIRED);
    assert_true(c.why.message[0] != '\0');
    assert_int_equal(fx_last_seq(w->sote), seq); /* nothing logged */
    assert_true(runs(w->sote, "care"));
    uint8_t none[16];
    assert_false(open_offer(w->sote, none));
}

static void a_successor_rule_for_another_service_does_not_help(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_SERVICE_ENDED, "work-ends", "work", "kela", NULL);
    fx_add_rule(w->sote, RULE_REFERRAL_ACCEPTED, "rehab-transfer", "", NULL,
                NULL);
    start(w->sote, "care");
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", true, &c), POLKU_EREFUSED);
    assert_int_equal(c.why.reason, DOMAIN_SUCCESSOR_REQUIRED);
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_true(runs(w->sote, "care"));
}

static void
a_successor_rule_logs_the_end_and_then_offers_the_handover(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_SERVICE_ENDED, "care-ends", "care", "kela", "tk");
    start(w->sote, "care");
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", true, &c), POLKU_OK);

    assert_non_null(c.h);
    assert_true(c.h->outgoing);
    assert_string_equal(c.h->to_org, "kela");
    assert_string_equal(c.h->rule, "care-ends");
    assert_string_equal(c.h->supporter, "tk");
    assert_int_equal(c.h->referral_id.len, 0);
    assert_int_equal(c.p->n_services, 0);
    assert_int_equal(c.p->open_handover.len, 16);
    assert_memory_equal(c.p->open_handover.data, c.h->id.data, 16);
    assert_string_equal(c.p->coordinator, "sote"); /* until kela accepts */

    assert_int_equal(fx_last_seq(w->sote), seq + 2);
    polku_envelope *ended = fx_event(w->sote, seq + 1);
    polku_envelope *offered = fx_event(w->sote, seq + 2);
    assert_non_null(ended);
    assert_non_null(offered);
    assert_int_equal(ended->body_case, POLKU__ENVELOPE__BODY_SERVICE_ENDED);
    assert_string_equal(ended->service_ended->service, "care");
    assert_int_equal(offered->body_case,
                     POLKU__ENVELOPE__BODY_HANDOVER_OFFERED);
    assert_string_equal(offered->to[0], "kela");
    assert_memory_equal(offered->handover_offered->handover_id.data,
                        c.h->id.data, 16);
    polku_envelope_free(&ended);
    polku_envelope_free(&offered);

    uint8_t open[16];
    assert_true(open_offer(w->sote, open)); /* and so stored */
    assert_memory_equal(open, c.h->id.data, 16);
    assert_false(runs(w->sote, "care"));
    service_call_free(&c);
}

static void a_successor_rule_that_cannot_offer_refuses_the_end(void **state)
{
    world *w = *state;
    consent_without_handover(w);
    coordinate(w->sote);
    fx_add_rule(w->sote, RULE_SERVICE_ENDED, "care-ends", "care", "kela", NULL);
    start(w->sote, "care");
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", true, &c), POLKU_EREFUSED);
    assert_int_equal(c.why.reason, DOMAIN_CONSENT_REQUIRED);
    /* the end and the offer go together or not at all */
    assert_int_equal(fx_last_seq(w->sote), seq);
    assert_true(runs(w->sote, "care"));
    uint8_t none[16];
    assert_false(open_offer(w->sote, none));
}

static void an_open_offer_lets_the_coordinator_end_its_service(void **state)
{
    world *w = *state;
    consent_all(w);
    coordinate(w->sote);
    start(w->sote, "care");
    uint8_t to_tk[16], open[16];
    offer(w->sote, "tk", to_tk); /* a successor is being arranged */
    uint64_t seq = fx_last_seq(w->sote);
    service_call c;
    assert_int_equal(service(w->sote, "care", true, &c), POLKU_OK);
    assert_null(c.h);
    assert_int_equal(c.p->n_services, 0);
    service_call_free(&c);
    assert_int_equal(fx_last_seq(w->sote), seq + 1);
    polku_envelope *env = fx_event(w->sote, seq + 1);
    assert_non_null(env);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_SERVICE_ENDED);
    polku_envelope_free(&env);
    assert_true(open_offer(w->sote, open));
    assert_memory_equal(open, to_tk, 16);
}

static void a_non_coordinator_ends_its_service_freely(void **state)
{
    world *w = *state;
    consent_all(w);
    fx_settle(&w->r); /* kela knows the consent */
    coordinate(w->sote);
    start(w->kela, "rehab");
    uint64_t seq = fx_last_seq(w->kela);
    service_call c;
    assert_int_equal(service(w->kela, "rehab", true, &c), POLKU_OK);
    assert_null(c.h);
    assert_int_equal(c.p->n_services, 0);
    service_call_free(&c);
    assert_int_equal(fx_last_seq(w->kela), seq + 1);
    polku_envelope *env = fx_event(w->kela, seq + 1);
    assert_non_null(env);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_SERVICE_ENDED);
    assert_string_equal(env->service_ended->service, "rehab");
    polku_envelope_free(&env);
    assert_false(runs(w->kela, "rehab"));
}

static void ending_one_service_keeps_the_others(void **state)
{
    world *w = *state;
    consent_all(w);
    start(w->kela, "rehab");
    start(w->kela, "gym");
    service_call c;
    assert_int_equal(service(w->kela, "rehab", true, &c), POLKU_OK);
    assert_int_equal(c.p->n_services, 1);
    assert_string_equal(c.p->services[0], "gym");
    service_call_free(&c);
    assert_false(runs(w->kela, "rehab"));
    assert_true(runs(w->kela, "gym"));
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(an_accepted_transfer_offers_the_coordination_to_the_receiver),
        TEST(a_rule_for_any_service_applies_to_this_one),
        TEST(the_rule_offers_once_even_if_the_acceptance_comes_again),
        TEST(a_duplicate_acceptance_offers_nothing),
        TEST(a_sender_that_does_not_coordinate_notes_not_coordinator),
        TEST(a_coordinator_without_handover_consent_notes_consent_required),
        TEST(an_offer_already_open_notes_handover_open),
        TEST(without_a_rule_a_transfer_stays_a_wish),
        TEST(a_rule_for_another_service_does_nothing),
        TEST(a_referral_without_transfer_offers_nothing),
        TEST(a_service_ended_rule_does_not_fire_on_acceptance),
        TEST(starting_a_service_logs_it_and_adds_it_to_the_path),
        TEST(starting_a_service_twice_lists_it_once),
        TEST(a_coordinator_may_not_end_its_service_without_a_successor),
        TEST(a_successor_rule_for_another_service_does_not_help),
        TEST(a_successor_rule_logs_the_end_and_then_offers_the_handover),
        TEST(a_successor_rule_that_cannot_offer_refuses_the_end),
        TEST(an_open_offer_lets_the_coordinator_end_its_service),
        TEST(a_non_coordinator_ends_its_service_freely),
        TEST(ending_one_service_keeps_the_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
