/* paths.h — what this organisation knows of its clients' paths.
 *
 * Invariant 3 at the agent: this organisation coordinates a client only
 * after the broker answered its claim with "won", or after it accepted a
 * handover; it stops when a handover it offered is accepted or when it
 * closes the path. Each of these is an event in some organisation's log
 * and begins a new coordination term (see proto/polku.proto). A claim is
 * an event for the broker alone; the broker's answer is written back into
 * this log as our own event, so a broker restart cannot change it.
 * All functions run inside a batch item. */
#ifndef POLKU_AGENT_PATHS_H
#define POLKU_AGENT_PATHS_H

#include <stdbool.h>

#include "domain.h"

/* The record of client, or POLKU_ENOTFOUND. Caller owns *out. */
int paths_load(domain *d, MDB_txn *txn, const uint8_t key[16],
               Polku__PathRecord **out);

/* The record of client, a fresh one if none. Caller owns *out. */
int paths_load_or_new(domain *d, MDB_txn *txn, const uint8_t key[16],
                      Polku__PathRecord **out);

bool paths_i_coordinate(const domain *d, const Polku__PathRecord *p);

/* Claims coordination. *decided: true when this org already coordinates
 * (nothing sent); false when a claim is on its way to the broker (new or
 * still pending: p->claim_id names it). Refusals: consent_required. */
int paths_claim(domain *d, MDB_txn *txn, const uint8_t key[16],
                domain_refusal *why, Polku__PathRecord **out, bool *decided);

/* The broker's answer to our claim: recorded as our event, the claim's
 * outbox entry done, hooks.claim_decided told (who waits is answered). */
int paths_claim_answered(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The coordinator closes the path. reason: no_longer_needed,
 * client_declined, moved_away, other (text required, kept here). */
int paths_close(domain *d, MDB_txn *txn, const uint8_t key[16],
                const char *reason, const char *text, domain_refusal *why,
                Polku__PathRecord **out);

/* The coordinator points at the plan (held by this org). */
int paths_plan(domain *d, MDB_txn *txn, const uint8_t key[16],
               const char *plan_id, uint32_t version, uint64_t review_due_ms,
               domain_refusal *why, Polku__PathRecord **out);

/* This org's service for the client starts or ends: the event and the
 * path's list of services. Whether it may end (a coordinator needs a
 * successor) is the rules' decision: see rules_service_change. */
int paths_service(domain *d, MDB_txn *txn, const uint8_t key[16],
                  const char *service, bool ended, Polku__PathRecord **out);

/* Path events from other organisations (PlanUpdated). */
int paths_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The broker refused one of our path events (code): a claim ends refused,
 * a close is logged. */
int paths_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                        const char *code);

/* Coordination changes learned from handovers. */
int paths_set_coordinator(domain *d, MDB_txn *txn, const uint8_t key[16],
                          const char *coordinator, uint32_t term,
                          uint64_t since_ms);
/* An offer made at offer_term was accepted: coordinator coordinates from
 * offer_term + 1 (since), and the offer's plan pointer (NULL: none; an
 * empty org is plan_owner's) and supporter ("" or NULL: none) become the
 * path's, unless a later change outranks them (see paths.c). */
int paths_take_over(domain *d, MDB_txn *txn, const uint8_t key[16],
                    const char *coordinator, uint32_t offer_term,
                    uint64_t since_ms, const Polku__PlanPointer *plan,
                    const char *plan_owner, const char *supporter);
int paths_set_open_handover(domain *d, MDB_txn *txn, const uint8_t key[16],
                            const uint8_t *handover_id);

/* The open handover is handover_id no more (answered); a newer offer that
 * is open stays. */
int paths_close_open_handover(domain *d, MDB_txn *txn, const uint8_t key[16],
                              const uint8_t handover_id[16]);
#endif
