/* access.c — the access report's rows from the event log (see access.h). */
#include "access.h"

#include <stdlib.h>
#include <string.h>

#include "consents.h"
#include "polku/error.h"
#include "polku/referral.h"

typedef struct collect {
    domain *d;
    MDB_txn *txn;
    const uint8_t *client;
    Polku__AccessAnswer *out;
    size_t cap;
    int rc;
} collect;

static char *dup_s(const char *s)
{
    return strdup(s ? s : "");
}

static int set_bytes(ProtobufCBinaryData *f, const uint8_t *data, size_t len)
{
    f->len = 0;
    f->data = NULL;
    if (!len)
        return POLKU_OK;
    f->data = malloc(len);
    if (!f->data)
        return POLKU_ENOMEM;
    memcpy(f->data, data, len);
    f->len = len;
    return POLKU_OK;
}

/* The consent or override a referral or handover relies on, as the local
 * record holds it. */
static void object_basis(collect *c, Polku__AccessEntry *e, bool referral,
                         const uint8_t id[16])
{
    const ProtobufCBinaryData *consent = NULL;
    const Polku__OverrideRecord *ov = NULL;
    Polku__ReferralRecord *r = NULL;
    Polku__HandoverRecord *h = NULL;
    if (referral && store_referral_get(c->d->st, c->txn, id, &r) == 0) {
        consent = &r->consent_id;
        ov = r->override;
    } else if (!referral && store_handover_get(c->d->st, c->txn, id, &h) == 0) {
        consent = &h->consent_id;
        ov = h->override;
    }
    if (consent && consent->len == 16 && !e->consent_id.len)
        set_bytes(&e->consent_id, consent->data, 16);
    if (ov && !e->override_basis[0]) {
        free(e->override_basis);
        e->override_basis = dup_s(ov->basis);
    }
    if (r)
        polku__referral_record__free_unpacked(r, NULL);
    if (h)
        polku__handover_record__free_unpacked(h, NULL);
}

static const char *handover_status(unsigned s)
{
    static const char *const names[] = {"",         "offered",   "accepted",
                                        "declined", "withdrawn", "failed"};
    return s < 6 ? names[s] : "";
}

/* What the row says beyond the header: object, consent, purpose, basis. */
static int describe(collect *c, const polku_envelope *env,
                    Polku__AccessEntry *e)
{
    const char *purpose = "", *status = "", *basis = "";
    const ProtobufCBinaryData *consent = NULL;
    uint8_t obj[16];
    bool has_obj = polku_event_object_id(env, obj);
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        purpose = "referral";
        consent = &env->referral_requested->consent_id;
        basis = env->referral_requested->override_basis;
        status = "requested";
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        purpose = "referral";
        status = polku_referral_state_name(env->referral_status->status);
        break;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        purpose = "referral";
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        purpose = "handover";
        consent = &env->handover_offered->consent_id;
        basis = env->handover_offered->override_basis;
        status = "offered";
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        purpose = "handover";
        status = handover_status(env->handover_answered->status);
        break;
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        purpose = "handover";
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        purpose = "consent";
        consent = env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED
                      ? &env->consent_granted->consent_id
                      : &env->consent_revoked->consent_id;
        has_obj = false; /* the consent is the row's consent */
        break;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        purpose = "plan";
        consent = &env->plan_updated->consent_id;
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        purpose = "path";
        consent = &env->path_claimed->consent_id;
        if (env->path_claimed->claim_id.len == 16) {
            memcpy(obj, env->path_claimed->claim_id.data, 16);
            has_obj = true;
        }
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        purpose = "path";
        break;
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        break;
    default:
        break;
    }
    int rc = has_obj ? set_bytes(&e->object_id, obj, 16) : POLKU_OK;
    if (!rc && consent && consent->len == 16)
        rc = set_bytes(&e->consent_id, consent->data, 16);
    if (rc)
        return rc;
    e->purpose = dup_s(purpose);
    e->status = dup_s(status);
    e->override_basis = dup_s(basis);
    if (!e->purpose || !e->status || !e->override_basis)
        return POLKU_ENOMEM;
    if (has_obj && (env->body_case == POLKU__ENVELOPE__BODY_REFERRAL_STATUS ||
                    env->body_case == POLKU__ENVELOPE__BODY_CANCEL_REQUESTED))
        object_basis(c, e, true, obj);
    if (has_obj && (env->body_case == POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED ||
                    env->body_case == POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED))
        object_basis(c, e, false, obj);
    return POLKU_OK;
}

static void entry_free(Polku__AccessEntry *e)
{
    if (!e)
        return;
    free(e->kind);
    free(e->object_id.data);
    for (size_t i = 0; i < e->n_to; i++)
        free(e->to[i]);
    free(e->to);
    free(e->consent_id.data);
    free(e->purpose);
    free(e->override_basis);
    free(e->status);
    free(e);
}

static Polku__AccessEntry *entry_of(collect *c, uint64_t seq,
                                    const polku_envelope *env)
{
    Polku__AccessEntry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    polku__access_entry__init(e);
    e->kind = e->purpose = e->override_basis = e->status = NULL;
    e->seq = seq;
    e->time_ms = env->time_ms;
    e->kind = dup_s(polku_body_name(env->body_case));
    e->to = env->n_to ? calloc(env->n_to, sizeof *e->to) : NULL;
    bool ok = e->kind && (!env->n_to || e->to);
    for (size_t i = 0; ok && i < env->n_to; i++) {
        e->to[i] = dup_s(env->to[i]);
        ok = e->to[i] != NULL;
        e->n_to = i + 1;
    }
    if (!ok || describe(c, env, e)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

static int on_event(void *arg, uint64_t seq, const void *data, size_t len)
{
    collect *c = arg;
    Polku__AccessAnswer *out = c->out;
    polku_envelope *env = NULL;
    char why[64];
    if (polku_envelope_decode(data, len, POLKU_MAX_FRAME_DEFAULT * 4, &env, why,
                              sizeof why) != POLKU_OK) {
        polku_envelope_free(&env);
        return 0; /* a damaged event is the store check's to name */
    }
    bool about = env->client_key.len == 16 &&
                 memcmp(env->client_key.data, c->client, 16) == 0;
    if (!about) {
        polku_envelope_free(&env);
        return 0;
    }
    if (out->n_entries == ACCESS_MAX_ENTRIES) {
        out->truncated = true;
        polku_envelope_free(&env);
        return 0;
    }
    if (out->n_entries == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        Polku__AccessEntry **grown = realloc(out->entries, cap * sizeof *grown);
        if (!grown) {
            polku_envelope_free(&env);
            c->rc = POLKU_ENOMEM;
            return 1;
        }
        out->entries = grown;
        c->cap = cap;
    }
    Polku__AccessEntry *e = entry_of(c, seq, env);
    polku_envelope_free(&env);
    if (!e) {
        c->rc = POLKU_ENOMEM;
        return 1;
    }
    out->entries[out->n_entries++] = e;
    return 0;
}

int access_collect(domain *d, MDB_txn *txn, const uint8_t client[16],
                   Polku__AccessAnswer *out)
{
    collect c = {d, txn, client, out, 0, POLKU_OK};
    out->entries = NULL;
    out->n_entries = 0;
    out->truncated = false;
    int rc = store_each_event(d->st, txn, 1, on_event, &c);
    if (c.rc)
        rc = c.rc;
    if (rc && rc != 1) {
        access_entries_free(out);
        return rc;
    }
    return POLKU_OK;
}

void access_entries_free(Polku__AccessAnswer *a)
{
    for (size_t i = 0; i < a->n_entries; i++)
        entry_free(a->entries[i]);
    free(a->entries);
    a->entries = NULL;
    a->n_entries = 0;
}

typedef struct scope_find {
    const char *self, *org;
    uint64_t now;
    bool found;
} scope_find;

static bool names(const Polku__ConsentRecord *r, const char *org)
{
    for (size_t i = 0; i < r->n_orgs; i++)
        if (strcmp(r->orgs[i], org) == 0)
            return true;
    return false;
}

static int scope_match(Polku__ConsentRecord *r, void *arg)
{
    scope_find *f = arg;
    if (consents_active(r, f->now) && names(r, f->self) && names(r, f->org))
        f->found = true;
    return 0;
}

bool access_asker_in_scope(domain *d, MDB_txn *txn, const uint8_t client[16],
                           const char *org)
{
    scope_find f = {d->org, org, domain_now(d), false};
    return store_consents_of_client(d->st, txn, client, scope_match, &f) ==
               POLKU_OK &&
           f.found;
}
