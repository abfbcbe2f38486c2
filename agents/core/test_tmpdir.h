/* test_tmpdir.h — a temporary directory for a unit test of the agent's
 * store and what sits on it (store, batch, eventlog, link runs tests).
 *
 * Why it exists: each of those tests made its directory under /tmp and
 * removed it with system("rm -rf ..."), the same lines four times, and
 * ignored TMPDIR (so parallel runs with their own TMPDIR still shared
 * /tmp). Here once: under $TMPDIR (or /tmp), removed with nftw. Test code
 * only; nothing in the agent includes it. */
#ifndef POLKU_AGENT_TEST_TMPDIR_H
#define POLKU_AGENT_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
