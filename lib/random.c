/* random.c — a pool of random bytes refilled by libsodium (see
 * polku/random.h). */
#include "polku/random.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define POOL_BYTES 4096

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static uint8_t pool[POOL_BYTES];
static size_t pool_left; /* unused bytes at the end of pool */

/* A child must not hand out what the parent will hand out too. */
static void forget_pool(void)
{
    sodium_memzero(pool, sizeof pool);
    pool_left = 0;
}

static void pool_init(void)
{
    pthread_atfork(NULL, NULL, forget_pool);
}

void polku_random_bytes(void *buf, size_t n)
{
    if (n > POOL_BYTES / 4) { /* large requests gain nothing from the pool */
        randombytes_buf(buf, n);
        return;
    }
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_lock);
    if (pool_left < n) {
        randombytes_buf(pool, sizeof pool);
        pool_left = sizeof pool;
    }
    uint8_t *from = pool + sizeof pool - pool_left;
    memcpy(buf, from, n);
    sodium_memzero(from, n); /* each byte is handed out once */
    pool_left -= n;
    pthread_mutex_unlock(&pool_lock);
}
