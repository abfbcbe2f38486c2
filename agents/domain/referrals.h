/* referrals.h — the referral lifecycle at one organisation.
 *
 * Both sides keep a ReferralRecord: the sender (outgoing) and the receiver
 * (incoming). Only the receiver moves a referral on (lib/referral.c has the
 * table); each change bumps a version and travels to the sender as a
 * ReferralStatus event, which the sender applies by version, so resends and
 * reordering cannot roll it back. All functions run inside a batch item. */
#ifndef POLKU_AGENT_REFERRALS_H
#define POLKU_AGENT_REFERRALS_H

#include <stdbool.h>

#include "domain.h"
#include "overrides.h"
#include "polku/referral.h"

typedef struct referral_new {
    uint8_t client_key[16];
    const char *to;
    const char *service;
    const char *reason;
    const char *urgency;
    uint64_t due_ms;
    bool transfer;
    /* break-glass (basis NULL: none): checked by overrides_check before
     * referrals_create, which then relies on no consent */
    override_request override;
} referral_new;

/* Creates an outgoing referral and its ReferralRequested event.
 * *out: caller owns (free_unpacked). */
int referrals_create(domain *d, MDB_txn *txn, const referral_new *r,
                     Polku__ReferralRecord **out);

/* The receiver changes the status. POLKU_ENOTFOUND, POLKU_ETRANSITION
 * (not allowed from here, or not the writer), POLKU_EINVAL (reason
 * required). */
int referrals_set_status(domain *d, MDB_txn *txn, const uint8_t id[16],
                         polku_referral_state to, const char *reason,
                         const char *outcome, Polku__ReferralRecord **out);

/* The sender asks the receiver to cancel. POLKU_ENOTFOUND, POLKU_ETRANSITION
 * (incoming, or already final). */
int referrals_request_cancel(domain *d, MDB_txn *txn, const uint8_t id[16],
                             const char *reason, Polku__ReferralRecord **out);

/* Applies an inbound referral event (already deduplicated by receipt). */
int referrals_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The event env could not be delivered (code): a referral request
 * becomes `failed` at the sender, with the code as reason. */
int referrals_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                            const char *code);

#endif
