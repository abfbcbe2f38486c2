/* batch_test.c — the group commit: items stand or fall alone, what waits
 * for the commit runs after it is durable (after the flush of its meta
 * page), once, and the event sequence rolls back with a failed item. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "polku/error.h"
#include "test_tmpdir.h"

typedef struct fixture {
    char dir[256];
    store st;
    batch b;
    int opened, committed;
} fixture;

static void on_opened(void *arg)
{
    ((fixture *)arg)->opened++;
}

static void on_committed(void *arg, bool ok)
{
    if (ok)
        ((fixture *)arg)->committed++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(
        test_batch_store_open(f->dir, sizeof f->dir, "batch", &f->st, &f->b),
        0);
    f->b.opened = on_opened;
    f->b.committed = on_committed;
    f->b.hook_arg = f;
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

/* An after-action that records what happened to it. */
typedef struct probe {
    int ran, ran_committed, freed;
} probe;

static void probe_run(void *arg, bool committed)
{
    probe *p = arg;
    p->ran++;
    p->ran_committed += committed;
}

static void probe_free(void *arg)
{
    ((probe *)arg)->freed++;
}

typedef struct item {
    batch *b;
    const char *key;
    int result;
    probe *p;
    bool emit;      /* takes a sequence number, as the event log does */
    bool at_commit; /* its action needs the commit, not the flush */
} item;

static int run(MDB_txn *txn, void *ctx)
{
    item *it = ctx;
    int rc =
        it->key ? store_meta_put(it->b->st, txn, it->key, "x", 1) : POLKU_OK;
    if (rc)
        return rc;
    if (it->emit)
        it->b->last_seq++;
    if (it->p && it->at_commit)
        batch_after_commit(it->b, probe_run, it->p, probe_free);
    else if (it->p)
        batch_after(it->b, probe_run, it->p, probe_free);
    return it->result;
}

static bool stored(fixture *f, const char *key)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, MDB_RDONLY, &txn), 0);
    bool found = store_meta_get(&f->st, txn, key, &v) == POLKU_OK;
    mdb_txn_abort(txn);
    return found;
}

static void items_of_a_turn_share_one_commit(void **state)
{
    fixture *f = *state;
    probe p1 = {0}, p2 = {0};
    item a = {&f->b, "a", POLKU_OK, &p1, false, false},
         b = {&f->b, "b", POLKU_OK, &p2, false, false};
    assert_int_equal(batch_run_item(&f->b, run, &a), POLKU_OK);
    assert_int_equal(batch_run_item(&f->b, run, &b), POLKU_OK);
    assert_int_equal(f->opened, 1);
    assert_int_equal(p1.ran, 0); /* nothing before the commit */
    assert_false(stored(f, "a"));
    batch_commit(&f->b);
    assert_true(stored(f, "a"));
    assert_true(stored(f, "b"));
    /* committed, but its meta page is not flushed: nothing answered yet */
    assert_int_equal(p1.ran, 0);
    assert_true(batch_unsynced(&f->b));
    assert_int_equal(f->committed, 0);
    batch_sync(&f->b);
    assert_false(batch_unsynced(&f->b));
    assert_int_equal(f->b.counters.syncs, 1);
    assert_int_equal(p1.ran_committed, 1);
    assert_int_equal(p2.ran_committed, 1);
    assert_int_equal(p1.freed + p2.freed, 2);
    assert_int_equal(f->committed, 1);
    assert_int_equal(f->b.counters.commits, 1);
    assert_int_equal(f->b.counters.items, 2);
}

static void
a_failed_item_changes_nothing_and_its_actions_never_run(void **state)
{
    fixture *f = *state;
    probe good = {0}, bad = {0};
    item ok = {&f->b, "kept", POLKU_OK, &good, true, false},
         no = {&f->b, "dropped", POLKU_EREFUSED, &bad, true, false};
    assert_int_equal(batch_run_item(&f->b, run, &ok), POLKU_OK);
    assert_int_equal(batch_run_item(&f->b, run, &no), POLKU_EREFUSED);
    assert_int_equal(f->b.last_seq, 1); /* the failed item's seq is back */
    assert_int_equal(bad.freed, 1);
    batch_commit(&f->b);
    assert_int_equal(f->b.written_seq, 1);
    assert_int_equal(f->b.committed_seq, 0); /* not durable yet */
    batch_sync(&f->b);
    assert_true(stored(f, "kept"));
    assert_false(stored(f, "dropped"));
    assert_int_equal(good.ran_committed, 1);
    assert_int_equal(bad.ran, 0);
    assert_int_equal(f->b.committed_seq, 1);
}

static void a_read_answers_at_once_without_a_batch(void **state)
{
    fixture *f = *state;
    probe p = {0};
    item it = {&f->b, NULL, POLKU_OK, &p, false, false};
    assert_int_equal(batch_read(&f->b, run, &it), POLKU_OK);
    assert_int_equal(p.ran, 1); /* at once: a read waits for no commit */
    assert_int_equal(p.ran_committed, 1);
    assert_int_equal(p.freed, 1);
    /* a read that fails answers its actions with committed = false */
    probe q = {0};
    item bad = {&f->b, NULL, POLKU_ENOTFOUND, &q, false, false};
    assert_int_equal(batch_read(&f->b, run, &bad), POLKU_ENOTFOUND);
    assert_int_equal(q.ran, 1);
    assert_int_equal(q.ran_committed, 0);
    /* and a write inside a read is refused by the store */
    item write = {&f->b, "r", POLKU_OK, NULL, false, false};
    assert_int_not_equal(batch_read(&f->b, run, &write), POLKU_OK);
    assert_int_equal(f->opened, 0);
    assert_null(f->b.txn);
}

static void a_commit_with_nothing_open_does_nothing(void **state)
{
    fixture *f = *state;
    batch_commit(&f->b);
    assert_int_equal(f->committed, 0);
    assert_int_equal(f->b.counters.commits, 0);
}

static void a_new_batch_opens_after_each_commit(void **state)
{
    fixture *f = *state;
    probe pa = {0}, pb = {0};
    item a = {&f->b, "one", POLKU_OK, &pa, false, false},
         b = {&f->b, "two", POLKU_OK, &pb, false, false};
    batch_run_item(&f->b, run, &a);
    batch_commit(&f->b);
    batch_run_item(&f->b, run, &b);
    batch_commit(&f->b);
    assert_int_equal(f->opened, 2);
    assert_int_equal(f->committed, 1); /* the second flushed the first */
    batch_sync(&f->b);
    assert_int_equal(f->committed, 2);
}

/* Under load a commit costs one flush: the data flush of the next commit
 * that writes covers the meta page of the one before. */
static void a_commit_that_writes_makes_the_one_before_durable(void **state)
{
    fixture *f = *state;
    probe pa = {0}, pb = {0};
    item a = {&f->b, "a", POLKU_OK, &pa, true, false},
         b = {&f->b, "b", POLKU_OK, &pb, true, false};
    batch_run_item(&f->b, run, &a);
    batch_commit(&f->b);
    assert_int_equal(pa.ran, 0);
    batch_run_item(&f->b, run, &b);
    batch_commit(&f->b);
    assert_int_equal(pa.ran_committed, 1);
    assert_int_equal(f->b.committed_seq, 1);
    assert_int_equal(pb.ran, 0);
    assert_int_equal(f->b.counters.syncs, 0);
    batch_sync(&f->b);
    assert_int_equal(pb.ran_committed, 1);
    assert_int_equal(f->b.committed_seq, 2);
    assert_int_equal(f->b.counters.syncs, 1);
    batch_sync(&f->b); /* nothing waits: no flush */
    assert_int_equal(f->b.counters.syncs, 1);
}

/* A commit that wrote nothing flushed nothing: its actions wait with those
 * of the commit before (they may have seen what it wrote). */
static void a_commit_that_writes_nothing_waits_with_the_one_before(void **state)
{
    fixture *f = *state;
    probe pa = {0}, pb = {0};
    item a = {&f->b, "a", POLKU_OK, &pa, false, false},
         b = {&f->b, NULL, POLKU_OK, &pb, false, false};
    batch_run_item(&f->b, run, &a);
    batch_commit(&f->b);
    batch_run_item(&f->b, run, &b);
    batch_commit(&f->b);
    assert_int_equal(pa.ran, 0);
    assert_int_equal(pb.ran, 0);
    batch_sync(&f->b);
    assert_int_equal(pa.ran_committed, 1);
    assert_int_equal(pb.ran_committed, 1);
    /* with nothing waiting, a commit that writes nothing answers at once */
    probe pc = {0};
    item c = {&f->b, NULL, POLKU_OK, &pc, false, false};
    batch_run_item(&f->b, run, &c);
    batch_commit(&f->b);
    assert_int_equal(pc.ran_committed, 1);
    assert_false(batch_unsynced(&f->b));
}

/* An ack's removal of an outbox entry needs no flush of its own: its
 * action runs at the commit, and a commit of nothing else waits for no
 * flush. With a durable action beside it, that one still waits; a failed
 * commit's at-commit actions run with committed = false. */
static void an_at_commit_action_waits_for_no_flush(void **state)
{
    fixture *f = *state;
    probe pa = {0};
    item a = {&f->b, "ack", POLKU_OK, &pa, false, true};
    batch_run_item(&f->b, run, &a);
    assert_int_equal(pa.ran, 0);
    batch_commit(&f->b);
    assert_true(stored(f, "ack"));
    assert_int_equal(pa.ran_committed, 1);
    assert_int_equal(pa.freed, 1);
    assert_false(batch_unsynced(&f->b)); /* no flush to wait for */
    assert_int_equal(f->committed, 1);   /* the outbox may move on */
    batch_sync(&f->b);
    assert_int_equal(f->b.counters.syncs, 0);

    /* beside a durable action: the ack runs at once, the answer waits */
    probe pb = {0}, pc = {0};
    item b = {&f->b, "ack2", POLKU_OK, &pb, false, true},
         c = {&f->b, "answer", POLKU_OK, &pc, false, false};
    batch_run_item(&f->b, run, &b);
    batch_run_item(&f->b, run, &c);
    batch_commit(&f->b);
    assert_int_equal(pb.ran_committed, 1);
    assert_int_equal(pc.ran, 0);
    assert_true(batch_unsynced(&f->b));
    batch_sync(&f->b);
    assert_int_equal(pc.ran_committed, 1);
    assert_int_equal(f->b.counters.syncs, 1);

    /* a commit that stored a new event waits for its flush, actions or
     * not (the sequence it hands out must be durable first) */
    probe pd = {0};
    item d = {&f->b, "event", POLKU_OK, &pd, true, true};
    batch_run_item(&f->b, run, &d);
    batch_commit(&f->b);
    assert_int_equal(pd.ran_committed, 1);
    assert_true(batch_unsynced(&f->b));
    assert_int_equal(f->b.committed_seq, 0);
    batch_sync(&f->b);
    assert_int_equal(f->b.committed_seq, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(items_of_a_turn_share_one_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_commit_that_writes_makes_the_one_before_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_commit_that_writes_nothing_waits_with_the_one_before, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_item_changes_nothing_and_its_actions_never_run, setup,
            teardown),
        cmocka_unit_test_setup_teardown(a_read_answers_at_once_without_a_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_commit_with_nothing_open_does_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_batch_opens_after_each_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_at_commit_action_waits_for_no_flush,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
