/* handovers.h — two-phase handovers of a client's coordination.
 *
 * The coordinator offers (HandoverOffered, to the receiver); only the
 * receiver answers — accepted, declined with a reason, or withdrawn when
 * the offerer asked to withdraw and the offer was still open — so one
 * writer gives one outcome, identical at both ends, even when accept and
 * withdraw race. The coordinator changes at `accepted`: at the receiver
 * when it accepts, at the offerer when the answer arrives, and in the
 * broker as the answer passes, and with it the offer's plan pointer and
 * supporter become the path's. One open offer per client at a time. An
 * offer the broker refuses ends `failed` with the refusal at the offerer;
 * the receiver's answer to a copy that got through still stands over it
 * (polku/handover.h). Answers are applied by that table only. All
 * functions run inside a batch item. */
#ifndef POLKU_AGENT_HANDOVERS_H
#define POLKU_AGENT_HANDOVERS_H

#include <stdbool.h>

#include "domain.h"
#include "overrides.h"

typedef struct handover_new {
    uint8_t client_key[16];
    const char *to;
    const char *supporter;          /* NULL: none */
    const Polku__PlanPointer *plan; /* NULL: the path's plan pointer */
    bool plan_current;
    const char *note;
    const char *rule;           /* the automatic rule, or NULL */
    const uint8_t *referral_id; /* the referral that triggered it */
    override_request override;  /* break-glass (basis NULL: none) */
} handover_new;

/* The coordinator offers. Refusals: not_coordinator, consent_required
 * (purpose handover), handover_open, bad_request (to = self); with an
 * override, those of overrides_check instead of consent_required. */
int handovers_offer(domain *d, MDB_txn *txn, const handover_new *n,
                    domain_refusal *why, Polku__HandoverRecord **out);

/* The receiver accepts or declines (reason required). */
int handovers_answer(domain *d, MDB_txn *txn, const uint8_t id[16], bool accept,
                     const char *reason, domain_refusal *why,
                     Polku__HandoverRecord **out);

/* The offerer asks to withdraw an open offer; asked already, the same
 * answer and no second request. */
int handovers_withdraw(domain *d, MDB_txn *txn, const uint8_t id[16],
                       domain_refusal *why, Polku__HandoverRecord **out);

/* HandoverOffered / HandoverAnswered / WithdrawRequested from another
 * organisation (already deduplicated by receipt). */
int handovers_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The broker refused our offer (code): it ends failed. */
int handovers_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                            const char *code);

#endif
