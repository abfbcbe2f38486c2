/* it_referral_flow — a referral's whole life between two real agents.
 *
 * Broker + agents a and b (and c in the directory, no agent): referrals
 * made through the API and through the CLI arrive at b as `received`; b
 * accepts, starts and completes; a sees every step and the full history in
 * order. Referrals by service resolve to the single provider; an ambiguous
 * or unknown service is refused. Cancelling a received referral cancels it
 * at both ends; cancelling a completed one changes nothing. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static h_region *region(h_org **a, h_org **b)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "kela",
                          "vocational-rehab, work-ability-assessment");
    h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

static bool is_2xx(long st)
{
    return st >= 200 && st < 300;
}

static void set_status_ok(h_org *o, const char *id, const char *status,
                          const char *reason, const char *outcome)
{
    h_resp resp;
    long st = h_referral_set_status(o, id, status, reason, outcome, &resp);
    H_REQUIRE(is_2xx(st), "%s: set %s on %s: HTTP %ld %s %s", o->id, status, id,
              st, resp.body ? resp.body : "", resp.err);
    h_resp_free(&resp);
}

/* A referral from a for a new client who consented to a and b. */
static void create_ok(h_org *a, h_org *b, const char *to, const char *service,
                      char id[64])
{
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st =
        h_referral_create(a, key, to, service, "test referral", id, &resp);
    H_REQUIRE(st == 201 && id[0],
              "create at %s (to %s, service %s): HTTP %ld "
              "%s %s",
              a->id, to ? to : "-", service ? service : "-", st,
              resp.body ? resp.body : "", resp.err);
    h_resp_free(&resp);
}

static void case_api_and_cli_flow(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;

    /* through the API */
    char key[33], id1[64], id2[64] = "";
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "work ability assessment",
                                id1, &resp);
    H_REQUIRE(st == 201, "POST /v1/referrals: HTTP %ld %s %s", st,
              resp.body ? resp.body : "", resp.err);
    json_t *o = resp.json;
    H_CHECK(strcmp(json_string_value(json_object_get(o, "status")) ?: "",
                   "requested") == 0,
            "a new referral is 'requested': %s", resp.body);
    H_CHECK(strcmp(json_string_value(json_object_get(o, "direction")) ?: "",
                   "out") == 0,
            "direction out: %s", resp.body);
    H_CHECK(
        strcmp(json_string_value(json_object_get(o, "from")) ?: "", a->id) == 0,
        "from %s: %s", a->id, resp.body);
    H_CHECK(strcmp(json_string_value(json_object_get(o, "to")) ?: "", b->id) ==
                0,
            "to %s: %s", b->id, resp.body);
    H_CHECK(strcmp(json_string_value(json_object_get(o, "client_key")) ?: "",
                   key) == 0,
            "client_key echoed: %s", resp.body);
    h_resp_free(&resp);

    /* through the CLI */
    char key2[33], out[8192];
    h_client_key(key2);
    h_consent_ok(a, key2, b->id);
    h_ids before = {0}, after = {0};
    H_REQUIRE(h_referral_list(a, "out", NULL, &before) == 1,
              "a lists exactly one outgoing referral before the CLI runs");
    const char *create_args[] = {
        "referral", "create",   "--client",        key2, "--to",
        b->id,      "--reason", "made by the CLI", NULL};
    int rc = h_cli(a, out, sizeof out, create_args);
    H_REQUIRE(rc == 0, "polku referral create exited %d:\n%s", rc, out);
    H_REQUIRE(h_referral_list(a, "out", NULL, &after) == 2,
              "a lists two outgoing referrals after the CLI created one");
    for (size_t i = 0; i < after.n; i++)
        if (!h_ids_contains(&before, after.v[i]))
            snprintf(id2, sizeof id2, "%s", after.v[i]);
    h_ids_free(&before);
    h_ids_free(&after);
    H_REQUIRE(id2[0], "the CLI's referral is listed at a");
    H_CHECK(strstr(out, id2) != NULL,
            "polku referral create prints the new id %s:\n%s", id2, out);

    h_wait_status(b, id1, "received", H_SEC(10));
    h_wait_status(b, id2, "received", H_SEC(10));
    h_wait_status(a, id1, "received", H_SEC(10));
    h_wait_status(a, id2, "received", H_SEC(10));
    json_t *at_b = h_referral_get(b, id2);
    H_CHECK(strcmp(json_string_value(json_object_get(at_b, "direction")) ?: "",
                   "in") == 0,
            "direction at b is 'in'");
    H_CHECK(strcmp(json_string_value(json_object_get(at_b, "client_key")) ?: "",
                   key2) == 0,
            "the CLI's client key arrived at b");
    json_decref(at_b);

    /* the receiver moves it on; the sender follows each step */
    set_status_ok(b, id1, "accepted", NULL, NULL);
    h_wait_status(a, id1, "accepted", H_SEC(10));
    set_status_ok(b, id1, "in-progress", NULL, NULL);
    h_wait_status(a, id1, "in-progress", H_SEC(10));
    const char *outcome = "vocational rehabilitation plan agreed";
    set_status_ok(b, id1, "completed", NULL, outcome);
    h_wait_status(a, id1, "completed", H_SEC(10));

    const char *want = "requested,received,accepted,in-progress,completed";
    char hist[512];
    h_org *sides[] = {a, b};
    for (int i = 0; i < 2; i++) {
        json_t *ref = h_referral_get(sides[i], id1);
        H_REQUIRE(ref, "GET referral %s at %s", id1, sides[i]->id);
        h_history_statuses(ref, hist, sizeof hist);
        H_CHECK(strcmp(hist, want) == 0, "history at %s is %s, want %s",
                sides[i]->id, hist, want);
        H_CHECK(strcmp(json_string_value(json_object_get(ref, "outcome")) ?: "",
                       outcome) == 0,
                "outcome at %s is the receiver's outcome", sides[i]->id);
        json_t *hs = json_object_get(ref, "history");
        json_t *last = json_array_get(hs, json_array_size(hs) - 1);
        H_CHECK(
            strcmp(json_string_value(json_object_get(last, "outcome")) ?: "",
                   outcome) == 0,
            "the completed history entry at %s carries the outcome",
            sides[i]->id);
        H_CHECK(strcmp(json_string_value(json_object_get(last, "by")) ?: "",
                       b->id) == 0,
                "the completed entry at %s is written by %s", sides[i]->id,
                b->id);
        json_decref(ref);
    }
    h_ids done = {0};
    H_CHECK(h_referral_list(b, "in", "completed", &done) == 1 &&
                h_ids_contains(&done, id1),
            "b lists %s as its one completed incoming referral", id1);
    h_ids_free(&done);

    /* the CLI shows what the API made */
    const char *list_args[] = {"referral", "list", NULL};
    rc = h_cli(a, out, sizeof out, list_args);
    H_CHECK(rc == 0, "polku referral list exited %d:\n%s", rc, out);
    H_CHECK(strstr(out, id1) && strstr(out, id2),
            "polku referral list shows %s and %s:\n%s", id1, id2, out);
    const char *show_args[] = {"referral", "show", id1, NULL};
    rc = h_cli(a, out, sizeof out, show_args);
    H_CHECK(rc == 0, "polku referral show exited %d:\n%s", rc, out);
    H_CHECK(strstr(out, id1) && strstr(out, "completed"),
            "polku referral show names %s and its status:\n%s", id1, out);
}

static void case_by_service(void)
{
    h_org *a, *b;
    region(&a, &b);
    char id[64];
    create_ok(a, b, NULL, "vocational-rehab", id);
    json_t *ref = h_referral_get(a, id);
    H_CHECK(
        strcmp(json_string_value(json_object_get(ref, "to")) ?: "", b->id) == 0,
        "service vocational-rehab resolves to %s", b->id);
    H_CHECK(strcmp(json_string_value(json_object_get(ref, "service")) ?: "",
                   "vocational-rehab") == 0,
            "the service is kept");
    json_decref(ref);
    h_wait_status(b, id, "received", H_SEC(10));
    h_wait_status(a, id, "received", H_SEC(10));

    char key[33];
    h_client_key(key);
    const char *everyone[] = {a->id, b->id, "tyokykytiimi", NULL};
    H_REQUIRE(h_consent_grant(a, key, everyone, NULL, NULL, NULL) == 201,
              "a consent covering every organisation");
    h_resp resp;
    long st = h_referral_create(a, key, NULL, "work-ability-assessment",
                                "which one?", NULL, &resp);
    H_CHECK(st == 400 &&
                strcmp(h_resp_error_code(&resp), "ambiguous_service") == 0,
            "a service two organisations offer: want 400 ambiguous_service, "
            "got %ld %s",
            st, resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
    st = h_referral_create(a, key, NULL, "no-such-service", "nobody", NULL,
                           &resp);
    H_CHECK(st == 400 &&
                strcmp(h_resp_error_code(&resp), "unknown_service") == 0,
            "an unknown service: want 400 unknown_service, got %ld %s", st,
            resp.body ? resp.body : resp.err);
    h_resp_free(&resp);

    H_CHECK(h_referral_list(a, "out", NULL, NULL) == 1,
            "the refused requests made no referral at %s", a->id);
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 1,
            "%s holds only the resolved referral", b->id);
}

static void case_cancel(void)
{
    h_org *a, *b;
    region(&a, &b);

    /* a received referral: the cancel is applied at both ends */
    char r3[64];
    create_ok(a, b, b->id, NULL, r3);
    h_wait_status(b, r3, "received", H_SEC(10));
    h_wait_status(a, r3, "received", H_SEC(10));
    h_resp resp;
    long st = h_referral_cancel(a, r3, "client moved away", &resp);
    H_REQUIRE(st == 202, "cancel %s: want 202, got %ld %s", r3, st,
              resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
    h_wait_status(b, r3, "cancelled", H_SEC(10));
    h_wait_status(a, r3, "cancelled", H_SEC(10));

    /* a completed referral: the request changes nothing */
    char r4[64];
    create_ok(a, b, b->id, NULL, r4);
    h_wait_status(b, r4, "received", H_SEC(10));
    set_status_ok(b, r4, "accepted", NULL, NULL);
    set_status_ok(b, r4, "in-progress", NULL, NULL);
    set_status_ok(b, r4, "completed", NULL, "done");
    h_wait_status(a, r4, "completed", H_SEC(10));
    char hist_before[512], hist_after[512];
    json_t *ref = h_referral_get(b, r4);
    h_history_statuses(ref, hist_before, sizeof hist_before);
    json_decref(ref);

    st = h_referral_cancel(a, r4, "too late", &resp);
    H_CHECK(st == 202 || st == 409,
            "cancel of a completed referral: want 202 (sent) or 409, got %ld "
            "%s",
            st, resp.body ? resp.body : resp.err);
    h_resp_free(&resp);

    /* sequence a later referral behind the cancel request and wait for it
     * and for a's outbox to drain: b has processed the request by then */
    char r5[64];
    create_ok(a, b, b->id, NULL, r5);
    h_wait_status(b, r5, "received", H_SEC(10));
    h_wait_status(a, r5, "received", H_SEC(10));
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) == 0,
                 "%s's outbox to drain (outbox_pending 0)", a->id);

    char s[64];
    H_CHECK(strcmp(h_referral_status(b, r4, s, sizeof s), "completed") == 0,
            "a completed referral stays completed at %s after a cancel "
            "request (is '%s')",
            b->id, s);
    H_CHECK(strcmp(h_referral_status(a, r4, s, sizeof s), "completed") == 0,
            "a completed referral stays completed at %s (is '%s')", a->id, s);
    ref = h_referral_get(b, r4);
    h_history_statuses(ref, hist_after, sizeof hist_after);
    json_decref(ref);
    H_CHECK(strcmp(hist_before, hist_after) == 0,
            "history at %s unchanged by the cancel request: before %s, after "
            "%s",
            b->id, hist_before, hist_after);
    H_CHECK(strcmp(h_referral_status(b, r3, s, sizeof s), "cancelled") == 0,
            "the cancelled referral is still cancelled (is '%s')", s);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_referral_flow");
    H_CASE(case_api_and_cli_flow);
    H_CASE(case_by_service);
    H_CASE(case_cancel);
    return h_finish();
}
