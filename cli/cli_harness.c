/* cli_harness.c — the CLI tests' common ground (see cli_harness.h): a
 * forked polku with its output in files, and the stub agent thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_harness.h"
#include "polku/error.h"

extern char **environ;

stub the_stub;

/* ---- running the program ---- */

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

result *run_env(fixture *f, char **extra, const char *const *args)
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

void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("'%s' not in:\n%s", part, text);
}

int fixture_setup(void **state)
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

int fixture_teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- the stub agent ---- */

static void record(stub *s, polku_http_req *req)
{
    const char *auth = polku_http_header(req, "Authorization");
    const char *dir = polku_http_query(req, "direction");
    const char *st = polku_http_query(req, "status");
    const char *client = polku_http_query(req, "client");
    size_t len = 0;
    const char *body = polku_http_body(req, &len);
    pthread_mutex_lock(&s->mu);
    snprintf(s->method, sizeof s->method, "%s", polku_http_method(req));
    snprintf(s->path, sizeof s->path, "%s", polku_http_path(req));
    snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
    snprintf(s->client, sizeof s->client, "%s", client ? client : "");
    snprintf(s->query, sizeof s->query, "direction=%s status=%s",
             dir ? dir : "-", st ? st : "-");
    json_decref(s->body);
    s->body = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    pthread_mutex_unlock(&s->mu);
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
    stub_route(req, polku_http_method(req), polku_http_path(req), body);
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

int stub_setup(void **state)
{
    if (fixture_setup(state) != 0)
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

int stub_teardown(void **state)
{
    stub *s = &the_stub;
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    uv_loop_close(&s->loop);
    json_decref(s->body);
    pthread_mutex_destroy(&s->mu);
    return fixture_teardown(state);
}
