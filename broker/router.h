/* router.h — what the broker does with the frames agents send: routing,
 * replay and the heartbeat (router.c says how). broker.c hands the ROUTER
 * socket's messages to router_on_message and calls the rest from its
 * timers. */
#ifndef POLKU_BROKER_ROUTER_H
#define POLKU_BROKER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "broker_state.h"
#include "polku/zwatch.h"

/* The ROUTER socket's handler (polku_zwatch_cb); arg is the broker. */
void router_on_message(polku_zwatch *zw, zmq_msg_t *frames, size_t nframes,
                       void *arg);

/* Sends what this loop turn queued for each connection: one frame per
 * connection where it takes bundles. Runs just before the loop sleeps
 * (the ROUTER watcher's before-sleep hook) and before a reload renumbers
 * the routes. */
void router_flush(broker *b);

/* Sends a heartbeat to every connected agent; an agent silent too long is
 * marked offline. */
void router_send_heartbeats(broker *b);

/* Sends every connected agent a Welcome of the current epoch with the
 * current directory (after a reload: reload.h); known_seq 0 says nothing
 * about its store, so the agent only takes the new directory. */
void router_send_directory(broker *b);

/* Tells the connection rid that org is not in the directory any more: a
 * Nack not_authenticated (its frames are not routed). */
void router_refuse_removed(broker *b, const uint8_t *rid, size_t rid_len,
                           const char *org);

/* The same for a connection made with a key a rotation retired. */
void router_refuse_retired_key(broker *b, const uint8_t *rid, size_t rid_len,
                               const char *org);

/* Decides again the replayed events held back for other logs. */
void router_decide_held(broker *b);

#endif
