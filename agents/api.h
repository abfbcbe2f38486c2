/* api.h — what the agent's API modules share (not a public header).
 *
 * api.c routes requests and serves referrals; api_consents.c serves
 * consents. A write runs as a batch item and is answered after the commit;
 * a bad request is answered at once and changes nothing. */
#ifndef POLKU_AGENT_API_H
#define POLKU_AGENT_API_H

#include "agent.h"
#include "consents.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "referrals.h"

typedef struct api_call {
    polku_http_req *req;
    json_t *body;
    char hetu[POLKU_HETU_LEN + 1]; /* set when the client came as a hetu */
    consent_new consent;
    polku_id id;
    referral_new create;
    polku_referral_state status;
    const char *reason, *outcome;
} api_call;

/* Answers the error that matches a polku_err from an item. */
void respond_err(polku_http_req *req, int rc);

/* Parses the body as a JSON object into *out, or answers 400 invalid_json
 * and returns POLKU_EINVAL. */
int parse_body(polku_http_req *req, json_t **out);

/* Optional string field (NULL if absent); answers 400 if it is not a string
 * of at most max bytes. */
int opt_string(polku_http_req *req, json_t *obj, const char *name, size_t max,
               const char **out);

/* body.client as {"hetu"} or {"key"} into key; answers 400 on error. */
int parse_client(agent *a, api_call *c, json_t *body, uint8_t key[16]);

/* Runs fn as a batch item; answers the error if it fails. */
void run(agent *a, api_call *c, agent_item_fn fn);

/* Runs fn as a read (agent_read); answers the error if it fails. */
void run_read(agent *a, api_call *c, agent_item_fn fn);

/* Stores the identity code behind the call's client, if it came as one. */
int remember_client(agent *a, MDB_txn *txn, const api_call *c,
                    const uint8_t key[16]);

/* /v1/consents[...]: rest is the path after "/v1/consents". */
void api_consent_routes(agent *a, api_call *c, const char *method,
                        const char *rest);

#endif
