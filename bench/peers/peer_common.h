/* peer_common.h — what the RabbitMQ and NATS clients of bench/compare
 * share: the options both take, the clock and deadline, the payload, the
 * three end points of a message and the timed phases that measure them,
 * and the key=value lines bench/compare reads. Each client keeps only what
 * is particular to its system.
 *
 * The three end points (bench/README.md, "bench/compare"), for message
 * number seq (its first 8 bytes, big endian):
 *   sender    the broker's acknowledgement of the publish reached the
 *             publisher (publisher confirm, PubAck);
 *   receiver  the receiving system (a consumer thread) has committed the
 *             message to its own durable LMDB store (peer_store.h), one
 *             transaction per batch of what had arrived, before acking it;
 *   receipt   the receiver's reply, published to a durable queue after its
 *             commit, has been consumed back at the publisher. */
#ifndef POLKU_BENCH_PEER_COMMON_H
#define POLKU_BENCH_PEER_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_PAYLOAD_MAX 65536
#define PEER_WINDOWS_MAX 4

typedef struct peer_opts {
    const char *name; /* "rabbit_bench": prefix of every error */
    size_t serial, count, warmup;
    int windows[PEER_WINDOWS_MAX]; /* one throughput phase each */
    int nwindows;
    int size, timeout_s;
    int server_pid;    /* its CPU is read around each phase; 0: not */
    const char *store; /* the receiver's LMDB directory */
} peer_opts;

/* Defaults: 300 one at a time after 50 warm-up, 10 000 at 32 in flight,
 * 500-byte payloads, 300 s for the whole run. */
extern peer_opts peer;
extern char peer_payload[PEER_PAYLOAD_MAX];

/* Prints "NAME: what: why" and exits 1 (no figures for a broken run). */
void peer_die(const char *what, const char *why);
double peer_now_s(void);
/* Seconds left of the run's deadline (set by peer_start); ends the run
 * when it has passed. */
double peer_left_s(void);

/* A non-negative decimal, or -1. */
long peer_num(const char *s);
/* Applies a shared option (--serial --count --window(s) --warmup --size
 * --timeout --server-pid --store) with its value; false if a is not one of
 * them or v is bad. --window takes a comma-separated list. */
bool peer_option(const char *a, const char *v);
/* After parsing: the deadline starts, the payload is filled, the marks
 * are allocated. */
void peer_start(void);

/* Messages in the whole run: warm-up, one at a time, every phase. */
size_t peer_total(void);
/* Writes seq into the payload's first 8 bytes (the publisher's, before
 * each publish). */
void peer_stamp(uint64_t seq);
/* The seq of a received payload; dies if it is not one of this run's or
 * the size is wrong. */
uint64_t peer_seq_of(const void *data, size_t len);

/* The receiver committed these messages (now): their receiver end point.
 * Called by the receiver thread after each commit. */
void peer_mark_received(const uint64_t *seqs, size_t n);
/* Messages committed by the receiver so far. */
size_t peer_received_count(void);
/* The reply for seq was consumed at the publisher (now). Dies on a
 * duplicate. */
void peer_mark_receipt(uint64_t seq);
/* The receiver thread, whose CPU time is reported separately. */
void peer_set_receiver(pthread_t receiver);
/* Called by the receiver thread when it has taken every message: returns
 * once the last phase has read its CPU time (so the thread still exists
 * for that reading). */
void peer_receiver_linger(void);

/* One message at a time: one(arg, seq, &sender, &receipt) publishes
 * message seq, waits for the broker's acknowledgement (its time into
 * *sender) and for the reply at the publisher (its time into *receipt,
 * after peer_mark_receipt). peer.warmup untimed, then peer.serial timed;
 * prints serial_* lines. */
typedef void (*peer_one_fn)(void *arg, uint64_t seq, double *sender,
                            double *receipt);
void peer_run_serial(peer_one_fn one, void *arg);

/* A throughput phase: publishes seqs first .. first+n-1 with at most window
 * unacknowledged by the broker, returns the time the last acknowledgement
 * arrived, and returns only when every reply has been consumed. */
typedef double (*peer_phase_fn)(void *arg, uint64_t first, size_t n,
                                int window);
/* One phase per window; prints tput_w<W>_* lines for each. */
void peer_run_throughput(peer_phase_fn phase, void *arg);

#endif
