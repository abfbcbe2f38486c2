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
#include <stdint.h>

#include "batch.h"
#include "outbox.h"
#include "polku/codec.h"
#include "store.h"

/* The outbox destination of events for the broker alone. */
#define EVENTLOG_DEST_BROKER ""

typedef struct eventlog {
    store *st;
    batch *b;
    outbox *ob;
    const char *org;
} eventlog;

void eventlog_init(eventlog *log, store *st, batch *b, outbox *ob,
                   const char *org);

/* Appends an event: assigns the next sequence, fills the header, stores it
 * and, for each destination in env->to, an outbox entry. env->to may be
 * empty: an event for the broker alone (a claim, a close, the sender's own
 * `failed`), delivered and acknowledged by the broker like any other. */
int eventlog_emit(eventlog *log, MDB_txn *txn, polku_envelope *env,
                  uint64_t *seq);

/* (seq, dest) was acknowledged or ended: its outbox entry goes, in the
 * store now and in memory after the commit. POLKU_ENOTFOUND if it was not
 * pending (a repeated ack). */
int eventlog_acknowledged(eventlog *log, MDB_txn *txn, uint64_t seq,
                          const char *dest);

/* Fills a message header that is not an event (acks, hello, heartbeat):
 * version, a new message id in msg_id, origin org and time. */
void eventlog_header(const char *org, polku_envelope *env, uint8_t msg_id[16]);

/* At start: the in-memory outbox from the store's outbox database, and the
 * batch's sequence from the last stored event. */
int eventlog_load(eventlog *log);

#endif
