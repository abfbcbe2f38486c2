/* rules.h — automatic handovers, as the [rule] sections of the config say.
 *
 * The only place that offers a handover without a person asking for it.
 *
 * referral_accepted: a referral this organisation sent with transfer was
 * accepted → offer the client's coordination to its receiver, with the
 * current plan pointer. It runs in the same transaction that applies the
 * acceptance, and the referral remembers it ran (transfer_done), so it
 * fires exactly once: a re-delivered acceptance is a duplicate receipt, and
 * a crash loses both or neither.
 *
 * service_ended: the coordinator's own service for the client ends →
 * offer the coordination to the rule's successor; without such a rule the
 * coordinator may not end its service (it names a successor first). */
#ifndef POLKU_AGENT_RULES_H
#define POLKU_AGENT_RULES_H

#include "domain.h"

/* r: an outgoing referral whose acceptance has just arrived; updates its
 * transfer fields (the caller stores r). Offers nothing when no rule
 * applies or the offer is not possible now (not coordinator, an offer
 * open, no consent): transfer_note says which. Store errors only. */
int rules_referral_accepted(domain *d, MDB_txn *txn, Polku__ReferralRecord *r);

/* The client's service started or ended here (a service_started or
 * service_ended event, and the path's list of services). When it ends at
 * the coordinator, the [rule] on = service_ended names the successor and
 * the handover is offered right after the end is logged; with no such rule
 * (and no offer open already) the end is refused with
 * DOMAIN_SUCCESSOR_REQUIRED. *out: the path after it all; *handover: the
 * offer made, or NULL. */
int rules_service_change(domain *d, MDB_txn *txn, const uint8_t key[16],
                         const char *service, bool ended, domain_refusal *why,
                         Polku__PathRecord **out,
                         Polku__HandoverRecord **handover);

#endif
