/* it_diagnostics — misconfigurations an operator can act on (issue 20).
 *
 * Each case starts the real programs with one thing wrong and expects the
 * named, actionable message within 2 s (scaled under sanitizers):
 *
 * (1) key_not_in_directory: an agent whose key the broker's directory does
 *     not list: /healthz and `polku status` say "refused: authentication"
 *     naming the org and its public key; the agent's log says so; the
 *     broker's log names the refused public key in Z85.
 * (2) wrong_broker_port: nothing listens at `broker`: "connection refused"
 *     in /healthz, `polku status` and the log, naming the endpoint.
 * (2b) wrong_broker_key: broker_public_key is not the broker's: "refused:
 *     handshake" pointing at broker_public_key; the broker's log names
 *     the failed handshake and its own public key.
 * (2c) silent_peer: something accepts the connection at `broker` and says
 *     nothing: "no answer" naming the endpoint.
 * (3) broker_stops / broker_freezes: the broker stops (its connection
 *     closes) or freezes (SIGSTOP: silent, connection open): /healthz
 *     leaves "connected" within a heartbeat of the silence (plus the poll
 *     margin), and is "connected" again once the broker is back.
 * (4) port_in_use: the agent's API port and the broker's HTTP and ZeroMQ
 *     ports taken: the program exits, its log naming address and port.
 * (5) readable_key_file: a key file group or others may read: the agent
 *     refuses to start, naming the file, its mode and chmod 600.
 * (6) template_config: config/agent.ini and config/broker.ini used as they
 *     are: exit 2 naming file:line and the unfilled @placeholder@.
 * (7) section_errors: an invalid [org Beta Org] and an unknown section
 *     name their header's line.
 * (8) ready_notification: with NOTIFY_SOCKET set (as systemd does for
 *     Type=notify), both daemons send READY=1 once they serve (only when
 *     built with libsystemd: --version says so). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define DIAG_MS H_SEC(2)

/* The file holds needle (read afresh). */
static bool file_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *text = h_read_file(path, &len);
    bool has = text && strstr(text, needle);
    free(text);
    return has;
}

/* /healthz "broker" is want; the detail (if detail_out) copied. */
static bool broker_state_is(h_org *o, const char *want, char *detail_out,
                            size_t len)
{
    json_t *h = h_agent_health(o);
    const char *s = json_string_value(json_object_get(h, "broker"));
    bool is = s && strcmp(s, want) == 0;
    if (is && detail_out)
        snprintf(detail_out, len, "%s",
                 json_string_value(json_object_get(h, "broker_detail"))
                     ? json_string_value(json_object_get(h, "broker_detail"))
                     : "");
    json_decref(h);
    return is;
}

static void status_says(h_org *o, const char *want)
{
    char out[4096];
    int rc = h_cli(o, out, sizeof out, (const char *const[]){"status", NULL});
    H_CHECK(rc == 0 && strstr(out, want),
            "`polku status` says '%s' (exit %d):\n%s", want, rc, out);
}

static void case_key_not_in_directory(void)
{
    h_region *r = h_region_new();
    h_region_add_org(r, "sote-keskus", "coordination");
    h_org *stranger = h_region_add_org(r, "kela", "vocational-rehab");
    stranger->not_in_directory = true;
    h_broker_start(r);
    uint64_t t0 = h_now_ms();
    h_agent_start(stranger);
    char detail[512] = "";
    H_WAIT_UNTIL(DIAG_MS,
                 broker_state_is(stranger, "refused: authentication", detail,
                                 sizeof detail),
                 "/healthz broker \"refused: authentication\"");
    H_CHECK(strstr(detail, "kela") && strstr(detail, stranger->key.public_z85),
            "the detail names the org and its public key: %s", detail);
    H_WAIT_UNTIL(
        DIAG_MS,
        file_has(stranger->proc.log, "refused this organisation's key"),
        "the agent's log to say its key was refused");
    H_WAIT_UNTIL(DIAG_MS, file_has(r->broker.log, stranger->key.public_z85),
                 "the broker's log to name the refused key %s",
                 stranger->key.public_z85);
    H_CHECK(file_has(r->broker.log, "is not in the directory"),
            "the broker says why it refused the key");
    h_note("refused: authentication after %llu ms",
           (unsigned long long)(h_now_ms() - t0));
    status_says(stranger, "refused: authentication");
    status_says(stranger, stranger->key.public_z85);
}

static void case_wrong_broker_port(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    /* The broker is never started: nothing listens at its endpoint. */
    uint64_t t0 = h_now_ms();
    h_agent_start(a);
    char detail[512] = "";
    H_WAIT_UNTIL(
        DIAG_MS,
        broker_state_is(a, "connection refused", detail, sizeof detail),
        "/healthz broker \"connection refused\"");
    H_CHECK(strstr(detail, r->broker_endpoint),
            "the detail names the endpoint %s: %s", r->broker_endpoint, detail);
    char want[128];
    snprintf(want, sizeof want,
             "broker link connection refused: nothing "
             "accepts connections at %s",
             r->broker_endpoint);
    H_WAIT_UNTIL(DIAG_MS, file_has(a->proc.log, want), "the log to say '%s'",
                 want);
    h_note("connection refused after %llu ms",
           (unsigned long long)(h_now_ms() - t0));
    status_says(a, "connection refused");
    /* The broker comes: the link recovers by itself. */
    h_broker_start(r);
    h_wait_agent_connected(a, H_SEC(10));
    H_WAIT_UNTIL(DIAG_MS, file_has(a->proc.log, "broker link connected again"),
                 "the log to say the link is back");
}

/* broker_public_key is not the broker's: the handshake cannot complete. */
static void case_wrong_broker_key(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_region_write(r);
    polku_keypair other;
    H_REQUIRE(polku_keypair_generate(&other) == 0, "a key pair");
    /* the harness wrote the right key first; this one is inserted above */
    char line[128];
    snprintf(line, sizeof line, "broker_public_key = %s", other.public_z85);
    char *text = h_read_file(a->proc.config, NULL);
    H_REQUIRE(text, "read %s", a->proc.config);
    char *at = strstr(text, "broker_public_key = ");
    H_REQUIRE(at, "the config names broker_public_key");
    memcpy(at + strlen("broker_public_key = "), other.public_z85, 40);
    FILE *f = fopen(a->proc.config, "w");
    H_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "rewrite config");
    free(text);
    h_broker_start(r);
    h_agent_start(a);
    char detail[512] = "";
    H_WAIT_UNTIL(
        DIAG_MS,
        broker_state_is(a, "refused: handshake", detail, sizeof detail) ||
            broker_state_is(a, "no answer", detail, sizeof detail),
        "/healthz broker \"refused: handshake\" or \"no answer\"");
    H_CHECK(strstr(detail, "broker_public_key"),
            "the detail points at broker_public_key: %s", detail);
    H_WAIT_UNTIL(DIAG_MS,
                 file_has(r->broker.log, "failed the CURVE handshake") &&
                     file_has(r->broker.log, r->broker_key.public_z85),
                 "the broker's log to name a failed handshake and its key");
    h_note("%s", detail);
}

/* Time from t0 until /healthz leaves "connected". */
static uint64_t until_not_connected(h_org *a, uint64_t limit_ms)
{
    uint64_t t0 = h_now_ms();
    H_WAIT_UNTIL(limit_ms, !h_agent_connected(a),
                 "/healthz to leave \"connected\"");
    return h_now_ms() - t0;
}

static void case_broker_stops(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_broker_stop(r);
    /* the harness's heartbeat is 200 ms: one heartbeat and a poll */
    uint64_t took = until_not_connected(a, H_SEC(1));
    h_note("not connected %llu ms after the broker stopped",
           (unsigned long long)took);
    H_WAIT_UNTIL(DIAG_MS, broker_state_is(a, "connection refused", NULL, 0),
                 "/healthz broker \"connection refused\" while it is down");
    h_broker_start(r);
    h_wait_agent_connected(a, H_SEC(10));
}

static void case_broker_freezes(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_broker_start(r);
    h_agent_start_connected(a);
    H_REQUIRE(kill(r->broker.pid, SIGSTOP) == 0, "SIGSTOP the broker");
    /* silent: two of the broker's 200 ms heartbeats + 200 ms, and a poll */
    uint64_t took = until_not_connected(a, H_SEC(2));
    kill(r->broker.pid, SIGCONT);
    h_note("not connected %llu ms after the broker froze",
           (unsigned long long)took);
    H_CHECK(broker_state_is(a, "no answer", NULL, 0) || h_agent_connected(a),
            "a silent broker is \"no answer\"");
    h_wait_agent_connected(a, H_SEC(10));
}

/* A listening socket on 127.0.0.1:port (closed by the caller). */
static int occupy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    H_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                  listen(fd, 4) == 0,
              "occupy 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

/* Something accepts the TCP connection at `broker` and says nothing (the
 * kernel's backlog of a listener that never reads): "no answer". */
static void case_silent_peer(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    int fd = occupy(r->broker_port);
    h_agent_start(a);
    char detail[512] = "";
    H_WAIT_UNTIL(DIAG_MS,
                 broker_state_is(a, "no answer", detail, sizeof detail),
                 "/healthz broker \"no answer\"");
    H_CHECK(strstr(detail, r->broker_endpoint), "the detail names %s: %s",
            r->broker_endpoint, detail);
    H_WAIT_UNTIL(DIAG_MS, file_has(a->proc.log, "broker link no answer"),
                 "the log to say \"no answer\"");
    h_agent_kill(a);
    close(fd);
}

/* Starts p expecting it to exit within DIAG_MS with its log naming want. */
static void start_expect_exit(h_proc *p, const char *want)
{
    h_proc_start(p);
    p->expect_alive = false;
    H_WAIT_UNTIL(DIAG_MS, !h_proc_running(p), "%s to exit", p->name);
    H_CHECK(file_has(p->log, want), "%s's log names '%s'", p->name, want);
}

static void case_port_in_use(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_region_write(r);
    char want[160];
    int fd = occupy(a->http_port);
    snprintf(want, sizeof want,
             "cannot listen on 127.0.0.1:%d: Address already in use",
             a->http_port);
    start_expect_exit(&a->proc, want);
    close(fd);

    fd = occupy(r->broker_http_port);
    snprintf(want, sizeof want,
             "cannot listen on 127.0.0.1:%d: Address already in use",
             r->broker_http_port);
    start_expect_exit(&r->broker, want);
    close(fd);

    fd = occupy(r->broker_port);
    snprintf(want, sizeof want, "cannot listen on %s: Address already in use",
             r->broker_endpoint);
    start_expect_exit(&r->broker, want);
    close(fd);
}

static void case_readable_key_file(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_region_write(r);
    H_REQUIRE(chmod(a->key_file, 0644) == 0, "chmod %s", a->key_file);
    char want[700];
    snprintf(want, sizeof want, "%s: permissions 0644 are too open",
             a->key_file);
    start_expect_exit(&a->proc, want);
    H_CHECK(file_has(a->proc.log, "chmod 600"), "the fix is named");
    H_CHECK(WIFEXITED(a->proc.last_status) &&
                WEXITSTATUS(a->proc.last_status) == 2,
            "a configuration error exits 2");
}

/* Runs bin --config path; its output must hold want; exit 2. */
static void run_config_error(h_region *r, const char *bin, const char *path,
                             const char *want)
{
    char out[600];
    snprintf(out, sizeof out, "%s/config-error.out", r->dir);
    unlink(out);
    char *argv[] = {(char *)bin, (char *)"--config", (char *)path, NULL};
    int rc = h_run_program(argv, out, DIAG_MS);
    size_t len = 0;
    char *text = h_read_file(out, &len);
    H_CHECK(rc == 2 && text && strstr(text, want),
            "%s --config %s: exit %d (expected 2), output should hold "
            "'%s':\n%s",
            bin, path, rc, want, text ? text : "");
    free(text);
}

static void case_template_config(void)
{
    h_region *r = h_region_new();
    run_config_error(r, POLKU_AGENT_BIN, POLKU_SOURCE_DIR "/config/agent.ini",
                     "config/agent.ini:12: [agent] org: '@ORG@' is a template "
                     "placeholder: replace it");
    run_config_error(r, POLKU_BROKER_BIN, POLKU_SOURCE_DIR "/config/broker.ini",
                     "config/broker.ini:10: [broker] listen: '@BROKER_PORT@' "
                     "is a template placeholder");
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    H_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

static void case_section_errors(void)
{
    h_region *r = h_region_new();
    h_region_write(r);
    char path[600], text[2048], want[700];
    snprintf(path, sizeof path, "%s/bad-broker.ini", r->dir);
    snprintf(text, sizeof text,
             "[broker]\nlisten = %s\nkey_file = %s\ndisplay_secret_file = %s\n"
             "\n[org Beta Org]\npublic_key = %s\n",
             r->broker_endpoint, r->broker_key_file, r->display_secret_file,
             r->broker_key.public_z85);
    write_text(path, text);
    snprintf(want, sizeof want,
             "%s:6: [org Beta Org] organisation id 'Beta Org' must match",
             path);
    run_config_error(r, POLKU_BROKER_BIN, path, want);

    snprintf(text, sizeof text,
             "[broker]\nlisten = %s\nkey_file = %s\ndisplay_secret_file = %s\n"
             "\n; a typo\n[brokr]\nhttp = 127.0.0.1:1\n",
             r->broker_endpoint, r->broker_key_file, r->display_secret_file);
    write_text(path, text);
    snprintf(want, sizeof want, "%s:7: [brokr] unknown section", path);
    run_config_error(r, POLKU_BROKER_BIN, path, want);

    /* no display secret: no start, and the operator is told how to fix it */
    snprintf(text, sizeof text, "[broker]\nlisten = %s\nkey_file = %s\n",
             r->broker_endpoint, r->broker_key_file);
    write_text(path, text);
    snprintf(want, sizeof want,
             "%s:1: [broker] display_secret_file: required: the dashboard",
             path);
    run_config_error(r, POLKU_BROKER_BIN, path, want);
    run_config_error(r, POLKU_BROKER_BIN, path,
                     "polku secret --out /etc/polku/display.secret");
    snprintf(text, sizeof text,
             "[broker]\nlisten = %s\nkey_file = %s\n"
             "display_secret_file = %s/no-such.secret\n",
             r->broker_endpoint, r->broker_key_file, r->dir);
    write_text(path, text);
    snprintf(want, sizeof want, "polku secret --out %s/no-such.secret", r->dir);
    run_config_error(r, POLKU_BROKER_BIN, path, want);
}

/* A datagram socket standing in for systemd's notification socket. */
static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    H_REQUIRE(strlen(path) < sizeof sa.sun_path, "%s: path too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    H_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
              "bind %s: %s", path, strerror(errno));
    return fd;
}

static bool got_ready(int fd, char *last, size_t len)
{
    char buf[512];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf - 1, 0)) > 0) {
        buf[n] = '\0';
        snprintf(last, len, "%s", buf);
        if (strstr(buf, "READY=1"))
            return true;
    }
    return false;
}

static bool built_with_systemd(void)
{
    FILE *p = popen(POLKU_BROKER_BIN " --version", "r");
    char text[256] = "";
    size_t n = p ? fread(text, 1, sizeof text - 1, p) : 0;
    if (p)
        pclose(p);
    text[n] = '\0';
    return strstr(text, "built with: systemd") != NULL;
}

static void case_ready_notification(void)
{
    if (!built_with_systemd()) {
        h_note("skipped: built without libsystemd");
        return;
    }
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    char path[300], last[512] = "";
    snprintf(path, sizeof path, "%s/notify.sock", r->dir);
    int fd = notify_socket(path);
    setenv("NOTIFY_SOCKET", path, 1);
    h_broker_start(r);
    H_WAIT_UNTIL(DIAG_MS, got_ready(fd, last, sizeof last),
                 "READY=1 from the broker (last: %s)", last);
    H_CHECK(strstr(last, "STATUS=listening on"), "its status: %s", last);
    h_agent_start(a);
    unsetenv("NOTIFY_SOCKET");
    H_WAIT_UNTIL(DIAG_MS, got_ready(fd, last, sizeof last),
                 "READY=1 from the agent (last: %s)", last);
    close(fd);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_diagnostics");
    H_CASE(case_key_not_in_directory);
    H_CASE(case_wrong_broker_port);
    H_CASE(case_wrong_broker_key);
    H_CASE(case_broker_stops);
    H_CASE(case_broker_freezes);
    H_CASE(case_silent_peer);
    H_CASE(case_port_in_use);
    H_CASE(case_readable_key_file);
    H_CASE(case_template_config);
    H_CASE(case_section_errors);
    H_CASE(case_ready_notification);
    return h_finish();
}
