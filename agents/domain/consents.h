/* consents.h — a client's consents, as this organisation knows them.
 *
 * A consent names the organisations in the client's network, the purposes
 * (referral, handover, path, plan), a validity and the form it was given on.
 * The organisation that records it sends ConsentGranted to every other
 * organisation in scope; any of them may record a revocation, which
 * reaches all of them. A consent past its validity or revoked is inactive.
 * This is the sending agent's half of invariant 4; the broker checks again.
 * All functions run inside a batch item. */
#ifndef POLKU_AGENT_CONSENTS_H
#define POLKU_AGENT_CONSENTS_H

#include <stdbool.h>

#include "domain.h"

#define CONSENT_MAX_ORGS 32

typedef struct consent_new {
    uint8_t client_key[16];
    const char *orgs[CONSENT_MAX_ORGS + 1]; /* this org added if missing */
    size_t n_orgs;
    const char *purposes[4];
    size_t n_purposes;
    uint64_t valid_until_ms;
    const char *form;
} consent_new;

/* Records a consent and sends it to the others in scope; this
 * organisation is added to c->orgs if missing. *out: caller owns. */
int consents_grant(domain *d, MDB_txn *txn, const consent_new *c,
                   Polku__ConsentRecord **out);

/* Records a revocation. POLKU_ENOTFOUND (not known here), POLKU_EEXIST
 * (already revoked). */
int consents_revoke(domain *d, MDB_txn *txn, const uint8_t id[16],
                    const char *reason, Polku__ConsentRecord **out);

/* Applies ConsentGranted / ConsentRevoked from another organisation. */
int consents_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The active consent of client covering orgs a and b and purpose (NULL:
 * any) at now:
 * POLKU_OK with its id and recorder in id/recorded_by (>= 33 bytes);
 * POLKU_EFORBIDDEN if none. */
int consents_find_active(domain *d, MDB_txn *txn, const uint8_t client[16],
                         const char *org_a, const char *org_b,
                         const char *purpose, uint64_t now_ms, uint8_t id[16],
                         char *recorded_by);

/* The longest-lived active consent of client naming org with purpose:
 * its id, recorder, and the other organisations in it (at most max, as
 * pointers into the directory: an org not in the directory is left out).
 * POLKU_EFORBIDDEN if there is none. */
int consents_scope(domain *d, MDB_txn *txn, const uint8_t client[16],
                   const char *org, const char *purpose, uint64_t now_ms,
                   uint8_t id[16], char *recorded_by, const char **others,
                   size_t *n_others, size_t max);

/* The broker refused a ConsentGranted or ConsentRevoked (env, our own)
 * for dest with code: recorded on the consent (its JSON lists it under
 * "undelivered") and logged, never dropped silently. */
int consents_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                           const char *dest, const char *code);

/* True if r is in force at now_ms: granted, not revoked, not expired. */
bool consents_active(const Polku__ConsentRecord *r, uint64_t now_ms);

#endif
