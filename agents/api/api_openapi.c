/* api_openapi.c — GET /v1/openapi.json: the API's own description.
 *
 * docs/openapi.yaml is the one description of this API; the build turns
 * it into JSON and into a C array (cmake/openapi_json.py), so an agent
 * always serves the document of the routes it was built with. */
#include "api_call.h"

extern const unsigned char polku_openapi_json[];
extern const size_t polku_openapi_json_len;

void api_openapi(agent_api *api, api_call *c)
{
    (void)api;
    polku_http_respond(c->req, 200, "application/json",
                       (const char *)polku_openapi_json,
                       polku_openapi_json_len);
}
