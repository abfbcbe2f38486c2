/* http.h — an HTTP/1.1 server on a libuv loop (libmicrohttpd underneath).
 *
 * libmicrohttpd runs with MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME and no
 * thread of its own; its epoll fd is watched by a uv_poll and after every
 * MHD_run a uv_timer is armed from MHD_get_timeout (also for 0 ms: its inner
 * sockets are edge-triggered), and never for later than a second. The
 * request body is collected (up to max_body; beyond it the server answers
 * 413 {"error":{"code":"too_large"}} itself), then the handler is called
 * once with the whole request. A request whose path or query string holds
 * a control character (a byte below 0x20 or 0x7f, raw or percent-encoded,
 * %00 included) is answered 400 {"error":{"code":"bad_request"}} without
 * the handler. A connection idle for 10 s while a request is read or
 * answered is closed; a kept request and an idle stream do not count.
 *
 * A handler answers with polku_http_respond* at once, or keeps the request
 * and answers later from any loop callback (the connection is suspended
 * meanwhile) — the agent answers only after its LMDB commit. Every request
 * must be answered exactly once; after the answer the request is gone.
 * Or the handler turns the request into a stream (polku_http_stream_open,
 * below) for Server-Sent Events. */
#ifndef POLKU_HTTP_H
#define POLKU_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

/* Connections the server holds at once, and from one client address (a
 * proxy counts as one); a connection over either limit is closed at once.
 * One address can never take the whole server, yet it may still open as
 * many keep-alive connections as the benchmark's widest window (256,
 * bench/README.md). */
#define POLKU_HTTP_CONNECTION_LIMIT 512u
#define POLKU_HTTP_PER_IP_LIMIT (POLKU_HTTP_CONNECTION_LIMIT / 2)
/* The limit of a server where dashboards and monitors hold event streams
 * open, one connection each (the broker's: polku_http_start_limited). */
#define POLKU_HTTP_STREAM_SERVER_LIMIT 4096u
/* What one connection of such a server may hold for its sends (MHD's
 * connection memory; mapped, so a page costs only once it is used): what
 * an event stream queued since its last send goes out in one send of up
 * to this much rather than in pieces of 16-32 KiB, each a system call and
 * a wake-up of the reader (bench/README.md, "SSE subscribers on the
 * broker"). */
#define POLKU_HTTP_STREAM_CONNECTION_MEMORY ((size_t)128 * 1024)

typedef struct polku_http polku_http;
typedef struct polku_http_req polku_http_req;

typedef void (*polku_http_handler)(polku_http_req *req, void *arg);

/* Listens on listen ("127.0.0.1:8570"; port 0 picks a free one).
 * Returns POLKU_OK, POLKU_EINVAL (bad address), POLKU_EHTTP (cannot
 * start, e.g. port in use), POLKU_EUV. Caller owns *out. */
int polku_http_start(uv_loop_t *loop, const char *listen, size_t max_body,
                     polku_http_handler handler, void *arg, polku_http **out);

/* polku_http_start for a server that must hold more (or fewer)
 * connections than POLKU_HTTP_CONNECTION_LIMIT: max_connections in all,
 * half of them from one address. The server runs on epoll (no FD_SETSIZE
 * bound); if the process's descriptor limit cannot hold max_connections
 * and some to spare, the limit is lowered to fit and a warning logged.
 * Its connections have POLKU_HTTP_STREAM_CONNECTION_MEMORY each. */
int polku_http_start_limited(uv_loop_t *loop, const char *listen,
                             size_t max_body, unsigned max_connections,
                             polku_http_handler handler, void *arg,
                             polku_http **out);

/* The bound port (useful with port 0). */
uint16_t polku_http_port(const polku_http *srv);

/* Answers every pending request with 503, calls on_closed of every open
 * stream and ends it, stops listening, releases the server (handles freed
 * in close callbacks: run the loop afterwards). Sets *srv NULL; accepts
 * NULL. */
void polku_http_stop(polku_http **srv);

/* Request accessors; strings live as long as the request. */
const char *polku_http_method(const polku_http_req *req); /* "GET" */
const char *polku_http_path(const polku_http_req *req);   /* no query */
const char *polku_http_query(const polku_http_req *req, const char *name);
const char *polku_http_header(const polku_http_req *req, const char *name);
const char *polku_http_body(const polku_http_req *req, size_t *len);

/* Answers with a copy of body (len bytes). Exactly once per request. */
void polku_http_respond(polku_http_req *req, unsigned status,
                        const char *content_type, const char *body, size_t len);

/* Answers with JSON; takes the reference to body (json_decref). */
void polku_http_respond_json(polku_http_req *req, unsigned status,
                             json_t *body);

/* Answers {"error": {"code": code, "message": message}}. */
void polku_http_respond_error(polku_http_req *req, unsigned status,
                              const char *code, const char *message);

/* How one request's JSON answers look, for an API with conventions of
 * its own (the agent's FHIR view): polku_http_respond_json and
 * polku_http_respond_error send content_type (NULL: application/json),
 * and polku_http_respond_error builds its body with render (NULL, or
 * when it returns NULL: {"error": {...}}). content_type must outlive the
 * request (a string literal). Set it before anything may answer. */
typedef json_t *(*polku_http_error_body)(unsigned status, const char *code,
                                         const char *message);
void polku_http_set_json_style(polku_http_req *req, const char *content_type,
                               polku_http_error_body render);

/* A 2xx answer of polku_http_respond_json to req will carry
 * "Location: url" (the resource a POST created); an error answer will not.
 * url is copied. POLKU_OK or POLKU_ENOMEM. */
int polku_http_set_location(polku_http_req *req, const char *url);

/* A 2xx answer of polku_http_respond_json to req will carry
 * "name": "value" on its object, and, when the object is a list (it has
 * "count"), on each object in its arrays; never over a member they have
 * already. The agent tags every answer with the region it came from.
 * Copied; POLKU_OK or POLKU_ENOMEM. */
/* The tag set with polku_http_set_json_tag: its name (*value its value),
 * or NULL. For answers written without jansson, which must carry it too. */
const char *polku_http_json_tag(const polku_http_req *req, const char **value);
int polku_http_set_json_tag(polku_http_req *req, const char *name,
                            const char *value);

/* ---- requests that did not come over a socket ----
 *
 * For fuzzing and testing a handler in-process: the handler gets a request
 * like any other, and its answer lands in *out instead of on a connection.
 * query and headers are NULL-terminated name, value, ... lists (NULL for
 * none; header names match without case), borrowed until the answer. The
 * request is freed when it is answered, as any other: the handler may
 * answer at once or keep it and answer from a later loop callback (run the
 * loop until out->status is set). A stream opened on it ends at once with
 * status 200. NULL when memory ran out. */
typedef struct polku_http_local {
    unsigned status; /* 0 until answered */
    char *body;      /* the answer's body, NUL-terminated (caller frees) */
    size_t len;
} polku_http_local;
polku_http_req *polku_http_local_req(const char *method, const char *path,
                                     const char *const *query,
                                     const char *const *headers,
                                     const void *body, size_t len,
                                     polku_http_local *out);

/* Requests answered since start, by class, for /metrics. */
typedef struct polku_http_stats {
    unsigned long long requests;
    unsigned long long responses_2xx, responses_4xx, responses_5xx;
} polku_http_stats;
void polku_http_get_stats(const polku_http *srv, polku_http_stats *out);

/* Ownership of kept requests: a request the handler kept stays valid until
 * it is answered, even if its client went away meanwhile (the answer is then
 * dropped and the request freed). polku_http_stop answers the kept ones
 * itself (503): after it, forget them without answering. Do not call
 * polku_http_stop from inside a handler. */

/* Requests now in the server: being read, with the handler or being sent
 * (a gauge for /metrics; tests use it to see that everything was freed). */
unsigned long long polku_http_in_flight(const polku_http *srv);

/* Client connections the server held after its last run (idle keep-alive
 * and suspended ones included), at most its connection limit. A
 * gauge (not yet on /metrics); tests watch the limits with it. */
unsigned polku_http_connections(const polku_http *srv);

/* ---- streaming responses (Server-Sent Events) ----
 *
 * A stream answers a request 200 with a body of unknown length (chunked on
 * HTTP/1.1) that is written piece by piece from any loop callback. While
 * nothing is queued the connection is suspended, so an idle stream costs
 * no MHD_run work; meanwhile a uv_poll on its socket notices the client
 * hanging up (libmicrohttpd itself does not watch a suspended connection).
 * A stream's request stays in polku_http_in_flight until its connection is
 * finished.
 *
 *   from      event                                  to        on_closed
 *   OPEN      polku_http_stream_write                OPEN      -
 *   OPEN      client gone, or send failed/timed out  (gone)    called
 *   OPEN      polku_http_stop                        (gone)    called
 *   OPEN      polku_http_stream_close                CLOSING   never
 *   CLOSING   queued bytes sent, body ended          (gone)    never
 *
 * After on_closed, or after polku_http_stream_close, the stream handle is
 * gone: do not use it again (not even from inside on_closed). */

typedef struct polku_http_stream polku_http_stream;
typedef void (*polku_http_stream_closed)(polku_http_stream *s, void *arg);

/* Bytes a stream may hold unsent before writes fail with POLKU_EFULL. */
#define POLKU_HTTP_STREAM_MAX_QUEUED ((size_t)1024 * 1024)

/* Answers req (unanswered: in the handler or kept) 200 with content_type
 * plus "Cache-Control: no-cache" and "X-Accel-Buffering: no", and keeps
 * the connection open for polku_http_stream_write. on_closed (may be NULL)
 * is called once, from a loop callback, when the client goes away or the
 * server stops; after it the stream is gone. The request is consumed in
 * every case: returns NULL (and the client sees its connection closed) if
 * its client went away already or memory ran out. */
polku_http_stream *polku_http_stream_open(polku_http_req *req,
                                          const char *content_type,
                                          polku_http_stream_closed on_closed,
                                          void *arg);

/* polku_http_stream_open with "Content-Encoding: encoding" (NULL: none):
 * the bytes written are then the encoded ones. Every stream says "Vary:
 * Accept-Encoding". */
polku_http_stream *
polku_http_stream_open_encoded(polku_http_req *req, const char *content_type,
                               const char *encoding,
                               polku_http_stream_closed on_closed, void *arg);

/* Queues a copy of len bytes (all or nothing). Returns POLKU_OK;
 * POLKU_EFULL when more than POLKU_HTTP_STREAM_MAX_QUEUED bytes would be
 * waiting for a slow client (nothing queued: the caller then closes the
 * stream); POLKU_ENOMEM; POLKU_EINVAL from inside its own on_closed.
 * Never calls on_closed. */
int polku_http_stream_write(polku_http_stream *s, const char *data, size_t len);

/* Bytes written alike to many streams (an SSE hub's events of one loop
 * turn): queued by reference, not copied per stream; freed when the last
 * stream has sent them and the creator has released its reference. */
typedef struct polku_http_shared polku_http_shared;

/* A copy of len bytes, with one reference (the caller's). NULL when out
 * of memory. */
polku_http_shared *polku_http_shared_new(const char *data, size_t len);

/* Drops the caller's reference; sets *c NULL; accepts NULL. */
void polku_http_shared_release(polku_http_shared **c);

/* Like polku_http_stream_write for c's bytes, but the stream takes a
 * reference instead of a copy. Same returns. */
int polku_http_stream_write_shared(polku_http_stream *s, polku_http_shared *c);

/* Ends the response: the bytes queued so far are still sent, then the body
 * ends (the connection may serve the next request). After a POLKU_EFULL the
 * client is too slow for that: its connection is dropped within about a
 * second instead. on_closed is not called after an explicit close. Accepts
 * NULL. */
void polku_http_stream_close(polku_http_stream *s);

#endif
