/* idmap.c — see idmap.h. Linear probing, at most 70 % full; a removal
 * shifts the slots after it back (no tombstones). */
#include "idmap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"

struct idmap_slot {
    uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1) */
    void *record;
};

#define IDMAP_MIN_CAP 64

void idmap_init(idmap *m, size_t key_offset)
{
    *m = (idmap){.key_offset = key_offset};
    randombytes_buf(m->seed, sizeof m->seed);
}

static const uint8_t *key_of(const idmap *m, const void *record)
{
    return (const uint8_t *)record + m->key_offset;
}

/* Two keyed multiply-xorshift rounds over the key's halves. */
static uint64_t hash_key(const idmap *m, const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = (a ^ m->seed[0]) * 0x9e3779b97f4a7c15u;
    h ^= h >> 29;
    h = (h ^ b ^ m->seed[1]) * 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return h ? h : 1;
}

void *idmap_find(const idmap *m, const uint8_t key[16])
{
    if (!m->cap)
        return NULL;
    uint64_t h = hash_key(m, key);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const idmap_slot *s = &m->slots[i];
        if (!s->hash)
            return NULL;
        if (s->hash == h && memcmp(key_of(m, s->record), key, 16) == 0)
            return s->record;
    }
}

static void place(idmap_slot *slots, size_t cap, uint64_t h, void *record)
{
    size_t mask = cap - 1, i = h & mask;
    while (slots[i].hash)
        i = (i + 1) & mask;
    slots[i].hash = h;
    slots[i].record = record;
}

static int grow(idmap *m)
{
    size_t cap = m->cap ? 2 * m->cap : IDMAP_MIN_CAP;
    if (cap > SIZE_MAX / sizeof(idmap_slot))
        return POLKU_ENOMEM;
    idmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return POLKU_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            place(slots, cap, m->slots[i].hash, m->slots[i].record);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return POLKU_OK;
}

int idmap_reserve(idmap *m)
{
    return (m->count + 1) * 10 > m->cap * 7 ? grow(m) : POLKU_OK;
}

int idmap_put(idmap *m, void *record)
{
    int rc = idmap_reserve(m);
    if (rc)
        return rc;
    place(m->slots, m->cap, hash_key(m, key_of(m, record)), record);
    m->count++;
    return POLKU_OK;
}

void *idmap_remove(idmap *m, const uint8_t key[16])
{
    if (!m->cap)
        return NULL;
    uint64_t h = hash_key(m, key);
    size_t mask = m->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].hash)
            return NULL;
        if (m->slots[i].hash == h &&
            memcmp(key_of(m, m->slots[i].record), key, 16) == 0)
            break;
    }
    void *record = m->slots[i].record;
    /* the hole at i is filled by the next slot of the run whose home (the
     * slot its hash chose) is not after the hole, until the run ends */
    for (size_t j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].hash = 0;
    m->slots[i].record = NULL;
    m->count--;
    return record;
}

size_t idmap_count(const idmap *m)
{
    return m->count;
}

void idmap_fini(idmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
