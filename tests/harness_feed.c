/* harness_feed.c — helpers for the feed and dashboard tests: an [sla]
 * section in the broker config, programs looked up on PATH, an SSE reader
 * and a raw CURVE peer that plays an agent's side of a replay. */
#include "harness_feed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zmq.h>

void h_broker_config_append(h_region *r, const char *text)
{
    if (!r->written)
        h_region_write(r);
    const char *path = r->broker.config;
    char *have = h_read_file(path, NULL);
    H_REQUIRE(have, "read %s: %s", path, strerror(errno));
    bool present = strstr(have, text) != NULL;
    bool newline = have[0] && have[strlen(have) - 1] != '\n';
    free(have);
    if (present)
        return;
    FILE *f = fopen(path, "a");
    H_REQUIRE(f, "append to %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = fprintf(f, "%s\n%s%s", newline ? "\n" : "", text,
                      len && text[len - 1] == '\n' ? "" : "\n") > 0;
    ok &= fclose(f) == 0;
    H_REQUIRE(ok, "append to %s: %s", path, strerror(errno));
}

void h_broker_sla_all(h_region *r, const char *referral_receipt,
                      const char *referral_answer,
                      const char *rejection_followup,
                      const char *handover_answer, const char *path_coordinator)
{
    const char *names[] = {"referral_receipt", "referral_answer",
                           "rejection_followup", "handover_answer",
                           "path_coordinator"};
    const char *values[] = {referral_receipt, referral_answer,
                            rejection_followup, handover_answer,
                            path_coordinator};
    char text[512];
    int n = snprintf(text, sizeof text, "[sla]\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (values[i])
            n += snprintf(text + n, sizeof text - (size_t)n, "%s = %s\n",
                          names[i], values[i]);
    H_REQUIRE(n < (int)sizeof text, "[sla] section too long");
    h_broker_config_append(r, text);
}

void h_broker_sla(h_region *r, const char *referral_receipt,
                  const char *referral_answer, const char *rejection_followup,
                  const char *handover_answer)
{
    h_broker_sla_all(r, referral_receipt, referral_answer, rejection_followup,
                     handover_answer, NULL);
}

bool h_find_program(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return false;
        snprintf(out, len, "%s", name);
        return true;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dlen = end ? (size_t)(end - path) : strlen(path);
        int n = snprintf(out, len, "%.*s/%s", (int)dlen, path, name);
        if (dlen > 0 && n > 0 && (size_t)n < len && access(out, X_OK) == 0)
            return true;
        path += dlen + (end ? 1 : 0);
    }
    out[0] = '\0';
    return false;
}

/* ------------------------------------------------------------ SSE reader */

struct h_sse {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char *raw; /* everything received */
    size_t len, cap;
    size_t parsed; /* raw[0..parsed) is split into blocks */
    h_sse_event *ev;
    size_t n, ncap;
    char last_id[64];
    bool ended;
};

static size_t sse_on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    h_sse *s = arg;
    size_t n = size * nmemb;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 8192;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->raw, cap);
        if (!p)
            return 0;
        s->raw = p;
        s->cap = cap;
    }
    memcpy(s->raw + s->len, data, n);
    s->len += n;
    s->raw[s->len] = '\0';
    return n;
}

h_sse *h_sse_open(const char *url, const char *last_event_id)
{
    h_sse *s = calloc(1, sizeof *s);
    H_REQUIRE(s, "out of memory");
    s->raw = calloc(1, 1);
    s->cap = 1;
    s->multi = curl_multi_init();
    s->easy = curl_easy_init();
    H_REQUIRE(s->raw && s->multi && s->easy, "curl init for %s", url);
    if (last_event_id) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", last_event_id);
        s->hdrs = curl_slist_append(s->hdrs, hdr);
    }
    s->hdrs = curl_slist_append(s->hdrs, "Accept: text/event-stream");
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, sse_on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)H_SEC(5));
    H_REQUIRE(curl_multi_add_handle(s->multi, s->easy) == CURLM_OK,
              "curl_multi_add_handle for %s", url);
    /* attached once the hub's preamble (retry:) is here */
    H_WAIT_UNTIL(H_SEC(5), (h_sse_pump(s, 20), s->len > 0 || s->ended),
                 "the first bytes of the SSE stream %s", url);
    H_REQUIRE(!s->ended, "the SSE stream %s ended at once: %s", url, s->raw);
    return s;
}

h_sse *h_sse_open_broker(h_region *r, const char *last_event_id)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/events",
             r->broker_http_port);
    return h_sse_open(url, last_event_id);
}

/* One block (lines without the blank line that ends it). */
static void sse_block(h_sse *s, char *block)
{
    h_sse_event e = {0};
    bool has_id = false, has_body = false;
    char *save = NULL;
    for (char *line = strtok_r(block, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[l - 1] = '\0';
        if (strncmp(line, "id:", 3) == 0) {
            snprintf(e.id, sizeof e.id, "%s", line + 3 + (line[3] == ' '));
            has_id = true;
        } else if (strncmp(line, "event:", 6) == 0) {
            snprintf(e.event, sizeof e.event, "%s",
                     line + 6 + (line[6] == ' '));
            has_body = true;
        } else if (strncmp(line, "data:", 5) == 0) {
            free(e.data);
            e.data = strdup(line + 5 + (line[5] == ' '));
            has_body = true;
        }
    }
    if (has_id)
        snprintf(s->last_id, sizeof s->last_id, "%s", e.id);
    if (!has_body) {
        free(e.data);
        return;
    }
    if (!e.data)
        e.data = strdup("");
    e.json = e.data ? json_loads(e.data, 0, NULL) : NULL;
    if (s->n == s->ncap) {
        size_t cap = s->ncap ? 2 * s->ncap : 64;
        h_sse_event *p = realloc(s->ev, cap * sizeof *p);
        H_REQUIRE(p, "out of memory");
        s->ev = p;
        s->ncap = cap;
    }
    s->ev[s->n++] = e;
}

static void sse_parse(h_sse *s)
{
    for (;;) {
        char *start = s->raw + s->parsed;
        char *end = strstr(start, "\n\n");
        if (!end)
            return;
        size_t blen = (size_t)(end - start);
        char *block = malloc(blen + 1);
        H_REQUIRE(block, "out of memory");
        memcpy(block, start, blen);
        block[blen] = '\0';
        sse_block(s, block);
        free(block);
        s->parsed += blen + 2;
    }
}

bool h_sse_pump(h_sse *s, int timeout_ms)
{
    uint64_t deadline =
        h_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    do {
        int running = 0;
        curl_multi_perform(s->multi, &running);
        if (!running)
            s->ended = true;
        sse_parse(s);
        if (s->ended)
            break;
        uint64_t now = h_now_ms();
        int left = now < deadline ? (int)(deadline - now) : 0;
        if (left > 0)
            curl_multi_poll(s->multi, NULL, 0, left, NULL);
    } while (h_now_ms() < deadline);
    {
        int running = 0;
        curl_multi_perform(s->multi, &running);
        if (!running)
            s->ended = true;
        sse_parse(s);
    }
    return !s->ended;
}

size_t h_sse_count(const h_sse *s)
{
    return s->n;
}

const h_sse_event *h_sse_at(const h_sse *s, size_t i)
{
    return i < s->n ? &s->ev[i] : NULL;
}

const char *h_sse_last_id(const h_sse *s)
{
    return s->last_id;
}

long h_sse_find(const h_sse *s, const char *event, const char *name,
                const char *value)
{
    for (size_t i = 0; i < s->n; i++) {
        const h_sse_event *e = &s->ev[i];
        if (strcmp(e->event, event) != 0)
            continue;
        if (!name)
            return (long)i;
        const char *v = json_string_value(json_object_get(e->json, name));
        if (v && value && strcmp(v, value) == 0)
            return (long)i;
    }
    return -1;
}

const char *h_sse_text(const h_sse *s)
{
    return s->raw;
}

void h_sse_close(h_sse **sp)
{
    if (!sp || !*sp)
        return;
    h_sse *s = *sp;
    curl_multi_remove_handle(s->multi, s->easy);
    curl_easy_cleanup(s->easy);
    curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->hdrs);
    for (size_t i = 0; i < s->n; i++) {
        free(s->ev[i].data);
        json_decref(s->ev[i].json);
    }
    free(s->ev);
    free(s->raw);
    free(s);
    *sp = NULL;
}

/* ------------------------------------------------------------ raw peer */

struct h_peer {
    void *sock;
    char org[33];
};

static void *g_peer_ctx; /* never terminated: see harness_feed.h */

h_peer *h_peer_new(h_region *r, h_org *o)
{
    if (!g_peer_ctx)
        g_peer_ctx = zmq_ctx_new();
    H_REQUIRE(g_peer_ctx, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    h_peer *p = calloc(1, sizeof *p);
    H_REQUIRE(p, "out of memory");
    snprintf(p->org, sizeof p->org, "%s", o->id);
    p->sock = zmq_socket(g_peer_ctx, ZMQ_DEALER);
    H_REQUIRE(p->sock, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0, ivl = 50;
    bool ok =
        zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
        zmq_setsockopt(p->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) == 0 &&
        zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, r->broker_key.public_z85,
                       40) == 0 &&
        zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, o->key.public_z85, 40) ==
            0 &&
        zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, o->key.secret_z85, 40) ==
            0 &&
        zmq_connect(p->sock, r->broker_endpoint) == 0;
    if (!ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s", zmq_strerror(zmq_errno()));
        h_peer_destroy(&p);
        H_FAIL("raw peer %s to %s: %s", o->id, r->broker_endpoint, msg);
    }
    return p;
}

void h_peer_destroy(h_peer **pp)
{
    if (!pp || !*pp)
        return;
    if ((*pp)->sock)
        zmq_close((*pp)->sock);
    free(*pp);
    *pp = NULL;
}

int h_peer_send(h_peer *p, const polku_envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    H_REQUIRE(polku_envelope_encode(env, &buf, &len) == 0,
              "polku_envelope_encode failed");
    int timeout = (int)H_SEC(5);
    zmq_setsockopt(p->sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    int rc = zmq_send(p->sock, buf, len, 0) == (int)len ? 0 : -1;
    free(buf);
    return rc;
}

polku_envelope *h_peer_recv(h_peer *p, Polku__Envelope__BodyCase body,
                            int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = h_now_ms();
        if (now >= deadline)
            return NULL;
        zmq_pollitem_t item = {p->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)(deadline - now)) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, p->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        polku_envelope *env = NULL;
        char why[128];
        int rc = polku_envelope_decode(zmq_msg_data(&msg), zmq_msg_size(&msg),
                                       64u << 20, &env, why, sizeof why);
        zmq_msg_close(&msg);
        if (rc || !env) {
            polku_envelope_free(&env);
            continue;
        }
        if (env->body_case == body)
            return env;
        if (env->body_case == POLKU__ENVELOPE__BODY_NACK)
            h_note("peer %s: Nack %s (%s)", p->org,
                   polku_nack_code_name(env->nack->code), env->nack->reason);
        polku_envelope_free(&env);
    }
}
