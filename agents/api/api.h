/* api.h — the agent's local HTTP/JSON API for the organisation's systems.
 *
 * Every /v1 call needs the bearer token. Input is validated completely
 * before anything is stored; a bad request gets a JSON error naming what
 * is wrong and changes nothing. Writes run as batch items and are answered
 * after the commit (the answer is durable when it arrives); reads run in a
 * read transaction of their own. What the domain refuses comes back as a
 * domain reason, and one table (api_errors.c) turns reasons and polku_err
 * codes into statuses and error codes.
 *
 * Besides the routes (api.c's table), the API holds what waits: claims
 * waiting for the broker's decision (api_claims.c), shared-path queries
 * waiting for its answer (api_path_query.c), and the /v1/events stream of
 * what arrived from other organisations (api_events.c). */
#ifndef POLKU_AGENT_API_H
#define POLKU_AGENT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api_state.h"

/* One region's API (the server that hands it requests: api_front.h);
 * region is the name its answers carry. POLKU_OK or the error. */
int api_start(agent_api *api, uv_loop_t *loop, const agent_config *cfg,
              const char *region, domain *d, broker_link *link, outbox *ob);
/* Ends the event streams (before the server stops). */
void api_stop_streams(agent_api *api);
/* Answers what waits (after the server stopped). */
void api_stop(agent_api *api);

/* Every tick: answers claims and queries past their deadline, keeps the
 * event streams alive. */
void api_tick(agent_api *api, uint64_t now_mono_ms);

/* Routes one request (the server's handler; the API fuzz target hands it
 * local requests). */
void api_handle(agent_api *api, polku_http_req *req);
/* Answers GET /metrics for apis[0..n) (1 <= n <= AGENT_MAX_REGIONS): each
 * family described once, then one sample per region, labelled
 * region="NAME" when by_region (an agent of several regions). */
void api_metrics_respond(polku_http_req *req, agent_api *const *apis, size_t n,
                         bool by_region);

/* The route table, for the test that holds it against docs/openapi.yaml:
 * route i's method, pattern ("/v1/referrals/{id}") and whether it is
 * served without the bearer token. i < api_route_count(). */
size_t api_route_count(void);
void api_route_get(size_t i, const char **method, const char **pattern,
                   bool *public);

/* Hooks: the domain decided a claim (domain_hooks.claim_decided), the link
 * applied an event (link_hooks.event_applied) or got a path answer
 * (link_hooks.path_answered). arg: the agent_api. */
void api_claim_decided(void *arg, const Polku__PathRecord *p);
void api_event_applied(void *arg, const polku_envelope *env);
void api_path_answered(void *arg, const polku_envelope *env);
/* link_hooks.access_answered: an answer to a network access report. */
void api_access_answered(void *arg, const polku_envelope *env);

#endif
