/* agent_api_fuzz.c — fuzz target for every JSON request body of the
 * agent's local API.
 *
 * The API takes whatever an organisation's own systems send. A real agent
 * (its own LMDB store in a temporary directory, a directory of three
 * organisations, no broker) is handed local requests (polku_http_local_req)
 * straight to its router: the input's first byte picks the endpoint, the
 * rest is the body (or, for the lists, a query value). Beyond "no crash":
 * every answer is one of the statuses the API documents (a 500 is a
 * finding), a JSON object, with error.code on every refusal; and a refusal
 * changes nothing (the agent's event sequence stays where it was: "bad
 * input gets a clear error and changes nothing"). Ids the agent hands out
 * (referrals, consents, handovers) are reused by later inputs, so the
 * target reaches the status, revoke and answer endpoints with real ids;
 * the store persists across inputs, as in a running agent. The FHIR view
 * is reached the same way (POST /fhir/Task, the Task and Consent
 * searches): there every refusal must be an OperationOutcome carrying the
 * error code. Built as a
 * libFuzzer binary (fuzz_agent_api) and as a corpus replay test;
 * POLKU_FUZZ_VERBOSE=1 prints each request and its answer.
 * POLKU_FUZZ_REGIONS=2 gives the agent a second region ("two") whose
 * directory holds fuzz-a and fuzz-c: the same inputs then go through the
 * front's choice of region (api_front.h), fuzz-c being in both. */
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "agent.h"
#include "agent_config.h"
#include "polku/codec.h"
#include "polku/config.h"
#include "polku/error.h"
#include "polku/http.h"
#include "polku/keys.h"
#include "polku/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client every seed talks about (its consent is in the seeds too). */
#define SEED_CLIENT "0123456789abcdef0123456789abcdef"

static struct {
    bool ready;
    char dir[64];
    uv_loop_t loop;
    agent_config cfg;
    agent a;
    char token_header[16 + POLKU_TOKEN_TEXT];
    const char *headers[3];
    char referral[32], consent[32], handover[32]; /* last ids handed out */
} fz;

/* A request still waiting for its answer (a claim waits for the broker):
 * what it points at must outlive it. */
typedef struct pending {
    polku_http_local out;
    char path[160];
    char *value;
    const char *query[9];
    struct pending *next;
} pending;
static pending *waiting;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (fz.dir[0])
        nftw(fz.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
    fprintf(stderr, "agent_api_fuzz: %s\n", what);
    abort();
}

/* Three organisations, as a broker's Welcome would list them. */
static void give_directory(void)
{
    polku_keypair kp[3];
    Polku__DirectoryEntry e[3];
    Polku__DirectoryEntry *list[3];
    static char *services_a[] = {"coordination"};
    static char *services_b[] = {"work-trial", "vocational-rehab"};
    static char *services_c[] = {"work-trial", "joint-service"};
    char **services[3] = {services_a, services_b, services_c};
    size_t n_services[3] = {1, 2, 2};
    static char *orgs[3] = {"fuzz-a", "fuzz-b", "fuzz-c"};
    for (int i = 0; i < 3; i++) {
        if (i == 0)
            kp[0] = fz.cfg.key;
        else if (polku_keypair_generate(&kp[i]))
            die("keypair");
        polku__directory_entry__init(&e[i]);
        e[i].org = orgs[i];
        e[i].name = orgs[i];
        e[i].public_key = kp[i].public_z85;
        e[i].n_services = n_services[i];
        e[i].services = services[i];
        list[i] = &e[i];
    }
    Polku__Welcome w = POLKU__WELCOME__INIT;
    w.n_directory = 3;
    w.directory = list;
    if (directory_set(&fz.a.r[0].dir, &w))
        die("directory");
    if (fz.a.n_regions > 1) { /* fuzz-a and fuzz-c */
        Polku__DirectoryEntry *two[2] = {&e[0], &e[2]};
        w.n_directory = 2;
        w.directory = two;
        if (directory_set(&fz.a.r[1].dir, &w))
            die("directory of region two");
    }
}

/* The event sequences of every region, summed: a refusal moves none. */
static uint64_t all_seqs(void)
{
    uint64_t n = 0;
    for (size_t i = 0; i < fz.a.n_regions; i++)
        n += fz.a.r[i].b.last_seq;
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f))
        die(path);
}

static void setup(void)
{
    if (sodium_init() < 0)
        die("libsodium");
    polku_log_init("fuzz", POLKU_LOG_OFF);
    snprintf(fz.dir, sizeof fz.dir, "%s/polku-fuzz-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(fz.dir))
        die("mkdtemp");
    atexit(cleanup);
    char path[160], key[160], secret[160], token[160], config[2048];
    polku_keypair me, broker;
    if (polku_keypair_generate(&me) || polku_keypair_generate(&broker))
        die("keypair");
    snprintf(key, sizeof key, "%s/fuzz-a.key", fz.dir);
    snprintf(secret, sizeof secret, "%s/region.secret", fz.dir);
    snprintf(token, sizeof token, "%s/fuzz-a.token", fz.dir);
    if (polku_keyfile_write(key, &me) || polku_secret_write(secret))
        die("key files");
    snprintf(config, sizeof config,
             "[agent]\n"
             "org = fuzz-a\n"
             "broker = tcp://127.0.0.1:9\n" /* nobody: the broker is away */
             "broker_public_key = %s\n"
             "key_file = %s\n"
             "store = %s/store\n"
             "http = 127.0.0.1:0\n"
             "http_token_file = %s\n"
             "pseudonym_secret_file = %s\n"
             "map_size_mb = 8\n"
             "map_max_mb = 64\n"
             "log_level = off\n",
             broker.public_z85, key, fz.dir, token, secret);
    const char *regions = getenv("POLKU_FUZZ_REGIONS");
    if (regions && strcmp(regions, "2") == 0) {
        char secret2[160];
        size_t n = strlen(config);
        snprintf(secret2, sizeof secret2, "%s/two.secret", fz.dir);
        if (polku_secret_write(secret2))
            die("secret of region two");
        snprintf(config + n, sizeof config - n,
                 "[region two]\n"
                 "broker = tcp://127.0.0.1:9\n"
                 "broker_public_key = %s\n"
                 "pseudonym_secret_file = %s\n",
                 broker.public_z85, secret2);
    }
    snprintf(path, sizeof path, "%s/fuzz-a.ini", fz.dir);
    write_text(path, config);
    polku_cfgerr err = {{0}};
    if (agent_config_load(path, &fz.cfg, &err))
        die(err.msg);
    uv_loop_init(&fz.loop);
    if (agent_init(&fz.a, &fz.loop, &fz.cfg))
        die("agent_init");
    give_directory();
    snprintf(fz.token_header, sizeof fz.token_header, "Bearer %s",
             fz.cfg.token);
    fz.headers[0] = "Authorization";
    fz.headers[1] = fz.token_header;
    fz.headers[2] = NULL;
    fz.ready = true;
}

/* ----------------------------------------------------------- endpoints */

enum route {
    R_REFERRAL,
    R_REFERRAL_STATUS,
    R_REFERRAL_CANCEL,
    R_CONSENT,
    R_CONSENT_REVOKE,
    R_CLAIM,
    R_CLOSE,
    R_PLAN,
    R_SERVICE,
    R_HANDOVER,
    R_ACCEPT,
    R_DECLINE,
    R_WITHDRAW,
    R_LIST_REFERRALS,
    R_LIST_HANDOVERS,
    R_LIST_CONSENTS,
    R_FHIR_TASK,
    R_FHIR_TASK_SEARCH,
    R_FHIR_CONSENT_SEARCH,
    R_COUNT
};

static const char *id_or_fake(const char *id)
{
    return id[0] ? id : "01ARZ3NDEKTSV4RRFFQ69G5FAV";
}

static void route_path(enum route r, char *out, size_t len)
{
    switch (r) {
    case R_REFERRAL:
    case R_LIST_REFERRALS:
        snprintf(out, len, "/v1/referrals");
        break;
    case R_REFERRAL_STATUS:
        snprintf(out, len, "/v1/referrals/%s/status", id_or_fake(fz.referral));
        break;
    case R_REFERRAL_CANCEL:
        snprintf(out, len, "/v1/referrals/%s/cancel", id_or_fake(fz.referral));
        break;
    case R_CONSENT:
    case R_LIST_CONSENTS:
        snprintf(out, len, "/v1/consents");
        break;
    case R_CONSENT_REVOKE:
        snprintf(out, len, "/v1/consents/%s/revoke", id_or_fake(fz.consent));
        break;
    case R_CLAIM:
        snprintf(out, len, "/v1/paths");
        break;
    case R_CLOSE:
        snprintf(out, len, "/v1/paths/" SEED_CLIENT "/close");
        break;
    case R_PLAN:
        snprintf(out, len, "/v1/paths/" SEED_CLIENT "/plan");
        break;
    case R_SERVICE:
        snprintf(out, len, "/v1/paths/" SEED_CLIENT "/services");
        break;
    case R_HANDOVER:
    case R_LIST_HANDOVERS:
        snprintf(out, len, "/v1/handovers");
        break;
    case R_ACCEPT:
    case R_DECLINE:
    case R_WITHDRAW:
        snprintf(out, len, "/v1/handovers/%s/%s", id_or_fake(fz.handover),
                 r == R_ACCEPT    ? "accept"
                 : r == R_DECLINE ? "decline"
                                  : "withdraw");
        break;
    case R_FHIR_TASK:
    case R_FHIR_TASK_SEARCH:
        snprintf(out, len, "/fhir/Task");
        break;
    case R_FHIR_CONSENT_SEARCH:
        snprintf(out, len, "/fhir/Consent");
        break;
    case R_COUNT:
        break;
    }
}

static bool is_list(enum route r)
{
    return r == R_LIST_REFERRALS || r == R_LIST_HANDOVERS ||
           r == R_LIST_CONSENTS || r == R_FHIR_TASK_SEARCH ||
           r == R_FHIR_CONSENT_SEARCH;
}

/* ---------------------------------------------------------------- checks */

static bool documented(unsigned status)
{
    switch (status) {
    case 200:
    case 201:
    case 202:
    case 400:
    case 403:
    case 404:
    case 409:
    case 413:
    case 422: /* a body naming a region the agent does not serve */
    case 503:
    case 504:
    case 507:
        return true;
    default:
        return false;
    }
}

/* The error code of a refusal: error.code, or under /fhir the code in
 * the OperationOutcome's details. */
static const char *refusal_code(json_t *j, bool fhir)
{
    if (!fhir)
        return json_string_value(
            json_object_get(json_object_get(j, "error"), "code"));
    const char *type = json_string_value(json_object_get(j, "resourceType"));
    if (!type || strcmp(type, "OperationOutcome"))
        return NULL;
    json_t *issue = json_array_get(json_object_get(j, "issue"), 0);
    json_t *coding = json_array_get(
        json_object_get(json_object_get(issue, "details"), "coding"), 0);
    return json_string_value(json_object_get(coding, "code"));
}

static void check_answer(const pending *p)
{
    const polku_http_local *out = &p->out;
    bool fhir = strncmp(p->path, "/fhir/", 6) == 0;
    if (!documented(out->status)) {
        fprintf(stderr, "agent_api_fuzz: status %u: %s\n", out->status,
                out->body ? out->body : "");
        abort();
    }
    json_t *j = out->body ? json_loads(out->body, 0, NULL) : NULL;
    if (!json_is_object(j))
        die("an answer that is not a JSON object");
    if (out->status >= 400) {
        const char *code = refusal_code(j, fhir);
        if (!code || !*code)
            die(fhir ? "a FHIR refusal that is not an OperationOutcome with "
                       "the error code"
                     : "a refusal without error.code");
    }
    json_decref(j);
}

/* Keeps the id a 201 handed out, for the endpoints that take one. */
static void learn_id(enum route r, const polku_http_local *out)
{
    char *slot = r == R_REFERRAL || r == R_FHIR_TASK ? fz.referral
                 : r == R_CONSENT                    ? fz.consent
                 : r == R_HANDOVER                   ? fz.handover
                                                     : NULL;
    if (!slot || out->status != 201)
        return;
    json_t *j = json_loads(out->body, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (id && strlen(id) < 32)
        snprintf(slot, 32, "%s", id);
    json_decref(j);
}

static void sweep_waiting(void)
{
    for (pending **p = &waiting; *p;) {
        if ((*p)->out.status) {
            pending *done = *p;
            *p = done->next;
            check_answer(done);
            free(done->out.body);
            free(done->value);
            free(done);
        } else {
            p = &(*p)->next;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size == 0)
        return 0;
    enum route r = (enum route)(data[0] % R_COUNT);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    pending *p = calloc(1, sizeof *p);
    if (!p)
        die("memory");
    route_path(r, p->path, sizeof p->path);
    const char *method = is_list(r) ? "GET" : "POST";
    if (r == R_FHIR_TASK_SEARCH || r == R_FHIR_CONSENT_SEARCH) {
        /* one search parameter, picked by the next byte; the rest its value */
        static const char *const names[] = {"status", "owner", "requester",
                                            "_lastUpdated", "_count"};
        size_t pick = len ? (unsigned char)body[0] % 5 : 0;
        p->value = strndup(len ? body + 1 : "", len ? len - 1 : 0);
        if (!p->value)
            die("memory");
        p->query[0] = r == R_FHIR_CONSENT_SEARCH ? "patient" : names[pick];
        p->query[1] = p->value;
        body = "";
        len = 0;
    } else if (is_list(r)) { /* the bytes become every query value */
        p->value = strndup(body, len);
        if (!p->value)
            die("memory");
        const char *names[] = {"direction", "status", "limit", "client"};
        for (int i = 0; i < 4; i++) {
            p->query[2 * i] = names[i];
            p->query[2 * i + 1] = p->value;
        }
        body = "";
        len = 0;
    }

    uint64_t seq_before = all_seqs();
    polku_http_req *req = polku_http_local_req(method, p->path, p->query,
                                               fz.headers, body, len, &p->out);
    if (!req)
        die("memory");
    api_front_handle(&fz.a.front, req);
    for (int i = 0; i < 50 && !p->out.status; i++)
        uv_run(&fz.loop, UV_RUN_NOWAIT);

    if (getenv("POLKU_FUZZ_VERBOSE"))
        fprintf(stderr, "%s %s -> %u %.160s\n", method, p->path, p->out.status,
                p->out.body ? p->out.body : "(waiting)");
    if (p->out.status) {
        check_answer(p);
        if (p->out.status >= 400 && all_seqs() != seq_before) {
            fprintf(stderr,
                    "agent_api_fuzz: a %u refusal moved the event "
                    "sequence from %llu to %llu\n",
                    p->out.status, (unsigned long long)seq_before,
                    (unsigned long long)all_seqs());
            abort();
        }
        learn_id(r, &p->out);
        free(p->out.body);
        free(p->value);
        free(p);
    } else {
        p->next = waiting;
        waiting = p;
    }
    sweep_waiting();
    return 0;
}
