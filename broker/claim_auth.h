/* claim_auth.h — the broker's signature on its own decisions.
 *
 * The broker decides claims, and the claimant writes the answer into its
 * own log so the decision survives a broker restart. A log is its owner's
 * to write, so without a check any organisation could write itself a won
 * claim at any term. The broker therefore authenticates each won or lost
 * answer with a MAC under a key derived from its CURVE secret key: the key
 * survives restarts and is the same for a broker pair sharing one key
 * pair, and no agent can compute it. At replay the gate folds a claim
 * answer only if its authenticator verifies. */
#ifndef POLKU_BROKER_CLAIM_AUTH_H
#define POLKU_BROKER_CLAIM_AUTH_H

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "polku/codec.h"

#define CLAIM_AUTH_KEY_BYTES 32
#define CLAIM_AUTH_BYTES 32

/* The authenticator key for a broker's 32-byte CURVE secret key. */
void claim_auth_key(const uint8_t broker_secret[32],
                    uint8_t key[CLAIM_AUTH_KEY_BYTES]);

/* The MAC over what the answer decides: the client, the claimant, the
 * claim id, the outcome, the coordinator, the term, since and the claim's
 * seq. */
void claim_auth_mac(const uint8_t key[CLAIM_AUTH_KEY_BYTES],
                    const uint8_t client_key[16], const char *claimant,
                    const Polku__PathClaimAnswered *a,
                    uint8_t out[CLAIM_AUTH_BYTES]);

/* The key made ready for many answers: HMAC-SHA256 keyed once (its two
 * key blocks hashed), not again for each claim answer a rebuild checks. */
typedef struct claim_auth_keyed {
    crypto_auth_hmacsha256_state st;
} claim_auth_keyed;

void claim_auth_keyed_init(claim_auth_keyed *k,
                           const uint8_t key[CLAIM_AUTH_KEY_BYTES]);
void claim_auth_keyed_wipe(claim_auth_keyed *k);

/* True if a->authenticator is the broker's MAC for this answer (k made
 * ready from its key). */
bool claim_auth_verify(const claim_auth_keyed *k, const uint8_t client_key[16],
                       const char *claimant, const Polku__PathClaimAnswered *a);

#endif
