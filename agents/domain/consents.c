/* consents.c — recording, distributing and checking consents (see .h). */
#include "consents.h"

#include "records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/log.h"

static char **dup_list(const char *const *src, size_t n)
{
    char **list = calloc(n ? n : 1, sizeof *list);
    for (size_t i = 0; list && i < n; i++)
        list[i] = strdup(src[i]);
    return list;
}

static Polku__ConsentRecord *record_new(const uint8_t id[16])
{
    Polku__ConsentRecord *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    polku__consent_record__init(r);
    r->id.data = malloc(16);
    r->id.len = 16;
    memcpy(r->id.data, id, 16);
    r->form = strdup("");
    r->recorded_by = strdup("");
    r->revoked_by = strdup("");
    r->revoke_reason = strdup("");
    return r;
}

static bool has(char *const *list, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], x) == 0)
            return true;
    return false;
}

/* Sends body to every org in scope but this one. */
static int emit_to_scope(domain *d, MDB_txn *txn, polku_envelope *env,
                         const Polku__ConsentRecord *r)
{
    char *to[CONSENT_MAX_ORGS + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->n_orgs && n < CONSENT_MAX_ORGS + 1; i++)
        if (strcmp(r->orgs[i], d->org) != 0)
            to[n++] = r->orgs[i];
    env->to = to;
    env->n_to = n;
    env->client_key = r->client_key;
    int rc = eventlog_emit(d->log, txn, env, NULL);
    env->to = NULL;
    env->n_to = 0;
    return rc;
}

int consents_grant(domain *d, MDB_txn *txn, const consent_new *c,
                   Polku__ConsentRecord **out)
{
    uint64_t now = domain_now(d);
    polku_id id = polku_id_new(now);
    Polku__ConsentRecord *r = record_new(id.b);
    if (!r)
        return POLKU_ENOMEM;
    r->client_key.data = malloc(16);
    r->client_key.len = 16;
    memcpy(r->client_key.data, c->client_key, 16);
    /* the recording organisation is always in scope */
    const char *orgs[CONSENT_MAX_ORGS + 1];
    size_t n_orgs = 0;
    for (size_t i = 0; i < c->n_orgs && i < CONSENT_MAX_ORGS + 1; i++)
        orgs[n_orgs++] = c->orgs[i];
    if (!has((char *const *)orgs, n_orgs, d->org) &&
        n_orgs < CONSENT_MAX_ORGS + 1)
        orgs[n_orgs++] = d->org;
    r->orgs = dup_list(orgs, n_orgs);
    r->n_orgs = n_orgs;
    r->purposes = dup_list(c->purposes, c->n_purposes);
    r->n_purposes = c->n_purposes;
    r->valid_until_ms = c->valid_until_ms;
    int trc = record_set_text(&r->form, c->form);
    if (!trc)
        trc = record_set_text(&r->recorded_by, d->org);
    if (trc || !r->orgs || !r->purposes) {
        polku__consent_record__free_unpacked(r, NULL);
        return POLKU_ENOMEM;
    }
    r->created_ms = now;

    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ConsentGranted g = POLKU__CONSENT_GRANTED__INIT;
    g.consent_id = r->id;
    g.orgs = r->orgs;
    g.n_orgs = r->n_orgs;
    g.purposes = r->purposes;
    g.n_purposes = r->n_purposes;
    g.valid_until_ms = r->valid_until_ms;
    g.form = r->form;
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    env.consent_granted = &g;
    int rc = store_consent_put(d->st, txn, r);
    if (!rc)
        rc = emit_to_scope(d, txn, &env, r);
    if (rc) {
        polku__consent_record__free_unpacked(r, NULL);
        return rc;
    }
    char idtext[POLKU_ID_TEXT];
    polku_id_format(&id, idtext);
    batch_after_log(d->b, POLKU_LOG_INFO,
                    "consent %s recorded for %zu organisations", idtext,
                    r->n_orgs);
    *out = r;
    return POLKU_OK;
}

int consents_revoke(domain *d, MDB_txn *txn, const uint8_t id[16],
                    const char *reason, Polku__ConsentRecord **out)
{
    Polku__ConsentRecord *r = NULL;
    int rc = store_consent_get(d->st, txn, id, &r);
    if (rc)
        return rc;
    if (r->revoked || r->client_key.len != 16) {
        /* a tombstone (revocation seen, grant not yet) is not known here */
        rc = r->client_key.len != 16 ? POLKU_ENOTFOUND : POLKU_EEXIST;
        polku__consent_record__free_unpacked(r, NULL);
        return rc;
    }
    r->revoked = true;
    r->revoked_ms = domain_now(d);
    rc = record_set_text(&r->revoked_by, d->org);
    if (!rc)
        rc = record_set_text(&r->revoke_reason, reason);
    if (rc) {
        polku__consent_record__free_unpacked(r, NULL);
        return rc;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ConsentRevoked rv = POLKU__CONSENT_REVOKED__INIT;
    rv.consent_id = r->id;
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_REVOKED;
    env.consent_revoked = &rv;
    rc = store_consent_put(d->st, txn, r);
    if (!rc)
        rc = emit_to_scope(d, txn, &env, r);
    if (rc) {
        polku__consent_record__free_unpacked(r, NULL);
        return rc;
    }
    char idtext[POLKU_ID_TEXT];
    batch_after_log(d->b, POLKU_LOG_INFO, "consent %s revoked here",
                    polku_id_text(id, idtext));
    *out = r;
    return POLKU_OK;
}

static int on_granted(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__ConsentGranted *g = env->consent_granted;
    if (env->client_key.len != 16 || !has(g->orgs, g->n_orgs, d->org) ||
        !has(g->orgs, g->n_orgs, env->origin_org))
        return POLKU_EINVAL;
    Polku__ConsentRecord *r = NULL;
    int rc = store_consent_get(d->st, txn, g->consent_id.data, &r);
    if (rc == POLKU_OK && r->client_key.len == 16) {
        polku__consent_record__free_unpacked(r, NULL);
        return POLKU_OK; /* already known */
    }
    if (rc == POLKU_ENOTFOUND)
        r = record_new(g->consent_id.data);
    else if (rc)
        return rc;
    if (!r)
        return POLKU_ENOMEM;
    /* r may be a tombstone: a revocation that overtook its grant. Only an
     * organisation in the grant's scope may revoke it; a revocation from
     * outside could not be judged before, and is dropped now. */
    if (r->revoked && !has(g->orgs, g->n_orgs, r->revoked_by)) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_WARN,
                        "consent %s: an earlier revocation by %s, outside its "
                        "scope, dropped",
                        polku_id_text(g->consent_id.data, idtext),
                        r->revoked_by);
        r->revoked = false;
        r->revoked_ms = 0;
        rc = record_set_text(&r->revoked_by, "");
        if (rc) {
            polku__consent_record__free_unpacked(r, NULL);
            return rc;
        }
    }
    r->client_key.data = malloc(16);
    r->client_key.len = 16;
    memcpy(r->client_key.data, env->client_key.data, 16);
    r->orgs = dup_list((const char *const *)g->orgs, g->n_orgs);
    r->n_orgs = g->n_orgs;
    r->purposes = dup_list((const char *const *)g->purposes, g->n_purposes);
    r->n_purposes = g->n_purposes;
    r->valid_until_ms = g->valid_until_ms;
    rc = record_set_text(&r->form, g->form);
    if (!rc)
        rc = record_set_text(&r->recorded_by, env->origin_org);
    r->created_ms = env->time_ms;
    if (!rc)
        rc = store_consent_put(d->st, txn, r);
    polku__consent_record__free_unpacked(r, NULL);
    return rc;
}

static int on_revoked(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__ConsentRevoked *rv = env->consent_revoked;
    Polku__ConsentRecord *r = NULL;
    int rc = store_consent_get(d->st, txn, rv->consent_id.data, &r);
    if (rc == POLKU_ENOTFOUND)
        r = record_new(rv->consent_id.data);
    else if (rc)
        return rc;
    if (!r)
        return POLKU_ENOMEM;
    if (r->client_key.len == 16 && !has(r->orgs, r->n_orgs, env->origin_org)) {
        polku__consent_record__free_unpacked(r, NULL);
        return POLKU_EFORBIDDEN; /* only an org in scope may revoke */
    }
    if (!r->revoked) {
        r->revoked = true;
        r->revoked_ms = env->time_ms;
        rc = record_set_text(&r->revoked_by, env->origin_org);
        if (!rc)
            rc = store_consent_put(d->st, txn, r);
    }
    polku__consent_record__free_unpacked(r, NULL);
    return rc;
}

int consents_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    if (env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED)
        return on_granted(d, txn, env);
    if (env->body_case == POLKU__ENVELOPE__BODY_CONSENT_REVOKED)
        return on_revoked(d, txn, env);
    return POLKU_EINVAL;
}

typedef struct find_ctx {
    const char *org_a, *org_b, *purpose;
    uint64_t now;
    bool found;
    uint64_t best_until;
    uint8_t id[16];
    char recorded_by[33];
} find_ctx;

bool consents_active(const Polku__ConsentRecord *r, uint64_t now)
{
    return !r->revoked && r->client_key.len == 16 && r->valid_until_ms > now;
}

static int match(Polku__ConsentRecord *r, void *arg)
{
    find_ctx *f = arg;
    if (consents_active(r, f->now) && has(r->orgs, r->n_orgs, f->org_a) &&
        has(r->orgs, r->n_orgs, f->org_b) &&
        (!f->purpose || has(r->purposes, r->n_purposes, f->purpose)) &&
        (!f->found || r->valid_until_ms > f->best_until)) {
        f->found = true;
        f->best_until = r->valid_until_ms; /* the longest-lived one */
        memcpy(f->id, r->id.data, 16);
        snprintf(f->recorded_by, sizeof f->recorded_by, "%s", r->recorded_by);
    }
    return 0;
}

int consents_find_active(domain *d, MDB_txn *txn, const uint8_t client[16],
                         const char *org_a, const char *org_b,
                         const char *purpose, uint64_t now_ms, uint8_t id[16],
                         char *recorded_by)
{
    find_ctx f = {
        .org_a = org_a, .org_b = org_b, .purpose = purpose, .now = now_ms};
    int rc = store_consents_of_client(d->st, txn, client, match, &f);
    if (rc)
        return rc;
    if (!f.found)
        return POLKU_EFORBIDDEN;
    memcpy(id, f.id, 16);
    strcpy(recorded_by, f.recorded_by);
    return POLKU_OK;
}

int consents_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                           const char *dest, const char *code)
{
    const ProtobufCBinaryData *id =
        env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED
            ? &env->consent_granted->consent_id
            : &env->consent_revoked->consent_id;
    if (id->len != 16)
        return POLKU_OK;
    Polku__ConsentRecord *r = NULL;
    int rc = store_consent_get(d->st, txn, id->data, &r);
    if (rc)
        return rc == POLKU_ENOTFOUND ? POLKU_OK : rc;
    char entry[80];
    snprintf(entry, sizeof entry, "%s:%s", dest && *dest ? dest : "broker",
             code);
    bool fresh = !has(r->undelivered, r->n_undelivered, entry);
    if (fresh) {
        char **list =
            realloc(r->undelivered, (r->n_undelivered + 1) * sizeof *list);
        char *copy = strdup(entry);
        if (!list || !copy) {
            if (list)
                r->undelivered = list;
            free(copy);
            polku__consent_record__free_unpacked(r, NULL);
            return POLKU_ENOMEM;
        }
        r->undelivered = list;
        r->undelivered[r->n_undelivered++] = copy;
        rc = store_consent_put(d->st, txn, r);
    }
    if (!rc && fresh) { /* a repeated Nack changes nothing: log once */
        char idtext[POLKU_ID_TEXT];
        polku_id_text(id->data, idtext);
        batch_after_log(d->b, POLKU_LOG_WARN,
                        "consent %s could not be delivered to %s: %s", idtext,
                        dest && *dest ? dest : "the broker", code);
    }
    polku__consent_record__free_unpacked(r, NULL);
    return rc;
}

int consents_scope(domain *d, MDB_txn *txn, const uint8_t client[16],
                   const char *org, const char *purpose, uint64_t now_ms,
                   uint8_t id[16], char *recorded_by, const char **others,
                   size_t *n_others, size_t max)
{
    find_ctx f = {
        .org_a = org, .org_b = org, .purpose = purpose, .now = now_ms};
    int rc = store_consents_of_client(d->st, txn, client, match, &f);
    if (rc)
        return rc;
    if (!f.found)
        return POLKU_EFORBIDDEN;
    Polku__ConsentRecord *r = NULL;
    rc = store_consent_get(d->st, txn, f.id, &r);
    if (rc)
        return rc;
    *n_others = 0;
    for (size_t i = 0; i < r->n_orgs && *n_others < max; i++) {
        if (strcmp(r->orgs[i], org) == 0)
            continue;
        /* names must outlive r: point at the directory's copy */
        const char *name = directory_org_name(d->dir, r->orgs[i]);
        if (name)
            others[(*n_others)++] = name;
    }
    polku__consent_record__free_unpacked(r, NULL);
    memcpy(id, f.id, 16);
    strcpy(recorded_by, f.recorded_by);
    return POLKU_OK;
}
