/* holdback.h — replayed events the gate cannot decide yet.
 *
 * After a restart the broker replays every agent's log, in whatever order
 * the agents come back. A referral's status may arrive before the request
 * that names its receiver, an acceptance before the offer it answers. The
 * gate (gate.h) answers GATE_WAIT for such an event; the router holds a
 * copy of it here and decides it again whenever more logs are in, until
 * it is accepted (folded) or refused. So the order logs arrive in never
 * changes what the broker believes.
 *
 * Each held event waits on one key: the referral, consent or offer it
 * answers, or else its client. Whatever folds an event wakes the events
 * waiting on its object and its client (hb_wake), and they are decided
 * again at once (hb_decide_ready), not only when a replay ends: so what
 * is held is what truly waits for a log still to come.
 *
 * Bounded per organisation: past max events of one origin, hb_hold
 * refuses (the router then refuses the event as overloaded and says so),
 * so a flood of undecidable events from one log cannot grow the broker
 * without limit, nor crowd out the events of the other logs. No sockets
 * here. */
#ifndef POLKU_BROKER_HOLDBACK_H
#define POLKU_BROKER_HOLDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku/codec.h"

typedef struct holdback holdback;

/* The broker's bound: events of one origin's log held at once. A rebuild
 * of 10 M events from 20 agents, one agent's log after another, holds a
 * few hundred thousand of one log (each a few hundred bytes); a log that
 * floods the broker with events nothing will decide is stopped here. */
#define HB_HELD_PER_ORIGIN_MAX 1000000

holdback *hb_new(size_t max_events);
void hb_destroy(holdback **hb);

/* Keeps a copy of the encoded event env (decoded from data). POLKU_OK;
 * POLKU_EEXIST if (origin, seq) is held already; POLKU_EFULL if max
 * events of its origin are held; POLKU_ENOMEM. */
int hb_hold(holdback *hb, const polku_envelope *env, const uint8_t *data,
            size_t len);

/* True if a held event is about this object (referral, handover or
 * consent id). */
bool hb_holds_object(const holdback *hb, const uint8_t id[16]);

/* True if an event of org is held. */
bool hb_holds_org(const holdback *hb, const char *org);

/* True if a held event of the client could begin a term <= term (an
 * accepted handover or a close). */
bool hb_holds_term(const holdback *hb, const uint8_t key[16], uint32_t term);

size_t hb_count(const holdback *hb);

/* Held events of org's log. */
size_t hb_count_origin(const holdback *hb, const char *org);

/* Decides held events again: fn gets each one (oldest first) while it is
 * out of the indexes above and returns true when the event is settled
 * (folded or refused; it is dropped) or false to hold it on. Repeats while
 * a round settles something. Returns how many were settled. */
typedef bool (*hb_decide_fn)(const uint8_t *data, size_t len, void *arg);
size_t hb_sweep(holdback *hb, hb_decide_fn fn, void *arg);

/* Something about key (an object or a client) was folded or settled: the
 * events waiting on it are ready to be decided again. */
void hb_wake(holdback *hb, const uint8_t key[16]);

/* True if an event is ready (woken, not yet decided again). */
bool hb_any_ready(const holdback *hb);

/* Decides the ready events again, as hb_sweep does (fn may wake more;
 * they are decided too), until none is ready. Returns how many settled. */
size_t hb_decide_ready(holdback *hb, hb_decide_fn fn, void *arg);

/* Drops the oldest held event, handing it to fn first (to refuse it, say
 * why). False if none is held. For an event nothing can ever decide: every
 * log is in and it still waits. */
bool hb_drop_oldest(holdback *hb,
                    void (*fn)(const uint8_t *data, size_t len, void *arg),
                    void *arg);

#endif
