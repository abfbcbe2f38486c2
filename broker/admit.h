/* admit.h — a replayed event through the gate into the indexes.
 *
 * After a restart every agent replays its log, and each event is admitted
 * here: folded if the writer rules accept it, refused (its seq counted as
 * seen, nothing folded) if they refuse it, or held back (holdback.h) when
 * it depends on an event of a log still to come. A held event is decided
 * again as soon as what it waits on is folded (admit_woken, after each
 * event) and whenever a replay ends (admit_replay_done). The router and the
 * unit tests both rebuild through here, so a test's interleavings are the
 * broker's. No sockets, no feed. */
#ifndef POLKU_BROKER_ADMIT_H
#define POLKU_BROKER_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "gate.h"
#include "holdback.h"

typedef enum admit_outcome {
    ADMIT_FOLDED,
    ADMIT_REFUSED,
    ADMIT_HELD,
    ADMIT_IGNORED,  /* rightful but about nothing folded: seen, not folded */
    ADMIT_DUPLICATE /* (origin, seq) seen before: nothing done */
} admit_outcome;

/* What became of each event: a refusal with its reason, and FOLD_* bits of
 * what a fold changed. Either may be NULL. */
typedef struct admit_report {
    void (*refused)(const polku_envelope *env, gate_result why, void *arg);
    void (*folded)(const polku_envelope *env, unsigned done, void *arg);
    void *arg;
} admit_report;

/* Admits one replayed event env of its origin's log; data/len are its
 * encoded bytes (kept if it is held back). g->held must be hb. */
admit_outcome admit_replayed(const gate_env *g, holdback *hb,
                             const polku_envelope *env, const uint8_t *data,
                             size_t len, const admit_report *report);

/* env was folded (live, say) or settled: the held events waiting on its
 * object or its client are woken (admit_woken decides them). */
void admit_wake(holdback *hb, const polku_envelope *env);

/* Decides the held events that what was folded since woke (hb_wake),
 * decoding each into arena (which the caller must have reset: the event
 * just admitted is gone). Cheap when none woke: call it after each
 * replayed event. Returns how many were folded or refused. */
size_t admit_woken(const gate_env *g, holdback *hb, polku_arena *arena,
                   size_t max_frame, const admit_report *report);

/* Decides the held events again (hb_sweep), decoding each into arena.
 * Returns how many were folded or refused. */
size_t admit_held(const gate_env *g, holdback *hb, polku_arena *arena,
                  size_t max_frame, const admit_report *report);

/* Every log is in (all_replayed) and events still wait: what they wait for
 * is in no log (a store restored from an older copy lost it). The oldest
 * is refused, then the rest decided again, until none waits; so an event
 * that waited only on another undecidable one is still judged on its own.
 * Returns how many were refused this way. */
size_t admit_undecidable(const gate_env *g, holdback *hb, polku_arena *arena,
                         size_t max_frame, const admit_report *report);

/* A replay ended (org's log is in, or an org is given up on; org NULL:
 * something else changed, a directory reloaded): every held event decided
 * again (admit_held), and if every_log_in, what still waits refused
 * (admit_undecidable; how many in *undecidable). Nothing is swept while
 * events of org itself are held and other logs are still to come: org is
 * not settled yet, so nothing that waits on it can be decided, and what
 * waits on what it folds was decided when that was folded. What the
 * router does and the benchmark measures. Returns how many the sweep
 * settled. */
size_t admit_replay_done(const gate_env *g, holdback *hb, polku_arena *arena,
                         size_t max_frame, const char *org, bool every_log_in,
                         const admit_report *report, size_t *undecidable);

#endif
