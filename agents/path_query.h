/* path_query.h — the client's shared path, asked of the broker.
 *
 * The broker holds the only view of a client's whole path (every
 * organisation's events folded together). GET /v1/paths/{key} sends a
 * PathQuery (not an event: nothing is stored) and answers the HTTP request
 * when the broker's PathAnswer arrives: 200 with the path, 403 when no
 * active consent of the client names this organisation with purpose
 * `path`, 404, or 503 when the broker is not connected or rebuilding, 504
 * if it does not answer within 5 s. */
#ifndef POLKU_AGENT_PATH_QUERY_H
#define POLKU_AGENT_PATH_QUERY_H

#include <stdint.h>

#include "agent.h"

void path_query_start(agent *a, polku_http_req *req, const uint8_t key[16]);
void path_query_answered(agent *a, const polku_envelope *env);
void path_query_expire(agent *a, uint64_t now_mono_ms);
/* Answers every waiting request 503 (the agent stops). */
void path_query_fini(agent *a);

#endif
