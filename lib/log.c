/* log.c — levelled logging to stderr (see polku/log.h). */
#include "polku/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "polku/clock.h"
#include "polku/error.h"

polku_log_level polku_log_threshold = POLKU_LOG_INFO;
static char component_name[64] = "polku";

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const json_levels[] = {"debug", "info", "warn", "error"};
static polku_log_format format = POLKU_LOG_TEXT;
static char program_name[32] = "polku";
static char org_name[33];

int polku_log_format_parse(const char *text, polku_log_format *out)
{
    if (text && strcasecmp(text, "text") == 0)
        *out = POLKU_LOG_TEXT;
    else if (text && strcasecmp(text, "json") == 0)
        *out = POLKU_LOG_JSON;
    else
        return POLKU_EINVAL;
    return POLKU_OK;
}

void polku_log_set_format(polku_log_format f, const char *program,
                          const char *org)
{
    format = f;
    snprintf(program_name, sizeof program_name, "%s",
             program ? program : "polku");
    snprintf(org_name, sizeof org_name, "%s", org ? org : "");
}

static bool is_id_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/* The object ids in text: runs of exactly 26 Crockford base32 characters
 * (id.h), as an array. */
static json_t *ids_in(const char *text)
{
    json_t *ids = json_array();
    for (const char *p = text; *p;) {
        if (!is_id_char(*p)) {
            p++;
            continue;
        }
        const char *q = p;
        while (is_id_char(*q))
            q++;
        bool alone = (p == text || !isalnum((unsigned char)p[-1])) &&
                     !isalnum((unsigned char)*q);
        if (q - p == 26 && alone &&
            strspn(p, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") >= 26)
            json_array_append_new(ids, json_stringn(p, 26));
        p = q;
    }
    return ids;
}

/* One json record on stderr. */
static void write_json(polku_log_level level, const char *when,
                       const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "time", when, "level",
                          json_levels[level], "program", program_name);
    if (o == NULL)
        return;
    if (org_name[0])
        json_object_set_new(o, "org", json_string(org_name));
    json_t *event = json_string(message);
    if (event == NULL) { /* not UTF-8 (a cut or a library's bytes) */
        char clean[1024];
        size_t i = 0;
        for (; message[i] && i < sizeof clean - 1; i++)
            clean[i] = (unsigned char)message[i] < 0x80 ? message[i] : '?';
        clean[i] = '\0';
        event = json_string(clean);
    }
    json_object_set_new(o, "event", event);
    json_object_set_new(o, "ids", ids_in(message));
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (line)
        fprintf(stderr, "%s\n", line);
    free(line);
}

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
    if (format == POLKU_LOG_JSON) {
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        write_json(level, when, message);
        return;
    }
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
