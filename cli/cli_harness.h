/* cli_harness.h — what the CLI's tests share: running the built polku
 * program in a scratch directory and capturing its exit code and output,
 * and a stub agent (polku_http on a libuv loop in a thread) that records
 * each request. Include after <cmocka.h>. */
#ifndef POLKU_CLI_HARNESS_H
#define POLKU_CLI_HARNESS_H

#include <jansson.h>
#include <pthread.h>
#include <uv.h>

#include "polku/http.h"

#define OUT_MAX 65536
#define CLIENT_KEY "0123456789abcdef0123456789abcdef"
#define TOKEN "tok-123"

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

/* Runs polku with args (NULL-ended) and extra environment entries
 * (NULL-ended or NULL); POLKU_* variables of this process are left out. */
result *run_env(fixture *f, char **extra, const char *const *args);

#define RUN(f, ...) run_env((f), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* RUN against the stub agent with the token. */
#define AGENT(f, ...)                                                          \
    RUN(f, "--agent", (f)->agent, "--token-file", (f)->token_file, __VA_ARGS__)

/* Fails the test when part is not in text. */
void assert_contains(const char *text, const char *part);

/* cmocka setup/teardown: a scratch directory with a token file. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* The stub agent. A request without "Bearer TOKEN" (except /healthz) is
 * answered 401; the others go to stub_route. */
typedef struct stub {
    uv_loop_t loop;
    uv_async_t stop;
    polku_http *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    /* the last request: query holds "direction=D status=S" ("-" when
     * absent), client the ?client= value ("" when absent) */
    char method[16], path[256], auth[128], query[128], client[64];
    json_t *body;
} stub;

extern stub the_stub;

/* Answers one authorised request; each test program defines it. */
void stub_route(polku_http_req *req, const char *method, const char *path,
                const json_t *body);

/* fixture_setup plus the stub agent started, its URL in f->agent. */
int stub_setup(void **state);
int stub_teardown(void **state);

#endif
