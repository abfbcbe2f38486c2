/* render_fhir_test.c — a referral as a FHIR Task, field by field.
 *
 * The mapping table is render_fhir.h's; these records pin what an
 * integrator's tooling reads: the status (the same codes), the reason of
 * the last change as statusReason, the outcome as output, the client only
 * as its key, the organisations as identifiers, no nulls anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "render_fhir.h"

static uint8_t id16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static uint8_t key16[16] = {0xab, 0xcd, 1, 2,  3,  4,  5,  6,
                            7,    8,    9, 10, 11, 12, 13, 14};

static const char *str(json_t *j, const char *path)
{
    char copy[128];
    snprintf(copy, sizeof copy, "%s", path);
    char *save = NULL;
    for (char *p = strtok_r(copy, ".", &save); p && j;
         p = strtok_r(NULL, ".", &save))
        j = (*p >= '0' && *p <= '9') ? json_array_get(j, (size_t)(*p - '0'))
                                     : json_object_get(j, p);
    return json_string_value(j);
}

static bool has_null(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_null(j))
        return true;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) if (has_null(v)) return true;
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) if (has_null(v)) return true;
    }
    return false;
}

static Polku__HistoryEntry h1 = POLKU__HISTORY_ENTRY__INIT,
                           h2 = POLKU__HISTORY_ENTRY__INIT;
static Polku__HistoryEntry *hist[2] = {&h1, &h2};

static void record(Polku__ReferralRecord *r)
{
    polku__referral_record__init(r);
    r->id.data = id16, r->id.len = 16;
    r->client_key.data = key16, r->client_key.len = 16;
    r->from_org = "sote";
    r->to_org = "kela";
    r->service = "rehab";
    r->reason = "needs support";
    r->urgency = "urgent";
    r->status = POLKU__REFERRAL_STATE__REFERRAL_COMPLETED;
    r->version = 7;
    r->created_ms = 1700000000000ull;
    r->updated_ms = 1700000100000ull;
    r->outcome = "back at work";
    h1.status = POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED;
    h1.reason = "fits";
    h2.status = POLKU__REFERRAL_STATE__REFERRAL_COMPLETED;
    h2.reason = "done";
    h1.by = h2.by = "kela";
    r->history = hist, r->n_history = 2;
}

static void task_fields(void **state)
{
    (void)state;
    Polku__ReferralRecord r;
    record(&r);
    json_t *t = render_fhir_task(&r);
    assert_non_null(t);
    assert_string_equal(str(t, "resourceType"), "Task");
    assert_string_equal(str(t, "status"), "completed");
    assert_string_equal(str(t, "intent"), "order");
    assert_string_equal(str(t, "priority"), "urgent");
    assert_string_equal(str(t, "statusReason.text"), "done");
    assert_string_equal(str(t, "output.0.valueString"), "back at work");
    assert_string_equal(str(t, "output.0.type.coding.0.code"), "outcome");
    assert_string_equal(str(t, "for.identifier.system"), POLKU_FHIR_CLIENT_KEY);
    assert_string_equal(str(t, "for.identifier.value"),
                        "abcd0102030405060708090a0b0c0d0e");
    assert_string_equal(str(t, "requester.identifier.value"), "sote");
    assert_string_equal(str(t, "owner.identifier.value"), "kela");
    assert_string_equal(str(t, "meta.versionId"), "7");
    assert_string_equal(str(t, "meta.lastUpdated"), "2023-11-14T22:15:00.000Z");
    assert_string_equal(str(t, "focus.reference"), "#request");
    assert_string_equal(str(t, "contained.0.resourceType"), "ServiceRequest");
    assert_string_equal(str(t, "contained.0.status"), "completed");
    assert_string_equal(str(t, "contained.0.code.coding.0.code"), "rehab");
    assert_string_equal(str(t, "contained.0.reasonCode.0.text"),
                        "needs support");
    assert_null(json_object_get(t, "restriction")); /* no due date */
    assert_false(has_null(t));
    json_decref(t);
}

static void cancelled_task_revokes_its_request(void **state)
{
    (void)state;
    Polku__ReferralRecord r;
    record(&r);
    r.status = POLKU__REFERRAL_STATE__REFERRAL_CANCELLED;
    r.outcome = "";
    r.cancel_requested = true;
    r.n_history = 1; /* no entry for the current status: no statusReason */
    json_t *t = render_fhir_task(&r);
    assert_string_equal(str(t, "status"), "cancelled");
    assert_string_equal(str(t, "contained.0.status"), "revoked");
    assert_string_equal(str(t, "businessStatus.coding.0.code"),
                        "cancel-requested");
    assert_null(json_object_get(t, "statusReason"));
    assert_null(json_object_get(t, "output"));
    json_decref(t);
}

static void outcome_carries_the_code(void **state)
{
    (void)state;
    json_t *o = render_fhir_outcome(403, "consent_required", "no consent");
    assert_string_equal(str(o, "resourceType"), "OperationOutcome");
    assert_string_equal(str(o, "issue.0.severity"), "error");
    assert_string_equal(str(o, "issue.0.code"), "forbidden");
    assert_string_equal(str(o, "issue.0.details.coding.0.system"),
                        POLKU_FHIR_ERROR);
    assert_string_equal(str(o, "issue.0.details.coding.0.code"),
                        "consent_required");
    assert_string_equal(str(o, "issue.0.details.text"), "no consent");
    json_decref(o);
    /* bytes that are not UTF-8 still give the code */
    o = render_fhir_outcome(400, "invalid_json", "bad \xff byte");
    assert_non_null(o);
    assert_string_equal(str(o, "issue.0.code"), "structure");
    assert_string_equal(str(o, "issue.0.details.coding.0.code"),
                        "invalid_json");
    json_decref(o);
    /* the status decides where the code says no more */
    o = render_fhir_outcome(507, "store_full", "full");
    assert_string_equal(str(o, "issue.0.code"), "no-store");
    json_decref(o);
    o = render_fhir_outcome(409, "invalid_transition", "not from here");
    assert_string_equal(str(o, "issue.0.code"), "business-rule");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_fields),
        cmocka_unit_test(cancelled_task_revokes_its_request),
        cmocka_unit_test(outcome_carries_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
