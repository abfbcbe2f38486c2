/* batch.c — the group commit (see batch.h). */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"

void batch_init(batch *b, store *st)
{
    memset(b, 0, sizeof *b);
    b->st = st;
}

static void action_run(batch_action *x, bool committed);

static int add_action(batch *b, batch_after_fn fn, void *arg,
                      batch_free_fn free_fn, bool at_commit)
{
    if (b->n_after == b->cap_after) {
        size_t cap = b->cap_after ? b->cap_after * 2 : 256;
        batch_action *n = realloc(b->after, cap * sizeof *n);
        if (!n) {
            if (free_fn)
                free_fn(arg);
            return POLKU_ENOMEM;
        }
        b->after = n;
        b->cap_after = cap;
    }
    b->after[b->n_after++] = (batch_action){fn, arg, free_fn, at_commit};
    return POLKU_OK;
}

int batch_after(batch *b, batch_after_fn fn, void *arg, batch_free_fn free_fn)
{
    return add_action(b, fn, arg, free_fn, false);
}

int batch_after_commit(batch *b, batch_after_fn fn, void *arg,
                       batch_free_fn free_fn)
{
    return add_action(b, fn, arg, free_fn, true);
}

/* Runs the at-commit actions of list (committed) and keeps the others, in
 * their order; returns how many are kept. */
static size_t run_at_commit(batch_action *list, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].at_commit)
            action_run(&list[i], true);
        else
            list[kept++] = list[i];
    }
    return kept;
}

static void action_drop(batch_action *x)
{
    if (x->free_fn)
        x->free_fn(x->arg);
}

static void action_run(batch_action *x, bool committed)
{
    x->fn(x->arg, committed);
    action_drop(x);
}

typedef struct log_line {
    polku_log_level level;
    char text[];
} log_line;

static void write_line(void *arg, bool committed)
{
    log_line *l = arg;
    if (committed)
        polku_log_write(l->level, "%s", l->text);
}

void batch_after_log(batch *b, polku_log_level level, const char *fmt, ...)
{
    if (level < polku_log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    log_line *l = n < 0 ? NULL : malloc(sizeof *l + (size_t)n + 1);
    if (!l)
        return;
    l->level = level;
    va_start(ap, fmt);
    vsnprintf(l->text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    batch_after(b, write_line, l, free);
}

/* The id of the last transaction whose meta page LMDB wrote: it moves
 * only when a commit wrote pages, and such a commit flushed the data file
 * (fdatasync) before writing its own meta page. */
static size_t last_txnid(const batch *b)
{
    MDB_envinfo info;
    if (mdb_env_info(b->st->env, &info))
        return 0;
    return info.me_last_txnid;
}

static void run_list(batch *b, batch_action *list, size_t n, bool ok)
{
    for (size_t i = 0; i < n; i++)
        action_run(&list[i], ok);
    free(list);
    if (b->committed)
        b->committed(b->hook_arg, ok);
}

/* The actions waiting for the last commit's meta flush are durable now. */
static void settle_unsynced(batch *b)
{
    batch_action *list = b->unsynced;
    size_t n = b->n_unsynced;
    b->unsynced = NULL;
    b->n_unsynced = 0;
    b->waiting = false;
    if (b->unsynced_seq > b->committed_seq)
        b->committed_seq = b->unsynced_seq;
    /* Actions may start a new batch; the list was taken first. */
    run_list(b, list, n, true);
}

/* Grow before the map is full: a commit that runs out of pages loses its
 * whole batch (answered 507, not acked: nothing acknowledged is lost, but
 * the callers must retry). */
static void grow_if_needed(batch *b)
{
    store_write_ahead(b->st);
    if (b->map_full || store_used(b->st) > b->st->map_size / 4 * 3) {
        bool asked = b->map_full;
        b->map_full = false;
        if (store_grow(b->st) == POLKU_EFULL && asked)
            log_error("store full at its maximum map size (%llu MiB)",
                      (unsigned long long)(b->st->map_max >> 20));
    }
}

void batch_commit(batch *b)
{
    if (!b->txn)
        return;
    size_t before = last_txnid(b);
    int rc = mdb_txn_commit(b->txn); /* a failed commit has aborted */
    b->txn = NULL;
    batch_action *list = b->after;
    size_t n = b->n_after;
    b->after = NULL;
    b->n_after = b->cap_after = 0;
    if (rc != MDB_SUCCESS) {
        log_error("batch commit failed: %s", mdb_strerror(rc));
        b->counters.commit_failures++;
        b->last_seq = b->written_seq;
        if (store_err(rc) == POLKU_EFULL)
            b->map_full = true;
        run_list(b, list, n, false);
        grow_if_needed(b);
        return;
    }
    b->counters.commits++;
    bool new_events = b->last_seq != b->written_seq;
    b->written_seq = b->last_seq;
    bool wrote = last_txnid(b) != before;
    n = run_at_commit(list, n);
    /* This commit's data flush covered the meta page of the one before. */
    if (b->waiting && wrote)
        settle_unsynced(b);
    if (n == 0 && !new_events) {
        /* Nothing of it needs to be durable now: a later flush will do. */
        free(list);
        if (b->committed)
            b->committed(b->hook_arg, true);
        grow_if_needed(b);
        return;
    }
    if (!b->waiting && !wrote) {
        /* Nothing written and nothing waits: what the actions saw is
         * durable already. */
        run_list(b, list, n, true);
        grow_if_needed(b);
        return;
    }
    if (b->waiting) {
        /* The commit before still waits (this one wrote nothing): these
         * actions join it, they may depend on it. */
        batch_action *all =
            n ? realloc(b->unsynced, (b->n_unsynced + n) * sizeof *all)
              : b->unsynced;
        if (n && !all) { /* cannot wait without memory: flush now */
            batch_sync(b);
            b->unsynced = list;
            b->n_unsynced = n;
        } else {
            if (n)
                memcpy(all + b->n_unsynced, list, n * sizeof *list);
            free(list);
            b->unsynced = all;
            b->n_unsynced += n;
        }
    } else {
        b->unsynced = list;
        b->n_unsynced = n;
    }
    b->waiting = true;
    b->unsynced_seq = b->written_seq;
    grow_if_needed(b);
    if (b->unsynced_hook)
        b->unsynced_hook(b->hook_arg);
}

bool batch_unsynced(const batch *b)
{
    return b->waiting;
}

void batch_sync(batch *b)
{
    if (!b->waiting)
        return;
    int rc = mdb_env_sync(b->st->env, 1);
    b->counters.syncs++;
    if (rc) {
        /* The commit is in the page cache but its flush failed: whether it
         * survives an OS crash is unknown, so nothing is answered or acked
         * for it (callers retry; a restart reads back what the store has). */
        log_error("store flush failed: %s", mdb_strerror(rc));
        b->counters.sync_failures++;
        batch_action *list = b->unsynced;
        size_t n = b->n_unsynced;
        b->unsynced = NULL;
        b->n_unsynced = 0;
        b->waiting = false;
        run_list(b, list, n, false);
        return;
    }
    settle_unsynced(b);
}

void batch_flush(batch *b)
{
    batch_commit(b);
    batch_sync(b);
}

static int batch_txn(batch *b, MDB_txn **out)
{
    if (!b->txn) {
        int rc = mdb_txn_begin(b->st->env, NULL, 0, &b->txn);
        if (rc) {
            b->txn = NULL;
            log_error("cannot begin a write transaction: %s", mdb_strerror(rc));
            return store_err(rc);
        }
        if (b->begun)
            b->begun(b->hook_arg, b->txn);
        if (b->opened)
            b->opened(b->hook_arg);
    }
    *out = b->txn;
    return POLKU_OK;
}

static int run_item_once(batch *b, batch_item_fn fn, void *ctx)
{
    MDB_txn *parent = NULL, *child = NULL;
    int rc = batch_txn(b, &parent);
    if (rc)
        return rc;
    rc = store_err(mdb_txn_begin(b->st->env, parent, 0, &child));
    if (rc)
        return rc;
    uint64_t seq_before = b->last_seq;
    size_t after_before = b->n_after;
    b->counters.items++;
    rc = fn(child, ctx);
    if (rc == POLKU_OK)
        rc = store_err(mdb_txn_commit(child));
    else
        mdb_txn_abort(child);
    if (rc) {
        b->last_seq = seq_before;
        while (b->n_after > after_before)
            action_drop(&b->after[--b->n_after]);
        if (rc == POLKU_EFULL) {
            b->map_full = true;
            b->counters.store_full++;
        }
    }
    return rc;
}

int batch_run_item(batch *b, batch_item_fn fn, void *ctx)
{
    int rc = run_item_once(b, fn, ctx);
    if (rc == POLKU_EFULL && b->st->map_size < b->st->map_max) {
        /* Commit what the batch holds, grow the map (no transaction may be
         * open for that), and try this item once more in a new batch. */
        batch_flush(b);
        if (store_grow(b->st) == POLKU_OK)
            rc = run_item_once(b, fn, ctx);
    }
    return rc;
}

int batch_read(batch *b, batch_item_fn fn, void *ctx)
{
    MDB_txn *txn = NULL;
    int rc = store_err(mdb_txn_begin(b->st->env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc;
    size_t before = b->n_after;
    rc = fn(txn, ctx);
    mdb_txn_abort(txn);
    /* what fn queued are replies to a read: nothing to wait for */
    for (size_t i = before; i < b->n_after; i++)
        action_run(&b->after[i], rc == POLKU_OK);
    b->n_after = before;
    if (b->n_after == 0 && !b->txn) { /* no batch owns the list */
        free(b->after);
        b->after = NULL;
        b->cap_after = 0;
    }
    return rc;
}

void batch_fini(batch *b)
{
    batch_flush(b);
    for (size_t i = 0; i < b->n_after; i++)
        action_drop(&b->after[i]);
    free(b->after);
    b->after = NULL;
    b->n_after = b->cap_after = 0;
}
