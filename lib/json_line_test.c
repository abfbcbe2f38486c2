/* json_line_test.c — the feed's JSON lines against jansson's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "polku/json_line.h"

/* jansson's compact text of the object built from m in order. */
static char *jansson_text(const polku_json_member *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_object_set_new(o, m[i].name,
                                             m[i].str ? json_string(m[i].str)
                                                      : json_integer(m[i].num)),
                         0);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void same_as_jansson(const polku_json_member *m, size_t n)
{
    size_t len = 0;
    char *mine = polku_json_line(m, n, &len);
    char *theirs = jansson_text(m, n);
    assert_non_null(mine);
    assert_non_null(theirs);
    assert_string_equal(mine, theirs);
    assert_int_equal(len, strlen(theirs));
    free(mine);
    free(theirs);
}

static void test_feed_event(void **state)
{
    (void)state;
    const polku_json_member m[] = {
        {"id", "01M96VCY7CTVK0SNSR2RRRTDCX", 0},
        {"from", "sote-keskus", 0},
        {"to", "tyokykytiimi", 0},
        {"service", "", 0},
        {"status", "received", 0},
        {"version", NULL, 1},
        {"urgency", "routine", 0},
        {"client_key", "3ad770d4ebe68cbf7f4c01f973aa3cb2", 0},
        {"seq", NULL, 2002},
        {"at", "2026-12-06T23:35:33.870Z", 0},
    };
    same_as_jansson(m, sizeof m / sizeof m[0]);
    size_t len = 0;
    char *text = polku_json_line(m, 2, &len);
    assert_string_equal(
        text,
        "{\"id\":\"01M96VCY7CTVK0SNSR2RRRTDCX\",\"from\":\"sote-keskus\"}");
    free(text);
}

static void test_integers(void **state)
{
    (void)state;
    const int64_t v[] = {0,   1,          -1,        9,         10,
                         -10, 4294967295, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        polku_json_member m[] = {{"n", NULL, v[i]}, {"m", "x", 0}};
        same_as_jansson(m, 2);
    }
    same_as_jansson(NULL, 0); /* {} */
}

/* Whatever jansson takes is written as jansson writes it, escapes and
 * UTF-8 included; what it refuses (invalid UTF-8) is refused. */
static void test_escapes_and_utf8(void **state)
{
    (void)state;
    static const char *const escaped[] = {
        "a\"b",  "a\\b",   "a\nb",
        "\x1f",  "\x7f",   "\xc3\xa4",
        "tab\t", "\b\f\r", "\xe2\x82\xac\xf0\x9f\x98\x80",
        "/"};
    for (size_t i = 0; i < sizeof escaped / sizeof escaped[0]; i++) {
        polku_json_member as_value[] = {{"k", escaped[i], 0}};
        same_as_jansson(as_value, 1);
        polku_json_member as_name[] = {{escaped[i], "v", 0}};
        same_as_jansson(as_name, 1);
    }
    static const char *const invalid[] = {"\xc3", "\xed\xa0\x80", "\xc0\xaf",
                                          "\xff"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        assert_null(json_string(invalid[i]));
        polku_json_member as_value[] = {{"k", invalid[i], 0}};
        assert_null(polku_json_line(as_value, 1, NULL));
        polku_json_member as_name[] = {{invalid[i], "v", 0}};
        assert_null(polku_json_line(as_name, 1, NULL));
    }
    polku_json_member all[] = {
        {"all", " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", 0}, {"", "", 0}};
    same_as_jansson(all, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_event),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_escapes_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
