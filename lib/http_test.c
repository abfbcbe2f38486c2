/* http_test.c — the HTTP server on its libuv loop, from the client's side.
 *
 * The server runs on the loop in the main thread; libcurl runs in a client
 * thread (easy or multi interface) and wakes the loop through a uv_async
 * when it is done. Tests where the client has to misbehave (vanish, or see
 * the server stop) use a raw socket from the main thread; stream tests
 * read theirs through a uv_poll on the same loop. Every wait is a loop run
 * bounded by a deadline timer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "polku/daemon.h"
#include "polku/error.h"
#include "polku/http.h"

#define MAX_BODY 4096
#define MAX_HELD 64
#define WAIT_MS 10000
#define CURL_TIMEOUT_MS 30000L
#define MAX_STREAMS 4
#define MAX_RAW 4
#define TICK_LINES 3  /* lines written per tick by /ticks */
#define TICK_COUNT 20 /* ticks before /ticks closes its stream */

struct buf {
    char *data;
    size_t len;
};

/* A raw client read on the loop (main thread): bytes append to data. */
struct rawc {
    int fd;
    uv_poll_t poll;
    bool eof;
    struct buf in;
};

struct fx {
    uv_loop_t loop;
    polku_http *srv;
    char base[64];
    uv_async_t done;
    uv_timer_t deadline;
    uv_prepare_t prepare;
    bool (*pred)(struct fx *);
    bool client_done, timed_out;
    void (*client)(struct fx *);

    /* server side, loop thread only */
    int handler_calls;
    polku_http_req *held[MAX_HELD];
    int nheld, gate;
    polku_http_stream *streams[MAX_STREAMS]; /* NULL once on_closed ran */
    int nstreams, stream_closed_calls;
    polku_http_stream *ticking; /* the /ticks stream */
    uv_timer_t tick;
    int ticks;
    struct rawc *raw[MAX_RAW];
    const char *want; /* raw_sees: text awaited in raw[0] */

    /* client side, read by the main thread after join */
    long status;
    struct buf body;
    char content_type[64];
    char cache_control[64];
    char location[128];
    long connects;
    int ok;
    CURLcode curl_rc;
    double seconds;
};

/* ---- server side ---- */

struct late {
    uv_timer_t timer;
    polku_http_req *req;
};

static void on_late_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_late(uv_timer_t *t)
{
    struct late *late = t->data;
    polku_http_respond(late->req, 200, "text/plain", "late", 4);
    uv_close((uv_handle_t *)t, on_late_closed);
}

static void put_str(json_t *obj, const char *key, const char *value)
{
    json_object_set_new(obj, key, value ? json_string(value) : json_null());
}

static void on_stream_closed(polku_http_stream *st, void *arg)
{
    struct fx *fx = arg;
    fx->stream_closed_calls++;
    for (int i = 0; i < fx->nstreams; i++)
        if (fx->streams[i] == st)
            fx->streams[i] = NULL;
    if (fx->ticking == st)
        fx->ticking = NULL;
}

/* /ticks: TICK_LINES numbered lines per tick, the stream closed after
 * TICK_COUNT ticks; between ticks the stream is idle (suspended). */
static void on_tick(uv_timer_t *t)
{
    struct fx *fx = t->data;
    if (!fx->ticking) { /* the client went away */
        uv_timer_stop(t);
        return;
    }
    for (int i = 0; i < TICK_LINES; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d\n",
                         fx->ticks * TICK_LINES + i);
        assert_int_equal(polku_http_stream_write(fx->ticking, line, (size_t)n),
                         POLKU_OK);
    }
    if (++fx->ticks == TICK_COUNT) {
        polku_http_stream_close(fx->ticking);
        fx->ticking = NULL;
        uv_timer_stop(t);
    }
}

/* An API's own error body (the agent's FHIR view answers OperationOutcomes). */
static json_t *styled_error(unsigned status, const char *code,
                            const char *message)
{
    return json_pack("{s:I, s:s, s:s}", "status", (json_int_t)status, "why",
                     code, "text", message);
}

static void handler(polku_http_req *req, void *arg)
{
    struct fx *fx = arg;
    const char *path = polku_http_path(req);
    fx->handler_calls++;
    if (strcmp(path, "/echo") == 0) {
        size_t n;
        const char *body = polku_http_body(req, &n);
        char out[MAX_BODY + 32];
        int m = snprintf(out, sizeof out, "%s:", polku_http_method(req));
        memcpy(out + m, body, n);
        polku_http_respond(req, 200, "text/plain", out, (size_t)m + n);
    } else if (strcmp(path, "/async") == 0) {
        struct late *late = malloc(sizeof *late);
        assert_non_null(late);
        late->req = req;
        uv_timer_init(&fx->loop, &late->timer);
        late->timer.data = late;
        uv_timer_start(&late->timer, on_late, 50, 0);
    } else if (strcmp(path, "/hold") == 0 || strcmp(path, "/gate") == 0) {
        assert_true(fx->nheld < MAX_HELD);
        fx->held[fx->nheld++] = req;
        if (strcmp(path, "/gate") == 0 && fx->nheld == fx->gate) {
            for (int i = 0; i < fx->nheld; i++)
                polku_http_respond(fx->held[i], 200, "text/plain", "open", 4);
            fx->nheld = 0;
        }
    } else if (strcmp(path, "/stream") == 0) {
        assert_true(fx->nstreams < MAX_STREAMS);
        polku_http_stream *st = polku_http_stream_open(req, "text/event-stream",
                                                       on_stream_closed, fx);
        assert_non_null(st);
        fx->streams[fx->nstreams++] = st;
    } else if (strcmp(path, "/ticks") == 0) {
        fx->ticking =
            polku_http_stream_open(req, "text/plain", on_stream_closed, fx);
        assert_non_null(fx->ticking);
        fx->ticks = 0;
        uv_timer_start(&fx->tick, on_tick, 1, 2);
    } else if (strcmp(path, "/q") == 0) {
        json_t *o = json_object();
        put_str(o, "method", polku_http_method(req));
        put_str(o, "path", path);
        put_str(o, "a", polku_http_query(req, "a"));
        put_str(o, "b", polku_http_query(req, "b"));
        put_str(o, "missing", polku_http_query(req, "zz"));
        put_str(o, "hdr", polku_http_header(req, "x-test"));
        put_str(o, "nohdr", polku_http_header(req, "X-Absent"));
        polku_http_respond_json(req, 200, o);
    } else if (strcmp(path, "/styled") == 0) {
        polku_http_set_json_style(req, "application/x-test+json", styled_error);
        assert_int_equal(polku_http_set_location(req, "/made/1"), POLKU_OK);
        if (polku_http_query(req, "fail"))
            polku_http_respond_error(req, 409, "x_conflict", "no");
        else
            polku_http_respond_json(req, 201, json_pack("{s:b}", "ok", 1));
    } else {
        polku_http_respond_error(req, 404, "not_found", "no such path");
    }
}

/* ---- loop helpers ---- */

static void on_done(uv_async_t *a)
{
    ((struct fx *)a->data)->client_done = true;
}

static void on_deadline(uv_timer_t *t)
{
    struct fx *fx = t->data;
    fx->timed_out = true;
    uv_stop(&fx->loop);
}

/* Runs before the loop would block: stop once the awaited state holds. */
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

static bool client_finished(struct fx *fx)
{
    return fx->client_done;
}

static bool one_held(struct fx *fx)
{
    return fx->nheld == 1;
}

static bool nothing_in_flight(struct fx *fx)
{
    return polku_http_in_flight(fx->srv) == 0;
}

static void *client_main(void *arg)
{
    struct fx *fx = arg;
    fx->client(fx);
    uv_async_send(&fx->done);
    return NULL;
}

/* Runs fn in a client thread while the loop serves it. */
static void run_client(struct fx *fx, void (*fn)(struct fx *))
{
    pthread_t th;
    fx->client = fn;
    fx->client_done = false;
    assert_int_equal(pthread_create(&th, NULL, client_main, fx), 0);
    bool finished = wait_for(fx, client_finished, WAIT_MS);
    pthread_join(th, NULL); /* bounded by the curl timeouts */
    assert_true(finished);
}

/* ---- curl helpers (client thread) ---- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

static void buf_reset(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

/* The value of header name in the line p (len bytes) into out. */
static void header_value(const char *p, size_t len, const char *name, char *out,
                         size_t out_len)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) != 0)
        return;
    size_t i = nl;
    while (i < len && p[i] == ' ')
        i++;
    size_t end = len;
    while (end > i && (p[end - 1] == '\r' || p[end - 1] == '\n'))
        end--;
    snprintf(out, out_len, "%.*s", (int)(end - i), p + i);
}

/* Keeps the Cache-Control and Location headers of the last response. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct fx *fx = ud;
    size_t len = size * n;
    header_value(p, len, "cache-control:", fx->cache_control,
                 sizeof fx->cache_control);
    header_value(p, len, "location:", fx->location, sizeof fx->location);
    return len;
}

static CURL *easy(struct fx *fx, const char *path, struct buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", fx->base, path);
    CURL *c = curl_easy_init();
    if (!c) /* client thread: cmocka asserts belong to the main thread */
        abort();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CURL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, fx);
    return c;
}

/* Performs one transfer on c; stores status, body, content type. */
static void perform(struct fx *fx, CURL *c)
{
    buf_reset(&fx->body);
    fx->status = 0;
    fx->curl_rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &fx->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(fx->content_type, sizeof fx->content_type, "%s", ct ? ct : "");
    long n = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
    fx->connects += n;
}

static void get_one(struct fx *fx, const char *path)
{
    CURL *c = easy(fx, path, &fx->body);
    perform(fx, c);
    curl_easy_cleanup(c);
}

/* ---- raw socket helpers (main thread) ---- */

/* Connects from 127.0.0.<host> (0: any): all of 127/8 is this machine,
 * so one test can be many client addresses. */
static int raw_connect_from(struct fx *fx, unsigned host)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (host) {
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(0x7f000000u | host)};
        assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(polku_http_port(fx->srv)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static int raw_connect(struct fx *fx)
{
    return raw_connect_from(fx, 0);
}

static void raw_send(int fd, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until EOF, error or ms; returns the bytes read. */
static size_t raw_read_all(int fd, char *out, size_t cap, int ms)
{
    size_t len = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len + 1 < cap && poll(&p, 1, ms) == 1) {
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    return len;
}

static void on_rawc_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct rawc *c = p->data;
    char tmp[16384];
    ssize_t n = status < 0 ? -1 : recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
        assert_int_equal(on_write(tmp, 1, (size_t)n, &c->in), (size_t)n);
    } else if (status < 0 || n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* a reset comes as an error status (libuv stops the handle) */
        c->eof = true;
        uv_poll_stop(p);
    }
}

/* Connects, sends request; reads on the loop unless reading is false (a
 * client too slow to read anything). */
static struct rawc *rawc_open_from(struct fx *fx, unsigned host,
                                   const char *request, bool reading)
{
    struct rawc *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = raw_connect_from(fx, host);
    raw_send(c->fd, request);
    assert_int_equal(uv_poll_init_socket(&fx->loop, &c->poll, c->fd), 0);
    c->poll.data = c;
    if (reading)
        assert_int_equal(uv_poll_start(&c->poll, UV_READABLE, on_rawc_readable),
                         0);
    for (int i = 0; i < MAX_RAW; i++)
        if (!fx->raw[i]) {
            fx->raw[i] = c;
            return c;
        }
    fail_msg("too many raw clients");
    return NULL;
}

static struct rawc *rawc_open(struct fx *fx, const char *request, bool reading)
{
    return rawc_open_from(fx, 0, request, reading);
}

static void on_rawc_closed(uv_handle_t *h)
{
    struct rawc *c = h->data;
    buf_reset(&c->in);
    free(c);
}

/* The client goes away now (its socket closed at once). */
static void rawc_close(struct fx *fx, struct rawc *c)
{
    for (int i = 0; i < MAX_RAW; i++)
        if (fx->raw[i] == c)
            fx->raw[i] = NULL;
    uv_close((uv_handle_t *)&c->poll, on_rawc_closed); /* stops watching */
    close(c->fd);
}

static bool raw_sees(struct fx *fx)
{
    return fx->raw[0]->in.data && strstr(fx->raw[0]->in.data, fx->want);
}

static bool raw_eof(struct fx *fx)
{
    return fx->raw[0]->eof;
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(uv_async_init(&fx->loop, &fx->done, on_done), 0);
    fx->done.data = fx;
    uv_timer_init(&fx->loop, &fx->deadline);
    fx->deadline.data = fx;
    uv_prepare_init(&fx->loop, &fx->prepare);
    fx->prepare.data = fx;
    uv_timer_init(&fx->loop, &fx->tick);
    fx->tick.data = fx;
    assert_int_equal(polku_http_start(&fx->loop, "127.0.0.1:0", MAX_BODY,
                                      handler, fx, &fx->srv),
                     POLKU_OK);
    assert_true(polku_http_port(fx->srv) > 0);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%u",
             (unsigned)polku_http_port(fx->srv));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    polku_http_stop(&fx->srv);
    assert_null(fx->srv);
    uv_close((uv_handle_t *)&fx->done, NULL);
    uv_close((uv_handle_t *)&fx->deadline, NULL);
    uv_close((uv_handle_t *)&fx->prepare, NULL);
    uv_close((uv_handle_t *)&fx->tick, NULL);
    for (int i = 0; i < MAX_RAW; i++)
        if (fx->raw[i])
            rawc_close(fx, fx->raw[i]);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* every handle closed */
    buf_reset(&fx->body);
    free(fx);
    return 0;
}

/* ---- tests ---- */

static void client_get_echo(struct fx *fx)
{
    get_one(fx, "/echo");
}

static void test_get_sync(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_get_echo);
    assert_int_equal(fx->curl_rc, CURLE_OK);
    assert_int_equal(fx->status, 200);
    assert_string_equal(fx->body.data, "GET:");
    assert_string_equal(fx->content_type, "text/plain");
    assert_int_equal(fx->handler_calls, 1);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    polku_http_stats st;
    polku_http_get_stats(fx->srv, &st);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.responses_2xx, 1);
    assert_int_equal(st.responses_4xx + st.responses_5xx, 0);
}

static void client_post_and_delete(struct fx *fx)
{
    CURL *c = easy(fx, "/echo", &fx->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "hello, body");
    perform(fx, c);
    fx->ok = fx->curl_rc == CURLE_OK && fx->status == 200 && fx->body.data &&
             strcmp(fx->body.data, "POST:hello, body") == 0;
    curl_easy_cleanup(c);
    c = easy(fx, "/echo", &fx->body);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    perform(fx, c);
    curl_easy_cleanup(c);
}

static void test_post_echo(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_post_and_delete);
    assert_true(fx->ok);
    assert_int_equal(fx->status, 200);
    assert_string_equal(fx->body.data, "DELETE:");
    assert_int_equal(fx->handler_calls, 2);
}

static void client_async(struct fx *fx)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    get_one(fx, "/async");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fx->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void test_async_answer(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_async);
    assert_int_equal(fx->curl_rc, CURLE_OK);
    assert_int_equal(fx->status, 200);
    assert_string_equal(fx->body.data, "late");
    assert_true(fx->seconds >= 0.045); /* answered by the 50 ms timer */
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
}

static void keepalive_run(struct fx *fx, int count)
{
    CURL *c = easy(fx, "/echo", &fx->body);
    struct timespec t0, t1;
    fx->ok = 0;
    fx->connects = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < count; i++) {
        perform(fx, c);
        if (fx->curl_rc == CURLE_OK && fx->status == 200 && fx->body.len == 4)
            fx->ok++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fx->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    curl_easy_cleanup(c);
}

static void client_keepalive_200(struct fx *fx)
{
    keepalive_run(fx, 200);
}

static void test_keepalive_one_connection(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_keepalive_200);
    assert_int_equal(fx->ok, 200);
    assert_int_equal(fx->connects, 1); /* no forced Connection: close */
    assert_int_equal(fx->handler_calls, 200);
}

static void client_throughput(struct fx *fx)
{
    keepalive_run(fx, 20000);
}

static void test_throughput(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_throughput);
    assert_int_equal(fx->ok, 20000);
    assert_int_equal(fx->connects, 1);
    printf("http_test: 20000 keep-alive requests in %.2f s: %.0f requests/s"
           " (one curl client thread)\n",
           fx->seconds, 20000 / fx->seconds);
}

/* Reads a chunked upload of `left` bytes of 'x'. */
static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    size_t *left = ud;
    size_t k = size * n < *left ? size * n : *left;
    memset(p, 'x', k);
    *left -= k;
    return k;
}

static bool is_too_large(const struct buf *b)
{
    json_error_t err;
    json_t *j = b->data ? json_loads(b->data, 0, &err) : NULL;
    const char *code = NULL;
    json_unpack(j, "{s:{s:s}}", "error", "code", &code);
    bool ok = code && strcmp(code, "too_large") == 0;
    json_decref(j);
    return ok;
}

static void client_too_large(struct fx *fx)
{
    static char big[MAX_BODY + 1];
    memset(big, 'y', sizeof big);
    fx->ok = 0;

    /* declared by Content-Length: read and dropped, 413 on a connection
     * that stays usable (answering before the body is read would have the
     * kernel reset the connection under the client's feet) */
    fx->connects = 0;
    CURL *c = easy(fx, "/echo", &fx->body);
    struct curl_slist *no_expect = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, no_expect);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, big);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)sizeof big);
    perform(fx, c);
    curl_off_t sent = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &sent);
    if (fx->status == 413 && is_too_large(&fx->body) &&
        strcmp(fx->content_type, "application/json") == 0 &&
        sent == (curl_off_t)sizeof big)
        fx->ok++;
    /* the same body again on the same connection: still usable */
    perform(fx, c);
    if (fx->status == 413 && is_too_large(&fx->body) && fx->connects == 1)
        fx->ok++;
    curl_slist_free_all(no_expect);
    curl_easy_cleanup(c);

    /* a client that waits for "100 Continue": 413 before any of the body */
    static char huge[64 * MAX_BODY];
    memset(huge, 'z', sizeof huge);
    c = easy(fx, "/echo", &fx->body);
    struct curl_slist *expect = curl_slist_append(NULL, "Expect: 100-continue");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, expect);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, huge);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)sizeof huge);
    perform(fx, c);
    sent = -1;
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &sent);
    if (fx->status == 413 && is_too_large(&fx->body) && sent == 0)
        fx->ok++;
    curl_slist_free_all(expect);
    curl_easy_cleanup(c);

    /* chunked: read and dropped, 413 at the end, connection still usable */
    fx->connects = 0;
    size_t left = MAX_BODY + 1000;
    c = easy(fx, "/echo", &fx->body);
    struct curl_slist *hdr =
        curl_slist_append(NULL, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &left);
    perform(fx, c);
    if (fx->status == 413 && is_too_large(&fx->body))
        fx->ok++;
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/nope", fx->base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    perform(fx, c);
    if (fx->status == 404 && fx->connects == 1)
        fx->ok++;

    /* chunked and far beyond the limit: the server hangs up */
    left = 64 * MAX_BODY;
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    perform(fx, c);
    if (fx->status != 200)
        fx->ok++;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

static void test_too_large(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_too_large);
    assert_int_equal(fx->ok, 6);
    assert_int_equal(fx->handler_calls, 1); /* only the 404 request */
    polku_http_stats st;
    polku_http_get_stats(fx->srv, &st);
    assert_true(st.responses_4xx >= 3);
    assert_int_equal(st.responses_2xx, 0);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
}

static void test_client_gone_while_pending(void **state)
{
    struct fx *fx = *state;
    int fd = raw_connect(fx);
    raw_send(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(wait_for(fx, one_held, WAIT_MS));
    close(fd); /* the client is gone; the request is still ours */
    assert_int_equal(polku_http_in_flight(fx->srv), 1);
    polku_http_respond(fx->held[0], 200, "text/plain", "too late", 8);
    fx->nheld = 0;
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    /* and the server still serves */
    run_client(fx, client_get_echo);
    assert_int_equal(fx->status, 200);
}

static bool two_held(struct fx *fx)
{
    return fx->nheld == 2;
}

static void test_stop_with_pending(void **state)
{
    struct fx *fx = *state;
    int gone = raw_connect(fx);
    raw_send(gone, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    int fd = raw_connect(fx);
    raw_send(fd, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(wait_for(fx, two_held, WAIT_MS));
    close(gone);               /* one client already went away */
    polku_http_stop(&fx->srv); /* answers both held requests itself */
    fx->nheld = 0;
    assert_null(fx->srv);
    char reply[2048];
    size_t n = raw_read_all(fd, reply, sizeof reply, 5000);
    close(fd);
    assert_true(n == 0 || strncmp(reply, "HTTP/1.1 503", 12) == 0);
    if (n > 0)
        assert_non_null(strstr(reply, "\"unavailable\""));
    printf("http_test: stop with a pending request: %s\n",
           n ? "client got 503" : "connection closed");
}

static void client_query(struct fx *fx)
{
    CURL *c = easy(fx, "/q?a=1&b=x%20y", &fx->body);
    struct curl_slist *hdr = curl_slist_append(NULL, "X-Test: abc");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    perform(fx, c);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

static void test_query_and_header(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_query);
    assert_int_equal(fx->status, 200);
    assert_string_equal(fx->content_type, "application/json");
    json_error_t err;
    json_t *j = json_loads(fx->body.data, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/q");
    assert_string_equal(json_string_value(json_object_get(j, "a")), "1");
    assert_string_equal(json_string_value(json_object_get(j, "b")), "x y");
    assert_string_equal(json_string_value(json_object_get(j, "hdr")), "abc");
    assert_true(json_is_null(json_object_get(j, "missing")));
    assert_true(json_is_null(json_object_get(j, "nohdr")));
    json_decref(j);
}

static void client_styled(struct fx *fx)
{
    get_one(fx, "/styled");
}

static void client_styled_fail(struct fx *fx)
{
    fx->location[0] = '\0';
    get_one(fx, "/styled?fail=1");
}

/* A request's own content type and error body, and a Location only on
 * success. */
static void test_json_style_and_location(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_styled);
    assert_int_equal(fx->status, 201);
    assert_string_equal(fx->content_type, "application/x-test+json");
    assert_string_equal(fx->location, "/made/1");
    assert_string_equal(fx->body.data, "{\"ok\":true}");
    run_client(fx, client_styled_fail);
    assert_int_equal(fx->status, 409);
    assert_string_equal(fx->content_type, "application/x-test+json");
    assert_string_equal(fx->location, "");
    json_t *j = json_loads(fx->body.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 409);
    assert_string_equal(json_string_value(json_object_get(j, "why")),
                        "x_conflict");
    assert_string_equal(json_string_value(json_object_get(j, "text")), "no");
    assert_null(json_object_get(j, "error"));
    json_decref(j);
}

#define CONCURRENT 50

static void client_concurrent(struct fx *fx)
{
    CURLM *m = curl_multi_init();
    CURL *c[CONCURRENT];
    struct buf bodies[CONCURRENT] = {{0}};
    for (int i = 0; i < CONCURRENT; i++) {
        c[i] = easy(fx, "/gate", &bodies[i]);
        curl_multi_add_handle(m, c[i]);
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    fx->ok = 0;
    fx->connects = 0;
    for (int i = 0; i < CONCURRENT; i++) {
        long status = 0, n = 0;
        curl_easy_getinfo(c[i], CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c[i], CURLINFO_NUM_CONNECTS, &n);
        fx->connects += n;
        if (status == 200 && bodies[i].data &&
            strcmp(bodies[i].data, "open") == 0)
            fx->ok++;
        curl_multi_remove_handle(m, c[i]);
        curl_easy_cleanup(c[i]);
        buf_reset(&bodies[i]);
    }
    curl_multi_cleanup(m);
}

static void test_concurrent(void **state)
{
    struct fx *fx = *state;
    fx->gate = CONCURRENT; /* nobody is answered before all 50 wait */
    run_client(fx, client_concurrent);
    assert_int_equal(fx->ok, CONCURRENT);
    assert_int_equal(fx->connects, CONCURRENT);
    assert_int_equal(fx->handler_calls, CONCURRENT);
}

static void test_bad_addresses(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {
        "",          "nonsense",        "127.0.0.1", "127.0.0.1:",
        ":8080",     "127.0.0.1:70000", "1.2.3:80",  "127.0.0.1:80x",
        "host:8080", "127.0.0.1:-1",    "[::1:80",   "[zz]:80",
    };
    polku_http *srv = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            polku_http_start(&fx->loop, bad[i], MAX_BODY, handler, fx, &srv),
            POLKU_EINVAL);
        assert_null(srv);
    }
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%u",
             (unsigned)polku_http_port(fx->srv));
    assert_int_equal(
        polku_http_start(&fx->loop, taken, MAX_BODY, handler, fx, &srv),
        POLKU_EHTTP);
    assert_null(srv);
    assert_int_equal(
        polku_http_start(&fx->loop, "localhost:0", MAX_BODY, handler, fx, &srv),
        POLKU_OK);
    assert_true(polku_http_port(srv) > 0);
    assert_int_not_equal(polku_http_port(srv), polku_http_port(fx->srv));
    polku_http_stop(&srv);
    assert_null(srv);
    /* IPv6 literal: accepted as an address; binding needs ::1 here */
    int rc =
        polku_http_start(&fx->loop, "[::1]:0", MAX_BODY, handler, fx, &srv);
    assert_true(rc == POLKU_OK || rc == POLKU_EHTTP);
    if (rc == POLKU_OK)
        assert_true(polku_http_port(srv) > 0);
    printf("http_test: [::1]:0 %s\n", rc == POLKU_OK ? "bound" : "not bound");
    polku_http_stop(&srv);
    polku_http_stop(&srv); /* accepts NULL */
    polku_http_stop(NULL);
}

/* ---- streams ---- */

/* /ticks then /echo on one keep-alive connection. */
static void client_ticks(struct fx *fx)
{
    CURL *c = easy(fx, "/ticks", &fx->body);
    fx->connects = 0;
    perform(fx, c);
    fx->ok = fx->curl_rc == CURLE_OK && fx->status == 200;
    struct buf ticks = fx->body;
    fx->body.data = NULL;
    fx->body.len = 0;
    char url[128];
    snprintf(url, sizeof url, "%s/echo", fx->base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    char ct[64];
    snprintf(ct, sizeof ct, "%s", fx->content_type);
    perform(fx, c); /* the stream ended cleanly: same connection */
    if (!(fx->curl_rc == CURLE_OK && fx->status == 200))
        fx->ok = 0;
    snprintf(fx->content_type, sizeof fx->content_type, "%s", ct);
    buf_reset(&fx->body);
    fx->body = ticks;
    curl_easy_cleanup(c);
}

static void test_stream_writes_in_order(void **state)
{
    struct fx *fx = *state;
    run_client(fx, client_ticks);
    assert_true(fx->ok);
    assert_string_equal(fx->content_type, "text/plain");
    assert_string_equal(fx->cache_control, "no-cache");
    assert_int_equal(fx->connects, 1);
    char want[TICK_COUNT * TICK_LINES * 16] = "";
    size_t n = 0;
    for (int i = 0; i < TICK_COUNT * TICK_LINES; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, "line %d\n", i);
    assert_non_null(fx->body.data);
    assert_string_equal(fx->body.data, want);
    assert_int_equal(fx->stream_closed_calls, 0); /* closed by its owner */
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    polku_http_stats st;
    polku_http_get_stats(fx->srv, &st);
    assert_int_equal(st.responses_2xx, 2);
}

static bool one_stream(struct fx *fx)
{
    return fx->nstreams == 1;
}

static bool two_streams(struct fx *fx)
{
    return fx->nstreams == 2;
}

static bool stream_closed_once(struct fx *fx)
{
    return fx->stream_closed_calls == 1;
}

static bool stream_closed_twice(struct fx *fx)
{
    return fx->stream_closed_calls == 2;
}

static void test_stream_client_gone(void **state)
{
    struct fx *fx = *state;
    struct rawc *c =
        rawc_open(fx, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", true);
    assert_true(wait_for(fx, one_stream, WAIT_MS));
    assert_int_equal(polku_http_stream_write(fx->streams[0], "hello", 5),
                     POLKU_OK);
    fx->want = "hello";
    assert_true(wait_for(fx, raw_sees, WAIT_MS));
    assert_non_null(strstr(c->in.data, "HTTP/1.1 200"));
    assert_non_null(strstr(c->in.data, "text/event-stream"));
    assert_non_null(strstr(c->in.data, "chunked"));
    assert_int_equal(polku_http_in_flight(fx->srv), 1);
    /* The stream is idle (suspended) when the client goes away: only the
     * hang-up watch can notice, nothing is written any more. */
    rawc_close(fx, c);
    assert_true(wait_for(fx, stream_closed_once, WAIT_MS));
    assert_null(fx->streams[0]);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    run_client(fx, client_get_echo); /* and the server still serves */
    assert_int_equal(fx->status, 200);
    assert_int_equal(fx->stream_closed_calls, 1);

    /* A client that goes away with bytes still on their way to it. */
    c = rawc_open(fx, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", false);
    assert_true(wait_for(fx, two_streams, WAIT_MS));
    static char big[POLKU_HTTP_STREAM_MAX_QUEUED];
    memset(big, 'g', sizeof big);
    assert_int_equal(polku_http_stream_write(fx->streams[1], big, sizeof big),
                     POLKU_OK);
    uv_run(&fx->loop, UV_RUN_NOWAIT); /* some of it sent */
    rawc_close(fx, c);                /* unread data: a reset */
    assert_true(wait_for(fx, stream_closed_twice, WAIT_MS));
    assert_null(fx->streams[1]);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
}

static bool three_streams(struct fx *fx)
{
    return fx->nstreams == 3;
}

static void test_stream_stop(void **state)
{
    struct fx *fx = *state;
    static const char get[] = "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n";
    struct rawc *idle = rawc_open(fx, get, true);
    assert_true(wait_for(fx, one_stream, WAIT_MS));
    rawc_open(fx, get, false); /* never reads */
    assert_true(wait_for(fx, two_streams, WAIT_MS));
    rawc_open(fx, get, false);
    assert_true(wait_for(fx, three_streams, WAIT_MS));
    static char big[256 * 1024];
    memset(big, 'z', sizeof big);
    for (int i = 1; i < 3; i++)
        assert_int_equal(
            polku_http_stream_write(fx->streams[i], big, sizeof big), POLKU_OK);
    assert_int_equal(polku_http_stream_write(fx->streams[0], "idle", 4),
                     POLKU_OK);
    fx->want = "idle";
    assert_true(wait_for(fx, raw_sees, WAIT_MS)); /* and idle again */
    polku_http_stream_close(fx->streams[2]);      /* closed, still sending */
    fx->streams[2] = NULL;
    assert_int_equal(polku_http_in_flight(fx->srv), 3);

    polku_http_stop(&fx->srv);
    assert_null(fx->srv);
    assert_int_equal(fx->stream_closed_calls, 2); /* not the closed one */
    assert_null(fx->streams[0]);
    assert_null(fx->streams[1]);
    /* the idle client sees its body end (or the connection go) */
    assert_true(wait_for(fx, raw_eof, WAIT_MS));
    assert_non_null(strstr(idle->in.data, "idle"));
    /* teardown: every handle closed (uv_loop_close), no leak under ASan */
}

static void test_stream_full(void **state)
{
    struct fx *fx = *state;
    rawc_open(fx, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", false);
    assert_true(wait_for(fx, one_stream, WAIT_MS));
    polku_http_stream *st = fx->streams[0];
    static char big[POLKU_HTTP_STREAM_MAX_QUEUED + 1];
    memset(big, 'f', sizeof big);
    assert_int_equal(polku_http_stream_write(st, big, sizeof big),
                     POLKU_EFULL); /* more than the limit at once */
    /* The client reads nothing: the kernel's buffers fill, then ours. */
    enum { PIECE = 64 * 1024 };
    size_t total = 0;
    int rc = POLKU_OK;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double waited = 0;
    while (rc == POLKU_OK && waited < WAIT_MS / 1000.0) {
        rc = polku_http_stream_write(st, big, PIECE);
        if (rc == POLKU_OK)
            total += PIECE;
        uv_run(&fx->loop, UV_RUN_NOWAIT); /* MHD sends what it can */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        waited = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    }
    assert_int_equal(rc, POLKU_EFULL);
    assert_true(total >= POLKU_HTTP_STREAM_MAX_QUEUED);
    printf("http_test: stream full after %zu KiB for a client that reads"
           " nothing\n",
           total / 1024);
    /* Closing an overflowed stream drops its client (no on_closed). */
    polku_http_stream_close(st);
    fx->streams[0] = NULL;
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
    assert_int_equal(fx->stream_closed_calls, 0);
}

/* The broker's kind of server (polku_http_start_limited): each connection
 * has POLKU_HTTP_STREAM_CONNECTION_MEMORY, so a stream's queue goes out in
 * sends of up to that much. */
static int setup_stream_server(void **state)
{
    assert_int_equal(setup(state), 0);
    struct fx *fx = *state;
    polku_http_stop(&fx->srv);
    assert_int_equal(polku_http_start_limited(&fx->loop, "127.0.0.1:0",
                                              MAX_BODY, 64, handler, fx,
                                              &fx->srv),
                     POLKU_OK);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%u",
             (unsigned)polku_http_port(fx->srv));
    return 0;
}

/* The body of a chunked response in raw (headers included) into out, if
 * it has ended (the last chunk, size 0, came). */
static bool dechunk(const struct buf *raw, struct buf *out)
{
    const char *p = raw->data ? strstr(raw->data, "\r\n\r\n") : NULL;
    if (!p)
        return false;
    p += 4;
    const char *end = raw->data + raw->len;
    out->len = 0;
    while (p < end) {
        char *after = NULL;
        unsigned long n = strtoul(p, &after, 16);
        if (after == p || after + 2 > end || memcmp(after, "\r\n", 2) != 0)
            return false;
        p = after + 2;
        if (n == 0)
            return true;
        if ((size_t)(end - p) < n + 2)
            return false;
        assert_int_equal(on_write((char *)p, 1, n, out), n);
        p += n + 2;
    }
    return false;
}

static bool raw_stream_ended(struct fx *fx)
{
    struct buf body = {0};
    bool done = dechunk(&fx->raw[0]->in, &body);
    buf_reset(&body);
    return done;
}

static void test_stream_server_large_writes(void **state)
{
    struct fx *fx = *state;
    rawc_open(fx, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", true);
    assert_true(wait_for(fx, one_stream, WAIT_MS));
    polku_http_stream *st = fx->streams[0];
    /* three times the connection's memory, shared, then a copy of its own */
    enum { BIG = 3 * POLKU_HTTP_STREAM_CONNECTION_MEMORY + 7 };
    static char big[BIG];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 23);
    polku_http_shared *c = polku_http_shared_new(big, sizeof big);
    assert_non_null(c);
    assert_int_equal(polku_http_stream_write_shared(st, c), POLKU_OK);
    polku_http_shared_release(&c);
    assert_int_equal(polku_http_stream_write(st, "end\n", 4), POLKU_OK);
    polku_http_stream_close(st);
    fx->streams[0] = NULL;
    assert_true(wait_for(fx, raw_stream_ended, WAIT_MS));
    struct buf body = {0};
    assert_true(dechunk(&fx->raw[0]->in, &body));
    assert_int_equal(body.len, sizeof big + 4);
    assert_memory_equal(body.data, big, sizeof big);
    assert_memory_equal(body.data + sizeof big, "end\n", 4);
    buf_reset(&body);
}

/* A local request: the handler reads method, path, query, headers (any
 * case) and body as from a socket; JSON, error and plain answers land in
 * polku_http_local; a stream ends at once with 200. */
static void local_handler(polku_http_req *req, void *arg)
{
    (void)arg;
    size_t len = 0;
    const char *body = polku_http_body(req, &len);
    const char *kind = polku_http_query(req, "kind");
    if (kind && strcmp(kind, "error") == 0)
        polku_http_respond_error(req, 409, "conflict", "already there");
    else if (kind && strcmp(kind, "stream") == 0)
        assert_null(
            polku_http_stream_open(req, "text/event-stream", NULL, NULL));
    else if (kind && strcmp(kind, "plain") == 0)
        polku_http_respond(req, 200, "text/plain", body, len);
    else
        polku_http_respond_json(
            req, 201,
            json_pack("{s:s, s:s, s:s?, s:s%}", "method",
                      polku_http_method(req), "path", polku_http_path(req),
                      "auth", polku_http_header(req, "authorization"), "body",
                      body, len));
}

static void test_local_request(void **state)
{
    (void)state;
    const char *const headers[] = {"Authorization", "Bearer t", NULL};
    const char *const q_error[] = {"kind", "error", NULL};
    const char *const q_stream[] = {"kind", "stream", NULL};
    const char *const q_plain[] = {"kind", "plain", NULL};
    polku_http_local out;

    polku_http_req *req = polku_http_local_req("POST", "/v1/x", NULL, headers,
                                               "{\"a\":1}", 7, &out);
    assert_non_null(req);
    assert_int_equal(out.status, 0);
    local_handler(req, NULL);
    assert_int_equal(out.status, 201);
    json_t *j = json_loads(out.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "method")),
                        "POST");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/v1/x");
    assert_string_equal(json_string_value(json_object_get(j, "auth")),
                        "Bearer t");
    assert_string_equal(json_string_value(json_object_get(j, "body")),
                        "{\"a\":1}");
    json_decref(j);
    free(out.body);

    req = polku_http_local_req("GET", "/", q_error, NULL, NULL, 0, &out);
    local_handler(req, NULL);
    assert_int_equal(out.status, 409);
    assert_non_null(strstr(out.body, "\"code\":\"conflict\""));
    free(out.body);

    req = polku_http_local_req("GET", "/", q_plain, NULL, "a\0b", 3, &out);
    local_handler(req, NULL);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.body, "a\0b", 3);
    free(out.body);

    req = polku_http_local_req("GET", "/", q_stream, NULL, NULL, 0, &out);
    local_handler(req, NULL);
    assert_int_equal(out.status, 200);
    assert_null(out.body);
}

/* polku_http_set_json_tag: on a 2xx object and a list's records, never
 * over a member they have, never on an error. */
static void test_json_tag(void **state)
{
    (void)state;
    polku_http_local out;
    polku_http_req *req =
        polku_http_local_req("GET", "/v1/x", NULL, NULL, NULL, 0, &out);
    assert_int_equal(polku_http_set_json_tag(req, "region", "savo"), POLKU_OK);
    polku_http_respond_json(req, 200,
                            json_pack("{s:I, s:[{s:s}, {s:s}, i]}", "count",
                                      (json_int_t)2, "items", "id", "a",
                                      "region", "lappi", 7));
    json_t *j = json_loads(out.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "region")),
                        "savo");
    json_t *items = json_object_get(j, "items");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "region")),
        "savo");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 1), "region")),
        "lappi");
    json_decref(j);
    free(out.body);

    /* a record (no "count"): its arrays are its own, untouched */
    req = polku_http_local_req("GET", "/v1/x", NULL, NULL, NULL, 0, &out);
    polku_http_set_json_tag(req, "region", "savo");
    polku_http_respond_json(
        req, 201, json_pack("{s:[{s:s}]}", "history", "status", "sent"));
    j = json_loads(out.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "region")),
                        "savo");
    assert_null(json_object_get(
        json_array_get(json_object_get(j, "history"), 0), "region"));
    json_decref(j);
    free(out.body);

    req = polku_http_local_req("GET", "/v1/x", NULL, NULL, NULL, 0, &out);
    polku_http_set_json_tag(req, "region", "savo");
    polku_http_respond_error(req, 404, "not_found", "no such thing");
    assert_int_equal(out.status, 404);
    assert_null(strstr(out.body, "savo"));
    free(out.body);
}

/* ---- limits and hostile clients ---- */

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Skips the test unless this process may hold n descriptors. */
static void need_descriptors(rlim_t n)
{
    polku_raise_nofile_limit();
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur < n) {
        printf("http_test: skipped, fewer than %lu descriptors allowed\n",
               (unsigned long)n);
        skip();
    }
}

static bool never(struct fx *fx)
{
    (void)fx;
    return false;
}

static unsigned awaited_connections;

static bool holds_awaited_connections(struct fx *fx)
{
    return polku_http_connections(fx->srv) == awaited_connections;
}

/* Opens n connections from 127.0.0.<first_host>... (host cycling over
 * hosts addresses), each sending the first byte of an unfinished request. */
#define TRICKLE_HEAD "GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: "
static int *trickle_open(struct fx *fx, int n, unsigned first_host,
                         unsigned hosts)
{
    int *fds = calloc((size_t)n, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < n; i++) {
        fds[i] = raw_connect_from(fx, first_host + (unsigned)i % hosts);
        assert_int_equal(send(fds[i], TRICKLE_HEAD, 1, MSG_NOSIGNAL), 1);
    }
    return fds;
}

/* One more header byte on every connection, about every 200 ms. */
static void trickle(struct fx *fx, int *fds, int n, int rounds)
{
    for (int r = 1; r <= rounds; r++) {
        for (int i = 0; i < n; i++)
            (void)send(fds[i], TRICKLE_HEAD + r, 1, MSG_NOSIGNAL);
        wait_for(fx, never, 200); /* the trickle's pace, not a check */
    }
}

static void trickle_close(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}

#define STALL_HOSTS 4 /* client addresses, each under the per-IP limit */
#define STALL_CONNS                                                            \
    ((int)(POLKU_HTTP_CONNECTION_LIMIT + POLKU_HTTP_CONNECTION_LIMIT / 8))
#define STALL_ANSWER_MS 1000

/* More slow clients than the connection limit, then all of them gone:
 * MHD took its listen socket out of its epoll set at the limit, and the
 * next request must still be answered at once. */
static void test_stall_at_connection_limit(void **state)
{
    struct fx *fx = *state;
    need_descriptors(2 * STALL_CONNS + 64);
    int *fds = trickle_open(fx, STALL_CONNS, 2, STALL_HOSTS);
    awaited_connections = POLKU_HTTP_CONNECTION_LIMIT;
    assert_true(wait_for(fx, holds_awaited_connections, WAIT_MS));
    trickle(fx, fds, STALL_CONNS, 5);
    assert_int_equal(polku_http_connections(fx->srv),
                     POLKU_HTTP_CONNECTION_LIMIT);
    assert_int_equal(fx->handler_calls, 0);
    trickle_close(fds, STALL_CONNS);

    uint64_t t0 = now_ms();
    struct rawc *c =
        rawc_open(fx, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", true);
    fx->want = "GET:";
    bool answered = wait_for(fx, raw_sees, STALL_ANSWER_MS);
    printf("http_test: %d slow connections closed, the next request %s"
           " after %llu ms\n",
           STALL_CONNS, answered ? "answered" : "still unanswered",
           (unsigned long long)(now_ms() - t0));
    assert_true(answered);
    assert_non_null(strstr(c->in.data, "HTTP/1.1 200"));
    rawc_close(fx, c);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
}

/* One client address holds at most POLKU_HTTP_PER_IP_LIMIT connections;
 * the server stays open to the others. */
static void test_per_ip_limit(void **state)
{
    struct fx *fx = *state;
    const int n = (int)POLKU_HTTP_PER_IP_LIMIT;
    need_descriptors(2 * (rlim_t)n + 64);
    int *fds = trickle_open(fx, n, 1, 1);
    awaited_connections = POLKU_HTTP_PER_IP_LIMIT;
    assert_true(wait_for(fx, holds_awaited_connections, WAIT_MS));

    static const char get[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
    struct rawc *over = rawc_open_from(fx, 1, get, true);
    assert_true(wait_for(fx, raw_eof, WAIT_MS)); /* closed, unanswered */
    assert_int_equal(over->in.len, 0);
    rawc_close(fx, over);

    struct rawc *other = rawc_open_from(fx, 2, get, true);
    fx->want = "GET:";
    assert_true(wait_for(fx, raw_sees, WAIT_MS));
    assert_non_null(strstr(other->in.data, "HTTP/1.1 200"));
    rawc_close(fx, other);
    assert_int_equal(fx->handler_calls, 1);
    trickle_close(fds, n);
    awaited_connections = 0;
    assert_true(wait_for(fx, holds_awaited_connections, WAIT_MS));
}

/* The answer of a raw request: status and error code and message. */
struct raw_answer {
    int status;
    char code[32];
    char message[128];
};

/* Headers and Content-Length bytes of body in raw[0], or its end. */
static bool raw_answer_complete(struct fx *fx)
{
    const char *d = fx->raw[0]->in.data;
    const char *end = d ? strstr(d, "\r\n\r\n") : NULL;
    const char *cl = d ? strcasestr(d, "\r\nContent-Length:") : NULL;
    if (fx->raw[0]->eof)
        return true;
    if (!end || !cl || cl > end)
        return false;
    size_t want = strtoul(cl + 17, NULL, 10);
    return fx->raw[0]->in.len - (size_t)(end + 4 - d) >= want;
}

static struct raw_answer raw_request(struct fx *fx, const char *request)
{
    struct raw_answer a = {0};
    struct rawc *c = rawc_open(fx, request, true);
    assert_true(wait_for(fx, raw_answer_complete, WAIT_MS));
    const char *d = c->in.data ? c->in.data : "";
    sscanf(d, "HTTP/1.1 %d", &a.status);
    const char *body = strstr(d, "\r\n\r\n");
    json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
    const char *code = "", *message = "";
    json_unpack(j, "{s:{s:s,s:s}}", "error", "code", &code, "message",
                &message);
    snprintf(a.code, sizeof a.code, "%s", code);
    snprintf(a.message, sizeof a.message, "%s", message);
    json_decref(j);
    rawc_close(fx, c);
    return a;
}

/* A control character anywhere in the path or the query, raw or
 * percent-encoded, is answered 400 bad_request naming where it was; the
 * handler never sees the request. */
static void test_control_characters(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *target;
        const char *says; /* in the message */
    } bad[] = {
        {"/echo%00", "path contains a NUL byte (%00)"},
        {"/q%00/x?a=1", "path contains a NUL byte (%00)"},
        {"/echo%0a", "path contains a control character"},
        {"/echo%0D%0AX-Injected:%201", "path contains a control character"},
        {"/echo%7F", "path contains a control character"},
        {"/echo%1f", "path contains a control character"},
        {"/ec\x01ho", "path contains a control character"},
        {"/echo\t", "path contains a control character"},
        {"/ec\x7fho", "path contains a control character"},
        {"/q?a=1%00", "query string contains a NUL byte (%00)"},
        {"/q?a%00=1", "query string contains a NUL byte (%00)"},
        {"/q?a=%1b[31m", "query string contains a control character"},
        {"/q?a=x&b=%09", "query string contains a control character"},
        {"/q?a=\x02", "query string contains a control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char request[256];
        snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
                 bad[i].target);
        struct raw_answer a = raw_request(fx, request);
        if (a.status != 400 || strcmp(a.code, "bad_request") != 0 ||
            !strstr(a.message, bad[i].says))
            fail_msg("target %zu: %d %s '%s', want 400 bad_request '%s'", i,
                     a.status, a.code, a.message, bad[i].says);
    }
    assert_int_equal(fx->handler_calls, 0);
    polku_http_stats st;
    polku_http_get_stats(fx->srv, &st);
    assert_int_equal(st.responses_4xx, sizeof bad / sizeof bad[0]);

    /* Escapes of anything else still reach the handler decoded. */
    struct rawc *c = rawc_open(
        fx, "GET /q?a=%41%20b&b=%7e HTTP/1.1\r\nHost: t\r\n\r\n", true);
    fx->want = "}";
    assert_true(wait_for(fx, raw_sees, WAIT_MS));
    assert_non_null(strstr(c->in.data, "HTTP/1.1 200"));
    assert_non_null(strstr(c->in.data, "\"a\":\"A b\""));
    assert_non_null(strstr(c->in.data, "\"b\":\"~\""));
    rawc_close(fx, c);
    assert_int_equal(fx->handler_calls, 1);
    assert_true(wait_for(fx, nothing_in_flight, WAIT_MS));
}

static bool second_raw_eof(struct fx *fx)
{
    return fx->raw[1]->eof;
}

/* A connection that stops sending its request is closed after the
 * connection timeout (10 s); an idle stream outlives it. */
static void test_idle_timeout_spares_streams(void **state)
{
    struct fx *fx = *state;
    rawc_open(fx, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", true);
    assert_true(wait_for(fx, one_stream, WAIT_MS));
    uint64_t t0 = now_ms();
    struct rawc *slow = rawc_open(fx, "GET /echo HTTP/1.1\r\nHo", true);
    assert_true(wait_for(fx, second_raw_eof, 10000 + WAIT_MS));
    uint64_t waited = now_ms() - t0;
    printf("http_test: a stalled request closed after %llu ms\n",
           (unsigned long long)waited);
    assert_true(waited >= 9000);
    assert_int_equal(slow->in.len, 0);
    rawc_close(fx, slow);
    assert_non_null(fx->streams[0]);
    assert_int_equal(polku_http_stream_write(fx->streams[0], "still", 5),
                     POLKU_OK);
    fx->want = "still";
    assert_true(wait_for(fx, raw_sees, WAIT_MS));
    assert_int_equal(fx->stream_closed_calls, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_style_and_location, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_async_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_one_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_and_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_writes_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream_client_gone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_full, setup_stream_server,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream_writes_in_order,
                                        setup_stream_server, teardown),
        cmocka_unit_test_setup_teardown(test_stream_server_large_writes,
                                        setup_stream_server, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
        cmocka_unit_test(test_local_request),
        cmocka_unit_test(test_json_tag),
        cmocka_unit_test_setup_teardown(test_stall_at_connection_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_per_ip_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_characters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout_spares_streams, setup,
                                        teardown),
    };
    if (getenv("HTTP_TEST_FILTER")) /* e.g. "test_too_large" */
        cmocka_set_test_filter(getenv("HTTP_TEST_FILTER"));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
