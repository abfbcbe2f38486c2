/* consent_index.c — consents folded in memory, keyed by consent id. */
#include "consent_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/id.h"
#include "idmap.h"
#include "polku/error.h"
#include "pool.h"

#define CI_MAX_ORGS 64

typedef struct ci_entry {
    uint8_t id[16];
    bool granted; /* false: only a revocation has been seen */
    bool revoked;
    uint8_t client_key[16];
    char (*orgs)[33]; /* n_orgs of them */
    size_t n_orgs;
    unsigned purposes; /* bit per purpose */
    uint64_t valid_until_ms;
    uint64_t delivered; /* bit per org of orgs the grant was routed to */
    bool distributed;   /* routed to every org of the scope (or replayed) */
    bool changed;       /* on the changed list (ci_take_changed) */
    struct ci_entry *next_changed;
} ci_entry;

/* The consents of one client (for "has every org that could know about
 * this client been replayed?"). */
typedef struct ci_client {
    uint8_t key[16];
    ci_entry **entries;
    size_t n, cap;
} ci_client;

struct consent_index {
    idmap entries;                /* ci_entry by consent id, in entry_pool */
    idmap clients;                /* ci_client by client key, in client_pool */
    pool entry_pool, client_pool; /* freed with the index */
    ci_entry *changed;            /* granted or revoked since ci_take_changed */
    /* The consent and client found last: the gate, the fold and the
     * alerts ask about the same ones in turn (a referral's consent is
     * asked whether it is active, whose it is and until when). Freed only
     * with the index, so a pointer kept here stays valid. Behind a pointer
     * so that the const lookups may update it. */
    struct ci_last {
        ci_entry *entry;
        ci_client *client;
    } * last;
};

static void note_changed(consent_index *ci, ci_entry *e)
{
    if (e->changed)
        return;
    e->changed = true;
    e->next_changed = ci->changed;
    ci->changed = e;
}

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
    consent_index *ci = calloc(1, sizeof(consent_index));
    if (ci && !(ci->last = calloc(1, sizeof *ci->last))) {
        free(ci);
        return NULL;
    }
    if (ci) {
        idmap_init(&ci->entries, offsetof(ci_entry, id));
        idmap_init(&ci->clients, offsetof(ci_client, key));
        pool_init(&ci->entry_pool, sizeof(ci_entry), 0);
        pool_init(&ci->client_pool, sizeof(ci_client), 0);
    }
    return ci;
}

void ci_presize(consent_index *ci, size_t consents, size_t clients)
{
    idmap_presize(&ci->entries, consents);
    idmap_presize(&ci->clients, clients);
}

void ci_destroy(consent_index **ci)
{
    if (!ci || !*ci)
        return;
    ci_entry *e;
    for (pool_cursor at = pool_begin(&(*ci)->entry_pool);
         (e = pool_next(&(*ci)->entry_pool, &at));)
        free(e->orgs);
    ci_client *c;
    for (pool_cursor at = pool_begin(&(*ci)->client_pool);
         (c = pool_next(&(*ci)->client_pool, &at));)
        free(c->entries);
    idmap_fini(&(*ci)->entries);
    idmap_fini(&(*ci)->clients);
    pool_fini(&(*ci)->entry_pool);
    pool_fini(&(*ci)->client_pool);
    free((*ci)->last);
    free(*ci);
    *ci = NULL;
}

static ci_entry *entry_get(consent_index *ci, const uint8_t id[16], bool create)
{
    ci_entry *e = ci->last->entry;
    if (e && memcmp(e->id, id, 16) == 0)
        return e;
    e = idmap_find(&ci->entries, id);
    if (!e && create && idmap_reserve(&ci->entries) == POLKU_OK &&
        (e = pool_calloc(&ci->entry_pool))) {
        memcpy(e->id, id, 16);
        idmap_put(&ci->entries, e); /* reserved: cannot fail */
    }
    if (e)
        ci->last->entry = e;
    return e;
}

/* The client's consents, or NULL. */
static ci_client *client_of(const consent_index *ci, const uint8_t key[16])
{
    ci_client *c = ci->last->client;
    if (c && memcmp(c->key, key, 16) == 0)
        return c;
    c = idmap_find(&ci->clients, key);
    if (c)
        ci->last->client = c;
    return c;
}

static bool in_scope(const ci_entry *e, const char *org)
{
    for (size_t i = 0; i < e->n_orgs; i++)
        if (strcmp(e->orgs[i], org) == 0)
            return true;
    return false;
}

static void index_by_client(consent_index *ci, ci_entry *e)
{
    ci_client *c = client_of(ci, e->client_key);
    if (!c) {
        if (idmap_reserve(&ci->clients) != POLKU_OK ||
            !(c = pool_calloc(&ci->client_pool)))
            return;
        memcpy(c->key, e->client_key, 16);
        idmap_put(&ci->clients, c); /* reserved: cannot fail */
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        ci_entry **list = realloc(c->entries, cap * sizeof *list);
        if (!list)
            return;
        c->entries = list;
        c->cap = cap;
    }
    c->entries[c->n++] = e;
}

static void apply_granted(consent_index *ci, const polku_envelope *env)
{
    const Polku__ConsentGranted *g = env->consent_granted;
    if (env->client_key.len != 16)
        return;
    ci_entry *e = entry_get(ci, g->consent_id.data, true);
    if (!e || e->granted)
        return;
    e->orgs = calloc(g->n_orgs ? g->n_orgs : 1, sizeof *e->orgs);
    if (!e->orgs)
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
    index_by_client(ci, e);
    note_changed(ci, e);
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
        if (e && (!e->granted || in_scope(e, env->origin_org))) {
            e->revoked = true;
            note_changed(ci, e);
        }
    }
}

void ci_take_changed(consent_index *ci, ci_key_fn fn, void *arg)
{
    ci_entry *e = ci->changed;
    ci->changed = NULL;
    while (e) {
        ci_entry *next = e->next_changed;
        e->changed = false;
        e->next_changed = NULL;
        if (fn && e->granted)
            fn(e->client_key, arg);
        e = next;
    }
}

bool ci_consent_owner(const consent_index *ci, const uint8_t id[16],
                      uint8_t key[16])
{
    ci_entry *e = entry_get((consent_index *)ci, id, false);
    if (!e || !e->granted)
        return false;
    memcpy(key, e->client_key, 16);
    return true;
}

static bool entry_active(const ci_entry *e, uint64_t now_ms)
{
    return e->granted && !e->revoked && e->valid_until_ms > now_ms;
}

static bool scope_replayed(const ci_entry *e, ci_replayed_fn replayed,
                           void *arg)
{
    for (size_t i = 0; i < e->n_orgs; i++)
        if (!replayed(arg, e->orgs[i]))
            return false;
    return true;
}

/* The consent an event relies on, by body. */
static bool consent_ref(const polku_envelope *env, ProtobufCBinaryData *id,
                        const char **recorded_by)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        *id = env->referral_requested->consent_id;
        *recorded_by = env->referral_requested->consent_recorded_by;
        return true;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        *id = env->handover_offered->consent_id;
        *recorded_by = env->handover_offered->consent_recorded_by;
        return true;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        *id = env->plan_updated->consent_id;
        *recorded_by = env->plan_updated->consent_recorded_by;
        return true;
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        *id = env->path_claimed->consent_id;
        *recorded_by = env->path_claimed->consent_recorded_by;
        return true;
    default:
        return false;
    }
}

/* The grant env relies on: 0 with *grant, or why there is none yet —
 * NACK_RETRY_LATER while its recorder's log may still hold it. *seen gets
 * the entry even when only a revocation of it has been seen. */
static Polku__NackCode grant_of(const consent_index *ci,
                                const polku_envelope *env,
                                ci_replayed_fn replayed, void *arg,
                                ci_entry **seen)
{
    ProtobufCBinaryData consent_id = {0, NULL};
    const char *rec = "";
    *seen = NULL;
    if (!consent_ref(env, &consent_id, &rec) || consent_id.len != 16 ||
        env->client_key.len != 16)
        return POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
    *seen = entry_get((consent_index *)ci, consent_id.data, false);
    if (*seen && (*seen)->granted)
        return 0;
    return rec && *rec && replayed(arg, rec)
               ? POLKU__NACK_CODE__NACK_CONSENT_REQUIRED
               : POLKU__NACK_CODE__NACK_RETRY_LATER;
}

/* The grant is the client's and covers sender, dest (NULL: any) and
 * purpose (NULL: any). */
static bool covers(const ci_entry *e, const polku_envelope *env,
                   const char *sender, const char *dest, const char *purpose)
{
    return memcmp(e->client_key, env->client_key.data, 16) == 0 &&
           in_scope(e, sender) && (!dest || in_scope(e, dest)) &&
           (!purpose || (e->purposes & purpose_bit(purpose)));
}

Polku__NackCode ci_check(const consent_index *ci, const polku_envelope *env,
                         const char *sender, const char *dest,
                         const char *purpose, uint64_t now_ms,
                         ci_replayed_fn replayed, void *arg)
{
    ci_entry *e = NULL;
    Polku__NackCode code = grant_of(ci, env, replayed, arg, &e);
    if (code)
        return e && e->revoked ? POLKU__NACK_CODE__NACK_CONSENT_REVOKED : code;
    if (!e->revoked && !scope_replayed(e, replayed, arg))
        return POLKU__NACK_CODE__NACK_RETRY_LATER; /* a revocation may wait */
    if (e->revoked || e->valid_until_ms <= now_ms)
        return POLKU__NACK_CODE__NACK_CONSENT_REVOKED;
    return covers(e, env, sender, dest, purpose)
               ? 0
               : POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
}

Polku__NackCode ci_check_scope(const consent_index *ci,
                               const polku_envelope *env, const char *sender,
                               const char *dest, const char *purpose,
                               ci_replayed_fn replayed, void *arg)
{
    ci_entry *e = NULL;
    Polku__NackCode code = grant_of(ci, env, replayed, arg, &e);
    if (code)
        return code;
    return covers(e, env, sender, dest, purpose)
               ? 0
               : POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
}

int ci_grant_scope(const consent_index *ci, const uint8_t id[16],
                   const char *org)
{
    ci_entry *e = entry_get((consent_index *)ci, id, false);
    if (!e || !e->granted)
        return -1;
    return in_scope(e, org) ? 1 : 0;
}

bool ci_grant_matches(const consent_index *ci, const polku_envelope *env)
{
    const Polku__ConsentGranted *g = env->consent_granted;
    ci_entry *e = entry_get((consent_index *)ci, g->consent_id.data, false);
    if (!e || !e->granted)
        return true; /* nothing to contradict */
    if (env->client_key.len != 16 ||
        memcmp(e->client_key, env->client_key.data, 16) != 0 ||
        e->n_orgs != g->n_orgs || e->valid_until_ms != g->valid_until_ms)
        return false;
    for (size_t i = 0; i < g->n_orgs; i++)
        if (!in_scope(e, g->orgs[i]))
            return false;
    return true;
}

void ci_mark_delivered(consent_index *ci, const uint8_t id[16], const char *org)
{
    ci_entry *e = entry_get(ci, id, false);
    if (!e || !e->granted)
        return;
    for (size_t i = 0; i < e->n_orgs; i++)
        if (strcmp(e->orgs[i], org) == 0)
            e->delivered |= 1ull << i;
    uint64_t all = e->n_orgs >= 64 ? ~0ull : (1ull << e->n_orgs) - 1;
    if ((e->delivered & all) == all)
        e->distributed = true;
}

void ci_mark_distributed(consent_index *ci, const uint8_t id[16])
{
    ci_entry *e = entry_get(ci, id, false);
    if (e && e->granted)
        e->distributed = true;
}

bool ci_allows_shared(const consent_index *ci, const uint8_t key[16],
                      const char *org, const char *purpose, uint64_t now_ms)
{
    ci_client *c = client_of(ci, key);
    unsigned bit = purpose ? purpose_bit(purpose) : ~0u;
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        if (e->distributed && entry_active(e, now_ms) && (e->purposes & bit) &&
            in_scope(e, org))
            return true;
    }
    return false;
}

bool ci_client_replayed(const consent_index *ci, const uint8_t key[16],
                        ci_replayed_fn replayed, void *arg)
{
    ci_client *c = client_of(ci, key);
    for (size_t i = 0; c && i < c->n; i++)
        if (!scope_replayed(c->entries[i], replayed, arg))
            return false;
    return true;
}

size_t ci_count(const consent_index *ci)
{
    return idmap_count(&ci->entries);
}

int ci_consent_active(const consent_index *ci, const uint8_t id[16],
                      uint64_t now_ms)
{
    ci_entry *e = entry_get((consent_index *)ci, id, false);
    if (!e || (!e->granted && !e->revoked))
        return -1;
    return entry_active(e, now_ms) ? 1 : 0;
}

uint64_t ci_consent_until(const consent_index *ci, const uint8_t id[16],
                          uint64_t now_ms)
{
    ci_entry *e = entry_get((consent_index *)ci, id, false);
    return e && entry_active(e, now_ms) ? e->valid_until_ms : 0;
}

uint64_t ci_client_next_end(const consent_index *ci, const uint8_t key[16],
                            uint64_t now_ms)
{
    ci_client *c = client_of(ci, key);
    uint64_t next = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        if (entry_active(e, now_ms) && (!next || e->valid_until_ms < next))
            next = e->valid_until_ms;
    }
    return next;
}

bool ci_allows(const consent_index *ci, const uint8_t key[16], const char *org,
               const char *purpose, uint64_t now_ms)
{
    ci_client *c = client_of(ci, key);
    unsigned bit = purpose ? purpose_bit(purpose) : ~0u;
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        if (entry_active(e, now_ms) && (e->purposes & bit) && in_scope(e, org))
            return true;
    }
    return false;
}

const char *ci_client_ended(const consent_index *ci, const uint8_t key[16],
                            uint64_t now_ms)
{
    ci_client *c = client_of(ci, key);
    bool granted = false, revoked = false;
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        if (!e->granted)
            continue;
        if (entry_active(e, now_ms))
            return NULL;
        granted = true;
        revoked |= e->revoked;
    }
    if (!granted)
        return NULL;
    return revoked ? "consent_revoked" : "consent_expired";
}

json_t *ci_client_json(const consent_index *ci, const uint8_t key[16],
                       uint64_t now_ms)
{
    ci_client *c = client_of(ci, key);
    json_t *list = json_array();
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        char id[POLKU_ID_TEXT];
        polku_id pid;
        memcpy(pid.b, e->id, 16);
        polku_id_format(&pid, id);
        json_t *orgs = json_array(), *purposes = json_array();
        for (size_t k = 0; k < e->n_orgs; k++)
            json_array_append_new(orgs, json_string(e->orgs[k]));
        for (unsigned k = 0; k < 4; k++)
            if (e->purposes & (1u << k))
                json_array_append_new(purposes, json_string(purpose_names[k]));
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:o, s:I, s:b}", "id", id, "orgs", orgs,
                            "purposes", purposes, "valid_until_ms",
                            (json_int_t)e->valid_until_ms, "active",
                            entry_active(e, now_ms)));
    }
    return list;
}

size_t ci_scope_orgs(const consent_index *ci, const uint8_t key[16],
                     const char *org, uint64_t now_ms, const char **out,
                     size_t max)
{
    ci_client *c = client_of(ci, key);
    size_t n = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        const ci_entry *e = c->entries[i];
        if (!entry_active(e, now_ms) || !in_scope(e, org))
            continue;
        for (size_t k = 0; k < e->n_orgs; k++) {
            bool seen = strcmp(e->orgs[k], org) == 0;
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcmp(out[j], e->orgs[k]) == 0;
            if (!seen && n < max)
                out[n++] = e->orgs[k];
        }
    }
    return n;
}
