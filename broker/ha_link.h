/* ha_link.h — the broker's end of a pair: the heartbeat sockets and what
 * the state machine (ha.h) means for the frames agents send.
 *
 * Why: ha.h decides, without sockets; this file gives it its events. A PUB
 * socket bound at ha_bind sends this broker's state every half heartbeat;
 * a SUB socket connected to ha_peer hears the peer's. Every frame from an
 * agent asks pair_admit first: the active broker goes on as a single
 * broker would; any other answers Nack broker_passive naming the active
 * one's listen address and does nothing else with the frame — it learns
 * no route, folds nothing, decides no claim. When the machine fails (two
 * actives, or this one was frozen past the peer's timeout) the loop stops
 * and the program exits 1, for its supervisor to start it again (passive).
 *
 * Timing, from [broker] heartbeat H: beats every H/2; the peer is presumed
 * gone after 3H + 500 ms without its beats — less than an agent waits
 * before it leaves a silent broker (4H + 1 s, agents/net/link.h), so the
 * agents that come find the backup ready to take over.
 *
 * A broker without ha_role has a pair of one: always active, no sockets. */
#ifndef POLKU_BROKER_HA_LINK_H
#define POLKU_BROKER_HA_LINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "broker_state.h"

/* Opens the pair's sockets and timer when cfg has ha_role. POLKU_OK or an
 * error (logged). */
int pair_start(broker *b);

/* A frame from org arrived on routing id rid: true if this broker serves
 * it; false if it answered Nack broker_passive (nothing else to do). */
bool pair_admit(broker *b, const uint8_t *rid, size_t rid_len, const char *org);

/* The pair as /healthz shows it ({"role", "state", "peer", ...}); caller
 * owns the result. */
json_t *pair_json(const broker *b);

/* polku_broker_ha_* lines for /metrics. */
void pair_metrics(const broker *b, FILE *f);

/* True when the pair's state machine failed: the program exits 1. */
bool pair_failed(const broker *b);

void pair_close(broker *b);

#endif
