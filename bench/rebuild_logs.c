/* rebuild_logs.c — the agents' logs rebuild_bench replays (see
 * rebuild_logs.h).
 *
 * A story is one client's path as the organisations write it, each event
 * in the log of the organisation that writes it (its origin): the home org
 * h records a consent covering h, r and s (every purpose) and claims the
 * path (the claim, then the broker's answer, won at term 1); h starts its
 * service and refers the client to r; r receives it. Then, by client
 * number i mod 10:
 *   0     r rejects; h refers the client to s, which receives and accepts
 *         (left open);
 *   1     nothing more (left waiting for r's answer);
 *   2..9  r accepts, starts its service, marks the referral in progress;
 *         for even i, h offers r the coordination, r accepts (term 2) and
 *         records the plan (to h and s); for i mod 10 != 9, r completes
 *         the referral and ends its service (9 stays in progress), and h
 *         ends its own service (2..8).
 * About 14 events a client. Stories are a minute apart and their events a
 * second apart, so every log is in time order. */
#include "rebuild_logs.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim_auth.h"
#include "polku/codec.h"
#include "polku/id.h"

#define SEC 1000ull
#define DAY (86400ull * SEC)

/* Sealed blobs: random bytes, as ciphertext looks. Sizes: a referral's
 * reason, a status without text (the box and its framing only), a status
 * with an outcome, a handover's note. */
#define SEALED_REQUEST 300
#define SEALED_EMPTY 56
#define SEALED_OUTCOME 120
#define SEALED_NOTE 150
static uint8_t g_sealed[512];

static const char *const g_purposes[] = {"referral", "handover", "path",
                                         "plan"};

static ProtobufCBinaryData bin(const uint8_t *data, size_t len)
{
    return (ProtobufCBinaryData){len, (uint8_t *)data};
}

void rb_logs_init(rb_logs *l, uint64_t t0_ms, const uint8_t claim_key[32])
{
    memset(l, 0, sizeof *l);
    l->t0_ms = t0_ms;
    memcpy(l->claim_key, claim_key, sizeof l->claim_key);
    for (int i = 0; i < RB_ORGS; i++)
        snprintf(l->agent[i].org, sizeof l->agent[i].org, "org-%02d", i);
    randombytes_buf(g_sealed, sizeof g_sealed);
}

void rb_logs_fini(rb_logs *l)
{
    for (int i = 0; i < RB_ORGS; i++) {
        rb_agent *a = &l->agent[i];
        for (size_t k = 0; k < a->n_frames; k++)
            free(a->frames[k].data);
        for (size_t k = 0; k < a->n_pend; k++)
            free(a->pend[k]);
        free(a->frames);
        free(a->pend);
        free(a->pend_len);
    }
    free(l->clients);
    free(l->refs);
    memset(l, 0, sizeof *l);
}

/* Packs the agent's pending events into one ReplayBatch frame, as
 * agents/net/link.c replay_one_frame does. */
static int pack(rb_logs *l, rb_agent *a)
{
    if (a->n_pend == 0)
        return 0;
    if (a->n_frames == a->cap_frames) {
        size_t cap = a->cap_frames ? 2 * a->cap_frames : 64;
        rb_frame *f = realloc(a->frames, cap * sizeof *f);
        if (!f)
            return -1;
        a->frames = f;
        a->cap_frames = cap;
    }
    ProtobufCBinaryData *events = malloc(a->n_pend * sizeof *events);
    if (!events)
        return -1;
    for (size_t i = 0; i < a->n_pend; i++)
        events[i] = bin(a->pend[i], a->pend_len[i]);
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayBatch batch = POLKU__REPLAY_BATCH__INIT;
    polku_id id = polku_id_new(a->last_ms);
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id = bin(id.b, 16);
    env.origin_org = a->org;
    env.time_ms = a->last_ms;
    batch.n_events = a->n_pend;
    batch.events = events;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_BATCH;
    env.replay_batch = &batch;
    rb_frame *f = &a->frames[a->n_frames];
    int rc = polku_envelope_encode(&env, &f->data, &f->len);
    free(events);
    if (rc)
        return -1;
    f->events = a->n_pend;
    a->n_frames++;
    l->frames++;
    l->frame_bytes += f->len;
    for (size_t i = 0; i < a->n_pend; i++)
        free(a->pend[i]);
    a->n_pend = 0;
    a->pend_bytes = 0;
    return 0;
}

static int pack_all(rb_logs *l)
{
    for (int i = 0; i < RB_ORGS; i++)
        if (pack(l, &l->agent[i]))
            return -1;
    return 0;
}

/* ---- what the fold must show ---- */

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? 2 * *cap : 1024;
    void *q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

/* A new client, the one the next events are about. */
static rb_client *client_new(rb_logs *l, const uint8_t key[16],
                             const uint8_t cid[16], int coordinator)
{
    rb_client *c = grow(l->clients, &l->cap_clients, l->n_clients, sizeof *c);
    if (!c)
        return NULL;
    l->clients = c;
    l->cur = l->n_clients++;
    c = &l->clients[l->cur];
    memset(c, 0, sizeof *c);
    memcpy(c->key, key, 16);
    memcpy(c->consent, cid, 16);
    c->coordinator = (uint8_t)coordinator;
    l->expect.clients++;
    return c;
}

/* ---- one event ---- */

typedef struct ev {
    polku_envelope env;
    char *to[RB_ORGS];
    uint8_t msg_id[16];
    uint8_t key[16];
} ev;

static void ev_init(ev *e, const uint8_t key[16], uint64_t t)
{
    polku__envelope__init(&e->env);
    polku_id id = polku_id_new(t);
    memcpy(e->msg_id, id.b, 16);
    memcpy(e->key, key, 16);
    e->env.version = POLKU_PROTOCOL_VERSION;
    e->env.msg_id = bin(e->msg_id, 16);
    e->env.client_key = bin(e->key, 16);
    e->env.time_ms = t;
    e->env.to = e->to;
}

static void ev_to(const rb_logs *l, ev *e, int org)
{
    e->to[e->env.n_to++] = (char *)l->agent[org].org;
}

/* Writes e as the next event of org's log (agent_emit: the next seq, the
 * encoded envelope kept as logged); a full frame is packed. */
static int emit(rb_logs *l, int org, ev *e)
{
    rb_agent *a = &l->agent[org];
    e->env.origin_org = a->org;
    e->env.origin_seq = a->seq + 1;
    if (e->env.n_to == 0)
        e->env.to = NULL;
    if (a->n_pend == a->cap_pend) {
        size_t cap = a->cap_pend ? 2 * a->cap_pend : 1024;
        uint8_t **p = realloc(a->pend, cap * sizeof *p);
        if (!p)
            return -1;
        a->pend = p;
        size_t *n = realloc(a->pend_len, cap * sizeof *n);
        if (!n)
            return -1;
        a->pend_len = n;
        a->cap_pend = cap;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(&e->env, &buf, &len))
        return -1;
    a->pend[a->n_pend] = buf;
    a->pend_len[a->n_pend++] = len;
    a->pend_bytes += len;
    a->seq++;
    a->last_ms = e->env.time_ms;
    if (l->n_clients &&
        e->env.body_case != POLKU__ENVELOPE__BODY_PATH_CLAIMED &&
        l->clients[l->cur].timeline < UINT8_MAX)
        l->clients[l->cur].timeline++; /* a client event */
    l->events++;
    l->event_bytes += len;
    return a->pend_bytes >= RB_FRAME_BYTES ? pack(l, a) : 0;
}

/* ---- bodies, as the agents write them ---- */

static int consent(rb_logs *l, int h, int r, int s, const uint8_t key[16],
                   const uint8_t cid[16], uint64_t t)
{
    ev e;
    Polku__ConsentGranted g = POLKU__CONSENT_GRANTED__INIT;
    char *orgs[3] = {l->agent[h].org, l->agent[r].org, l->agent[s].org};
    ev_init(&e, key, t);
    ev_to(l, &e, r);
    ev_to(l, &e, s);
    g.consent_id = bin(cid, 16);
    g.n_orgs = 3;
    g.orgs = orgs;
    g.n_purposes = 4;
    g.purposes = (char **)g_purposes;
    g.valid_until_ms = t + 365 * DAY;
    g.form = "written";
    e.env.body_case = POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    e.env.consent_granted = &g;
    l->expect.consents++;
    return emit(l, h, &e);
}

/* The claim (for the broker) and the broker's answer as h logs it. */
static int claim(rb_logs *l, int h, const uint8_t key[16],
                 const uint8_t cid[16], uint64_t t)
{
    ev e;
    Polku__PathClaimed c = POLKU__PATH_CLAIMED__INIT;
    polku_id claim = polku_id_new(t);
    ev_init(&e, key, t);
    c.claim_id = bin(claim.b, 16);
    c.consent_id = bin(cid, 16);
    c.consent_recorded_by = l->agent[h].org;
    e.env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIMED;
    e.env.path_claimed = &c;
    if (emit(l, h, &e))
        return -1;
    Polku__PathClaimAnswered a = POLKU__PATH_CLAIM_ANSWERED__INIT;
    a.claim_id = c.claim_id;
    a.outcome = POLKU__CLAIM_OUTCOME__CLAIM_WON;
    a.coordinator = l->agent[h].org;
    a.term = 1;
    a.claim_seq = l->agent[h].seq;
    a.since_ms = t;
    uint8_t mac[CLAIM_AUTH_BYTES];
    claim_auth_mac(l->claim_key, key, l->agent[h].org, &a, mac);
    a.authenticator = bin(mac, sizeof mac);
    ev_init(&e, key, t + 50);
    e.env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    e.env.path_claim_answered = &a;
    l->expect.paths++;
    return emit(l, h, &e);
}

static int service(rb_logs *l, int org, const uint8_t key[16], const char *name,
                   bool started, uint64_t t)
{
    ev e;
    Polku__ServiceStarted st = POLKU__SERVICE_STARTED__INIT;
    Polku__ServiceEnded en = POLKU__SERVICE_ENDED__INIT;
    ev_init(&e, key, t);
    st.service = en.service = (char *)name;
    e.env.body_case = started ? POLKU__ENVELOPE__BODY_SERVICE_STARTED
                              : POLKU__ENVELOPE__BODY_SERVICE_ENDED;
    if (started)
        e.env.service_started = &st;
    else
        e.env.service_ended = &en;
    return emit(l, org, &e);
}

/* A referral from `from` to `to`; *ref gets its index in l->refs. */
static int requested(rb_logs *l, int from, int to, const uint8_t key[16],
                     const uint8_t rid[16], const char *svc,
                     const uint8_t cid[16], int recorded_by, uint64_t t,
                     size_t *ref)
{
    ev e;
    rb_referral *r = grow(l->refs, &l->cap_refs, l->n_refs, sizeof *r);
    if (!r)
        return -1;
    l->refs = r;
    *ref = l->n_refs++;
    r = &l->refs[*ref];
    memcpy(r->id, rid, 16);
    r->from = (uint8_t)from;
    r->to = (uint8_t)to;
    r->status = POLKU__REFERRAL_STATE__REFERRAL_REQUESTED;
    Polku__ReferralRequested q = POLKU__REFERRAL_REQUESTED__INIT;
    ev_init(&e, key, t);
    ev_to(l, &e, to);
    q.referral_id = bin(rid, 16);
    q.service = (char *)svc;
    q.urgency = "routine";
    q.due_ms = t + 14 * DAY;
    q.consent_id = bin(cid, 16);
    q.consent_recorded_by = l->agent[recorded_by].org;
    q.sealed = bin(g_sealed, SEALED_REQUEST);
    e.env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    e.env.referral_requested = &q;
    l->expect.referrals++;
    l->expect.open++;
    return emit(l, from, &e);
}

/* The receiver's status of referral l->refs[ref], sent to its sender. */
static int status(rb_logs *l, size_t ref, const uint8_t key[16],
                  Polku__ReferralState state, uint32_t version, size_t sealed,
                  uint64_t t)
{
    ev e;
    Polku__ReferralStatus st = POLKU__REFERRAL_STATUS__INIT;
    rb_referral *r = &l->refs[ref];
    int writer = r->to;
    ev_init(&e, key, t);
    ev_to(l, &e, r->from);
    r->status = (uint8_t)state;
    st.referral_id = bin(r->id, 16);
    st.status = state;
    st.version = version;
    st.writer_org = l->agent[writer].org;
    st.sealed = bin(g_sealed, sealed);
    e.env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_STATUS;
    e.env.referral_status = &st;
    if (state == POLKU__REFERRAL_STATE__REFERRAL_REJECTED ||
        state == POLKU__REFERRAL_STATE__REFERRAL_COMPLETED)
        l->expect.open--;
    return emit(l, writer, &e);
}

/* h (coordinator at term 1) offers r the coordination; r accepts (term 2)
 * and records the client's plan, for h and s. */
static int handover(rb_logs *l, int h, int r, int s, const uint8_t key[16],
                    const uint8_t cid[16], uint64_t t)
{
    ev e;
    Polku__HandoverOffered o = POLKU__HANDOVER_OFFERED__INIT;
    polku_id hid = polku_id_new(t);
    ev_init(&e, key, t);
    ev_to(l, &e, r);
    o.handover_id = bin(hid.b, 16);
    o.term = 1;
    o.consent_id = bin(cid, 16);
    o.consent_recorded_by = l->agent[h].org;
    o.sealed = bin(g_sealed, SEALED_NOTE);
    e.env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_OFFERED;
    e.env.handover_offered = &o;
    if (emit(l, h, &e))
        return -1;
    Polku__HandoverAnswered a = POLKU__HANDOVER_ANSWERED__INIT;
    ev_init(&e, key, t + SEC);
    ev_to(l, &e, h);
    a.handover_id = o.handover_id;
    a.status = POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED;
    a.term = 2;
    a.offered_by = l->agent[h].org;
    a.offered_to = l->agent[r].org;
    e.env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED;
    e.env.handover_answered = &a;
    if (emit(l, r, &e))
        return -1;
    Polku__PlanUpdated u = POLKU__PLAN_UPDATED__INIT;
    Polku__PlanPointer p = POLKU__PLAN_POINTER__INIT;
    polku_id plan = polku_id_new(t);
    char plan_id[POLKU_ID_TEXT];
    polku_id_format(&plan, plan_id);
    p.org = l->agent[r].org;
    p.plan_id = plan_id;
    p.version = 1;
    p.review_due_ms = t + 90 * DAY;
    u.plan = &p;
    u.term = 2;
    u.consent_id = bin(cid, 16);
    u.consent_recorded_by = l->agent[h].org;
    ev_init(&e, key, t + 2 * SEC);
    ev_to(l, &e, h);
    ev_to(l, &e, s);
    e.env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    e.env.plan_updated = &u;
    return emit(l, r, &e);
}

/* ---- stories ---- */

#define REF(state) POLKU__REFERRAL_STATE__REFERRAL_##state

static int story(rb_logs *l, size_t i)
{
    int h = (int)(i % RB_ORGS);
    int r = (h + 1 + (int)(i / RB_ORGS % (RB_ORGS - 1))) % RB_ORGS;
    int s = (r + 1) % RB_ORGS == h ? (r + 2) % RB_ORGS : (r + 1) % RB_ORGS;
    int kind = (int)(i % 10);
    bool handed = kind >= 2 && kind % 2 == 0;
    uint64_t t = l->t0_ms + i * 60 * SEC;
    uint8_t key[16];
    size_t ref = 0, ref2 = 0;
    randombytes_buf(key, sizeof key);
    polku_id cid = polku_id_new(t), rid = polku_id_new(t + 4 * SEC);
    rb_client *c = client_new(l, key, cid.b, handed ? r : h);
    if (!c)
        return -1;
    c->term = handed ? 2 : 1;
    c->has_plan = handed;
    c->in_services = kind == 0 || kind == 1 || kind == 9;
    int rc = consent(l, h, r, s, key, cid.b, t) ||
             claim(l, h, key, cid.b, t + SEC) ||
             service(l, h, key, "home-care", true, t + 3 * SEC) ||
             requested(l, h, r, key, rid.b, "physiotherapy", cid.b, h,
                       t + 4 * SEC, &ref) ||
             status(l, ref, key, REF(RECEIVED), 1, SEALED_EMPTY, t + 5 * SEC);
    if (rc || kind == 1)
        return rc ? -1 : 0;
    if (kind == 0) {
        polku_id rid2 = polku_id_new(t + 7 * SEC);
        rc =
            status(l, ref, key, REF(REJECTED), 2, SEALED_OUTCOME,
                   t + 6 * SEC) ||
            requested(l, h, s, key, rid2.b, "occupational-therapy", cid.b, h,
                      t + 7 * SEC, &ref2) ||
            status(l, ref2, key, REF(RECEIVED), 1, SEALED_EMPTY, t + 8 * SEC) ||
            status(l, ref2, key, REF(ACCEPTED), 2, SEALED_EMPTY, t + 9 * SEC);
        return rc ? -1 : 0;
    }
    rc = status(l, ref, key, REF(ACCEPTED), 2, SEALED_EMPTY, t + 6 * SEC) ||
         service(l, r, key, "physiotherapy", true, t + 7 * SEC) ||
         status(l, ref, key, REF(IN_PROGRESS), 3, SEALED_EMPTY, t + 8 * SEC);
    if (!rc && handed)
        rc = handover(l, h, r, s, key, cid.b, t + 10 * SEC);
    if (!rc && kind != 9)
        rc = status(l, ref, key, REF(COMPLETED), 4, SEALED_OUTCOME,
                    t + 20 * SEC) ||
             service(l, r, key, "physiotherapy", false, t + 21 * SEC) ||
             service(l, h, key, "home-care", false, t + 22 * SEC);
    return rc ? -1 : 0;
}

int rb_write_stories(rb_logs *l, unsigned long long events)
{
    for (size_t i = 0; l->events < events; i++)
        if (story(l, i))
            return -1;
    return pack_all(l);
}

/* ---- the memory steps ---- */

static int home(size_t i)
{
    return (int)(i % RB_ORGS);
}

/* A consent id of the client (the steps must agree on it). */
static void consent_of(const uint8_t key[16], uint8_t out[16])
{
    for (int i = 0; i < 16; i++)
        out[i] = key[i] ^ 0xc0;
}

int rb_write_consents(rb_logs *l, const uint8_t (*keys)[16], size_t n)
{
    uint8_t cid[16];
    for (size_t i = 0; i < n; i++) {
        int h = home(i);
        consent_of(keys[i], cid);
        if (!client_new(l, keys[i], cid, h) ||
            consent(l, h, (h + 1) % RB_ORGS, (h + 2) % RB_ORGS, keys[i], cid,
                    l->t0_ms + i * SEC))
            return -1;
    }
    return pack_all(l);
}

/* After rb_write_consents: clients[i] is keys[i]. */
int rb_write_claims(rb_logs *l, const uint8_t (*keys)[16], size_t n)
{
    uint8_t cid[16];
    for (size_t i = 0; i < n; i++) {
        consent_of(keys[i], cid);
        l->cur = i;
        l->clients[i].term = 1;
        if (claim(l, home(i), keys[i], cid, l->t0_ms + i * SEC + 100))
            return -1;
    }
    return pack_all(l);
}

int rb_write_open_referrals(rb_logs *l, const uint8_t (*keys)[16], size_t n,
                            size_t per_client)
{
    uint8_t cid[16];
    for (size_t k = 0; k < per_client; k++)
        for (size_t i = 0; i < n; i++) {
            int h = home(i), to = (h + 1 + (int)(k % 2)) % RB_ORGS;
            uint64_t t = l->t0_ms + i * SEC + 200 + k * 10;
            polku_id rid = polku_id_new(t);
            size_t ref = 0;
            consent_of(keys[i], cid);
            l->cur = i;
            if (requested(l, h, to, keys[i], rid.b, "physiotherapy", cid, h, t,
                          &ref) ||
                status(l, ref, keys[i], REF(RECEIVED), 1, SEALED_EMPTY, t + 1))
                return -1;
        }
    return pack_all(l);
}
