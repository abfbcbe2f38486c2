/* peer_store.h — the receiving organisation's own durable store, for the
 * peers' consumers in bench/compare.
 *
 * Why it exists: a message is "durable at the receiver" only when the
 * receiving system has it on its own disk, not when a broker delivered
 * it. polku's receiving agent commits each referral to LMDB before it
 * acknowledges; the peers' consumers do the same here: an LMDB
 * environment with the default, durable flags (no MDB_NOSYNC, no
 * MDB_NOMETASYNC: each commit flushes), one write transaction per batch
 * of messages that had arrived (group commit), committed before the
 * batch is acknowledged to the broker. One thread uses a store. */
#ifndef POLKU_BENCH_PEER_STORE_H
#define POLKU_BENCH_PEER_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct peer_store peer_store;

/* Opens (creates) the environment in dir; dies on failure. */
peer_store *peer_store_open(const char *dir, size_t max_batch);
/* Adds one message to the open batch (a transaction begun on demand). */
void peer_store_put(peer_store *s, uint64_t seq, const void *data, size_t len);
/* Messages in the open batch. */
size_t peer_store_pending(const peer_store *s);
/* Commits the batch (durable on return), marks its messages received
 * (peer_mark_received) and returns how many it held. */
size_t peer_store_commit(peer_store *s);
/* The seqs of the batch just committed (valid until the next put). */
const uint64_t *peer_store_batch(const peer_store *s);
/* Transactions committed so far. */
size_t peer_store_commits(const peer_store *s);
void peer_store_close(peer_store **s);

#endif
