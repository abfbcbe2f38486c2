/* it_crash_recovery — kill -9 at any moment loses nothing acknowledged and
 * applies nothing twice (DESIGN §2 invariant 2).
 *
 * Three cases, each with N (default 1000, POLKU_IT_N) referrals created at
 * a as fast as one keep-alive connection allows, then a SIGKILL right after
 * the last 201 — of the receiver b, of the broker, of the sender a — and a
 * restart with the same config and ports. Afterwards every referral a
 * answered 201 for is at b exactly once, a's outbox drains to 0 and every
 * referral is `received` at a. Two more cases kill b and the broker in the
 * middle of the burst and keep creating while they are down, so the
 * restart finds a real backlog in a's outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int n_referrals(void)
{
    const char *s = getenv("POLKU_IT_N");
    return s && atoi(s) > 0 ? atoi(s) : 1000;
}

static h_region *region(h_org **a, h_org **b)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

/* n referrals from a to b for a pool of clients who consented to both. */
enum { CLIENTS = 10 };
static void create_many(h_org *a, h_org *b, int n, h_ids *sent)
{
    char keys[CLIENTS][33];
    for (int i = 0; i < CLIENTS; i++) {
        h_client_key(keys[i]);
        h_consent_ok(a, keys[i], b->id);
    }
    uint64_t t0 = h_now_ms();
    for (int i = 0; i < n; i++) {
        char id[64];
        h_resp resp;
        long st = h_referral_create(a, keys[i % CLIENTS], b->id, NULL,
                                    "crash test", id, &resp);
        if (st != 201) {
            char msg[300];
            snprintf(msg, sizeof msg, "%s", resp.body ? resp.body : resp.err);
            h_resp_free(&resp);
            H_FAIL("referral %d of %d at %s: HTTP %ld %s", i + 1, n, a->id, st,
                   msg);
        }
        h_resp_free(&resp);
        h_ids_add(sent, id);
    }
    h_note("%d referrals created at %s in %.2f s", n, a->id,
           (double)(h_now_ms() - t0) / 1000.0);
}

/* Everything a answered 201 for is at b exactly once, acknowledged, and
 * seen as received at a. */
static void verify_delivered(h_org *a, h_org *b, const h_ids *sent)
{
    long n = (long)sent->n;
    uint64_t t0 = h_now_ms();
    long pending = -1;
    H_WAIT_UNTIL(H_SEC(60), (pending = h_agent_outbox_pending(a)) == 0,
                 "%s's outbox to drain to 0 (outbox_pending %ld)", a->id,
                 pending);
    h_note("%s's outbox drained %.2f s after the restart", a->id,
           (double)(h_now_ms() - t0) / 1000.0);

    h_ids at_b = {0};
    long count = h_referral_list(b, "in", NULL, &at_b);
    H_CHECK(count == n,
            "%s lists %ld incoming referrals, %s answered 201 "
            "for %ld",
            b->id, count, a->id, n);
    H_CHECK((long)at_b.n == count,
            "%s's list holds %zu entries, its count "
            "says %ld",
            b->id, at_b.n, count);
    size_t dups = h_ids_duplicates(&at_b);
    H_CHECK(dups == 0, "%zu referrals are listed twice at %s", dups, b->id);
    size_t missing = 0, extra = 0;
    for (size_t i = 0; i < sent->n; i++)
        if (!h_ids_contains(&at_b, sent->v[i]) && missing++ < 5)
            h_note("missing at %s: %s", b->id, sent->v[i]);
    for (size_t i = 0; i < at_b.n; i++)
        if (!h_ids_contains(sent, at_b.v[i]) && extra++ < 5)
            h_note("unexpected at %s: %s", b->id, at_b.v[i]);
    H_CHECK(missing == 0, "%zu acknowledged referrals missing at %s", missing,
            b->id);
    H_CHECK(extra == 0, "%zu referrals at %s that %s never made", extra, b->id,
            a->id);
    h_ids_free(&at_b);

    /* a sample: received exactly once in the history on both sides */
    size_t step = sent->n > 100 ? sent->n / 100 : 1;
    int bad = 0;
    for (size_t i = 0; i < sent->n; i += step) {
        json_t *ref = h_referral_get(b, sent->v[i]);
        char hist[256];
        h_history_statuses(ref, hist, sizeof hist);
        json_decref(ref);
        if (strcmp(hist, "requested,received") != 0 &&
            strcmp(hist, "received") != 0 && bad++ < 5)
            h_note("history of %s at %s: %s", sent->v[i], b->id, hist);
    }
    H_CHECK(bad == 0,
            "%d sampled referrals at %s have a history other than "
            "one 'received'",
            bad, b->id);

    long received = -1;
    H_WAIT_UNTIL(H_SEC(60),
                 (received = h_referral_list(a, "out", "received", NULL)) == n,
                 "all %ld referrals to be 'received' at %s (now %ld)", n, a->id,
                 received);
    H_CHECK(h_referral_list(a, "out", NULL, NULL) == n,
            "%s still lists exactly %ld outgoing referrals", a->id, n);
    H_WAIT_UNTIL(H_SEC(30), (pending = h_agent_outbox_pending(b)) == 0,
                 "%s's outbox (the received statuses) to drain (now %ld)",
                 b->id, pending);
}

static void case_kill_receiver(void)
{
    h_org *a, *b;
    region(&a, &b);
    h_ids sent = {0};
    create_many(a, b, n_referrals(), &sent);
    h_agent_kill(b);
    h_note("killed %s; %ld still pending at %s", b->id,
           h_agent_outbox_pending(a), a->id);
    h_agent_start_connected(b);
    verify_delivered(a, b, &sent);
    h_ids_free(&sent);
}

static void case_kill_broker(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    h_ids sent = {0};
    create_many(a, b, n_referrals(), &sent);
    h_broker_kill(r);
    h_note("killed the broker; %ld still pending at %s",
           h_agent_outbox_pending(a), a->id);
    H_WAIT_UNTIL(H_SEC(10), !h_agent_connected(a),
                 "%s to notice the broker is gone", a->id);
    h_broker_start(r);
    h_wait_agent_connected(a, H_SEC(15));
    h_wait_agent_connected(b, H_SEC(15));
    verify_delivered(a, b, &sent);
    h_ids_free(&sent);
}

static void case_kill_sender(void)
{
    h_org *a, *b;
    region(&a, &b);
    h_ids sent = {0};
    create_many(a, b, n_referrals(), &sent);
    h_agent_kill(a);
    h_note("killed %s; %ld already at %s", a->id,
           h_referral_list(b, "in", NULL, NULL), b->id);
    h_agent_start_connected(a);
    verify_delivered(a, b, &sent);
    h_ids_free(&sent);
}

/* Kill in the middle of the burst; a keeps answering 201 meanwhile. */
static void case_kill_receiver_mid_burst(void)
{
    h_org *a, *b;
    region(&a, &b);
    h_ids sent = {0};
    int n = n_referrals();
    create_many(a, b, n / 2, &sent);
    h_agent_kill(b);
    create_many(a, b, n - n / 2, &sent);
    long pending = h_agent_outbox_pending(a);
    H_CHECK(pending >= n - n / 2,
            "with %s down its referrals wait in %s's "
            "outbox (outbox_pending %ld, want >= %d)",
            b->id, a->id, pending, n - n / 2);
    h_agent_start_connected(b);
    verify_delivered(a, b, &sent);
    h_ids_free(&sent);
}

static void case_kill_broker_mid_burst(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    h_ids sent = {0};
    int n = n_referrals();
    create_many(a, b, n / 2, &sent);
    h_broker_kill(r);
    create_many(a, b, n - n / 2, &sent);
    long pending = h_agent_outbox_pending(a);
    H_CHECK(pending >= n - n / 2,
            "with the broker down the referrals wait "
            "in %s's outbox (outbox_pending %ld, want >= %d)",
            a->id, pending, n - n / 2);
    h_broker_start(r);
    h_wait_agent_connected(a, H_SEC(15));
    h_wait_agent_connected(b, H_SEC(15));
    verify_delivered(a, b, &sent);
    h_ids_free(&sent);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_crash_recovery");
    H_CASE(case_kill_receiver);
    H_CASE(case_kill_broker);
    H_CASE(case_kill_sender);
    H_CASE(case_kill_receiver_mid_burst);
    H_CASE(case_kill_broker_mid_burst);
    return h_finish();
}
