/* overrides.h — break-glass: a referral or handover without consent.
 *
 * A statutory duty or an emergency may require passing a referral or a
 * handover on when no consent of the client covers it. That is allowed
 * only to organisations whose entry in the broker's directory lists the
 * basis (`overrides = emergency, statutory`), only with a reason (sealed
 * for the receiver like all free text), and only where no consent covers
 * it (else the consent is used: 409 override_not_needed). The event
 * carries the basis instead of a consent id; the broker checks the same
 * permission and raises the alert override_used until the client's
 * coordinator (another organisation than the one that used it) or an
 * operator reviews it. Both reviews are events of a log: the coordinator's
 * own, or, for an operator's, the log of the organisation that used the
 * override (the broker's authenticator makes it the broker's word). */
#ifndef POLKU_AGENT_OVERRIDES_H
#define POLKU_AGENT_OVERRIDES_H

#include "domain.h"

typedef struct override_request {
    const char *basis;  /* "emergency" or "statutory"; NULL: none */
    const char *reason; /* required with a basis */
} override_request;

/* May this organisation send to `to` for purpose under o, now? Refusals:
 * override_not_permitted (the directory does not list the basis for this
 * organisation, or no directory has come yet), override_not_needed (an
 * active consent covers both organisations for purpose), bad_request (no
 * reason, unknown basis). */
int overrides_check(domain *d, MDB_txn *txn, const uint8_t client[16],
                    const char *to, const char *purpose,
                    const override_request *o, domain_refusal *why);

/* A new record of o (caller owns it; free_unpacked), or NULL (memory). */
Polku__OverrideRecord *overrides_record(const char *basis, const char *reason);

/* The client's coordinator reviews the override of object_id (a referral
 * or a handover): an OverrideReviewed event for the broker, and the local
 * record (if this organisation holds the object) marked reviewed.
 * Refusals: not_coordinator, bad_request (this organisation used the
 * override itself; the object holds no override). */
int overrides_review(domain *d, MDB_txn *txn, const uint8_t client[16],
                     const uint8_t object_id[16], domain_refusal *why);

/* The broker sends an operator's review of our override: logged as our
 * own event for the broker (with the broker's authenticator) and the
 * record marked reviewed. POLKU_ENOTFOUND when we hold no such override. */
int overrides_operator_reviewed(domain *d, MDB_txn *txn,
                                const polku_envelope *env);

#endif
