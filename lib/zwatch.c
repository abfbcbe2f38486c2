/* zwatch.c — a libzmq socket driven by a libuv loop (see polku/zwatch.h).
 *
 * Broker and agent each run one libuv loop that must serve ZeroMQ sockets,
 * HTTP and timers together. libzmq exposes a socket to a foreign loop only
 * through ZMQ_FD, an edge-triggered mailbox descriptor whose readiness any
 * zmq call on the socket (send, recv, ZMQ_EVENTS) may consume while messages
 * are still queued. Waiting on that fd alone therefore stalls; this module
 * turns it into a level-triggered "message arrived" callback:
 *
 *   uv_poll    on ZMQ_FD: only wakes the loop, does no zmq work itself;
 *   uv_prepare before the loop blocks: re-reads ZMQ_EVENTS and, with input
 *              pending, starts the idle handle so the loop polls with a zero
 *              timeout instead of sleeping on an edge that already went by;
 *   uv_check   after polling: drains up to `budget` messages and keeps the
 *              idle handle active while input may be left over (the
 *              receive that finds nothing processes the socket's commands
 *              as reading ZMQ_EVENTS would);
 *   uv_idle    started/stopped by the two above; its callback does nothing;
 *   uv_timer   turns the loop once a second for the safety look (below).
 *
 * Each look (ZMQ_EVENTS, or a receive that finds nothing) costs libzmq two
 * system calls (getpid and a poll of its mailbox): with every watcher
 * looking twice a turn, they were half of the agents' and the broker's
 * system calls. So the watcher remembers a look that found nothing
 * ("quiet"): until ZMQ_FD wakes it, or a send on the socket
 * (polku_zwatch_sent) may have consumed the edge, nothing can have arrived
 * unseen and it does not look again. A slow safety look (SAFETY_LOOK_MS)
 * catches a send that was not reported and says so in the log — unless
 * ZMQ_FD was readable or the loop had not run for longer than the safety
 * timer lets it sleep (a stopped or starved process: the input may have
 * arrived while it stood still).
 *
 * Memory is released only when the last of the five close callbacks ran. */
#include "polku/zwatch.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "polku/error.h"
#include "polku/log.h"

#define ZWATCH_DEFAULT_BUDGET 256u
#define ZWATCH_HANDLES 5
#define SAFETY_LOOK_MS 1000

struct polku_zwatch {
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t safety; /* turns the loop for the safety look */
    void *zsock;
    uv_os_sock_t fd; /* ZMQ_FD */
    polku_zwatch_cb cb;
    void *arg;
    unsigned budget;
    int open_handles;      /* handles whose close callback has not run yet */
    bool closing;          /* polku_zwatch_close was called: touch nothing */
    bool dormant;          /* ZMQ_EVENTS failed: watcher stopped until closed */
    bool yield;            /* polku_zwatch_yield: this turn's draining ends */
    bool quiet;            /* the last look found nothing and nothing has woken
                              or sent since: no need to look */
    bool warned;           /* the safety look found input once */
    uint64_t last_look_ms; /* loop time of the last look */
    uint64_t last_turn_ms; /* loop time at the last prepare or check */
    unsigned long long received;
    unsigned long long dropped;
    void (*before_sleep)(void *arg);
    void *before_sleep_arg;
};

/* What one receive attempt gave. */
enum recv_result { RECV_OK, RECV_EMPTY, RECV_ERROR };

static void on_handle_closed(uv_handle_t *handle)
{
    polku_zwatch *zw = handle->data;
    if (--zw->open_handles == 0)
        free(zw);
}

static void close_handles(polku_zwatch *zw)
{
    zw->closing = true;
    uv_close((uv_handle_t *)&zw->poll, on_handle_closed);
    uv_close((uv_handle_t *)&zw->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&zw->check, on_handle_closed);
    uv_close((uv_handle_t *)&zw->idle, on_handle_closed);
    uv_close((uv_handle_t *)&zw->safety, on_handle_closed);
}

static void on_idle(uv_idle_t *idle)
{
    /* Its being active is the point: the loop will not block. */
    (void)idle;
}

/* Stops all activity after a failure of the socket itself (e.g. ETERM);
 * ZMQ_FD could otherwise stay readable and spin the loop. */
static void go_dormant(polku_zwatch *zw)
{
    zw->dormant = true;
    uv_poll_stop(&zw->poll);
    uv_idle_stop(&zw->idle);
    uv_prepare_stop(&zw->prepare);
    uv_check_stop(&zw->check);
    uv_timer_stop(&zw->safety);
}

/* Reads ZMQ_EVENTS (which also processes the socket's pending commands and
 * so re-arms ZMQ_FD) and answers whether a message can be received. */
static bool input_pending(polku_zwatch *zw)
{
    int events = 0;
    size_t len = sizeof events;

    for (;;) {
        if (zmq_getsockopt(zw->zsock, ZMQ_EVENTS, &events, &len) == 0)
            return (events & ZMQ_POLLIN) != 0;
        if (errno != EINTR)
            break;
    }
    log_warn("zwatch: reading ZMQ_EVENTS failed (%s); watcher stopped",
             zmq_strerror(errno));
    go_dormant(zw);
    return false;
}

/* Keeps the idle handle active exactly while input is pending. */
static void update_idle(polku_zwatch *zw)
{
    zw->last_look_ms = uv_now(zw->poll.loop);
    if (input_pending(zw)) {
        zw->quiet = false;
        uv_idle_start(&zw->idle, on_idle);
    } else if (!zw->dormant) {
        zw->quiet = true;
        uv_idle_stop(&zw->idle);
    }
}

/* Whether this turn must look at the socket: not while quiet, except for
 * the slow safety look. */
static bool must_look(polku_zwatch *zw)
{
    if (!zw->quiet)
        return true;
    if (uv_now(zw->poll.loop) - zw->last_look_ms < SAFETY_LOOK_MS)
        return false;
    uint64_t now = uv_now(zw->poll.loop);
    zw->last_look_ms = now;
    /* ZMQ_FD readable: a wake-up the loop has not dispatched yet (this
     * runs before its poll; the process may have been stopped a while). */
    struct pollfd fd = {.fd = zw->fd, .events = POLLIN};
    bool woken = poll(&fd, 1, 0) == 1;
    /* The loop did not run for longer than its poll can sleep (the safety
     * timer bounds it): the process was stopped or starved, and libzmq's
     * I/O thread, resumed with it, may signal ZMQ_FD only just now. */
    bool stalled = now - zw->last_turn_ms > SAFETY_LOOK_MS * 3 / 2;
    if (!input_pending(zw))
        return false;
    if (!woken && !stalled && !zw->warned) {
        zw->warned = true;
        log_warn("zwatch: input found by the safety look: a send on this "
                 "socket was not reported (polku_zwatch_sent)");
    }
    zw->quiet = false;
    return true;
}

static enum recv_result recv_frame(polku_zwatch *zw, zmq_msg_t *msg)
{
    for (;;) {
        if (zmq_msg_recv(msg, zw->zsock, ZMQ_DONTWAIT) >= 0)
            return RECV_OK;
        if (errno == EAGAIN)
            return RECV_EMPTY;
        if (errno != EINTR)
            break;
    }
    log_warn("zwatch: receive failed (%s)", zmq_strerror(errno));
    return RECV_ERROR;
}

/* Receives a further part of a message whose first part was read: libzmq
 * delivers multipart messages whole, so "nothing there" is an error too. */
static bool recv_part(polku_zwatch *zw, zmq_msg_t *msg)
{
    enum recv_result r = recv_frame(zw, msg);
    if (r == RECV_EMPTY)
        log_warn("zwatch: multipart message ended early");
    return r == RECV_OK;
}

static void close_frames(zmq_msg_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

/* Reads and throws away the rest of an over-long message. */
static bool discard_rest(polku_zwatch *zw)
{
    zmq_msg_t part;
    bool more = true;
    bool ok = true;

    zmq_msg_init(&part);
    while (more && ok) {
        ok = recv_part(zw, &part);
        more = ok && zmq_msg_more(&part);
    }
    zmq_msg_close(&part);
    return ok;
}

/* Receives one multipart message and hands it to the callback (or drops
 * it). Returns RECV_OK when a message was consumed. After the callback
 * returns, the socket is not touched again: the callback may have closed
 * the watcher and the socket. */
static enum recv_result drain_one(polku_zwatch *zw)
{
    zmq_msg_t frames[POLKU_ZWATCH_MAX_FRAMES];
    size_t n = 0;
    enum recv_result r;
    bool too_many = false;

    zmq_msg_init(&frames[0]);
    r = recv_frame(zw, &frames[0]);
    if (r != RECV_OK) {
        zmq_msg_close(&frames[0]);
        return r;
    }
    n = 1;
    while (zmq_msg_more(&frames[n - 1])) {
        if (n == POLKU_ZWATCH_MAX_FRAMES) {
            too_many = true;
            break;
        }
        zmq_msg_init(&frames[n]);
        if (!recv_part(zw, &frames[n])) {
            close_frames(frames, n + 1);
            return RECV_ERROR;
        }
        n++;
    }
    if (too_many) {
        bool ok = discard_rest(zw);
        close_frames(frames, n);
        zw->dropped++;
        log_debug("zwatch: dropped a message of more than %d frames",
                  POLKU_ZWATCH_MAX_FRAMES);
        return ok ? RECV_OK : RECV_ERROR;
    }
    zw->received++;
    zw->cb(zw, frames, n, zw->arg);
    close_frames(frames, n);
    return RECV_OK;
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    /* Waking the loop is all this is for; uv_check does the work. */
    polku_zwatch *zw = poll->data;
    zw->quiet = false;
    (void)events;
    if (status < 0) /* libuv has stopped the poll handle itself */
        log_warn("zwatch: poll on ZMQ_FD failed (%s); no more wake-ups",
                 uv_strerror(status));
}

static void on_safety(uv_timer_t *timer)
{
    /* A loop turn is all this is for: the prepare and check handles look. */
    (void)timer;
}

static void on_prepare(uv_prepare_t *prepare)
{
    polku_zwatch *zw = prepare->data;
    if (!zw->closing && !zw->dormant && zw->before_sleep)
        zw->before_sleep(zw->before_sleep_arg);
    if (!zw->closing && !zw->dormant && must_look(zw))
        update_idle(zw);
    zw->last_turn_ms = uv_now(zw->poll.loop);
}

/* After the loop's poll: drain what arrived, within the budget. */
static void check_turn(polku_zwatch *zw)
{
    if (zw->closing || zw->dormant || !must_look(zw))
        return;
    enum recv_result r = RECV_OK;
    zw->yield = false;
    for (unsigned i = 0; i < zw->budget && r == RECV_OK && !zw->yield; i++) {
        r = drain_one(zw);
        if (zw->closing)
            return; /* closed by the callback; the socket may be gone */
    }
    zw->yield = false;
    /* A receive that found nothing has just done what reading ZMQ_EVENTS
     * would (processed the socket's commands, re-arming ZMQ_FD, and found
     * no input): no need to ask again. With the budget spent or the turn
     * yielded, input is most likely left: the next turn looks without
     * waiting. */
    if (r == RECV_EMPTY) {
        zw->quiet = true;
        zw->last_look_ms = uv_now(zw->poll.loop);
        uv_idle_stop(&zw->idle);
    } else if (r == RECV_OK) {
        uv_idle_start(&zw->idle, on_idle);
    } else {
        update_idle(zw);
    }
}

static void on_check(uv_check_t *check)
{
    polku_zwatch *zw = check->data;
    check_turn(zw);
    zw->last_turn_ms = uv_now(check->loop); /* the memory outlives a close */
}

void polku_zwatch_sent(polku_zwatch *zw)
{
    if (zw)
        zw->quiet = false;
}

void polku_zwatch_yield(polku_zwatch *zw)
{
    zw->yield = true;
}

int polku_zwatch_start(uv_loop_t *loop, void *zsock, unsigned budget,
                       polku_zwatch_cb cb, void *arg, polku_zwatch **out)
{
    polku_zwatch *zw;
    uv_os_sock_t fd;
    size_t len = sizeof fd;
    int rc;

    assert(loop && zsock && cb && out);
    *out = NULL;
    zw = calloc(1, sizeof *zw);
    if (!zw)
        return POLKU_ENOMEM;
    zw->zsock = zsock;
    zw->cb = cb;
    zw->arg = arg;
    zw->budget = budget ? budget : ZWATCH_DEFAULT_BUDGET;
    zw->last_turn_ms = uv_now(loop);

    if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) != 0) {
        log_warn("zwatch: cannot read ZMQ_FD (%s)", zmq_strerror(errno));
        free(zw);
        return POLKU_EZMQ;
    }

    zw->fd = fd;
    zw->poll.data = zw->prepare.data = zw->check.data = zw->idle.data =
        zw->safety.data = zw;
    rc = uv_poll_init_socket(loop, &zw->poll, fd);
    if (rc == 0) {
        zw->open_handles = ZWATCH_HANDLES;
        /* The loop-watcher inits cannot fail (libuv returns 0). */
        uv_prepare_init(loop, &zw->prepare);
        uv_check_init(loop, &zw->check);
        uv_idle_init(loop, &zw->idle);
        uv_timer_init(loop, &zw->safety);
        rc = uv_poll_start(&zw->poll, UV_READABLE, on_poll);
    }
    if (rc == 0)
        rc = uv_prepare_start(&zw->prepare, on_prepare);
    if (rc == 0)
        rc = uv_check_start(&zw->check, on_check);
    if (rc == 0)
        rc = uv_timer_start(&zw->safety, on_safety, SAFETY_LOOK_MS,
                            SAFETY_LOOK_MS);
    if (rc != 0) {
        log_warn("zwatch: cannot watch ZMQ_FD %d (%s)", (int)fd,
                 uv_strerror(rc));
        if (zw->open_handles == 0)
            free(zw);
        else
            close_handles(zw); /* freed by the last close callback */
        return POLKU_EUV;
    }
    /* The poll handle alone keeps the loop alive; the helpers follow it. */
    uv_unref((uv_handle_t *)&zw->prepare);
    uv_unref((uv_handle_t *)&zw->check);
    uv_unref((uv_handle_t *)&zw->idle);
    uv_unref((uv_handle_t *)&zw->safety);
    *out = zw;
    return POLKU_OK;
}

void polku_zwatch_before_sleep(polku_zwatch *zw, void (*fn)(void *arg),
                               void *arg)
{
    zw->before_sleep = fn;
    zw->before_sleep_arg = arg;
}

void polku_zwatch_close(polku_zwatch **zw)
{
    if (!zw || !*zw)
        return;
    if (!(*zw)->closing)
        close_handles(*zw);
    *zw = NULL;
}

unsigned long long polku_zwatch_received(const polku_zwatch *zw)
{
    return zw ? zw->received : 0;
}

unsigned long long polku_zwatch_dropped(const polku_zwatch *zw)
{
    return zw ? zw->dropped : 0;
}
