/* disk_flushes.h — how many cache flushes the machine's disks completed.
 *
 * Why it exists: an acknowledgement means "durable" only if the data
 * reached stable storage first, and on Linux that shows up as flush
 * requests completed by the block device (fsync, fdatasync and
 * O_DSYNC/FUA writes end in one). bench/compare sets the flushes of each
 * system's throughput phase against its messages: a broker that
 * acknowledges without flushing shows ~0 per message. Header only,
 * because referral_bench and the peers' clients (one file each) all take
 * the same two readings around their throughput phase.
 *
 * /sys/block/DEV/stat field 16 (Documentation/block/stat.rst, kernels
 * >= 5.5) is "flush requests completed". Summed over real devices: those
 * with a /sys/block/DEV/device link (loop, zram, ram and dm devices have
 * none, and a dm device's flushes reach its real device anyway). Counts
 * the whole machine: other tenants' flushes are in it too. */
#ifndef POLKU_BENCH_PEERS_DISK_FLUSHES_H
#define POLKU_BENCH_PEERS_DISK_FLUSHES_H

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

/* Flushes completed so far by every real block device together; -1 when
 * none is readable or the kernel has no flush field. */
static inline long long df_flushes(void)
{
    DIR *d = opendir("/sys/block");
    if (!d)
        return -1;
    long long sum = 0;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/block/%s/device", e->d_name);
        if (access(path, F_OK) != 0)
            continue;
        snprintf(path, sizeof path, "/sys/block/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long v[17];
        int n = fscanf(f,
                       "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                       "%llu %llu %llu %llu %llu %llu %llu",
                       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                       &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14],
                       &v[15], &v[16]);
        fclose(f);
        if (n >= 16) {
            sum += (long long)v[15];
            seen = 1;
        }
    }
    closedir(d);
    return seen ? sum : -1;
}

/* Flushes between two readings; -1 if either was unreadable. */
static inline long long df_delta(long long before, long long after)
{
    return before < 0 || after < 0 ? -1 : after - before;
}

#endif
