/* broker_config.h — the broker's INI configuration (DESIGN §10).
 *
 * Loaded once at start; every error names the file, line and key so an
 * operator can fix it (the program exits 2). The [org NAME] sections are
 * the organisation directory: who may connect (public key), what they are
 * called and which services they offer. */
#ifndef POLKU_BROKER_CONFIG_H
#define POLKU_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku/config.h"
#include "polku/keys.h"
#include "polku/log.h"

#define BROKER_MAX_SERVICES 16

typedef struct broker_org {
    char id[33];
    char *name;
    char public_z85[POLKU_Z85_KEY];
    uint8_t public_key[32];
    char *services[BROKER_MAX_SERVICES];
    size_t service_count;
    /* A key rotation: the old key, still let in and listed to agents (so
     * what was sealed to it is still opened) until previous_until_ms. */
    bool has_previous;
    char previous_z85[POLKU_Z85_KEY];
    uint8_t previous_key[32];
    uint64_t previous_until_ms; /* Unix ms */
    /* `overrides`: the break-glass bases it may use ("emergency",
     * "statutory"; static strings) */
    const char *overrides[2];
    size_t override_count;
    /* the org's Ed25519 chain signing key (`sign_key`, optional): heads it
     * signs are checked against it (heads.h) */
    bool has_sign_key;
    char sign_z85[POLKU_Z85_KEY];
    uint8_t sign_key[32];
} broker_org;

typedef struct broker_sla {
    uint64_t referral_receipt_ms;
    uint64_t referral_answer_ms;
    uint64_t rejection_followup_ms;
    uint64_t handover_answer_ms;
    uint64_t path_coordinator_ms; /* open referrals, nobody coordinating */
} broker_sla;

typedef struct broker_config {
    char *listen; /* tcp://127.0.0.1:5570 */
    char *feed;   /* optional PUB endpoint */
    char *http;   /* 127.0.0.1:8570 */
    char *http_token_file;
    char *debug_dump_file; /* tests only: append every frame received */
    polku_keypair key;
    uint8_t display_secret[32]; /* display_secret_file (display.h) */
    polku_log_level log_level;
    polku_log_format log_format; /* text or json */
    uint64_t heartbeat_ms;
    uint64_t max_frame;
    broker_sla sla;
    broker_org *orgs;
    size_t org_count;
    int ha_role;   /* ha_role_t (ha.h): 0 alone, 1 primary, 2 backup */
    char *ha_bind; /* the pair's heartbeat: this end (PUB) */
    char *ha_peer; /* the other broker's ha_bind (SUB) */
} broker_config;

/* Loads and validates path into cfg. POLKU_OK, or POLKU_ECONFIG /
 * POLKU_ENOTFOUND with err set. cfg is zeroed first; free with
 * broker_config_fini even on failure. */
/* The keys the loader accepts in a section: "broker", "sla", or "org" for
 * every [org ID]; NULL-terminated, static; NULL for another section. (A
 * test compares them with the keys config/broker.ini documents.) */
const char *const *broker_config_known_keys(const char *section);

int broker_config_load(const char *path, broker_config *cfg, polku_cfgerr *err);
void broker_config_fini(broker_config *cfg);

/* The org with this id or public key (32 bytes), or NULL. */
const broker_org *broker_config_org(const broker_config *cfg, const char *id);

/* True if the directory entry of org permits break-glass on basis. */
bool broker_org_may_override(const broker_config *cfg, const char *org,
                             const char *basis);
const broker_org *broker_config_org_by_key(const broker_config *cfg,
                                           const uint8_t key[32]);

/* The org a connection offering key belongs to: by its public_key, or by
 * its previous_public_key while now_ms is before previous_key_until
 * (*previous true then). NULL for any other key. */
const broker_org *broker_config_org_for_login(const broker_config *cfg,
                                              const uint8_t key[32],
                                              uint64_t now_ms, bool *previous);

#endif
