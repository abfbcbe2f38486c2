/* views.h — JSON views over the broker's folded state (http_api.c and the
 * path queries of agents use them).
 *
 * They read only what views_state hands them, never the broker itself,
 * so they sit in polku_broker_core below the router and the HTTP API. */
#ifndef POLKU_BROKER_VIEWS_H
#define POLKU_BROKER_VIEWS_H

#include <jansson.h>
#include <stdint.h>

#include "alerts.h"
#include "broker_config.h"
#include "fold.h"
#include "routes.h"

/* What the views read; borrowed, valid for the call. */
typedef struct views_state {
    const broker_config *cfg; /* directory and SLA */
    broker_indexes x;         /* consents, paths, clients */
    const routes *routes;     /* replay progress, clock offsets */
    const alert_set *alerts;  /* counted */
    uint64_t epoch;           /* the broker's, shown in stats */
    uint64_t feed_seq;        /* the dashboard feed's last seq */
} views_state;

/* SHA-256 over the canonical form of every path, referral, service and
 * timeline, as 64 hex: equal before and after a rebuild. */
void views_digest(const views_state *v, char out[65]);

/* identified, consented, coordinated, planned, in_services,
 * consent_ended (every consent revoked or expired) or closed. */
const char *views_path_stage(const views_state *v, const uint8_t key[16],
                             uint64_t now_ms);

/* The shared path of a client: coordination, open handover, plan pointer
 * (with "overdue"), supporter, stage (and stage_reason for consent_ended:
 * consent_revoked or consent_expired), consents, referrals, services, timeline;
 * NULL if the broker knows nothing of the client. The client is named by
 * its display pseudonym under names: v->x.names for everything the broker
 * serves; NULL (the client key) only for a PathReply over the asking
 * agent's own link. */
json_t *views_path_json(const views_state *v, const uint8_t key[16],
                        uint64_t now_ms, const display *names);

/* /api/v1/pending: pending referrals and open handovers, oldest first,
 * with ages, overdue flags and the dashboard's tiles. */
json_t *views_pending_json(const views_state *v, uint64_t now_ms);

/* /api/v1/directory: the organisations (id, name, services) and the SLAs
 * in seconds, so the dashboard shows names and explains what is overdue. */
json_t *views_directory_json(const views_state *v);

/* /api/v1/stats; with_digest adds digest and paths_digest, which sort
 * and hash every record (about a second per million events, the loop
 * routing nothing meanwhile): asked for by tests and audits, never by the
 * dashboard's polling. */
json_t *views_stats_json(const views_state *v, bool with_digest);

#endif
