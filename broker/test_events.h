/* test_events.h — agents' logs for the broker's unit tests.
 *
 * An org_log is one agent's event log: origin seqs 1, 2, ... in the order
 * written. Each builder appends one event and returns its envelope, which
 * points into the log's own storage (built in place, never copied). The
 * free-text fields an agent must never send in clear (reason, outcome,
 * sealed) are filled with SECRET_TEXT and SECRET_HETU, so a test can check
 * that none of it reaches the broker's JSON. Test code only. */
#ifndef POLKU_BROKER_TEST_EVENTS_H
#define POLKU_BROKER_TEST_EVENTS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "polku/codec.h"

#define SECRET_TEXT "asiakas-kertoi-salaisuuden"
#define SECRET_HETU "131052-308T"

#define TEST_LOG_MAX 96

typedef struct test_event {
    polku_envelope env;
    char *to[1];
    char *orgs[2];
    char *purposes[2];
    uint8_t id[16];
    uint8_t consent[16];
    union {
        Polku__ReferralRequested requested;
        Polku__ReferralStatus status;
        Polku__CancelRequested cancel;
        Polku__ConsentGranted granted;
        Polku__ConsentRevoked revoked;
        Polku__ServiceStarted started;
        Polku__ServiceEnded ended;
        Polku__PathClaimAnswered claim;
        Polku__PathClosed closed;
        Polku__HandoverOffered offered;
        Polku__HandoverAnswered answered;
    } body;
} test_event;

typedef struct org_log {
    const char *org;
    size_t n;
    test_event ev[TEST_LOG_MAX];
} org_log;

/* A 16-byte id from a tag and a number. */
static inline void test_id(uint8_t tag, unsigned n, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = tag;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
}

static inline ProtobufCBinaryData test_bytes(uint8_t *b, size_t n)
{
    return (ProtobufCBinaryData){n, b};
}

static inline test_event *test_append(org_log *l, const uint8_t *key,
                                      uint64_t t, const char *to)
{
    assert_true(l->n < TEST_LOG_MAX);
    test_event *e = &l->ev[l->n++];
    memset(e, 0, sizeof *e);
    polku__envelope__init(&e->env);
    e->env.version = POLKU_PROTOCOL_VERSION;
    e->env.origin_org = (char *)l->org;
    e->env.origin_seq = l->n;
    e->env.client_key = test_bytes((uint8_t *)key, 16);
    e->env.time_ms = t;
    if (to) {
        e->to[0] = (char *)to;
        e->env.to = e->to;
        e->env.n_to = 1;
    }
    return e;
}

/* l asks `to` to take the client into `service`; consent 0: none named. */
static inline polku_envelope *ev_requested(org_log *l, const uint8_t *key,
                                           unsigned rid, const char *to,
                                           const char *service,
                                           unsigned consent, uint64_t t)
{
    test_event *e = test_append(l, key, t, to);
    Polku__ReferralRequested *q = &e->body.requested;
    polku__referral_requested__init(q);
    test_id(0x5e, rid, e->id);
    q->referral_id = test_bytes(e->id, 16);
    q->service = (char *)service;
    q->reason = SECRET_TEXT " " SECRET_HETU;
    q->due_ms = t + 14ull * 86400000;
    if (consent) {
        test_id(0xc0, consent, e->consent);
        q->consent_id = test_bytes(e->consent, 16);
    }
    q->sealed = test_bytes((uint8_t *)SECRET_TEXT, strlen(SECRET_TEXT));
    e->env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    e->env.referral_requested = q;
    return &e->env;
}

/* A status of referral rid at version, sent to `to` (NULL: the sender's
 * own, for the broker alone). */
static inline polku_envelope *ev_status(org_log *l, const uint8_t *key,
                                        unsigned rid, const char *to,
                                        Polku__ReferralState state,
                                        uint32_t version, uint64_t t)
{
    test_event *e = test_append(l, key, t, to);
    Polku__ReferralStatus *s = &e->body.status;
    polku__referral_status__init(s);
    test_id(0x5e, rid, e->id);
    s->referral_id = test_bytes(e->id, 16);
    s->status = state;
    s->version = version;
    s->reason = SECRET_TEXT;
    s->outcome = SECRET_HETU;
    s->writer_org = (char *)l->org;
    s->sealed = test_bytes((uint8_t *)SECRET_HETU, strlen(SECRET_HETU));
    e->env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_STATUS;
    e->env.referral_status = s;
    return &e->env;
}

static inline polku_envelope *ev_cancel(org_log *l, const uint8_t *key,
                                        unsigned rid, const char *to,
                                        uint64_t t)
{
    test_event *e = test_append(l, key, t, to);
    Polku__CancelRequested *c = &e->body.cancel;
    polku__cancel_requested__init(c);
    test_id(0x5e, rid, e->id);
    c->referral_id = test_bytes(e->id, 16);
    c->reason = SECRET_HETU;
    c->sealed = test_bytes((uint8_t *)SECRET_TEXT, strlen(SECRET_TEXT));
    e->env.body_case = POLKU__ENVELOPE__BODY_CANCEL_REQUESTED;
    e->env.cancel_requested = c;
    return &e->env;
}

/* Consent `consent` of the client between l and other, for purpose. */
static inline polku_envelope *ev_granted(org_log *l, const uint8_t *key,
                                         unsigned consent, const char *other,
                                         const char *purpose,
                                         uint64_t valid_until, uint64_t t)
{
    test_event *e = test_append(l, key, t, NULL);
    Polku__ConsentGranted *g = &e->body.granted;
    polku__consent_granted__init(g);
    test_id(0xc0, consent, e->id);
    g->consent_id = test_bytes(e->id, 16);
    e->orgs[0] = (char *)l->org;
    e->orgs[1] = (char *)other;
    g->orgs = e->orgs;
    g->n_orgs = 2;
    e->purposes[0] = (char *)purpose;
    g->purposes = e->purposes;
    g->n_purposes = 1;
    g->valid_until_ms = valid_until;
    g->form = "written";
    e->env.body_case = POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    e->env.consent_granted = g;
    return &e->env;
}

static inline polku_envelope *ev_revoked(org_log *l, const uint8_t *key,
                                         unsigned consent, uint64_t t)
{
    test_event *e = test_append(l, key, t, NULL);
    polku__consent_revoked__init(&e->body.revoked);
    test_id(0xc0, consent, e->id);
    e->body.revoked.consent_id = test_bytes(e->id, 16);
    e->env.body_case = POLKU__ENVELOPE__BODY_CONSENT_REVOKED;
    e->env.consent_revoked = &e->body.revoked;
    return &e->env;
}

static inline polku_envelope *ev_service(org_log *l, const uint8_t *key,
                                         const char *service, bool running,
                                         uint64_t t)
{
    test_event *e = test_append(l, key, t, NULL);
    if (running) {
        polku__service_started__init(&e->body.started);
        e->body.started.service = (char *)service;
        e->env.body_case = POLKU__ENVELOPE__BODY_SERVICE_STARTED;
        e->env.service_started = &e->body.started;
    } else {
        polku__service_ended__init(&e->body.ended);
        e->body.ended.service = (char *)service;
        e->env.body_case = POLKU__ENVELOPE__BODY_SERVICE_ENDED;
        e->env.service_ended = &e->body.ended;
    }
    return &e->env;
}

/* The broker's answer to l's claim, as l writes it in its own log. */
static inline polku_envelope *ev_claim_answer(org_log *l, const uint8_t *key,
                                              Polku__ClaimOutcome outcome,
                                              const char *coordinator,
                                              uint32_t term, uint64_t since,
                                              uint64_t t)
{
    test_event *e = test_append(l, key, t, NULL);
    Polku__PathClaimAnswered *a = &e->body.claim;
    polku__path_claim_answered__init(a);
    test_id(0xc1, (unsigned)l->n, e->id);
    a->claim_id = test_bytes(e->id, 16);
    a->outcome = outcome;
    a->coordinator = (char *)coordinator;
    a->term = term;
    a->since_ms = since;
    e->env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    e->env.path_claim_answered = a;
    return &e->env;
}

static inline polku_envelope *ev_won(org_log *l, const uint8_t *key,
                                     uint32_t term, uint64_t t)
{
    return ev_claim_answer(l, key, POLKU__CLAIM_OUTCOME__CLAIM_WON, l->org,
                           term, t, t);
}

static inline polku_envelope *ev_closed(org_log *l, const uint8_t *key,
                                        uint32_t term, uint64_t t)
{
    test_event *e = test_append(l, key, t, NULL);
    polku__path_closed__init(&e->body.closed);
    e->body.closed.term = term;
    e->body.closed.reason = "moved_away";
    e->env.body_case = POLKU__ENVELOPE__BODY_PATH_CLOSED;
    e->env.path_closed = &e->body.closed;
    return &e->env;
}

static inline polku_envelope *ev_offered(org_log *l, const uint8_t *key,
                                         const char *to, unsigned hid,
                                         uint32_t term, uint64_t t)
{
    test_event *e = test_append(l, key, t, to);
    polku__handover_offered__init(&e->body.offered);
    test_id(0x01, hid, e->id);
    e->body.offered.handover_id = test_bytes(e->id, 16);
    e->body.offered.term = term;
    e->env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_OFFERED;
    e->env.handover_offered = &e->body.offered;
    return &e->env;
}

/* The receiver l's answer to offer hid from `by` (sent back to it). */
static inline polku_envelope *ev_answered(org_log *l, const uint8_t *key,
                                          unsigned hid,
                                          Polku__HandoverState status,
                                          uint32_t term, const char *by,
                                          uint64_t t)
{
    test_event *e = test_append(l, key, t, by);
    Polku__HandoverAnswered *a = &e->body.answered;
    polku__handover_answered__init(a);
    test_id(0x01, hid, e->id);
    a->handover_id = test_bytes(e->id, 16);
    a->status = status;
    a->term = term;
    a->offered_by = (char *)by;
    a->offered_to = (char *)l->org;
    e->env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED;
    e->env.handover_answered = a;
    return &e->env;
}

#endif
