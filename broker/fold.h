/* fold.h — what the broker learns from one event, in one place.
 *
 * An event, live as it passes or replayed from an agent's log, goes into
 * the consent index, the path index and the client index, applied once by
 * (origin org, origin seq) whatever the order (invariant 1). The router,
 * the unit tests and bench/rebuild_bench all fold through here, so none of
 * them can drift from what the broker does. No sockets, no feed: the
 * caller publishes what fold_apply says is new. */
#ifndef POLKU_BROKER_FOLD_H
#define POLKU_BROKER_FOLD_H

#include "clients.h"
#include "consent_index.h"
#include "paths.h"
#include "polku/codec.h"

typedef struct broker_indexes {
    consent_index *consents;
    path_index *paths;
    client_index *clients;
    display *names; /* display pseudonyms (display.h); NULL in tools */
} broker_indexes;

enum {
    FOLD_PATH = 1u,  /* the path index applied it (an event folded) */
    FOLD_CLIENT = 2u /* new to the client index: a live one is news */
};

/* Applies env to the three indexes; returns FOLD_* bits. */
unsigned fold_apply(const broker_indexes *x, const polku_envelope *env);

/* fold_apply for an event whose (origin, seq) was already marked seen
 * (pi_mark) when the gate held it back: applied as new. */
unsigned fold_apply_marked(const broker_indexes *x, const polku_envelope *env);

/* The indexes made ready for a rebuild of about this many events (the
 * agents' logs together, as their Hellos say), so that their tables do
 * not double again and again, rehashing every record each time, while
 * the logs are folded. Sized for a client, a referral, a consent and a
 * path per FOLD_PRESIZE_EVENTS events, at most FOLD_PRESIZE_MAX of each
 * (an agent's Hello cannot make the broker take much memory); never
 * shrinks. Only a hint: memory short, the tables grow as before. */
#define FOLD_PRESIZE_EVENTS 8
#define FOLD_PRESIZE_MAX ((size_t)1 << 18)
void fold_presize(const broker_indexes *x, uint64_t events);

/* The state digest /api/v1/stats shows: SHA-256 (hex) over the paths
 * digest and every client; paths (if not NULL) gets the paths digest. */
void fold_digest(const broker_indexes *x, char out[65], char paths[65]);

#endif
