/* json_line.c — see polku/json_line.h. */
#include "polku/json_line.h"

#include <stdlib.h>
#include <string.h>

bool polku_json_plain(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* v in decimal, as jansson's "%lld": at most 20 characters. */
static size_t put_int(char *out, int64_t v)
{
    char tmp[20];
    size_t n = 0, at = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[at++] = '-';
    while (n)
        out[at++] = tmp[--n];
    return at;
}

char *polku_json_line(const polku_json_member *m, size_t n, size_t *len)
{
    size_t cap = 3; /* {} and the NUL */
    for (size_t i = 0; i < n; i++) {
        if (!polku_json_plain(m[i].name) ||
            (m[i].str && !polku_json_plain(m[i].str)))
            return NULL;
        cap += strlen(m[i].name) + 4; /* "": and the comma */
        cap += m[i].str ? strlen(m[i].str) + 2 : 21;
    }
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t at = 0;
    out[at++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[at++] = ',';
        size_t k = strlen(m[i].name);
        out[at++] = '"';
        memcpy(out + at, m[i].name, k);
        at += k;
        out[at++] = '"';
        out[at++] = ':';
        if (m[i].str) {
            size_t v = strlen(m[i].str);
            out[at++] = '"';
            memcpy(out + at, m[i].str, v);
            at += v;
            out[at++] = '"';
        } else {
            at += put_int(out + at, m[i].num);
        }
    }
    out[at++] = '}';
    out[at] = '\0';
    if (len)
        *len = at;
    return out;
}
