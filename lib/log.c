/* log.c — levelled logging to stderr (see polku/log.h). */
#include "polku/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "polku/clock.h"
#include "polku/error.h"

polku_log_level polku_log_threshold = POLKU_LOG_INFO;
static char component_name[64] = "polku";

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void polku_log_init(const char *component, polku_log_level threshold)
{
    snprintf(component_name, sizeof component_name, "%s",
             component ? component : "polku");
    polku_log_threshold = threshold;
}

int polku_log_level_parse(const char *text, polku_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error",
                                        "off"};
    for (int i = 0; i <= POLKU_LOG_OFF; i++) {
        if (text && strcasecmp(text, names[i]) == 0) {
            *out = (polku_log_level)i;
            return POLKU_OK;
        }
    }
    return POLKU_EINVAL;
}

void polku_log_write(polku_log_level level, const char *fmt, ...)
{
    if (level < POLKU_LOG_DEBUG || level > POLKU_LOG_ERROR)
        return;
    char when[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms(), when, sizeof when);
    char line[1024];
    int n = snprintf(line, sizeof line, "%s %s %s: ", when, level_names[level],
                     component_name);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per record so lines from several processes do not mix. */
    fprintf(stderr, "%s\n", line);
}

int polku_log_limit_allow(polku_log_limit *l, unsigned per_s, const char *what)
{
    uint64_t now = polku_mono_ms();
    if (now - l->window_ms >= 1000) {
        if (l->suppressed)
            log_warn("%llu more %s not logged in the last %llu ms", l->suppressed,
                     what, (unsigned long long)(now - l->window_ms));
        l->window_ms = now;
        l->lines = 0;
        l->suppressed = 0;
    }
    if (l->lines >= per_s) {
        l->suppressed++;
        return 0;
    }
    l->lines++;
    return 1;
}
