/* outq_test.c — what a turn queued leaves in order, one frame per
 * destination where bundles are taken; failures are handed back by tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"
#include "polku/outq.h"

#define MAX_SENT 64
#define MAX_MSGS 4096

/* One message as the receiving end sees it: destination and bytes. */
typedef struct seen {
    int dest;
    char text[64];
} seen;

typedef struct fake {
    bool bundles[4];
    int fail_dest; /* sends to it fail with EHOSTUNREACH; -1 none */
    size_t frames;
    size_t bundled_frames;
    seen msgs[MAX_MSGS];
    size_t n_msgs;
    uint64_t failed_tags[MAX_MSGS];
    size_t n_failed;
    polku_outq *q;      /* failed() queues a reply here when set */
    const char *origin; /* expected origin_org of bundles */
} fake;

static bool fake_bundles(void *arg, int dest)
{
    return ((fake *)arg)->bundles[dest];
}

static void note(fake *f, int dest, const uint8_t *data, size_t len)
{
    assert_true(f->n_msgs < MAX_MSGS);
    assert_true(len < sizeof f->msgs[0].text);
    f->msgs[f->n_msgs].dest = dest;
    memcpy(f->msgs[f->n_msgs].text, data, len);
    f->msgs[f->n_msgs].text[len] = '\0';
    f->n_msgs++;
}

/* A frame is either a plain message ("m...") or an encoded Bundle. */
static int fake_send(void *arg, int dest, const uint8_t *data, size_t len)
{
    fake *f = arg;
    if (dest == f->fail_dest)
        return EHOSTUNREACH;
    f->frames++;
    if (len > 0 && data[0] == 'm') {
        note(f, dest, data, len);
        return 0;
    }
    polku_envelope *env = NULL;
    char why[128];
    assert_int_equal(
        polku_envelope_decode(data, len, 1u << 24, &env, why, sizeof why),
        POLKU_OK);
    assert_int_equal(env->body_case, POLKU__ENVELOPE__BODY_BUNDLE);
    assert_string_equal(env->origin_org, f->origin);
    assert_true(f->bundles[dest]);
    assert_true(env->bundle->n_messages >= 2);
    for (size_t i = 0; i < env->bundle->n_messages; i++)
        note(f, dest, env->bundle->messages[i].data,
             env->bundle->messages[i].len);
    f->bundled_frames++;
    polku_envelope_free(&env);
    return 0;
}

static void fake_failed(void *arg, int dest, uint64_t tag, int err)
{
    fake *f = arg;
    assert_int_equal(err, EHOSTUNREACH);
    assert_int_equal(dest, f->fail_dest);
    f->failed_tags[f->n_failed++] = tag;
    if (f->q) { /* like the broker's Nack to the sender */
        char text[32];
        int n =
            snprintf(text, sizeof text, "mnack%llu", (unsigned long long)tag);
        assert_int_equal(polku_outq_add(f->q, 0, text, (size_t)n, 0), POLKU_OK);
    }
}

static polku_outq_sink sink_of(fake *f)
{
    polku_outq_sink s = {fake_bundles, fake_send, fake_failed, f, f->origin};
    return s;
}

static void add(polku_outq *q, int dest, const char *text, uint64_t tag)
{
    assert_int_equal(polku_outq_add(q, dest, text, strlen(text), tag),
                     POLKU_OK);
}

static void alone_is_sent_as_it_is(void **state)
{
    (void)state;
    polku_outq *q = NULL;
    fake f = {.bundles = {true}, .fail_dest = -1, .origin = "org-a"};
    assert_int_equal(polku_outq_new(0, &q), POLKU_OK);
    add(q, 0, "m-one", 1);
    polku_outq_sink s = sink_of(&f);
    assert_int_equal(polku_outq_flush(q, &s), 1);
    assert_int_equal(f.bundled_frames, 0);
    assert_int_equal(f.n_msgs, 1);
    assert_string_equal(f.msgs[0].text, "m-one");
    assert_int_equal(polku_outq_pending(q), 0);
    assert_int_equal(polku_outq_flush(q, &s), 0); /* nothing twice */
    polku_outq_free(&q);
}

static void one_frame_per_destination_in_order(void **state)
{
    (void)state;
    polku_outq *q = NULL;
    fake f = {.bundles = {true, true, false}, .fail_dest = -1, .origin = ""};
    assert_int_equal(polku_outq_new(0, &q), POLKU_OK);
    add(q, 0, "m0-a", 0);
    add(q, 1, "m1-a", 0);
    add(q, 0, "m0-b", 0);
    add(q, 2, "m2-a", 0);
    add(q, 1, "m1-b", 0);
    add(q, 0, "m0-c", 0);
    add(q, 2, "m2-b", 0);
    polku_outq_sink s = sink_of(&f);
    /* 0 and 1 take bundles (one frame each); 2 does not (two frames) */
    assert_int_equal(polku_outq_flush(q, &s), 4);
    assert_int_equal(f.bundled_frames, 2);
    const char *want[] = {"m0-a", "m0-b", "m0-c", "m1-a",
                          "m1-b", "m2-a", "m2-b"};
    const int dest[] = {0, 0, 0, 1, 1, 2, 2};
    assert_int_equal(f.n_msgs, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(f.msgs[i].text, want[i]);
        assert_int_equal(f.msgs[i].dest, dest[i]);
    }
    assert_int_equal(polku_outq_messages(q), 7);
    assert_int_equal(polku_outq_frames(q), 4);
    polku_outq_free(&q);
}

static void size_and_count_limits_split_bundles(void **state)
{
    (void)state;
    polku_outq *q = NULL;
    fake f = {.bundles = {true}, .fail_dest = -1, .origin = "org-b"};
    /* 10-byte messages, at most 35 bytes a bundle: 3 per frame */
    assert_int_equal(polku_outq_new(35, &q), POLKU_OK);
    for (int i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof text, "m-msg-%04d", i);
        add(q, 0, text, 0);
    }
    polku_outq_sink s = sink_of(&f);
    assert_int_equal(polku_outq_flush(q, &s), 4); /* 3+3+3+1 */
    assert_int_equal(f.bundled_frames, 3);
    for (int i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof text, "m-msg-%04d", i);
        assert_string_equal(f.msgs[i].text, text);
    }
    polku_outq_free(&q);

    fake g = {.bundles = {true}, .fail_dest = -1, .origin = "org-b"};
    assert_int_equal(polku_outq_new(1u << 24, &q), POLKU_OK);
    for (int i = 0; i < POLKU_BUNDLE_MAX_MESSAGES + 1; i++)
        add(q, 0, "m", 0);
    s = sink_of(&g);
    assert_int_equal(polku_outq_flush(q, &s), 2); /* 1024 bundled + 1 */
    assert_int_equal(g.bundled_frames, 1);
    assert_int_equal(g.n_msgs, POLKU_BUNDLE_MAX_MESSAGES + 1);
    polku_outq_free(&q);
}

static void failures_come_back_by_tag(void **state)
{
    (void)state;
    polku_outq *q = NULL;
    fake f = {.bundles = {true, true}, .fail_dest = 1, .origin = ""};
    assert_int_equal(polku_outq_new(0, &q), POLKU_OK);
    f.q = q;
    add(q, 1, "m1-a", 11);
    add(q, 0, "m0-a", 0);
    add(q, 1, "m1-b", 12);
    polku_outq_sink s = sink_of(&f);
    assert_int_equal(polku_outq_flush(q, &s), 2);
    assert_int_equal(f.n_failed, 2);
    assert_int_equal(f.failed_tags[0], 11);
    assert_int_equal(f.failed_tags[1], 12);
    /* what the failures queued waits for the next flush */
    assert_int_equal(f.n_msgs, 1);
    assert_int_equal(polku_outq_pending(q), 2);
    f.q = NULL;
    assert_int_equal(polku_outq_flush(q, &s), 1);
    assert_string_equal(f.msgs[1].text, "mnack11");
    assert_string_equal(f.msgs[2].text, "mnack12");
    polku_outq_free(&q);
}

static void dropped_destination_sends_nothing(void **state)
{
    (void)state;
    polku_outq *q = NULL;
    fake f = {.bundles = {true, true}, .fail_dest = -1, .origin = ""};
    assert_int_equal(polku_outq_new(0, &q), POLKU_OK);
    add(q, 1, "m1-a", 0);
    add(q, 0, "m0-a", 0);
    add(q, 1, "m1-b", 0);
    polku_outq_drop(q, 1);
    assert_int_equal(polku_outq_pending(q), 1);
    polku_outq_sink s = sink_of(&f);
    assert_int_equal(polku_outq_flush(q, &s), 1);
    assert_int_equal(f.n_msgs, 1);
    assert_string_equal(f.msgs[0].text, "m0-a");
    polku_outq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alone_is_sent_as_it_is),
        cmocka_unit_test(one_frame_per_destination_in_order),
        cmocka_unit_test(size_and_count_limits_split_bundles),
        cmocka_unit_test(failures_come_back_by_tag),
        cmocka_unit_test(dropped_destination_sends_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
