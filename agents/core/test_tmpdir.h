/* test_tmpdir.h — a temporary directory for a unit test of the agent's
 * store and what sits on it (store, batch, eventlog, link runs tests).
 *
 * Why it exists: each of those tests made its directory under /tmp and
 * removed it with system("rm -rf ..."), the same lines four times, and
 * ignored TMPDIR (so parallel runs with their own TMPDIR still shared
 * /tmp). Here once: under $TMPDIR (or /tmp), removed with nftw; and the
 * store with a batch on it that the batch and link-runs tests begin and
 * end with. Test code only; nothing in the agent includes it. */
#ifndef POLKU_AGENT_TEST_TMPDIR_H
#define POLKU_AGENT_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "batch.h"
#include "store.h"

/* Makes $TMPDIR/polku-NAME-XXXXXX into dir (n bytes); 0, or -1. */
static inline int test_tmpdir_make(char *dir, size_t n, const char *name)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int len = snprintf(dir, n, "%s/polku-%s-XXXXXX", base, name);
    if (len < 0 || (size_t)len >= n)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static inline int test_tmpdir_remove_one(const char *path,
                                         const struct stat *st, int type,
                                         struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it; 0, or -1. */
static inline int test_tmpdir_remove(const char *dir)
{
    return nftw(dir, test_tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh store (org "kela", 8 MiB map) in a new directory of n bytes at
 * dir, with a batch on it; 0, or -1. */
static inline int test_batch_store_open(char *dir, size_t n, const char *name,
                                        store *st, batch *b)
{
    if (test_tmpdir_make(dir, n, name) ||
        store_open(st, dir, 8 << 20, 8 << 20, "kela"))
        return -1;
    batch_init(b, st);
    return 0;
}

/* Ends what test_batch_store_open began and removes the directory. */
static inline int test_batch_store_close(const char *dir, store *st, batch *b)
{
    batch_fini(b);
    store_close(st);
    return test_tmpdir_remove(dir);
}

#endif
