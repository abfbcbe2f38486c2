/* alerts_bench.c — what the broker's alerts tick costs with many open
 * referrals: the full walk against the incremental tick (broker/alerts.c).
 *
 * Why it exists: the broker evaluates its alerts every 500 ms. A walk over
 * every referral is O(all referrals) and at a region's million open
 * referrals would take the broker's one loop; the incremental tick looks
 * only at the clients an event was folded for, those whose alert holds and
 * those whose next threshold has come. This folds N open referrals (one
 * client each, 20 organisations; one in 1 000 overdue, so alerts hold),
 * then measures in one process, no sockets:
 *   - the full walk (alerts_evaluate), CPU ms per tick;
 *   - alerts_tick: its first tick (a full walk that also schedules every
 *     client), then ticks each after K new status events (a busy region's
 *     500 ms: K = 500 is 1 000 events/s), CPU ms per tick and clients
 *     looked at; the schedule's entries.
 * The alerts of both are checked equal at the end; a difference exits 1.
 * bench/README.md says how to run it. Not a ctest entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "fold.h"
#include "polku/codec.h"

#define ORGS 20
#define T0 1765000000000ull
#define DAY 86400000ull

static char org_names[ORGS][16];
static uint64_t org_seq[ORGS];

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void id_of(uint8_t tag, uint64_t n, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = tag;
    for (int i = 0; i < 8; i++)
        out[15 - i] = (uint8_t)(n >> (8 * i));
}

static void envelope(polku_envelope *e, unsigned org, uint8_t key[16],
                     char **to, uint64_t t)
{
    polku__envelope__init(e);
    e->version = POLKU_PROTOCOL_VERSION;
    e->origin_org = org_names[org];
    e->origin_seq = ++org_seq[org];
    e->client_key = (ProtobufCBinaryData){16, key};
    e->time_ms = t;
    e->to = to;
    e->n_to = 1;
}

/* Referral n: from org n % ORGS to the next, for client n, at t. */
static void fold_requested(const broker_indexes *x, uint64_t n, uint64_t t)
{
    uint8_t key[16], rid[16];
    id_of(0xc1, n, key);
    id_of(0x5e, n, rid);
    unsigned from = (unsigned)(n % ORGS), to = (from + 1) % ORGS;
    char *dest[1] = {org_names[to]};
    polku_envelope e;
    envelope(&e, from, key, dest, t);
    Polku__ReferralRequested q;
    polku__referral_requested__init(&q);
    q.referral_id = (ProtobufCBinaryData){16, rid};
    q.service = "palvelu";
    q.due_ms = t + 14 * DAY;
    e.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    e.referral_requested = &q;
    fold_apply(x, &e);
}

/* The receiver's status of referral n (version v). */
static void fold_status(const broker_indexes *x, uint64_t n,
                        Polku__ReferralState st, uint32_t v, uint64_t t)
{
    uint8_t key[16], rid[16];
    id_of(0xc1, n, key);
    id_of(0x5e, n, rid);
    unsigned from = (unsigned)(n % ORGS), to = (from + 1) % ORGS;
    char *dest[1] = {org_names[from]};
    polku_envelope e;
    envelope(&e, to, key, dest, t);
    Polku__ReferralStatus s;
    polku__referral_status__init(&s);
    s.referral_id = (ProtobufCBinaryData){16, rid};
    s.status = st;
    s.version = v;
    s.writer_org = org_names[to];
    e.body_case = POLKU__ENVELOPE__BODY_REFERRAL_STATUS;
    e.referral_status = &s;
    fold_apply(x, &e);
}

static void count(const char *topic, const json_t *alert, void *arg)
{
    (void)topic;
    (void)alert;
    ++*(size_t *)arg;
}

int main(int argc, char **argv)
{
    uint64_t n = 100000;
    unsigned ticks = 20, per_tick = 500, overdue = 1000; /* 1 in 1000 */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--referrals") == 0 && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc)
            ticks = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            per_tick = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--overdue-one-in") == 0 && i + 1 < argc)
            overdue = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: alerts_bench [--referrals N] [--ticks N] "
                            "[--events PER_TICK] [--overdue-one-in N]\n");
            return 2;
        }
    }
    if (n < 100 || n > 50000000 || ticks == 0 || overdue == 0) {
        fprintf(stderr,
                "alerts_bench: --referrals 100..50000000, --ticks >0\n");
        return 2;
    }
    for (unsigned i = 0; i < ORGS; i++)
        snprintf(org_names[i], sizeof org_names[i], "org-%02u", i);
    broker_indexes x = {ci_new(), pi_new(), cl_new(), NULL};
    broker_sla sla = {2 * DAY, 5 * DAY, 7 * DAY, 2 * DAY, 3 * DAY};
    /* one in `overdue` requested 3 days ago (their alerts hold), the rest
     * over the last day; every referral open */
    double t = cpu_ms();
    for (uint64_t i = 0; i < n; i++)
        fold_requested(&x, i,
                       i % overdue == 0 ? T0 - 3 * DAY : T0 - DAY + i % DAY);
    printf("alerts_bench: %llu open referrals folded in %.0f ms CPU\n",
           (unsigned long long)n, cpu_ms() - t);
    alert_set *full = alerts_new(), *tick = alerts_new();
    alert_inputs in = {.clients = x.clients,
                       .paths = x.paths,
                       .consents = x.consents,
                       .sla = &sla,
                       .changed_clients = x.clients,
                       .changed_consents = x.consents};
    uint64_t now = T0;
    size_t changes = 0;
    t = cpu_ms();
    alerts_evaluate(full, &in, now, count, &changes);
    double first_full = cpu_ms() - t;
    t = cpu_ms();
    alerts_tick(tick, &in, now, count, &changes);
    double first_tick = cpu_ms() - t;
    printf("  alerts holding: %zu; first tick (walks and schedules every "
           "client): %.1f ms CPU, %zu thresholds scheduled\n",
           alerts_count(full), first_tick, alerts_scheduled(tick));
    double walk = 0, inc = 0;
    size_t looked = 0;
    uint64_t next = 1; /* the next referral to be received */
    for (unsigned k = 0; k < ticks; k++) {
        now += 500;
        for (unsigned e = 0; e < per_tick; e++, next = (next + 7919) % n)
            fold_status(&x, next, POLKU__REFERRAL_STATE__REFERRAL_RECEIVED,
                        1 + (uint32_t)k, now - 10);
        t = cpu_ms();
        alerts_evaluate(full, &in, now, count, &changes);
        walk += cpu_ms() - t;
        t = cpu_ms();
        alerts_tick(tick, &in, now, count, &changes);
        inc += cpu_ms() - t;
        looked += alerts_last_looked(tick);
    }
    /* the safety net: a full walk that schedules everyone again (every
     * 60 s and after a reload) */
    alerts_walk_all(tick);
    t = cpu_ms();
    alerts_tick(tick, &in, now + 1, count, &changes);
    alerts_evaluate(full, &in, now + 1, count, &changes);
    double safety = cpu_ms() - t;
    t = cpu_ms();
    alerts_evaluate(full, &in, now + 1, count, &changes);
    safety -= cpu_ms() - t; /* the tick's part alone */
    printf("  the 60 s full walk of alerts_tick (rescheduling all): %.1f ms "
           "CPU\n",
           safety);
    json_t *a = alerts_json(full), *b = alerts_json(tick);
    bool same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    printf("  full walk (alerts_evaluate): %.2f ms CPU per tick (first %.1f)\n"
           "  incremental (alerts_tick):   %.3f ms CPU per tick, %zu clients "
           "looked at per tick, %u status events folded before each\n"
           "  ratio %.0fx; tick CPU at 2 ticks/s: full walk %.1f %%, "
           "incremental %.3f %% of a core\n",
           walk / ticks, first_full, inc / ticks, looked / ticks, per_tick,
           inc > 0 ? walk / inc : 0.0, walk / ticks * 2 / 10,
           inc / ticks * 2 / 10);
    printf("  alerts equal: %s (%zu)\n", same ? "yes" : "NO",
           alerts_count(tick));
    alerts_free(&full);
    alerts_free(&tick);
    cl_destroy(&x.clients);
    pi_destroy(&x.paths);
    ci_destroy(&x.consents);
    return same ? 0 : 1;
}
