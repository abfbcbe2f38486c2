/* link_runs.h — the messages of one frame from the broker applied in one
 * batch item.
 *
 * Why it exists: the broker sends what it has for an agent as a Bundle of
 * many events and acks, and each applied in a batch item of its own costs
 * a nested LMDB transaction (its dirty-page list allocated, merged into
 * the batch and freed) per message. A run of them applied in one item
 * pays that once. Items stand or fall alone (batch.h), and one message
 * that cannot apply now (a store error, content sealed to a key not held
 * yet) must not hold back the others: when the run fails, nothing of it
 * is kept (its acks and other after-actions go with it) and each message
 * is applied again in an item of its own, as if no run had been tried.
 * So what is acknowledged is exactly what would have been one at a time.
 *
 *   | state | event                 | next | what happens                 |
 *   |-------|-----------------------|------|------------------------------|
 *   | -     | link_runs_apply       | run  | fn(0..n-1) in one item       |
 *   | run   | every fn POLKU_OK     | done | one item kept                |
 *   | run   | an fn fails           | each | item dropped; undo(arg)      |
 *   | each  | fn(i) in its own item | done | each kept or dropped alone   |
 */
#ifndef POLKU_AGENT_LINK_RUNS_H
#define POLKU_AGENT_LINK_RUNS_H

#include <stddef.h>

#include "batch.h"

/* Applies message i of the run in txn: POLKU_OK keeps it, anything else
 * drops it (and, in a run, the run). */
typedef int (*link_run_fn)(void *arg, MDB_txn *txn, size_t i);

/* Applies messages 0..n-1 with fn in one batch item, or, when that item
 * fails, each in an item of its own after undo(arg) (may be NULL: what
 * fn changed outside the store, counters say, is put back by it). A run
 * of one is applied alone at once. Returns how many messages were not
 * applied (0: all were). */
size_t link_runs_apply(batch *b, size_t n, link_run_fn fn, void (*undo)(void *),
                       void *arg);

#endif
