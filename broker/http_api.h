/* http_api.h — the broker's HTTP endpoints: /healthz, /metrics, the
 * /api/v1 JSON, the dashboard and its /events feed (http_api.c). */
#ifndef POLKU_BROKER_HTTP_API_H
#define POLKU_BROKER_HTTP_API_H

#include "broker_state.h"

/* Serves HTTP on cfg->http from b's loop; a listen address that is not
 * loopback needs the bearer token of http_token_file. POLKU_OK or an
 * error (logged). */
int http_api_start(broker *b);

#endif
