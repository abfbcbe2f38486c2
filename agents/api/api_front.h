/* api_front.h — one HTTP server for an agent that serves several regions.
 *
 * A national organisation (Kela) serves many welfare areas; each region is
 * a world of its own: its broker, directory, store, event log and
 * pseudonym secret (docs/architecture.md, "Agents in several regions").
 * Its systems still talk to one API. The front reads which region a
 * request is about and hands it to that region's API (api.h), which
 * answers as if it were alone, its answers tagged "region".
 *
 * Which region: ?region=NAME or the body's "region"; else what the request
 * names decides: an {id} or {key} (or ?client=) the one region whose store
 * knows it; a create's destination (to, orgs) and client key the regions
 * whose directory and store know them. Still several candidates: 422
 * region_required naming them (an identity code alone fits every region).
 * A list without ?region= is every region's list, one after the other;
 * /metrics every region's samples, labelled region="NAME".
 * A POST body is read with json_reader.h (jansson only for what that
 * refuses), so a region's create keeps the fast path (agents/api/README.md).
 * With one region the front is a pass-through. */
#ifndef POLKU_AGENT_API_FRONT_H
#define POLKU_AGENT_API_FRONT_H

#include "api.h"

typedef struct api_front {
    agent_api **apis; /* [0] the default region; borrowed */
    size_t n;
    const agent_config *cfg;
    polku_http *http;
} api_front;

/* Serves cfg->http for apis[0..n). POLKU_OK or the error (logged). */
int api_front_start(api_front *f, uv_loop_t *loop, const agent_config *cfg,
                    agent_api **apis, size_t n);
/* Ends the streams, stops the server, answers what waits in each API. */
void api_front_stop(api_front *f);
/* Routes one request to its region (the server's handler; the API fuzz
 * target hands it local requests). */
void api_front_handle(api_front *f, polku_http_req *req);

#endif
