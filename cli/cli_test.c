/* cli_test.c — runs the built polku program as a person or a script would:
 * exit codes and messages for usage errors, key and secret files, an agent
 * that cannot be reached, and the requests and output of every referral
 * command against a stub agent (polku_http on a libuv loop in a thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "polku/error.h"
#include "polku/http.h"
#include "polku/keys.h"

#define OUT_MAX 65536
#define REFERRAL_ID "01JDQ3V0ZK8R4Y6T2N5M7P9B1C"
#define CLIENT_KEY "0123456789abcdef0123456789abcdef"
#define TOKEN "tok-123"

extern char **environ;

/* ---- running the program ---- */

typedef struct result {
    int code;
    char out[OUT_MAX];
    char err[OUT_MAX];
} result;

typedef struct fixture {
    char dir[64];
    char agent[64]; /* URL of the stub agent */
    char token_file[128];
    result r;
} fixture;

static void read_file(const char *path, char *buf)
{
    buf[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    size_t n = fread(buf, 1, OUT_MAX - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

/* The environment without POLKU_* variables, plus extra (NULL-ended). */
static char **child_env(char **extra)
{
    size_t n = 0, e = 0;
    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[e] != NULL)
        e++;
    char **env = calloc(n + e + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "POLKU_", 6) != 0)
            env[k++] = environ[i];
    }
    for (size_t i = 0; i < e; i++)
        env[k++] = extra[i];
    env[k] = NULL;
    return env;
}

static void child(const fixture *f, char **argv, char **env)
{
    char path[160];
    snprintf(path, sizeof path, "%s/stdout", f->dir);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    snprintf(path, sizeof path, "%s/stderr", f->dir);
    int err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(127);
    execve(POLKU_BIN, argv, env);
    _exit(127);
}

/* Runs polku with args (NULL-ended) and extra environment entries. */
static result *run_env(fixture *f, char **extra, const char *const *args)
{
    char *argv[32] = {(char *)"polku"};
    size_t n = 1;
    while (args[n - 1] != NULL && n < 31) {
        argv[n] = (char *)args[n - 1];
        n++;
    }
    argv[n] = NULL;
    char **env = child_env(extra);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child(f, argv, env);
    free(env);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    f->r.code = WEXITSTATUS(status);
    char path[160];
    snprintf(path, sizeof path, "%s/stdout", f->dir);
    read_file(path, f->r.out);
    snprintf(path, sizeof path, "%s/stderr", f->dir);
    read_file(path, f->r.err);
    return &f->r;
}

#define RUN(f, ...) run_env((f), NULL, (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("'%s' not in:\n%s", part, text);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/polku-cli-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
    FILE *fp = fopen(f->token_file, "w");
    if (fp == NULL)
        return -1;
    fputs(TOKEN "\n", fp);
    fclose(fp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- without an agent ---- */

static void test_help(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "usage: polku");
    assert_contains(r->out, "referral");
    r = RUN(f, "referral", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "create");
    r = RUN(f, "referral", "create", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "--urgency");
    r = RUN(f, "keygen", "--help");
    assert_int_equal(r->code, 0);
}

static void test_usage_errors(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "frobnicate");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "unknown command 'frobnicate'");
    r = run_env(f, NULL, (const char *const[]){NULL});
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "frob");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral");
    assert_int_equal(r->code, 2);
    r = RUN(f, "--bogus", "status");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "--bogus");
    r = RUN(f, "referral", "list", "--direction", "sideways");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", "nothex", "--to", "kela");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", CLIENT_KEY, "--to", "kela",
            "--urgency", "whenever");
    assert_int_equal(r->code, 2);
}

static void test_missing_arguments(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "referral", "show");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "missing argument ID");
    r = RUN(f, "referral", "status", REFERRAL_ID);
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "STATUS");
    r = RUN(f, "referral", "cancel", REFERRAL_ID);
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "--reason");
    r = RUN(f, "referral", "create", "--to", "kela");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", CLIENT_KEY);
    assert_int_equal(r->code, 2);
    r = RUN(f, "keygen");
    assert_int_equal(r->code, 2);
    r = RUN(f, "keygen", "--out");
    assert_int_equal(r->code, 2);
}

static void test_keygen(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/org.key", f->dir);
    result *r = RUN(f, "keygen", "--out", path);
    assert_int_equal(r->code, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *nl = strchr(r->out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_true(polku_z85_key_valid(r->out));
    polku_keypair kp;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keyfile_read(path, &kp, &err), POLKU_OK);
    assert_string_equal(kp.public_z85, r->out);

    r = RUN(f, "keygen", "--out", path);
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "exists");
    polku_keypair again;
    assert_int_equal(polku_keyfile_read(path, &again, &err), POLKU_OK);
    assert_string_equal(again.secret_z85, kp.secret_z85);
}

static void test_secret(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/region.secret", f->dir);
    result *r = RUN(f, "secret", "--out", path);
    assert_int_equal(r->code, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t secret[32];
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_secret_read(path, secret, &err), POLKU_OK);
    r = RUN(f, "secret", "--out", path);
    assert_int_equal(r->code, 1);
}

static void test_agent_unreachable(void **state)
{
    fixture *f = *state;
    /* a bound socket that never listens: connections are refused */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64], env[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    result *r = RUN(f, "--agent", url, "status");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "cannot reach agent at");
    assert_contains(r->err, url);
    snprintf(env, sizeof env, "POLKU_AGENT=%s", url);
    r = run_env(f, (char *[]){env, NULL},
                (const char *const[]){"referral", "list", NULL});
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "cannot reach agent");
    close(fd);
}

/* ---- against a stub agent ---- */

typedef struct stub {
    uv_loop_t loop;
    uv_async_t stop;
    polku_http *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    char method[16], path[256], auth[128], query[128];
    json_t *body; /* the last request's body */
} stub;

static stub the_stub;

static json_t *referral_json(const char *status)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:b, s:s, s:s, s:s,"
        " s:b, s:n, s:[{s:s, s:s, s:s, s:n}, {s:s, s:s, s:s, s:s}]}",
        "id", REFERRAL_ID, "direction", "out", "from", "sote-kokkola", "to",
        "kela", "client_key", CLIENT_KEY, "service", "vocational-rehab",
        "reason", "needs\nrehab", "urgency", "routine", "due", "transfer", 1,
        "status", status, "created", "2026-11-22T14:00:00.000Z", "updated",
        "2026-11-22T15:00:00.000Z", "cancel_requested", 0, "outcome", "history",
        "status", "requested", "at", "2026-11-22T14:00:00.000Z", "by",
        "sote-kokkola", "reason", "status", "received", "at",
        "2026-11-22T14:00:01.000Z", "by", "kela", "reason", "stored");
}

static void record(stub *s, polku_http_req *req)
{
    const char *auth = polku_http_header(req, "Authorization");
    const char *dir = polku_http_query(req, "direction");
    const char *st = polku_http_query(req, "status");
    size_t len = 0;
    const char *body = polku_http_body(req, &len);
    pthread_mutex_lock(&s->mu);
    snprintf(s->method, sizeof s->method, "%s", polku_http_method(req));
    snprintf(s->path, sizeof s->path, "%s", polku_http_path(req));
    snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
    snprintf(s->query, sizeof s->query, "direction=%s status=%s",
             dir ? dir : "-", st ? st : "-");
    json_decref(s->body);
    s->body = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    pthread_mutex_unlock(&s->mu);
}

static void route(polku_http_req *req, const char *method, const char *path,
                  const json_t *body)
{
    const char *status = json_string_value(json_object_get(body, "status"));
    if (strcmp(path, "/healthz") == 0)
        polku_http_respond_json(req, 200,
                                json_pack("{s:s, s:s, s:s, s:s, s:i}", "status",
                                          "ok", "org", "kela", "broker",
                                          "connected", "epoch", "e1",
                                          "outbox_pending", 3));
    else if (strcmp(path, "/v1/referrals") == 0 && method[0] == 'P')
        polku_http_respond_json(req, 201, referral_json("requested"));
    else if (strcmp(path, "/v1/referrals") == 0)
        polku_http_respond_json(req, 200,
                                json_pack("{s:[o], s:i}", "referrals",
                                          referral_json("on-hold"), "count",
                                          1));
    else if (strcmp(path, "/v1/referrals/" REFERRAL_ID) == 0)
        polku_http_respond_json(req, 200, referral_json("received"));
    else if (strstr(path, "/status") && status && !strcmp(status, "accepted"))
        polku_http_respond_error(req, 409, "invalid_transition",
                                 "cannot move a completed referral");
    else if (strstr(path, "/status") || strstr(path, "/cancel"))
        polku_http_respond_json(req, 200, referral_json("completed"));
    else
        polku_http_respond_error(req, 404, "not_found", "no such referral");
}

static void on_request(polku_http_req *req, void *arg)
{
    stub *s = arg;
    record(s, req);
    const char *auth = polku_http_header(req, "Authorization");
    if (strcmp(polku_http_path(req), "/healthz") != 0 &&
        (auth == NULL || strcmp(auth, "Bearer " TOKEN) != 0)) {
        polku_http_respond_error(req, 401, "unauthorized", "bad token");
        return;
    }
    pthread_mutex_lock(&s->mu);
    json_t *body = json_incref(s->body);
    pthread_mutex_unlock(&s->mu);
    route(req, polku_http_method(req), polku_http_path(req), body);
    json_decref(body);
}

static void on_stop(uv_async_t *async)
{
    stub *s = async->data;
    polku_http_stop(&s->srv);
    uv_close((uv_handle_t *)async, NULL);
}

static void *loop_thread(void *arg)
{
    stub *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int stub_setup(void **state)
{
    if (setup(state) != 0)
        return -1;
    fixture *f = *state;
    stub *s = &the_stub;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    if (uv_loop_init(&s->loop) != 0 ||
        uv_async_init(&s->loop, &s->stop, on_stop) != 0)
        return -1;
    s->stop.data = s;
    if (polku_http_start(&s->loop, "127.0.0.1:0", 1 << 20, on_request, s,
                         &s->srv) != POLKU_OK)
        return -1;
    snprintf(f->agent, sizeof f->agent, "http://127.0.0.1:%u/",
             polku_http_port(s->srv));
    return pthread_create(&s->thread, NULL, loop_thread, s) == 0 ? 0 : -1;
}

static int stub_teardown(void **state)
{
    stub *s = &the_stub;
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    uv_loop_close(&s->loop);
    json_decref(s->body);
    pthread_mutex_destroy(&s->mu);
    return teardown(state);
}

#define AGENT(f, ...)                                                          \
    RUN(f, "--agent", (f)->agent, "--token-file", (f)->token_file, __VA_ARGS__)

static void test_status(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--agent", f->agent, "status");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "kela");
    assert_contains(r->out, "connected");
    assert_contains(r->out, "3 pending");
    assert_string_equal(the_stub.path, "/healthz");
    r = RUN(f, "status", "--agent", f->agent, "--json");
    assert_int_equal(r->code, 0);
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "org")), "kela");
    json_decref(j);
}

static void test_create(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "create", "--client", CLIENT_KEY, "--to",
                      "kela", "--reason", "needs rehab", "--urgency", "urgent",
                      "--due", "2026-12-01", "--transfer");
    assert_int_equal(r->code, 0);
    assert_string_equal(r->out, "referral " REFERRAL_ID " requested -> kela\n");
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/referrals");
    assert_string_equal(the_stub.auth, "Bearer " TOKEN);
    json_t *b = the_stub.body;
    assert_non_null(b);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "client"), "key")),
        CLIENT_KEY);
    assert_string_equal(json_string_value(json_object_get(b, "to")), "kela");
    assert_string_equal(json_string_value(json_object_get(b, "reason")),
                        "needs rehab");
    assert_string_equal(json_string_value(json_object_get(b, "urgency")),
                        "urgent");
    assert_string_equal(json_string_value(json_object_get(b, "due")),
                        "2026-12-01");
    assert_true(json_is_true(json_object_get(b, "transfer")));
    assert_null(json_object_get(b, "service"));

    r = AGENT(f, "--json", "referral", "create", "--hetu", "131052-308T",
              "--service", "vocational-rehab");
    assert_int_equal(r->code, 0);
    b = the_stub.body;
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(b, "client"), "hetu")),
                        "131052-308T");
    assert_string_equal(json_string_value(json_object_get(b, "service")),
                        "vocational-rehab");
    assert_null(json_object_get(b, "transfer"));
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        REFERRAL_ID);
    json_decref(j);
}

static void test_list(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "list", "--direction", "in", "--status",
                      "on-hold");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.method, "GET");
    assert_string_equal(the_stub.query, "direction=in status=on-hold");
    assert_contains(r->out, "ID");
    assert_contains(r->out, "UPDATED");
    assert_contains(r->out, REFERRAL_ID);
    assert_contains(r->out, "sote-kokkola");
    assert_contains(r->out, "on-hold");
    r = AGENT(f, "referral", "list");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.query, "direction=- status=-");
}

static void test_show(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "show", REFERRAL_ID);
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID);
    assert_contains(r->out, "vocational-rehab");
    assert_contains(r->out, "needs rehab"); /* newline made a space */
    assert_contains(r->out, "STATUS");
    assert_contains(r->out, "2026-11-22T14:00:01.000Z");
    assert_contains(r->out, "stored");

    r = AGENT(f, "referral", "show", "01NOSUCHREFERRAL0000000000");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "not_found");
    assert_contains(r->err, "no such referral");
}

static void test_status_change(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "status", REFERRAL_ID, "completed",
                      "--outcome", "placed in work");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID "/status");
    json_t *b = the_stub.body;
    assert_string_equal(json_string_value(json_object_get(b, "status")),
                        "completed");
    assert_string_equal(json_string_value(json_object_get(b, "outcome")),
                        "placed in work");
    assert_null(json_object_get(b, "reason"));

    r = AGENT(f, "referral", "status", REFERRAL_ID, "accepted");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "invalid_transition");
    assert_contains(r->err, "cannot move a completed referral");
    assert_contains(r->err, "409");
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    result *r =
        AGENT(f, "referral", "cancel", REFERRAL_ID, "--reason", "client moved");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID "/cancel");
    assert_string_equal(
        json_string_value(json_object_get(the_stub.body, "reason")),
        "client moved");
}

static void test_token(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--agent", f->agent, "referral", "list");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "unauthorized");
    assert_string_equal(the_stub.auth, "");
    char env[200];
    snprintf(env, sizeof env, "POLKU_TOKEN_FILE=%s", f->token_file);
    r = run_env(
        f, (char *[]){env, NULL},
        (const char *const[]){"--agent", f->agent, "referral", "list", NULL});
    assert_int_equal(r->code, 0);
    r = RUN(f, "--agent", f->agent, "--token-file", "/nonexistent/token",
            "referral", "list");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "token");
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_arguments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_unreachable, setup,
                                        teardown),
    };
    const struct CMUnitTest with_agent[] = {
        cmocka_unit_test_setup_teardown(test_status, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_create, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_list, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_show, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_status_change, stub_setup,
                                        stub_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_token, stub_setup, stub_teardown),
    };
    int failed = cmocka_run_group_tests_name("cli", plain, NULL, NULL);
    failed += cmocka_run_group_tests_name("cli against a stub agent",
                                          with_agent, NULL, NULL);
    return failed;
}
