/* zwatch.h — a libzmq socket driven by a libuv loop.
 *
 * ZMQ_FD is edge-triggered and only says "look at ZMQ_EVENTS": a send or a
 * receive can consume the edge while messages are still queued. The watcher
 * therefore keeps three handles per socket:
 *   - uv_poll on ZMQ_FD, which only wakes the loop;
 *   - uv_prepare, which re-reads ZMQ_EVENTS just before the loop would block
 *     and, if input is pending, keeps an idle handle active so it does not;
 *   - uv_check, which drains up to `budget` messages per loop turn, handing
 *     each multipart message to on_message, then re-reads ZMQ_EVENTS.
 * A look that found nothing is remembered until ZMQ_FD wakes the loop or
 * the owner reports a send (polku_zwatch_sent): each look costs libzmq two
 * system calls. The watcher never sends; its owner may, from the
 * before-sleep hook. */
#ifndef POLKU_ZWATCH_H
#define POLKU_ZWATCH_H

#include <stddef.h>
#include <uv.h>
#include <zmq.h>

#define POLKU_ZWATCH_MAX_FRAMES 8 /* ZAP requests have 7 */

/* ZMQ_HANDSHAKE_IVL of the broker's ROUTER and the agents' DEALER: a
 * connection that has not finished its ZMTP/CURVE handshake by then is
 * dropped. libzmq's default (30 s) lets a flood of half-open connections
 * hold the broker's descriptors long enough to keep real organisations
 * out; a handshake on a working network takes milliseconds. */
#define POLKU_ZMQ_HANDSHAKE_IVL_MS 5000

typedef struct polku_zwatch polku_zwatch;

/* One received multipart message: frames[0..nframes). The frames are
 * closed by the watcher after the callback returns; copy what you keep
 * (or zmq_msg_move it out). Messages with more than POLKU_ZWATCH_MAX_FRAMES
 * frames are dropped and counted. */
typedef void (*polku_zwatch_cb)(polku_zwatch *zw, zmq_msg_t *frames,
                                size_t nframes, void *arg);

/* Starts watching zsock (not owned) on loop. budget: messages per loop
 * turn (0 -> 256). Returns POLKU_OK, POLKU_ENOMEM, POLKU_EZMQ (cannot read
 * ZMQ_FD), POLKU_EUV. Caller owns *out (polku_zwatch_close). */
int polku_zwatch_start(uv_loop_t *loop, void *zsock, unsigned budget,
                       polku_zwatch_cb cb, void *arg, polku_zwatch **out);

/* fn(arg) runs each loop turn just before the watcher's last look at
 * ZMQ_EVENTS, before the loop would block: the owner sends what the turn
 * gathered (polku/outq.h), and the look that follows sees any edge those
 * sends consumed. NULL fn: none. */
void polku_zwatch_before_sleep(polku_zwatch *zw, void (*fn)(void *arg),
                               void *arg);

/* From the callback: this turn's draining ends after the message being
 * handled; the rest waits for the next turn (the loop does not block
 * meanwhile). A callback that did a long piece of work calls it, so that
 * timers, the other watchers and the poll for I/O get their turn. */
void polku_zwatch_yield(polku_zwatch *zw);

/* After every send on the watched socket (from a timer, a hook, another
 * watcher's callback): the send may have consumed ZMQ_FD's edge, so the
 * watcher looks at the socket again before the loop sleeps. Only sends
 * made by this watcher's own callback need not say so (the watcher looks
 * after them anyway). Without it, a message could wait up to a second (the
 * watcher's safety look, which logs a warning). Accepts NULL. */
void polku_zwatch_sent(polku_zwatch *zw);

/* Stops at once and releases the watcher (memory freed in the handles'
 * close callbacks, so the loop must run once more). Sets *zw to NULL.
 * Accepts NULL. The zmq socket may be closed right after this returns. */
void polku_zwatch_close(polku_zwatch **zw);

/* Messages delivered and dropped (too many frames) so far. */
unsigned long long polku_zwatch_received(const polku_zwatch *zw);
unsigned long long polku_zwatch_dropped(const polku_zwatch *zw);

#endif
