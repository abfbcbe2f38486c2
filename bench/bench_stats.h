/* bench_stats.h — latency samples, the benchmark's baseline (one durable
 * LMDB commit on the same disk) and CPU accounting.
 *
 * The machine the figures are taken on is shared and noisy, so absolute
 * numbers drift from run to run; a commit of the same size on the same
 * filesystem, measured in the same run, is the yardstick the referral
 * figures are divided by. CPU accounting (per process, and the machine's
 * busy share with every tenant) says where the cycles of a phase went and
 * whether the machine itself was the limit. */
#ifndef POLKU_BENCH_STATS_H
#define POLKU_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Durations in milliseconds. */
typedef struct bs_samples {
    double *v;
    size_t n, cap;
    int sorted;
} bs_samples;

/* Adds one duration; returns -1 when out of memory. */
int bs_add(bs_samples *s, double ms);
/* Appends every sample of from. -1 when out of memory. */
int bs_merge(bs_samples *s, const bs_samples *from);
/* Nearest-rank percentile, q in (0, 1]; 0 when empty. Sorts s. */
double bs_pct(bs_samples *s, double q);
double bs_mean(const bs_samples *s);
void bs_free(bs_samples *s);

/* The baseline's LMDB environment: opened in dir with the default,
 * durable flags (no MDB_NOSYNC, no MDB_NOMETASYNC — like the agent's store)
 * and a few untimed warm-up commits. NULL on failure, with a message in
 * err. */
typedef struct bs_lmdb bs_lmdb;
bs_lmdb *bs_lmdb_open(const char *dir, size_t value_len, char *err,
                      size_t err_len);
/* One timed commit: a transaction holding one put of value_len bytes under
 * the next key; begin..commit returned, in ms, added to out. 0, or -1 with
 * a message in err. */
int bs_lmdb_commit(bs_lmdb *l, bs_samples *out, char *err, size_t err_len);
void bs_lmdb_close(bs_lmdb **l);

/* CPU time (user + system, all threads) a process has used, in ms, from
 * /proc/PID/stat; -1 if it cannot be read. */
double bs_proc_cpu_ms(int pid);

/* Jiffies of the whole machine from /proc/stat, every tenant included:
 * busy (all but idle and iowait) and total. 0 on success, -1 otherwise. */
int bs_machine_jiffies(unsigned long long *busy, unsigned long long *total);

#endif
