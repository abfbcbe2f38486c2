/* id_test.c — ids round-trip, sort like time and stay monotonic. */
#include "polku/error.h"
#include "polku/id.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define SAME_MS_COUNT 100000
#define THREAD_COUNT 10000

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

static void test_known_text(void **state)
{
    polku_id id;
    char text[POLKU_ID_TEXT];

    memset(&id, 0, sizeof id);
    polku_id_format(&id, text);
    assert_string_equal(text, "00000000000000000000000000");

    memset(&id, 0xff, sizeof id);
    polku_id_format(&id, text);
    assert_string_equal(text, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");

    /* The ULID specification's example time. */
    id = polku_id_new(1469918176385);
    polku_id_format(&id, text);
    assert_memory_equal(text, "01ARYZ6S41", 10);
    assert_int_equal(polku_id_time_ms(&id), 1469918176385);
}

static void test_round_trip(void **state)
{
    for (int i = 0; i < 1000; i++) {
        polku_id id = polku_id_new(1700000000000 + (uint64_t)i * 7919);
        char text[POLKU_ID_TEXT];
        polku_id back;
        polku_id_format(&id, text);
        assert_int_equal(strlen(text), 26);
        assert_int_equal(polku_id_parse(text, &back), POLKU_OK);
        assert_memory_equal(id.b, back.b, POLKU_ID_BYTES);
    }
}

/* An id held as bytes formats as the same text as the id itself. */
static void test_text_of_bytes(void **state)
{
    (void)state;
    polku_id id = polku_id_new(1796000000000ull);
    char a[POLKU_ID_TEXT], b[POLKU_ID_TEXT];
    polku_id_format(&id, a);
    assert_ptr_equal(polku_id_text(id.b, b), b);
    assert_string_equal(a, b);
    polku_id back;
    assert_int_equal(polku_id_parse(b, &back), POLKU_OK);
    assert_memory_equal(back.b, id.b, 16);
}

static void test_sort_order_is_time_order(void **state)
{
    uint64_t times[] = {0,
                        1,
                        255,
                        256,
                        1000000,
                        1700000000,
                        1700000000001,
                        1795356000123,
                        (UINT64_C(1) << 48) - 1};
    size_t n = sizeof times / sizeof times[0];
    polku_id prev = polku_id_new(times[0]);
    char prev_text[POLKU_ID_TEXT];
    polku_id_format(&prev, prev_text);
    for (size_t i = 1; i < n; i++) {
        polku_id id = polku_id_new(times[i]);
        char text[POLKU_ID_TEXT];
        polku_id_format(&id, text);
        assert_int_equal(polku_id_time_ms(&id), times[i]);
        assert_true(memcmp(prev.b, id.b, POLKU_ID_BYTES) < 0);
        assert_true(strcmp(prev_text, text) < 0);
        prev = id;
        memcpy(prev_text, text, sizeof text);
    }
}

static void test_time_beyond_48_bits_is_clamped(void **state)
{
    polku_id id = polku_id_new(UINT64_MAX);
    assert_int_equal(polku_id_time_ms(&id), (UINT64_C(1) << 48) - 1);
}

static void test_monotonic_in_same_ms(void **state)
{
    const uint64_t ms = 1795356000123;
    polku_id prev = polku_id_new(ms);
    char prev_text[POLKU_ID_TEXT];
    polku_id_format(&prev, prev_text);
    for (int i = 0; i < SAME_MS_COUNT; i++) {
        polku_id id = polku_id_new(ms);
        char text[POLKU_ID_TEXT];
        polku_id_format(&id, text);
        assert_int_equal(polku_id_time_ms(&id), ms);
        if (memcmp(prev.b, id.b, POLKU_ID_BYTES) >= 0)
            fail_msg("id %d not above its predecessor", i);
        if (strcmp(prev_text, text) >= 0)
            fail_msg("text %s not above %s", text, prev_text);
        prev = id;
        memcpy(prev_text, text, sizeof text);
    }
}

static void test_random_part_differs_across_ms(void **state)
{
    polku_id a = polku_id_new(5000);
    polku_id b = polku_id_new(5001);
    polku_id c = polku_id_new(5000);
    /* Fresh random bits each new millisecond: equal would be 2^-80. */
    assert_memory_not_equal(a.b + 6, b.b + 6, 10);
    assert_memory_not_equal(a.b + 6, c.b + 6, 10);
}

static void *make_ids(void *arg)
{
    polku_id *out = arg;
    for (int i = 0; i < THREAD_COUNT; i++)
        out[i] = polku_id_new(1795356000999);
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    return memcmp(a, b, POLKU_ID_BYTES);
}

static void test_two_threads_same_ms_distinct(void **state)
{
    polku_id *ids = calloc(2 * THREAD_COUNT, sizeof *ids);
    assert_non_null(ids);
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, make_ids, ids), 0);
    assert_int_equal(pthread_create(&t2, NULL, make_ids, ids + THREAD_COUNT),
                     0);
    assert_int_equal(pthread_join(t1, NULL), 0);
    assert_int_equal(pthread_join(t2, NULL), 0);
    for (int t = 0; t < 2; t++) {
        polku_id *run = ids + t * THREAD_COUNT;
        for (int i = 1; i < THREAD_COUNT; i++)
            assert_true(memcmp(run[i - 1].b, run[i].b, POLKU_ID_BYTES) < 0);
    }
    qsort(ids, 2 * THREAD_COUNT, sizeof *ids, compare_ids);
    for (int i = 1; i < 2 * THREAD_COUNT; i++)
        assert_true(memcmp(ids[i - 1].b, ids[i].b, POLKU_ID_BYTES) != 0);
    free(ids);
}

static void test_parse_lower_case_and_aliases(void **state)
{
    polku_id upper, lower, alias;
    assert_int_equal(polku_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAV", &upper),
                     POLKU_OK);
    assert_int_equal(polku_id_parse("01aryz6s41tsv4rrffq69g5fav", &lower),
                     POLKU_OK);
    assert_memory_equal(upper.b, lower.b, POLKU_ID_BYTES);
    assert_int_equal(polku_id_time_ms(&upper), 1469918176385);

    polku_id one;
    assert_int_equal(polku_id_parse("00000000000000000000000001", &one),
                     POLKU_OK);
    assert_int_equal(polku_id_parse("OoOoOoOoOoOoOoOoOoOoOoOoIl", &alias),
                     POLKU_OK);
    polku_id expected;
    assert_int_equal(polku_id_parse("00000000000000000000000011", &expected),
                     POLKU_OK);
    assert_memory_equal(alias.b, expected.b, POLKU_ID_BYTES);
    assert_int_equal(one.b[15], 1);
}

static void test_parse_rejects(void **state)
{
    polku_id id;
    memset(&id, 0xaa, sizeof id);
    const char *bad[] = {
        "",
        "01ARYZ6S41TSV4RRFFQ69G5FA",   /* 25 */
        "01ARYZ6S41TSV4RRFFQ69G5FAVX", /* 27 */
        "01ARYZ6S41TSV4RRFFQ69G5FAU",  /* U is not Crockford */
        "01ARYZ6S41TSV4RRFFQ69G5FA!",
        "01ARYZ6S41TSV4RR-FQ69G5FAV",
        "01ARYZ6S41TSV4RR FQ69G5FAV",
        "80000000000000000000000000", /* 2^128: overflow */
        "ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (polku_id_parse(bad[i], &id) != POLKU_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(id.b[0], 0xaa); /* untouched on failure */
    assert_int_equal(polku_id_parse(NULL, &id), POLKU_EINVAL);
    assert_int_equal(polku_id_parse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", &id),
                     POLKU_OK);
    assert_int_equal(id.b[0], 0xff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_text),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_text_of_bytes),
        cmocka_unit_test(test_sort_order_is_time_order),
        cmocka_unit_test(test_time_beyond_48_bits_is_clamped),
        cmocka_unit_test(test_monotonic_in_same_ms),
        cmocka_unit_test(test_random_part_differs_across_ms),
        cmocka_unit_test(test_two_threads_same_ms_distinct),
        cmocka_unit_test(test_parse_lower_case_and_aliases),
        cmocka_unit_test(test_parse_rejects),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
