/* it_privacy — no personal data outside the organisations (DESIGN §2
 * invariant 5).
 *
 * A scenario with synthetic identity codes and a unique marker word in
 * every free-text field (referral reasons, status reasons and outcomes, a
 * cancel reason, a revocation reason): neither the codes nor the marker
 * (exact, upper and lower case) may appear in the broker's log, in any
 * frame the broker received (its debug dump), in its HTTP answers, or in
 * the agents' logs — while the receiving agent's API shows the text.
 * And a frame that carries free text in the clear is refused (Nack
 * malformed) and reaches nobody. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <sodium.h>
#include <zmq.h>

#include "harness.h"
#include "polku/clock.h"
#include "polku/id.h"

#define HETU_1 "150382-624C"
#define HETU_2 "070704A2829"

static char g_marker[32]; /* a word nobody else writes: Kuukkeli<8 hex> */

static const char *body_of(const h_resp *r)
{
    return r->body ? r->body : r->err;
}

static bool has_marker(const char *s)
{
    return s && strstr(s, g_marker) != NULL;
}

static long consent_by_hetu(h_org *at, const char *hetu, h_org *with,
                            char key_out[33], char id_out[64])
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 86400000ull, until, sizeof until);
    json_t *body =
        json_pack("{s:{s:s}, s:[s], s:[s,s], s:s, s:s}", "client", "hetu", hetu,
                  "orgs", with->id, "purposes", "referral", "handover",
                  "valid_until", until, "form", "Y100");
    h_resp resp;
    long st = h_api_json(at, "POST", "/v1/consents", body, &resp);
    const char *k = json_string_value(json_object_get(resp.json, "client_key"));
    const char *id = json_string_value(json_object_get(resp.json, "id"));
    if (st != 201 || !k || !id) {
        char msg[400];
        snprintf(msg, sizeof msg, "%ld %s", st, body_of(&resp));
        h_resp_free(&resp);
        H_FAIL("consent by identity code at %s: want 201, got %s", at->id, msg);
    }
    snprintf(key_out, 33, "%s", k);
    snprintf(id_out, 64, "%s", id);
    h_resp_free(&resp);
    return st;
}

static void referral_by_hetu(h_org *a, const char *hetu, h_org *to,
                             const char *reason, char id_out[64])
{
    json_t *body =
        json_pack("{s:{s:s}, s:s, s:s, s:s}", "client", "hetu", hetu, "to",
                  to->id, "reason", reason, "urgency", "routine");
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/referrals", body, &resp);
    const char *id = json_string_value(json_object_get(resp.json, "id"));
    if (st != 201 || !id) {
        char msg[400];
        snprintf(msg, sizeof msg, "%ld %s", st, body_of(&resp));
        h_resp_free(&resp);
        H_FAIL("referral by identity code at %s: want 201, got %s", a->id, msg);
    }
    snprintf(id_out, 64, "%s", id);
    h_resp_free(&resp);
}

static void set_status(h_org *o, const char *id, const char *status,
                       const char *reason, const char *outcome)
{
    h_resp resp;
    long st = h_referral_set_status(o, id, status, reason, outcome, &resp);
    H_REQUIRE(st == 200 || st == 202, "%s -> %s at %s: HTTP %ld %s", id, status,
              o->id, st, body_of(&resp));
    h_resp_free(&resp);
}

/* A history entry with status whose reason (or outcome) has the marker. */
static bool history_marked(json_t *ref, const char *status, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ref, "history"), i, e)
    {
        const char *s = json_string_value(json_object_get(e, "status"));
        if (s && strcmp(s, status) == 0 &&
            has_marker(json_string_value(json_object_get(e, field))))
            return true;
    }
    return false;
}

/* Every case variant of each secret word must be absent from buf. */
typedef struct secret_words {
    char v[12][40];
    int n;
} secret_words;

static void add_variants(secret_words *w, const char *word)
{
    char up[40], low[40];
    size_t n = strlen(word);
    for (size_t i = 0; i <= n; i++) {
        up[i] = (char)toupper((unsigned char)word[i]);
        low[i] = (char)tolower((unsigned char)word[i]);
    }
    snprintf(w->v[w->n++], 40, "%s", word);
    snprintf(w->v[w->n++], 40, "%s", up);
    snprintf(w->v[w->n++], 40, "%s", low);
}

static void expect_clean(const char *what, const char *buf, size_t len,
                         const secret_words *w)
{
    H_CHECK(buf != NULL, "%s could be read", what);
    for (int i = 0; buf && i < w->n; i++) {
        bool found = h_mem_contains(buf, len, w->v[i], strlen(w->v[i]));
        H_CHECK(!found, "'%s' appears in %s", w->v[i], what);
    }
}

static void expect_clean_file(const char *what, const char *path,
                              const secret_words *w, size_t *len_out)
{
    size_t len = 0;
    char *buf = h_read_file(path, &len);
    expect_clean(what, buf, len, w);
    h_note("%s: %zu bytes checked", what, len);
    if (len_out)
        *len_out = len;
    free(buf);
}

static void expect_clean_http(h_region *r, const char *path,
                              const secret_words *w)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", path, NULL, NULL, 0, &resp);
    H_CHECK(st == 200, "broker GET %s: HTTP %ld", path, st);
    char what[64];
    snprintf(what, sizeof what, "the broker's %s answer", path);
    expect_clean(what, resp.body, resp.len, w);
    h_resp_free(&resp);
}

typedef struct sse_buf {
    char *data;
    size_t len;
} sse_buf;

static size_t sse_collect(char *p, size_t size, size_t n, void *arg)
{
    sse_buf *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, p, size * n);
    b->len += size * n;
    grown[b->len] = '\0';
    b->data = grown;
    return size * n;
}

/* The broker's SSE feed from the start of this epoch (Last-Event-ID
 * EPOCH-0), read for a moment: it holds the scenario's events, and none of
 * the secret words. */
static void expect_clean_feed(h_region *r, const secret_words *w)
{
    json_t *stats = NULL;
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/stats", NULL,
                             NULL, 0, &resp);
    H_REQUIRE(st == 200 && resp.json, "broker GET /api/v1/stats: HTTP %ld",
              st);
    stats = json_incref(resp.json);
    h_resp_free(&resp);
    char url[256], last[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/events", r->broker_http_port);
    snprintf(last, sizeof last, "Last-Event-ID: %s-0",
             json_string_value(json_object_get(stats, "epoch")));
    json_decref(stats);
    CURL *c = curl_easy_init();
    H_REQUIRE(c, "curl_easy_init");
    struct curl_slist *hdr = curl_slist_append(NULL, last);
    sse_buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1500L); /* a stream: cut it */
    curl_easy_perform(c);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    H_CHECK(b.data && strstr(b.data, "event: referral.requested") &&
                strstr(b.data, "event: referral.completed") &&
                strstr(b.data, "event: consent.revoked"),
            "the feed replays the scenario's events (%zu bytes)", b.len);
    expect_clean("the broker's SSE feed", b.data ? b.data : "", b.len, w);
    free(b.data);
}

static void case_no_personal_data_leaves(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_region_write(r);
    h_region_use_secret(r);
    char dump[512];
    h_broker_use_dump(r, dump, sizeof dump);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    char why_req[128], why_reject[128], why_done[128], outcome[128],
        why_cancel[128], why_revoke[128];
    snprintf(why_req, sizeof why_req, "needs assessment (%s)", g_marker);
    snprintf(why_reject, sizeof why_reject, "not our client: %s", g_marker);
    snprintf(why_done, sizeof why_done, "assessment done %s", g_marker);
    snprintf(outcome, sizeof outcome, "fit for part-time work, %s", g_marker);
    snprintf(why_cancel, sizeof why_cancel, "client moved away %s", g_marker);
    snprintf(why_revoke, sizeof why_revoke, "client asked %s", g_marker);

    char k1[33], k2[33], c1[64], c2[64];
    consent_by_hetu(a, HETU_1, b, k1, c1);
    consent_by_hetu(a, "070704a2829", b, k2, c2); /* lower case */

    char done[64], rejected[64], cancelled[64];
    referral_by_hetu(a, HETU_1, b, why_req, done);
    referral_by_hetu(a, HETU_2, b, why_req, rejected);
    referral_by_hetu(a, HETU_1, b, why_req, cancelled);
    h_wait_status(b, done, "received", H_SEC(10));
    h_wait_status(b, rejected, "received", H_SEC(10));
    h_wait_status(b, cancelled, "received", H_SEC(10));

    set_status(b, done, "accepted", NULL, NULL);
    set_status(b, done, "completed", why_done, outcome);
    set_status(b, rejected, "rejected", why_reject, NULL);
    h_resp resp;
    long st = h_referral_cancel(a, cancelled, why_cancel, &resp);
    H_REQUIRE(st == 200 || st == 202, "cancel at %s: HTTP %ld %s", a->id, st,
              body_of(&resp));
    h_resp_free(&resp);
    h_wait_status(a, done, "completed", H_SEC(10));
    h_wait_status(a, rejected, "rejected", H_SEC(10));
    h_wait_status(b, cancelled, "cancelled", H_SEC(10));
    h_wait_status(a, cancelled, "cancelled", H_SEC(10));

    st = h_consent_revoke(a, c2, why_revoke, &resp);
    H_CHECK(st == 200, "revoke at %s: HTTP %ld %s", a->id, st, body_of(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(b, k2, c2, "revoked"),
                 "%s to show the revocation", b->id);
    H_WAIT_UNTIL(H_SEC(10),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(b) == 0,
                 "both outboxes to drain");

    /* the receiving agents show the text in clear */
    json_t *ref = h_referral_get(b, done);
    H_CHECK(has_marker(json_string_value(json_object_get(ref, "reason"))),
            "%s shows the referral reason in clear", b->id);
    json_decref(ref);
    ref = h_referral_get(b, cancelled);
    H_CHECK(history_marked(ref, "cancelled", "reason"),
            "%s shows the cancel reason in the history", b->id);
    json_decref(ref);
    ref = h_referral_get(a, done);
    H_CHECK(has_marker(json_string_value(json_object_get(ref, "outcome"))),
            "%s shows the outcome in clear", a->id);
    H_CHECK(history_marked(ref, "completed", "reason") &&
                history_marked(ref, "completed", "outcome"),
            "%s's history shows the completion reason and outcome", a->id);
    json_decref(ref);
    ref = h_referral_get(a, rejected);
    H_CHECK(history_marked(ref, "rejected", "reason"),
            "%s's history shows the rejection reason", a->id);
    H_CHECK(has_marker(json_string_value(json_object_get(ref, "reason"))),
            "%s keeps its own referral reason", a->id);
    json_decref(ref);

    /* ...and nothing outside them does */
    secret_words w = {0};
    add_variants(&w, g_marker);
    add_variants(&w, HETU_1);
    add_variants(&w, HETU_2);
    size_t dump_len = 0;
    expect_clean_file("the broker's debug dump", dump, &w, &dump_len);
    expect_clean_file("the broker's log", r->broker.log, &w, NULL);
    expect_clean_file("sote-keskus's log", a->proc.log, &w, NULL);
    expect_clean_file("tyokykytiimi's log", b->proc.log, &w, NULL);
    expect_clean_http(r, "/healthz", &w);
    expect_clean_http(r, "/metrics", &w);
    expect_clean_http(r, "/api/v1/pending", &w);
    expect_clean_http(r, "/api/v1/alerts", &w);
    expect_clean_http(r, "/api/v1/stats", &w);
    char path_url[96], shown[33];
    h_display_name(r, k1, shown);
    snprintf(path_url, sizeof path_url, "/api/v1/paths/%s", shown);
    expect_clean_http(r, path_url, &w);
    expect_clean_feed(r, &w);

    /* the dump is real: it holds the frames with the client keys */
    size_t len = 0;
    char *frames = h_read_file(dump, &len);
    uint8_t raw_key[16];
    size_t bin_len = 0;
    H_REQUIRE(sodium_hex2bin(raw_key, sizeof raw_key, k1, 32, NULL, &bin_len,
                             NULL) == 0 &&
                  bin_len == 16,
              "client key hex");
    H_CHECK(len > 0 && h_mem_contains(frames, len, raw_key, 16),
            "the dump (%zu bytes) holds frames about client %s", len, k1);
    free(frames);
}

/* A ReferralRequested with its clear `reason` filled, from a raw client on
 * an organisation's real key, is refused (Nack malformed), reaches nobody,
 * and the broker goes on routing. */
static void case_clear_text_refused(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "kela", "benefits"); /* no agent runs */
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    h_raw *raw = h_raw_new(r, &c->key);
    H_REQUIRE(h_raw_hello(raw, c->id, H_SEC(10)),
              "the broker welcomes %s's Hello", c->id);
    double before = h_broker_metric(r, "polku_broker_nacks_total{code="
                                       "\"malformed\"}");
    h_env e;
    h_env_init(&e, c->id, 1, b->id);
    h_env_referral(&e, "work-ability-assessment", "sent in the clear");
    polku_id fid;
    memcpy(fid.b, e.referral_id, sizeof fid.b);
    char forged[POLKU_ID_TEXT];
    polku_id_format(&fid, forged);
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send: %s",
              zmq_strerror(zmq_errno()));
    char reason[256] = "";
    H_CHECK(h_raw_wait_nack(raw, POLKU__NACK_CODE__NACK_MALFORMED, H_SEC(10),
                            reason, sizeof reason),
            "a Nack malformed for a referral with a clear reason");
    h_note("clear reason -> Nack malformed (%s)", reason);
    double after = h_broker_metric(r, "polku_broker_nacks_total{code="
                                      "\"malformed\"}");
    H_CHECK(after > before, "the broker counted the malformed Nack (%g -> %g)",
            before, after);

    /* sequencing: a real referral passes after it; b holds that one only */
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "sealed", id, &resp);
    H_REQUIRE(st == 201, "create: HTTP %ld %s", st, body_of(&resp));
    h_resp_free(&resp);
    h_wait_status(b, id, "received", H_SEC(10));
    H_CHECK(h_referral_lookup(b, forged) == 404,
            "%s never received the clear-text referral %s", b->id, forged);
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == 1 && h_ids_contains(&in, id),
            "%s holds exactly the real referral (lists %ld)", b->id, n);
    h_ids_free(&in);
    polku_envelope *got = h_raw_recv(raw, 0);
    H_CHECK(got == NULL || got->body_case != POLKU__ENVELOPE__BODY_ACK,
            "nobody acknowledged the clear-text referral");
    polku_envelope_free(&got);
    h_raw_destroy(&raw);
}

int main(int argc, char **argv)
{
    /* the most talkative logs are the strictest test of what they hold */
    setenv("POLKU_IT_LOG_LEVEL", "debug", 0);
    if (sodium_init() < 0)
        return 1;
    uint8_t rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(g_marker, sizeof g_marker, "Kuukkeli%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3]);
    h_init(argc, argv, "it_privacy");
    h_note("marker word: %s", g_marker);
    H_CASE(case_no_personal_data_leaves);
    H_CASE(case_clear_text_refused);
    return h_finish();
}
