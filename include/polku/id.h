/* id.h — 128-bit time-ordered object ids (ULID layout).
 *
 * 48-bit big-endian Unix milliseconds followed by 80 random bits (libsodium
 * randombytes). Ids made in the same millisecond by one process are
 * monotonic: the random part is incremented. Binary form sorts like time,
 * so it serves directly as an LMDB key. Text form: 26 characters of
 * Crockford base32, upper case. */
#ifndef POLKU_ID_H
#define POLKU_ID_H

#include <stdint.h>
#include <stddef.h>

#define POLKU_ID_BYTES 16
#define POLKU_ID_TEXT 27 /* 26 characters + NUL */

typedef struct polku_id {
    uint8_t b[POLKU_ID_BYTES];
} polku_id;

/* A new id for time now_ms. Requires sodium_init() to have run. */
polku_id polku_id_new(uint64_t now_ms);

/* Milliseconds part of id. */
uint64_t polku_id_time_ms(const polku_id *id);

/* Writes the 26-character text and a NUL into out. */
void polku_id_format(const polku_id *id, char out[POLKU_ID_TEXT]);

/* The same for an id held as 16 bytes (a record's or a message's field);
 * returns out, so it can stand in a log line's arguments. */
const char *polku_id_text(const uint8_t bytes[16], char out[POLKU_ID_TEXT]);

/* Parses 26 Crockford base32 characters (case-insensitive; I, L -> 1,
 * O -> 0). Returns POLKU_OK or POLKU_EINVAL (wrong length, bad character,
 * overflow of the first character). */
int polku_id_parse(const char *text, polku_id *out);

#endif
