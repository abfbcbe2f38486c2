/* link_runs.c — a frame's messages in one batch item (see link_runs.h). */
#include "link_runs.h"

#include "polku/error.h"

typedef struct run {
    link_run_fn fn;
    void *arg;
    size_t from, n; /* the messages this item applies */
} run;

static int apply_run(MDB_txn *txn, void *ctx)
{
    const run *r = ctx;
    int rc = POLKU_OK;
    for (size_t i = r->from; rc == POLKU_OK && i < r->from + r->n; i++)
        rc = r->fn(r->arg, txn, i);
    return rc;
}

size_t link_runs_apply(batch *b, size_t n, link_run_fn fn, void (*undo)(void *),
                       void *arg)
{
    if (n == 0)
        return 0;
    run all = {fn, arg, 0, n};
    if (batch_run_item(b, apply_run, &all) == POLKU_OK)
        return 0;
    if (n == 1)
        return 1;
    if (undo)
        undo(arg);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        run one = {fn, arg, i, 1};
        if (batch_run_item(b, apply_run, &one) != POLKU_OK)
            failed++;
    }
    return failed;
}
