/* clock.h — wall-clock time and its text forms.
 *
 * Protocol and stored times are Unix milliseconds (uint64). The API shows
 * them as RFC 3339 UTC with milliseconds. Durations in configs use units
 * s, m, h, d so tests can set SLAs in seconds. */
#ifndef POLKU_CLOCK_H
#define POLKU_CLOCK_H

#include <stdint.h>
#include <stddef.h>

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

/* Parses a duration "30s", "15m", "36h", "5d" (a positive integer and one
 * unit; "500ms" too) into milliseconds. POLKU_OK or POLKU_EINVAL. */
int polku_duration_parse(const char *text, uint64_t *ms);

#endif
