/* it_feed — the shared path, its rebuild, alerts and the SSE feed (issue 5,
 * must show 2, 3, 4 and 6; DESIGN §5 and §10; notes/feed_spec.md).
 *
 * (1) rebuild_digest: three agents, consents, referrals in several
 *     statuses, a claim and an accepted handover; the broker is killed
 *     (-9) and restarted: once every org has replayed, /api/v1/stats shows
 *     the same digest, path count and referral counts, and each path the
 *     same coordinator and term. Then events made while the broker is down
 *     reach it live after a restart, and another kill -9 and rebuild from
 *     the logs alone gives the same digest they gave.
 * (2) replay_gap: a raw peer plays an agent whose log holds seq 1..5; its
 *     first replay leaves out seq 3: the broker asks again from 3, and once
 *     that is answered the org is replayed, applied up to seq 5, and the
 *     left-out event is in the path. A second peer never sends seq 3: the
 *     broker asks a bounded number of times, then counts it replayed with
 *     the gap visible in /api/v1/stats (applied_seq 2 of last_seq 5) and
 *     warns in its log. Replay frames that answer another request than the
 *     broker's last (an agent's frames queued for a broker that died), or
 *     come before any request, are dropped and counted (replay.stale): the
 *     seq 3 they carry is not folded. The second peer names no request in
 *     its answers (an agent from before ReplayBatch.answers): taken while
 *     asked.
 * (3) path_view_consent: GET /v1/paths/{key} at an agent is refused (403
 *     consent_required) while no consent has purpose `path`, answered once
 *     one has; the answer names the coordinator and has a timeline, and
 *     holds neither the identity code nor the referral's reason; once that
 *     consent is revoked it is refused again.
 * (4) alerts_raise_clear: SLAs of one second; each alert kind appears in
 *     /api/v1/alerts after its SLA and goes when resolved, and the feed
 *     carries alert.raised and alert.cleared for it.
 * (5) sse_resume: a client that reconnects with Last-Event-ID gets exactly
 *     the events it missed, in order, no gaps, no repeats; an id of another
 *     epoch gets `event: reset`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_feed.h"
#include "polku/clock.h"
#include "polku/id.h"

/* Synthetic identity codes (valid check characters, nobody's). */
#define HETU_PATH "150382-624C"

/* ------------------------------------------------------------- helpers */

static json_t *stats(h_region *r)
{
    return hc_broker_stats(r);
}

static long long stats_int(h_region *r, const char *name)
{
    json_t *s = stats(r);
    long long v = hc_int(s, name);
    json_decref(s);
    return v;
}

/* The broker's epoch (hex text) into out, "" when unavailable. */
static const char *broker_epoch(h_region *r, char out[32])
{
    json_t *s = stats(r);
    snprintf(out, 32, "%s", hc_str(s, "epoch"));
    json_decref(s);
    return out;
}

static bool all_replayed(h_region *r)
{
    json_t *s = stats(r);
    bool ok = s && hc_int(s, "orgs") > 0 &&
              hc_int(s, "orgs_replayed") == hc_int(s, "orgs");
    json_decref(s);
    return ok;
}

/* True once the digest reads the same twice in a row (kept in prev). */
static bool digest_settled(h_region *r, char prev[65])
{
    json_t *s = stats(r);
    const char *d = hc_str(s, "digest");
    bool same = d[0] && strcmp(d, prev) == 0;
    snprintf(prev, 65, "%s", d);
    json_decref(s);
    return same;
}

static bool outboxes_empty(h_org *const orgs[], int n)
{
    for (int i = 0; i < n; i++)
        if (h_agent_outbox_pending(orgs[i]) != 0)
            return false;
    return true;
}

static void set_status_ok(h_org *o, const char *id, const char *status,
                          const char *reason)
{
    h_resp resp;
    long st = h_referral_set_status(o, id, status, reason, NULL, &resp);
    H_REQUIRE(st == 200 || st == 202, "%s -> %s at %s: HTTP %ld %s", id, status,
              o->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

static void referral_ok(h_org *from, const char *key, h_org *to,
                        const char *reason, char id[64])
{
    h_resp resp;
    long st = h_referral_create(from, key, to->id, NULL, reason, id, &resp);
    H_REQUIRE(st == 201 && id[0], "referral %s -> %s: HTTP %ld %s", from->id,
              to->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

static void wait_handover(h_org *o, const char *hid, const char *want)
{
    char seen[32] = "";
    H_WAIT_UNTIL(
        H_SEC(15),
        strcmp(hc_handover_status(o, hid, seen, sizeof seen), want) == 0,
        "handover %s at %s to be %s (now '%s')", hid, o->id, want, seen);
}

/* ============================================================== (1) */

typedef struct path_mark {
    char coordinator[40];
    long long term;
    size_t referrals;
} path_mark;

static void mark_path(h_region *r, const char *key, path_mark *m)
{
    json_t *p = hc_broker_path(r, key);
    H_REQUIRE(p, "the broker's path of %s", key);
    snprintf(m->coordinator, sizeof m->coordinator, "%s", hc_coordinator(p));
    m->term = hc_int(p, "term");
    m->referrals = json_array_size(json_object_get(p, "referrals"));
    json_decref(p);
}

static void case_rebuild_digest(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "typ", "joint-service");
    h_org *all[3] = {a, b, c};
    h_broker_start(r);
    for (int i = 0; i < 3; i++)
        h_agent_start_connected(all[i]);
    hc_wait_replayed(r, H_SEC(15));

    /* k1: coordinated by a, referrals accepted / rejected / received, a
     * handover to c accepted (c coordinates at term 2). */
    char k1[33], k2[33], cid[64];
    h_client_key(k1);
    h_client_key(k2);
    h_org *bc[2] = {b, c};
    hc_consent(a, k1, bc, 2, NULL, cid);
    hc_wait_consent(b, k1, cid);
    hc_wait_consent(c, k1, cid);
    hc_claim_ok(a, k1);

    char r1[64], r2[64], r3[64], r4[64], hid[64];
    referral_ok(a, k1, b, "assessment", r1);
    referral_ok(a, k1, c, "joint service", r2);
    referral_ok(a, k1, b, "second look", r3);
    h_wait_status(b, r1, "received", H_SEC(10));
    h_wait_status(c, r2, "received", H_SEC(10));
    set_status_ok(b, r1, "accepted", NULL);
    set_status_ok(c, r2, "rejected", "not for this service");
    h_wait_status(a, r1, "accepted", H_SEC(10));
    h_wait_status(a, r2, "rejected", H_SEC(10));
    h_wait_status(a, r3, "received", H_SEC(10));

    hc_offer_ok(a, k1, c->id, hid);
    wait_handover(c, hid, "offered");
    H_REQUIRE(hc_handover_act(c, hid, "accept", NULL, NULL) == 200,
              "accept of handover %s at %s", hid, c->id);
    wait_handover(a, hid, "accepted");

    /* k2: no coordinator, a referral b -> a with a referral-only consent */
    h_org *aa[1] = {a};
    const char *const ref_only[] = {"referral", NULL};
    hc_consent(b, k2, aa, 1, ref_only, cid);
    hc_wait_consent(a, k2, cid);
    referral_ok(b, k2, a, "open one", r4);
    h_wait_status(b, r4, "received", H_SEC(10));

    H_WAIT_UNTIL(H_SEC(20), outboxes_empty(all, 3),
                 "the outboxes of all three agents to drain");
    char prev[65] = "";
    H_WAIT_UNTIL(H_SEC(10), digest_settled(r, prev),
                 "the broker's digest to settle (last %s)", prev);

    json_t *before = stats(r);
    H_REQUIRE(before, "GET /api/v1/stats before the kill");
    char digest[65], epoch[32];
    snprintf(digest, sizeof digest, "%s", hc_str(before, "digest"));
    snprintf(epoch, sizeof epoch, "%s", hc_str(before, "epoch"));
    H_CHECK(hc_int(before, "paths") >= 1 && hc_int(before, "referrals") == 4,
            "stats before the kill count the paths and 4 referrals: paths %lld "
            "referrals %lld",
            hc_int(before, "paths"), hc_int(before, "referrals"));
    path_mark m1, m2;
    mark_path(r, k1, &m1);
    mark_path(r, k2, &m2);
    H_CHECK(strcmp(m1.coordinator, c->id) == 0 && m1.term == 2,
            "before the kill %s is coordinated by %s at term 2 (%s, %lld)", k1,
            c->id, m1.coordinator, m1.term);
    h_note("before: digest %s, %lld paths, %lld referrals (%lld open)", digest,
           hc_int(before, "paths"), hc_int(before, "referrals"),
           hc_int(before, "referrals_open"));

    h_broker_kill(r);
    h_broker_start(r);
    char now_epoch[32];
    H_WAIT_UNTIL(H_SEC(20),
                 strcmp(broker_epoch(r, now_epoch), epoch) != 0 &&
                     now_epoch[0] && all_replayed(r),
                 "the restarted broker (epoch %s, was %s) to list every org "
                 "replayed",
                 now_epoch, epoch);

    json_t *after = stats(r);
    H_REQUIRE(after, "GET /api/v1/stats after the restart");
    char d2[65];
    snprintf(d2, sizeof d2, "%s", hc_str(after, "digest"));
    H_CHECK(strcmp(d2, digest) == 0,
            "the digest after the rebuild equals the one before: %s vs %s", d2,
            digest);
    static const char *const same[] = {"paths",     "coordinated",
                                       "referrals", "referrals_open",
                                       "consents",  "clients"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        H_CHECK(hc_int(after, same[i]) == hc_int(before, same[i]),
                "stats %s after the rebuild %lld, before %lld", same[i],
                hc_int(after, same[i]), hc_int(before, same[i]));
    json_t *replay = json_object_get(after, "replay");
    for (int i = 0; i < 3; i++) {
        json_t *o = json_object_get(replay, all[i]->id);
        H_CHECK(json_is_true(json_object_get(o, "done")) &&
                    hc_int(o, "events") >= 1 &&
                    hc_int(o, "events") >= hc_int(o, "expected"),
                "replay of %s done with every expected event: %s", all[i]->id,
                o ? json_dumps(o, JSON_COMPACT) : "(missing)");
    }
    path_mark n1, n2;
    mark_path(r, k1, &n1);
    mark_path(r, k2, &n2);
    H_CHECK(strcmp(n1.coordinator, m1.coordinator) == 0 && n1.term == m1.term &&
                n1.referrals == m1.referrals,
            "path %s after the rebuild: coordinator %s term %lld referrals %zu "
            "(before %s %lld %zu)",
            k1, n1.coordinator, n1.term, n1.referrals, m1.coordinator, m1.term,
            m1.referrals);
    H_CHECK(strcmp(n2.coordinator, m2.coordinator) == 0 &&
                n2.referrals == m2.referrals,
            "path %s after the rebuild: coordinator '%s' referrals %zu (before "
            "'%s' %zu)",
            k2, n2.coordinator, n2.referrals, m2.coordinator, m2.referrals);
    json_decref(before);
    json_decref(after);

    /* Events made while the broker is down reach it after its restart,
     * live: the state they give must be the one a rebuild from the logs
     * alone gives (invariant 1), so a second kill -9 changes nothing. */
    h_broker_kill(r);
    char r5[64];
    referral_ok(a, k1, b, "while the broker is down", r5);
    set_status_ok(b, r3, "accepted", NULL);
    snprintf(epoch, sizeof epoch, "%s", now_epoch);
    h_broker_start(r);
    H_WAIT_UNTIL(H_SEC(20),
                 strcmp(broker_epoch(r, now_epoch), epoch) != 0 &&
                     now_epoch[0] && all_replayed(r),
                 "the broker (epoch %s, was %s) to list every org replayed",
                 now_epoch, epoch);
    h_wait_status(a, r5, "received", H_SEC(15));
    h_wait_status(a, r3, "accepted", H_SEC(15));
    H_WAIT_UNTIL(H_SEC(20), outboxes_empty(all, 3),
                 "the outboxes of all three agents to drain");
    prev[0] = '\0';
    H_WAIT_UNTIL(H_SEC(10), digest_settled(r, prev),
                 "the broker's digest to settle (last %s)", prev);
    char d3[65];
    snprintf(d3, sizeof d3, "%s", prev);
    H_CHECK(strcmp(d3, digest) != 0,
            "the events made while the broker was down changed the digest");
    H_CHECK(stats_int(r, "referrals") == 5, "the broker counts 5 referrals");

    h_broker_kill(r);
    snprintf(epoch, sizeof epoch, "%s", now_epoch);
    h_broker_start(r);
    H_WAIT_UNTIL(H_SEC(20),
                 strcmp(broker_epoch(r, now_epoch), epoch) != 0 &&
                     now_epoch[0] && all_replayed(r),
                 "the broker (epoch %s, was %s) to list every org replayed",
                 now_epoch, epoch);
    json_t *last = stats(r);
    H_CHECK(strcmp(hc_str(last, "digest"), d3) == 0,
            "a rebuild from the logs alone gives the digest the live events "
            "gave: %s vs %s",
            hc_str(last, "digest"), d3);
    json_decref(last);
}

/* ============================================================== (2) */

/* One logged event of the peer's org: ServiceStarted "svc-SEQ" of key. */
static void encode_service_event(const char *org, uint64_t seq,
                                 const uint8_t key[16], uint8_t **buf,
                                 size_t *len)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ServiceStarted st = POLKU__SERVICE_STARTED__INIT;
    polku_id id = polku_id_new(polku_now_ms());
    uint8_t msg_id[16];
    char service[32];
    memcpy(msg_id, id.b, 16);
    snprintf(service, sizeof service, "svc-%" PRIu64, seq);
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id.data = msg_id;
    env.msg_id.len = 16;
    env.origin_org = (char *)org;
    env.origin_seq = seq;
    env.client_key.data = (uint8_t *)key;
    env.client_key.len = 16;
    env.time_ms = polku_now_ms() - 60000 + seq * 1000; /* logged earlier */
    st.service = service;
    env.body_case = POLKU__ENVELOPE__BODY_SERVICE_STARTED;
    env.service_started = &st;
    H_REQUIRE(polku_envelope_encode(&env, buf, len) == 0,
              "encode event %" PRIu64, seq);
}

static void peer_header(polku_envelope *env, const char *org, uint8_t id[16])
{
    polku_id pid = polku_id_new(polku_now_ms());
    memcpy(id, pid.b, 16);
    env->version = POLKU_PROTOCOL_VERSION;
    env->msg_id.data = id;
    env->msg_id.len = 16;
    env->origin_org = (char *)org;
    env->time_ms = polku_now_ms();
}

/* The msg_id of a ReplayRequest, which every frame of its answer names
 * (ReplayBatch.answers); none: an agent from before the field. */
typedef struct request_id {
    uint8_t id[16];
    size_t len;
} request_id;

static const request_id no_request_id = {{0}, 0};

/* Sends one ReplayBatch with the events of seqs (n of them), answering
 * the request req. */
static void send_batch(h_peer *p, const char *org, const uint8_t key[16],
                       const uint64_t *seqs, size_t n, const request_id *req)
{
    ProtobufCBinaryData ev[8];
    H_REQUIRE(n <= 8, "batch too big");
    for (size_t i = 0; i < n; i++)
        encode_service_event(org, seqs[i], key, &ev[i].data, &ev[i].len);
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayBatch batch = POLKU__REPLAY_BATCH__INIT;
    uint8_t id[16];
    peer_header(&env, org, id);
    batch.n_events = n;
    batch.events = ev;
    batch.answers.data = (uint8_t *)req->id;
    batch.answers.len = req->len;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_BATCH;
    env.replay_batch = &batch;
    int rc = h_peer_send(p, &env);
    for (size_t i = 0; i < n; i++)
        free(ev[i].data);
    H_REQUIRE(rc == 0, "send the ReplayBatch");
}

static void send_done(h_peer *p, const char *org, uint64_t last,
                      const request_id *req)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    uint8_t id[16];
    peer_header(&env, org, id);
    done.last_seq = last;
    done.answers.data = (uint8_t *)req->id;
    done.answers.len = req->len;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    env.replay_done = &done;
    H_REQUIRE(h_peer_send(p, &env) == 0, "send ReplayDone");
}

static uint64_t expect_replay_request(h_peer *p, const char *when,
                                      request_id *req)
{
    polku_envelope *env =
        h_peer_recv(p, POLKU__ENVELOPE__BODY_REPLAY_REQUEST, (int)H_SEC(10));
    H_REQUIRE(env, "a ReplayRequest from the broker %s", when);
    H_REQUIRE(env->msg_id.len == sizeof req->id,
              "the ReplayRequest has a 16-byte msg_id");
    memcpy(req->id, env->msg_id.data, sizeof req->id);
    req->len = sizeof req->id;
    uint64_t from = env->replay_request->from_seq;
    polku_envelope_free(&env);
    return from;
}

static json_t *replay_of(h_region *r, const char *org)
{
    json_t *s = stats(r);
    json_t *o = json_incref(json_object_get(json_object_get(s, "replay"), org));
    json_decref(s);
    return o;
}

static void peer_hello(h_peer *p, const char *org, uint64_t last_seq)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Hello hello = POLKU__HELLO__INIT;
    uint8_t id[16];
    peer_header(&env, org, id);
    hello.org = (char *)org;
    hello.last_seq = last_seq;
    hello.protocol_version = POLKU_PROTOCOL_VERSION;
    env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    H_REQUIRE(h_peer_send(p, &env) == 0, "send Hello as %s", org);
}

static bool log_has(h_region *r, const char *text)
{
    char *log = h_read_file(r->broker.log, NULL);
    bool has = log && strstr(log, text);
    free(log);
    return has;
}

/* A peer whose replays always leave out seq 3: answers every ReplayRequest
 * that has come (none waited for) and says whether the org is done. */
static bool answered_until_done(h_region *r, h_peer *p, const char *org,
                                const uint8_t key[16], int *requests)
{
    polku_envelope *req =
        h_peer_recv(p, POLKU__ENVELOPE__BODY_REPLAY_REQUEST, 1);
    if (req) {
        const uint64_t all_but_3[] = {1, 2, 4, 5};
        uint64_t from = req->replay_request->from_seq;
        size_t skip = from <= 1 ? 0 : 2; /* from 3: seqs 4 and 5 */
        /* an agent from before ReplayBatch.answers names no request */
        send_batch(p, org, key, all_but_3 + skip, 4 - skip, &no_request_id);
        send_done(p, org, 5, &no_request_id);
        (*requests)++;
        polku_envelope_free(&req);
    }
    json_t *o = replay_of(r, org);
    bool done = json_is_true(json_object_get(o, "done"));
    json_decref(o);
    return done;
}

static void case_replay_gap(void)
{
    h_region *r = h_region_new();
    /* the replayed events start services the directory lists */
    h_org *o = h_region_add_org(r, "kela",
                                "vocational-rehab, svc-1, svc-2, svc-3, "
                                "svc-4, svc-5");
    h_org *u = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);

    uint8_t key[16];
    char key_hex[33];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(key_hex, sizeof key_hex, key, sizeof key);

    h_peer *p = h_peer_new(r, o);
    peer_hello(p, o->id, 5);
    request_id req;
    uint64_t from = expect_replay_request(p, "after Hello(last_seq 5)", &req);
    H_REQUIRE(from == 1,
              "the first ReplayRequest asks from seq 1, not %" PRIu64, from);

    /* frames answering another request (queued for a broker that died):
     * dropped, or seq 3 would be folded and no gap found below */
    request_id stale = {{0}, sizeof stale.id};
    randombytes_buf(stale.id, sizeof stale.id);
    const uint64_t only_3[] = {3};
    send_batch(p, o->id, key, only_3, 1, &stale);
    send_done(p, o->id, 3, &stale);

    /* seq 3 is left out */
    const uint64_t first[] = {1, 2, 4, 5};
    send_batch(p, o->id, key, first, 4, &req);
    send_done(p, o->id, 5, &req);
    from = expect_replay_request(p, "after a replay with a gap at seq 3", &req);
    H_CHECK(from == 3,
            "the broker asks again from the gap, seq 3, not %" PRIu64, from);
    json_t *mid = replay_of(r, o->id);
    H_CHECK(mid && !json_is_true(json_object_get(mid, "done")) &&
                hc_int(mid, "gaps") == 1 && hc_int(mid, "last_seq") == 5 &&
                hc_int(mid, "applied_seq") == 2 && hc_int(mid, "stale") == 2,
            "while the gap is open the org is not replayed, one gap, applied "
            "up to seq 2, the two frames of another request dropped: %s",
            mid ? json_dumps(mid, JSON_COMPACT) : "(missing)");
    json_decref(mid);
    H_CHECK(stats_int(r, "orgs_replayed") == 0,
            "no org counts as replayed while the gap is open");

    const uint64_t rest[] = {3, 4, 5};
    send_batch(p, o->id, key, rest, 3, &req);
    send_done(p, o->id, 5, &req);
    json_t *done = NULL;
    H_WAIT_UNTIL(H_SEC(10),
                 (json_decref(done), done = replay_of(r, o->id),
                  json_is_true(json_object_get(done, "done"))),
                 "the broker to list %s as replayed after the gap was filled",
                 o->id);
    char *text = json_dumps(done, JSON_COMPACT);
    h_note("replay of %s: %s", o->id, text);
    H_CHECK(hc_int(done, "from_seq") == 3 && hc_int(done, "events") == 3 &&
                hc_int(done, "expected") == 3 &&
                hc_int(done, "last_seq") == 5 &&
                hc_int(done, "applied_seq") == 5 && hc_int(done, "gaps") == 1,
            "the second replay brought the 3 expected events from seq 3 and "
            "applied everything up to seq 5: %s",
            text);
    free(text);
    json_decref(done);
    H_CHECK(stats_int(r, "orgs_replayed") == 1, "stats count %s replayed",
            o->id);

    /* the progress is logged, naming the gap */
    char line[96];
    snprintf(line, sizeof line, "%s: replay left a gap after seq 2", o->id);
    H_CHECK(log_has(r, line), "the broker's log says '%s'", line);

    /* the left-out event is folded: svc-3 is in the path */
    json_t *path = hc_broker_path(r, key_hex);
    char *ptext = path ? json_dumps(path, JSON_COMPACT) : NULL;
    H_CHECK(ptext && strstr(ptext, "\"svc-3\"") && strstr(ptext, "\"svc-1\"") &&
                strstr(ptext, "\"svc-5\""),
            "the path holds the services of seq 1, 3 and 5: %s",
            ptext ? ptext : "(no path)");
    free(ptext);
    json_decref(path);
    h_peer_destroy(&p);

    /* A gap that is never filled: the broker asks a few times, then lets
     * the org count as replayed so it does not block the region, and the
     * stats show the gap still open (applied_seq < last_seq). */
    uint8_t key2[16];
    randombytes_buf(key2, sizeof key2);
    h_peer *q = h_peer_new(r, u);
    /* before any request, even a frame naming none is not taken: seq 3
     * folded here would close the gap the rest of this case keeps open */
    send_batch(q, u->id, key2, only_3, 1, &no_request_id);
    peer_hello(q, u->id, 5);
    int requests = 0;
    H_WAIT_UNTIL(H_SEC(10), answered_until_done(r, q, u->id, key2, &requests),
                 "the broker to stop asking %s for seq 3 (%d requests so far)",
                 u->id, requests);
    json_t *open = replay_of(r, u->id);
    text = json_dumps(open, JSON_COMPACT);
    h_note("replay of %s after %d requests: %s", u->id, requests, text);
    H_CHECK(requests >= 2 && requests <= 10 && hc_int(open, "gaps") >= 1 &&
                hc_int(open, "applied_seq") == 2 &&
                hc_int(open, "last_seq") == 5 && hc_int(open, "stale") == 1,
            "a gap never filled is asked for again a bounded number of times "
            "and stays visible (applied_seq 2 of last_seq 5): %s",
            text);
    free(text);
    json_decref(open);
    snprintf(line, sizeof line, "%s: replay done with a gap after seq 2",
             u->id);
    H_CHECK(log_has(r, line), "the broker's log warns '%s'", line);
    h_peer_destroy(&q);
}

/* ============================================================== (3) */

static long consent_by_hetu(h_org *at, const char *hetu, h_org *with,
                            const char *const purposes[], char key[33],
                            char cid[64])
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 86400000ull, until, sizeof until);
    json_t *ps = json_array();
    for (int i = 0; purposes[i]; i++)
        json_array_append_new(ps, json_string(purposes[i]));
    json_t *body = json_pack("{s:{s:s}, s:[s], s:o, s:s, s:s}", "client",
                             "hetu", hetu, "orgs", with->id, "purposes", ps,
                             "valid_until", until, "form", "Y100");
    h_resp resp;
    long st = h_api_json(at, "POST", "/v1/consents", body, &resp);
    const char *k = hc_str(resp.json, "client_key");
    const char *id = hc_str(resp.json, "id");
    if (st != 201 || !k[0] || !id[0]) {
        char msg[300];
        snprintf(msg, sizeof msg, "%ld %s", st, hc_body(&resp));
        h_resp_free(&resp);
        H_FAIL("consent by identity code at %s: want 201, got %s", at->id, msg);
    }
    snprintf(key, 33, "%s", k);
    snprintf(cid, 64, "%s", id);
    h_resp_free(&resp);
    return st;
}

static long get_path(h_org *o, const char *key, h_resp *resp)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/paths/%s", key);
    return h_api(o, "GET", path, NULL, resp);
}

static void case_path_view_consent(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_region_write(r);
    h_region_use_secret(r);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    hc_wait_replayed(r, H_SEC(15));

    uint8_t rnd[4];
    char marker[32];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(marker, sizeof marker, "Huolenaihe%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3]);

    char key[33], cid[64], rid[64];
    const char *const no_path[] = {"referral", "handover", NULL};
    consent_by_hetu(a, HETU_PATH, b, no_path, key, cid);
    hc_wait_consent(b, key, cid);
    hc_claim_ok(a, key);
    referral_ok(a, key, b, marker, rid);
    h_wait_status(a, rid, "received", H_SEC(10));

    h_resp resp;
    for (int i = 0; i < 2; i++) {
        h_org *o = i ? b : a;
        long st = get_path(o, key, &resp);
        H_CHECK(st == 403 &&
                    strcmp(h_resp_error_code(&resp), "consent_required") == 0,
                "GET /v1/paths/%s at %s without purpose path: want 403 "
                "consent_required, got %ld %s",
                key, o->id, st, hc_body(&resp));
        h_resp_free(&resp);
    }

    char key2[33], cid2[64];
    const char *const with_path[] = {"path", NULL};
    consent_by_hetu(a, HETU_PATH, b, with_path, key2, cid2);
    H_REQUIRE(strcmp(key, key2) == 0, "the same identity code gives one key");
    hc_wait_consent(b, key, cid2);
    /* the broker learns the consent as it passes; wait for the answer */
    long st = 0;
    H_WAIT_UNTIL(H_SEC(10),
                 (h_resp_free(&resp), st = get_path(b, key, &resp)) == 200,
                 "GET /v1/paths/%s at %s to answer 200 (now %ld %s)", key,
                 b->id, st, hc_body(&resp));
    const char *body = resp.body ? resp.body : "";
    H_CHECK(strcmp(hc_coordinator(resp.json), a->id) == 0,
            "the shared path names %s as coordinator: %s", a->id, body);
    json_t *tl = json_object_get(resp.json, "timeline");
    H_CHECK(json_is_array(tl) && json_array_size(tl) >= 3,
            "the shared path has a timeline (consent, claim, referral): %s",
            body);
    H_CHECK(json_array_size(json_object_get(resp.json, "referrals")) == 1,
            "the shared path lists the referral: %s", body);
    H_CHECK(!strstr(body, HETU_PATH) && !strstr(body, "150382"),
            "the shared path holds no identity code (body not shown)");
    char lower[32];
    for (size_t i = 0; i <= strlen(marker); i++)
        lower[i] = (char)(marker[i] >= 'A' && marker[i] <= 'Z' ? marker[i] + 32
                                                               : marker[i]);
    H_CHECK(!strstr(body, marker) && !strstr(body, lower),
            "the shared path holds no free text (the reason %s): %s", marker,
            body);
    h_resp_free(&resp);
    st = get_path(a, key, &resp);
    H_CHECK(st == 200 && strcmp(hc_coordinator(resp.json), a->id) == 0,
            "the coordinator's own view answers 200 too: %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);

    /* the path consent revoked: refused again */
    st = h_consent_revoke(a, cid2, "path view withdrawn", &resp);
    H_REQUIRE(st == 200 || st == 202, "revoke %s: HTTP %ld %s", cid2, st,
              hc_body(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10),
                 (h_resp_free(&resp), st = get_path(b, key, &resp)) == 403,
                 "GET /v1/paths/%s at %s to answer 403 once the path consent "
                 "is revoked (now %ld %s)",
                 key, b->id, st, hc_body(&resp));
    H_CHECK(strcmp(h_resp_error_code(&resp), "consent_required") == 0,
            "refused as consent_required: %s", hc_body(&resp));
    h_resp_free(&resp);
}

/* ============================================================== (4) */

#define SLA "1s"
#define SLA_MS 1000u

typedef struct alert_want {
    char id[96]; /* kind:subject */
    const char *kind;
    uint64_t start_ms; /* before the action that starts its SLA; 0: none */
    uint64_t seen_ms;  /* when /api/v1/alerts first (or last) showed it */
} alert_want;

/* The ids /api/v1/alerts lists, as one JSON array (caller decrefs), NULL
 * when it cannot be read. */
static json_t *alerts_now(h_region *r)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL,
                             NULL, 0, &resp);
    json_t *list =
        st == 200 ? json_incref(json_object_get(resp.json, "alerts")) : NULL;
    h_resp_free(&resp);
    return json_is_array(list) ? list : (json_decref(list), NULL);
}

static bool listed(json_t *list, const char *id)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(hc_str(json_array_get(list, i), "id"), id) == 0)
            return true;
    return false;
}

/* One look at /api/v1/alerts: records when each alert was first seen in
 * (raised) or out of (cleared) the list; true once all are. */
static bool alerts_reached(h_region *r, alert_want *w, int n, bool raised)
{
    json_t *list = alerts_now(r);
    if (!list)
        return false;
    uint64_t now = h_now_ms();
    bool all = true;
    for (int i = 0; i < n; i++) {
        if (!w[i].seen_ms && listed(list, w[i].id) == raised)
            w[i].seen_ms = now;
        all &= w[i].seen_ms != 0;
    }
    json_decref(list);
    return all;
}

static const char *missing_alerts(const alert_want *w, int n, char *out,
                                  size_t len)
{
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < n && k < len; i++)
        if (!w[i].seen_ms)
            k += (size_t)snprintf(out + k, len - k, " %s", w[i].id);
    return out;
}

static void alert_id(alert_want *w, const char *kind, const char *subject)
{
    w->kind = kind;
    snprintf(w->id, sizeof w->id, "%s:%s", kind, subject);
}

/* Waits until every alert is listed (raised) or gone (cleared), then for
 * the matching feed event of each. A raised alert with an SLA must not
 * have shown before its SLA ran out. */
static void wait_alerts(h_region *r, h_sse *feed, alert_want *w, int n,
                        bool raised, uint64_t sla_ms)
{
    const char *topic = raised ? "alert.raised" : "alert.cleared";
    char miss[600] = "";
    for (int i = 0; i < n; i++)
        w[i].seen_ms = 0;
    H_WAIT_UNTIL(H_SEC(15), alerts_reached(r, w, n, raised),
                 "alerts to be %s /api/v1/alerts:%s",
                 raised ? "in" : "gone from",
                 missing_alerts(w, n, miss, sizeof miss));
    for (int i = 0; raised && i < n; i++)
        if (w[i].start_ms)
            H_CHECK(w[i].seen_ms - w[i].start_ms + 50 >= sla_ms,
                    "alert %s showed %llu ms after its clock started, before "
                    "its SLA of %llu ms",
                    w[i].id, (unsigned long long)(w[i].seen_ms - w[i].start_ms),
                    (unsigned long long)sla_ms);
    for (int i = 0; i < n; i++)
        H_WAIT_UNTIL(
            H_SEC(5),
            (h_sse_pump(feed, 20), h_sse_find(feed, topic, "id", w[i].id) >= 0),
            "%s of %s in the SSE feed", topic, w[i].id);
}

static void case_alerts_raise_clear(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "kela", "vocational-rehab");
    h_region_write(r);
    h_broker_sla_all(r, SLA, SLA, SLA, SLA, SLA);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);
    hc_wait_replayed(r, H_SEC(15));
    h_sse *feed = h_sse_open_broker(r, NULL);

    /* one client per kind, each with a consent a + b + c (all purposes) */
    enum {
        NOT_RECEIVED,
        NOT_ANSWERED,
        NO_FOLLOWUP,
        HANDOVER,
        CONSENT,
        NO_COORD,
        N_KINDS
    };
    char key[N_KINDS][33], cid[N_KINDS][64];
    h_org *bc[2] = {b, c};
    for (int i = 0; i < N_KINDS; i++) {
        h_client_key(key[i]);
        hc_consent(a, key[i], bc, 2, NULL, cid[i]);
    }
    for (int i = 0; i < N_KINDS; i++) {
        hc_wait_consent(b, key[i], cid[i]);
        hc_wait_consent(c, key[i], cid[i]);
    }
    /* every path but the no-coordinator one has a coordinator */
    for (int i = 0; i < N_KINDS; i++)
        if (i != NO_COORD)
            hc_claim_ok(a, key[i]);

    /* c is away: a referral to it is not received */
    H_CHECK(h_agent_stop(c) == 0, "agent %s stopped cleanly", c->id);
    alert_want w[N_KINDS];
    memset(w, 0, sizeof w);
    char rid[N_KINDS][64], hid[64], follow[64];
    w[NOT_RECEIVED].start_ms = h_now_ms();
    referral_ok(a, key[NOT_RECEIVED], c, "to the absent one",
                rid[NOT_RECEIVED]);
    w[NOT_ANSWERED].start_ms = h_now_ms(); /* before its receipt, too */
    referral_ok(a, key[NOT_ANSWERED], b, "left unanswered", rid[NOT_ANSWERED]);
    referral_ok(a, key[NO_FOLLOWUP], b, "to be rejected", rid[NO_FOLLOWUP]);
    referral_ok(a, key[CONSENT], b, "consent goes", rid[CONSENT]);
    w[NO_COORD].start_ms = h_now_ms();
    referral_ok(a, key[NO_COORD], b, "nobody coordinates", rid[NO_COORD]);
    w[HANDOVER].start_ms = h_now_ms();
    hc_offer_ok(a, key[HANDOVER], b->id, hid);
    h_wait_status(b, rid[NO_FOLLOWUP], "received", H_SEC(10));
    w[NO_FOLLOWUP].start_ms = h_now_ms();
    set_status_ok(b, rid[NO_FOLLOWUP], "rejected", "not ours");
    /* consent_expired_open holds from the revocation on: no SLA */
    h_wait_status(b, rid[CONSENT], "received", H_SEC(10));
    h_resp resp;
    long st = h_consent_revoke(a, cid[CONSENT], "client withdrew", &resp);
    H_REQUIRE(st == 200 || st == 202, "revoke consent %s: HTTP %ld %s",
              cid[CONSENT], st, hc_body(&resp));
    h_resp_free(&resp);

    alert_id(&w[NOT_RECEIVED], "referral_not_received", rid[NOT_RECEIVED]);
    alert_id(&w[NOT_ANSWERED], "referral_not_answered", rid[NOT_ANSWERED]);
    alert_id(&w[NO_FOLLOWUP], "rejection_no_followup", rid[NO_FOLLOWUP]);
    alert_id(&w[HANDOVER], "handover_unanswered", hid);
    alert_id(&w[CONSENT], "consent_expired_open", rid[CONSENT]);
    char no_coord_shown[33]; /* the subject: the display pseudonym */
    h_display_name(r, key[NO_COORD], no_coord_shown);
    alert_id(&w[NO_COORD], "path_no_coordinator", no_coord_shown);
    uint64_t t0 = h_now_ms();
    wait_alerts(r, feed, w, N_KINDS, true, SLA_MS);
    h_note("all %d alert kinds raised within %llu ms", N_KINDS,
           (unsigned long long)(h_now_ms() - t0));

    /* the raised alert names the org that must act, its kind and the
     * client by its display pseudonym */
    char shown[33];
    h_display_name(r, key[NOT_RECEIVED], shown);
    long at = h_sse_find(feed, "alert.raised", "id", w[NOT_RECEIVED].id);
    const h_sse_event *ev = h_sse_at(feed, (size_t)at);
    H_CHECK(
        ev && strcmp(hc_str(ev->json, "kind"), "referral_not_received") == 0 &&
            strcmp(hc_str(ev->json, "org"), c->id) == 0 &&
            strcmp(hc_str(ev->json, "client_key"), shown) == 0,
        "alert.raised names kind, org %s and client: %s", c->id,
        ev ? ev->data : "(none)");

    /* resolve each */
    h_agent_start_connected(c); /* receives: no longer not-received */
    set_status_ok(b, rid[NOT_ANSWERED], "accepted", NULL);
    referral_ok(a, key[NO_FOLLOWUP], c, "the follow-up", follow);
    wait_handover(b, hid, "offered");
    H_REQUIRE(hc_handover_act(b, hid, "accept", NULL, NULL) == 200,
              "accept handover %s at %s", hid, b->id);
    set_status_ok(b, rid[CONSENT], "rejected", "consent withdrawn");
    hc_claim_ok(a, key[NO_COORD]);

    t0 = h_now_ms();
    wait_alerts(r, feed, w, N_KINDS, false, SLA_MS);
    h_note("all %d alerts cleared within %llu ms", N_KINDS,
           (unsigned long long)(h_now_ms() - t0));
    h_sse_close(&feed);
}

/* ============================================================== (5) */

/* Epoch and seq of an id "EPOCH-SEQ". */
static bool split_id(const char *id, char epoch[32], uint64_t *seq)
{
    const char *dash = strchr(id, '-');
    if (!dash || dash == id || (size_t)(dash - id) >= 32)
        return false;
    snprintf(epoch, 32, "%.*s", (int)(dash - id), id);
    char *end = NULL;
    *seq = strtoull(dash + 1, &end, 10);
    return end && *end == '\0';
}

static long long last_seq_of(const h_sse *s)
{
    char e[32];
    uint64_t seq = 0;
    return split_id(h_sse_last_id(s), e, &seq) ? (long long)seq : -1;
}

static void make_events(h_org *a, h_org *b, int n_referrals, char key[33])
{
    char cid[64], rid[64];
    h_org *bb[1] = {b};
    h_client_key(key);
    hc_consent(a, key, bb, 1, NULL, cid);
    hc_wait_consent(b, key, cid);
    for (int i = 0; i < n_referrals; i++) {
        referral_ok(a, key, b, "feed test", rid);
        h_wait_status(a, rid, "received", H_SEC(10));
    }
}

/* A referral's feed event names what changed and between whom, and no
 * more: every byte of it goes to each dashboard (docs/openapi-broker.yaml,
 * /events). */
static void check_referral_event(const h_sse_event *e, const char *topic)
{
    static const char *const want[] = {
        "id",     "client_key", "from",    "to",  "service",
        "status", "version",    "urgency", "seq", "at"};
    size_t n = sizeof want / sizeof want[0];
    H_REQUIRE(e->json && json_is_object(e->json), "%s has JSON data: %s", topic,
              e->data);
    for (size_t i = 0; i < n; i++)
        H_CHECK(json_object_get(e->json, want[i]) != NULL,
                "%s data has \"%s\": %s", topic, want[i], e->data);
    H_CHECK(json_object_size(e->json) == n,
            "%s data has only the %zu members of a feed event: %s", topic, n,
            e->data);
    H_CHECK(strcmp(hc_str(e->json, "from"), "sote-keskus") == 0 &&
                strcmp(hc_str(e->json, "to"), "tyokykytiimi") == 0,
            "%s names the organisations: %s", topic, e->data);
}

static void case_sse_resume(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    hc_wait_replayed(r, H_SEC(15));
    char epoch[32];
    broker_epoch(r, epoch);
    H_REQUIRE(epoch[0], "the broker's epoch from /api/v1/stats");

    /* connected: some events arrive */
    h_sse *s = h_sse_open_broker(r, NULL);
    H_WAIT_UNTIL(H_SEC(5), (h_sse_pump(s, 20), h_sse_last_id(s)[0] != '\0'),
                 "the fresh stream's first id");
    char key[33];
    make_events(a, b, 2, key);
    long long feed_seq = stats_int(r, "feed_seq");
    H_REQUIRE(feed_seq >= 4, "events were published (feed_seq %lld)", feed_seq);
    H_WAIT_UNTIL(H_SEC(5), (h_sse_pump(s, 20), last_seq_of(s) == feed_seq),
                 "the stream to reach seq %lld (at %lld)", feed_seq,
                 last_seq_of(s));
    long requested = h_sse_find(s, "referral.requested", NULL, NULL);
    long received = h_sse_find(s, "referral.received", NULL, NULL);
    H_REQUIRE(requested >= 0 && received > requested,
              "referral.requested, then referral.received on the stream");
    check_referral_event(h_sse_at(s, (size_t)requested), "referral.requested");
    check_referral_event(h_sse_at(s, (size_t)received), "referral.received");
    H_CHECK(strcmp(hc_str(h_sse_at(s, (size_t)received)->json, "status"),
                   "received") == 0,
            "referral.received has status received: %s",
            h_sse_at(s, (size_t)received)->data);
    char seen_id[64];
    snprintf(seen_id, sizeof seen_id, "%s", h_sse_last_id(s));
    long long seen = last_seq_of(s);
    h_sse_close(&s);

    /* disconnected: more events */
    char key2[33];
    make_events(a, b, 3, key2);
    long long missed_to = 0;
    H_WAIT_UNTIL(H_SEC(10), (missed_to = stats_int(r, "feed_seq")) >= seen + 4,
                 "more events while disconnected (feed_seq %lld)", missed_to);
    /* everything of this epoch, the reference for what was missed */
    char zero[64];
    snprintf(zero, sizeof zero, "%s-0", epoch);
    h_sse *ref = h_sse_open_broker(r, zero);
    H_WAIT_UNTIL(H_SEC(5), (h_sse_pump(ref, 20), last_seq_of(ref) >= missed_to),
                 "the full stream to reach seq %lld", missed_to);

    h_sse *again = h_sse_open_broker(r, seen_id);
    H_WAIT_UNTIL(
        H_SEC(5), (h_sse_pump(again, 20), last_seq_of(again) >= missed_to),
        "the resumed stream (from %s) to reach seq %lld", seen_id, missed_to);
    H_CHECK(h_sse_find(again, "reset", NULL, NULL) < 0,
            "a resume within the epoch sends no reset");
    size_t n = h_sse_count(again);
    H_CHECK(n >= (size_t)(missed_to - seen),
            "the resumed stream has the %lld missed events (got %zu)",
            missed_to - seen, n);
    uint64_t want = (uint64_t)seen + 1;
    for (size_t i = 0; i < n; i++) {
        const h_sse_event *e = h_sse_at(again, i);
        char ep[32];
        uint64_t seq = 0;
        H_CHECK(split_id(e->id, ep, &seq) && strcmp(ep, epoch) == 0 &&
                    seq == want,
                "resumed event %zu has id %s-%" PRIu64 ", got '%s'", i, epoch,
                want, e->id);
        H_CHECK(hc_int(e->json, "seq") == (long long)seq,
                "event %s carries seq %" PRIu64 " in its data: %s", e->id, seq,
                e->data);
        /* the same event as in the full stream */
        const h_sse_event *f = h_sse_at(ref, (size_t)(seq - 1));
        H_CHECK(f && strcmp(f->id, e->id) == 0 &&
                    strcmp(f->event, e->event) == 0 &&
                    strcmp(f->data, e->data) == 0,
                "resumed event %s equals the one in the full stream", e->id);
        want = seq + 1;
    }
    h_note("resumed from %s: %zu events, seq %lld..%" PRIu64, seen_id, n,
           seen + 1, want - 1);
    H_CHECK(want - 1 >= (uint64_t)missed_to,
            "the resumed stream ends at or after seq %lld (at %" PRIu64 ")",
            missed_to, want - 1);
    h_sse_close(&again);
    h_sse_close(&ref);

    /* an id of another epoch: a reset naming the current epoch */
    char other[64];
    snprintf(other, sizeof other, "%016llx-%lld",
             (unsigned long long)(strtoull(epoch, NULL, 16) ^ 0x1ull), seen);
    h_sse *old = h_sse_open_broker(r, other);
    H_WAIT_UNTIL(
        H_SEC(5),
        (h_sse_pump(old, 20), h_sse_find(old, "reset", NULL, NULL) >= 0),
        "event: reset for Last-Event-ID %s", other);
    const h_sse_event *e =
        h_sse_at(old, (size_t)h_sse_find(old, "reset", NULL, NULL));
    H_CHECK(strcmp(hc_str(e->json, "epoch"), epoch) == 0 &&
                hc_int(e->json, "seq") >= missed_to,
            "the reset names epoch %s and the current seq: %s", epoch, e->data);
    H_CHECK(h_sse_find(old, "referral.received", NULL, NULL) < 0,
            "no backlog after a reset");
    h_sse_close(&old);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_feed");
    H_CASE(case_rebuild_digest);
    H_CASE(case_replay_gap);
    H_CASE(case_path_view_consent);
    H_CASE(case_alerts_raise_clear);
    H_CASE(case_sse_resume);
    return h_finish();
}
