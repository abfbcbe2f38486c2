/* rebuild_bench.c — how fast the broker rebuilds its memory from the
 * agents' replays, and how much memory that memory takes (issue #5).
 *
 * Why it exists: the broker stores nothing. After every restart it asks
 * each agent to replay its log and folds every event again into its
 * consent, path and client indexes (DESIGN.md §5, "Rebuild"); until that
 * is done it answers "retry later". So the rebuild rate bounds how long a
 * restart keeps a region waiting, and the memory per open referral and per
 * path bounds how many clients one broker can hold. The targets: at least
 * 1 M events/s rebuilt, at most 300 bytes per open referral; a real broker
 * rebuilt from real agents (--region, rebuild_region.c) for 1 M events in
 * at most 3 s.
 *
 * What it measures, in one process, with no sockets (the ZeroMQ/CURVE
 * transport and the agents' LMDB reads are not part of it):
 *   1. memory: a log that leaves many referrals open, folded step by step
 *      into fresh indexes — consents (the clients become known), path
 *      claims won, then referrals requested and received, never answered —
 *      with malloc's heap in use (mallinfo2) and the RSS
 *      (/proc/self/statm) after each step: bytes per client, per path, per
 *      open referral;
 *   2. rebuild rate: 20 agents' realistic logs (rebuild_logs.c), encoded
 *      up front as the ReplayBatch frames a replay sends, then read in
 *      rounds, the passes interleaved: the decode floor (protobuf-c unpack
 *      and free of every frame and event, nothing else), decode + validate
 *      (polku_envelope_decode and, per event, polku_envelope_decode_in,
 *      what the broker calls), fold_apply alone (broker/fold.c, no writer
 *      rules), and the fold — what router_on_message and on_replay_batch
 *      do for each frame and admit_replayed (broker/admit.c: the writer
 *      rules, the holdback, fold_apply) for each event, each org's replay
 *      done (the held events decided again) after its last frame, the
 *      agents' frames taken round robin into fresh indexes; and the fold
      as the broker's replay does it, each frame's events decoded ahead
      on a second thread (broker/replay_ahead.h). The state digest of
 *      /api/v1/stats is checked equal in every round and after a fold of
 *      the same logs agent by agent; counts are checked against what the
 *      logs hold. A wrong fold prints no figures and exits 1.
 *
 * bench/README.md says what each printed figure means. Not a ctest entry:
 * benchmarks are not tests. */
#include <malloc.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clients.h"
#include "consent_index.h"
#include "admit.h"
#include "claim_auth.h"
#include "fold.h"
#include "gate.h"
#include "../tests/harness.h"
#include "paths.h"
#include "polku/codec.h"
#include "rebuild_logs.h"
#include "rebuild_region.h"
#include "replay_ahead.h"

#ifndef POLKU_BUILD_TYPE
#define POLKU_BUILD_TYPE "unknown"
#endif
#ifndef POLKU_BUILD_FLAGS
#define POLKU_BUILD_FLAGS ""
#endif

#define TARGET_EVENTS_PER_S 1e6
#define TARGET_BYTES_PER_OPEN 300.0 /* the fast path's (was 512) */
#define MAX_ROUNDS 15

typedef struct opts {
    unsigned long long events; /* in all the logs of the rebuild */
    size_t clients;            /* memory: clients ... */
    size_t per_client;         /* ... and open referrals each */
    int rounds;
    bool region; /* also rebuild a real broker from real agents */
    const char *label;
} opts;

/* ---------------------------------------------------------- the fold */

/* The directory the gate consults: RB_ORGS orgs, each listing the
 * services of the logs. */
typedef struct directory {
    broker_org orgs[RB_ORGS];
    broker_config cfg;
} directory;

static char *const g_services[RB_N_SERVICES] = RB_SERVICES;
static directory g_dir;
/* the broker's claim authenticator key: the logs' won claims carry its
 * MAC, the gate verifies it */
static uint8_t g_claim_key[CLAIM_AUTH_KEY_BYTES];

static void directory_init(directory *d)
{
    memset(d, 0, sizeof *d);
    for (int a = 0; a < RB_ORGS; a++) {
        snprintf(d->orgs[a].id, sizeof d->orgs[a].id, "org-%02d", a);
        for (int k = 0; k < RB_N_SERVICES; k++)
            d->orgs[a].services[k] = g_services[k];
        d->orgs[a].service_count = RB_N_SERVICES;
    }
    d->cfg.orgs = d->orgs;
    d->cfg.org_count = RB_ORGS;
    d->cfg.max_frame = POLKU_MAX_FRAME_DEFAULT;
}

#define REASONS 8

typedef struct fold_idx {
    consent_index *ci;
    path_index *pi;
    client_index *cl;
    holdback *held;     /* as the broker's (HB_HELD_PER_ORIGIN_MAX) */
    polku_arena *arena; /* as the broker's replay_arena */
    replay_ahead *ahead; /* as the broker's (PASS_AHEAD only) */
    const directory *dir;
    const uint8_t *claim_key;
    claim_auth_keyed claim_keyed;   /* as the broker's */
    bool replayed[RB_ORGS];         /* the org's replay is done */
    unsigned long long events, bad; /* events read; frames or events refused */
    unsigned long long refused, held_max, held_origin_max;
    const char *why[REASONS]; /* the gate's reasons, each counted */
    unsigned long long why_n[REASONS];
} fold_idx;

static int idx_new(fold_idx *x, const directory *dir, const uint8_t *claim_key)
{
    memset(x, 0, sizeof *x);
    x->ci = ci_new();
    x->pi = pi_new();
    x->cl = cl_new();
    x->held = hb_new(HB_HELD_PER_ORIGIN_MAX); /* as broker/broker.c */
    x->dir = dir;
    x->claim_key = claim_key;
    claim_auth_keyed_init(&x->claim_keyed, claim_key);
    if (polku_arena_new(64 * 1024, &x->arena))
        return -1;
    return x->ci && x->pi && x->cl && x->held ? 0 : -1;
}

static void idx_free(fold_idx *x)
{
    ci_destroy(&x->ci);
    pi_destroy(&x->pi);
    cl_destroy(&x->cl);
    hb_destroy(&x->held);
    polku_arena_free(&x->arena);
    ra_destroy(&x->ahead);
}

static bool org_replayed(void *arg, const char *org)
{
    const fold_idx *x = arg;
    for (int a = 0; a < RB_ORGS; a++)
        if (strcmp(x->dir->orgs[a].id, org) == 0)
            return x->replayed[a];
    return true; /* gone orgs cannot block (router.c org_replayed) */
}

static void on_refused(const polku_envelope *env, gate_result w, void *arg)
{
    fold_idx *x = arg;
    (void)env;
    x->refused++;
    for (int i = 0; i < REASONS; i++)
        if (!x->why[i] || strcmp(x->why[i], w.why) == 0) {
            x->why[i] = w.why;
            x->why_n[i]++;
            break;
        }
}

/* What the router's replay_event hands the gate. */
static gate_env gate_of(fold_idx *x, broker_indexes *ix)
{
    *ix = (broker_indexes){x->ci, x->pi, x->cl, NULL};
    gate_env g = {.cfg = &x->dir->cfg,
                  .x = ix,
                  .held = x->held,
                  .replayed = org_replayed,
                  .arg = x,
                  .claim_key = x->claim_key,
                  .claim_keyed = &x->claim_keyed};
    return g;
}

static const admit_report g_report_of = {on_refused, NULL, NULL};

/* A replayed event, admitted as the broker admits it (broker/admit.c:
 * the writer rules, then fold_apply, or held back). */
static void fold_event(fold_idx *x, const polku_envelope *env,
                       const uint8_t *data, size_t len, int claim)
{
    broker_indexes ix;
    gate_env g = gate_of(x, &ix);
    if (claim >= 0) { /* checked ahead (replay_ahead.h) */
        g.claim_checked = env;
        g.claim_checked_ok = claim == 1;
    }
    admit_report report = g_report_of;
    report.arg = x;
    /* what is held can grow only with a hold (and the broker does not
     * count it: looked up after a hold only) */
    if (admit_replayed(&g, x->held, env, data, len, &report) != ADMIT_HELD)
        return;
    if (hb_count(x->held) > x->held_max)
        x->held_max = hb_count(x->held);
    size_t of_origin = hb_count_origin(x->held, env->origin_org);
    if (of_origin > x->held_origin_max)
        x->held_origin_max = of_origin;
}

/* After each event (its arena reset): the held events it woke are
 * decided again (router.c decide_woken). */
static void fold_woken(fold_idx *x)
{
    broker_indexes ix;
    gate_env g = gate_of(x, &ix);
    admit_report report = g_report_of;
    report.arg = x;
    admit_woken(&g, x->held, x->arena, POLKU_MAX_FRAME_DEFAULT, &report);
}

/* An org's replay is done: the held events are decided again, and once
 * every log is in, what still waits is refused (router_decide_held). */
static void replay_done(fold_idx *x, int a)
{
    broker_indexes ix;
    gate_env g = gate_of(x, &ix);
    admit_report report = g_report_of;
    report.arg = x;
    x->replayed[a] = true;
    bool every_log_in = true;
    for (int i = 0; i < RB_ORGS; i++)
        every_log_in = every_log_in && x->replayed[i];
    size_t undecidable = 0;
    admit_replay_done(&g, x->held, x->arena, POLKU_MAX_FRAME_DEFAULT,
                      x->dir->orgs[a].id, every_log_in, &report, &undecidable);
}

typedef enum pass {
    PASS_RAW,
    PASS_DECODE,
    PASS_UNGATED,
    PASS_FOLD,
    PASS_AHEAD,
    N_PASSES
} pass;

static const char *const pass_names[N_PASSES] = {
    "decode floor (protobuf-c unpack + free)",
    "decode + validate (polku_envelope_decode*)",
    "fold_apply only (no writer rules)",
    "fold (decode + validate + gate + apply)",
    "fold, decoded ahead (as the broker's replay)",
};

/* One frame: the raw protobuf-c floor. */
static void read_raw(fold_idx *x, const rb_frame *f)
{
    polku_envelope *env = polku__envelope__unpack(NULL, f->len, f->data);
    if (!env || env->body_case != POLKU__ENVELOPE__BODY_REPLAY_BATCH) {
        x->bad++;
        if (env)
            polku__envelope__free_unpacked(env, NULL);
        return;
    }
    const Polku__ReplayBatch *batch = env->replay_batch;
    for (size_t i = 0; i < batch->n_events; i++) {
        polku_envelope *ev = polku__envelope__unpack(NULL, batch->events[i].len,
                                                     batch->events[i].data);
        if (ev)
            polku__envelope__free_unpacked(ev, NULL);
        else
            x->bad++;
    }
    x->events += batch->n_events;
    polku__envelope__free_unpacked(env, NULL);
}

/* The frame's events decoded ahead on the replay thread and folded here
 * in order, as on_replay_batch does (broker/replay_ahead.h; the chain
 * hashes are computed there too, as the broker's are, and not checked:
 * there are no heads here). */
static void fold_ahead(fold_idx *x, const char *org,
                       const Polku__ReplayBatch *batch)
{
    if (!x->ahead && ra_new(POLKU_MAX_FRAME_DEFAULT, true, &x->ahead)) {
        x->bad++;
        return;
    }
    if (ra_begin(x->ahead, org, batch->events, batch->n_events,
                 &x->claim_keyed)) {
        x->bad++;
        return;
    }
    for (size_t i = 0; i < batch->n_events; i++) {
        const ra_event *e = ra_get(x->ahead, i);
        if (e->rc)
            x->bad++;
        else if (e->ours)
            fold_event(x, e->env, batch->events[i].data, batch->events[i].len,
                       e->claim);
        fold_woken(x);
    }
    ra_end(x->ahead);
}

/* One frame as router_on_message and on_replay_batch take it
 * (max_frame at its default), folded or only decoded. */
static void read_frame(fold_idx *x, const char *org, const rb_frame *f, pass p)
{
    polku_envelope *env = NULL;
    char why[128];
    if (polku_envelope_decode(f->data, f->len, POLKU_MAX_FRAME_DEFAULT, &env,
                              why, sizeof why) ||
        strcmp(env->origin_org, org) != 0 ||
        env->body_case != POLKU__ENVELOPE__BODY_REPLAY_BATCH) {
        x->bad++;
        polku_envelope_free(&env);
        return;
    }
    const Polku__ReplayBatch *batch = env->replay_batch;
    if (p == PASS_AHEAD)
        fold_ahead(x, org, batch);
    for (size_t i = 0; p != PASS_AHEAD && i < batch->n_events; i++) {
        polku_envelope *ev = NULL;
        if (polku_envelope_decode_in(
                x->arena, batch->events[i].data, batch->events[i].len,
                POLKU_MAX_FRAME_DEFAULT, &ev, why, sizeof why))
            x->bad++;
        else if (p == PASS_UNGATED && strcmp(ev->origin_org, org) == 0) {
            const broker_indexes ix = {x->ci, x->pi, x->cl, NULL};
            fold_apply(&ix, ev); /* what this program timed until the
                                    writer rules came */
        } else if (p == PASS_FOLD && strcmp(ev->origin_org, org) == 0 &&
                   polku_body_is_event(ev->body_case)) {
            fold_event(x, ev, batch->events[i].data, batch->events[i].len,
                       -1);
            polku_arena_reset(x->arena);
            fold_woken(x);
        }
        polku_arena_reset(x->arena);
    }
    x->events += batch->n_events;
    polku_envelope_free(&env);
}

/* Reads frames [from[a], to[a]) of every agent a: round robin, one frame
 * of each in turn, as a rebuild from all of them at once arrives; or
 * agent by agent, the last org first. */
static void replay(const rb_logs *l, const size_t *from, const size_t *to,
                   pass p, fold_idx *x, bool round_robin)
{
    size_t most = 0;
    for (int a = 0; a < RB_ORGS; a++) {
        if (to[a] - from[a] > most)
            most = to[a] - from[a];
        x->replayed[a] = false; /* each org's replay begins */
    }
    for (size_t k = 0; k < (round_robin ? most : RB_ORGS); k++)
        for (int i = 0; i < (round_robin ? RB_ORGS : 1); i++) {
            int a = round_robin ? i : RB_ORGS - 1 - (int)k;
            const rb_agent *ag = &l->agent[a];
            size_t lo = round_robin ? from[a] + k : from[a];
            size_t hi = round_robin ? lo + 1 : to[a];
            for (size_t f = lo; f < hi && f < to[a]; f++) {
                if (p == PASS_RAW)
                    read_raw(x, &ag->frames[f]);
                else
                    read_frame(x, ag->org, &ag->frames[f], p);
            }
            /* its ReplayDone */
            if ((p == PASS_FOLD || p == PASS_AHEAD) && !x->replayed[a] &&
                hi >= to[a])
                replay_done(x, a);
        }
}

/* What /api/v1/stats shows as digest and paths_digest. */
static void state_digest(const fold_idx *x, char out[65], char paths[65])
{
    const broker_indexes ix = {x->ci, x->pi, x->cl, NULL};
    fold_digest(&ix, out, paths);
}

/* Every client and referral of the logs against the folded state: the
 * referral's parties and status; the client's coordinator, term and plan,
 * whether it is in services, its consent active, the length of its
 * timeline. The number found wrong. */
static size_t check_each(const fold_idx *x, const rb_logs *l)
{
    size_t wrong = 0;
    for (size_t i = 0; i < l->n_refs; i++) {
        const rb_referral *e = &l->refs[i];
        const cl_referral *r = cl_referral_find(x->cl, e->id);
        wrong += !r || !r->requested || r->status != e->status ||
                 strcmp(cl_name(x->cl, r->from), l->agent[e->from].org) ||
                 strcmp(cl_name(x->cl, r->to), l->agent[e->to].org);
    }
    for (size_t i = 0; i < l->n_clients; i++) {
        const rb_client *c = &l->clients[i];
        path_view v;
        json_t *j = cl_client_json(x->cl, c->key, l->t0_ms, NULL);
        size_t len = json_array_size(json_object_get(j, "timeline"));
        json_decref(j);
        wrong += !pi_view(x->pi, c->key, &v) || v.term != c->term ||
                 strcmp(v.coordinator, l->agent[c->coordinator].org) ||
                 v.has_plan != c->has_plan ||
                 cl_in_services(x->cl, c->key) != c->in_services ||
                 ci_consent_active(x->ci, c->consent, l->t0_ms) != 1 ||
                 len != (c->timeline < CL_TIMELINE_MAX ? c->timeline
                                                       : CL_TIMELINE_MAX);
    }
    return wrong;
}

/* The folded state against what the logs hold: counts, the applied seqs,
 * and with each, every client and referral. 0 or -1 (said why). */
static int check_fold(const fold_idx *x, const rb_logs *l, const char *what,
                      bool each)
{
    const rb_expect *e = &l->expect;
    size_t got[5] = {cl_count_clients(x->cl), ci_count(x->ci),
                     pi_coordinated(x->pi), cl_count_referrals(x->cl),
                     cl_count_open(x->cl)};
    size_t want[5] = {e->clients, e->consents, e->paths, e->referrals, e->open};
    const char *names[5] = {"clients", "consents", "coordinated paths",
                            "referrals", "open referrals"};
    int rc = x->bad || x->refused || hb_count(x->held) ? -1 : 0;
    if (x->bad)
        fprintf(stderr, "%s: %llu frames or events do not decode\n", what,
                x->bad);
    if (x->refused)
        fprintf(stderr, "%s: %llu events refused by the writer rules:\n", what,
                x->refused);
    for (int i = 0; i < REASONS && x->why[i]; i++)
        fprintf(stderr, "  %llu: %s\n", x->why_n[i], x->why[i]);
    if (hb_count(x->held))
        fprintf(stderr, "%s: %zu events still held back\n", what,
                hb_count(x->held));
    for (int i = 0; i < 5; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "%s: %zu %s folded, the logs hold %zu\n", what,
                    got[i], names[i], want[i]);
            rc = -1;
        }
    for (int a = 0; a < RB_ORGS; a++)
        if (pi_contiguous(x->pi, l->agent[a].org) != l->agent[a].seq) {
            fprintf(stderr, "%s: %s applied up to seq %llu of %llu\n", what,
                    l->agent[a].org,
                    (unsigned long long)pi_contiguous(x->pi, l->agent[a].org),
                    (unsigned long long)l->agent[a].seq);
            rc = -1;
        }
    size_t wrong = each ? check_each(x, l) : 0;
    if (wrong) {
        fprintf(stderr, "%s: %zu clients or referrals folded wrong\n", what,
                wrong);
        rc = -1;
    }
    return rc;
}

/* ---------------------------------------------------------- measures */

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct mem {
    double heap, rss; /* bytes */
} mem;

/* Free memory goes back to the system first, so RSS counts what is in
 * use. heap: malloc's chunks in use plus its mmap'ed blocks. */
static mem mem_now(void)
{
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    mem m = {(double)(mi.uordblks + mi.hblkhd), 0};
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%lu %lu", &size, &resident) == 2)
        m.rss = (double)resident * (double)sysconf(_SC_PAGESIZE);
    if (f)
        fclose(f);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static const char *met(bool ok)
{
    return ok ? "met" : "NOT met";
}

/* ---------------------------------------------------------- memory */

static void mem_row(const char *what, size_t n, mem before, mem after)
{
    printf("  %-44s %8zu %12.0f %12.0f\n", what, n,
           (after.heap - before.heap) / (double)n,
           (after.rss - before.rss) / (double)n);
}

static int run_memory(const opts *o)
{
    rb_logs l;
    fold_idx x;
    size_t n = o->clients, marks[4][RB_ORGS], zero[RB_ORGS] = {0};
    uint8_t(*keys)[16] = malloc(n * sizeof *keys);
    if (!keys)
        return -1;
    randombytes_buf(keys, n * sizeof *keys);
    rb_logs_init(&l, 1767225600000ull, g_claim_key);
    memcpy(marks[0], zero, sizeof zero);
    int rc = rb_write_consents(&l, keys, n);
    for (int a = 0; a < RB_ORGS; a++)
        marks[1][a] = l.agent[a].n_frames;
    rc = rc || rb_write_claims(&l, keys, n);
    for (int a = 0; a < RB_ORGS; a++)
        marks[2][a] = l.agent[a].n_frames;
    rc = rc || rb_write_open_referrals(&l, keys, n, o->per_client);
    for (int a = 0; a < RB_ORGS; a++)
        marks[3][a] = l.agent[a].n_frames;
    free(keys);
    if (rc || idx_new(&x, &g_dir, g_claim_key)) {
        fprintf(stderr, "memory: out of memory writing the logs\n");
        rb_logs_fini(&l);
        return -1;
    }
    mem m[4];
    m[0] = mem_now();
    for (int step = 0; step < 3; step++) {
        replay(&l, marks[step], marks[step + 1], PASS_FOLD, &x, true);
        m[step + 1] = mem_now();
    }
    rc = check_fold(&x, &l, "memory", true);
    size_t refs = n * o->per_client;
    if (rc == 0) {
        printf("\n  memory: %zu clients of %d orgs, then %zu open referrals "
               "(%llu events);\n  heap = malloc's in use (mallinfo2), RSS "
               "from /proc/self/statm, each after malloc_trim\n",
               n, RB_ORGS, refs, l.events);
        printf("  %-44s %8s %12s %12s\n", "step (folded on the previous)",
               "count", "heap B/each", "RSS B/each");
        mem_row("consent granted (the client becomes known)", n, m[0], m[1]);
        mem_row("path claimed and won (a path)", n, m[1], m[2]);
        mem_row("referral requested + received (open)", refs, m[2], m[3]);
        mem_row("= per path, all in (consent, client, path)", n, m[0], m[2]);
        double heap = (m[3].heap - m[2].heap) / (double)refs;
        double rss = (m[3].rss - m[2].rss) / (double)refs;
        printf("  target <= %.0f B per open referral: heap %.0f B %s, "
               "RSS %.0f B %s\n",
               TARGET_BYTES_PER_OPEN, heap, met(heap <= TARGET_BYTES_PER_OPEN),
               rss, met(rss <= TARGET_BYTES_PER_OPEN));
    }
    idx_free(&x);
    rb_logs_fini(&l);
    return rc;
}

/* ---------------------------------------------------------- rebuild */

static int run_rebuild(const opts *o)
{
    rb_logs l;
    size_t from[RB_ORGS] = {0}, to[RB_ORGS];
    double t = now_s(CLOCK_MONOTONIC);
    rb_logs_init(&l, 1767225600000ull, g_claim_key);
    if (rb_write_stories(&l, o->events)) {
        fprintf(stderr, "rebuild: out of memory writing the logs\n");
        rb_logs_fini(&l);
        return -1;
    }
    for (int a = 0; a < RB_ORGS; a++)
        to[a] = l.agent[a].n_frames;
    printf("\n  rebuild: %d agents, %llu events (%.0f B each on average), "
           "%llu frames (ReplayBatch >= %d KiB),\n  %zu clients, %zu "
           "referrals (%zu open); written in %.1f s (untimed)\n",
           RB_ORGS, l.events, (double)l.event_bytes / (double)l.events,
           l.frames, RB_FRAME_BYTES / 1024, l.expect.clients,
           l.expect.referrals, l.expect.open, now_s(CLOCK_MONOTONIC) - t);

    double wall[N_PASSES][MAX_ROUNDS], cpu[N_PASSES][MAX_ROUNDS];
    char digest[65] = "", paths[65] = "", udigest[65] = "", adigest[65] = "";
    mem before = {0, 0}, after = {0, 0};
    unsigned long long held_max = 0, held_max_by_agent = 0, origin_max = 0;
    int rc = 0;
    for (int r = 0; r < o->rounds && rc == 0; r++)
        for (int k = 0; k < N_PASSES && rc == 0; k++) {
            pass p = (pass)((k + r) % N_PASSES); /* the order rotates */
            fold_idx x;
            if (idx_new(&x, &g_dir, g_claim_key)) {
                rc = -1;
                break;
            }
            double w0 = now_s(CLOCK_MONOTONIC);
            double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
            replay(&l, from, to, p, &x, true);
            cpu[p][r] = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            wall[p][r] = now_s(CLOCK_MONOTONIC) - w0;
            if (x.events != l.events || x.bad) {
                fprintf(stderr, "%s: read %llu events of %llu, %llu bad\n",
                        pass_names[p], x.events, l.events, x.bad);
                rc = -1;
            }
            if (p == PASS_UNGATED && !udigest[0]) {
                char pd[65];
                state_digest(&x, udigest, pd);
            }
            if (p == PASS_AHEAD) { /* the same state, every round */
                char d[65], pd[65];
                rc = rc || check_fold(&x, &l, "rebuild decoded ahead", false);
                state_digest(&x, d, pd);
                if (!adigest[0]) {
                    memcpy(adigest, d, sizeof d);
                } else if (strcmp(d, adigest) != 0) {
                    fprintf(stderr, "decoded ahead, round %d: digest %s, "
                            "before: %s\n", r + 1, d, adigest);
                    rc = -1;
                }
            }
            if (p == PASS_FOLD) {
                char d[65], pd[65];
                rc = rc || check_fold(&x, &l, "rebuild", r == 0);
                state_digest(&x, d, pd);
                if (r == 0) {
                    memcpy(digest, d, sizeof d);
                    memcpy(paths, pd, sizeof pd);
                } else if (strcmp(d, digest) != 0) {
                    fprintf(stderr, "round %d: digest %s, round 1: %s\n", r + 1,
                            d, digest);
                    rc = -1;
                }
            }
            if (x.held_max > held_max)
                held_max = x.held_max;
            idx_free(&x);
        }
    if (rc == 0 && strcmp(adigest, digest) != 0) {
        fprintf(stderr, "decoded ahead: digest %s, on one thread: %s\n",
                adigest, digest);
        rc = -1;
    }
    if (rc == 0 && strcmp(udigest, digest) != 0) {
        fprintf(stderr, "fold_apply alone: digest %s, through the gate: %s\n",
                udigest, digest);
        rc = -1;
    }
    fold_idx x; /* once more, agent by agent: the same state (invariant 1);
                   untimed, so the memory it takes is measured here */
    if (rc == 0 && idx_new(&x, &g_dir, g_claim_key) == 0) {
        char d[65], pd[65];
        before = mem_now();
        replay(&l, from, to, PASS_FOLD, &x, false);
        after = mem_now();
        rc = check_fold(&x, &l, "rebuild, agent by agent", false);
        held_max_by_agent = x.held_max;
        origin_max = x.held_origin_max;
        state_digest(&x, d, pd);
        if (strcmp(d, digest) != 0) {
            fprintf(stderr, "agent by agent: digest %s, round robin: %s\n", d,
                    digest);
            rc = -1;
        }
        idx_free(&x);
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc) {
        rb_logs_fini(&l);
        return -1;
    }

    double ev = (double)l.events, rate[N_PASSES];
    printf("  %-44s %8s %12s %12s\n",
           "pass (median of the rounds, interleaved)", "wall s", "events/s",
           "CPU ns/ev");
    for (int p = 0; p < N_PASSES; p++) {
        double w = median(wall[p], o->rounds);
        rate[p] = ev / w;
        printf("  %-44s %8.3f %12.0f %12.0f\n", pass_names[p], w, rate[p],
               median(cpu[p], o->rounds) / ev * 1e9);
    }
    printf("  fold = %.2fx the decode floor's time, %.2fx decode + "
           "validate's, %.2fx fold_apply only's\n",
           rate[PASS_RAW] / rate[PASS_FOLD],
           rate[PASS_DECODE] / rate[PASS_FOLD],
           rate[PASS_UNGATED] / rate[PASS_FOLD]);
    printf("  events held back (waiting for another log) at most %llu at "
           "once, %llu agent by agent (%llu of one log; bound %d a log); "
           "none refused\n",
           held_max, held_max_by_agent, origin_max, HB_HELD_PER_ORIGIN_MAX);
    printf("  target >= %.0f events/s rebuilt: fold %.0f events/s %s; "
           "decoded ahead on a second thread as the broker does, %.0f "
           "events/s %s\n",
           TARGET_EVENTS_PER_S, rate[PASS_FOLD],
           met(rate[PASS_FOLD] >= TARGET_EVENTS_PER_S), rate[PASS_AHEAD],
           met(rate[PASS_AHEAD] >= TARGET_EVENTS_PER_S));
    printf("  state after the fold: heap %.1f MB (%.0f B per client), RSS "
           "%.1f MB\n",
           (after.heap - before.heap) / 1e6,
           (after.heap - before.heap) / (double)l.expect.clients,
           (after.rss - before.rss) / 1e6);
    printf("  digest %s\n  paths_digest %s\n  (as /api/v1/stats: the same "
           "in all %d rounds and folded agent by agent)\n",
           digest, paths, o->rounds);
    fflush(stdout);
    rc = o->region ? rr_run(&l, digest, paths) : 0;
    rb_logs_fini(&l);
    return rc;
}

/* ---------------------------------------------------------- main */

static opts g_opts;

/* --region: the logs are written for the region's broker (its claim
 * key), folded in process, then rebuilt by the real processes. */
static void region_case(void)
{
    rr_prepare(g_claim_key);
    H_CHECK(run_rebuild(&g_opts) == 0, "the rebuild ran and was right");
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--short] [--events N] [--clients N] "
            "[--per-client N] [--rounds N] [--region]\n",
            argv0);
    return 2;
}

static bool num_arg(int argc, char **argv, int *i, unsigned long long min,
                    unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    if (*i + 1 >= argc)
        return false;
    unsigned long long v = strtoull(argv[++*i], &end, 10);
    if (!end || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    opts o = {.events = 1000000,
              .clients = 100000,
              .per_client = 2,
              .rounds = 3,
              .label = "default"};
    unsigned long long v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--short") == 0) {
            o.events = 100000;
            o.clients = 10000;
            o.label = "--short";
        } else if (strcmp(argv[i], "--events") == 0 &&
                   num_arg(argc, argv, &i, 1000, 100000000, &v)) {
            o.events = v;
        } else if (strcmp(argv[i], "--clients") == 0 &&
                   num_arg(argc, argv, &i, 100, 10000000, &v)) {
            o.clients = (size_t)v;
        } else if (strcmp(argv[i], "--per-client") == 0 &&
                   num_arg(argc, argv, &i, 1, 16, &v)) {
            o.per_client = (size_t)v;
        } else if (strcmp(argv[i], "--region") == 0) {
            o.region = true;
        } else if (strcmp(argv[i], "--rounds") == 0 &&
                   num_arg(argc, argv, &i, 1, MAX_ROUNDS, &v)) {
            o.rounds = (int)v;
        } else {
            return usage(argv[0]);
        }
    }
    if (sodium_init() < 0)
        return 1;
    directory_init(&g_dir);
    randombytes_buf(g_claim_key, sizeof g_claim_key);
    char when[32];
    time_t now = time(NULL);
    struct utsname u;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    uname(&u);
    printf("rebuild_bench (%s run), %s, %s %s %s, host %s, %ld cores\n",
           o.label, when, u.sysname, u.release, u.machine, u.nodename,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  build %s (%s), events %llu, memory clients %zu x %zu open "
           "referrals, %d rounds\n",
           POLKU_BUILD_TYPE, POLKU_BUILD_FLAGS, o.events, o.clients,
           o.per_client, o.rounds);
    fflush(stdout);
    if (o.region) {
        /* One log line per replayed frame at info would be timed too. */
        setenv("POLKU_IT_LOG_LEVEL", "warn", 0);
        setenv("POLKU_IT_DEADLINE", "900", 0);
        char *args[] = {argv[0], NULL};
        g_opts = o;
        h_init(1, args, "rebuild_bench");
        h_run_case("rebuild_region", region_case);
        return h_finish();
    }
    if (run_memory(&o) || run_rebuild(&o)) {
        fprintf(stderr, "rebuild_bench: the fold is wrong or the run "
                        "failed: no figures\n");
        return 1;
    }
    return 0;
}
