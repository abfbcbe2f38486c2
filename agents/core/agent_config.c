/* agent_config.c — loading and validating an agent's INI file. */
#include "agent_config.h"
#include "broker_list.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"

static const char *const agent_keys[] = {"org",
                                         "broker",
                                         "broker_public_key",
                                         "key_file",
                                         "previous_key_file",
                                         "store",
                                         "http",
                                         "http_token_file",
                                         "pseudonym_secret_file",
                                         "log_level",
                                         "log_format",
                                         "heartbeat",
                                         "retry_min",
                                         "retry_max",
                                         "ack_timeout",
                                         "window",
                                         "map_size_mb",
                                         "map_max_mb",
                                         "max_body",
                                         "consent_max_years",
                                         "region",
                                         NULL};

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
    broker_list addrs;
    char why[160];
    if (broker_list_parse(s, &addrs, why, sizeof why))
        return polku_cfgerr_set(err, ini,
                                polku_ini_find(ini, "agent", "broker"), "agent",
                                "broker", "%s", why);
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
    s = NULL;
    polku_ini_str(ini, "agent", "previous_key_file", "", &s, err);
    if (s && *s) {
        if (polku_keyfile_read(s, &cfg->previous_key, err))
            return POLKU_ECONFIG;
        if (strcmp(cfg->previous_key.public_z85, cfg->key.public_z85) == 0)
            return polku_cfgerr_set(
                err, ini, polku_ini_find(ini, "agent", "previous_key_file"),
                "agent", "previous_key_file",
                "holds the same key as key_file: the previous key is the "
                "one being replaced");
        cfg->has_previous_key = true;
    }
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
    s = NULL;
    polku_ini_str(ini, "agent", "region", "", &s, err);
    if (s && *s && !polku_org_id_valid(s))
        return polku_cfgerr_set(err, ini,
                                polku_ini_find(ini, "agent", "region"), "agent",
                                "region", "must match [a-z0-9][a-z0-9-]{1,31}");
    snprintf(cfg->region, sizeof cfg->region, "%s", s ? s : "");
    polku_ini_str(ini, "agent", "log_level", "info", &s, err);
    if (polku_log_level_parse(s, &cfg->log_level))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "agent", "log_level"), "agent",
            "log_level", "expected debug, info, warn, error or off");
    polku_ini_str(ini, "agent", "log_format", "text", &s, err);
    if (polku_log_format_parse(s, &cfg->log_format))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "agent", "log_format"), "agent",
            "log_format", "expected text or json, got '%.40s'", s);
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
    if (!rc)
        rc = polku_ini_uint(ini, "agent", "consent_max_years", false, 5, 1, 100,
                            &cfg->consent_max_years, err);
    return rc;
}

/* ---- [rule NAME]: automatic handovers ---- */

static const char *const rule_keys[] = {"on", "service", "offer_to",
                                        "supporter", NULL};

#define SHOWN 64 /* characters of a bad value quoted back */

static bool is_rule_section(const char *section)
{
    return strcmp(section, "rule") == 0 || strncmp(section, "rule ", 5) == 0;
}

static bool rule_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* The value of section/key with its entry, or NULL when absent or empty
 * (an empty value counts as absent, as for the typed getters). */
static const char *value_of(const polku_ini *ini, const char *section,
                            const char *key, const polku_ini_entry **entry)
{
    *entry = polku_ini_find(ini, section, key);
    return *entry && (*entry)->value[0] ? (*entry)->value : NULL;
}

static int load_trigger(const polku_ini *ini, const char *section,
                        const polku_ini_entry *header, agent_rule *r,
                        polku_cfgerr *err)
{
    const polku_ini_entry *e;
    const char *on = value_of(ini, section, "on", &e);
    if (on == NULL)
        return polku_cfgerr_set(err, ini, header, section, "on",
                                "is required (referral_accepted or "
                                "service_ended)");
    if (strcmp(on, "referral_accepted") == 0)
        r->on = RULE_REFERRAL_ACCEPTED;
    else if (strcmp(on, "service_ended") == 0)
        r->on = RULE_SERVICE_ENDED;
    else
        return polku_cfgerr_set(err, ini, e, section, "on",
                                "unknown trigger '%.*s' (expected "
                                "referral_accepted or service_ended)",
                                SHOWN, on);
    const char *service = value_of(ini, section, "service", &e);
    if (service != NULL && strlen(service) >= sizeof r->service)
        return polku_cfgerr_set(err, ini, e, section, "service",
                                "longer than %zu bytes", sizeof r->service - 1);
    snprintf(r->service, sizeof r->service, "%s", service ? service : "");
    return POLKU_OK;
}

static int load_offer_to(const polku_ini *ini, const char *section,
                         const polku_ini_entry *header, const char *own_org,
                         agent_rule *r, polku_cfgerr *err)
{
    const polku_ini_entry *e;
    const char *to = value_of(ini, section, "offer_to", &e);
    if (to == NULL)
        return r->on == RULE_SERVICE_ENDED
                   ? polku_cfgerr_set(err, ini, header, section, "offer_to",
                                      "is required with on = service_ended")
                   : POLKU_OK;
    if (r->on == RULE_REFERRAL_ACCEPTED)
        return polku_cfgerr_set(err, ini, e, section, "offer_to",
                                "not allowed with on = referral_accepted "
                                "(the referral's receiver is offered the "
                                "handover)");
    if (strcmp(to, "self") == 0 || strcmp(to, own_org) == 0)
        return polku_cfgerr_set(err, ini, e, section, "offer_to",
                                "'%s' is this organisation; a handover goes "
                                "to another",
                                to);
    if (strcmp(to, "none") == 0 || !polku_org_id_valid(to))
        return polku_cfgerr_set(err, ini, e, section, "offer_to",
                                "'%.*s' is not an organisation id (expected "
                                "[a-z0-9][a-z0-9-]{1,31})",
                                SHOWN, to);
    snprintf(r->offer_to, sizeof r->offer_to, "%s", to);
    r->offer_to_line = e->line;
    return POLKU_OK;
}

/* supporter: absent or "none" -> "", "self" or our own id -> "self". */
static int load_supporter(const polku_ini *ini, const char *section,
                          const char *own_org, agent_rule *r, polku_cfgerr *err)
{
    const polku_ini_entry *e;
    const char *who = value_of(ini, section, "supporter", &e);
    if (who == NULL || strcmp(who, "none") == 0)
        return POLKU_OK;
    if (strcmp(who, "self") != 0 && strcmp(who, own_org) != 0 &&
        !polku_org_id_valid(who))
        return polku_cfgerr_set(err, ini, e, section, "supporter",
                                "'%.*s' is not an organisation id (expected "
                                "self, none or [a-z0-9][a-z0-9-]{1,31})",
                                SHOWN, who);
    snprintf(r->supporter, sizeof r->supporter, "%s",
             strcmp(who, own_org) == 0 ? "self" : who);
    r->supporter_line = e->line;
    return POLKU_OK;
}

static int load_rule(const polku_ini *ini, const char *section,
                     const char *own_org, agent_rule *r, polku_cfgerr *err)
{
    /* Errors about the section as a whole point at its header. */
    polku_ini_entry header = {section, "", "",
                              polku_ini_section_line(ini, section)};
    const char *name = section[4] == ' ' ? section + 5 : "";
    if (!rule_name_valid(name))
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "a rule's name is 1 to 63 characters of "
                                "a-z, 0-9, '_' and '-'");
    snprintf(r->name, sizeof r->name, "%s", name);
    r->line = header.line;
    int rc = polku_ini_check_keys(ini, section, rule_keys, err);
    if (!rc)
        rc = load_trigger(ini, section, &header, r, err);
    if (!rc)
        rc = load_offer_to(ini, section, &header, own_org, r, err);
    if (!rc)
        rc = load_supporter(ini, section, own_org, r, err);
    return rc;
}

/* ---- [region NAME]: the other regions this organisation serves ---- */

static const char *const region_keys[] = {
    "broker", "broker_public_key", "pseudonym_secret_file", "store", NULL};

static bool is_region_section(const char *section)
{
    return strcmp(section, "region") == 0 ||
           strncmp(section, "region ", 7) == 0;
}

const char *agent_default_region(const agent_config *cfg)
{
    return cfg->region[0] ? cfg->region : "default";
}

/* The line of the second "[region NAME]" header for name in the file, 0
 * if it is there once (the INI reader merges repeated sections). */
static int repeated_header(const char *path, const char *section)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[512];
    int n = 0, seen = 0, again = 0;
    while (!again && fgets(line, sizeof line, f)) {
        n++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '[')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(section);
        if (strncmp(p, section, len) != 0)
            continue;
        p += len;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ']' && seen++)
            again = n;
    }
    fclose(f);
    return again;
}

static int load_region(const polku_ini *ini, const char *section,
                       const agent_config *cfg, agent_region_config *r,
                       polku_cfgerr *err)
{
    polku_ini_entry header = {section, "", "",
                              polku_ini_section_line(ini, section)};
    r->line = header.line;
    const char *name = section + (strlen(section) > 7 ? 7 : strlen(section));
    if (!polku_org_id_valid(name))
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "the region's name must match "
                                "[a-z0-9][a-z0-9-]{1,31}, as in "
                                "[region pohjois-savo]");
    snprintf(r->name, sizeof r->name, "%s", name);
    int again = repeated_header(polku_ini_path(ini), section);
    if (again) {
        header.line = again;
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "region '%s' is given twice (first at line "
                                "%d): one section per region",
                                name, r->line);
    }
    if (strcmp(name, agent_default_region(cfg)) == 0)
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "'%s' is the default region's name ([agent] "
                                "%s): name this region otherwise",
                                name,
                                cfg->region[0] ? "region" : "without region");
    int rc = polku_ini_check_keys(ini, section, region_keys, err);
    const polku_ini_entry *e;
    const char *s;
    if (rc)
        return rc;
    if ((s = value_of(ini, section, "broker", &e)) == NULL)
        return polku_cfgerr_set(err, ini, &header, section, "broker",
                                "is required: the region's broker address "
                                "(tcp://HOST:PORT, or a pair's two)");
    broker_list addrs;
    char why[160];
    if (broker_list_parse(s, &addrs, why, sizeof why))
        return polku_cfgerr_set(err, ini, e, section, "broker", "%s", why);
    if ((r->broker = strdup(s)) == NULL)
        return POLKU_ENOMEM;
    if ((s = value_of(ini, section, "broker_public_key", &e)) == NULL)
        return polku_cfgerr_set(err, ini, &header, section, "broker_public_key",
                                "is required: the region's broker's public "
                                "key (40-character Z85)");
    if (!polku_z85_key_valid(s))
        return polku_cfgerr_set(err, ini, e, section, "broker_public_key",
                                "expected a 40-character Z85 key");
    snprintf(r->broker_public_z85, sizeof r->broker_public_z85, "%s", s);
    if ((s = value_of(ini, section, "pseudonym_secret_file", &e)) == NULL)
        return polku_cfgerr_set(err, ini, &header, section,
                                "pseudonym_secret_file",
                                "is required: the region's own pseudonym "
                                "secret (polku secret --out FILE)");
    polku_cfgerr why_secret = {{0}};
    if (polku_secret_read(s, r->pseudonym_secret, &why_secret))
        return polku_cfgerr_set(err, ini, e, section, "pseudonym_secret_file",
                                "%s", why_secret.msg);
    if (cfg->has_pseudonym_secret &&
        memcmp(r->pseudonym_secret, cfg->pseudonym_secret,
               sizeof r->pseudonym_secret) == 0)
        return polku_cfgerr_set(err, ini, e, section, "pseudonym_secret_file",
                                "holds the same secret as [agent] "
                                "pseudonym_secret_file: each region has its "
                                "own, or client keys would cross regions");
    if ((s = value_of(ini, section, "store", &e)) != NULL) {
        r->store = strdup(s);
    } else {
        size_t n = strlen(cfg->store) + strlen(name) + 2;
        if ((r->store = malloc(n)) != NULL)
            snprintf(r->store, n, "%s-%s", cfg->store, name);
    }
    if (r->store == NULL)
        return POLKU_ENOMEM;
    if (strcmp(r->store, cfg->store) == 0)
        return polku_cfgerr_set(err, ini, e ? e : &header, section, "store",
                                "is [agent] store: each region has a store "
                                "of its own");
    return POLKU_OK;
}

static int load_regions(const polku_ini *ini, agent_config *cfg,
                        polku_cfgerr *err)
{
    size_t sections = polku_ini_section_count(ini), count = 0;
    for (size_t i = 0; i < sections; i++)
        count += is_region_section(polku_ini_section_at(ini, i));
    if (count == 0)
        return POLKU_OK;
    if (count > AGENT_MAX_REGIONS - 1) {
        polku_ini_entry header = {"region", "", "", 0};
        return polku_cfgerr_set(err, ini, &header, "region", "",
                                "%zu [region NAME] sections: at most %d "
                                "besides the default region",
                                count, AGENT_MAX_REGIONS - 1);
    }
    if ((cfg->regions = calloc(count, sizeof *cfg->regions)) == NULL)
        return POLKU_ENOMEM;
    for (size_t i = 0; i < sections; i++) {
        const char *section = polku_ini_section_at(ini, i);
        if (!is_region_section(section))
            continue;
        agent_region_config *r = &cfg->regions[cfg->region_count++];
        int rc = load_region(ini, section, cfg, r, err);
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < cfg->region_count; j++)
            if (strcmp(cfg->regions[j].store, r->store) == 0) {
                polku_ini_entry header = {section, "", "", r->line};
                return polku_cfgerr_set(
                    err, ini, &header, section, "store",
                    "'%s' is region %s's store too: each region has its own",
                    r->store, cfg->regions[j].name);
            }
    }
    return POLKU_OK;
}

/* Every section is [agent] or a rule; rules are kept in file order. */
static int load_rules(const polku_ini *ini, agent_config *cfg,
                      polku_cfgerr *err)
{
    size_t sections = polku_ini_section_count(ini), count = 0;
    for (size_t i = 0; i < sections; i++)
        count += is_rule_section(polku_ini_section_at(ini, i));
    if (count > 0 && (cfg->rules = calloc(count, sizeof *cfg->rules)) == NULL)
        return POLKU_ENOMEM;
    for (size_t i = 0; i < sections; i++) {
        const char *section = polku_ini_section_at(ini, i);
        if (strcmp(section, "agent") == 0 || is_region_section(section))
            continue;
        if (!is_rule_section(section)) {
            polku_ini_entry header = {section, "", "",
                                      polku_ini_section_line(ini, section)};
            return polku_cfgerr_set(err, ini, &header, section, "",
                                    "unknown section (expected [agent], "
                                    "[rule NAME] or [region NAME])");
        }
        int rc = load_rule(ini, section, cfg->org, &cfg->rules[cfg->rule_count],
                           err);
        if (rc)
            return rc;
        cfg->rule_count++;
    }
    return POLKU_OK;
}

const char *const *agent_config_known_keys(const char *section)
{
    if (strcmp(section, "agent") == 0)
        return agent_keys;
    if (strcmp(section, "rule") == 0)
        return rule_keys;
    if (strcmp(section, "region") == 0)
        return region_keys;
    return NULL;
}

int agent_config_load(const char *path, agent_config *cfg, polku_cfgerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    polku_ini *ini = NULL;
    int rc = polku_ini_load(path, &ini, err);
    if (rc)
        return rc;
    rc = polku_ini_check_keys(ini, "agent", agent_keys, err);
    if (!rc)
        rc = load_strings(ini, cfg, err);
    if (!rc)
        rc = load_numbers(ini, cfg, err);
    if (!rc)
        rc = load_rules(ini, cfg, err);
    if (!rc)
        rc = load_regions(ini, cfg, err);
    polku_ini_free(&ini);
    return rc;
}

void agent_config_fini(agent_config *cfg)
{
    free(cfg->broker);
    free(cfg->store);
    free(cfg->http);
    free(cfg->rules);
    for (size_t i = 0; i < cfg->region_count; i++) {
        free(cfg->regions[i].broker);
        free(cfg->regions[i].store);
    }
    free(cfg->regions);
    memset(cfg, 0, sizeof *cfg);
}

static void set_msg(polku_cfgerr *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A message cut short if it does not fit (a very long path). */
static void set_msg(polku_cfgerr *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* Formats like polku_cfgerr_set, from what the rule kept of the file. */
static int unknown_org(const agent_config *cfg, const agent_rule *r,
                       const char *key, int line, const char *org,
                       polku_cfgerr *err)
{
    if (err != NULL)
        set_msg(err,
                "%s:%d: [rule %s] %s: '%s' is not an organisation in the "
                "directory",
                cfg->path, line > 0 ? line : r->line, r->name, key, org);
    return POLKU_ECONFIG;
}

int agent_rules_check_orgs(const agent_config *cfg,
                           bool (*known)(void *arg, const char *org), void *arg,
                           polku_cfgerr *err)
{
    assert(cfg != NULL && known != NULL);
    for (size_t i = 0; i < cfg->rule_count; i++) {
        const agent_rule *r = &cfg->rules[i];
        if (r->offer_to[0] && !known(arg, r->offer_to))
            return unknown_org(cfg, r, "offer_to", r->offer_to_line,
                               r->offer_to, err);
        if (r->supporter[0] && strcmp(r->supporter, "self") != 0 &&
            !known(arg, r->supporter))
            return unknown_org(cfg, r, "supporter", r->supporter_line,
                               r->supporter, err);
    }
    return POLKU_OK;
}

static const agent_rule *first_rule(const agent_config *cfg, rule_trigger on,
                                    const char *service)
{
    for (size_t i = 0; i < cfg->rule_count; i++) {
        const agent_rule *r = &cfg->rules[i];
        if (r->on == on &&
            (r->service[0] == '\0' ||
             (service != NULL && strcmp(r->service, service) == 0)))
            return r;
    }
    return NULL;
}

const agent_rule *agent_rule_for_referral(const agent_config *cfg,
                                          const char *service)
{
    return first_rule(cfg, RULE_REFERRAL_ACCEPTED, service);
}

const agent_rule *agent_rule_for_service_end(const agent_config *cfg,
                                             const char *service)
{
    return first_rule(cfg, RULE_SERVICE_ENDED, service);
}

/* ---- reload (SIGHUP): the rules only ---- */

static bool str_differ(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* A region added, removed or changed: the links and stores are made at
 * startup only. */
static bool regions_differ(const agent_config *cur, const agent_config *next)
{
    if (cur->region_count != next->region_count)
        return true;
    for (size_t i = 0; i < cur->region_count; i++) {
        const agent_region_config *a = &cur->regions[i], *b = &next->regions[i];
        if (strcmp(a->name, b->name) != 0 || str_differ(a->broker, b->broker) ||
            strcmp(a->broker_public_z85, b->broker_public_z85) != 0 ||
            str_differ(a->store, b->store) ||
            memcmp(a->pseudonym_secret, b->pseudonym_secret,
                   sizeof a->pseudonym_secret) != 0)
            return true;
    }
    return false;
}

size_t agent_config_restart_keys(const agent_config *cur,
                                 const agent_config *next, const char **names,
                                 size_t max)
{
    struct {
        const char *key;
        bool changed;
    } keys[] = {
        {"org", str_differ(cur->org, next->org)},
        {"broker", str_differ(cur->broker, next->broker)},
        {"broker_public_key",
         str_differ(cur->broker_public_z85, next->broker_public_z85)},
        {"store", str_differ(cur->store, next->store)},
        {"http", str_differ(cur->http, next->http)},
        {"http_token_file", str_differ(cur->token, next->token)},
        {"pseudonym_secret_file",
         cur->has_pseudonym_secret != next->has_pseudonym_secret ||
             memcmp(cur->pseudonym_secret, next->pseudonym_secret,
                    sizeof cur->pseudonym_secret) != 0},
        {"log_level", cur->log_level != next->log_level},
        {"log_format", cur->log_format != next->log_format},
        {"heartbeat", cur->heartbeat_ms != next->heartbeat_ms},
        {"retry_min", cur->retry_min_ms != next->retry_min_ms},
        {"retry_max", cur->retry_max_ms != next->retry_max_ms},
        {"ack_timeout", cur->ack_timeout_ms != next->ack_timeout_ms},
        {"window", cur->window != next->window},
        {"map_size_mb", cur->map_size != next->map_size},
        {"map_max_mb", cur->map_max != next->map_max},
        {"max_body", cur->max_body != next->max_body},
        {"consent_max_years",
         cur->consent_max_years != next->consent_max_years},
        {"region", strcmp(cur->region, next->region) != 0},
        {"[region NAME]", regions_differ(cur, next)},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].changed && n < max)
            names[n++] = keys[i].key;
    return n;
}

void agent_config_take_rules(agent_config *cfg, agent_config *next)
{
    agent_rule *rules = cfg->rules;
    size_t count = cfg->rule_count;
    cfg->rules = next->rules;
    cfg->rule_count = next->rule_count;
    next->rules = rules;
    next->rule_count = count;
}

bool agent_config_take_keys(agent_config *cfg, const agent_config *next)
{
    bool changed =
        str_differ(cfg->key.public_z85, next->key.public_z85) ||
        cfg->has_previous_key != next->has_previous_key ||
        str_differ(cfg->previous_key.public_z85, next->previous_key.public_z85);
    cfg->key = next->key;
    cfg->previous_key = next->previous_key;
    cfg->has_previous_key = next->has_previous_key;
    return changed;
}
