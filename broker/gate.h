// clang-format off
/* gate.h — what the broker believes: who may write which event.
 *
 * The broker folds every authenticated organisation's events into the
 * shared client paths, so an event is only as good as the right of its
 * origin to write it. CURVE tells the broker who sent a frame; the gate
 * tells it whether that organisation may say what the frame says about
 * somebody else's object. The same writer rules apply to an event routed
 * live and to the same event replayed from the origin's log after a
 * restart, so a refused event can never slip in later (invariant 1: the
 * broker is a pure function of the logs).
 *
 * Writer rules (the object is the referral, consent, handover or path the
 * event names; "settled" = the org's log has been replayed in this epoch
 * and none of its events is held back):
 *
 *   referral_requested   any org, to one other org of the directory.
 *                        Refused: a service the receiver does not list (if
 *                        it lists any); the id names another referral.
 *   referral_status      the referral's receiver, to its sender; its sender
 *                        only `failed`, for the broker. Refused: another
 *                        writer; the referral unknown once its sender is
 *                        settled.
 *   cancel_requested     the referral's sender, to its receiver. Refused:
 *                        another writer; an unknown referral (as above).
 *   consent_granted      an org in its scope, to every other org of the
 *                        scope. Refused: origin outside the scope;
 *                        destinations other than the scope; the id reused
 *                        with another scope.
 *   consent_revoked      an org in the consent's scope. Refused: origin
 *                        outside it; the grant unknown once every org is
 *                        settled.
 *   path_claim_answered  the claimant, carrying the broker's authenticator.
 *                        Refused: no authenticator, or not the broker's;
 *                        won by anyone but the claimant.
 *   path_closed          the coordinator at its term. Refused: not the
 *                        coordinator at that term.
 *   plan_updated         the coordinator at its term. Refused: not the
 *                        coordinator at that term; a version older than the
 *                        path's plan at that term (stale_plan).
 *   service_started,     the org itself. Refused: a service the org does
 *   service_ended        not list in the directory (if it lists any).
 *   handover_offered     the coordinator at its term, to one other org of
 *                        the directory. Refused: not the coordinator at
 *                        that term; to itself or outside the directory.
 *   handover_answered    the offer's receiver (accepted at the offer's term
 *                        + 1, declined, withdrawn); its offerer only its
 *                        `failed`, for the broker. Refused: another writer;
 *                        parties other than the offer's; another term; an
 *                        unknown offer once the offerer is settled.
 *   withdraw_requested   the offer's offerer, to its receiver. Refused:
 *                        another writer; an unknown offer (as above).
 *   seq_lost             the org itself, of its own log, for the broker
 *                        alone (a restored store's lost sequence). Refused:
 *                        any destination.
 *   resend_requested     the org itself (a restored store), to one org in
 *                        the directory, for no client: "send me again what
 *                        you addressed to me". Nothing to fold.
 *
 * An organisation's own `failed` for a referral or offer the broker never
 * folded (it refused it) is GATE_IGNORE: acknowledged, marked seen, folded
 * nowhere, so such records cannot fill the broker either.
 *
 * A rule that depends on an event not yet folded (the referral a status
 * names, the term an offer was made at) answers GATE_WAIT: live, the
 * sender is told to retry later; replayed, the event is held back
 * (holdback.h) and decided again when the logs it waits for are in.
 *
 * No sockets here: the gate reads the broker's indexes and directory and
 * is unit-tested beside them (gate_test.c). */
// clang-format on
#ifndef POLKU_BROKER_GATE_H
#define POLKU_BROKER_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_config.h"
#include "claim_auth.h"
#include "fold.h"
#include "holdback.h"
#include "polku/codec.h"

typedef enum gate_verdict {
    GATE_ACCEPT = 0,
    GATE_REFUSE, /* code and why say what is wrong */
    GATE_WAIT,   /* undecidable until more logs are folded */
    GATE_IGNORE  /* rightful, but about nothing the broker folded: the
                    sender's own failure of an object the broker refused */
} gate_verdict;

typedef struct gate_result {
    gate_verdict verdict;
    Polku__NackCode code; /* GATE_REFUSE: the Nack code */
    const char *why;      /* GATE_REFUSE: a static sentence, no content */
} gate_result;

/* True when the broker has replayed org's log in this epoch. */
typedef bool (*gate_replayed_fn)(void *arg, const char *org);

/* What the gate may consult. claim_key: the 32-byte key of the broker's
 * claim authenticator (claim_auth.h), which an override review's MAC
 * uses; claim_keyed: the same key made ready for the claim answers, so
 * that a rebuild does not key it for each of them. */
typedef struct gate_env {
    const broker_config *cfg;
    const broker_indexes *x;
    const holdback *held;
    gate_replayed_fn replayed;
    void *arg;
    const uint8_t *claim_key;
    /* live: the event passes now; its origin may be a step ahead of the
     * broker (its acceptance of an offer still on its way) */
    bool live;
    const claim_auth_keyed *claim_keyed;
    /* a claim answer whose authenticator was checked ahead with
     * claim_keyed (replay_ahead.h), and the verdict; NULL: none */
    const polku_envelope *claim_checked;
    bool claim_checked_ok;
} gate_env;

/* The writer rule for an event of env->origin_org (already authenticated):
 * the same verdict live and replayed. */
gate_result gate_writer(const gate_env *g, const polku_envelope *env);

/* Live only, per destination, after gate_writer accepted: the consent and
 * coordinator gates at this moment (invariants 3 and 4). 0 to route, else
 * the Nack code (retry_later while the broker is still rebuilding). */
Polku__NackCode gate_route(const gate_env *g, const polku_envelope *env,
                           const char *dest, uint64_t now_ms);

/* True when the client's coordination can be decided now: every org named
 * in a consent of the client has been replayed. */
bool gate_client_ready(const gate_env *g, const polku_envelope *env);

/* True if the frame fills a field that must travel sealed (invariant 5). */
bool gate_carries_clear_text(const polku_envelope *env);

/* A sentence for the sender's Nack. */
const char *gate_nack_reason(Polku__NackCode code);

#endif
