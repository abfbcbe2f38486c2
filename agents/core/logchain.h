/* logchain.h — this organisation's event log as a hash chain.
 *
 * Why: the log is the organisation's record of what it said and received
 * under which consent, and the store is its own to edit. Every event
 * written names the chain hash of the event before it (chain_prev,
 * lib/chain.h); the head (last seq, its hash) is signed with the
 * organisation's signing key and sent to the broker in every Hello and
 * heartbeat. The broker republishes every organisation's head; this
 * module keeps the ones seen (meta "head:ORG", signed by their owners)
 * and walks the log against them (`polku log verify`).
 *
 * A store from before chains keeps opening: the chain begins at the first
 * event written after the upgrade (meta "chain_from"), whose chain_prev
 * names the hash of the last event before it; the events before are not
 * checked (docs/trust.md). */
#ifndef POLKU_AGENT_LOGCHAIN_H
#define POLKU_AGENT_LOGCHAIN_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "polku/chain.h"
#include "store.h"

/* The chain hash of the event stored at seq: POLKU_ENOTFOUND if none. */
int logchain_hash_at(store *st, MDB_txn *txn, uint64_t seq,
                     uint8_t out[POLKU_CHAIN_HASH]);

/* Where the chain begins: meta chain_from, written now (last_seq + 1) in
 * its own transaction when the store has none (a new store: 1; a store
 * from before chains: after its last event). */
int logchain_load(store *st, uint64_t last_seq, uint64_t *chain_from);

/* The head of this log (its last event), signed with sk; head->seq 0 when
 * the log is empty. */
int logchain_own_head(store *st, MDB_txn *txn, const char *org,
                      const uint8_t sk[POLKU_SIGN_SK], polku_chain_head *head);

/* The head of org's log this store holds: POLKU_ENOTFOUND if none;
 * POLKU_ECORRUPT if the stored record does not decode (why says so). */
int logchain_held(store *st, MDB_txn *txn, const char *org,
                  polku_chain_head *head, char *why, size_t why_len);

/* Keeps h as the head of h->org's log if it is newer than the one held
 * (a higher seq, or another incarnation). *kept says whether it was. */
int logchain_hold(store *st, MDB_txn *txn, const polku_chain_head *h,
                  bool *kept);

/* What a walk of the chain found. */
typedef struct logchain_report {
    uint64_t chain_from; /* first chained seq (0: no chain_from meta) */
    uint64_t last_seq;
    uint64_t checked;  /* links checked */
    uint64_t bad_seq;  /* 0: the chain holds */
    char problem[200]; /* what is wrong at bad_seq */
    /* this log's head as the broker republished it (held) */
    bool head_held;
    polku_chain_head head;
    bool head_matches;   /* the stored event at head.seq hashes to it */
    bool head_skipped;   /* written by another incarnation: not comparable */
    bool head_signature; /* the held head's signature verifies */
} logchain_report;

/* Walks org's chain in txn: each event from chain_from on must name the
 * hash of the one before, and the event at the held head's seq must hash
 * to the head (checked when the head's incarnation is the event's). pk:
 * org's signing key, to check the held head's signature (NULL: not
 * checked). The first bad sequence is the event whose stored bytes no
 * longer hash to what the next event (or the held head) recorded.
 * POLKU_OK with the report filled; bad_seq says whether it holds. */
int logchain_verify(store *st, MDB_txn *txn, const char *org, const uint8_t *pk,
                    logchain_report *r);

/* Opens a store's environment read-only (events and meta only) for a
 * verification beside a running agent or of a stopped one: a read
 * transaction never blocks the agent's writes. *txn is the open read
 * transaction; logchain_close_readonly ends both. */
int logchain_open_readonly(store *st, const char *dir, MDB_txn **txn);
void logchain_close_readonly(store *st, MDB_txn *txn);

#endif
