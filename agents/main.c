/* main.c — polku-agent: command line, config, the loop. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "agent.h"
#include "store_check.h"
#include "polku/daemon.h"
#include "polku/error.h"
#include "polku/log.h"

#define USAGE                                                                  \
    "polku-agent [--check] --config FILE\nOne organisation's polku agent: "    \
    "its store, its API and its link to the broker (see README).\n"            \
    "--check: check the store (every page of every database), print a "        \
    "summary and exit 0 if it is sound, 1 if it is damaged."

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    unsigned opts = 0;
    int arc = polku_daemon_args_flags(argc, argv, USAGE,
                                      (const char *const[]){"--check", NULL},
                                      &config_path, &opts);
    if (arc)
        return arc == 1 ? 0 : 2;
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
    if (opts & 1) { /* --check */
        polku_log_init("agent --check", cfg.log_level);
        rc = store_check_dir(cfg.store, stdout);
        agent_config_fini(&cfg);
        return rc;
    }
    char component[64];
    snprintf(component, sizeof component, "agent %s", cfg.org);
    polku_log_init(component, cfg.log_level);
    polku_raise_nofile_limit();
    uv_loop_t loop;
    uv_loop_init(&loop);
    agent a;
    rc = agent_init(&a, &loop, &cfg);
    if (rc == POLKU_OK) {
        log_info("serving the API on %s, broker %s", cfg.http, cfg.broker);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    agent_fini(&a);
    polku_loop_close(&loop);
    agent_config_fini(&cfg);
    if (rc == POLKU_ECONFIG)
        return 2; /* logged with the file and line */
    if (rc) {
        log_error("start failed: %s", polku_strerror(rc));
        return 1;
    }
    log_info("stopped");
    return 0;
}
