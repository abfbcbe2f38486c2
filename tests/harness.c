/* harness.c — the runner, the process registry and process control.
 * (harness_region.c writes regions, harness_http.c speaks HTTP,
 * harness_raw.c is the raw CURVE client.) */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "harness_internal.h"

#define H_MAX_PROCS 64
#define H_MAX_REGIONS 16

static const char *g_suite = "it";
static int g_argc;
static char **g_argv;
static int g_cases_passed, g_cases_failed;
static bool g_case_failed;
static bool g_in_case;
static jmp_buf g_case_jmp;
static uint64_t g_suite_start;

static h_proc *g_procs[H_MAX_PROCS];
static int g_nprocs;
static h_region *g_regions[H_MAX_REGIONS];
static int g_nregions;

/* ------------------------------------------------------------- registry */

void h_register_proc(h_proc *p)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i] == p)
            return;
    if (g_nprocs == H_MAX_PROCS)
        H_FAIL("harness: too many processes");
    g_procs[g_nprocs++] = p;
}

void h_unregister_proc(h_proc *p)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i] == p) {
            g_procs[i] = g_procs[--g_nprocs];
            return;
        }
}

void h_register_region(h_region *r)
{
    if (g_nregions == H_MAX_REGIONS)
        H_FAIL("harness: too many regions in one case");
    g_regions[g_nregions++] = r;
}

static void kill_all_children(void)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i]->pid > 0)
            kill(g_procs[i]->pid, SIGKILL);
}

static void at_exit(void)
{
    kill_all_children();
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i]->pid > 0) {
            waitpid(g_procs[i]->pid, NULL, 0);
            g_procs[i]->pid = 0;
        }
}

static void on_fatal_signal(int sig)
{
    /* async-signal-safe only: kill children, say why, leave */
    kill_all_children();
    const char *msg = sig == SIGALRM
                          ? "\nharness: suite deadline reached, children "
                            "killed\n"
                          : "\nharness: signal received, children killed\n";
    ssize_t w = write(2, msg, strlen(msg));
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---------------------------------------------------------------- runner */

void h_init(int argc, char **argv, const char *suite)
{
    g_argc = argc;
    g_argv = argv;
    g_suite = suite;
    g_suite_start = h_now_ms();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        exit(1);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(at_exit);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Below ctest's TIMEOUT (300 s): leave no orphan behind. */
    const char *dl = getenv("POLKU_IT_DEADLINE");
    alarm(dl ? (unsigned)atoi(dl) : 290);
    printf("%s: broker %s\n%s: agent  %s\n%s: cli    %s\n", suite,
           POLKU_BROKER_BIN, suite, POLKU_AGENT_BIN, suite, POLKU_CLI_BIN);
}

static bool case_selected(const char *name)
{
    if (g_argc <= 1)
        return true;
    for (int i = 1; i < g_argc; i++)
        if (strcmp(g_argv[i], name) == 0)
            return true;
    return false;
}

static void end_case_cleanup(bool failed)
{
    h_raw_close_all();
    if (failed) {
        for (int i = 0; i < g_nregions; i++) {
            h_region *r = g_regions[i];
            h_print_log_tail(r->broker.name, r->broker.log, 40);
            for (int j = 0; j < r->norgs; j++)
                if (r->orgs[j].proc.starts > 0)
                    h_print_log_tail(r->orgs[j].proc.name, r->orgs[j].proc.log,
                                     40);
        }
    }
    bool keep = failed || getenv("POLKU_IT_KEEP");
    for (int i = 0; i < g_nregions; i++)
        h_region_destroy(g_regions[i], keep);
    g_nregions = 0;
}

/* A zmq watcher's safety look found a message that waited for it: a send
 * on its socket was not reported (polku/zwatch.h), so messages there can
 * wait up to a second. Every case checks its processes' logs for it. */
static void check_no_late_messages(h_proc *p)
{
    char *log = h_read_file(p->log, NULL);
    H_CHECK(!log || !strstr(log, "input found by the safety look"),
            "%s: a zmq send was not reported to its watcher (log says "
            "\"input found by the safety look\")",
            p->name);
    free(log);
}

/* At the end of a passing case every process still running must stop on
 * SIGTERM with exit code 0 (the contract; under ASan this is also where a
 * leak or a shutdown bug of a child shows up). */
static void stop_all_gracefully(void)
{
    for (int i = 0; i < g_nregions; i++) {
        h_region *r = g_regions[i];
        for (int j = 0; j < r->norgs; j++) {
            h_proc *p = &r->orgs[j].proc;
            if (p->pid > 0) {
                int rc = h_proc_stop(p);
                H_CHECK(rc == 0,
                        "%s exited with %d on SIGTERM at the end of "
                        "the case (want 0)",
                        p->name, rc);
            }
            check_no_late_messages(p);
        }
        if (r->broker.pid > 0) {
            int rc = h_proc_stop(&r->broker);
            H_CHECK(rc == 0,
                    "%s exited with %d on SIGTERM at the end of the "
                    "case (want 0)",
                    r->broker.name, rc);
        }
        check_no_late_messages(&r->broker);
    }
}

void h_run_case(const char *name, h_case_fn fn)
{
    if (!case_selected(name))
        return;
    printf("== %s: %s\n", g_suite, name);
    uint64_t t0 = h_now_ms();
    g_case_failed = false;
    g_in_case = true;
    if (setjmp(g_case_jmp) == 0) {
        fn();
        if (!g_case_failed)
            stop_all_gracefully();
    }
    g_in_case = false;
    end_case_cleanup(g_case_failed);
    double secs = (double)(h_now_ms() - t0) / 1000.0;
    if (g_case_failed) {
        g_cases_failed++;
        printf("FAIL %s (%.1f s)\n", name, secs);
    } else {
        g_cases_passed++;
        printf("ok   %s (%.1f s)\n", name, secs);
    }
}

int h_finish(void)
{
    printf("%s: %d passed, %d failed (%.1f s)\n", g_suite, g_cases_passed,
           g_cases_failed, (double)(h_now_ms() - g_suite_start) / 1000.0);
    end_case_cleanup(false); /* regions made outside a case, if any */
    h_raw_global_fini();
    curl_global_cleanup();
    return g_cases_failed || g_cases_passed == 0 ? 1 : 0;
}

static void vreport(const char *kind, const char *file, int line,
                    const char *fmt, va_list ap)
{
    const char *base = strrchr(file, '/');
    fprintf(stdout, "  %s %s:%d: ", kind, base ? base + 1 : file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void h_check_failed(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("CHECK FAILED", file, line, fmt, ap);
    va_end(ap);
    g_case_failed = true;
    if (!g_in_case)
        exit(1);
}

void h_abort_case(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("FAILED", file, line, fmt, ap);
    va_end(ap);
    g_case_failed = true;
    if (!g_in_case)
        exit(1);
    longjmp(g_case_jmp, 1);
}

void h_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("   ");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

/* ------------------------------------------------------------- time/wait */

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

unsigned h_scale(void)
{
    static unsigned scale;
    if (scale)
        return scale;
    const char *s = getenv("POLKU_IT_SCALE");
    if (s && atoi(s) > 0)
        scale = (unsigned)atoi(s);
    else {
        scale = 1;
#if defined(__SANITIZE_ADDRESS__)
        scale = 3;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        scale = 3;
#endif
#endif
    }
    return scale;
}

void h_poll_pause(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static const char *describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status 0x%x", status);
    return buf;
}

void h_check_processes(void)
{
    for (int i = 0; i < g_nprocs; i++) {
        h_proc *p = g_procs[i];
        if (p->pid <= 0 || !p->expect_alive)
            continue;
        int st;
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid) {
            char why[96];
            p->pid = 0;
            p->last_status = st;
            p->expect_alive = false;
            H_FAIL("%s exited unexpectedly (%s); log %s", p->name,
                   describe_status(st, why, sizeof why), p->log);
        }
    }
}

/* ------------------------------------------------------------- processes */

static pid_t spawn(char *const argv[], const char *out_path, int *err)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    return pid;
}

void h_proc_start(h_proc *p)
{
    H_REQUIRE(p->pid == 0, "%s is already running (pid %d)", p->name,
              (int)p->pid);
    H_REQUIRE(access(p->bin, X_OK) == 0, "%s: binary %s not usable: %s",
              p->name, p->bin, strerror(errno));
    FILE *f = fopen(p->log, "a");
    if (f) {
        fprintf(f, "==== harness: start #%d of %s ====\n", p->starts + 1,
                p->name);
        fclose(f);
    }
    char *argv[] = {p->bin, "--config", p->config, NULL};
    int err = 0;
    h_register_proc(p);
    pid_t pid = spawn(argv, p->log, &err);
    H_REQUIRE(pid > 0, "cannot start %s: %s", p->name, strerror(err));
    p->pid = pid;
    p->expect_alive = true;
    p->starts++;
}

bool h_proc_running(h_proc *p)
{
    if (p->pid <= 0)
        return false;
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->pid = 0;
        p->last_status = st;
        return false;
    }
    return true;
}

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

int h_proc_stop(h_proc *p)
{
    if (p->pid <= 0)
        return status_code(p->last_status);
    p->expect_alive = false;
    kill(p->pid, SIGTERM);
    uint64_t deadline = h_now_ms() + H_SEC(15);
    int st = 0;
    for (;;) {
        pid_t w = waitpid(p->pid, &st, WNOHANG);
        if (w == p->pid)
            break;
        if (h_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            p->pid = 0;
            p->last_status = st;
            h_check_failed(__FILE__, __LINE__,
                           "%s did not stop within %llu ms of SIGTERM "
                           "(killed)",
                           p->name, (unsigned long long)H_SEC(15));
            return -1;
        }
        h_poll_pause();
    }
    p->pid = 0;
    p->last_status = st;
    return status_code(st);
}

void h_proc_kill(h_proc *p)
{
    if (p->pid <= 0)
        return;
    p->expect_alive = false;
    kill(p->pid, SIGKILL);
    int st = 0;
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
        ;
    p->pid = 0;
    p->last_status = st;
}

void h_print_log_tail(const char *title, const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stdout, "---- %s: no log (%s)\n", title, path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 64 * 1024 ? size - 64 * 1024 : 0;
    fseek(f, from, SEEK_SET);
    char *buf = malloc((size_t)(size - from) + 1);
    size_t n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
    fclose(f);
    if (!buf)
        return;
    buf[n] = 0;
    const char *start = buf + n;
    if (start > buf && start[-1] == '\n')
        start--;
    int seen = 0;
    while (start > buf) {
        if (start[-1] == '\n' && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stdout, "---- last %d lines of %s (%s)\n%s", lines, title, path,
            start);
    if (n && buf[n - 1] != '\n')
        fputc('\n', stdout);
    fprintf(stdout, "---- end of %s\n", title);
    free(buf);
}

int h_run_program(char *const argv[], const char *out_path, uint64_t timeout_ms)
{
    int err = 0;
    pid_t pid = spawn(argv, out_path, &err);
    H_REQUIRE(pid > 0, "cannot start %s: %s", argv[0], strerror(err));
    h_proc tmp = {.pid = pid};
    snprintf(tmp.name, sizeof tmp.name, "%s", argv[0]);
    h_register_proc(&tmp);
    uint64_t deadline = h_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (h_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            h_unregister_proc(&tmp);
            h_check_failed(__FILE__, __LINE__, "%s did not finish in %llu ms",
                           argv[0], (unsigned long long)timeout_ms);
            return -1;
        }
        h_poll_pause();
    }
    h_unregister_proc(&tmp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long h_proc_rss_kb(const h_proc *p)
{
    if (p->pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}
