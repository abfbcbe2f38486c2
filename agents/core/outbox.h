/* outbox.h — what this agent still has to get acknowledged, in memory.
 *
 * The durable truth is the store's outbox database; this is its working
 * copy, rebuilt at start. Per destination: entries in sequence order, a
 * window of unacknowledged sends (credit, so socket high-water marks are
 * never reached), exponential backoff after a "retry later", and a resend of
 * everything unacknowledged when acks stop coming (ack timeout) or the
 * broker restarts. Resends are safe: receivers keep permanent receipts. */
#ifndef POLKU_AGENT_OUTBOX_H
#define POLKU_AGENT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends one frame: 0 when queued, non-zero to stop sending for now. */
typedef int (*outbox_send_fn)(void *arg, const uint8_t *data, size_t len);

typedef struct ob_dest ob_dest;

typedef struct outbox {
    ob_dest *dests; /* uthash by org */
    size_t pending;
    uint64_t window, retry_min_ms, retry_max_ms, ack_timeout_ms;
    outbox_send_fn send;
    void *arg;
} outbox;

void outbox_init(outbox *ob, uint64_t window, uint64_t retry_min_ms,
                 uint64_t retry_max_ms, uint64_t ack_timeout_ms,
                 outbox_send_fn send, void *arg);
void outbox_fini(outbox *ob);

/* Adds an entry (takes data, malloc'ed); created_ms is when the event was
 * stored (Unix ms). Sequences come in increasing order per destination,
 * except an older event owed again (eventlog_resend): it takes its place
 * and the destination resends from its oldest unacknowledged. POLKU_OK or
 * POLKU_ENOMEM. */
int outbox_add(outbox *ob, uint64_t seq, const char *dest, uint64_t created_ms,
               uint8_t *data, size_t len);

/* Marks (seq, dest) done. True if it was pending. */
bool outbox_ack(outbox *ob, uint64_t seq, const char *dest);

/* The frame of a pending entry, or NULL. */
const uint8_t *outbox_find(const outbox *ob, uint64_t seq, const char *dest,
                           size_t *len);

/* The destination said "retry later": back off, then resend from the
 * oldest unacknowledged entry. */
void outbox_retry_later(outbox *ob, const char *dest, uint64_t now_ms);

/* Resend everything unacknowledged at the next pump (new broker epoch). */
void outbox_rewind_all(outbox *ob);

/* Sends what the windows allow; handles ack timeouts. */
void outbox_pump(outbox *ob, uint64_t now_ms);

size_t outbox_pending(const outbox *ob);

/* For each destination with something pending: how much, and when the
 * oldest of it was created (for /metrics: a destination that has been
 * unreachable for long shows a growing age, never a silent drop). */
typedef void (*outbox_dest_fn)(const char *dest, size_t pending,
                               uint64_t oldest_created_ms, void *arg);
void outbox_each_dest(const outbox *ob, outbox_dest_fn fn, void *arg);

#endif
