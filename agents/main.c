/* main.c — polku-agent: command line, config, the loop. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "agent.h"
#include "backup.h"
#include "store_check.h"
#include "polku/daemon.h"
#include "polku/error.h"
#include "polku/log.h"
#include "polku/notify.h"

#define USAGE                                                                  \
    "polku-agent [--check | --backup DIR | --restore DIR] [--region NAME] "    \
    "--config FILE\n"                                                          \
    "One organisation's polku agent: its store, its API and its link to the "  \
    "broker (see README).\n"                                                   \
    "--check: check the store (every page of every database), print a "        \
    "summary and exit 0 if it is sound, 1 if it is damaged.\n"                 \
    "--backup DIR: a consistent, compacted copy of the store into the new or " \
    "empty DIR, while the agent runs or not.\n"                                \
    "--restore DIR: put the copy in DIR back as the store (stop the agent "    \
    "first); it starts a new incarnation (docs/operations.md).\n"              \
    "--region NAME: with those, the store of the [region NAME] (default: "     \
    "the [agent] one); each region's store is backed up on its own."

/* --backup DIR, --restore DIR and --region NAME, taken out of argv (the rest is
 * polku_daemon_args_flags'). 0, or 2 after a usage message. */
static int take_dir_option(int *argc, char **argv, const char *name,
                           const char **out)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        if (i + 1 >= *argc || argv[i + 1][0] == '\0' || argv[i + 1][0] == '-') {
            fprintf(stderr, "polku-agent: %s needs a value\nusage: %s\n", name,
                    USAGE);
            return 2;
        }
        if (*out) {
            fprintf(stderr, "polku-agent: %s given twice\n", name);
            return 2;
        }
        *out = argv[i + 1];
        memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof *argv);
        *argc -= 2;
        i--;
    }
    return 0;
}

static int run_backup(const agent_config *cfg, const char *store_dir,
                      const char *dir)
{
    uint64_t last = 0;
    int rc = backup_make(store_dir, dir, &last);
    if (rc) {
        fprintf(stderr, "polku-agent: backup failed: %s (see the log)\n",
                polku_strerror(rc));
        return 1;
    }
    printf("backup of %s (organisation %s, last seq %llu) written to %s\n",
           store_dir, cfg->org, (unsigned long long)last, dir);
    return 0;
}

static int run_restore(const agent_config *cfg, const char *store_dir,
                       const char *dir)
{
    uint64_t last = 0, inc = 0;
    int rc = backup_restore(dir, store_dir, cfg->org, &last, &inc);
    if (rc) {
        fprintf(stderr,
                "polku-agent: restore failed: %s (see the log); the "
                "store was not changed unless the log says so\n",
                polku_strerror(rc));
        return 1;
    }
    printf("store %s restored from %s: last seq %llu, new incarnation "
           "%016llx. Start the agent: the broker tells it how far the other "
           "organisations had seen its log, and it continues after that.\n",
           store_dir, dir, (unsigned long long)last, (unsigned long long)inc);
    return 0;
}

/* The store --region names in cfg (cfg->store for the default region);
 * NULL after a message when there is no such region. */
static char *region_store(const agent_config *cfg, const char *region)
{
    if (!region || strcmp(region, agent_default_region(cfg)) == 0)
        return cfg->store;
    for (size_t i = 0; i < cfg->region_count; i++)
        if (strcmp(cfg->regions[i].name, region) == 0)
            return cfg->regions[i].store;
    fprintf(stderr,
            "polku-agent: --region %s: %s has no such region (the default is "
            "'%s'; others are its [region NAME] sections)\n",
            region, cfg->path, agent_default_region(cfg));
    return NULL;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *backup_dir = NULL, *restore_dir = NULL,
               *region = NULL;
    unsigned opts = 0;
    if (take_dir_option(&argc, argv, "--backup", &backup_dir) ||
        take_dir_option(&argc, argv, "--restore", &restore_dir) ||
        take_dir_option(&argc, argv, "--region", &region))
        return 2;
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
    polku_log_set_format(cfg.log_format, "polku-agent", cfg.org);
    if ((opts & 1) + !!backup_dir + !!restore_dir > 1) {
        fprintf(stderr, "polku-agent: --check, --backup and --restore go "
                        "one at a time\n");
        agent_config_fini(&cfg);
        return 2;
    }
    if (region && !(opts & 1) && !backup_dir && !restore_dir) {
        fprintf(stderr, "polku-agent: --region goes with --check, --backup "
                        "or --restore (a running agent serves every region)\n");
        agent_config_fini(&cfg);
        return 2;
    }
    char *store_dir = region_store(&cfg, region);
    if (!store_dir) {
        agent_config_fini(&cfg);
        return 2;
    }
    if (backup_dir || restore_dir) {
        polku_log_init(backup_dir ? "agent --backup" : "agent --restore",
                       cfg.log_level);
        rc = backup_dir ? run_backup(&cfg, store_dir, backup_dir)
                        : run_restore(&cfg, store_dir, restore_dir);
        agent_config_fini(&cfg);
        return rc;
    }
    if (opts & 1) { /* --check */
        polku_log_init("agent --check", cfg.log_level);
        rc = store_check_dir(store_dir, stdout);
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
        char status[256];
        snprintf(status, sizeof status, "API on %s, broker %s", cfg.http,
                 cfg.broker);
        polku_notify_ready(status);
        uv_run(&loop, UV_RUN_DEFAULT);
        polku_notify_stopping();
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
