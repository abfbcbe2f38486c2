/* referral_test.c — the referral lifecycle against DESIGN §4, written out
 * here independently of the table in referral.c: every allowed row passes
 * (and needs its reason when one is required), every other (from, to,
 * writer) combination is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "polku/error.h"
#include "polku/referral.h"

#define S(x) POLKU__REFERRAL_STATE__REFERRAL_##x

typedef struct expected_row {
    polku_referral_state from, to;
    polku_referral_writer writer;
    bool reason_required;
} expected_row;

static const expected_row spec[] = {
    {S(REQUESTED), S(RECEIVED), POLKU_WRITER_RECEIVER, false},
    {S(REQUESTED), S(FAILED), POLKU_WRITER_SENDER, true},
    {S(RECEIVED), S(ACCEPTED), POLKU_WRITER_RECEIVER, false},
    {S(RECEIVED), S(REJECTED), POLKU_WRITER_RECEIVER, true},
    {S(ACCEPTED), S(IN_PROGRESS), POLKU_WRITER_RECEIVER, false},
    {S(IN_PROGRESS), S(ON_HOLD), POLKU_WRITER_RECEIVER, false},
    {S(ON_HOLD), S(IN_PROGRESS), POLKU_WRITER_RECEIVER, false},
    {S(ACCEPTED), S(COMPLETED), POLKU_WRITER_RECEIVER, false},
    {S(IN_PROGRESS), S(COMPLETED), POLKU_WRITER_RECEIVER, false},
    {S(RECEIVED), S(CANCELLED), POLKU_WRITER_RECEIVER, true},
    {S(ACCEPTED), S(CANCELLED), POLKU_WRITER_RECEIVER, true},
    {S(IN_PROGRESS), S(CANCELLED), POLKU_WRITER_RECEIVER, true},
    {S(ON_HOLD), S(CANCELLED), POLKU_WRITER_RECEIVER, true},
    {S(RECEIVED), S(FAILED), POLKU_WRITER_RECEIVER, true},
    {S(ACCEPTED), S(FAILED), POLKU_WRITER_RECEIVER, true},
    {S(IN_PROGRESS), S(FAILED), POLKU_WRITER_RECEIVER, true},
    {S(ON_HOLD), S(FAILED), POLKU_WRITER_RECEIVER, true},
};

#define N_SPEC (sizeof spec / sizeof spec[0])

static const expected_row *spec_find(int from, int to, int writer)
{
    for (size_t i = 0; i < N_SPEC; i++)
        if ((int)spec[i].from == from && (int)spec[i].to == to &&
            (int)spec[i].writer == writer)
            return &spec[i];
    return NULL;
}

static void test_every_row_passes(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SPEC; i++) {
        const expected_row *r = &spec[i];
        assert_int_equal(polku_referral_check(r->from, r->to, r->writer, true),
                         POLKU_OK);
        int without = polku_referral_check(r->from, r->to, r->writer, false);
        assert_int_equal(without, r->reason_required ? POLKU_EINVAL : POLKU_OK);
    }
}

/* All 10 x 10 state pairs (UNSPECIFIED included) x both writers x with and
 * without a reason: only the spec's rows pass. */
static void test_matrix_only_rows_pass(void **state)
{
    (void)state;
    int allowed = 0;
    for (int from = 0; from <= 9; from++)
        for (int to = 0; to <= 9; to++)
            for (int w = POLKU_WRITER_SENDER; w <= POLKU_WRITER_RECEIVER; w++) {
                const expected_row *r = spec_find(from, to, w);
                int got = polku_referral_check(from, to, w, true);
                assert_int_equal(got, r ? POLKU_OK : POLKU_ETRANSITION);
                if (r == NULL)
                    assert_int_equal(polku_referral_check(from, to, w, false),
                                     POLKU_ETRANSITION);
                allowed += got == POLKU_OK;
            }
    assert_int_equal(allowed, (int)N_SPEC);
}

static void test_nothing_leaves_a_final_state(void **state)
{
    (void)state;
    for (int from = 0; from <= 9; from++) {
        if (!polku_referral_state_final(from))
            continue;
        for (int to = 0; to <= 9; to++) {
            assert_int_equal(
                polku_referral_check(from, to, POLKU_WRITER_SENDER, true),
                POLKU_ETRANSITION);
            assert_int_equal(
                polku_referral_check(from, to, POLKU_WRITER_RECEIVER, true),
                POLKU_ETRANSITION);
        }
    }
}

static void test_final_states(void **state)
{
    (void)state;
    assert_true(polku_referral_state_final(S(COMPLETED)));
    assert_true(polku_referral_state_final(S(REJECTED)));
    assert_true(polku_referral_state_final(S(FAILED)));
    assert_true(polku_referral_state_final(S(CANCELLED)));
    assert_false(polku_referral_state_final(S(UNSPECIFIED)));
    assert_false(polku_referral_state_final(S(REQUESTED)));
    assert_false(polku_referral_state_final(S(RECEIVED)));
    assert_false(polku_referral_state_final(S(ACCEPTED)));
    assert_false(polku_referral_state_final(S(IN_PROGRESS)));
    assert_false(polku_referral_state_final(S(ON_HOLD)));
}

static void test_sender_is_limited(void **state)
{
    (void)state;
    /* The sender may only fail an undelivered referral. */
    assert_int_equal(
        polku_referral_check(S(RECEIVED), S(FAILED), POLKU_WRITER_SENDER, true),
        POLKU_ETRANSITION);
    assert_int_equal(polku_referral_check(S(RECEIVED), S(CANCELLED),
                                          POLKU_WRITER_SENDER, true),
                     POLKU_ETRANSITION);
    assert_int_equal(polku_referral_check(S(REQUESTED), S(FAILED),
                                          POLKU_WRITER_SENDER, false),
                     POLKU_EINVAL);
}

static void test_out_of_range_states(void **state)
{
    (void)state;
    assert_int_equal(
        polku_referral_check(-1, S(RECEIVED), POLKU_WRITER_RECEIVER, true),
        POLKU_ETRANSITION);
    assert_int_equal(
        polku_referral_check(S(REQUESTED), 42, POLKU_WRITER_RECEIVER, true),
        POLKU_ETRANSITION);
    assert_int_equal(polku_referral_check(S(REQUESTED), S(RECEIVED), 7, true),
                     POLKU_ETRANSITION);
}

static void test_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {
        "requested", "received",  "accepted", "rejected", "in-progress",
        "on-hold",   "completed", "failed",   "cancelled"};
    for (int s = 1; s <= 9; s++) {
        assert_string_equal(polku_referral_state_name(s), names[s - 1]);
        polku_referral_state parsed = S(UNSPECIFIED);
        assert_int_equal(polku_referral_state_parse(names[s - 1], &parsed),
                         POLKU_OK);
        assert_int_equal(parsed, s);
    }
}

static void test_names_unknown(void **state)
{
    (void)state;
    assert_string_equal(polku_referral_state_name(S(UNSPECIFIED)), "unknown");
    assert_string_equal(polku_referral_state_name(10), "unknown");
    assert_string_equal(polku_referral_state_name(-3), "unknown");

    polku_referral_state out = S(ACCEPTED);
    const char *bad[] = {"",        "Requested", "in_progress",
                         "unknown", "accepted ", "unspecified"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(polku_referral_state_parse(bad[i], &out),
                         POLKU_EINVAL);
    assert_int_equal(polku_referral_state_parse(NULL, &out), POLKU_EINVAL);
    assert_int_equal(out, S(ACCEPTED)); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_passes),
        cmocka_unit_test(test_matrix_only_rows_pass),
        cmocka_unit_test(test_nothing_leaves_a_final_state),
        cmocka_unit_test(test_final_states),
        cmocka_unit_test(test_sender_is_limited),
        cmocka_unit_test(test_out_of_range_states),
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_names_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
