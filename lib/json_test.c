/* json_test.c — the shared JSON renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "polku/json.h"

static void test_time(void **state)
{
    (void)state;
    json_t *t = polku_json_time(1700000000123ull);
    assert_true(json_is_string(t));
    assert_string_equal(json_string_value(t), "2023-11-14T22:13:20.123Z");
    json_decref(t);
    json_t *none = polku_json_time(0);
    assert_true(json_is_null(none));
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_time)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
