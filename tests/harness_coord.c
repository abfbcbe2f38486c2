/* harness_coord.c — coordination helpers for the integration tests: path
 * claims, handovers, the broker's path and stats JSON, requests sent
 * concurrently (libcurl multi), and [rule] text in agent configs. */
#include "harness_coord.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "polku/clock.h"

const char *const hc_all_purposes[] = {"referral", "handover", "path", "plan",
                                       NULL};

const char *hc_body(const h_resp *r)
{
    return r->body && r->body[0] ? r->body : r->err;
}

/* ------------------------------------------------------------- consents */

void hc_consent(h_org *at, const char *key, h_org *const with[], int n,
                const char *const purposes[], char cid[64])
{
    const char *orgs[H_MAX_ORGS + 2];
    int k = 0;
    orgs[k++] = at->id;
    for (int i = 0; i < n && k < H_MAX_ORGS + 1; i++)
        orgs[k++] = with[i]->id;
    orgs[k] = NULL;
    h_resp resp;
    long st = h_consent_grant(at, key, orgs, purposes ? purposes
                                                      : hc_all_purposes,
                              cid, &resp);
    if (st != 201 || !cid[0]) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", hc_body(&resp));
        h_resp_free(&resp);
        H_FAIL("consent of %s at %s: want 201 with an id, got %ld %s", key,
               at->id, st, msg);
    }
    h_resp_free(&resp);
}

void hc_wait_consent(h_org *o, const char *key, const char *cid)
{
    H_WAIT_UNTIL(H_SEC(15), h_consent_state_is(o, key, cid, "active"),
                 "%s to hold consent %s of %s as active", o->id, cid, key);
}

/* ---------------------------------------------------------------- paths */

static json_t *client_of(const char *key)
{
    return json_pack("{s:s}", "key", key);
}

long hc_claim(h_org *o, const char *key, h_resp *resp)
{
    return h_api_json(o, "POST", "/v1/paths",
                      json_pack("{s:o}", "client", client_of(key)), resp);
}

void hc_claim_ok(h_org *o, const char *key)
{
    h_resp resp;
    long st = hc_claim(o, key, &resp);
    const char *coord = hc_coordinator(resp.json);
    if (st != 201 || strcmp(coord, o->id) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", hc_body(&resp));
        h_resp_free(&resp);
        H_FAIL("claim of %s by %s: want 201 naming %s, got %ld %s", key,
               o->id, o->id, st, msg);
    }
    h_resp_free(&resp);
}

static json_t *get_json(h_http *c, const char *token, const char *path)
{
    h_resp resp;
    json_t *j = NULL;
    if (h_http_request(c, "GET", path, token, NULL, 0, &resp) == 200 &&
        json_is_object(resp.json))
        j = json_incref(resp.json);
    h_resp_free(&resp);
    return j;
}

json_t *hc_path(h_org *o, const char *key)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/paths/%s?view=local", key);
    return get_json(o->http, o->token, path);
}

json_t *hc_broker_path(h_region *r, const char *key)
{
    char path[128], name[33];
    h_display_name(r, key, name);
    snprintf(path, sizeof path, "/api/v1/paths/%s", name);
    return get_json(r->broker_http, NULL, path);
}

json_t *hc_broker_stats(h_region *r)
{
    return get_json(r->broker_http, NULL, "/api/v1/stats?digest=1");
}

const char *hc_coordinator(const json_t *j)
{
    json_t *c = json_object_get(j, "coordinator");
    if (json_is_null(c))
        return "";
    return json_is_string(c) ? json_string_value(c) : "?";
}

long long hc_int(const json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

const char *hc_str(const json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_string(v) ? json_string_value(v) : "";
}

const char *hc_coordinator_at(h_org *o, const char *key, char *out,
                              size_t len)
{
    json_t *j = hc_path(o, key);
    snprintf(out, len, "%s", hc_coordinator(j));
    json_decref(j);
    return out;
}

const char *hc_coordinator_at_broker(h_region *r, const char *key, char *out,
                                     size_t len)
{
    json_t *j = hc_broker_path(r, key);
    snprintf(out, len, "%s", hc_coordinator(j));
    json_decref(j);
    return out;
}

bool hc_broker_replayed(h_region *r, const char *org)
{
    json_t *j = h_broker_health(r);
    bool found = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "replayed"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), org) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

void hc_wait_replayed(h_region *r, uint64_t timeout_ms)
{
    for (int i = 0; i < r->norgs; i++) {
        h_org *o = &r->orgs[i];
        if (!h_proc_running(&o->proc))
            continue;
        h_wait_agent_connected(o, timeout_ms);
        H_WAIT_UNTIL(timeout_ms, hc_broker_replayed(r, o->id),
                     "the broker to list %s in /healthz \"replayed\"", o->id);
    }
}

long hc_service(h_org *o, const char *key, const char *service,
                const char *state, h_resp *resp)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/paths/%s/services", key);
    return h_api_json(o, "POST", path,
                      json_pack("{s:s, s:s}", "service", service, "state",
                                state),
                      resp);
}

/* ------------------------------------------------------------ handovers */

long hc_offer(h_org *o, const char *key, const char *to, char *id_out,
              h_resp *resp)
{
    char due[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 14ull * 86400000ull, due, sizeof due);
    json_t *body = json_pack(
        "{s:o, s:s, s:{s:s, s:i, s:s}, s:b, s:s}", "client", client_of(key),
        "to", to, "plan", "plan_id", "plan-1", "version", 1, "review_due", due,
        "plan_current", 1, "note", "handover test: next steps agreed");
    h_resp local;
    h_resp *r = resp ? resp : &local;
    long st = h_api_json(o, "POST", "/v1/handovers", body, r);
    if (id_out) {
        const char *id = hc_str(r->json, "id");
        snprintf(id_out, 64, "%s", st == 201 ? id : "");
    }
    if (!resp)
        h_resp_free(&local);
    return st;
}

void hc_offer_ok(h_org *o, const char *key, const char *to, char id[64])
{
    h_resp resp;
    long st = hc_offer(o, key, to, id, &resp);
    if (st != 201 || !id[0]) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", hc_body(&resp));
        h_resp_free(&resp);
        H_FAIL("handover of %s from %s to %s: want 201 with an id, got %ld "
               "%s",
               key, o->id, to, st, msg);
    }
    const char *status = hc_str(resp.json, "status");
    H_CHECK(strcmp(status, "offered") == 0,
            "a new handover is 'offered' (got '%s')", status);
    h_resp_free(&resp);
}

long hc_handover_act(h_org *o, const char *id, const char *verb,
                     const char *reason, h_resp *resp)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/handovers/%s/%s", id, verb);
    json_t *body = json_object();
    if (reason)
        json_object_set_new(body, "reason", json_string(reason));
    h_resp local;
    long st = h_api_json(o, "POST", path, body, resp ? resp : &local);
    if (!resp)
        h_resp_free(&local);
    return st;
}

json_t *hc_handover(h_org *o, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/handovers/%s", id);
    return get_json(o->http, o->token, path);
}

const char *hc_handover_status(h_org *o, const char *id, char *out,
                               size_t len)
{
    json_t *j = hc_handover(o, id);
    snprintf(out, len, "%s", hc_str(j, "status"));
    json_decref(j);
    return out;
}

json_t *hc_handover_list(h_org *o, const char *direction, const char *status)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/handovers?%s%s%s%s",
             direction ? "direction=" : "", direction ? direction : "",
             status ? (direction ? "&status=" : "status=") : "",
             status ? status : "");
    json_t *j = get_json(o->http, o->token, path);
    json_t *list = json_object_get(j, "handovers");
    json_t *out = json_is_array(list) ? json_incref(list) : NULL;
    json_decref(j);
    return out;
}

long hc_handover_count(h_org *o, const char *direction, const char *status)
{
    json_t *l = hc_handover_list(o, direction, status);
    long n = l ? (long)json_array_size(l) : -1;
    json_decref(l);
    return n;
}

long hc_handover_count_where(h_org *o, const char *name, const char *value)
{
    json_t *l = hc_handover_list(o, NULL, NULL);
    if (!l)
        return -1;
    long n = 0;
    size_t i;
    json_t *h;
    json_array_foreach(l, i, h)
    {
        n += strcmp(hc_str(h, name), value) == 0;
    }
    json_decref(l);
    return n;
}

/* ----------------------------------------------------- concurrent calls */

void hc_req_set(hc_req *req, h_org *o, const char *method, const char *path,
                json_t *json)
{
    memset(req, 0, sizeof *req);
    req->org = o;
    req->method = method;
    snprintf(req->path, sizeof req->path, "%s", path);
    if (json) {
        req->body = json_dumps(json, JSON_COMPACT);
        json_decref(json);
        H_REQUIRE(req->body, "cannot encode a request body");
    }
}

typedef struct hc_xfer {
    CURL *curl;
    struct curl_slist *hdrs;
    char *data;
    size_t len, cap;
    bool oom;
} hc_xfer;

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    hc_xfer *x = arg;
    size_t n = size * nmemb;
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 1024;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *q = realloc(x->data, cap);
        if (!q) {
            x->oom = true;
            return 0;
        }
        x->data = q;
        x->cap = cap;
    }
    memcpy(x->data + x->len, p, n);
    x->len += n;
    x->data[x->len] = '\0';
    return n;
}

enum { HC_MAX_CONCURRENT = 16 };

void hc_concurrent(hc_req *reqs, int n)
{
    H_REQUIRE(n > 0 && n <= HC_MAX_CONCURRENT, "hc_concurrent: %d requests",
              n);
    CURLM *multi = curl_multi_init();
    H_REQUIRE(multi, "curl_multi_init failed");
    hc_xfer x[HC_MAX_CONCURRENT];
    memset(x, 0, sizeof x);
    char auth[HC_MAX_CONCURRENT][128], url[HC_MAX_CONCURRENT][512];
    for (int i = 0; i < n; i++) {
        hc_req *q = &reqs[i];
        memset(&q->resp, 0, sizeof q->resp);
        x[i].curl = curl_easy_init();
        H_REQUIRE(x[i].curl, "curl_easy_init failed");
        snprintf(url[i], sizeof url[i], "%s%s", q->org->url, q->path);
        snprintf(auth[i], sizeof auth[i], "Authorization: Bearer %s",
                 q->org->token);
        x[i].hdrs = curl_slist_append(NULL, "Expect:");
        x[i].hdrs = curl_slist_append(x[i].hdrs, auth[i]);
        if (q->body)
            x[i].hdrs = curl_slist_append(x[i].hdrs,
                                          "Content-Type: application/json");
        CURL *h = x[i].curl;
        curl_easy_setopt(h, CURLOPT_URL, url[i]);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)H_SEC(20));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)H_SEC(5));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, x[i].hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x[i]);
        if (strcmp(q->method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(q->body ? strlen(q->body) : 0));
        } else if (strcmp(q->method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        }
        curl_multi_add_handle(multi, h);
    }
    int running = 1;
    while (running) {
        CURLMcode mc = curl_multi_perform(multi, &running);
        H_REQUIRE(mc == CURLM_OK, "curl_multi_perform: %s",
                  curl_multi_strerror(mc));
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        for (int i = 0; i < n; i++) {
            if (x[i].curl != m->easy_handle)
                continue;
            h_resp *r = &reqs[i].resp;
            if (m->data.result != CURLE_OK) {
                snprintf(r->err, sizeof r->err, "%s %.128s: %s",
                         reqs[i].method, url[i],
                         curl_easy_strerror(m->data.result));
                break;
            }
            curl_easy_getinfo(x[i].curl, CURLINFO_RESPONSE_CODE, &r->status);
            r->body = x[i].data ? x[i].data : strdup("");
            r->len = x[i].len;
            x[i].data = NULL;
            if (r->len)
                r->json = json_loadb(r->body, r->len, 0, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, x[i].curl);
        curl_easy_cleanup(x[i].curl);
        curl_slist_free_all(x[i].hdrs);
        free(x[i].data);
        free(reqs[i].body);
        reqs[i].body = NULL;
    }
    curl_multi_cleanup(multi);
}

/* --------------------------------------------------------------- config */

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* Writes text to path (replacing it); the case ends on failure. */
static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    H_REQUIRE(f, "create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    H_REQUIRE(ok, "write %s failed", path);
}

int hc_agent_config_append(h_org *o, const char *text)
{
    if (!o->region->written)
        h_region_write(o->region);
    char *old = h_read_file(o->proc.config, NULL);
    H_REQUIRE(old, "read %s: %s", o->proc.config, strerror(errno));
    bool nl = old[0] && old[strlen(old) - 1] != '\n';
    int first = count_lines(old) + (nl ? 1 : 0) + 2; /* after a blank */
    size_t len = strlen(old) + strlen(text) + 4;
    char *all = malloc(len);
    H_REQUIRE(all, "out of memory");
    snprintf(all, len, "%s%s\n%s", old, nl ? "\n" : "", text);
    free(old);
    put_file(o->proc.config, all);
    free(all);
    return first;
}

int hc_agent_try_config(h_org *o, const char *name, const char *text,
                        bool fresh_store, int *first_line, char *out,
                        size_t out_len)
{
    h_region *r = o->region;
    if (!r->written)
        h_region_write(r);
    char *old = h_read_file(o->proc.config, NULL);
    H_REQUIRE(old, "read %s: %s", o->proc.config, strerror(errno));
    size_t cap = strlen(old) + strlen(text) + 1024;
    char *all = malloc(cap);
    H_REQUIRE(all, "out of memory");
    size_t off = 0;
    int lines = 0;
    for (char *line = old; *line;) {
        char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (fresh_store && strncmp(line, "store", 5) == 0 &&
            (line[5] == ' ' || line[5] == '='))
            off += (size_t)snprintf(all + off, cap - off,
                                    "store = %s/data/%s\n", r->dir, name);
        else
            off += (size_t)snprintf(all + off, cap - off, "%.*s\n", (int)n,
                                    line);
        lines++;
        line = eol ? eol + 1 : line + n;
    }
    off += (size_t)snprintf(all + off, cap - off, "\n%s", text);
    free(old);
    char path[600], out_path[600];
    snprintf(path, sizeof path, "%s/%s.ini", r->dir, name);
    snprintf(out_path, sizeof out_path, "%s/%s.out", r->dir, name);
    put_file(path, all);
    free(all);
    if (first_line)
        *first_line = lines + 2;
    char *argv[] = {(char *)POLKU_AGENT_BIN, (char *)"--config", path, NULL};
    remove(out_path);
    int rc = h_run_program(argv, out_path, H_SEC(10));
    char *got = h_read_file(out_path, NULL);
    snprintf(out, out_len, "%s", got ? got : "");
    free(got);
    return rc;
}
