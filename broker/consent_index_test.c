/* consent_index_test.c — the broker's consent gate, decision by decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "consent_index.h"
#include "views.h"

typedef struct fixture {
    const char *replayed[8]; /* orgs whose logs the broker has replayed */
} fixture;

static bool replayed(void *arg, const char *org)
{
    fixture *f = arg;
    for (int i = 0; i < 8 && f->replayed[i]; i++)
        if (strcmp(f->replayed[i], org) == 0)
            return true;
    return false;
}

static uint8_t client_a[16] = {1}, client_b[16] = {2};
static uint8_t consent_1[16] = {0xc1}, consent_2[16] = {0xc2};

static void granted(consent_index *ci, const char *origin, uint8_t *id,
                    uint8_t *client, const char *orgs_csv, const char *purpose,
                    uint64_t until)
{
    char buf[256], *orgs[8], *purposes[1] = {(char *)purpose};
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", orgs_csv);
    for (char *s = strtok(buf, ","); s && n < 8; s = strtok(NULL, ","))
        orgs[n++] = s;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ConsentGranted g = POLKU__CONSENT_GRANTED__INIT;
    env.origin_org = (char *)origin;
    env.client_key = (ProtobufCBinaryData){16, client};
    g.consent_id = (ProtobufCBinaryData){16, id};
    g.orgs = orgs;
    g.n_orgs = n;
    g.purposes = purposes;
    g.n_purposes = 1;
    g.valid_until_ms = until;
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    env.consent_granted = &g;
    ci_apply(ci, &env);
}

static void revoked(consent_index *ci, const char *origin, uint8_t *id)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ConsentRevoked r = POLKU__CONSENT_REVOKED__INIT;
    env.origin_org = (char *)origin;
    r.consent_id = (ProtobufCBinaryData){16, id};
    env.body_case = POLKU__ENVELOPE__BODY_CONSENT_REVOKED;
    env.consent_revoked = &r;
    ci_apply(ci, &env);
}

static Polku__NackCode check(consent_index *ci, fixture *f, uint8_t *client,
                             uint8_t *consent, const char *recorded_by,
                             const char *from, const char *to, uint64_t now)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReferralRequested q = POLKU__REFERRAL_REQUESTED__INIT;
    env.client_key = (ProtobufCBinaryData){16, client};
    q.consent_id = (ProtobufCBinaryData){consent ? 16 : 0, consent};
    q.consent_recorded_by = (char *)recorded_by;
    env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    env.referral_requested = &q;
    return ci_check(ci, &env, from, to, "referral", now, replayed, f);
}

#define OK 0
#define REQUIRED POLKU__NACK_CODE__NACK_CONSENT_REQUIRED
#define REVOKED POLKU__NACK_CODE__NACK_CONSENT_REVOKED
#define LATER POLKU__NACK_CODE__NACK_RETRY_LATER

static void covers_both_orgs_and_the_purpose(void **state)
{
    fixture f = {{"sote", "kela", "typ"}};
    consent_index *ci = ci_new();
    granted(ci, "sote", consent_1, client_a, "sote,typ", "referral", 1000);
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), OK);
    /* A and C consented, not B */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "kela", 10),
        REQUIRED);
    /* another client's key with this consent */
    assert_int_equal(
        check(ci, &f, client_b, consent_1, "sote", "sote", "typ", 10),
        REQUIRED);
    /* no consent named at all */
    assert_int_equal(check(ci, &f, client_a, NULL, "", "sote", "typ", 10),
                     REQUIRED);
    granted(ci, "sote", consent_2, client_a, "sote,typ", "plan", 1000);
    assert_int_equal(
        check(ci, &f, client_a, consent_2, "sote", "sote", "typ", 10),
        REQUIRED); /* purpose is not referral */
    ci_destroy(&ci);
    assert_null(ci);
}

static void revoked_or_expired_is_refused(void **state)
{
    fixture f = {{"sote", "kela", "typ"}};
    consent_index *ci = ci_new();
    granted(ci, "sote", consent_1, client_a, "sote,typ,kela", "referral", 1000);
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 1000),
        REVOKED);                   /* expired at its validity */
    revoked(ci, "kela", consent_1); /* a third org in scope revokes */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), REVOKED);
    granted(ci, "sote", consent_1, client_a, "sote,typ,kela", "referral",
            1000); /* a repeated grant does not undo it */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), REVOKED);
    ci_destroy(&ci);
}

static void outsider_cannot_revoke_but_early_revocation_wins(void **state)
{
    fixture f = {{"sote", "kela", "typ", "ngo"}};
    consent_index *ci = ci_new();
    granted(ci, "sote", consent_1, client_a, "sote,typ", "referral", 1000);
    revoked(ci, "ngo", consent_1); /* not in scope: ignored */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), OK);
    revoked(ci, "typ", consent_2); /* replay order: revocation first */
    granted(ci, "sote", consent_2, client_a, "sote,typ", "referral", 1000);
    assert_int_equal(
        check(ci, &f, client_a, consent_2, "sote", "sote", "typ", 10), REVOKED);
    ci_destroy(&ci);
}

static void before_replay_says_retry_later(void **state)
{
    fixture f = {{NULL}};
    consent_index *ci = ci_new();
    /* unknown consent, recorder not replayed yet: it may be in its log */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), LATER);
    f.replayed[0] = "sote";
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10),
        REQUIRED); /* replayed: it does not exist */
    granted(ci, "sote", consent_1, client_a, "sote,typ,kela", "referral", 1000);
    /* known, but kela (in scope) may have recorded a revocation */
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), LATER);
    f.replayed[1] = "typ";
    f.replayed[2] = "kela";
    assert_int_equal(
        check(ci, &f, client_a, consent_1, "sote", "sote", "typ", 10), OK);
    assert_int_equal(ci_count(ci), 1);
    ci_destroy(&ci);
}

/* A client whose consents were all revoked or ran out: the path's stage
 * says consent_ended (not in_services, though a service still runs), and
 * the view says why. */
static void ended_consents_move_the_stage(void **state)
{
    (void)state;
    broker_indexes x = {ci_new(), pi_new(), cl_new(), NULL};
    views_state vs = {.x = x};
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ServiceStarted st = POLKU__SERVICE_STARTED__INIT;
    env.origin_org = "kela";
    env.origin_seq = 1;
    env.time_ms = 500;
    env.client_key = (ProtobufCBinaryData){16, client_a};
    st.service = "rehab";
    env.body_case = POLKU__ENVELOPE__BODY_SERVICE_STARTED;
    env.service_started = &st;
    fold_apply(&x, &env);
    granted(x.consents, "sote", consent_1, client_a, "sote,kela", "path", 1000);
    assert_null(ci_client_ended(x.consents, client_a, 900));
    assert_string_equal(views_path_stage(&vs, client_a, 900), "in_services");
    /* ran out */
    assert_string_equal(ci_client_ended(x.consents, client_a, 1000),
                        "consent_expired");
    json_t *j = views_path_json(&vs, client_a, 1000, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "stage")),
                        "consent_ended");
    assert_string_equal(json_string_value(json_object_get(j, "stage_reason")),
                        "consent_expired");
    json_decref(j);
    /* a new consent holds again; revoked, it ends again, for that reason */
    granted(x.consents, "sote", consent_2, client_a, "sote,kela", "path", 5000);
    assert_string_equal(views_path_stage(&vs, client_a, 1000), "in_services");
    j = views_path_json(&vs, client_a, 1000, NULL);
    assert_true(json_is_null(json_object_get(j, "stage_reason")));
    json_decref(j);
    revoked(x.consents, "kela", consent_2);
    assert_string_equal(views_path_stage(&vs, client_a, 1000), "consent_ended");
    assert_string_equal(ci_client_ended(x.consents, client_a, 1000),
                        "consent_revoked");
    /* a client with no consent the broker knows of has not "ended" */
    assert_null(ci_client_ended(x.consents, client_b, 1000));
    ci_destroy(&x.consents);
    pi_destroy(&x.paths);
    cl_destroy(&x.clients);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(covers_both_orgs_and_the_purpose),
        cmocka_unit_test(revoked_or_expired_is_refused),
        cmocka_unit_test(outsider_cannot_revoke_but_early_revocation_wins),
        cmocka_unit_test(before_replay_says_retry_later),
        cmocka_unit_test(ended_consents_move_the_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
