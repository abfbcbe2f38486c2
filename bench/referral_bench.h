/* referral_bench.h — what the referral benchmark's three files share.
 *
 *   referral_bench.c      options, the run, the printed table
 *   referral_serial.c     clients and request bodies, the baselines, the
 *                         one-at-a-time phase and one-at-a-time reads
 *   referral_pipelined.c  agent snapshots, consents, the pipelined phase
 *
 * Every function here ends the harness case (H_REQUIRE / H_FAIL) when the
 * region does not behave, so a figure is never printed for a broken run. */
#ifndef POLKU_BENCH_REFERRAL_BENCH_H
#define POLKU_BENCH_REFERRAL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../tests/harness.h"
#include "bench_client.h"
#include "bench_events.h"
#include "bench_stats.h"

#define RB_REASON_BYTES                                                        \
    500 /* the referral's free text, and the baseline's                        \
           put */
#define RB_SERIAL_WARMUP 50
#define RB_WINDOWS_MAX 4 /* pipelined phases in one run */
/* The pipelined POSTs' source address: the agent takes at most
 * POLKU_HTTP_PER_IP_LIMIT (256) connections from one address, and a
 * 256-connection window beside the harness's and the event streams' own
 * connections from 127.0.0.1 would pass it. */
#define RB_LOAD_SOURCE "127.0.0.2"

/* ------------------------------------------------------ referral_serial.c */

/* Makes n clients; referral (and consent) i is for client i % n. */
void rb_clients_make(size_t n);
size_t rb_clients_count(void);
/* Request bodies, as bc_body_fn: the consent of client i covering org-a
 * and org-b, and a referral of client i to the org named by arg. */
size_t rb_consent_body(size_t i, char *buf, size_t cap, void *arg);
size_t rb_referral_body(size_t i, char *buf, size_t cap, void *arg);

/* A keep-alive client for o's API with its token. */
bc_conn *rb_conn(h_org *o);
/* An integer field of a JSON object text; -1 if absent. */
long long rb_json_int(const char *body, size_t len, const char *name);
double rb_ms_between(uint64_t t0_ns, uint64_t t1_ns);

/* The baseline's LMDB environment, in the region directory (the agents'
 * disk); closed with bs_lmdb_close. */
bs_lmdb *rb_lmdb_open(h_region *r);
/* n durable single-put commits. */
void rb_lmdb_baseline(bs_lmdb *l, size_t n, bs_samples *out);
/* n GET /healthz round trips to o. */
void rb_rtt_baseline(h_org *o, size_t n, bs_samples *out);
/* The event streams the benchmark reads: org-b's /v1/events for
 * `referral.requested` (stored and `received` at org-b), org-a's for
 * `referral.received` (the receipt committed back at org-a); attached
 * (their preamble read) on return. */
enum { RB_STREAM_B, RB_STREAM_A };
be_watch *rb_watch(h_org *a, h_org *b);

/* The one-at-a-time phase's figures. */
typedef struct rb_serial {
    bs_samples create;  /* POST -> 201 (org-a's commit) */
    bs_samples at_b;    /* POST -> org-b's event: `received` committed */
    bs_samples e2e;     /* POST -> org-a's event: receipt committed */
    bs_samples commits; /* the baseline commits between referrals */
    long long flushes;  /* disks' flushes from POST to org-a's event, all
                           timed referrals; -1 unreadable */
} rb_serial;

/* n referrals (after RB_SERIAL_WARMUP untimed ones) from a to b, one at a
 * time: POST, then org-b's and org-a's event streams are read until both
 * show it. Between two referrals, one baseline commit on l into
 * out->commits, so the yardstick is taken under the same conditions. The
 * last referral's id goes into last_id (64 bytes). */
void rb_run_serial(h_org *a, h_org *b, size_t n, bs_lmdb *l, rb_serial *out,
                   char *last_id);

/* --------------------------------------------------- referral_pipelined.c */

typedef struct rb_agent_snap {
    double commits, items; /* polku_agent_commits_total, batch_items_total */
    long long last_seq, outbox_pending;
} rb_agent_snap;

rb_agent_snap rb_snap(bc_conn *c);

/* GET /v1/referrals/ID at a, n times one at a time; *commits: how many
 * commits a counted meanwhile. */
void rb_run_reads(h_org *a, const char *id, size_t n, bs_samples *out,
                  double *commits);

/* Records every client's consent at a (untimed) and waits until b has
 * them. */
void rb_grant_consents(h_org *a, h_org *b);

enum { RB_CPU_A, RB_CPU_B, RB_CPU_BROKER, RB_CPU_CLIENT, RB_CPU_N };
extern const char *const rb_cpu_names[RB_CPU_N];

typedef struct rb_pipe_result {
    size_t n;
    int concurrency, connections;
    double created_s;  /* the last 201 */
    double stored_b_s; /* the last referral.requested at org-b */
    double received_s; /* the last referral.received at org-a */
    long long flushes; /* disks' flushes meanwhile, -1 unreadable */
    double commits_a, commits_b, items_a, items_b;
    double cpu_ms[RB_CPU_N];
    double machine_busy; /* share of all cores busy, every tenant */
} rb_pipe_result;

/* n referrals from a to b over `concurrency` connections, one per POST
 * /v1/referrals, or `batch` per POST /v1/referrals/batch when batch > 0;
 * then checks that none at a is left `requested` or `failed`. */
void rb_run_pipelined(h_region *r, h_org *a, h_org *b, size_t n,
                      int concurrency, size_t batch, rb_pipe_result *res);
/* Room a batch body of `batch` referrals needs (RB_REASON_BYTES each). */
#define RB_BATCH_ITEM_MAX (RB_REASON_BYTES + 256)

#endif
