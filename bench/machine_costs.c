/* machine_costs.c — what a system call and a flush cost on this machine.
 *
 * Why it exists: polku's CPU per referral on the virtual machines it is
 * developed on is mostly system calls and flushes, and what they cost
 * differs by far between machines (a getpid is ~50 ns on bare metal and
 * ~3 µs here). Before reading a profile or a figure of bench/compare on a
 * new machine, this says what its two basic costs are, measured against
 * each other in the same run:
 *   - a trivial system call (getpid through syscall(2), so glibc cannot
 *     answer it) and a poll of one eventfd with timeout 0 (what libzmq
 *     does each time anyone looks at a socket);
 *   - a commit-sized write and fdatasync (4 pages) to a file that grows
 *     with every commit against one whose blocks are already written
 *     (what store_write_ahead in agents/core/store.c is for), CPU and
 *     wall time per flush, alternating so both see the same disk.
 * The file lives in $TMPDIR (or /tmp): the disk the stores would use.
 *
 *   build/machine_costs [rounds]     (default 1000 flushes per kind) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES_PER_COMMIT 4
#define SYSCALL_ROUNDS 200000

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static void syscall_costs(void)
{
    double t0 = wall_s();
    for (int i = 0; i < SYSCALL_ROUNDS; i++)
        syscall(SYS_getpid);
    double t1 = wall_s();
    int fd = eventfd(0, 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    double t2 = wall_s();
    for (int i = 0; i < SYSCALL_ROUNDS; i++)
        poll(&p, 1, 0);
    double t3 = wall_s();
    close(fd);
    printf("system call: getpid %.0f ns, poll(eventfd, 0) %.0f ns\n",
           (t1 - t0) / SYSCALL_ROUNDS * 1e9, (t3 - t2) / SYSCALL_ROUNDS * 1e9);
}

typedef struct flush_cost {
    double cpu_us, wall_us;
} flush_cost;

/* rounds commits of PAGES_PER_COMMIT pages and one fdatasync each, to a
 * new file: growing it with each commit, or into blocks written before. */
static int flushes(const char *path, int rounds, int grow, flush_cost *out)
{
    static char page[PAGE];
    memset(page, 1, sizeof page);
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    int pages = rounds * PAGES_PER_COMMIT;
    if (!grow) {
        for (int i = 0; i < pages; i++)
            if (pwrite(fd, page, PAGE, (off_t)i * PAGE) != PAGE)
                goto failed;
        if (fdatasync(fd))
            goto failed;
    }
    double c0 = cpu_s(), w0 = wall_s();
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < PAGES_PER_COMMIT; k++)
            if (pwrite(fd, page, PAGE,
                       (off_t)(r * PAGES_PER_COMMIT + k) * PAGE) != PAGE)
                goto failed;
        if (fdatasync(fd))
            goto failed;
    }
    out->cpu_us = (cpu_s() - c0) / rounds * 1e6;
    out->wall_us = (wall_s() - w0) / rounds * 1e6;
    close(fd);
    unlink(path);
    return 0;
failed:
    perror(path);
    close(fd);
    unlink(path);
    return -1;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1000;
    if (rounds < 10 || rounds > 1000000) {
        fprintf(stderr, "usage: machine_costs [rounds: 10..1000000]\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/polku-machine-costs-%d",
             tmp && *tmp ? tmp : "/tmp", (int)getpid());
    syscall_costs();
    flush_cost grow[2], fixed[2];
    for (int i = 0; i < 2; i++) /* alternating: the same disk for both */
        if (flushes(path, rounds, 1, &grow[i]) ||
            flushes(path, rounds, 0, &fixed[i]))
            return 1;
    printf("commit of %d pages + fdatasync, %d each, two runs alternating:\n",
           PAGES_PER_COMMIT, rounds);
    printf("  file growing:       %.0f / %.0f us CPU, %.0f / %.0f us wall\n",
           grow[0].cpu_us, grow[1].cpu_us, grow[0].wall_us, grow[1].wall_us);
    printf("  blocks written:     %.0f / %.0f us CPU, %.0f / %.0f us wall\n",
           fixed[0].cpu_us, fixed[1].cpu_us, fixed[0].wall_us,
           fixed[1].wall_us);
    return 0;
}
