/* clock_test.c — time text forms and durations, strict in what they take. */
#include "polku/clock.h"
#include "polku/error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define T_2026_11_22_14 UINT64_C(1795356000000)
#define T_2026_01_01 UINT64_C(1767225600000)

static void test_now_is_plausible(void **state)
{
    uint64_t now = polku_now_ms();
    assert_true(now > UINT64_C(1577836800000)); /* after 2020-01-01 */
    uint64_t a = polku_mono_ms();
    uint64_t b = polku_mono_ms();
    assert_true(a > 0);
    assert_true(b >= a);
}

static void test_format(void **state)
{
    char out[POLKU_TIME_TEXT];
    polku_time_format(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    polku_time_format(T_2026_11_22_14 + 123, out, sizeof out);
    assert_string_equal(out, "2026-11-22T14:00:00.123Z");
    polku_time_format(UINT64_C(1709164800000) + 86399999, out, sizeof out);
    assert_string_equal(out, "2024-02-29T23:59:59.999Z");

    char small[11];
    polku_time_format(T_2026_11_22_14, small, sizeof small);
    assert_string_equal(small, "2026-11-22");     /* truncated, terminated */
    polku_time_format(T_2026_11_22_14, small, 0); /* must not write */
}

/* The hand-written text equals gmtime_r and snprintf's, everywhere from
 * 1970 to 9999 (day and year ends, leap days, 2100 not a leap year) and
 * beyond (where gmtime_r still does it). */
static void reference_format(uint64_t ms, char out[96], size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        out[0] = '\0';
        return;
    }
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ms % 1000));
}

static void check_same(uint64_t ms)
{
    char got[POLKU_TIME_TEXT], want[96];
    polku_time_format(ms, got, sizeof got);
    reference_format(ms, want, sizeof want);
    if (strcmp(got, want))
        fail_msg("%llu ms: \"%s\", expected \"%s\"", (unsigned long long)ms,
                 got, want);
}

static void test_format_equals_gmtime(void **state)
{
    static const uint64_t edges[] = {
        0,
        999,
        1000,
        86399999,
        86400000,
        UINT64_C(951782400000),    /* 2000-02-29 */
        UINT64_C(4107542400000),   /* 2100-03-01 (2100-02-28 + 1 day) */
        UINT64_C(4107456000000),   /* 2100-02-28 */
        UINT64_C(253402300799999), /* 9999-12-31T23:59:59.999 */
        UINT64_C(253402300800000), /* 10000-01-01: the old way */
        UINT64_C(253402300800000) * 4,
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_same(edges[i]);
    /* every day's last and first millisecond of 1970-2200 */
    for (uint64_t day = 0; day < 84000; day++) {
        check_same(day * 86400000);
        if (day)
            check_same(day * 86400000 - 1);
    }
    uint64_t x = 88172645463325252ull; /* xorshift: reproducible */
    for (int i = 0; i < 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_same(x % UINT64_C(260000000000000));
    }
}

struct format_job {
    uint64_t ms;
    const char *want;
    int mismatches;
};

static void *format_many(void *arg)
{
    struct format_job *job = arg;
    for (int i = 0; i < 20000; i++) {
        char out[POLKU_TIME_TEXT];
        polku_time_format(job->ms, out, sizeof out);
        if (strcmp(out, job->want) != 0)
            job->mismatches++;
    }
    return NULL;
}

static void test_format_thread_safe(void **state)
{
    struct format_job a = {0, "1970-01-01T00:00:00.000Z", 0};
    struct format_job b = {T_2026_11_22_14 + 5, "2026-11-22T14:00:00.005Z", 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, format_many, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, format_many, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(a.mismatches, 0);
    assert_int_equal(b.mismatches, 0);
}

static void expect_time(const char *text, uint64_t want)
{
    uint64_t got = 0;
    if (polku_time_parse(text, &got) != POLKU_OK)
        fail_msg("rejected '%s'", text);
    if (got != want)
        fail_msg("'%s': got %llu, want %llu", text, (unsigned long long)got,
                 (unsigned long long)want);
}

static void test_parse_valid(void **state)
{
    expect_time("2026-11-22T14:00:00Z", T_2026_11_22_14);
    expect_time("2026-11-22T14:00:00.123Z", T_2026_11_22_14 + 123);
    expect_time("2026-11-22t14:00:00.1z", T_2026_11_22_14 + 100);
    expect_time("2026-11-22T14:00:00.12Z", T_2026_11_22_14 + 120);
    expect_time("2026-11-22T14:00:00.123456789Z", T_2026_11_22_14 + 123);
    expect_time("2026-11-22T16:00:00+02:00", T_2026_11_22_14);
    expect_time("2026-11-22T12:30:00-01:30", T_2026_11_22_14);
    expect_time("2026-11-22T14:00:00.007+00:00", T_2026_11_22_14 + 7);
    expect_time("2026-01-01", T_2026_01_01);
    expect_time("2024-02-29", UINT64_C(1709164800000));
    expect_time("2000-02-29", UINT64_C(951782400000));
    expect_time("1970-01-01T00:00:00Z", 0);
    expect_time("1970-01-01T02:00:00+02:00", 0);
}

static void test_parse_round_trip(void **state)
{
    uint64_t samples[] = {
        0, 1, 999, 1000, T_2026_11_22_14 + 123, UINT64_C(4102444799999)};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char text[POLKU_TIME_TEXT];
        polku_time_format(samples[i], text, sizeof text);
        expect_time(text, samples[i]);
    }
}

static void test_parse_rejects(void **state)
{
    const char *bad[] = {
        "",
        "garbage",
        "2026-02-30",
        "2026-02-29", /* not a leap year */
        "1900-02-29", /* century, not leap */
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-01-00",
        "2026-1-01",
        "26-01-01",
        "2026/01/01",
        "2026-01-01 ",
        "2026-01-01x",
        "2026-01-01T",
        "2026-01-01T00:00:00", /* no zone */
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z", /* leap seconds not taken */
        "2026-01-01T00:00Z",
        "2026-01-01T00:00:00.Z", /* empty fraction */
        "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00Z ",
        "2026-01-01T00:00:00+0200",
        "2026-01-01T00:00:00+2:00",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+02:60",
        "2026-01-01 00:00:00Z",
        "1969-12-31T23:59:59Z", /* before the epoch */
        "1970-01-01T00:30:00+01:00",
        "1969-12-31",
        "+2026-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t out = 42;
        if (polku_time_parse(bad[i], &out) != POLKU_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(out, 42);
    }
    uint64_t out;
    assert_int_equal(polku_time_parse(NULL, &out), POLKU_EINVAL);
}

static void expect_duration(const char *text, uint64_t want)
{
    uint64_t got = 0;
    if (polku_duration_parse(text, &got) != POLKU_OK)
        fail_msg("rejected '%s'", text);
    if (got != want)
        fail_msg("'%s': got %llu, want %llu", text, (unsigned long long)got,
                 (unsigned long long)want);
}

static void test_duration_valid(void **state)
{
    expect_duration("500ms", 500);
    expect_duration("30s", 30000);
    expect_duration("15m", 900000);
    expect_duration("36h", UINT64_C(129600000));
    expect_duration("5d", UINT64_C(432000000));
    expect_duration("1ms", 1);
    expect_duration("007s", 7000);
    expect_duration("18446744073709551615ms", UINT64_MAX);
    expect_duration("18446744073709551s", UINT64_C(18446744073709551000));
}

static void test_duration_rejects(void **state)
{
    const char *bad[] = {
        "",
        "0s",
        "0ms",
        "-5s",
        "+5s",
        "5",
        "s",
        "5x",
        "5sec",
        "5S",
        "5 s",
        " 5s",
        "5s ",
        "1.5h",
        "5ms5",
        "18446744073709551616ms", /* digits overflow */
        "99999999999999999999999s",
        "18446744073709552s", /* multiplication overflow */
        "213503982335d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t out = 42;
        if (polku_duration_parse(bad[i], &out) != POLKU_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(out, 42);
    }
    uint64_t out;
    assert_int_equal(polku_duration_parse(NULL, &out), POLKU_EINVAL);
}

/* A clock offset moves a time either way, never below 0. */
static void test_ms_shift(void **state)
{
    (void)state;
    assert_int_equal(polku_ms_shift(1000, 500), 1500);
    assert_int_equal(polku_ms_shift(1000, -400), 600);
    assert_int_equal(polku_ms_shift(1000, -1000), 0);
    assert_int_equal(polku_ms_shift(1000, -1001), 0);
    assert_int_equal(polku_ms_shift(5, INT64_MIN), 0);
    assert_true(polku_ms_shift(UINT64_MAX - 1, -1) == UINT64_MAX - 2);
}

static void expect_why(const char *text, const char *want)
{
    uint64_t ms = 42;
    char why[160] = "";
    assert_int_equal(polku_time_parse_why(text, &ms, NULL, why, sizeof why),
                     POLKU_EINVAL);
    assert_int_equal(ms, 42); /* untouched */
    if (strstr(why, want) == NULL)
        fail_msg("'%s': got '%s', want '%s'", text, why, want);
}

static void test_parse_says_why(void **state)
{
    (void)state;
    expect_why("2027-02-30", "day 30 does not exist in February 2027");
    expect_why("2026-02-29", "day 29 does not exist in February 2026");
    expect_why("2027-04-31", "day 31 does not exist in April 2027");
    expect_why("2027-06-00", "day 0 does not exist in June 2027");
    expect_why("2027-13-01", "month 13 does not exist");
    expect_why("1.6.2027", "expected YYYY-MM-DD or an RFC 3339 time");
    expect_why("", "expected YYYY-MM-DD or an RFC 3339 time");
    expect_why("2027-06-01 12:00:00Z", "a time follows the date after 'T'");
    expect_why("2027-06-01T25:00:00Z", "hour 25 does not exist");
    expect_why("2027-06-01T12:61:00Z", "minute 61 does not exist");
    expect_why("2027-06-01T12:00:60Z", "second 60 does not exist");
    expect_why("2027-06-01T12:00", "the time after 'T' must be HH:MM:SS");
    expect_why("2027-06-01T12:00:00", "Z or +HH:MM or -HH:MM");
    expect_why("2027-06-01T12:00:00.Z", "needs digits after '.'");
    expect_why("1969-12-31T23:00:00Z", "before 1970");
    /* what it accepts, and whether it was a plain date */
    uint64_t ms = 0;
    bool date_only = false;
    assert_int_equal(
        polku_time_parse_why("2027-06-01", &ms, &date_only, NULL, 0), POLKU_OK);
    assert_true(date_only);
    assert_int_equal(ms, 1811808000000ull);
    assert_int_equal(
        polku_time_parse_why("2027-06-01T00:00:00Z", &ms, &date_only, NULL, 0),
        POLKU_OK);
    assert_false(date_only);
}

static void expect_end_of_day(const char *date, const char *want)
{
    uint64_t ms = 0;
    char text[POLKU_TIME_TEXT];
    assert_int_equal(polku_time_parse(date, &ms), POLKU_OK);
    polku_time_format(polku_helsinki_end_of_day(ms), text, sizeof text);
    assert_string_equal(text, want);
}

static void test_helsinki_end_of_day(void **state)
{
    (void)state;
    expect_end_of_day("2027-01-15", "2027-01-15T21:59:59.999Z"); /* EET */
    expect_end_of_day("2027-07-15", "2027-07-15T20:59:59.999Z"); /* EEST */
    /* 2027: summer time from Sunday 28 March to Sunday 31 October */
    expect_end_of_day("2027-03-27", "2027-03-27T21:59:59.999Z");
    expect_end_of_day("2027-03-28", "2027-03-28T20:59:59.999Z");
    expect_end_of_day("2027-10-30", "2027-10-30T20:59:59.999Z");
    expect_end_of_day("2027-10-31", "2027-10-31T21:59:59.999Z");
    expect_end_of_day("2028-02-29", "2028-02-29T21:59:59.999Z");
    expect_end_of_day("2026-12-31", "2026-12-31T21:59:59.999Z");
    /* any time of the day gives the same end */
    uint64_t a = 0, b = 0;
    assert_int_equal(polku_time_parse("2027-07-15T23:59:00Z", &a), POLKU_OK);
    assert_int_equal(polku_time_parse("2027-07-15", &b), POLKU_OK);
    assert_int_equal(polku_helsinki_end_of_day(a),
                     polku_helsinki_end_of_day(b));
}

/* Against the system's time zone database, where it has Helsinki: every
 * day of 2024..2031 ends at 23:59:59 local time. */
static void test_helsinki_matches_tzdata(void **state)
{
    (void)state;
    if (access("/usr/share/zoneinfo/Europe/Helsinki", R_OK) != 0)
        skip();
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "Europe/Helsinki", 1);
    tzset();
    uint64_t day = 0;
    assert_int_equal(polku_time_parse("2024-01-01", &day), POLKU_OK);
    for (int i = 0; i < 8 * 366; i++, day += 86400000ull) {
        uint64_t end = polku_helsinki_end_of_day(day);
        time_t t = (time_t)(end / 1000);
        struct tm local;
        assert_non_null(localtime_r(&t, &local));
        time_t d = (time_t)(day / 1000);
        struct tm utc;
        gmtime_r(&d, &utc);
        if (local.tm_hour != 23 || local.tm_min != 59 || local.tm_sec != 59 ||
            local.tm_mday != utc.tm_mday || end % 1000 != 999)
            fail_msg("day %d: ends at %02d:%02d:%02d local", i, local.tm_hour,
                     local.tm_min, local.tm_sec);
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_is_plausible),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_equals_gmtime),
        cmocka_unit_test(test_format_thread_safe),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_says_why),
        cmocka_unit_test(test_helsinki_end_of_day),
        cmocka_unit_test(test_helsinki_matches_tzdata),
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_rejects),
        cmocka_unit_test(test_ms_shift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
