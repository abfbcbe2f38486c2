/* daemon.h — what polku-broker and polku-agent share as programs:
 * the command line (`--config FILE`, `--help`) and closing the loop. */
#ifndef POLKU_DAEMON_H
#define POLKU_DAEMON_H

#include <uv.h>

/* Parses argv. Returns 0 with *config set; 1 after printing usage on
 * --help (exit 0); 2 after printing usage to stderr on anything else
 * (exit 2, DESIGN §10). usage is the text after "usage: ". */
int polku_daemon_args(int argc, char **argv, const char *usage,
                      const char **config);

/* Closes every handle still open on loop, runs it until all close
 * callbacks have run, and closes the loop. */
void polku_loop_close(uv_loop_t *loop);

#endif
