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
 * it.
 *
 * An organisation that serves several regions ([region NAME] sections)
 * runs one such stack per region, each with its own store, log, outbox,
 * directory and link, and one API in front of them all (api_front.h). */
#ifndef POLKU_AGENT_H
#define POLKU_AGENT_H

#include <uv.h>

#include "agent_config.h"
#include "api.h"
#include "api_front.h"
#include "batch.h"
#include "directory.h"
#include "domain.h"
#include "eventlog.h"
#include "link.h"
#include "outbox.h"
#include "sealing.h"
#include "store.h"

/* One region: everything below the API but the config is its own. */
typedef struct agent_region {
    struct agent *a;
    /* the agent's config as this region sees it: its broker, broker key,
     * pseudonym secret and store; the rest the agent's (kept in step on
     * reload by agent.c). Not owned: never agent_config_fini'd. */
    agent_config cfg;
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
} agent_region;

typedef struct agent {
    uv_loop_t *loop;
    agent_config *cfg;
    agent_region *r; /* r[0]: the default region ([agent]); then [region]s */
    size_t n_regions;
    agent_api **apis; /* &r[i].api, for the front */
    api_front front;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup; /* the [rule] sections read again */
} agent;

/* Opens the stores, connects to the brokers, serves the API. On failure
 * agent_fini still must be called. */
int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg);
void agent_fini(agent *a);

#endif
