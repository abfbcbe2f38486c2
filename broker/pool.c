/* pool.c — see pool.h. */
#include "pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pool_block {
    pool_block *next; /* the next newer */
    _Alignas(8) unsigned char data[];
};

#define POOL_BLOCK_BYTES (16 * 1024)

void pool_init(pool *p, size_t size, size_t per_block)
{
    size = size ? (size + 7) & ~(size_t)7 : 8;
    if (!per_block)
        per_block = size < POOL_BLOCK_BYTES ? POOL_BLOCK_BYTES / size : 1;
    *p = (pool){.size = size, .per_block = per_block, .used = per_block};
}

void *pool_calloc(pool *p)
{
    if (p->used == p->per_block) {
        if (p->per_block > (SIZE_MAX - sizeof(pool_block)) / p->size)
            return NULL;
        pool_block *b = malloc(sizeof *b + p->per_block * p->size);
        if (!b)
            return NULL;
        b->next = NULL;
        if (p->newest)
            p->newest->next = b;
        else
            p->blocks = b;
        p->newest = b;
        p->used = 0;
    }
    void *r = p->newest->data + p->used++ * p->size;
    memset(r, 0, p->size);
    p->count++;
    return r;
}

pool_cursor pool_begin(const pool *p)
{
    return (pool_cursor){p->blocks, 0};
}

void *pool_next(const pool *p, pool_cursor *c)
{
    while (c->block) {
        size_t n = c->block == p->newest ? p->used : p->per_block;
        if (c->i < n)
            return (unsigned char *)c->block->data + c->i++ * p->size;
        c->block = c->block->next;
        c->i = 0;
    }
    return NULL;
}

void pool_fini(pool *p)
{
    for (pool_block *b = p->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    p->blocks = p->newest = NULL;
    p->used = p->per_block;
    p->count = 0;
}
