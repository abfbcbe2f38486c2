/* reconcile.h — what a store that went back in time knows it lost.
 *
 * A store restored from a backup or a VM snapshot lacks what happened
 * between its copy and its restore; others hold that. They say so in two
 * ways, and both are noted here, in the store's `reconcile` database, so
 * that an operator can see and settle them (`GET /v1/reconcile`, `polku
 * reconcile`):
 *
 *   note      when                                   what it tells
 *   repair    the broker's Welcome or a receiver's    the log's sequences
 *             SeqConflict says others hold the log    from..through are not
 *             past this store (eventlog_repair)       here; what was pending
 *                                                     and sent again
 *   unknown   an event from another organisation     an object (referral,
 *             names an object this store does not     handover, consent,
 *             hold (its status of a referral made     path) made in the lost
 *             in the lost time, say)                  time, and who holds it
 *
 * Notes are kept: they are the operator's list of what to look up with
 * the organisations named. Nothing here changes what the store holds. */
#ifndef POLKU_AGENT_RECONCILE_H
#define POLKU_AGENT_RECONCILE_H

#include <lmdb.h>
#include <stdint.h>

#include "eventlog.h"
#include "polku/codec.h"
#include "store.h"

/* A repair of the log, told by told_by ("broker" or a receiver): others
 * hold it up to through; res as eventlog_repair gave it. */
int reconcile_note_repair(store *st, MDB_txn *txn,
                          const eventlog_repair_result *res, uint64_t through,
                          uint64_t new_incarnation, const char *told_by,
                          uint64_t now_ms);

/* env (from another organisation) names an object this store does not
 * hold: noted once per object, counted each time. Events that name no
 * object are not noted. */
int reconcile_note_unknown(store *st, MDB_txn *txn, const polku_envelope *env,
                           uint64_t now_ms);

/* The kind of object env is about: referral, handover, consent, path, or
 * NULL. */
const char *reconcile_object_kind(const polku_envelope *env);

#endif
