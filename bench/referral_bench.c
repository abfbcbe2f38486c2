/* referral_bench.c — durable referrals end to end, org-a -> broker -> org-b
 * and back, on a real region started through the integration harness.
 *
 * Why it exists: the referral path is two agents' LMDB commits joined by
 * CURVE routing, and group commit is what is supposed to make it fast under
 * load. This program measures that path as an organisation's system sees
 * it, and states the figures as ratios against a durable LMDB commit taken
 * on the same disk in the same run (the machines it runs on are shared and
 * noisy, so absolute figures alone drift too much to compare).
 *
 * Phases (see bench/README.md for what each figure means):
 *   1. baseline: durable single-put LMDB commits of 500 bytes (half before
 *      the referral phases, half after) and API round trips (GET /healthz);
 *   2. one at a time: POST /v1/referrals at org-a, then GET the referral at
 *      org-a on the same keep-alive connection until it shows `received`;
 *   3. pipelined: many POSTs over concurrent keep-alive connections; done
 *      when org-b has committed one status event per referral and every one
 *      of them is acknowledged by org-a (so org-a has committed `received`
 *      for all). Commits per referral come from both agents' /metrics.
 *
 * Not a ctest entry: benchmarks are not tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../tests/harness.h"
#include "bench_client.h"
#include "bench_stats.h"

#define REASON_BYTES 500
#define SERIAL_WARMUP 50
#define POLL_PAUSE_US 100 /* between two GETs of one referral */

typedef struct opts {
    bool keep;
    size_t serial;      /* one-at-a-time referrals */
    size_t count;       /* pipelined referrals */
    int concurrency;    /* pipelined connections */
    size_t commits;     /* baseline LMDB commits, in all */
    size_t rtts;        /* baseline API round trips */
    const char *label;  /* "default" or "--short" */
} opts;

static opts g_opt = {.serial = 2000, .count = 50000, .concurrency = 32,
                     .commits = 1000, .rtts = 1000, .label = "default"};
static char g_reason[REASON_BYTES + 1];

/* ---------------------------------------------------------------- helpers */

static double ms_between(uint64_t t0_ns, uint64_t t1_ns)
{
    return (double)(t1_ns - t0_ns) / 1e6;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void make_reason(void)
{
    static const char text[] =
        "Assessment of work ability and of vocational rehabilitation needs "
        "after a long sick leave; the client agrees to the referral. ";
    for (size_t i = 0; i < REASON_BYTES; i++)
        g_reason[i] = text[i % (sizeof text - 1)];
    g_reason[REASON_BYTES] = '\0';
}

/* A create request to org-b for a fresh client key. */
static size_t referral_body(size_t i, char *buf, size_t cap, void *arg)
{
    (void)i;
    char key[33];
    h_client_key(key);
    int n = snprintf(buf, cap,
                     "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\","
                     "\"urgency\":\"routine\",\"reason\":\"%s\"}",
                     key, (const char *)arg, g_reason);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bc_conn *conn_to(h_org *o)
{
    bc_conn *c = bc_conn_new(o->url, o->token);
    H_REQUIRE(c, "cannot set up an HTTP client for %s", o->id);
    return c;
}

/* A string field of a JSON answer (copied into out), "" if absent. */
static const char *json_field(const char *body, size_t len, const char *name,
                              char *out, size_t out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, name));
    snprintf(out, out_len, "%s", s ? s : "");
    json_decref(j);
    return out;
}

/* An integer field of a JSON answer, -1 if absent. */
static long long json_int_field(const char *body, size_t len, const char *name)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *v = json_object_get(j, name);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

/* ------------------------------------------------------------- baselines */

static void lmdb_baseline(h_region *r, size_t n, uint64_t *next_key,
                          bs_samples *out)
{
    char dir[600], err[256];
    snprintf(dir, sizeof dir, "%s/bench-lmdb", r->dir);
    H_REQUIRE(bs_lmdb_commits(dir, 20, n, REASON_BYTES, next_key, out, err,
                              sizeof err) == 0,
              "baseline commits: %s", err);
}

static void rtt_baseline(bc_conn *c, size_t n, bs_samples *out)
{
    for (size_t i = 0; i < n + 20; i++) {
        uint64_t t0 = bc_now_ns();
        long st = bc_request(c, "GET", "/healthz", NULL, 0);
        uint64_t t1 = bc_now_ns();
        H_REQUIRE(st == 200, "GET /healthz: %ld %s", st, bc_error(c));
        if (i >= 20)
            bs_add(out, ms_between(t0, t1));
    }
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
        json_field(body, len, "status", status, sizeof status);
        if (strcmp(status, "received") == 0)
            return now;
        H_REQUIRE(strcmp(status, "requested") == 0,
                  "referral %s went to '%s' instead of received", id, status);
        H_REQUIRE(now < deadline, "referral %s not received at org-a within "
                  "%llu ms", id, (unsigned long long)H_SEC(10));
        if (polls % 64 == 0)
            h_check_processes();
        pause_us(POLL_PAUSE_US);
    }
}

static void one_referral(bc_conn *c, char *body, bs_samples *create,
                         bs_samples *e2e, bool record)
{
    size_t len = referral_body(0, body, 4096, "org-b");
    uint64_t t0 = bc_now_ns();
    long st = bc_request(c, "POST", "/v1/referrals", body, len);
    uint64_t t1 = bc_now_ns();
    size_t alen = 0;
    const char *answer = bc_body(c, &alen);
    H_REQUIRE(st == 201, "POST /v1/referrals: %ld %s%s", st, bc_error(c),
              answer);
    char id[64];
    json_field(answer, alen, "id", id, sizeof id);
    H_REQUIRE(id[0], "201 without an id: %s", answer);
    uint64_t t2 = wait_received(c, id);
    if (record) {
        bs_add(create, ms_between(t0, t1));
        bs_add(e2e, ms_between(t0, t2));
    }
}

static void run_serial(h_org *a, size_t n, bs_samples *create,
                       bs_samples *e2e)
{
    bc_conn *c = conn_to(a);
    char body[4096];
    for (size_t i = 0; i < SERIAL_WARMUP + n; i++)
        one_referral(c, body, create, e2e, i >= SERIAL_WARMUP);
    bc_conn_free(&c);
}

/* -------------------------------------------------------------- pipelined */

typedef struct agent_snap {
    double commits, items;
    long long last_seq, outbox_pending;
} agent_snap;

static agent_snap snap(bc_conn *c)
{
    agent_snap s = {-1, -1, -1, -1};
    size_t len = 0;
    if (bc_request(c, "GET", "/healthz", NULL, 0) == 200) {
        const char *b = bc_body(c, &len);
        s.last_seq = json_int_field(b, len, "last_seq");
        s.outbox_pending = json_int_field(b, len, "outbox_pending");
    }
    if (bc_request(c, "GET", "/metrics", NULL, 0) == 200) {
        const char *b = bc_body(c, &len), *p;
        if ((p = strstr(b, "\npolku_agent_commits_total ")))
            s.commits = strtod(p + 27, NULL);
        if ((p = strstr(b, "\npolku_agent_batch_items_total ")))
            s.items = strtod(p + 31, NULL);
    }
    H_REQUIRE(s.last_seq >= 0 && s.commits >= 0 && s.items >= 0,
              "agent /healthz or /metrics unreadable");
    return s;
}

/* Both outboxes empty: nothing of an earlier phase is still moving. */
static bool quiet(bc_conn *a, bc_conn *b)
{
    return snap(a).outbox_pending == 0 && snap(b).outbox_pending == 0;
}

/* The completion condition of the pipelined phase (see the file header):
 * org-b has committed `want` status events and has no unacknowledged one. */
static bool all_received(bc_conn *b, long long want_seq)
{
    size_t len = 0;
    if (bc_request(b, "GET", "/healthz", NULL, 0) != 200)
        return false;
    const char *body = bc_body(b, &len);
    return json_int_field(body, len, "last_seq") >= want_seq &&
           json_int_field(body, len, "outbox_pending") == 0;
}

/* CPU used by each process of the path (all threads), and the machine. */
enum { CPU_A, CPU_B, CPU_BROKER, CPU_CLIENT, CPU_N };
static const char *const cpu_names[CPU_N] = {"org-a", "org-b", "broker",
                                             "client"};

typedef struct cpu_snap {
    double ms[CPU_N];
    unsigned long long busy, total;
} cpu_snap;

static cpu_snap cpu_now(h_region *r, h_org *a, h_org *b)
{
    cpu_snap s = {{bs_proc_cpu_ms(a->proc.pid), bs_proc_cpu_ms(b->proc.pid),
                   bs_proc_cpu_ms(r->broker.pid), bs_proc_cpu_ms(getpid())},
                  0, 0};
    if (bs_machine_jiffies(&s.busy, &s.total))
        s.busy = s.total = 0;
    return s;
}

typedef struct pipe_result {
    size_t n;
    int connections;
    double created_s, received_s;
    double commits_a, commits_b, items_a, items_b;
    double cpu_ms[CPU_N];
    double machine_busy; /* share of all cores busy, every tenant */
} pipe_result;

static void cpu_diff(const cpu_snap *s0, const cpu_snap *s1, pipe_result *res)
{
    for (int i = 0; i < CPU_N; i++)
        res->cpu_ms[i] = s1->ms[i] - s0->ms[i];
    res->machine_busy = s1->total > s0->total
                            ? (double)(s1->busy - s0->busy) /
                                  (double)(s1->total - s0->total)
                            : 0;
}

static void post_all(h_org *a, size_t n, int concurrency, pipe_result *res)
{
    bc_pipeline p = {.base_url = a->url, .token = a->token,
                     .path = "/v1/referrals", .count = n,
                     .concurrency = concurrency, .want_status = 201,
                     .body = referral_body, .arg = "org-b"};
    p.deadline_ns = bc_now_ns() + (H_SEC(60) + n * 5 * h_scale()) * 1000000u;
    bc_pipeline_result out;
    int rc = bc_post_pipelined(&p, &out);
    H_REQUIRE(rc == 0, "pipelined POSTs: %zu answered, %zu failed; first "
              "failure: status %ld %s", out.answered, out.failed,
              out.first_bad_status, out.first_bad);
    res->connections = out.connections;
}

static void run_pipelined(h_region *r, h_org *a, h_org *b, size_t n,
                          int concurrency, pipe_result *res)
{
    bc_conn *ca = conn_to(a), *cb = conn_to(b);
    H_WAIT_UNTIL(H_SEC(30), quiet(ca, cb), "both outboxes to be empty");
    agent_snap a0 = snap(ca), b0 = snap(cb);
    res->n = n;
    cpu_snap cpu0 = cpu_now(r, a, b);
    uint64_t t0 = bc_now_ns();
    post_all(a, n, concurrency, res);
    uint64_t t1 = bc_now_ns();
    uint64_t deadline = t1 + (H_SEC(60) + n * 5 * h_scale()) * 1000000u;
    while (!all_received(cb, b0.last_seq + (long long)n)) {
        H_REQUIRE(bc_now_ns() < deadline, "org-a to see all %zu referrals "
                  "received (org-b at seq %lld of %lld)", n,
                  snap(cb).last_seq, b0.last_seq + (long long)n);
        h_check_processes();
        pause_us(1000);
    }
    uint64_t t2 = bc_now_ns();
    cpu_snap cpu1 = cpu_now(r, a, b);
    cpu_diff(&cpu0, &cpu1, res);
    H_WAIT_UNTIL(H_SEC(30), quiet(ca, cb), "both outboxes to be empty");
    agent_snap a1 = snap(ca), b1 = snap(cb);
    res->created_s = ms_between(t0, t1) / 1e3;
    res->received_s = ms_between(t0, t2) / 1e3;
    res->commits_a = a1.commits - a0.commits;
    res->commits_b = b1.commits - b0.commits;
    res->items_a = a1.items - a0.items;
    res->items_b = b1.items - b0.items;
    bc_conn_free(&ca);
    bc_conn_free(&cb);
}

/* After the timing: no referral at org-a is still `requested` or ended
 * as `failed`, so every one of them reached `received`. */
static void verify_all_received(h_org *a)
{
    static const char *const bad[] = {"requested", "failed"};
    bc_conn *c = conn_to(a);
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path,
                 "/v1/referrals?direction=out&status=%s&limit=1", bad[i]);
        long st = bc_request(c, "GET", path, NULL, 0);
        size_t len = 0;
        const char *body = bc_body(c, &len);
        H_REQUIRE(st == 200, "GET %s: %ld %s", path, st, bc_error(c));
        long long count = json_int_field(body, len, "count");
        H_REQUIRE(count == 0, "%lld referral(s) at org-a still '%s'", count,
                  bad[i]);
    }
    bc_conn_free(&c);
}

/* ----------------------------------------------------------------- report */

typedef struct results {
    bs_samples commit, commit_before, commit_after, rtt, create, e2e;
    pipe_result pipe;
} results;

static void row(const char *what, bs_samples *s)
{
    printf("  %-44s %6zu %9.3f %9.3f %9.3f\n", what, s->n, bs_pct(s, 0.50),
           bs_pct(s, 0.99), bs_mean(s));
}

static void print_header(h_region *r)
{
    struct utsname u;
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    uname(&u);
    printf("\nreferral_bench (%s run), %s, %s %s, %ld cores, region in %s\n",
           g_opt.label, when, u.sysname, u.release,
           sysconf(_SC_NPROCESSORS_ONLN), r->dir);
    printf("  %-44s %6s %9s %9s %9s\n", "latency", "n", "p50 ms", "p99 ms",
           "mean ms");
}

static void print_results(h_region *r, results *x)
{
    pipe_result *p = &x->pipe;
    double c50 = bs_pct(&x->commit, 0.50);
    double rate = (double)p->n / p->received_s;
    double commits = p->commits_a + p->commits_b;
    print_header(r);
    row("one durable LMDB commit (500 B put)", &x->commit);
    printf("  %-44s        p50 %.3f before, %.3f after the referrals\n", "",
           bs_pct(&x->commit_before, 0.5), bs_pct(&x->commit_after, 0.5));
    row("API round trip (GET /healthz at org-a)", &x->rtt);
    row("one at a time: POST -> 201 at org-a", &x->create);
    row("one at a time: POST -> `received` at org-a", &x->e2e);
    printf("  pipelined: %zu referrals over %d connections (%d opened)\n",
           p->n, g_opt.concurrency, p->connections);
    printf("    all answered 201 after   %7.2f s = %8.0f referrals/s\n",
           p->created_s, (double)p->n / p->created_s);
    printf("    all `received` at org-a after %7.2f s = %8.0f referrals/s\n",
           p->received_s, rate);
    printf("    commits: org-a %.0f, org-b %.0f = %.3f per referral "
           "(batch items per commit: org-a %.1f, org-b %.1f)\n",
           p->commits_a, p->commits_b, commits / (double)p->n,
           p->items_a / (p->commits_a > 0 ? p->commits_a : 1),
           p->items_b / (p->commits_b > 0 ? p->commits_b : 1));
    double cpu_total = 0;
    printf("    CPU per referral (us):");
    for (int i = 0; i < CPU_N; i++) {
        cpu_total += p->cpu_ms[i];
        printf(" %s %.0f,", cpu_names[i], p->cpu_ms[i] * 1e3 / (double)p->n);
    }
    printf(" all %.0f; machine busy %.0f%% (every tenant)\n",
           cpu_total * 1e3 / (double)p->n, p->machine_busy * 100);
    printf("\n  ratios against one durable LMDB commit (p50 %.3f ms, this "
           "run):\n", c50);
    printf("    one-at-a-time p50 = %.3f ms = %.1fx one durable LMDB "
           "commit\n", bs_pct(&x->e2e, 0.5), bs_pct(&x->e2e, 0.5) / c50);
    printf("    pipelined %.0f/s = %.1fx (1 / one durable commit): %.1f "
           "referrals complete per commit time\n", rate, rate * c50 / 1e3,
           rate * c50 / 1e3);
    printf("    commits per referral (both agents) = %.3f\n\n",
           commits / (double)p->n);
}

static void results_free(results *x)
{
    bs_free(&x->commit);
    bs_free(&x->commit_before);
    bs_free(&x->commit_after);
    bs_free(&x->rtt);
    bs_free(&x->create);
    bs_free(&x->e2e);
}

/* ------------------------------------------------------------------- run */

static void bench_case(void)
{
    static results x; /* static: survives an aborted case's longjmp */
    results_free(&x);
    uint64_t next_key = 0;
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_org *b = h_region_add_org(r, "org-b", "bench-intake");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    h_note("baseline: %zu durable LMDB commits, %zu API round trips",
           g_opt.commits / 2, g_opt.rtts);
    lmdb_baseline(r, g_opt.commits / 2, &next_key, &x.commit_before);
    bc_conn *c = conn_to(a);
    rtt_baseline(c, g_opt.rtts, &x.rtt);
    bc_conn_free(&c);

    h_note("one at a time: %zu referrals (+%d warm-up)", g_opt.serial,
           SERIAL_WARMUP);
    run_serial(a, g_opt.serial, &x.create, &x.e2e);

    h_note("pipelined: %zu referrals over %d connections", g_opt.count,
           g_opt.concurrency);
    run_pipelined(r, a, b, g_opt.count, g_opt.concurrency, &x.pipe);
    verify_all_received(a);

    h_note("baseline: %zu more durable LMDB commits",
           g_opt.commits - g_opt.commits / 2);
    lmdb_baseline(r, g_opt.commits - g_opt.commits / 2, &next_key,
                  &x.commit_after);
    bs_merge(&x.commit, &x.commit_before);
    bs_merge(&x.commit, &x.commit_after);
    print_results(r, &x);
    results_free(&x);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: referral_bench [--short] [--serial N] [--count N]\n"
            "                      [--concurrency N] [--keep]\n"
            "  --short          300 one-at-a-time, 10000 pipelined (< 1 min)\n"
            "  --serial N       one-at-a-time referrals (default 2000)\n"
            "  --count N        pipelined referrals (default 50000)\n"
            "  --concurrency N  pipelined keep-alive connections (default "
            "32)\n"
            "  --keep           keep the region directory (logs, stores)\n");
}

/* A positive number argument; 0 if it is not one. */
static unsigned long number_arg(const char *s)
{
    char *end = NULL;
    unsigned long n = s ? strtoul(s, &end, 10) : 0;
    return s && *s && end && !*end ? n : 0;
}

static int parse_opts(int argc, char **argv)
{
    size_t serial = 0, count = 0;
    int conc = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--short") == 0) {
            g_opt.serial = 300, g_opt.count = 10000, g_opt.commits = 400;
            g_opt.rtts = 500, g_opt.label = "--short";
        } else if (strcmp(arg, "--keep") == 0) {
            g_opt.keep = true;
        } else if (strcmp(arg, "--serial") == 0 && number_arg(val)) {
            serial = number_arg(argv[++i]);
        } else if (strcmp(arg, "--count") == 0 && number_arg(val)) {
            count = number_arg(argv[++i]);
        } else if (strcmp(arg, "--concurrency") == 0 && number_arg(val) &&
                   number_arg(val) <= 256) {
            conc = (int)number_arg(argv[++i]);
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "referral_bench: bad argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    g_opt.serial = serial ? serial : g_opt.serial;
    g_opt.count = count ? count : g_opt.count;
    g_opt.concurrency = conc ? conc : g_opt.concurrency;
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_opts(argc, argv))
        return 2;
    make_reason();
    if (g_opt.keep)
        setenv("POLKU_IT_KEEP", "1", 1);
    /* One log line per referral at info would be part of what is timed. */
    setenv("POLKU_IT_LOG_LEVEL", "warn", 0);
    setenv("POLKU_IT_DEADLINE", "900", 0);
    char *args[] = {argv[0], NULL};
    h_init(1, args, "referral_bench");
    h_run_case("referral_bench", bench_case);
    return h_finish();
}
