/* handshakes.h — CURVE handshakes that fail before our ZAP handler sees
 * them.
 *
 * An agent configured with the wrong broker_public_key encrypts its hello
 * to a key that is not the broker's: libzmq drops the connection, our ZAP
 * handler (zap.h) never hears of it, and nothing would say why that agent
 * never connects. A socket monitor on the ROUTER reports each failed
 * handshake; the broker logs it (at most 10 lines a second) with the
 * broker's own public key, which the agent's broker_public_key must be.
 * The agent says the same from its side (agents/net/link.h). */
#ifndef POLKU_BROKER_HANDSHAKES_H
#define POLKU_BROKER_HANDSHAKES_H

#include "broker_state.h"

/* Starts monitoring b->router (opened, not yet bound is fine).
 * POLKU_OK, POLKU_EZMQ, or what polku_zwatch_start returns. */
int handshakes_watch(broker *b);

/* Stops the monitor (before the context is terminated). */
void handshakes_close(broker *b);

#endif
