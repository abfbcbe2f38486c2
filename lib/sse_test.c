/* sse_test.c — the SSE hub with a real polku_http server on 127.0.0.1:0.
 *
 * Clients are raw sockets read through a uv_poll on the server's own loop
 * (one thread). Their chunked bodies are decoded and compared byte for byte
 * with the text the test expects, so a gap, a repeat, a wrong id or a stray
 * line fails. Every wait is a loop run bounded by a deadline timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "polku/error.h"
#include "polku/http.h"
#include "polku/sse.h"
#include "sse_gzip.h"

#define EPOCH UINT64_C(0x00c0ffee12345678) /* leading zeros: %016 matters */
#define EPOCH_HEX "00c0ffee12345678"
#define RING 8
#define WAIT_MS 10000
#define MAX_CLIENTS 8

struct buf {
    char *data;
    size_t len;
};

struct client {
    int fd;
    uv_poll_t poll;
    bool eof;
    bool gzip;     /* asked for Content-Encoding: gzip */
    struct buf in; /* raw bytes: status line, headers, chunks */
};

struct fx {
    uv_loop_t loop;
    polku_http *srv;
    polku_sse_hub *hub;
    uv_timer_t deadline;
    uv_prepare_t prepare;
    bool (*pred)(struct fx *);
    bool timed_out;
    int attached; /* requests handed to the hub */
    struct client *clients[MAX_CLIENTS];
    /* what the predicates wait for */
    struct client *want_client;
    size_t want_len; /* decoded body bytes awaited */
    size_t want_clients;
    bool next_gzip; /* connect_client asks for gzip */
};

/* ---- buffers ---- */

static void buf_add(struct buf *b, const char *p, size_t n)
{
    char *grown = realloc(b->data, b->len + n + 1);
    assert_non_null(grown);
    b->data = grown;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_addf(struct buf *b, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof text);
    buf_add(b, text, (size_t)n);
}

static void buf_reset(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* The last body_of of a gzip client ended with a valid trailer. */
static bool gzip_trailer_ok;

/* A gzip body so far (sync-flushed pieces) as plain text, in place. */
static void gunzip(struct buf *b)
{
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
    struct buf out = {0};
    buf_add(&out, "", 0);
    char tmp[65536];
    zs.next_in = (Bytef *)b->data;
    zs.avail_in = (uInt)b->len;
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = (Bytef *)tmp;
        zs.avail_out = sizeof tmp;
        rc = inflate(&zs, Z_SYNC_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
        buf_add(&out, tmp, sizeof tmp - zs.avail_out);
        if (zs.avail_in == 0 && zs.avail_out != 0)
            break;
    }
    gzip_trailer_ok = rc == Z_STREAM_END;
    inflateEnd(&zs);
    buf_reset(b);
    *b = out;
}

/* The decoded body received so far (complete chunks only), in out. Returns
 * whether the terminating chunk was seen. A malformed response fails. */
static bool body_raw(const struct client *c, struct buf *out)
{
    buf_reset(out);
    buf_add(out, "", 0);
    const char *p = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
    if (!p)
        return false;
    p += 4;
    const char *end = c->in.data + c->in.len;
    for (;;) {
        const char *crlf = memchr(p, '\n', (size_t)(end - p));
        if (!crlf)
            return false;
        char *after;
        unsigned long size = strtoul(p, &after, 16);
        assert_true(after > p && *after == '\r'); /* "<hex>\r\n" */
        const char *data = crlf + 1;
        if (size == 0)
            return true;
        if ((size_t)(end - data) < size + 2)
            return false;
        assert_memory_equal(data + size, "\r\n", 2);
        buf_add(out, data, size);
        p = data + size + 2;
    }
}

/* The wire text of the event the test publishes as n. */
static void add_event(struct buf *b, uint64_t seq, int n)
{
    buf_addf(b,
             "id: " EPOCH_HEX "-%" PRIu64 "\nevent: t.%d\ndata: {\"n\":%d}\n\n",
             seq, n % 3, n);
}

/* The wire text of an event with any topic and data. */
static void add_event_text(struct buf *b, uint64_t seq, const char *topic,
                           const char *json)
{
    buf_addf(b, "id: " EPOCH_HEX "-%" PRIu64 "\nevent: %s\ndata: ", seq, topic);
    buf_add(b, json, strlen(json));
    buf_add(b, "\n\n", 2);
}

static uint64_t publish(struct fx *fx, int n)
{
    char topic[16], json[32];
    snprintf(topic, sizeof topic, "t.%d", n % 3);
    snprintf(json, sizeof json, "{\"n\":%d}", n);
    return polku_sse_publish(fx->hub, topic, json);
}

/* Publishes events from..to (n = seq). */
static void publish_range(struct fx *fx, int from, int to)
{
    for (int n = from; n <= to; n++)
        assert_int_equal(publish(fx, n), (uint64_t)n);
}

static void add_reset(struct buf *b, uint64_t seq)
{
    buf_addf(b,
             "retry: 2000\n\nid: " EPOCH_HEX "-%" PRIu64
             "\nevent: reset\ndata: {\"epoch\":\"" EPOCH_HEX
             "\",\"seq\":%" PRIu64 "}\n\n",
             seq, seq);
}

/* ---- server ---- */

static void handler(polku_http_req *req, void *arg)
{
    struct fx *fx = arg;
    if (strcmp(polku_http_path(req), "/events") == 0) {
        fx->attached++;
        polku_sse_attach(fx->hub, req);
    } else {
        polku_http_respond_error(req, 404, "not_found", "no such path");
    }
}

/* ---- loop helpers ---- */

static void on_deadline(uv_timer_t *t)
{
    struct fx *fx = t->data;
    fx->timed_out = true;
    uv_stop(&fx->loop);
}

/* body_raw, then unzipped for a gzip client. */
static bool body_of(const struct client *c, struct buf *out)
{
    bool ended = body_raw(c, out);
    if (c->gzip)
        gunzip(out);
    return ended;
}

static void on_prepare(uv_prepare_t *p)
{
    struct fx *fx = p->data;
    if (fx->pred(fx))
        uv_stop(&fx->loop);
}

/* Runs the loop until pred holds or ms pass; returns pred. */
static bool wait_for(struct fx *fx, bool (*pred)(struct fx *), unsigned ms)
{
    fx->timed_out = false;
    fx->pred = pred;
    uv_timer_start(&fx->deadline, on_deadline, ms, 0);
    uv_prepare_start(&fx->prepare, on_prepare);
    while (!pred(fx) && !fx->timed_out)
        uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_prepare_stop(&fx->prepare);
    uv_timer_stop(&fx->deadline);
    return pred(fx);
}

static bool clients_are(struct fx *fx)
{
    return fx->hub && polku_sse_clients(fx->hub) == fx->want_clients;
}

static bool body_long_enough(struct fx *fx)
{
    if (!fx->want_client->gzip &&
        fx->want_client->in.len < fx->want_len) /* raw >= decoded */
        return false;
    struct buf body = {0};
    body_of(fx->want_client, &body);
    bool ok = body.len >= fx->want_len;
    buf_reset(&body);
    return ok;
}

static bool body_ended(struct fx *fx)
{
    struct buf body = {0};
    bool ended = body_of(fx->want_client, &body);
    buf_reset(&body);
    return ended || fx->want_client->eof;
}

static bool nothing_in_flight(struct fx *fx)
{
    return polku_http_in_flight(fx->srv) == 0;
}

/* Waits until c's body is as long as want, then compares it exactly. */
static void expect_body(struct fx *fx, struct client *c, const struct buf *want)
{
    fx->want_client = c;
    fx->want_len = want->len;
    assert_true(wait_for(fx, body_long_enough, WAIT_MS));
    struct buf body = {0};
    body_of(c, &body);
    assert_string_equal(body.data, want->data);
    buf_reset(&body);
}

static void wait_clients(struct fx *fx, size_t n)
{
    fx->want_clients = n;
    assert_true(wait_for(fx, clients_are, WAIT_MS));
}

/* ---- raw clients on the loop ---- */

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct client *c = p->data;
    char tmp[65536];
    ssize_t n = status < 0 ? -1 : recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
        buf_add(&c->in, tmp, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        uv_poll_stop(p);
    }
}

/* GET target with an optional Last-Event-ID; reads unless reading is
 * false (a client that never reads). Waits until the hub has it. */
static struct client *connect_client(struct fx *fx, const char *target,
                                     const char *last_id, bool reading)
{
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(polku_http_port(fx->srv)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    c->gzip = fx->next_gzip;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream"
                     "\r\n%s%s%s%s\r\n",
                     target, last_id ? "Last-Event-ID: " : "",
                     last_id ? last_id : "", last_id ? "\r\n" : "",
                     c->gzip ? "Accept-Encoding: deflate, gzip;q=0.9\r\n" : "");
    assert_int_equal(send(c->fd, req, (size_t)n, MSG_NOSIGNAL), n);
    assert_int_equal(uv_poll_init_socket(&fx->loop, &c->poll, c->fd), 0);
    c->poll.data = c;
    if (reading)
        assert_int_equal(uv_poll_start(&c->poll, UV_READABLE, on_readable), 0);
    int slot = -1;
    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (!fx->clients[i])
            slot = i;
    assert_true(slot >= 0);
    fx->clients[slot] = c;
    wait_clients(fx, polku_sse_clients(fx->hub) + 1);
    return c;
}

static void on_client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    buf_reset(&c->in);
    free(c);
}

/* The client goes away now. */
static void drop(struct fx *fx, struct client *c)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (fx->clients[i] == c)
            fx->clients[i] = NULL;
    uv_close((uv_handle_t *)&c->poll, on_client_closed); /* stops watching */
    close(c->fd);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->deadline);
    fx->deadline.data = fx;
    uv_prepare_init(&fx->loop, &fx->prepare);
    fx->prepare.data = fx;
    assert_int_equal(
        polku_http_start(&fx->loop, "127.0.0.1:0", 1024, handler, fx, &fx->srv),
        POLKU_OK);
    fx->hub = polku_sse_hub_new(EPOCH, RING);
    assert_non_null(fx->hub);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    polku_sse_hub_free(&fx->hub);
    assert_null(fx->hub);
    polku_http_stop(&fx->srv);
    uv_close((uv_handle_t *)&fx->deadline, NULL);
    uv_close((uv_handle_t *)&fx->prepare, NULL);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (fx->clients[i])
            drop(fx, fx->clients[i]);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* every handle closed */
    free(fx);
    return 0;
}

static void new_hub(struct fx *fx, size_t ring)
{
    polku_sse_hub_free(&fx->hub);
    fx->hub = polku_sse_hub_new(EPOCH, ring);
    assert_non_null(fx->hub);
}

/* ---- tests ---- */

static void test_live_in_order(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(polku_sse_last_seq(fx->hub), 0);
    publish_range(fx, 1, 3);
    struct client *c = connect_client(fx, "/events", NULL, true);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-3\n\n");
    expect_body(fx, c, &want);
    assert_non_null(strstr(c->in.data, "HTTP/1.1 200"));
    assert_non_null(strstr(c->in.data, "Content-Type: text/event-stream"));
    assert_non_null(strstr(c->in.data, "Cache-Control: no-cache"));
    for (int n = 4; n <= 13; n++) {
        assert_int_equal(publish(fx, n), (uint64_t)n);
        add_event(&want, (uint64_t)n, n);
        if (n % 4 == 0) /* sometimes wait: the stream goes idle between */
            expect_body(fx, c, &want);
    }
    expect_body(fx, c, &want);
    assert_int_equal(polku_sse_last_seq(fx->hub), 13);
    assert_int_equal(polku_sse_clients(fx->hub), 1);
    buf_reset(&want);
}

/* The id line is written by hand (not snprintf): every hex digit of an
 * epoch with all nibbles set, and a seq past one digit. */
static void test_id_digits(void **state)
{
    struct fx *fx = *state;
    polku_sse_hub_free(&fx->hub);
    fx->hub = polku_sse_hub_new(UINT64_C(0xfedcba9876543210), RING);
    assert_non_null(fx->hub);
    struct client *c = connect_client(fx, "/events", NULL, true);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\nid: fedcba9876543210-0\n\n");
    expect_body(fx, c, &want);
    for (int n = 1; n <= 12; n++) {
        assert_int_equal(publish(fx, n), (uint64_t)n);
        buf_addf(&want,
                 "id: fedcba9876543210-%d\nevent: t.%d\ndata: {\"n\":%d}\n\n",
                 n, n % 3, n);
    }
    expect_body(fx, c, &want);
    buf_reset(&want);
}

static void test_publish_refuses_multiline(void **state)
{
    struct fx *fx = *state;
    publish_range(fx, 1, 2);
    assert_int_equal(polku_sse_publish(fx->hub, "a", "{\n}"), 0);
    assert_int_equal(polku_sse_publish(fx->hub, "a\r", "{}"), 0);
    assert_int_equal(polku_sse_publish(fx->hub, "", "{}"), 0);
    assert_int_equal(polku_sse_last_seq(fx->hub), 2);
    assert_int_equal(publish(fx, 3), 3); /* numbering continues, no gap */
}

static void test_resume_gets_exactly_the_missed(void **state)
{
    struct fx *fx = *state;
    publish_range(fx, 1, 10); /* ring (8) holds 3..10 */
    struct client *a = connect_client(fx, "/events", EPOCH_HEX "-4", true);
    struct buf want_a = {0};
    buf_addf(&want_a, "retry: 2000\n\n");
    for (int n = 5; n <= 10; n++)
        add_event(&want_a, (uint64_t)n, n);
    expect_body(fx, a, &want_a);

    /* the oldest resumable point: everything after 2 is still there */
    struct client *b = connect_client(fx, "/events", EPOCH_HEX "-2", true);
    struct buf want_b = {0};
    buf_addf(&want_b, "retry: 2000\n\n");
    for (int n = 3; n <= 10; n++)
        add_event(&want_b, (uint64_t)n, n);
    expect_body(fx, b, &want_b);

    /* up to date, by query parameter; upper-case hex is accepted */
    struct client *c = connect_client(
        fx, "/events?last_event_id=00C0FFEE12345678-10", NULL, true);
    struct buf want_c = {0};
    buf_addf(&want_c, "retry: 2000\n\n");
    expect_body(fx, c, &want_c);

    /* then all three get the live events */
    for (int n = 11; n <= 12; n++) {
        assert_int_equal(publish(fx, n), (uint64_t)n);
        add_event(&want_a, (uint64_t)n, n);
        add_event(&want_b, (uint64_t)n, n);
        add_event(&want_c, (uint64_t)n, n);
    }
    expect_body(fx, a, &want_a);
    expect_body(fx, b, &want_b);
    expect_body(fx, c, &want_c);
    buf_reset(&want_a);
    buf_reset(&want_b);
    buf_reset(&want_c);
}

/* Lazily published events: n is what the render writes; renders and
 * frees are counted, so the test sees that nothing is rendered that
 * nobody reads, and nothing twice. */
static int lazy_rendered, lazy_freed;

static char *render_n(void *ctx, uint64_t seq)
{
    (void)seq;
    lazy_rendered++;
    char *json = malloc(32);
    snprintf(json, 32, "{\"n\":%d}", *(int *)ctx);
    return json;
}

static void free_n(void *ctx)
{
    lazy_freed++;
    free(ctx);
}

static void publish_lazy(struct fx *fx, int n)
{
    static const char *const topics[] = {"t.0", "t.1", "t.2"};
    int *ctx = malloc(sizeof *ctx);
    *ctx = n;
    assert_int_equal(
        polku_sse_publish_lazy(fx->hub, topics[n % 3], render_n, free_n, ctx),
        (uint64_t)n);
}

static void test_lazy_rendered_only_when_read(void **state)
{
    struct fx *fx = *state;
    lazy_rendered = lazy_freed = 0;
    for (int n = 1; n <= 10; n++) /* ring (8) keeps 3..10 */
        publish_lazy(fx, n);
    assert_int_equal(lazy_rendered, 0); /* nobody watched */
    assert_int_equal(lazy_freed, 2);    /* 1 and 2 left the ring */
    /* a client resuming after 6 gets 7..10, rendered now, as if eager */
    struct client *a = connect_client(fx, "/events", EPOCH_HEX "-6", true);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\n\n");
    for (int n = 7; n <= 10; n++)
        add_event(&want, (uint64_t)n, n);
    expect_body(fx, a, &want);
    assert_int_equal(lazy_rendered, 4);
    /* with a client attached, the next is rendered at once, once */
    publish_lazy(fx, 11);
    add_event(&want, 11, 11);
    expect_body(fx, a, &want);
    assert_int_equal(lazy_rendered, 5);
    /* a second client resuming from 6 renders nothing again */
    struct client *b = connect_client(fx, "/events", EPOCH_HEX "-6", true);
    struct buf want_b = {0};
    buf_addf(&want_b, "retry: 2000\n\n");
    for (int n = 7; n <= 11; n++)
        add_event(&want_b, (uint64_t)n, n);
    expect_body(fx, b, &want_b);
    assert_int_equal(lazy_rendered, 5);
    /* and eager events mix with lazy ones in one numbering */
    assert_int_equal(publish(fx, 12), 12);
    assert_int_equal(polku_sse_last_seq(fx->hub), 12);
    polku_sse_hub_free(&fx->hub); /* frees what is left unrendered: none */
    assert_int_equal(lazy_freed, 11);
    buf_reset(&want);
    buf_reset(&want_b);
}

static void test_cannot_resume_gets_reset(void **state)
{
    struct fx *fx = *state;
    publish_range(fx, 1, 10); /* ring (8) holds 3..10 */
    static const char *const ids[] = {
        "0000000000000abc-5",              /* another epoch */
        EPOCH_HEX "-1",                    /* too old: 2 is gone */
        EPOCH_HEX "-11",                   /* in the future */
        "garbage",                         /* not an id */
        EPOCH_HEX "-",                     /* no seq */
        EPOCH_HEX "-99999999999999999999", /* seq over 64 bits */
    };
    enum { N = sizeof ids / sizeof ids[0] };
    struct client *c[N];
    struct buf want = {0};
    add_reset(&want, 10);
    for (size_t i = 0; i < N; i++) {
        c[i] = connect_client(fx, "/events", ids[i], true);
        expect_body(fx, c[i], &want);
    }
    /* a reset client then gets live events */
    assert_int_equal(publish(fx, 11), 11);
    add_event(&want, 11, 11);
    for (size_t i = 0; i < N; i++)
        expect_body(fx, c[i], &want);
    buf_reset(&want);
}

static void test_backlog_over_queue_limit_resets(void **state)
{
    struct fx *fx = *state;
    new_hub(fx, 64);
    static char json[100 * 1024];
    memset(json, 'b', sizeof json - 1);
    json[0] = '"';
    json[sizeof json - 2] = '"';
    json[sizeof json - 1] = '\0';
    for (int n = 1; n <= 20; n++) /* 2 MB in the ring: over one queue */
        assert_int_equal(polku_sse_publish(fx->hub, "big", json), (uint64_t)n);
    struct client *c = connect_client(fx, "/events", EPOCH_HEX "-0", true);
    struct buf want = {0};
    add_reset(&want, 20);
    expect_body(fx, c, &want);
    buf_reset(&want);
    /* a backlog that fits is still resumed */
    struct client *d = connect_client(fx, "/events", EPOCH_HEX "-18", true);
    buf_addf(&want, "retry: 2000\n\n");
    add_event_text(&want, 19, "big", json);
    add_event_text(&want, 20, "big", json);
    expect_body(fx, d, &want);
    buf_reset(&want);
}

/* A batching hub writes nothing until it is flushed, then each client
 * gets the batch whole (one buffer they share), in order, exactly once;
 * a client attaching meanwhile sees the batch go out first. */
static void test_batched_events_shared_at_flush(void **state)
{
    struct fx *fx = *state;
    polku_sse_hub_batch(fx->hub, true);
    struct client *c[4];
    struct buf want[4] = {{0}};
    for (int i = 0; i < 3; i++) {
        c[i] = connect_client(fx, "/events", NULL, true);
        buf_addf(&want[i], "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
        expect_body(fx, c[i], &want[i]);
    }
    assert_false(polku_sse_pending(fx->hub));
    publish_range(fx, 1, 5);
    assert_true(polku_sse_pending(fx->hub));
    for (int i = 0; i < 3; i++)
        for (int n = 1; n <= 5; n++)
            add_event(&want[i], (uint64_t)n, n);
    /* the fourth client's start flushes the others' batch first */
    c[3] = connect_client(fx, "/events", NULL, true);
    assert_false(polku_sse_pending(fx->hub));
    buf_addf(&want[3], "retry: 2000\nid: " EPOCH_HEX "-5\n\n");
    for (int i = 0; i < 4; i++)
        expect_body(fx, c[i], &want[i]);
    /* a batch larger than the server's read block: many pieces */
    char json[2048];
    memset(json, 'x', sizeof json);
    memcpy(json, "{\"p\":\"", 6);
    memcpy(json + sizeof json - 3, "\"}", 3);
    for (uint64_t seq = 6; seq <= 40; seq++) {
        assert_int_equal(polku_sse_publish(fx->hub, "big", json), seq);
        for (int i = 0; i < 4; i++)
            add_event_text(&want[i], seq, "big", json);
    }
    polku_sse_flush(fx->hub);
    assert_false(polku_sse_pending(fx->hub));
    for (int i = 0; i < 4; i++) {
        expect_body(fx, c[i], &want[i]);
        buf_reset(&want[i]);
    }
}

/* A client that accepts gzip gets the same stream gzip-encoded: alone
 * (its own segments) or with others (one segment shared), batched or not,
 * resumed, kept alive, and at the hub's end a trailer zlib checks. A
 * client without it gets plain text. */
static void test_gzip_stream(void **state)
{
    struct fx *fx = *state;
    struct client *plain = connect_client(fx, "/events", NULL, true);
    fx->next_gzip = true;
    struct client *z1 = connect_client(fx, "/events", NULL, true);
    struct buf want = {0}, wz1 = {0}, wz2 = {0};
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    buf_addf(&wz1, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    expect_body(fx, z1, &wz1);
    assert_non_null(strstr(z1->in.data, "Content-Encoding: gzip"));
    assert_null(strstr(plain->in.data, "Content-Encoding"));
    publish_range(fx, 1, 2); /* one gzip client: its own segments */
    for (int n = 1; n <= 2; n++) {
        add_event(&want, (uint64_t)n, n);
        add_event(&wz1, (uint64_t)n, n);
    }
    expect_body(fx, z1, &wz1);
    char last[64];
    snprintf(last, sizeof last, EPOCH_HEX "-1");
    struct client *z2 = connect_client(fx, "/events", last, true);
    buf_addf(&wz2, "retry: 2000\n\n"); /* resumed: event 2 */
    add_event(&wz2, 2, 2);
    expect_body(fx, z2, &wz2);
    polku_sse_hub_batch(fx->hub, true);
    publish_range(fx, 3, 60); /* two: one shared segment per flush */
    polku_sse_flush(fx->hub);
    for (int n = 3; n <= 60; n++) {
        add_event(&want, (uint64_t)n, n);
        add_event(&wz1, (uint64_t)n, n);
        add_event(&wz2, (uint64_t)n, n);
    }
    polku_sse_keepalive(fx->hub);
    buf_addf(&want, ": keepalive\n\n");
    buf_addf(&wz1, ": keepalive\n\n");
    buf_addf(&wz2, ": keepalive\n\n");
    expect_body(fx, plain, &want);
    expect_body(fx, z1, &wz1);
    expect_body(fx, z2, &wz2);
    assert_false(gzip_trailer_ok);               /* still open */
    assert_true(z1->in.len * 3 < plain->in.len); /* it does compress */
    polku_sse_hub_free(&fx->hub);
    struct client *both[2] = {z1, z2};
    struct buf *wants[2] = {&wz1, &wz2};
    for (int i = 0; i < 2; i++) {
        fx->want_client = both[i];
        assert_true(wait_for(fx, body_ended, WAIT_MS));
        struct buf body = {0};
        assert_true(body_of(both[i], &body));
        assert_true(gzip_trailer_ok); /* CRC-32 and length check out */
        assert_string_equal(body.data, wants[i]->data);
        buf_reset(&body);
    }
    buf_reset(&want);
    buf_reset(&wz1);
    buf_reset(&wz2);
}

static void test_gzip_accepted(void **state)
{
    (void)state;
    assert_true(sse_gzip_accepted("gzip"));
    assert_true(sse_gzip_accepted("deflate, GZIP;q=0.5, br"));
    assert_true(sse_gzip_accepted("x-gzip;q=0.001"));
    assert_false(sse_gzip_accepted(NULL));
    assert_false(sse_gzip_accepted(""));
    assert_false(sse_gzip_accepted("br, deflate"));
    assert_false(sse_gzip_accepted("gzip;q=0"));
    assert_false(sse_gzip_accepted("gzip; q=0.000, deflate"));
    assert_false(sse_gzip_accepted("gzipped"));
}

static void test_keepalive(void **state)
{
    struct fx *fx = *state;
    struct client *c = connect_client(fx, "/events", NULL, true);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    expect_body(fx, c, &want);
    polku_sse_keepalive(fx->hub);
    buf_addf(&want, ": keepalive\n\n");
    expect_body(fx, c, &want);
    assert_int_equal(publish(fx, 1), 1);
    polku_sse_keepalive(fx->hub);
    add_event(&want, 1, 1);
    buf_addf(&want, ": keepalive\n\n");
    expect_body(fx, c, &want);
    buf_reset(&want);
}

static void test_client_gone_is_removed(void **state)
{
    struct fx *fx = *state;
    struct client *a = connect_client(fx, "/events", NULL, true);
    struct client *b = connect_client(fx, "/events", NULL, true);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    expect_body(fx, a, &want);
    expect_body(fx, b, &want);
    assert_int_equal(polku_sse_clients(fx->hub), 2);
    assert_int_equal(polku_http_in_flight(fx->srv), 2);
    drop(fx, a); /* nothing is published: the hub still notices */
    wait_clients(fx, 1);
    assert_int_equal(publish(fx, 1), 1);
    add_event(&want, 1, 1);
    expect_body(fx, b, &want);
    drop(fx, b);
    wait_clients(fx, 0);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    assert_int_equal(fx->attached, 2);
    buf_reset(&want);
}

static void test_slow_client_dropped(void **state)
{
    struct fx *fx = *state;
    struct client *fast = connect_client(fx, "/events", NULL, true);
    connect_client(fx, "/events", NULL, false); /* reads nothing */
    static char json[64 * 1024];
    memset(json, 's', sizeof json - 1);
    json[0] = '"';
    json[sizeof json - 2] = '"';
    json[sizeof json - 1] = '\0';
    /* Publish until the slow one is dropped (its kernel buffers, then its
     * queue fill); the fast one is read on the loop meanwhile. */
    int n = 0;
    while (polku_sse_clients(fx->hub) == 2 && n < 2000) {
        assert_int_equal(polku_sse_publish(fx->hub, "big", json),
                         (uint64_t)++n);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(polku_sse_clients(fx->hub), 1);
    printf("sse_test: slow client dropped after %d events of 64 KiB\n", n);
    /* the fast one got every event, in order, and still gets them */
    assert_int_equal(publish(fx, 0), (uint64_t)n + 1);
    struct buf want = {0};
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    for (int i = 1; i <= n; i++)
        add_event_text(&want, (uint64_t)i, "big", json);
    add_event(&want, (uint64_t)n + 1, 0);
    expect_body(fx, fast, &want);
    buf_reset(&want);
}

static void test_hub_free_ends_streams(void **state)
{
    struct fx *fx = *state;
    struct client *c = connect_client(fx, "/events", NULL, true);
    publish_range(fx, 1, 2);
    polku_sse_hub_free(&fx->hub);
    assert_null(fx->hub);
    fx->want_client = c;
    assert_true(wait_for(fx, body_ended, WAIT_MS));
    struct buf body = {0}, want = {0};
    assert_true(body_of(c, &body)); /* a clean end: the last chunk */
    buf_addf(&want, "retry: 2000\nid: " EPOCH_HEX "-0\n\n");
    add_event(&want, 1, 1);
    add_event(&want, 2, 2);
    assert_string_equal(body.data, want.data);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    buf_reset(&body);
    buf_reset(&want);
}

static void test_server_stop_before_hub_free(void **state)
{
    struct fx *fx = *state;
    struct client *c = connect_client(fx, "/events", NULL, true);
    connect_client(fx, "/events", NULL, false);
    publish_range(fx, 1, 3);
    polku_http_stop(&fx->srv);
    assert_int_equal(polku_sse_clients(fx->hub), 0);
    assert_int_equal(publish(fx, 4), 4); /* nobody to send to: fine */
    fx->want_client = c;
    assert_true(wait_for(fx, body_ended, WAIT_MS));
    /* teardown frees the hub after the server */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_refuses_multiline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_gets_exactly_the_missed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_rendered_only_when_read,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_resume_gets_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backlog_over_queue_limit_resets,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batched_events_shared_at_flush,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_digits, setup, teardown),
        cmocka_unit_test(test_gzip_accepted),
        cmocka_unit_test_setup_teardown(test_client_gone_is_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hub_free_ends_streams, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_stop_before_hub_free, setup,
                                        teardown),
    };
    if (getenv("SSE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SSE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
