/* it_bad_input — one bad frame never stops the broker; a bad request
 * changes nothing.
 *
 * Wire: a raw client on org c's real key sends garbage, a truncated
 * protobuf, a wrong protocol version and a frame over the broker's 1 MiB
 * maximum; the broker Nacks what it can (malformed, unsupported_version,
 * too_large — or drops the connection for the oversized frame), stays up,
 * and a normal referral still goes through.
 * API: bad JSON, missing fields, unknown status, illegal transitions, no
 * token, unknown ids and an oversized body get their 4xx answer, and the
 * stores of both agents are identical before and after each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "harness.h"

static h_region *region(h_org **a, h_org **b, h_org **c)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    *c = h_region_add_org(r, "kela", "benefits"); /* no agent runs */
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

static void create_ok(h_org *a, h_org *b, char id[64])
{
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st =
        h_referral_create(a, key, b->id, NULL, "bad input test", id, &resp);
    H_REQUIRE(st == 201, "create at %s: HTTP %ld %s", a->id, st,
              resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
}

static bool broker_up(h_region *r)
{
    json_t *h = h_broker_health(r);
    bool up = h != NULL;
    json_decref(h);
    return up;
}

/* ------------------------------------------------------------------ wire */

static void expect_nack(h_raw *raw, Polku__NackCode code, const char *what)
{
    char reason[256] = "";
    bool got = h_raw_wait_nack(raw, code, H_SEC(10), reason, sizeof reason);
    H_CHECK(got, "a Nack %s for %s", polku_nack_code_name(code), what);
    if (got)
        h_note("%s -> Nack %s (%s)", what, polku_nack_code_name(code), reason);
}

static void case_wire(void)
{
    h_org *a, *b, *c;
    h_region *r = region(&a, &b, &c);
    h_raw *raw = h_raw_new(r, &c->key);
    H_CHECK(h_raw_hello(raw, c->id, H_SEC(10)),
            "the broker welcomes %s's Hello", c->id);

    /* garbage */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'j',
                                      'u',  'n',  'k',  0x00, 0xfe};
    H_REQUIRE(h_raw_send(raw, garbage, sizeof garbage) == 0, "send garbage");
    expect_nack(raw, POLKU__NACK_CODE__NACK_MALFORMED, "garbage bytes");
    H_CHECK(broker_up(r), "the broker answers /healthz after garbage");

    /* a truncated protobuf */
    h_env e;
    h_env_init(&e, c->id, 1, b->id);
    h_env_referral(&e, "work-ability-assessment", "truncated in transit");
    uint8_t *buf = NULL;
    size_t len = 0;
    H_REQUIRE(polku_envelope_encode(&e.env, &buf, &len) == 0, "encode");
    H_REQUIRE(h_raw_send(raw, buf, len - 7) == 0, "send truncated");
    free(buf);
    expect_nack(raw, POLKU__NACK_CODE__NACK_MALFORMED, "a truncated envelope");
    H_CHECK(broker_up(r), "the broker answers /healthz after a truncated "
                          "envelope");

    /* a protocol version the broker does not speak */
    h_env_init(&e, c->id, 1, b->id);
    h_env_referral(&e, "work-ability-assessment", "from the future");
    e.env.version = POLKU_PROTOCOL_VERSION + 1;
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send version 2");
    expect_nack(raw, POLKU__NACK_CODE__NACK_UNSUPPORTED_VERSION,
                "protocol version 2");
    H_CHECK(broker_up(r), "the broker answers /healthz after version 2");

    /* 2 MiB, twice the default maximum: a Nack, or the connection dropped */
    size_t big_len = 2u << 20;
    uint8_t *big = calloc(1, big_len);
    H_REQUIRE(big, "out of memory");
    memset(big, 'x', big_len);
    int sent = h_raw_send(raw, big, big_len);
    free(big);
    H_REQUIRE(sent == 0, "send 2 MiB: %s", zmq_strerror(zmq_errno()));
    bool refused = false;
    const char *how = "";
    uint64_t deadline = h_now_ms() + H_SEC(10);
    while (!refused && h_now_ms() < deadline) {
        polku_envelope *env = h_raw_recv(raw, 50);
        if (env && env->body_case == POLKU__ENVELOPE__BODY_NACK &&
            env->nack->code == POLKU__NACK_CODE__NACK_TOO_LARGE) {
            refused = true;
            how = "Nack too_large";
        }
        polku_envelope_free(&env);
        if (!refused &&
            h_raw_wait_event(raw, ZMQ_EVENT_DISCONNECTED, 1, NULL)) {
            refused = true;
            how = "connection dropped";
        }
    }
    H_CHECK(refused, "a 2 MiB frame is refused (Nack too_large or the "
                     "connection dropped) within the deadline");
    h_note("2 MiB frame -> %s", how);
    H_CHECK(broker_up(r), "the broker answers /healthz after a 2 MiB frame");
    h_raw_destroy(&raw);

    /* nothing reached b, and the broker still routes */
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 0,
            "no bad frame reached %s", b->id);
    char id[64];
    create_ok(a, b, id);
    h_wait_status(b, id, "received", H_SEC(10));
    h_wait_status(a, id, "received", H_SEC(10));
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == 1,
            "%s holds exactly the one real referral", b->id);

    double rejected = h_broker_metric(r, "polku_broker_frames_rejected_total");
    H_CHECK(rejected >= 3,
            "polku_broker_frames_rejected_total counts the "
            "refused frames (%g, want >= 3)",
            rejected);
    double malformed =
        h_broker_metric(r, "polku_broker_nacks_total{code=\"malformed\"}");
    H_CHECK(malformed >= 2,
            "polku_broker_nacks_total{code=\"malformed\"} is "
            "%g, want >= 2",
            malformed);
    H_CHECK(h_proc_running(&r->broker), "the broker process is alive");
}

/* ------------------------------------------------------------------- API */

typedef struct fixture {
    h_org *a, *b;
    char done[64];    /* completed at b */
    char open[64];    /* received at b */
    json_t *snapshot; /* both stores as the API shows them */
} fixture;

static json_t *list_json(h_org *o, const char *direction)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals?direction=%s", direction);
    h_resp r;
    long st = h_api(o, "GET", path, NULL, &r);
    H_REQUIRE(st == 200 && r.json, "GET %s at %s: HTTP %ld", path, o->id, st);
    json_t *j = json_incref(r.json);
    h_resp_free(&r);
    return j;
}

static json_t *take_snapshot(fixture *f)
{
    json_t *s = json_object();
    json_object_set_new(s, "a_out", list_json(f->a, "out"));
    json_object_set_new(s, "a_in", list_json(f->a, "in"));
    json_object_set_new(s, "b_out", list_json(f->b, "out"));
    json_object_set_new(s, "b_in", list_json(f->b, "in"));
    const char *ids[] = {f->done, f->open};
    for (int i = 0; i < 2; i++) {
        char k[16];
        snprintf(k, sizeof k, "a_%d", i);
        json_object_set_new(s, k, h_referral_get(f->a, ids[i]) ?: json_null());
        snprintf(k, sizeof k, "b_%d", i);
        json_object_set_new(s, k, h_referral_get(f->b, ids[i]) ?: json_null());
    }
    return s;
}

static void expect_unchanged(fixture *f, const char *after)
{
    json_t *now = take_snapshot(f);
    bool same = json_equal(now, f->snapshot);
    if (!same) {
        char *was = json_dumps(f->snapshot, JSON_COMPACT);
        char *is = json_dumps(now, JSON_COMPACT);
        h_note("before: %.1500s", was ? was : "");
        h_note("after:  %.1500s", is ? is : "");
        free(was);
        free(is);
    }
    H_CHECK(same, "the stores are unchanged after %s", after);
    json_decref(now);
}

/* One bad request; want status and (if not NULL) error code; then the
 * stores must be as before. */
static void bad(fixture *f, h_org *o, const char *method, const char *path,
                const char *token, const char *body, size_t body_len, long want,
                const char *want_code, const char *what)
{
    h_resp r;
    long st = h_http_request(o->http, method, path, token, body, body_len, &r);
    const char *code = h_resp_error_code(&r);
    H_CHECK(st == want && (!want_code || strcmp(code, want_code) == 0),
            "%s: %s %s at %s: want %ld %s, got %ld %.300s %s", what, method,
            path, o->id, want, want_code ? want_code : "", st,
            r.body ? r.body : "", r.err);
    h_resp_free(&r);
    expect_unchanged(f, what);
}

static void case_api(void)
{
    fixture f = {0};
    h_org *c;
    region(&f.a, &f.b, &c);
    h_org *a = f.a, *b = f.b;

    create_ok(a, b, f.done);
    create_ok(a, b, f.open);
    h_wait_status(b, f.done, "received", H_SEC(10));
    h_wait_status(b, f.open, "received", H_SEC(10));
    const char *steps[] = {"accepted", "in-progress", "completed"};
    for (int i = 0; i < 3; i++) {
        h_resp r;
        long st = h_referral_set_status(b, f.done, steps[i], NULL,
                                        i == 2 ? "assessment done" : NULL, &r);
        H_REQUIRE(st >= 200 && st < 300, "set %s: HTTP %ld %s", steps[i], st,
                  r.body ? r.body : r.err);
        h_resp_free(&r);
    }
    h_wait_status(a, f.done, "completed", H_SEC(10));
    h_wait_status(a, f.open, "received", H_SEC(10));
    H_WAIT_UNTIL(H_SEC(10),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(b) == 0,
                 "both outboxes to drain before the snapshot");
    f.snapshot = take_snapshot(&f);

    char key[33], body[512], path[256];
    h_client_key(key);
    h_consent_ok(a, key, b->id); /* so only the fault under test refuses */
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) == 0,
                 "the consent to be acknowledged before the snapshot");
    json_decref(f.snapshot);
    f.snapshot = take_snapshot(&f);
    const char *ta = a->token, *tb = b->token;

    const char *badjson = "{\"client\": {\"key\": \"";
    bad(&f, a, "POST", "/v1/referrals", ta, badjson, strlen(badjson), 400,
        "invalid_json", "bad JSON");
    /* bad JSON that breaks off inside an identity code, in bytes that are
     * not UTF-8: refused as invalid_json, and the answer quotes neither
     * (jansson's error text would: "near '...'") */
    const char cut[] = "{\"client\": {\"hetu\": \"131052-308T\xdd\x9a";
    h_resp cr;
    long cst = h_http_request(a->http, "POST", "/v1/referrals", ta, cut,
                              sizeof cut - 1, &cr);
    H_CHECK(cst == 400 && strcmp(h_resp_error_code(&cr), "invalid_json") == 0 &&
                cr.body && !strstr(cr.body, "131052") &&
                !strstr(cr.body, "\xdd"),
            "bad JSON cut inside an identity code: want 400 invalid_json "
            "quoting nothing of the body, got %ld %.300s",
            cst, cr.body ? cr.body : cr.err);
    h_resp_free(&cr);
    expect_unchanged(&f, "bad JSON cut inside an identity code");
    const char *notobj = "[1, 2, 3]";
    bad(&f, a, "POST", "/v1/referrals", ta, notobj, strlen(notobj), 400, NULL,
        "a JSON array instead of an object");
    snprintf(body, sizeof body, "{\"to\":\"%s\",\"reason\":\"no client\"}",
             b->id);
    bad(&f, a, "POST", "/v1/referrals", ta, body, strlen(body), 400,
        "bad_request", "a referral without a client");
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"reason\":\"nowhere\"}", key);
    bad(&f, a, "POST", "/v1/referrals", ta, body, strlen(body), 400,
        "bad_request", "a referral without to or service");
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"not-a-key\"},\"to\":\"%s\","
             "\"reason\":\"x\"}",
             b->id);
    bad(&f, a, "POST", "/v1/referrals", ta, body, strlen(body), 400, NULL,
        "a client key that is not 32 hex");
    char stranger[33];
    h_client_key(stranger);
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\",\"reason\":\"x\"}",
             stranger, b->id);
    bad(&f, a, "POST", "/v1/referrals", ta, body, strlen(body), 403,
        "consent_required", "a referral for a client without a consent");

    snprintf(path, sizeof path, "/v1/referrals/%s/status", f.open);
    const char *bogus = "{\"status\":\"bogus\"}";
    bad(&f, b, "POST", path, tb, bogus, strlen(bogus), 400, NULL,
        "an unknown status");
    const char *rejected = "{\"status\":\"rejected\"}";
    bad(&f, b, "POST", path, tb, rejected, strlen(rejected), 400, NULL,
        "'rejected' without the required reason");
    const char *accepted = "{\"status\":\"accepted\"}";
    bad(&f, a, "POST", path, ta, accepted, strlen(accepted), 409,
        "invalid_transition",
        "the sender setting 'accepted' on its own "
        "outgoing referral");
    snprintf(path, sizeof path, "/v1/referrals/%s/status", f.done);
    bad(&f, b, "POST", path, tb, accepted, strlen(accepted), 409,
        "invalid_transition", "completed -> accepted at the receiver");

    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\",\"reason\":\"x\"}",
             key, b->id);
    bad(&f, a, "POST", "/v1/referrals", NULL, body, strlen(body), 401, NULL,
        "a referral without a token");
    bad(&f, a, "POST", "/v1/referrals", tb, body, strlen(body), 401, NULL,
        "a referral with another organisation's token");
    bad(&f, a, "GET", "/v1/referrals", NULL, NULL, 0, 401, NULL,
        "a list without a token");
    snprintf(path, sizeof path, "/v1/referrals/%s/cancel", f.open);
    const char *cancel = "{\"reason\":\"x\"}";
    bad(&f, a, "POST", path, NULL, cancel, strlen(cancel), 401, NULL,
        "a cancel without a token");

    const char *ghost = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    snprintf(path, sizeof path, "/v1/referrals/%s", ghost);
    bad(&f, a, "GET", path, ta, NULL, 0, 404, "not_found", "an unknown id");
    snprintf(path, sizeof path, "/v1/referrals/%s/status", ghost);
    bad(&f, b, "POST", path, tb, accepted, strlen(accepted), 404, "not_found",
        "a status for an unknown id");
    snprintf(path, sizeof path, "/v1/referrals/%s/cancel", ghost);
    bad(&f, a, "POST", path, ta, cancel, strlen(cancel), 404, "not_found",
        "a cancel for an unknown id");

    /* a body over the API limit: a valid referral with a 2 MiB reason */
    size_t big_len = (2u << 20) + 256;
    char *big = malloc(big_len);
    H_REQUIRE(big, "out of memory");
    int head = snprintf(big, big_len,
                        "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\","
                        "\"reason\":\"",
                        key, b->id);
    size_t fill = (2u << 20) - (size_t)head;
    memset(big + head, 'x', fill);
    memcpy(big + head + fill, "\"}", 3);
    bad(&f, a, "POST", "/v1/referrals", ta, big, strlen(big), 413, "too_large",
        "a 2 MiB body");
    free(big);

    /* and after the dust settles: still nothing changed */
    H_WAIT_UNTIL(H_SEC(10),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(b) == 0,
                 "both outboxes empty after the bad requests");
    expect_unchanged(&f, "all bad requests (final)");
    json_decref(f.snapshot);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_bad_input");
    H_CASE(case_wire);
    H_CASE(case_api);
    return h_finish();
}
