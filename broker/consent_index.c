/* consent_index.c — consents folded in memory, keyed by consent id. */
#include "consent_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define CI_MAX_ORGS 64

typedef struct ci_entry {
    uint8_t id[16];
    bool granted; /* false: only a revocation has been seen */
    bool revoked;
    uint8_t client_key[16];
    char orgs[CI_MAX_ORGS][33];
    size_t n_orgs;
    unsigned purposes; /* bit per purpose */
    uint64_t valid_until_ms;
    UT_hash_handle hh;
} ci_entry;

struct consent_index {
    ci_entry *entries;
};

static const char *const purpose_names[] = {"referral", "handover", "path",
                                            "plan"};

static unsigned purpose_bit(const char *p)
{
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(p, purpose_names[i]) == 0)
            return 1u << i;
    return 0;
}

consent_index *ci_new(void)
{
    return calloc(1, sizeof(consent_index));
}

void ci_destroy(consent_index **ci)
{
    if (!ci || !*ci)
        return;
    ci_entry *e, *tmp;
    HASH_ITER(hh, (*ci)->entries, e, tmp)
    {
        HASH_DEL((*ci)->entries, e);
        free(e);
    }
    free(*ci);
    *ci = NULL;
}

static ci_entry *entry_get(consent_index *ci, const uint8_t id[16], bool create)
{
    ci_entry *e = NULL;
    HASH_FIND(hh, ci->entries, id, 16, e);
    if (e || !create)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    memcpy(e->id, id, 16);
    HASH_ADD(hh, ci->entries, id, 16, e);
    return e;
}

static bool in_scope(const ci_entry *e, const char *org)
{
    for (size_t i = 0; i < e->n_orgs; i++)
        if (strcmp(e->orgs[i], org) == 0)
            return true;
    return false;
}

static void apply_granted(consent_index *ci, const polku_envelope *env)
{
    const Polku__ConsentGranted *g = env->consent_granted;
    if (env->client_key.len != 16)
        return;
    ci_entry *e = entry_get(ci, g->consent_id.data, true);
    if (!e || e->granted)
        return;
    e->granted = true;
    memcpy(e->client_key, env->client_key.data, 16);
    for (size_t i = 0; i < g->n_orgs && i < CI_MAX_ORGS; i++)
        snprintf(e->orgs[e->n_orgs++], sizeof e->orgs[0], "%s", g->orgs[i]);
    for (size_t i = 0; i < g->n_purposes; i++)
        e->purposes |= purpose_bit(g->purposes[i]);
    e->valid_until_ms = g->valid_until_ms;
    if (!in_scope(e, env->origin_org))
        e->revoked = true; /* recorded by an org outside it: never valid */
}

void ci_apply(consent_index *ci, const polku_envelope *env)
{
    if (env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED) {
        apply_granted(ci, env);
    } else if (env->body_case == POLKU__ENVELOPE__BODY_CONSENT_REVOKED) {
        ci_entry *e =
            entry_get(ci, env->consent_revoked->consent_id.data, true);
        /* only an org in scope may revoke; before the grant is seen we
         * cannot tell, and a revocation is the safe side */
        if (e && (!e->granted || in_scope(e, env->origin_org)))
            e->revoked = true;
    }
}

static bool scope_replayed(const ci_entry *e, ci_replayed_fn replayed,
                           void *arg)
{
    for (size_t i = 0; i < e->n_orgs; i++)
        if (!replayed(arg, e->orgs[i]))
            return false;
    return true;
}

Polku__NackCode ci_check(const consent_index *ci, const polku_envelope *env,
                         const char *sender, const char *dest,
                         const char *purpose, uint64_t now_ms,
                         ci_replayed_fn replayed, void *arg)
{
    const Polku__ReferralRequested *q = env->referral_requested;
    if (q->consent_id.len != 16 || env->client_key.len != 16)
        return POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
    ci_entry *e = entry_get((consent_index *)ci, q->consent_id.data, false);
    if (!e || !e->granted) {
        if (e && e->revoked)
            return POLKU__NACK_CODE__NACK_CONSENT_REVOKED;
        const char *rec = q->consent_recorded_by;
        return *rec && replayed(arg, rec)
                   ? POLKU__NACK_CODE__NACK_CONSENT_REQUIRED
                   : POLKU__NACK_CODE__NACK_RETRY_LATER;
    }
    if (!e->revoked && !scope_replayed(e, replayed, arg))
        return POLKU__NACK_CODE__NACK_RETRY_LATER; /* a revocation may wait */
    if (e->revoked || e->valid_until_ms <= now_ms)
        return POLKU__NACK_CODE__NACK_CONSENT_REVOKED;
    if (memcmp(e->client_key, env->client_key.data, 16) != 0 ||
        !in_scope(e, sender) || !in_scope(e, dest) ||
        !(e->purposes & purpose_bit(purpose)))
        return POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
    return 0;
}

size_t ci_count(const consent_index *ci)
{
    return HASH_COUNT(ci->entries);
}
