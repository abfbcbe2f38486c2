/* it_session — one session per organisation (issue 15).
 *
 * A second process with an organisation's key (a copied key file) used to
 * be welcomed too: the broker routed to whichever spoke last, sequences of
 * two stores collided and messages were lost silently. Now:
 *
 * (1) second_process_refused: a second agent for sote-keskus with the same
 *     key files and a fresh store is refused (its /healthz and `polku
 *     status` say duplicate_session, its log tells the operator why), the
 *     broker counts it once and raises an alert duplicate_session naming
 *     the organisation and both peers' addresses; referrals from the first
 *     agent all arrive at kela exactly once and are `received` at the
 *     sender. Killed with SIGKILL, the first agent's connection closes and
 *     the second takes over within the silence timeout (4 heartbeats +
 *     1 s) plus a margin; the alert clears. Its fresh store is behind what
 *     the broker saw from the first (store_regressed): it continues after
 *     that and its referrals reach kela.
 * (2) silent_session_taken_over: the first agent freezes (SIGSTOP: its
 *     connection stays open, it says nothing); a copy of its store started
 *     elsewhere — a moved agent — is welcomed once the first has been
 *     silent past the timeout and its referrals are received. When the
 *     frozen one wakes up it is the one refused: what it creates stays in
 *     its outbox and reaches nobody. Killed, the alert clears. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define SOTE "sote-keskus"
#define REFUSED "refused: duplicate_session"
/* the harness's heartbeat is 200 ms: 4 heartbeats + 1 s */
#define SILENCE_MS 1800

static h_region *region(h_org **a, h_org **b, h_org **twin)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, SOTE, "coordination");
    *b = h_region_add_org(r, "kela", "vocational-rehab");
    *twin = h_region_add_twin(r, *a);
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

/* The agent's "broker" in /healthz is want. */
static bool broker_state_is(h_org *o, const char *want)
{
    json_t *h = h_agent_health(o);
    const char *s = json_string_value(json_object_get(h, "broker"));
    bool is = s && strcmp(s, want) == 0;
    json_decref(h);
    return is;
}

/* The duplicate_session alert the broker lists for org (caller decrefs),
 * or NULL. */
static json_t *session_alert(h_region *r, const char *org)
{
    h_resp resp;
    json_t *found = NULL;
    if (h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL, NULL, 0,
                       &resp) == 200) {
        json_t *list = json_object_get(resp.json, "alerts");
        for (size_t i = 0; !found && i < json_array_size(list); i++) {
            json_t *a = json_array_get(list, i);
            const char *kind = json_string_value(json_object_get(a, "kind"));
            const char *who = json_string_value(json_object_get(a, "org"));
            if (kind && who && strcmp(kind, "duplicate_session") == 0 &&
                strcmp(who, org) == 0)
                found = json_incref(a);
        }
    }
    h_resp_free(&resp);
    return found;
}

static bool alert_listed(h_region *r, const char *org)
{
    json_t *a = session_alert(r, org);
    json_decref(a);
    return a != NULL;
}

/* The alert names the organisation and two peer addresses. */
static void check_alert(h_region *r, const char *org)
{
    json_t *a = session_alert(r, org);
    H_REQUIRE(a, "a duplicate_session alert for %s", org);
    const char *subject = json_string_value(json_object_get(a, "subject_id"));
    H_CHECK(subject && strcmp(subject, org) == 0, "the alert's subject is %s",
            org);
    json_t *peers = json_object_get(a, "peers");
    H_CHECK(json_array_size(peers) == 2, "the alert names two peers");
    for (size_t i = 0; i < json_array_size(peers); i++) {
        const char *p = json_string_value(json_array_get(peers, i));
        H_CHECK(p && strcmp(p, "127.0.0.1") == 0,
                "peer %zu of the alert is 127.0.0.1 (it is %s)", i,
                p ? p : "(none)");
    }
    json_decref(a);
}

static bool log_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *text = h_read_file(path, &len);
    bool has = text && h_mem_contains(text, len, needle, strlen(needle));
    free(text);
    return has;
}

/* n referrals from a to b under a consent for key; ids into sent. */
static void refer(h_org *a, h_org *b, const char *key, int n, h_ids *sent)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        h_resp resp;
        long st =
            h_referral_create(a, key, b->id, NULL, "one session", id, &resp);
        H_REQUIRE(st == 201, "referral %d at %s: HTTP %ld %s", i, a->id, st,
                  resp.body ? resp.body : resp.err);
        h_resp_free(&resp);
        h_ids_add(sent, id);
    }
}

/* Every referral of sent is at b exactly once (and b holds no other), and
 * `received` at its sender a. */
static void all_received_once(h_org *a, h_org *b, const h_ids *sent)
{
    for (size_t i = 0; i < sent->n; i++)
        h_wait_status(a, sent->v[i], "received", H_SEC(15));
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == (long)sent->n && in.n == sent->n,
            "%s holds %zu referrals (it lists %ld)", b->id, sent->n, n);
    H_CHECK(h_ids_duplicates(&in) == 0, "%s holds no referral twice", b->id);
    for (size_t i = 0; i < sent->n; i++)
        H_CHECK(h_ids_contains(&in, sent->v[i]), "%s holds %s", b->id,
                sent->v[i]);
    h_ids_free(&in);
}

static const char *const status_args[] = {"status", NULL};

static void case_second_process_refused(void)
{
    h_org *a, *b, *twin;
    h_region *r = region(&a, &b, &twin);
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);

    h_agent_start(twin);
    H_WAIT_UNTIL(H_SEC(10), broker_state_is(twin, REFUSED),
                 "the second %s agent's /healthz to say %s", SOTE, REFUSED);
    H_WAIT_UNTIL(H_SEC(5),
                 h_broker_metric(r, "polku_broker_duplicate_sessions_total") ==
                     1,
                 "polku_broker_duplicate_sessions_total to be 1");
    H_WAIT_UNTIL(H_SEC(5), alert_listed(r, SOTE),
                 "a duplicate_session alert naming %s", SOTE);
    check_alert(r, SOTE);
    H_CHECK(log_has(twin->proc.log, "duplicate_session") &&
                log_has(twin->proc.log, "must never share a key"),
            "the second agent's log says why it is refused");
    H_CHECK(log_has(r->broker.log, "second connection"),
            "the broker's log names the refused connection");
    char out[4096];
    int rc = h_cli(twin, out, sizeof out, status_args);
    H_CHECK(rc == 0 && strstr(out, REFUSED), "polku status shows %s: %s",
            REFUSED, out);
    H_CHECK(broker_state_is(a, "connected") &&
                h_broker_lists_connected(r, SOTE),
            "the first %s agent keeps its session", SOTE);

    /* the first agent's referrals all arrive, once each */
    h_ids sent = {0};
    refer(a, b, key, 20, &sent);
    all_received_once(a, b, &sent);
    H_CHECK(h_broker_metric(r, "polku_broker_duplicate_sessions_total") == 1,
            "one refused connection counted once, however often it says "
            "Hello");
    H_CHECK(broker_state_is(twin, REFUSED), "the second is still refused");
    H_CHECK(h_broker_metric(
                r, "polku_broker_nacks_total{code=\"duplicate_session\"}") >= 1,
            "the broker answered it with Nack duplicate_session");

    /* the first dies: the second takes over */
    h_agent_kill(a);
    uint64_t t0 = h_now_ms();
    uint64_t limit = SILENCE_MS + H_SEC(3);
    H_WAIT_UNTIL(limit, broker_state_is(twin, "connected"),
                 "the second %s agent to be welcomed after the first died",
                 SOTE);
    h_note("taken over %llu ms after the first agent was killed",
           (unsigned long long)(h_now_ms() - t0));
    H_WAIT_UNTIL(H_SEC(5), h_broker_lists_connected(r, SOTE),
                 "the broker to list %s connected", SOTE);
    H_WAIT_UNTIL(SILENCE_MS + H_SEC(3), !alert_listed(r, SOTE),
                 "the duplicate_session alert to clear");
    H_CHECK(log_has(twin->proc.log, "now holds"),
            "the second agent's log says it took over");

    /* its fresh store is behind what the broker saw from the first: it is
     * told how far (store_regressed), continues after that, and what it
     * sends is received — not dropped at kela as a duplicate */
    H_WAIT_UNTIL(H_SEC(5),
                 h_broker_metric(r, "polku_broker_store_regressions_total") >=
                     1,
                 "the broker to see the fresh store as gone back in time");
    char key2[33];
    h_client_key(key2);
    h_consent_ok(twin, key2, b->id);
    h_ids after = {0};
    refer(twin, b, key2, 3, &after);
    for (size_t i = 0; i < after.n; i++)
        h_wait_status(twin, after.v[i], "received", H_SEC(15));
    h_ids at_b = {0};
    long count = h_referral_list(b, "in", NULL, &at_b);
    H_CHECK(count == (long)(sent.n + after.n),
            "%s holds the first agent's %zu and the second's %zu referrals "
            "(lists %ld)",
            b->id, sent.n, after.n, count);
    H_CHECK(h_ids_duplicates(&at_b) == 0, "none twice at %s", b->id);
    for (size_t i = 0; i < after.n; i++)
        H_CHECK(h_ids_contains(&at_b, after.v[i]), "%s holds %s", b->id,
                after.v[i]);
    h_ids_free(&at_b);
    h_ids_free(&after);
    h_ids_free(&sent);
}

/* Copies from's LMDB data file into to's store (from is stopped). */
static void copy_store(const h_org *from, const h_org *to)
{
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/data.mdb", from->store);
    snprintf(dst, sizeof dst, "%s/data.mdb", to->store);
    H_REQUIRE(mkdir(to->store, 0700) == 0 || errno == EEXIST, "mkdir %s: %s",
              to->store, strerror(errno));
    h_copy_file(src, dst);
}

static void case_silent_session_taken_over(void)
{
    h_org *a, *b, *twin;
    h_region *r = region(&a, &b, &twin);
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_ids sent = {0};
    refer(a, b, key, 3, &sent);
    all_received_once(a, b, &sent);

    /* the first freezes: its connection stays open, it says nothing */
    H_REQUIRE(kill(a->proc.pid, SIGSTOP) == 0, "SIGSTOP %s", a->proc.name);
    uint64_t t0 = h_now_ms();
    copy_store(a, twin); /* the agent moved elsewhere with its store */
    h_agent_start(twin);
    H_WAIT_UNTIL(SILENCE_MS + H_SEC(5), broker_state_is(twin, "connected"),
                 "the moved %s agent to be welcomed once the first was "
                 "silent",
                 SOTE);
    uint64_t took = h_now_ms() - t0;
    h_note("taken over %llu ms after the first agent froze",
           (unsigned long long)took);
    H_CHECK(took >= 1000, "the moved agent waited for the silence (%llu ms)",
            (unsigned long long)took);
    refer(twin, b, key, 2, &sent);
    all_received_once(twin, b, &sent);

    /* the frozen one wakes up: now it is the second session */
    H_REQUIRE(kill(a->proc.pid, SIGCONT) == 0, "SIGCONT %s", a->proc.name);
    H_WAIT_UNTIL(H_SEC(10), broker_state_is(a, REFUSED),
                 "the woken %s agent's /healthz to say %s", SOTE, REFUSED);
    H_WAIT_UNTIL(H_SEC(5), alert_listed(r, SOTE),
                 "a duplicate_session alert naming %s", SOTE);
    check_alert(r, SOTE);
    char stale[64];
    H_REQUIRE(h_referral_create(a, key, b->id, NULL, "from the refused one",
                                stale, NULL) == 201,
              "the refused agent still records a referral");
    refer(twin, b, key, 1, &sent);
    all_received_once(twin, b, &sent); /* and not the refused one's */
    char st[32];
    H_CHECK(strcmp(h_referral_status(a, stale, st, sizeof st), "requested") ==
                0,
            "the refused agent's referral waits in its outbox (status %s)", st);
    H_CHECK(h_agent_outbox_pending(a) >= 1,
            "the refused agent holds its outbox");
    H_CHECK(broker_state_is(twin, "connected"), "the moved agent stays");

    /* the refused one is stopped for good: one session, no alert */
    h_agent_kill(a);
    H_WAIT_UNTIL(SILENCE_MS + H_SEC(3), !alert_listed(r, SOTE),
                 "the duplicate_session alert to clear");
    H_CHECK(broker_state_is(twin, "connected"), "the moved agent stays");
    h_ids_free(&sent);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_session");
    H_CASE(case_second_process_refused);
    H_CASE(case_silent_session_taken_over);
    return h_finish();
}
