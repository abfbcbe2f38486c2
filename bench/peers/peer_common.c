/* peer_common.c — see peer_common.h. */
#include "peer_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

peer_opts peer = {.name = "peer_bench",
                  .serial = 300,
                  .count = 10000,
                  .warmup = 50,
                  .window = 32,
                  .size = 500,
                  .timeout_s = 300};
char peer_payload[PEER_PAYLOAD_MAX];

static double g_deadline; /* monotonic seconds */

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

bool peer_option(const char *a, const char *v)
{
    long n = peer_num(v);
    if (strcmp(a, "--serial") == 0 && n >= 0)
        peer.serial = (size_t)n;
    else if (strcmp(a, "--count") == 0 && n > 0)
        peer.count = (size_t)n;
    else if (strcmp(a, "--window") == 0 && n > 0 && n <= 1000000)
        peer.window = (int)n;
    else if (strcmp(a, "--warmup") == 0 && n >= 0)
        peer.warmup = (size_t)n;
    else if (strcmp(a, "--size") == 0 && n > 0 && n <= PEER_PAYLOAD_MAX)
        peer.size = (int)n;
    else if (strcmp(a, "--timeout") == 0 && n > 0 && n <= 86400)
        peer.timeout_s = (int)n;
    else
        return false;
    return true;
}

void peer_start(void)
{
    g_deadline = peer_now_s() + peer.timeout_s;
    for (int i = 0; i < peer.size; i++)
        peer_payload[i] = (char)('a' + i % 26);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank, as bench_stats.c's bs_pct. */
static double pct(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(q * (double)n);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return v[rank - 1];
}

void peer_run_serial(void (*one)(void *), void *arg)
{
    double *ms = calloc(peer.serial ? peer.serial : 1, sizeof *ms), sum = 0;
    if (!ms)
        peer_die("serial", "out of memory");
    for (size_t i = 0; i < peer.warmup + peer.serial; i++) {
        double t0 = peer_now_s();
        one(arg);
        double t = (peer_now_s() - t0) * 1e3;
        if (i >= peer.warmup) {
            ms[i - peer.warmup] = t;
            sum += t;
        }
    }
    qsort(ms, peer.serial, sizeof *ms, cmp_double);
    printf("serial_n=%zu\nserial_p50_ms=%.3f\nserial_p99_ms=%.3f\n"
           "serial_mean_ms=%.3f\n",
           peer.serial, pct(ms, peer.serial, 0.5), pct(ms, peer.serial, 0.99),
           peer.serial ? sum / (double)peer.serial : 0);
    free(ms);
}

void peer_print_throughput(double confirmed_s, double total_s,
                           long long flushes)
{
    printf("tput_n=%zu\ntput_window=%d\ntput_confirmed_s=%.3f\ntput_s=%.3f\n"
           "tput_per_s=%.0f\ntput_flushes=%lld\n",
           peer.count, peer.window, confirmed_s, total_s,
           (double)peer.count / total_s, flushes);
}
