/* json_reader_test.c — the hot-path JSON reader and writer.
 *
 * The reader must accept and refuse what jansson does (the fuzz target
 * compares them on any bytes; here are the cases that matter named one by
 * one) and give the same values; the writer must escape as json_dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_reader.h"
#include "polku/json_writer.h"

static bool accepts(const char *text)
{
    jr_doc doc;
    bool ok = jr_parse(&doc, text, strlen(text));
    jr_doc_fini(&doc);
    return ok;
}

static void test_verdicts(void **state)
{
    (void)state;
    static const char *good[] = {"{}",
                                 "[]",
                                 " [ ] ",
                                 "[-0]",
                                 "[1e-400]",
                                 "[9223372036854775807]",
                                 "[-9223372036854775808]",
                                 "[\"\\ud800\\udc00\"]",
                                 "[\"\x7f\"]",
                                 "{\"a\":{\"a\":1}}",
                                 "[1.5E+3,true,false,null]"};
    static const char *bad[] = {"",
                                "\"top\"",
                                "1",
                                "[1e400]",
                                "[-1e400]",
                                "[9223372036854775808]",
                                "[-9223372036854775809]",
                                "[\"\\u0000\"]",
                                "{\"a\":1,\"a\":2}",
                                "[-]",
                                "[01]",
                                "[1.]",
                                "[.5]",
                                "[1e]",
                                "[\"\\ud800\"]",
                                "[\"\\udc00\"]",
                                "\xef\xbb\xbf[]",
                                "[1,]",
                                "{\"a\":1,}",
                                "{}x",
                                "[\"\t\"]",
                                "[\"\xc3\x28\"]",
                                "[\"\xed\xa0\x80\"]",
                                "[\"\xc0\xaf\"]",
                                "[\"\\x\"]",
                                "[nul]",
                                "[truex]",
                                "{\"a\" 1}",
                                "{1:2}",
                                "[\"abc"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(accepts(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(accepts(bad[i]));
}

static char *nested(int depth, const char *inner)
{
    size_t n = strlen(inner);
    char *t = malloc(2 * (size_t)depth + n + 1);
    memset(t, '[', (size_t)depth);
    memcpy(t + depth, inner, n);
    memset(t + depth + n, ']', (size_t)depth);
    t[2 * depth + n] = '\0';
    return t;
}

static void test_depth(void **state)
{
    (void)state;
    char *ok = nested(JR_MAX_DEPTH, ""), *deep = nested(JR_MAX_DEPTH, "1");
    assert_true(accepts(ok));
    assert_false(accepts(deep)); /* the 1 is one value deeper */
    free(ok);
    free(deep);
}

static void test_duplicates_among_many(void **state)
{
    (void)state;
    char text[4096] = "{";
    for (int i = 0; i < 200; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "\"k%d\":%d,",
                 i, i);
    char *end = text + strlen(text);
    strcpy(end, "\"k7\":0}");
    assert_false(accepts(text));
    strcpy(end, "\"k\":0}");
    assert_true(accepts(text));
}

static void test_values(void **state)
{
    (void)state;
    const char *text = "{\"s\":\"a\\u00e4\\ud83d\\ude00\\n\\/\",\"i\":-42,"
                       "\"r\":2.5,\"l\":[1,2,3],\"big\":\"" /* a block */;
    char body[20000];
    snprintf(body, sizeof body, "%s%s\"}", text,
             "0123456789012345678901234567890123456789");
    jr_doc doc;
    assert_true(jr_parse(&doc, body, strlen(body)));
    const jr_value *s = jr_get(doc.root, "s");
    assert_non_null(s);
    assert_int_equal(s->type, JR_STRING);
    assert_string_equal(s->u.s, "a\xc3\xa4\xf0\x9f\x98\x80\n/");
    assert_int_equal(s->len, strlen(s->u.s));
    assert_int_equal(jr_get(doc.root, "i")->u.i, -42);
    assert_true(jr_get(doc.root, "r")->u.d == 2.5);
    const jr_value *l = jr_get(doc.root, "l");
    assert_int_equal(l->len, 3);
    assert_int_equal(l->u.first->next->next->u.i, 3);
    assert_null(jr_get(doc.root, "missing"));
    jr_doc_fini(&doc);

    /* a body bigger than the first block spills into malloc'd ones */
    char *large = malloc(100000);
    char *at = large;
    *at++ = '[';
    for (int i = 0; i < 5000; i++)
        at += sprintf(at, "%s\"xyzxyzxyz\"", i ? "," : "");
    strcpy(at, "]");
    assert_true(jr_parse(&doc, large, strlen(large)));
    assert_int_equal(doc.root->len, 5000);
    jr_doc_fini(&doc);
    free(large);
}

static void test_writer(void **state)
{
    (void)state;
    jw w;
    jw_init(&w);
    jw_begin_object(&w);
    jw_key(&w, "s");
    jw_string(&w, "q\"b\\/\b\f\n\r\t\x01\x7f\xc3\xa4");
    jw_key(&w, "n");
    jw_int(&w, -3000000000LL);
    jw_key(&w, "a");
    jw_begin_array(&w);
    jw_bool(&w, true);
    jw_null(&w);
    jw_time(&w, 1700000000123ull);
    jw_time(&w, 0);
    jw_end_array(&w);
    jw_end_object(&w);
    size_t len = 0;
    char *text = jw_take(&w, &len);
    assert_string_equal(text, "{\"s\":\"q\\\"b\\\\/\\b\\f\\n\\r\\t\\u0001\x7f"
                              "\xc3\xa4\",\"n\":-3000000000,\"a\":[true,null,"
                              "\"2023-11-14T22:13:20.123Z\",null]}");
    assert_int_equal(len, strlen(text));
    free(text);

    jw_init(&w);
    jw_begin_array(&w);
    jw_string(&w, "bad \xff byte");
    jw_end_array(&w);
    assert_false(jw_ok(&w));
    assert_null(jw_take(&w, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts), cmocka_unit_test(test_depth),
        cmocka_unit_test(test_duplicates_among_many),
        cmocka_unit_test(test_values), cmocka_unit_test(test_writer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
