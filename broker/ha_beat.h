/* ha_beat.h — the heartbeat between the two brokers of a pair (PairBeat in
 * proto/polku.proto), encoded and checked.
 *
 * Why on its own: it is the one input a broker takes from its peer rather
 * than from an agent, so it gets its own decoder with a fuzz target
 * (tests/fuzz/pair_beat_fuzz.c); a beat that does not decode, or carries a
 * state or text out of range, is dropped and never moves the state
 * machine (ha.h). */
#ifndef POLKU_BROKER_HA_BEAT_H
#define POLKU_BROKER_HA_BEAT_H

#include <stddef.h>
#include <stdint.h>

#define HA_BEAT_VERSION 1
#define HA_LISTEN_MAX 255

typedef struct ha_beat {
    uint32_t state; /* ha_state 1..4 (ha.h) */
    uint32_t role;  /* ha_role 1..2 */
    char listen[HA_LISTEN_MAX + 1];
    uint64_t epoch;
    uint64_t generation; /* ha.h */
} ha_beat;

/* Encodes b into buf (cap bytes). Returns the length, 0 if it does not
 * fit. */
size_t ha_beat_encode(const ha_beat *b, uint8_t *buf, size_t cap);

/* Decodes and checks a beat. 0 OK; -1 with why set (undecodable, another
 * version, a state or role out of range, a listen address too long or not
 * printable). */
int ha_beat_decode(const uint8_t *data, size_t len, ha_beat *out, char *why,
                   size_t why_len);

#endif
