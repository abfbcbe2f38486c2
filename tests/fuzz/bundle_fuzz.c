/* bundle_fuzz.c — fuzz target for frames of many messages (polku/outq.h).
 *
 * Two ends of the same wire. As a receiver (broker or agent) sees it: the
 * input is a frame; if it decodes as a Bundle, each message in it is
 * decoded on its own, and a Bundle inside a Bundle is never accepted by
 * the codec as a message the receivers would act on twice. As a sender
 * sees it: the input is read as a list of messages (a destination byte, a
 * length byte, the bytes) and a size limit; whatever is queued must come
 * out of the flush complete, each destination's messages in order, in
 * frames that decode, and never more messages in a frame than the codec
 * accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"
#include "polku/outq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DESTS 3

typedef struct expected {
    const uint8_t *data[DESTS][4096];
    size_t len[DESTS][4096];
    size_t n[DESTS];
    size_t got[DESTS];
} expected;

static void take(expected *x, int dest, const uint8_t *data, size_t len)
{
    size_t i = x->got[dest]++;
    if (i >= x->n[dest] || x->len[dest][i] != len ||
        memcmp(x->data[dest][i], data, len) != 0)
        abort(); /* lost, reordered or altered */
}

static bool sink_bundles(void *arg, int dest)
{
    (void)arg;
    return dest != 2; /* destination 2 never takes bundles */
}

/* A message of the list starts with 'm' (set by the harness), so a frame
 * is either one message or an encoded Bundle (whose first byte is a tag
 * other than 'm'). */
static int sink_send(void *arg, int dest, const uint8_t *data, size_t len)
{
    expected *x = arg;
    if (len > 0 && data[0] == 'm') {
        take(x, dest, data, len);
        return 0;
    }
    polku_envelope *env = NULL;
    if (dest == 2 ||
        polku_envelope_decode(data, len, SIZE_MAX, &env, NULL, 0) != POLKU_OK ||
        env->body_case != POLKU__ENVELOPE__BODY_BUNDLE)
        abort();
    for (size_t i = 0; i < env->bundle->n_messages; i++)
        take(x, dest, env->bundle->messages[i].data,
             env->bundle->messages[i].len);
    polku_envelope_free(&env);
    return 0;
}

static void as_sender(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    static expected x;
    memset(&x, 0, sizeof x);
    size_t limit = (size_t)data[0] * 4; /* 0: the default */
    polku_outq *q = NULL;
    if (polku_outq_new(limit, &q) != POLKU_OK)
        abort();
    static uint8_t copy[1 << 16];
    size_t used = 0;
    size_t at = 1;
    while (at + 2 <= size) {
        int dest = data[at] % DESTS;
        size_t len = data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        if (x.n[dest] == 4096 || used + len + 1 > sizeof copy)
            break;
        uint8_t *m = copy + used; /* 'm' and the bytes */
        m[0] = 'm';
        memcpy(m + 1, data + at, len);
        used += len + 1;
        at += len;
        x.data[dest][x.n[dest]] = m;
        x.len[dest][x.n[dest]] = len + 1;
        x.n[dest]++;
        if (polku_outq_add(q, dest, m, len + 1, 0) != POLKU_OK)
            abort();
    }
    polku_outq_sink sink = {sink_bundles, sink_send, NULL, &x, "kela"};
    polku_outq_flush(q, &sink);
    for (int d = 0; d < DESTS; d++)
        if (x.got[d] != x.n[d])
            abort(); /* something queued did not leave */
    if (polku_outq_pending(q) != 0)
        abort();
    polku_outq_free(&q);
}

static void as_receiver(const uint8_t *data, size_t size)
{
    polku_envelope *env = NULL;
    char why[128];
    if (polku_envelope_decode(data, size, POLKU_MAX_FRAME_DEFAULT, &env, why,
                              sizeof why) != POLKU_OK) {
        polku_envelope_free(&env);
        return;
    }
    if (env->body_case == POLKU__ENVELOPE__BODY_BUNDLE) {
        if (env->bundle->n_messages == 0 ||
            env->bundle->n_messages > POLKU_BUNDLE_MAX_MESSAGES)
            abort();
        for (size_t i = 0; i < env->bundle->n_messages; i++) {
            polku_envelope *inner = NULL;
            int rc = polku_envelope_decode(
                env->bundle->messages[i].data, env->bundle->messages[i].len,
                POLKU_MAX_FRAME_DEFAULT, &inner, why, sizeof why);
            if (rc != POLKU_OK && rc != POLKU_EMALFORMED &&
                rc != POLKU_ETOOLARGE && rc != POLKU_EVERSION)
                abort();
            polku_envelope_free(&inner);
        }
    }
    polku_envelope_free(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_receiver(data, size);
    as_sender(data, size);
    return 0;
}
