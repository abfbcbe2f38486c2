/* main.c — polku-broker: command line, config, the loop. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "broker.h"
#include "reload_client.h"
#include "ha_link.h"
#include "polku/daemon.h"
#include "polku/error.h"
#include "polku/log.h"
#include "polku/notify.h"

#define USAGE                                                                  \
    "polku-broker --config FILE [--reload]\nRoutes referrals between polku "   \
    "agents (see README).\n--reload: the broker running with FILE reads it "   \
    "again (as SIGHUP does) and this prints how it went: exit 0 reloaded, 2 "  \
    "the file refused (FILE:LINE), 1 the broker not reached."

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const char *const flags[] = {"--reload", NULL};
    unsigned set = 0;
    int arc =
        polku_daemon_args_flags(argc, argv, USAGE, flags, &config_path, &set);
    if (arc)
        return arc == 1 ? 0 : 2;
    if (sodium_init() < 0) {
        fprintf(stderr, "polku-broker: libsodium failed to initialise\n");
        return 1;
    }
    broker_config cfg;
    polku_cfgerr err = {{0}};
    int rc = broker_config_load(config_path, &cfg, &err);
    if (rc) {
        fprintf(stderr, "polku-broker: %s%s\n",
                set & 1u ? "reload refused (the broker was not asked; the "
                           "running directory is kept): "
                         : "",
                err.msg[0] ? err.msg : polku_strerror(rc));
        broker_config_fini(&cfg);
        return 2;
    }
    if (set & 1u) { /* --reload: the file checked here first, then asked */
        rc = reload_client_run(&cfg);
        sodium_memzero(&cfg.key, sizeof cfg.key);
        broker_config_fini(&cfg);
        return rc;
    }
    polku_log_init("broker", cfg.log_level);
    polku_log_set_format(cfg.log_format, "polku-broker", NULL);
    polku_raise_nofile_limit();
    uv_loop_t loop;
    uv_loop_init(&loop);
    broker b;
    rc = broker_init(&b, &loop, &cfg, config_path);
    if (rc == POLKU_OK) {
        char status[256];
        snprintf(status, sizeof status, "listening on %s, HTTP on %s",
                 cfg.listen, cfg.http);
        polku_notify_ready(status);
        uv_run(&loop, UV_RUN_DEFAULT);
            polku_notify_stopping();
    }
    bool failed = rc == POLKU_OK && pair_failed(&b);
    broker_fini(&b);
    polku_loop_close(&loop);
    broker_config_fini(&cfg);
    if (rc) {
        log_error("start failed: %s", polku_strerror(rc));
        return rc == POLKU_ECONFIG ? 2 : 1;
    }
    if (failed) { /* ha_link.h: the supervisor starts it again, passive */
        log_error("stopped: the pair's state machine failed (see above)");
        return 1;
    }
    log_info("stopped");
    return 0;
}
