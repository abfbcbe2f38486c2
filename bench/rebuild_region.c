/* rebuild_region.c — see rebuild_region.h. */
#include "rebuild_region.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "claim_auth.h"
#include "../tests/harness.h"
#include "store.h"

static h_region *g_region;

void rr_prepare(uint8_t claim_key[32])
{
    char services[256];
    snprintf(services, sizeof services,
             "home-care, physiotherapy, "
             "occupational-therapy");
    g_region = h_region_new();
    for (int a = 0; a < RB_ORGS; a++) {
        char id[8];
        snprintf(id, sizeof id, "org-%02d", a);
        h_region_add_org(g_region, id, services);
    }
    h_region_write(g_region);
    uint8_t secret[32];
    H_REQUIRE(zmq_z85_decode(secret, g_region->broker_key.secret_z85),
              "the broker's secret key decodes");
    claim_auth_key(secret, claim_key);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of a running process's threads, or of its
 * main thread alone (main: the broker's loop, which folds every event). */
static double cpu_of(pid_t pid, bool main)
{
    char path[64];
    unsigned long ut = 0, st = 0;
    if (main)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid,
                 (int)pid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = fscanf(f,
                   "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                   "%lu %lu",
                   &ut, &st);
    fclose(f);
    return n == 2 ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : 0;
}

static double cpu_s(pid_t pid)
{
    return cpu_of(pid, false);
}

/* One agent's log into its store, as eventlog_emit leaves it: event seq
 * -> the encoded envelope, nothing owed (every event acknowledged). */
static void write_store(const rb_agent *a, const h_org *o)
{
    store s;
    H_REQUIRE(store_open(&s, o->store, 256ull << 20, 4ull << 30, a->org) == 0,
              "%s: the store %s opens", a->org, o->store);
    MDB_txn *txn = NULL;
    H_REQUIRE(mdb_txn_begin(s.env, NULL, 0, &txn) == 0, "a write transaction");
    uint64_t seq = 0;
    for (size_t f = 0; f < a->n_frames; f++) {
        polku_envelope *env =
            polku__envelope__unpack(NULL, a->frames[f].len, a->frames[f].data);
        H_REQUIRE(env && env->body_case == POLKU__ENVELOPE__BODY_REPLAY_BATCH,
                  "a frame of the logs unpacks");
        const Polku__ReplayBatch *b = env->replay_batch;
        for (size_t i = 0; i < b->n_events; i++)
            H_REQUIRE(store_event_put(&s, txn, ++seq, b->events[i].data,
                                      b->events[i].len) == 0,
                      "%s: event %llu stored", a->org, (unsigned long long)seq);
        polku__envelope__free_unpacked(env, NULL);
    }
    H_REQUIRE(mdb_txn_commit(txn) == 0, "%s: the store commits", a->org);
    H_REQUIRE(seq == a->seq, "%s: %llu events stored of %llu", a->org,
              (unsigned long long)seq, (unsigned long long)a->seq);
    store_close(&s);
}

/* How many orgs the broker's /healthz lists as replayed (-1 if it does
 * not answer yet) and as connected. */
static int replayed_count(h_region *r, int *connected)
{
    json_t *j = h_broker_health(r);
    *connected = 0;
    if (!j)
        return -1;
    int n = (int)json_array_size(json_object_get(j, "replayed"));
    *connected = (int)json_array_size(json_object_get(j, "connected"));
    json_decref(j);
    return n;
}

static json_t *broker_stats(h_region *r)
{
    h_resp resp;
    memset(&resp, 0, sizeof resp);
    h_http_request(r->broker_http, "GET", "/api/v1/stats?digest=1", NULL, NULL,
                   0, &resp);
    json_t *j = resp.status == 200 ? json_incref(resp.json) : NULL;
    h_resp_free(&resp);
    return j;
}

static const char *str_of(const json_t *j, const char *name)
{
    const char *s = json_string_value(json_object_get(j, name));
    return s ? s : "";
}

static long long int_of(const json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

int rr_run(const rb_logs *l, const char *digest, const char *paths_digest)
{
    h_region *r = g_region;
    double t = now_s();
    for (int a = 0; a < RB_ORGS; a++)
        write_store(&l->agent[a], &r->orgs[a]);
    double written = now_s() - t;
    t = now_s();
    for (int a = 0; a < RB_ORGS; a++)
        h_agent_start(&r->orgs[a]);
    double agents_up = now_s() - t;

    /* the clock: from the broker's start until every replay is done */
    double cpu_agents0 = 0;
    for (int a = 0; a < RB_ORGS; a++)
        cpu_agents0 += cpu_s(r->orgs[a].proc.pid);
    double t0 = now_s(), first_answer = 0, all_connected = 0, first_done = 0;
    h_proc_start(&r->broker);
    int n = -1, connected = 0;
    while (now_s() - t0 < 600) {
        n = replayed_count(r, &connected);
        double at = now_s() - t0;
        if (n >= 0 && first_answer == 0)
            first_answer = at;
        if (connected == RB_ORGS && all_connected == 0)
            all_connected = at;
        if (n > 0 && first_done == 0)
            first_done = at;
        if (n == RB_ORGS)
            break;
        h_check_processes();
        usleep(2000);
    }
    double secs = now_s() - t0;
    double cpu_broker = cpu_s(r->broker.pid), cpu_agents = -cpu_agents0;
    double cpu_loop = cpu_of(r->broker.pid, true);
    for (int a = 0; a < RB_ORGS; a++)
        cpu_agents += cpu_s(r->orgs[a].proc.pid);
    H_REQUIRE(n == RB_ORGS, "every org replayed within 600 s (%d of %d)", n,
              RB_ORGS);

    /* the digest, then again a moment later: stable */
    json_t *s1 = broker_stats(r);
    usleep(300 * 1000);
    json_t *s2 = broker_stats(r);
    H_REQUIRE(s1 && s2, "the broker's /api/v1/stats answers");
    bool stable = strcmp(str_of(s1, "digest"), str_of(s2, "digest")) == 0;
    bool same = strcmp(str_of(s2, "digest"), digest) == 0 &&
                strcmp(str_of(s2, "paths_digest"), paths_digest) == 0;
    double refused = h_broker_metric(r, "polku_broker_events_refused_total");
    long long events = 0;
    json_t *replay = json_object_get(s2, "replay");
    const char *org;
    json_t *v;
    json_object_foreach(replay, org, v) events += int_of(v, "events");
    long rss_kb = h_proc_rss_kb(&r->broker);

    printf("\n  rebuild of a real broker from %d real agents (region in %s)\n",
           RB_ORGS, r->dir);
    printf("  stores written (untimed) in %.1f s, agents started in %.1f s\n",
           written, agents_up);
    printf("  broker start -> /healthz answers     %8.3f s\n", first_answer);
    printf("  broker start -> all %d connected     %8.3f s (the agents retry "
           "every <= 0.3 s while it is down)\n",
           RB_ORGS, all_connected);
    printf("  broker start -> first replay done    %8.3f s\n", first_done);
    printf("  broker start -> every replay done    %8.3f s = %.0f events/s "
           "(%lld events replayed of %llu)\n",
           secs, (double)l->events / secs, events, l->events);
    printf("  CPU meanwhile: broker %.2f s (%.0f ns/event), agents %.2f s "
           "(all %d)\n",
           cpu_broker, cpu_broker / (double)l->events * 1e9, cpu_agents,
           RB_ORGS);
    printf("  of which the broker's loop thread %.2f s (%.0f ns/event: the "
           "fold's critical path)\n",
           cpu_loop, cpu_loop / (double)l->events * 1e9);
    printf("  broker after the rebuild: RSS %.1f MB; %lld clients, %lld "
           "referrals (%lld open)\n",
           (double)rss_kb / 1024, int_of(s2, "clients"),
           int_of(s2, "referrals"), int_of(s2, "referrals_open"));
    printf("  broker digest %s (%s, %s the in-process fold's)\n",
           str_of(s2, "digest"), stable ? "stable" : "NOT stable",
           same ? "equal to" : "NOT equal to");
    if (refused != 0)
        printf("  events refused by the writer rules: %.0f (the broker's log "
               "says why)\n",
               refused);
    int rc = stable && same && refused == 0 &&
                     (unsigned long long)events == l->events
                 ? 0
                 : -1;
    H_CHECK(rc == 0, "the broker rebuilt the state the in-process fold did");
    json_decref(s1);
    json_decref(s2);
    return rc;
}
