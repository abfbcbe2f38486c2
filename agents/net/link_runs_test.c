/* link_runs_test.c — a run of messages is one batch item; when one of
 * them fails, the others are applied (and answered) each alone, and the
 * failed one leaves nothing behind. Real temporary store, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "link_runs.h"
#include "polku/error.h"
#include "test_tmpdir.h"

typedef struct fixture {
    char dir[256];
    store st;
    batch b;
    /* the messages: fail[i] is fn's answer for message i */
    int fail[8];
    int calls[8];
    int answered[8]; /* after-actions that ran committed */
    int counted, undone;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(
        test_batch_store_open(f->dir, sizeof f->dir, "runs", &f->st, &f->b), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = test_batch_store_close(f->dir, &f->st, &f->b);
    free(f);
    return rc;
}

typedef struct answer {
    fixture *f;
    size_t i;
} answer;

static void answer_run(void *arg, bool committed)
{
    answer *a = arg;
    if (committed)
        a->f->answered[a->i]++;
}

/* Message i: a key in the store, an answer after the commit, a counter
 * outside the store; then fail[i]. */
static int apply_one(void *arg, MDB_txn *txn, size_t i)
{
    fixture *f = arg;
    f->calls[i]++;
    char key[16];
    snprintf(key, sizeof key, "m%zu", i);
    int rc = store_meta_put(&f->st, txn, key, "x", 1);
    answer *a = malloc(sizeof *a);
    *a = (answer){f, i};
    if (!rc)
        rc = batch_after(&f->b, answer_run, a, free);
    f->counted++;
    if (!rc && f->fail[i])
        f->b.last_seq++; /* what a failed message changed rolls back */
    return rc ? rc : f->fail[i];
}

static void undo(void *arg)
{
    fixture *f = arg;
    f->undone++;
    f->counted = 0;
}

static bool stored(fixture *f, size_t i)
{
    char key[16];
    snprintf(key, sizeof key, "m%zu", i);
    MDB_txn *txn = NULL;
    MDB_val v;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, MDB_RDONLY, &txn), 0);
    bool found = store_meta_get(&f->st, txn, key, &v) == POLKU_OK;
    mdb_txn_abort(txn);
    return found;
}

static void a_run_is_one_item(void **state)
{
    fixture *f = *state;
    assert_int_equal(link_runs_apply(&f->b, 5, apply_one, undo, f), 0);
    assert_int_equal(f->b.counters.items, 1);
    assert_int_equal(f->undone, 0);
    assert_int_equal(f->counted, 5);
    batch_flush(&f->b);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(f->calls[i], 1);
        assert_true(stored(f, i));
        assert_int_equal(f->answered[i], 1);
    }
}

static void one_failure_leaves_the_others_applied_each_alone(void **state)
{
    fixture *f = *state;
    f->fail[2] = POLKU_EAGAIN;
    uint64_t seq = f->b.last_seq;
    assert_int_equal(link_runs_apply(&f->b, 5, apply_one, undo, f), 1);
    /* the run, then each alone */
    assert_int_equal(f->b.counters.items, 6);
    assert_int_equal(f->undone, 1);
    assert_int_equal(f->counted, 5); /* counted again once each, no more */
    assert_int_equal(f->b.last_seq, seq);
    batch_flush(&f->b);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(stored(f, i), i != 2);
        /* answered exactly once, and the failed one never */
        assert_int_equal(f->answered[i], i != 2 ? 1 : 0);
    }
    assert_int_equal(f->calls[0], 2); /* in the run, then alone */
    assert_int_equal(f->calls[3], 1); /* the run stopped at message 2 */
    assert_int_equal(f->calls[2], 2);
}

static void a_run_of_one_fails_alone_without_undo(void **state)
{
    fixture *f = *state;
    f->fail[0] = POLKU_ESTORE;
    assert_int_equal(link_runs_apply(&f->b, 1, apply_one, undo, f), 1);
    assert_int_equal(f->b.counters.items, 1);
    assert_int_equal(f->undone, 0);
    assert_int_equal(f->calls[0], 1);
    batch_flush(&f->b);
    assert_false(stored(f, 0));
    assert_int_equal(f->answered[0], 0);
    assert_int_equal(link_runs_apply(&f->b, 0, apply_one, undo, f), 0);
    assert_int_equal(f->b.counters.items, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_run_is_one_item, setup, teardown),
        cmocka_unit_test_setup_teardown(
            one_failure_leaves_the_others_applied_each_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(a_run_of_one_fails_alone_without_undo,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
