/* referral_serial.c — clients and request bodies, the baselines and the
 * one-at-a-time phase of the referral benchmark (see referral_bench.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers/disk_flushes.h"
#include "polku/clock.h"
#include "referral_bench.h"

/* ---------------------------------------------------------------- helpers */

double rb_ms_between(uint64_t t0_ns, uint64_t t1_ns)
{
    return (double)(t1_ns - t0_ns) / 1e6;
}

bc_conn *rb_conn(h_org *o)
{
    bc_conn *c = bc_conn_new(o->url, o->token);
    H_REQUIRE(c, "cannot set up an HTTP client for %s", o->id);
    return c;
}

static const char *json_str(const char *body, size_t len, const char *name,
                            char *out, size_t out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, name));
    snprintf(out, out_len, "%s", s ? s : "");
    json_decref(j);
    return out;
}

long long rb_json_int(const char *body, size_t len, const char *name)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(j, name);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

/* ------------------------------------------------------- clients, bodies */

static struct {
    char (*key)[33];
    size_t n;
} g_clients;

static char g_reason[RB_REASON_BYTES + 1];

static void make_reason(void)
{
    static const char text[] =
        "Assessment of work ability and of vocational rehabilitation needs "
        "after a long sick leave; the client agrees to the referral. ";
    for (size_t i = 0; i < RB_REASON_BYTES; i++)
        g_reason[i] = text[i % (sizeof text - 1)];
    g_reason[RB_REASON_BYTES] = '\0';
}

void rb_clients_make(size_t n)
{
    make_reason();
    free(g_clients.key);
    g_clients.key = calloc(n, sizeof *g_clients.key);
    H_REQUIRE(g_clients.key, "out of memory");
    g_clients.n = n;
    for (size_t i = 0; i < n; i++)
        h_client_key(g_clients.key[i]);
}

size_t rb_clients_count(void)
{
    return g_clients.n;
}

static size_t fitted(int n, size_t cap)
{
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t rb_consent_body(size_t i, char *buf, size_t cap, void *arg)
{
    (void)arg;
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 30ull * 86400000ull, until,
                      sizeof until);
    return fitted(snprintf(buf, cap,
                           "{\"client\":{\"key\":\"%s\"},\"orgs\":"
                           "[\"org-a\",\"org-b\"],\"purposes\":"
                           "[\"referral\"],\"valid_until\":\"%s\","
                           "\"form\":\"Y100\"}",
                           g_clients.key[i % g_clients.n], until),
                  cap);
}

size_t rb_referral_body(size_t i, char *buf, size_t cap, void *arg)
{
    return fitted(snprintf(buf, cap,
                           "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\","
                           "\"urgency\":\"routine\",\"reason\":\"%s\"}",
                           g_clients.key[i % g_clients.n], (const char *)arg,
                           g_reason),
                  cap);
}

/* ------------------------------------------------------------- baselines */

bs_lmdb *rb_lmdb_open(h_region *r)
{
    char dir[600], err[256];
    snprintf(dir, sizeof dir, "%s/bench-lmdb", r->dir);
    bs_lmdb *l = bs_lmdb_open(dir, RB_REASON_BYTES, err, sizeof err);
    H_REQUIRE(l, "baseline store: %s", err);
    return l;
}

void rb_lmdb_baseline(bs_lmdb *l, size_t n, bs_samples *out)
{
    char err[256];
    for (size_t i = 0; i < n; i++)
        H_REQUIRE(bs_lmdb_commit(l, out, err, sizeof err) == 0, "baseline: %s",
                  err);
}

void rb_rtt_baseline(h_org *o, size_t n, bs_samples *out)
{
    bc_conn *c = rb_conn(o);
    for (size_t i = 0; i < n + 20; i++) {
        uint64_t t0 = bc_now_ns();
        long st = bc_request(c, "GET", "/healthz", NULL, 0);
        uint64_t t1 = bc_now_ns();
        H_REQUIRE(st == 200, "GET /healthz: %ld %s", st, bc_error(c));
        if (i >= 20)
            bs_add(out, rb_ms_between(t0, t1));
    }
    bc_conn_free(&c);
}

/* ---------------------------------------------------------- one at a time */

/* Reads org-b's and org-a's event streams until both have shown referral
 * id: org-b's `referral.requested` (committed there with its `received`
 * status) into *at_b, org-a's `referral.received` into *at_a. */
static void wait_events(be_watch *w, const char *id, uint64_t *at_b,
                        uint64_t *at_a)
{
    uint64_t deadline = bc_now_ns() + H_SEC(10) * 1000000u;
    *at_b = *at_a = 0;
    for (unsigned pumps = 1;; pumps++) {
        if (!*at_b && strcmp(be_last_id(w, RB_STREAM_B), id) == 0)
            *at_b = be_last_ns(w, RB_STREAM_B);
        if (!*at_a && strcmp(be_last_id(w, RB_STREAM_A), id) == 0)
            *at_a = be_last_ns(w, RB_STREAM_A);
        if (*at_b && *at_a)
            return;
        H_REQUIRE(bc_now_ns() < deadline,
                  "referral %s not seen %s within %llu ms", id,
                  *at_b ? "received at org-a" : "stored at org-b",
                  (unsigned long long)H_SEC(10));
        if (pumps % 64 == 0)
            h_check_processes();
        H_REQUIRE(be_watch_pump(w, 100), "%s", be_error(w));
    }
}

/* Creates referral i and waits for its three end points; its id goes
 * into id (64 bytes). */
static void one_referral(bc_conn *c, be_watch *w, size_t i, char *id,
                         rb_serial *out, bool record)
{
    char body[4096];
    size_t len = rb_referral_body(i, body, sizeof body, "org-b");
    long long f0 = df_flushes();
    uint64_t t0 = bc_now_ns();
    long st = bc_request(c, "POST", "/v1/referrals", body, len);
    uint64_t t1 = bc_now_ns();
    size_t alen = 0;
    const char *answer = bc_body(c, &alen);
    H_REQUIRE(st == 201, "POST /v1/referrals: %ld %s%s", st, bc_error(c),
              answer);
    json_str(answer, alen, "id", id, 64);
    H_REQUIRE(id[0], "201 without an id: %s", answer);
    uint64_t at_b, at_a;
    wait_events(w, id, &at_b, &at_a);
    long long f = df_delta(f0, df_flushes());
    if (record) {
        bs_add(&out->create, rb_ms_between(t0, t1));
        bs_add(&out->at_b, rb_ms_between(t0, at_b));
        bs_add(&out->e2e, rb_ms_between(t0, at_a));
        if (f < 0)
            out->flushes = -1;
        else if (out->flushes >= 0)
            out->flushes += f;
    }
}

void rb_run_serial(h_org *a, h_org *b, size_t n, bs_lmdb *l, rb_serial *out,
                   char *last_id)
{
    bc_conn *c = rb_conn(a);
    be_watch *w = rb_watch(a, b);
    for (size_t i = 0; i < RB_SERIAL_WARMUP + n; i++) {
        bool record = i >= RB_SERIAL_WARMUP;
        one_referral(c, w, i, last_id, out, record);
        if (record)
            rb_lmdb_baseline(l, 1, &out->commits);
    }
    be_watch_free(&w);
    bc_conn_free(&c);
}

be_watch *rb_watch(h_org *a, h_org *b)
{
    be_watch *w = be_watch_new();
    H_REQUIRE(w, "cannot set up the event streams' client");
    H_REQUIRE(be_watch_add(w, b->url, b->token, "referral.requested") ==
                      RB_STREAM_B &&
                  be_watch_add(w, a->url, a->token, "referral.received") ==
                      RB_STREAM_A,
              "cannot open the event streams");
    uint64_t deadline = bc_now_ns() + H_SEC(10) * 1000000u;
    while (!be_watch_ready(w)) {
        H_REQUIRE(be_watch_pump(w, 100), "%s", be_error(w));
        H_REQUIRE(bc_now_ns() < deadline,
                  "the agents' /v1/events did not answer in %llu ms",
                  (unsigned long long)H_SEC(10));
    }
    return w;
}
