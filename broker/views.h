/* views.h — JSON views over the broker's folded state (http_api.c and the
 * path queries of agents use them). */
#ifndef POLKU_BROKER_VIEWS_H
#define POLKU_BROKER_VIEWS_H

#include <jansson.h>
#include <stdint.h>

#include "broker.h"

/* SHA-256 over the canonical form of every path, referral, service and
 * timeline, as 64 hex: equal before and after a rebuild. */
void broker_digest(const broker *b, char out[65]);

/* identified, consented, coordinated, planned, in_services or closed. */
const char *broker_path_stage(const broker *b, const uint8_t key[16],
                              uint64_t now_ms);

/* The shared path of a client: coordination, open handover, plan pointer
 * (with "overdue"), stage, consents, referrals, services, timeline; NULL
 * if the broker knows nothing of the client. */
json_t *broker_path_json(const broker *b, const uint8_t key[16],
                         uint64_t now_ms);

/* /api/v1/pending: pending referrals and open handovers, oldest first,
 * with ages, overdue flags and the dashboard's tiles. */
json_t *broker_pending_json(const broker *b, uint64_t now_ms);

/* /api/v1/stats. */
json_t *broker_stats_json(const broker *b);

#endif
