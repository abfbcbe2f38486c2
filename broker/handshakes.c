/* handshakes.c — logging CURVE handshakes that fail (see handshakes.h). */
#include "handshakes.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "polku/error.h"
#include "polku/log.h"

#define MONITOR_ENDPOINT "inproc://polku-broker-handshakes"

static void on_event(polku_zwatch *zw, zmq_msg_t *frames, size_t n, void *arg)
{
    (void)zw;
    broker *b = arg;
    static polku_log_limit limit;
    if (n < 1 || zmq_msg_size(&frames[0]) != 6)
        return;
    const uint8_t *d = zmq_msg_data(&frames[0]);
    uint16_t event;
    uint32_t value;
    memcpy(&event, d, 2);
    memcpy(&value, d + 2, 4);
    if (event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        !polku_log_limit_allow(&limit, 10, "failed handshakes"))
        return;
    log_warn("a connection failed the CURVE handshake (protocol error 0x%x): "
             "an agent whose broker_public_key is not this broker's public "
             "key %s, or a client that does not speak ZMTP/CURVE",
             (unsigned)value, b->cfg->key.public_z85);
}

int handshakes_watch(broker *b)
{
    int zero = 0;
    if (zmq_socket_monitor(b->router, MONITOR_ENDPOINT,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) ||
        !(b->handshake_monitor = zmq_socket(b->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(b->handshake_monitor, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_connect(b->handshake_monitor, MONITOR_ENDPOINT)) {
        log_error("cannot monitor handshakes: %s", zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    return polku_zwatch_start(b->loop, b->handshake_monitor, 16, on_event, b,
                              &b->handshake_watch);
}

void handshakes_close(broker *b)
{
    polku_zwatch_close(&b->handshake_watch);
    if (b->handshake_monitor)
        zmq_close(b->handshake_monitor);
    b->handshake_monitor = NULL;
}
