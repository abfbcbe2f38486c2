/* json_line.h — a flat JSON object of strings and integers, written
 * without building it.
 *
 * Why it exists: the broker renders one line of JSON per feed event for
 * its SSE subscribers, and building it as a jansson object and dumping it
 * cost a fifth of the broker's CPU with 1 000 subscribers streaming
 * (bench/README.md, "SSE subscribers on the broker"). The line is written
 * by the JSON writer the agent's hot path uses (polku/json_writer.h): the
 * text json_dumps(obj, JSON_COMPACT) prints for the object built member
 * by member in the same order, byte for byte, escapes included.
 * tests/fuzz/json_line_fuzz.c holds it to jansson's text. */
#ifndef POLKU_JSON_LINE_H
#define POLKU_JSON_LINE_H

#include <stddef.h>
#include <stdint.h>

/* One member: a string (str not NULL) or an integer (str NULL: num). */
typedef struct polku_json_member {
    const char *name;
    const char *str;
    int64_t num;
} polku_json_member;

/* {"name":value,...} for the n members in order, as json_dumps with
 * JSON_COMPACT prints the object built from them in that order; names
 * must differ (a jansson object keeps one of each). Malloc'd and
 * NUL-terminated, its length in *len (may be NULL); the caller frees it.
 * NULL when a name or string is not valid UTF-8 (jansson refuses it too)
 * or memory ran out. */
char *polku_json_line(const polku_json_member *m, size_t n, size_t *len);

#endif
