/* outq.h — frames gathered during one loop turn, sent as one bundle per
 * destination before the loop sleeps.
 *
 * Why it exists: every event and every ack used to be its own ZeroMQ
 * message — at 32 referrals in flight, eight transmissions per referral,
 * each one a hand-off to libzmq's I/O thread, a CURVE box, a wake-up and a
 * send(2) on both ends. Broker and agent both work in loop turns (a batch
 * of received frames, a group commit, the answers that waited for it), so
 * whatever one turn sends to the same connection can leave as one frame.
 * The queue keeps the order of the frames per destination, so nothing the
 * protocol relies on (a Welcome before what follows it, an event before
 * the next one of the same origin) changes; a destination that did not
 * say it takes bundles (Hello.bundles / Welcome.bundles) gets each frame
 * as before, and a frame alone is sent as it is. It knows nothing of the
 * loop or of sockets: its owner adds, and flushes just before the loop
 * would block (polku_zwatch_before_sleep), through a sink.
 *
 * Lifecycle of a queued frame:
 *
 *   | state   | event                         | next    | what happens        |
 *   |---------|-------------------------------|---------|---------------------|
 *   | -       | polku_outq_add                | queued  | bytes copied        |
 *   | queued  | flush, destination bundles    | sent    | in a Bundle of up   |
 *   |         |                               |         | to max_bytes        |
 *   | queued  | flush, destination does not,  | sent    | as its own frame    |
 *   |         | or it is the only one         |         |                     |
 *   | queued  | flush, the send fails         | failed  | sink.failed(tag)    |
 *   | queued  | polku_outq_drop(dest)         | dropped | (a closed socket)   |
 */
#ifndef POLKU_OUTQ_H
#define POLKU_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct polku_outq polku_outq;

/* Where a flush sends, and whom it tells. dest is the owner's index of a
 * connection (the broker's directory index; the agent's link uses 0). */
typedef struct polku_outq_sink {
    /* whether dest takes a Bundle (false: one frame per message) */
    bool (*bundles)(void *arg, int dest);
    /* sends one frame to dest without blocking: 0 or an errno */
    int (*send)(void *arg, int dest, const uint8_t *data, size_t len);
    /* a queued message that could not be sent (may be NULL) */
    void (*failed)(void *arg, int dest, uint64_t tag, int err);
    void *arg;
    const char *origin_org; /* the bundles' origin_org ("" the broker) */
} polku_outq_sink;

/* max_bytes: a bundle's size at most (0 -> 256 KiB; a larger message is
 * sent alone). POLKU_OK or POLKU_ENOMEM. */
int polku_outq_new(size_t max_bytes, polku_outq **out);
void polku_outq_free(polku_outq **q);

/* Queues a copy of data for dest (>= 0); tag is handed back to sink.failed
 * if it cannot be sent. POLKU_OK or POLKU_ENOMEM (nothing queued). */
int polku_outq_add(polku_outq *q, int dest, const void *data, size_t len,
                   uint64_t tag);

/* Messages waiting. */
size_t polku_outq_pending(const polku_outq *q);

/* Forgets what waits for dest (its connection was replaced). */
void polku_outq_drop(polku_outq *q, int dest);

/* Sends everything queued, each destination's messages in the order they
 * were added. A failed message is handed to sink->failed, which may queue
 * new messages: they wait for the next flush. Returns the frames sent. */
size_t polku_outq_flush(polku_outq *q, const polku_outq_sink *sink);

/* Messages and frames so far (their ratio is the bundling at work). */
unsigned long long polku_outq_messages(const polku_outq *q);
unsigned long long polku_outq_frames(const polku_outq *q);

#endif
