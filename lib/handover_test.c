/* handover_test.c — every row of the handover table, and what no row
 * allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "polku/error.h"
#include "polku/handover.h"

#define OFFERED POLKU__HANDOVER_STATE__HANDOVER_OFFERED
#define ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
#define DECLINED POLKU__HANDOVER_STATE__HANDOVER_DECLINED
#define WITHDRAWN POLKU__HANDOVER_STATE__HANDOVER_WITHDRAWN
#define FAILED POLKU__HANDOVER_STATE__HANDOVER_FAILED

static void test_names_round_trip(void **state)
{
    (void)state;
    for (int s = OFFERED; s <= FAILED; s++) {
        polku_handover_state back;
        const char *name = polku_handover_state_name(s);
        assert_int_equal(polku_handover_state_parse(name, &back), POLKU_OK);
        assert_int_equal(back, s);
    }
    polku_handover_state out;
    assert_string_equal(polku_handover_state_name(0), "unknown");
    assert_string_equal(polku_handover_state_name(99), "unknown");
    assert_int_equal(polku_handover_state_parse("Accepted", &out),
                     POLKU_EINVAL);
    assert_int_equal(polku_handover_state_parse(NULL, &out), POLKU_EINVAL);
    assert_true(polku_handover_state_final(ACCEPTED));
    assert_false(polku_handover_state_final(OFFERED));
}

static void test_who_writes_what(void **state)
{
    (void)state;
    const polku_handover_writer R = POLKU_HANDOVER_RECEIVER,
                                O = POLKU_HANDOVER_OFFERER;
    /* the receiver answers an open offer; the offerer only fails it */
    assert_int_equal(polku_handover_check(OFFERED, ACCEPTED, R), POLKU_OK);
    assert_int_equal(polku_handover_check(OFFERED, DECLINED, R), POLKU_OK);
    assert_int_equal(polku_handover_check(OFFERED, WITHDRAWN, R), POLKU_OK);
    assert_int_equal(polku_handover_check(OFFERED, FAILED, O), POLKU_OK);
    assert_int_equal(polku_handover_check(OFFERED, ACCEPTED, O),
                     POLKU_ETRANSITION);
    assert_int_equal(polku_handover_check(OFFERED, FAILED, R),
                     POLKU_ETRANSITION);
    /* the receiver's answer stands over the offerer's failed */
    assert_int_equal(polku_handover_check(FAILED, ACCEPTED, R), POLKU_OK);
    /* nothing leaves an answer */
    for (int from = ACCEPTED; from <= WITHDRAWN; from++)
        for (int to = OFFERED; to <= FAILED; to++) {
            assert_int_equal(polku_handover_check(from, to, R),
                             POLKU_ETRANSITION);
            assert_int_equal(polku_handover_check(from, to, O),
                             POLKU_ETRANSITION);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_who_writes_what),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
