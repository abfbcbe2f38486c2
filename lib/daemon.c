/* daemon.c — command line and loop teardown shared by the two daemons. */
#include "polku/daemon.h"

#include <stdio.h>
#include <string.h>

int polku_daemon_args(int argc, char **argv, const char *usage,
                      const char **config)
{
    *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s\n", usage);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            *config = argv[++i];
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
