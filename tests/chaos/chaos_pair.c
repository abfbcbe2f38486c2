/* chaos_pair — load across five agents while the active broker of a pair
 * (broker/ha.h) dies again and again: nothing lost, nothing applied twice,
 * one coordinator per path, and routing back within 5 s of each death.
 *
 * Five organisations with their agents, a primary and a backup broker with
 * the same key; every agent lists both. A pool of clients with consents to
 * all five; half of them coordinated at the start, the other half left for
 * claim races. One request after another the home organisations refer
 * their clients to the others; receivers accept or reject; coordinators
 * offer handovers and the receivers answer. Meanwhile, a second or two
 * apart, the active broker is killed (SIGKILL) or frozen (SIGSTOP), at
 * random (the second death is the kind the first was not) — while three organisations race to claim an unclaimed path (the
 * claims are sent by a child process, so the kill lands among them). The
 * other broker must take over: the test measures the gap from the death
 * until the new active one has every agent connected and replayed (it
 * routes for everyone again). A killed broker is started again after a
 * moment; a frozen one is woken once the other took over — it must stop by
 * itself (exit 1: it cannot know what was decided meanwhile) and is then
 * started again. Either way it must come back passive.
 *
 * At the end, quiet: every referral a sender's API answered 201 for is at
 * its receiver exactly once, statuses agree, every coordinated path —
 * raced ones included — has exactly one organisation that sees itself as
 * coordinator, the one the active broker names; and the active broker's
 * path digest equals that of a fresh rebuild (the active killed once more:
 * the other rebuilds from the agents by replay). It prints the gaps
 * (min/p50/max) and, last, `lost=N duplicated=N`.
 *
 * Size: POLKU_CHAOS_PAIR_N referrals (default 4000, divided by the square
 * of the harness scale under sanitizers: about 450 under ASan) and between
 * POLKU_CHAOS_PAIR_FAILOVERS deaths (default 6) and twice that. Soak:
 * POLKU_CHAOS_PAIR_SECONDS=3600 keeps going (and killing) for that long.
 * POLKU_CHAOS_SEED repeats a run. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_pair.h"

enum { ORGS = 5, CLIENTS = 200, MAX_GAPS = 4096, RACERS = 3 };

/* routing must be back within this long after the active broker's death
 * (under the sanitizers, which slow the rebuild by replay, scaled with
 * h_scale: the bound is shown in release builds) */
#define RESUME_LIMIT_MS 5000

static const char *const org_ids[ORGS] = {"sote-kokkola", "tyokykytiimi",
                                          "kela", "typ-kokkola",
                                          "tyollisyys-kokkola"};

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

typedef struct client {
    char key[33];
    int home;
    bool coordinated; /* claimed at the start, or raced for */
} client;

typedef struct sent {
    char id[64];
    int from, to;
} sent;

/* Where the pair is in a death's cycle. */
typedef enum phase {
    RUNNING,   /* a active, b passive */
    FAILING,   /* a dead or frozen; waiting for b to route for everyone */
    WAIT_EXIT, /* a frozen one woken: waiting for it to stop by itself */
    DOWN,      /* a stopped; started again at restart_at */
} phase;

typedef struct chaos {
    h_pair pair;
    h_org *org[ORGS];
    client clients[CLIENTS];
    int next_unclaimed;
    sent *sent;
    size_t n_sent, cap_sent;
    phase ph;
    bool frozen; /* this death is a SIGSTOP */
    uint64_t death_ms, next_chaos_ms, restart_at_ms, next_poll_ms;
    int kills, stops;
    uint64_t gaps[MAX_GAPS];
    int n_gaps;
    int max_deaths; /* then the load goes on without (unless soak) */
    bool soak;
    pid_t racer; /* the child sending a claim race, 0 none */
    int races, race_failures, race_wins;
    long refused, answers, offers, offer_refusals, handover_answers;
} chaos;

/* ------------------------------------------------------------ the pair */

static bool broker_usable(const chaos *c)
{
    return c->ph == RUNNING;
}

/* side routes for everyone: active, every org connected and replayed */
static bool routes_for_all(h_region *side)
{
    json_t *h = h_broker_health(side);
    if (!h)
        return false;
    json_t *ha = json_object_get(h, "ha");
    bool ok = strcmp(hc_str(ha, "state"), "active") == 0 &&
              json_array_size(json_object_get(h, "connected")) == ORGS &&
              json_array_size(json_object_get(h, "replayed")) == ORGS;
    json_decref(h);
    return ok;
}

static void reap_racer(chaos *c)
{
    if (c->racer <= 0)
        return;
    int st = 0;
    while (waitpid(c->racer, &st, 0) < 0)
        ;
    c->racer = 0;
    if (!WIFEXITED(st) || (WEXITSTATUS(st) & 0x10)) {
        if (c->race_failures++ == 0)
            h_note("a claim race had an unexpected answer (status %d)", st);
    } else {
        c->race_wins += WEXITSTATUS(st) & 0x0f;
    }
}

/* In a child: RACERS organisations claim the path of client key at once.
 * Exit code: the number of 201 answers, | 0x10 if an answer was none of
 * 201 (won), 202 (pending: decided later), 409 (another coordinates). */
static pid_t start_race(chaos *c, const char *key)
{
    hc_req reqs[RACERS];
    int first = (int)rnd_below(ORGS);
    for (int i = 0; i < RACERS; i++) {
        h_org *o = c->org[(first + i) % ORGS];
        json_t *body = json_pack("{s:{s:s}}", "client", "key", key);
        hc_req_set(&reqs[i], o, "POST", "/v1/paths", body);
    }
    unsigned delay_us = rnd_below(30000);
    fflush(stdout);
    pid_t pid = fork();
    H_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        usleep(delay_us);
        hc_concurrent(reqs, RACERS);
        int won = 0, odd = 0;
        for (int i = 0; i < RACERS; i++) {
            long st = reqs[i].resp.status;
            won += st == 201;
            odd |= st != 201 && st != 202 && st != 409;
            h_resp_free(&reqs[i].resp);
        }
        _exit(won | (odd ? 0x10 : 0));
    }
    for (int i = 0; i < RACERS; i++)
        free(reqs[i].body);
    return pid;
}

/* The active broker dies (killed or frozen) while a claim race runs. */
static void strike(chaos *c)
{
    h_region *a = c->pair.a;
    reap_racer(c);
    if (c->next_unclaimed < CLIENTS) {
        client *cl = &c->clients[c->next_unclaimed];
        c->next_unclaimed += 2;
        cl->coordinated = true;
        c->racer = start_race(c, cl->key);
        c->races++;
    }
    usleep(rnd_below(40000));
    /* kill or freeze at random, but the second death is the kind the
     * first was not: a run of any length then tries both */
    if (c->kills + c->stops == 1)
        c->frozen = c->kills == 1;
    else
        c->frozen = rnd_below(2) == 0;
    c->death_ms = h_now_ms();
    if (c->frozen) {
        a->broker.expect_alive = false; /* it is to stop by itself later */
        H_REQUIRE(kill(a->broker.pid, SIGSTOP) == 0, "SIGSTOP the broker");
        c->stops++;
    } else {
        h_proc_kill(&a->broker);
        c->kills++;
    }
    c->ph = FAILING;
}

static void chaos_step(chaos *c)
{
    uint64_t now = h_now_ms();
    h_region *a = c->pair.a, *b = c->pair.b;
    switch (c->ph) {
    case RUNNING:
        if (now >= c->next_chaos_ms &&
            (c->soak || c->kills + c->stops < c->max_deaths))
            strike(c);
        return;
    case FAILING:
        if (now < c->next_poll_ms)
            return;
        c->next_poll_ms = now + 25;
        if (!routes_for_all(b)) {
            H_REQUIRE(now - c->death_ms < 60000,
                      "the other broker routes for everyone within 60 s of "
                      "the %s",
                      c->frozen ? "freeze" : "kill");
            return;
        }
        if (c->n_gaps < MAX_GAPS)
            c->gaps[c->n_gaps++] = now - c->death_ms;
        if (c->frozen) {
            kill(a->broker.pid, SIGCONT);
            c->ph = WAIT_EXIT;
        } else {
            c->ph = DOWN;
            c->restart_at_ms = now + 100 + rnd_below(900);
        }
        return;
    case WAIT_EXIT:
        if (h_proc_running(&a->broker)) {
            H_REQUIRE(now - c->death_ms < 60000,
                      "the woken broker to stop by itself");
            return;
        }
        H_CHECK(WIFEXITED(a->broker.last_status) &&
                    WEXITSTATUS(a->broker.last_status) == 1,
                "a woken active broker exits 1 (status %d)",
                a->broker.last_status);
        c->ph = DOWN;
        c->restart_at_ms = now + rnd_below(500);
        return;
    case DOWN: {
        if (now < c->restart_at_ms)
            return;
        h_broker_start(a);
        char st[32] = "";
        H_WAIT_UNTIL(H_SEC(10),
                     strcmp(h_pair_state(a, st, sizeof st), "passive") == 0,
                     "the restarted broker to be passive (it is %s)", st);
        h_pair_swap(&c->pair); /* a: the active one again */
        c->ph = RUNNING;
        c->next_chaos_ms = now + 300 + rnd_below(1200);
        return;
    }
    }
}

/* ------------------------------------------------------------------ load */

static void record_sent(chaos *c, const char *id, int from, int to)
{
    if (c->n_sent == c->cap_sent) {
        c->cap_sent = c->cap_sent ? 2 * c->cap_sent : 1024;
        c->sent = realloc(c->sent, c->cap_sent * sizeof *c->sent);
        H_REQUIRE(c->sent, "out of memory");
    }
    sent *s = &c->sent[c->n_sent++];
    snprintf(s->id, sizeof s->id, "%s", id);
    s->from = from;
    s->to = to;
}

static void refer_one(chaos *c, unsigned i)
{
    client *cl = &c->clients[i % CLIENTS];
    int to = (cl->home + 1 + (int)rnd_below(ORGS - 1)) % ORGS;
    char id[64];
    h_resp resp;
    long st = h_referral_create(c->org[cl->home], cl->key, org_ids[to], NULL,
                                "chaos", id, &resp);
    if (st == 201)
        record_sent(c, id, cl->home, to);
    else if (c->refused++ == 0)
        h_note("first refused referral at %s: HTTP %ld %s", org_ids[cl->home],
               st, hc_body(&resp));
    h_resp_free(&resp);
}

static void answer_some(chaos *c)
{
    int o = (int)rnd_below(ORGS);
    h_resp resp;
    if (h_api(c->org[o], "GET",
              "/v1/referrals?direction=in&status=received&limit=10", NULL,
              &resp) != 200 ||
        !resp.json) {
        h_resp_free(&resp);
        return;
    }
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(resp.json, "referrals"), k, it)
    {
        unsigned dice = rnd_below(10);
        if (dice >= 8)
            continue;
        h_resp ans;
        long st = h_referral_set_status(c->org[o], hc_str(it, "id"),
                                        dice < 6 ? "accepted" : "rejected",
                                        dice < 6 ? NULL : "chaos", NULL, &ans);
        H_CHECK(st == 200, "%s answering %s: HTTP %ld %s", org_ids[o],
                hc_str(it, "id"), st, hc_body(&ans));
        h_resp_free(&ans);
        c->answers++;
    }
    h_resp_free(&resp);
}

static void handover_some(chaos *c)
{
    client *cl = &c->clients[rnd_below(CLIENTS)];
    if (cl->coordinated && broker_usable(c)) {
        char coord[64];
        hc_coordinator_at_broker(c->pair.a, cl->key, coord, sizeof coord);
        for (int o = 0; o < ORGS; o++) {
            if (strcmp(coord, org_ids[o]) != 0)
                continue;
            int to = (o + 1 + (int)rnd_below(ORGS - 1)) % ORGS;
            char id[64];
            h_resp resp;
            long st = hc_offer(c->org[o], cl->key, org_ids[to], id, &resp);
            if (st == 201)
                c->offers++;
            else
                c->offer_refusals++;
            H_CHECK(st == 201 || st == 403 || st == 409 || st == 503,
                    "offer by %s: HTTP %ld %s", org_ids[o], st, hc_body(&resp));
            h_resp_free(&resp);
        }
    }
    int o = (int)rnd_below(ORGS);
    json_t *offers = hc_handover_list(c->org[o], "in", "offered");
    size_t k;
    json_t *it;
    json_array_foreach(offers, k, it)
    {
        const char *verb = rnd_below(10) < 7 ? "accept" : "decline";
        h_resp resp;
        long st =
            hc_handover_act(c->org[o], hc_str(it, "id"), verb, "chaos", &resp);
        H_CHECK(st == 200 || st == 409, "%s %s: HTTP %ld %s", org_ids[o], verb,
                st, hc_body(&resp));
        h_resp_free(&resp);
        c->handover_answers++;
    }
    json_decref(offers);
}

/* ---------------------------------------------------------------- checks */

static json_t *statuses(h_org *o, const char *direction, long *dups)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/referrals?direction=%s&limit=100000",
             direction);
    h_resp resp;
    if (h_api(o, "GET", path, NULL, &resp) != 200 || !resp.json) {
        h_resp_free(&resp);
        return NULL;
    }
    json_t *map = json_object();
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(resp.json, "referrals"), k, it)
    {
        const char *id = hc_str(it, "id");
        if (json_object_get(map, id))
            (*dups)++;
        json_object_set_new(map, id, json_string(hc_str(it, "status")));
    }
    h_resp_free(&resp);
    return map;
}

typedef struct tally {
    long lost, duplicated, phantom, unacked, mismatched;
    char example[160];
} tally;

static void count(chaos *c, tally *t)
{
    memset(t, 0, sizeof *t);
    json_t *in[ORGS], *out[ORGS];
    for (int o = 0; o < ORGS; o++) {
        in[o] = statuses(c->org[o], "in", &t->duplicated);
        out[o] = statuses(c->org[o], "out", &t->duplicated);
        H_REQUIRE(in[o] && out[o], "listing the referrals at %s", org_ids[o]);
    }
    json_t *sent_ids = json_object();
    for (size_t i = 0; i < c->n_sent; i++) {
        const sent *s = &c->sent[i];
        json_object_set_new(sent_ids, s->id, json_true());
        const char *at_to =
            json_string_value(json_object_get(in[s->to], s->id));
        const char *at_from =
            json_string_value(json_object_get(out[s->from], s->id));
        if (!at_to && t->lost++ == 0)
            snprintf(t->example, sizeof t->example,
                     "%s (%s -> %s) is not at its receiver", s->id,
                     org_ids[s->from], org_ids[s->to]);
        if (!at_from)
            t->unacked++;
        if (at_to && at_from && strcmp(at_to, at_from) != 0 &&
            t->mismatched++ == 0)
            snprintf(t->example, sizeof t->example,
                     "%s is %s at %s but %s at %s", s->id, at_from,
                     org_ids[s->from], at_to, org_ids[s->to]);
    }
    for (int o = 0; o < ORGS; o++) {
        const char *id;
        json_t *v;
        json_object_foreach(in[o], id, v)
        {
            bool at_a_sender = json_object_get(sent_ids, id) != NULL;
            for (int s = 0; s < ORGS && !at_a_sender; s++)
                at_a_sender = json_object_get(out[s], id) != NULL;
            if (!at_a_sender)
                t->phantom++;
        }
    }
    json_decref(sent_ids);
    for (int o = 0; o < ORGS; o++) {
        json_decref(in[o]);
        json_decref(out[o]);
    }
}

/* Coordinated clients (raced ones too) whose coordinator is not exactly
 * one organisation agreeing with the active broker. */
static long coordinator_disagreements(chaos *c, long *checked)
{
    long bad = 0;
    *checked = 0;
    for (int i = 0; i < CLIENTS; i++) {
        client *cl = &c->clients[i];
        if (!cl->coordinated)
            continue;
        (*checked)++;
        char at_broker[64];
        hc_coordinator_at_broker(c->pair.a, cl->key, at_broker,
                                 sizeof at_broker);
        int self_claimed = 0;
        bool broker_agrees = false;
        for (int o = 0; o < ORGS; o++) {
            char seen[64];
            hc_coordinator_at(c->org[o], cl->key, seen, sizeof seen);
            if (strcmp(seen, org_ids[o]) == 0) {
                self_claimed++;
                broker_agrees = strcmp(at_broker, org_ids[o]) == 0;
            }
        }
        if ((self_claimed != 1 || !broker_agrees) && bad++ == 0)
            h_note("client %d: %d organisations see themselves as "
                   "coordinator; the broker names \"%s\"",
                   i, self_claimed, at_broker);
    }
    return bad;
}

static void read_digest(h_region *r, char out[80])
{
    json_t *stats = hc_broker_stats(r);
    snprintf(out, 80, "%s", stats ? hc_str(stats, "digest") : "");
    json_decref(stats);
}

static void settled_digest(h_region *r, char out[80])
{
    char again[80] = "";
    out[0] = '\0';
    H_WAIT_UNTIL(H_SEC(30),
                 (strcpy(again, out), read_digest(r, out),
                  out[0] && strcmp(again, out) == 0),
                 "the broker's path digest to settle (last %s)", out);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* ------------------------------------------------------------------ case */

static unsigned env_uint(const char *name, unsigned dflt)
{
    const char *s = getenv(name);
    return s && atoi(s) > 0 ? (unsigned)atoi(s) : dflt;
}

static void setup(chaos *c)
{
    h_region *r = h_region_new();
    for (int o = 0; o < ORGS; o++)
        c->org[o] = h_region_add_org(r, org_ids[o], "");
    h_pair_setup(&c->pair, r, rnd_below(2) == 0);
    h_pair_start(&c->pair);
    for (int o = 0; o < ORGS; o++)
        h_agent_start_connected(c->org[o]);
    hc_wait_replayed(r, H_SEC(30));
    for (int i = 0; i < CLIENTS; i++) {
        client *cl = &c->clients[i];
        h_client_key(cl->key);
        cl->home = i % ORGS;
        h_org *with[ORGS - 1];
        int n = 0;
        for (int o = 0; o < ORGS; o++)
            if (o != cl->home)
                with[n++] = c->org[o];
        char cid[64];
        hc_consent(c->org[cl->home], cl->key, with, n, NULL, cid);
        if (i % 2 == 0) {
            hc_claim_ok(c->org[cl->home], cl->key);
            cl->coordinated = true;
        }
    }
    c->next_unclaimed = 1; /* the odd ones are raced for */
    c->ph = RUNNING;
}

static void chaos_pair_loses_nothing(void)
{
    chaos *c = calloc(1, sizeof *c);
    H_REQUIRE(c, "out of memory");
    const char *seed = getenv("POLKU_CHAOS_SEED");
    rng_state = seed && *seed ? strtoull(seed, NULL, 10)
                              : (uint64_t)time(NULL) ^ (uint64_t)h_now_ms();
    if (!rng_state)
        rng_state = 1;
    h_note("seed %" PRIu64 " (POLKU_CHAOS_SEED repeats it)", rng_state);
    unsigned n = env_uint("POLKU_CHAOS_PAIR_N", 4000 / (h_scale() * h_scale()));
    int min_deaths = (int)env_uint("POLKU_CHAOS_PAIR_FAILOVERS", 6);
    uint64_t soak_ms = 1000ull * env_uint("POLKU_CHAOS_PAIR_SECONDS", 0);
    uint64_t limit_ms = RESUME_LIMIT_MS * h_scale();
    c->max_deaths = 2 * min_deaths;
    c->soak = soak_ms > 0;
    setup(c);

    uint64_t t0 = h_now_ms();
    c->next_chaos_ms = t0 + 300;
    unsigned i = 0;
    while (i < n || c->kills + c->stops < min_deaths ||
           h_now_ms() - t0 < soak_ms) {
        chaos_step(c);
        refer_one(c, i);
        if (i % 16 == 0)
            answer_some(c);
        if (i % 40 == 0)
            handover_some(c);
        i++;
    }
    while (c->ph != RUNNING) { /* the last death's cycle to its end */
        chaos_step(c);
        h_poll_pause();
    }
    reap_racer(c);
    double load_s = (double)(h_now_ms() - t0) / 1000.0;

    h_region *r = c->pair.a;
    hc_wait_replayed(r, H_SEC(60));
    for (int o = 0; o < ORGS; o++) {
        long pending = -1;
        H_WAIT_UNTIL(H_SEC(120),
                     (pending = h_agent_outbox_pending(c->org[o])) == 0,
                     "%s's outbox to drain (pending %ld)", org_ids[o], pending);
    }
    tally t;
    H_WAIT_UNTIL(H_SEC(60), (count(c, &t), t.mismatched == 0 && t.lost == 0),
                 "senders and receivers to agree (%ld lost, %ld mismatched, "
                 "e.g. %s)",
                 t.lost, t.mismatched, t.example);
    long checked = 0, disagreements = 0;
    H_WAIT_UNTIL(H_SEC(30),
                 (disagreements = coordinator_disagreements(c, &checked)) == 0,
                 "one coordinator per path, the one the broker names (%ld of "
                 "%ld disagree)",
                 disagreements, checked);

    /* a fresh rebuild: the active one killed, the other replays it all */
    char before[80], rebuilt[80] = "";
    settled_digest(r, before);
    h_proc_kill(&r->broker);
    H_WAIT_UNTIL(H_SEC(30), routes_for_all(c->pair.b),
                 "the passive broker to take over for the rebuild");
    h_pair_swap(&c->pair);
    hc_wait_replayed(c->pair.a, H_SEC(60));
    settled_digest(c->pair.a, rebuilt);

    qsort(c->gaps, (size_t)c->n_gaps, sizeof c->gaps[0], cmp_u64);
    uint64_t gmin = c->n_gaps ? c->gaps[0] : 0;
    uint64_t gmed = c->n_gaps ? c->gaps[c->n_gaps / 2] : 0;
    uint64_t gmax = c->n_gaps ? c->gaps[c->n_gaps - 1] : 0;
    printf("chaos_pair: %zu referrals accepted in %.1f s (%u asked, %ld "
           "refused), %ld answers, %ld handovers offered (%ld refused), %ld "
           "answered; the active broker killed %d times and frozen %d times; "
           "%d claim races (%d won at once, %d odd answers)\n",
           c->n_sent, load_s, i, c->refused, c->answers, c->offers,
           c->offer_refusals, c->handover_answers, c->kills, c->stops, c->races,
           c->race_wins, c->race_failures);
    printf("chaos_pair: routing resumed after each death in min %" PRIu64
           " ms, p50 %" PRIu64 " ms, max %" PRIu64 " ms (%d failovers; "
           "limit %" PRIu64 " ms)\n",
           gmin, gmed, gmax, c->n_gaps, limit_ms);
    printf("chaos_pair: coordinators_disagreeing=%ld/%ld phantom=%ld "
           "unacknowledged=%ld status_mismatch=%ld digest %s rebuilt %s\n",
           disagreements, checked, t.phantom, t.unacked, t.mismatched, before,
           strcmp(before, rebuilt) == 0 ? "equal" : rebuilt);
    printf("chaos_pair: lost=%ld duplicated=%ld\n", t.lost, t.duplicated);
    fflush(stdout);

    H_CHECK(c->kills > 0 && c->stops > 0,
            "the run killed the active broker %d and froze it %d times: too "
            "short to mean anything",
            c->kills, c->stops);
    H_CHECK(c->refused == 0, "%ld referrals refused by a live sender",
            c->refused);
    H_CHECK(t.lost == 0, "%ld referrals lost", t.lost);
    H_CHECK(t.duplicated == 0, "%ld referrals listed twice", t.duplicated);
    H_CHECK(t.phantom == 0, "%ld referrals at a receiver but no sender",
            t.phantom);
    H_CHECK(t.unacked == 0, "%ld referrals answered 201 gone from the sender",
            t.unacked);
    H_CHECK(c->race_failures == 0, "%d claim races had an odd answer",
            c->race_failures);
    H_CHECK(gmax <= limit_ms,
            "routing resumed within %" PRIu64 " ms of every death (max %" PRIu64
            ")",
            limit_ms, gmax);
    H_CHECK(strcmp(before, rebuilt) == 0,
            "path digest %s before, %s after a rebuild from scratch", before,
            rebuilt);
    free(c->sent);
    free(c);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "chaos_pair");
    H_CASE(chaos_pair_loses_nothing);
    return h_finish();
}
