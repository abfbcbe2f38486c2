/* harness_http.c — HTTP to the agents and the broker (libcurl, one
 * keep-alive handle each), referral helpers and the CLI runner. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "harness_internal.h"
#include "polku/clock.h"

struct h_http {
    CURL *curl;
    char base[64];
    const char *server; /* "agent" or "broker" */
};

h_http *h_http_new(const char *base_url, const char *server)
{
    h_http *c = calloc(1, sizeof *c);
    H_REQUIRE(c, "out of memory");
    c->curl = curl_easy_init();
    H_REQUIRE(c->curl, "curl_easy_init failed");
    snprintf(c->base, sizeof c->base, "%s", base_url);
    c->server = server;
    return c;
}

void h_http_free(h_http **c)
{
    if (!c || !*c)
        return;
    curl_easy_cleanup((*c)->curl);
    free(*c);
    *c = NULL;
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

void h_resp_free(h_resp *r)
{
    if (!r)
        return;
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *h_resp_error_code(const h_resp *r)
{
    json_t *code = json_object_get(json_object_get(r->json, "error"), "code");
    return json_is_string(code) ? json_string_value(code) : "";
}

long h_http_request(h_http *c, const char *method, const char *path,
                    const char *token, const char *body, size_t body_len,
                    h_resp *out)
{
    memset(out, 0, sizeof *out);
    H_REQUIRE(c, "no HTTP handle");
    CURL *h = c->curl;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    buf b = {0};
    struct curl_slist *hdrs = NULL;
    char auth[128];
    hdrs = curl_slist_append(hdrs, "Expect:");
    /* FHIR clients send FHIR's media type */
    const char *type = strncmp(path, "/fhir/", 6) == 0 ? "application/fhir+json"
                                                       : "application/json";
    char type_header[64];
    snprintf(type_header, sizeof type_header, "Content-Type: %s", type);
    if (body)
        hdrs = curl_slist_append(hdrs, type_header);
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_reset(h); /* keeps the live connection */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)H_SEC(20));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)H_SEC(5));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (!(strcmp(method, "POST") == 0 && body))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        snprintf(out->err, sizeof out->err, "%s %.60s%.120s: %s", method,
                 c->base, path, curl_easy_strerror(rc));
        free(b.p);
        return 0;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.p ? b.p : strdup("");
    out->len = b.len;
    struct curl_header *loc = NULL;
    if (curl_easy_header(h, "Location", 0, CURLH_HEADER, -1, &loc) ==
            CURLHE_OK &&
        loc)
        snprintf(out->location, sizeof out->location, "%s", loc->value);
    char *resp_type = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &resp_type);
    h_record_exchange(c->server, method, path, body ? type : NULL, body,
                      body_len, out->status, resp_type, out->body, out->len);
    if (out->len)
        out->json = json_loadb(out->body, out->len, 0, NULL);
    return out->status;
}

long h_api(h_org *o, const char *method, const char *path, const char *body,
           h_resp *out)
{
    return h_http_request(o->http, method, path, o->token, body,
                          body ? strlen(body) : 0, out);
}

long h_api_json(h_org *o, const char *method, const char *path, json_t *body,
                h_resp *out)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    H_REQUIRE(text, "cannot encode a request body");
    long st = h_api(o, method, path, text, out);
    free(text);
    return st;
}

/* ---------------------------------------------------------------- health */

json_t *h_agent_health(h_org *o)
{
    h_resp r;
    if (h_http_request(o->http, "GET", "/healthz", NULL, NULL, 0, &r) != 200 ||
        !json_is_object(r.json)) {
        h_resp_free(&r);
        return NULL;
    }
    json_t *j = json_incref(r.json);
    h_resp_free(&r);
    return j;
}

bool h_agent_connected(h_org *o)
{
    json_t *j = h_agent_health(o);
    const char *b = json_string_value(json_object_get(j, "broker"));
    bool ok = b && strcmp(b, "connected") == 0;
    json_decref(j);
    return ok;
}

long h_agent_outbox_pending(h_org *o)
{
    json_t *j = h_agent_health(o);
    json_t *v = json_object_get(j, "outbox_pending");
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

void h_wait_agent_connected(h_org *o, uint64_t timeout_ms)
{
    H_WAIT_UNTIL(timeout_ms,
                 h_agent_connected(o) &&
                     h_broker_lists_connected(o->region, o->id),
                 "agent %s to report the broker connected and the broker "
                 "to list it in /healthz \"connected\"",
                 o->id);
}

json_t *h_broker_health(h_region *r)
{
    h_resp resp;
    if (h_http_request(r->broker_http, "GET", "/healthz", NULL, NULL, 0,
                       &resp) != 200 ||
        !json_is_object(resp.json)) {
        h_resp_free(&resp);
        return NULL;
    }
    json_t *j = json_incref(resp.json);
    h_resp_free(&resp);
    return j;
}

bool h_broker_lists_connected(h_region *r, const char *org)
{
    json_t *j = h_broker_health(r);
    json_t *list = json_object_get(j, "connected");
    bool found = false;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), org) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

static double metric_from(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (line[0] != '#' && strncmp(line, sample, n) == 0 &&
            (line[n] == ' ' || line[n] == '\t'))
            return strtod(line + n + 1, NULL);
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

double h_broker_metric(h_region *r, const char *sample)
{
    h_resp resp;
    double v = -1;
    if (h_http_request(r->broker_http, "GET", "/metrics", NULL, NULL, 0,
                       &resp) == 200)
        v = metric_from(resp.body, sample);
    h_resp_free(&resp);
    return v;
}

double h_agent_metric(h_org *o, const char *sample)
{
    h_resp resp;
    double v = -1;
    if (h_api(o, "GET", "/metrics", NULL, &resp) == 200)
        v = metric_from(resp.body, sample);
    h_resp_free(&resp);
    return v;
}

/* ------------------------------------------------------------------- ids */

void h_ids_free(h_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    free(ids->v);
    ids->v = NULL;
    ids->n = 0;
}

void h_ids_add(h_ids *ids, const char *id)
{
    char **v = realloc(ids->v, (ids->n + 1) * sizeof *v);
    H_REQUIRE(v, "out of memory");
    ids->v = v;
    ids->v[ids->n] = strdup(id);
    H_REQUIRE(ids->v[ids->n], "out of memory");
    ids->n++;
}

bool h_ids_contains(const h_ids *ids, const char *id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (strcmp(ids->v[i], id) == 0)
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t h_ids_duplicates(const h_ids *ids)
{
    if (ids->n < 2)
        return 0;
    char **copy = malloc(ids->n * sizeof *copy);
    H_REQUIRE(copy, "out of memory");
    memcpy(copy, ids->v, ids->n * sizeof *copy);
    qsort(copy, ids->n, sizeof *copy, cmp_str);
    size_t dups = 0;
    for (size_t i = 1; i < ids->n; i++)
        dups += strcmp(copy[i - 1], copy[i]) == 0;
    free(copy);
    return dups;
}

void h_client_key(char out[33])
{
    uint8_t raw[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, 33, raw, sizeof raw);
}

/* -------------------------------------------------------------- consents */

long h_consent_grant(h_org *o, const char *client_key, const char *const orgs[],
                     const char *const purposes[], char *id_out, h_resp *resp)
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 30ull * 86400000ull, until,
                      sizeof until);
    json_t *org_list = json_array(), *purpose_list = json_array();
    for (int i = 0; orgs && orgs[i]; i++)
        json_array_append_new(org_list, json_string(orgs[i]));
    if (!purposes)
        json_array_append_new(purpose_list, json_string("referral"));
    for (int i = 0; purposes && purposes[i]; i++)
        json_array_append_new(purpose_list, json_string(purposes[i]));
    json_t *body =
        json_pack("{s:{s:s}, s:o, s:o, s:s, s:s}", "client", "key", client_key,
                  "orgs", org_list, "purposes", purpose_list, "valid_until",
                  until, "form", "Y100");
    h_resp local;
    h_resp *r = resp ? resp : &local;
    long st = h_api_json(o, "POST", "/v1/consents", body, r);
    if (id_out) {
        const char *id = json_string_value(json_object_get(r->json, "id"));
        snprintf(id_out, 64, "%s", st == 201 && id ? id : "");
    }
    if (!resp)
        h_resp_free(&local);
    return st;
}

void h_consent_ok(h_org *o, const char *client_key, const char *to)
{
    const char *orgs[] = {o->id, to, NULL};
    h_resp resp;
    long st = h_consent_grant(o, client_key, orgs, NULL, NULL, &resp);
    if (st != 201) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", resp.body ? resp.body : resp.err);
        h_resp_free(&resp);
        H_FAIL("consent of %s for %s and %s at %s: want 201, got %ld %s",
               client_key, o->id, to, o->id, st, msg);
    }
    h_resp_free(&resp);
}

/* ------------------------------------------------------------- referrals */

long h_referral_create(h_org *o, const char *client_key, const char *to,
                       const char *service, const char *reason, char *id_out,
                       h_resp *resp)
{
    json_t *body =
        json_pack("{s:{s:s}, s:s, s:s, s:b}", "client", "key", client_key,
                  "reason", reason, "urgency", "routine", "transfer", 0);
    if (to)
        json_object_set_new(body, "to", json_string(to));
    else
        json_object_set_new(body, "service", json_string(service));
    h_resp local;
    h_resp *r = resp ? resp : &local;
    long st = h_api_json(o, "POST", "/v1/referrals", body, r);
    if (id_out) {
        const char *id = json_string_value(json_object_get(r->json, "id"));
        snprintf(id_out, 64, "%s", st == 201 && id ? id : "");
    }
    if (!resp)
        h_resp_free(&local);
    return st;
}

long h_referral_list(h_org *o, const char *direction, const char *status,
                     h_ids *ids)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/referrals?%s%s%s%s",
             direction ? "direction=" : "", direction ? direction : "",
             status ? (direction ? "&status=" : "status=") : "",
             status ? status : "");
    h_resp r;
    long count = -1;
    if (h_api(o, "GET", path, NULL, &r) == 200) {
        json_t *list = json_object_get(r.json, "referrals");
        json_t *c = json_object_get(r.json, "count");
        if (json_is_array(list) && json_is_integer(c)) {
            count = (long)json_integer_value(c);
            size_t i;
            json_t *v;
            json_array_foreach(list, i, v)
            {
                const char *id = json_string_value(json_object_get(v, "id"));
                if (ids && id)
                    h_ids_add(ids, id);
            }
        }
    }
    h_resp_free(&r);
    return count;
}

json_t *h_referral_get(h_org *o, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/referrals/%s", id);
    h_resp r;
    json_t *j = NULL;
    if (h_api(o, "GET", path, NULL, &r) == 200 && json_is_object(r.json))
        j = json_incref(r.json);
    h_resp_free(&r);
    return j;
}

const char *h_referral_status(h_org *o, const char *id, char *out, size_t len)
{
    json_t *j = h_referral_get(o, id);
    const char *s = json_string_value(json_object_get(j, "status"));
    snprintf(out, len, "%s", s ? s : "");
    json_decref(j);
    return out;
}

long h_referral_set_status(h_org *o, const char *id, const char *status,
                           const char *reason, const char *outcome,
                           h_resp *resp)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/referrals/%s/status", id);
    json_t *body = json_pack("{s:s}", "status", status);
    if (reason)
        json_object_set_new(body, "reason", json_string(reason));
    if (outcome)
        json_object_set_new(body, "outcome", json_string(outcome));
    h_resp local;
    long st = h_api_json(o, "POST", path, body, resp ? resp : &local);
    if (!resp)
        h_resp_free(&local);
    return st;
}

long h_referral_cancel(h_org *o, const char *id, const char *reason,
                       h_resp *resp)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/referrals/%s/cancel", id);
    h_resp local;
    long st = h_api_json(o, "POST", path, json_pack("{s:s}", "reason", reason),
                         resp ? resp : &local);
    if (!resp)
        h_resp_free(&local);
    return st;
}

void h_wait_status(h_org *o, const char *id, const char *status,
                   uint64_t timeout_ms)
{
    char seen[64] = "";
    H_WAIT_UNTIL(timeout_ms,
                 strcmp(h_referral_status(o, id, seen, sizeof seen), status) ==
                     0,
                 "referral %s at %s to reach status '%s' (last seen: '%s')", id,
                 o->id, status, seen[0] ? seen : "(not found)");
}

void h_history_statuses(json_t *referral, char *out, size_t len)
{
    size_t off = 0, i;
    json_t *e;
    out[0] = 0;
    json_array_foreach(json_object_get(referral, "history"), i, e)
    {
        const char *s = json_string_value(json_object_get(e, "status"));
        int n =
            snprintf(out + off, len - off, "%s%s", i ? "," : "", s ? s : "?");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* ------------------------------------------------------------------- CLI */

int h_cli(h_org *o, char *out, size_t out_len, const char *const args[])
{
    static int runs;
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/cli-%d.out", o->region->dir,
             ++runs);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)POLKU_CLI_BIN;
    argv[n++] = (char *)"--agent";
    argv[n++] = o->url;
    argv[n++] = (char *)"--token-file";
    argv[n++] = o->token_file;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    int rc = h_run_program(argv, out_path, H_SEC(20));
    out[0] = 0;
    FILE *f = fopen(out_path, "r");
    if (f) {
        size_t got = fread(out, 1, out_len - 1, f);
        out[got] = 0;
        fclose(f);
    }
    return rc;
}
