/* referral_pipelined.c — agent snapshots, consents and the pipelined phase
 * of the referral benchmark (see referral_bench.h).
 *
 * The three end points of a pipelined run, all on one clock started at
 * the first POST: the last `201` (org-a committed every referral); the
 * n-th `referral.requested` on org-b's /v1/events (org-b published it once
 * the transaction storing the referral with its `received` status was
 * committed); the n-th `referral.received` on org-a's /v1/events (org-a
 * committed every receipt). A thread reads both streams while the POSTs
 * go out, nothing is polled. After the clock stops, org-a is asked how
 * many of its outgoing referrals are still `requested` or `failed`: both
 * must be 0. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peers/disk_flushes.h"
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

/* The event streams' reader, in its own thread while the POSTs go out:
 * done when both streams have reached their targets. */
typedef struct watch_run {
    be_watch *w;
    uint64_t deadline_ns;
    atomic_bool stop;
    bool ok;
    char err[300];
} watch_run;

static void *watch_thread(void *arg)
{
    watch_run *x = arg;
    x->ok = true;
    while (!be_target_ns(x->w, RB_STREAM_B) ||
           !be_target_ns(x->w, RB_STREAM_A)) {
        if (atomic_load(&x->stop)) {
            x->ok = false;
            snprintf(x->err, sizeof x->err, "stopped");
            break;
        }
        if (bc_now_ns() > x->deadline_ns) {
            x->ok = false;
            snprintf(x->err, sizeof x->err,
                     "deadline: %zu referral.requested at org-b, %zu "
                     "referral.received at org-a seen",
                     be_count(x->w, RB_STREAM_B), be_count(x->w, RB_STREAM_A));
            break;
        }
        if (!be_watch_pump(x->w, 100)) {
            x->ok = false;
            snprintf(x->err, sizeof x->err, "%s", be_error(x->w));
            break;
        }
    }
    return NULL;
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

/* POST number i of a batched run: {"referrals": [...]} with referrals
 * i*batch .. (i+1)*batch-1 (fewer in the last one), each the body
 * rb_referral_body gives. */
typedef struct batch_bodies {
    size_t n, batch;
    const char *to;
} batch_bodies;

static size_t batch_body(size_t i, char *buf, size_t cap, void *arg)
{
    const batch_bodies *bb = arg;
    size_t first = i * bb->batch, end = first + bb->batch, len = 0;
    if (end > bb->n)
        end = bb->n;
    const char *head = "{\"referrals\":[";
    if (cap <= strlen(head))
        return 0;
    len = (size_t)snprintf(buf, cap, "%s", head);
    for (size_t k = first; k < end; k++) {
        if (k > first)
            buf[len++] = ',';
        size_t one =
            rb_referral_body(k, buf + len, cap - len - 3, (void *)bb->to);
        if (one == 0)
            return 0;
        len += one;
    }
    len += (size_t)snprintf(buf + len, cap - len, "]}");
    return len < cap ? len : 0;
}

void rb_run_pipelined(h_region *r, h_org *a, h_org *b, size_t n,
                      int concurrency, size_t batch, rb_pipe_result *res)
{
    bc_conn *ca = rb_conn(a), *cb = rb_conn(b);
    wait_quiet(ca, cb);
    rb_agent_snap a0 = rb_snap(ca), b0 = rb_snap(cb);
    static watch_run x; /* static: read by its thread, survives a longjmp */
    x = (watch_run){.w = rb_watch(a, b)};
    x.deadline_ns = bc_now_ns() + (H_SEC(60) + n * 5 * h_scale()) * 1000000u;
    be_set_target(x.w, RB_STREAM_B, n);
    be_set_target(x.w, RB_STREAM_A, n);
    bc_pipeline p = {.base_url = a->url,
                     .token = a->token,
                     .path = "/v1/referrals",
                     .count = n,
                     .concurrency = concurrency,
                     .want_status = 201,
                     .body = rb_referral_body,
                     .arg = "org-b",
                     .source = RB_LOAD_SOURCE,
                     .deadline_ns = x.deadline_ns};
    static batch_bodies bb;
    if (batch) {
        bb = (batch_bodies){n, batch, "org-b"};
        p.path = "/v1/referrals/batch";
        p.count = (n + batch - 1) / batch;
        p.want_status = 200; /* the items' own statuses: see below */
        p.body = batch_body;
        p.arg = &bb;
        p.body_max = batch * RB_BATCH_ITEM_MAX + 64;
    }
    bc_pipeline_result out;
    pthread_t th;
    cpu_snap cpu0 = cpu_now(r, a, b);
    long long f0 = df_flushes();
    uint64_t t0 = bc_now_ns();
    H_REQUIRE(pthread_create(&th, NULL, watch_thread, &x) == 0,
              "cannot start the event streams' thread");
    int rc = bc_post_pipelined(&p, &out);
    if (rc != 0)
        atomic_store(&x.stop, true);
    pthread_join(th, NULL);
    uint64_t t_b = be_target_ns(x.w, RB_STREAM_B);
    uint64_t t_a = be_target_ns(x.w, RB_STREAM_A);
    long long flushes = df_delta(f0, df_flushes());
    cpu_snap cpu1 = cpu_now(r, a, b);
    be_watch_free(&x.w);
    /* a batch's refused item would leave org-b short of n events: the
     * streams' deadline and the last_seq check below catch it */
    H_REQUIRE(rc == 0,
              "pipelined POST %s: %zu answered, %zu failed; "
              "first failure: status %ld %s",
              p.path, out.answered, out.failed, out.first_bad_status,
              out.first_bad);
    H_REQUIRE(x.ok, "the event streams: %s", x.err);
    h_check_processes();
    wait_quiet(ca, cb); /* the last acks' commits belong to the run */
    rb_agent_snap a1 = rb_snap(ca), b1 = rb_snap(cb);
    H_REQUIRE(b1.last_seq - b0.last_seq == (long long)n,
              "org-b emitted %lld events for %zu referrals",
              b1.last_seq - b0.last_seq, n);
    verify_all_received(ca);
    res->n = n;
    res->concurrency = concurrency;
    res->connections = out.connections;
    res->created_s = rb_ms_between(t0, out.last_answer_ns) / 1e3;
    res->stored_b_s = rb_ms_between(t0, t_b) / 1e3;
    res->received_s = rb_ms_between(t0, t_a) / 1e3;
    res->flushes = flushes;
    res->commits_a = a1.commits - a0.commits;
    res->commits_b = b1.commits - b0.commits;
    res->items_a = a1.items - a0.items;
    res->items_b = b1.items - b0.items;
    cpu_diff(&cpu0, &cpu1, res);
    bc_conn_free(&ca);
    bc_conn_free(&cb);
}
