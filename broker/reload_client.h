/* reload_client.h — `polku-broker --reload`: asks the running broker to
 * read its config again and says how it went.
 *
 * Why it exists: SIGHUP (`kill -HUP`, systemd's old ExecReload) always
 * "succeeds" — whether the broker took the file or refused it is only in
 * its log. --reload makes the same reload through the broker's HTTP
 * (POST /api/v1/reload, with the bearer token when http_token_file is
 * in use) and prints what the broker did, or the FILE:LINE error it
 * refused, with an exit code an operator or `systemctl reload` sees. */
#ifndef POLKU_BROKER_RELOAD_CLIENT_H
#define POLKU_BROKER_RELOAD_CLIENT_H

#include "broker_config.h"

/* Asks the broker cfg describes (its http, http_token_file) to reload.
 * Prints the outcome; returns the exit code: 0 reloaded, 2 the broker
 * refused the file (the error printed), 1 the broker could not be
 * reached or answered something else. */
int reload_client_run(const broker_config *cfg);

#endif
