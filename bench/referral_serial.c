/* referral_serial.c — clients and request bodies, the baselines and the
 * one-at-a-time phase of the referral benchmark (see referral_bench.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polku/clock.h"
#include "referral_bench.h"

#define POLL_PAUSE_US 100 /* between two GETs of one referral */

/* ---------------------------------------------------------------- helpers */

double rb_ms_between(uint64_t t0_ns, uint64_t t1_ns)
{
    return (double)(t1_ns - t0_ns) / 1e6;
}

void rb_pause_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
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

/* GETs the referral until it shows `received`; the time it was seen. */
static uint64_t wait_received(bc_conn *c, const char *id)
{
    char path[96], status[32];
    snprintf(path, sizeof path, "/v1/referrals/%s", id);
    uint64_t deadline = bc_now_ns() + H_SEC(10) * 1000000u;
    for (unsigned polls = 1;; polls++) {
        long st = bc_request(c, "GET", path, NULL, 0);
        uint64_t now = bc_now_ns();
        size_t len = 0;
        const char *body = bc_body(c, &len);
        H_REQUIRE(st == 200, "GET %s: %ld %s%s", path, st, bc_error(c), body);
        json_str(body, len, "status", status, sizeof status);
        if (strcmp(status, "received") == 0)
            return now;
        H_REQUIRE(strcmp(status, "requested") == 0,
                  "referral %s went to '%s' instead of received", id, status);
        H_REQUIRE(now < deadline,
                  "referral %s not received at org-a within "
                  "%llu ms",
                  id, (unsigned long long)H_SEC(10));
        if (polls % 64 == 0)
            h_check_processes();
        rb_pause_us(POLL_PAUSE_US);
    }
}

/* Creates referral i and waits until it shows `received`; its id goes
 * into id (64 bytes). */
static void one_referral(bc_conn *c, size_t i, char *id, bs_samples *create,
                         bs_samples *e2e, bool record)
{
    char body[4096];
    size_t len = rb_referral_body(i, body, sizeof body, "org-b");
    uint64_t t0 = bc_now_ns();
    long st = bc_request(c, "POST", "/v1/referrals", body, len);
    uint64_t t1 = bc_now_ns();
    size_t alen = 0;
    const char *answer = bc_body(c, &alen);
    H_REQUIRE(st == 201, "POST /v1/referrals: %ld %s%s", st, bc_error(c),
              answer);
    json_str(answer, alen, "id", id, 64);
    H_REQUIRE(id[0], "201 without an id: %s", answer);
    uint64_t t2 = wait_received(c, id);
    if (record) {
        bs_add(create, rb_ms_between(t0, t1));
        bs_add(e2e, rb_ms_between(t0, t2));
    }
}

void rb_run_serial(h_org *a, size_t n, bs_lmdb *l, bs_samples *create,
                   bs_samples *e2e, bs_samples *commits, char *last_id)
{
    bc_conn *c = rb_conn(a);
    for (size_t i = 0; i < RB_SERIAL_WARMUP + n; i++) {
        bool record = i >= RB_SERIAL_WARMUP;
        one_referral(c, i, last_id, create, e2e, record);
        if (record)
            rb_lmdb_baseline(l, 1, commits);
    }
    bc_conn_free(&c);
}
