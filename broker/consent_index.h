/* consent_index.h — the broker's memory of consents (invariant 4, second
 * check).
 *
 * Folded from the ConsentGranted / ConsentRevoked events the broker routes
 * and from the agents' replays after a restart; never stored. A referral
 * names the consent it relies on; the broker routes it only if that consent
 * is known, active, of the same client, and covers both organisations and
 * the purpose. While the broker has not yet replayed the log of every
 * organisation that could have recorded or revoked that consent, it says
 * "retry later" instead of refusing: a restart must neither leak nor
 * wrongly refuse. */
#ifndef POLKU_BROKER_CONSENT_INDEX_H
#define POLKU_BROKER_CONSENT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "polku/codec.h"

typedef struct consent_index consent_index;

/* True when the broker has replayed org's log in this epoch. */
typedef bool (*ci_replayed_fn)(void *arg, const char *org);

consent_index *ci_new(void);
void ci_destroy(consent_index **ci);

/* Folds a consent event from origin (idempotent; a revocation that
 * arrives before its grant is kept and wins). Other bodies are ignored. */
void ci_apply(consent_index *ci, const polku_envelope *env);

/* Decides whether env (a ReferralRequested, HandoverOffered, PlanUpdated or
 * PathClaimed, which name the consent they rely on) from sender to dest may
 * be routed for purpose (NULL: any purpose): 0 to route, else the Nack code
 * (consent_required, consent_revoked, retry_later). */
Polku__NackCode ci_check(const consent_index *ci, const polku_envelope *env,
                         const char *sender, const char *dest,
                         const char *purpose, uint64_t now_ms,
                         ci_replayed_fn replayed, void *arg);

/* True when every organisation named in any known consent of the client
 * has been replayed: nothing the broker has yet to learn from the logs can
 * concern this client (coordination decisions wait for it). */
bool ci_client_replayed(const consent_index *ci, const uint8_t key[16],
                        ci_replayed_fn replayed, void *arg);

size_t ci_count(const consent_index *ci);

/* The consent id at now: 1 active, 0 revoked or expired, -1 unknown. */
int ci_consent_active(const consent_index *ci, const uint8_t id[16],
                      uint64_t now_ms);

/* True when an active consent of the client names org for purpose
 * (NULL: any purpose). */
bool ci_allows(const consent_index *ci, const uint8_t key[16], const char *org,
               const char *purpose, uint64_t now_ms);

/* The client's consents as JSON (metadata: id, orgs, purposes, valid
 * until, active at now). */
json_t *ci_client_json(const consent_index *ci, const uint8_t key[16],
                       uint64_t now_ms);

#endif
