/* holdback_test.c — what the gate asks of held events: by object, by
 * organisation and by a client's term-beginning events, answered the same
 * after events are held, settled and dropped; waking by key; the bound
 * holds, per origin; an (origin, seq) is held once, and again once it was
 * settled, also after the holdback was empty and its tables freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "holdback.h"
#include "polku/error.h"

static const uint8_t client_a[16] = {0xa1, 1, 2, 3};
static const uint8_t client_b[16] = {0xb1, 1, 2, 3};

/* A PathClosed of client at term (it begins term + 1), from org at seq. */
static int hold_close(holdback *hb, const char *org, uint64_t seq,
                      const uint8_t client[16], uint32_t term)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClosed closed = POLKU__PATH_CLOSED__INIT;
    closed.term = term;
    env.origin_org = (char *)org;
    env.origin_seq = seq;
    env.client_key.data = (uint8_t *)client;
    env.client_key.len = 16;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLOSED;
    env.path_closed = &closed;
    uint8_t data[8] = {(uint8_t)seq, (uint8_t)term};
    return hb_hold(hb, &env, data, sizeof data);
}

static void terms_by_client(void **state)
{
    (void)state;
    holdback *hb = hb_new(100);
    assert_non_null(hb);
    assert_false(hb_holds_term(hb, client_a, 10));
    assert_int_equal(hold_close(hb, "kela", 1, client_a, 4), POLKU_OK); /* 5 */
    assert_int_equal(hold_close(hb, "kela", 2, client_a, 7), POLKU_OK); /* 8 */
    assert_int_equal(hold_close(hb, "typ", 1, client_b, 1), POLKU_OK);  /* 2 */
    assert_int_equal(hold_close(hb, "kela", 2, client_a, 7), POLKU_EEXIST);
    assert_int_equal(hb_count(hb), 3);
    assert_false(hb_holds_term(hb, client_a, 4));
    assert_true(hb_holds_term(hb, client_a, 5));
    assert_true(hb_holds_term(hb, client_a, 100));
    assert_false(hb_holds_term(hb, client_b, 1));
    assert_true(hb_holds_term(hb, client_b, 2));
    assert_true(hb_holds_org(hb, "typ"));
    assert_false(hb_holds_org(hb, "tyokykytiimi"));
    hb_destroy(&hb);
    assert_null(hb);
}

/* Settles the event whose second byte (its term) is *arg. */
static bool settle_term(const uint8_t *data, size_t len, void *arg)
{
    (void)len;
    return data[1] == *(const uint8_t *)arg;
}

static void dropped(const uint8_t *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    (void)arg;
}

static void settled_and_dropped_leave_the_indexes(void **state)
{
    (void)state;
    holdback *hb = hb_new(100);
    assert_int_equal(hold_close(hb, "kela", 1, client_a, 4), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", 2, client_a, 7), POLKU_OK);
    uint8_t which = 4;
    assert_int_equal(hb_sweep(hb, settle_term, &which), 1);
    /* the term-5 event is gone: only the one beginning 8 is held */
    assert_false(hb_holds_term(hb, client_a, 7));
    assert_true(hb_holds_term(hb, client_a, 8));
    assert_true(hb_drop_oldest(hb, dropped, NULL));
    assert_false(hb_holds_term(hb, client_a, 100));
    assert_false(hb_holds_org(hb, "kela"));
    assert_int_equal(hb_count(hb), 0);
    assert_false(hb_drop_oldest(hb, dropped, NULL));
    /* the same client holds again after its entry was freed */
    assert_int_equal(hold_close(hb, "kela", 3, client_a, 1), POLKU_OK);
    assert_true(hb_holds_term(hb, client_a, 2));
    hb_destroy(&hb);
}

static void bounded(void **state)
{
    (void)state;
    holdback *hb = hb_new(2);
    assert_int_equal(hold_close(hb, "kela", 1, client_a, 1), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", 2, client_a, 2), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", 3, client_b, 3), POLKU_EFULL);
    assert_false(hb_holds_term(hb, client_b, 100)); /* the refused one: no */
    assert_false(hb_holds_term(hb, client_a, 1));
    assert_true(hb_holds_term(hb, client_a, 2));
    hb_destroy(&hb);
}

/* Settles every event it is given, counting them. */
static bool settle_all(const uint8_t *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    ++*(int *)arg;
    return true;
}

/* Holds on to every event it is given, counting them. */
static bool settle_none(const uint8_t *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    ++*(int *)arg;
    return false;
}

/* Waking a client readies only its events; each is decided once per wake,
 * and one that still waits is woken again by the next wake. */
static void woken_by_their_client(void **state)
{
    (void)state;
    holdback *hb = hb_new(100);
    assert_int_equal(hold_close(hb, "kela", 1, client_a, 4), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", 2, client_b, 1), POLKU_OK);
    assert_int_equal(hold_close(hb, "typ", 1, client_a, 7), POLKU_OK);
    assert_false(hb_any_ready(hb));
    int seen = 0;
    assert_int_equal(hb_decide_ready(hb, settle_all, &seen), 0);
    assert_int_equal(seen, 0);
    hb_wake(hb, client_a);
    hb_wake(hb, client_a); /* twice: still decided once */
    assert_true(hb_any_ready(hb));
    assert_int_equal(hb_decide_ready(hb, settle_none, &seen), 0);
    assert_int_equal(seen, 2);
    assert_false(hb_any_ready(hb));
    assert_int_equal(hb_count(hb), 3);
    hb_wake(hb, client_a);
    seen = 0;
    assert_int_equal(hb_decide_ready(hb, settle_all, &seen), 2);
    assert_int_equal(seen, 2);
    assert_int_equal(hb_count(hb), 1);
    assert_false(hb_holds_term(hb, client_a, 100));
    assert_true(hb_holds_term(hb, client_b, 2));
    hb_wake(hb, client_a); /* none waits on it any more */
    assert_false(hb_any_ready(hb));
    hb_destroy(&hb);
}

/* A woken event decided by a sweep first leaves the ready queue. */
static void swept_while_ready(void **state)
{
    (void)state;
    holdback *hb = hb_new(100);
    assert_int_equal(hold_close(hb, "kela", 1, client_a, 4), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", 2, client_b, 1), POLKU_OK);
    hb_wake(hb, client_a);
    hb_wake(hb, client_b);
    uint8_t which = 4;
    assert_int_equal(hb_sweep(hb, settle_term, &which), 1);
    assert_false(hb_any_ready(hb)); /* the other was decided by the sweep */
    assert_true(hb_drop_oldest(hb, dropped, NULL));
    hb_wake(hb, client_b);
    assert_false(hb_any_ready(hb));
    assert_int_equal(hb_count(hb), 0);
    hb_destroy(&hb);
}

/* The bound is per origin: one log full of waiting events does not keep
 * another's from being held. */
static void bounded_per_origin(void **state)
{
    (void)state;
    holdback *hb = hb_new(1000);
    uint64_t seq = 0;
    while (hb_count(hb) < 1000)
        assert_int_equal(hold_close(hb, "kela", ++seq, client_a, 1), POLKU_OK);
    assert_int_equal(hold_close(hb, "kela", ++seq, client_a, 1), POLKU_EFULL);
    for (uint64_t s = 1; s <= 1000; s++)
        assert_int_equal(hold_close(hb, "typ", s, client_b, 1), POLKU_OK);
    assert_int_equal(hold_close(hb, "typ", 1001, client_b, 1), POLKU_EFULL);
    assert_int_equal(hb_count(hb), 2000);
    hb_destroy(&hb);
}

/* The same seq from two origins is two events; once everything is settled
 * (the tables freed) the holdback holds, finds and wakes as before. */
static void emptied_and_held_again(void **state)
{
    (void)state;
    holdback *hb = hb_new(10000);
    for (int round = 0; round < 2; round++) {
        for (uint64_t s = 1; s <= 3000; s++) { /* tables grow a few times */
            assert_int_equal(hold_close(hb, "kela", s, client_a, 1), POLKU_OK);
            assert_int_equal(hold_close(hb, "typ", s, client_b, 2), POLKU_OK);
        }
        assert_int_equal(hold_close(hb, "kela", 3000, client_a, 1),
                         POLKU_EEXIST);
        assert_int_equal(hold_close(hb, "typ", 1, client_b, 2), POLKU_EEXIST);
        assert_int_equal(hb_count_origin(hb, "kela"), 3000);
        assert_int_equal(hb_count_origin(hb, "typ"), 3000);
        hb_wake(hb, client_a);
        int seen = 0;
        assert_int_equal(hb_decide_ready(hb, settle_all, &seen), 3000);
        assert_false(hb_holds_org(hb, "kela"));
        assert_true(hb_holds_org(hb, "typ"));
        /* settled: the same (origin, seq) may be held again */
        assert_int_equal(hold_close(hb, "kela", 7, client_a, 1), POLKU_OK);
        seen = 0;
        assert_int_equal(hb_sweep(hb, settle_all, &seen), 3001);
        assert_int_equal(hb_count(hb), 0);
        hb_wake(hb, client_b); /* none waits */
        assert_false(hb_any_ready(hb));
        assert_false(hb_holds_term(hb, client_b, 100));
    }
    hb_destroy(&hb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(terms_by_client),
        cmocka_unit_test(settled_and_dropped_leave_the_indexes),
        cmocka_unit_test(bounded),
        cmocka_unit_test(woken_by_their_client),
        cmocka_unit_test(swept_while_ready),
        cmocka_unit_test(bounded_per_origin),
        cmocka_unit_test(emptied_and_held_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
