/* referral_bench.c — durable referrals end to end, org-a -> broker -> org-b
 * and back, on a real region started through the integration harness.
 *
 * Why it exists: the referral path is two agents' LMDB commits joined by
 * CURVE routing, and group commit is what is supposed to make it fast under
 * load. This program measures that path as an organisation's system sees
 * it, through the agent's HTTP API, and states the figures as ratios
 * against a durable LMDB commit taken on the same disk in the same run (the
 * machines it runs on are shared and noisy, so absolute figures alone
 * drift too much to compare).
 *
 * The run (bench/README.md says what each printed figure means):
 *   0. a region: broker, org-a, org-b; a pool of clients, each with a
 *      referral consent covering both organisations (untimed);
 *   1. baseline: durable single-put LMDB commits of 500 bytes (before the
 *      referrals, between the one-at-a-time ones, after the pipelined
 *      ones) and GET /healthz round trips;
 *   2. one at a time: POST /v1/referrals at org-a, then org-b's and
 *      org-a's /v1/events streams are read until org-b has stored it
 *      (`received`) and org-a has stored the receipt; then plain reads of
 *      one referral;
 *   3. pipelined, once per --concurrency window: POSTs over concurrent
 *      keep-alive connections until every referral is `received` at org-a
 *      (referral_pipelined.c says how that is seen), with both agents'
 *      commits, the disks' flushes and every process's CPU.
 *
 * This file: options, the run and the printed table. Not a ctest entry:
 * benchmarks are not tests. --machine adds key=value lines after the
 * table, for bench/compare (which also wants the disks' flushes during
 * the pipelined phase). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "peers/disk_flushes.h"
#include "referral_bench.h"
#include "sse_subscribers.h"

typedef struct opts {
    bool keep;
    bool machine;                /* key=value lines after the table */
    size_t serial;               /* one-at-a-time referrals */
    size_t count;                /* pipelined referrals */
    int windows[RB_WINDOWS_MAX]; /* pipelined connections, one phase each */
    size_t subscribers;          /* SSE readers of the broker's /events */
    bool subscribers_gzip;       /* they accept gzip, as browsers do */
    size_t batch; /* referrals per POST /v1/referrals/batch; 0: single */
    int nwindows;
    size_t commits;    /* baseline LMDB commits, in all */
    size_t rtts;       /* baseline API round trips, and reads */
    const char *label; /* "default" or "--short" */
} opts;

static opts g_opt = {.serial = 2000,
                     .count = 50000,
                     .windows = {32},
                     .nwindows = 1,
                     .commits = 1000,
                     .rtts = 1000,
                     .label = "default"};
/* ", N per POST /v1/referrals/batch" when --batch N, else "" */
static char g_batch_note[64];

/* ----------------------------------------------------------------- report */

typedef struct results {
    bs_lmdb *lmdb;
    bs_samples commit; /* every baseline commit: the three below */
    bs_samples commit_before, commit_during, commit_after;
    bs_samples rtt, reads;
    rb_serial serial;
    double read_commits;
    rb_pipe_result pipe[RB_WINDOWS_MAX];
    /* --subscribers: the same phases with the broker's feed read */
    rb_pipe_result pipe_subs[RB_WINDOWS_MAX];
    size_t subs_streaming;
    unsigned long long subs_bytes;
    double subs_cpu_ms[RB_WINDOWS_MAX]; /* their reader thread's */
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

static void print_latencies(results *x)
{
    row("one durable LMDB commit (500 B put)", &x->commit);
    printf("  %-44s        p50 %.3f before the referrals, %.3f between the\n"
           "  %-44s        one-at-a-time ones, %.3f after the pipelined ones\n",
           "", bs_pct(&x->commit_before, 0.5), bs_pct(&x->commit_during, 0.5),
           "", bs_pct(&x->commit_after, 0.5));
    row("API round trip (GET /healthz at org-a)", &x->rtt);
    row("one at a time: POST -> 201 at org-a", &x->serial.create);
    row("one at a time: POST -> stored at org-b", &x->serial.at_b);
    row("one at a time: POST -> `received` at org-a", &x->serial.e2e);
    row("one at a time: GET /v1/referrals/ID at org-a", &x->reads);
    printf("  %-44s        org-a counted %.0f commits for these %zu reads\n",
           "", x->read_commits, x->reads.n);
}

static void print_cpu(const rb_pipe_result *p)
{
    double total = 0;
    printf("    CPU per referral (us):");
    for (int i = 0; i < RB_CPU_N; i++) {
        total += p->cpu_ms[i];
        printf(" %s %.0f,", rb_cpu_names[i], p->cpu_ms[i] * 1e3 / (double)p->n);
    }
    printf(" all %.0f\n", total * 1e3 / (double)p->n);
    printf("    = %.0f referrals per CPU second; machine busy %.0f%% "
           "meanwhile (every tenant)\n",
           (double)p->n / (total > 0 ? total / 1e3 : 1), p->machine_busy * 100);
}

static void print_pipelined(const rb_pipe_result *p)
{
    printf("  pipelined: %zu referrals over %d connections (%d opened)%s\n",
           p->n, p->concurrency, p->connections, g_batch_note);
    /* a batch is answered 200, with a 201 inside for each referral */
    printf("    %-30s%7.2f s = %8.0f referrals/s\n",
           g_opt.batch ? "all items 201 (in 200s) after"
                       : "all answered 201 after",
           p->created_s, (double)p->n / p->created_s);
    printf("    all stored at org-b after     %7.2f s = %8.0f referrals/s\n",
           p->stored_b_s, (double)p->n / p->stored_b_s);
    printf("    all `received` at org-a after %7.2f s = %8.0f referrals/s\n",
           p->received_s, (double)p->n / p->received_s);
    printf("    commits: org-a %.0f, org-b %.0f = %.3f per referral "
           "(batch items per commit: org-a %.1f, org-b %.1f)\n",
           p->commits_a, p->commits_b,
           (p->commits_a + p->commits_b) / (double)p->n,
           p->items_a / (p->commits_a > 0 ? p->commits_a : 1),
           p->items_b / (p->commits_b > 0 ? p->commits_b : 1));
    print_cpu(p);
}

/* One at a time is set against the commits taken between its referrals
 * (same moment, same disk load); pipelined against every baseline commit. */
static void print_ratios(results *x)
{
    const rb_pipe_result *p = &x->pipe[0];
    double c50 = bs_pct(&x->commit, 0.50), e50 = bs_pct(&x->serial.e2e, 0.50);
    double d50 = bs_pct(&x->commit_during, 0.50);
    double rate = (double)p->n / p->received_s;
    printf("\n  ratios against one durable LMDB commit, this run:\n");
    printf("    one-at-a-time p50 = %.3f ms = %.1fx one durable LMDB commit "
           "(p50 %.3f ms between them)\n",
           e50, e50 / d50, d50);
    printf("    pipelined %.0f/s = %.1fx (1 / one durable commit) (p50 %.3f "
           "ms, all), i.e. %.1f referrals complete per commit time\n",
           rate, rate * c50 / 1e3, c50, rate * c50 / 1e3);
    printf("    commits per referral (both agents) = %.3f\n\n",
           (p->commits_a + p->commits_b) / (double)p->n);
}

static void machine_latency(const char *name, bs_samples *s)
{
    printf("serial_%s_p50_ms=%.3f\nserial_%s_p99_ms=%.3f\n"
           "serial_%s_mean_ms=%.3f\n",
           name, bs_pct(s, 0.50), name, bs_pct(s, 0.99), name, bs_mean(s));
}

/* The figures bench/compare reads, as key=value lines (names as in
 * bench/peers' clients: the end points sender = 201, receiver = stored
 * at org-b, receipt = `received` stored at org-a). CPU: servers are
 * org-a, org-b and the broker; the client is this process. */
static void print_machine(results *x)
{
    printf("system=polku\npayload_bytes=%d\n", RB_REASON_BYTES);
    printf("serial_n=%zu\n", x->serial.e2e.n);
    machine_latency("sender", &x->serial.create);
    machine_latency("receiver", &x->serial.at_b);
    machine_latency("receipt", &x->serial.e2e);
    if (x->serial.flushes >= 0 && x->serial.e2e.n)
        printf("serial_flushes_per_msg=%.3f\n",
               (double)x->serial.flushes / (double)x->serial.e2e.n);
    else
        printf("serial_flushes_per_msg=n/a\n");
    printf("commit_p50_ms=%.3f\n", bs_pct(&x->commit, 0.50));
    printf("windows=");
    for (int w = 0; w < g_opt.nwindows; w++)
        printf("%s%d", w ? "," : "", g_opt.windows[w]);
    printf("\n");
    for (int w = 0; w < g_opt.nwindows; w++) {
        const rb_pipe_result *p = &x->pipe[w];
        int c = p->concurrency;
        double n = (double)p->n;
        printf("tput_w%d_n=%zu\n", c, p->n);
        printf("tput_w%d_sender_per_s=%.0f\n", c, n / p->created_s);
        printf("tput_w%d_receiver_per_s=%.0f\n", c, n / p->stored_b_s);
        printf("tput_w%d_receipt_per_s=%.0f\n", c, n / p->received_s);
        if (p->flushes >= 0)
            printf("tput_w%d_flushes_per_msg=%.3f\n", c,
                   (double)p->flushes / n);
        else
            printf("tput_w%d_flushes_per_msg=n/a\n", c);
        printf("tput_w%d_cpu_server_us=%.0f\n", c,
               (p->cpu_ms[RB_CPU_A] + p->cpu_ms[RB_CPU_B] +
                p->cpu_ms[RB_CPU_BROKER]) *
                   1e3 / n);
        printf("tput_w%d_cpu_client_us=%.0f\n", c,
               p->cpu_ms[RB_CPU_CLIENT] * 1e3 / n);
        printf("tput_w%d_cpu_org_a_us=%.0f\ntput_w%d_cpu_org_b_us=%.0f\n"
               "tput_w%d_cpu_broker_us=%.0f\n",
               c, p->cpu_ms[RB_CPU_A] * 1e3 / n, c,
               p->cpu_ms[RB_CPU_B] * 1e3 / n, c,
               p->cpu_ms[RB_CPU_BROKER] * 1e3 / n);
        printf("tput_w%d_commits_per_msg=%.3f\n", c,
               (p->commits_a + p->commits_b) / n);
    }
}

static void results_free(results *x)
{
    bs_free(&x->commit);
    bs_free(&x->commit_before);
    bs_free(&x->commit_during);
    bs_free(&x->commit_after);
    bs_lmdb_close(&x->lmdb);
    bs_free(&x->rtt);
    bs_free(&x->serial.create);
    bs_free(&x->serial.at_b);
    bs_free(&x->serial.e2e);
    bs_free(&x->serial.commits);
    bs_free(&x->reads);
    memset(x, 0, sizeof *x);
}

/* ------------------------------------------------------------------- run */

static void print_subscribers(const results *x);

static void bench_case(void)
{
    static results x; /* static: survives an aborted case's longjmp */
    results_free(&x);
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_org *b = h_region_add_org(r, "org-b", "bench-intake");
    if (g_opt.batch) /* a batch body is bigger than the default max_body */
        h_agent_config_add(a, "max_body = 1048576");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    /* About ten referrals per client in the pipelined phase. */
    size_t clients = g_opt.count / 10;
    rb_clients_make(clients < 100 ? 100 : clients > 5000 ? 5000 : clients);
    h_note("%zu clients, each with a referral consent (untimed)",
           rb_clients_count());
    rb_grant_consents(a, b);

    h_note("baseline: %zu durable LMDB commits, %zu API round trips",
           g_opt.commits / 2, g_opt.rtts);
    x.lmdb = rb_lmdb_open(r);
    rb_lmdb_baseline(x.lmdb, g_opt.commits / 2, &x.commit_before);
    rb_rtt_baseline(a, g_opt.rtts, &x.rtt);

    h_note("one at a time: %zu referrals (+%d warm-up), each followed by "
           "one baseline commit",
           g_opt.serial, RB_SERIAL_WARMUP);
    char last_id[64];
    rb_run_serial(a, b, g_opt.serial, x.lmdb, &x.serial, last_id);
    bs_merge(&x.commit_during, &x.serial.commits);
    rb_run_reads(a, last_id, g_opt.rtts, &x.reads, &x.read_commits);

    for (int w = 0; w < g_opt.nwindows; w++) {
        h_note("pipelined: %zu referrals over %d connections", g_opt.count,
               g_opt.windows[w]);
        rb_run_pipelined(r, a, b, g_opt.count, g_opt.windows[w], g_opt.batch,
                         &x.pipe[w]);
    }

    if (g_opt.subscribers) {
        sse_subs *subs = sse_subs_open(r->broker_http_port, g_opt.subscribers,
                                       g_opt.subscribers_gzip, 10000);
        H_REQUIRE(subs, "%zu subscribers opened", g_opt.subscribers);
        x.subs_streaming = sse_subs_streaming(subs);
        h_note("%zu SSE subscribers asked for the broker's /events, %zu "
               "streaming",
               g_opt.subscribers, x.subs_streaming);
        for (int w = 0; w < g_opt.nwindows; w++) {
            h_note("pipelined with the subscribers: %zu referrals over %d "
                   "connections",
                   g_opt.count, g_opt.windows[w]);
            double cpu0 = sse_subs_cpu_ms(subs);
            rb_run_pipelined(r, a, b, g_opt.count, g_opt.windows[w],
                             g_opt.batch, &x.pipe_subs[w]);
            x.subs_cpu_ms[w] = sse_subs_cpu_ms(subs) - cpu0;
        }
        if (sse_subs_streaming(subs) < x.subs_streaming)
            x.subs_streaming = sse_subs_streaming(subs);
        x.subs_bytes = sse_subs_bytes(subs);
        sse_subs_close(&subs);
    }

    h_note("baseline: %zu more durable LMDB commits",
           g_opt.commits - g_opt.commits / 2);
    rb_lmdb_baseline(x.lmdb, g_opt.commits - g_opt.commits / 2,
                     &x.commit_after);
    bs_merge(&x.commit, &x.commit_before);
    bs_merge(&x.commit, &x.commit_during);
    bs_merge(&x.commit, &x.commit_after);
    print_header(r);
    print_latencies(&x);
    for (int w = 0; w < g_opt.nwindows; w++)
        print_pipelined(&x.pipe[w]);
    if (g_opt.subscribers)
        print_subscribers(&x);
    print_ratios(&x);
    if (g_opt.machine)
        print_machine(&x);
    results_free(&x);
}

/* The phases again with subscribers on the broker's feed, and the drop of
 * the routing rate (the N-th `received` at org-a) against the phase of the
 * same window without them. */
static void print_subscribers(const results *x)
{
    printf("\n  with %zu SSE subscribers asking for the broker's /events "
           "(%zu streaming to the end, %.1f MB read by them):\n",
           g_opt.subscribers, x->subs_streaming, (double)x->subs_bytes / 1e6);
    for (int w = 0; w < g_opt.nwindows; w++)
        print_pipelined(&x->pipe_subs[w]);
    for (int w = 0; w < g_opt.nwindows; w++) {
        double without = (double)x->pipe[w].n / x->pipe[w].received_s;
        double with = (double)x->pipe_subs[w].n / x->pipe_subs[w].received_s;
        printf("  window %d: %.0f referrals/s without subscribers, %.0f with "
               "%zu streaming: %+.1f%%\n",
               g_opt.windows[w], without, with, x->subs_streaming,
               (with - without) / without * 100);
        printf("    the subscribers' reader thread (in \"client\" above): "
               "%.0f us CPU per referral\n",
               x->subs_cpu_ms[w] * 1e3 / (double)x->pipe_subs[w].n);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: referral_bench [--short] [--serial N] [--count N]\n"
            "                      [--batch N] [--concurrency N[,N..]] "
            "[--subscribers N]\n"
            "                      [--subscribers-gzip]\n"
            "                      [--keep] [--machine]\n"
            "  --short          300 one-at-a-time, 10000 pipelined (< 1 min)\n"
            "  --serial N       one-at-a-time referrals (default 2000)\n"
            "  --count N        pipelined referrals (default 50000)\n"
            "  --batch N        pipelined: N referrals per POST (1..1000) to\n"
            "                   /v1/referrals/batch (default one per POST)\n"
            "  --concurrency N  pipelined keep-alive connections (default "
            "32);\n"
            "                   a list (32,256) runs one pipelined phase "
            "each\n"
            "  --subscribers N  then the pipelined phases again with N "
            "readers of\n"
            "                   the broker's /events (the drop they cause)\n"
            "  --subscribers-gzip  they accept gzip, as browsers do\n"
            "  --keep           keep the region directory (logs, stores)\n"
            "  --machine        key=value lines too (for bench/compare)\n");
}

/* A positive number argument; 0 if it is not one. */
static unsigned long number_arg(const char *s)
{
    char *end = NULL;
    unsigned long n = s ? strtoul(s, &end, 10) : 0;
    return s && *s && end && !*end ? n : 0;
}

/* "32" or "32,256": each 1..256, at most RB_WINDOWS_MAX, none twice. */
static bool parse_windows(const char *v)
{
    int n = 0, w[RB_WINDOWS_MAX];
    for (const char *p = v; *p;) {
        char *end = NULL;
        long c = strtol(p, &end, 10);
        if (end == p || c < 1 || c > 256 || n == RB_WINDOWS_MAX ||
            (*end && *end != ','))
            return false;
        for (int k = 0; k < n; k++)
            if (w[k] == c)
                return false;
        w[n++] = (int)c;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        return false;
    memcpy(g_opt.windows, w, sizeof w);
    g_opt.nwindows = n;
    return true;
}

static int parse_opts(int argc, char **argv)
{
    size_t serial = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--short") == 0) {
            g_opt.serial = 300, g_opt.count = 10000, g_opt.commits = 400;
            g_opt.rtts = 500, g_opt.label = "--short";
        } else if (strcmp(arg, "--keep") == 0) {
            g_opt.keep = true;
        } else if (strcmp(arg, "--machine") == 0) {
            g_opt.machine = true;
        } else if (strcmp(arg, "--serial") == 0 && number_arg(val)) {
            serial = number_arg(argv[++i]);
        } else if (strcmp(arg, "--subscribers") == 0 && number_arg(val)) {
            g_opt.subscribers = number_arg(argv[++i]);
        } else if (strcmp(arg, "--subscribers-gzip") == 0) {
            g_opt.subscribers_gzip = true;
        } else if (strcmp(arg, "--batch") == 0 && number_arg(val) &&
                   number_arg(val) <= 1000) {
            g_opt.batch = number_arg(argv[++i]);
        } else if (strcmp(arg, "--count") == 0 && number_arg(val)) {
            count = number_arg(argv[++i]);
        } else if (strcmp(arg, "--concurrency") == 0 && val &&
                   parse_windows(val)) {
            i++;
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
    if (g_opt.batch)
        snprintf(g_batch_note, sizeof g_batch_note,
                 ", %zu per POST /v1/referrals/batch", g_opt.batch);
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_opts(argc, argv))
        return 2;
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
