/* idmap.c — see idmap.h: ck_hs holding pointers to the records' keys. */
#include "idmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"

#define IDMAP_MIN_CAP 64

static void *hs_malloc(size_t n)
{
    return malloc(n);
}

static void hs_free(void *p, size_t n, bool defer)
{
    (void)n;
    (void)defer; /* one thread: nothing reads while the table changes */
    free(p);
}

static struct ck_malloc hs_allocator = {.malloc = hs_malloc, .free = hs_free};

/* Two keyed multiply-xorshift rounds over the key's halves. */
static unsigned long hash_key(const void *key, unsigned long seed)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, (const uint8_t *)key + 8, 8);
    uint64_t h = (a ^ seed) * 0x9e3779b97f4a7c15u;
    h ^= h >> 29;
    h = (h ^ b ^ (seed >> 7)) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return (unsigned long)h;
}

static bool same_key(const void *stored, const void *key)
{
    return memcmp(stored, key, 16) == 0;
}

void idmap_init(idmap *m, size_t key_offset)
{
    *m = (idmap){.key_offset = key_offset};
    randombytes_buf(&m->seed, sizeof m->seed);
}

static int ready(idmap *m)
{
    if (!m->ready &&
        ck_hs_init(&m->hs,
                   CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC | CK_HS_MODE_DELETE,
                   hash_key, same_key, &hs_allocator, IDMAP_MIN_CAP, m->seed)) {
        m->ready = true;
        m->cap = IDMAP_MIN_CAP;
    }
    return m->ready ? POLKU_OK : POLKU_ENOMEM;
}

/* ck_hs takes its table without const even where it only reads it
 * (ck_hs_get, ck_hs_count). */
static ck_hs_t *table(const idmap *m)
{
    return (ck_hs_t *)&m->hs;
}

static unsigned long hash_of(const idmap *m, const uint8_t key[16])
{
    return CK_HS_HASH(table(m), hash_key, key);
}

void *idmap_find(const idmap *m, const uint8_t key[16])
{
    if (!m->ready)
        return NULL;
    const uint8_t *k = ck_hs_get(table(m), hash_of(m, key), key);
    return k ? (void *)(k - m->key_offset) : NULL;
}

/* ck_hs doubles its table after an insert that leaves it more than half
 * full, and ignores a failure there. Every insert here is reserved first:
 * the table is doubled before it gets that full, where a failure can be
 * answered, so ck_hs's own growth does not come (its probe finding no
 * slot in a half-empty table would be the one other reason: then cap is
 * behind, ck_hs_grow refuses a size it has, and the next doubling
 * catches up). */
int idmap_reserve(idmap *m)
{
    if (ready(m))
        return POLKU_ENOMEM;
    if ((ck_hs_count(&m->hs) + 1) * 2 <= m->cap)
        return POLKU_OK;
    for (int tries = 0; tries < 4; tries++) {
        unsigned long cap = m->cap << (tries + 1);
        if (ck_hs_grow(&m->hs, cap)) {
            m->cap = cap;
            return POLKU_OK;
        }
    }
    return POLKU_ENOMEM;
}

int idmap_put(idmap *m, void *record)
{
    int rc = idmap_reserve(m);
    if (rc)
        return rc;
    const uint8_t *key = (const uint8_t *)record + m->key_offset;
    return ck_hs_put(&m->hs, hash_of(m, key), key) ? POLKU_OK : POLKU_ENOMEM;
}

int idmap_presize(idmap *m, size_t records)
{
    if (ready(m))
        return POLKU_ENOMEM;
    unsigned long cap = m->cap;
    while (cap / 2 < records + 1 && cap < (1ul << 40))
        cap <<= 1;
    if (cap == m->cap)
        return POLKU_OK;
    if (!ck_hs_grow(&m->hs, cap))
        return POLKU_ENOMEM;
    m->cap = cap;
    return POLKU_OK;
}

int idmap_put_new(idmap *m, void *record)
{
    int rc = idmap_reserve(m);
    if (rc)
        return rc;
    const uint8_t *key = (const uint8_t *)record + m->key_offset;
    unsigned long h = hash_of(m, key);
    if (ck_hs_put(&m->hs, h, key)) /* refuses a key it has */
        return POLKU_OK;
    return ck_hs_get(&m->hs, h, key) ? POLKU_EEXIST : POLKU_ENOMEM;
}

void *idmap_remove(idmap *m, const uint8_t key[16])
{
    if (!m->ready)
        return NULL;
    const uint8_t *k = ck_hs_remove(&m->hs, hash_of(m, key), key);
    return k ? (void *)(k - m->key_offset) : NULL;
}

size_t idmap_count(const idmap *m)
{
    return m->ready ? ck_hs_count(table(m)) : 0;
}

void idmap_fini(idmap *m)
{
    if (m->ready)
        ck_hs_destroy(&m->hs);
    m->ready = false;
}
