/* router.h — what the broker does with the frames agents send: routing,
 * replay and the heartbeat (router.c says how). broker.c hands the ROUTER
 * socket's messages to router_on_message and calls the rest from its
 * timers. */
#ifndef POLKU_BROKER_ROUTER_H
#define POLKU_BROKER_ROUTER_H

#include <stddef.h>

#include "broker_state.h"
#include "polku/zwatch.h"

/* The ROUTER socket's handler (polku_zwatch_cb); arg is the broker. */
void router_on_message(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                       void *arg);

/* Sends a heartbeat to every connected agent; an agent silent too long is
 * marked offline. */
void router_send_heartbeats(broker *b);

/* Decides again the replayed events held back for other logs. */
void router_decide_held(broker *b);

#endif
