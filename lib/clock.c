/* clock.c — one place for time: clocks, RFC 3339 text and config durations.
 *
 * The wire and the store carry Unix milliseconds; people and the JSON API
 * see RFC 3339 UTC. Parsing is strict (no normalisation of "Feb 30") so a
 * typo in a due date is answered with an error instead of a silently
 * different day. */
#include "polku/clock.h"

#include "polku/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_S UINT64_C(1000)

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * MS_PER_S + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t polku_ms_shift(uint64_t t, int64_t delta)
{
    if (delta < 0 && (uint64_t) - (delta + 1) + 1 > t)
        return 0;
    return delta < 0 ? t - ((uint64_t) - (delta + 1) + 1) : t + (uint64_t)delta;
}

uint64_t polku_now_ms(void)
{
    return read_clock(CLOCK_REALTIME);
}

uint64_t polku_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

/* Up to 9999-12-31T23:59:59.999Z: the four-digit years. */
#define FAST_FORMAT_LIMIT_MS UINT64_C(253402300800000)

static void two_digits(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* The civil date of a day count since 1970-01-01 (proleptic Gregorian, by
 * 400-year eras; days >= 0 here). */
static void civil_from_days(uint64_t days, unsigned *y, unsigned *m,
                            unsigned *d)
{
    uint64_t z = days + 719468;
    uint64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (unsigned)(era * 400 + yoe) + (*m <= 2);
}

/* Every JSON answer, feed event and log line carries several of these:
 * written by hand, not through gmtime_r and snprintf (a tenth of the
 * time); the same text (clock_test compares the two over many values). */
void polku_time_format(uint64_t unix_ms, char *out, size_t out_len)
{
    if (out == NULL || out_len == 0)
        return;
    if (unix_ms >= FAST_FORMAT_LIMIT_MS) {
        time_t secs = (time_t)(unix_ms / MS_PER_S);
        struct tm tm;
        if (gmtime_r(&secs, &tm) == NULL) {
            out[0] = '\0';
            return;
        }
        snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % MS_PER_S));
        return;
    }
    uint64_t secs = unix_ms / MS_PER_S;
    unsigned ms = (unsigned)(unix_ms % MS_PER_S);
    unsigned sod = (unsigned)(secs % 86400);
    unsigned y, m, d;
    civil_from_days(secs / 86400, &y, &m, &d);
    char t[POLKU_TIME_TEXT] = "0000-00-00T00:00:00.000Z";
    two_digits(t, y / 100);
    two_digits(t + 2, y % 100);
    two_digits(t + 5, m);
    two_digits(t + 8, d);
    two_digits(t + 11, sod / 3600);
    two_digits(t + 14, sod / 60 % 60);
    two_digits(t + 17, sod % 60);
    t[20] = (char)('0' + ms / 100);
    two_digits(t + 21, ms % 100);
    size_t n = 24 < out_len - 1 ? 24 : out_len - 1;
    memcpy(out, t, n);
    out[n] = '\0';
}

/* ---- parsing ---- */

/* Reads exactly n decimal digits at *p, advancing it. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool literal(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

#define EXPECTED "expected YYYY-MM-DD or an RFC 3339 time"

/* Writes why (if given) and returns false. */
static bool explain(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool explain(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool parse_date(const char **p, struct tm *tm, char *why, size_t len)
{
    int y, m, d;
    if (!digits(p, 4, &y) || !literal(p, '-') || !digits(p, 2, &m) ||
        !literal(p, '-') || !digits(p, 2, &d))
        return explain(why, len,
                       EXPECTED " (e.g. 2027-06-01 or "
                                "2027-06-01T12:00:00Z)");
    if (m < 1 || m > 12)
        return explain(why, len, "month %d does not exist (01 to 12)", m);
    if (d < 1 || d > days_in_month(y, m))
        return explain(why, len, "day %d does not exist in %s %04d", d,
                       month_names[m - 1], y);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return true;
}

/* "HH:MM:SS"; leap seconds (:60) are rejected. */
static bool parse_clock(const char **p, struct tm *tm, char *why, size_t len)
{
    int h, m, s;
    if (!digits(p, 2, &h) || !literal(p, ':') || !digits(p, 2, &m) ||
        !literal(p, ':') || !digits(p, 2, &s))
        return explain(why, len, "the time after 'T' must be HH:MM:SS");
    if (h > 23)
        return explain(why, len, "hour %02d does not exist (00 to 23)", h);
    if (m > 59)
        return explain(why, len, "minute %02d does not exist (00 to 59)", m);
    if (s > 59)
        return explain(why, len, "second %02d does not exist (00 to 59)", s);
    tm->tm_hour = h;
    tm->tm_min = m;
    tm->tm_sec = s;
    return true;
}

/* Optional ".d+": milliseconds from the first three digits; further
 * digits (micro-, nanoseconds) are accepted and dropped. */
static bool parse_fraction(const char **p, int *ms)
{
    *ms = 0;
    if (!literal(p, '.'))
        return true;
    int n = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (n < 3)
            *ms = *ms * 10 + (**p - '0');
    }
    for (int i = n; i < 3; i++)
        *ms *= 10;
    return n > 0;
}

/* "Z" or "+HH:MM" / "-HH:MM": seconds east of UTC. */
static bool parse_offset(const char **p, long *east)
{
    if (literal(p, 'Z') || literal(p, 'z')) {
        *east = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    if (sign == 0)
        return false;
    (*p)++;
    int h, m;
    if (!digits(p, 2, &h) || !literal(p, ':') || !digits(p, 2, &m))
        return false;
    if (h > 23 || m > 59)
        return false;
    *east = sign * (h * 3600L + m * 60L);
    return true;
}

int polku_time_parse_why(const char *text, uint64_t *unix_ms, bool *date_only,
                         char *why, size_t why_len)
{
    if (text == NULL || unix_ms == NULL) {
        explain(why, why_len, EXPECTED);
        return POLKU_EINVAL;
    }
    const char *p = text;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    long east = 0;
    if (!parse_date(&p, &tm, why, why_len))
        return POLKU_EINVAL;
    bool only_date = *p == '\0';
    if (!only_date) {
        if (!(literal(&p, 'T') || literal(&p, 't'))) {
            explain(why, why_len,
                    EXPECTED " (a time follows the date after "
                             "'T')");
            return POLKU_EINVAL;
        }
        if (!parse_clock(&p, &tm, why, why_len))
            return POLKU_EINVAL;
        if (!parse_fraction(&p, &ms)) {
            explain(why, why_len,
                    "a fraction of a second needs digits "
                    "after '.'");
            return POLKU_EINVAL;
        }
        if (!parse_offset(&p, &east) || *p != '\0') {
            explain(why, why_len,
                    "the time must end in its offset from UTC: "
                    "Z or +HH:MM or -HH:MM");
            return POLKU_EINVAL;
        }
    }
    time_t secs = timegm(&tm);
    long long utc = (long long)secs - east;
    if (utc < 0) { /* before 1970: not a Unix millisecond */
        explain(why, why_len, "times before 1970 are not accepted");
        return POLKU_EINVAL;
    }
    *unix_ms = (uint64_t)utc * MS_PER_S + (uint64_t)ms;
    if (date_only)
        *date_only = only_date;
    return POLKU_OK;
}

int polku_time_parse(const char *text, uint64_t *unix_ms)
{
    return polku_time_parse_why(text, unix_ms, NULL, NULL, 0);
}

/* ---- Europe/Helsinki ---- */

/* Day of the month of the last Sunday of month (1..12) in year. */
static int last_sunday(int year, int month)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = days_in_month(year, month);
    time_t t = timegm(&tm);
    struct tm out;
    gmtime_r(&t, &out);
    return out.tm_mday - out.tm_wday;
}

/* Helsinki keeps EET (UTC+2) and, under the EU rule (since 1996), EEST
 * (UTC+3) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
 * last Sunday of October, i.e. from 03:00 to 04:00 local time: far from
 * midnight, so a day's end is in summer time exactly when the day is on
 * or after the March Sunday and before the October one. */
uint64_t polku_helsinki_end_of_day(uint64_t unix_ms)
{
    time_t secs = (time_t)(unix_ms / MS_PER_S);
    struct tm day;
    gmtime_r(&secs, &day);
    int year = day.tm_year + 1900, month = day.tm_mon + 1;
    int md = month * 100 + day.tm_mday;
    bool summer =
        md >= 300 + last_sunday(year, 3) && md < 1000 + last_sunday(year, 10);
    day.tm_hour = 23;
    day.tm_min = 59;
    day.tm_sec = 59;
    long long local = (long long)timegm(&day);
    long long utc = local - (summer ? 3 : 2) * 3600LL;
    return (uint64_t)utc * MS_PER_S + 999;
}

/* ---- durations ---- */

static bool unit_ms(const char *unit, uint64_t *ms)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {
        {"ms", 1},
        {"s", MS_PER_S},
        {"m", 60 * MS_PER_S},
        {"h", 3600 * MS_PER_S},
        {"d", 86400 * MS_PER_S},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].name) == 0) {
            *ms = units[i].ms;
            return true;
        }
    }
    return false;
}

int polku_duration_parse(const char *text, uint64_t *ms)
{
    if (text == NULL || ms == NULL)
        return POLKU_EINVAL;
    const char *p = text;
    uint64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return POLKU_EINVAL;
        n = n * 10 + digit;
    }
    uint64_t scale;
    if (p == text || n == 0 || !unit_ms(p, &scale))
        return POLKU_EINVAL;
    if (n > UINT64_MAX / scale)
        return POLKU_EINVAL;
    *ms = n * scale;
    return POLKU_OK;
}
