/* daemon.h — what polku-broker and polku-agent share as programs:
 * the command line (`--config FILE`, `--help`, `--version`, a program's own
 * options such as the agent's `--check`), the descriptor limit and closing the
 * loop. */
#ifndef POLKU_DAEMON_H
#define POLKU_DAEMON_H

#include <uv.h>

/* Parses argv. Returns 0 with *config set; 1 after printing usage on
 * --help or the version on --version (exit 0); 2 after printing usage to stderr
 * on anything else (exit 2, DESIGN §10). usage is the text after "usage: ". */
int polku_daemon_args(int argc, char **argv, const char *usage,
                      const char **config);

/* Raises the soft RLIMIT_NOFILE to the hard limit, so that a flood of
 * connections (each one a descriptor until it is authenticated or timed
 * out) runs into the limits the daemons set themselves rather than into
 * the 1 024 a shell usually gives. Logs the old and new limit at info.
 * Returns POLKU_OK, or POLKU_EIO if the limit cannot be read or raised
 * (logged; the daemon goes on with what it has). */
int polku_raise_nofile_limit(void);

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
