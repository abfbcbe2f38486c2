/* broker.h — starting and stopping the broker.
 *
 * broker.c is wiring only: it creates the state (broker_state.h), opens
 * the sockets, starts the ZAP handler (zap.h), the router (router.h), the
 * feed and the HTTP API (http_api.h), and runs the timers and signals.
 * It calls down into those files; none of them calls up into it. main.c
 * is its only caller. */
#ifndef POLKU_BROKER_H
#define POLKU_BROKER_H

#include <uv.h>

#include "broker_config.h"
#include "broker_state.h"

/* Sets up sockets, ZAP, HTTP, timers and signals on loop: SIGTERM and
 * SIGINT stop it, SIGHUP reads config_path again (reload.h; the string
 * must outlive b; NULL: SIGHUP is ignored). POLKU_OK or an error (logged).
 * On error, broker_fini still must be called. */
int broker_init(broker *b, uv_loop_t *loop, broker_config *cfg,
                const char *config_path);

/* Closes everything (handles freed when the loop runs on). */
void broker_fini(broker *b);

#endif
