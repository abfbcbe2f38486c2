/* harness_pair.h — a broker pair (broker/ha.h) for integration tests: a
 * primary and a backup with the same key and [org] sections, their
 * heartbeat on ipc:// endpoints in the region's directory, and every
 * agent's `broker =` listing both.
 *
 * The region keeps the organisations and, through pair->a, "the broker"
 * that harness.h and harness_coord.h helpers talk to. h_pair_swap exchanges
 * the two brokers' identities (process, ports, HTTP handle) between a and
 * b, so a test that follows a failover points a at the new active one and
 * every helper goes on working. */
#ifndef POLKU_TESTS_HARNESS_PAIR_H
#define POLKU_TESTS_HARNESS_PAIR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "harness.h"

typedef struct h_pair {
    h_region *a; /* the region with the organisations; its broker: primary
                    at first */
    h_region *b; /* holds the other broker (backup at first); no orgs */
} h_pair;

/* Makes r (organisations added, not yet written) one of a pair: writes
 * both broker configs (primary: r's, backup: a second region's) and every
 * agent config with `broker = ` both endpoints — the backup's first when
 * backup_first. */
void h_pair_setup(h_pair *p, h_region *r, bool backup_first);

/* Starts both brokers and waits until a is active and b passive. */
void h_pair_start(h_pair *p);

/* The "ha" object of side's /healthz (caller decrefs), NULL if it does not
 * answer. */
json_t *h_pair_ha(h_region *side);
/* ha.state of side's /healthz copied into out ("" if it does not answer). */
const char *h_pair_state(h_region *side, char *out, size_t len);

/* Exchanges the brokers of a and b. */
void h_pair_swap(h_pair *p);

#endif
