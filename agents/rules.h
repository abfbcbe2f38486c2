/* rules.h — automatic handovers, as the [rule] sections of the config say.
 *
 * referral_accepted: a referral this organisation sent with transfer was
 * accepted → offer the client's coordination to its receiver, with the
 * current plan pointer. It runs in the same transaction that applies the
 * acceptance, and the referral remembers it ran (transfer_done), so it
 * fires exactly once: a re-delivered acceptance is a duplicate receipt, and
 * a crash loses both or neither. (service_ended is in paths.c: it decides
 * whether a service may end at all.) */
#ifndef POLKU_AGENT_RULES_H
#define POLKU_AGENT_RULES_H

#include "agent.h"

/* r: an outgoing referral whose acceptance has just arrived; updates its
 * transfer fields (the caller stores r). Offers nothing when no rule
 * applies or the offer is not possible now (not coordinator, an offer
 * open, no consent): transfer_note says which. Store errors only. */
int rules_referral_accepted(agent *a, MDB_txn *txn, Polku__ReferralRecord *r);

#endif
