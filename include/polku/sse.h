/* sse.h — a Server-Sent Events hub (broker GET /events, agent GET /v1/events).
 *
 * The hub numbers the events it publishes (seq 1, 2, ... within an epoch),
 * sends each to every attached client as
 *
 *     id: <epoch, 16 lowercase hex>-<seq>
 *     event: <topic>
 *     data: <one line of JSON>
 *     (blank line)
 *
 * and keeps the last ring_capacity of them so a client that reconnects
 * with Last-Event-ID gets exactly what it missed. A client that cannot
 * resume (another epoch, a seq no longer in the ring or not yet published,
 * or a backlog too large to queue) gets one `reset` event and must re-fetch
 * its snapshot. A client that reads too slowly is dropped; it reconnects and
 * resumes. A client whose Accept-Encoding takes gzip gets the stream
 * gzip-encoded (each piece deflated once for all such clients; a clean
 * end carries the trailer). Everything runs on the loop of the polku_http
 * server the requests come from (see polku/http.h). */
#ifndef POLKU_SSE_H
#define POLKU_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku/http.h"

typedef struct polku_sse_hub polku_sse_hub;

/* The retry interval (ms) the hub sends each client on connect. */
#define POLKU_SSE_RETRY_MS 2000

/* A hub whose event ids carry epoch; keeps ring_capacity events for resume
 * (0: none, every resume gets reset). Caller owns the result; NULL when out
 * of memory. */
polku_sse_hub *polku_sse_hub_new(uint64_t epoch, size_t ring_capacity);

/* Ends every client's stream (their bodies end cleanly) and frees the hub.
 * Sets *h NULL; accepts NULL. Before or after polku_http_stop alike. */
void polku_sse_hub_free(polku_sse_hub **h);

/* Publishes one event to every client and keeps it in the ring. topic is
 * the SSE event name, json one line of JSON (e.g. json_dumps with
 * JSON_COMPACT); neither may hold CR or LF. Returns the event's seq (1, 2,
 * ...); 0 when nothing was published (CR/LF in topic or json, empty topic,
 * out of memory). Clients too slow to take it are dropped. */
uint64_t polku_sse_publish(polku_sse_hub *h, const char *topic,
                           const char *json);

/* Renders an event published lazily: a malloc'd line of JSON (NULL: it
 * cannot be rendered). seq is the event's. */
typedef char *(*polku_sse_render_fn)(void *ctx, uint64_t seq);

/* Like polku_sse_publish, for an event whose JSON costs more to make than
 * to capture: with clients attached it is rendered and sent at once;
 * otherwise the ring keeps ctx, and render(ctx) runs only if a client
 * resumes from before it. topic must outlive the hub (a static string).
 * free_ctx(ctx) (may be NULL) runs once ctx is not needed any more, the
 * latest when the ring drops the event or the hub is freed. Returns the
 * event's seq, 0 when nothing was published. */
uint64_t polku_sse_publish_lazy(polku_sse_hub *h, const char *topic,
                                polku_sse_render_fn render,
                                void (*free_ctx)(void *ctx), void *ctx);

/* Takes over req (unanswered) as an SSE client. Reads the header
 * Last-Event-ID, or else the query parameter last_event_id, as
 * "<epoch hex>-<seq>", then sends, in order:
 *   - "retry: 2000", and for a client without a Last-Event-ID also
 *     "id: <epoch>-<current seq>" (no event: it only tells the browser
 *     where to resume should it reconnect before the first event);
 *   - resume (same epoch, SEQ <= current seq, every event after SEQ still
 *     in the ring): those events, in order;
 *     otherwise, when a Last-Event-ID was given: one event
 *       id: <epoch>-<seq>  event: reset  data: {"epoch":"<16 hex>","seq":<seq>}
 *     with the current seq;
 *   - then live events.
 * The request is consumed in every case (a client already gone, or no
 * memory: its connection just closes). */
void polku_sse_attach(polku_sse_hub *h, polku_http_req *req);

/* Batching (off by default): published events wait in the hub, and
 * polku_sse_flush writes all that waits to every client as one buffer
 * they share, so a client costs one write and one wake-up per flush, not
 * per event. The owner calls polku_sse_flush soon after an event while
 * polku_sse_pending (a timer of a few tens of ms). The hub flushes by
 * itself before a client attaches, before a keepalive, when the batch
 * passes half a stream's queue (512 KiB) and when it is freed; turning
 * batching off flushes. */
void polku_sse_hub_batch(polku_sse_hub *h, bool on);
void polku_sse_flush(polku_sse_hub *h);
bool polku_sse_pending(const polku_sse_hub *h);

/* Sends the comment ": keepalive" to every client; call it from a timer
 * every 15 s (it also drops clients whose queue stays full). */
void polku_sse_keepalive(polku_sse_hub *h);

/* Clients attached now (a client that went away is removed as soon as its
 * connection is seen to close). */
size_t polku_sse_clients(const polku_sse_hub *h);

/* The seq of the last event published (0 before the first). */
uint64_t polku_sse_last_seq(const polku_sse_hub *h);

#endif
