/* broker_list_test.c — `broker =` with one address or a pair's (split at
 * spaces, refused when not an endpoint, too many or twice) and where the
 * agent goes next (the address a passive broker names, else the next). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker_list.h"
#include "polku/error.h"

static void test_parse(void **state)
{
    (void)state;
    broker_list l;
    char why[160];
    assert_int_equal(
        broker_list_parse("tcp://127.0.0.1:5570", &l, why, sizeof why),
        POLKU_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(broker_list_parse("  tcp://a:5570 \t tcp://b:5570 ", &l,
                                       why, sizeof why),
                     POLKU_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.addr[0], "tcp://a:5570");
    assert_string_equal(l.addr[1], "tcp://b:5570");
    assert_int_equal(broker_list_parse("", &l, why, sizeof why), POLKU_ECONFIG);
    assert_int_equal(broker_list_parse("a:5570", &l, why, sizeof why),
                     POLKU_ECONFIG);
    assert_non_null(strstr(why, "'a:5570' is not a broker address"));
    assert_int_equal(
        broker_list_parse("tcp://a:1 tcp://a:1", &l, why, sizeof why),
        POLKU_ECONFIG);
    assert_non_null(strstr(why, "twice"));
    assert_int_equal(broker_list_parse("tcp://a:1 tcp://a:2 tcp://a:3 "
                                       "tcp://a:4 tcp://a:5 tcp://a:6 "
                                       "tcp://a:7 tcp://a:8 tcp://a:9",
                                       &l, why, sizeof why),
                     POLKU_ECONFIG);
}

static void test_next(void **state)
{
    (void)state;
    broker_list l;
    char why[160];
    assert_int_equal(
        broker_list_parse("tcp://a:1 tcp://b:1 tcp://c:1", &l, why, sizeof why),
        POLKU_OK);
    assert_int_equal(broker_list_next(&l, 0, NULL), 1);
    assert_int_equal(broker_list_next(&l, 2, ""), 0);
    assert_int_equal(broker_list_next(&l, 0, "tcp://c:1"), 2);
    assert_int_equal(broker_list_next(&l, 0, "tcp://a:1"), 1); /* itself */
    assert_int_equal(broker_list_next(&l, 1, "tcp://*:5570"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
