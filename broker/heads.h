/* heads.h — every organisation's chain head, as the broker witnessed it.
 *
 * Why: an organisation can edit its own store; what it cannot edit is what
 * others already hold. The broker keeps, per organisation, the latest head
 * (seq, hash, signed by the owner) it was told in a Hello or heartbeat, or
 * that another organisation's agent held (Hello.held, so a rebuilt broker
 * learns them again), and the tip of the chain it computed itself from
 * the events it saw in order, live or replayed. An event at tip + 1 must
 * name the tip's hash; an event or head at a seq the broker knows must
 * hash the same. Anything else means the log was rewritten: the org is
 * marked diverged (Nack log_diverged, alert log_diverged) and stays so
 * until the operator re-anchors it by a restore (a new incarnation:
 * docs/trust.md, "Restores and divergence").
 *
 * Keyed by organisation id, so a directory reload changes nothing here.
 * No sockets: router.c asks and acts. */
#ifndef POLKU_BROKER_HEADS_H
#define POLKU_BROKER_HEADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_config.h"
#include "polku/chain.h"
#include "polku/codec.h"

typedef struct broker_heads broker_heads;

typedef enum heads_verdict {
    HEADS_OK = 0,
    HEADS_IGNORED,  /* a head that proves nothing (bad signature, unknown
                       org, older): not kept */
    HEADS_DIVERGED, /* the org's log does not extend what the broker knows */
} heads_verdict;

broker_heads *heads_new(void);
void heads_free(broker_heads **h);

/* A head from its owner (Hello.chain, Heartbeat.chain), or held by
 * another organisation (from_owner false: kept only if the owner's
 * sign_key verifies it). cfg gives the signing keys. */
heads_verdict heads_note_head(broker_heads *h, const broker_config *cfg,
                              const Polku__ChainHead *head, bool from_owner,
                              uint64_t now_ms);

/* An event of org (live or replayed), its bytes as logged. regressed: the
 * broker has found org's store gone back in time (store_regressed), so a
 * new incarnation may re-anchor the chain. */
heads_verdict heads_note_event(broker_heads *h, const char *org,
                               const polku_envelope *env, const void *data,
                               size_t len, bool regressed, uint64_t now_ms);

/* heads_note_event given the event's hash (polku_chain_hash of its bytes,
 * computed ahead: replay_ahead.h). */
heads_verdict heads_note_event_hashed(broker_heads *h, const char *org,
                                      const polku_envelope *env,
                                      const uint8_t hash[POLKU_CHAIN_HASH],
                                      bool regressed, uint64_t now_ms);

/* Whether org is marked diverged; *seq the first bad sequence. */
bool heads_diverged(const broker_heads *h, const char *org, uint64_t *seq,
                    uint64_t *since_ms, const char **detail);

/* The operator re-anchored org (a restore: a new incarnation after
 * store_regressed): the divergence ends, the chain starts again at the
 * next event seen. */
void heads_reanchor(broker_heads *h, const char *org);

/* The incarnation of the org's log when it was found diverged. */
uint64_t heads_diverged_incarnation(const broker_heads *h, const char *org);

/* Each org marked diverged: fn(org, seq, since_ms, detail). */
void heads_each_diverged(const broker_heads *h,
                         void (*fn)(void *arg, const char *org, uint64_t seq,
                                    uint64_t since_ms, const char *detail),
                         void *arg);

/* The latest head of every organisation, for the agents: *out an array of
 * *n pointers into storage the set owns (valid until the next call that
 * changes h). */
void heads_all(broker_heads *h, Polku__ChainHead ***out, size_t *n);

/* Counters for /metrics. */
unsigned long long heads_divergences(const broker_heads *h);
unsigned long long heads_reanchors(const broker_heads *h);

#endif
