/* chaos — load while processes die: nothing lost, nothing applied twice.
 *
 * Five organisations with their agents and a broker, real processes. A pool
 * of clients, each with a consent recorded at its home organisation and
 * half of them with a coordinator. Then, one request after another, the
 * home organisations refer their clients to the others; the receivers
 * accept or reject what arrived; coordinators offer handovers and the
 * receivers accept or decline them. Meanwhile, at random moments (a few
 * hundred milliseconds apart), the broker or a random agent is killed with
 * SIGKILL and later restarted.
 *
 * At the end, with everything up again and the outboxes drained, it checks
 * and prints `lost=0 duplicated=0`: every referral a sender's API answered
 * 201 for is at its receiver exactly once and still at its sender; nothing
 * is at a receiver that its sender does not hold; statuses agree between
 * sender and receiver; each coordinated client has exactly one organisation
 * that sees itself as coordinator, the one the broker names; and the
 * broker's path digest equals the digest of a broker rebuilt from scratch
 * (killed and replayed from the agents).
 *
 * A second case adds one more fault: a random agent's store is copied
 * (polku-agent --backup) a third of the way in and, two thirds in, the
 * agent is killed and its store restored from that older copy. It must
 * still end lost=0 duplicated=0: what others sent the restored
 * organisation comes back to it (it asks for it again), what it sent
 * after the restore arrives once. What it made itself between the copy
 * and the restore is gone from its own store — its receivers hold it —
 * and is counted, with how many its /v1/reconcile lists; its own answers
 * in that time may be behind its senders' (counted, not failed:
 * docs/operations.md).
 * The rebuilt broker cannot equal the one that saw the lost events, so
 * that case does not compare digests.
 *
 * Size: POLKU_CHAOS_N referrals (default 20 000, divided by the harness
 * scale under sanitizers; a quarter of that with the restore);
 * POLKU_CHAOS_SEED repeats a run. A soak run: POLKU_CHAOS_N=500000. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"
#include "harness_coord.h"

enum { ORGS = 5, CLIENTS = 200 };

static const char *const org_ids[ORGS] = {"sote-kokkola", "tyokykytiimi",
                                          "kela", "typ-kokkola",
                                          "tyollisyys-kokkola"};

/* xorshift64*: a seeded, repeatable sequence. */
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
    int home; /* the org that identified the client and sends for it */
    bool coordinated;
    /* a handover of its path from, to or answered by the organisation
     * whose store is copied, after the copy: what that store knows of the
     * path may be behind (the restore fault) */
    bool touched_after_copy;
} client;

/* One referral a sender's API answered 201 for. */
typedef struct sent {
    char id[64];
    int from, to;
} sent;

/* The restore fault: copy, then restore (restore_fault only). */
typedef enum restore_phase { NOT_COPIED, COPIED, RESTORED } restore_phase;

typedef struct chaos {
    bool restore_fault;
    restore_phase phase;
    int restored;               /* the organisation, -1 none yet */
    size_t copy_at, restore_at; /* n_sent at the copy and at the restore */
    unsigned total;             /* referrals to ask for in the run */
    h_region *r;
    h_org *org[ORGS];
    client clients[CLIENTS];
    sent *sent;
    size_t n_sent, cap_sent;
    int down;            /* -1 none, ORGS the broker, else the agent */
    uint64_t next_chaos; /* monotonic ms */
    int kills_broker, kills_agent;
    long coordinators_behind; /* at the restored organisation */
    long refused, answers, offers, offer_refusals, handover_answers;
} chaos;

static bool is_up(const chaos *c, int org)
{
    return c->down != org;
}

/* --------------------------------------------------------------- chaos */

static void agent_tool(chaos *c, int o, const char *option, const char *dir)
{
    char out[600];
    snprintf(out, sizeof out, "%s/%s-%s.out", c->r->dir, org_ids[o],
             option + 2);
    char *argv[] = {(char *)POLKU_AGENT_BIN,
                    (char *)option,
                    (char *)dir,
                    "--config",
                    c->org[o]->proc.config,
                    NULL};
    H_REQUIRE(h_run_program(argv, out, H_SEC(60)) == 0,
              "polku-agent %s for %s exits 0 (see %s)", option, org_ids[o],
              out);
}

/* A third of the way in, a random live agent's store is copied; two
 * thirds in, that agent is killed and its store restored from the copy. */
static bool restore_step(chaos *c)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/older-copy", c->r->dir);
    if (c->phase == NOT_COPIED && c->n_sent >= c->total / 3 && c->down < 0) {
        c->restored = (int)rnd_below(ORGS);
        agent_tool(c, c->restored, "--backup", dir);
        c->copy_at = c->n_sent;
        c->phase = COPIED;
        h_note("copied %s's store at referral %zu", org_ids[c->restored],
               c->copy_at);
        return true;
    }
    if (c->phase == COPIED && c->n_sent >= 2 * c->total / 3 && c->down < 0) {
        h_agent_kill(c->org[c->restored]);
        agent_tool(c, c->restored, "--restore", dir);
        h_agent_start(c->org[c->restored]);
        c->restore_at = c->n_sent;
        c->phase = RESTORED;
        h_note("restored %s's store from the copy at referral %zu",
               org_ids[c->restored], c->restore_at);
        return true;
    }
    return false;
}

static void chaos_step(chaos *c)
{
    uint64_t now = h_now_ms();
    if (now < c->next_chaos)
        return;
    if (c->restore_fault && restore_step(c)) {
        c->next_chaos = now + 200 + rnd_below(1000);
        return;
    }
    if (c->down == ORGS) {
        h_broker_start(c->r);
        c->down = -1;
    } else if (c->down >= 0) {
        h_agent_start(c->org[c->down]);
        c->down = -1;
    } else if (c->kills_broker == 0 ||
               (c->kills_agent > 0 && rnd_below(5) < 2)) {
        /* the broker first, an agent next, then at random */
        h_broker_kill(c->r);
        c->down = ORGS;
        c->kills_broker++;
    } else {
        c->down = (int)rnd_below(ORGS);
        h_agent_kill(c->org[c->down]);
        c->kills_agent++;
    }
    c->next_chaos = now + 200 + rnd_below(1000);
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

/* One referral from a live home organisation to another one. */
static void refer_one(chaos *c, unsigned i)
{
    client *cl = &c->clients[i % CLIENTS];
    for (int tries = 0; tries < CLIENTS && !is_up(c, cl->home); tries++)
        cl = &c->clients[(i + (unsigned)tries) % CLIENTS];
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

/* A live receiver answers some of what arrived: accepts most, rejects a
 * few (with a reason), leaves some waiting. */
static void answer_some(chaos *c)
{
    int o = (int)rnd_below(ORGS);
    if (!is_up(c, o))
        return;
    h_resp resp;
    if (h_api(c->org[o], "GET",
              "/v1/referrals?direction=in&status=received&limit=10", NULL,
              &resp) != 200 ||
        !resp.json) {
        h_resp_free(&resp);
        return;
    }
    json_t *list = json_object_get(resp.json, "referrals");
    size_t k;
    json_t *it;
    json_array_foreach(list, k, it)
    {
        const char *id = hc_str(it, "id");
        unsigned dice = rnd_below(10);
        h_resp ans;
        long st = dice < 6   ? h_referral_set_status(c->org[o], id, "accepted",
                                                     NULL, NULL, &ans)
                  : dice < 8 ? h_referral_set_status(c->org[o], id, "rejected",
                                                     "chaos", NULL, &ans)
                             : 0;
        if (dice < 8) {
            H_CHECK(st == 200, "%s answering %s: HTTP %ld %s", org_ids[o], id,
                    st, hc_body(&ans));
            h_resp_free(&ans);
            c->answers++;
        }
    }
    h_resp_free(&resp);
}

/* The coordinator of a random coordinated client (as the broker names it)
 * offers the path on; a live organisation answers the offers it holds.
 * Refusals (not the coordinator any more, an offer already open) are
 * normal here: the test's knowledge is always a little stale. */
static void handover_some(chaos *c)
{
    client *cl = &c->clients[rnd_below(CLIENTS)];
    if (cl->coordinated && is_up(c, ORGS)) {
        char coord[64];
        hc_coordinator_at_broker(c->r, cl->key, coord, sizeof coord);
        for (int o = 0; o < ORGS; o++) {
            if (strcmp(coord, org_ids[o]) != 0 || !is_up(c, o))
                continue;
            int to = (o + 1 + (int)rnd_below(ORGS - 1)) % ORGS;
            char id[64];
            h_resp resp;
            long st = hc_offer(c->org[o], cl->key, org_ids[to], id, &resp);
            if (c->phase != NOT_COPIED &&
                (o == c->restored || to == c->restored))
                cl->touched_after_copy = true;
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
    if (!is_up(c, o))
        return;
    json_t *offers = hc_handover_list(c->org[o], "in", "offered");
    size_t k;
    json_t *it;
    json_array_foreach(offers, k, it)
    {
        const char *verb = rnd_below(10) < 7 ? "accept" : "decline";
        if (c->phase != NOT_COPIED && o == c->restored)
            for (int i = 0; i < CLIENTS; i++)
                if (strcmp(c->clients[i].key, hc_str(it, "client_key")) == 0)
                    c->clients[i].touched_after_copy = true;
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

/* id -> status of every referral at o in direction ("in"/"out"), as a JSON
 * object (caller decrefs); the ids listed twice counted in *dups. NULL on
 * failure. */
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
        if (json_object_get(map, id) && dups)
            (*dups)++;
        json_object_set_new(map, id, json_string(hc_str(it, "status")));
    }
    h_resp_free(&resp);
    return map;
}

typedef struct tally {
    long lost, duplicated, phantom, unacked, mismatched;
    /* with the restore fault: what the restored organisation made between
     * the copy and the restore (gone from its store; its receivers hold
     * it), how many of those its /v1/reconcile does not list, and answers
     * of its own from before the restore its senders are ahead of */
    long lost_with_disk, unlisted, behind, never_delivered;
    char example[160];
} tally;

/* The ids the restored organisation's /v1/reconcile lists as objects it
 * does not hold (a JSON object id -> true; caller decrefs). */
static json_t *reconcile_listed(chaos *c)
{
    json_t *ids = json_object();
    if (c->phase != RESTORED)
        return ids;
    h_resp resp;
    long st = h_api(c->org[c->restored], "GET", "/v1/reconcile", NULL, &resp);
    H_CHECK(st == 200, "GET /v1/reconcile at %s: HTTP %ld",
            org_ids[c->restored], st);
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(resp.json, "unknown"), k, it)
    {
        if (strcmp(hc_str(it, "object"), "referral") == 0)
            json_object_set_new(ids, hc_str(it, "id"), json_true());
    }
    h_resp_free(&resp);
    return ids;
}

/* The restored organisation made it between the copy and the restore. */
static bool made_in_lost_time(const chaos *c, size_t i)
{
    return c->phase == RESTORED && c->sent[i].from == c->restored &&
           i >= c->copy_at && i < c->restore_at;
}

/* The restored organisation received it before the restore: its answers
 * in the lost time may be behind its sender's. */
static bool answered_in_lost_time(const chaos *c, size_t i)
{
    return c->phase == RESTORED && c->sent[i].to == c->restored &&
           i < c->restore_at;
}

static void count(chaos *c, tally *t)
{
    memset(t, 0, sizeof *t);
    json_t *in[ORGS], *out[ORGS];
    for (int o = 0; o < ORGS; o++) {
        in[o] = statuses(c->org[o], "in", &t->duplicated);
        out[o] = statuses(c->org[o], "out", &t->duplicated);
        H_REQUIRE(in[o] && out[o], "listing the referrals at %s", org_ids[o]);
    }
    json_t *listed = reconcile_listed(c);
    json_t *sent_ids = json_object();
    for (size_t i = 0; i < c->n_sent; i++) {
        const sent *s = &c->sent[i];
        json_object_set_new(sent_ids, s->id, json_true());
        const char *at_to =
            json_string_value(json_object_get(in[s->to], s->id));
        const char *at_from =
            json_string_value(json_object_get(out[s->from], s->id));
        bool lost_time = made_in_lost_time(c, i);
        if (!at_to && !at_from && lost_time) {
            t->never_delivered++; /* lost with the disk before it was sent */
        } else if (!at_from && lost_time) {
            t->lost_with_disk++; /* only at its receiver */
            if (!json_object_get(listed, s->id) && t->unlisted++ == 0 &&
                !t->lost)
                snprintf(t->example, sizeof t->example,
                         "%s, made by %s in the lost time, is not listed by "
                         "its reconcile",
                         s->id, org_ids[s->from]);
        } else {
            if (!at_to && t->lost++ == 0)
                snprintf(t->example, sizeof t->example,
                         "%s (referral %zu, %s -> %s) is not at its receiver",
                         s->id, i, org_ids[s->from], org_ids[s->to]);
            if (!at_from)
                t->unacked++;
        }
        if (at_to && at_from && strcmp(at_to, at_from) != 0) {
            if (answered_in_lost_time(c, i))
                t->behind++;
            else if (t->mismatched++ == 0)
                snprintf(t->example, sizeof t->example,
                         "%s is %s at %s but %s at %s", s->id, at_from,
                         org_ids[s->from], at_to, org_ids[s->to]);
        }
    }
    /* Received but never answered 201 (a reply lost to a kill) is fine as
     * long as its sender holds it: the sender's API committed it. One the
     * restored organisation lost with its disk is fine where its
     * reconcile lists it. */
    for (int o = 0; o < ORGS; o++) {
        const char *id;
        json_t *v;
        json_object_foreach(in[o], id, v)
        {
            if (json_object_get(sent_ids, id))
                continue;
            bool at_a_sender = json_object_get(listed, id) != NULL;
            for (int s = 0; s < ORGS && !at_a_sender; s++)
                at_a_sender = json_object_get(out[s], id) != NULL;
            if (!at_a_sender)
                t->phantom++;
        }
    }
    json_decref(listed);
    json_decref(sent_ids);
    for (int o = 0; o < ORGS; o++) {
        json_decref(in[o]);
        json_decref(out[o]);
    }
}

/* Clients whose coordinator is not exactly one organisation agreeing with
 * the broker; a closed path (no coordinator anywhere) counts as agreeing. */
static long coordinator_disagreements(chaos *c, long *checked)
{
    long bad = 0;
    *checked = 0;
    c->coordinators_behind = 0;
    for (int i = 0; i < CLIENTS; i++) {
        client *cl = &c->clients[i];
        if (!cl->coordinated)
            continue;
        (*checked)++;
        char at_broker[64];
        hc_coordinator_at_broker(c->r, cl->key, at_broker, sizeof at_broker);
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
        if (self_claimed != 1 || !broker_agrees) {
            /* a path handed on from, to or by the restored organisation in
             * the lost time: what it did there is gone from its store */
            if (c->phase == RESTORED && cl->touched_after_copy) {
                c->coordinators_behind++;
                continue;
            }
            if (bad++ == 0)
                h_note("client %d: %d organisations see themselves as "
                       "coordinator; the broker names \"%s\"",
                       i, self_claimed, at_broker);
        }
    }
    return bad;
}

static void read_digest(h_region *r, char out[80])
{
    json_t *stats = hc_broker_stats(r);
    snprintf(out, 80, "%s", stats ? hc_str(stats, "digest") : "");
    json_decref(stats);
}

/* The digest once it holds still over two reads. */
static void settled_digest(h_region *r, char out[80])
{
    char again[80] = "";
    out[0] = '\0';
    H_WAIT_UNTIL(H_SEC(30),
                 (strcpy(again, out), read_digest(r, out),
                  out[0] && strcmp(again, out) == 0),
                 "the broker's path digest to settle (last %s)", out);
}

/* ------------------------------------------------------------------ case */

static unsigned chaos_size(void)
{
    const char *s = getenv("POLKU_CHAOS_N");
    if (s && atoi(s) > 0)
        return (unsigned)atoi(s);
    return 20000 / h_scale();
}

static void setup(chaos *c)
{
    c->r = h_region_new();
    for (int o = 0; o < ORGS; o++)
        c->org[o] = h_region_add_org(c->r, org_ids[o], "");
    h_broker_start(c->r);
    for (int o = 0; o < ORGS; o++)
        h_agent_start_connected(c->org[o]);
    hc_wait_replayed(c->r, H_SEC(30));
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
    c->down = -1;
}

static void run_chaos(bool restore_fault)
{
    chaos c = {.restore_fault = restore_fault, .restored = -1};
    const char *seed = getenv("POLKU_CHAOS_SEED");
    rng_state = seed && *seed ? strtoull(seed, NULL, 10)
                              : (uint64_t)time(NULL) ^ (uint64_t)h_now_ms();
    if (!rng_state)
        rng_state = 1;
    h_note("seed %" PRIu64 " (POLKU_CHAOS_SEED repeats it)", rng_state);
    unsigned n = chaos_size() / (restore_fault ? 4 : 1);
    c.total = n;
    setup(&c);

    uint64_t t0 = h_now_ms();
    c.next_chaos = t0 + 300;
    for (unsigned i = 0; i < n; i++) {
        chaos_step(&c);
        refer_one(&c, i);
        if (i % 16 == 0)
            answer_some(&c);
        if (i % 40 == 0)
            handover_some(&c);
    }
    double load_s = (double)(h_now_ms() - t0) / 1000.0;
    if (c.down == ORGS)
        h_broker_start(c.r);
    else if (c.down >= 0)
        h_agent_start(c.org[c.down]);
    c.down = -1;

    /* Quiet: everything connected and replayed, every outbox empty, every
     * status travelled back. */
    hc_wait_replayed(c.r, H_SEC(60));
    for (int o = 0; o < ORGS; o++) {
        long pending = -1;
        H_WAIT_UNTIL(H_SEC(120),
                     (pending = h_agent_outbox_pending(c.org[o])) == 0,
                     "%s's outbox to drain (pending %ld)", org_ids[o], pending);
    }
    tally t;
    H_WAIT_UNTIL(H_SEC(60), (count(&c, &t), t.mismatched == 0 && t.lost == 0),
                 "senders and receivers to agree (%ld lost, %ld mismatched, "
                 "e.g. %s)",
                 t.lost, t.mismatched, t.example);

    long checked = 0;
    long disagreements = 0;
    H_WAIT_UNTIL(H_SEC(30),
                 (disagreements = coordinator_disagreements(&c, &checked)) == 0,
                 "one coordinator per path, the one the broker names (%ld of "
                 "%ld disagree)",
                 disagreements, checked);

    char before[80], rebuilt[80] = "";
    settled_digest(c.r, before);
    if (!restore_fault) {
        h_broker_kill(c.r);
        h_broker_start(c.r);
        hc_wait_replayed(c.r, H_SEC(60));
        settled_digest(c.r, rebuilt);
    }

    printf("chaos: %zu referrals accepted in %.1f s (%u asked, %ld refused), "
           "%ld answers, %ld handovers offered (%ld refused), %ld answered; "
           "killed the broker %d times and an agent %d times\n",
           c.n_sent, load_s, n, c.refused, c.answers, c.offers,
           c.offer_refusals, c.handover_answers, c.kills_broker, c.kills_agent);
    printf("chaos: lost=%ld duplicated=%ld phantom=%ld unacknowledged=%ld "
           "status_mismatch=%ld coordinators_disagreeing=%ld/%ld "
           "digest %s rebuilt %s\n",
           t.lost, t.duplicated, t.phantom, t.unacked, t.mismatched,
           disagreements, checked, before,
           restore_fault                  ? "(not compared)"
           : strcmp(before, rebuilt) == 0 ? "equal"
                                          : rebuilt);
    if (restore_fault)
        printf("chaos: restored %s from a copy taken at referral %zu, at "
               "referral %zu: %ld it made in between are only at their "
               "receivers (%ld of them not listed by its reconcile), %ld "
               "went with the disk before they were sent; %ld of its "
               "answers and %ld coordinations are behind\n",
               c.restored >= 0 ? org_ids[c.restored] : "nobody", c.copy_at,
               c.restore_at, t.lost_with_disk, t.unlisted, t.never_delivered,
               t.behind, c.coordinators_behind);
    fflush(stdout);

    H_CHECK(c.kills_broker > 0 && c.kills_agent > 0,
            "the run killed the broker %d and agents %d times: too short to "
            "mean anything",
            c.kills_broker, c.kills_agent);
    H_CHECK(c.refused == 0, "%ld referrals refused by a live sender",
            c.refused);
    H_CHECK(t.lost == 0, "%ld referrals lost", t.lost);
    H_CHECK(t.duplicated == 0, "%ld referrals listed twice", t.duplicated);
    H_CHECK(t.phantom == 0, "%ld referrals at a receiver but no sender",
            t.phantom);
    H_CHECK(t.unacked == 0, "%ld referrals answered 201 gone from the sender",
            t.unacked);
    if (restore_fault) {
        /* a broker restarted after the restore no longer knows those
         * referrals and refuses their receivers' statuses, so the restored
         * store may not hear of all of them: counted, not failed (it_restore
         * checks the listing where the broker knows them) */
        H_CHECK(c.phase == RESTORED, "the run restored an agent's store");
    } else {
        H_CHECK(strcmp(before, rebuilt) == 0,
                "path digest %s before, %s after a rebuild from scratch",
                before, rebuilt);
    }
    free(c.sent);
}

static void chaos_loses_nothing(void)
{
    run_chaos(false);
}

static void chaos_with_a_restore_loses_nothing_after_the_copy(void)
{
    run_chaos(true);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "chaos");
    H_CASE(chaos_loses_nothing);
    H_CASE(chaos_with_a_restore_loses_nothing_after_the_copy);
    return h_finish();
}
