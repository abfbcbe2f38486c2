/* sse.c — the Server-Sent Events hub (see polku/sse.h).
 *
 * Each event is formatted once, into its wire text, and that text is both
 * written to every client and kept in the ring: event seq n lives in slot
 * (n - 1) % capacity, so the ring holds seq last - count + 1 .. last.
 * Written means one buffer shared by every stream (polku_http_shared),
 * not a copy each; a batching hub gathers a turn's events first, so each
 * client is written to (and its connection woken) once per flush.
 *
 * A client is one polku_http_stream. It leaves the hub in one of three
 * ways, each freeing it exactly once:
 *
 *   event                              who                 stream
 *   connection closed / server stops   on_client_closed    already gone
 *   write refused (too slow, no mem)   drop_client         closed by us
 *   hub freed                          polku_sse_hub_free  closed by us
 *
 * polku_http_stream_write and _close never call on_closed, so a client
 * list walked while writing cannot change under the walk except by our own
 * drop_client. */
#include "polku/sse.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "polku/error.h"
#include "polku/log.h"
#include "sse_gzip.h"

#define SSE_ID_FMT "%016" PRIx64 "-%" PRIu64
#define SSE_PREAMBLE_MAX 256 /* bytes before the backlog, at most */
/* A batch this large is written at once: half a stream's queue, so a
 * dashboard that has not yet read the last one is not dropped for the
 * next. A gzip client's write is one send whatever the batch holds, so
 * under a high event rate the batch size, not the owner's timer, sets
 * how many sends each subscriber costs (at 256 KiB, 7 000 referrals/s
 * flushed every 40 ms). */
#define SSE_BATCH_MAX (POLKU_HTTP_STREAM_MAX_QUEUED / 2)
#define SSE_BATCH_KEEP ((size_t)64 * 1024) /* larger buffers freed */

struct sse_client {
    polku_sse_hub *hub;
    polku_http_stream *stream;
    struct sse_client *prev, *next;
    bool gzip;        /* Content-Encoding: gzip (sse_gzip.h) */
    sse_gzip_sum sum; /* for its trailer */
};

/* A ring slot: the wire text, or (published lazily, nobody has read it
 * yet) what renders it. */
struct sse_event {
    char *text; /* the wire text, NUL-terminated; NULL: not rendered */
    size_t len;
    const char *topic; /* static: a lazy event's */
    polku_sse_render_fn render;
    void (*free_ctx)(void *ctx);
    void *ctx;
};

struct polku_sse_hub {
    uint64_t epoch;
    uint64_t seq; /* last published */
    size_t capacity, count;
    struct sse_event *ring;
    struct sse_client *clients;
    size_t nclients;
    bool batching; /* events wait in batch for polku_sse_flush */
    char *batch;   /* their wire text, in order */
    size_t batch_len, batch_cap;
    size_t ngzip;       /* clients with gzip */
    sse_gzip *deflater; /* made for the first of them */
};

enum sse_plan { PLAN_FRESH, PLAN_RESUME, PLAN_RESET };

polku_sse_hub *polku_sse_hub_new(uint64_t epoch, size_t ring_capacity)
{
    polku_sse_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (ring_capacity > 0) {
        h->ring = calloc(ring_capacity, sizeof *h->ring);
        if (!h->ring) {
            free(h);
            return NULL;
        }
    }
    h->epoch = epoch;
    h->capacity = ring_capacity;
    return h;
}

static void slot_clear(struct sse_event *ev)
{
    free(ev->text);
    if (ev->free_ctx)
        ev->free_ctx(ev->ctx);
    memset(ev, 0, sizeof *ev);
}

static void client_remove(polku_sse_hub *h, struct sse_client *c)
{
    DL_DELETE(h->clients, c);
    h->nclients--;
    if (c->gzip)
        h->ngzip--;
    free(c);
}

/* Writes text to one client, deflated if it takes gzip. */
static int client_write(polku_sse_hub *h, struct sse_client *c,
                        const char *text, size_t len)
{
    if (!c->gzip)
        return polku_http_stream_write(c->stream, text, len);
    size_t n = 0;
    unsigned char *seg = sse_gzip_segment(h->deflater, text, len, &n);
    if (!seg)
        return POLKU_ENOMEM;
    int rc = polku_http_stream_write(c->stream, (const char *)seg, n);
    free(seg);
    if (rc == POLKU_OK) {
        sse_gzip_piece p;
        sse_gzip_piece_of(text, len, &p);
        sse_gzip_sum_add(&c->sum, &p);
    }
    return rc;
}

/* The stream's connection closed (client gone, server stopping). */
static void on_client_closed(polku_http_stream *s, void *arg)
{
    (void)s;
    struct sse_client *c = arg;
    log_debug("sse: client gone (%zu left)", c->hub->nclients - 1);
    client_remove(c->hub, c);
}

static void drop_client(polku_sse_hub *h, struct sse_client *c, int err)
{
    if (err == POLKU_EFULL)
        log_info("sse: dropping a client too slow to read (%zu MiB queued)",
                 POLKU_HTTP_STREAM_MAX_QUEUED >> 20);
    else
        log_warn("sse: dropping a client: %s", polku_strerror(err));
    polku_http_stream_close(c->stream);
    client_remove(h, c);
}

void polku_sse_hub_free(polku_sse_hub **hp)
{
    if (!hp || !*hp)
        return;
    polku_sse_hub *h = *hp;
    *hp = NULL;
    polku_sse_flush(h); /* its streams still send what was published */
    free(h->batch);
    struct sse_client *c, *tmp;
    DL_FOREACH_SAFE(h->clients, c, tmp)
    {
        if (c->gzip) { /* a clean end: the trailer checks it all */
            unsigned char end[SSE_GZIP_END_LEN];
            sse_gzip_end(&c->sum, end);
            polku_http_stream_write(c->stream, (const char *)end, sizeof end);
        }
        polku_http_stream_close(c->stream);
        client_remove(h, c);
    }
    sse_gzip_free(&h->deflater);
    for (size_t i = 0; i < h->capacity; i++)
        slot_clear(&h->ring[i]);
    free(h->ring);
    free(h);
}

/* Writes text to every client now, dropping those that refuse it: one
 * buffer shared by all of them (a copy each only when memory ran out). */
static void write_all(polku_sse_hub *h, const char *text, size_t len)
{
    size_t nplain = h->nclients - h->ngzip;
    polku_http_shared *shared =
        nplain > 1 ? polku_http_shared_new(text, len) : NULL;
    /* the gzip clients' segment, deflated once (sse_gzip.h) */
    polku_http_shared *zshared = NULL;
    sse_gzip_piece piece;
    if (h->ngzip > 1) {
        size_t n = 0;
        unsigned char *seg = sse_gzip_segment(h->deflater, text, len, &n);
        zshared = seg ? polku_http_shared_new((const char *)seg, n) : NULL;
        free(seg);
        sse_gzip_piece_of(text, len, &piece);
    }
    struct sse_client *c, *tmp;
    DL_FOREACH_SAFE(h->clients, c, tmp)
    {
        int rc;
        if (c->gzip && zshared) {
            rc = polku_http_stream_write_shared(c->stream, zshared);
            if (rc == POLKU_OK)
                sse_gzip_sum_add(&c->sum, &piece);
        } else if (!c->gzip && shared) {
            rc = polku_http_stream_write_shared(c->stream, shared);
        } else {
            rc = client_write(h, c, text, len);
        }
        if (rc != POLKU_OK)
            drop_client(h, c, rc);
    }
    polku_http_shared_release(&shared);
    polku_http_shared_release(&zshared);
}

void polku_sse_flush(polku_sse_hub *h)
{
    if (h->batch_len == 0)
        return;
    size_t len = h->batch_len;
    h->batch_len = 0;
    write_all(h, h->batch, len);
    if (h->batch_cap > SSE_BATCH_KEEP) {
        free(h->batch);
        h->batch = NULL;
        h->batch_cap = 0;
    }
}

/* An event's text to every client: at once, or into the batch. */
static void broadcast(polku_sse_hub *h, const char *text, size_t len)
{
    if (!h->batching || h->nclients == 0) {
        write_all(h, text, len);
        return;
    }
    if (h->batch_len + len > h->batch_cap) {
        size_t cap = h->batch_cap ? h->batch_cap : 4096;
        while (cap < h->batch_len + len)
            cap *= 2;
        char *grown = realloc(h->batch, cap);
        if (!grown) { /* out of memory: what waits goes, then this */
            polku_sse_flush(h);
            write_all(h, text, len);
            return;
        }
        h->batch = grown;
        h->batch_cap = cap;
    }
    memcpy(h->batch + h->batch_len, text, len);
    h->batch_len += len;
    if (h->batch_len >= SSE_BATCH_MAX)
        polku_sse_flush(h);
}

void polku_sse_hub_batch(polku_sse_hub *h, bool on)
{
    if (!on)
        polku_sse_flush(h);
    h->batching = on;
}

bool polku_sse_pending(const polku_sse_hub *h)
{
    return h->batch_len > 0;
}

static struct sse_event *ring_slot(polku_sse_hub *h, uint64_t seq)
{
    return &h->ring[(seq - 1) % h->capacity];
}

/* "<16 lowercase hex>-<decimal>" (SSE_ID_FMT) at out: at most 37 bytes,
 * no NUL. Written by hand, like the rest of the wire text: two snprintf
 * per event were 4 % of the broker's CPU with 1 000 subscribers attached
 * (bench/README.md, "SSE subscribers on the broker"). */
#define SSE_ID_MAX 37
static size_t put_id(char *out, uint64_t epoch, uint64_t seq)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = hex[(epoch >> (60 - 4 * i)) & 0xf];
    out[16] = '-';
    char digits[20];
    size_t n = 0, at = 17;
    do {
        digits[n++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    while (n)
        out[at++] = digits[--n];
    return at;
}

/* The wire text of event seq (NULL: not one line, or out of memory). */
static char *wire_text(const polku_sse_hub *h, uint64_t seq, const char *topic,
                       const char *json, size_t *len)
{
    if (!*topic || strpbrk(topic, "\r\n") || strpbrk(json, "\r\n")) {
        log_warn("sse: not published: topic or data not one line");
        return NULL;
    }
    static const char a[] = "id: ", b[] = "\nevent: ", c[] = "\ndata: ",
                      d[] = "\n\n";
    size_t tlen = strlen(topic), jlen = strlen(json);
    char *text = malloc(sizeof a + SSE_ID_MAX + sizeof b + tlen + sizeof c +
                        jlen + sizeof d);
    if (!text) {
        log_warn("sse: not published: out of memory");
        return NULL;
    }
    size_t at = 0;
    memcpy(text, a, sizeof a - 1);
    at += sizeof a - 1;
    at += put_id(text + at, h->epoch, seq);
    memcpy(text + at, b, sizeof b - 1);
    at += sizeof b - 1;
    memcpy(text + at, topic, tlen);
    at += tlen;
    memcpy(text + at, c, sizeof c - 1);
    at += sizeof c - 1;
    memcpy(text + at, json, jlen);
    at += jlen;
    memcpy(text + at, d, sizeof d); /* with its NUL */
    *len = at + sizeof d - 1;
    return text;
}

/* The slot seq now holds ev (taken); the ring drops its oldest. */
static void keep(polku_sse_hub *h, uint64_t seq, struct sse_event ev)
{
    struct sse_event *slot = ring_slot(h, seq);
    slot_clear(slot);
    *slot = ev;
    if (h->count < h->capacity)
        h->count++;
}

uint64_t polku_sse_publish(polku_sse_hub *h, const char *topic,
                           const char *json)
{
    assert(h && topic && json);
    uint64_t seq = h->seq + 1;
    size_t len = 0;
    char *text = wire_text(h, seq, topic, json, &len);
    if (!text)
        return 0;
    h->seq = seq;
    broadcast(h, text, len);
    if (h->capacity == 0) {
        free(text);
        return seq;
    }
    keep(h, seq, (struct sse_event){.text = text, .len = len});
    return seq;
}

uint64_t polku_sse_publish_lazy(polku_sse_hub *h, const char *topic,
                                polku_sse_render_fn render,
                                void (*free_ctx)(void *ctx), void *ctx)
{
    assert(h && topic && render);
    uint64_t seq = h->seq + 1;
    if (h->nclients > 0 || h->capacity == 0) { /* someone reads it now */
        char *json = h->nclients > 0 ? render(ctx, seq) : NULL;
        if (free_ctx)
            free_ctx(ctx);
        if (h->nclients == 0) {
            h->seq = seq; /* nobody will ever read it */
            return seq;
        }
        uint64_t done = json ? polku_sse_publish(h, topic, json) : 0;
        free(json);
        return done;
    }
    h->seq = seq;
    keep(h, seq,
         (struct sse_event){.topic = topic,
                            .render = render,
                            .free_ctx = free_ctx,
                            .ctx = ctx});
    return seq;
}

/* Renders a lazy slot's text. False when it cannot be (the event is then
 * lost to resumes: they get a reset). */
static bool materialize(polku_sse_hub *h, uint64_t seq)
{
    struct sse_event *ev = ring_slot(h, seq);
    if (ev->text)
        return true;
    if (!ev->render)
        return false;
    char *json = ev->render(ev->ctx, seq);
    size_t len = 0;
    char *text = json ? wire_text(h, seq, ev->topic, json, &len) : NULL;
    free(json);
    if (!text)
        return false;
    if (ev->free_ctx)
        ev->free_ctx(ev->ctx);
    *ev = (struct sse_event){.text = text, .len = len};
    return true;
}

/* "<1..16 hex>-<1..20 decimal>", nothing else. */
static bool parse_last_id(const char *text, uint64_t *epoch, uint64_t *seq)
{
    uint64_t e = 0, s = 0;
    size_t i = 0;
    for (; i < 16 && text[i] && text[i] != '-'; i++) {
        char ch = text[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return false;
        e = e << 4 | d;
    }
    if (i == 0 || text[i] != '-')
        return false;
    const char *p = text + i + 1;
    if (*p == '\0')
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (s > (UINT64_MAX - d) / 10)
            return false;
        s = s * 10 + d;
    }
    *epoch = e;
    *seq = s;
    return true;
}

/* Whether a client that saw (epoch, seq) can get exactly what it missed
 * from the ring within one stream's queue. */
static bool can_resume(polku_sse_hub *h, uint64_t epoch, uint64_t seq)
{
    if (epoch != h->epoch || seq > h->seq)
        return false;
    uint64_t missed = h->seq - seq;
    if (missed > h->count)
        return false;
    size_t bytes = SSE_PREAMBLE_MAX;
    for (uint64_t n = seq + 1; n <= h->seq; n++) {
        if (!materialize(h, n))
            return false;
        bytes += ring_slot(h, n)->len;
        if (bytes > POLKU_HTTP_STREAM_MAX_QUEUED)
            return false;
    }
    return true;
}

/* retry, then the id / backlog / reset of the plan, as one write (for a
 * gzip client: the header, then one segment). */
static int send_start(polku_sse_hub *h, struct sse_client *c,
                      enum sse_plan plan, uint64_t seq)
{
    char pre[SSE_PREAMBLE_MAX];
    int n;
    switch (plan) {
    case PLAN_FRESH:
        n = snprintf(pre, sizeof pre, "retry: %d\nid: " SSE_ID_FMT "\n\n",
                     POLKU_SSE_RETRY_MS, h->epoch, h->seq);
        break;
    case PLAN_RESET:
        n = snprintf(pre, sizeof pre,
                     "retry: %d\n\nid: " SSE_ID_FMT
                     "\nevent: reset\ndata: {\"epoch\":\"%016" PRIx64
                     "\",\"seq\":%" PRIu64 "}\n\n",
                     POLKU_SSE_RETRY_MS, h->epoch, h->seq, h->epoch, h->seq);
        break;
    default:
        n = snprintf(pre, sizeof pre, "retry: %d\n\n", POLKU_SSE_RETRY_MS);
        break;
    }
    size_t len = (size_t)n;
    for (uint64_t s = seq + 1; plan == PLAN_RESUME && s <= h->seq; s++)
        len += ring_slot(h, s)->len;
    char *text = malloc(len);
    if (!text)
        return POLKU_ENOMEM;
    memcpy(text, pre, (size_t)n);
    size_t at = (size_t)n;
    for (uint64_t s = seq + 1; plan == PLAN_RESUME && s <= h->seq; s++) {
        const struct sse_event *ev = ring_slot(h, s);
        memcpy(text + at, ev->text, ev->len);
        at += ev->len;
    }
    int rc = c->gzip ? polku_http_stream_write(c->stream,
                                               (const char *)sse_gzip_header,
                                               SSE_GZIP_HEADER_LEN)
                     : POLKU_OK;
    if (rc == POLKU_OK)
        rc = client_write(h, c, text, len);
    free(text);
    return rc;
}

void polku_sse_attach(polku_sse_hub *h, polku_http_req *req)
{
    assert(h && req);
    polku_sse_flush(h); /* the others' batch is older than this start */
    /* Read everything from req before the stream consumes it. */
    const char *last = polku_http_header(req, "Last-Event-ID");
    if (!last || !*last)
        last = polku_http_query(req, "last_event_id");
    enum sse_plan plan = PLAN_FRESH;
    uint64_t epoch = 0, seq = 0;
    if (last && *last)
        plan = parse_last_id(last, &epoch, &seq) && can_resume(h, epoch, seq)
                   ? PLAN_RESUME
                   : PLAN_RESET;

    bool gzip = sse_gzip_accepted(polku_http_header(req, "Accept-Encoding"));
    if (gzip && !h->deflater && !(h->deflater = sse_gzip_new()))
        gzip = false; /* out of memory: plain text then */
    struct sse_client *c = calloc(1, sizeof *c);
    if (!c) {
        polku_http_respond_error(req, 503, "unavailable", "out of memory");
        return;
    }
    c->hub = h;
    c->gzip = gzip;
    c->stream = polku_http_stream_open_encoded(
        req, "text/event-stream", gzip ? "gzip" : NULL, on_client_closed, c);
    if (!c->stream) {
        free(c);
        return;
    }
    DL_APPEND(h->clients, c);
    h->nclients++;
    if (gzip)
        h->ngzip++;
    log_debug("sse: client attached (%s; %zu now)",
              plan == PLAN_FRESH    ? "new"
              : plan == PLAN_RESUME ? "resumed"
                                    : "reset",
              h->nclients);
    int rc = send_start(h, c, plan, seq);
    if (rc != POLKU_OK)
        drop_client(h, c, rc);
}

void polku_sse_keepalive(polku_sse_hub *h)
{
    static const char text[] = ": keepalive\n\n";
    polku_sse_flush(h);
    write_all(h, text, sizeof text - 1);
}

size_t polku_sse_clients(const polku_sse_hub *h)
{
    return h->nclients;
}

uint64_t polku_sse_last_seq(const polku_sse_hub *h)
{
    return h->seq;
}
