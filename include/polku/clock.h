/* clock.h — wall-clock time and its text forms.
 *
 * Protocol and stored times are Unix milliseconds (uint64). The API shows
 * them as RFC 3339 UTC with milliseconds. Durations in configs use units
 * s, m, h, d so tests can set SLAs in seconds. */
#ifndef POLKU_CLOCK_H
#define POLKU_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLKU_TIME_TEXT 32

/* Unix time in milliseconds (CLOCK_REALTIME). */
uint64_t polku_now_ms(void);

/* Monotonic milliseconds (CLOCK_MONOTONIC), for deadlines and timers. */
uint64_t polku_mono_ms(void);

/* t moved by delta milliseconds (a clock offset), 0 rather than below. */
uint64_t polku_ms_shift(uint64_t t, int64_t delta);

/* "2026-11-22T14:00:00.123Z" into out (>= POLKU_TIME_TEXT bytes). */
void polku_time_format(uint64_t unix_ms, char *out, size_t out_len);

/* Parses RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)", or a
 * plain date "YYYY-MM-DD" (midnight UTC). Returns POLKU_OK or POLKU_EINVAL. */
int polku_time_parse(const char *text, uint64_t *unix_ms);

/* The same parser, saying why when it refuses: why (if not NULL) gets one
 * phrase naming the part that is wrong and what was expected ("day 30 does
 * not exist in February 2027", "expected YYYY-MM-DD or an RFC 3339 time
 * (e.g. ...)"); no quote of the text. *date_only (if not NULL) is true
 * when text was a plain date. */
int polku_time_parse_why(const char *text, uint64_t *unix_ms, bool *date_only,
                         char *why, size_t why_len);

/* The last millisecond (23:59:59.999 local time) in Europe/Helsinki of
 * the UTC calendar day holding unix_ms: for a plain date as parsed above,
 * the end of that day in Finland. Summer time follows the EU rule. */
uint64_t polku_helsinki_end_of_day(uint64_t unix_ms);

/* Parses a duration "30s", "15m", "36h", "5d" (a positive integer and one
 * unit; "500ms" too) into milliseconds. POLKU_OK or POLKU_EINVAL. */
int polku_duration_parse(const char *text, uint64_t *ms);

#endif
