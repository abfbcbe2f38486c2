/* it_consent — no consent, no routing (DESIGN §2 invariant 4, §3).
 *
 * (1) without a consent a referral is refused at the sending agent (403
 *     consent_required) and nothing is stored or sent; with one it arrives;
 * (2) a consent must cover the destination (and the purpose);
 * (3) a revocation recorded at a third organisation in scope reaches the
 *     sender, whose next referral is refused; a referral already queued
 *     (receiver offline) is then refused by the broker: `failed` with
 *     consent_revoked at the sender, never at the receiver;
 * (4) an expired consent counts as revoked;
 * (5) bad consent input answers 400/404/409 and stores nothing;
 * (6) kill -9 of the broker after a grant and after a revocation: the
 *     rebuilt broker delivers under the grant and refuses after the
 *     revocation;
 * (7) identity codes: one region, one secret, one client key per person;
 *     invalid codes are refused naming the wrong part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "polku/clock.h"
#include "polku/id.h"

#define HETU_1 "150382-624C"
#define HETU_2 "070704A2829"

static h_region *region3(h_org **a, h_org **b, h_org **c, bool start_c)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "kela", "vocational-rehab");
    *c = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    if (start_c)
        h_agent_start_connected(*c);
    return r;
}

static const char *body_of(const h_resp *r)
{
    return r->body ? r->body : r->err;
}

/* Records at `at` a consent of client (key) covering at + orgs (NULL
 * terminated) for purposes (NULL: referral); ends the case unless 201. */
static void grant(h_org *at, const char *key, const char *const orgs[],
                  const char *const purposes[], char id[64])
{
    h_resp resp;
    long st = h_consent_grant(at, key, orgs, purposes, id, &resp);
    H_REQUIRE(st == 201 && id[0],
              "consent at %s: want 201 with an id, got "
              "%ld %s",
              at->id, st, body_of(&resp));
    const char *state = json_string_value(json_object_get(resp.json, "state"));
    H_CHECK(state && strcmp(state, "active") == 0,
            "a new consent is active (state %s)", state ? state : "(none)");
    h_resp_free(&resp);
}

/* A referral that must be refused at the agent with 403 consent_required
 * and leave no trace at the sender or the receiver. */
static void expect_refused(h_org *a, h_org *b, const char *key,
                           const char *what)
{
    long a_out = h_referral_list(a, "out", NULL, NULL);
    long a_all = h_referral_list(a, NULL, NULL, NULL);
    long b_in = h_referral_list(b, "in", NULL, NULL);
    double seq = h_agent_metric(a, "polku_agent_last_seq");
    h_resp resp;
    char id[64];
    long st = h_referral_create(a, key, b->id, NULL, what, id, &resp);
    H_CHECK(
        st == 403 && strcmp(h_resp_error_code(&resp), "consent_required") == 0,
        "%s: want 403 consent_required, got %ld %s", what, st, body_of(&resp));
    h_resp_free(&resp);
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == a_out &&
                h_referral_list(a, NULL, NULL, NULL) == a_all,
            "%s: nothing stored at %s (out %ld, all %ld before)", what, a->id,
            a_out, a_all);
    double seq_after = h_agent_metric(a, "polku_agent_last_seq");
    H_CHECK(seq >= 0 && seq_after == seq,
            "%s: no event logged (so nothing sent) at %s (last_seq %g before, "
            "%g after)",
            what, a->id, seq, seq_after);
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == b_in, "%s: nothing at %s",
            what, b->id);
}

static void create_ok(h_org *a, const char *key, h_org *to, const char *why,
                      char id[64])
{
    h_resp resp;
    long st = h_referral_create(a, key, to->id, NULL, why, id, &resp);
    H_REQUIRE(st == 201, "%s: create at %s to %s: want 201, got %ld %s", why,
              a->id, to->id, st, body_of(&resp));
    h_resp_free(&resp);
}

/* The referral ends `failed` at a with a history reason naming code. */
static void wait_failed_with(h_org *a, const char *id, const char *code)
{
    h_wait_status(a, id, "failed", H_SEC(15));
    json_t *ref = h_referral_get(a, id);
    char *dump = json_dumps(json_object_get(ref, "history"), JSON_COMPACT);
    H_CHECK(h_referral_history_has(a, id, "failed", code),
            "%s's history at %s has 'failed' with a reason naming %s: %s", id,
            a->id, code, dump ? dump : "(none)");
    free(dump);
    json_decref(ref);
}

/* ---------------------------------------------------------------- (1) */

static void case_consent_required(void)
{
    h_org *a, *b, *c;
    region3(&a, &b, &c, false);
    char key[33], other[33], cid[64], id[64];
    h_client_key(key);
    h_client_key(other);

    expect_refused(a, b, key, "no consent at all");

    /* a consent of another client does not count */
    const char *ab[] = {b->id, NULL};
    grant(a, other, ab, NULL, cid);
    expect_refused(a, b, key, "only another client's consent");

    grant(a, key, ab, NULL, cid);
    create_ok(a, key, b, "with consent", id);
    h_wait_status(b, id, "received", H_SEC(10));
    h_wait_status(a, id, "received", H_SEC(10));
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == 1 && h_ids_contains(&in, id),
            "%s holds exactly the consented referral (lists %ld)", b->id, n);
    h_ids_free(&in);
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == 1,
            "%s stored exactly one outgoing referral", a->id);
}

/* ---------------------------------------------------------------- (2) */

static void case_scope_and_purpose(void)
{
    h_org *a, *b, *c;
    region3(&a, &b, &c, true);
    char key[33], cid[64], id[64];
    h_client_key(key);

    const char *ac[] = {c->id, NULL};
    grant(a, key, ac, NULL, cid);
    expect_refused(a, b, key, "consent covers sote-keskus and typ, not kela");

    /* the same consent does let a refer to c */
    create_ok(a, key, c, "to typ, in scope", id);
    h_wait_status(c, id, "received", H_SEC(10));

    /* a and b in scope, but only for handovers */
    const char *ab[] = {b->id, NULL};
    const char *handover[] = {"handover", NULL};
    grant(a, key, ab, handover, cid);
    expect_refused(a, b, key, "consent for handover only");
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 0, "%s received nothing",
            b->id);
}

/* ---------------------------------------------------------------- (3) */

static void case_revoked_at_third_org(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, true);
    char key[33], cid[64], r1[64], r2[64], r3[64];
    h_client_key(key);
    const char *bc[] = {b->id, c->id, NULL};
    grant(a, key, bc, NULL, cid);
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(c, key, cid, "active"),
                 "%s to hold consent %s as active", c->id, cid);
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(b, key, cid, "active"),
                 "%s to hold consent %s as active", b->id, cid);

    create_ok(a, key, b, "before the revocation", r1);
    h_wait_status(b, r1, "received", H_SEC(10));

    /* r2 waits at a: b is offline, the broker says retry later */
    h_agent_kill(b);
    H_WAIT_UNTIL(H_SEC(10), !h_broker_lists_connected(r, b->id),
                 "the broker to see %s offline", b->id);
    const char *retry = "polku_broker_nacks_total{code=\"retry_later\"}";
    double retry_before = h_broker_metric(r, retry);
    create_ok(a, key, b, "queued before the revocation", r2);
    H_WAIT_UNTIL(H_SEC(10), h_broker_metric(r, retry) > retry_before,
                 "the broker to answer retry_later for %s (offline)", b->id);
    char st[32];
    H_CHECK(strcmp(h_referral_status(a, r2, st, sizeof st), "requested") == 0,
            "the queued referral is still 'requested' at %s (is %s)", a->id,
            st);
    H_CHECK(h_agent_outbox_pending(a) >= 1, "%s keeps it in its outbox", a->id);

    /* c, a third organisation in scope, records the revocation */
    h_resp resp;
    long rs = h_consent_revoke(c, cid, "client withdrew consent", &resp);
    const char *state = json_string_value(json_object_get(resp.json, "state"));
    H_CHECK(rs == 200 && state && strcmp(state, "revoked") == 0,
            "revoke at %s: want 200 state revoked, got %ld %s", c->id, rs,
            body_of(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(a, key, cid, "revoked"),
                 "%s to show consent %s revoked", a->id, cid);
    /* the broker refuses the queued one */
    wait_failed_with(a, r2, "consent_revoked");
    expect_refused(a, b, key, "after the revocation");

    /* b comes back: it learns of the revocation, never of r2 */
    h_agent_start_connected(b);
    H_WAIT_UNTIL(H_SEC(15), h_consent_state_is(b, key, cid, "revoked"),
                 "%s to show consent %s revoked", b->id, cid);
    H_WAIT_UNTIL(H_SEC(10),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(c) == 0,
                 "the outboxes of %s and %s to drain", a->id, c->id);
    /* sequencing: a new consent and referral pass behind anything left */
    grant(a, key, bc, NULL, cid);
    create_ok(a, key, b, "under a new consent", r3);
    h_wait_status(b, r3, "received", H_SEC(10));
    H_CHECK(h_referral_lookup(b, r2) == 404,
            "%s never received the refused referral %s (GET: %ld)", b->id, r2,
            h_referral_lookup(b, r2));
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == 2 && h_ids_contains(&in, r1) && h_ids_contains(&in, r3) &&
                !h_ids_contains(&in, r2),
            "%s holds r1 and r3 only (lists %ld)", b->id, n);
    h_ids_free(&in);
    H_CHECK(strcmp(h_referral_status(a, r2, st, sizeof st), "failed") == 0,
            "r2 stays failed at %s (is %s)", a->id, st);
}

/* ---------------------------------------------------------------- (4) */

static void case_expired(void)
{
    h_org *a, *b, *c;
    region3(&a, &b, &c, false);
    char key[33], id1[64];
    h_client_key(key);
    uint64_t until_ms = polku_now_ms() + 3000;
    char until[POLKU_TIME_TEXT];
    polku_time_format(until_ms, until, sizeof until);
    json_t *body = json_pack("{s:{s:s}, s:[s], s:[s], s:s, s:s}", "client",
                             "key", key, "orgs", b->id, "purposes", "referral",
                             "valid_until", until, "form", "Y100");
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/consents", body, &resp);
    H_REQUIRE(st == 201, "consent valid until %s: want 201, got %ld %s", until,
              st, body_of(&resp));
    char cid[64];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(resp.json, "id")) ?: "");
    h_resp_free(&resp);

    create_ok(a, key, b, "before expiry", id1);
    uint64_t created_at = polku_now_ms();
    H_REQUIRE(created_at < until_ms,
              "the referral was created before expiry "
              "(%llu ms late)",
              (unsigned long long)(created_at - until_ms));
    h_wait_status(b, id1, "received", H_SEC(10));

    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(a, key, cid, "expired"),
                 "%s to show consent %s (valid until %s) expired", a->id, cid,
                 until);
    H_CHECK(polku_now_ms() >= until_ms,
            "the consent shows expired only after %s", until);
    json_t *list = h_consent_list(a, key);
    json_t *first = json_array_get(list, 0);
    H_CHECK(json_is_false(json_object_get(first, "active")),
            "an expired consent is not active");
    json_decref(list);
    expect_refused(a, b, key, "after expiry");
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 1 &&
                h_referral_lookup(b, id1) == 200,
            "%s holds just the referral made before expiry", b->id);
}

/* ---------------------------------------------------------------- (5) */

static long post_consent(h_org *a, json_t *body, const char *want_code,
                         long want_status, const char *what)
{
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/consents", body, &resp);
    H_CHECK(st == want_status &&
                strcmp(h_resp_error_code(&resp), want_code) == 0,
            "%s: want %ld %s, got %ld %s", what, want_status, want_code, st,
            body_of(&resp));
    if (st == want_status)
        h_note("%s -> %ld %s", what, st, body_of(&resp));
    h_resp_free(&resp);
    return st;
}

static json_t *consent_body(const char *key, json_t *orgs, json_t *purposes,
                            const char *until)
{
    return json_pack("{s:{s:s}, s:o, s:o, s:s, s:s}", "client", "key", key,
                     "orgs", orgs, "purposes", purposes, "valid_until", until,
                     "form", "Y100");
}

static void case_bad_input(void)
{
    h_org *a, *b, *c;
    region3(&a, &b, &c, false);
    char key[33];
    h_client_key(key);
    char future[POLKU_TIME_TEXT], past[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 86400000ull, future, sizeof future);
    polku_time_format(polku_now_ms() - 3600000ull, past, sizeof past);

    post_consent(a,
                 consent_body(key, json_pack("[s,s]", b->id, "no-such-org"),
                              json_pack("[s]", "referral"), future),
                 "unknown_org", 400, "an org not in the directory");
    post_consent(
        a,
        consent_body(key, json_array(), json_pack("[s]", "referral"), future),
        "bad_request", 400, "an empty org list");
    post_consent(a,
                 consent_body(key, json_pack("[s]", b->id),
                              json_pack("[s,s]", "referral", "marketing"),
                              future),
                 "unknown_purpose", 400, "an unknown purpose");
    post_consent(a,
                 consent_body(key, json_pack("[s]", b->id),
                              json_pack("[s]", "referral"), past),
                 "invalid_validity", 400, "validity an hour ago");
    post_consent(a,
                 consent_body(key, json_pack("[s]", b->id),
                              json_pack("[s]", "referral"), "2020-01-01"),
                 "invalid_validity", 400, "validity a past date");
    H_CHECK(h_consent_count(a, key) == 0,
            "no consent stored at %s after the refusals (count %ld)", a->id,
            h_consent_count(a, key));
    expect_refused(a, b, key, "after refused consents");

    /* revoke: unknown id, then twice */
    char unknown[POLKU_ID_TEXT];
    polku_id uid = polku_id_new(polku_now_ms());
    polku_id_format(&uid, unknown);
    h_resp resp;
    long st = h_consent_revoke(a, unknown, "no such consent", &resp);
    H_CHECK(st == 404 && strcmp(h_resp_error_code(&resp), "not_found") == 0,
            "revoke an unknown consent: want 404 not_found, got %ld %s", st,
            body_of(&resp));
    h_resp_free(&resp);
    H_CHECK(h_consent_count(a, key) == 0, "still no consent at %s", a->id);

    char cid[64];
    const char *ab[] = {b->id, NULL};
    grant(a, key, ab, NULL, cid);
    /* sequencing: b holds the one granted consent, none of the refused */
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(b, key, cid, "active"),
                 "%s to hold consent %s", b->id, cid);
    H_CHECK(h_consent_count(b, key) == 1,
            "%s holds exactly the one granted consent (count %ld)", b->id,
            h_consent_count(b, key));

    st = h_consent_revoke(a, cid, "first revocation", &resp);
    H_CHECK(st == 200, "first revoke: want 200, got %ld %s", st,
            body_of(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(b, key, cid, "revoked"),
                 "%s to show consent %s revoked", b->id, cid);
    json_t *before_a = h_consent_list(a, key),
           *before_b = h_consent_list(b, key);
    H_REQUIRE(before_a && before_b, "list consents at both");

    st = h_consent_revoke(a, cid, "second revocation", &resp);
    H_CHECK(st == 409 &&
                strcmp(h_resp_error_code(&resp), "already_revoked") == 0,
            "second revoke: want 409 already_revoked, got %ld %s", st,
            body_of(&resp));
    h_resp_free(&resp);
    st = h_consent_revoke(b, cid, "revoked again elsewhere", &resp);
    H_CHECK(st == 409 &&
                strcmp(h_resp_error_code(&resp), "already_revoked") == 0,
            "revoke at %s of a revoked consent: want 409 already_revoked, "
            "got %ld %s",
            b->id, st, body_of(&resp));
    h_resp_free(&resp);
    st = h_consent_revoke(a, unknown, "still no such consent", &resp);
    H_CHECK(st == 404, "revoke unknown again: want 404, got %ld", st);
    h_resp_free(&resp);

    json_t *after_a = h_consent_list(a, key), *after_b = h_consent_list(b, key);
    char *wa = json_dumps(before_a, JSON_COMPACT | JSON_SORT_KEYS);
    char *na = json_dumps(after_a, JSON_COMPACT | JSON_SORT_KEYS);
    H_CHECK(json_equal(before_a, after_a),
            "the refused revocations changed nothing at %s:\n before %s\n "
            "after  %s",
            a->id, wa ? wa : "", na ? na : "");
    H_CHECK(json_equal(before_b, after_b),
            "the refused revocations changed nothing at %s", b->id);
    free(wa);
    free(na);
    json_decref(before_a);
    json_decref(before_b);
    json_decref(after_a);
    json_decref(after_b);
}

/* ---------------------------------------------------------------- (6) */

static void wait_all_connected(h_region *r, h_org *const orgs[], int n)
{
    for (int i = 0; i < n; i++) {
        h_wait_agent_connected(orgs[i], H_SEC(15));
        H_WAIT_UNTIL(H_SEC(15), h_broker_lists_connected(r, orgs[i]->id),
                     "the restarted broker to list %s", orgs[i]->id);
    }
}

static void case_broker_crash(void)
{
    h_org *a, *b, *c;
    h_region *r = region3(&a, &b, &c, true);
    h_org *const all[] = {a, b, c};
    char key[33], cid[64], r1[64], r2[64];
    h_client_key(key);
    const char *bc[] = {b->id, c->id, NULL};

    grant(a, key, bc, NULL, cid);
    h_broker_kill(r); /* right after the grant */
    h_broker_start(r);
    wait_all_connected(r, all, 3);
    create_ok(a, key, b, "after the broker crashed", r1);
    h_wait_status(b, r1, "received", H_SEC(15));
    h_wait_status(a, r1, "received", H_SEC(10));

    H_WAIT_UNTIL(H_SEC(10), h_consent_state_is(c, key, cid, "active"),
                 "%s to hold consent %s", c->id, cid);
    h_resp resp;
    long st = h_consent_revoke(c, cid, "client withdrew", &resp);
    H_REQUIRE(st == 200, "revoke at %s: want 200, got %ld %s", c->id, st,
              body_of(&resp));
    h_resp_free(&resp);
    h_broker_kill(r); /* right after the revocation */

    /* while the broker is down: a may or may not have the revocation */
    st = h_referral_create(a, key, b->id, NULL, "after the revocation", r2,
                           &resp);
    h_broker_start(r);
    if (st == 403) {
        H_CHECK(strcmp(h_resp_error_code(&resp), "consent_required") == 0,
                "403 with consent_required (got %s)", body_of(&resp));
        h_note("%s already had the revocation: 403 at the agent", a->id);
        h_resp_free(&resp);
        r2[0] = '\0';
    } else {
        H_REQUIRE(st == 201, "create at %s: want 403 or 201, got %ld %s", a->id,
                  st, body_of(&resp));
        h_resp_free(&resp);
        h_note("%s did not yet have the revocation: the rebuilt broker must "
               "refuse %s",
               a->id, r2);
        wait_failed_with(a, r2, "consent_revoked");
    }
    wait_all_connected(r, all, 3);
    H_WAIT_UNTIL(H_SEC(15),
                 h_consent_state_is(a, key, cid, "revoked") &&
                     h_consent_state_is(b, key, cid, "revoked"),
                 "%s and %s to show consent %s revoked", a->id, b->id, cid);
    expect_refused(a, b, key, "after the revocation reached the sender");
    H_WAIT_UNTIL(H_SEC(15),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(c) == 0,
                 "the outboxes of %s and %s to drain", a->id, c->id);
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == 1 && h_ids_contains(&in, r1), "%s holds r1 only (lists %ld)",
            b->id, n);
    h_ids_free(&in);
    if (r2[0])
        H_CHECK(h_referral_lookup(b, r2) == 404, "%s never received %s", b->id,
                r2);
}

/* ---------------------------------------------------------------- (7) */

static long consent_by_hetu(h_org *at, const char *hetu, h_org *with,
                            h_resp *resp)
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 86400000ull, until, sizeof until);
    json_t *body = json_pack("{s:{s:s}, s:[s], s:[s], s:s, s:s}", "client",
                             "hetu", hetu, "orgs", with->id, "purposes",
                             "referral", "valid_until", until, "form", "Y100");
    return h_api_json(at, "POST", "/v1/consents", body, resp);
}

/* The client_key of a 201 answer (into out); ends the case otherwise. */
static void key_of(h_org *at, const char *hetu, h_org *with, char out[33])
{
    h_resp resp;
    long st = consent_by_hetu(at, hetu, with, &resp);
    const char *k = json_string_value(json_object_get(resp.json, "client_key"));
    if (st != 201 || !k || strlen(k) != 32) {
        char msg[400];
        snprintf(msg, sizeof msg, "%ld %s", st, body_of(&resp));
        h_resp_free(&resp);
        H_FAIL("consent by hetu %s at %s: want 201 with a client_key, got %s",
               hetu, at->id, msg);
    }
    snprintf(out, 33, "%s", k);
    for (int i = 0; i < 32; i++)
        H_CHECK((out[i] >= '0' && out[i] <= '9') ||
                    (out[i] >= 'a' && out[i] <= 'f'),
                "client_key is lowercase hex: %s", out);
    char digits[7];
    memcpy(digits, hetu, 6);
    digits[6] = '\0';
    H_CHECK(!strstr(resp.body, hetu) && !strstr(resp.body, digits),
            "the answer does not carry the identity code: %s", resp.body);
    h_resp_free(&resp);
}

static void expect_invalid_hetu(h_org *a, h_org *b, const char *hetu,
                                const char *part)
{
    h_resp resp;
    long st = consent_by_hetu(a, hetu, b, &resp);
    const char *msg = json_string_value(
        json_object_get(json_object_get(resp.json, "error"), "message"));
    H_CHECK(st == 400 && strcmp(h_resp_error_code(&resp), "invalid_hetu") == 0,
            "hetu %s: want 400 invalid_hetu, got %ld %s", hetu, st,
            body_of(&resp));
    H_CHECK(msg && strstr(msg, part), "hetu %s: the message names '%s': %s",
            hetu, part, msg ? msg : "(none)");
    H_CHECK(!resp.body || !strstr(resp.body, hetu),
            "the error does not echo the code %s: %s", hetu, body_of(&resp));
    h_resp_free(&resp);
}

static void case_identity_codes(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_region_write(r);
    h_region_use_secret(r);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    char ka[33], kb[33], k2a[33], k2b_lower[33], k1_lower[33];
    key_of(a, HETU_1, b, ka);
    key_of(b, HETU_1, a, kb);
    H_CHECK(strcmp(ka, kb) == 0,
            "%s at %s and at %s give one client key (%s, %s)", HETU_1, a->id,
            b->id, ka, kb);
    key_of(a, HETU_2, b, k2a);
    H_CHECK(strcmp(k2a, ka) != 0, "two people, two keys (%s)", ka);
    key_of(b, "070704a2829", a, k2b_lower);
    H_CHECK(strcmp(k2a, k2b_lower) == 0,
            "lower-case 070704a2829 at %s gives the key of %s at %s (%s, %s)",
            b->id, HETU_2, a->id, k2b_lower, k2a);
    key_of(a, "150382-624c", b, k1_lower);
    H_CHECK(strcmp(k1_lower, ka) == 0,
            "lower-case check character gives the same key (%s, %s)", k1_lower,
            ka);

    /* each agent lists both consents under the one key */
    H_WAIT_UNTIL(H_SEC(10), h_consent_count(b, ka) == 3,
                 "%s to list the three consents of %s under %s", b->id, HETU_1,
                 ka);
    H_WAIT_UNTIL(H_SEC(10), h_consent_count(a, ka) == 3,
                 "%s to list the three consents of %s under %s", a->id, HETU_1,
                 ka);

    /* a referral by hetu arrives under the same key */
    json_t *body =
        json_pack("{s:{s:s}, s:s, s:s, s:s}", "client", "hetu", HETU_1, "to",
                  b->id, "reason", "by identity code", "urgency", "routine");
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/referrals", body, &resp);
    const char *id = json_string_value(json_object_get(resp.json, "id"));
    const char *rk =
        json_string_value(json_object_get(resp.json, "client_key"));
    H_REQUIRE(st == 201 && id, "referral by hetu: want 201, got %ld %s", st,
              body_of(&resp));
    H_CHECK(rk && strcmp(rk, ka) == 0, "its client_key is %s (got %s)", ka,
            rk ? rk : "(none)");
    char rid[64];
    snprintf(rid, sizeof rid, "%s", id);
    h_resp_free(&resp);
    h_wait_status(b, rid, "received", H_SEC(10));
    json_t *got = h_referral_get(b, rid);
    const char *bk = json_string_value(json_object_get(got, "client_key"));
    H_CHECK(bk && strcmp(bk, ka) == 0, "%s sees it under %s (got %s)", b->id,
            ka, bk ? bk : "(none)");
    json_decref(got);

    long before = h_consent_count(a, ka);
    expect_invalid_hetu(a, b, "150382-624D", "check character");
    expect_invalid_hetu(a, b, "300282-6245", "date");
    expect_invalid_hetu(a, b, "150382G624C", "century sign");
    expect_invalid_hetu(a, b, "150382-624", "11 characters");
    H_CHECK(h_consent_count(a, ka) == before,
            "the refused codes stored nothing");
    /* also on a referral */
    body = json_pack("{s:{s:s}, s:s, s:s}", "client", "hetu", "150382-624D",
                     "to", b->id, "reason", "bad code");
    st = h_api_json(a, "POST", "/v1/referrals", body, &resp);
    H_CHECK(st == 400 && strcmp(h_resp_error_code(&resp), "invalid_hetu") == 0,
            "referral with a wrong check character: want 400 invalid_hetu, "
            "got %ld %s",
            st, body_of(&resp));
    h_resp_free(&resp);
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == 1,
            "%s holds one outgoing referral", a->id);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_consent");
    H_CASE(case_consent_required);
    H_CASE(case_scope_and_purpose);
    H_CASE(case_revoked_at_third_org);
    H_CASE(case_expired);
    H_CASE(case_bad_input);
    H_CASE(case_broker_crash);
    H_CASE(case_identity_codes);
    return h_finish();
}
