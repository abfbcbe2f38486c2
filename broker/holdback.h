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
 * Bounded: past max events, hb_hold refuses (the router then refuses the
 * event as overloaded and says so), so a flood of undecidable events
 * cannot grow the broker without limit. No sockets here. */
#ifndef POLKU_BROKER_HOLDBACK_H
#define POLKU_BROKER_HOLDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku/codec.h"

typedef struct holdback holdback;

holdback *hb_new(size_t max_events);
void hb_destroy(holdback **hb);

/* Keeps a copy of the encoded event env (decoded from data). POLKU_OK;
 * POLKU_EEXIST if (origin, seq) is held already; POLKU_EFULL over the
 * limit; POLKU_ENOMEM. */
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

/* Held events have doubled since the last sweep (and are at least 4096):
 * decide them again now rather than at the end of a replay. While many
 * agents replay at once, events whose missing piece has meanwhile come
 * from another log would otherwise pile up until the bound refuses what
 * could be decided (a rebuild from 20 agents' million events did). The
 * doubling keeps the sweeps' cost linear in the events held. */
bool hb_grown(const holdback *hb);

/* Decides held events again: fn gets each one (oldest first) while it is
 * out of the indexes above and returns true when the event is settled
 * (folded or refused; it is dropped) or false to hold it on. Repeats while
 * a round settles something. Returns how many were settled. */
typedef bool (*hb_decide_fn)(const uint8_t *data, size_t len, void *arg);
size_t hb_sweep(holdback *hb, hb_decide_fn fn, void *arg);

/* Drops the oldest held event, handing it to fn first (to refuse it, say
 * why). False if none is held. For an event nothing can ever decide: every
 * log is in and it still waits. */
bool hb_drop_oldest(holdback *hb,
                    void (*fn)(const uint8_t *data, size_t len, void *arg),
                    void *arg);

#endif
