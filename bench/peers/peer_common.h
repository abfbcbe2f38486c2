/* peer_common.h — what the RabbitMQ and NATS clients of bench/compare
 * share: the options both take, the clock and deadline, the payload, the
 * timed one-at-a-time loop and the key=value lines bench/compare reads.
 * Each client keeps only what is particular to its system. */
#ifndef POLKU_BENCH_PEER_COMMON_H
#define POLKU_BENCH_PEER_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#define PEER_PAYLOAD_MAX 65536

typedef struct peer_opts {
    const char *name; /* "rabbit_bench": prefix of every error */
    size_t serial, count, warmup;
    int window, size, timeout_s;
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
/* Applies a shared option (--serial --count --window --warmup --size
 * --timeout) with its value; false if a is not one of them or v is bad. */
bool peer_option(const char *a, const char *v);
/* After parsing: the deadline starts, the payload is filled. */
void peer_start(void);

/* Times peer.warmup + peer.serial calls of one(arg), the warm-up untimed,
 * and prints serial_n, serial_p50_ms, serial_p99_ms, serial_mean_ms. */
void peer_run_serial(void (*one)(void *), void *arg);
/* Prints the tput_* lines of a throughput phase. */
void peer_print_throughput(double confirmed_s, double total_s,
                           long long flushes);

#endif
