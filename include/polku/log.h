/* log.h — levelled logging to stderr.
 *
 * One line per record: "2026-11-22T14:00:00.123Z INFO  component: message",
 * or with the json format (log_format = json) one JSON object per line for
 * log collectors:
 *   {"time":"2026-11-22T14:00:00.123Z","level":"info","program":"polku-agent",
 *    "org":"kela","event":"referral 01J... received","ids":["01J..."]}
 * "org" is absent for the broker; "ids" lists the object ids (26-character
 * time-ordered ids) the record names.
 * Filtered records cost one comparison; arguments are not formatted.
 * Never log a personal identity code or free text: log org ids, object ids,
 * statuses and counts. */
#ifndef POLKU_LOG_H
#define POLKU_LOG_H

typedef enum polku_log_level {
    POLKU_LOG_DEBUG = 0,
    POLKU_LOG_INFO,
    POLKU_LOG_WARN,
    POLKU_LOG_ERROR,
    POLKU_LOG_OFF
} polku_log_level;

extern polku_log_level polku_log_threshold;

typedef enum polku_log_format {
    POLKU_LOG_TEXT = 0,
    POLKU_LOG_JSON,
} polku_log_format;

/* Sets the threshold and the component name printed on every line
 * (e.g. "broker", "agent kela"). name is copied. */
void polku_log_init(const char *component, polku_log_level threshold);

/* Parses "debug", "info", "warn", "error", "off". Returns POLKU_EINVAL
 * for anything else and leaves *out unchanged. */
int polku_log_level_parse(const char *text, polku_log_level *out);

/* Parses "text" or "json"; POLKU_EINVAL for anything else. */
int polku_log_format_parse(const char *text, polku_log_format *out);

/* The format, and the program and organisation (NULL: none) that json
 * records carry. Strings are copied. */
void polku_log_set_format(polku_log_format format, const char *program,
                          const char *org);

void polku_log_write(polku_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A budget for lines a peer can provoke (refused frames and events): at
 * most per_s lines a second are allowed; the rest are counted, and the
 * first call of a later second logs one warning with how many were left
 * out and what they were (e.g. "refused frames"). Metrics keep the totals.
 * Zero-initialise. */
typedef struct polku_log_limit {
    unsigned long long window_ms; /* monotonic start of the current second */
    unsigned lines;
    unsigned long long suppressed;
} polku_log_limit;

/* True if one more line may be logged now (the caller logs it). */
int polku_log_limit_allow(polku_log_limit *l, unsigned per_s,
                          const char *what);

#define POLKU_LOG(level, ...)                                                  \
    do {                                                                       \
        if ((level) >= polku_log_threshold)                                    \
            polku_log_write((level), __VA_ARGS__);                             \
    } while (0)
#define log_debug(...) POLKU_LOG(POLKU_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) POLKU_LOG(POLKU_LOG_INFO, __VA_ARGS__)
#define log_warn(...) POLKU_LOG(POLKU_LOG_WARN, __VA_ARGS__)
#define log_error(...) POLKU_LOG(POLKU_LOG_ERROR, __VA_ARGS__)

#endif
