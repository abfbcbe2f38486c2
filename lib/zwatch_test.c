/* zwatch_test.c — zmq sockets on a libuv loop deliver every message, in
 * order, without stalling on ZMQ_FD's edges, and close safely at any point.
 *
 * Every wait is a loop run guarded by a watchdog timer: no progress for
 * STALL_MS fails the test. Sockets use ZMQ_LINGER=0 and one context. */
#include "polku/error.h"
#include "polku/zwatch.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* libzmq, not our code, does most of the work: 1,000,000 messages take
 * well under a second plain and about as long under ASan. */
#define STRESS_COUNT 1000000ull
#define ECHO_ROUND_TRIPS 200000ull
#define ECHO_WINDOW 64
#define PINGPONG_ROUND_TRIPS 20000ull
#define STALL_MS 5000
#define ENDPOINT_LEN 256

#define MAX_SOCKETS 16

static void *g_ctx;
/* Sockets made on the main thread; a failed assertion jumps past a test's
 * cleanup, and group teardown closes what is left so zmq_ctx_term returns. */
static void *g_socks[MAX_SOCKETS];

/* ---- helpers ---- */

static int group_setup(void **state)
{
    g_ctx = zmq_ctx_new();
    return g_ctx ? 0 : -1;
}

static int group_teardown(void **state)
{
    for (int i = 0; i < MAX_SOCKETS; i++)
        if (g_socks[i])
            zmq_close(g_socks[i]);
    return zmq_ctx_term(g_ctx) == 0 ? 0 : -1;
}

static void *sock_new(int type)
{
    void *s = zmq_socket(g_ctx, type);
    int zero = 0;
    int slot = 0;

    assert_non_null(s);
    while (slot < MAX_SOCKETS && g_socks[slot])
        slot++;
    assert_true(slot < MAX_SOCKETS);
    g_socks[slot] = s;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    return s;
}

static void sock_close(void *s)
{
    for (int i = 0; i < MAX_SOCKETS; i++)
        if (g_socks[i] == s)
            g_socks[i] = NULL;
    zmq_close(s);
}

static void sock_set_int(void *s, int option, int value)
{
    assert_int_equal(zmq_setsockopt(s, option, &value, sizeof value), 0);
}

/* Binds s to an ephemeral TCP port and writes the endpoint to ep. */
static void bind_ephemeral(void *s, char *ep)
{
    size_t len = ENDPOINT_LEN;
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len), 0);
}

/* A DEALER connected to a ROUTER over TCP. */
static void tcp_pair(void **router, void **dealer)
{
    char ep[ENDPOINT_LEN];
    *router = sock_new(ZMQ_ROUTER);
    sock_set_int(*router, ZMQ_ROUTER_MANDATORY, 1);
    bind_ephemeral(*router, ep);
    *dealer = sock_new(ZMQ_DEALER);
    assert_int_equal(zmq_connect(*dealer, ep), 0);
}

/* Two PAIR sockets over inproc: a send has reached the peer's queue when
 * zmq_send returns, so "messages already pending" is deterministic. */
static void inproc_pair(const char *name, void **rx, void **tx)
{
    char ep[ENDPOINT_LEN];
    snprintf(ep, sizeof ep, "inproc://zwatch-%s", name);
    *rx = sock_new(ZMQ_PAIR);
    assert_int_equal(zmq_bind(*rx, ep), 0);
    *tx = sock_new(ZMQ_PAIR);
    assert_int_equal(zmq_connect(*tx, ep), 0);
}

static void send_u64(void *s, uint64_t value)
{
    assert_int_equal(zmq_send(s, &value, sizeof value, 0), sizeof value);
}

static uint64_t frame_u64(zmq_msg_t *frame)
{
    uint64_t value = UINT64_MAX;
    if (zmq_msg_size(frame) == sizeof value)
        memcpy(&value, zmq_msg_data(frame), sizeof value);
    return value;
}

static bool frame_is(zmq_msg_t *frame, const char *text)
{
    size_t n = strlen(text);
    return zmq_msg_size(frame) == n &&
           memcmp(zmq_msg_data(frame), text, n) == 0;
}

/* Fails a loop run that stops making progress: a one-shot timer of
 * STALL_MS, pushed back by watchdog_kick() on every step forward. It never
 * fires while things move, so it cannot wake the loop and hide a lost
 * ZMQ_FD edge the way a periodic timer would. The test asserts !stalled.
 *
 * When the loop sleeps until the deadline, libuv runs the check handles of
 * that turn (which may then deliver and stop the loop) before the expired
 * timer, so progress made only at or after the deadline counts as a
 * stall too. */
typedef struct watchdog {
    uv_timer_t timer;
    bool stalled;
} watchdog;

static void on_stall(uv_timer_t *timer)
{
    watchdog *wd = timer->data;
    wd->stalled = true;
    uv_stop(timer->loop);
}

static void watchdog_kick(watchdog *wd)
{
    if (uv_is_active((uv_handle_t *)&wd->timer) &&
        uv_timer_get_due_in(&wd->timer) == 0)
        on_stall(&wd->timer);
    if (!wd->stalled)
        uv_timer_start(&wd->timer, on_stall, STALL_MS, 0);
}

/* keep_alive=false: the timer does not hold the loop open, so uv_run
 * returns once the watchers are closed. */
static void watchdog_start(uv_loop_t *loop, watchdog *wd, bool keep_alive)
{
    memset(wd, 0, sizeof *wd);
    assert_int_equal(uv_timer_init(loop, &wd->timer), 0);
    wd->timer.data = wd;
    watchdog_kick(wd);
    if (!keep_alive)
        uv_unref((uv_handle_t *)&wd->timer);
}

/* Closes the watchdog, lets every close callback run and checks that
 * nothing (in particular no watcher handle) is left on the loop. */
static void loop_finish(uv_loop_t *loop, watchdog *wd)
{
    uv_close((uv_handle_t *)&wd->timer, NULL);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- basic delivery ---- */

typedef struct basic_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    void *router;
    int router_got;
    size_t router_frames;
    bool router_content_ok;
    int reply_failures;
    int dealer_got;
    size_t dealer_frames;
    bool dealer_content_ok;
} basic_ctx;

static void basic_on_router(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                            void *arg)
{
    basic_ctx *c = arg;
    watchdog_kick(c->wd);
    c->router_got++;
    c->router_frames = nframes;
    c->router_content_ok = nframes == 3 && zmq_msg_size(&frames[0]) > 0 &&
                           frame_is(&frames[1], "hello") &&
                           frame_is(&frames[2], "world");
    /* Reply from inside the callback: routing id, then two frames. */
    if (zmq_send(c->router, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                 ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(c->router, "polku", 5, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(c->router, "ok", 2, ZMQ_DONTWAIT) < 0)
        c->reply_failures++;
}

static void basic_on_dealer(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                            void *arg)
{
    basic_ctx *c = arg;
    watchdog_kick(c->wd);
    c->dealer_got++;
    c->dealer_frames = nframes;
    c->dealer_content_ok = nframes == 2 && frame_is(&frames[0], "polku") &&
                           frame_is(&frames[1], "ok");
    uv_stop(c->loop);
}

static void test_basic_two_frames(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    basic_ctx c;
    void *dealer;
    polku_zwatch *zr = NULL, *zd = NULL;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    tcp_pair(&c.router, &dealer);
    assert_int_equal(
        polku_zwatch_start(&loop, c.router, 0, basic_on_router, &c, &zr),
        POLKU_OK);
    assert_int_equal(
        polku_zwatch_start(&loop, dealer, 0, basic_on_dealer, &c, &zd),
        POLKU_OK);
    assert_int_equal(zmq_send(dealer, "hello", 5, ZMQ_SNDMORE), 5);
    assert_int_equal(zmq_send(dealer, "world", 5, 0), 5);

    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(wd.stalled);

    assert_int_equal(c.router_got, 1);
    assert_int_equal(c.router_frames, 3);
    assert_true(c.router_content_ok);
    assert_int_equal(c.reply_failures, 0);
    assert_int_equal(c.dealer_got, 1);
    assert_int_equal(c.dealer_frames, 2);
    assert_true(c.dealer_content_ok);
    assert_int_equal(polku_zwatch_received(zr), 1);
    assert_int_equal(polku_zwatch_received(zd), 1);
    assert_int_equal(polku_zwatch_dropped(zr), 0);

    polku_zwatch_close(&zr);
    polku_zwatch_close(&zd);
    assert_null(zr);
    assert_null(zd);
    sock_close(c.router);
    sock_close(dealer);
    loop_finish(&loop, &wd);
}

/* ---- too many frames: dropped whole, the next message is intact ---- */

typedef struct frames_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    unsigned long long got;
    size_t nframes[2];
    bool first_ok;
    bool second_ok;
} frames_ctx;

/* Sends a message of n parts "<tag>0", "<tag>1", ... */
static void send_parts(void *s, char tag, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char part[24];
        int len = snprintf(part, sizeof part, "%c%zu", tag, i);
        assert_int_equal(
            zmq_send(s, part, (size_t)len, i + 1 < n ? ZMQ_SNDMORE : 0), len);
    }
}

static bool parts_are(zmq_msg_t *frames, size_t n, char tag)
{
    for (size_t i = 0; i < n; i++) {
        char part[24];
        snprintf(part, sizeof part, "%c%zu", tag, i);
        if (!frame_is(&frames[i], part))
            return false;
    }
    return true;
}

static void frames_on_router(polku_zwatch *zw, zmq_msg_t *frames,
                             size_t nframes, void *arg)
{
    frames_ctx *c = arg;
    watchdog_kick(c->wd);
    if (c->got < 2)
        c->nframes[c->got] = nframes;
    if (c->got == 0)
        c->first_ok = nframes == POLKU_ZWATCH_MAX_FRAMES &&
                      parts_are(&frames[1], nframes - 1, 'b');
    else if (c->got == 1)
        c->second_ok = nframes == 2 && parts_are(&frames[1], 1, 'c');
    if (++c->got == 2)
        uv_stop(c->loop);
}

static void test_too_many_frames_dropped(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    frames_ctx c;
    void *router, *dealer;
    polku_zwatch *zr = NULL;
    unsigned long long received, dropped;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    tcp_pair(&router, &dealer);
    assert_int_equal(
        polku_zwatch_start(&loop, router, 0, frames_on_router, &c, &zr),
        POLKU_OK);
    /* The ROUTER adds the routing id: one frame over the limit, exactly at
     * the limit, and a small message to show the stream is intact. */
    send_parts(dealer, 'a', POLKU_ZWATCH_MAX_FRAMES);
    send_parts(dealer, 'b', POLKU_ZWATCH_MAX_FRAMES - 1);
    send_parts(dealer, 'c', 1);

    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    received = polku_zwatch_received(zr);
    dropped = polku_zwatch_dropped(zr);

    polku_zwatch_close(&zr);
    sock_close(router);
    sock_close(dealer);
    loop_finish(&loop, &wd);

    assert_false(wd.stalled);
    assert_int_equal(received, 2);
    assert_int_equal(dropped, 1);
    assert_int_equal(c.got, 2);
    assert_int_equal(c.nframes[0], POLKU_ZWATCH_MAX_FRAMES);
    assert_true(c.first_ok);
    assert_int_equal(c.nframes[1], 2);
    assert_true(c.second_ok);
}

/* ---- stress: a blocking sender thread, the receiver on the loop ---- */

typedef struct sender {
    char endpoint[ENDPOINT_LEN];
    unsigned long long count;
    void *sock; /* created and used by the thread; closed after join */
    atomic_bool stop;
    unsigned long long sent;
    int errors;
} sender;

static void *sender_main(void *arg)
{
    sender *s = arg;
    int hwm = 1000, timeout_ms = 100, zero = 0;

    s->sock = zmq_socket(g_ctx, ZMQ_DEALER);
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s->sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms) ||
        zmq_connect(s->sock, s->endpoint)) {
        s->errors++;
        return NULL;
    }
    /* Blocking sends, with a timeout only so a failed test can stop us. */
    while (s->sent < s->count && !atomic_load(&s->stop)) {
        uint64_t seq = s->sent;
        if (zmq_send(s->sock, &seq, sizeof seq, 0) == (int)sizeof seq)
            s->sent++;
        else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
            s->errors++;
            break;
        }
    }
    return NULL;
}

typedef struct stress_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    unsigned long long expected; /* messages to receive */
    unsigned long long got;
    unsigned long long next_seq;
    unsigned long long out_of_order;
    unsigned long long malformed;
} stress_ctx;

static void stress_on_message(polku_zwatch *zw, zmq_msg_t *frames,
                              size_t nframes, void *arg)
{
    stress_ctx *c = arg;
    uint64_t seq = nframes == 2 ? frame_u64(&frames[1]) : UINT64_MAX;

    watchdog_kick(c->wd);
    if (seq == UINT64_MAX)
        c->malformed++;
    else if (seq != c->next_seq)
        c->out_of_order++;
    c->next_seq = seq + 1;
    if (++c->got == c->expected)
        uv_stop(c->loop);
}

static void test_stress_million(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    stress_ctx c;
    sender *s = calloc(1, sizeof *s);
    pthread_t thread;
    void *router;
    polku_zwatch *zr = NULL;
    uint64_t t0, t1;
    double secs;

    assert_non_null(s);
    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    c.expected = STRESS_COUNT;
    router = sock_new(ZMQ_ROUTER);
    sock_set_int(router, ZMQ_RCVHWM, 1000);
    bind_ephemeral(router, s->endpoint);
    s->count = STRESS_COUNT;
    atomic_init(&s->stop, false);
    assert_int_equal(
        polku_zwatch_start(&loop, router, 0, stress_on_message, &c, &zr),
        POLKU_OK);

    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    t0 = uv_hrtime();
    assert_int_equal(pthread_create(&thread, NULL, sender_main, s), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    t1 = uv_hrtime();

    atomic_store(&s->stop, true);
    assert_int_equal(pthread_join(thread, NULL), 0);
    secs = (double)(t1 - t0) / 1e9;
    print_message("stress: %llu messages in %.2f s (%.0f msg/s)\n", c.got, secs,
                  (double)c.got / secs);
    if (s->sock)
        zmq_close(s->sock);
    polku_zwatch_close(&zr);
    sock_close(router);
    loop_finish(&loop, &wd);

    assert_false(wd.stalled);
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->sent, STRESS_COUNT);
    assert_int_equal(c.got, STRESS_COUNT);
    assert_int_equal(c.next_seq, STRESS_COUNT);
    assert_int_equal(c.out_of_order, 0);
    assert_int_equal(c.malformed, 0);
    free(s);
}

/* ---- echo: both ends watched on one loop, each callback sends ---- */

typedef struct echo_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    void *router;
    void *dealer;
    unsigned long long total;
    unsigned long long sent;
    unsigned long long round_trips;
    unsigned long long out_of_order;
    unsigned long long send_failures;
    unsigned long long malformed;
} echo_ctx;

static void echo_send_ping(echo_ctx *c)
{
    uint64_t seq = c->sent;
    if (zmq_send(c->dealer, &seq, sizeof seq, ZMQ_DONTWAIT) == sizeof seq)
        c->sent++;
    else
        c->send_failures++;
}

static void echo_on_router(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                           void *arg)
{
    echo_ctx *c = arg;
    if (nframes != 2) {
        c->malformed++;
        return;
    }
    if (zmq_send(c->router, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                 ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(c->router, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]),
                 ZMQ_DONTWAIT) < 0)
        c->send_failures++;
}

static void echo_on_dealer(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                           void *arg)
{
    echo_ctx *c = arg;
    uint64_t seq = nframes == 1 ? frame_u64(&frames[0]) : UINT64_MAX;

    watchdog_kick(c->wd);
    if (seq == UINT64_MAX)
        c->malformed++;
    else if (seq != c->round_trips)
        c->out_of_order++;
    c->round_trips++;
    if (c->sent < c->total)
        echo_send_ping(c);
    if (c->round_trips == c->total)
        uv_stop(c->loop);
}

static void run_echo(unsigned long long total, unsigned window)
{
    uv_loop_t loop;
    watchdog wd;
    echo_ctx c;
    polku_zwatch *zr = NULL, *zd = NULL;
    uint64_t t0, t1;
    double secs;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    c.total = total;
    tcp_pair(&c.router, &c.dealer);
    assert_int_equal(
        polku_zwatch_start(&loop, c.router, 0, echo_on_router, &c, &zr),
        POLKU_OK);
    assert_int_equal(
        polku_zwatch_start(&loop, c.dealer, 0, echo_on_dealer, &c, &zd),
        POLKU_OK);
    for (unsigned i = 0; i < window && c.sent < total; i++)
        echo_send_ping(&c);

    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    t0 = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT);
    t1 = uv_hrtime();
    secs = (double)(t1 - t0) / 1e9;
    print_message("echo window %u: %llu round trips in %.2f s (%.0f/s)\n",
                  window, c.round_trips, secs, (double)c.round_trips / secs);

    polku_zwatch_close(&zr);
    polku_zwatch_close(&zd);
    sock_close(c.router);
    sock_close(c.dealer);
    loop_finish(&loop, &wd);

    assert_false(wd.stalled);
    assert_int_equal(c.round_trips, total);
    assert_int_equal(c.sent, total);
    assert_int_equal(c.out_of_order, 0);
    assert_int_equal(c.send_failures, 0);
    assert_int_equal(c.malformed, 0);
}

static void test_echo_pipelined(void **state)
{
    run_echo(ECHO_ROUND_TRIPS, ECHO_WINDOW);
}

static void test_echo_ping_pong(void **state)
{
    run_echo(PINGPONG_ROUND_TRIPS, 1);
}

/* ---- budget: with input already queued, one message per loop turn ---- */

typedef struct budget_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    unsigned long long got;
    unsigned long long expected;
    unsigned long long out_of_order;
    unsigned this_turn;
    unsigned max_per_turn;
} budget_ctx;

static void budget_on_prepare(uv_prepare_t *prepare)
{
    budget_ctx *c = prepare->data;
    c->this_turn = 0;
}

static void budget_on_message(polku_zwatch *zw, zmq_msg_t *frames,
                              size_t nframes, void *arg)
{
    budget_ctx *c = arg;
    watchdog_kick(c->wd);
    if (nframes != 1 || frame_u64(&frames[0]) != c->got)
        c->out_of_order++;
    if (++c->this_turn > c->max_per_turn)
        c->max_per_turn = c->this_turn;
    if (++c->got == c->expected)
        uv_stop(c->loop);
}

static void test_budget_one_per_turn(void **state)
{
    uv_loop_t loop;
    uv_prepare_t turn;
    watchdog wd;
    budget_ctx c;
    void *rx, *tx;
    polku_zwatch *zw = NULL;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    c.expected = 100;
    inproc_pair("budget", &rx, &tx);
    /* All queued before the loop runs: ZMQ_FD signals at most once. */
    for (uint64_t i = 0; i < c.expected; i++)
        send_u64(tx, i);
    assert_int_equal(
        polku_zwatch_start(&loop, rx, 1, budget_on_message, &c, &zw), POLKU_OK);
    assert_int_equal(uv_prepare_init(&loop, &turn), 0);
    turn.data = &c;
    assert_int_equal(uv_prepare_start(&turn, budget_on_prepare), 0);

    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);

    polku_zwatch_close(&zw);
    uv_close((uv_handle_t *)&turn, NULL);
    sock_close(rx);
    sock_close(tx);
    loop_finish(&loop, &wd);

    assert_false(wd.stalled);
    assert_int_equal(c.got, 100);
    assert_int_equal(c.out_of_order, 0);
    assert_int_equal(c.max_per_turn, 1);
}

/* ---- input noticed although something else consumed ZMQ_FD's edge ---- */

typedef struct edge_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    polku_zwatch *zw;
    void *dealer;
    int poll_rc;
    int got;
    bool pong_ok;
} edge_ctx;

static void edge_on_timer(uv_timer_t *timer)
{
    edge_ctx *c = timer->data;
    zmq_pollitem_t item = {.socket = c->dealer, .events = ZMQ_POLLIN};

    /* Like any zmq call on the socket made outside the watcher (a send
     * from an HTTP handler, a look at ZMQ_EVENTS), zmq_poll processes the
     * socket's commands, so ZMQ_FD goes quiet while the reply stays
     * queued. Reported, the prepare handle's fresh look at ZMQ_EVENTS
     * keeps the loop from blocking now. */
    c->poll_rc = zmq_poll(&item, 1, STALL_MS);
    polku_zwatch_sent(c->zw);
}

static void edge_on_message(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                            void *arg)
{
    edge_ctx *c = arg;
    watchdog_kick(c->wd);
    c->got++;
    c->pong_ok = nframes == 1 && frame_is(&frames[0], "pong");
    uv_stop(c->loop);
}

static void test_edge_consumed_outside_watcher(void **state)
{
    uv_loop_t loop;
    uv_timer_t consumer;
    watchdog wd;
    edge_ctx c;
    void *router;
    zmq_msg_t id, body;
    polku_zwatch *zd = NULL;

    memset(&c, 0, sizeof c);
    c.poll_rc = -1;
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    tcp_pair(&router, &c.dealer);
    sock_set_int(router, ZMQ_RCVTIMEO, STALL_MS);

    /* Ping and pong, the ROUTER driven by hand (blocking, with a timeout). */
    assert_int_equal(zmq_send(c.dealer, "ping", 4, 0), 4);
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&id, router, 0) > 0);
    assert_int_equal(zmq_msg_recv(&body, router, 0), 4);
    assert_int_equal(zmq_msg_send(&id, router, ZMQ_SNDMORE),
                     (int)zmq_msg_size(&id));
    assert_int_equal(zmq_send(router, "pong", 4, 0), 4);
    zmq_msg_close(&id);
    zmq_msg_close(&body);

    assert_int_equal(
        polku_zwatch_start(&loop, c.dealer, 0, edge_on_message, &c, &zd),
        POLKU_OK);
    c.zw = zd;
    assert_int_equal(uv_timer_init(&loop, &consumer), 0);
    consumer.data = &c;
    assert_int_equal(uv_timer_start(&consumer, edge_on_timer, 0, 0), 0);
    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);

    polku_zwatch_close(&zd);
    uv_close((uv_handle_t *)&consumer, NULL);
    sock_close(router);
    sock_close(c.dealer);
    loop_finish(&loop, &wd);

    assert_int_equal(c.poll_rc, 1);
    assert_false(wd.stalled);
    assert_int_equal(c.got, 1);
    assert_true(c.pong_ok);
}

/* ---- a quiet watcher: it looks again after a reported send ---- */

/* The watcher has looked and found nothing (it stays "quiet" and does not
 * look while nothing wakes it). Then, from a timer, a ping goes out on its
 * socket, the other end answers and a zmq_poll on the socket consumes
 * ZMQ_FD's edge with the pong queued: reported (polku_zwatch_sent), the
 * pong is delivered on the next turn; not reported, the watcher's safety
 * look still finds it, within a few seconds. */
typedef struct quiet_ctx {
    uv_loop_t *loop;
    watchdog *wd;
    polku_zwatch *zw;
    void *router, *dealer;
    bool report;
    int poll_rc;
    int got;
    uint64_t queued_ms, delivered_ms;
} quiet_ctx;

static void quiet_on_timer(uv_timer_t *timer)
{
    quiet_ctx *c = timer->data;
    zmq_msg_t id, body;
    zmq_pollitem_t item = {.socket = c->dealer, .events = ZMQ_POLLIN};

    assert_int_equal(zmq_send(c->dealer, "ping", 4, 0), 4);
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&id, c->router, 0) > 0);
    assert_int_equal(zmq_msg_recv(&body, c->router, 0), 4);
    assert_int_equal(zmq_msg_send(&id, c->router, ZMQ_SNDMORE),
                     (int)zmq_msg_size(&id));
    assert_int_equal(zmq_send(c->router, "pong", 4, 0), 4);
    zmq_msg_close(&id);
    zmq_msg_close(&body);
    c->poll_rc = zmq_poll(&item, 1, STALL_MS);
    c->queued_ms = uv_now(c->loop);
    if (c->report)
        polku_zwatch_sent(c->zw);
}

static void quiet_on_message(polku_zwatch *zw, zmq_msg_t *frames,
                             size_t nframes, void *arg)
{
    quiet_ctx *c = arg;
    uv_update_time(c->loop);
    c->delivered_ms = uv_now(c->loop);
    watchdog_kick(c->wd);
    c->got += nframes == 1 && frame_is(&frames[0], "pong");
    uv_stop(c->loop);
}

static void run_quiet(bool report)
{
    uv_loop_t loop;
    uv_timer_t later;
    watchdog wd;
    quiet_ctx c;
    polku_zwatch *zd = NULL;

    memset(&c, 0, sizeof c);
    c.report = report;
    c.poll_rc = -1;
    assert_int_equal(uv_loop_init(&loop), 0);
    c.loop = &loop;
    tcp_pair(&c.router, &c.dealer);
    sock_set_int(c.router, ZMQ_RCVTIMEO, STALL_MS);
    assert_int_equal(
        polku_zwatch_start(&loop, c.dealer, 0, quiet_on_message, &c, &zd),
        POLKU_OK);
    c.zw = zd;
    /* 100 ms: the watcher has looked, found nothing and gone quiet */
    assert_int_equal(uv_timer_init(&loop, &later), 0);
    later.data = &c;
    assert_int_equal(uv_timer_start(&later, quiet_on_timer, 100, 0), 0);
    watchdog_start(&loop, &wd, true);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);

    polku_zwatch_close(&zd);
    uv_close((uv_handle_t *)&later, NULL);
    sock_close(c.router);
    sock_close(c.dealer);
    loop_finish(&loop, &wd);

    assert_int_equal(c.poll_rc, 1);
    assert_false(wd.stalled);
    assert_int_equal(c.got, 1);
    if (report)
        assert_true(c.delivered_ms - c.queued_ms < 500);
}

static void test_quiet_then_reported_send(void **state)
{
    run_quiet(true);
}

static void test_quiet_then_unreported_send(void **state)
{
    run_quiet(false);
}

/* ---- closing ---- */

typedef struct close_ctx {
    watchdog *wd;
    polku_zwatch *zw[2];
    void *rx[2];
    bool close_socket; /* the callback also closes the zmq socket */
    unsigned long long calls;
} close_ctx;

/* Closes every watcher (and maybe socket) of the test on first delivery. */
static void close_on_message(polku_zwatch *zw, zmq_msg_t *frames,
                             size_t nframes, void *arg)
{
    close_ctx *c = arg;
    if (c->wd)
        watchdog_kick(c->wd);
    c->calls++;
    for (int i = 0; i < 2; i++) {
        polku_zwatch_close(&c->zw[i]);
        if (c->close_socket && c->rx[i]) {
            sock_close(c->rx[i]);
            c->rx[i] = NULL;
        }
    }
}

/* Queues `count` sequence numbers on a fresh inproc pair and watches the
 * receiving end. */
static void close_setup(uv_loop_t *loop, close_ctx *c, int i, const char *name,
                        void **tx, uint64_t count)
{
    inproc_pair(name, &c->rx[i], tx);
    for (uint64_t seq = 0; seq < count; seq++)
        send_u64(*tx, seq);
    assert_int_equal(
        polku_zwatch_start(loop, c->rx[i], 0, close_on_message, c, &c->zw[i]),
        POLKU_OK);
}

static void test_close_in_callback(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    close_ctx c;
    void *tx;
    uint64_t seq;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    close_setup(&loop, &c, 0, "close-self", &tx, 10);

    /* The watchdog does not keep the loop alive: uv_run returns once the
     * watcher's handles are closed. */
    watchdog_start(&loop, &wd, false);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(wd.stalled);
    assert_int_equal(c.calls, 1);
    assert_null(c.zw[0]);

    /* The watcher stopped at once: the other nine are still queued. */
    for (uint64_t i = 1; i < 10; i++) {
        assert_int_equal(zmq_recv(c.rx[0], &seq, sizeof seq, ZMQ_DONTWAIT),
                         sizeof seq);
        assert_int_equal(seq, i);
    }
    assert_int_equal(zmq_recv(c.rx[0], &seq, sizeof seq, ZMQ_DONTWAIT), -1);
    assert_int_equal(zmq_errno(), EAGAIN);

    sock_close(c.rx[0]);
    sock_close(tx);
    loop_finish(&loop, &wd);
}

static void test_close_and_zmq_close_in_callback(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    close_ctx c;
    void *tx;

    memset(&c, 0, sizeof c);
    c.close_socket = true;
    assert_int_equal(uv_loop_init(&loop), 0);
    close_setup(&loop, &c, 0, "close-socket", &tx, 10);

    watchdog_start(&loop, &wd, false);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(wd.stalled);
    assert_int_equal(c.calls, 1);
    assert_null(c.zw[0]);
    assert_null(c.rx[0]);

    sock_close(tx);
    loop_finish(&loop, &wd);
}

static void test_close_other_in_callback(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    close_ctx c;
    void *tx[2];

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    close_setup(&loop, &c, 0, "close-a", &tx[0], 10);
    close_setup(&loop, &c, 1, "close-b", &tx[1], 10);

    /* Both have input; whichever is drained first closes both, so the
     * other's callback must never run. */
    watchdog_start(&loop, &wd, false);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(wd.stalled);
    assert_int_equal(c.calls, 1);
    assert_null(c.zw[0]);
    assert_null(c.zw[1]);

    for (int i = 0; i < 2; i++) {
        sock_close(c.rx[i]);
        sock_close(tx[i]);
    }
    loop_finish(&loop, &wd);
}

static void test_close_while_pending(void **state)
{
    uv_loop_t loop;
    watchdog wd;
    close_ctx c;
    void *tx;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    close_setup(&loop, &c, 0, "close-pending", &tx, 10);

    /* Closed with ten messages waiting, the socket closed right after (the
     * header allows it), before the loop ever ran. */
    polku_zwatch_close(&c.zw[0]);
    assert_null(c.zw[0]);
    sock_close(c.rx[0]);
    sock_close(tx);

    watchdog_start(&loop, &wd, false);
    c.wd = &wd;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_false(wd.stalled);
    assert_int_equal(c.calls, 0);
    loop_finish(&loop, &wd);
}

/* ---- start errors and NULL arguments ---- */

static void test_start_error_and_null(void **state)
{
    uv_loop_t loop;
    close_ctx c;
    void *rx, *tx;
    polku_zwatch *zw = NULL, *second = NULL;

    memset(&c, 0, sizeof c);
    assert_int_equal(uv_loop_init(&loop), 0);
    inproc_pair("start-error", &rx, &tx);
    assert_int_equal(
        polku_zwatch_start(&loop, rx, 0, close_on_message, &c, &zw), POLKU_OK);
    /* libuv refuses a second poll handle on the same fd in one loop. */
    second = (polku_zwatch *)&c; /* must be reset to NULL on failure */
    assert_int_equal(
        polku_zwatch_start(&loop, rx, 0, close_on_message, &c, &second),
        POLKU_EUV);
    assert_null(second);

    polku_zwatch_close(NULL);
    polku_zwatch_close(&second);
    assert_int_equal(polku_zwatch_received(NULL), 0);
    assert_int_equal(polku_zwatch_dropped(NULL), 0);

    polku_zwatch_close(&zw);
    sock_close(rx);
    sock_close(tx);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(c.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_two_frames),
        cmocka_unit_test(test_too_many_frames_dropped),
        cmocka_unit_test(test_budget_one_per_turn),
        cmocka_unit_test(test_edge_consumed_outside_watcher),
        cmocka_unit_test(test_quiet_then_reported_send),
        cmocka_unit_test(test_quiet_then_unreported_send),
        cmocka_unit_test(test_close_in_callback),
        cmocka_unit_test(test_close_and_zmq_close_in_callback),
        cmocka_unit_test(test_close_other_in_callback),
        cmocka_unit_test(test_close_while_pending),
        cmocka_unit_test(test_start_error_and_null),
        cmocka_unit_test(test_echo_ping_pong),
        cmocka_unit_test(test_echo_pipelined),
        cmocka_unit_test(test_stress_million),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
