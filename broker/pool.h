/* pool.h — fixed-size records that live as long as their index.
 *
 * The broker's indexes keep a record per client, referral and display
 * name and free them only all together, with the index. malloc's header
 * and bookkeeping were paid per record for nothing, and a rebuild makes
 * hundreds of thousands of records in a few seconds: a pool hands records
 * out of blocks of many, one pointer bump each, and frees the blocks
 * together. A record is never freed alone. */
#ifndef POLKU_BROKER_POOL_H
#define POLKU_BROKER_POOL_H

#include <stddef.h>

typedef struct pool_block pool_block;

/* Embedded in its index; all zero is not a usable pool: pool_init. */
typedef struct pool {
    size_t size;        /* one record, rounded up to 8 bytes */
    size_t per_block;   /* records in a block */
    size_t used;        /* records handed out of the newest block */
    pool_block *blocks; /* the newest first */
} pool;

/* A pool of records of size bytes, per_block of them to a block (0: a
 * block of about 16 KiB). Allocates nothing yet. */
void pool_init(pool *p, size_t size, size_t per_block);

/* A zeroed record, valid until pool_fini; NULL when out of memory. */
void *pool_calloc(pool *p);

/* Frees every record; the pool is empty again (pool_init's settings). */
void pool_fini(pool *p);

#endif
