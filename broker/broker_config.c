/* broker_config.c — loading and validating the broker's INI file. */
#include "broker_config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"

static const char *const broker_keys[] = {"listen",
                                          "key_file",
                                          "feed",
                                          "http",
                                          "http_token_file",
                                          "log_level",
                                          "heartbeat",
                                          "max_frame",
                                          "debug_dump_file",
                                          "log_format",
                                          "ha_role",
                                          "ha_bind",
                                          "ha_peer",
                                          "display_secret_file",
                                          NULL};
static const char *const sla_keys[] = {"referral_receipt",   "referral_answer",
                                       "rejection_followup", "handover_answer",
                                       "path_coordinator",   NULL};
static const char *const org_keys[] = {"name",
                                       "public_key",
                                       "services",
                                       "previous_public_key",
                                       "previous_key_until",
                                       "overrides",
                                       "sign_key",
                                       NULL};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The items of a comma-separated value, blanks around each trimmed and
 * empty ones skipped, handed to fn until it returns non-zero (returned).
 * POLKU_ENOMEM without memory for the copy. */
typedef struct listed {
    const polku_ini *ini;
    const polku_ini_entry *e;
    const char *section;
    broker_org *org;
    polku_cfgerr *err;
} listed;

static int each_listed(listed *l, int (*fn)(listed *l, char *item, size_t n))
{
    char *copy = strdup(l->e->value);
    if (!copy)
        return POLKU_ENOMEM;
    int rc = POLKU_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            tok[--n] = '\0';
        if (n > 0)
            rc = fn(l, tok, n);
    }
    free(copy);
    return rc;
}

static int add_service(listed *l, char *tok, size_t n)
{
    broker_org *org = l->org;
    if (n > 64 || org->service_count == BROKER_MAX_SERVICES)
        return polku_cfgerr_set(l->err, l->ini, l->e, l->section, "services",
                                "at most %d services of at most 64 "
                                "characters",
                                BROKER_MAX_SERVICES);
    if (!polku_token_valid(tok))
        return polku_cfgerr_set(l->err, l->ini, l->e, l->section, "services",
                                "'%s' is not a service name: expected "
                                "[A-Za-z0-9._:-], comma-separated",
                                tok);
    org->services[org->service_count++] = strdup(tok);
    return POLKU_OK;
}

static int load_services(const polku_ini *ini, const char *section,
                         broker_org *org, polku_cfgerr *err)
{
    listed l = {ini, polku_ini_find(ini, section, "services"), section, org,
                err};
    return l.e ? each_listed(&l, add_service) : POLKU_OK;
}

/* previous_public_key and previous_key_until: both or neither. */
static int load_previous_key(const polku_ini *ini, const char *section,
                             broker_config *cfg, broker_org *org,
                             polku_cfgerr *err)
{
    const polku_ini_entry *pk =
        polku_ini_find(ini, section, "previous_public_key");
    const polku_ini_entry *until =
        polku_ini_find(ini, section, "previous_key_until");
    if (!pk && !until)
        return POLKU_OK;
    if (!pk || !until)
        return polku_cfgerr_set(
            err, ini, pk ? pk : until, section,
            pk ? "previous_public_key" : "previous_key_until",
            "a key rotation needs both previous_public_key (the old key) "
            "and previous_key_until (when it stops being accepted)");
    if (!polku_z85_key_valid(pk->value))
        return polku_cfgerr_set(err, ini, pk, section, "previous_public_key",
                                "a 40-character Z85 public key is required");
    if (strcmp(pk->value, org->public_z85) == 0)
        return polku_cfgerr_set(err, ini, pk, section, "previous_public_key",
                                "the same as public_key: the previous key "
                                "is the one being replaced");
    char why[160] = "";
    if (polku_time_parse_why(until->value, &org->previous_until_ms, NULL, why,
                             sizeof why))
        return polku_cfgerr_set(err, ini, until, section, "previous_key_until",
                                "expected a time such as "
                                "2026-12-31T00:00:00Z: %s",
                                why);
    snprintf(org->previous_z85, sizeof org->previous_z85, "%s", pk->value);
    zmq_z85_decode(org->previous_key, org->previous_z85);
    org->has_previous = true;
    for (size_t i = 0; i < cfg->org_count; i++) {
        const broker_org *o = &cfg->orgs[i];
        if (o != org && (!memcmp(o->public_key, org->previous_key, 32) ||
                         (o->has_previous &&
                          !memcmp(o->previous_key, org->previous_key, 32))))
            return polku_cfgerr_set(err, ini, pk, section,
                                    "previous_public_key",
                                    "the same key is listed for another "
                                    "organisation");
    }
    return POLKU_OK;
}

/* `overrides = emergency, statutory`: the break-glass bases the
 * organisation may use (docs/trust.md). */
static int add_override(listed *l, char *tok, size_t n)
{
    static const char *const bases[] = {"emergency", "statutory"};
    (void)n;
    const char *basis = NULL;
    for (size_t i = 0; i < 2; i++)
        if (strcmp(tok, bases[i]) == 0)
            basis = bases[i];
    if (!basis)
        return polku_cfgerr_set(l->err, l->ini, l->e, l->section, "overrides",
                                "'%.64s' is not a basis: expected "
                                "emergency and/or statutory, "
                                "comma-separated",
                                tok);
    broker_org *org = l->org;
    bool seen = false;
    for (size_t i = 0; i < org->override_count; i++)
        seen |= org->overrides[i] == basis;
    if (!seen)
        org->overrides[org->override_count++] = basis;
    return POLKU_OK;
}

static int load_overrides(const polku_ini *ini, const char *section,
                          broker_org *org, polku_cfgerr *err)
{
    listed l = {ini, polku_ini_find(ini, section, "overrides"), section, org,
                err};
    return l.e ? each_listed(&l, add_override) : POLKU_OK;
}

bool broker_org_may_override(const broker_config *cfg, const char *org,
                             const char *basis)
{
    const broker_org *o = broker_config_org(cfg, org);
    for (size_t i = 0; o && basis && i < o->override_count; i++)
        if (strcmp(o->overrides[i], basis) == 0)
            return true;
    return false;
}

/* Errors about a section as a whole point at its header line. */
static polku_ini_entry section_header(const polku_ini *ini, const char *section)
{
    return (polku_ini_entry){section, "", "",
                             polku_ini_section_line(ini, section)};
}

static int load_org(const polku_ini *ini, const char *section,
                    broker_config *cfg, polku_cfgerr *err)
{
    const char *id = section + 4; /* after "org " */
    polku_ini_entry header = section_header(ini, section);
    const polku_ini_entry *pk = polku_ini_find(ini, section, "public_key");
    int rc = polku_ini_check_keys(ini, section, org_keys, err);
    if (rc)
        return rc;
    if (!polku_org_id_valid(id))
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "organisation id '%s' must match "
                                "[a-z0-9][a-z0-9-]{1,31}",
                                id);
    if (broker_config_org(cfg, id))
        return polku_cfgerr_set(err, ini, &header, section, "",
                                "organisation listed twice");
    if (!pk || !polku_z85_key_valid(pk->value))
        return polku_cfgerr_set(err, ini, pk ? pk : &header, section,
                                "public_key",
                                "a 40-character Z85 public key is required");
    broker_org *org = &cfg->orgs[cfg->org_count];
    memset(org, 0, sizeof *org);
    snprintf(org->id, sizeof org->id, "%s", id);
    snprintf(org->public_z85, sizeof org->public_z85, "%s", pk->value);
    zmq_z85_decode(org->public_key, org->public_z85);
    bool previous = false;
    if (broker_config_org_by_key(cfg, org->public_key) ||
        broker_config_org_for_login(cfg, org->public_key, 0, &previous))
        return polku_cfgerr_set(err, ini, pk, section, "public_key",
                                "the same key is listed for another "
                                "organisation");
    const polku_ini_entry *sk = polku_ini_find(ini, section, "sign_key");
    if (sk && *sk->value) {
        if (!polku_z85_key_valid(sk->value))
            return polku_cfgerr_set(err, ini, sk, section, "sign_key",
                                    "expected the 40-character Z85 chain "
                                    "signing key (`polku log key`)");
        snprintf(org->sign_z85, sizeof org->sign_z85, "%s", sk->value);
        zmq_z85_decode(org->sign_key, org->sign_z85);
        org->has_sign_key = true;
    }
    const char *name = NULL;
    polku_ini_str(ini, section, "name", id, &name, err);
    org->name = strdup(name);
    cfg->org_count++;
    rc = load_previous_key(ini, section, cfg, org, err);
    if (!rc)
        rc = load_services(ini, section, org, err);
    return rc ? rc : load_overrides(ini, section, org, err);
}

/* [broker] ha_role, ha_bind, ha_peer: one of a pair (ha.h), or alone. */
static int load_pair(const polku_ini *ini, broker_config *cfg,
                     polku_cfgerr *err)
{
    const char *s = NULL;
    polku_ini_str(ini, "broker", "ha_role", "", &s, err);
    const polku_ini_entry *role = polku_ini_find(ini, "broker", "ha_role");
    if (!s || !*s) {
        if (polku_ini_find(ini, "broker", "ha_bind") ||
            polku_ini_find(ini, "broker", "ha_peer"))
            return polku_cfgerr_set(
                err, ini,
                polku_ini_find(ini, "broker", "ha_bind")
                    ? polku_ini_find(ini, "broker", "ha_bind")
                    : polku_ini_find(ini, "broker", "ha_peer"),
                "broker", "ha_role",
                "ha_bind and ha_peer need ha_role = primary or backup");
        return POLKU_OK;
    }
    if (strcmp(s, "primary") == 0)
        cfg->ha_role = 1;
    else if (strcmp(s, "backup") == 0)
        cfg->ha_role = 2;
    else
        return polku_cfgerr_set(err, ini, role, "broker", "ha_role",
                                "expected primary or backup, got '%.40s'", s);
    static const char *const ends[] = {"ha_bind", "ha_peer"};
    char **into[] = {&cfg->ha_bind, &cfg->ha_peer};
    for (int i = 0; i < 2; i++) {
        const polku_ini_entry *e = polku_ini_find(ini, "broker", ends[i]);
        if (!e || (strncmp(e->value, "tcp://", 6) != 0 &&
                   strncmp(e->value, "ipc://", 6) != 0))
            return polku_cfgerr_set(
                err, ini, e ? e : role, "broker", ends[i],
                "a broker of a pair needs %s: a ZeroMQ endpoint such as "
                "tcp://10.0.0.1:5580 (%s)",
                ends[i],
                i == 0 ? "where this broker's pair heartbeat is bound"
                       : "the other broker's ha_bind");
        *into[i] = strdup(e->value);
    }
    if (strcmp(cfg->ha_bind, cfg->ha_peer) == 0)
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "broker", "ha_peer"), "broker",
            "ha_peer", "is the other broker's ha_bind, not this one's");
    return POLKU_OK;
}

/* The broker's own secret for display pseudonyms (display.h). Without
 * it the broker does not start: generating one here would silently give
 * every client new names on a host whose file was lost, and two brokers
 * of a pair different ones. */
static int load_display_secret(const polku_ini *ini, broker_config *cfg,
                               polku_cfgerr *err)
{
    const polku_ini_entry *e =
        polku_ini_find(ini, "broker", "display_secret_file");
    if (!e || !e->value[0]) {
        polku_ini_entry header = section_header(ini, "broker");
        return polku_cfgerr_set(
            err, ini, e ? e : &header, "broker", "display_secret_file",
            "required: the dashboard, feed, API and logs name clients by "
            "a keyed hash under a secret only the broker holds (make one "
            "with 'polku secret --out /etc/polku/display.secret', never a "
            "copy of the region's pseudonym secret; a broker pair shares "
            "one; see docs/privacy.md)");
    }
    polku_cfgerr why = {{0}};
    if (polku_secret_read(e->value, cfg->display_secret, &why))
        return polku_cfgerr_set(err, ini, e, "broker", "display_secret_file",
                                "%s (the display secret: make one with "
                                "'polku secret --out %s'; if it was lost, "
                                "every client gets a new display "
                                "pseudonym)",
                                why.msg, e->value);
    return POLKU_OK;
}

static int load_broker_section(const polku_ini *ini, broker_config *cfg,
                               polku_cfgerr *err)
{
    const char *s = NULL;
    int rc = polku_ini_check_keys(ini, "broker", broker_keys, err);
    if (rc)
        return rc;
    if ((rc = polku_ini_str(ini, "broker", "listen", NULL, &s, err)))
        return rc;
    cfg->listen = strdup(s);
    if ((rc = polku_ini_str(ini, "broker", "http", "127.0.0.1:8570", &s, err)))
        return rc;
    cfg->http = strdup(s);
    char host[64];
    uint16_t port;
    if (polku_hostport_parse(cfg->http, host, sizeof host, &port))
        return polku_cfgerr_set(err, ini, polku_ini_find(ini, "broker", "http"),
                                "broker", "http", "expected HOST:PORT");
    s = NULL;
    polku_ini_str(ini, "broker", "feed", "", &s, err);
    cfg->feed = dup_or_null(s && *s ? s : NULL);
    polku_ini_str(ini, "broker", "http_token_file", "", &s, err);
    cfg->http_token_file = dup_or_null(s && *s ? s : NULL);
    polku_ini_str(ini, "broker", "debug_dump_file", "", &s, err);
    cfg->debug_dump_file = dup_or_null(s && *s ? s : NULL);
    if ((rc = polku_ini_str(ini, "broker", "key_file", NULL, &s, err)))
        return rc;
    if ((rc = polku_keyfile_read(s, &cfg->key, err)))
        return POLKU_ECONFIG;
    if ((rc = load_display_secret(ini, cfg, err)))
        return rc;
    polku_ini_str(ini, "broker", "log_level", "info", &s, err);
    if (polku_log_level_parse(s, &cfg->log_level))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "broker", "log_level"), "broker",
            "log_level", "expected debug, info, warn, error or off");
    polku_ini_str(ini, "broker", "log_format", "text", &s, err);
    if (polku_log_format_parse(s, &cfg->log_format))
        return polku_cfgerr_set(
            err, ini, polku_ini_find(ini, "broker", "log_format"), "broker",
            "log_format", "expected text or json, got '%.40s'", s);
    if ((rc = polku_ini_duration(ini, "broker", "heartbeat", 1000,
                                 &cfg->heartbeat_ms, err)))
        return rc;
    if ((rc = load_pair(ini, cfg, err)))
        return rc;
    return polku_ini_uint(ini, "broker", "max_frame", false,
                          POLKU_MAX_FRAME_DEFAULT, 1024, 64u * 1024 * 1024,
                          &cfg->max_frame, err);
}

static int load_sla(const polku_ini *ini, broker_config *cfg, polku_cfgerr *err)
{
    int rc = polku_ini_check_keys(ini, "sla", sla_keys, err);
    if (!rc)
        rc = polku_ini_duration(ini, "sla", "referral_receipt", 3600000ull,
                                &cfg->sla.referral_receipt_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "sla", "referral_answer", 3 * 86400000ull,
                                &cfg->sla.referral_answer_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "sla", "rejection_followup",
                                2 * 86400000ull,
                                &cfg->sla.rejection_followup_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "sla", "handover_answer", 5 * 86400000ull,
                                &cfg->sla.handover_answer_ms, err);
    if (!rc)
        rc = polku_ini_duration(ini, "sla", "path_coordinator", 86400000ull,
                                &cfg->sla.path_coordinator_ms, err);
    return rc;
}

const char *const *broker_config_known_keys(const char *section)
{
    if (strcmp(section, "broker") == 0)
        return broker_keys;
    if (strcmp(section, "sla") == 0)
        return sla_keys;
    if (strcmp(section, "org") == 0)
        return org_keys;
    return NULL;
}

int broker_config_load(const char *path, broker_config *cfg, polku_cfgerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    polku_ini *ini = NULL;
    int rc = polku_ini_load(path, &ini, err);
    if (rc)
        return rc;
    size_t nsec = polku_ini_section_count(ini);
    cfg->orgs = calloc(nsec ? nsec : 1, sizeof *cfg->orgs);
    if (!cfg->orgs) {
        polku_ini_free(&ini);
        return POLKU_ENOMEM;
    }
    rc = load_broker_section(ini, cfg, err);
    if (!rc)
        rc = load_sla(ini, cfg, err);
    for (size_t i = 0; !rc && i < nsec; i++) {
        const char *section = polku_ini_section_at(ini, i);
        if (strncmp(section, "org ", 4) == 0)
            rc = load_org(ini, section, cfg, err);
        else if (strcmp(section, "broker") && strcmp(section, "sla")) {
            polku_ini_entry header = section_header(ini, section);
            rc = polku_cfgerr_set(err, ini, &header, section, "",
                                  "unknown section (expected [broker], "
                                  "[sla] or [org NAME])");
        }
    }
    polku_ini_free(&ini);
    return rc;
}

void broker_config_fini(broker_config *cfg)
{
    sodium_memzero(cfg->display_secret, sizeof cfg->display_secret);
    free(cfg->listen);
    free(cfg->feed);
    free(cfg->http);
    free(cfg->http_token_file);
    free(cfg->debug_dump_file);
    free(cfg->ha_bind);
    free(cfg->ha_peer);
    for (size_t i = 0; i < cfg->org_count; i++) {
        free(cfg->orgs[i].name);
        for (size_t j = 0; j < cfg->orgs[i].service_count; j++)
            free(cfg->orgs[i].services[j]);
    }
    free(cfg->orgs);
    memset(cfg, 0, sizeof *cfg);
}

/* Asked several times for every event the gate admits: most ids differ
 * from the one asked for in their length or their last character (org-07,
 * org-08; hus, kela), compared before the whole name (a strcmp per id
 * showed as ~4 % of a rebuild). */
const broker_org *broker_config_org(const broker_config *cfg, const char *id)
{
    if (!id || !*id)
        return NULL;
    size_t len = strnlen(id, sizeof cfg->orgs[0].id);
    if (len == sizeof cfg->orgs[0].id)
        return NULL; /* longer than any id */
    for (size_t i = 0; i < cfg->org_count; i++) {
        const char *o = cfg->orgs[i].id;
        if (o[len] == '\0' && o[len - 1] == id[len - 1] &&
            memcmp(o, id, len) == 0)
            return &cfg->orgs[i];
    }
    return NULL;
}

const broker_org *broker_config_org_by_key(const broker_config *cfg,
                                           const uint8_t key[32])
{
    for (size_t i = 0; i < cfg->org_count; i++)
        if (memcmp(cfg->orgs[i].public_key, key, 32) == 0)
            return &cfg->orgs[i];
    return NULL;
}

const broker_org *broker_config_org_for_login(const broker_config *cfg,
                                              const uint8_t key[32],
                                              uint64_t now_ms, bool *previous)
{
    *previous = false;
    const broker_org *o = broker_config_org_by_key(cfg, key);
    if (o)
        return o;
    for (size_t i = 0; i < cfg->org_count; i++) {
        o = &cfg->orgs[i];
        if (o->has_previous && now_ms < o->previous_until_ms &&
            memcmp(o->previous_key, key, 32) == 0) {
            *previous = true;
            return o;
        }
    }
    return NULL;
}
