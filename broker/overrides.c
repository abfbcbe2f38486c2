/* overrides.c — overrides by object id (see overrides.h). */
#include "overrides.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct ov_entry {
    uint8_t id[16];
    bool seen; /* the override itself (false: only a review so far) */
    uint8_t client_key[16];
    char used_by[33], to[33];
    char basis[16];
    const char *subject;
    uint64_t since_ms;
    char reviewer[33]; /* "" not reviewed */
    UT_hash_handle hh;
} ov_entry;

struct override_index {
    ov_entry *entries;
};

override_index *ov_new(void)
{
    return calloc(1, sizeof(override_index));
}

void ov_destroy(override_index **ov)
{
    if (!ov || !*ov)
        return;
    ov_entry *e, *tmp;
    HASH_ITER(hh, (*ov)->entries, e, tmp)
    {
        HASH_DEL((*ov)->entries, e);
        free(e);
    }
    free(*ov);
    *ov = NULL;
}

static ov_entry *entry_get(override_index *ov, const uint8_t id[16])
{
    ov_entry *e = NULL;
    HASH_FIND(hh, ov->entries, id, 16, e);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    memcpy(e->id, id, 16);
    HASH_ADD(hh, ov->entries, id, 16, e);
    return e;
}

static void carried(override_index *ov, const polku_envelope *env,
                    const ProtobufCBinaryData *id, const char *basis,
                    const char *subject)
{
    if (!basis[0] || id->len != 16 || env->n_to != 1)
        return;
    ov_entry *e = entry_get(ov, id->data);
    if (!e || e->seen)
        return; /* a resend: the first one stands */
    e->seen = true;
    memcpy(e->client_key, env->client_key.data, 16);
    snprintf(e->used_by, sizeof e->used_by, "%s", env->origin_org);
    snprintf(e->to, sizeof e->to, "%s", env->to[0]);
    snprintf(e->basis, sizeof e->basis, "%s", basis);
    e->subject = subject;
    e->since_ms = env->time_ms;
}

void ov_apply(override_index *ov, const polku_envelope *env)
{
    if (env->client_key.len != 16)
        return;
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        carried(ov, env, &env->referral_requested->referral_id,
                env->referral_requested->override_basis, "referral");
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        carried(ov, env, &env->handover_offered->handover_id,
                env->handover_offered->override_basis, "handover");
        break;
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED: {
        const Polku__OverrideReviewed *r = env->override_reviewed;
        if (r->object_id.len != 16)
            return;
        ov_entry *e = entry_get(ov, r->object_id.data);
        if (e && !e->reviewer[0]) /* the first review stands */
            snprintf(e->reviewer, sizeof e->reviewer, "%s", r->reviewer);
        break;
    }
    default:
        break;
    }
}

static void view_of(const ov_entry *e, ov_view *v)
{
    *v = (ov_view){
        e->id,      e->client_key, e->used_by,  e->to,
        e->basis,   e->subject,    e->since_ms, e->reviewer[0] != '\0',
        e->reviewer};
}

bool ov_find(const override_index *ov, const uint8_t id[16], ov_view *out)
{
    ov_entry *e = NULL;
    HASH_FIND(hh, ov->entries, id, 16, e);
    if (!e || !e->seen)
        return false;
    view_of(e, out);
    return true;
}

void ov_each_open(const override_index *ov,
                  void (*fn)(const ov_view *v, void *arg), void *arg)
{
    for (const ov_entry *e = ov->entries; e; e = e->hh.next) {
        if (!e->seen || e->reviewer[0])
            continue;
        ov_view v;
        view_of(e, &v);
        fn(&v, arg);
    }
}

void ov_review_mac(const uint8_t key[32], const uint8_t client[16],
                   const uint8_t object_id[16], const char *used_by,
                   uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    static const char label[] = "polku override review v1";
    uint8_t n = (uint8_t)strlen(used_by);
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, sizeof label);
    crypto_auth_hmacsha256_update(&st, client, 16);
    crypto_auth_hmacsha256_update(&st, object_id, 16);
    crypto_auth_hmacsha256_update(&st, &n, 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)used_by, n);
    crypto_auth_hmacsha256_final(&st, out);
}

bool ov_review_verify(const uint8_t key[32], const polku_envelope *env)
{
    const Polku__OverrideReviewed *r = env->override_reviewed;
    if (env->client_key.len != 16 || r->object_id.len != 16 ||
        r->authenticator.len != 32 || strlen(r->used_by) > 32)
        return false;
    uint8_t mac[32];
    ov_review_mac(key, env->client_key.data, r->object_id.data, r->used_by,
                  mac);
    return sodium_memcmp(mac, r->authenticator.data, 32) == 0;
}
