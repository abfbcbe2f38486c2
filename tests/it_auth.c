/* it_auth — only the right organisation gets in (DESIGN §2 invariant 6).
 *
 * (1) a CURVE key that is not in the broker's directory is refused at the
 *     handshake (our ZAP handler, §9) and gets nothing through;
 * (2) an organisation in the directory cannot speak for another one: an
 *     envelope whose origin_org is not the authenticated org is Nacked
 *     origin_mismatch and routed nowhere;
 * (3) a referral to an organisation that does not exist is refused up
 *     front or ends `failed`; one to an organisation that left the
 *     directory while the referral waited in the outbox ends `failed` at
 *     the sender with unknown_org in its history.
 * (4) an agent whose organisation is missing from the broker's directory
 *     is refused at the handshake, says so, and keeps trying (libzmq gives
 *     up after a refused handshake): once the broker knows the
 *     organisation, the agent connects within its backoff cap.
 * "Nothing got through" is shown by sequencing: a real referral sent after
 * the forged frame arrives, and the receiver holds that one only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "harness.h"

static h_region *region(h_org **a, h_org **b, h_org **c)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "kela", "vocational-rehab");
    *c = h_region_add_org(r, "typ", "joint-service"); /* no agent runs */
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

/* a sends a real referral to b and it arrives; b holds exactly it. */
static void real_referral_only(h_org *a, h_org *b)
{
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "the real one", id, &resp);
    H_REQUIRE(st == 201, "create at %s: HTTP %ld %s", a->id, st,
              resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
    h_wait_status(b, id, "received", H_SEC(10));
    h_ids in = {0};
    long n = h_referral_list(b, "in", NULL, &in);
    H_CHECK(n == 1 && in.n == 1 && strcmp(in.v[0], id) == 0,
            "%s holds exactly the real referral %s (it lists %ld: %s%s)", b->id,
            id, n, in.n ? in.v[0] : "", in.n > 1 ? ", ..." : "");
    h_ids_free(&in);
}

static void forge_referral(h_raw *raw, const char *origin, const char *to)
{
    h_env e;
    h_env_init(&e, origin, 1, to);
    h_env_referral(&e, "vocational-rehab", "forged");
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "queue the forged frame: %s",
              zmq_strerror(zmq_errno()));
}

static void case_unknown_key(void)
{
    h_org *a, *b, *c;
    h_region *r = region(&a, &b, &c);
    polku_keypair stranger;
    H_REQUIRE(zmq_curve_keypair(stranger.public_z85, stranger.secret_z85) == 0,
              "zmq_curve_keypair");
    h_raw *raw = h_raw_new(r, &stranger);
    forge_referral(raw, a->id, b->id);

    int value = 0;
    int ev = h_raw_wait_event(raw,
                              ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                  ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                              H_SEC(10), &value);
    H_CHECK(ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
            "the unknown key's CURVE handshake is refused by ZAP (monitor "
            "event 0x%x value %d; 0x%x = auth failed, 0x%x = succeeded, 0 = "
            "nothing within the deadline)",
            ev, value, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
            ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    H_CHECK(ev != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || value == 400,
            "ZAP status 400 for an unknown key (got %d)", value);

    real_referral_only(a, b);

    polku_envelope *got = h_raw_recv(raw, 0);
    H_CHECK(got == NULL, "the unknown key received nothing (got a %s)",
            got ? polku_body_name(got->body_case) : "");
    polku_envelope_free(&got);

    json_t *health = h_broker_health(r);
    json_t *conn = json_object_get(health, "connected");
    H_CHECK(json_is_array(conn) && json_array_size(conn) == 2,
            "the broker lists exactly the two agents as connected");
    size_t i;
    json_t *v;
    json_array_foreach(conn, i, v)
    {
        const char *org = json_string_value(v);
        H_CHECK(org && (strcmp(org, a->id) == 0 || strcmp(org, b->id) == 0),
                "unexpected connected entry '%s'", org ? org : "(non-string)");
    }
    json_decref(health);
    h_raw_destroy(&raw);
}

static void case_origin_mismatch(void)
{
    h_org *a, *b, *c;
    h_region *r = region(&a, &b, &c);
    h_raw *raw = h_raw_new(r, &c->key); /* c's real key, no agent for c */
    H_CHECK(h_raw_hello(raw, c->id, H_SEC(10)),
            "the broker welcomes %s's Hello on %s's own key", c->id, c->id);

    double before = h_broker_metric(
        r, "polku_broker_nacks_total{code=\"origin_mismatch\"}");
    forge_referral(raw, a->id, b->id); /* c pretends to be a */
    char reason[256] = "";
    H_CHECK(h_raw_wait_nack(raw, POLKU__NACK_CODE__NACK_ORIGIN_MISMATCH,
                            H_SEC(10), reason, sizeof reason),
            "a Nack origin_mismatch for an envelope from %s claiming origin "
            "%s",
            c->id, a->id);
    h_note("nack reason: %s", reason);

    real_referral_only(a, b);
    double after = h_broker_metric(
        r, "polku_broker_nacks_total{code=\"origin_mismatch\"}");
    H_CHECK(after >= 1 && after > before,
            "polku_broker_nacks_total{code=\"origin_mismatch\"} counted it "
            "(before %g, after %g)",
            before, after);
    h_raw_destroy(&raw);
}

/* The referral at a ends `failed` with unknown_org in its history. */
static void expect_failed_unknown_org(h_org *a, const char *id)
{
    h_wait_status(a, id, "failed", H_SEC(15));
    json_t *ref = h_referral_get(a, id);
    json_t *hs = json_object_get(ref, "history");
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(hs, i, e)
    {
        const char *s = json_string_value(json_object_get(e, "status"));
        const char *why = json_string_value(json_object_get(e, "reason"));
        if (s && strcmp(s, "failed") == 0 && why && strstr(why, "unknown_org"))
            found = true;
    }
    char *dump = json_dumps(hs, JSON_COMPACT);
    H_CHECK(found,
            "the history at %s has a 'failed' entry whose reason "
            "names unknown_org: %s",
            a->id, dump ? dump : "(none)");
    free(dump);
    json_decref(ref);
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) == 0,
                 "%s's outbox to give the failed message up visibly", a->id);
}

/* An organisation nobody has heard of: refused up front (no consent can
 * name it), or accepted and then `failed` with unknown_org. Either way
 * nothing is left hanging and nothing reaches anyone. */
static void case_unknown_destination(void)
{
    h_org *a, *b, *c;
    region(&a, &b, &c);
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    long out_before = h_referral_list(a, "out", NULL, NULL);
    h_resp resp;
    long st =
        h_referral_create(a, key, "no-such-org", NULL, "to nobody", id, &resp);
    if (st == 201) {
        h_resp_free(&resp);
        expect_failed_unknown_org(a, id);
    } else {
        H_CHECK(st == 400 || st == 403 || st == 404,
                "a referral to no-such-org is refused with 4xx or accepted "
                "(201); got %ld %s",
                st, resp.body ? resp.body : resp.err);
        h_note("no-such-org refused up front: %ld %s", st,
               resp.body ? resp.body : resp.err);
        h_resp_free(&resp);
        H_CHECK(h_referral_list(a, "out", NULL, NULL) == out_before,
                "the refused referral was not stored at %s", a->id);
    }
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 0, "%s received nothing",
            b->id);
}

/* An organisation that leaves the directory while a referral to it waits
 * in the sender's outbox: the broker refuses it with unknown_org and the
 * sender records `failed` with that reason (DESIGN §2: retries never give
 * up silently). */
static void case_org_left_directory(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *d = h_region_add_org(r, "ips", "work-coaching"); /* no agent */
    h_broker_start(r);
    h_agent_start_connected(a);
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, d->id);

    int rc = h_broker_stop(r);
    H_CHECK(rc == 0, "the broker stops on SIGTERM with 0 (got %d)", rc);
    H_WAIT_UNTIL(H_SEC(10), !h_agent_connected(a),
                 "%s to notice the broker is gone", a->id);
    h_resp resp;
    long st = h_referral_create(a, key, d->id, NULL, "to ips", id, &resp);
    H_REQUIRE(st == 201,
              "create to %s while the broker is down: want 201 (sending "
              "needs no broker), got %ld %s",
              d->id, st, resp.body ? resp.body : resp.err);
    h_resp_free(&resp);

    d->not_in_directory = true;
    h_region_write(r);
    h_broker_start(r);
    h_wait_agent_connected(a, H_SEC(15));
    expect_failed_unknown_org(a, id);

    /* the consent still queued for ips is not dropped: it says so */
    bool listed = false;
    H_WAIT_UNTIL(H_SEC(10),
                 ({
                     json_t *list = h_consent_list(a, key);
                     json_t *und = json_object_get(json_array_get(list, 0),
                                                   "undelivered");
                     json_t *first = json_array_get(und, 0);
                     const char *org =
                         json_string_value(json_object_get(first, "org"));
                     const char *code =
                         json_string_value(json_object_get(first, "code"));
                     listed = org && code && strcmp(org, "ips") == 0 &&
                              strcmp(code, "unknown_org") == 0;
                     json_decref(list);
                     listed;
                 }),
                 "%s's consent to list ips as undelivered (unknown_org)",
                 a->id);
}

/* (4): refused while its org is not in the directory, then let in. */
static void case_refused_org_reconnects(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "kela", "vocational-rehab");
    a->not_in_directory = true;
    h_broker_start(r);
    h_agent_start(a);
    H_WAIT_UNTIL(
        H_SEC(10),
        h_broker_metric(r, "polku_broker_zap_total{result=\"denied\"}") >= 1,
        "the broker to refuse %s's key", a->id);
    H_CHECK(!h_agent_connected(a), "a refused agent is not connected");

    H_REQUIRE(h_broker_stop(r) == 0, "the broker stops");
    a->not_in_directory = false;
    h_region_write(r);
    h_broker_start(r);
    uint64_t t0 = h_now_ms();
    /* the backoff after refusals is capped at 60 s */
    h_wait_agent_connected(a, H_SEC(65));
    h_note("connected %llu ms after the broker came back with %s",
           (unsigned long long)(h_now_ms() - t0), a->id);
    H_CHECK(h_broker_lists_connected(r, a->id), "the broker lists %s", a->id);

    char *log = h_read_file(a->proc.log, NULL);
    char want[160];
    snprintf(want, sizeof want,
             "is org %s with public key %s in the broker's "
             "directory?",
             a->id, a->key.public_z85);
    H_CHECK(log && strstr(log, "WARN") && strstr(log, want),
            "the agent's log says why it was refused: '%s'", want);
    free(log);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_auth");
    H_CASE(case_unknown_key);
    H_CASE(case_origin_mismatch);
    H_CASE(case_unknown_destination);
    H_CASE(case_org_left_directory);
    H_CASE(case_refused_org_reconnects);
    return h_finish();
}
