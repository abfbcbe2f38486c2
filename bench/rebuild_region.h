/* rebuild_region.h — rebuild_bench --region: the rebuild of a real broker
 * process from real agent processes.
 *
 * Why it exists: the in-process fold (rebuild_bench.c) leaves out what a
 * restart also costs — the agents reading their LMDB logs, the ReplayBatch
 * frames through ZeroMQ/CURVE, the broker's loop between them. Here the
 * same synthetic logs are written into the LMDB stores of RB_ORGS real
 * agents (with the agents' own store code, agents/core/store.h), the
 * agents are started, then the broker, and the time from the broker's
 * start until every agent's replay is done is measured; the broker's
 * digest (/api/v1/stats) must then equal the in-process fold's.
 *
 * Both calls run inside a harness case (tests/harness.h). */
#ifndef POLKU_BENCH_REBUILD_REGION_H
#define POLKU_BENCH_REBUILD_REGION_H

#include <stdint.h>

#include "rebuild_logs.h"

/* A region of RB_ORGS orgs ("org-00" ..) and a broker, written but not
 * started; claim_key gets the broker's claim authenticator key, for the
 * logs' won claims. Ends the case on failure. */
void rr_prepare(uint8_t claim_key[32]);

/* Writes the logs into the agents' stores, starts the agents, then the
 * broker, and waits for every replay; prints the figures. digest: the
 * in-process fold's. 0, or -1 (said why) when the broker's state differs
 * or something failed. */
int rr_run(const rb_logs *l, const char *digest, const char *paths_digest);

#endif
