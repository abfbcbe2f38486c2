/* peer_common.c — see peer_common.h. */
#include "peer_common.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bench_stats.h"
#include "disk_flushes.h"

peer_opts peer = {.name = "peer_bench",
                  .serial = 300,
                  .count = 10000,
                  .warmup = 50,
                  .windows = {32},
                  .nwindows = 1,
                  .size = 500,
                  .timeout_s = 300};
char peer_payload[PEER_PAYLOAD_MAX];

static double g_deadline; /* monotonic seconds */

/* End point times by seq (monotonic seconds, 0 = not yet). */
static struct {
    double *received, *receipt;
    size_t total;
    atomic_size_t nreceived;
    atomic_bool finished; /* the last phase's figures are taken */
    pthread_t receiver;
    bool has_receiver;
} g_marks;

void peer_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", peer.name, what, why);
    exit(1);
}

double peer_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double peer_left_s(void)
{
    double left = g_deadline - peer_now_s();
    if (left <= 0)
        peer_die("deadline", "the run took longer than --timeout");
    return left;
}

long peer_num(const char *s)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : -1;
    return s && *s && end && !*end && v >= 0 ? v : -1;
}

/* "32" or "32,256": true if every item is a window in 1..100000. */
static bool parse_windows(const char *v)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end = NULL;
        long w = strtol(p, &end, 10);
        if (end == p || w < 1 || w > 100000 || n == PEER_WINDOWS_MAX ||
            (*end && *end != ','))
            return false;
        peer.windows[n++] = (int)w;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        return false;
    peer.nwindows = n;
    return true;
}

bool peer_option(const char *a, const char *v)
{
    long n = peer_num(v);
    if (strcmp(a, "--serial") == 0 && n >= 0)
        peer.serial = (size_t)n;
    else if (strcmp(a, "--count") == 0 && n > 0)
        peer.count = (size_t)n;
    else if (strcmp(a, "--window") == 0 || strcmp(a, "--windows") == 0)
        return parse_windows(v);
    else if (strcmp(a, "--warmup") == 0 && n >= 0)
        peer.warmup = (size_t)n;
    else if (strcmp(a, "--size") == 0 && n >= 8 && n <= PEER_PAYLOAD_MAX)
        peer.size = (int)n;
    else if (strcmp(a, "--timeout") == 0 && n > 0 && n <= 86400)
        peer.timeout_s = (int)n;
    else if (strcmp(a, "--server-pid") == 0 && n > 0)
        peer.server_pid = (int)n;
    else if (strcmp(a, "--store") == 0 && v[0])
        peer.store = v;
    else
        return false;
    return true;
}

size_t peer_total(void)
{
    return peer.warmup + peer.serial + peer.count * (size_t)peer.nwindows;
}

void peer_start(void)
{
    if (!peer.store)
        peer_die("options", "--store DIR (the receiver's LMDB) is required");
    g_deadline = peer_now_s() + peer.timeout_s;
    for (int i = 0; i < peer.size; i++)
        peer_payload[i] = (char)('a' + i % 26);
    g_marks.total = peer_total();
    g_marks.received = calloc(g_marks.total, sizeof(double));
    g_marks.receipt = calloc(g_marks.total, sizeof(double));
    if (!g_marks.received || !g_marks.receipt)
        peer_die("start", "out of memory");
}

void peer_stamp(uint64_t seq)
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        peer_payload[i] = (char)(seq & 0xff);
}

uint64_t peer_seq_of(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t seq = 0;
    if (len < 8)
        peer_die("receive", "a message shorter than its sequence number");
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | p[i];
    if (seq >= g_marks.total)
        peer_die("receive", "a sequence number this run never sent");
    return seq;
}

void peer_mark_received(const uint64_t *seqs, size_t n)
{
    double now = peer_now_s();
    for (size_t i = 0; i < n; i++)
        g_marks.received[seqs[i]] = now;
    atomic_fetch_add_explicit(&g_marks.nreceived, n, memory_order_release);
}

size_t peer_received_count(void)
{
    return atomic_load_explicit(&g_marks.nreceived, memory_order_acquire);
}

void peer_mark_receipt(uint64_t seq)
{
    if (g_marks.receipt[seq] != 0)
        peer_die("reply", "a reply consumed twice");
    g_marks.receipt[seq] = peer_now_s();
}

void peer_set_receiver(pthread_t receiver)
{
    g_marks.receiver = receiver;
    g_marks.has_receiver = true;
}

void peer_receiver_linger(void)
{
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&g_marks.finished))
        nanosleep(&ms, NULL);
}

/* The receiver's mark of seq (messages arrive in order, one at a time
 * here), after the receiver thread's count says it is written: the reply
 * the receiver publishes after its mark has already arrived, so this does
 * not wait in practice. */
static double received_at(uint64_t seq)
{
    while (peer_received_count() <= seq)
        peer_left_s();
    return g_marks.received[seq];
}

/* ------------------------------------------------------------ one at a time */

static void print_latency(const char *name, bs_samples *s)
{
    printf("serial_%s_p50_ms=%.3f\nserial_%s_p99_ms=%.3f\n"
           "serial_%s_mean_ms=%.3f\n",
           name, bs_pct(s, 0.50), name, bs_pct(s, 0.99), name, bs_mean(s));
}

void peer_run_serial(peer_one_fn one, void *arg)
{
    bs_samples ends[3] = {{0}};
    long long flushes = 0;
    bool readable = true;
    for (size_t i = 0; i < peer.warmup + peer.serial; i++) {
        uint64_t seq = i;
        double sender = 0, receipt = 0;
        long long f0 = df_flushes();
        double t0 = peer_now_s();
        one(arg, seq, &sender, &receipt);
        long long f = df_delta(f0, df_flushes());
        if (i < peer.warmup)
            continue;
        double received = received_at(seq);
        if (bs_add(&ends[0], (sender - t0) * 1e3) ||
            bs_add(&ends[1], (received - t0) * 1e3) ||
            bs_add(&ends[2], (receipt - t0) * 1e3))
            peer_die("serial", "out of memory");
        if (f < 0)
            readable = false;
        flushes += f;
    }
    printf("serial_n=%zu\n", peer.serial);
    print_latency("sender", &ends[0]);
    print_latency("receiver", &ends[1]);
    print_latency("receipt", &ends[2]);
    if (readable && peer.serial)
        printf("serial_flushes_per_msg=%.3f\n",
               (double)flushes / (double)peer.serial);
    else
        printf("serial_flushes_per_msg=n/a\n");
    for (int i = 0; i < 3; i++)
        bs_free(&ends[i]);
}

/* ---------------------------------------------------------------- phases */

static double thread_cpu_ms(void)
{
    clockid_t cid;
    struct timespec ts;
    if (!g_marks.has_receiver ||
        pthread_getcpuclockid(g_marks.receiver, &cid) != 0 ||
        clock_gettime(cid, &ts) != 0)
        return -1;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct cpu_now {
    double server, client, receiver;
} cpu_now;

static cpu_now cpu_read(void)
{
    cpu_now c = {peer.server_pid ? bs_proc_cpu_ms(peer.server_pid) : -1,
                 bs_proc_cpu_ms(getpid()), thread_cpu_ms()};
    return c;
}

/* µs per message between two readings, or -1. */
static double per_msg_us(double before, double after, size_t n)
{
    return before < 0 || after < 0 ? -1 : (after - before) * 1e3 / (double)n;
}

static double latest(const double *marks, uint64_t first, size_t n)
{
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        if (marks[first + i] == 0)
            peer_die("throughput", "a message without its end point");
        if (marks[first + i] > last)
            last = marks[first + i];
    }
    return last;
}

void peer_run_throughput(peer_phase_fn phase, void *arg)
{
    uint64_t first = peer.warmup + peer.serial;
    size_t n = peer.count;
    printf("windows=");
    for (int w = 0; w < peer.nwindows; w++)
        printf("%s%d", w ? "," : "", peer.windows[w]);
    printf("\n");
    for (int w = 0; w < peer.nwindows; w++, first += n) {
        int win = peer.windows[w];
        cpu_now c0 = cpu_read();
        long long f0 = df_flushes();
        double t0 = peer_now_s();
        double sender = phase(arg, first, n, win);
        while (peer_received_count() < first + n)
            peer_left_s();
        double receiver = latest(g_marks.received, first, n);
        double receipt = latest(g_marks.receipt, first, n);
        long long f = df_delta(f0, df_flushes());
        cpu_now c1 = cpu_read();
        printf("tput_w%d_n=%zu\n", win, n);
        printf("tput_w%d_sender_per_s=%.0f\n", win, (double)n / (sender - t0));
        printf("tput_w%d_receiver_per_s=%.0f\n", win,
               (double)n / (receiver - t0));
        printf("tput_w%d_receipt_per_s=%.0f\n", win,
               (double)n / (receipt - t0));
        if (f >= 0)
            printf("tput_w%d_flushes_per_msg=%.3f\n", win,
                   (double)f / (double)n);
        else
            printf("tput_w%d_flushes_per_msg=n/a\n", win);
        printf("tput_w%d_cpu_server_us=%.0f\n", win,
               per_msg_us(c0.server, c1.server, n));
        printf("tput_w%d_cpu_client_us=%.0f\n", win,
               per_msg_us(c0.client, c1.client, n));
        printf("tput_w%d_cpu_receiver_us=%.0f\n", win,
               per_msg_us(c0.receiver, c1.receiver, n));
        fflush(stdout);
    }
    atomic_store(&g_marks.finished, true);
}
