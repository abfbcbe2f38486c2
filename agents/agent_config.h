/* agent_config.h — an agent's INI configuration (DESIGN §10).
 * Errors name the file, line and key; the program exits 2 on them. */
#ifndef POLKU_AGENT_CONFIG_H
#define POLKU_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "polku/config.h"
#include "polku/keys.h"
#include "polku/log.h"

typedef struct agent_config {
    char org[33];
    char *broker; /* tcp://127.0.0.1:5570 */
    char broker_public_z85[POLKU_Z85_KEY];
    polku_keypair key;
    char *store; /* LMDB directory */
    char *http;  /* 127.0.0.1:7001 */
    char token[POLKU_TOKEN_TEXT];
    uint8_t pseudonym_secret[32]; /* turns identity codes into client keys */
    bool has_pseudonym_secret;
    polku_log_level log_level;
    uint64_t heartbeat_ms;
    uint64_t retry_min_ms, retry_max_ms;
    uint64_t ack_timeout_ms; /* resend unacknowledged messages after this */
    uint64_t window;         /* unacknowledged messages per destination */
    uint64_t map_size;       /* initial LMDB map size, bytes */
    uint64_t map_max;        /* the map grows up to this */
    uint64_t max_body;       /* largest API request body */
} agent_config;

int agent_config_load(const char *path, agent_config *cfg, polku_cfgerr *err);
void agent_config_fini(agent_config *cfg);

#endif
