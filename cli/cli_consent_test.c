/* cli_consent_test.c — `polku consent grant|list|revoke` run as staff would
 * against the stub agent of cli_harness.c: the request each sends (method,
 * path, query, JSON body), what it prints as text and with --json, the
 * agent's errors passed on with their codes, usage errors (exit 2) caught
 * before any request, and no identity code printed that was not typed.
 * Linked into cli_test, whose main runs consent_tests(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli_harness.h"

#define CONSENT_ID "01JDQ4A7XW3E5R6T7Y8U9I0P1Q"
#define REVOKED_ID "01JDQ4A7XW3E5R6T7Y8U9I0P2R"
#define OTHER_KEY "ffffffffffffffffffffffffffffffff"
#define HETU "131052-308T"

void consent_stub_route(polku_http_req *req, const char *method,
                        const char *path, const json_t *body);
int consent_tests(void);

/* ---- the stub's side of /v1/consents ---- */

static json_t *consent_json(const char *id, const char *state, json_t *orgs,
                            json_t *purposes, const char *until)
{
    json_t *c = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:b}",
                          "id", id, "client_key", CLIENT_KEY, "orgs", orgs,
                          "purposes", purposes, "valid_until", until, "form",
                          "written", "recorded_by", "sote-kokkola", "created",
                          "2026-11-22T14:00:00.000Z", "state", state, "active",
                          strcmp(state, "active") == 0);
    if (strcmp(state, "revoked") == 0) {
        json_t *more = json_pack("{s:s, s:s, s:s}", "revoked",
                                 "2026-11-23T09:00:00.000Z", "revoked_by",
                                 "kela", "revoke_reason", "client\nwithdrew");
        json_object_update(c, more);
        json_decref(more);
    }
    return c;
}

static json_t *stock_consent(const char *id, const char *state)
{
    return consent_json(id, state, json_pack("[s, s]", "sote-kokkola", "kela"),
                        json_pack("[s, s]", "referral", "path"),
                        "2027-06-30T00:00:00.000Z");
}

/* The agent's answer to a grant: the recording organisation is added to
 * the scope and a date becomes a time. The request's client object is
 * echoed back, as a careless agent might, so tests can see the CLI drop an
 * identity code from it. */
static void grant(polku_http_req *req, const json_t *body)
{
    const json_t *orgs = json_object_get(body, "orgs");
    const char *org = json_string_value(json_array_get(orgs, 0));
    if (org != NULL && strcmp(org, "nowhere") == 0) {
        polku_http_respond_error(req, 400, "unknown_org",
                                 "'nowhere' is not in the directory");
        return;
    }
    json_t *scope = json_pack("[s]", "sote-kokkola");
    json_array_extend(scope, (json_t *)orgs);
    char until[64];
    const char *date = json_string_value(json_object_get(body, "valid_until"));
    snprintf(until, sizeof until, "%sT00:00:00.000Z", date ? date : "?");
    json_t *c =
        consent_json(CONSENT_ID, "active", scope,
                     json_deep_copy(json_object_get(body, "purposes")), until);
    json_object_set(c, "client", json_object_get(body, "client"));
    polku_http_respond_json(req, 201, c);
}

void consent_stub_route(polku_http_req *req, const char *method,
                        const char *path, const json_t *body)
{
    const char *client = polku_http_query(req, "client");
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/v1/consents") == 0 && post)
        grant(req, body);
    else if (strcmp(path, "/v1/consents") == 0 && client != NULL &&
             strcmp(client, CLIENT_KEY) == 0)
        polku_http_respond_json(
            req, 200,
            json_pack("{s:i, s:[o, o]}", "count", 2, "consents",
                      stock_consent(CONSENT_ID, "active"),
                      stock_consent(REVOKED_ID, "revoked")));
    else if (strcmp(path, "/v1/consents") == 0)
        polku_http_respond_json(
            req, 200, json_pack("{s:i, s:[]}", "count", 0, "consents"));
    else if (post && strcmp(path, "/v1/consents/" CONSENT_ID "/revoke") == 0)
        polku_http_respond_json(req, 200, stock_consent(CONSENT_ID, "revoked"));
    else if (post && strcmp(path, "/v1/consents/" REVOKED_ID "/revoke") == 0)
        polku_http_respond_error(req, 409, "already_revoked",
                                 "the consent was already revoked");
    else
        polku_http_respond_error(req, 404, "not_found", "no such consent");
}

/* ---- tests ---- */

static const char *text_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The line of out holding part, copied into line (for row checks). */
static void line_with(const char *out, const char *part, char *line, size_t len)
{
    const char *hit = strstr(out, part);
    if (hit == NULL)
        fail_msg("'%s' not in:\n%s", part, out);
    while (hit > out && hit[-1] != '\n')
        hit--;
    size_t n = strcspn(hit, "\n");
    assert_true(n < len);
    memcpy(line, hit, n);
    line[n] = '\0';
}

static void test_consent_help(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "consent ");
    r = RUN(f, "consent", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "grant");
    assert_contains(r->out, "revoke  ID --reason TEXT");
    r = RUN(f, "consent", "grant", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "--valid-until DATE");
    assert_contains(r->out, "Y100|written|oral|electronic");
    r = RUN(f, "consent");
    assert_int_equal(r->code, 2);
}

/* Exit 2 and part in the message, with no request made. */
static void assert_usage(fixture *f, const char *part)
{
    assert_int_equal(f->r.code, 2);
    assert_contains(f->r.err, part);
    assert_string_equal(f->r.out, "");
    assert_string_equal(the_stub.method, "");
}

static void test_consent_usage(void **state)
{
    fixture *f = *state;
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "kela",
          "--purposes", "referral,billing", "--valid-until", "2027-06-30");
    assert_usage(f, "unknown purpose 'billing'");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--purposes",
          "referral", "--valid-until", "2027-06-30");
    assert_usage(f, "missing --orgs");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "kela",
          "--valid-until", "2027-06-30");
    assert_usage(f, "missing --purposes");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "kela",
          "--purposes", "path");
    assert_usage(f, "missing --valid-until");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--hetu", HETU,
          "--orgs", "kela", "--purposes", "path", "--valid-until", "2027");
    assert_usage(f, "--client KEY or --hetu HETU");
    AGENT(f, "consent", "grant", "--client", "0123", "--orgs", "kela",
          "--purposes", "path", "--valid-until", "2027-06-30");
    assert_usage(f, "32 hex");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "kela,,te",
          "--purposes", "path", "--valid-until", "2027-06-30");
    assert_usage(f, "--orgs has an empty item");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "Kela!",
          "--purposes", "path", "--valid-until", "2027-06-30");
    assert_usage(f, "not an organisation id: 'Kela!'");
    AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs", "kela",
          "--purposes", "path", "--valid-until", "2027-06-30", "--form",
          "telepathy");
    assert_usage(f, "--form is Y100, written, oral or electronic");
    AGENT(f, "consent", "list");
    assert_usage(f, "missing --client");
    AGENT(f, "consent", "list", "--client", HETU);
    assert_usage(f, "32 hex");
    AGENT(f, "consent", "revoke", CONSENT_ID);
    assert_usage(f, "missing --reason");
    AGENT(f, "consent", "revoke", "--reason", "moved");
    assert_usage(f, "missing argument ID");
    AGENT(f, "consent", "withhold");
    assert_usage(f, "unknown consent command 'withhold'");
}

static void test_consent_grant(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs",
                      "kela,tyollisyys", "--purposes", "referral,path",
                      "--valid-until", "2027-06-30", "--form", "Y100");
    assert_int_equal(r->code, 0);
    assert_string_equal(r->out, "consent " CONSENT_ID " granted: orgs "
                                "sote-kokkola,kela,tyollisyys purposes "
                                "referral,path until "
                                "2027-06-30T00:00:00.000Z\n");
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/consents");
    assert_string_equal(the_stub.auth, "Bearer " TOKEN);
    json_t *b = the_stub.body;
    assert_non_null(b);
    json_t *want = json_pack("{s:{s:s}, s:[s, s], s:[s, s], s:s, s:s}",
                             "client", "key", CLIENT_KEY, "orgs", "kela",
                             "tyollisyys", "purposes", "referral", "path",
                             "valid_until", "2027-06-30", "form", "Y100");
    assert_true(json_equal(b, want));
    json_decref(want);

    r = AGENT(f, "--json", "consent", "grant", "--hetu", HETU, "--orgs", "kela",
              "--purposes", "plan", "--valid-until", "2027-01-31");
    assert_int_equal(r->code, 0);
    b = the_stub.body;
    assert_string_equal(text_at(json_object_get(b, "client"), "hetu"), HETU);
    assert_null(json_object_get(json_object_get(b, "client"), "key"));
    assert_null(json_object_get(b, "form"));
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(text_at(j, "id"), CONSENT_ID);
    assert_string_equal(text_at(j, "client_key"), CLIENT_KEY);
    assert_string_equal(text_at(j, "state"), "active");
    assert_null(strstr(r->out, HETU)); /* the echoed client lost its hetu */
    json_decref(j);

    r = AGENT(f, "consent", "grant", "--hetu", HETU, "--orgs", "kela",
              "--purposes", "plan", "--valid-until", "2027-01-31");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "purposes plan until 2027-01-31T00:00:00.000Z");
    assert_null(strstr(r->out, HETU));
    assert_null(strstr(r->err, HETU));

    r = AGENT(f, "consent", "grant", "--client", CLIENT_KEY, "--orgs",
              "nowhere", "--purposes", "path", "--valid-until", "2027-06-30");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "unknown_org: 'nowhere' is not in the directory");
    assert_contains(r->err, "HTTP 400");
}

static void test_consent_list(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "consent", "list", "--client",
                      "0123456789ABCDEF0123456789ABCDEF");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.method, "GET");
    assert_string_equal(the_stub.path, "/v1/consents");
    assert_string_equal(the_stub.client, CLIENT_KEY); /* lowercased */
    char line[512];
    line_with(r->out, "ID", line, sizeof line);
    assert_contains(line, "STATE");
    assert_contains(line, "ORGS");
    assert_contains(line, "PURPOSES");
    assert_contains(line, "VALID UNTIL");
    assert_contains(line, "RECORDED BY");
    line_with(r->out, CONSENT_ID, line, sizeof line);
    assert_contains(line, " active ");
    assert_contains(line, " sote-kokkola,kela ");
    assert_contains(line, " referral,path ");
    assert_contains(line, " 2027-06-30T00:00:00.000Z ");
    assert_true(strncmp(line, CONSENT_ID " ", 27) == 0); /* ID first */
    size_t len = strlen(line);                           /* RECORDED BY last */
    assert_true(len > 13 && strcmp(line + len - 13, " sote-kokkola") == 0);
    line_with(r->out, REVOKED_ID, line, sizeof line);
    assert_contains(line, " revoked ");

    r = AGENT(f, "consent", "list", "--client", CLIENT_KEY, "--json");
    assert_int_equal(r->code, 0);
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
    json_t *second = json_array_get(json_object_get(j, "consents"), 1);
    assert_string_equal(text_at(second, "revoke_reason"), "client\nwithdrew");
    json_decref(j);

    r = AGENT(f, "consent", "list", "--client", OTHER_KEY);
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.client, OTHER_KEY);
    assert_string_equal(r->out, "no consents\n");
}

static void test_consent_revoke(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "consent", "revoke", CONSENT_ID, "--reason",
                      "client withdrew");
    assert_int_equal(r->code, 0);
    assert_string_equal(r->out, "consent " CONSENT_ID " revoked\n");
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/consents/" CONSENT_ID "/revoke");
    json_t *want = json_pack("{s:s}", "reason", "client withdrew");
    assert_true(json_equal(the_stub.body, want));
    json_decref(want);

    r = AGENT(f, "--json", "consent", "revoke", CONSENT_ID, "--reason", "x");
    assert_int_equal(r->code, 0);
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(text_at(j, "state"), "revoked");
    assert_string_equal(text_at(j, "revoked_by"), "kela");
    json_decref(j);

    r = AGENT(f, "consent", "revoke", REVOKED_ID, "--reason", "again");
    assert_int_equal(r->code, 1);
    assert_string_equal(r->out, "");
    assert_contains(r->err, "already_revoked: the consent was already revoked");
    assert_contains(r->err, "(HTTP 409)");

    r = AGENT(f, "--json", "consent", "revoke", REVOKED_ID, "--reason", "x");
    assert_int_equal(r->code, 1);
    j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(text_at(json_object_get(j, "error"), "code"),
                        "already_revoked");
    json_decref(j);

    r = AGENT(f, "consent", "revoke", "01NOSUCHCONSENT00000000000", "--reason",
              "x");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "not_found");
}

int consent_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consent_help, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_consent_usage, stub_setup,
                                        stub_teardown),
        cmocka_unit_test_setup_teardown(test_consent_grant, stub_setup,
                                        stub_teardown),
        cmocka_unit_test_setup_teardown(test_consent_list, stub_setup,
                                        stub_teardown),
        cmocka_unit_test_setup_teardown(test_consent_revoke, stub_setup,
                                        stub_teardown),
    };
    return cmocka_run_group_tests_name("cli consent", tests, NULL, NULL);
}
