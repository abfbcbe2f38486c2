/* json_writer.c — JSON text straight into a buffer (see json_writer.h). */
#include "polku/json_writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"

void jw_init(jw *w)
{
    *w = (jw){0};
}

void jw_fini(jw *w)
{
    free(w->buf);
    *w = (jw){0};
}

bool jw_ok(const jw *w)
{
    return !w->failed;
}

char *jw_take(jw *w, size_t *len)
{
    char *out = w->failed ? NULL : w->buf;
    *len = w->failed ? 0 : w->len;
    if (w->failed)
        free(w->buf);
    *w = (jw){0};
    return out;
}

size_t json_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (unsigned i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Room for n more bytes and the NUL. */
static bool reserve(jw *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->len + n + 1 <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 1024; /* a referral in one go */
    while (cap < w->len + n + 1)
        cap *= 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->failed = true;
        return false;
    }
    w->buf = b;
    w->cap = cap;
    return true;
}

static void put(jw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* The comma before a value that is not the first in its container. */
static void separate(jw *w)
{
    if (w->comma)
        put(w, ",", 1);
    w->comma = true;
}

void jw_begin_object(jw *w)
{
    separate(w);
    put(w, "{", 1);
    w->comma = false;
}

void jw_end_object(jw *w)
{
    put(w, "}", 1);
    w->comma = true;
}

void jw_begin_array(jw *w)
{
    separate(w);
    put(w, "[", 1);
    w->comma = false;
}

void jw_end_array(jw *w)
{
    put(w, "]", 1);
    w->comma = true;
}

static void quoted(jw *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (!reserve(w, n + 2))
        return;
    put(w, "\"", 1);
    while (p < end && !w->failed) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        put(w, (const char *)run, (size_t)(p - run));
        if (p >= end)
            break;
        char esc[8];
        switch (*p) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04X", *p);
                put(w, esc, 6);
            } else {
                size_t k = json_utf8_seq(p, end);
                if (!k) {
                    w->failed = true;
                    return;
                }
                put(w, (const char *)p, k);
                p += k;
                continue;
            }
        }
        p++;
    }
    put(w, "\"", 1);
}

void jw_key(jw *w, const char *key)
{
    separate(w);
    quoted(w, key, strlen(key));
    put(w, ":", 1);
    w->comma = false;
}

void jw_string_n(jw *w, const char *s, size_t n)
{
    separate(w);
    quoted(w, s, n);
}

void jw_string(jw *w, const char *s)
{
    if (!s) {
        w->failed = true; /* as json_string(NULL) */
        return;
    }
    jw_string_n(w, s, strlen(s));
}

void jw_int(jw *w, long long v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%lld", v);
    separate(w);
    put(w, t, (size_t)n);
}

void jw_bool(jw *w, bool v)
{
    separate(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw *w)
{
    separate(w);
    put(w, "null", 4);
}

void jw_time(jw *w, uint64_t ms)
{
    if (!ms) {
        jw_null(w);
        return;
    }
    char t[POLKU_TIME_TEXT];
    polku_time_format(ms, t, sizeof t);
    jw_string(w, t);
}

void jw_raw(jw *w, const char *json, size_t n)
{
    separate(w);
    put(w, json, n);
}
