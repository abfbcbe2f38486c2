/* eventlog.h — this organisation's event log and what it still owes.
 *
 * An event is written once: the next sequence number, a header (origin,
 * message id, time), the encoded envelope in the store's event database,
 * and for each destination an entry in the store's outbox database. Once
 * the batch is durable the frame also enters the in-memory outbox (which
 * sends it). An acknowledgement removes the outbox entry, in the store now
 * and in memory after the commit. The log is the organisation's record of
 * what it said: replay to a rebuilding broker reads it back in order. */
#ifndef POLKU_AGENT_EVENTLOG_H
#define POLKU_AGENT_EVENTLOG_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "outbox.h"
#include "polku/chain.h"
#include "polku/codec.h"
#include "store.h"

/* The outbox destination of events for the broker alone. */
#define EVENTLOG_DEST_BROKER ""

typedef struct eventlog {
    store *st;
    batch *b;
    outbox *ob;
    const char *org;
    /* the store's incarnation: random, made when the store is first
     * opened, new after a restore or when the broker says the store went
     * back in time; every event carries it (origin_incarnation) */
    uint64_t incarnation;
    /* the store went back in time (restored, or found so) and has yet to
     * ask the others for what they sent it since its copy (a meta flag,
     * so that it survives until the next Welcome) */
    bool resend_needed;
    /* the last seq of the log when it last asked (a meta value): a
     * conflict about an event written before that is the same trip back
     * in time, already asked about */
    uint64_t resend_asked_seq;
    /* the first event of the hash chain (logchain.h): 1, or the first
     * written after a store from before chains was upgraded */
    uint64_t chain_from;
    /* the chain hash of the event this log wrote last, at hashed_seq (0:
     * none): the next event's chain_prev without reading it back. Only
     * the log writes its store's events, each at the batch's last_seq + 1,
     * so the last one written at a sequence is the one the store holds
     * there whenever the next sequence is written (a rolled-back event's
     * sequence is written again before the one after it). */
    uint64_t hashed_seq;
    uint8_t hashed[POLKU_CHAIN_HASH];
    /* acks whose outbox entries are removed from the store by the next
     * batch (eventlog_ack_later) */
    struct eventlog_ack *acks_later;
    size_t n_acks_later, cap_acks_later;
} eventlog;

typedef struct eventlog_ack {
    uint64_t seq;
    char dest[33];
} eventlog_ack;

void eventlog_init(eventlog *log, store *st, batch *b, outbox *ob,
                   const char *org);

/* Appends an event: assigns the next sequence, fills the header, stores it
 * and, for each destination in env->to, an outbox entry. env->to may be
 * empty: an event for the broker alone (a claim, a close, the sender's own
 * `failed`), delivered and acknowledged by the broker like any other. */
int eventlog_emit(eventlog *log, MDB_txn *txn, polku_envelope *env,
                  uint64_t *seq);

/* dest's store went back in time and asks again for what this log
 * addressed to it from from_seq on: each such event not already owed to
 * dest is owed again (outbox), as it was logged. *queued: how many. */
int eventlog_resend(eventlog *log, MDB_txn *txn, const char *dest,
                    uint64_t from_seq, uint64_t *queued);

/* (seq, dest) was acknowledged or ended: its outbox entry goes, in the
 * store now and in memory after the commit. POLKU_ENOTFOUND if it was not
 * pending (a repeated ack). */
int eventlog_acknowledged(eventlog *log, MDB_txn *txn, uint64_t seq,
                          const char *dest);

/* Fills a message header that is not an event (acks, hello, heartbeat):
 * version, a new message id in msg_id, origin org and time. */
void eventlog_header(const char *org, polku_envelope *env, uint8_t msg_id[16]);

/* At start: the in-memory outbox from the store's outbox database, the
 * batch's sequence from the last stored event, and the incarnation (made
 * and stored if the store has none yet). */
int eventlog_load(eventlog *log);

/* A new incarnation, stored in txn (log->incarnation changes now: the
 * caller restores *old if the item fails). */
int eventlog_new_incarnation(eventlog *log, MDB_txn *txn, uint64_t *old);

/* What a repair of the log did: the store's last seq before it, the
 * incarnation it ended, how many sequences it marked lost (SeqLost) and how
 * many pending events it sent again at new sequences. */
/* The broker acknowledged seq for dest while no batch is open: the
 * in-memory outbox forgets it now (it is not sent again), and its entry
 * in the store goes with the next batch (eventlog_apply_acks), instead of
 * a commit and a flush of its own. Undone by a crash, the event is sent
 * again and its receiver drops the duplicate (as for any ack whose
 * removal a crash undid). POLKU_ENOTFOUND: no such entry (a repeated
 * ack), POLKU_ENOMEM. */
int eventlog_ack_later(eventlog *log, uint64_t seq, const char *dest);
/* Removes the entries of the acks left for later, in a transaction nested
 * in txn (the batch's, as it begins): a failure keeps them for the next
 * batch and changes nothing else. */
void eventlog_apply_acks(eventlog *log, MDB_txn *txn);
/* Acks left for later. */
size_t eventlog_acks_waiting(const eventlog *log);
/* Frees what eventlog_ack_later kept. */
void eventlog_fini(eventlog *log);

typedef struct eventlog_repair_result {
    uint64_t from_seq, old_incarnation, lost, reemitted;
} eventlog_repair_result;

/* The store went back in time (a restored backup or snapshot) and others
 * hold other events at its sequences up to held_through. A new
 * incarnation begins; each sequence up to held_through the log lacks gets
 * a SeqLost event for the broker alone, so the log continues after it and
 * no sequence is used twice; and every event still pending at or below
 * held_through (for dest, or any destination when dest is NULL) is sent
 * again at a new sequence, to all its destinations, since its old
 * sequence means another event to them. Receivers know an object by its
 * id, so one they already hold is not new to them. On failure the item
 * must fail (the incarnation is restored). */
int eventlog_repair(eventlog *log, MDB_txn *txn, uint64_t held_through,
                    const char *dest, eventlog_repair_result *out);

/* The broker has seen this organisation's log up to known_seq, past this
 * store's own log: eventlog_repair for every destination. Nothing to do
 * (out->lost and out->reemitted 0) when the log is already there. */
int eventlog_continue_after(eventlog *log, MDB_txn *txn, uint64_t known_seq,
                            eventlog_repair_result *out);

/* Sets or clears resend_needed, in the store (txn) and in log. */
int eventlog_set_resend_needed(eventlog *log, MDB_txn *txn, bool needed);

/* The others were asked now: resend_needed cleared, resend_asked_seq the
 * log's last seq. */
int eventlog_resend_asked(eventlog *log, MDB_txn *txn);

/* The incarnation as stored in a store opened elsewhere (for --restore and
 * tests): POLKU_ENOTFOUND if it has none. */
int eventlog_read_incarnation(store *st, MDB_txn *txn, uint64_t *out);

#endif
