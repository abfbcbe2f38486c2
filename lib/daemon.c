/* daemon.c — command line, descriptor limit and loop teardown shared by
 * the two daemons. */
#include "polku/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "polku/error.h"
#include "polku/log.h"
#include "polku/version.h"

static int flag_index(const char *const flags[], const char *arg)
{
    for (int i = 0; flags && flags[i]; i++)
        if (strcmp(flags[i], arg) == 0)
            return i;
    return -1;
}

int polku_daemon_args_flags(int argc, char **argv, const char *usage,
                            const char *const flags[], const char **config,
                            unsigned *set)
{
    *config = NULL;
    if (set)
        *set = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s\n", usage);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            const char *slash = strrchr(argv[0], '/');
            polku_version_print(stdout, slash ? slash + 1 : argv[0]);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            *config = argv[++i];
            continue;
        }
        int f = set ? flag_index(flags, argv[i]) : -1;
        if (f >= 0 && f < 32) {
            *set |= 1u << f;
            continue;
        }
        fprintf(stderr, "%s: unknown argument '%s'\nusage: %s\n", argv[0],
                argv[i], usage);
        return 2;
    }
    if (!*config) {
        fprintf(stderr, "%s: --config FILE is required\nusage: %s\n", argv[0],
                usage);
        return 2;
    }
    return 0;
}

int polku_raise_nofile_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        log_warn("cannot read the descriptor limit: %s", strerror(errno));
        return POLKU_EIO;
    }
    unsigned long long old = lim.rlim_cur;
    if (lim.rlim_cur == lim.rlim_max) {
        log_info("descriptor limit %llu (already the hard limit)", old);
        return POLKU_OK;
    }
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
        log_warn("cannot raise the descriptor limit from %llu to %llu: %s",
                 old, (unsigned long long)lim.rlim_max, strerror(errno));
        return POLKU_EIO;
    }
    log_info("descriptor limit raised from %llu to %llu", old,
             (unsigned long long)lim.rlim_max);
    return POLKU_OK;
}

int polku_daemon_args(int argc, char **argv, const char *usage,
                      const char **config)
{
    return polku_daemon_args_flags(argc, argv, usage, NULL, config, NULL);
}

static void close_one(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void polku_loop_close(uv_loop_t *loop)
{
    uv_walk(loop, close_one, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}
