/* it_batch — POST /v1/referrals/batch with real processes.
 *
 * A broker and two agents. A batch mixes good items with items that are
 * wrong in the ways an integrator gets them wrong (no client, no consent,
 * a due date in the past, not an object, a bad override, a wrong type):
 * the good ones are created, answered 201 in their place and received at
 * the destination; each bad one is named by its index with the status,
 * code and message POST /v1/referrals gives for it; nothing else changes
 * at either agent. A batch that is wrong as a whole (invalid JSON, a
 * duplicate key, no items, too many) is refused and changes nothing. The
 * single create's hot path is held to the same answers (escaped text
 * comes back as sent). Clients are synthetic client keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct fixture {
    h_region *r;
    h_org *a, *b;
    char key[33];   /* a client with a consent covering a and b */
    char other[33]; /* a client without one */
} fixture;

static void setup(fixture *f)
{
    f->r = h_region_new();
    f->a = h_region_add_org(f->r, "org-a", "intake");
    f->b = h_region_add_org(f->r, "org-b", "physio");
    h_broker_start(f->r);
    h_agent_start_connected(f->a);
    h_agent_start_connected(f->b);
    h_client_key(f->key);
    h_client_key(f->other);
    h_consent_ok(f->a, f->key, f->b->id);
}

static long long last_seq(h_org *o)
{
    json_t *h = h_agent_health(o);
    H_REQUIRE(h, "/healthz at %s", o->id);
    long long seq = json_integer_value(json_object_get(h, "last_seq"));
    json_decref(h);
    return seq;
}

static json_t *result(json_t *answer, size_t i)
{
    return json_array_get(json_object_get(answer, "results"), i);
}

/* results[i] has index i, status want and (for an error) code and a
 * message holding fragment. */
static void expect_item(json_t *answer, size_t i, long want, const char *code,
                        const char *fragment)
{
    json_t *it = result(answer, i);
    json_t *body = json_object_get(it, "body");
    json_t *err = json_object_get(body, "error");
    const char *c = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    H_CHECK(json_integer_value(json_object_get(it, "index")) == (json_int_t)i,
            "results[%zu] names its index", i);
    H_CHECK(json_integer_value(json_object_get(it, "status")) == want,
            "item %zu: want status %ld, got %lld", i, want,
            (long long)json_integer_value(json_object_get(it, "status")));
    if (!code)
        return;
    H_CHECK(c && strcmp(c, code) == 0, "item %zu: want code %s, got %s", i,
            code, c ? c : "(none)");
    H_CHECK(msg && strstr(msg, fragment), "item %zu: message '%s' names '%s'",
            i, msg ? msg : "", fragment);
}

static void case_batch_mixed(void)
{
    fixture f = {0};
    setup(&f);
    long out_before = h_referral_list(f.a, "out", NULL, NULL);
    long in_before = h_referral_list(f.b, "in", NULL, NULL);
    char body[4096];
    snprintf(body, sizeof body,
             "{\"referrals\":["
             /* 0 */ "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\","
             "\"reason\":\"first \\u00e4 \\\"quoted\\\"\\n\"},"
             /* 1 */ "{\"to\":\"org-b\",\"reason\":\"no client\"},"
             /* 2 */ "{\"client\":{\"key\":\"%s\"},\"service\":\"physio\","
             "\"urgency\":\"urgent\",\"reason\":\"second\"},"
             /* 3 */ "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\","
             "\"reason\":\"no consent\"},"
             /* 4 */ "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\","
             "\"due\":\"2001-01-01\"},"
             /* 5 */ "42,"
             /* 6 */ "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\","
             "\"override\":{\"basis\":\"whim\",\"reason\":\"x\"}},"
             /* 7 */ "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\","
             "\"transfer\":\"yes\"}"
             "]}",
             f.key, f.key, f.other, f.key, f.key, f.key);
    long long seq_b = last_seq(f.b);
    h_resp r;
    long st = h_api(f.a, "POST", "/v1/referrals/batch", body, &r);
    H_REQUIRE(st == 200 && r.json, "batch: want 200, got %ld %.400s", st,
              r.body ? r.body : r.err);
    json_t *ans = r.json;
    H_CHECK(json_integer_value(json_object_get(ans, "count")) == 8 &&
                json_integer_value(json_object_get(ans, "created")) == 2 &&
                json_integer_value(json_object_get(ans, "failed")) == 6,
            "count 8, created 2, failed 6: %.300s", r.body);
    expect_item(ans, 0, 201, NULL, NULL);
    expect_item(ans, 1, 400, "bad_request", "'client' must be an object");
    expect_item(ans, 2, 201, NULL, NULL);
    expect_item(ans, 3, 403, "consent_required", "consent");
    expect_item(ans, 4, 400, "invalid_due", "'due' is in the past");
    expect_item(ans, 5, 400, "invalid_json", "'[' or '{' expected");
    expect_item(ans, 6, 400, "bad_override", "override");
    expect_item(ans, 7, 400, "bad_request", "'transfer' must be true or false");

    /* the created ones as the single create answers them */
    json_t *one = json_object_get(result(ans, 0), "body");
    json_t *two = json_object_get(result(ans, 2), "body");
    const char *id1 = json_string_value(json_object_get(one, "id"));
    const char *id2 = json_string_value(json_object_get(two, "id"));
    H_REQUIRE(id1 && id2 && strcmp(id1, id2), "two ids: %.300s", r.body);
    H_CHECK(strcmp(json_string_value(json_object_get(one, "reason")),
                   "first \xc3\xa4 \"quoted\"\n") == 0,
            "the reason comes back as sent, unescaped and escaped again");
    H_CHECK(
        strcmp(json_string_value(json_object_get(two, "urgency")), "urgent") ==
                0 &&
            strcmp(json_string_value(json_object_get(two, "to")), "org-b") == 0,
        "item 2: urgent, resolved to org-b by its service");
    char id1c[64], id2c[64];
    snprintf(id1c, sizeof id1c, "%s", id1);
    snprintf(id2c, sizeof id2c, "%s", id2);
    h_resp_free(&r);

    /* the good ones reach org-b; nothing else was stored anywhere */
    h_wait_status(f.a, id1c, "received", H_SEC(10));
    h_wait_status(f.a, id2c, "received", H_SEC(10));
    h_ids in = {0};
    H_CHECK(h_referral_list(f.b, "in", NULL, &in) == in_before + 2,
            "org-b received exactly the two good ones");
    H_CHECK(h_ids_contains(&in, id1c) && h_ids_contains(&in, id2c),
            "org-b holds both ids");
    h_ids_free(&in);
    H_CHECK(h_referral_list(f.a, "out", NULL, NULL) == out_before + 2,
            "org-a stored exactly the two good ones");
    json_t *got = h_referral_get(f.b, id1c);
    H_CHECK(got && strcmp(json_string_value(json_object_get(got, "reason")),
                          "first \xc3\xa4 \"quoted\"\n") == 0,
            "org-b has the reason as sent");
    json_decref(got);
    H_CHECK(last_seq(f.b) > seq_b, "org-b logged what it received");
}

static void expect_refused(fixture *f, const char *body, long want,
                           const char *code, const char *fragment,
                           const char *what)
{
    long long seq_a = last_seq(f->a);
    long out_before = h_referral_list(f->a, "out", NULL, NULL);
    h_resp r;
    long st = h_api(f->a, "POST", "/v1/referrals/batch", body, &r);
    const char *c = h_resp_error_code(&r);
    json_t *err = r.json ? json_object_get(r.json, "error") : NULL;
    const char *msg = json_string_value(json_object_get(err, "message"));
    H_CHECK(st == want && strcmp(c, code) == 0,
            "%s: want %ld %s, got %ld %.300s", what, want, code, st,
            r.body ? r.body : r.err);
    H_CHECK(msg && strstr(msg, fragment), "%s: message '%s' names '%s'", what,
            msg ? msg : "", fragment);
    h_resp_free(&r);
    H_CHECK(last_seq(f->a) == seq_a &&
                h_referral_list(f->a, "out", NULL, NULL) == out_before,
            "%s: nothing stored", what);
}

static void case_batch_refused_whole(void)
{
    fixture f = {0};
    setup(&f);
    char item[128];
    snprintf(item, sizeof item,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"org-b\"}", f.key);
    expect_refused(&f, "{\"referrals\":[", 400, "invalid_json",
                   "invalid JSON at line", "a body cut short");
    char dup[512];
    snprintf(dup, sizeof dup, "{\"referrals\":[%s],\"referrals\":[%s]}", item,
             item);
    expect_refused(&f, dup, 400, "invalid_json", "duplicate",
                   "the list given twice");
    expect_refused(&f, "{\"referrals\":[]}", 400, "bad_request",
                   "'referrals' must be an array of 1 to 1000",
                   "an empty batch");
    expect_refused(&f, "[{}]", 400, "invalid_json",
                   "the body must be a JSON object", "a bare array");
    size_t cap = 1001 * 3 + 64;
    char *many = malloc(cap);
    char *p = many + sprintf(many, "{\"referrals\":[");
    for (int i = 0; i < 1001; i++)
        p += sprintf(p, "%s{}", i ? "," : "");
    strcpy(p, "]}");
    expect_refused(&f, many, 413, "too_large", "at most 1000 referrals",
                   "1001 items");
    free(many);
    /* a batch of only refused items is answered at once and stores nothing */
    char bad[256];
    snprintf(bad, sizeof bad, "{\"referrals\":[{\"client\":{\"key\":\"%s\"}}]}",
             f.other);
    long long seq_a = last_seq(f.a);
    h_resp r;
    long st = h_api(f.a, "POST", "/v1/referrals/batch", bad, &r);
    H_CHECK(st == 200 && r.json &&
                json_integer_value(json_object_get(r.json, "created")) == 0,
            "all refused: 200 with created 0, got %ld %.300s", st,
            r.body ? r.body : r.err);
    if (r.json)
        expect_item(r.json, 0, 400, "bad_request", "'to' or 'service'");
    h_resp_free(&r);
    H_CHECK(last_seq(f.a) == seq_a, "all refused: nothing stored");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_batch");
    H_CASE(case_batch_mixed);
    H_CASE(case_batch_refused_whole);
    return h_finish();
}
