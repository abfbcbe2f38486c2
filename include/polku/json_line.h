/* json_line.h — a flat JSON object of plain strings and integers, written
 * by hand.
 *
 * Why it exists: the broker renders one line of JSON per feed event for
 * its SSE subscribers, and building it as a jansson object and dumping it
 * cost a fifth of the broker's CPU with 1 000 subscribers streaming
 * (bench/README.md, "SSE subscribers on the broker"). Most such objects
 * are a handful of members whose strings need no escaping at all (ids,
 * organisation names, state names, times). For those this writes the
 * text json_dumps(obj, JSON_COMPACT) would print for the object built
 * member by member in the same order — byte for byte — and refuses
 * everything else, so the caller keeps jansson (which escapes and checks
 * UTF-8) for what is not plain. tests/fuzz/json_line_fuzz.c holds it to
 * jansson's text. */
#ifndef POLKU_JSON_LINE_H
#define POLKU_JSON_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One member: a string (str not NULL) or an integer (str NULL: num). */
typedef struct polku_json_member {
    const char *name;
    const char *str;
    int64_t num;
} polku_json_member;

/* True when s is printed by json_dumps as is, between quotes: printable
 * ASCII (0x20-0x7e) without '"' and '\'. */
bool polku_json_plain(const char *s);

/* {"name":value,...} for the n members in order, as json_dumps with
 * JSON_COMPACT prints the object built from them in that order; names
 * must differ (a jansson object keeps one of each). Malloc'd and
 * NUL-terminated, its length in *len (may be NULL); the caller frees it.
 * NULL when a name or string is not plain (polku_json_plain) or memory
 * ran out: the caller then builds the object with jansson. */
char *polku_json_line(const polku_json_member *m, size_t n, size_t *len);

#endif
