/* harness_coord.h — integration helpers for coordination (issue 4): path
 * claims, handovers, the broker's path and stats endpoints, concurrent
 * requests, and [rule] sections in agent configs.
 *
 * The contract these build against is notes/coord_spec.md: the agent's
 * /v1/paths and /v1/handovers, the broker's /api/v1/paths/{key} and
 * /api/v1/stats. Like the rest of the harness, a helper that cannot get an
 * answer it needs ends the case (H_FAIL) naming what it asked; helpers that
 * read state for a wait return NULL / "" / -1 instead, so H_WAIT_UNTIL can
 * poll them. Nothing here changes what harness.h's functions do. */
#ifndef POLKU_TESTS_HARNESS_COORD_H
#define POLKU_TESTS_HARNESS_COORD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "harness.h"

/* The four purposes, NULL terminated, for h_consent_grant. */
extern const char *const hc_all_purposes[];

/* Body text of an answer for messages: the body, else the transport
 * error. */
const char *hc_body(const h_resp *r);

/* Records at `at` a consent of client key covering at and with[0..n-1]
 * for purposes (NULL: all four); ends the case unless 201. The consent id
 * goes into cid (>= 64 bytes). */
void hc_consent(h_org *at, const char *key, h_org *const with[], int n,
                const char *const purposes[], char cid[64]);
/* Waits until o lists consent cid of key as active. */
void hc_wait_consent(h_org *o, const char *key, const char *cid);

/* ---------------------------------------------------------------- paths */

/* POST /v1/paths {"client":{"key":key}} at o; *resp (not NULL) receives the
 * answer. Returns the HTTP status. */
long hc_claim(h_org *o, const char *key, h_resp *resp);
/* Claims and requires 201 with coordinator = o (ends the case otherwise). */
void hc_claim_ok(h_org *o, const char *key);
/* GET /v1/paths/KEY at o: the path JSON (caller decrefs) or NULL (404,
 * unreachable, not JSON). */
json_t *hc_path(h_org *o, const char *key);
/* GET /api/v1/paths/NAME at the broker, NAME the display pseudonym of
 * the client key KEY (h_display_name): the JSON or NULL. */
json_t *hc_broker_path(h_region *r, const char *key);
/* GET /api/v1/stats at the broker: the JSON or NULL. */
json_t *hc_broker_stats(h_region *r);
/* The "coordinator" of a path JSON: the org, "" for null, "?" when the
 * object is NULL or has no such member. Points into j. */
const char *hc_coordinator(const json_t *j);
/* Integer member of j, -1 if absent. */
long long hc_int(const json_t *j, const char *name);
/* String member of j, "" if absent or not a string. Points into j. */
const char *hc_str(const json_t *j, const char *name);
/* The coordinator of key as o sees it (copied into out): "?" when o knows
 * nothing of the path. */
const char *hc_coordinator_at(h_org *o, const char *key, char *out,
                              size_t len);
/* The same at the broker. */
const char *hc_coordinator_at_broker(h_region *r, const char *key, char *out,
                                     size_t len);
/* True if the broker's /healthz lists org in "replayed". */
bool hc_broker_replayed(h_region *r, const char *org);
/* Waits until every org of the region that has an agent running is
 * connected (both sides) and replayed at the broker. */
void hc_wait_replayed(h_region *r, uint64_t timeout_ms);

/* POST /v1/paths/KEY/services {service, state} at o. */
long hc_service(h_org *o, const char *key, const char *service,
                const char *state, h_resp *resp);

/* ------------------------------------------------------------ handovers */

/* POST /v1/handovers at o: {client:{key}, to, plan:{...}, plan_current:
 * true, note}. On 201 the id goes into id_out (>= 64 bytes, "" otherwise).
 * resp may be NULL. Returns the HTTP status. */
long hc_offer(h_org *o, const char *key, const char *to, char *id_out,
              h_resp *resp);
/* Offers and requires 201. */
void hc_offer_ok(h_org *o, const char *key, const char *to, char id[64]);
/* POST /v1/handovers/ID/VERB (accept, decline, withdraw) at o; reason is
 * sent with decline (may be NULL). resp may be NULL. */
long hc_handover_act(h_org *o, const char *id, const char *verb,
                     const char *reason, h_resp *resp);
/* GET /v1/handovers/ID at o (caller decrefs) or NULL. */
json_t *hc_handover(h_org *o, const char *id);
/* Its status (copied into out), "" if o does not show it. */
const char *hc_handover_status(h_org *o, const char *id, char *out,
                               size_t len);
/* GET /v1/handovers?direction=&status= (NULL: no filter) at o: the array
 * (caller decrefs) or NULL on failure. */
json_t *hc_handover_list(h_org *o, const char *direction, const char *status);
/* Its size, -1 on failure. */
long hc_handover_count(h_org *o, const char *direction, const char *status);
/* Number of handovers at o (any direction) whose member name equals value
 * (e.g. "client_key", KEY or "referral_id", ID); -1 on failure. */
long hc_handover_count_where(h_org *o, const char *name, const char *value);

/* ----------------------------------------------------- concurrent calls */

/* One request for hc_concurrent. path and body are copied in by
 * hc_req_set; resp receives the answer (h_resp_free it). */
typedef struct hc_req {
    h_org *org;
    const char *method;
    char path[256];
    char *body; /* owned, may be NULL */
    h_resp resp;
} hc_req;

/* Fills req (body taken from json, which may be NULL; the reference is
 * taken). */
void hc_req_set(hc_req *req, h_org *o, const char *method, const char *path,
                json_t *json);
/* Sends every request at once (one libcurl multi handle, fresh
 * connections, all transfers started before any answer is read) and waits
 * for all answers. Frees the bodies. */
void hc_concurrent(hc_req *reqs, int n);

/* --------------------------------------------------------------- config */

/* Appends text to o's config file (writing the region first if needed).
 * Returns the 1-based line number text's first line gets. Call again after
 * every h_region_write. */
int hc_agent_config_append(h_org *o, const char *text);
/* Copies o's config to DIR/NAME.ini, appends text, and runs polku-agent
 * --config on the copy to completion (deadline). Its output goes into out
 * (NUL-terminated); *first_line gets the line of text's first line.
 * Returns the exit code (-1 on timeout or signal). When fresh_store is
 * true, the copy points at a store of its own. */
int hc_agent_try_config(h_org *o, const char *name, const char *text,
                        bool fresh_store, int *first_line, char *out,
                        size_t out_len);

#endif
