/* directory.c — the region's organisations, from the broker (see .h). */
#include "directory.h"

#include <stdlib.h>
#include <string.h>

#include "polku/error.h"

void directory_init(directory *d, const char *self)
{
    d->self = self;
    d->w = NULL;
}

void directory_fini(directory *d)
{
    if (d->w)
        polku__welcome__free_unpacked(d->w, NULL);
    d->w = NULL;
}

bool directory_known(const directory *d)
{
    return d->w != NULL;
}

static const Polku__DirectoryEntry *entry(const directory *d, const char *org)
{
    for (size_t i = 0; d->w && i < d->w->n_directory; i++)
        if (strcmp(d->w->directory[i]->org, org) == 0)
            return d->w->directory[i];
    return NULL;
}

static bool lists(const Polku__DirectoryEntry *e, const char *service)
{
    for (size_t j = 0; j < e->n_services; j++)
        if (strcmp(e->services[j], service) == 0)
            return true;
    return false;
}

int directory_resolve_service(const directory *d, const char *service,
                              const char **org)
{
    *org = NULL;
    if (!d->w)
        return POLKU_EAGAIN;
    int found = 0;
    for (size_t i = 0; i < d->w->n_directory; i++) {
        const Polku__DirectoryEntry *e = d->w->directory[i];
        if (strcmp(e->org, d->self) != 0 && lists(e, service) && found++ == 0)
            *org = e->org;
    }
    if (found > 1)
        *org = NULL;
    return found == 0 ? POLKU_ENOTFOUND : found > 1 ? POLKU_EEXIST : POLKU_OK;
}

bool directory_offers_service(const directory *d, const char *service)
{
    if (!d->w)
        return true; /* not known yet: the broker's gate decides */
    const Polku__DirectoryEntry *e = entry(d, d->self);
    return !e || lists(e, service);
}

const char *directory_public_key(const directory *d, const char *org)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    return e ? e->public_key : NULL;
}

const char *directory_previous_key(const directory *d, const char *org,
                                   uint64_t now_ms)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    if (!e || !e->previous_public_key || !*e->previous_public_key ||
        now_ms >= e->previous_key_until)
        return NULL;
    return e->previous_public_key;
}

const char *directory_org_name(const directory *d, const char *org)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    return e ? e->org : NULL;
}

bool directory_knows_org(const directory *d, const char *org)
{
    return entry(d, org) != NULL;
}

bool directory_org_offers(const directory *d, const char *org,
                          const char *service)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    return e && lists(e, service);
}

/* A Welcome packed, for the store or for a copy. */
static uint8_t *pack(const Polku__Welcome *w, size_t *len)
{
    *len = polku__welcome__get_packed_size(w);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        polku__welcome__pack(w, buf);
    return buf;
}

int directory_set(directory *d, const Polku__Welcome *w)
{
    size_t len = 0;
    uint8_t *buf = pack(w, &len);
    Polku__Welcome *copy = buf ? polku__welcome__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!copy)
        return POLKU_ENOMEM;
    directory_fini(d);
    d->w = copy;
    return POLKU_OK;
}

int directory_save(const directory *d, store *st, MDB_txn *txn)
{
    if (!d->w)
        return POLKU_OK;
    size_t len = 0;
    uint8_t *buf = pack(d->w, &len);
    if (!buf)
        return POLKU_ENOMEM;
    int rc = store_meta_put(st, txn, "directory", buf, len);
    free(buf);
    return rc;
}

int directory_load(directory *d, store *st)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    int rc = store_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc;
    rc = store_meta_get(st, txn, "directory", &v);
    if (rc == POLKU_OK) {
        directory_fini(d);
        d->w = polku__welcome__unpack(NULL, v.mv_size, v.mv_data);
    }
    mdb_txn_abort(txn);
    return rc == POLKU_ENOTFOUND ? POLKU_OK : rc;
}

size_t directory_count(const directory *d)
{
    return d->w ? d->w->n_directory : 0;
}

const char *directory_org_at(const directory *d, size_t i)
{
    return d->w && i < d->w->n_directory ? d->w->directory[i]->org : NULL;
}

bool directory_may_override(const directory *d, const char *org,
                            const char *basis)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    for (size_t i = 0; e && basis && i < e->n_overrides; i++)
        if (strcmp(e->overrides[i], basis) == 0)
            return true;
    return false;
}

const char *directory_sign_key(const directory *d, const char *org)
{
    const Polku__DirectoryEntry *e = entry(d, org);
    return e && e->sign_key && *e->sign_key ? e->sign_key : NULL;
}
