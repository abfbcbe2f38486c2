/* store_check.h — is the agent's LMDB store sound enough to serve from?
 *
 * LMDB maps data.mdb into memory and trusts it: a file truncated behind its
 * last used page makes the first read of a missing page a SIGBUS, and a
 * page overwritten with junk sends LMDB's tree walk into its own asserts or
 * into wild reads. LMDB keeps no checksums, so what can be checked is the
 * shape of the file and of its trees:
 *
 *   1. size: (me_last_pgno + 1) * page size must fit in data.mdb. This
 *      touches no page (the numbers come from the meta page LMDB has read
 *      with read(2)) and must come before anything walks a tree;
 *   2. walk: a read-only transaction opens every named database the agent
 *      uses and walks it with a cursor, plus the main database and the
 *      free list: every entry must lie inside the used part of the map,
 *      the count must match the database's header, fixed-size keys and
 *      values must have their size, records and events must decode, and
 *      the free list may only name pages below the last one.
 *
 * How much is walked (a full walk reads every page; on a big cold store
 * that takes seconds):
 *   - at every start (store_open): the size check, then the full walk when
 *     the used part of the store is at most STORE_CHECK_START_FULL_BYTES,
 *     else a bounded walk: open every database and read its first and last
 *     entries (the paths from the root to both ends);
 *   - `polku-agent --check --config FILE` (store_check_dir): the size check
 *     and always the full walk, with a summary.
 *
 * While the walk runs, SIGBUS and SIGSEGV (a page pointing outside the
 * file) and LMDB's asserts are caught and reported as damage; the walk
 * runs before the agent starts any thread. Damage the shape does not show
 * (a changed byte inside a value that still decodes) cannot be found. */
#ifndef POLKU_AGENT_STORE_CHECK_H
#define POLKU_AGENT_STORE_CHECK_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_CHECK_START_FULL_BYTES (64ull << 20)
#define STORE_CHECK_MAX_DBS 16

typedef struct store_check_db {
    const char *name;
    bool present;                    /* false: not created yet */
    uint64_t entries, pages, walked; /* pages: branch + leaf + overflow */
} store_check_db;

typedef struct store_check_report {
    uint64_t file_bytes, used_bytes, map_bytes;
    unsigned page_size;
    bool full; /* every entry was walked (not just both ends) */
    store_check_db dbs[STORE_CHECK_MAX_DBS];
    size_t n_dbs;
    uint64_t free_pages; /* pages listed in the free list */
    char problem[256];   /* what is wrong, when the result is not POLKU_OK */
} store_check_report;

/* The size check of an environment just opened (nothing read yet) whose
 * directory is dir. POLKU_OK, POLKU_ECORRUPT (rep->problem says how the
 * file falls short), POLKU_EIO (data.mdb cannot be stat'ed). */
int store_check_size(MDB_env *env, const char *dir, store_check_report *rep);

/* Walks the databases (see above); full: every entry, else full only up to
 * STORE_CHECK_START_FULL_BYTES of used store and both ends beyond it. Call
 * after store_check_size succeeded, with no transaction open and no other
 * thread running. POLKU_OK, POLKU_ECORRUPT (rep->problem), POLKU_ESTORE,
 * POLKU_ENOMEM. */
int store_check_walk(MDB_env *env, bool full, store_check_report *rep);

/* `polku-agent --check`: opens the store at dir read-only (never creating
 * it), runs the size check and the full walk, and prints to out a summary
 * (databases, entries each, pages, sizes) or the damage. Returns the exit
 * status: 0 sound, 1 damaged or not there. */
int store_check_dir(const char *dir, FILE *out);

/* The operator's line for a damaged store: what is wrong and what to do. */
void store_check_log_damage(const char *dir, const store_check_report *rep);

#endif
