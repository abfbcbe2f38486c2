/* it_hardening — servers that cannot be stalled: the attacks of the issue
 * "The broker believes nothing it cannot check" against a real broker and
 * agent, each of which must still serve the honest afterwards.
 *
 *   case_http_stall   more slow clients than the HTTP connection limit
 *                     (from several loopback addresses, each under the
 *                     per-address limit) trickle header bytes, then all
 *                     go at once: the agent's API and the broker's
 *                     dashboard answer a new connection within a second;
 *   case_bad_target   %00 and control characters in an agent's path or
 *                     query are refused 400 bad_request, before any
 *                     handler (and so before the token is looked at);
 *   case_half_open    with the broker's descriptor limit lowered, more
 *                     plain TCP connections to its ZeroMQ port than it has
 *                     descriptors left, none of which ever says a word: an
 *                     agent started afterwards is welcomed within the
 *                     handshake interval plus a margin (libzmq's default
 *                     interval of 30 s kept it out for 30 s). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "polku/daemon.h"
#include "polku/http.h"
#include "polku/zwatch.h"

/* A non-blocking TCP connection from 127.0.0.<host> to 127.0.0.1:port
 * (all of 127/8 is this machine: one test is many client addresses). */
static int connect_from(unsigned host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    H_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000000u | host)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 &&
         errno != EINPROGRESS)) {
        int e = errno;
        close(fd);
        H_FAIL("connect from 127.0.0.%u to port %d: %s", host, port,
               strerror(e));
    }
    return fd;
}

/* Waits until every connection is established (the kernel's part: the
 * server need not have accepted them). */
static void wait_established(const int *fds, int n, uint64_t timeout_ms)
{
    uint64_t deadline = h_now_ms() + timeout_ms;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLOUT};
        int left = (int)(deadline > h_now_ms() ? deadline - h_now_ms() : 0);
        int err = 0;
        socklen_t len = sizeof err;
        H_REQUIRE(poll(&p, 1, left) == 1 &&
                      getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) ==
                          0 &&
                      err == 0,
                  "connection %d of %d not established within %llu ms: %s", i,
                  n, (unsigned long long)timeout_ms, strerror(err));
    }
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
}

/* Reads until the head of an HTTP answer is in, the peer closes, or the
 * deadline; returns its status (0: no answer). */
static int read_status(int fd, uint64_t deadline)
{
    char buf[4096];
    size_t len = 0;
    while (len + 1 < sizeof buf) {
        uint64_t now = h_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= deadline || poll(&p, 1, (int)(deadline - now)) != 1)
            break;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[len] = '\0';
    int status = 0;
    return sscanf(buf, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

/* GET path on a new connection; its status, 0 if none within timeout_ms. */
static int fresh_get(int port, const char *path, uint64_t timeout_ms)
{
    uint64_t deadline = h_now_ms() + timeout_ms;
    int fd = connect_from(1, port);
    wait_established(&fd, 1, timeout_ms);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n",
                     path);
    int status = 0;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n)
        status = read_status(fd, deadline);
    close(fd);
    return status;
}

/* ------------------------------------------------------------ HTTP stall */

#define STALL_HOSTS 4 /* 127.0.0.2-5, each under the per-address limit */
/* an eighth more than the server's limit (each host under half of it) */
#define STALL_CONNS(limit) ((int)((limit) + (limit) / 8))
#define STALL_ROUNDS 5 /* header bytes trickled after the first */
#define STALL_HEAD "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
#define PROBE_MS 300 /* a full server leaves a new request unanswered */

/* The state letter of /proc/PID/stat ('T': stopped), '?' if unknown. */
static char process_state(pid_t pid)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    const char *paren = strrchr(text, ')'); /* the name may hold spaces */
    return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Fills the HTTP server of process pid on port with slow clients, lets
 * them all go at once, and wants the next request answered at once. */
static void stall(const char *what, pid_t pid, int port, unsigned limit)
{
    const int n_conns = STALL_CONNS(limit);
    int *fds = calloc((size_t)n_conns, sizeof *fds);
    H_REQUIRE(fds, "out of memory");
    for (int i = 0; i < n_conns; i++)
        fds[i] = connect_from(2 + (unsigned)(i % STALL_HOSTS), port);
    wait_established(fds, n_conns, H_SEC(10));
    for (int r = 0; r <= STALL_ROUNDS; r++) {
        for (int i = 0; i < n_conns; i++)
            (void)send(fds[i], STALL_HEAD + r, 1, MSG_NOSIGNAL);
        if (r == STALL_ROUNDS)
            break;
        uint64_t next = h_now_ms() + 200; /* the trickle's pace */
        while (h_now_ms() < next)
            h_poll_pause();
    }
    /* The flood holds every connection: a new request waits. */
    int probe = fresh_get(port, "/healthz", PROBE_MS);
    H_REQUIRE(probe == 0,
              "%s answered %d while %d slow clients were connected: the "
              "flood did not fill the server, the case proves nothing",
              what, probe, n_conns);
    /* All of them go at once (as when the attacker's process dies): the
     * server is frozen meanwhile, so it sees every hang-up in one turn. */
    H_REQUIRE(kill(pid, SIGSTOP) == 0, "SIGSTOP %s: %s", what, strerror(errno));
    H_WAIT_UNTIL(H_SEC(5), process_state(pid) == 'T', "%s to stop", what);
    close_all(fds, n_conns);
    H_REQUIRE(kill(pid, SIGCONT) == 0, "SIGCONT %s: %s", what, strerror(errno));

    uint64_t t0 = h_now_ms();
    int status = fresh_get(port, "/healthz", H_SEC(1));
    uint64_t took = h_now_ms() - t0;
    H_CHECK(status == 200,
            "%s answers a new connection within %llu ms after %d slow "
            "clients went away (got %d after %llu ms)",
            what, (unsigned long long)H_SEC(1), n_conns, status,
            (unsigned long long)took);
    h_note("%s: %d slow clients gone, next request answered %d after %llu ms",
           what, n_conns, status, (unsigned long long)took);
}

static void case_http_stall(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_broker_start(r);
    h_agent_start_connected(a);

    struct rlimit lim; /* the broker's flood takes thousands of sockets */
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    stall("the agent's API", a->proc.pid, a->http_port,
          POLKU_HTTP_CONNECTION_LIMIT);
    stall("the broker's dashboard", r->broker.pid, r->broker_http_port,
          POLKU_HTTP_STREAM_SERVER_LIMIT);

    /* and both are whole: the link, the API with its token */
    h_wait_agent_connected(a, H_SEC(10));
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == 0,
            "%s lists its (no) referrals after the floods", a->id);
}

/* ----------------------------------------------------------- bad targets */

static void expect_bad_request(h_org *o, const char *path, const char *token,
                               const char *says)
{
    h_resp resp;
    long st = h_http_request(o->http, "GET", path, token, NULL, 0, &resp);
    const char *message = json_string_value(
        json_object_get(json_object_get(resp.json, "error"), "message"));
    H_CHECK(st == 400 && strcmp(h_resp_error_code(&resp), "bad_request") == 0 &&
                message && strstr(message, says),
            "GET %s at %s%s: want 400 bad_request naming '%s', got %ld %s",
            path, o->id, token ? "" : " without a token", says, st,
            resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
}

static void case_bad_target(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_broker_start(r);
    h_agent_start_connected(a);

    expect_bad_request(a, "/v1/referrals%00/x", a->token,
                       "path contains a NUL byte (%00)");
    expect_bad_request(a, "/v1/referrals%00", NULL,
                       "path contains a NUL byte (%00)");
    expect_bad_request(a, "/v1/referrals%0d%0aX-Evil:%201", a->token,
                       "path contains a control character");
    expect_bad_request(a, "/v1/referrals?direction=in%00out", a->token,
                       "query string contains a NUL byte (%00)");
    expect_bad_request(a, "/v1/referrals?direction=in&status=%7f", a->token,
                       "query string contains a control character");
    H_CHECK(fresh_get(r->broker_http_port, "/healthz%00", H_SEC(5)) == 400,
            "the broker's dashboard refuses %%00 too");

    /* what is left is served as before */
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == 0,
            "%s still lists its referrals", a->id);
}

/* ------------------------------------------------- half-open connections */

/* The broker keeps HALF_OPEN_FREE descriptors free; the flood is
 * HALF_OPEN_EXTRA connections more, which wait in its listen queue
 * (libzmq's backlog: 100) with the agent's. Welcome is due within the
 * handshake interval and HALF_OPEN_MARGIN_S. */
#define HALF_OPEN_FREE 32
#define HALF_OPEN_EXTRA 24
#define HALF_OPEN_MARGIN_S 5

static int open_descriptors(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void case_half_open(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_broker_start(r);
    pid_t pid = r->broker.pid;

    /* The broker raised its own soft limit at start; lower both limits
     * now so that a test-sized flood exhausts them. */
    int open_now = open_descriptors(pid);
    H_REQUIRE(open_now > 0, "cannot count the broker's descriptors");
    struct rlimit lim = {.rlim_cur = (rlim_t)(open_now + HALF_OPEN_FREE),
                         .rlim_max = (rlim_t)(open_now + HALF_OPEN_FREE)};
    H_REQUIRE(prlimit(pid, RLIMIT_NOFILE, &lim, NULL) == 0,
              "prlimit on the broker: %s", strerror(errno));
    h_note("broker: %d descriptors open, limit set to %d", open_now,
           (int)lim.rlim_cur);

    /* More connections than the broker has descriptors left; none of
     * them ever sends its greeting. */
    const int n = HALF_OPEN_FREE + HALF_OPEN_EXTRA;
    int *fds = calloc((size_t)n, sizeof *fds);
    H_REQUIRE(fds, "out of memory");
    uint64_t t_flood = h_now_ms();
    for (int i = 0; i < n; i++)
        fds[i] = connect_from(1, r->broker_port);
    wait_established(fds, n, H_SEC(10));
    H_WAIT_UNTIL(H_SEC(3), open_descriptors(pid) >= (int)lim.rlim_cur,
                 "the broker to use all of its %d descriptors",
                 (int)lim.rlim_cur);

    /* An honest organisation gets in once the silent ones time out. */
    h_agent_start(a);
    uint64_t deadline =
        t_flood + POLKU_ZMQ_HANDSHAKE_IVL_MS + H_SEC(HALF_OPEN_MARGIN_S);
    while (!h_agent_connected(a) && h_now_ms() < deadline) {
        h_check_processes();
        h_poll_pause();
    }
    uint64_t took = h_now_ms() - t_flood;
    H_REQUIRE(h_agent_connected(a),
              "%s welcomed within %llu ms of %d half-open connections "
              "(handshake interval %d ms; still not after %llu ms)",
              a->id, (unsigned long long)(deadline - t_flood), n,
              POLKU_ZMQ_HANDSHAKE_IVL_MS, (unsigned long long)took);
    h_note("%s welcomed %llu ms after %d half-open connections", a->id,
           (unsigned long long)took, n);
    h_wait_agent_connected(a, H_SEC(10)); /* the broker lists it too */
    close_all(fds, n);
}

int main(int argc, char **argv)
{
    polku_raise_nofile_limit(); /* the floods come from this process */
    h_init(argc, argv, "it_hardening");
    H_CASE(case_http_stall);
    H_CASE(case_bad_target);
    H_CASE(case_half_open);
    return h_finish();
}
