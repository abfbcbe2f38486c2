/* json_writer.h — JSON text written straight into a buffer, for the
 * texts on the hot path: the agent's answers (a created referral, a
 * batch's results, /v1/events) and the broker's feed events.
 *
 * Building a jansson tree only to dump it cost an allocation per value
 * and a pass over the tree; these answers have a fixed shape, so they are
 * written as they are read from the record. Strings are escaped as
 * json_dumps(JSON_COMPACT) escapes them; a string that is not valid UTF-8
 * makes the writer fail (jw_ok false) rather than send broken JSON, and
 * the caller answers through jansson instead. */
#ifndef POLKU_JSON_WRITER_H
#define POLKU_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jw {
    char *buf; /* malloc'd, NUL-terminated; caller owns after jw_take */
    size_t len, cap;
    bool failed; /* out of memory or invalid UTF-8 */
    bool comma;  /* the next member or element needs a comma first */
} jw;

void jw_init(jw *w);
void jw_fini(jw *w);
/* The text (w->len bytes), or NULL if anything failed; w is emptied. */
char *jw_take(jw *w, size_t *len);
bool jw_ok(const jw *w);

void jw_begin_object(jw *w);
void jw_end_object(jw *w);
void jw_begin_array(jw *w);
void jw_end_array(jw *w);
/* A member's key; the value follows with one of the calls below. */
void jw_key(jw *w, const char *key);
void jw_string(jw *w, const char *s);
void jw_string_n(jw *w, const char *s, size_t n);
void jw_int(jw *w, long long v);
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
/* A time as polku_json_time writes it: null for 0, else the UTC text. */
void jw_time(jw *w, uint64_t ms);
/* Text that is already JSON (a value). */
void jw_raw(jw *w, const char *json, size_t n);

/* Length of the valid UTF-8 sequence at p (its first byte >= 0x80): 2-4,
 * or 0 when it is not one (overlong, a surrogate, past U+10FFFF, cut off
 * by end). The writer checks what it escapes with this rule, and the
 * agent's reader (agents/api/json_reader.h) what it reads. */
size_t json_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif
