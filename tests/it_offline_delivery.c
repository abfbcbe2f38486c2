/* it_offline_delivery — sending never needs the receiver to be up.
 *
 * The receiving agent is down (never started, or stopped cleanly); the
 * sender still answers 201 and keeps the referral in its outbox; when the
 * receiver comes up the referral arrives and the sender sees `received`. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static void create_for(h_org *a, h_org *b, const char *key, char id[64])
{
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "offline test", id, &resp);
    H_REQUIRE(st == 201, "create at %s while %s is down: want 201, got %ld %s",
              a->id, b->id, st, resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
}

static void create_ok(h_org *a, h_org *b, char id[64])
{
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    create_for(a, b, key, id);
}

static void case_receiver_never_started(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "tyollisyyspalvelut", "employment");
    h_org *b = h_region_add_org(r, "ips", "work-coaching");
    h_broker_start(r);
    h_agent_start_connected(a);

    char id[64], s[64], key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    long before = h_agent_outbox_pending(a);
    create_for(a, b, key, id);
    H_CHECK(strcmp(h_referral_status(a, id, s, sizeof s), "requested") == 0,
            "with %s never started the referral is 'requested' at %s (is "
            "'%s')",
            b->id, a->id, s);
    long pending = h_agent_outbox_pending(a);
    H_CHECK(before >= 0 && pending == before + 1,
            "%s keeps the referral in its outbox (outbox_pending %ld before "
            "the referral, %ld after)",
            a->id, before, pending);
    H_CHECK(!h_broker_lists_connected(r, b->id),
            "the broker does not list %s as connected", b->id);

    h_agent_start_connected(b);
    h_wait_status(b, id, "received", H_SEC(10));
    h_wait_status(a, id, "received", H_SEC(10));
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) == 0,
                 "%s's outbox to drain", a->id);
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 1,
            "%s holds exactly one incoming referral", b->id);
}

static void case_receiver_stopped(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyoterveys", "occupational-health");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);

    /* one referral while b is up, so b has a store to come back to */
    char first[64];
    create_ok(a, b, first);
    h_wait_status(a, first, "received", H_SEC(10));

    int rc = h_agent_stop(b);
    H_CHECK(rc == 0, "SIGTERM stops %s with exit code 0 (got %d)", b->id, rc);

    enum { N = 3 };
    char ids[N][64], s[64];
    for (int i = 0; i < N; i++)
        create_ok(a, b, ids[i]);
    for (int i = 0; i < N; i++)
        H_CHECK(
            strcmp(h_referral_status(a, ids[i], s, sizeof s), "requested") == 0,
            "with %s stopped, %s is 'requested' at %s (is '%s')", b->id, ids[i],
            a->id, s);

    h_agent_start_connected(b);
    for (int i = 0; i < N; i++) {
        h_wait_status(b, ids[i], "received", H_SEC(10));
        h_wait_status(a, ids[i], "received", H_SEC(10));
    }
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) == 0,
                 "%s's outbox to drain", a->id);
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == N + 1,
            "%s holds exactly %d incoming referrals", b->id, N + 1);
    H_CHECK(strcmp(h_referral_status(b, first, s, sizeof s), "received") == 0,
            "the referral stored before the stop survived at %s (is '%s')",
            b->id, s);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_offline_delivery");
    H_CASE(case_receiver_never_started);
    H_CASE(case_receiver_stopped);
    return h_finish();
}
