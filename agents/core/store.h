/* store.h — the agent's LMDB environment: the only durable state in polku.
 *
 * Named databases:
 *   events     seq (8 bytes BE)            -> encoded Envelope, as sent
 *   outbox     seq (8 BE) + dest org       -> created ms (8 BE): not yet acked
 *   receipts   origin org + 0 + seq (8 BE) -> received ms: permanent dedup
 *   referrals  referral id (16)            -> ReferralRecord (protobuf)
 *   consents   consent id (16)             -> ConsentRecord (protobuf)
 *   consents_by_client  client key (16) + consent id (16) -> empty
 *   clients    client key (16)             -> canonical identity code: the
 *              only place a henkilötunnus is kept; it never leaves here
 *   meta       text key                    -> value ("org", "directory")
 *   paths      client key (16)             -> PathRecord: who coordinates,
 *              as far as this organisation knows
 *   handovers  handover id (16)            -> HandoverRecord (protobuf)
 * All writes happen on the loop thread inside the agent's batch transaction;
 * see agent.h for the group commit. LMDB errors are translated here:
 * MDB_MAP_FULL -> POLKU_EFULL, MDB_NOTFOUND -> POLKU_ENOTFOUND,
 * MDB_CORRUPTED and MDB_PAGE_NOTFOUND -> POLKU_ECORRUPT, any other
 * -> POLKU_ESTORE. */
#ifndef POLKU_AGENT_STORE_H
#define POLKU_AGENT_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku.pb-c.h"

typedef struct store {
    MDB_env *env;
    MDB_dbi events, outbox, receipts, referrals, consents, consents_by_client,
        clients, meta, paths, handovers, reconcile;
    uint64_t map_size, map_max;
    uint64_t ahead_end; /* end of the zero-filled space store_write_ahead
                           wrote last (0: none yet); only a hint */
} store;

/* Opens (creating) the environment in dir (mkdir'ed), clears stale reader
 * slots (mdb_reader_check), checks it (store_check.h: its size, then a walk
 * of its databases, bounded on big stores) and binds it to org: a store
 * that belongs to another org is refused with POLKU_EINVAL, a damaged one
 * with POLKU_ECORRUPT after one log line naming dir, the damage and what
 * the operator can do. */
int store_open(store *s, const char *dir, uint64_t map_size, uint64_t map_max,
               const char *org);
/* Flushes what the last commit left unflushed, then closes. */
void store_close(store *s);

/* Commits txn and flushes it whole (both the data and the meta page): for
 * the commits made outside the batch (opening, restore, chain start), which
 * must be durable before anything goes on. The store is opened with
 * MDB_NOMETASYNC (batch.h says why). */
int store_commit_durable(store *s, MDB_txn *txn);

int store_err(int mdb_rc);

/* Doubles the map up to map_max. No transaction may be open in the
 * process. POLKU_OK, or POLKU_EFULL when already at the maximum. */
int store_grow(store *s);

/* Bytes of the map in use (last page written). */
uint64_t store_used(store *s);

/* Keeps written, zero-filled space in data.mdb ahead of the last used
 * page (STORE_AHEAD_LOW at least, a chunk at a time), so that a commit's
 * flush carries its own pages only: a flush that grows a file must also
 * write the file's size and block map (ext4 writes them synchronously on
 * every such fdatasync), and a growing store would pay that on nearly
 * every commit. Call with no write transaction open (it writes beyond the
 * last page LMDB has written); a failure is logged and changes nothing
 * LMDB relies on. Cheap when there is room: no system call. */
void store_write_ahead(store *s);

void store_seq_key(uint64_t seq, uint8_t out[8]);
uint64_t store_seq_from_key(const void *key);

/* The highest event sequence (0 when empty). */
int store_last_seq(store *s, MDB_txn *txn, uint64_t *out);

int store_event_put(store *s, MDB_txn *txn, uint64_t seq, const void *data,
                    size_t len);
/* data points into the map: valid until txn ends. */
int store_event_get(store *s, MDB_txn *txn, uint64_t seq, MDB_val *data);

/* Each stored event from from_seq on, in order, until fn returns non-zero
 * (which is returned). data points into the map: copy what is kept. */
int store_each_event(store *s, MDB_txn *txn, uint64_t from_seq,
                     int (*fn)(void *arg, uint64_t seq, const void *data,
                               size_t len),
                     void *arg);

int store_outbox_put(store *s, MDB_txn *txn, uint64_t seq, const char *dest,
                     uint64_t now_ms);
/* POLKU_OK if removed, POLKU_ENOTFOUND if it was not there. */
int store_outbox_del(store *s, MDB_txn *txn, uint64_t seq, const char *dest);
/* Whether (seq, dest) is pending in txn's view of the outbox. */
bool store_outbox_has(store *s, MDB_txn *txn, uint64_t seq, const char *dest);
/* Each pending (seq, dest) at or below through, in sequence order, until fn
 * returns non-zero (which is returned). dest "" is the broker. */
int store_outbox_each(store *s, MDB_txn *txn, uint64_t through,
                      int (*fn)(void *arg, uint64_t seq, const char *dest),
                      void *arg);

/* What a receipt says of an event that arrives. */
typedef enum store_receipt {
    STORE_RECEIPT_NEW,       /* recorded now: apply the event */
    STORE_RECEIPT_DUPLICATE, /* the same event again (same message id) */
    STORE_RECEIPT_CONFLICT,  /* another event at a sequence already used:
                                the origin's store went back in time */
} store_receipt;

/* Records a receipt for (origin, seq) and the event's message id (16
 * bytes, or NULL) unless one is there, and says which. Receipts from
 * before message ids were kept never conflict. */
int store_receipt_add(store *s, MDB_txn *txn, const char *origin, uint64_t seq,
                      uint64_t now_ms, const uint8_t *msg_id,
                      store_receipt *out);

/* The highest sequence of origin this store holds a receipt for (0 if
 * none): how far it has received origin's log. */
int store_receipt_last(store *s, MDB_txn *txn, const char *origin,
                       uint64_t *out);

/* The reconcile database's notes (reconcile.h) under their keys. get:
 * POLKU_ENOTFOUND when absent; the caller owns *out. */
int store_reconcile_get(store *s, MDB_txn *txn, const uint8_t *key,
                        size_t key_len, Polku__ReconcileRecord **out);
int store_reconcile_put(store *s, MDB_txn *txn, const uint8_t *key,
                        size_t key_len, const Polku__ReconcileRecord *r);
int store_each_reconcile(store *s, MDB_txn *txn,
                         int (*fn)(void *arg, const Polku__ReconcileRecord *r),
                         void *arg);

/* Caller owns *out (polku__referral_record__free_unpacked(*out, NULL)). */
int store_referral_get(store *s, MDB_txn *txn, const uint8_t id[16],
                       Polku__ReferralRecord **out);
int store_referral_put(store *s, MDB_txn *txn, const Polku__ReferralRecord *r);

/* Caller owns *out (free_unpacked). */
int store_path_get(store *s, MDB_txn *txn, const uint8_t key[16],
                   Polku__PathRecord **out);
int store_path_put(store *s, MDB_txn *txn, const Polku__PathRecord *p);
int store_handover_get(store *s, MDB_txn *txn, const uint8_t id[16],
                       Polku__HandoverRecord **out);
int store_handover_put(store *s, MDB_txn *txn, const Polku__HandoverRecord *h);

/* Caller owns *out (polku__consent_record__free_unpacked(*out, NULL)). */
int store_consent_get(store *s, MDB_txn *txn, const uint8_t id[16],
                      Polku__ConsentRecord **out);
/* Stores the record and its client index entry. */
int store_consent_put(store *s, MDB_txn *txn, const Polku__ConsentRecord *r);
/* Calls fn for each consent of a client until fn returns non-zero; the
 * record lives only for the call (fn neither keeps nor frees it). */
int store_consents_of_client(store *s, MDB_txn *txn, const uint8_t key[16],
                             int (*fn)(Polku__ConsentRecord *r, void *arg),
                             void *arg);

/* Calls fn for each referral (handover, path) in key order until fn
 * returns non-zero; records that do not decode are skipped. The only
 * walks over these databases: nobody outside the store opens a cursor. */
int store_each_referral(store *s, MDB_txn *txn,
                        int (*fn)(Polku__ReferralRecord *r, void *arg),
                        void *arg);
int store_each_handover(store *s, MDB_txn *txn,
                        int (*fn)(Polku__HandoverRecord *h, void *arg),
                        void *arg);
int store_each_path(store *s, MDB_txn *txn,
                    int (*fn)(Polku__PathRecord *p, void *arg), void *arg);

/* Remembers the identity code behind a client key (idempotent). */
int store_client_put(store *s, MDB_txn *txn, const uint8_t key[16],
                     const char *canonical_hetu);

/* Whether this store knows the client (its identity code, a path or a
 * consent) or the id (a referral, handover or consent): which region's
 * store a request is about (api_front.c). */
bool store_knows_client(store *s, MDB_txn *txn, const uint8_t key[16]);
bool store_knows_id(store *s, MDB_txn *txn, const uint8_t id[16]);
int store_meta_get(store *s, MDB_txn *txn, const char *key, MDB_val *out);
int store_meta_put(store *s, MDB_txn *txn, const char *key, const void *data,
                   size_t len);

#endif
