/* feed.h — the dashboard feed: what changed, as metadata, to whoever
 * watches.
 *
 * Every event the broker folds live, and every alert raised or cleared,
 * becomes one feed event: a topic ("referral.received", "handover.offered",
 * "consent.granted", "path.closed", "alert.raised", ...) and one line of
 * JSON without identity codes or free text (a referral's: what changed and
 * between whom, not its whole view; docs/openapi-broker.yaml, /events).
 * It goes out on the ZeroMQ PUB socket (frames [topic][json], when
 * `feed =` is configured) and to the Server-Sent Events clients of
 * /events, which resume with Last-Event-ID (ids are epoch-seq). */
#ifndef POLKU_BROKER_FEED_H
#define POLKU_BROKER_FEED_H

#include <jansson.h>
#include <stdint.h>

#include "clients.h"
#include "paths.h"
#include "polku/codec.h"
#include "polku/http.h"

typedef struct feed feed;

/* endpoint: the PUB bind address or NULL/"" for none. SSE clients get
 * the events of up to 50 ms at once (a timer on loop). feed_close frees
 * the feed in a close callback: run the loop afterwards. */
int feed_open(uv_loop_t *loop, void *zctx, const char *endpoint, uint64_t epoch,
              feed **out);
void feed_close(feed **f);

/* Publishes body (a JSON object, taken) under topic (the SSE event name
 * and the PUB topic frame; not repeated in the JSON); adds "seq" and
 * "at". Returns the event's seq. */
uint64_t feed_publish(feed *f, const char *topic, json_t *body);

/* The feed event of a folded client event (after it was applied), or NULL
 * for bodies the feed does not show. *topic points at a static string.
 * The client is named by its display pseudonym under names (display.h). */
json_t *feed_event_of(const polku_envelope *env, const client_index *cl,
                      const path_index *pi, const display *names,
                      const char **topic);

/* Publishes the feed event of a folded client event (after it was
 * applied), if the feed shows its body: a referral's is captured as it
 * stands and rendered only when someone reads it (an SSE client now or
 * resuming; PUB subscribers get every event rendered), the client named
 * by its display pseudonym under names. Returns its seq,
 * 0 for none. */
uint64_t feed_publish_event(feed *f, const polku_envelope *env,
                            const client_index *cl, const path_index *pi,
                            const display *names);

/* /events: takes over req as an SSE client. */
void feed_attach(feed *f, polku_http_req *req);
/* Keeps SSE connections alive (call every 15 s). */
void feed_keepalive(feed *f);

uint64_t feed_seq(const feed *f);
size_t feed_clients(const feed *f);

#endif
