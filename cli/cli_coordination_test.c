/* cli_coordination_test.c — `polku path ...` and `polku handover ...` run as
 * staff would, against a real broker and real agents started by the
 * integration harness (tests/harness*.c): a claim is won, a second
 * organisation's claim fails naming the coordinator (as text and with
 * --json), an offer is listed at the receiver, accepted, and both agents
 * then show the new coordinator; a decline, a withdrawal and the history;
 * plan pointer, services and close, with the agent's refusals passed on
 * (exit 1) and usage errors (exit 2) caught before any request.
 * Unlike cli_test (a stub agent) this is an integration test: it starts
 * processes and so holds the integration resource lock. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_coord.h"

#define OUT_MAX 32768

extern char **environ;

/* ---- running polku ---- */

typedef struct run {
    int code;
    char out[OUT_MAX]; /* stdout */
    char err[OUT_MAX]; /* stderr */
} run;

static run last; /* the last run; large, so not on the stack */

static void slurp(const char *path, char *buf)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, OUT_MAX - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* This process's environment without POLKU_* (caller frees the array). */
static char **child_env(void)
{
    size_t n = 0, k = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    H_REQUIRE(env != NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "POLKU_", 6) != 0)
            env[k++] = environ[i];
    }
    return env;
}

/* Runs polku --agent url --token-file token_file args... to completion
 * (deadline), stdout and stderr into files of dir, and reads them back. */
static run *polku_at(const char *dir, const char *url, const char *token_file,
                     const char *const args[])
{
    static int runs;
    char out_path[600], err_path[600];
    runs++;
    snprintf(out_path, sizeof out_path, "%s/cli-%d.stdout", dir, runs);
    snprintf(err_path, sizeof err_path, "%s/cli-%d.stderr", dir, runs);
    char *argv[40] = {(char *)POLKU_CLI_BIN, (char *)"--agent", (char *)url,
                      (char *)"--token-file", (char *)token_file};
    int n = 5;
    for (int i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    H_REQUIRE(out >= 0 && err >= 0, "cannot create %s: %s", out_path,
              strerror(errno));
    char **env = child_env();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execve(POLKU_CLI_BIN, argv, env);
        _exit(127);
    }
    free(env);
    close(out);
    close(err);
    H_REQUIRE(pid > 0, "cannot fork: %s", strerror(errno));
    uint64_t deadline = h_now_ms() + H_SEC(20);
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (h_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            H_FAIL("polku %s %s did not finish in %llu ms", args[0],
                   args[1] ? args[1] : "", (unsigned long long)H_SEC(20));
        }
        h_poll_pause();
    }
    last.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out_path, last.out);
    slurp(err_path, last.err);
    return &last;
}

/* polku args... against the agent of o, with its token. */
#define POLKU(o, ...)                                                          \
    polku_at((o)->region->dir, (o)->url, (o)->token_file,                      \
             (const char *const[]){__VA_ARGS__, NULL})

#define CHECK_CODE(r, want)                                                    \
    H_CHECK((r)->code == (want),                                               \
            "exit code %d, want %d; stdout:\n%s\nstderr:\n%s", (r)->code,      \
            (want), (r)->out, (r)->err)

#define CHECK_HAS(text, part)                                                  \
    H_CHECK(strstr((text), (part)) != NULL, "'%s' not in:\n%s", (part), (text))

/* The line of text holding part (copied into line), "" when none. A part
 * starting with a newline matches at the start of a line. */
static const char *line_with(const char *text, const char *part, char *line,
                             size_t len)
{
    const char *hit = strstr(text, part);
    line[0] = '\0';
    if (hit == NULL)
        return line;
    if (part[0] == '\n')
        hit++;
    while (hit > text && hit[-1] != '\n')
        hit--;
    size_t n = strcspn(hit, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(line, hit, n);
    line[n] = '\0';
    return line;
}

/* The "label value" line of a show output has value after the label. */
static void check_field(const char *out, const char *label, const char *value)
{
    char line[512];
    line_with(out, label, line, sizeof line);
    const char *v = line + strlen(label);
    while (line[0] != '\0' && *v == ' ')
        v++;
    H_CHECK(line[0] != '\0' && strncmp(line, label, strlen(label)) == 0 &&
                strcmp(v, value) == 0,
            "want '%s %s' in:\n%s", label, value, out);
}

/* ---- setup ---- */

/* A region with a broker and two organisations, both connected. */
static h_region *region2(h_org **a, h_org **b)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

/* A new client whose consent (all purposes), recorded at a, covers b too;
 * waits until b holds it. */
static void new_client(h_org *a, h_org *b, char key[33])
{
    char cid[64];
    h_org *const with[] = {b};
    h_client_key(key);
    hc_consent(a, key, with, 1, NULL, cid);
    hc_wait_consent(b, key, cid);
}

static void wait_handover_status(h_org *o, const char *id, const char *want)
{
    char seen[32] = "";
    H_WAIT_UNTIL(
        H_SEC(10),
        strcmp(hc_handover_status(o, id, seen, sizeof seen), want) == 0,
        "handover %s at %s to be '%s' (now '%s')", id, o->id, want, seen);
}

static void wait_coordinator(h_org *o, const char *key, const char *want)
{
    char seen[40] = "";
    H_WAIT_UNTIL(
        H_SEC(10),
        strcmp(hc_coordinator_at(o, key, seen, sizeof seen), want) == 0,
        "%s to name %s coordinator of %s (now '%s')", o->id, want, key, seen);
}

/* A loopback listener nobody answers: a command pointed at it must not
 * connect. */
static int quiet_listener(char url[64])
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    H_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                  listen(fd, 4) == 0 &&
                  getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
              "cannot listen on 127.0.0.1: %s", strerror(errno));
    snprintf(url, 64, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

/* ---- cases ---- */

static void case_help(void)
{
    h_region *r = h_region_new();
    const char *dir = r->dir, *tf = "/nonexistent";
    run *x = polku_at(dir, "http://127.0.0.1:1", tf,
                      (const char *const[]){"--help", NULL});
    CHECK_CODE(x, 0);
    CHECK_HAS(x->out, "\n  path       ");
    CHECK_HAS(x->out, "\n  handover   ");
    x = polku_at(dir, "http://127.0.0.1:1", tf,
                 (const char *const[]){"path", "--help", NULL});
    CHECK_CODE(x, 0);
    CHECK_HAS(x->out, "claim    (--client KEY | --hetu HETU)");
    CHECK_HAS(x->out, "close    KEY --reason REASON [--text TEXT]");
    CHECK_HAS(x->out, "show     KEY [--local]");
    x = polku_at(dir, "http://127.0.0.1:1", tf,
                 (const char *const[]){"path", "show", "--help", NULL});
    CHECK_CODE(x, 0);
    CHECK_HAS(x->out, "usage: polku path show KEY [--local]");
    CHECK_HAS(x->out, "purpose 'path'");
    x = polku_at(dir, "http://127.0.0.1:1", tf,
                 (const char *const[]){"handover", "decline", "--help", NULL});
    CHECK_CODE(x, 0);
    CHECK_HAS(x->out, "usage: polku handover decline ID --reason TEXT");
    x = polku_at(dir, "http://127.0.0.1:1", tf,
                 (const char *const[]){"handover", NULL});
    CHECK_CODE(x, 2);
    CHECK_HAS(x->err, "missing command");
}

static void case_claim(void)
{
    h_org *a, *b;
    region2(&a, &b);
    char key[33], want[160];
    new_client(a, b, key);

    run *x = POLKU(a, "path", "claim", "--client", key);
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "path %s claimed: coordinator %s (term ", key,
             a->id);
    H_CHECK(strncmp(x->out, want, strlen(want)) == 0, "want '%s...', got: %s",
            want, x->out);
    wait_coordinator(a, key, a->id);

    x = POLKU(a, "path", "claim", "--client", key);
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want,
             "path %s already coordinated here: "
             "coordinator %s",
             key, a->id);
    CHECK_HAS(x->out, want);

    /* the second organisation is told who coordinates */
    x = POLKU(b, "path", "claim", "--client", key);
    CHECK_CODE(x, 1);
    H_CHECK(x->out[0] == '\0', "nothing on stdout, got: %s", x->out);
    CHECK_HAS(x->err, "polku: already_coordinated: ");
    CHECK_HAS(x->err, "(HTTP 409)");
    snprintf(want, sizeof want,
             "\npolku: the client's path is coordinated by %s\n", a->id);
    CHECK_HAS(x->err, want);

    x = POLKU(b, "--json", "path", "claim", "--client", key);
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "(HTTP 409)");
    json_t *j = json_loads(x->out, 0, NULL);
    H_CHECK(j != NULL, "--json prints the answer as JSON: %s", x->out);
    H_CHECK(strcmp(hc_str(json_object_get(j, "error"), "code"),
                   "already_coordinated") == 0 &&
                strcmp(hc_str(j, "coordinator"), a->id) == 0 &&
                hc_int(j, "term") >= 1,
            "--json names code, coordinator %s and term: %s", a->id, x->out);
    json_decref(j);

    x = POLKU(b, "path", "show", key, "--local");
    CHECK_CODE(x, 0);
    check_field(x->out, "coordinator:", a->id);
    check_field(x->out, "i coordinate:", "no");
    x = POLKU(a, "path", "show", "--local", key);
    check_field(x->out, "client key:", key);
    check_field(x->out, "coordinator:", a->id);
    check_field(x->out, "i coordinate:", "yes");
    check_field(x->out, "closed:", "no");

    x = POLKU(a, "path", "list");
    CHECK_CODE(x, 0);
    char line[512];
    CHECK_HAS(line_with(x->out, "CLIENT KEY", line, sizeof line),
              "COORDINATOR");
    line_with(x->out, key, line, sizeof line);
    snprintf(want, sizeof want, " %s ", a->id);
    CHECK_HAS(line, want);
    CHECK_HAS(line, " yes ");

    x = POLKU(a, "path", "show", "--local", "ffffffffffffffffffffffffffffffff");
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "not_found");
    /* the shared view of a client without consent is the broker's refusal */
    x = POLKU(a, "path", "show", "ffffffffffffffffffffffffffffffff");
    CHECK_CODE(x, 1);
    H_CHECK(x->out[0] == '\0', "nothing on stdout, got: %s", x->out);
    CHECK_HAS(x->err, "polku: consent_required: ");
    CHECK_HAS(x->err, "(HTTP 403)");
    x = POLKU(a, "path", "show", "not-a-key");
    CHECK_CODE(x, 2);
    CHECK_HAS(x->err, "not a client key");
}

/* The id from "handover ID offered to ORG". */
static void offered_id(const run *x, const char *to, char id[64])
{
    char org[64] = "";
    id[0] = '\0';
    H_REQUIRE(x->code == 0 &&
                  sscanf(x->out, "handover %63s offered to %63s", id, org) ==
                      2 &&
                  strcmp(org, to) == 0,
              "handover offer: want 'handover ID offered to %s', got %d:\n"
              "%s%s",
              to, x->code, x->out, x->err);
}

static void check_offer_stored(h_org *a, const char *id, const char *key,
                               const char *to)
{
    json_t *h = hc_handover(a, id);
    const json_t *plan = json_object_get(h, "plan");
    char *dump = h ? json_dumps(h, JSON_COMPACT) : NULL;
    H_CHECK(h != NULL && strcmp(hc_str(h, "to"), to) == 0 &&
                strcmp(hc_str(h, "client_key"), key) == 0 &&
                strcmp(hc_str(h, "supporter"), a->id) == 0 &&
                json_is_true(json_object_get(h, "plan_current")) &&
                strcmp(hc_str(h, "note"), "meets the client weekly") == 0 &&
                strcmp(hc_str(plan, "plan_id"), "care-7") == 0 &&
                hc_int(plan, "version") == 2 &&
                strncmp(hc_str(plan, "review_due"), "2027-01-31", 10) == 0,
            "the offer as sent: %s", dump ? dump : "(not at the offerer)");
    free(dump);
    json_decref(h);
}

static bool broker_supporter_is(h_region *r, const char *key, const char *org)
{
    json_t *p = hc_broker_path(r, key);
    const char *s = json_string_value(json_object_get(p, "supporter"));
    bool yes = s && strcmp(s, org) == 0;
    json_decref(p);
    return yes;
}

/* An RFC 3339 UTC time ("2026-12-06T04:05:06.789Z") as d.M.yyyy and the
 * hour and minute joined by sep, in Helsinki time; "" if it is not one. */
static void helsinki_time(const char *utc, char sep, char *out, size_t len)
{
    struct tm tm = {0};
    out[0] = '\0';
    if (utc == NULL ||
        sscanf(utc, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    const char *tz = getenv("TZ");
    char saved[128];
    snprintf(saved, sizeof saved, "%s", tz ? tz : "");
    setenv("TZ", "Europe/Helsinki", 1);
    tzset();
    localtime_r(&t, &tm);
    if (tz)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    snprintf(out, len, "%d.%d.%d %02d%c%02d", tm.tm_mday, tm.tm_mon + 1,
             tm.tm_year + 1900, tm.tm_hour, sep, tm.tm_min);
}

/* The handover id as its offerer a reads it in Finnish and Swedish: words
 * of the domain, statuses translated, times in the local conventions. */
static void check_in_finnish_and_swedish(h_org *a, const char *id,
                                         const char *created)
{
    char want[64];
    helsinki_time(created, '.', want, sizeof want);
    H_CHECK(want[0] != '\0', "the handover's creation time: %s",
            created ? created : "(none)");
    run *x = POLKU(a, "--lang", "fi", "handover", "show", id);
    CHECK_CODE(x, 0);
    check_field(x->out, "tila:", "hyväksytty");
    check_field(x->out, "suunta:", "lähtevä");
    check_field(x->out, "luotu:", want);
    CHECK_HAS(x->out, "\nhistoria:\nTILA ");
    CHECK_HAS(x->out, "\ntarjottu ");
    H_CHECK(strstr(x->out, created) == NULL, "no RFC 3339 time in:\n%s",
            x->out);
    helsinki_time(created, ':', want, sizeof want);
    x = POLKU(a, "handover", "show", id, "--lang", "sv");
    CHECK_CODE(x, 0);
    check_field(x->out, "status:", "godkänd");
    check_field(x->out, "riktning:", "utgående");
    check_field(x->out, "skapad:", want);
    CHECK_HAS(x->out, "\nhistorik:\nSTATUS ");
}

static void case_handover(void)
{
    h_org *a, *b;
    region2(&a, &b);
    char key[33], id[64], want[200], line[512];
    new_client(a, b, key);
    hc_claim_ok(a, key);

    run *x = POLKU(a, "handover", "offer", "--client", key, "--to", b->id,
                   "--supporter", a->id, "--plan-id", "care-7", "--version",
                   "2", "--review-due", "2027-01-31", "--plan-current",
                   "--note", "meets the client weekly");
    offered_id(x, b->id, id);
    check_offer_stored(a, id, key, b->id);
    wait_handover_status(b, id, "offered");

    x = POLKU(b, "handover", "list", "--direction", "in");
    CHECK_CODE(x, 0);
    CHECK_HAS(line_with(x->out, "ID ", line, sizeof line), "CLIENT KEY");
    line_with(x->out, id, line, sizeof line);
    snprintf(want, sizeof want, "%s  in   %s  %s  %s  offered  ", id, a->id,
             b->id, key);
    H_CHECK(strncmp(line, want, strlen(want)) == 0,
            "want a row starting '%s' in:\n%s", want, x->out);
    x = POLKU(b, "handover", "list", "--direction", "in", "--status",
              "accepted");
    CHECK_CODE(x, 0);
    H_CHECK(strcmp(x->out, "no handovers\n") == 0, "no accepted offers: %s",
            x->out);
    x = POLKU(b, "handover", "list", "--direction", "out");
    H_CHECK(strcmp(x->out, "no handovers\n") == 0, "none out: %s", x->out);

    /* a decline without a reason is a usage error, and nothing is sent */
    char url[64];
    int fd = quiet_listener(url);
    x = polku_at(b->region->dir, url, b->token_file,
                 (const char *const[]){"handover", "decline", id, NULL});
    int accepted = accept(fd, NULL, NULL);
    int why = errno;
    close(fd);
    CHECK_CODE(x, 2);
    CHECK_HAS(x->err, "handover decline: missing --reason TEXT");
    H_CHECK(accepted < 0 && (why == EAGAIN || why == EWOULDBLOCK),
            "decline without --reason connected to the agent");
    x = POLKU(b, "handover", "decline", id);
    CHECK_CODE(x, 2);
    H_CHECK(x->out[0] == '\0', "nothing on stdout, got: %s", x->out);

    x = POLKU(b, "handover", "accept", id);
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "handover %s accepted\n", id);
    H_CHECK(strcmp(x->out, want) == 0, "want '%s', got '%s'", want, x->out);
    /* the offer's plan pointer and supporter are the path's now, at both
     * ends and in the broker's shared path */
    x = POLKU(b, "path", "show", key, "--local");
    check_field(x->out, "coordinator:", b->id);
    check_field(x->out, "i coordinate:", "yes");
    check_field(x->out, "supporter:", a->id);
    snprintf(want, sizeof want, "care-7 version 2 by %s, review due 2027-01-31",
             a->id);
    check_field(x->out, "plan:", want);
    wait_handover_status(a, id, "accepted");
    wait_coordinator(a, key, b->id);
    x = POLKU(a, "path", "show", key, "--local");
    CHECK_CODE(x, 0);
    check_field(x->out, "coordinator:", b->id);
    check_field(x->out, "i coordinate:", "no");
    check_field(x->out, "supporter:", a->id);
    check_field(x->out, "plan:", want);
    H_WAIT_UNTIL(H_SEC(10), broker_supporter_is(a->region, key, a->id),
                 "the broker's path of %s to name supporter %s", key, a->id);
    x = POLKU(b, "path", "show", key);
    CHECK_CODE(x, 0);
    check_field(x->out, "supporter:", a->id);

    x = POLKU(a, "handover", "show", id);
    CHECK_CODE(x, 0);
    check_field(x->out, "status:", "accepted");
    check_field(x->out, "direction:", "out");
    check_field(x->out, "plan current:", "yes");
    snprintf(want, sizeof want, "care-7 version 2 by %s, review due 2027-01-31",
             a->id);
    CHECK_HAS(line_with(x->out, "plan:", line, sizeof line), want);
    CHECK_HAS(x->out, "\nhistory:\nSTATUS ");
    snprintf(want, sizeof want, " %s", a->id);
    CHECK_HAS(line_with(x->out, "\noffered ", line, sizeof line), want);
    snprintf(want, sizeof want, " %s", b->id);
    CHECK_HAS(line_with(x->out, "\naccepted ", line, sizeof line), want);
    x = POLKU(a, "--json", "handover", "show", id);
    json_t *j = json_loads(x->out, 0, NULL);
    H_CHECK(json_array_size(json_object_get(j, "history")) >= 2,
            "--json shows the history: %s", x->out);
    check_in_finnish_and_swedish(
        a, id, json_string_value(json_object_get(j, "created")));
    json_decref(j);
}

static void case_decline_withdraw(void)
{
    h_org *a, *b;
    region2(&a, &b);
    char key[33], id[64], want[200];
    new_client(a, b, key);
    hc_claim_ok(a, key);

    run *x = POLKU(a, "handover", "offer", "--client", key, "--to", b->id);
    offered_id(x, b->id, id);
    wait_handover_status(b, id, "offered");
    x = POLKU(b, "handover", "decline", id, "--reason", "no capacity");
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "handover %s declined\n", id);
    H_CHECK(strcmp(x->out, want) == 0, "want '%s', got '%s'", want, x->out);
    wait_handover_status(a, id, "declined");
    x = POLKU(a, "handover", "show", id);
    check_field(x->out, "reason:", "no capacity");
    x = POLKU(a, "path", "show", key, "--local");
    check_field(x->out, "coordinator:", a->id);
    x = POLKU(b, "handover", "accept", id);
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "invalid_transition");

    x = POLKU(b, "handover", "offer", "--client", key, "--to", a->id);
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "not_coordinator");
    x = POLKU(a, "handover", "offer", "--client", key, "--to", b->id);
    offered_id(x, b->id, id);
    x = POLKU(a, "handover", "withdraw", id);
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "handover %s withdrawal requested\n", id);
    H_CHECK(strcmp(x->out, want) == 0, "want '%s', got '%s'", want, x->out);
    wait_handover_status(b, id, "withdrawn");
    wait_handover_status(a, id, "withdrawn");

    x = POLKU(a, "handover", "offer", "--client", key, "--to", "Not An Org");
    CHECK_CODE(x, 2);
    x = POLKU(a, "handover", "offer", "--client", key, "--to", b->id,
              "--version", "2");
    CHECK_CODE(x, 2);
    CHECK_HAS(x->err, "need --plan-id");
    x = POLKU(a, "handover", "list", "--status", "pending");
    CHECK_CODE(x, 2);
}

static void case_plan_service_close(void)
{
    h_org *a, *b;
    region2(&a, &b);
    char key[33], want[200];
    new_client(a, b, key);
    hc_claim_ok(a, key);

    run *x = POLKU(a, "path", "plan", key, "--plan-id", "care-9", "--version",
                   "3", "--review-due", "2027-02-01");
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want,
             "path %s plan: care-9 version 3 by %s, review due 2027-02-01", key,
             a->id);
    CHECK_HAS(x->out, want);
    json_t *p = hc_path(a, key);
    H_CHECK(hc_int(json_object_get(p, "plan"), "version") == 3,
            "the agent holds plan version 3");
    json_decref(p);
    x = POLKU(a, "path", "plan", key, "--plan-id", "care-9", "--version",
              "three", "--review-due", "2027-02-01");
    CHECK_CODE(x, 2);
    /* an older version is stale: 409, naming the current one */
    x = POLKU(a, "path", "plan", key, "--plan-id", "care-9", "--version", "2",
              "--review-due", "2027-02-01");
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "polku: stale_plan_version: the plan is at version 3");
    CHECK_HAS(x->err, "(HTTP 409)");
    /* the same version postpones the review */
    x = POLKU(a, "path", "plan", key, "--plan-id", "care-9", "--version", "3",
              "--review-due", "2027-03-01");
    CHECK_CODE(x, 0);
    p = hc_path(a, key);
    H_CHECK(strncmp(hc_str(json_object_get(p, "plan"), "review_due"),
                    "2027-03-01", 10) == 0,
            "the agent holds the postponed review date");
    json_decref(p);

    x = POLKU(a, "path", "service", key, "--service", "coordination",
              "--started");
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "path %s: service coordination started\n", key);
    H_CHECK(strcmp(x->out, want) == 0, "want '%s', got '%s'", want, x->out);
    x = POLKU(a, "path", "show", key, "--local");
    check_field(x->out, "services:", "coordination");
    x = POLKU(a, "path", "service", key, "--service", "coordination",
              "--ended");
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "successor_required");
    x = POLKU(a, "path", "service", key, "--service", "coordination",
              "--started", "--ended");
    CHECK_CODE(x, 2);

    x = POLKU(a, "path", "close", key, "--reason", "vanished");
    CHECK_CODE(x, 1);
    H_CHECK(x->out[0] == '\0', "nothing on stdout, got: %s", x->out);
    CHECK_HAS(x->err, "polku: bad_request: 'reason' must be no_longer_needed, "
                      "client_declined, moved_away or other (HTTP 400)");
    x = POLKU(a, "path", "close", key, "--reason", "other");
    CHECK_CODE(x, 1);
    CHECK_HAS(x->err, "reason 'other' needs a 'text'");
    x = POLKU(a, "path", "close", key);
    CHECK_CODE(x, 2);
    CHECK_HAS(x->err, "missing --reason");
    p = hc_path(a, key);
    H_CHECK(json_is_false(json_object_get(p, "closed")),
            "refused closes leave the path open");
    json_decref(p);

    x = POLKU(a, "path", "close", key, "--reason", "moved_away");
    CHECK_CODE(x, 0);
    snprintf(want, sizeof want, "path %s closed: moved_away\n", key);
    H_CHECK(strcmp(x->out, want) == 0, "want '%s', got '%s'", want, x->out);
    p = hc_path(a, key);
    H_CHECK(json_is_true(json_object_get(p, "closed")),
            "the agent holds the path closed");
    json_decref(p);
}

/* Where part starts in text (a line with part when it starts with a
 * newline), or -1: for checking the order of timeline lines. */
static long where(const char *text, const char *part)
{
    const char *hit = strstr(text, part);
    return hit != NULL ? (long)(hit - text) : -1;
}

/* The status of referral id in the broker's path of key (copied into
 * seen, "" when absent). */
static const char *broker_referral(h_region *r, const char *key, const char *id,
                                   char seen[32])
{
    json_t *p = hc_broker_path(r, key);
    size_t i;
    const json_t *ref;
    seen[0] = '\0';
    json_array_foreach(json_object_get(p, "referrals"), i, ref)
    {
        if (strcmp(hc_str(ref, "id"), id) == 0)
            snprintf(seen, 32, "%s", hc_str(ref, "status"));
    }
    json_decref(p);
    return seen;
}

/* Whether the broker has a path of key (with a plan pointer if plan). */
static bool broker_has(h_region *r, const char *key, bool plan)
{
    json_t *p = hc_broker_path(r, key);
    bool yes =
        p != NULL && (!plan || json_is_object(json_object_get(p, "plan")));
    json_decref(p);
    return yes;
}

/* Whether the broker's path of key shows its plan's review overdue. */
static bool broker_plan_overdue(h_region *r, const char *key)
{
    json_t *p = hc_broker_path(r, key);
    bool yes =
        json_is_true(json_object_get(json_object_get(p, "plan"), "overdue"));
    json_decref(p);
    return yes;
}

/* The shared view (the default): the broker's fold printed as a header,
 * open referrals with ages, and the timeline in order; --local is the
 * agent's own record; --json the answer; a consent without purpose 'path'
 * is refused with a hint. */
static void case_shared_view(void)
{
    h_org *a, *b;
    h_region *r = region2(&a, &b);
    char key[33], want[256], line[512], rid[64] = "";
    new_client(a, b, key);
    hc_claim_ok(a, key);
    run *x = POLKU(a, "path", "plan", key, "--plan-id", "care-5", "--version",
                   "1", "--review-due", "2026-01-15");
    CHECK_CODE(x, 0);
    h_resp resp = {0};
    long st = h_referral_create(a, key, b->id, NULL, "assessment", rid, &resp);
    H_REQUIRE(st == 201 && rid[0], "referral: HTTP %ld %s", st, hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(a, rid, "received", H_SEC(10));
    char seen[32] = "";
    H_WAIT_UNTIL(
        H_SEC(10), strcmp(broker_referral(r, key, rid, seen), "received") == 0,
        "the broker to show referral %s received (now '%s')", rid, seen);
    H_WAIT_UNTIL(H_SEC(10), broker_has(r, key, true),
                 "the broker to hold the plan pointer of %s", key);

    x = POLKU(b, "path", "show", key);
    CHECK_CODE(x, 0);
    check_field(x->out, "client key:", key);
    char shown[33]; /* the name the dashboard gives the client */
    h_display_name(r, key, shown);
    check_field(x->out, "dashboard:", shown);
    check_field(x->out, "stage:", "planned");
    check_field(x->out, "i coordinate:", "no");
    snprintf(want, sizeof want, "coordinator:   %s (term 1) since 20", a->id);
    CHECK_HAS(x->out, want);
    check_field(x->out, "open handover:", "-");
    snprintf(want, sizeof want,
             "care-5 version 1 by %s, review due 2026-01-15 (review OVERDUE)",
             a->id);
    check_field(x->out, "plan:", want);
    /* the open referral, with its age */
    CHECK_HAS(x->out, "\nopen referrals:\n  ID ");
    line_with(x->out, rid, line, sizeof line);
    snprintf(want, sizeof want, "  %s  %s", rid, a->id);
    H_CHECK(strncmp(line, want, strlen(want)) == 0 &&
                strstr(line, " received ") != NULL &&
                (strstr(line, " s") != NULL || strstr(line, " min") != NULL),
            "want the open referral row with status and age in:\n%s", x->out);
    /* the timeline, oldest first, one event a line */
    long t0 = where(x->out, "\ntimeline:\n");
    H_CHECK(t0 > 0, "no timeline in:\n%s", x->out);
    const char *tl = x->out + t0;
    long consent = where(tl, "consent.granted");
    long claim = where(tl, "path.claim_won");
    long plan = where(tl, "path.plan");
    long sent = where(tl, "referral.requested");
    long got = where(tl, "referral.received");
    H_CHECK(consent > 0 && consent < claim && claim < plan && plan < sent &&
                sent < got,
            "timeline out of order or incomplete:\n%s", tl);
    line_with(tl, "referral.requested", line, sizeof line);
    H_CHECK(strlen(line) > 18 && line[4] == '-' && line[10] == ' ' &&
                line[13] == ':' &&
                strncmp(line + 18, a->id, strlen(a->id)) == 0 &&
                strstr(line, rid) != NULL,
            "want 'YYYY-MM-DD HH:MM  %s  referral.requested  %s', got '%s'",
            a->id, rid, line);
    H_CHECK(strstr(x->out, "\nterm:") == NULL,
            "the shared view is not the local one:\n%s", x->out);

    /* the coordinator postpones the review on the same version: the shared
     * path follows, and the review is no longer overdue */
    x = POLKU(a, "path", "plan", key, "--plan-id", "care-5", "--version", "1",
              "--review-due", "2099-01-15");
    CHECK_CODE(x, 0);
    H_WAIT_UNTIL(H_SEC(10), !broker_plan_overdue(r, key),
                 "the broker to move the review date of %s", key);
    x = POLKU(b, "path", "show", key);
    snprintf(want, sizeof want,
             "care-5 version 1 by %s, review due 2099-01-15 (not yet due)",
             a->id);
    check_field(x->out, "plan:", want);
    check_field(x->out, "supporter:", "-");

    /* --local: the agent's own record, no broker fold */
    x = POLKU(a, "path", "show", key, "--local");
    CHECK_CODE(x, 0);
    check_field(x->out, "supporter:", "-");
    check_field(x->out, "coordinator:", a->id);
    check_field(x->out, "term:", "1");
    check_field(x->out, "i coordinate:", "yes");
    H_CHECK(strstr(x->out, "timeline:") == NULL &&
                strstr(x->out, "stage:") == NULL,
            "--local is this agent's view:\n%s", x->out);

    /* --json: the broker's answer as it is */
    x = POLKU(a, "--json", "path", "show", key);
    CHECK_CODE(x, 0);
    json_t *j = json_loads(x->out, 0, NULL);
    H_CHECK(j != NULL && strcmp(hc_str(j, "stage"), "planned") == 0 &&
                json_is_true(json_object_get(j, "i_coordinate")) &&
                json_array_size(json_object_get(j, "timeline")) >= 5 &&
                json_is_false(
                    json_object_get(json_object_get(j, "plan"), "overdue")) &&
                json_is_null(json_object_get(j, "supporter")) &&
                json_is_null(json_object_get(j, "stage_reason")),
            "--json prints the shared path: %s", x->out);
    json_decref(j);

    /* consent without purpose 'path': refused, with what to do */
    char key2[33], cid[64];
    static const char *const no_path[] = {"referral", "handover", NULL};
    h_org *const with[] = {b};
    h_client_key(key2);
    hc_consent(a, key2, with, 1, no_path, cid);
    H_WAIT_UNTIL(H_SEC(10), broker_has(r, key2, false),
                 "the broker to hold the consent of %s", key2);
    x = POLKU(a, "path", "show", key2);
    CHECK_CODE(x, 1);
    H_CHECK(x->out[0] == '\0', "nothing on stdout, got: %s", x->out);
    CHECK_HAS(x->err, "polku: consent_required: ");
    CHECK_HAS(x->err, "(HTTP 403)");
    CHECK_HAS(x->err, "with purpose 'path'; '--local' shows");

    /* a broker that does not answer (stopped): the agent gives up (504, or
     * 503 once it sees the link down) and the CLI says what to do; the
     * local view needs no broker */
    H_REQUIRE(r->broker.pid > 0 && kill(r->broker.pid, SIGSTOP) == 0,
              "cannot stop the broker");
    static run shared; /* polku_at reuses its result */
    shared = *POLKU(b, "path", "show", key);
    x = POLKU(a, "path", "show", key, "--local");
    kill(r->broker.pid, SIGCONT);
    CHECK_CODE(&shared, 1);
    H_CHECK(strstr(shared.err, "(HTTP 504)") != NULL ||
                strstr(shared.err, "(HTTP 503)") != NULL,
            "want HTTP 504 or 503: %s", shared.err);
    CHECK_HAS(shared.err,
              "\npolku: the broker did not answer; '--local' shows");
    CHECK_CODE(x, 0);
    check_field(x->out, "i coordinate:", "yes");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "cli_coordination_test");
    H_CASE(case_help);
    H_CASE(case_claim);
    H_CASE(case_handover);
    H_CASE(case_decline_withdraw);
    H_CASE(case_plan_service_close);
    H_CASE(case_shared_view);
    return h_finish();
}
