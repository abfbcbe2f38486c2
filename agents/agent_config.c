/* agent_config.c — loading and validating an agent's INI file. */
#include "agent_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"

static const char *const agent_keys[] = {
    "org",         "broker",    "broker_public_key", "key_file",
    "store",       "http",      "http_token_file",   "pseudonym_secret_file",
    "log_level",   "heartbeat", "retry_min",         "retry_max",
    "ack_timeout", "window",    "map_size_mb",       "map_max_mb",
    "max_body",    NULL};

static int load_strings(const polku_ini *ini, agent_config *cfg,
                        polku_cfgerr *err)
{
    const char *s = NULL;
    int rc;
    if ((rc = polku_ini_str(ini, "agent", "org", NULL, &s, err)))
        return rc;
    if (!polku_org_id_valid(s))
        return polku_cfgerr_set(err, ini, polku_ini_find(ini, "agent", "org"),
                                "agent", "org",
                                "must match [a-z0-9][a-z0-9-]{1,31}");
    snprintf(cfg->org, sizeof cfg->org, "%s", s);
    if ((rc = polku_ini_str(ini, "agent", "broker", NULL, &s, err)))
        return rc;
    cfg->broker = strdup(s);
    if ((rc = polku_ini_str(ini, "agent", "broker_public_key", NULL, &s, err)))
        return rc;
    if (!polku_z85_key_valid(s))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "agent", "broker_public_key"),
            "agent", "broker_public_key", "expected a 40-character Z85 key");
    snprintf(cfg->broker_public_z85, sizeof cfg->broker_public_z85, "%s", s);
    if ((rc = polku_ini_str(ini, "agent", "store", NULL, &s, err)))
        return rc;
    cfg->store = strdup(s);
    if ((rc = polku_ini_str(ini, "agent", "http", "127.0.0.1:7001", &s, err)))
        return rc;
    char host[64];
    uint16_t port;
    if (polku_hostport_parse(s, host, sizeof host, &port))
        return polku_cfgerr_set(err, ini, polku_ini_find(ini, "agent", "http"),
                                "agent", "http", "expected HOST:PORT");
    cfg->http = strdup(s);
    if ((rc = polku_ini_str(ini, "agent", "key_file", NULL, &s, err)))
        return rc;
    if (polku_keyfile_read(s, &cfg->key, err))
        return POLKU_ECONFIG;
    if ((rc = polku_ini_str(ini, "agent", "http_token_file", NULL, &s, err)))
        return rc;
    if (polku_token_load(s, true, cfg->token, err))
        return POLKU_ECONFIG;
    s = NULL;
    polku_ini_str(ini, "agent", "pseudonym_secret_file", "", &s, err);
    if (s && *s) {
        if (polku_secret_read(s, cfg->pseudonym_secret, err))
            return POLKU_ECONFIG;
        cfg->has_pseudonym_secret = true;
    }
    polku_ini_str(ini, "agent", "log_level", "info", &s, err);
    if (polku_log_level_parse(s, &cfg->log_level))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "agent", "log_level"), "agent",
            "log_level", "expected debug, info, warn, error or off");
    return POLKU_OK;
}

static int load_numbers(const polku_ini *ini, agent_config *cfg,
                        polku_cfgerr *err)
{
    uint64_t mb = 0;
    int rc = polku_ini_duration(ini, "agent", "heartbeat", 1000,
                                &cfg->heartbeat_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "agent", "retry_min", 100,
                                &cfg->retry_min_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "agent", "retry_max", 30000,
                                &cfg->retry_max_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "agent", "ack_timeout", 5000,
                                &cfg->ack_timeout_ms, err);
    if (!rc)
        rc = polku_ini_uint(ini, "agent", "window", false, 1000, 1, 100000,
                            &cfg->window, err);
    if (!rc)
        rc = polku_ini_uint(ini, "agent", "map_size_mb", false, 64, 1, 1u << 20,
                            &mb, err);
    cfg->map_size = mb << 20;
    if (!rc)
        rc = polku_ini_uint(ini, "agent", "map_max_mb", false, 16384, 1,
                            1u << 22, &mb, err);
    cfg->map_max = mb << 20;
    if (!rc && cfg->map_max < cfg->map_size)
        cfg->map_max = cfg->map_size;
    if (!rc)
        rc = polku_ini_uint(ini, "agent", "max_body", false, 64 * 1024, 1024,
                            1u << 24, &cfg->max_body, err);
    return rc;
}

int agent_config_load(const char *path, agent_config *cfg, polku_cfgerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    polku_ini *ini = NULL;
    int rc = polku_ini_load(path, &ini, err);
    if (rc)
        return rc;
    rc = polku_ini_check_keys(ini, "agent", agent_keys, err);
    if (!rc)
        rc = load_strings(ini, cfg, err);
    if (!rc)
        rc = load_numbers(ini, cfg, err);
    for (size_t i = 0; !rc && i < polku_ini_section_count(ini); i++) {
        const char *section = polku_ini_section_at(ini, i);
        if (strcmp(section, "agent") && strncmp(section, "rule ", 5))
            rc = polku_cfgerr_set(err, ini, NULL, section, "",
                                  "unknown section (expected [agent] or "
                                  "[rule NAME])");
    }
    polku_ini_free(&ini);
    return rc;
}

void agent_config_fini(agent_config *cfg)
{
    free(cfg->broker);
    free(cfg->store);
    free(cfg->http);
    memset(cfg, 0, sizeof *cfg);
}
