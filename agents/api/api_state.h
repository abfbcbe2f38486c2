/* api_state.h — what the API holds between requests (see api.h).
 *
 * Its own header so that every module of the API, and agent.c which
 * embeds it, can name the state without depending on api.c. */
#ifndef POLKU_AGENT_API_STATE_H
#define POLKU_AGENT_API_STATE_H

#include <stdint.h>
#include <uv.h>

#include "domain.h"
#include "link.h"
#include "polku/http.h"

struct api_claim_waiter;
struct path_queries;
struct access_queries;
struct polku_sse_hub;

typedef struct agent_api {
    uv_loop_t *loop;
    const agent_config *cfg; /* this region's view (agent_config.h) */
    const char *region;      /* its name, on every answer */
    domain *d;
    const directory *dir;
    broker_link *link; /* connected? path queries, epoch */
    outbox *ob;        /* for /healthz and /metrics */
    polku_http *http;  /* the server all regions share (api_front.h) */

    /* claims waiting for the broker's answer (api_claims.c) */
    struct api_claim_waiter *waiters;
    size_t n_waiters, cap_waiters;
    /* shared-path queries waiting for the broker (api_path_query.c) */
    struct path_queries *queries;
    /* network access reports waiting for answers (api_access.c) */
    struct access_queries *access;
    /* /v1/events: what arrived here, for this org's own systems */
    struct polku_sse_hub *events;
    uint64_t last_keepalive_ms;
} agent_api;

#endif
