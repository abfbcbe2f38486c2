/* store_full_test.c — a full store is a clear answer, never a crash.
 *
 * A real agent with a 1 MiB LMDB map that may not grow: referrals are
 * created until the API answers 507 store_full. The agent keeps serving,
 * nothing half-written is visible, and after the operator raises the
 * maximum and restarts it, everything acknowledged is still there and new
 * referrals are accepted again (the map grows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void set_map_limits(h_org *o, int size_mb, int max_mb)
{
    h_region_write(o->region); /* rewrite, then append our limits */
    FILE *f = fopen(o->proc.config, "a");
    H_REQUIRE(f, "open %s", o->proc.config);
    fprintf(f, "map_size_mb = %d\nmap_max_mb = %d\n", size_mb, max_mb);
    fclose(f);
}

static long create(h_org *a, const char *key, char *reason, char *id,
                   h_resp *resp)
{
    return h_referral_create(a, key, "org-b", NULL, reason, id, resp);
}

static void full_store_answers_507_and_recovers(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_region_add_org(r, "org-b", "");
    set_map_limits(a, 1, 1);
    h_broker_start(r);
    h_agent_start_connected(a); /* org-b stays down: all stays in a's outbox */

    char key[33], id[64], reason[4001];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    h_client_key(key);
    h_consent_ok(a, key, "org-b");
    long created = 0, status = 0;
    h_resp resp = {0};
    for (int i = 0; i < 2000; i++) {
        status = create(a, key, reason, id, &resp);
        if (status != 201)
            break;
        h_resp_free(&resp);
        created++;
    }
    H_REQUIRE(status == 507, "a full store answers 507 (got %ld after %ld)",
              status, created);
    H_CHECK(strcmp(h_resp_error_code(&resp), "store_full") == 0,
            "error code store_full (got %s)", h_resp_error_code(&resp));
    h_resp_free(&resp);
    h_note("%ld referrals fitted in 1 MiB", created);
    H_CHECK(created > 10, "the store held something before it filled");
    H_CHECK(h_agent_connected(a), "the agent still serves /healthz");
    /* org-b is down: every referral and the consent wait for it, visibly */
    H_CHECK(h_agent_metric(
                a, "polku_agent_outbox_pending_by_dest{dest=\"org-b\"}") ==
                created + 1,
            "org-a shows %ld events pending for org-b", created + 1);
    H_CHECK(h_agent_metric(
                a, "polku_agent_outbox_oldest_seconds{dest=\"org-b\"}") > 0,
            "and how long the oldest has waited");
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == created,
            "exactly the acknowledged referrals are stored (%ld)", created);
    H_CHECK(create(a, key, "short", id, NULL) == 507 ||
                h_referral_list(a, "out", NULL, NULL) == created + 1,
            "a further request is refused or fully stored, never half");

    long before = h_referral_list(a, "out", NULL, NULL);
    H_CHECK(h_agent_stop(a) == 0, "a full agent stops cleanly");
    set_map_limits(a, 1, 16);
    h_agent_start_connected(a);
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == before,
            "after the restart all %ld referrals are there", before);
    for (int i = 0; i < 50; i++)
        H_REQUIRE(create(a, key, reason, id, NULL) == 201,
                  "accepted again once the maximum is raised (%d)", i);
    H_CHECK(h_agent_metric(a, "polku_agent_store_map_bytes") > (1 << 20),
            "the map grew beyond 1 MiB");
}

/* A receiver whose map has grown to its maximum stores what fits and
 * acknowledges only that: the rest waits in the sender's outbox, and
 * arrives exactly once after the operator raises the maximum. Its log
 * says "received" once per referral: never for one whose commit failed
 * (that one is received again later, and a second line would show it). */
static void full_receiver_does_not_acknowledge(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_org *b = h_region_add_org(r, "org-b", "");
    set_map_limits(b, 1, 2); /* may grow once, to 2 MiB */
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    char key[33], id[64], reason[4001];
    memset(reason, 'q', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    h_client_key(key);
    h_consent_ok(a, key, "org-b");
    h_ids sent = {0};
    enum { N = 800 }; /* ~3.5 MiB of referrals for a 2 MiB receiver */
    for (int i = 0; i < N; i++) {
        H_REQUIRE(create(a, key, reason, id, NULL) == 201,
                  "org-a (not full) accepts referral %d", i);
        h_ids_add(&sent, id);
    }
    H_WAIT_UNTIL(H_SEC(30), h_agent_metric(b, "polku_agent_store_full_total") > 0,
                 "org-b to run out of room");
    H_CHECK(h_agent_metric(b, "polku_agent_store_map_bytes") > (1 << 20),
            "org-b's map grew beyond 1 MiB before it was full");
    H_CHECK(h_agent_metric(b, "polku_agent_store_map_bytes") <= (2 << 20),
            "but not beyond its maximum of 2 MiB");
    long held = h_referral_list(b, "in", NULL, NULL);
    H_CHECK(held > 0 && held < N, "org-b holds part of them (%ld of %d)", held,
            N);
    long pending = -1;
    H_WAIT_UNTIL(H_SEC(30),
                 (pending = h_agent_outbox_pending(a)) >= N - held,
                 "org-a to keep the %ld org-b did not acknowledge (pending "
                 "%ld)",
                 N - held, pending);
    /* Its own API: small writes may still fit in the last pages; then 507. */
    h_resp resp = {0};
    long st = 201;
    int small = 0;
    for (; small < 500 && st == 201; small++) {
        char other[33];
        h_client_key(other);
        h_resp_free(&resp);
        st = h_consent_grant(b, other, (const char *const[]){"org-a", NULL},
                             NULL, NULL, &resp);
    }
    H_CHECK(st == 507 && strcmp(h_resp_error_code(&resp), "store_full") == 0,
            "org-b's API answers 507 store_full (got %ld %s after %d)", st,
            h_resp_error_code(&resp), small);
    h_resp_free(&resp);

    double failed_commits =
        h_agent_metric(b, "polku_agent_commit_failures_total");
    H_CHECK(h_agent_stop(b) == 0, "a full agent stops cleanly");
    set_map_limits(b, 1, 64);
    h_agent_start_connected(b);
    H_WAIT_UNTIL(H_SEC(60), (pending = h_agent_outbox_pending(a)) == 0,
                 "org-a's outbox to drain once org-b has room (pending %ld)",
                 pending);
    h_ids at_b = {0};
    H_CHECK(h_referral_list(b, "in", NULL, &at_b) == N,
            "org-b holds all %d referrals (%zu)", N, at_b.n);
    H_CHECK(h_ids_duplicates(&at_b) == 0, "none of them twice");
    size_t missing = 0;
    for (size_t i = 0; i < sent.n; i++)
        missing += !h_ids_contains(&at_b, sent.v[i]);
    H_CHECK(missing == 0, "%zu referrals org-a accepted are missing", missing);
    h_ids_free(&at_b);

    char *log = h_read_file(b->proc.log, NULL);
    size_t twice = 0, never = 0;
    for (size_t i = 0; log && i < sent.n; i++) {
        char line[128];
        snprintf(line, sizeof line, "referral %s received from org-a",
                 sent.v[i]);
        const char *first = strstr(log, line);
        never += first == NULL;
        twice += first && strstr(first + 1, line);
    }
    h_note("org-b: %.0f batch commits failed while full", failed_commits);
    H_CHECK(log && twice == 0 && never == 0,
            "org-b logs each referral received once, after its commit (%zu "
            "twice, %zu never)",
            twice, never);
    free(log);
    h_ids_free(&sent);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "store_full_test");
    H_CASE(full_store_answers_507_and_recovers);
    H_CASE(full_receiver_does_not_acknowledge);
    return h_finish();
}
