/* domain_fixture.c — organisations without sockets (see domain_fixture.h). */
#include "domain_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consents.h"
#include "paths.h"
#include "polku/error.h"

static void fail(const char *what, int rc)
{
    fprintf(stderr, "domain fixture: %s: %s\n", what, polku_strerror(rc));
    abort();
}

static int no_send(void *arg, const uint8_t *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return 1; /* nothing leaves: fx_deliver reads the log instead */
}

static void count_claim(void *arg, const Polku__PathRecord *p)
{
    (void)p;
    ((fx_org *)arg)->claims_decided++;
}

/* The Welcome every organisation's directory holds: ids, keys, services. */
static Polku__Welcome *welcome_of(fx_region *r, const char *const services[])
{
    Polku__Welcome *w = calloc(1, sizeof *w);
    polku__welcome__init(w);
    w->n_directory = r->n;
    w->directory = calloc(r->n, sizeof *w->directory);
    for (size_t i = 0; i < r->n; i++) {
        Polku__DirectoryEntry *e = calloc(1, sizeof *e);
        polku__directory_entry__init(e);
        e->org = r->org[i].cfg.org;
        e->public_key = r->org[i].cfg.key.public_z85;
        if (services[i]) {
            e->n_services = 1;
            e->services = calloc(1, sizeof *e->services);
            e->services[0] = (char *)services[i];
        }
        w->directory[i] = e;
    }
    return w;
}

static void welcome_free(Polku__Welcome *w)
{
    for (size_t i = 0; i < w->n_directory; i++) {
        free(w->directory[i]->services);
        free(w->directory[i]);
    }
    free(w->directory);
    free(w);
}

void fx_region_init(fx_region *r, size_t n, const char *const ids[],
                    const char *const services[])
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->now_ms = 1796000000000ull; /* 2026-11-29 */
    for (size_t i = 0; i < n; i++) {
        fx_org *o = &r->org[i];
        snprintf(o->cfg.org, sizeof o->cfg.org, "%s", ids[i]);
        int rc = polku_keypair_generate(&o->cfg.key);
        if (rc)
            fail("keypair", rc);
        snprintf(o->path, sizeof o->path, "/tmp/polku-domain-XXXXXX");
        if (!mkdtemp(o->path))
            fail("mkdtemp", POLKU_ESTORE);
        rc = store_open(&o->st, o->path, 64ull << 20, 64ull << 20, ids[i]);
        if (rc)
            fail("store_open", rc);
        batch_init(&o->b, &o->st);
        outbox_init(&o->ob, 64, 100, 1000, 5000, no_send, NULL);
        eventlog_init(&o->log, &o->st, &o->b, &o->ob, o->cfg.org);
        rc = eventlog_load(&o->log);
        if (rc)
            fail("eventlog_load", rc);
        directory_init(&o->dir, o->cfg.org);
        o->seal =
            (sealing){.dir = &o->dir, .secret_z85 = o->cfg.key.secret_z85};
    }
    Polku__Welcome *w = welcome_of(r, services);
    for (size_t i = 0; i < n; i++) {
        fx_org *o = &r->org[i];
        if (directory_set(&o->dir, w))
            fail("directory_set", POLKU_ENOMEM);
        o->d = (domain){.st = &o->st,
                        .b = &o->b,
                        .log = &o->log,
                        .dir = &o->dir,
                        .seal = &o->seal,
                        .cfg = &o->cfg,
                        .org = o->cfg.org,
                        .clock_ms = r->now_ms,
                        .hooks = {count_claim, o}};
    }
    welcome_free(w);
}

void fx_region_fini(fx_region *r)
{
    for (size_t i = 0; i < r->n; i++) {
        fx_org *o = &r->org[i];
        batch_fini(&o->b);
        outbox_fini(&o->ob);
        sealing_fini(&o->seal);
        directory_fini(&o->dir);
        store_close(&o->st);
        free(o->cfg.rules);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", o->path);
        if (system(cmd) != 0)
            fprintf(stderr, "domain fixture: could not remove %s\n", o->path);
    }
}

fx_org *fx_org_of(fx_region *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->org[i].cfg.org, id) == 0)
            return &r->org[i];
    return NULL;
}

void fx_add_rule(fx_org *o, rule_trigger on, const char *name,
                 const char *service, const char *offer_to,
                 const char *supporter)
{
    agent_rule *rules =
        realloc(o->cfg.rules, (o->cfg.rule_count + 1) * sizeof *rules);
    if (!rules)
        fail("rule", POLKU_ENOMEM);
    agent_rule *x = &rules[o->cfg.rule_count++];
    memset(x, 0, sizeof *x);
    x->on = on;
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->service, sizeof x->service, "%s", service ? service : "");
    snprintf(x->offer_to, sizeof x->offer_to, "%s", offer_to ? offer_to : "");
    snprintf(x->supporter, sizeof x->supporter, "%s",
             supporter ? supporter : "");
    o->cfg.rules = rules;
}

typedef struct fx_call {
    fx_fn fn;
    domain *d;
    void *ctx;
} fx_call;

static int call(MDB_txn *txn, void *arg)
{
    fx_call *c = arg;
    return c->fn(c->d, txn, c->ctx);
}

void fx_set_clock(fx_region *r, uint64_t now_ms)
{
    r->now_ms = now_ms;
    for (size_t i = 0; i < r->n; i++)
        r->org[i].d.clock_ms = now_ms;
}

int fx_run(fx_org *o, fx_fn fn, void *ctx)
{
    fx_call c = {fn, &o->d, ctx};
    int rc = batch_run_item(&o->b, call, &c);
    batch_flush(&o->b);
    return rc;
}

uint64_t fx_last_seq(fx_org *o)
{
    return o->b.committed_seq;
}

polku_envelope *fx_event(fx_org *o, uint64_t seq)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    polku_envelope *env = NULL;
    char why[128];
    if (mdb_txn_begin(o->st.env, NULL, MDB_RDONLY, &txn))
        return NULL;
    if (store_event_get(&o->st, txn, seq, &v) == POLKU_OK &&
        polku_envelope_decode(v.mv_data, v.mv_size, POLKU_MAX_FRAME_DEFAULT,
                              &env, why, sizeof why))
        polku_envelope_free(&env);
    mdb_txn_abort(txn);
    return env;
}

typedef struct inbox_call {
    const polku_envelope *env;
    inbox_outcome outcome;
} inbox_call;

static int apply_one(domain *d, MDB_txn *txn, void *ctx)
{
    inbox_call *c = ctx;
    return inbox_event(d, txn, c->env, &c->outcome);
}

int fx_inbox(fx_org *o, const polku_envelope *env, inbox_outcome *outcome)
{
    inbox_call c = {.env = env, .outcome = INBOX_NOT_APPLICABLE};
    int rc = fx_run(o, apply_one, &c);
    if (outcome)
        *outcome = c.outcome;
    return rc;
}

size_t fx_deliver(fx_region *r, fx_org *from)
{
    size_t n = 0;
    while (from->delivered < fx_last_seq(from)) {
        polku_envelope *env = fx_event(from, ++from->delivered);
        if (!env)
            fail("an event of the log cannot be read", POLKU_ESTORE);
        for (size_t i = 0; i < env->n_to; i++) {
            fx_org *to = fx_org_of(r, env->to[i]);
            if (to && fx_inbox(to, env, NULL) == POLKU_OK)
                n++;
        }
        polku_envelope_free(&env);
    }
    return n;
}

void fx_settle(fx_region *r)
{
    for (size_t moved = 1; moved;) {
        moved = 0;
        for (size_t i = 0; i < r->n; i++)
            moved += fx_deliver(r, &r->org[i]);
    }
}

#define FX_GET(name, type, getter)                                             \
    type *fx_##name(fx_org *o, const uint8_t id[16])                           \
    {                                                                          \
        MDB_txn *txn = NULL;                                                   \
        type *out = NULL;                                                      \
        if (mdb_txn_begin(o->st.env, NULL, MDB_RDONLY, &txn))                  \
            return NULL;                                                       \
        if (getter(&o->st, txn, id, &out))                                     \
            out = NULL;                                                        \
        mdb_txn_abort(txn);                                                    \
        return out;                                                            \
    }

FX_GET(referral, Polku__ReferralRecord, store_referral_get)
FX_GET(handover, Polku__HandoverRecord, store_handover_get)
FX_GET(path, Polku__PathRecord, store_path_get)
FX_GET(consent, Polku__ConsentRecord, store_consent_get)

typedef struct grant_call {
    consent_new c;
    Polku__ConsentRecord *r;
} grant_call;

static int grant(domain *d, MDB_txn *txn, void *ctx)
{
    grant_call *g = ctx;
    return consents_grant(d, txn, &g->c, &g->r);
}

int fx_consent_grant(fx_org *o, const uint8_t client[16],
                     const char *const orgs[], uint8_t id[16])
{
    grant_call g = {.c = {.purposes = {"referral", "handover", "path", "plan"},
                          .n_purposes = 4,
                          .form = "written"}};
    memcpy(g.c.client_key, client, 16);
    for (size_t i = 0; orgs[i] && i < CONSENT_MAX_ORGS; i++)
        g.c.orgs[g.c.n_orgs++] = orgs[i];
    g.c.valid_until_ms = o->d.clock_ms + 365ull * 86400000;
    int rc = fx_run(o, grant, &g);
    if (rc == POLKU_OK) {
        memcpy(id, g.r->id.data, 16);
        polku__consent_record__free_unpacked(g.r, NULL);
    }
    return rc;
}

static int answer_claim(domain *d, MDB_txn *txn, void *ctx)
{
    return inbox_claim_answered(d, txn, ctx);
}

int fx_claim_answer(fx_org *o, const uint8_t client[16],
                    const uint8_t claim_id[16], Polku__ClaimOutcome outcome,
                    const char *coordinator, uint32_t term, uint64_t since_ms)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClaimAnswered a = POLKU__PATH_CLAIM_ANSWERED__INIT;
    env.origin_org = (char *)""; /* the broker */
    env.client_key = (ProtobufCBinaryData){16, (uint8_t *)client};
    a.claim_id = (ProtobufCBinaryData){16, (uint8_t *)claim_id};
    a.outcome = outcome;
    a.coordinator = (char *)coordinator;
    a.term = term;
    a.since_ms = since_ms;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    env.path_claim_answered = &a;
    return fx_run(o, answer_claim, &env);
}

typedef struct claim_call {
    const uint8_t *client;
    domain_refusal why;
    Polku__PathRecord *p;
    bool decided;
} claim_call;

static int claim(domain *d, MDB_txn *txn, void *ctx)
{
    claim_call *c = ctx;
    return paths_claim(d, txn, c->client, &c->why, &c->p, &c->decided);
}

int fx_coordinate(fx_org *o, const uint8_t client[16], uint32_t term)
{
    claim_call c = {.client = client};
    int rc = fx_run(o, claim, &c);
    if (rc == POLKU_OK && c.decided)
        rc = POLKU_EEXIST; /* it coordinates already: no claim was sent */
    if (rc == POLKU_OK)
        rc = fx_claim_answer(o, client, c.p->claim_id.data,
                             POLKU__CLAIM_OUTCOME__CLAIM_WON, o->cfg.org, term,
                             o->d.clock_ms);
    if (c.p)
        polku__path_record__free_unpacked(c.p, NULL);
    return rc;
}
