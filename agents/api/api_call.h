/* api_call.h — what the API's modules share (not used outside api/).
 *
 * api.c matches a request against its route table and hands the handler
 * an api_call; a handler parses and validates the body, then runs an item
 * (a write, answered after the commit) or a read. Items answer with
 * api_after_reply; a refusal or an error is answered by api_run from the
 * item's result (api_errors.c). */
#ifndef POLKU_AGENT_API_CALL_H
#define POLKU_AGENT_API_CALL_H

#include <jansson.h>

#include "api.h"
#include "consents.h"
#include "handovers.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "referrals.h"
#include "api_override.h"

/* The kind of object a route is about, for "no such ..." answers. */
typedef enum api_object {
    API_NONE = 0,
    API_REFERRAL,
    API_CONSENT,
    API_HANDOVER,
    API_PATH
} api_object;

typedef struct api_call {
    agent_api *api;
    polku_http_req *req;
    api_object object;
    json_t *body;
    char hetu[POLKU_HETU_LEN + 1]; /* set when the client came as a hetu */
    consent_new consent;
    polku_id id;     /* {id} of the route */
    uint8_t key[16]; /* {key} of the route, or the body's client */
    referral_new create;
    polku_referral_state status;
    const char *reason, *outcome;
    domain_refusal why; /* filled when an item returns POLKU_EREFUSED */
    const char *text, *service, *plan_id;
    uint32_t version;
    uint64_t review_due_ms;
    bool flag; /* service ended / handover accepted */
    Polku__PlanPointer plan;
    handover_new offer;
    /* how a created referral is answered (NULL: render_referral) */
    json_t *(*view)(struct api_call *c, const Polku__ReferralRecord *r);
} api_call;

/* ---- answers (api_errors.c) ---- */

/* Answers the error that matches a polku_err from an item about object. */
void api_respond_err(polku_http_req *req, api_object object, int rc);
/* Answers a domain refusal: the reason's status and code, the message. */
void api_respond_refusal(polku_http_req *req, const domain_refusal *why);

/* ---- running (api.c) ---- */

/* Runs fn as a batch item; answers the error (or refusal) if it fails. */
void api_run(agent_api *api, api_call *c, batch_item_fn fn);
/* Runs fn as a read; answers the error if it fails. */
void api_run_read(agent_api *api, api_call *c, batch_item_fn fn);
/* Answers req with status and json (taken) once the batch has committed;
 * 507 if it did not. */
void api_after_reply(agent_api *api, polku_http_req *req, unsigned status,
                     json_t *json);
/* As api_after_reply with JSON text already written (taken; malloc'd). */
void api_after_reply_text(agent_api *api, polku_http_req *req, unsigned status,
                          char *text, size_t len);

/* ---- parsing (api.c) ---- */

/* Parses the body as a JSON object into c->body, or answers 400
 * invalid_json and returns POLKU_EINVAL. */
int api_parse_body(api_call *c);
/* Optional string field (NULL if absent); answers 400 if it is not a string
 * of at most max bytes. */
int api_opt_string(polku_http_req *req, json_t *obj, const char *name,
                   size_t max, const char **out);
/* Optional free text (a reason, an outcome, a note): as api_opt_string,
 * and if present it must hold something other than whitespace (else 400
 * bad_request naming the field). */
int api_opt_text(polku_http_req *req, json_t *obj, const char *name, size_t max,
                 const char **out);
/* text as a time (polku_time_parse_why) into *ms and *date_only (may be
 * NULL); else answers 400 invalid_date "'name': what is wrong". */
int api_parse_time(api_call *c, const char *name, const char *text,
                   uint64_t *ms, bool *date_only);
/* body.client as {"hetu"} or {"key"} into key; answers 400 on error. */
int api_parse_client(api_call *c, json_t *body, uint8_t key[16]);
/* The client given as the text of client.hetu or client.key (one of them,
 * NULL when absent) into key, as api_parse_client; answers 400 on error. */
int api_client_from_text(api_call *c, const char *hetu, const char *hex,
                         uint8_t key[16]);
/* Stores the identity code behind the call's client, if it came as one. */
int api_remember_client(api_call *c, MDB_txn *txn, const uint8_t key[16]);

/* ---- handlers, one per route (api.c's table) ---- */

typedef void (*api_handler)(agent_api *api, api_call *c);

void api_referral_list(agent_api *api, api_call *c);
void api_referral_create(agent_api *api, api_call *c);
/* POST /v1/referrals/batch: {"referrals": [create request, ...]}, each
 * item answered as POST /v1/referrals would (api_referral_batch.c). */
void api_referral_batch(agent_api *api, api_call *c);
/* POST /v1/referrals with c->body already parsed (the FHIR view builds
 * it): the same validation, consent gate and domain call; answers 201
 * with c->view of the record. */
void api_referral_create_parsed(agent_api *api, api_call *c);
void api_referral_show(agent_api *api, api_call *c);
void api_referral_status(agent_api *api, api_call *c);
void api_referral_cancel(agent_api *api, api_call *c);

void api_consent_list(agent_api *api, api_call *c);
void api_consent_grant(agent_api *api, api_call *c);
void api_consent_revoke(agent_api *api, api_call *c);

void api_path_list(agent_api *api, api_call *c);
void api_path_claim(agent_api *api, api_call *c);
void api_path_show(agent_api *api, api_call *c);
void api_path_close(agent_api *api, api_call *c);
void api_path_plan(agent_api *api, api_call *c);
void api_path_service(agent_api *api, api_call *c);

void api_handover_list(agent_api *api, api_call *c);
void api_handover_offer(agent_api *api, api_call *c);
void api_handover_show(agent_api *api, api_call *c);
void api_handover_accept(agent_api *api, api_call *c);
void api_handover_decline(agent_api *api, api_call *c);
void api_handover_withdraw(agent_api *api, api_call *c);

void api_events_attach(agent_api *api, api_call *c);

void api_reconcile_show(agent_api *api, api_call *c);
void api_log_verify(agent_api *api, api_call *c);

/* the client's access report (api_access.c) and break-glass review
 * (api_override.c) */
void api_access_show(agent_api *api, api_call *c);
void api_access_post(agent_api *api, api_call *c);
void api_access_expire(agent_api *api, uint64_t now_mono_ms);
void api_access_fini(agent_api *api);
void api_override_review(agent_api *api, api_call *c);
/* body.override into o (basis NULL when absent); answers 400
 * (bad_override) and returns POLKU_EINVAL when it is malformed. */
int api_parse_override(api_call *c, json_t *body, override_request *o);

/* ---- the FHIR R4 view (api_fhir.c) and the OpenAPI document ---- */

/* Answers req's JSON and errors as FHIR does (application/fhir+json,
 * OperationOutcome); set before anything may answer. */
void api_fhir_style(polku_http_req *req);
void api_fhir_metadata(agent_api *api, api_call *c);
void api_fhir_task_read(agent_api *api, api_call *c);
void api_fhir_task_search(agent_api *api, api_call *c);
void api_fhir_task_create(agent_api *api, api_call *c);
void api_fhir_consent_search(agent_api *api, api_call *c);
void api_openapi(agent_api *api, api_call *c);

/* ---- /v1/events (api_events.c) ---- */

int api_events_start(agent_api *api);
void api_events_stop(agent_api *api);
void api_events_keepalive(agent_api *api, uint64_t now_mono_ms);

/* ---- what waits (api_claims.c, api_path_query.c) ---- */

/* After the commit, c->req waits (up to 5 s) for the broker's answer to
 * claim_id; api_claim_decided answers it. */
void api_after_wait_claim(agent_api *api, polku_http_req *req,
                          const uint8_t claim_id[16],
                          const uint8_t client_key[16]);
void api_claims_expire(agent_api *api, uint64_t now_mono_ms);
void api_claims_fini(agent_api *api);

/* Asks the broker for the client's shared path; answers req when it
 * answers (or 503/504). */
void api_path_query_start(agent_api *api, polku_http_req *req,
                          const uint8_t key[16]);
void api_path_query_expire(agent_api *api, uint64_t now_mono_ms);
void api_path_query_fini(agent_api *api);

#endif
