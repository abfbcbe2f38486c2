/* hetu_test.c — identity codes accepted or refused with the right reason,
 * and client keys that every agent of a region derives alike.
 *
 * Every code here is synthetic: 131052-308T is the published example code,
 * the others are built by the test with a check character it computes
 * itself. Dates are checked against the C library's calendar (gmtime), not
 * against a second copy of the module's own rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polku/error.h"
#include "polku/hetu.h"

static const char all_signs[] = "+-YXWVUABCDEF";

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* Builds DDMMYY C ZZZ Q into out with the right check character. */
static void make_code(char out[POLKU_HETU_LEN + 1], int dd, int mm, int yy,
                      char sign, int individual)
{
    static const char q[] = "0123456789ABCDEFHJKLMNPRSTUVWXY";
    char digits[10];
    snprintf(digits, sizeof digits, "%02d%02d%02d%03d", dd, mm, yy, individual);
    unsigned long n = strtoul(digits, NULL, 10);
    snprintf(out, POLKU_HETU_LEN + 1, "%02d%02d%02d%c%03d%c", dd, mm, yy, sign,
             individual, q[n % 31]);
}

/* Parses text; asserts the outcome and returns it. */
static void expect(const char *text, polku_hetu_problem want)
{
    char canon[POLKU_HETU_LEN + 1];
    polku_hetu_problem got = (polku_hetu_problem)-1;
    int rc = polku_hetu_parse(text, canon, &got);
    if (got != want)
        print_error("code %s: problem %d, expected %d\n", text ? text : "NULL",
                    (int)got, (int)want);
    assert_int_equal(got, want);
    assert_int_equal(rc, want == POLKU_HETU_OK ? POLKU_OK : POLKU_EINVAL);
}

static void test_published_example(void **state)
{
    char canon[POLKU_HETU_LEN + 1];
    polku_hetu_problem p = POLKU_HETU_CHECK;
    assert_int_equal(polku_hetu_parse("131052-308T", canon, &p), POLKU_OK);
    assert_int_equal(p, POLKU_HETU_OK);
    assert_string_equal(canon, "131052-308T");
    /* problem may be NULL */
    assert_int_equal(polku_hetu_parse("131052-308T", canon, NULL), POLKU_OK);
    assert_int_equal(polku_hetu_parse("131052-308U", canon, NULL),
                     POLKU_EINVAL);
}

static void test_every_century_sign(void **state)
{
    for (const char *s = all_signs; *s; s++) {
        char code[POLKU_HETU_LEN + 1], canon[POLKU_HETU_LEN + 1];
        make_code(code, 1, 1, 1, *s, 123);
        assert_int_equal(polku_hetu_parse(code, canon, NULL), POLKU_OK);
        assert_string_equal(canon, code);
    }
    /* Signs that are not century signs. */
    const char *bad = "ZGHIz*/ 0.=_";
    for (const char *s = bad; *s; s++) {
        char code[POLKU_HETU_LEN + 1];
        make_code(code, 1, 1, 1, *s, 123);
        expect(code, POLKU_HETU_CENTURY);
    }
}

static void test_lower_case_is_canonicalised(void **state)
{
    char canon[POLKU_HETU_LEN + 1];
    assert_int_equal(polku_hetu_parse("131052-308t", canon, NULL), POLKU_OK);
    assert_string_equal(canon, "131052-308T");

    for (const char *s = "yxwvuabcdef"; *s; s++) {
        char upper[POLKU_HETU_LEN + 1], lower[POLKU_HETU_LEN + 1];
        make_code(upper, 24, 12, 99, (char)(*s - 'a' + 'A'), 456);
        memcpy(lower, upper, sizeof upper);
        lower[6] = *s;
        if (lower[10] >= 'A' && lower[10] <= 'Z')
            lower[10] = (char)(lower[10] - 'A' + 'a');
        assert_int_equal(polku_hetu_parse(lower, canon, NULL), POLKU_OK);
        assert_string_equal(canon, upper);
    }
}

static void test_leap_days(void **state)
{
    char code[POLKU_HETU_LEN + 1];
    struct {
        int yy;
        char sign;
        polku_hetu_problem want;
    } cases[] = {
        {0, 'A', POLKU_HETU_OK},    /* 2000: divisible by 400 */
        {0, 'F', POLKU_HETU_OK},    /* 2000 with a 2023 sign */
        {0, '-', POLKU_HETU_DATE},  /* 1900: divisible by 100 only */
        {0, 'Y', POLKU_HETU_DATE},  /* 1900 with a 2023 sign */
        {0, '+', POLKU_HETU_DATE},  /* 1800 */
        {24, 'A', POLKU_HETU_OK},   /* 2024 */
        {23, 'A', POLKU_HETU_DATE}, /* 2023 */
        {96, '-', POLKU_HETU_OK},   /* 1996 */
        {97, 'U', POLKU_HETU_DATE}, /* 1997 */
        {4, '+', POLKU_HETU_OK},    /* 1804 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_code(code, 29, 2, cases[i].yy, cases[i].sign, 2);
        expect(code, cases[i].want);
        make_code(code, 28, 2, cases[i].yy, cases[i].sign, 2);
        expect(code, POLKU_HETU_OK);
        make_code(code, 30, 2, cases[i].yy, cases[i].sign, 2);
        expect(code, POLKU_HETU_DATE);
    }
}

static void test_wrong_dates(void **state)
{
    char code[POLKU_HETU_LEN + 1];
    int bad[][2] = {{0, 1},   {32, 1},  {1, 0}, {1, 13}, {31, 4},
                    {31, 11}, {99, 99}, {0, 0}, {31, 6}, {31, 9}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_code(code, bad[i][0], bad[i][1], 85, '-', 321);
        expect(code, POLKU_HETU_DATE);
    }
    make_code(code, 31, 12, 99, '+', 321);
    expect(code, POLKU_HETU_OK);
    make_code(code, 31, 1, 0, 'A', 321);
    expect(code, POLKU_HETU_OK);
}

/* Every DDMMYY in 00..39 x 00..14 x 00..99 for one sign per century agrees
 * with the calendar of gmtime. */
static void test_dates_agree_with_calendar(void **state)
{
    static unsigned char valid[3][100][13][32];
    memset(valid, 0, sizeof valid);
    struct tm start = {.tm_year = 1800 - 1900, .tm_mon = 0, .tm_mday = 1};
    time_t t = timegm(&start);
    int days = 0;
    for (;; t += 86400) {
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        int year = tm.tm_year + 1900;
        if (year >= 2100)
            break;
        valid[(year - 1800) / 100][year % 100][tm.tm_mon + 1][tm.tm_mday] = 1;
        days++;
    }
    assert_int_equal(days, 109573); /* 300 years, 73 leap days */

    const char signs[3] = {'+', 'V', 'B'};
    int accepted = 0;
    for (int c = 0; c < 3; c++)
        for (int yy = 0; yy < 100; yy++)
            for (int mm = 0; mm < 15; mm++)
                for (int dd = 0; dd < 40; dd++) {
                    char code[POLKU_HETU_LEN + 1];
                    make_code(code, dd, mm, yy, signs[c], 500);
                    bool ok =
                        mm >= 1 && mm <= 12 && dd <= 31 && valid[c][yy][mm][dd];
                    polku_hetu_problem p;
                    char canon[POLKU_HETU_LEN + 1];
                    polku_hetu_parse(code, canon, &p);
                    assert_int_equal(p, ok ? POLKU_HETU_OK : POLKU_HETU_DATE);
                    accepted += ok;
                }
    assert_int_equal(accepted, days);
}

static void test_wrong_check_character(void **state)
{
    expect("131052-308U", POLKU_HETU_CHECK);
    expect("131052-308S", POLKU_HETU_CHECK);
    expect("131052-3080", POLKU_HETU_CHECK);
    /* Letters never used as check characters, and non-letters. */
    for (const char *c = "GIOQZgioqz-+ !"; *c; c++) {
        char code[POLKU_HETU_LEN + 1] = "131052-308T";
        code[10] = *c;
        expect(code, POLKU_HETU_CHECK);
    }
    /* Every wrong choice from the alphabet is refused. */
    const char *q = "0123456789ABCDEFHJKLMNPRSTUVWXY";
    int ok = 0;
    for (const char *c = q; *c; c++) {
        char code[POLKU_HETU_LEN + 1] = "131052-308T";
        code[10] = *c;
        polku_hetu_problem p;
        char canon[POLKU_HETU_LEN + 1];
        polku_hetu_parse(code, canon, &p);
        if (p == POLKU_HETU_OK)
            ok++;
        else
            assert_int_equal(p, POLKU_HETU_CHECK);
    }
    assert_int_equal(ok, 1);
}

static void test_individual_numbers(void **state)
{
    char code[POLKU_HETU_LEN + 1];
    struct {
        int n;
        polku_hetu_problem want;
    } cases[] = {
        {0, POLKU_HETU_INDIVIDUAL},   {1, POLKU_HETU_INDIVIDUAL},
        {2, POLKU_HETU_OK},           {899, POLKU_HETU_OK},
        {900, POLKU_HETU_INDIVIDUAL}, {950, POLKU_HETU_INDIVIDUAL},
        {999, POLKU_HETU_INDIVIDUAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_code(code, 15, 6, 70, '-', cases[i].n);
        expect(code, cases[i].want);
    }
}

static void test_length_and_digits(void **state)
{
    expect(NULL, POLKU_HETU_LENGTH);
    expect("", POLKU_HETU_LENGTH);
    expect("131052-308", POLKU_HETU_LENGTH);
    expect("131052-308TT", POLKU_HETU_LENGTH);
    expect(" 131052-308T", POLKU_HETU_LENGTH);
    expect("131052-308T\n", POLKU_HETU_LENGTH);
    expect("13105-2308T", POLKU_HETU_DIGITS);
    expect("13105X-308T", POLKU_HETU_DIGITS);
    expect("131052-3O8T", POLKU_HETU_DIGITS);
    expect("131052-30 T", POLKU_HETU_DIGITS);
    expect("+31052-308T", POLKU_HETU_DIGITS);
    expect("\303\24413052-308", POLKU_HETU_DIGITS); /* UTF-8 'ä' */
}

static void test_problem_texts(void **state)
{
    const char *seen[POLKU_HETU_CHECK + 1];
    for (int p = POLKU_HETU_OK; p <= POLKU_HETU_CHECK; p++) {
        const char *t = polku_hetu_problem_text((polku_hetu_problem)p);
        assert_non_null(t);
        assert_true(strlen(t) > 10);
        assert_null(strstr(t, "131052"));
        for (int q = POLKU_HETU_OK; q < p; q++)
            assert_string_not_equal(seen[q], t);
        seen[p] = t;
    }
    assert_non_null(polku_hetu_problem_text((polku_hetu_problem)99));
}

static void key_of(const uint8_t secret[32], const char *text,
                   uint8_t key[POLKU_CLIENT_KEY_BYTES])
{
    char canon[POLKU_HETU_LEN + 1];
    assert_int_equal(polku_hetu_parse(text, canon, NULL), POLKU_OK);
    polku_client_key(secret, canon, key);
}

static void test_client_key_known_answer(void **state)
{
    uint8_t secret[32], key[POLKU_CLIENT_KEY_BYTES];
    char hex[POLKU_CLIENT_KEY_HEX];
    for (int i = 0; i < 32; i++)
        secret[i] = (uint8_t)i;
    polku_client_key(secret, "131052-308T", key);
    polku_client_key_hex(key, hex);
    /* HMAC-SHA256(00 01 .. 1f, "131052-308T"), first 16 bytes, computed
     * independently (Python hmac). */
    assert_string_equal(hex, "0f38c15d4df3c1046b3f596a5f39b5d3");
}

static void test_two_agents_same_key(void **state)
{
    /* Two agents load the same regional secret into their own memory. */
    uint8_t secret_a[32], secret_b[32];
    randombytes_buf(secret_a, sizeof secret_a);
    memcpy(secret_b, secret_a, sizeof secret_b);

    uint8_t ka[POLKU_CLIENT_KEY_BYTES], kb[POLKU_CLIENT_KEY_BYTES];
    key_of(secret_a, "131052-308T", ka);
    key_of(secret_b, "131052-308t", kb); /* typed in lower case */
    assert_memory_equal(ka, kb, sizeof ka);

    /* A different secret (another region) gives a different key. */
    uint8_t other[32], ko[POLKU_CLIENT_KEY_BYTES];
    memcpy(other, secret_a, sizeof other);
    other[31] ^= 1;
    key_of(other, "131052-308T", ko);
    assert_memory_not_equal(ka, ko, sizeof ka);

    /* A different code gives a different key. */
    char code[POLKU_HETU_LEN + 1];
    make_code(code, 13, 10, 52, '-', 310);
    key_of(secret_a, code, ko);
    assert_memory_not_equal(ka, ko, sizeof ka);
}

/* Since 2023, '-' and Y X W V U all mean the 1900s and A-F the 2000s, but
 * 010190-123x and 010190Y123x are codes of two different people: their
 * canonical texts differ and so must their keys. */
static void test_new_century_signs_are_different_people(void **state)
{
    uint8_t secret[32];
    randombytes_buf(secret, sizeof secret);
    const char *groups[] = {"-YXWVU", "ABCDEF"};
    for (int g = 0; g < 2; g++) {
        const char *signs = groups[g];
        size_t n = strlen(signs);
        uint8_t keys[6][POLKU_CLIENT_KEY_BYTES];
        for (size_t i = 0; i < n; i++) {
            char code[POLKU_HETU_LEN + 1];
            make_code(code, 1, 1, 90, signs[i], 123);
            key_of(secret, code, keys[i]);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < i; j++)
                assert_memory_not_equal(keys[i], keys[j], sizeof keys[i]);
    }
}

static void test_key_hex(void **state)
{
    uint8_t key[POLKU_CLIENT_KEY_BYTES], back[POLKU_CLIENT_KEY_BYTES];
    char hex[POLKU_CLIENT_KEY_HEX];
    for (int i = 0; i < POLKU_CLIENT_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 17 + 0x0a);
    polku_client_key_hex(key, hex);
    assert_string_equal(hex, "0a1b2c3d4e5f708192a3b4c5d6e7f809");
    assert_int_equal(polku_client_key_parse(hex, back), POLKU_OK);
    assert_memory_equal(key, back, sizeof key);

    for (int r = 0; r < 100; r++) {
        randombytes_buf(key, sizeof key);
        polku_client_key_hex(key, hex);
        assert_int_equal(strlen(hex), 32);
        assert_int_equal(polku_client_key_parse(hex, back), POLKU_OK);
        assert_memory_equal(key, back, sizeof key);
    }

    /* Refusals leave the output alone. */
    const char *bad[] = {
        NULL,
        "",
        "0a1b2c3d4e5f708192a3b4c5d6e7f80",   /* 31 */
        "0a1b2c3d4e5f708192a3b4c5d6e7f8090", /* 33 */
        "0A1B2C3D4E5F708192A3B4C5D6E7F809",  /* upper case */
        "0a1b2c3d4e5f708192a3b4c5d6e7f80g",
        "0a1b2c3d4e5f708192a3b4c5d6e7f80 ",
        "131052-308T131052-308T131052-30",
    };
    memset(back, 0x55, sizeof back);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(polku_client_key_parse(bad[i], back), POLKU_EINVAL);
        for (size_t j = 0; j < sizeof back; j++)
            assert_int_equal(back[j], 0x55);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_example),
        cmocka_unit_test(test_every_century_sign),
        cmocka_unit_test(test_lower_case_is_canonicalised),
        cmocka_unit_test(test_leap_days),
        cmocka_unit_test(test_wrong_dates),
        cmocka_unit_test(test_dates_agree_with_calendar),
        cmocka_unit_test(test_wrong_check_character),
        cmocka_unit_test(test_individual_numbers),
        cmocka_unit_test(test_length_and_digits),
        cmocka_unit_test(test_problem_texts),
        cmocka_unit_test(test_client_key_known_answer),
        cmocka_unit_test(test_two_agents_same_key),
        cmocka_unit_test(test_new_century_signs_are_different_people),
        cmocka_unit_test(test_key_hex),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
