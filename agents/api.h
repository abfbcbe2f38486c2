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
#include "handovers.h"
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
    /* paths and handovers */
    agent_refusal why;   /* filled when an item returns POLKU_EREFUSED */
    uint8_t key[16];     /* the client */
    const char *text, *service, *plan_id;
    uint32_t version;
    uint64_t review_due_ms;
    bool flag;           /* service ended / handover accepted */
    Polku__PlanPointer plan;
    handover_new offer;
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

/* Answers an item's refusal (why): its status, code and message, plus any
 * extra fields; frees why->extra. */
void respond_refusal(polku_http_req *req, agent_refusal *why);

/* Runs fn as a batch item; answers the error (or refusal) if it fails. */
void run(agent *a, api_call *c, agent_item_fn fn);

/* Runs fn as a read (agent_read); answers the error if it fails. */
void run_read(agent *a, api_call *c, agent_item_fn fn);

/* Stores the identity code behind the call's client, if it came as one. */
int remember_client(agent *a, MDB_txn *txn, const api_call *c,
                    const uint8_t key[16]);

/* /v1/consents[...]: rest is the path after "/v1/consents". */
void api_consent_routes(agent *a, api_call *c, const char *method,
                        const char *rest);

/* /v1/paths[...] and /v1/handovers[...]: rest follows the prefix. */
void api_path_routes(agent *a, api_call *c, const char *method,
                     const char *rest);
void api_handover_routes(agent *a, api_call *c, const char *method,
                         const char *rest);

/* The 26-character id after "/" at the start of rest (then '\0' or '/'),
 * into id; *after points past it. false if rest does not start so. */
bool route_id(const char *rest, polku_id *id, const char **after);

#endif
