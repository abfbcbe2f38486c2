/* referral_pipelined.c — agent snapshots, consents and the pipelined phase
 * of the referral benchmark (see referral_bench.h).
 *
 * When is a pipelined run done? Every referral is `received` at org-a once
 * org-a has committed the ReferralStatus(received) event org-b emitted for
 * it. org-b emits exactly one event per referral it receives (its
 * /healthz last_seq counts them, committed), and org-b's outbox forgets an
 * event only when org-a acknowledges it, which org-a does after its
 * commit. So: done when org-b's last_seq has grown by n and its
 * outbox_pending is 0 — one cheap /healthz poll, no listing of thousands
 * of referrals while the clock runs. After the clock stops, org-a is asked
 * how many of its outgoing referrals are still `requested` or `failed`:
 * both must be 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "referral_bench.h"

const char *const rb_cpu_names[RB_CPU_N] = {"org-a", "org-b", "broker",
                                            "client"};

/* -------------------------------------------------------------- snapshots */

static double metric(const char *text, const char *name)
{
    char key[96];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

rb_agent_snap rb_snap(bc_conn *c)
{
    rb_agent_snap s = {-1, -1, -1, -1};
    size_t len = 0;
    if (bc_request(c, "GET", "/healthz", NULL, 0) == 200) {
        const char *b = bc_body(c, &len);
        s.last_seq = rb_json_int(b, len, "last_seq");
        s.outbox_pending = rb_json_int(b, len, "outbox_pending");
    }
    if (bc_request(c, "GET", "/metrics", NULL, 0) == 200) {
        const char *b = bc_body(c, &len);
        s.commits = metric(b, "polku_agent_commits_total");
        s.items = metric(b, "polku_agent_batch_items_total");
    }
    H_REQUIRE(s.last_seq >= 0 && s.commits >= 0 && s.items >= 0,
              "agent /healthz or /metrics unreadable");
    return s;
}

/* Both outboxes empty: nothing of an earlier phase is still moving. */
static bool quiet(bc_conn *a, bc_conn *b)
{
    return rb_snap(a).outbox_pending == 0 && rb_snap(b).outbox_pending == 0;
}

static void wait_quiet(bc_conn *a, bc_conn *b)
{
    H_WAIT_UNTIL(H_SEC(60), quiet(a, b), "both outboxes to be empty");
}

void rb_run_reads(h_org *a, const char *id, size_t n, bs_samples *out,
                  double *commits)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/referrals/%s", id);
    bc_conn *c = rb_conn(a);
    double before = rb_snap(c).commits;
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = bc_now_ns();
        long st = bc_request(c, "GET", path, NULL, 0);
        uint64_t t1 = bc_now_ns();
        H_REQUIRE(st == 200, "GET %s: %ld %s", path, st, bc_error(c));
        bs_add(out, rb_ms_between(t0, t1));
    }
    *commits = rb_snap(c).commits - before;
    bc_conn_free(&c);
}

/* ------------------------------------------------------------------ POSTs */

/* n POSTs to path at o over concurrent connections, every one answered
 * 201; returns the number of connections opened. */
static int post_many(h_org *o, const char *path, bc_body_fn body, size_t n,
                     int concurrency)
{
    bc_pipeline p = {.base_url = o->url,
                     .token = o->token,
                     .path = path,
                     .count = n,
                     .concurrency = concurrency,
                     .want_status = 201,
                     .body = body,
                     .arg = "org-b"};
    p.deadline_ns = bc_now_ns() + (H_SEC(60) + n * 5 * h_scale()) * 1000000u;
    bc_pipeline_result out;
    int rc = bc_post_pipelined(&p, &out);
    H_REQUIRE(rc == 0,
              "pipelined POST %s: %zu answered, %zu failed; first "
              "failure: status %ld %s",
              path, out.answered, out.failed, out.first_bad_status,
              out.first_bad);
    return out.connections;
}

void rb_grant_consents(h_org *a, h_org *b)
{
    bc_conn *ca = rb_conn(a), *cb = rb_conn(b);
    post_many(a, "/v1/consents", rb_consent_body, rb_clients_count(), 32);
    wait_quiet(ca, cb);
    bc_conn_free(&ca);
    bc_conn_free(&cb);
}

/* -------------------------------------------------------------------- CPU */

typedef struct cpu_snap {
    double ms[RB_CPU_N];
    unsigned long long busy, total;
} cpu_snap;

static cpu_snap cpu_now(h_region *r, h_org *a, h_org *b)
{
    cpu_snap s = {{bs_proc_cpu_ms(a->proc.pid), bs_proc_cpu_ms(b->proc.pid),
                   bs_proc_cpu_ms(r->broker.pid), bs_proc_cpu_ms(getpid())},
                  0,
                  0};
    if (bs_machine_jiffies(&s.busy, &s.total))
        s.busy = s.total = 0;
    return s;
}

static void cpu_diff(const cpu_snap *s0, const cpu_snap *s1,
                     rb_pipe_result *res)
{
    for (int i = 0; i < RB_CPU_N; i++)
        res->cpu_ms[i] = s1->ms[i] - s0->ms[i];
    res->machine_busy =
        s1->total > s0->total
            ? (double)(s1->busy - s0->busy) / (double)(s1->total - s0->total)
            : 0;
}

/* -------------------------------------------------------------- pipelined */

/* The completion condition (see the file header). */
static bool all_received(bc_conn *b, long long want_seq)
{
    size_t len = 0;
    if (bc_request(b, "GET", "/healthz", NULL, 0) != 200)
        return false;
    const char *body = bc_body(b, &len);
    return rb_json_int(body, len, "last_seq") >= want_seq &&
           rb_json_int(body, len, "outbox_pending") == 0;
}

static void wait_all_received(bc_conn *cb, long long want_seq, size_t n)
{
    uint64_t deadline =
        bc_now_ns() + (H_SEC(60) + n * 5 * h_scale()) * 1000000u;
    while (!all_received(cb, want_seq)) {
        H_REQUIRE(bc_now_ns() < deadline,
                  "org-a to see all %zu referrals "
                  "received (org-b at seq %lld of %lld)",
                  n, rb_snap(cb).last_seq, want_seq);
        h_check_processes();
        rb_pause_us(1000);
    }
}

/* No referral at org-a still `requested` or ended `failed`. */
static void verify_all_received(bc_conn *c)
{
    static const char *const bad[] = {"requested", "failed"};
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path,
                 "/v1/referrals?direction=out&status=%s&limit=1", bad[i]);
        long st = bc_request(c, "GET", path, NULL, 0);
        size_t len = 0;
        const char *body = bc_body(c, &len);
        H_REQUIRE(st == 200, "GET %s: %ld %s", path, st, bc_error(c));
        long long count = rb_json_int(body, len, "count");
        H_REQUIRE(count == 0, "%lld referral(s) at org-a still '%s'", count,
                  bad[i]);
    }
}

void rb_run_pipelined(h_region *r, h_org *a, h_org *b, size_t n,
                      int concurrency, rb_pipe_result *res)
{
    bc_conn *ca = rb_conn(a), *cb = rb_conn(b);
    wait_quiet(ca, cb);
    rb_agent_snap a0 = rb_snap(ca), b0 = rb_snap(cb);
    cpu_snap cpu0 = cpu_now(r, a, b);
    uint64_t t0 = bc_now_ns();
    res->connections =
        post_many(a, "/v1/referrals", rb_referral_body, n, concurrency);
    uint64_t t1 = bc_now_ns();
    wait_all_received(cb, b0.last_seq + (long long)n, n);
    uint64_t t2 = bc_now_ns();
    cpu_snap cpu1 = cpu_now(r, a, b);
    wait_quiet(ca, cb); /* the last acks' commits belong to the run */
    rb_agent_snap a1 = rb_snap(ca), b1 = rb_snap(cb);
    verify_all_received(ca);
    res->n = n;
    res->concurrency = concurrency;
    res->created_s = rb_ms_between(t0, t1) / 1e3;
    res->received_s = rb_ms_between(t0, t2) / 1e3;
    res->commits_a = a1.commits - a0.commits;
    res->commits_b = b1.commits - b0.commits;
    res->items_a = a1.items - a0.items;
    res->items_b = b1.items - b0.items;
    cpu_diff(&cpu0, &cpu1, res);
    bc_conn_free(&ca);
    bc_conn_free(&cb);
}
