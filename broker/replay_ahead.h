/* replay_ahead.h — a replayed batch decoded on a second core while the
 * router folds it.
 *
 * Why: a rebuild is one thread folding a million events in order, and a
 * third of that thread's time went to what does not depend on the
 * broker's state: decoding and validating each event (protobuf-c and
 * polku_envelope_decode's checks), its chain hash (BLAKE2b over its
 * bytes, heads.h) and, for a claim answer, the broker's authenticator
 * (HMAC-SHA256, claim_auth.h). The agents have sent their logs within the first
 * second; after that the machine's second core idled while the first
 * decoded. Here one helper thread decodes and hashes a batch's events, in
 * order, into an arena of its own, and the router takes each event as soon
 * as it is ready (ra_get) and folds it: the fold itself stays on the
 * loop's thread, in the same order, so what the broker believes is what
 * it was (invariant 1: a pure function of the logs).
 *
 * The thread touches nothing but the batch's bytes (read only until
 * ra_end), its arena and the slots: no index, no socket, no log. A batch
 * of fewer than RA_THREADED_MIN events, or a broker whose thread could not
 * be started, is decoded by the caller itself in ra_get, the same way.
 * Memory: the arena keeps its first RA_ARENA_CHUNK bytes between batches
 * (a batch of max_frame bytes decodes into a few MiB at most). */
#ifndef POLKU_BROKER_REPLAY_AHEAD_H
#define POLKU_BROKER_REPLAY_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "claim_auth.h"
#include "polku/chain.h"
#include "polku/codec.h"

#define RA_THREADED_MIN 32
#define RA_ARENA_CHUNK (2u << 20)
#define RA_POPULATE_AFTER 64

typedef struct replay_ahead replay_ahead;

/* One event of the batch. env NULL: it did not decode (rc why). ours: it
 * decoded, is an event and its origin is the batch's org; only then is
 * hash its chain hash (polku_chain_hash of its bytes). claim: for a claim
 * answer of ours that the gate would check (not refused, with a client
 * key), 1 if it carries the broker's authenticator, 0 if not (the gate's
 * claim_auth_verify, done ahead with the key given to ra_begin); else -1,
 * not checked. */
typedef struct ra_event {
    polku_envelope *env;
    int rc;
    bool ours;
    int8_t claim;
    uint8_t hash[POLKU_CHAIN_HASH];
} ra_event;

/* threaded false: never starts a thread (every batch decoded in ra_get).
 * POLKU_OK or POLKU_ENOMEM; a thread that cannot start is not an error
 * (logged, decoded inline). */
int ra_new(size_t max_frame, bool threaded, replay_ahead **out);

/* Stops and joins the thread; accepts NULL and nulls *ra. */
void ra_destroy(replay_ahead **ra);

/* Begins a batch of n events, org's: events[i] and *claim_keyed (NULL:
 * claim answers not checked ahead) must stay as they are until ra_end.
 * One batch at a time. POLKU_OK or POLKU_ENOMEM (nothing begun). */
int ra_begin(replay_ahead *ra, const char *org,
             const ProtobufCBinaryData *events, size_t n,
             const claim_auth_keyed *claim_keyed);

/* Event i (i < n, each at most once and in order), waiting until it is
 * decoded. Valid until ra_end. */
const ra_event *ra_get(replay_ahead *ra, size_t i);

/* The batch ends, whether every event was taken or not: the thread stops
 * where it is, and everything ra_get gave is forgotten. */
void ra_end(replay_ahead *ra);

/* Whether batches are decoded on the helper thread. */
bool ra_threaded(const replay_ahead *ra);

/* The heap's [from, from + len) to page in (heap_warm_populate): by the
 * thread during the next batch, once its first RA_POPULATE_AFTER events
 * are decoded, so that the loop does not take those page faults itself;
 * at once without the thread. */
void ra_populate(replay_ahead *ra, uintptr_t from, size_t len);

/* Whether the kernel refused the advice (heap_warm.h: turn it off). */
bool ra_populate_refused(const replay_ahead *ra);

#endif
