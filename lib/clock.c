/* clock.c — one place for time: clocks, RFC 3339 text and config durations.
 *
 * The wire and the store carry Unix milliseconds; people and the JSON API
 * see RFC 3339 UTC. Parsing is strict (no normalisation of "Feb 30") so a
 * typo in a due date is answered with an error instead of a silently
 * different day. */
#include "polku/clock.h"

#include "polku/error.h"

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
    if (delta < 0 && (uint64_t)-(delta + 1) + 1 > t)
        return 0;
    return delta < 0 ? t - ((uint64_t)-(delta + 1) + 1) : t + (uint64_t)delta;
}

uint64_t polku_now_ms(void)
{
    return read_clock(CLOCK_REALTIME);
}

uint64_t polku_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

void polku_time_format(uint64_t unix_ms, char *out, size_t out_len)
{
    if (out == NULL || out_len == 0)
        return;
    time_t secs = (time_t)(unix_ms / MS_PER_S);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        out[0] = '\0';
        return;
    }
    snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % MS_PER_S));
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

static bool parse_date(const char **p, struct tm *tm)
{
    int y, m, d;
    if (!digits(p, 4, &y) || !literal(p, '-') || !digits(p, 2, &m) ||
        !literal(p, '-') || !digits(p, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return true;
}

/* "HH:MM:SS"; leap seconds (:60) are rejected. */
static bool parse_clock(const char **p, struct tm *tm)
{
    int h, m, s;
    if (!digits(p, 2, &h) || !literal(p, ':') || !digits(p, 2, &m) ||
        !literal(p, ':') || !digits(p, 2, &s))
        return false;
    if (h > 23 || m > 59 || s > 59)
        return false;
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

int polku_time_parse(const char *text, uint64_t *unix_ms)
{
    if (text == NULL || unix_ms == NULL)
        return POLKU_EINVAL;
    const char *p = text;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    long east = 0;
    if (!parse_date(&p, &tm))
        return POLKU_EINVAL;
    if (*p != '\0') {
        if (!(literal(&p, 'T') || literal(&p, 't')) || !parse_clock(&p, &tm) ||
            !parse_fraction(&p, &ms) || !parse_offset(&p, &east) || *p != '\0')
            return POLKU_EINVAL;
    }
    time_t secs = timegm(&tm);
    long long utc = (long long)secs - east;
    if (utc < 0)
        return POLKU_EINVAL; /* before 1970: not a Unix millisecond */
    *unix_ms = (uint64_t)utc * MS_PER_S + (uint64_t)ms;
    return POLKU_OK;
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
