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

/* Room for this many consents and clients without growing the tables
 * (idmap_presize); a hint: nothing changes when memory runs out. */
void ci_presize(consent_index *ci, size_t consents, size_t clients);

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

/* ci_check without time: whether the consent env relies on exists, is
 * the client's and covers sender, dest (NULL: any) and purpose, whatever
 * became of it since (the gate's writer rule, the same at replay as
 * live). 0, NACK_CONSENT_REQUIRED or NACK_RETRY_LATER (the grant is not
 * known yet and its recorder has not been replayed). */
Polku__NackCode ci_check_scope(const consent_index *ci,
                               const polku_envelope *env, const char *sender,
                               const char *dest, const char *purpose,
                               ci_replayed_fn replayed, void *arg);

/* The grant id: -1 not known, 1 org is in its scope, 0 it is not. */
int ci_grant_scope(const consent_index *ci, const uint8_t id[16],
                   const char *org);

/* False if env (a ConsentGranted) reuses a known consent id for another
 * client, scope or validity. */
bool ci_grant_matches(const consent_index *ci, const polku_envelope *env);

/* The grant was routed to org (live); once every org of its scope has it,
 * it is distributed. A grant replayed from its recorder's log is marked
 * distributed outright: its outbox delivers it until acknowledged. */
void ci_mark_delivered(consent_index *ci, const uint8_t id[16],
                       const char *org);
void ci_mark_distributed(consent_index *ci, const uint8_t id[16]);

/* ci_allows, counting only consents distributed to their whole scope:
 * nobody sees a path under a consent the other organisations never
 * heard of. */
bool ci_allows_shared(const consent_index *ci, const uint8_t key[16],
                      const char *org, const char *purpose, uint64_t now_ms);

/* True when every organisation named in any known consent of the client
 * has been replayed: nothing the broker has yet to learn from the logs can
 * concern this client (coordination decisions wait for it). */
bool ci_client_replayed(const consent_index *ci, const uint8_t key[16],
                        ci_replayed_fn replayed, void *arg);

size_t ci_count(const consent_index *ci);

/* The other organisations of every active consent of the client that
 * names org (any purpose), each once, into out (at most max; pointers into
 * the index, valid until the next ci_apply). Returns how many; 0 when org
 * is in no active consent of the client. */
size_t ci_scope_orgs(const consent_index *ci, const uint8_t key[16],
                     const char *org, uint64_t now_ms, const char **out,
                     size_t max);

/* The consent id at now: 1 active, 0 revoked or expired, -1 unknown. */
int ci_consent_active(const consent_index *ci, const uint8_t id[16],
                      uint64_t now_ms);

/* The clients whose consents were granted or revoked since the last call
 * (a client may come more than once), then forgets them: what the alerts
 * schedule (alerts.h) looks at again. fn may be NULL. */
typedef void (*ci_key_fn)(const uint8_t key[16], void *arg);
void ci_take_changed(consent_index *ci, ci_key_fn fn, void *arg);

/* The client whose consent id is (the grant's); false while no grant of
 * it has been seen. */
bool ci_consent_owner(const consent_index *ci, const uint8_t id[16],
                      uint8_t key[16]);

/* When the consent id stops being active by itself (its valid-until),
 * if it is active at now; 0 otherwise. */
uint64_t ci_consent_until(const consent_index *ci, const uint8_t id[16],
                          uint64_t now_ms);

/* The earliest time one of the client's consents active at now runs out
 * (what ci_allows says can change then without an event); 0 none. */
uint64_t ci_client_next_end(const consent_index *ci, const uint8_t key[16],
                            uint64_t now_ms);

/* True when an active consent of the client names org for purpose
 * (NULL: any purpose). */
bool ci_allows(const consent_index *ci, const uint8_t key[16], const char *org,
               const char *purpose, uint64_t now_ms);

/* Why the client's consents ended: NULL while one is active at now (or the
 * broker knows of no grant), else "consent_revoked" when one of them was
 * revoked, "consent_expired" when they all ran out. */
const char *ci_client_ended(const consent_index *ci, const uint8_t key[16],
                            uint64_t now_ms);

/* The client's consents as JSON (metadata: id, orgs, purposes, valid
 * until, active at now). */
json_t *ci_client_json(const consent_index *ci, const uint8_t key[16],
                       uint64_t now_ms);

#endif
