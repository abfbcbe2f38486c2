/* bench_events.h — the benchmark's reader of agents' /v1/events streams.
 *
 * Why it exists: a referral is durable at the receiver when org-b has
 * committed it (its `received` status in the same transaction), and the
 * receipt is back at the sender when org-a has committed that status.
 * Each agent publishes an event on its /v1/events stream (server-sent
 * events) once the transaction holding it is committed: org-b a
 * `referral.requested` for the referral it stored, org-a a
 * `referral.received` for the status it stored. Reading those streams
 * tells both moments as they happen, without polling the API.
 *
 * One watch holds several streams (one libcurl multi handle); whoever
 * pumps it (one thread at a time) gets each stream's events of its topic
 * counted and time-stamped as they are read off the socket. */
#ifndef POLKU_BENCH_EVENTS_H
#define POLKU_BENCH_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BE_STREAMS_MAX 4

typedef struct be_watch be_watch;

be_watch *be_watch_new(void);
void be_watch_free(be_watch **w);

/* Opens GET base_url/v1/events with the bearer token and counts the events
 * named topic; returns the stream's index, -1 on failure. */
int be_watch_add(be_watch *w, const char *base_url, const char *token,
                 const char *topic);

/* Reads what has arrived, waiting up to timeout_ms for something. false
 * when a stream has ended or failed (be_error says which and why). */
bool be_watch_pump(be_watch *w, int timeout_ms);
const char *be_error(const be_watch *w);

/* Every stream has been answered (the server's preamble has arrived): it
 * will see every event published from now on. */
bool be_watch_ready(const be_watch *w);

/* Events of stream i's topic so far. */
size_t be_count(const be_watch *w, int i);
/* The id ("id" of its data) and read time (bc_now_ns) of stream i's
 * latest event of its topic; "" and 0 before the first. */
const char *be_last_id(const be_watch *w, int i);
uint64_t be_last_ns(const be_watch *w, int i);

/* Stream i notes when its count reaches target (be_target_ns, 0 until
 * then). */
void be_set_target(be_watch *w, int i, size_t target);
uint64_t be_target_ns(const be_watch *w, int i);

#endif
