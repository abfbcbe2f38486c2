/* store_check.c — the size check and the walk of the agent's store (see
 * store_check.h for what is checked and when). */
#include "store_check.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "polku.pb-c.h"
#include "polku/error.h"
#include "polku/log.h"

/* What the entries of one database look like (store.h). Only the
 * protobuf structure of values is checked, not polku's validation rules
 * (those may grow stricter than what an older agent wrote). */
typedef struct db_shape {
    const char *name;
    size_t kmin, kmax, vmin, vmax;
    const ProtobufCMessageDescriptor *record; /* value decodes as this */
} db_shape;

#define ANY 0, SIZE_MAX
static const db_shape shapes[] = {
    {"events", 8, 8, 1, SIZE_MAX, &polku__envelope__descriptor},
    {"outbox", 8, 40, 8, 8, NULL},
    {"receipts", 9, 41, 8, 24, NULL}, /* time, then the message id */
    {"referrals", 16, 16, ANY, &polku__referral_record__descriptor},
    {"consents", 16, 16, ANY, &polku__consent_record__descriptor},
    {"consents_by_client", 32, 32, 0, 0, NULL},
    {"clients", 16, 16, 1, 64, NULL},
    {"meta", 1, 511, ANY, NULL},
    {"paths", 16, 16, ANY, &polku__path_record__descriptor},
    {"handovers", 16, 16, ANY, &polku__handover_record__descriptor},
    /* 'R' + incarnation, or 'U' + object id */
    {"reconcile", 9, 17, ANY, &polku__reconcile_record__descriptor},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* ---- faults and LMDB asserts during the walk become a report ---- */

static sigjmp_buf *fault_jmp;
static volatile sig_atomic_t fault_sig;
static char assert_text[160];

static void on_fault(int sig)
{
    fault_sig = sig;
    siglongjmp(*fault_jmp, 1);
}

static void on_lmdb_assert(MDB_env *env, const char *msg)
{
    (void)env;
    if (!fault_jmp)
        return; /* outside the walk: LMDB aborts as it always has */
    snprintf(assert_text, sizeof assert_text, "%s", msg);
    siglongjmp(*fault_jmp, 2);
}

/* ---- the size check ---- */

static int used_bytes(MDB_env *env, store_check_report *rep)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(env, &info);
    if (!rc)
        rc = mdb_env_stat(env, &st);
    if (rc) {
        snprintf(rep->problem, sizeof rep->problem,
                 "cannot read the environment's header: %s", mdb_strerror(rc));
        return POLKU_ECORRUPT;
    }
    rep->page_size = st.ms_psize;
    rep->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    rep->map_bytes = info.me_mapsize;
    return POLKU_OK;
}

int store_check_size(MDB_env *env, const char *dir, store_check_report *rep)
{
    memset(rep, 0, sizeof *rep);
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &sb)) {
        snprintf(rep->problem, sizeof rep->problem, "cannot stat %.160s: %s",
                 path, strerror(errno));
        return POLKU_EIO;
    }
    rep->file_bytes = (uint64_t)sb.st_size;
    int rc = used_bytes(env, rep);
    if (rc)
        return rc;
    if (rep->file_bytes < rep->used_bytes) {
        snprintf(rep->problem, sizeof rep->problem,
                 "data.mdb is %llu bytes but its last used page ends at "
                 "byte %llu: the file was cut short",
                 (unsigned long long)rep->file_bytes,
                 (unsigned long long)rep->used_bytes);
        return POLKU_ECORRUPT;
    }
    return POLKU_OK;
}

/* ---- the walk ---- */

typedef struct walk_ctx {
    MDB_env *env;
    store_check_report *rep;
    bool all; /* every entry, not just both ends */
    MDB_txn *txn;
    MDB_cursor *cur;
    const char *where;      /* the database being read */
    const uint8_t *lo, *hi; /* the used part of the map (NULL: unknown) */
} walk_ctx;

static int damaged(walk_ctx *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int damaged(walk_ctx *w, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(w->rep->problem, sizeof w->rep->problem, "database %s: %s",
             w->where, what);
    return POLKU_ECORRUPT;
}

/* An LMDB error while reading: damage, except what is not about pages. */
static int read_error(walk_ctx *w, int rc)
{
    if (rc == ENOMEM)
        return POLKU_ENOMEM;
    return damaged(w, "%s", mdb_strerror(rc));
}

static bool inside(const walk_ctx *w, const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    if (!w->lo)
        return true; /* the map's address is unknown: not checked */
    return p >= w->lo && p <= w->hi && v->mv_size <= (size_t)(w->hi - p);
}

static int check_entry(walk_ctx *w, const db_shape *sh, const MDB_val *k,
                       const MDB_val *v)
{
    if (!inside(w, k) || !inside(w, v))
        return damaged(w, "an entry points outside the used file");
    if (!sh)
        return POLKU_OK;
    if (k->mv_size < sh->kmin || k->mv_size > sh->kmax)
        return damaged(w, "a key of the wrong size");
    if (v->mv_size < sh->vmin || v->mv_size > sh->vmax)
        return damaged(w, "a value of the wrong size");
    if (sh->record) {
        ProtobufCMessage *m =
            protobuf_c_message_unpack(sh->record, NULL, v->mv_size, v->mv_data);
        if (!m)
            return damaged(w, "a record that does not decode");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return POLKU_OK;
}

static int walk_db(walk_ctx *w, MDB_dbi dbi, const db_shape *sh,
                   store_check_db *d)
{
    MDB_stat st;
    MDB_val k, v;
    int rc = mdb_stat(w->txn, dbi, &st);
    if (rc)
        return read_error(w, rc);
    d->entries = st.ms_entries;
    d->pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    if (d->pages * w->rep->page_size > w->rep->used_bytes)
        return damaged(w, "its header counts more pages than the file has");
    rc = mdb_cursor_open(w->txn, dbi, &w->cur);
    if (rc)
        return read_error(w, rc);
    int prc = POLKU_OK;
    if (w->all) {
        for (rc = mdb_cursor_get(w->cur, &k, &v, MDB_FIRST); rc == 0 && !prc;
             rc = mdb_cursor_get(w->cur, &k, &v, MDB_NEXT)) {
            prc = check_entry(w, sh, &k, &v);
            d->walked++;
        }
    } else {
        rc = mdb_cursor_get(w->cur, &k, &v, MDB_FIRST);
        if (rc == 0)
            prc = check_entry(w, sh, &k, &v);
        if (rc == 0 && !prc)
            rc = mdb_cursor_get(w->cur, &k, &v, MDB_LAST);
        if (rc == 0 && !prc)
            prc = check_entry(w, sh, &k, &v);
    }
    mdb_cursor_close(w->cur);
    w->cur = NULL;
    if (prc)
        return prc;
    if (rc != MDB_NOTFOUND && rc != 0)
        return read_error(w, rc);
    if (w->all && d->walked != d->entries) {
        return damaged(w, "%llu entries walked, %llu in its header",
                       (unsigned long long)d->walked,
                       (unsigned long long)d->entries);
    }
    return POLKU_OK;
}

/* The free list (database 0, as mdb_stat -f reads it): page numbers. */
static int walk_free_list(walk_ctx *w)
{
    MDB_val k, v;
    w->where = "(free list)";
    int rc = mdb_cursor_open(w->txn, 0, &w->cur);
    if (rc)
        return read_error(w, rc);
    uint64_t pages = w->rep->used_bytes / w->rep->page_size;
    int prc = POLKU_OK;
    for (rc = mdb_cursor_get(w->cur, &k, &v, MDB_FIRST); rc == 0 && !prc;
         rc = mdb_cursor_get(w->cur, &k, &v, MDB_NEXT)) {
        const size_t *ids = v.mv_data;
        if (!inside(w, &k) || !inside(w, &v) || v.mv_size < sizeof *ids ||
            v.mv_size != (ids[0] + 1) * sizeof *ids) {
            prc = damaged(w, "a malformed list of free pages");
            break;
        }
        for (size_t i = 1; i <= ids[0] && !prc; i++)
            if (ids[i] < 2 || ids[i] >= pages)
                prc = damaged(w, "a free page beyond the file");
        w->rep->free_pages += ids[0];
    }
    mdb_cursor_close(w->cur);
    w->cur = NULL;
    if (prc)
        return prc;
    return rc == MDB_NOTFOUND || rc == 0 ? POLKU_OK : read_error(w, rc);
}

static int walk_all(walk_ctx *w)
{
    MDB_dbi dbi;
    int rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &w->txn);
    if (rc) {
        snprintf(w->rep->problem, sizeof w->rep->problem,
                 "cannot begin a read transaction: %s", mdb_strerror(rc));
        w->txn = NULL;
        return rc == MDB_INVALID || rc == MDB_CORRUPTED ? POLKU_ECORRUPT
                                                        : POLKU_ESTORE;
    }
    store_check_db main_db = {.name = "(main)"};
    w->where = main_db.name;
    rc = mdb_dbi_open(w->txn, NULL, 0, &dbi);
    int prc = rc ? read_error(w, rc) : walk_db(w, dbi, NULL, &main_db);
    for (size_t i = 0; !prc && i < N_SHAPES; i++) {
        store_check_db *d = &w->rep->dbs[w->rep->n_dbs++];
        d->name = w->where = shapes[i].name;
        rc = mdb_dbi_open(w->txn, shapes[i].name, 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue; /* a new store: created by store_open */
        d->present = true;
        prc = rc ? read_error(w, rc) : walk_db(w, dbi, &shapes[i], d);
    }
    if (!prc)
        prc = walk_free_list(w);
    mdb_txn_abort(w->txn); /* its database handles close with it */
    w->txn = NULL;
    return prc;
}

/* Where LMDB mapped data.mdb: mdb_env_info's me_mapaddr is only set for
 * MDB_FIXEDMAP, /proc/self/maps tells (the mapping of data.mdb's inode at
 * offset 0). NULL if it cannot be found. */
static const uint8_t *map_base(MDB_env *env)
{
    const char *dir = NULL;
    char path[4200], line[512];
    struct stat sb;
    if (mdb_env_get_path(env, &dir) || !dir)
        return NULL;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = stat(path, &sb) == 0 ? fopen("/proc/self/maps", "r") : NULL;
    if (!f)
        return NULL;
    const uint8_t *base = NULL;
    while (!base && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, mnr;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off,
                   &maj, &mnr, &ino) == 7 &&
            ino == sb.st_ino && makedev(maj, mnr) == sb.st_dev && off == 0)
            base = (const uint8_t *)lo;
    }
    fclose(f);
    return base;
}

int store_check_walk(MDB_env *env, bool full, store_check_report *rep)
{
    int rc = used_bytes(env, rep);
    if (rc)
        return rc;
    rep->n_dbs = 0;
    rep->free_pages = 0;
    rep->full = full || rep->used_bytes <= STORE_CHECK_START_FULL_BYTES;
    walk_ctx w = {.env = env, .rep = rep, .all = rep->full};
    const uint8_t *base = map_base(env);
    if (base) {
        w.lo = base + 2 * rep->page_size;
        w.hi = base + rep->used_bytes;
    }

    sigjmp_buf jb;
    struct sigaction sa, old_bus, old_segv;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
    mdb_env_set_assert(env, on_lmdb_assert);
    int jumped = sigsetjmp(jb, 1);
    if (jumped == 0) {
        fault_jmp = &jb;
        rc = walk_all(&w);
    } else {
        /* A read fell outside the file or LMDB's tree walk gave up: the
         * transaction is abandoned as it stands (the process exits). */
        if (jumped == 1)
            snprintf(rep->problem, sizeof rep->problem,
                     "database %s: reading a page raised %s (a page points "
                     "outside the file)",
                     w.where ? w.where : "?", strsignal(fault_sig));
        else
            snprintf(rep->problem, sizeof rep->problem,
                     "database %s: LMDB found its tree inconsistent (%s)",
                     w.where ? w.where : "?", assert_text);
        rc = POLKU_ECORRUPT;
        /* the jump skipped the walk's own cleanup: free its cursor and
         * read transaction (plain frees and a reader slot reset, no page
         * is read) so that nothing leaks on the way out */
        if (w.cur)
            mdb_cursor_close(w.cur);
        if (w.txn)
            mdb_txn_abort(w.txn);
        w.cur = NULL;
        w.txn = NULL;
    }
    fault_jmp = NULL;
    mdb_env_set_assert(env, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    sigaction(SIGSEGV, &old_segv, NULL);
    return rc;
}

/* ---- reporting ---- */

void store_check_log_damage(const char *dir, const store_check_report *rep)
{
    log_error("store %s is damaged: %s. The agent will not serve from it: "
              "restore the store directory from a backup (keep the damaged "
              "copy aside) and start again; `polku-agent --check --config "
              "FILE` checks a store without starting",
              dir, rep->problem);
}

static void print_summary(const char *dir, const store_check_report *rep,
                          FILE *out)
{
    fprintf(out, "store %s: sound\n", dir);
    fprintf(out, "  %-20s %12s %8s\n", "database", "entries", "pages");
    for (size_t i = 0; i < rep->n_dbs; i++) {
        const store_check_db *d = &rep->dbs[i];
        if (d->present)
            fprintf(out, "  %-20s %12llu %8llu\n", d->name,
                    (unsigned long long)d->entries,
                    (unsigned long long)d->pages);
        else
            fprintf(out, "  %-20s %12s %8s\n", d->name, "(none)", "");
    }
    fprintf(out, "  %-20s %12s %8llu\n", "(free)", "",
            (unsigned long long)rep->free_pages);
    fprintf(out,
            "  %llu pages of %u bytes in use (%llu bytes), data.mdb %llu "
            "bytes, map %llu bytes\n",
            (unsigned long long)(rep->used_bytes / rep->page_size),
            rep->page_size, (unsigned long long)rep->used_bytes,
            (unsigned long long)rep->file_bytes,
            (unsigned long long)rep->map_bytes);
}

int store_check_dir(const char *dir, FILE *out)
{
    store_check_report rep;
    memset(&rep, 0, sizeof rep);
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &sb)) {
        fprintf(stderr, "polku-agent: no store at %s (%s: %s)\n", dir, path,
                strerror(errno));
        return 1;
    }
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, STORE_CHECK_MAX_DBS);
    if (!rc)
        rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
    int prc = POLKU_OK;
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        snprintf(rep.problem, sizeof rep.problem,
                 "data.mdb is not a readable LMDB file, its meta pages are "
                 "damaged (%s)",
                 mdb_strerror(rc));
        prc = POLKU_ECORRUPT;
    } else if (rc) {
        fprintf(stderr, "polku-agent: cannot open the store %s: %s\n", dir,
                mdb_strerror(rc));
        mdb_env_close(env);
        return 1;
    }
    if (!prc)
        prc = store_check_size(env, dir, &rep);
    if (!prc)
        prc = store_check_walk(env, true, &rep);
    mdb_env_close(env);
    if (prc) {
        fprintf(stderr,
                "polku-agent: store %s is damaged (%s): %s\n"
                "polku-agent: restore the store directory from a backup "
                "(keep the damaged copy aside)\n",
                dir, polku_strerror(prc), rep.problem);
        return 1;
    }
    print_summary(dir, &rep, out);
    return 0;
}
