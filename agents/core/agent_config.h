/* agent_config.h — an agent's INI configuration (DESIGN §10).
 * Errors name the file, line and key; the program exits 2 on them.
 *
 * Besides [agent], the file may hold [rule NAME] sections: automatic
 * handovers (notes/coord_spec.md, "Agent config: automatic handovers").
 *   on        = referral_accepted | service_ended      (required)
 *   service   = SERVICE        only this service; absent = any
 *   offer_to  = ORG            required for service_ended, not allowed for
 *                              referral_accepted (the referral's receiver
 *                              gets the offer); never this organisation
 *   supporter = self | ORG | none                      (default none)
 * agent_config_load checks their syntax; whether the orgs exist is known
 * only once the agent has the broker's directory: agent_rules_check_orgs.
 *
 * And [region NAME] sections: an organisation that serves several welfare
 * areas (Kela) keeps one link, one directory, one store and one pseudonym
 * secret per region. [agent]'s broker, broker_public_key, store and
 * pseudonym_secret_file are the default region's ([agent] region names it,
 * "default" when absent); each [region NAME] gives the same for another:
 *   broker                 = as [agent] broker (a pair's addresses too)
 *   broker_public_key      = that region's broker's key        (required)
 *   pseudonym_secret_file  = that region's secret              (required)
 *   store                  = its LMDB directory (default: [agent] store
 *                            followed by "-NAME")
 * NAME matches [a-z0-9][a-z0-9-]{1,31} and is given once. */
#ifndef POLKU_AGENT_CONFIG_H
#define POLKU_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "polku/config.h"
#include "polku/keys.h"
#include "polku/log.h"

typedef enum rule_trigger {
    RULE_REFERRAL_ACCEPTED = 1, /* a referral we sent with transfer accepted */
    RULE_SERVICE_ENDED          /* our service for a client we coordinate */
} rule_trigger;

typedef struct agent_rule {
    char name[64]; /* [a-z0-9_-]{1,63} */
    rule_trigger on;
    char service[129];  /* "" any */
    char offer_to[33];  /* "" none (always "" for referral_accepted) */
    char supporter[33]; /* "" none, "self" = this org, else an org id */
    int line;           /* line of the [rule NAME] header */
    int offer_to_line;  /* line of offer_to, 0 if absent */
    int supporter_line; /* line of supporter, 0 if absent */
} agent_rule;

#define AGENT_CONFIG_PATH_MAX 4096
#define AGENT_MAX_REGIONS 64 /* the default region and 63 [region NAME] */

/* A [region NAME] section: what differs from the default region. */
typedef struct agent_region_config {
    char name[33];
    char *broker; /* as agent_config.broker; owned */
    char broker_public_z85[POLKU_Z85_KEY];
    uint8_t pseudonym_secret[32];
    char *store; /* owned */
    int line;    /* of the [region NAME] header */
} agent_region_config;

typedef struct agent_config {
    char path[AGENT_CONFIG_PATH_MAX]; /* the file loaded, for messages */
    char org[33];
    char *broker; /* tcp://127.0.0.1:5570, or a pair's addresses (broker_list.h)
                   */
    char broker_public_z85[POLKU_Z85_KEY];
    polku_keypair key;
    /* During a key rotation (previous_key_file): the old key pair, kept
     * to open what was sealed to it and to connect with it while the
     * broker still lists it for this organisation. */
    polku_keypair previous_key;
    bool has_previous_key;
    char *store; /* LMDB directory */
    char *http;  /* 127.0.0.1:7001 */
    char token[POLKU_TOKEN_TEXT];
    uint8_t pseudonym_secret[32]; /* turns identity codes into client keys */
    bool has_pseudonym_secret;
    polku_log_level log_level;
    polku_log_format log_format; /* text or json */
    uint64_t heartbeat_ms;
    uint64_t retry_min_ms, retry_max_ms;
    uint64_t ack_timeout_ms;    /* resend unacknowledged messages after this */
    uint64_t window;            /* unacknowledged messages per destination */
    uint64_t map_size;          /* initial LMDB map size, bytes */
    uint64_t map_max;           /* the map grows up to this */
    uint64_t max_body;          /* largest API request body */
    uint64_t consent_max_years; /* a consent's validity, years ahead */
    agent_rule *rules;          /* in file order; owned, freed by _fini */
    size_t rule_count;
    char region[33]; /* [agent] region: the default region's name, or "" */
    agent_region_config *regions; /* [region NAME], file order; owned */
    size_t region_count;
} agent_config;

/* The default region's name as answers show it: [agent] region, or
 * "default". */
const char *agent_default_region(const agent_config *cfg);

/* Loads and validates path into *cfg (zeroed first). Call agent_config_fini
 * afterwards whatever the result. Returns POLKU_OK, POLKU_ENOTFOUND (path
 * cannot be opened), POLKU_ECONFIG (err says "FILE:LINE: [section] key:
 * why"; also for unreadable key, token or secret files), POLKU_ENOMEM. */
/* The keys the loader accepts in a section: "agent", "rule" for every
 * [rule NAME], or "region" for every [region NAME]; NULL-terminated, static;
 * NULL for another section. (A test compares them with the keys
 * config/agent.ini documents.) */
const char *const *agent_config_known_keys(const char *section);

int agent_config_load(const char *path, agent_config *cfg, polku_cfgerr *err);

/* Frees what load allocated (rules included) and zeroes cfg. */
void agent_config_fini(agent_config *cfg);

/* Reload (SIGHUP): only the [rule] sections change in a running agent.
 * agent_config_restart_keys puts in names (at most max) the [agent] keys
 * whose values differ between cur and next (they need a restart) and
 * returns how many. agent_config_take_rules gives cfg next's rules and
 * next cfg's old ones (freed by next's _fini); rule pointers taken from
 * cfg before are invalid afterwards (none is kept across loop turns). */
size_t agent_config_restart_keys(const agent_config *cur,
                                 const agent_config *next, const char **names,
                                 size_t max);
void agent_config_take_rules(agent_config *cfg, agent_config *next);

/* Reload of the key pairs (a key rotation): cfg gets next's key and
 * previous key. True if either changed. key_file and previous_key_file
 * are therefore not among the restart keys. */
bool agent_config_take_keys(agent_config *cfg, const agent_config *next);

/* Checks that every org a rule names (offer_to, and supporter unless it is
 * "self") is one known(arg, org) accepts, e.g. one in the directory of the
 * broker's last Welcome. Needs only cfg, not the file. Returns POLKU_OK or
 * POLKU_ECONFIG with "FILE:LINE: [rule NAME] offer_to: 'x' is not an
 * organisation in the directory" (supporter likewise) for the first miss. */
int agent_rules_check_orgs(const agent_config *cfg,
                           bool (*known)(void *arg, const char *org), void *arg,
                           polku_cfgerr *err);

/* The first referral_accepted (resp. service_ended) rule, in file order,
 * whose service is "" or equals service; NULL if none. A NULL service
 * matches only rules for any service. The pointer lives as long as cfg. */
const agent_rule *agent_rule_for_referral(const agent_config *cfg,
                                          const char *service);
const agent_rule *agent_rule_for_service_end(const agent_config *cfg,
                                             const char *service);

#endif
