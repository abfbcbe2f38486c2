/* harness.h — integration test harness: real processes, real keys, real LMDB.
 *
 * A test builds a temporary region (one broker and N organisations, each
 * with a generated CURVE keypair, a bearer token and a config file in a
 * mkdtemp directory), starts the real polku-broker and polku-agent binaries
 * with fork/exec, and talks to them over their HTTP APIs (libcurl, one
 * keep-alive handle per process) and, where a test needs to misbehave, over
 * a raw CURVE DEALER socket.
 *
 * Rules the harness enforces for every test:
 *   - 127.0.0.1 only; ports are picked free (bind port 0, read it back) once
 *     per process and kept across its restarts;
 *   - no bare sleeps: every wait polls a condition every 20 ms until a
 *     deadline and fails the case naming what it awaited;
 *   - every started process is in a registry: it is killed and reaped when
 *     a case ends, at exit, on a fatal signal, and (PR_SET_PDEATHSIG) when
 *     the test process itself dies;
 *   - children log to files in the region directory; when a case fails the
 *     tail of every log is printed and the directory is kept.
 *
 * With POLKU_HTTP_RECORD=FILE every request made through h_http_request and
 * its answer are appended to FILE as JSON lines (harness_record.c), for
 * tests/openapi/validate.mjs to hold against the OpenAPI documents.
 *
 * A test executable is a plain main():
 *     int main(int argc, char **argv) {
 *         h_init(argc, argv, "it_x");
 *         H_CASE(case_one);
 *         return h_finish();   // prints "N passed, N failed"
 *     }
 * H_CHECK records a failure and goes on; H_REQUIRE and H_FAIL end the case. */
#ifndef POLKU_TESTS_HARNESS_H
#define POLKU_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "polku/codec.h"
#include "polku/keys.h"

/* ---------------------------------------------------------------- runner */

typedef void (*h_case_fn)(void);

/* argv[1..] may name cases to run (default: all). */
void h_init(int argc, char **argv, const char *suite);
void h_run_case(const char *name, h_case_fn fn);
#define H_CASE(fn) h_run_case(#fn, fn)
/* Prints "N passed, N failed"; the exit code for main. */
int h_finish(void);

void h_check_failed(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void h_abort_case(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints a progress note (indented, flushed). */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define H_CHECK(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            h_check_failed(__FILE__, __LINE__, __VA_ARGS__);                   \
    } while (0)
#define H_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            h_abort_case(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)
#define H_FAIL(...) h_abort_case(__FILE__, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------- time/wait */

uint64_t h_now_ms(void); /* monotonic */
/* Multiplier for deadlines: POLKU_IT_SCALE, else 3 under ASan, else 1. */
unsigned h_scale(void);
#define H_SEC(n) ((uint64_t)(n)*1000u * h_scale())
/* Short pause between two polls of a condition (never used on its own). */
void h_poll_pause(void);
/* Fails the case if a process the harness started and expects to be
 * running has exited (names it, prints its log tail). */
void h_check_processes(void);

/* Polls cond every 20 ms until it holds or timeout_ms passes; then ends
 * the case with "timed out after N ms waiting for <what>". */
#define H_WAIT_UNTIL(timeout_ms, cond, ...)                                    \
    do {                                                                       \
        uint64_t h_dl_ = h_now_ms() + (timeout_ms);                            \
        for (;;) {                                                             \
            if (cond)                                                          \
                break;                                                         \
            if (h_now_ms() > h_dl_) {                                          \
                char h_what_[512];                                             \
                snprintf(h_what_, sizeof h_what_, __VA_ARGS__);                \
                h_abort_case(__FILE__, __LINE__,                               \
                             "timed out after %llu ms waiting for %s",         \
                             (unsigned long long)(timeout_ms), h_what_);       \
            }                                                                  \
            h_check_processes();                                               \
            h_poll_pause();                                                    \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------------- processes */

typedef struct h_proc {
    char name[48];
    char bin[512];
    char config[512];
    char log[512];
    pid_t pid;         /* 0 when not running */
    bool expect_alive; /* h_check_processes complains if it died */
    int starts;
    int last_status; /* waitpid status of the last exit */
} h_proc;

/* fork/exec bin --config config, output appended to log. */
void h_proc_start(h_proc *p);
/* SIGTERM, wait (deadline) and reap; returns the exit code, or 128+signal. */
int h_proc_stop(h_proc *p);
/* SIGKILL and reap. */
void h_proc_kill(h_proc *p);
bool h_proc_running(h_proc *p);
/* Resident memory of a running process in KiB (VmRSS), -1 if unknown. */
long h_proc_rss_kb(const h_proc *p);
/* Last lines of a log file to stderr. */
void h_print_log_tail(const char *title, const char *path, int lines);

/* Runs argv[0] to completion (deadline), output to out_path; returns the
 * exit code, or -1 if it had to be killed or died by a signal. */
int h_run_program(char *const argv[], const char *out_path,
                  uint64_t timeout_ms);

/* ---------------------------------------------------------------- region */

#define H_MAX_ORGS 24 /* bench/rebuild_bench --region: 20 */

typedef struct h_http h_http; /* one keep-alive libcurl handle */

typedef struct h_org {
    char id[33];
    char name[64];
    char services[256];
    polku_keypair key;
    char key_file[512];
    char token[POLKU_TOKEN_TEXT];
    char token_file[512];
    char store[512];
    int http_port;
    char url[64]; /* http://127.0.0.1:PORT */
    h_proc proc;
    h_http *http;
    bool not_in_directory; /* leave it out of the broker's [org] sections */
    char overrides[64];    /* the [org] section's overrides ("" none) */
    struct h_region *region;
} h_org;

typedef struct h_region {
    char dir[256];
    polku_keypair broker_key;
    char broker_key_file[512];
    uint8_t display_secret[32]; /* the broker's display_secret_file */
    char display_secret_file[512];
    int broker_port;
    int broker_http_port;
    char broker_endpoint[64]; /* tcp://127.0.0.1:PORT */
    char broker_url[64];
    h_proc broker;
    h_http *broker_http;
    h_org orgs[H_MAX_ORGS];
    int norgs;
    bool written;
} h_region;

/* A new region in a fresh mkdtemp directory with a broker keypair and
 * ports. Destroyed by the runner when the case ends. */
h_region *h_region_new(void);
/* Adds an organisation (keys, token, ports). services: "a, b" or "". */
h_org *h_region_add_org(h_region *r, const char *id, const char *services);
/* A second agent process for of's organisation: the same id and key
 * file (a copied key), its own store (data/ID-twin), token, HTTP port,
 * config and log. It is not another [org] of the broker's directory;
 * h_org_get(r, id) still finds the first. Add it before the region is
 * written. */
h_org *h_region_add_twin(h_region *r, const h_org *of);
h_org *h_org_get(h_region *r, const char *id);
/* The display pseudonym the broker shows for a client key (32 hex):
 * HMAC-SHA-256(display secret, "polku-display:" || key), 16 bytes, hex,
 * computed here independently of the broker (docs/privacy.md). */
void h_display_name(const h_region *r, const char *client_key, char out[33]);
/* Writes the broker config and every agent config (done by the first
 * start if not yet done). */
void h_region_write(h_region *r);
/* Kills every process, closes handles, removes the directory (kept when
 * the case failed or POLKU_IT_KEEP is set). */
void h_region_destroy(h_region *r, bool keep);

/* Start and wait until /healthz answers 200. */
void h_broker_start(h_region *r);
int h_broker_stop(h_region *r);
void h_broker_kill(h_region *r);
/* Start and wait until /healthz answers 200. */
void h_agent_start(h_org *o);
/* Start, then wait until the agent reports the broker connected and the
 * broker lists it as connected. */
void h_agent_start_connected(h_org *o);
int h_agent_stop(h_org *o);
void h_agent_kill(h_org *o);

/* ------------------------------------------------------------------ HTTP */

typedef struct h_resp {
    long status; /* 0: transport failure (see err) */
    char *body;  /* NUL-terminated */
    size_t len;
    json_t *json; /* parsed body or NULL */
    char err[256];
    char location[256]; /* the Location header, "" if none */
} h_resp;

void h_resp_free(h_resp *r);
/* Error code of an {"error":{"code":...}} answer, "" if none. */
const char *h_resp_error_code(const h_resp *r);

/* One request. token NULL sends no Authorization header. The answer is in
 * *out (h_resp_free it). Returns out->status. */
long h_http_request(h_http *c, const char *method, const char *path,
                    const char *token, const char *body, size_t body_len,
                    h_resp *out);
/* Request to an agent with its token; body may be NULL. */
long h_api(h_org *o, const char *method, const char *path, const char *body,
           h_resp *out);
/* Same with a JSON body (the reference is taken). */
long h_api_json(h_org *o, const char *method, const char *path, json_t *body,
                h_resp *out);

/* 200 and parsed JSON of the agent's /healthz, else NULL (caller decrefs). */
json_t *h_agent_health(h_org *o);
bool h_agent_connected(h_org *o);
/* outbox_pending from /healthz, -1 if unavailable. */
long h_agent_outbox_pending(h_org *o);
void h_wait_agent_connected(h_org *o, uint64_t timeout_ms);
json_t *h_broker_health(h_region *r);
/* True if the broker's /healthz "connected" list holds org. */
bool h_broker_lists_connected(h_region *r, const char *org);
/* Value of a Prometheus sample ("name" or "name{labels}") from the
 * broker's or an agent's /metrics; -1 if absent or unavailable. */
double h_broker_metric(h_region *r, const char *sample);
double h_agent_metric(h_org *o, const char *sample);

/* -------------------------------------------------------------- consents */

/* POST /v1/consents at o: the client's consent covering o and the orgs
 * listed (NULL-terminated) for the purposes (NULL-terminated; NULL means
 * just "referral"), valid for 30 days, form Y100. On 201 the consent id
 * goes into id_out (>= 64 bytes, may be NULL). Returns the HTTP status. */
long h_consent_grant(h_org *o, const char *client_key, const char *const orgs[],
                     const char *const purposes[], char *id_out, h_resp *resp);
/* Records at o a referral consent of the client covering o and to; ends
 * the case unless the agent answers 201. */
void h_consent_ok(h_org *o, const char *client_key, const char *to);

/* ------------------------------------------------------------- referrals */

typedef struct h_ids {
    char **v;
    size_t n;
} h_ids;
void h_ids_free(h_ids *ids);
bool h_ids_contains(const h_ids *ids, const char *id);
void h_ids_add(h_ids *ids, const char *id);
/* Number of ids listed more than once. */
size_t h_ids_duplicates(const h_ids *ids);

/* A random 32-lowercase-hex client key. */
void h_client_key(char out[33]);

/* POST /v1/referrals with to (or service when to is NULL). On 201 the id
 * goes into id_out (>= 64 bytes). Returns the HTTP status; *resp (if not
 * NULL) receives the answer. */
long h_referral_create(h_org *o, const char *client_key, const char *to,
                       const char *service, const char *reason, char *id_out,
                       h_resp *resp);
/* GET /v1/referrals?direction=&status= (NULL: no filter). Fills ids (if
 * not NULL) and returns the count; -1 on failure. */
long h_referral_list(h_org *o, const char *direction, const char *status,
                     h_ids *ids);
/* The referral object (caller decrefs) or NULL. */
json_t *h_referral_get(h_org *o, const char *id);
/* Its status (static buffer copy) or "" if it cannot be read. */
const char *h_referral_status(h_org *o, const char *id, char *buf, size_t len);
/* POST /v1/referrals/ID/status. reason/outcome may be NULL. */
long h_referral_set_status(h_org *o, const char *id, const char *status,
                           const char *reason, const char *outcome,
                           h_resp *resp);
long h_referral_cancel(h_org *o, const char *id, const char *reason,
                       h_resp *resp);
/* Waits until GET /v1/referrals/ID at o shows status. */
void h_wait_status(h_org *o, const char *id, const char *status,
                   uint64_t timeout_ms);
/* Statuses of the history array, joined with ",". */
void h_history_statuses(json_t *referral, char *out, size_t len);

/* Runs the polku CLI against agent o: polku --agent URL --token-file F
 * args...; output (stdout+stderr) into out (NUL-terminated, truncated).
 * Returns the exit code (-1 on timeout/signal). */
int h_cli(h_org *o, char *out, size_t out_len, const char *const args[]);

/* ------------------------------------------------------- raw CURVE client */

typedef struct h_raw h_raw;

/* A DEALER with CURVE client options (server key = broker's, own keypair
 * kp) connected to the broker, with a socket monitor. */
h_raw *h_raw_new(h_region *r, const polku_keypair *kp);
void h_raw_destroy(h_raw **raw);
/* Sends one frame (ZMQ_DONTWAIT after the connection is up); 0 or -1. */
int h_raw_send(h_raw *raw, const void *data, size_t len);
/* Encodes and sends env; 0 or -1. */
int h_raw_send_env(h_raw *raw, const polku_envelope *env);
/* Next decoded envelope within timeout_ms, NULL if none (undecodable
 * frames are skipped). Caller frees with polku_envelope_free. */
polku_envelope *h_raw_recv(h_raw *raw, int timeout_ms);
/* Waits for a Nack with code; other messages are dropped. Returns true and
 * copies the reason if it came before the deadline. */
bool h_raw_wait_nack(h_raw *raw, Polku__NackCode code, uint64_t timeout_ms,
                     char *reason, size_t reason_len);
/* Waits for a monitor event in mask; returns the event (0 on timeout) and
 * its value (e.g. the ZAP status code of HANDSHAKE_FAILED_AUTH). */
int h_raw_wait_event(h_raw *raw, int mask, uint64_t timeout_ms, int *value);
/* Sends Hello{org, last_seq 0, v1} and waits for Welcome; true on success. */
bool h_raw_hello(h_raw *raw, const char *org, uint64_t timeout_ms);

/* Envelope builders: a v1 envelope with a fresh msg id and time, to one
 * destination (NULL: none). The envelope owns nothing; the caller keeps
 * the strings alive. h_env_referral fills a ReferralRequested body. */
typedef struct h_env {
    polku_envelope env;
    char *to_list[1];
    uint8_t msg_id[16];
    uint8_t client_key[16];
    uint8_t referral_id[16];
    Polku__ReferralRequested referral;
    Polku__Hello hello;
} h_env;
void h_env_init(h_env *e, const char *origin_org, uint64_t origin_seq,
                const char *to);
void h_env_referral(h_env *e, const char *service, const char *reason);


/* ---------------------------------------- consent and privacy helpers
 * (harness_consent.c) */

/* The whole file (NUL-terminated, binary-safe with *len) or NULL; free it. */
char *h_read_file(const char *path, size_t *len);
/* Copies the file src to dst (created or truncated); ends the case on
 * failure. */
void h_copy_file(const char *src, const char *dst);
bool h_mem_contains(const void *hay, size_t hay_len, const void *needle,
                    size_t needle_len);
/* Inserts a line after the [broker] / [agent] header of the written config
 * (writes the region first if needed; a line already there is kept once).
 * Call again after every h_region_write. */
void h_broker_config_add(h_region *r, const char *line);
void h_agent_config_add(h_org *o, const char *line);
/* Writes DIR/region.secret (64 hex + newline, mode 0600) once and adds
 * pseudonym_secret_file to every agent config. */
void h_region_use_secret(h_region *r);
void h_region_secret_path(h_region *r, char *out, size_t len);
/* Adds debug_dump_file = DIR/broker-frames.dump to the broker config and
 * gives its path. */
void h_broker_use_dump(h_region *r, char *path_out, size_t len);
/* GET /v1/consents?client=KEY: the "consents" array (caller decrefs), NULL
 * on failure; its size, -1 on failure. */
json_t *h_consent_list(h_org *o, const char *client_key);
long h_consent_count(h_org *o, const char *client_key);
/* "active", "revoked", "expired", or "" if o does not list the consent. */
const char *h_consent_state(h_org *o, const char *client_key,
                            const char *consent_id, char *buf, size_t len);
bool h_consent_state_is(h_org *o, const char *client_key,
                        const char *consent_id, const char *state);
/* POST /v1/consents/ID/revoke {"reason"}; returns the HTTP status. */
long h_consent_revoke(h_org *o, const char *consent_id, const char *reason,
                      h_resp *resp);
/* True if the referral's history at o has an entry with status whose
 * reason contains reason_part (NULL: any reason). */
bool h_referral_history_has(h_org *o, const char *id, const char *status,
                            const char *reason_part);
/* HTTP status of GET /v1/referrals/ID at o (200, 404, 0 if unreachable). */
long h_referral_lookup(h_org *o, const char *id);

#endif
