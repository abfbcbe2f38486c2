/* domain_fixture.h — a region of organisations for the domain's unit tests.
 *
 * Each organisation gets what the agent would give its domain — a real
 * LMDB store in a temporary directory, a batch, an event log, a directory
 * naming every organisation of the region with real keys, sealing — and
 * nothing else: no loop, no socket, no HTTP. The clock is fixed (moved by
 * the test with fx_set_clock). What an organisation emits stays in its event
 * log; fx_deliver hands it to the organisations it names through their inbox,
 * as the broker would, in order or, with fx_event and fx_inbox, in any
 * order and as often as a test likes. */
#ifndef POLKU_AGENT_DOMAIN_FIXTURE_H
#define POLKU_AGENT_DOMAIN_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain.h"
#include "inbox.h"
#include "polku/codec.h"

#define FX_MAX_ORGS 4

typedef struct fx_org {
    char path[64]; /* the store's temporary directory */
    agent_config cfg;
    store st;
    batch b;
    outbox ob;
    eventlog log;
    directory dir;
    sealing seal;
    domain d;
    uint64_t delivered;    /* own events fx_deliver has handed on */
    size_t claims_decided; /* times hooks.claim_decided was called */
} fx_org;

typedef struct fx_region {
    fx_org org[FX_MAX_ORGS];
    size_t n;
    uint64_t now_ms;
} fx_region;

/* n organisations ids[i], each offering services[i] (NULL: none). Aborts
 * the test program if a store cannot be made. */
void fx_region_init(fx_region *r, size_t n, const char *const ids[],
                    const char *const services[]);
/* Closes the stores and removes their directories. */
void fx_region_fini(fx_region *r);

fx_org *fx_org_of(fx_region *r, const char *id);

/* Every organisation's clock (Unix ms; starts at 2026-11-29). */
void fx_set_clock(fx_region *r, uint64_t now_ms);

/* Adds a [rule] to o's config. */
void fx_add_rule(fx_org *o, rule_trigger on, const char *name,
                 const char *service, const char *offer_to,
                 const char *supporter);

/* Runs fn(d, txn, ctx) as one batch item of o and commits: fn's result. */
typedef int (*fx_fn)(domain *d, MDB_txn *txn, void *ctx);
int fx_run(fx_org *o, fx_fn fn, void *ctx);

/* o's last event sequence (committed). */
uint64_t fx_last_seq(fx_org *o);

/* o's event seq, decoded (polku_envelope_free it), or NULL. */
polku_envelope *fx_event(fx_org *o, uint64_t seq);

/* Applies env to o through its inbox, in an item of its own, committed.
 * Returns inbox_event's result; *outcome (if not NULL) what happened. */
int fx_inbox(fx_org *o, const polku_envelope *env, inbox_outcome *outcome);

/* Hands every event from wrote since the last call to each organisation
 * it names, in order. Returns the number of deliveries. */
size_t fx_deliver(fx_region *r, fx_org *from);

/* Delivers everything, from every organisation, until nothing is left. */
void fx_settle(fx_region *r);

/* Records of o (NULL if none): free with the matching free_unpacked. */
Polku__ReferralRecord *fx_referral(fx_org *o, const uint8_t id[16]);
Polku__HandoverRecord *fx_handover(fx_org *o, const uint8_t id[16]);
Polku__PathRecord *fx_path(fx_org *o, const uint8_t key[16]);
Polku__ConsentRecord *fx_consent(fx_org *o, const uint8_t id[16]);

/* The broker's answer to o's claim claim_id for client (outcome, who
 * coordinates, at which term, since when), applied through o's inbox as it
 * arrives from the broker (origin ""). Returns the item's result. */
int fx_claim_answer(fx_org *o, const uint8_t client[16],
                    const uint8_t claim_id[16], Polku__ClaimOutcome outcome,
                    const char *coordinator, uint32_t term, uint64_t since_ms);

/* o claims client and the broker answers "won" at term (since o's clock):
 * POLKU_OK; POLKU_EEXIST if o coordinates already (no claim was sent); or
 * the first step's error. */
int fx_coordinate(fx_org *o, const uint8_t client[16], uint32_t term);

/* Records a consent of client in o covering orgs (NULL-terminated) for
 * every purpose, valid for a year; *id its id. POLKU_OK or the error. */
int fx_consent_grant(fx_org *o, const uint8_t client[16],
                     const char *const orgs[], uint8_t id[16]);

#endif
