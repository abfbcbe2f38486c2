/* envelope_fuzz.c — fuzz target for the wire decoder.
 *
 * Every frame the broker receives comes from the network, so the decoder
 * must survive any bytes. Beyond "no crash", an accepted frame must
 * re-encode to a canonical form that decodes again to the same bytes:
 * otherwise what the broker logs and forwards would not be what it
 * checked. The replay arena (polku_envelope_decode_in, how the broker
 * decodes replayed events) must give the same verdict and the same bytes.
 * Built as a libFuzzer binary (fuzz_envelope) and as a plain
 * corpus replay test (fuzz_envelope_replay). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int rc, polku_envelope *env, const char *why,
                          size_t why_size)
{
    if (strnlen(why, why_size) == why_size)
        abort(); /* why not terminated */
    if (rc != POLKU_EMALFORMED && rc != POLKU_ETOOLARGE && rc != POLKU_EVERSION)
        abort();
    if ((rc == POLKU_EVERSION) != (env != NULL))
        abort(); /* only a version mismatch hands back the envelope */
    if (env != NULL && env->msg_id.len != 16)
        abort();
}

static uint8_t *encode_or_die(const polku_envelope *env, size_t *len)
{
    uint8_t *buf = NULL;
    if (polku_envelope_encode(env, &buf, len) != POLKU_OK)
        abort();
    return buf;
}

/* decode(encode(env)) must succeed and encode to the same bytes. */
static void check_round_trip(const polku_envelope *env)
{
    size_t len1, len2;
    uint8_t *b1 = encode_or_die(env, &len1);
    polku_envelope *again = NULL;
    if (polku_envelope_decode(b1, len1, POLKU_MAX_FRAME_DEFAULT, &again, NULL,
                              0) != POLKU_OK)
        abort();
    uint8_t *b2 = encode_or_die(again, &len2);
    if (len1 != len2 || memcmp(b1, b2, len1) != 0)
        abort();
    free(b2);
    polku_envelope_free(&again);
    free(b1);
}

/* The same frame decoded in an arena: the same result code and, when
 * accepted, the same canonical bytes as env. The block is small so that
 * large frames take the arena's own-block path too. */
static void check_arena(const uint8_t *data, size_t size, int rc,
                        const polku_envelope *env)
{
    static polku_arena *arena;
    if (!arena && polku_arena_new(1024, &arena) != POLKU_OK)
        abort();
    polku_envelope *in = NULL;
    char why[128];
    int arc = polku_envelope_decode_in(
        arena, data, size, POLKU_MAX_FRAME_DEFAULT, &in, why, sizeof why);
    if (arc != rc || (in != NULL) != (env != NULL))
        abort();
    if (rc == POLKU_OK) {
        size_t len1, len2;
        uint8_t *b1 = encode_or_die(env, &len1);
        uint8_t *b2 = encode_or_die(in, &len2);
        if (len1 != len2 || memcmp(b1, b2, len1) != 0)
            abort();
        free(b1);
        free(b2);
    }
    polku_arena_reset(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    polku_envelope *env = NULL;
    char why[128];
    int rc = polku_envelope_decode(data, size, POLKU_MAX_FRAME_DEFAULT, &env,
                                   why, sizeof why);
    if (rc == POLKU_OK)
        check_round_trip(env);
    else
        check_refusal(rc, env, why, sizeof why);
    check_arena(data, size, rc, env);
    polku_envelope_free(&env);
    return 0;
}
