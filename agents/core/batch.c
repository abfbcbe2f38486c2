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

int batch_after(batch *b, batch_after_fn fn, void *arg, batch_free_fn free_fn)
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
    b->after[b->n_after++] = (batch_action){fn, arg, free_fn};
    return POLKU_OK;
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

void batch_commit(batch *b)
{
    if (!b->txn)
        return;
    int rc = mdb_txn_commit(b->txn); /* a failed commit has aborted */
    b->txn = NULL;
    bool ok = rc == MDB_SUCCESS;
    if (ok) {
        b->committed_seq = b->last_seq;
        b->counters.commits++;
    } else {
        log_error("batch commit failed: %s", mdb_strerror(rc));
        b->counters.commit_failures++;
        b->last_seq = b->committed_seq;
        if (store_err(rc) == POLKU_EFULL)
            b->map_full = true;
    }
    /* Actions may start a new batch; take the list first. */
    batch_action *list = b->after;
    size_t n = b->n_after;
    b->after = NULL;
    b->n_after = b->cap_after = 0;
    for (size_t i = 0; i < n; i++)
        action_run(&list[i], ok);
    free(list);
    /* Grow before the map is full: a commit that runs out of pages loses
     * its whole batch (answered 507, not acked: nothing acknowledged is
     * lost, but the callers must retry). */
    if (b->map_full || store_used(b->st) > b->st->map_size / 4 * 3) {
        bool asked = b->map_full;
        b->map_full = false;
        if (store_grow(b->st) == POLKU_EFULL && asked)
            log_error("store full at its maximum map size (%llu MiB)",
                      (unsigned long long)(b->st->map_max >> 20));
    }
    if (b->committed)
        b->committed(b->hook_arg, ok);
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
        batch_commit(b);
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
    batch_commit(b);
    for (size_t i = 0; i < b->n_after; i++)
        action_drop(&b->after[i]);
    free(b->after);
    b->after = NULL;
    b->n_after = b->cap_after = 0;
}
