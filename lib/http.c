/* http.c — libmicrohttpd driven by a libuv loop (see polku/http.h).
 *
 * Broker and agents serve their JSON API from the same single-threaded loop
 * that runs ZeroMQ and LMDB work, so the HTTP server may not have a thread of
 * its own. libmicrohttpd runs in "external epoll" mode: its epoll fd is one
 * level-triggered readable fd for libuv, but the sockets inside it are
 * edge-triggered, so after every MHD_run the timer is re-armed from
 * MHD_get_timeout (0 ms means "work is pending, call again now"), and for
 * at most a second when MHD names no timeout (see arm).
 *
 * A request goes through these states (one access-handler call per arrow
 * unless noted):
 *
 *   from        event                                to
 *   (none)      headers received (1st call)          RECEIVING
 *   (none)      declared length over max_body,       DISCARDING
 *               within the discard allowance
 *   (none)      declared length over the allowance,  QUEUED (413 early,
 *               or over max_body with Expect:        then closes)
 *               100-continue
 *   RECEIVING   body chunk, fits max_body            RECEIVING
 *   RECEIVING   body chunk over max_body             DISCARDING
 *   DISCARDING  body chunk, within the allowance     DISCARDING (dropped)
 *   DISCARDING  body chunk beyond the allowance      (closed, no answer)
 *   DISCARDING  upload complete                      QUEUED (413)
 *   RECEIVING   upload complete                      HANDLER (user called)
 *   HANDLER     polku_http_respond* in the handler   ANSWERED -> QUEUED
 *   HANDLER     handler returned unanswered          HANDLER (suspended)
 *   HANDLER     polku_http_respond* later            ANSWERED (resumed)
 *   ANSWERED    next access-handler call             QUEUED
 *
 * Why a refused body is read rather than refused at once: a server that
 * answers and closes while the client is still sending leaves unread bytes
 * in its socket, and the kernel then resets the connection, often before
 * the client has read the 413 (curl: "Failed sending data to the peer").
 * So a body over max_body is read and dropped up to the discard allowance
 * (twice max_body, at least 4 MiB) and answered 413 on a connection that
 * stays usable. Only a client that waits for "100 Continue" (nothing sent
 * yet) or declares a body beyond the allowance gets the 413 at once.
 *
 * Ownership: MHD's completion callback frees the request, except in state
 * HANDLER, where the handler owns it; if MHD ever drops such a connection
 * the request is only detached (conn = NULL) and freed by the answer.
 *
 * A stream is a request answered with a content-reader response. Its
 * reader copies queued bytes; with none it suspends the connection and
 * returns 0 (MHD would call it again at once: a busy loop), and a write
 * resumes it. A suspended connection is invisible to MHD, so a uv_poll on
 * its socket (UV_DISCONNECT) notices a client that hangs up meanwhile.
 *
 *   event                          reader returns         then
 *   bytes queued                   the bytes              -
 *   nothing queued, open           0 (suspended)          write/hang-up resumes
 *   nothing queued, ending         END_OF_STREAM          request completes
 *   client hung up / dropped       END_WITH_ERROR         connection closed
 *
 * The request completion callback finishes the stream: on_closed if the
 * owner still holds it, then the stream is freed (in the uv_poll's close
 * callback when it has one). */
#include "polku/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "polku/error.h"
#include "polku/log.h"

/* A connection that sends or takes nothing for this long is closed: a
 * request's headers and body, an answer the client does not read, an idle
 * keep-alive. Suspended connections (a kept request, an idle stream) are
 * outside MHD's timeouts; a stream's connection gets its own, longer one. */
#define HTTP_CONNECTION_TIMEOUT_S 10u
#define HTTP_STREAM_TIMEOUT_S 60u /* a stream's reader pausing mid-answer */
/* At most this often MHD_run, whatever MHD_get_timeout says (see arm). */
#define HTTP_MAX_IDLE_MS 1000u
#define HTTP_STOP_FLUSH_ROUNDS 16       /* MHD_run calls to send the 503s */
#define STREAM_BLOCK_SIZE (16u * 1024u) /* advisory reader block size */
#define STREAM_KEEP_PIECES 64u          /* drained queues above it freed */
#define STREAM_COPY_MIN 4096u           /* a stream's own copy buffer */
#define STREAM_DROP_TIMEOUT_S 1u        /* closing an overflowed stream */
/* MHD's memory per connection (its default): the request's headers and
 * the buffer a response is copied into for each send. */
#define HTTP_CONNECTION_MEMORY ((size_t)32 * 1024)

enum req_state {
    REQ_RECEIVING,
    REQ_DISCARDING,
    REQ_HANDLER,
    REQ_ANSWERED,
    REQ_QUEUED
};

/* A string handed out by an accessor; lives as long as the request. */
struct req_str {
    struct req_str *next;
    char text[];
};

struct polku_http_req {
    polku_http *srv;             /* NULL once detached */
    struct MHD_Connection *conn; /* NULL once detached */
    enum req_state state;
    bool suspended;
    polku_http_req *prev, *next;   /* srv->pending while suspended */
    struct MHD_Response *response; /* stored answer, not yet queued */
    unsigned status;
    char *body; /* NUL-terminated, body_len bytes */
    size_t body_len, body_cap, discarded;
    char *method, *path; /* one allocation, method first */
    struct req_str *strings;
    polku_http_stream *stream; /* answered as a stream */
    polku_http_local *local;   /* a local request: the answer goes here */
    const char *const *local_query, *const *local_headers;
    const char *json_type;              /* NULL: application/json */
    polku_http_error_body error_render; /* NULL: {"error": {...}} */
    const char *location;               /* of a created resource, or NULL */
    const char *tag_name, *tag_value;   /* polku_http_set_json_tag */
};

/* Bytes several streams send alike (polku_http_stream_write_shared), or
 * one stream's own copies (priv: more may be appended while queued). */
struct polku_http_shared {
    size_t refs, len, cap;
    bool priv;
    char data[];
};

/* A reference to bytes queued on a stream, read from off on. */
struct stream_piece {
    polku_http_shared *c;
    size_t off;
};

struct polku_http_stream {
    polku_http *srv;
    polku_http_req *req;            /* NULL once finished */
    polku_http_stream *prev, *next; /* srv->streams */
    polku_http_stream_closed on_closed;
    void *arg;
    struct stream_piece *q; /* queued pieces are q[head, n) */
    size_t head, n, qcap;
    size_t queued;   /* bytes in them not yet read */
    bool owned;      /* the owner holds it: not closed, not told */
    bool ending;     /* end the body once the queue is sent */
    bool abort;      /* end with an error: client gone or too slow */
    bool overflowed; /* a write was refused with POLKU_EFULL */
    bool suspended;  /* the reader found nothing and suspended */
    bool has_watch;  /* watch initialised: freed in its close callback */
    uv_poll_t watch; /* UV_DISCONNECT on the socket while suspended */
};

struct polku_http {
    uv_loop_t *loop;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    polku_http_handler handler;
    void *arg;
    size_t max_body;
    uint16_t port;
    bool in_run;   /* inside MHD_run: the timer is armed afterwards */
    bool need_run; /* a connection was resumed: run again at once */
    bool stopping; /* complete requests get 503, not the handler */
    int open_handles;
    unsigned connections;       /* MHD's count after the last run */
    unsigned long long live;    /* requests allocated and not freed */
    polku_http_req *pending;    /* suspended, waiting for an answer */
    polku_http_stream *streams; /* answered as streams, not finished */
    polku_http_stats stats;
};

/* ---- the loop side ---- */

static void run(polku_http *srv);

static void on_timer(uv_timer_t *timer)
{
    run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    (void)events;
    if (status < 0)
        log_warn("http: poll on the epoll fd failed: %s", uv_strerror(status));
    run(poll->data);
}

/* Arms the timer for the next MHD_run MHD asks for (0 ms included), and
 * never for later than HTTP_MAX_IDLE_MS. MHD_get_timeout only knows the
 * connections' timeouts: "no timeout" does not mean that MHD needs no
 * run. At its connection limit (or out of descriptors) MHD takes its
 * listen socket out of its epoll set, and puts it back only at the start
 * of a later MHD_run; with no connection left to time out, nothing would
 * ever make that run happen and the server would stop accepting for good.
 * run() asks for that run at once when connections went away; the
 * bounded wait covers whatever else MHD keeps to itself. */
static void arm(polku_http *srv)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (!srv->need_run &&
        (MHD_get_timeout(srv->daemon, &ms) != MHD_YES || ms > HTTP_MAX_IDLE_MS))
        ms = HTTP_MAX_IDLE_MS;
    uv_timer_start(&srv->timer, on_timer, srv->need_run ? 0 : ms, 0);
}

/* Connections MHD holds (suspended ones included); releases the closed. */
static unsigned connections(polku_http *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

static void run(polku_http *srv)
{
    unsigned before = connections(srv);
    srv->in_run = true;
    srv->need_run = false;
    MHD_run(srv->daemon);
    srv->in_run = false;
    /* A connection released at the limit: the listen socket goes back
     * into the epoll set only in the next MHD_run, so run again now. */
    srv->connections = connections(srv);
    if (srv->connections < before)
        srv->need_run = true;
    arm(srv);
}

/* Makes MHD look at a resumed connection soon. */
static void kick(polku_http *srv)
{
    srv->need_run = true;
    if (!srv->in_run)
        uv_timer_start(&srv->timer, on_timer, 0, 0);
}

static void on_handle_closed(uv_handle_t *handle)
{
    polku_http *srv = handle->data;
    if (--srv->open_handles == 0)
        free(srv);
}

/* ---- requests ---- */

static polku_http_req *req_new(polku_http *srv, struct MHD_Connection *conn,
                               const char *method, const char *url)
{
    polku_http_req *req = calloc(1, sizeof *req);
    size_t mlen = strlen(method), ulen = strlen(url);
    char *names = malloc(mlen + ulen + 2);
    if (!req || !names) {
        free(req);
        free(names);
        return NULL;
    }
    memcpy(names, method, mlen + 1);
    memcpy(names + mlen + 1, url, ulen + 1);
    req->srv = srv;
    req->conn = conn;
    req->state = REQ_RECEIVING;
    req->method = names;
    req->path = names + mlen + 1;
    if (srv)
        srv->live++;
    return req;
}

static void req_free(polku_http_req *req)
{
    if (req->srv)
        req->srv->live--;
    if (req->response)
        MHD_destroy_response(req->response);
    while (req->strings) {
        struct req_str *s = req->strings;
        req->strings = s->next;
        free(s);
    }
    free(req->body);
    free(req->method);
    free(req);
}

static void pending_unlink(polku_http_req *req)
{
    polku_http *srv = req->srv;
    if (req->prev)
        req->prev->next = req->next;
    else
        srv->pending = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

static void pending_link(polku_http_req *req)
{
    polku_http *srv = req->srv;
    req->prev = NULL;
    req->next = srv->pending;
    if (srv->pending)
        srv->pending->prev = req;
    srv->pending = req;
}

static void count_status(polku_http *srv, unsigned status)
{
    if (status >= 200 && status < 300)
        srv->stats.responses_2xx++;
    else if (status >= 400 && status < 500)
        srv->stats.responses_4xx++;
    else if (status >= 500)
        srv->stats.responses_5xx++;
}

/* Hands the stored response to MHD. A NULL response (out of memory) makes
 * MHD_queue_response fail and MHD closes the connection. */
static enum MHD_Result queue(polku_http_req *req)
{
    enum MHD_Result ret = MHD_NO;
    if (req->response) {
        ret = MHD_queue_response(req->conn, req->status, req->response);
        MHD_destroy_response(req->response);
        req->response = NULL;
    }
    req->state = REQ_QUEUED;
    if (ret == MHD_YES)
        count_status(req->srv, req->status);
    return ret;
}

static struct MHD_Response *make_response(const char *content_type,
                                          const char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp && content_type &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type) != MHD_YES) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    return resp;
}

static struct MHD_Response *make_json_typed(json_t *body, const char *type)
{
    static const char fallback[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode\"}}";
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!text)
        return make_response("application/json", fallback, sizeof fallback - 1);
    json_malloc_t alloc;
    json_free_t release;
    json_get_alloc_funcs(&alloc, &release);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text,
                                                           release);
    if (!resp) {
        release(text);
        return NULL;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
        MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

static struct MHD_Response *make_json(json_t *body)
{
    return make_json_typed(body, "application/json");
}

/* {"error": {"code", "message"}}; a message that is not valid UTF-8 (a
 * library's text quoting the caller's bytes) is replaced, so the caller
 * still gets the right code rather than an encoding failure. */
static json_t *error_body(const char *code, const char *message)
{
    const char *c = code ? code : "error";
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", c, "message",
                             message ? message : "");
    if (!body)
        body = json_pack("{s:{s:s,s:s}}", "error", "code", c, "message",
                         "(message not valid UTF-8)");
    return body;
}

static struct MHD_Response *make_error(const char *code, const char *message)
{
    json_t *body = error_body(code, message);
    struct MHD_Response *resp = make_json(body);
    json_decref(body);
    return resp;
}

/* Stores the answer of a request in state HANDLER; resumes it if it was
 * suspended. A detached request is simply freed. */
static void answer(polku_http_req *req, unsigned status,
                   struct MHD_Response *resp)
{
    assert(req->state == REQ_HANDLER && "answered twice");
    if (req->local)
        req->local->status = status;
    if (!req->conn) {
        if (resp)
            MHD_destroy_response(resp);
        req_free(req);
        return;
    }
    req->response = resp;
    req->status = status;
    req->state = REQ_ANSWERED;
    if (req->suspended) {
        pending_unlink(req);
        req->suspended = false;
        MHD_resume_connection(req->conn);
        kick(req->srv);
    }
}

/* ---- streams ---- */

static void stream_unlink(polku_http_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void stream_release_queue(polku_http_stream *s)
{
    for (size_t i = s->head; i < s->n; i++)
        polku_http_shared_release(&s->q[i].c);
    free(s->q);
    s->q = NULL;
    s->head = s->n = s->qcap = s->queued = 0;
}

static void on_watch_closed(uv_handle_t *handle)
{
    polku_http_stream *s = handle->data;
    stream_release_queue(s);
    free(s);
}

static void stream_free(polku_http_stream *s)
{
    if (s->has_watch) {
        uv_close((uv_handle_t *)&s->watch, on_watch_closed);
        return;
    }
    stream_release_queue(s);
    free(s);
}

/* Lets MHD call the reader again (after a write, a hang-up or the end). */
static void stream_wake(polku_http_stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = false; /* the hang-up watch stays: see on_hangup */
    MHD_resume_connection(s->req->conn);
    kick(s->srv);
}

/* The client hung up (or its socket failed) while the stream was idle. */
static void on_hangup(uv_poll_t *watch, int status, int events)
{
    (void)status;
    (void)events;
    polku_http_stream *s = watch->data;
    s->ending = true; /* a clean end: no error logged for a normal exit */
    if (!s->suspended) {
        /* MHD watches the socket itself now and will see it end; the
         * watch stays on across wakes only to save two epoll_ctl calls
         * per write (stream_suspend starts it again if needed) */
        uv_poll_stop(watch);
        return;
    }
    stream_wake(s);
}

static void stream_suspend(polku_http_stream *s)
{
    MHD_suspend_connection(s->req->conn);
    s->suspended = true;
    if (s->has_watch && !uv_is_active((uv_handle_t *)&s->watch)) {
        int rc = uv_poll_start(&s->watch, UV_DISCONNECT, on_hangup);
        if (rc < 0)
            log_debug("http: cannot watch a stream's socket: %s",
                      uv_strerror(rc));
    }
}

/* MHD's content reader: queued bytes, or suspend, or the end. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    polku_http_stream *s = cls;
    if (s->abort)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t done = 0;
    while (done < max && s->head < s->n) {
        struct stream_piece *p = &s->q[s->head];
        size_t n = p->c->len - p->off;
        if (n > max - done)
            n = max - done;
        memcpy(buf + done, p->c->data + p->off, n);
        p->off += n;
        done += n;
        if (p->off == p->c->len) /* all read: the piece goes */
            polku_http_shared_release(&s->q[s->head++].c);
    }
    if (s->head == s->n) {
        s->head = s->n = 0;
        if (s->qcap > STREAM_KEEP_PIECES) {
            free(s->q);
            s->q = NULL;
            s->qcap = 0;
        }
    }
    s->queued -= done;
    if (done > 0)
        return (ssize_t)done;
    if (s->ending)
        return MHD_CONTENT_READER_END_OF_STREAM;
    stream_suspend(s);
    return 0;
}

/* The stream's connection is finished (from the completion callback or
 * MHD_stop_daemon): tell the owner if it still holds it, then free. */
static void stream_finished(polku_http_stream *s)
{
    stream_unlink(s);
    s->req->stream = NULL;
    s->req = NULL;
    if (s->has_watch)
        uv_poll_stop(&s->watch); /* before MHD closes the socket */
    if (s->owned) {
        s->owned = false;
        if (s->on_closed)
            s->on_closed(s, s->arg);
    }
    stream_free(s);
}

/* ---- libmicrohttpd callbacks ---- */

static bool body_append(polku_http_req *req, const char *data, size_t len)
{
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 256;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(req->body, cap);
        if (!grown)
            return false;
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return true;
}

/* Why a request target is refused before any handler sees it. MHD
 * decodes %XX in place: "%00" would end the path (or a query value) where
 * the handler reads it, and other control characters have no business in
 * a path, a query or the log. */
struct refusal {
    const char *message;
};
static struct refusal refusals[] = {
    {"the request path contains a NUL byte (%00)"},
    {"the request path contains a control character"},
    {"the query string contains a NUL byte (%00)"},
    {"the query string contains a control character"},
};
#define REFUSALS (sizeof refusals / sizeof refusals[0])

static const struct refusal *as_refusal(const void *p)
{
    for (size_t i = 0; i < REFUSALS; i++)
        if (p == &refusals[i])
            return &refusals[i];
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* MHD's URI log callback: the request target as sent (not yet decoded,
 * query included). Its result becomes the request's *con_cls: NULL, or
 * the refusal the first access-handler call answers with 400. (A raw NUL
 * byte ends the line's text before MHD or this callback can see past it.) */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    bool query = false;
    for (const char *p = uri; p && *p; p++) {
        int c = (unsigned char)*p;
        if (c == '?')
            query = true;
        if (c == '%' && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0) {
            c = hex_digit(p[1]) * 16 + hex_digit(p[2]);
            p += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return &refusals[(query ? 2 : 0) + (c == 0 ? 0 : 1)];
    }
    return NULL;
}

/* How much of a refused body is read and dropped so that its 413 arrives
 * on a usable connection (see the top of this file). */
#define DISCARD_ALLOWANCE_MIN ((size_t)4 << 20)

static size_t discard_allowance(const polku_http *srv)
{
    size_t twice = srv->max_body * 2;
    return twice > DISCARD_ALLOWANCE_MIN ? twice : DISCARD_ALLOWANCE_MIN;
}

/* True when the client waits for "100 Continue" before it sends the body:
 * its 413 then goes out before any of the body (RFC 9110, 10.1.1). */
static bool expects_continue(struct MHD_Connection *conn)
{
    const char *expect =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* First call: a refused target is answered at once (MHD then closes the
 * connection); a declared body over the limit is read and dropped, or
 * answered at once (see the top of this file); otherwise just remember. */
static enum MHD_Result first_call(polku_http *srv, struct MHD_Connection *conn,
                                  const char *method, const char *url,
                                  const struct refusal *refusal, void **con_cls)
{
    polku_http_req *req = req_new(srv, conn, method, url);
    if (!req)
        return MHD_NO;
    *con_cls = req;
    srv->stats.requests++;
    if (refusal) {
        log_debug("http: request refused: %s", refusal->message);
        req->response = make_error("bad_request", refusal->message);
        req->status = MHD_HTTP_BAD_REQUEST;
        return queue(req);
    }
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && *end == '\0' && n > srv->max_body) {
            if (n <= discard_allowance(srv) && !expects_continue(conn)) {
                req->state = REQ_DISCARDING; /* answered once it is read */
                return MHD_YES;
            }
            req->response = make_error("too_large", "request body too large");
            req->status = MHD_HTTP_CONTENT_TOO_LARGE;
            return queue(req);
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    polku_http *srv = cls;
    polku_http_req *req = *con_cls;
    const struct refusal *refusal = as_refusal(req);
    if (!req || refusal)
        return first_call(srv, conn, method, url, refusal, con_cls);

    size_t len = *upload_data_size;
    *upload_data_size = 0;
    switch (req->state) {
    case REQ_RECEIVING:
        if (len > 0) {
            if (req->body_len + len <= srv->max_body)
                return body_append(req, upload_data, len) ? MHD_YES : MHD_NO;
            req->state = REQ_DISCARDING;
            req->discarded = req->body_len + len;
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
            return MHD_YES;
        }
        if (srv->stopping) {
            req->response = make_error("unavailable", "server stopping");
            req->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            return queue(req);
        }
        req->state = REQ_HANDLER;
        srv->handler(req, srv->arg);
        if (req->state == REQ_ANSWERED)
            return queue(req);
        MHD_suspend_connection(conn);
        req->suspended = true;
        pending_link(req);
        return MHD_YES;
    case REQ_DISCARDING:
        if (len > 0) {
            /* Read on (to answer 413 on a usable connection) up to the
             * allowance; beyond it just close. */
            req->discarded += len;
            return req->discarded > discard_allowance(srv) ? MHD_NO : MHD_YES;
        }
        req->response = make_error("too_large", "request body too large");
        req->status = MHD_HTTP_CONTENT_TOO_LARGE;
        return queue(req);
    case REQ_ANSWERED:
        return queue(req);
    case REQ_HANDLER: /* suspended: MHD does not call */
    case REQ_QUEUED:  /* answered: MHD does not call */
        break;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    polku_http_req *req = *con_cls;
    *con_cls = NULL;
    if (!req || as_refusal(req)) /* the access handler never ran */
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_debug("http: %s request ended early (%d)", req->method, (int)toe);
    if (req->state == REQ_HANDLER) {
        /* The handler still owns it: detach, its answer frees it. */
        if (req->suspended)
            pending_unlink(req);
        req->suspended = false;
        req->srv->live--;
        req->conn = NULL;
        req->srv = NULL;
        return;
    }
    if (req->stream)
        stream_finished(req->stream);
    req_free(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (POLKU_LOG_INFO < polku_log_threshold)
        return;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    log_info("http: %s", text);
}

/* ---- public ---- */

/* "HOST:PORT" with HOST an IPv4 literal, "localhost" or "[IPv6]". */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
                        bool *ipv6)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen || colon[1] == '\0')
        return POLKU_EINVAL;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end != '\0' || port > 65535 || colon[1] < '0' ||
        colon[1] > '9')
        return POLKU_EINVAL;
    char host[64];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof host)
        return POLKU_EINVAL;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';

    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)ss;
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &sa6->sin6_addr) != 1)
            return POLKU_EINVAL;
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return POLKU_OK;
    }
    struct sockaddr_in *sa = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return POLKU_EINVAL;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    *ipv6 = false;
    return POLKU_OK;
}

/* A listening TCP socket on ss. We bind it ourselves rather than let MHD:
 * MHD's message for a taken port names neither the address nor the port
 * it was given ("Failed to bind to port 0"). -1 with errno on failure. */
static int listen_on(const struct sockaddr_storage *ss, bool ipv6)
{
    int fd = socket(ipv6 ? AF_INET6 : AF_INET,
                    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    socklen_t len =
        ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on)) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The port fd is bound to (the one the kernel picked for port 0). */
static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Descriptors a process keeps for everything but HTTP connections. */
#define HTTP_FD_RESERVE 256u

/* The connection limit asked for, or less if the descriptor limit (raised
 * at start, polku/daemon.h) cannot hold it. */
static unsigned fitting_limit(unsigned wanted)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
        lim.rlim_cur >= (rlim_t)wanted + HTTP_FD_RESERVE)
        return wanted;
    unsigned fits = lim.rlim_cur > 2 * HTTP_FD_RESERVE
                        ? (unsigned)lim.rlim_cur - HTTP_FD_RESERVE
                        : HTTP_FD_RESERVE;
    if (fits >= wanted)
        return wanted;
    log_warn("http: %u connections at most, not %u: the descriptor limit is "
             "%llu (raise LimitNOFILE)",
             fits, wanted, (unsigned long long)lim.rlim_cur);
    return fits;
}

static int start(uv_loop_t *loop, const char *listen, size_t max_body,
                 unsigned max_connections, size_t connection_memory,
                 polku_http_handler handler, void *arg, polku_http **out)
{
    assert(loop && handler && out);
    struct sockaddr_storage ss;
    bool ipv6 = false;
    if (parse_listen(listen, &ss, &ipv6) != POLKU_OK) {
        log_warn("http: bad listen address '%s'", listen ? listen : "");
        return POLKU_EINVAL;
    }
    int fd = listen_on(&ss, ipv6);
    if (fd < 0) {
        log_error("http: cannot listen on %s: %s", listen, strerror(errno));
        return POLKU_EHTTP;
    }
    polku_http *srv = calloc(1, sizeof *srv);
    if (!srv) {
        close(fd);
        return POLKU_ENOMEM;
    }
    srv->loop = loop;
    srv->handler = handler;
    srv->arg = arg;
    srv->max_body = max_body;

    unsigned limit = fitting_limit(max_connections);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv,
        /* the logger first, or MHD logs the options before it to stderr */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
        fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, limit / 2,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory, MHD_OPTION_END);
    if (!srv->daemon) {
        log_error("http: cannot serve on %s (see the lines above)", listen);
        close(fd);
        free(srv);
        return POLKU_EHTTP;
    }
    srv->port = bound_port(fd); /* MHD owns fd now and closes it */
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int rc = info ? uv_poll_init(loop, &srv->poll, info->epoll_fd) : UV_EBADF;
    if (rc < 0) {
        log_warn("http: cannot watch the epoll fd: %s", uv_strerror(rc));
        MHD_stop_daemon(srv->daemon);
        free(srv);
        return POLKU_EUV;
    }
    uv_timer_init(loop, &srv->timer);
    srv->poll.data = srv;
    srv->timer.data = srv;
    srv->open_handles = 2;
    rc = uv_poll_start(&srv->poll, UV_READABLE, on_poll);
    if (rc < 0) {
        log_warn("http: cannot watch the epoll fd: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&srv->poll, on_handle_closed);
        uv_close((uv_handle_t *)&srv->timer, on_handle_closed);
        MHD_stop_daemon(srv->daemon);
        return POLKU_EUV;
    }
    arm(srv);
    *out = srv;
    return POLKU_OK;
}

int polku_http_start(uv_loop_t *loop, const char *listen, size_t max_body,
                     polku_http_handler handler, void *arg, polku_http **out)
{
    return start(loop, listen, max_body, POLKU_HTTP_CONNECTION_LIMIT,
                 HTTP_CONNECTION_MEMORY, handler, arg, out);
}

int polku_http_start_limited(uv_loop_t *loop, const char *listen,
                             size_t max_body, unsigned max_connections,
                             polku_http_handler handler, void *arg,
                             polku_http **out)
{
    return start(loop, listen, max_body, max_connections,
                 POLKU_HTTP_STREAM_CONNECTION_MEMORY, handler, arg, out);
}

uint16_t polku_http_port(const polku_http *srv)
{
    return srv->port;
}

void polku_http_stop(polku_http **srvp)
{
    if (!srvp || !*srvp)
        return;
    polku_http *srv = *srvp;
    *srvp = NULL;
    assert(!srv->in_run && "polku_http_stop called from a handler");
    srv->stopping = true;
    while (srv->pending)
        answer(srv->pending, MHD_HTTP_SERVICE_UNAVAILABLE,
               make_error("unavailable", "server stopping"));
    /* Streams: tell every owner first (one may still write to or close
     * another), then end them all. Nothing is freed before MHD_run. */
    for (polku_http_stream *s = srv->streams, *next; s; s = next) {
        next = s->next;
        if (s->owned) {
            s->owned = false;
            if (s->on_closed)
                s->on_closed(s, s->arg);
        }
    }
    for (polku_http_stream *s = srv->streams; s; s = s->next) {
        s->ending = true;
        stream_wake(s); /* MHD_stop_daemon must see none suspended */
    }
    /* Let MHD take back the resumed connections and send the 503s (and
     * the ends of the streams) while it still has work it can do at
     * once. */
    for (int i = 0; i < HTTP_STOP_FLUSH_ROUNDS; i++) {
        MHD_UNSIGNED_LONG_LONG ms;
        MHD_run(srv->daemon);
        if (MHD_get_timeout(srv->daemon, &ms) != MHD_YES || ms > 0)
            break;
    }
    /* libuv forgets the epoll fd before MHD closes it. */
    uv_close((uv_handle_t *)&srv->poll, on_handle_closed);
    uv_close((uv_handle_t *)&srv->timer, on_handle_closed);
    MHD_stop_daemon(srv->daemon); /* finishes the remaining streams */
    srv->daemon = NULL;
    assert(!srv->streams);
}

const char *polku_http_method(const polku_http_req *req)
{
    return req->method;
}

const char *polku_http_path(const polku_http_req *req)
{
    return req->path;
}

/* Copies an MHD value so it lives as long as the request. */
static const char *keep(const polku_http_req *creq, const char *value)
{
    if (!value)
        return NULL;
    polku_http_req *req = (polku_http_req *)creq;
    size_t len = strlen(value);
    struct req_str *s = malloc(sizeof *s + len + 1);
    if (!s)
        return NULL;
    memcpy(s->text, value, len + 1);
    s->next = req->strings;
    req->strings = s;
    return s->text;
}

/* The value after name in a NULL-terminated name, value, ... list. */
static const char *local_lookup(const char *const *pairs, const char *name,
                                bool fold_case)
{
    for (size_t i = 0; pairs && pairs[i] && pairs[i + 1]; i += 2)
        if (fold_case ? strcasecmp(pairs[i], name) == 0
                      : strcmp(pairs[i], name) == 0)
            return pairs[i + 1];
    return NULL;
}

const char *polku_http_query(const polku_http_req *req, const char *name)
{
    if (req->local)
        return local_lookup(req->local_query, name, false);
    if (!req->conn)
        return NULL;
    return keep(req, MHD_lookup_connection_value(req->conn,
                                                 MHD_GET_ARGUMENT_KIND, name));
}

const char *polku_http_header(const polku_http_req *req, const char *name)
{
    if (req->local)
        return local_lookup(req->local_headers, name, true);
    if (!req->conn)
        return NULL;
    return keep(req,
                MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name));
}

const char *polku_http_body(const polku_http_req *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

/* A local request keeps a copy of the body, then is answered (freed). */
static void answer_local(polku_http_req *req, unsigned status, const char *body,
                         size_t len)
{
    polku_http_local *out = req->local;
    free(out->body);
    out->body = malloc(len + 1);
    if (out->body) {
        memcpy(out->body, body ? body : "", len);
        out->body[len] = '\0';
    }
    out->len = out->body ? len : 0;
    answer(req, status, NULL);
}

void polku_http_respond(polku_http_req *req, unsigned status,
                        const char *content_type, const char *body, size_t len)
{
    if (req->local)
        answer_local(req, status, body, len);
    else
        answer(req, status, make_response(content_type, body, len));
}

/* polku_http_set_json_tag: on o unless o has the name already. */
static void tag_object(json_t *o, const char *name, const char *value)
{
    if (json_is_object(o) && !json_object_get(o, name))
        json_object_set_new(o, name, json_string(value));
}

static void tag_answer(const polku_http_req *req, unsigned status, json_t *body)
{
    if (!req->tag_name || status < 200 || status >= 300 ||
        !json_is_object(body))
        return;
    tag_object(body, req->tag_name, req->tag_value);
    if (!json_object_get(body, "count"))
        return; /* a list: its records are tagged too */
    const char *k;
    json_t *v, *item;
    size_t i;
    json_object_foreach(body, k, v)
    {
        json_array_foreach(v, i, item)
        {
            tag_object(item, req->tag_name, req->tag_value);
        }
    }
}

void polku_http_respond_json(polku_http_req *req, unsigned status, json_t *body)
{
    tag_answer(req, status, body);
    if (req->local) {
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        answer_local(req, status, text, text ? strlen(text) : 0);
        free(text);
        json_decref(body);
        return;
    }
    struct MHD_Response *resp = make_json_typed(
        body, req->json_type ? req->json_type : "application/json");
    json_decref(body);
    if (resp && req->location && status >= 200 && status < 300 &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
                                req->location) != MHD_YES) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    answer(req, status, resp);
}

void polku_http_respond_error(polku_http_req *req, unsigned status,
                              const char *code, const char *message)
{
    if (req->error_render) {
        json_t *body = req->error_render(status, code ? code : "error",
                                         message ? message : "");
        if (body) {
            polku_http_respond_json(req, status, body);
            return;
        }
    }
    if (req->local) {
        polku_http_respond_json(req, status, error_body(code, message));
        return;
    }
    answer(req, status, make_error(code, message));
}

int polku_http_set_location(polku_http_req *req, const char *url)
{
    req->location = keep(req, url);
    return req->location ? POLKU_OK : POLKU_ENOMEM;
}

const char *polku_http_json_tag(const polku_http_req *req, const char **value)
{
    *value = req->tag_value;
    return req->tag_name;
}

int polku_http_set_json_tag(polku_http_req *req, const char *name,
                            const char *value)
{
    req->tag_name = keep(req, name);
    req->tag_value = keep(req, value);
    return req->tag_name && req->tag_value ? POLKU_OK : POLKU_ENOMEM;
}

void polku_http_set_json_style(polku_http_req *req, const char *content_type,
                               polku_http_error_body render)
{
    req->json_type = content_type;
    req->error_render = render;
}

polku_http_req *polku_http_local_req(const char *method, const char *path,
                                     const char *const *query,
                                     const char *const *headers,
                                     const void *body, size_t len,
                                     polku_http_local *out)
{
    assert(method && path && out && (body || len == 0));
    memset(out, 0, sizeof *out);
    polku_http_req *req = req_new(NULL, NULL, method, path);
    if (!req)
        return NULL;
    req->body = malloc(len + 1);
    if (!req->body) {
        req_free(req);
        return NULL;
    }
    if (len)
        memcpy(req->body, body, len);
    req->body[len] = '\0';
    req->body_len = req->body_cap = len;
    req->state = REQ_HANDLER;
    req->local = out;
    req->local_query = query;
    req->local_headers = headers;
    return req;
}

void polku_http_get_stats(const polku_http *srv, polku_http_stats *out)
{
    *out = srv->stats;
}

unsigned long long polku_http_in_flight(const polku_http *srv)
{
    return srv->live;
}

unsigned polku_http_connections(const polku_http *srv)
{
    return srv->connections;
}

/* ---- streams: public ---- */

polku_http_stream *polku_http_stream_open(polku_http_req *req,
                                          const char *content_type,
                                          polku_http_stream_closed on_closed,
                                          void *arg)
{
    return polku_http_stream_open_encoded(req, content_type, NULL, on_closed,
                                          arg);
}

polku_http_stream *
polku_http_stream_open_encoded(polku_http_req *req, const char *content_type,
                               const char *encoding,
                               polku_http_stream_closed on_closed, void *arg)
{
    assert(req && req->state == REQ_HANDLER && "stream on an answered request");
    if (!req->conn) { /* the client is gone: this frees the request */
        answer(req, MHD_HTTP_OK, NULL);
        return NULL;
    }
    polku_http *srv = req->srv;
    polku_http_stream *s = calloc(1, sizeof *s);
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(
                MHD_SIZE_UNKNOWN, STREAM_BLOCK_SIZE, stream_read, s, NULL)
          : NULL;
    if (resp &&
        ((content_type &&
          MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  content_type) != MHD_YES) ||
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                 "no-cache") != MHD_YES ||
         MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES ||
         MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
                                 "Accept-Encoding") != MHD_YES ||
         (encoding &&
          MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
                                  encoding) != MHD_YES))) {
        MHD_destroy_response(resp);
        resp = NULL;
    }
    if (!resp) { /* a NULL answer makes MHD close the connection */
        log_warn("http: out of memory opening a stream");
        free(s);
        answer(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
        return NULL;
    }
    s->srv = srv;
    s->req = req;
    s->on_closed = on_closed;
    s->arg = arg;
    s->owned = true;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int rc = info ? uv_poll_init_socket(srv->loop, &s->watch, info->connect_fd)
                  : UV_EBADF;
    if (rc == 0) {
        s->has_watch = true;
        s->watch.data = s;
    } else {
        log_debug("http: stream without hang-up watch: %s", uv_strerror(rc));
    }
    /* The reader may pause longer than a request may (an idle stream is
     * suspended and has no timeout at all). */
    MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              HTTP_STREAM_TIMEOUT_S);
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    req->stream = s;
    answer(req, MHD_HTTP_OK, resp);
    return s;
}

polku_http_shared *polku_http_shared_new(const char *data, size_t len)
{
    polku_http_shared *c = malloc(sizeof *c + (len ? len : 1));
    if (!c)
        return NULL;
    c->refs = 1;
    c->len = c->cap = len;
    c->priv = false;
    if (len)
        memcpy(c->data, data, len);
    return c;
}

void polku_http_shared_release(polku_http_shared **cp)
{
    if (!cp || !*cp)
        return;
    if (--(*cp)->refs == 0)
        free(*cp);
    *cp = NULL;
}

/* Room for one more piece at the end of s's queue. */
static bool queue_room(polku_http_stream *s)
{
    if (s->n < s->qcap)
        return true;
    if (s->head > 0) {
        memmove(s->q, s->q + s->head, (s->n - s->head) * sizeof *s->q);
        s->n -= s->head;
        s->head = 0;
        return true;
    }
    size_t cap = s->qcap ? s->qcap * 2 : 8;
    struct stream_piece *grown = realloc(s->q, cap * sizeof *grown);
    if (!grown)
        return false;
    s->q = grown;
    s->qcap = cap;
    return true;
}

/* POLKU_OK if len more bytes may be queued on s. */
static int stream_may_queue(polku_http_stream *s, size_t len)
{
    if (!s->owned)
        return POLKU_EINVAL;
    if (len > POLKU_HTTP_STREAM_MAX_QUEUED - s->queued) {
        s->overflowed = true;
        return POLKU_EFULL;
    }
    return POLKU_OK;
}

int polku_http_stream_write(polku_http_stream *s, const char *data, size_t len)
{
    assert(s);
    int rc = stream_may_queue(s, len);
    if (rc != POLKU_OK || len == 0)
        return rc;
    polku_http_shared *tail = s->n > s->head ? s->q[s->n - 1].c : NULL;
    if (!tail || !tail->priv || tail->cap - tail->len < len) {
        size_t cap = len > STREAM_COPY_MIN ? len : STREAM_COPY_MIN;
        tail = malloc(sizeof *tail + cap);
        if (!tail || !queue_room(s)) {
            free(tail);
            return POLKU_ENOMEM;
        }
        *tail = (polku_http_shared){.refs = 1, .cap = cap, .priv = true};
        s->q[s->n++] = (struct stream_piece){tail, 0};
    }
    memcpy(tail->data + tail->len, data, len);
    tail->len += len;
    s->queued += len;
    stream_wake(s);
    return POLKU_OK;
}

int polku_http_stream_write_shared(polku_http_stream *s, polku_http_shared *c)
{
    assert(s && c && !c->priv);
    int rc = stream_may_queue(s, c->len);
    if (rc != POLKU_OK || c->len == 0)
        return rc;
    if (!queue_room(s))
        return POLKU_ENOMEM;
    c->refs++;
    s->q[s->n++] = (struct stream_piece){c, 0};
    s->queued += c->len;
    stream_wake(s);
    return POLKU_OK;
}

void polku_http_stream_close(polku_http_stream *s)
{
    if (!s || !s->owned)
        return;
    s->owned = false;
    s->ending = true;
    if (s->overflowed) {
        /* Its client reads too slowly to take the queue: a send-side
         * timeout drops the connection even while MHD waits to write. */
        s->abort = true;
        MHD_set_connection_option(s->req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  STREAM_DROP_TIMEOUT_S);
    }
    if (s->suspended)
        stream_wake(s);
    else
        kick(s->srv); /* re-arm the timer from MHD's (new) timeout */
}
