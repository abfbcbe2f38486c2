/* id.c — object ids that need no coordination and sort by creation time.
 *
 * Messages, referrals, consents and handovers are keyed by these ids in
 * LMDB, so their byte order must follow time, and two agents must never
 * make the same id. Layout and text form follow ULID (see polku/id.h).
 *
 * Thread safety: the "last id" state that makes ids monotonic within a
 * millisecond is shared by the whole process and guarded by a mutex, so
 * ids from two threads in the same millisecond are still distinct and
 * ordered by the moment they were made. */
#include "polku/id.h"

#include "polku/error.h"
#include "polku/random.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define TIME_BYTES 6
#define TIME_MAX ((UINT64_C(1) << 48) - 1)
#define TEXT_CHARS (POLKU_ID_TEXT - 1)
/* 26 characters carry 130 bits; the first two are always zero. */
#define PAD_BITS 2

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static bool have_last;
static uint64_t last_ms;
static polku_id last_id;

static void put_time(polku_id *id, uint64_t ms)
{
    for (int i = TIME_BYTES - 1; i >= 0; i--) {
        id->b[i] = (uint8_t)(ms & 0xff);
        ms >>= 8;
    }
}

/* Adds one to the id as a 128-bit big-endian number. The random part
 * overflowing into the time part is astronomically unlikely (the 80 random
 * bits would have to start within a few thousand of their maximum); if it
 * happens the id stays unique and ordered, one millisecond late. */
static void increment(polku_id *id)
{
    for (int i = POLKU_ID_BYTES - 1; i >= 0; i--) {
        if (++id->b[i] != 0)
            return;
    }
}

polku_id polku_id_new(uint64_t now_ms)
{
    if (now_ms > TIME_MAX)
        now_ms = TIME_MAX;
    polku_id id;
    pthread_mutex_lock(&last_lock);
    if (have_last && now_ms == last_ms) {
        id = last_id;
        increment(&id);
    } else {
        put_time(&id, now_ms);
        polku_random_bytes(id.b + TIME_BYTES, POLKU_ID_BYTES - TIME_BYTES);
    }
    have_last = true;
    last_ms = now_ms;
    last_id = id;
    pthread_mutex_unlock(&last_lock);
    return id;
}

uint64_t polku_id_time_ms(const polku_id *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < TIME_BYTES; i++)
        ms = (ms << 8) | id->b[i];
    return ms;
}

/* Bit pos of the 130-bit text stream; the PAD_BITS leading bits are 0. */
static unsigned stream_bit(const polku_id *id, int pos)
{
    pos -= PAD_BITS;
    if (pos < 0)
        return 0;
    return (id->b[pos / 8] >> (7 - pos % 8)) & 1u;
}

static void set_stream_bit(polku_id *id, int pos)
{
    pos -= PAD_BITS;
    id->b[pos / 8] |= (uint8_t)(0x80u >> (pos % 8));
}

void polku_id_format(const polku_id *id, char out[POLKU_ID_TEXT])
{
    for (int c = 0; c < TEXT_CHARS; c++) {
        unsigned v = 0;
        for (int k = 0; k < 5; k++)
            v = (v << 1) | stream_bit(id, c * 5 + k);
        out[c] = crockford[v];
    }
    out[TEXT_CHARS] = '\0';
}

const char *polku_id_text(const uint8_t bytes[16], char out[POLKU_ID_TEXT])
{
    polku_id id;
    memcpy(id.b, bytes, 16);
    polku_id_format(&id, out);
    return out;
}

/* Value of one Crockford character, or -1. */
static int char_value(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
    if (ch == 'I' || ch == 'L')
        return 1;
    if (ch == 'O')
        return 0;
    const char *p = ch != '\0' ? strchr(crockford, ch) : NULL;
    return p != NULL ? (int)(p - crockford) : -1;
}

int polku_id_parse(const char *text, polku_id *out)
{
    if (text == NULL || out == NULL)
        return POLKU_EINVAL;
    if (strnlen(text, TEXT_CHARS + 1) != TEXT_CHARS)
        return POLKU_EINVAL;
    polku_id id;
    memset(&id, 0, sizeof id);
    for (int c = 0; c < TEXT_CHARS; c++) {
        int v = char_value(text[c]);
        if (v < 0)
            return POLKU_EINVAL;
        if (c == 0 && v >= (1 << (5 - PAD_BITS)))
            return POLKU_EINVAL; /* more than 128 bits */
        for (int k = 0; k < 5; k++) {
            if ((v & (0x10 >> k)) != 0 && c * 5 + k >= PAD_BITS)
                set_stream_bit(&id, c * 5 + k);
        }
    }
    *out = id;
    return POLKU_OK;
}
