/* batch.h — the agent's group commit: one LMDB write transaction per loop
 * turn, each item in a nested transaction of it.
 *
 * Everything that arrives in one loop turn — API calls, inbound messages,
 * acks — is applied inside one write transaction (the batch). Each item
 * runs in a nested transaction, so an item that fails changes nothing
 * while the rest of the batch stands. What must wait until the batch is
 * durable (an HTTP answer, an ack, a frame entering the in-memory outbox, a
 * log line) is queued with batch_after and runs after the commit.
 *
 * The batch knows nothing of HTTP, ZeroMQ or the loop: whoever owns it
 * says, through `opened`, how to get batch_commit called soon (the agent
 * starts an idle handle, a test commits by hand), and through `unsynced`,
 * how to get batch_sync called soon unless another commit comes first.
 *
 * One flush per commit. An LMDB commit is two flushes: the data pages
 * (fdatasync), then the meta page that points at them (a synchronous
 * write). The store is opened with MDB_NOMETASYNC, so a commit does the
 * first only and writes its meta page unflushed; a process crash loses
 * nothing (the page cache keeps it), an OS crash may undo that last commit.
 * So its after-actions wait (`unsynced`) until a flush covers the meta
 * page: the next commit that writes anything (its data flush takes the
 * whole file), or batch_sync (mdb_env_sync) when no commit comes first.
 * Under load a commit costs one flush instead of two and the loop is
 * blocked half as long; one at a time it costs the same two flushes.
 * Reads may see a commit before its meta page is flushed; answers, acks
 * and frames never leave before it (docs/architecture.md, durability).
 *
 * Lifecycle of the batch:
 *
 *   | state  | event                     | next   | what happens            |
 *   |--------|---------------------------|--------|-------------------------|
 *   | closed | batch_run_item            | open   | write txn begun; opened |
 *   | open   | batch_run_item ok         | open   | item's changes kept     |
 *   | open   | batch_run_item fails      | open   | item's changes and its  |
 *   |        |                           |        | after-actions dropped   |
 *   | open   | batch_commit ok           | closed | at-commit actions run;  |
 *   |        |                           |        | after-actions wait for  |
 *   |        |                           |        | the meta flush; those   |
 *   |        |                           |        | of the commit before run|
 *   |        |                           |        | (committed = true) if   |
 *   |        |                           |        | this one wrote pages    |
 *   | open   | batch_commit fails        | closed | after-actions run with  |
 *   |        |                           |        | committed = false       |
 *   | closed | batch_sync                | closed | waiting actions run     |
 *   |        |                           |        | (committed = true)      |
 *
 * The event sequence lives here too (last_seq, committed_seq): it is the
 * one counter that must roll back with an item or a failed commit. */
#ifndef POLKU_AGENT_BATCH_H
#define POLKU_AGENT_BATCH_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku/log.h"
#include "store.h"

/* An after-commit action: fn(arg, committed) once the batch has committed
 * (or failed to), then free_fn(arg). An action of an item that failed is
 * only freed. */
typedef void (*batch_after_fn)(void *arg, bool committed);
typedef void (*batch_free_fn)(void *arg);

typedef struct batch_action {
    batch_after_fn fn;
    void *arg;
    batch_free_fn free_fn;
    bool at_commit; /* runs at the commit, not after its flush */
} batch_action;

typedef struct batch_counters {
    unsigned long long commits, commit_failures, items, store_full;
    unsigned long long syncs; /* batch_sync flushes */
    unsigned long long sync_failures;
} batch_counters;

typedef struct batch {
    store *st;
    MDB_txn *txn; /* the open batch, or NULL */
    batch_action *after;
    size_t n_after, cap_after;
    bool map_full;
    uint64_t last_seq;      /* highest seq assigned, in the open batch too */
    uint64_t written_seq;   /* highest seq committed, durable or not yet */
    uint64_t committed_seq; /* highest seq durably stored */
    /* actions of the last commit, waiting for its meta page's flush */
    bool waiting; /* the last commit's meta page is not flushed yet */
    batch_action *unsynced;
    size_t n_unsynced;
    uint64_t unsynced_seq;
    /* called when a batch opens: arrange for batch_commit to run soon */
    void (*opened)(void *arg);
    /* called with the batch's transaction as it begins, before its first
     * item: work left for the next batch (acks' outbox removals) goes in
     * first, so that every item sees it; failures must stay inside it
     * (a nested transaction) */
    void (*begun)(void *arg, MDB_txn *txn);
    /* called when a commit leaves actions waiting: arrange for batch_sync
     * to run soon unless another commit comes first */
    void (*unsynced_hook)(void *arg);
    /* called after actions of a commit ran (durable, or failed) */
    void (*committed)(void *arg, bool ok);
    void *hook_arg;
    batch_counters counters;
} batch;

void batch_init(batch *b, store *st);
/* Commits what is open (answering what waits with what is durable). */
void batch_fini(batch *b);

/* An item: fn(txn, ctx) in a nested transaction of the batch. fn returns
 * POLKU_OK to keep its changes, anything else to drop them and the
 * after-actions it queued. A full map is grown and the item tried once
 * more in a new batch. Returns fn's result, or the store's error. */
typedef int (*batch_item_fn)(MDB_txn *txn, void *ctx);
int batch_run_item(batch *b, batch_item_fn fn, void *ctx);

/* A read: fn in a read-only transaction of its own (it sees only what is
 * committed); the actions fn queued run at once. Returns fn's result. */
int batch_read(batch *b, batch_item_fn fn, void *ctx);

/* Commits the open batch and grows the map if it is getting full. Its
 * actions run when it is durable: at the next commit that writes (which
 * also runs the waiting actions of the commit before), or at batch_sync.
 * A failed commit runs its actions at once with committed = false. Nothing
 * to do when no batch is open. */
void batch_commit(batch *b);

/* Flushes what is committed but not yet durable (the last commit's meta
 * page) and runs the actions waiting for it. Nothing to do when nothing
 * waits. */
void batch_sync(batch *b);

/* True when a commit waits for batch_sync (its meta page unflushed). */
bool batch_unsynced(const batch *b);

/* batch_commit then batch_sync: everything durable and answered now
 * (shutdown, tests, the map about to be resized). */
void batch_flush(batch *b);

/* Queues an action of the item now running (or of the read). POLKU_OK, or
 * POLKU_ENOMEM after free_fn(arg) (fn never runs). */
int batch_after(batch *b, batch_after_fn fn, void *arg, batch_free_fn free_fn);

/* An action that needs the commit but not its flush: it runs as soon as
 * the batch has committed (committed = true), or failed to. For what an
 * OS crash may undo without harm — an ack's removal of an outbox entry
 * (undone, the event is sent again and its receiver drops the duplicate).
 * A commit whose actions are all of this kind and that stored no new
 * event waits for no flush of its own: a later commit's flush covers it
 * (one flush fewer per lone ack). */
int batch_after_commit(batch *b, batch_after_fn fn, void *arg,
                       batch_free_fn free_fn);

/* A log line written once the batch is durable: a state change is
 * announced only when it is true; the line goes with the item or the
 * batch if they fail. Formatted now (nothing when the level is
 * filtered). */
void batch_after_log(batch *b, polku_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
