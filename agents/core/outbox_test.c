/* outbox_test.c — windows, acks, backoff and resends of the in-memory outbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "outbox.h"

#define MAX_SENT 4096

typedef struct sink {
    uint64_t seqs[MAX_SENT];
    size_t n;
    bool refuse; /* the socket is full */
} sink;

/* Frames in these tests are the 8-byte sequence itself. */
static int sink_send(void *arg, const uint8_t *data, size_t len)
{
    sink *s = arg;
    if (s->refuse)
        return 1;
    uint64_t seq;
    assert_int_equal(len, sizeof seq);
    memcpy(&seq, data, sizeof seq);
    assert_true(s->n < MAX_SENT);
    s->seqs[s->n++] = seq;
    return 0;
}

static void add(outbox *ob, uint64_t seq, const char *dest)
{
    uint8_t *f = malloc(sizeof seq);
    memcpy(f, &seq, sizeof seq);
    assert_int_equal(outbox_add(ob, seq, dest, 1000 + seq, f, sizeof seq), 0);
}

/* Checks the one destination with pending entries: kela, 2 pending, the
 * oldest created at 1000 + its seq (see add). */
static void count_dests(const char *dest, size_t pending, uint64_t oldest,
                        void *arg)
{
    assert_string_equal(dest, "kela");
    assert_int_equal(pending, 2);
    assert_int_equal(oldest, 1001);
    (*(size_t *)arg)++;
}

static void window_limits_unacknowledged_sends(void **state)
{
    sink s = {0};
    outbox ob;
    outbox_init(&ob, 3, 100, 1000, 5000, sink_send, &s);
    for (uint64_t i = 1; i <= 5; i++)
        add(&ob, i, "kela");
    outbox_pump(&ob, 1000);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seqs[2], 3);
    assert_true(outbox_ack(&ob, 1, "kela"));
    assert_false(outbox_ack(&ob, 1, "kela")); /* a repeated ack */
    outbox_pump(&ob, 1001);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.seqs[3], 4);
    assert_int_equal(outbox_pending(&ob), 4);
    outbox_fini(&ob);
}

static void destinations_are_independent(void **state)
{
    sink s = {0};
    outbox ob;
    outbox_init(&ob, 1, 100, 1000, 5000, sink_send, &s);
    add(&ob, 1, "kela");
    add(&ob, 2, "typ");
    add(&ob, 3, "kela");
    outbox_pump(&ob, 0);
    assert_int_equal(s.n, 2); /* one per destination */
    outbox_retry_later(&ob, "kela", 10);
    assert_true(outbox_ack(&ob, 2, "typ"));
    outbox_pump(&ob, 20); /* kela paused, typ has nothing left */
    assert_int_equal(s.n, 2);
    assert_int_equal(outbox_pending(&ob), 2);
    size_t calls = 0;
    outbox_each_dest(&ob, count_dests, &calls);
    assert_int_equal(calls, 1); /* typ has nothing pending any more */
    outbox_fini(&ob);
}

static void retry_later_backs_off_exponentially_then_resends(void **state)
{
    sink s = {0};
    outbox ob;
    outbox_init(&ob, 10, 100, 400, 60000, sink_send, &s);
    add(&ob, 7, "kela");
    outbox_pump(&ob, 0);
    assert_int_equal(s.n, 1);
    uint64_t now = 0, expected_pause[] = {100, 200, 400, 400};
    for (int i = 0; i < 4; i++) {
        outbox_retry_later(&ob, "kela", now);
        outbox_pump(&ob, now + expected_pause[i] - 1);
        assert_int_equal(s.n, (size_t)(1 + i)); /* still paused */
        now += expected_pause[i];
        outbox_pump(&ob, now);
        assert_int_equal(s.n, (size_t)(2 + i)); /* resent after the pause */
        assert_int_equal(s.seqs[s.n - 1], 7);
    }
    assert_true(outbox_ack(&ob, 7, "kela"));
    assert_int_equal(outbox_pending(&ob), 0);
    outbox_fini(&ob);
}

static void silence_resends_in_order(void **state)
{
    sink s = {0};
    outbox ob;
    outbox_init(&ob, 10, 100, 1000, 500, sink_send, &s);
    for (uint64_t i = 1; i <= 3; i++)
        add(&ob, i, "kela");
    outbox_pump(&ob, 0);
    assert_true(outbox_ack(&ob, 2, "kela"));
    outbox_pump(&ob, 100); /* progress: no resend */
    assert_int_equal(s.n, 3);
    outbox_pump(&ob, 700); /* no ack for 600 ms > 500 */
    assert_int_equal(s.n, 5);
    assert_int_equal(s.seqs[3], 1); /* the unacknowledged, in order */
    assert_int_equal(s.seqs[4], 3);
    outbox_fini(&ob);
}

/* An older sequence owed again (a restored receiver asked for it) after
 * newer ones were sent: it takes its place, is found and acked like any
 * other, and the destination resends in order from the oldest pending. */
static void an_older_entry_owed_again_is_sent_in_order(void **state)
{
    sink s = {0};
    outbox ob;
    outbox_init(&ob, 10, 100, 1000, 5000, sink_send, &s);
    add(&ob, 5, "kela");
    add(&ob, 9, "kela");
    outbox_pump(&ob, 0);
    assert_int_equal(s.n, 2);
    assert_true(outbox_ack(&ob, 5, "kela"));
    add(&ob, 2, "kela"); /* owed again */
    add(&ob, 7, "kela");
    size_t len = 0;
    assert_non_null(outbox_find(&ob, 2, "kela", &len));
    assert_non_null(outbox_find(&ob, 7, "kela", &len));
    outbox_pump(&ob, 1);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.seqs[2], 2);
    assert_int_equal(s.seqs[3], 7);
    assert_int_equal(s.seqs[4], 9); /* unacknowledged: once more */
    assert_true(outbox_ack(&ob, 2, "kela"));
    assert_true(outbox_ack(&ob, 9, "kela"));
    /* 9 owed once more while 7, pending before it, keeps its finished
     * entry in the array: found, acked, once */
    add(&ob, 9, "kela");
    add(&ob, 9, "kela"); /* owed already: nothing more */
    assert_int_equal(outbox_pending(&ob), 2);
    assert_non_null(outbox_find(&ob, 9, "kela", &len));
    assert_true(outbox_ack(&ob, 9, "kela"));
    assert_false(outbox_ack(&ob, 9, "kela"));
    assert_true(outbox_ack(&ob, 7, "kela"));
    assert_int_equal(outbox_pending(&ob), 0);
    outbox_fini(&ob);
}

static void full_socket_stops_and_resumes(void **state)
{
    sink s = {.refuse = true};
    outbox ob;
    outbox_init(&ob, 10, 100, 1000, 5000, sink_send, &s);
    add(&ob, 1, "kela");
    add(&ob, 2, "kela");
    outbox_pump(&ob, 0);
    assert_int_equal(s.n, 0);
    s.refuse = false;
    outbox_pump(&ob, 1);
    assert_int_equal(s.n, 2);
    outbox_rewind_all(&ob); /* a new broker epoch */
    outbox_pump(&ob, 2);
    assert_int_equal(s.n, 4);
    outbox_fini(&ob);
}

static void find_and_many_entries(void **state)
{
    sink s = {0};
    outbox ob;
    size_t len = 0;
    outbox_init(&ob, 100000, 100, 1000, 5000, sink_send, &s);
    for (uint64_t i = 1; i <= 3000; i++)
        add(&ob, i, "kela");
    assert_non_null(outbox_find(&ob, 1500, "kela", &len));
    assert_int_equal(len, 8);
    assert_null(outbox_find(&ob, 1500, "typ", &len));
    for (uint64_t i = 1; i <= 2999; i++) /* acks out of order */
        assert_true(outbox_ack(&ob, i % 2 ? i : 3000 - i, "kela"));
    assert_int_equal(outbox_pending(&ob), 1);
    assert_null(outbox_find(&ob, 1500, "kela", &len));
    assert_non_null(outbox_find(&ob, 3000, "kela", &len));
    outbox_fini(&ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_limits_unacknowledged_sends),
        cmocka_unit_test(destinations_are_independent),
        cmocka_unit_test(retry_later_backs_off_exponentially_then_resends),
        cmocka_unit_test(silence_resends_in_order),
        cmocka_unit_test(an_older_entry_owed_again_is_sent_in_order),
        cmocka_unit_test(full_socket_stops_and_resumes),
        cmocka_unit_test(find_and_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
