/* idmap.h — records found by a 16-byte key, for the broker's big indexes.
 *
 * The client and path indexes find a client (or its path) by its key and
 * a referral by its id for nearly every event, live or replayed, in
 * tables of hundreds of thousands. uthash keeps about two records a bucket
 * and compares them one by one through their handles: a cache miss for the
 * bucket and one for each record on the way, two or three a lookup, and as
 * many for a key that is not there. An idmap is Concurrency Kit's
 * open-addressing hash set (ck_hs, libck) of pointers to the records' keys:
 * a lookup reads one slot (rarely a few, side by side; each keeps some bits
 * of its hash, so a mismatch rarely reads the record) and then the record
 * whose key matches. The key lives in the record, at key_offset. The big
 * indexes only add records (they grow until they are destroyed); the
 * holdback's, whose records come and go, also removes them. The idmap does
 * not own them. The hash is keyed per map (random seed), so ids an agent
 * chooses cannot be made to collide. Single-threaded use. */
#ifndef POLKU_BROKER_IDMAP_H
#define POLKU_BROKER_IDMAP_H

#include <ck_hs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in its index; initialise with idmap_init. */
typedef struct idmap {
    ck_hs_t hs;
    bool ready;        /* hs is initialised (at the first record) */
    unsigned long cap; /* hs's slots: it grows only when told to (below) */
    size_t key_offset; /* of the 16-byte key in a record */
    unsigned long seed;
} idmap;

/* An empty map of records whose key is at key_offset. Allocates nothing. */
void idmap_init(idmap *m, size_t key_offset);

/* The record with this key, or NULL. */
void *idmap_find(const idmap *m, const uint8_t key[16]);

/* Room for one more record, so that the next idmap_put cannot fail.
 * POLKU_OK, or POLKU_ENOMEM (nothing changed). */
int idmap_reserve(idmap *m);

/* Adds record (its key not in the map yet). POLKU_OK, or POLKU_ENOMEM
 * (nothing changed; never right after idmap_reserve). */
int idmap_put(idmap *m, void *record);

/* Adds record unless a record with its key is in the map: one lookup
 * where idmap_find then idmap_put make two. POLKU_OK; POLKU_EEXIST (a
 * record has that key: nothing changed); POLKU_ENOMEM (nothing
 * changed). */
int idmap_put_new(idmap *m, void *record);

/* Takes the record with this key out of the map (the table keeps its
 * size); returns it, or NULL if there was none. */
void *idmap_remove(idmap *m, const uint8_t key[16]);

size_t idmap_count(const idmap *m);

/* Room for records in all without growing again (the table never
 * shrinks): a rebuild that knows roughly how many records come grows an
 * empty table once instead of doubling a full one a dozen times, each
 * doubling rehashing every record. POLKU_OK, or POLKU_ENOMEM (nothing
 * changed: the map still grows as records come). */
int idmap_presize(idmap *m, size_t records);

/* Frees the table (not the records); the map is empty again. */
void idmap_fini(idmap *m);

#endif
