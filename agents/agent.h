/* agent.h — polku-agent wired together: startup and shutdown only.
 *
 * The agent is one organisation's process: its store and the layers over
 * it (see docs/architecture.md):
 *
 *   core    store, batch (group commit), event log, outbox, directory,
 *           sealing, config                            agents/core/
 *   domain  consents, referrals, handovers, paths, rules, inbox
 *                                                      agents/domain/
 *   net     the link to the broker                     agents/net/
 *   api     the local HTTP API, /v1/events             agents/api/
 *
 * This file owns the loop's handles (the batch's commit, the tick, the
 * signals) and hands each layer what it needs; nothing calls back into
 * it. */
#ifndef POLKU_AGENT_H
#define POLKU_AGENT_H

#include <uv.h>

#include "agent_config.h"
#include "api.h"
#include "batch.h"
#include "directory.h"
#include "domain.h"
#include "eventlog.h"
#include "link.h"
#include "outbox.h"
#include "sealing.h"
#include "store.h"

typedef struct agent {
    uv_loop_t *loop;
    agent_config *cfg;
    store st;
    batch b;
    outbox ob;
    eventlog log;
    directory dir;
    sealing seal;
    domain d;
    broker_link link;
    agent_api api;
    uv_idle_t commit_idle; /* commits or flushes the store on the next turn */
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup; /* the [rule] sections read again */
} agent;

/* Opens the store, connects to the broker, serves the API. On failure
 * agent_fini still must be called. */
int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg);
void agent_fini(agent *a);

#endif
