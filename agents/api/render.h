/* render.h — the agent's records as the JSON its API answers with.
 *
 * Every JSON body of the API is built here, from records the domain
 * returned; nothing here decides anything. Times are RFC 3339 (or null),
 * ids 26-character text, client keys 32 hex characters; free text only as
 * the organisation's own systems gave it (the API is theirs). */
#ifndef POLKU_AGENT_RENDER_H
#define POLKU_AGENT_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "domain.h"

json_t *render_referral(const Polku__ReferralRecord *r, bool with_history);
json_t *render_consent(const Polku__ConsentRecord *r, uint64_t now_ms);
/* {"count", "consents"} of one client, as of now_ms. */
json_t *render_consent_list(store *st, MDB_txn *txn, const uint8_t client[16],
                            uint64_t now_ms);
json_t *render_handover(const Polku__HandoverRecord *h, bool with_history);
/* d: whose view ("i_coordinate"). */
json_t *render_path(const domain *d, const Polku__PathRecord *p);
/* The answer to a decided claim, and its HTTP status: 201 won, 409 lost
 * (with the coordinator and term), 403 refused. */
json_t *render_claim_reply(const domain *d, const Polku__PathRecord *p,
                           unsigned *status);

/* A note of what a restored store lost (reconcile.h). */
json_t *render_reconcile_note(const Polku__ReconcileRecord *r);

#endif
