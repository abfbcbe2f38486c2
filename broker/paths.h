/* paths.h — the broker's client paths, folded from the agents' events.
 *
 * No sockets here: events go in (live as they pass the broker, or replayed
 * from an agent's log after a restart), paths come out. Each event is
 * applied once, by (origin org, origin seq), whatever the order.
 *
 * Coordination (invariant 3) is kept as terms: a path's term grows by one
 * at each change of coordinator, and each term is begun by one event
 * written by one organisation — a won or lost claim answer (the claimant's
 * log holds the broker's decision), an accepted handover (the receiver's
 * log) or a close (the coordinator's log). A path is its highest term, so
 * any interleaving of the same logs gives the same coordinator
 * (invariant 1). The broker decides claims here too: the first claim it
 * sees for a path without a coordinator begins the next term. */
#ifndef POLKU_BROKER_PATHS_H
#define POLKU_BROKER_PATHS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"
#include "polku/codec.h"

typedef struct path_index path_index;

typedef struct path_handover_view {
    uint8_t id[16];
    char from[33], to[33];
    uint32_t term;
    Polku__HandoverState status;
    uint64_t offered_ms, answered_ms;
    bool offered; /* the offer itself has been folded */
} path_handover_view;

/* What the broker knows of one client's coordination. */
typedef struct path_view {
    char coordinator[33]; /* "" none */
    uint32_t term;
    uint64_t since_ms;
    bool closed;
    bool has_plan;
    uint64_t plan_review_due_ms;
    char plan_org[33];
    char plan_id[65]; /* for tests and the broker's own checks, never shown */
    uint32_t plan_version, plan_term;
    char supporter[33]; /* from the accepted handover that began the term */
    bool has_open_handover;
    path_handover_view open_handover;
} path_view;

path_index *pi_new(void);
void pi_destroy(path_index **pi);

/* Room for this many clients' paths without growing the table
 * (idmap_presize); a hint: nothing changes when memory runs out. */
void pi_presize(path_index *pi, size_t paths);

/* Folds one event of origin (env->origin_org, env->origin_seq). Returns
 * true if it was new, false for a duplicate or a body without effect on
 * paths. Never fails on content: what it cannot use it ignores. */
bool pi_apply(path_index *pi, const polku_envelope *env);

/* Marks (org, seq) as seen without folding anything: an event the gate
 * refused, or one it holds back to fold later with pi_apply_marked. True
 * if it was new. pi_apply is pi_mark then pi_apply_marked. */
bool pi_mark(path_index *pi, const char *org, uint64_t seq);
bool pi_apply_marked(path_index *pi, const polku_envelope *env);

/* Who began term of the client's path: true with who ("" and closed for a
 * close) if the broker has seen that term begin. */
bool pi_term_holder(const path_index *pi, const uint8_t key[16],
                    uint32_t term, char who[33], bool *closed);

/* The highest seq of org up to which every event has been applied. */
uint64_t pi_contiguous(const path_index *pi, const char *org);

/* True once (org, seq) has been applied. */
bool pi_seen(const path_index *pi, const char *org, uint64_t seq);

/* The client's coordination now; false if the broker knows nothing. */
bool pi_view(const path_index *pi, const uint8_t key[16], path_view *out);

/* Every path, in no particular order; fn may not change the index. */
typedef void (*pi_path_fn)(const uint8_t key[16], const path_view *v,
                           void *arg);
void pi_each(const path_index *pi, pi_path_fn fn, void *arg);

/* Every handover of every path (offered, answered or both seen), in no
 * particular order; fn may not change the index. The reports count them. */
typedef void (*pi_handover_fn)(const uint8_t key[16],
                               const path_handover_view *h, void *arg);
void pi_each_handover(const path_index *pi, pi_handover_fn fn, void *arg);

/* Decides a claim by claimant at now: the coordinator stays if there is
 * one (CLAIM_LOST, or CLAIM_WON when it is the claimant); otherwise the
 * claimant begins the next term (CLAIM_WON) and the path says so at once.
 * out gets the coordinator, term and since. */
Polku__ClaimOutcome pi_decide_claim(path_index *pi, const uint8_t key[16],
                                    const char *claimant, uint64_t now_ms,
                                    path_view *out);

/* The coordinator gate for an offer (or a close) from org at term:
 * 0 if org coordinates at term; NACK_RETRY_LATER if term is ahead of what
 * the broker has seen (the event that began it is still on its way);
 * NACK_NOT_COORDINATOR otherwise. */
Polku__NackCode pi_check_coordinator(const path_index *pi,
                                     const uint8_t key[16], const char *org,
                                     uint32_t term);

/* True if a PlanUpdated at term with version is stale: the path's plan was
 * set by a PlanUpdated at the same term with a higher version (*current,
 * if not NULL). The same version is a postponement, a new term a new
 * coordinator's plan: neither is stale. */
bool pi_plan_stale(const path_index *pi, const uint8_t key[16], uint32_t term,
                   uint32_t version, uint32_t *current);

/* The handover id's offerer and receiver, if known. */
bool pi_handover(const path_index *pi, const uint8_t key[16],
                 const uint8_t id[16], path_handover_view *out);

size_t pi_count(const path_index *pi);
size_t pi_coordinated(const path_index *pi);
unsigned long long pi_conflicts(const path_index *pi);

/* SHA-256 over the canonical form of every path (sorted by client key),
 * as 64 hex characters: equal for equal states, whatever the order the
 * events came in. */
void pi_digest(const path_index *pi, char out[65]);

/* A path as JSON (metadata only), or NULL if unknown; "client_key" is
 * the display pseudonym under names (NULL: the client key, for an
 * agent's own link only). */
json_t *pi_json(const path_index *pi, const uint8_t key[16],
                const display *names);

#endif
