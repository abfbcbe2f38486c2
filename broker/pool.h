/* pool.h — fixed-size records that live as long as their index.
 *
 * The broker's indexes keep a record per client, referral, path and display
 * name and free them only all together, with the index. malloc's header
 * and bookkeeping were paid per record for nothing, and a rebuild makes
 * hundreds of thousands of records in a few seconds: a pool hands records
 * out of blocks of many, one pointer bump each, and frees the blocks
 * together. A record is never freed alone. The records can be walked in
 * the order they were handed out (pool_begin, pool_next). */
#ifndef POLKU_BROKER_POOL_H
#define POLKU_BROKER_POOL_H

#include <stddef.h>

typedef struct pool_block pool_block;

/* Embedded in its index; all zero is not a usable pool: pool_init. */
typedef struct pool {
    size_t size;                 /* one record, rounded up to 8 bytes */
    size_t per_block;            /* records in a block */
    size_t used;                 /* records handed out of the newest block */
    size_t count;                /* records handed out */
    pool_block *blocks, *newest; /* oldest first */
} pool;

/* A pool of records of size bytes, per_block of them to a block (0: a
 * block of about 16 KiB). Allocates nothing yet. */
void pool_init(pool *p, size_t size, size_t per_block);

/* A zeroed record, valid until pool_fini; NULL when out of memory. */
void *pool_calloc(pool *p);

/* Every record handed out, oldest first:
 *     for (pool_cursor c = pool_begin(&p); (r = pool_next(&p, &c));)
 * The pool may not grow during the walk. */
typedef struct pool_cursor {
    const pool_block *block;
    size_t i;
} pool_cursor;
pool_cursor pool_begin(const pool *p);
void *pool_next(const pool *p, pool_cursor *c);

/* Frees every record; the pool is empty again (pool_init's settings). */
void pool_fini(pool *p);

#endif
