/* records_json_test.c — the agent's JSON answers carry 32-bit terms and
 * versions whole.
 *
 * Terms and versions are uint32 in the records; passed to json_pack as
 * "i" (an int) anything above 2^31 came out negative. The records here hold
 * 3000000000 and the answers must say so: the referral's version, the
 * path's term and plan version, a lost claim's term, the handover's term
 * and plan version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "render.h"

#define BIG 3000000000u

static domain a;
static uint8_t id16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void setup_agent(void)
{
    memset(&a, 0, sizeof a);
    a.org = "kela";
}

static json_int_t field(json_t *j, const char *path1, const char *path2)
{
    json_t *v = json_object_get(j, path1);
    if (path2)
        v = json_object_get(v, path2);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void referral_version_is_whole(void **state)
{
    (void)state;
    setup_agent();
    Polku__ReferralRecord r = POLKU__REFERRAL_RECORD__INIT;
    r.id = (ProtobufCBinaryData){16, id16};
    r.client_key = (ProtobufCBinaryData){16, id16};
    r.version = BIG;
    json_t *j = render_referral(&r, false);
    assert_non_null(j);
    assert_int_equal(field(j, "version", NULL), (json_int_t)BIG);
    json_decref(j);
}

static void path_term_and_plan_version_are_whole(void **state)
{
    (void)state;
    setup_agent();
    Polku__PathRecord p = POLKU__PATH_RECORD__INIT;
    Polku__PlanPointer plan = POLKU__PLAN_POINTER__INIT;
    plan.org = "kela";
    plan.plan_id = "plan-1";
    plan.version = BIG;
    p.client_key = (ProtobufCBinaryData){16, id16};
    p.coordinator = "typ";
    p.term = BIG;
    p.plan = &plan;
    json_t *j = render_path(&a, &p);
    assert_non_null(j);
    assert_int_equal(field(j, "term", NULL), (json_int_t)BIG);
    assert_int_equal(field(j, "plan", "version"), (json_int_t)BIG);
    json_decref(j);

    unsigned status = 0;
    p.claim_outcome = POLKU__CLAIM_OUTCOME__CLAIM_LOST;
    j = render_claim_reply(&a, &p, &status);
    assert_non_null(j);
    assert_int_equal(status, 409);
    assert_int_equal(field(j, "term", NULL), (json_int_t)BIG);
    json_decref(j);
}

static void handover_term_and_plan_version_are_whole(void **state)
{
    (void)state;
    setup_agent();
    Polku__HandoverRecord h = POLKU__HANDOVER_RECORD__INIT;
    Polku__PlanPointer plan = POLKU__PLAN_POINTER__INIT;
    plan.org = "kela";
    plan.plan_id = "plan-1";
    plan.version = BIG;
    h.id = (ProtobufCBinaryData){16, id16};
    h.client_key = (ProtobufCBinaryData){16, id16};
    h.term = BIG;
    h.plan = &plan;
    json_t *j = render_handover(&h, false);
    assert_non_null(j);
    assert_int_equal(field(j, "term", NULL), (json_int_t)BIG);
    assert_int_equal(field(j, "plan", "version"), (json_int_t)BIG);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(referral_version_is_whole),
        cmocka_unit_test(path_term_and_plan_version_are_whole),
        cmocka_unit_test(handover_term_and_plan_version_are_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
