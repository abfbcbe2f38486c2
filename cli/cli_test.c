/* cli_test.c — runs the built polku program as a person or a script would:
 * exit codes and messages for usage errors, key and secret files, an agent
 * that cannot be reached, and the requests and output of every referral
 * command against a stub agent (cli_harness.c). The consent commands'
 * tests are in cli_consent_test.c; this file's main runs them too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_harness.h"
#include "polku/error.h"
#include "polku/keys.h"

#define REFERRAL_ID "01JDQ3V0ZK8R4Y6T2N5M7P9B1C"

/* cli_consent_test.c: answers /v1/consents..., and runs its tests. */
void consent_stub_route(polku_http_req *req, const char *method,
                        const char *path, const json_t *body);
int consent_tests(void);

/* ---- without an agent ---- */

static void test_help(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "usage: polku");
    assert_contains(r->out, "referral");
    r = RUN(f, "referral", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "create");
    r = RUN(f, "referral", "create", "--help");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "--urgency");
    r = RUN(f, "keygen", "--help");
    assert_int_equal(r->code, 0);
}

static void test_usage_errors(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "frobnicate");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "unknown command 'frobnicate'");
    r = run_env(f, NULL, (const char *const[]){NULL});
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "frob");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral");
    assert_int_equal(r->code, 2);
    r = RUN(f, "--bogus", "status");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "--bogus");
    r = RUN(f, "referral", "list", "--direction", "sideways");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", "nothex", "--to", "kela");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", CLIENT_KEY, "--to", "kela",
            "--urgency", "whenever");
    assert_int_equal(r->code, 2);
}

static void test_missing_arguments(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "referral", "show");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "missing argument ID");
    r = RUN(f, "referral", "status", REFERRAL_ID);
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "STATUS");
    r = RUN(f, "referral", "cancel", REFERRAL_ID);
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "--reason");
    r = RUN(f, "referral", "create", "--to", "kela");
    assert_int_equal(r->code, 2);
    r = RUN(f, "referral", "create", "--client", CLIENT_KEY);
    assert_int_equal(r->code, 2);
    r = RUN(f, "keygen");
    assert_int_equal(r->code, 2);
    r = RUN(f, "keygen", "--out");
    assert_int_equal(r->code, 2);
}

static void test_keygen(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/org.key", f->dir);
    result *r = RUN(f, "keygen", "--out", path);
    assert_int_equal(r->code, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *nl = strchr(r->out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_true(polku_z85_key_valid(r->out));
    polku_keypair kp;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keyfile_read(path, &kp, &err), POLKU_OK);
    assert_string_equal(kp.public_z85, r->out);

    r = RUN(f, "keygen", "--out", path);
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "exists");
    polku_keypair again;
    assert_int_equal(polku_keyfile_read(path, &again, &err), POLKU_OK);
    assert_string_equal(again.secret_z85, kp.secret_z85);
}

static void test_secret(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/region.secret", f->dir);
    result *r = RUN(f, "secret", "--out", path);
    assert_int_equal(r->code, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t secret[32];
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_secret_read(path, secret, &err), POLKU_OK);
    r = RUN(f, "secret", "--out", path);
    assert_int_equal(r->code, 1);
}

static void test_agent_unreachable(void **state)
{
    fixture *f = *state;
    /* a bound socket that never listens: connections are refused */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64], env[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    result *r = RUN(f, "--agent", url, "status");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "cannot reach agent at");
    assert_contains(r->err, url);
    snprintf(env, sizeof env, "POLKU_AGENT=%s", url);
    r = run_env(f, (char *[]){env, NULL},
                (const char *const[]){"referral", "list", NULL});
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "cannot reach agent");
    close(fd);
}

/* ---- against a stub agent ---- */

static json_t *referral_json(const char *status)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:b, s:s, s:s, s:s,"
        " s:b, s:n, s:[{s:s, s:s, s:s, s:n}, {s:s, s:s, s:s, s:s}]}",
        "id", REFERRAL_ID, "direction", "out", "from", "sote-kokkola", "to",
        "kela", "client_key", CLIENT_KEY, "service", "vocational-rehab",
        "reason", "needs\nrehab", "urgency", "routine", "due", "transfer", 1,
        "status", status, "created", "2026-11-22T14:00:00.000Z", "updated",
        "2026-11-22T15:00:00.000Z", "cancel_requested", 0, "outcome", "history",
        "status", "requested", "at", "2026-11-22T14:00:00.000Z", "by",
        "sote-kokkola", "reason", "status", "received", "at",
        "2026-11-22T14:00:01.000Z", "by", "kela", "reason", "stored");
}

void stub_route(polku_http_req *req, const char *method, const char *path,
                const json_t *body)
{
    const char *status = json_string_value(json_object_get(body, "status"));
    if (strncmp(path, "/v1/consents", 12) == 0)
        consent_stub_route(req, method, path, body);
    else if (strcmp(path, "/healthz") == 0)
        polku_http_respond_json(req, 200,
                                json_pack("{s:s, s:s, s:s, s:s, s:i}", "status",
                                          "ok", "org", "kela", "broker",
                                          "connected", "epoch", "e1",
                                          "outbox_pending", 3));
    else if (strcmp(path, "/v1/referrals") == 0 && method[0] == 'P')
        polku_http_respond_json(req, 201, referral_json("requested"));
    else if (strcmp(path, "/v1/referrals") == 0)
        polku_http_respond_json(req, 200,
                                json_pack("{s:[o], s:i}", "referrals",
                                          referral_json("on-hold"), "count",
                                          1));
    else if (strcmp(path, "/v1/referrals/" REFERRAL_ID) == 0)
        polku_http_respond_json(req, 200, referral_json("received"));
    else if (strstr(path, "/status") && status && !strcmp(status, "accepted"))
        polku_http_respond_error(req, 409, "invalid_transition",
                                 "cannot move a completed referral");
    else if (strstr(path, "/status") || strstr(path, "/cancel"))
        polku_http_respond_json(req, 200, referral_json("completed"));
    else
        polku_http_respond_error(req, 404, "not_found", "no such referral");
}

static void test_status(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--agent", f->agent, "status");
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "kela");
    assert_contains(r->out, "connected");
    assert_contains(r->out, "3 pending");
    assert_string_equal(the_stub.path, "/healthz");
    r = RUN(f, "status", "--agent", f->agent, "--json");
    assert_int_equal(r->code, 0);
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "org")), "kela");
    json_decref(j);
}

static void test_create(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "create", "--client", CLIENT_KEY, "--to",
                      "kela", "--reason", "needs rehab", "--urgency", "urgent",
                      "--due", "2026-12-01", "--transfer");
    assert_int_equal(r->code, 0);
    assert_string_equal(r->out, "referral " REFERRAL_ID " requested -> kela\n");
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/referrals");
    assert_string_equal(the_stub.auth, "Bearer " TOKEN);
    json_t *b = the_stub.body;
    assert_non_null(b);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "client"), "key")),
        CLIENT_KEY);
    assert_string_equal(json_string_value(json_object_get(b, "to")), "kela");
    assert_string_equal(json_string_value(json_object_get(b, "reason")),
                        "needs rehab");
    assert_string_equal(json_string_value(json_object_get(b, "urgency")),
                        "urgent");
    assert_string_equal(json_string_value(json_object_get(b, "due")),
                        "2026-12-01");
    assert_true(json_is_true(json_object_get(b, "transfer")));
    assert_null(json_object_get(b, "service"));

    r = AGENT(f, "--json", "referral", "create", "--hetu", "131052-308T",
              "--service", "vocational-rehab");
    assert_int_equal(r->code, 0);
    b = the_stub.body;
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(b, "client"), "hetu")),
                        "131052-308T");
    assert_string_equal(json_string_value(json_object_get(b, "service")),
                        "vocational-rehab");
    assert_null(json_object_get(b, "transfer"));
    json_t *j = json_loads(r->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        REFERRAL_ID);
    json_decref(j);
}

static void test_list(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "list", "--direction", "in", "--status",
                      "on-hold");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.method, "GET");
    assert_string_equal(the_stub.query, "direction=in status=on-hold");
    assert_contains(r->out, "ID");
    assert_contains(r->out, "UPDATED");
    assert_contains(r->out, REFERRAL_ID);
    assert_contains(r->out, "sote-kokkola");
    assert_contains(r->out, "on-hold");
    r = AGENT(f, "referral", "list");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.query, "direction=- status=-");
}

static void test_show(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "show", REFERRAL_ID);
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID);
    assert_contains(r->out, "vocational-rehab");
    assert_contains(r->out, "needs rehab"); /* newline made a space */
    assert_contains(r->out, "STATUS");
    assert_contains(r->out, "2026-11-22T14:00:01.000Z");
    assert_contains(r->out, "stored");

    r = AGENT(f, "referral", "show", "01NOSUCHREFERRAL0000000000");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "not_found");
    assert_contains(r->err, "no such referral");
}

/* The line of text that starts with label, "" when there is none. */
static const char *line_of(const char *text, const char *label, char *buf,
                           size_t len)
{
    const char *p = text;
    buf[0] = '\0';
    while (p != NULL && strncmp(p, label, strlen(label)) != 0) {
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    if (p != NULL)
        snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
    return buf;
}

/* A referral read in Finnish and in Swedish: labels, statuses and times
 * in the local conventions, Helsinki time (14:00Z is 16:00 in November). */
static void test_show_in_finnish_and_swedish(void **state)
{
    fixture *f = *state;
    char line[256];
    result *r = AGENT(f, "--lang", "fi", "referral", "show", REFERRAL_ID);
    assert_int_equal(r->code, 0);
    assert_contains(line_of(r->out, "tila:", line, sizeof line),
                    "vastaanotettu");
    assert_contains(line_of(r->out, "luotu:", line, sizeof line),
                    "22.11.2026 16.00");
    assert_contains(line_of(r->out, "päivitetty:", line, sizeof line),
                    "22.11.2026 17.00");
    assert_contains(r->out, "historia:\nTILA ");
    /* text that is not a time is shown whole */
    assert_contains(line_of(r->out, "asiakasavain:", line, sizeof line),
                    CLIENT_KEY);
    assert_contains(line_of(r->out, "palvelu:", line, sizeof line),
                    "vocational-rehab");
    assert_contains(line_of(r->out, "vastaanotettu ", line, sizeof line),
                    "22.11.2026 16.00  kela");
    assert_null(strstr(r->out, "2026-11-22"));
    assert_null(strstr(r->out, "received"));

    r = AGENT(f, "referral", "show", REFERRAL_ID, "--lang=sv");
    assert_int_equal(r->code, 0);
    assert_contains(line_of(r->out, "status:", line, sizeof line), "mottagen");
    assert_contains(line_of(r->out, "skapad:", line, sizeof line),
                    "22.11.2026 16:00");
    assert_contains(r->out, "historik:\nSTATUS ");
    assert_null(strstr(r->out, "2026-11-22"));

    /* --json stays the agent's, in any language */
    r = AGENT(f, "--lang", "fi", "--json", "referral", "show", REFERRAL_ID);
    assert_int_equal(r->code, 0);
    assert_contains(r->out, "\"status\": \"received\"");
    assert_contains(r->out, "\"created\": \"2026-11-22T14:00:00.000Z\"");
}

/* polku status in Finnish and Swedish, and a refusal in Finnish. */
static void test_status_in_finnish_and_swedish(void **state)
{
    fixture *f = *state;
    char line[256];
    result *r = RUN(f, "--agent", f->agent, "--lang", "fi", "status");
    assert_int_equal(r->code, 0);
    assert_contains(line_of(r->out, "agentti:", line, sizeof line), "kunnossa");
    assert_contains(line_of(r->out, "välittäjä:", line, sizeof line),
                    "yhteydessä");
    assert_contains(line_of(r->out, "lähtevät:", line, sizeof line),
                    "3 odottaa");
    r = RUN(f, "--agent", f->agent, "--lang", "sv", "status");
    assert_int_equal(r->code, 0);
    assert_contains(line_of(r->out, "förmedlare:", line, sizeof line),
                    "ansluten");
    assert_contains(line_of(r->out, "utkorg:", line, sizeof line), "3 väntar");
    r = RUN(f, "--agent", f->agent, "--lang", "fi", "referral", "list");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "unauthorized"); /* the agent's code as it is */
    r = AGENT(f, "--lang", "fi", "referral", "status", REFERRAL_ID, "nosuch");
    assert_int_equal(r->code, 2);
    assert_contains(r->err, "tuntematon tila 'nosuch'");
    assert_contains(r->err, "Kokeile 'polku referral status --help'");
}

static void test_status_change(void **state)
{
    fixture *f = *state;
    result *r = AGENT(f, "referral", "status", REFERRAL_ID, "completed",
                      "--outcome", "placed in work");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.method, "POST");
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID "/status");
    json_t *b = the_stub.body;
    assert_string_equal(json_string_value(json_object_get(b, "status")),
                        "completed");
    assert_string_equal(json_string_value(json_object_get(b, "outcome")),
                        "placed in work");
    assert_null(json_object_get(b, "reason"));

    r = AGENT(f, "referral", "status", REFERRAL_ID, "accepted");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "invalid_transition");
    assert_contains(r->err, "cannot move a completed referral");
    assert_contains(r->err, "409");
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    result *r =
        AGENT(f, "referral", "cancel", REFERRAL_ID, "--reason", "client moved");
    assert_int_equal(r->code, 0);
    assert_string_equal(the_stub.path, "/v1/referrals/" REFERRAL_ID "/cancel");
    assert_string_equal(
        json_string_value(json_object_get(the_stub.body, "reason")),
        "client moved");
}

static void test_token(void **state)
{
    fixture *f = *state;
    result *r = RUN(f, "--agent", f->agent, "referral", "list");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "unauthorized");
    assert_string_equal(the_stub.auth, "");
    char env[200];
    snprintf(env, sizeof env, "POLKU_TOKEN_FILE=%s", f->token_file);
    r = run_env(
        f, (char *[]){env, NULL},
        (const char *const[]){"--agent", f->agent, "referral", "list", NULL});
    assert_int_equal(r->code, 0);
    r = RUN(f, "--agent", f->agent, "--token-file", "/nonexistent/token",
            "referral", "list");
    assert_int_equal(r->code, 1);
    assert_contains(r->err, "token");
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test_setup_teardown(test_help, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_arguments, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_keygen, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_secret, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_agent_unreachable, fixture_setup,
                                        fixture_teardown),
    };
    const struct CMUnitTest with_agent[] = {
        cmocka_unit_test_setup_teardown(test_status, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_create, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_list, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_show, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_status_change, stub_setup,
                                        stub_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_token, stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_show_in_finnish_and_swedish,
                                        stub_setup, stub_teardown),
        cmocka_unit_test_setup_teardown(test_status_in_finnish_and_swedish,
                                        stub_setup, stub_teardown),
    };
    int failed = cmocka_run_group_tests_name("cli", plain, NULL, NULL);
    failed += cmocka_run_group_tests_name("cli against a stub agent",
                                          with_agent, NULL, NULL);
    failed += consent_tests();
    return failed;
}
