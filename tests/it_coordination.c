/* it_coordination — exactly one coordinator per client path (DESIGN §2
 * invariants 1 and 3, §4; issue 4 "What must be shown"; the HTTP contract
 * in notes/coord_spec.md).
 *
 * (1) claim_race: two organisations claim the same client at the same
 *     moment, for 50 clients (POLKU_IT_RACES): exactly one wins each time,
 *     the other is told who; the broker names the same winner; after a
 *     kill -9 and restart of the broker, once it has replayed, every path
 *     has the same coordinator, the same digest, and a re-claim by the
 *     loser is still refused naming the winner;
 * (2) offer → decline leaves the coordinator everywhere; offer → accept
 *     moves it at both agents and in the broker (term + 1); accept racing
 *     withdraw ends in one outcome, identical at both agents and the broker;
 * (3) a non-coordinator's offer, an offer without a handover consent
 *     covering the receiver, and a second open offer are refused and store
 *     nothing;
 * (4) the transfer-on-accept rule offers exactly one handover per accepted
 *     referral, also when the sender is killed right after the acceptance;
 *     the service-ended rule offers to the configured org, and without a
 *     rule the end is refused (409 successor_required, nothing changed);
 *     invalid rules stop the agent with exit 2 naming FILE:LINE;
 * (5) kill -9 of the receiver, the broker or the offerer in the middle of
 *     a handover: after restarts one coordinator, the same at both agents
 *     and in the broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_coord.h"
#include "polku/clock.h"

/* A region with a broker and sote-keskus (a), tyokykytiimi (b) and typ
 * (c) in the directory; a and b started, c when start_c. */
static h_region *region3(h_org **a, h_org **b, h_org **c, bool start_c)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    *c = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    if (start_c)
        h_agent_start_connected(*c);
    return r;
}

/* A new client whose consent (all four purposes), recorded at a, covers a
 * and the n orgs of with; waits until each of them holds it. */
static void new_client(h_org *a, h_org *const with[], int n, char key[33])
{
    char cid[64];
    h_client_key(key);
    hc_consent(a, key, with, n, NULL, cid);
    for (int i = 0; i < n; i++)
        hc_wait_consent(with[i], key, cid);
}

static void wait_handover_status(h_org *o, const char *hid, const char *want,
                                 uint64_t timeout_ms)
{
    char seen[32] = "";
    H_WAIT_UNTIL(timeout_ms,
                 strcmp(hc_handover_status(o, hid, seen, sizeof seen),
                        want) == 0,
                 "handover %s at %s to be '%s' (last seen '%s')", hid, o->id,
                 want, seen[0] ? seen : "(not listed)");
}

static bool broker_coordinator_is(h_region *r, const char *key,
                                  const char *want)
{
    char c[40];
    return strcmp(hc_coordinator_at_broker(r, key, c, sizeof c), want) == 0;
}

static bool broker_no_open_handover(h_region *r, const char *key)
{
    json_t *p = hc_broker_path(r, key);
    bool none = p && json_is_null(json_object_get(p, "open_handover"));
    json_decref(p);
    return none;
}

static bool broker_open_handover_is(h_region *r, const char *key,
                                    const char *id)
{
    json_t *p = hc_broker_path(r, key);
    bool is = p && strcmp(hc_str(json_object_get(p, "open_handover"), "id"),
                          id) == 0;
    json_decref(p);
    return is;
}

static void wait_outboxes_drained(h_org *a, h_org *b)
{
    long pa = -1, pb = -1;
    H_WAIT_UNTIL(H_SEC(30),
                 (pa = h_agent_outbox_pending(a)) == 0 &&
                     (pb = h_agent_outbox_pending(b)) == 0,
                 "the outboxes of %s and %s to drain (now %ld and %ld)", a->id,
                 b->id, pa, pb);
}

/* The coordinator of key is want at o, with i_coordinate matching. */
static void check_path_at(h_org *o, const char *key, const char *want,
                          long long term, const char *when)
{
    json_t *p = hc_path(o, key);
    char *dump = p ? json_dumps(p, JSON_COMPACT) : NULL;
    H_CHECK(p && strcmp(hc_coordinator(p), want) == 0,
            "%s: %s's path of %s names coordinator %s: %s", when, o->id, key,
            want, dump ? dump : "(no path)");
    json_t *ic = json_object_get(p, "i_coordinate");
    bool mine = strcmp(want, o->id) == 0;
    H_CHECK(json_is_boolean(ic) && json_boolean_value(ic) == mine,
            "%s: %s's path of %s says i_coordinate %s: %s", when, o->id, key,
            mine ? "true" : "false", dump ? dump : "(no path)");
    if (term >= 0)
        H_CHECK(hc_int(p, "term") == term, "%s: %s's path of %s at term %lld: %s",
                when, o->id, key, term, dump ? dump : "(no path)");
    free(dump);
    json_decref(p);
}

/* ================================================================ (1) */

static int n_races(void)
{
    const char *s = getenv("POLKU_IT_RACES");
    return s && atoi(s) > 0 ? atoi(s) : 50;
}

/* How one claim of a race ended: 'W' won (201/200 naming the claimant),
 * 'L' lost (409 already_coordinated naming named). A 202 (the broker did
 * not answer in 5 s) is resolved from the agent's path view. */
static char claim_outcome(h_org *o, const char *key, const h_resp *resp,
                          char named[40])
{
    long st = resp->status;
    named[0] = '\0';
    if (st == 201 || st == 200) {
        snprintf(named, 40, "%s", hc_coordinator(resp->json));
        return 'W';
    }
    if (st == 409) {
        H_CHECK(strcmp(h_resp_error_code(resp), "already_coordinated") == 0,
                "a lost claim at %s answers already_coordinated: %s", o->id,
                hc_body(resp));
        snprintf(named, 40, "%s", hc_str(resp->json, "coordinator"));
        return 'L';
    }
    if (st == 202) {
        h_note("claim of %s at %s: 202 pending, resolving from its path", key,
               o->id);
        const char *outcome = "";
        json_t *p = NULL;
        H_WAIT_UNTIL(
            H_SEC(20),
            (json_decref(p), p = hc_path(o, key),
             outcome = hc_str(json_object_get(p, "claim"), "outcome"),
             strcmp(outcome, "won") == 0 || strcmp(outcome, "lost") == 0),
            "the pending claim of %s at %s to be decided (outcome '%s')", key,
            o->id, outcome);
        char o1 = strcmp(outcome, "won") == 0 ? 'W' : 'L';
        snprintf(named, 40, "%s", hc_coordinator(p));
        json_decref(p);
        return o1;
    }
    H_FAIL("claim of %s at %s: want 201, 200, 202 or 409, got %ld %s", key,
           o->id, st, hc_body(resp));
}

/* Fires both claims at once; returns the winner's index (0 a, 1 b). */
static int race_one(h_region *r, h_org *a, h_org *b, const char *key,
                    int round)
{
    h_org *who[2] = {a, b};
    hc_req q[2];
    /* alternate which transfer the multi handle starts first */
    int first = round & 1;
    for (int i = 0; i < 2; i++) {
        h_org *o = who[i ^ first];
        hc_req_set(&q[i], o, "POST", "/v1/paths",
                   json_pack("{s:{s:s}}", "client", "key", key));
    }
    hc_concurrent(q, 2);
    char named[2][40], kind[2];
    for (int i = 0; i < 2; i++)
        kind[i] = claim_outcome(q[i].org, key, &q[i].resp, named[i]);
    int w = kind[0] == 'W' ? 0 : 1, l = 1 - w;
    bool one_winner = (kind[0] == 'W') != (kind[1] == 'W');
    H_CHECK(one_winner,
            "round %d, client %s: exactly one claim wins (%s: %ld %s; %s: "
            "%ld %s)",
            round, key, q[0].org->id, q[0].resp.status, hc_body(&q[0].resp),
            q[1].org->id, q[1].resp.status, hc_body(&q[1].resp));
    const char *winner = q[w].org->id;
    if (one_winner) {
        H_CHECK(strcmp(named[w], winner) == 0,
                "round %d: the winner's answer names it (%s): %s", round,
                winner, hc_body(&q[w].resp));
        H_CHECK(strcmp(named[l], winner) == 0,
                "round %d: the loser %s is told the winner %s: %s", round,
                q[l].org->id, winner, hc_body(&q[l].resp));
        char at_broker[40];
        H_CHECK(strcmp(hc_coordinator_at_broker(r, key, at_broker,
                                                sizeof at_broker),
                       winner) == 0,
                "round %d: the broker's path of %s names %s (got '%s')", round,
                key, winner, at_broker);
        check_path_at(q[w].org, key, winner, -1, "after the race");
        check_path_at(q[l].org, key, winner, -1, "after the race");
    }
    for (int i = 0; i < 2; i++)
        h_resp_free(&q[i].resp);
    return q[w].org == a ? 0 : 1;
}

static void case_claim_race(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, false);
    int n = n_races();
    char(*keys)[33] = calloc((size_t)n, sizeof *keys);
    int *winner = calloc((size_t)n, sizeof *winner);
    H_REQUIRE(keys && winner, "out of memory");
    h_org *const with_b[] = {b};
    char(*cids)[64] = calloc((size_t)n, sizeof *cids);
    H_REQUIRE(cids, "out of memory");
    for (int i = 0; i < n; i++) {
        h_client_key(keys[i]);
        hc_consent(a, keys[i], with_b, 1, NULL, cids[i]);
    }
    for (int i = 0; i < n; i++)
        hc_wait_consent(b, keys[i], cids[i]);
    free(cids);

    int wins[2] = {0, 0};
    uint64_t t0 = h_now_ms();
    for (int i = 0; i < n; i++) {
        winner[i] = race_one(r, a, b, keys[i], i);
        wins[winner[i]]++;
    }
    h_note("%d races in %.2f s: %s won %d, %s won %d", n,
           (double)(h_now_ms() - t0) / 1000.0, a->id, wins[0], b->id, wins[1]);

    json_t *before = hc_broker_stats(r);
    H_REQUIRE(before, "GET /api/v1/stats at the broker answers 200 JSON");
    H_CHECK(hc_int(before, "coordinated") == n && hc_int(before, "paths") == n,
            "the broker counts %d coordinated paths (paths %lld, coordinated "
            "%lld)",
            n, hc_int(before, "paths"), hc_int(before, "coordinated"));
    char digest[80];
    snprintf(digest, sizeof digest, "%s", hc_str(before, "digest"));
    H_CHECK(strlen(digest) == 64, "the stats carry a 64-hex digest ('%s')",
            digest);
    /* the digest walks every record: only when asked for, not for the
     * dashboard's polling; a bad value is refused */
    h_resp plain;
    long got = h_http_request(r->broker_http, "GET", "/api/v1/stats", NULL,
                             NULL, 0, &plain);
    H_CHECK(got == 200 && json_is_object(plain.json) &&
                !json_object_get(plain.json, "digest") &&
                !json_object_get(plain.json, "paths_digest") &&
                hc_int(plain.json, "paths") == n,
            "/api/v1/stats without ?digest=1: the counts, no digest (HTTP "
            "%ld)",
            got);
    h_resp_free(&plain);
    got = h_http_request(r->broker_http, "GET", "/api/v1/stats?digest=yes",
                         NULL, NULL, 0, &plain);
    H_CHECK(got == 400 && plain.body && strstr(plain.body, "digest must be 1"),
            "/api/v1/stats?digest=yes: 400 naming the parameter, got %ld",
            got);
    h_resp_free(&plain);

    h_broker_kill(r);
    h_broker_start(r);
    hc_wait_replayed(r, H_SEC(30));
    for (int i = 0; i < n; i++) {
        json_t *p = NULL;
        H_WAIT_UNTIL(H_SEC(15),
                     (json_decref(p), p = hc_broker_path(r, keys[i])) != NULL,
                     "the restarted broker to answer for path %s", keys[i]);
        json_decref(p);
    }
    json_t *after = hc_broker_stats(r);
    H_REQUIRE(after, "GET /api/v1/stats after the restart");
    H_CHECK(strcmp(hc_str(after, "epoch"), hc_str(before, "epoch")) != 0,
            "a new broker epoch after the restart (%s)", hc_str(after, "epoch"));
    H_CHECK(strcmp(hc_str(after, "digest"), digest) == 0,
            "the path digest after the replay equals the one before (%s, "
            "before %s)",
            hc_str(after, "digest"), digest);
    H_CHECK(hc_int(after, "coordinated") == n,
            "%d coordinated paths after the replay (got %lld)", n,
            hc_int(after, "coordinated"));
    json_decref(before);
    json_decref(after);

    int bad = 0;
    for (int i = 0; i < n && bad < 5; i++) {
        h_org *w = winner[i] == 0 ? a : b, *l = winner[i] == 0 ? b : a;
        char at[40];
        hc_coordinator_at_broker(r, keys[i], at, sizeof at);
        if (strcmp(at, w->id) != 0) {
            bad++;
            H_CHECK(false, "after the restart the broker names %s for %s "
                           "(want %s)",
                    at, keys[i], w->id);
        }
        h_resp resp;
        long st = hc_claim(l, keys[i], &resp);
        if (st != 409 ||
            strcmp(h_resp_error_code(&resp), "already_coordinated") != 0 ||
            strcmp(hc_str(resp.json, "coordinator"), w->id) != 0) {
            bad++;
            H_CHECK(false,
                    "re-claim of %s by the loser %s after the restart: want "
                    "409 already_coordinated naming %s, got %ld %s",
                    keys[i], l->id, w->id, st, hc_body(&resp));
        }
        h_resp_free(&resp);
        st = hc_claim(w, keys[i], &resp);
        if (st != 200 || strcmp(hc_coordinator(resp.json), w->id) != 0) {
            bad++;
            H_CHECK(false,
                    "re-claim of %s by its coordinator %s: want 200 naming "
                    "it, got %ld %s",
                    keys[i], w->id, st, hc_body(&resp));
        }
        h_resp_free(&resp);
    }
    free(keys);
    free(winner);
}

/* ================================================================ (2) */

static void case_offer_decline_accept(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, false);
    h_org *const with_b[] = {b};
    char key[33], h1[64], h2[64];
    new_client(a, with_b, 1, key);
    hc_claim_ok(a, key);
    H_WAIT_UNTIL(H_SEC(10), broker_coordinator_is(r, key, a->id),
                 "the broker to name %s for %s", a->id, key);
    json_t *bp = hc_broker_path(r, key);
    long long term0 = hc_int(bp, "term");
    json_decref(bp);
    H_CHECK(term0 >= 1, "a coordinated path has a term >= 1 (got %lld)", term0);

    /* offer -> decline */
    hc_offer_ok(a, key, b->id, h1);
    wait_handover_status(b, h1, "offered", H_SEC(10));
    json_t *in = hc_handover(b, h1);
    H_CHECK(strcmp(hc_str(in, "direction"), "in") == 0 &&
                strcmp(hc_str(in, "from"), a->id) == 0 &&
                strcmp(hc_str(in, "to"), b->id) == 0 &&
                strcmp(hc_str(in, "client_key"), key) == 0,
            "%s shows the offer as incoming from %s for %s", b->id, a->id,
            key);
    json_decref(in);
    H_WAIT_UNTIL(H_SEC(10), broker_open_handover_is(r, key, h1),
                 "the broker's path of %s to show the open handover %s", key,
                 h1);
    h_resp resp;
    long st = hc_handover_act(b, h1, "decline", NULL, &resp);
    H_CHECK(st == 400, "a decline without a reason: want 400, got %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);
    st = hc_handover_act(b, h1, "decline", "no capacity this month", &resp);
    H_REQUIRE(st == 200, "decline at %s: want 200, got %ld %s", b->id, st,
              hc_body(&resp));
    H_CHECK(strcmp(hc_str(resp.json, "status"), "declined") == 0,
            "the answer shows 'declined': %s", hc_body(&resp));
    h_resp_free(&resp);
    wait_handover_status(a, h1, "declined", H_SEC(10));
    json_t *out = hc_handover(a, h1);
    H_CHECK(strcmp(hc_str(out, "reason"), "no capacity this month") == 0,
            "%s sees the decline reason (got '%s')", a->id,
            hc_str(out, "reason"));
    json_decref(out);
    H_WAIT_UNTIL(H_SEC(10), broker_no_open_handover(r, key),
                 "the broker to show no open handover for %s", key);
    check_path_at(a, key, a->id, term0, "after the decline");
    json_t *pb = hc_path(b, key);
    if (pb) /* b may or may not keep a view of a path it does not run */
        check_path_at(b, key, a->id, term0, "after the decline");
    json_decref(pb);
    bp = hc_broker_path(r, key);
    H_CHECK(strcmp(hc_coordinator(bp), a->id) == 0 &&
                hc_int(bp, "term") == term0,
            "after the decline the broker names %s at term %lld (got %s, "
            "%lld)",
            a->id, term0, hc_coordinator(bp), hc_int(bp, "term"));
    json_decref(bp);
    st = hc_handover_act(b, h1, "accept", NULL, &resp);
    H_CHECK(st == 409 &&
                strcmp(h_resp_error_code(&resp), "invalid_transition") == 0,
            "accepting a declined offer: want 409 invalid_transition, got "
            "%ld %s",
            st, hc_body(&resp));
    h_resp_free(&resp);

    /* offer -> accept */
    hc_offer_ok(a, key, b->id, h2);
    wait_handover_status(b, h2, "offered", H_SEC(10));
    st = hc_handover_act(b, h2, "accept", NULL, &resp);
    H_REQUIRE(st == 200, "accept at %s: want 200, got %ld %s", b->id, st,
              hc_body(&resp));
    h_resp_free(&resp);
    check_path_at(b, key, b->id, term0 + 1, "right after the accept");
    wait_handover_status(a, h2, "accepted", H_SEC(10));
    check_path_at(a, key, b->id, term0 + 1, "after the accept");
    char seen[40] = "";
    H_WAIT_UNTIL(H_SEC(10),
                 strcmp(hc_coordinator_at_broker(r, key, seen, sizeof seen),
                        b->id) == 0,
                 "the broker to name %s for %s (now '%s')", b->id, key, seen);
    bp = hc_broker_path(r, key);
    H_CHECK(hc_int(bp, "term") == term0 + 1 &&
                json_is_null(json_object_get(bp, "open_handover")),
            "the broker's path at term %lld with no open handover",
            term0 + 1);
    json_decref(bp);
    json_t *hist = hc_handover(a, h2);
    char *dump = json_dumps(json_object_get(hist, "history"), JSON_COMPACT);
    size_t nh = json_array_size(json_object_get(hist, "history"));
    H_CHECK(nh >= 2 &&
                strcmp(hc_str(json_array_get(json_object_get(hist, "history"),
                                             nh - 1),
                              "status"),
                       "accepted") == 0,
            "%s's history of %s ends with 'accepted': %s", a->id, h2,
            dump ? dump : "(none)");
    free(dump);
    json_decref(hist);

    /* the old coordinator can no longer offer */
    char h3[64];
    st = hc_offer(a, key, b->id, h3, &resp);
    H_CHECK(st == 403 &&
                strcmp(h_resp_error_code(&resp), "not_coordinator") == 0,
            "%s offering after handing over: want 403 not_coordinator, got "
            "%ld %s",
            a->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

static void case_accept_races_withdraw(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, false);
    h_org *const with_b[] = {b};
    int accepted = 0, withdrawn = 0;
    for (int i = 0; i < 10; i++) {
        char key[33], hid[64], path_w[128], path_a[128];
        new_client(a, with_b, 1, key);
        hc_claim_ok(a, key);
        hc_offer_ok(a, key, b->id, hid);
        wait_handover_status(b, hid, "offered", H_SEC(10));
        snprintf(path_w, sizeof path_w, "/v1/handovers/%s/withdraw", hid);
        snprintf(path_a, sizeof path_a, "/v1/handovers/%s/accept", hid);
        long wst, ast;
        char wbody[300], abody[300], acode[40];
        hc_req q[2];
        hc_req_set(&q[0], a, "POST", path_w, json_object());
        hc_req_set(&q[1], b, "POST", path_a, json_object());
        if (i % 2 == 0) {
            hc_concurrent(q, 2); /* both at once */
        } else {
            /* the withdrawal first, the accept as soon as it is answered
             * (the request is then on its way to b) */
            hc_concurrent(&q[0], 1);
            hc_concurrent(&q[1], 1);
        }
        wst = q[0].resp.status;
        ast = q[1].resp.status;
        snprintf(wbody, sizeof wbody, "%s", hc_body(&q[0].resp));
        snprintf(abody, sizeof abody, "%s", hc_body(&q[1].resp));
        snprintf(acode, sizeof acode, "%s", h_resp_error_code(&q[1].resp));
        h_resp_free(&q[0].resp);
        h_resp_free(&q[1].resp);
        H_CHECK(wst == 202 || wst == 409,
                "round %d: withdraw at %s: want 202 or 409, got %ld %s", i,
                a->id, wst, wbody);
        H_CHECK(ast == 200 || (ast == 409 &&
                               strcmp(acode, "invalid_transition") == 0),
                "round %d: accept at %s: want 200 or 409 invalid_transition, "
                "got %ld %s",
                i, b->id, ast, abody);
        if (!(ast == 200 || ast == 409) || !(wst == 202 || wst == 409))
            H_FAIL("round %d: unusable answers, stopping", i);

        char sa[32] = "", sb[32] = "";
        H_WAIT_UNTIL(
            H_SEC(15),
            (hc_handover_status(a, hid, sa, sizeof sa),
             hc_handover_status(b, hid, sb, sizeof sb),
             strcmp(sa, sb) == 0 && (strcmp(sa, "accepted") == 0 ||
                                     strcmp(sa, "withdrawn") == 0)),
            "round %d: handover %s to end accepted or withdrawn, the same at "
            "%s ('%s') and %s ('%s')",
            i, hid, a->id, sa, b->id, sb);
        bool acc = strcmp(sb, "accepted") == 0;
        accepted += acc;
        withdrawn += !acc;
        if (ast == 200)
            H_CHECK(acc, "round %d: %s answered 200 to the accept, yet the "
                         "handover ended '%s'",
                    i, b->id, sb);
        else
            H_CHECK(!acc, "round %d: %s refused the accept (409), yet the "
                          "handover ended '%s'",
                    i, b->id, sb);
        if (wst == 409)
            H_CHECK(acc, "round %d: the withdraw was refused, yet the "
                         "handover ended '%s'",
                    i, sb);
        const char *want = acc ? b->id : a->id;
        char seen[40] = "";
        H_WAIT_UNTIL(H_SEC(10),
                     strcmp(hc_coordinator_at_broker(r, key, seen, sizeof seen),
                            want) == 0 &&
                         broker_no_open_handover(r, key),
                     "round %d: the broker to name %s for %s with no open "
                     "handover (handover %s, coordinator now '%s')",
                     i, want, key, sb, seen);
        check_path_at(a, key, want, -1, "after accept/withdraw");
        check_path_at(b, key, want, -1, "after accept/withdraw");
    }
    h_note("accept raced withdraw 10 times: %d accepted, %d withdrawn",
           accepted, withdrawn);
}

/* ================================================================ (3) */

/* An offer by `by` that must be refused with status/code and leave no
 * handover and no new event anywhere. */
/* The id of the broker's open handover of key ("" none or no path). */
static void broker_open_handover_id(h_region *r, const char *key, char *out,
                                    size_t len)
{
    json_t *p = hc_broker_path(r, key);
    snprintf(out, len, "%s",
             hc_str(json_object_get(p, "open_handover"), "id"));
    json_decref(p);
}

static void expect_offer_refused(h_region *r, h_org *by, const char *key,
                                 const char *to, long want_status,
                                 const char *want_code, const char *what)
{
    long before[H_MAX_ORGS];
    for (int i = 0; i < r->norgs; i++)
        before[i] = h_proc_running(&r->orgs[i].proc)
                        ? hc_handover_count(&r->orgs[i], NULL, NULL)
                        : -1;
    char open_before[64];
    broker_open_handover_id(r, key, open_before, sizeof open_before);
    double seq = h_agent_metric(by, "polku_agent_last_seq");
    h_resp resp;
    char id[64];
    long st = hc_offer(by, key, to, id, &resp);
    H_CHECK(st == want_status &&
                strcmp(h_resp_error_code(&resp), want_code) == 0,
            "%s: want %ld %s, got %ld %s", what, want_status, want_code, st,
            hc_body(&resp));
    h_resp_free(&resp);
    double seq_after = h_agent_metric(by, "polku_agent_last_seq");
    H_CHECK(seq >= 0 && seq_after == seq,
            "%s: no event logged at %s (last_seq %g before, %g after)", what,
            by->id, seq, seq_after);
    for (int i = 0; i < r->norgs; i++) {
        if (before[i] < 0)
            continue;
        long now = hc_handover_count(&r->orgs[i], NULL, NULL);
        H_CHECK(now == before[i],
                "%s: nothing stored at %s (%ld handovers, %ld before)", what,
                r->orgs[i].id, now, before[i]);
    }
    char open_after[64];
    broker_open_handover_id(r, key, open_after, sizeof open_after);
    H_CHECK(strcmp(open_before, open_after) == 0,
            "%s: the broker's open handover for %s is unchanged ('%s', "
            "before '%s')",
            what, key, open_after, open_before);
}

static void case_refusals(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, true);
    h_org *const with_bc[] = {b, c};
    char k1[33], k2[33], k3[33], k4[33];
    new_client(a, with_bc, 2, k1);
    hc_claim_ok(a, k1);
    H_WAIT_UNTIL(H_SEC(10), broker_coordinator_is(r, k1, a->id),
                 "the broker to name %s for %s", a->id, k1);
    expect_offer_refused(r, b, k1, c->id, 403, "not_coordinator",
                         "an offer by a non-coordinator to a third org");
    expect_offer_refused(r, b, k1, a->id, 403, "not_coordinator",
                         "an offer by a non-coordinator to the coordinator");
    /* nobody coordinates k4 yet */
    new_client(a, with_bc, 2, k4);
    expect_offer_refused(r, c, k4, b->id, 403, "not_coordinator",
                         "an offer for a path nobody coordinates");

    /* consent without the purpose handover */
    char cid[64];
    const char *no_handover[] = {"referral", "path", "plan", NULL};
    h_client_key(k2);
    h_org *const with_b[] = {b};
    hc_consent(a, k2, with_b, 1, no_handover, cid);
    hc_wait_consent(b, k2, cid);
    hc_claim_ok(a, k2);
    expect_offer_refused(r, a, k2, b->id, 403, "consent_required",
                         "an offer under a consent without 'handover'");

    /* a handover consent that does not cover the receiver */
    h_client_key(k3);
    h_org *const with_c[] = {c};
    hc_consent(a, k3, with_c, 1, NULL, cid);
    hc_wait_consent(c, k3, cid);
    hc_claim_ok(a, k3);
    expect_offer_refused(r, a, k3, b->id, 403, "consent_required",
                         "an offer to an org the consent does not cover");
    expect_offer_refused(r, a, k1, a->id, 400, "bad_request",
                         "an offer to oneself");

    /* one open offer per client */
    char h1[64];
    hc_offer_ok(a, k1, b->id, h1);
    wait_handover_status(b, h1, "offered", H_SEC(10));
    H_WAIT_UNTIL(H_SEC(10), broker_open_handover_is(r, k1, h1),
                 "the broker to show %s open for %s", h1, k1);
    expect_offer_refused(r, a, k1, c->id, 409, "handover_open",
                         "a second offer to another org while one is open");
    expect_offer_refused(r, a, k1, b->id, 409, "handover_open",
                         "a second offer to the same org while one is open");
    H_CHECK(hc_handover_count_where(a, "client_key", k1) == 1 &&
                hc_handover_count_where(b, "client_key", k1) == 1 &&
                hc_handover_count_where(c, "client_key", k1) == 0,
            "one handover of %s at %s and %s, none at %s", k1, a->id, b->id,
            c->id);
    h_resp resp;
    char path[128];
    snprintf(path, sizeof path, "/v1/paths/%s/close", k1);
    long st = h_api_json(a, "POST", path,
                         json_pack("{s:s}", "reason", "no_longer_needed"),
                         &resp);
    H_CHECK(st == 409 && strcmp(h_resp_error_code(&resp), "handover_open") == 0,
            "closing with an open offer: want 409 handover_open, got %ld %s",
            st, hc_body(&resp));
    h_resp_free(&resp);
}

/* ================================================================ (4) */

static void transfer_referral(h_org *a, h_org *b, const char *key,
                              bool transfer, char rid[64])
{
    json_t *body = json_pack("{s:{s:s}, s:s, s:s, s:s, s:b}", "client", "key",
                             key, "to", b->id, "reason", "work trial",
                             "urgency", "routine", "transfer", transfer);
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/referrals", body, &resp);
    const char *id = hc_str(resp.json, "id");
    if (st != 201 || !id[0]) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", hc_body(&resp));
        h_resp_free(&resp);
        H_FAIL("referral (transfer %d) from %s to %s: want 201, got %ld %s",
               transfer, a->id, b->id, st, msg);
    }
    snprintf(rid, 64, "%s", id);
    h_resp_free(&resp);
    h_wait_status(b, rid, "received", H_SEC(10));
}

static void set_status(h_org *o, const char *rid, const char *status)
{
    h_resp resp;
    long st = h_referral_set_status(o, rid, status, NULL, NULL, &resp);
    H_REQUIRE(st == 200, "referral %s -> %s at %s: want 200, got %ld %s", rid,
              status, o->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

/* Exactly one handover for referral rid at a (out) and at b (in), offered
 * by a to b under rule; its id into hid. */
static void check_one_transfer(h_org *a, h_org *b, const char *rid,
                               const char *rule, char hid[64],
                               const char *when)
{
    long n = -1;
    H_WAIT_UNTIL(H_SEC(20),
                 (n = hc_handover_count_where(a, "referral_id", rid)) >= 1,
                 "%s: %s to offer a handover for referral %s (now %ld)", when,
                 a->id, rid, n);
    wait_outboxes_drained(a, b);
    json_t *l = hc_handover_list(a, "out", NULL);
    json_t *h, *found = NULL;
    size_t i;
    int count = 0;
    json_array_foreach(l, i, h)
    {
        if (strcmp(hc_str(h, "referral_id"), rid) == 0) {
            count++;
            found = h;
        }
    }
    H_CHECK(count == 1, "%s: exactly one handover for referral %s at %s "
                        "(got %d)",
            when, rid, a->id, count);
    char *dump = found ? json_dumps(found, JSON_COMPACT) : NULL;
    H_CHECK(found && strcmp(hc_str(found, "to"), b->id) == 0 &&
                strcmp(hc_str(found, "from"), a->id) == 0 &&
                strcmp(hc_str(found, "rule"), rule) == 0,
            "%s: the handover goes from %s to %s under rule '%s': %s", when,
            a->id, b->id, rule, dump ? dump : "(none)");
    free(dump);
    snprintf(hid, 64, "%s", found ? hc_str(found, "id") : "");
    json_decref(l);
    H_WAIT_UNTIL(H_SEC(10),
                 hc_handover_count_where(b, "referral_id", rid) == 1,
                 "%s: %s to hold the one handover for referral %s", when,
                 b->id, rid);
}

/* kill: 0 none; 1 kill -9 a right after b's accept is answered; 2 kill -9
 * a right after a has seen the acceptance. */
static void transfer_round(h_region *r, h_org *a, h_org *b, int kill)
{
    static const char *what[] = {"no kill", "kill -9 right after the accept",
                                 "kill -9 once the sender saw the accept"};
    h_org *const with_b[] = {b};
    char key[33], rid[64], hid[64];
    new_client(a, with_b, 1, key);
    hc_claim_ok(a, key);
    char due[POLKU_TIME_TEXT], path[128];
    polku_time_format(polku_now_ms() + 30ull * 86400000ull, due, sizeof due);
    snprintf(path, sizeof path, "/v1/paths/%s/plan", key);
    h_resp resp;
    long st = h_api_json(a, "POST", path,
                         json_pack("{s:s, s:i, s:s}", "plan_id", "plan-7",
                                   "version", 3, "review_due", due),
                         &resp);
    H_CHECK(st == 200, "%s: plan pointer at %s: want 200, got %ld %s",
            what[kill], a->id, st, hc_body(&resp));
    h_resp_free(&resp);

    transfer_referral(a, b, key, true, rid);
    set_status(b, rid, "accepted");
    if (kill == 1)
        h_agent_kill(a);
    if (kill == 2) {
        h_wait_status(a, rid, "accepted", H_SEC(10));
        h_agent_kill(a);
    }
    if (kill) {
        h_agent_start_connected(a);
        H_WAIT_UNTIL(H_SEC(15), hc_broker_replayed(r, a->id),
                     "the broker to have replayed %s", a->id);
    }
    h_wait_status(a, rid, "accepted", H_SEC(15));
    check_one_transfer(a, b, rid, "transfer", hid, what[kill]);
    json_t *h = hc_handover(b, hid);
    json_t *plan = json_object_get(h, "plan");
    H_CHECK(strcmp(hc_str(plan, "plan_id"), "plan-7") == 0 &&
                hc_int(plan, "version") == 3,
            "%s: the offer carries the current plan pointer (plan-7 v3)",
            what[kill]);
    H_CHECK(strcmp(hc_str(h, "status"), "offered") == 0,
            "%s: the handover is open at %s ('%s')", what[kill], b->id,
            hc_str(h, "status"));
    json_decref(h);
    json_t *bp = NULL;
    H_WAIT_UNTIL(H_SEC(10),
                 (json_decref(bp), bp = hc_broker_path(r, key),
                  strcmp(hc_str(json_object_get(bp, "open_handover"), "id"),
                         hid) == 0),
                 "%s: the broker to show %s open for %s", what[kill], hid,
                 key);
    json_decref(bp);

    /* moving the referral on adds nothing */
    set_status(b, rid, "in-progress");
    h_wait_status(a, rid, "in-progress", H_SEC(10));
    wait_outboxes_drained(a, b);
    H_CHECK(hc_handover_count_where(a, "referral_id", rid) == 1 &&
                hc_handover_count_where(a, "client_key", key) == 1,
            "%s: still one handover for %s at %s after in-progress (%ld)",
            what[kill], rid, a->id,
            hc_handover_count_where(a, "referral_id", rid));
    H_CHECK(hc_handover_count_where(b, "referral_id", rid) == 1,
            "%s: still one handover for %s at %s after in-progress",
            what[kill], rid, b->id);
}

static void case_transfer_rule(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_region_add_org(r, "typ", "joint-service");
    h_region_write(r);
    hc_agent_config_append(a, "[rule transfer]\non = referral_accepted\n");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    for (int kill = 0; kill <= 2; kill++)
        transfer_round(r, a, b, kill);

    /* a referral without transfer: accepted, no handover */
    h_org *const with_b[] = {b};
    char key[33], rid[64];
    new_client(a, with_b, 1, key);
    hc_claim_ok(a, key);
    transfer_referral(a, b, key, false, rid);
    set_status(b, rid, "accepted");
    h_wait_status(a, rid, "accepted", H_SEC(10));
    wait_outboxes_drained(a, b);
    H_CHECK(hc_handover_count_where(a, "client_key", key) == 0,
            "a referral without transfer offers no handover (%ld at %s)",
            hc_handover_count_where(a, "client_key", key), a->id);
}

static void case_service_ended_rule(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    /* a first meets the broker (and saves its directory), then gets the
     * rule naming typ */
    h_agent_start_connected(a);
    H_REQUIRE(h_agent_stop(a) == 0, "%s stops on SIGTERM", a->id);
    hc_agent_config_append(a, "[rule after]\non = service_ended\n"
                              "offer_to = typ\n");
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);

    h_org *const with_bc[] = {b, c};
    char key[33];
    new_client(a, with_bc, 2, key);
    hc_claim_ok(a, key);
    h_resp resp;
    long st = hc_service(a, key, "coordination", "started", &resp);
    H_REQUIRE(st == 200, "service started at %s: want 200, got %ld %s", a->id,
              st, hc_body(&resp));
    h_resp_free(&resp);
    st = hc_service(a, key, "coordination", "ended", &resp);
    H_REQUIRE(st == 200, "service ended at %s (rule after): want 200, got "
                         "%ld %s",
              a->id, st, hc_body(&resp));
    json_t *h = json_object_get(resp.json, "handover");
    json_t *p = json_object_get(resp.json, "path");
    H_CHECK(strcmp(hc_str(h, "to"), c->id) == 0 &&
                strcmp(hc_str(h, "rule"), "after") == 0 &&
                strcmp(hc_str(h, "status"), "offered") == 0,
            "the end offers the handover to %s under rule 'after': %s", c->id,
            hc_body(&resp));
    H_CHECK(strcmp(hc_coordinator(p), a->id) == 0,
            "%s still coordinates until the offer is accepted: %s", a->id,
            hc_body(&resp));
    char hid[64];
    snprintf(hid, sizeof hid, "%s", hc_str(h, "id"));
    h_resp_free(&resp);
    H_REQUIRE(hid[0], "the answer names the handover");
    wait_handover_status(c, hid, "offered", H_SEC(10));
    H_CHECK(hc_handover_count_where(a, "client_key", key) == 1,
            "one handover of %s at %s", key, a->id);
    H_CHECK(hc_handover_count_where(b, "client_key", key) == 0,
            "none at %s", b->id);
    json_t *bp = NULL;
    H_WAIT_UNTIL(H_SEC(10),
                 (json_decref(bp), bp = hc_broker_path(r, key),
                  strcmp(hc_str(json_object_get(bp, "open_handover"), "to"),
                         c->id) == 0),
                 "the broker to show the offer to %s open for %s", c->id, key);
    /* the timeline reads as it happened: the service ended, then the
     * rule offered a successor */
    long ended_at = -1, offered_at = -1;
    json_t *tl = json_object_get(bp, "timeline");
    for (size_t i = 0; i < json_array_size(tl); i++) {
        const char *e = hc_str(json_array_get(tl, i), "event");
        if (strcmp(e, "service.ended") == 0 && ended_at < 0)
            ended_at = (long)i;
        if (strcmp(e, "handover.offered") == 0 && offered_at < 0)
            offered_at = (long)i;
    }
    H_CHECK(ended_at >= 0 && offered_at > ended_at,
            "service.ended (at %ld) before the rule's handover.offered (at "
            "%ld) in the broker's timeline",
            ended_at, offered_at);
    json_decref(bp);

    /* b has no rule: the end of its service is refused */
    char k2[33];
    h_org *const with_ac[] = {a, c};
    new_client(b, with_ac, 2, k2);
    hc_claim_ok(b, k2);
    st = hc_service(b, k2, "work-ability-assessment", "started", &resp);
    H_REQUIRE(st == 200, "service started at %s: want 200, got %ld %s", b->id,
              st, hc_body(&resp));
    h_resp_free(&resp);
    json_t *before = hc_path(b, k2);
    long hb = hc_handover_count(b, NULL, NULL);
    double seq = h_agent_metric(b, "polku_agent_last_seq");
    st = hc_service(b, k2, "work-ability-assessment", "ended", &resp);
    H_CHECK(st == 409 &&
                strcmp(h_resp_error_code(&resp), "successor_required") == 0,
            "the end without a rule: want 409 successor_required, got %ld %s",
            st, hc_body(&resp));
    h_resp_free(&resp);
    json_t *after = hc_path(b, k2);
    char *d1 = json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS);
    char *d2 = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS);
    H_CHECK(before && json_equal(before, after),
            "the refused end changed nothing in %s's path:\n before %s\n "
            "after  %s",
            b->id, d1 ? d1 : "(none)", d2 ? d2 : "(none)");
    free(d1);
    free(d2);
    json_decref(before);
    json_decref(after);
    H_CHECK(hc_handover_count(b, NULL, NULL) == hb, "no handover at %s",
            b->id);
    H_CHECK(h_agent_metric(b, "polku_agent_last_seq") == seq,
            "no event logged at %s", b->id);
    H_CHECK(broker_coordinator_is(r, k2, b->id),
            "the broker still names %s for %s", b->id, k2);
}

/* An agent config with text appended must exit 2 naming FILE:LINE and
 * each of the words. */
static void expect_config_refused(h_org *o, const char *name, const char *text,
                                  bool fresh_store, int line_offset,
                                  const char *word)
{
    int first = 0;
    char out[4096];
    int rc = hc_agent_try_config(o, name, text, fresh_store, &first, out,
                                 sizeof out);
    char where[700];
    snprintf(where, sizeof where, "%s/%s.ini:%d", o->region->dir, name,
             first + line_offset);
    H_CHECK(rc == 2, "%s: polku-agent exits 2, got %d; output:\n%s", name, rc,
            out);
    H_CHECK(strstr(out, where) != NULL,
            "%s: the message names %s; output:\n%s", name, where, out);
    H_CHECK(strstr(out, word) != NULL, "%s: the message names '%s'", name,
            word);
}

static void case_invalid_rules(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(a); /* saves the broker's directory */
    H_REQUIRE(h_agent_stop(a) == 0, "%s stops on SIGTERM", a->id);

    expect_config_refused(a, "bogus-trigger", "[rule bad]\non = bogus\n", true,
                          1, "bogus");
    expect_config_refused(a, "offer-to-forbidden",
                          "[rule t]\non = referral_accepted\noffer_to = typ\n",
                          true, 2, "offer_to");
    expect_config_refused(a, "unknown-key",
                          "[rule k]\non = service_ended\noffer_to = typ\n"
                          "colour = blue\n",
                          true, 3, "colour");
    expect_config_refused(a, "unknown-org",
                          "[rule u]\non = service_ended\n"
                          "offer_to = no-such-org\n",
                          false, 2, "no-such-org");
    char out[256];
    int first = 0;
    /* sanity: the same agent with a valid rule starts */
    (void)out;
    (void)first;
    hc_agent_config_append(a, "[rule ok]\non = service_ended\n"
                              "offer_to = typ\n");
    h_agent_start_connected(a);
}

/* ================================================================ (5) */

/* After restarts: the handover accepted at both ends and one coordinator,
 * b, the same at a, at b and in the broker, at one term. */
static void settle_accepted(h_region *r, h_org *a, h_org *b, const char *key,
                            const char *hid, const char *when)
{
    hc_wait_replayed(r, H_SEC(30));
    wait_outboxes_drained(a, b);
    char sa[32] = "", sb[32] = "";
    H_WAIT_UNTIL(H_SEC(20),
                 (hc_handover_status(a, hid, sa, sizeof sa),
                  hc_handover_status(b, hid, sb, sizeof sb),
                  strcmp(sa, "accepted") == 0 && strcmp(sb, "accepted") == 0),
                 "%s: handover %s accepted at %s ('%s') and %s ('%s')", when,
                 hid, a->id, sa, b->id, sb);
    char ca[40] = "", cb[40] = "", cr[40] = "";
    H_WAIT_UNTIL(H_SEC(20),
                 (hc_coordinator_at(a, key, ca, sizeof ca),
                  hc_coordinator_at(b, key, cb, sizeof cb),
                  hc_coordinator_at_broker(r, key, cr, sizeof cr),
                  strcmp(ca, b->id) == 0 && strcmp(cb, b->id) == 0 &&
                      strcmp(cr, b->id) == 0),
                 "%s: one coordinator %s at %s ('%s'), %s ('%s') and the "
                 "broker ('%s')",
                 when, b->id, a->id, ca, b->id, cb, cr);
    json_t *bp = hc_broker_path(r, key);
    long long term = hc_int(bp, "term");
    H_CHECK(json_is_null(json_object_get(bp, "open_handover")),
            "%s: no open handover at the broker", when);
    json_decref(bp);
    check_path_at(a, key, b->id, term, when);
    check_path_at(b, key, b->id, term, when);
}

enum kill_who { KILL_RECEIVER, KILL_BROKER, KILL_OFFERER };

static void kill_and_restart(h_region *r, h_org *a, h_org *b,
                             enum kill_who who)
{
    switch (who) {
    case KILL_RECEIVER:
        h_agent_kill(b);
        h_agent_start_connected(b);
        break;
    case KILL_OFFERER:
        h_agent_kill(a);
        h_agent_start_connected(a);
        break;
    case KILL_BROKER:
        h_broker_kill(r);
        h_broker_start(r);
        break;
    }
    hc_wait_replayed(r, H_SEC(30));
}

static void kill_mid_handover(enum kill_who who)
{
    static const char *names[] = {"receiver", "broker", "offerer"};
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, false);
    h_org *const with_b[] = {b};
    char key[33], hid[64], when[96];
    new_client(a, with_b, 1, key);
    hc_claim_ok(a, key);
    H_WAIT_UNTIL(H_SEC(10), broker_coordinator_is(r, key, a->id),
                 "the broker to name %s", a->id);

    /* right after the offer */
    hc_offer_ok(a, key, b->id, hid);
    kill_and_restart(r, a, b, who);
    wait_handover_status(b, hid, "offered", H_SEC(20));
    char ca[40], cr[40];
    H_CHECK(strcmp(hc_coordinator_at(a, key, ca, sizeof ca), a->id) == 0,
            "the %s killed mid-offer: %s still coordinates at %s (got '%s')",
            names[who], a->id, a->id, ca);
    H_WAIT_UNTIL(H_SEC(10),
                 strcmp(hc_coordinator_at_broker(r, key, cr, sizeof cr),
                        a->id) == 0,
                 "the %s killed mid-offer: the broker to name %s (now '%s')",
                 names[who], a->id, cr);

    /* right after the accept */
    h_resp resp;
    long st = hc_handover_act(b, hid, "accept", NULL, &resp);
    H_REQUIRE(st == 200, "accept at %s: want 200, got %ld %s", b->id, st,
              hc_body(&resp));
    h_resp_free(&resp);
    kill_and_restart(r, a, b, who);
    snprintf(when, sizeof when, "the %s killed right after the accept",
             names[who]);
    settle_accepted(r, a, b, key, hid, when);

    /* and once more after it settled: the same */
    kill_and_restart(r, a, b, who);
    snprintf(when, sizeof when, "the %s killed once more after settling",
             names[who]);
    settle_accepted(r, a, b, key, hid, when);
}

static void case_kill9_receiver_mid_handover(void)
{
    kill_mid_handover(KILL_RECEIVER);
}

static void case_kill9_broker_mid_handover(void)
{
    kill_mid_handover(KILL_BROKER);
}

static void case_kill9_offerer_mid_handover(void)
{
    kill_mid_handover(KILL_OFFERER);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_coordination");
    H_CASE(case_claim_race);
    H_CASE(case_offer_decline_accept);
    H_CASE(case_accept_races_withdraw);
    H_CASE(case_refusals);
    H_CASE(case_transfer_rule);
    H_CASE(case_service_ended_rule);
    H_CASE(case_invalid_rules);
    H_CASE(case_kill9_receiver_mid_handover);
    H_CASE(case_kill9_broker_mid_handover);
    H_CASE(case_kill9_offerer_mid_handover);
    return h_finish();
}
