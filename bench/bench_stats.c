/* bench_stats.c — latency samples and the durable LMDB commit baseline
 * (see bench_stats.h). */
#include "bench_stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

int bs_add(bs_samples *s, double ms)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ms;
    s->sorted = 0;
    return 0;
}

int bs_merge(bs_samples *s, const bs_samples *from)
{
    for (size_t i = 0; i < from->n; i++)
        if (bs_add(s, from->v[i]))
            return -1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bs_pct(bs_samples *s, double q)
{
    if (s->n == 0)
        return 0;
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof *s->v, cmp_double);
        s->sorted = 1;
    }
    size_t rank = (size_t)ceil(q * (double)s->n);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

double bs_mean(const bs_samples *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return s->n ? sum / (double)s->n : 0;
}

void bs_free(bs_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------- LMDB */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct bs_lmdb {
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t next_key;
    uint8_t *value;
    size_t value_len;
};

static void key_of(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--, seq >>= 8)
        out[i] = (uint8_t)(seq & 0xff);
}

/* One transaction with one put; its duration in *ms. LMDB code or 0. */
static int one_commit(bs_lmdb *l, double *ms)
{
    uint8_t key[8];
    key_of(++l->next_key, key);
    MDB_val k = {sizeof key, key}, v = {l->value_len, l->value};
    MDB_txn *txn = NULL;
    double t0 = now_ms();
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc)
        return rc;
    rc = mdb_put(txn, l->dbi, &k, &v, MDB_APPEND);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    *ms = now_ms() - t0;
    return rc;
}

static int open_env(bs_lmdb *l, const char *dir)
{
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&l->env);
    if (!rc)
        rc = mdb_env_set_mapsize(l->env, (size_t)256 << 20);
    if (!rc)
        rc = mdb_env_open(l->env, dir, 0, 0600); /* durable: the default */
    if (!rc)
        rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
    if (!rc) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

bs_lmdb *bs_lmdb_open(const char *dir, size_t value_len, char *err,
                      size_t err_len)
{
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, err_len, "mkdir %s: %s", dir, strerror(errno));
        return NULL;
    }
    bs_lmdb *l = calloc(1, sizeof *l);
    uint8_t *value = malloc(value_len ? value_len : 1);
    if (!l || !value) {
        free(l);
        free(value);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    memset(value, 'v', value_len);
    l->value = value;
    l->value_len = value_len;
    int rc = open_env(l, dir);
    double ms;
    for (int i = 0; !rc && i < 20; i++) /* warm-up, untimed */
        rc = one_commit(l, &ms);
    if (rc) {
        snprintf(err, err_len, "LMDB in %s: %s", dir, mdb_strerror(rc));
        bs_lmdb_close(&l);
    }
    return l;
}

int bs_lmdb_commit(bs_lmdb *l, bs_samples *out, char *err, size_t err_len)
{
    double ms = 0;
    int rc = one_commit(l, &ms);
    if (!rc && bs_add(out, ms))
        rc = ENOMEM;
    if (rc)
        snprintf(err, err_len, "LMDB commit: %s", mdb_strerror(rc));
    return rc ? -1 : 0;
}

void bs_lmdb_close(bs_lmdb **l)
{
    if (!l || !*l)
        return;
    if ((*l)->env)
        mdb_env_close((*l)->env);
    free((*l)->value);
    free(*l);
    *l = NULL;
}

/* ------------------------------------------------------------------ CPU */

double bs_proc_cpu_ms(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces: fields are counted after ')'. */
    const char *p = strrchr(line, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%llu %llu",
                     &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

int bs_machine_jiffies(unsigned long long *busy, unsigned long long *total)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                     &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got != 8)
        return -1;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; /* idle, iowait */
    return 0;
}
