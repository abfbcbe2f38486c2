/* sse_subscribers.h — many idle readers of the broker's /events feed.
 *
 * Why it exists: a region's dashboards and monitors hold the broker's
 * server-sent event feed open; every event the broker routes is then
 * rendered and queued to each of them. referral_bench --subscribers N
 * measures how much that costs the routing rate: N plain sockets, each
 * with one GET /events, read by one thread that discards what arrives.
 * They connect from 127.0.0.2, 127.0.0.3, ... (at most 200 per address:
 * the HTTP server accepts POLKU_HTTP_PER_IP_LIMIT connections from one). */
#ifndef POLKU_BENCH_SSE_SUBSCRIBERS_H
#define POLKU_BENCH_SSE_SUBSCRIBERS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sse_subs sse_subs;

/* Opens n subscribers to 127.0.0.1:port's /events and waits (at most
 * timeout_ms) until each has its response header or is closed. gzip: they
 * say "Accept-Encoding: gzip, deflate, br" as a browser's EventSource does
 * (and read the compressed bytes without inflating them). NULL if out of
 * memory or descriptors. */
sse_subs *sse_subs_open(int port, size_t n, bool gzip, unsigned timeout_ms);

/* Subscribers that got "200" and are still open. */
size_t sse_subs_streaming(sse_subs *s);
/* Bytes read by all of them so far. */
unsigned long long sse_subs_bytes(sse_subs *s);
/* CPU time (ms) of the thread that reads them, so far. */
double sse_subs_cpu_ms(sse_subs *s);

/* Stops the reader and closes every socket. */
void sse_subs_close(sse_subs **s);

#endif
