/* it_chain — an organisation's event log is a hash chain the others
 * witness (docs/trust.md, "Tamper-evident logs").
 *
 * With real processes: one event of an agent's LMDB store is changed
 * offline (this file rewrites the stored value with LMDB, as an operator
 * with the disk could); `polku log verify --config` names that sequence
 * and exits 3, a rebuilt broker refuses the agent with log_diverged as it
 * folds the replay, the alert is on the broker's /api/v1/alerts, the
 * agent says "refused: log_diverged" and `polku log verify` against its
 * API names the sequence too. Untampered logs verify after kill -9 of
 * every process, offline and, restarted, online; the broker raises no
 * divergence. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_coord.h"
#include "polku/error.h"

#define REFERRALS 4

/* The region: org-a refers REFERRALS clients to org-b, all received. */
static h_region *region(h_org **a, h_org **b)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "org-a", "coordination");
    *b = h_region_add_org(r, "org-b", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    for (int i = 0; i < REFERRALS; i++) {
        char key[33], id[64];
        h_client_key(key);
        h_consent_ok(*a, key, (*b)->id);
        H_REQUIRE(h_referral_create(*a, key, (*b)->id, NULL, "chained", id,
                                    NULL) == 201,
                  "referral %d created", i);
        h_wait_status(*a, id, "received", H_SEC(10));
    }
    return r;
}

/* GET /v1/log/verify at o (caller decrefs), NULL on failure. */
static json_t *verify_api(h_org *o)
{
    h_resp resp;
    json_t *j = NULL;
    if (h_api(o, "GET", "/v1/log/verify", NULL, &resp) == 200)
        j = json_incref(resp.json);
    h_resp_free(&resp);
    return j;
}

/* The broker has republished o's head and o holds it: the online walk
 * compares against it. */
static bool head_held(h_org *o, long at_least)
{
    json_t *j = verify_api(o);
    json_t *head = json_object_get(j, "head");
    bool held = json_is_object(head) &&
                json_integer_value(json_object_get(head, "seq")) >= at_least &&
                json_is_true(json_object_get(head, "signature_ok"));
    json_decref(j);
    return held;
}

static long last_seq(h_org *o)
{
    json_t *h = h_agent_health(o);
    long seq = (long)json_integer_value(json_object_get(h, "last_seq"));
    json_decref(h);
    return seq;
}

/* polku log verify, offline (--config) or online; the exit code and the
 * output in out. */
static int cli_verify(h_org *o, bool offline, char *out, size_t len)
{
    const char *const off[] = {"log", "verify", "--config", o->proc.config,
                               NULL};
    const char *const on[] = {"log", "verify", NULL};
    return h_cli(o, out, len, offline ? off : on);
}

/* Rewrites the event o's store holds at seq: its time one second later,
 * the bytes stored again in place (the agent is stopped). */
static void tamper(h_org *o, uint64_t seq)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    H_REQUIRE(mdb_env_create(&env) == 0, "mdb_env_create");
    mdb_env_set_maxdbs(env, 16);
    H_REQUIRE(mdb_env_open(env, o->store, MDB_NOTLS, 0600) == 0,
              "open the store %s", o->store);
    H_REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0, "write txn");
    H_REQUIRE(mdb_dbi_open(txn, "events", 0, &dbi) == 0, "events database");
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (8 * (7 - i)));
    MDB_val k = {8, key}, v;
    H_REQUIRE(mdb_get(txn, dbi, &k, &v) == 0, "event %llu stored",
              (unsigned long long)seq);
    polku_envelope *env_msg = NULL;
    char why[128];
    H_REQUIRE(polku_envelope_decode(v.mv_data, v.mv_size, SIZE_MAX, &env_msg,
                                    why, sizeof why) == POLKU_OK,
              "event decodes: %s", why);
    env_msg->time_ms += 1000; /* a backdated record, say */
    uint8_t *buf = NULL;
    size_t len = 0;
    H_REQUIRE(polku_envelope_encode(env_msg, &buf, &len) == POLKU_OK,
              "re-encode");
    polku_envelope_free(&env_msg);
    MDB_val nv = {len, buf};
    H_REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0, "put");
    H_REQUIRE(mdb_txn_commit(txn) == 0, "commit");
    free(buf);
    mdb_env_close(env);
}

/* The log_diverged alert of org on the broker's /api/v1/alerts (caller
 * decrefs), NULL if none. */
static json_t *diverged_alert(h_region *r, const char *org)
{
    h_resp resp;
    json_t *found = NULL;
    if (h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL, NULL, 0,
                       &resp) == 200) {
        json_t *list = json_object_get(resp.json, "alerts");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *a = json_array_get(list, i);
            if (strcmp(hc_str(a, "kind"), "log_diverged") == 0 &&
                strcmp(hc_str(a, "org"), org) == 0)
                found = json_incref(a);
        }
    }
    h_resp_free(&resp);
    return found;
}

static const char *broker_state(h_org *o, char *buf, size_t len)
{
    json_t *h = h_agent_health(o);
    snprintf(buf, len, "%s", hc_str(h, "broker"));
    json_decref(h);
    return buf;
}

static void tampered_event_is_named_and_refused(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    long last = last_seq(a);
    H_REQUIRE(last >= 2 * REFERRALS,
              "org-a logged its consents and "
              "referrals (last seq %ld)",
              last);
    H_WAIT_UNTIL(H_SEC(10), head_held(a, last),
                 "org-a to hold its own head (seq %ld) as the broker "
                 "republished it, signed",
                 last);
    char out[4096];
    H_CHECK(cli_verify(a, false, out, sizeof out) == 0,
            "the untampered log verifies online: %s", out);

    /* everything stops; one event in the middle of org-a's log changes */
    h_agent_kill(a);
    h_agent_kill(b);
    h_broker_kill(r);
    uint64_t bad = 3;
    tamper(a, bad);

    char want[32];
    snprintf(want, sizeof want, "seq %llu", (unsigned long long)bad);
    int rc = cli_verify(a, true, out, sizeof out);
    h_note("offline verify: %s", out);
    H_CHECK(rc == 3, "offline verify exits 3 on a broken chain (got %d)", rc);
    H_CHECK(strstr(out, want) != NULL, "offline verify names %s: %s", want,
            out);

    /* a rebuilt broker checks the chain as it folds the replay */
    h_broker_start(r);
    h_agent_start(b);
    h_agent_start(a);
    char state[64];
    H_WAIT_UNTIL(H_SEC(15),
                 strcmp(broker_state(a, state, sizeof state),
                        "refused: log_diverged") == 0,
                 "org-a refused with log_diverged (broker: %s)", state);
    json_t *alert = NULL;
    H_WAIT_UNTIL(H_SEC(10), (alert = diverged_alert(r, a->id)) != NULL,
                 "a log_diverged alert for org-a on /api/v1/alerts");
    H_CHECK(strcmp(hc_str(alert, "detail"), want) == 0,
            "the alert names %s (detail %s)", want, hc_str(alert, "detail"));
    json_decref(alert);
    H_CHECK(h_broker_metric(r, "polku_broker_log_divergences_total") == 1,
            "one divergence counted");
    H_CHECK(h_broker_metric(
                r, "polku_broker_nacks_total{code=\"log_diverged\"}") >= 1,
            "the broker nacked org-a with log_diverged");
    H_CHECK(diverged_alert(r, b->id) == NULL, "org-b's log is not flagged");

    rc = cli_verify(a, false, out, sizeof out);
    h_note("online verify: %s", out);
    H_CHECK(rc == 3, "online verify exits 3 too (got %d)", rc);
    H_CHECK(strstr(out, want) != NULL, "online verify names %s: %s", want, out);
    /* org-b's log is whole */
    H_CHECK(cli_verify(b, false, out, sizeof out) == 0,
            "org-b's log verifies: %s", out);
}

/* A change to the last event is seen by a broker that never restarted:
 * the Hello's head differs from the head it holds at that seq. */
static void rewritten_head_refused_by_live_broker(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    long last = last_seq(a);
    H_WAIT_UNTIL(H_SEC(10), head_held(a, last),
                 "org-a to hold its head (seq %ld)", last);
    h_agent_kill(a);
    tamper(a, (uint64_t)last);
    char out[4096], want[32];
    snprintf(want, sizeof want, "seq %ld", last);
    H_CHECK(cli_verify(a, true, out, sizeof out) == 3,
            "offline verify finds the changed last event: %s", out);
    H_CHECK(strstr(out, want) != NULL, "and names %s: %s", want, out);
    h_agent_start(a);
    char state[64];
    H_WAIT_UNTIL(H_SEC(15),
                 strcmp(broker_state(a, state, sizeof state),
                        "refused: log_diverged") == 0,
                 "org-a refused with log_diverged (broker: %s)", state);
    json_t *alert = NULL;
    H_WAIT_UNTIL(H_SEC(10), (alert = diverged_alert(r, a->id)) != NULL,
                 "a log_diverged alert for org-a");
    H_CHECK(strcmp(hc_str(alert, "detail"), want) == 0,
            "the alert names %s (detail %s)", want, hc_str(alert, "detail"));
    json_decref(alert);
}

static void untampered_logs_verify_after_kill9(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    long la = last_seq(a), lb = last_seq(b);
    H_WAIT_UNTIL(H_SEC(10), head_held(a, la) && head_held(b, lb),
                 "both agents to hold their heads");
    h_agent_kill(a);
    h_agent_kill(b);
    h_broker_kill(r);
    char out[4096];
    int rc = cli_verify(a, true, out, sizeof out);
    H_CHECK(rc == 0, "org-a verifies offline after kill -9 (%d): %s", rc, out);
    H_CHECK(strstr(out, "matches") != NULL,
            "against the head the others hold: %s", out);
    rc = cli_verify(b, true, out, sizeof out);
    H_CHECK(rc == 0, "org-b verifies offline after kill -9 (%d): %s", rc, out);

    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    H_REQUIRE(h_referral_create(a, key, b->id, NULL, "after", id, NULL) == 201,
              "a referral after the restart");
    h_wait_status(a, id, "received", H_SEC(10));
    long la2 = last_seq(a);
    H_WAIT_UNTIL(H_SEC(10), head_held(a, la2),
                 "org-a's new head (seq %ld) republished", la2);
    rc = cli_verify(a, false, out, sizeof out);
    H_CHECK(rc == 0, "org-a verifies online (%d): %s", rc, out);
    rc = cli_verify(b, false, out, sizeof out);
    H_CHECK(rc == 0, "org-b verifies online (%d): %s", rc, out);
    rc = cli_verify(a, true, out, sizeof out);
    H_CHECK(rc == 0,
            "org-a's store verifies offline beside the running "
            "agent (%d): %s",
            rc, out);
    H_CHECK(diverged_alert(r, a->id) == NULL &&
                diverged_alert(r, b->id) == NULL,
            "no log_diverged alert");
    H_CHECK(h_broker_metric(r, "polku_broker_log_divergences_total") == 0,
            "no divergence counted");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_chain");
    H_CASE(tampered_event_is_named_and_refused);
    H_CASE(rewritten_head_refused_by_live_broker);
    H_CASE(untampered_logs_verify_after_kill9);
    return h_finish();
}
