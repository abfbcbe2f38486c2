/* main.c — polku-agent: command line, config, the loop. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "agent.h"
#include "polku/error.h"
#include "polku/log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: polku-agent --config FILE\n"
                 "One organisation's polku agent: its store, its API and its "
                 "link to the broker (see README).\n");
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "polku-agent: libsodium failed to initialise\n");
        return 1;
    }
    agent_config cfg;
    polku_cfgerr err = {{0}};
    int rc = agent_config_load(config_path, &cfg, &err);
    if (rc) {
        fprintf(stderr, "polku-agent: %s\n",
                err.msg[0] ? err.msg : polku_strerror(rc));
        agent_config_fini(&cfg);
        return 2;
    }
    char component[64];
    snprintf(component, sizeof component, "agent %s", cfg.org);
    polku_log_init(component, cfg.log_level);
    uv_loop_t loop;
    uv_loop_init(&loop);
    agent a;
    rc = agent_init(&a, &loop, &cfg);
    if (rc == POLKU_OK) {
        log_info("serving the API on %s, broker %s", cfg.http, cfg.broker);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    agent_fini(&a);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    agent_config_fini(&cfg);
    if (rc) {
        log_error("start failed: %s", polku_strerror(rc));
        return 1;
    }
    log_info("stopped");
    return 0;
}
