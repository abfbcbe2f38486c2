/* it_input — bad input is answered with what is wrong and changes nothing.
 *
 * A real broker and two agents (kela is in the directory, no agent runs).
 * Each case sends one request an integrator might get wrong and checks the
 * exact HTTP status, the error code, that the message names the field or
 * the part that is wrong, and that the agent stored nothing: its event
 * log's last_seq (/healthz) is the same before and after, at both agents.
 * Then the same calls done right are accepted, so the checks refuse only
 * what they should. Clients are synthetic client keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "harness_coord.h"

typedef struct fixture {
    h_region *r;
    h_org *a, *b, *c;
    char key[33];      /* a client with a consent covering a and b */
    char received[64]; /* a referral a sent and b received */
} fixture;

static long long last_seq(h_org *o)
{
    json_t *h = h_agent_health(o);
    H_REQUIRE(h, "/healthz at %s", o->id);
    long long seq = json_integer_value(json_object_get(h, "last_seq"));
    json_decref(h);
    return seq;
}

/* One request at o; want status, code and a fragment of the message; then
 * neither agent's log has grown. */
static void expect(fixture *f, h_org *o, const char *method, const char *path,
                   const char *body, long want, const char *want_code,
                   const char *fragment, const char *what)
{
    long long seq_a = last_seq(f->a), seq_b = last_seq(f->b);
    h_resp r;
    long st = h_api(o, method, path, body, &r);
    const char *code = h_resp_error_code(&r);
    json_t *err = r.json ? json_object_get(r.json, "error") : NULL;
    const char *msg = json_string_value(json_object_get(err, "message"));
    H_CHECK(st == want && strcmp(code, want_code) == 0,
            "%s: want %ld %s, got %ld %.400s", what, want, want_code, st,
            r.body ? r.body : r.err);
    H_CHECK(msg && strstr(msg, fragment),
            "%s: the message names what is wrong ('%s'), got '%s'", what,
            fragment, msg ? msg : "");
    h_resp_free(&r);
    H_CHECK(last_seq(f->a) == seq_a && last_seq(f->b) == seq_b,
            "%s: nothing stored (last_seq %lld/%lld, now %lld/%lld)", what,
            seq_a, seq_b, last_seq(f->a), last_seq(f->b));
}

/* A request that must succeed with want; its JSON (caller decrefs). */
static json_t *expect_ok(h_org *o, const char *method, const char *path,
                         const char *body, long want, const char *what)
{
    h_resp r;
    long st = h_api(o, method, path, body, &r);
    H_CHECK(st == want, "%s: want %ld, got %ld %.400s", what, want, st,
            r.body ? r.body : r.err);
    json_t *j = st == want && r.json ? json_incref(r.json) : NULL;
    h_resp_free(&r);
    return j;
}

static void setup(fixture *f)
{
    f->r = h_region_new();
    f->a = h_region_add_org(f->r, "sote-keskus", "coordination");
    f->b = h_region_add_org(f->r, "tyokykytiimi",
                            "work-ability-assessment, rehab-plan");
    f->c = h_region_add_org(f->r, "kela", "benefits"); /* no agent runs */
    /* a's transfers of 'rehab-plan' referrals hand the path over */
    hc_agent_config_append(f->a, "[rule rehab-transfer]\n"
                                 "on = referral_accepted\n"
                                 "service = rehab-plan\n");
    /* b takes consents for at most two years */
    h_agent_config_add(f->b, "consent_max_years = 2");
    h_broker_start(f->r);
    h_agent_start_connected(f->a);
    h_agent_start_connected(f->b);
    h_client_key(f->key);
    h_consent_ok(f->a, f->key, f->b->id);
    h_resp r;
    long st = h_referral_create(f->a, f->key, f->b->id, NULL, "input test",
                                f->received, &r);
    H_REQUIRE(st == 201, "referral at %s: HTTP %ld %s", f->a->id, st,
              r.body ? r.body : r.err);
    h_resp_free(&r);
    h_wait_status(f->a, f->received, "received", H_SEC(10));
}

static int this_year(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
}

static void case_referral_create(void)
{
    fixture f = {0};
    setup(&f);
    char body[1024];
    const char *P = "/v1/referrals";
#define REFER(extra)                                                           \
    snprintf(body, sizeof body, "{\"client\":{\"key\":\"%s\"}%s}", f.key, extra)

    REFER(",\"to\":\"tyokykytiimi\",\"reason\":\"   \"");
    expect(&f, f.a, "POST", P, body, 400, "bad_request",
           "'reason' must contain something other than whitespace",
           "a reason of spaces");
    REFER(",\"to\":\"tyokykytiimi\",\"reason\":\"\\t\\n \"");
    expect(&f, f.a, "POST", P, body, 400, "bad_request", "'reason'",
           "a reason of tabs and newlines");
    REFER(",\"to\":\"nope\",\"reason\":\"x\"");
    expect(&f, f.a, "POST", P, body, 400, "unknown_org",
           "'nope' is not an organisation", "an unknown organisation");
    REFER(",\"to\":\"tyokykytiimi\",\"service\":\"benefits\"");
    expect(&f, f.a, "POST", P, body, 400, "service_not_offered",
           "'tyokykytiimi' does not offer 'benefits'",
           "to and a service that organisation does not offer");
    REFER(",\"service\":\"coordination\"");
    expect(&f, f.a, "POST", P, body, 400, "service_not_offered",
           "only this organisation (sote-keskus) offers 'coordination'",
           "a service only this organisation offers");
    REFER(",\"service\":\"no-such-service\"");
    expect(&f, f.a, "POST", P, body, 400, "unknown_service",
           "no organisation offers 'no-such-service'",
           "a service nobody offers");
    REFER(",\"to\":\"tyokykytiimi\",\"due\":\"2027-02-30\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_date",
           "'due': day 30 does not exist in February 2027",
           "a due date that does not exist");
    REFER(",\"to\":\"tyokykytiimi\",\"due\":\"1.6.2027\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_date",
           "'due': expected YYYY-MM-DD or an RFC 3339 time",
           "a due date in the Finnish form");
    REFER(",\"to\":\"tyokykytiimi\",\"due\":\"2026-01-01\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_due", "'due' is in the past",
           "a due date in the past");
    REFER(",\"to\":\"tyokykytiimi\",\"due\":\"2026-01-01T10:00:00+02:00\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_due", "'due' is in the past",
           "a due time in the past");
    REFER(",\"to\":\"tyokykytiimi\",\"service\":\"work-ability-assessment\","
          "\"transfer\":true");
    expect(&f, f.a, "POST", P, body, 400, "no_transfer_rule",
           "[rule NAME] on = referral_accepted, service = "
           "work-ability-assessment",
           "transfer without a rule for the service");
    REFER(",\"to\":\"tyokykytiimi\",\"transfer\":true");
    expect(&f, f.a, "POST", P, body, 400, "no_transfer_rule",
           "[rule NAME] on = referral_accepted (without service =",
           "transfer without a rule for any service");
    /* the organisation is checked before the consent: no consent covers
     * 'nope', and still the answer is unknown_org */
    char stranger[33];
    h_client_key(stranger);
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"nope\",\"reason\":\"x\"}",
             stranger);
    expect(&f, f.a, "POST", P, body, 400, "unknown_org", "'nope'",
           "an unknown organisation for a client without consent");

    /* done right */
    char due[64];
    snprintf(due, sizeof due, "%d-06-01", this_year() + 1);
    char extra[256];
    snprintf(extra, sizeof extra,
             ",\"to\":\"tyokykytiimi\",\"service\":\"work-ability-assessment\","
             "\"reason\":\"assessment\",\"due\":\"%s\"",
             due);
    REFER(extra);
    json_t *made = expect_ok(f.a, "POST", P, body, 201,
                             "to and a service that organisation offers");
    /* a plain date means the end of that day in Finland (summer: UTC+3) */
    char want_due[64];
    snprintf(want_due, sizeof want_due, "%d-06-01T20:59:59.999Z",
             this_year() + 1);
    H_CHECK(made && strcmp(hc_str(made, "due"), want_due) == 0,
            "due %s is stored as the end of that day in Helsinki: '%s'", due,
            made ? hc_str(made, "due") : "(no answer)");
    json_decref(made);
    REFER(",\"to\":\"tyokykytiimi\",\"service\":\"rehab-plan\","
          "\"transfer\":true");
    json_decref(
        expect_ok(f.a, "POST", P, body, 201, "transfer with a matching rule"));
#undef REFER
}

/* A plan's review date, on the path and in a handover offer, is read by
 * the same parser and says what is wrong with it. */
static void case_plan_dates(void)
{
    fixture f = {0};
    setup(&f);
    char path[160];
    snprintf(path, sizeof path, "/v1/paths/%s/plan", f.key);
    expect(&f, f.a, "POST", path,
           "{\"plan_id\":\"p1\",\"version\":1,\"review_due\":"
           "\"2027-02-30\"}",
           400, "invalid_date",
           "'review_due': day 30 does not exist in February 2027",
           "a plan review on a day that does not exist");
    expect(&f, f.a, "POST", path,
           "{\"plan_id\":\"p1\",\"version\":1,\"review_due\":"
           "\"1.6.2027\"}",
           400, "invalid_date",
           "'review_due': expected YYYY-MM-DD or an RFC 3339 time",
           "a plan review in the Finnish form");
    expect(&f, f.a, "POST", path, "{\"plan_id\":\"p1\",\"version\":1}", 400,
           "bad_request", "'review_due' is required",
           "a plan without a review date");
    char body[400];
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"tyokykytiimi\","
             "\"plan\":{\"plan_id\":\"p1\",\"version\":1,"
             "\"review_due\":\"2027-13-01\"}}",
             f.key);
    expect(&f, f.a, "POST", "/v1/handovers", body, 400, "invalid_date",
           "'plan.review_due': month 13 does not exist",
           "a handover offer whose plan review is in month 13");
}

static void case_referral_status_and_cancel(void)
{
    fixture f = {0};
    setup(&f);
    char path[160];
    snprintf(path, sizeof path, "/v1/referrals/%s/status", f.received);
    expect(&f, f.b, "POST", path, "{\"status\":\"rejected\",\"reason\":\"  \"}",
           400, "bad_request",
           "'reason' must contain something other than whitespace",
           "a rejection whose reason is spaces");
    json_decref(expect_ok(f.b, "POST", path, "{\"status\":\"accepted\"}", 200,
                          "accept"));
    expect(&f, f.b, "POST", path, "{\"status\":\"completed\"}", 400,
           "bad_request", "'outcome' is required when the status is completed",
           "completed without an outcome");
    expect(&f, f.b, "POST", path,
           "{\"status\":\"completed\",\"outcome\":\" \\t \"}", 400,
           "bad_request",
           "'outcome' must contain something other than "
           "whitespace",
           "completed with an outcome of whitespace");
    snprintf(path, sizeof path, "/v1/referrals/%s/cancel", f.received);
    expect(&f, f.a, "POST", path, "{\"reason\":\"   \"}", 400, "bad_request",
           "'reason' must contain something other than whitespace",
           "a cancel whose reason is spaces");
    /* done right */
    snprintf(path, sizeof path, "/v1/referrals/%s/status", f.received);
    json_t *j = expect_ok(f.b, "POST", path,
                          "{\"status\":\"completed\",\"outcome\":\"fit for "
                          "work trial\"}",
                          200, "completed with an outcome");
    H_CHECK(j && strcmp(json_string_value(json_object_get(j, "status")),
                        "completed") == 0,
            "the referral is completed");
    json_decref(j);
}

static void case_consents(void)
{
    fixture f = {0};
    setup(&f);
    char body[1024], extra[256];
    const char *P = "/v1/consents";
    int year = this_year();
#define GRANT(rest)                                                            \
    snprintf(body, sizeof body,                                                \
             "{\"client\":{\"key\":\"%s\"},\"orgs\":[\"tyokykytiimi\"],"       \
             "\"purposes\":[\"referral\"]%s}",                                 \
             f.key, rest)

    snprintf(extra, sizeof extra,
             ",\"valid_until\":\"%d-06-01\","
             "\"form\":\"verbal\"",
             year + 1);
    GRANT(extra);
    expect(&f, f.a, "POST", P, body, 400, "invalid_form",
           "Y100, written, oral or electronic", "a form outside the list");
    snprintf(extra, sizeof extra,
             ",\"valid_until\":\"%d-06-01\","
             "\"form\":\"\"",
             year + 1);
    GRANT(extra);
    expect(&f, f.a, "POST", P, body, 400, "invalid_form",
           "Y100, written, oral or electronic", "an empty form");
    GRANT(",\"form\":\"Y100\"");
    expect(&f, f.a, "POST", P, body, 400, "bad_request",
           "'valid_until' is required", "no valid_until");
    GRANT(",\"valid_until\":\"2027-02-30\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_date",
           "'valid_until': day 30 does not exist in February 2027",
           "a valid_until that does not exist");
    GRANT(",\"valid_until\":\"1.6.2027\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_date",
           "'valid_until': expected YYYY-MM-DD or an RFC 3339 time",
           "a valid_until in the Finnish form");
    GRANT(",\"valid_until\":\"2026-01-01\"");
    expect(&f, f.a, "POST", P, body, 400, "invalid_validity",
           "'valid_until' is in the past", "a valid_until in the past");
    snprintf(extra, sizeof extra, ",\"valid_until\":\"%d-01-01\"", year + 6);
    GRANT(extra);
    expect(&f, f.a, "POST", P, body, 400, "invalid_validity",
           "more than 5 years ahead", "a valid_until six years ahead");
    /* b's config allows two years */
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"orgs\":[\"sote-keskus\"],"
             "\"purposes\":[\"referral\"],\"valid_until\":\"%d-01-01\"}",
             f.key, year + 3);
    expect(&f, f.b, "POST", P, body, 400, "invalid_validity",
           "more than 2 years ahead (consent_max_years)",
           "three years ahead where consent_max_years = 2");
    json_t *list = h_consent_list(f.a, f.key);
    const char *id =
        json_string_value(json_object_get(json_array_get(list, 0), "id"));
    H_REQUIRE(id, "the setup's consent is listed");
    char path[160];
    snprintf(path, sizeof path, "/v1/consents/%s/revoke", id);
    json_decref(list);
    expect(&f, f.a, "POST", path, "{\"reason\":\"  \"}", 400, "bad_request",
           "'reason' must contain something other than whitespace",
           "a revocation whose reason is spaces");

    /* done right: a plain date lasts to its end in Finland */
    struct {
        const char *day, *until;
    } ends[] = {{"01-15", "-01-15T21:59:59.999Z"}, /* winter: UTC+2 */
                {"07-15", "-07-15T20:59:59.999Z"}, /* summer: UTC+3 */
                {NULL, NULL}};
    const char *forms[] = {"electronic", "oral"};
    for (int i = 0; ends[i].day; i++) {
        snprintf(extra, sizeof extra,
                 ",\"valid_until\":\"%d-%s\",\"form\":\"%s\"", year + 1,
                 ends[i].day, forms[i]);
        GRANT(extra);
        json_t *c = expect_ok(f.a, "POST", P, body, 201, "a plain date");
        char want[64];
        snprintf(want, sizeof want, "%d%s", year + 1, ends[i].until);
        const char *got = json_string_value(json_object_get(c, "valid_until"));
        H_CHECK(got && strcmp(got, want) == 0,
                "valid_until %d-%s is the end of that day in Helsinki: want "
                "%s, got %s",
                year + 1, ends[i].day, want, got ? got : "(none)");
        H_CHECK(c && strcmp(json_string_value(json_object_get(c, "form")),
                            forms[i]) == 0,
                "form %s is recorded", forms[i]);
        json_decref(c);
    }
#undef GRANT
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_input");
    H_CASE(case_referral_create);
    H_CASE(case_plan_dates);
    H_CASE(case_referral_status_and_cancel);
    H_CASE(case_consents);
    return h_finish();
}
