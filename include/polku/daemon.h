/* daemon.h — what polku-broker and polku-agent share as programs:
 * the command line (`--config FILE`, `--help`, a program's own options
 * such as the agent's `--check`) and closing the loop. */
#ifndef POLKU_DAEMON_H
#define POLKU_DAEMON_H

#include <uv.h>

/* Parses argv. Returns 0 with *config set; 1 after printing usage on
 * --help (exit 0); 2 after printing usage to stderr on anything else
 * (exit 2, DESIGN §10). usage is the text after "usage: ". */
int polku_daemon_args(int argc, char **argv, const char *usage,
                      const char **config);

/* polku_daemon_args that also accepts the options listed in flags
 * (NULL-terminated, at most 32, e.g. {"--check", NULL}): bit i of *set
 * says whether flags[i] was given. */
int polku_daemon_args_flags(int argc, char **argv, const char *usage,
                            const char *const flags[], const char **config,
                            unsigned *set);

/* Closes every handle still open on loop, runs it until all close
 * callbacks have run, and closes the loop. */
void polku_loop_close(uv_loop_t *loop);

#endif
