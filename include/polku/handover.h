/* handover.h — the handover lifecycle as one table, like referral.h.
 *
 * The coordinator offers the coordination; one writer per outcome: the
 * offer's receiver accepts it, declines it, or applies the withdrawal the
 * offerer asked for; the offerer writes only `failed` (the offer could not
 * be delivered). If a resent offer is refused after the first copy got
 * through, the receiver's answer still stands over the offerer's `failed`.
 * Rows: {from, to, writer}. The agent, the broker's fold and its feed all
 * read the states and rules here. */
#ifndef POLKU_HANDOVER_H
#define POLKU_HANDOVER_H

#include <stdbool.h>

#include "polku.pb-c.h"

typedef Polku__HandoverState polku_handover_state;

typedef enum polku_handover_writer {
    POLKU_HANDOVER_OFFERER,
    POLKU_HANDOVER_RECEIVER
} polku_handover_writer;

/* "offered", "accepted", "declined", "withdrawn", "failed"; "unknown"
 * otherwise. */
const char *polku_handover_state_name(polku_handover_state s);

/* Inverse of the above (exact, lower case). POLKU_OK or POLKU_EINVAL. */
int polku_handover_state_parse(const char *text, polku_handover_state *out);

/* True for every state but offered. */
bool polku_handover_state_final(polku_handover_state s);

/* POLKU_OK if a row allows from -> to for writer, else POLKU_ETRANSITION. */
int polku_handover_check(polku_handover_state from, polku_handover_state to,
                         polku_handover_writer writer);

#endif
