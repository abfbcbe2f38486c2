/* bench_client.c — keep-alive HTTP clients for the benchmark (see
 * bench_client.h). */
#include "bench_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

uint64_t bc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------- answer buffer */

typedef struct bc_buf {
    char *p;
    size_t len, cap;
} bc_buf;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    bc_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0; /* libcurl reports a write error */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Headers every request carries; NULL on failure. */
static struct curl_slist *make_headers(const char *token)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    struct curl_slist *t = h ? curl_slist_append(h, "Content-Type: "
                                                    "application/json")
                             : NULL;
    if (t && token) {
        char auth[160];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        t = curl_slist_append(t, auth);
    }
    if (!t)
        curl_slist_free_all(h);
    return t ? h : NULL;
}

/* Options shared by both client shapes. */
static void set_common(CURL *e, struct curl_slist *headers, bc_buf *b)
{
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
}

/* ------------------------------------------------------- one connection */

struct bc_conn {
    CURL *e;
    struct curl_slist *headers;
    char base[64];
    bc_buf answer;
    char err[256];
};

bc_conn *bc_conn_new(const char *base_url, const char *token)
{
    bc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = curl_easy_init();
    c->headers = make_headers(token);
    if (!c->e || !c->headers) {
        bc_conn_free(&c);
        return NULL;
    }
    snprintf(c->base, sizeof c->base, "%s", base_url);
    set_common(c->e, c->headers, &c->answer);
    return c;
}

void bc_conn_free(bc_conn **c)
{
    if (!c || !*c)
        return;
    if ((*c)->e)
        curl_easy_cleanup((*c)->e);
    curl_slist_free_all((*c)->headers);
    free((*c)->answer.p);
    free(*c);
    *c = NULL;
}

long bc_request(bc_conn *c, const char *method, const char *path,
                const char *body, size_t body_len)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    c->answer.len = 0;
    if (c->answer.p)
        c->answer.p[0] = '\0';
    c->err[0] = '\0';
    curl_easy_setopt(c->e, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    } else {
        curl_easy_setopt(c->e, CURLOPT_HTTPGET, 1L);
    }
    bool plain = (body && strcmp(method, "POST") == 0) ||
                 (!body && strcmp(method, "GET") == 0);
    curl_easy_setopt(c->e, CURLOPT_CUSTOMREQUEST, plain ? NULL : method);
    CURLcode rc = curl_easy_perform(c->e);
    if (rc != CURLE_OK) {
        snprintf(c->err, sizeof c->err, "%.8s %.160s: %.80s", method, url,
                 curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

const char *bc_body(const bc_conn *c, size_t *len)
{
    if (len)
        *len = c->answer.len;
    return c->answer.p ? c->answer.p : "";
}

const char *bc_error(const bc_conn *c)
{
    return c->err;
}

/* ------------------------------------------------------------ pipelined */

#define BC_BODY_MAX 4096 /* unless the pipeline says (body_max) */

typedef struct bc_slot {
    CURL *e;
    bc_buf answer;
    char *body;
    size_t body_cap;
} bc_slot;

typedef struct bc_run {
    const bc_pipeline *p;
    bc_pipeline_result *out;
    CURLM *multi;
    struct curl_slist *headers;
    bc_slot *slots;
    size_t issued;
    char url[512];
} bc_run;

static void note_failure(bc_run *r, long status, const char *what)
{
    if (r->out->failed++ == 0) {
        r->out->first_bad_status = status;
        snprintf(r->out->first_bad, sizeof r->out->first_bad, "%s", what);
    }
}

/* Puts POST number r->issued on slot s. false if the body could not be
 * made (counted as a failure). */
static bool start_next(bc_run *r, bc_slot *s)
{
    size_t len = r->p->body(r->issued, s->body, s->body_cap, r->p->arg);
    if (len == 0 || len >= s->body_cap) {
        note_failure(r, 0, "request body could not be made");
        return false;
    }
    r->issued++;
    s->answer.len = 0;
    curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    return curl_multi_add_handle(r->multi, s->e) == CURLM_OK;
}

/* Checks one finished transfer; true if it was a success. */
static bool finish(bc_run *r, CURLMsg *m)
{
    long status = 0, conns = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &conns);
    r->out->connections += (int)conns;
    if (m->data.result != CURLE_OK) {
        note_failure(r, 0, curl_easy_strerror(m->data.result));
        return false;
    }
    if (status != r->p->want_status) {
        bc_slot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        note_failure(r, status, s && s->answer.p ? s->answer.p : "");
        return false;
    }
    r->out->answered++;
    r->out->last_answer_ns = bc_now_ns();
    return true;
}

/* Collects finished transfers and restarts their slots. Returns the number
 * of transfers still running after the restarts, -1 to stop. */
static int reap(bc_run *r, int running)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        bc_slot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        bool ok = finish(r, m);
        curl_multi_remove_handle(r->multi, s->e);
        if (!ok)
            return -1;
        if (r->issued < r->p->count) {
            if (!start_next(r, s))
                return -1;
            running++;
        }
    }
    return running;
}

static int run_loop(bc_run *r)
{
    int running = 0;
    for (int i = 0; i < r->p->concurrency && r->issued < r->p->count; i++)
        if (!start_next(r, &r->slots[i]))
            return -1;
    do {
        if (curl_multi_perform(r->multi, &running) != CURLM_OK)
            return -1;
        running = reap(r, running);
        if (running < 0)
            return -1;
        if (bc_now_ns() > r->p->deadline_ns) {
            note_failure(r, 0,
                         "deadline reached before every POST was "
                         "answered");
            return -1;
        }
        if (running > 0)
            curl_multi_poll(r->multi, NULL, 0, 100, NULL);
    } while (running > 0 || r->issued < r->p->count);
    return r->out->answered == r->p->count ? 0 : -1;
}

static bool setup(bc_run *r)
{
    const bc_pipeline *p = r->p;
    snprintf(r->url, sizeof r->url, "%s%s", p->base_url, p->path);
    r->multi = curl_multi_init();
    r->headers = make_headers(p->token);
    r->slots = calloc((size_t)p->concurrency, sizeof *r->slots);
    if (!r->multi || !r->headers || !r->slots)
        return false;
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)p->concurrency);
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)p->concurrency);
    for (int i = 0; i < p->concurrency; i++) {
        bc_slot *s = &r->slots[i];
        s->body_cap = p->body_max ? p->body_max : BC_BODY_MAX;
        s->body = malloc(s->body_cap);
        s->e = curl_easy_init();
        if (!s->e || !s->body)
            return false;
        set_common(s->e, r->headers, &s->answer);
        curl_easy_setopt(s->e, CURLOPT_URL, r->url);
        if (p->source) {
            char iface[80];
            snprintf(iface, sizeof iface, "host!%s", p->source);
            curl_easy_setopt(s->e, CURLOPT_INTERFACE, iface);
        }
        curl_easy_setopt(s->e, CURLOPT_PRIVATE, (char *)s);
    }
    return true;
}

static void teardown(bc_run *r)
{
    for (int i = 0; r->slots && i < r->p->concurrency; i++) {
        bc_slot *s = &r->slots[i];
        free(s->body);
        if (!s->e)
            continue;
        curl_multi_remove_handle(r->multi, s->e);
        curl_easy_cleanup(s->e);
        free(s->answer.p);
    }
    free(r->slots);
    if (r->multi)
        curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->headers);
}

int bc_post_pipelined(const bc_pipeline *p, bc_pipeline_result *out)
{
    memset(out, 0, sizeof *out);
    bc_run r = {.p = p, .out = out};
    int rc = -1;
    if (p->concurrency < 1)
        note_failure(&r, 0, "concurrency must be at least 1");
    else if (!setup(&r))
        note_failure(&r, 0, "out of memory setting up libcurl");
    else
        rc = run_loop(&r);
    teardown(&r);
    return rc;
}
