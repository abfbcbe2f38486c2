/* json.h — the JSON shapes broker and agents both render (jansson).
 *
 * Exists so that one rendering of a value is written once: a time is an
 * RFC 3339 UTC string with milliseconds, or null when unknown (0). */
#ifndef POLKU_JSON_H
#define POLKU_JSON_H

#include <jansson.h>
#include <stdint.h>

/* "2026-12-06T01:02:03.456Z" for Unix milliseconds ms, JSON null for 0.
 * A new reference (NULL only if out of memory). */
json_t *polku_json_time(uint64_t ms);

#endif
