// clang-format off
/* alerts.h — clients falling between services, as alerts.
 *
 * The alerts are a function of the folded state and the time: evaluating
 * them again says which are new (raised) and which no longer hold
 * (cleared), and each of those becomes a feed event. Nothing here is
 * stored: after a restart the broker rebuilds the state and the alerts
 * come back by themselves. No sockets here.
 *
 * Kinds (who must act in "org"):
 *   referral_not_received   requested, not received within referral_receipt (receiver)
 *   referral_not_answered   received, not answered within referral_answer (receiver)
 *   rejection_no_followup   rejected, no newer referral for the client within
 *                           rejection_followup (the sender)
 *   handover_unanswered     an offer open longer than handover_answer (receiver)
 *   consent_expired_open    the consent an open referral or handover relies on
 *                           is no longer active (the sender / offerer)
 *   path_no_coordinator     open referrals but nobody coordinates, for longer
 *                           than path_coordinator (nobody: null)
 *   events_refused          the org's log holds events the writer rules refused
 *                           at replay (gate.h): a faulty or forged log (that
 *                           org; subject "org", no client key)
 *   duplicate_session       a second connection with the org's key was refused
 *                           while its session is live (routes.h): two
 *                           processes share a key (that org; subject "org";
 *                           "peers": the live and the refused connection's
 *                           addresses)
 *   store_regressed         the org's agent said Hello below the sequence the
 *                           broker had seen from it: its store was restored
 *                           from an older copy; until its log passes that
 *                           sequence again (that org; subject "org"; detail
 *                           "seq A < B": the agent's and the broker's)
 *   override_used           a referral or handover sent under break-glass
 *                           (overrides.h), until the client's coordinator or
 *                           an operator reviews it (the org that used it;
 *                           subject "referral" or "handover"; detail the
 *                           basis)
 *   log_diverged            the org's event log does not extend the hash chain
 *                           the broker witnessed (heads.h): an event was
 *                           changed or the log rewritten; its agent is refused
 *                           until its store is restored (that org; subject
 *                           "org"; detail "seq N": the first bad sequence) */
// clang-format on
#ifndef POLKU_BROKER_ALERTS_H
#define POLKU_BROKER_ALERTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_config.h"
#include "clients.h"
#include "consent_index.h"
#include "paths.h"

typedef struct alert_set alert_set;

/* An org whose replayed log held refused events, and since when. */
typedef struct alert_refusals {
    const char *org;
    unsigned long long events;
    uint64_t since_ms;
} alert_refusals;

/* An org whose store went back in time (routes.h), and since when. */
typedef struct alert_regression {
    const char *org;
    uint64_t agent_seq, broker_seq;
    uint64_t since_ms;
} alert_regression;

/* An org whose log diverged from its witnessed chain (heads.h). */
typedef struct alert_divergence {
    const char *org;
    uint64_t seq; /* the first bad sequence */
    uint64_t since_ms;
} alert_divergence;

/* An org with a refused second connection, both still heard from. */
typedef struct alert_session {
    const char *org;
    const char *peer;       /* the live session's address ("" unknown) */
    const char *other_peer; /* the refused connection's */
    uint64_t since_ms;      /* first refused */
} alert_session;

typedef struct alert_inputs {
    const client_index *clients;
    const path_index *paths;
    const consent_index *consents;
    const broker_sla *sla;
    const alert_refusals *refused; /* n_refused of them, may be NULL */
    size_t n_refused;
    const alert_regression *regressed; /* n_regressed, may be NULL */
    size_t n_regressed;
    const alert_session *duplicates; /* n_duplicates of them, may be NULL */
    size_t n_duplicates;
    const alert_divergence *diverged; /* n_diverged of them, may be NULL */
    size_t n_diverged;
    /* org's clock minus the broker's (NULL: all agree). An event's time is
     * its writer's clock; ages are read on that clock, so an agent whose
     * clock is wrong neither makes everything overdue nor nothing. */
    int64_t (*clock_offset)(void *arg, const char *org);
    void *clock_arg;
    /* how a client is named in an alert (display.h): its display
     * pseudonym; NULL (unit tests) the client key */
    const display *names;
    /* alerts_tick: the indexes whose changed clients (cl_take_changed,
     * ci_take_changed) it takes, normally .clients and .consents; either
     * NULL: every tick walks everything */
    client_index *changed_clients;
    consent_index *changed_consents;
} alert_inputs;

/* A change: topic "alert.raised" or "alert.cleared" and the alert's JSON
 * (borrowed: copy what you keep). */
typedef void (*alert_change_fn)(const char *topic, const json_t *alert,
                                void *arg);

alert_set *alerts_new(void);
void alerts_free(alert_set **set);

/* Recomputes the alerts at now from every referral and path; calls
 * change for each difference. */
void alerts_evaluate(alert_set *set, const alert_inputs *in, uint64_t now_ms,
                     alert_change_fn change, void *arg);

/* The same alerts as alerts_evaluate, looking only at the clients whose
 * alerts can have changed since the last tick: those an event was folded
 * for and those whose consents changed (in->changed_*), those whose alert
 * holds, those whose next threshold (alert_schedule.h) has come on its
 * clock, and those with an open referral relying on a consent that is
 * not (known to be) their own. The org-level
 * alerts and break-glass are looked at whole every tick. The first tick,
 * the one after alerts_walk_all, and one at least every 60 s walk every
 * client (and schedule them all again). Raised and cleared come in
 * another order than alerts_evaluate's. */
void alerts_tick(alert_set *set, const alert_inputs *in, uint64_t now_ms,
                 alert_change_fn change, void *arg);

/* The next alerts_tick walks every client: after a reload (the SLAs or
 * the directory changed). */
void alerts_walk_all(alert_set *set);

/* Clients the last alerts_tick looked at; thresholds it has scheduled
 * (for tests and the benchmark). */
size_t alerts_last_looked(const alert_set *set);
size_t alerts_scheduled(const alert_set *set);

size_t alerts_count(const alert_set *set);

/* {"alerts":[...]} oldest first. */
json_t *alerts_json(const alert_set *set);

/* The kind's name; "" if out of range. */
const char *alerts_kind_name(unsigned kind);

#endif
