/* harness_feed.h — integration helpers for the feed and dashboard (issue 5):
 * extra broker config sections ([sla]), finding programs on PATH, an SSE
 * reader and a raw CURVE peer that plays an agent's side of a replay.
 * Nothing here changes what harness.h's functions do. */
#ifndef POLKU_TESTS_HARNESS_FEED_H
#define POLKU_TESTS_HARNESS_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* Appends text (whole lines, e.g. a "[sla]" section) to the end of the
 * written broker config, writing the region first if needed; text already
 * in the file is not added twice. Call again after every h_region_write. */
void h_broker_config_append(h_region *r, const char *text);

/* Adds the broker's [sla] section with these durations ("2s", "15m", ...;
 * NULL leaves a key out, so the broker's default applies). */
void h_broker_sla(h_region *r, const char *referral_receipt,
                  const char *referral_answer, const char *rejection_followup,
                  const char *handover_answer);

/* The same with every [sla] key, path_coordinator too (NULL leaves a key
 * out). h_broker_sla is this with path_coordinator NULL. */
void h_broker_sla_all(h_region *r, const char *referral_receipt,
                      const char *referral_answer,
                      const char *rejection_followup,
                      const char *handover_answer,
                      const char *path_coordinator);

/* The absolute path of an executable named name on $PATH (or name itself
 * when it holds a '/' and is executable) into out; false if there is none. */
bool h_find_program(const char *name, char *out, size_t len);

/* ------------------------------------------------------ SSE reader
 * A Server-Sent Events stream (libcurl multi, no threads): the test pumps
 * it while it waits for a condition, and reads the events parsed so far. */

typedef struct h_sse_event {
    char id[64];    /* "" when the block had no id: line */
    char event[64]; /* "" when the block had no event: line */
    char *data;     /* the data: line, "" if none */
    json_t *json;   /* data parsed, or NULL */
} h_sse_event;

typedef struct h_sse h_sse;

/* GET url (e.g. "http://127.0.0.1:PORT/events") with a Last-Event-ID
 * header when last_event_id is not NULL; returns once the first bytes have
 * come (the server has attached the stream). Ends the case if it cannot
 * connect. Close with h_sse_close. */
h_sse *h_sse_open(const char *url, const char *last_event_id);
/* The broker's /events. */
h_sse *h_sse_open_broker(h_region *r, const char *last_event_id);
/* Moves the transfer on for at most timeout_ms, parsing whole event
 * blocks. Returns false once the stream has ended. */
bool h_sse_pump(h_sse *s, int timeout_ms);
/* Blocks with an event: or data: line, in arrival order. */
size_t h_sse_count(const h_sse *s);
const h_sse_event *h_sse_at(const h_sse *s, size_t i);
/* The last id: line seen (also the bare id of a fresh stream's preamble),
 * "" if none. */
const char *h_sse_last_id(const h_sse *s);
/* Index of the first event named event whose data JSON has member name
 * equal to the string value (name NULL: any), or -1. */
long h_sse_find(const h_sse *s, const char *event, const char *name,
                const char *value);
/* Everything received so far (NUL-terminated). */
const char *h_sse_text(const h_sse *s);
void h_sse_close(h_sse **s);

/* ----------------------------------------------- raw peer without help
 * A CURVE DEALER speaking to the broker as organisation o (its keypair
 * from the region). Unlike h_raw, it answers nothing by itself (no
 * automatic ReplayDone): the test plays the agent's side of a replay. It
 * lives in a zmq context of its own, so a case that ends early cannot
 * block the harness's context at exit. */

typedef struct h_peer h_peer;

h_peer *h_peer_new(h_region *r, h_org *o);
void h_peer_destroy(h_peer **p);
/* Encodes and sends env (blocking up to a deadline); 0 or -1. */
int h_peer_send(h_peer *p, const polku_envelope *env);
/* The next envelope with this body within timeout_ms (others are dropped;
 * Nacks are noted), NULL if none came. polku_envelope_free it. */
polku_envelope *h_peer_recv(h_peer *p, Polku__Envelope__BodyCase body,
                            int timeout_ms);

#endif
