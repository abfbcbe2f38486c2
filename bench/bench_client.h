/* bench_client.h — the benchmark's own HTTP clients for an agent's API.
 *
 * Why not the test harness's h_api: that one resets its libcurl handle and
 * rebuilds headers on every call, which is fine for tests but adds noise to
 * a sub-millisecond measurement. Here a connection is set up once and each
 * request changes only the URL, the method and the body, so what is timed
 * is (almost) only the agent.
 *
 * Two shapes:
 *   - bc_conn: one keep-alive connection, one request at a time (latency);
 *   - bc_post_pipelined: many keep-alive connections driven by one curl
 *     multi handle, each POSTing the next body as soon as its previous one
 *     is answered (throughput).
 * 127.0.0.1 only; proxies are never used. */
#ifndef POLKU_BENCH_CLIENT_H
#define POLKU_BENCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in nanoseconds. */
uint64_t bc_now_ns(void);

typedef struct bc_conn bc_conn;

/* A connection to base_url ("http://127.0.0.1:PORT") sending
 * "Authorization: Bearer token" (token may be NULL). NULL on failure. */
bc_conn *bc_conn_new(const char *base_url, const char *token);
void bc_conn_free(bc_conn **c);

/* One request; body may be NULL (then a GET unless method says otherwise).
 * Returns the HTTP status, 0 on a transport failure (see bc_error). The
 * answer stays readable through bc_body until the next request. */
long bc_request(bc_conn *c, const char *method, const char *path,
                const char *body, size_t body_len);
const char *bc_body(const bc_conn *c, size_t *len);
const char *bc_error(const bc_conn *c);

/* Writes the body of POST number i (0-based) into buf (cap bytes) and
 * returns its length (0 on failure). */
typedef size_t (*bc_body_fn)(size_t i, char *buf, size_t cap, void *arg);

typedef struct bc_pipeline {
    const char *base_url, *token, *path;
    size_t count;     /* POSTs to make */
    int concurrency;  /* keep-alive connections */
    long want_status; /* every answer must have it (e.g. 201) */
    uint64_t deadline_ns;
    bc_body_fn body;
    void *arg;
    const char *source; /* local address to connect from; NULL: any */
    size_t body_max;    /* room for one body; 0: 4096 bytes */
} bc_pipeline;

typedef struct bc_pipeline_result {
    size_t answered; /* POSTs answered with want_status */
    size_t failed;   /* transport failures or another status */
    long first_bad_status;
    char first_bad[256]; /* what went wrong first (status body or error) */
    int connections;     /* connections libcurl opened in all */
    uint64_t last_answer_ns;
} bc_pipeline_result;

/* Runs the POSTs; stops early on the first failure or at the deadline.
 * Returns 0 when every POST was answered with want_status, -1 otherwise
 * (the result says why). */
int bc_post_pipelined(const bc_pipeline *p, bc_pipeline_result *out);

#endif
