/* eventlog_test.c — each event names the hash of the one stored before
 * it, also when the log takes that hash from memory: after items that
 * failed and wrote their sequences again, and for a log loaded from a
 * store it did not write. An ack left for later leaves the in-memory
 * outbox at once and the store with the next batch. Real temporary store,
 * no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eventlog.h"
#include "logchain.h"
#include "polku/error.h"
#include "test_tmpdir.h"

typedef struct fixture {
    char dir[256];
    store st;
    batch b;
    outbox ob;
    eventlog log;
} fixture;

static int no_send(void *arg, const uint8_t *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return 1;
}

static void begun(void *arg, MDB_txn *txn)
{
    eventlog_apply_acks(arg, txn);
}

static void open_log(fixture *f)
{
    assert_int_equal(store_open(&f->st, f->dir, 8 << 20, 8 << 20, "kela"), 0);
    batch_init(&f->b, &f->st);
    outbox_init(&f->ob, 64, 100, 1000, 5000, no_send, NULL);
    eventlog_init(&f->log, &f->st, &f->b, &f->ob, "kela");
    assert_int_equal(eventlog_load(&f->log), 0);
    f->b.begun = begun;
    f->b.hook_arg = &f->log;
}

static void close_log(fixture *f)
{
    batch_fini(&f->b);
    eventlog_fini(&f->log);
    outbox_fini(&f->ob);
    store_close(&f->st);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(test_tmpdir_make(f->dir, sizeof f->dir, "eventlog"), 0);
    open_log(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close_log(f);
    int rc = test_tmpdir_remove(f->dir);
    free(f);
    return rc;
}

/* One event (a plan update to "sote", plan id `plan`) in an item that
 * keeps it or not. */
typedef struct emit_item {
    fixture *f;
    const char *plan;
    int result;
} emit_item;

static int emit(MDB_txn *txn, void *ctx)
{
    emit_item *it = ctx;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PlanUpdated pu = POLKU__PLAN_UPDATED__INIT;
    Polku__PlanPointer plan = POLKU__PLAN_POINTER__INIT;
    char *to[1] = {(char *)"sote"};
    plan.org = (char *)"kela";
    plan.plan_id = (char *)it->plan;
    pu.plan = &plan;
    env.n_to = 1;
    env.to = to;
    env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    env.plan_updated = &pu;
    int rc = eventlog_emit(&it->f->log, txn, &env, NULL);
    return rc ? rc : it->result;
}

static int run(fixture *f, const char *plan, int result)
{
    emit_item it = {f, plan, result};
    return batch_run_item(&f->b, emit, &it);
}

static void verify(fixture *f, uint64_t last, uint64_t links)
{
    MDB_txn *txn = NULL;
    logchain_report r;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(logchain_verify(&f->st, txn, "kela", NULL, &r), 0);
    mdb_txn_abort(txn);
    assert_string_equal(r.problem, "");
    assert_int_equal(r.bad_seq, 0);
    assert_int_equal(r.last_seq, last);
    assert_int_equal(r.checked, links);
}

static void the_chain_holds_across_failed_items(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "p1", POLKU_OK), POLKU_OK);
    assert_int_equal(run(f, "p2", POLKU_OK), POLKU_OK);
    /* seq 3 written and rolled back twice, then another event there */
    assert_int_equal(run(f, "gone-a", POLKU_EINVAL), POLKU_EINVAL);
    assert_int_equal(run(f, "gone-bb", POLKU_EINVAL), POLKU_EINVAL);
    assert_int_equal(f->b.last_seq, 2);
    assert_int_equal(run(f, "p3", POLKU_OK), POLKU_OK);
    assert_int_equal(run(f, "p4", POLKU_OK), POLKU_OK);
    batch_flush(&f->b);
    verify(f, 4, 3);
    /* a new batch goes on from the commit */
    assert_int_equal(run(f, "p5", POLKU_OK), POLKU_OK);
    batch_flush(&f->b);
    verify(f, 5, 4);
}

static void a_log_loaded_again_reads_the_last_hash_back(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "p1", POLKU_OK), POLKU_OK);
    assert_int_equal(run(f, "p2", POLKU_OK), POLKU_OK);
    batch_flush(&f->b);
    close_log(f);
    open_log(f); /* knows no hash: reads event 2 back */
    assert_int_equal(f->log.hashed_seq, 0);
    assert_int_equal(run(f, "p3", POLKU_OK), POLKU_OK);
    assert_int_equal(f->log.hashed_seq, 3);
    batch_flush(&f->b);
    verify(f, 3, 2);
}

static bool owed_in_store(fixture *f, uint64_t seq)
{
    MDB_txn *txn = NULL;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, MDB_RDONLY, &txn), 0);
    bool has = store_outbox_has(&f->st, txn, seq, "sote");
    mdb_txn_abort(txn);
    return has;
}

static void an_ack_left_for_later_goes_with_the_next_batch(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "p1", POLKU_OK), POLKU_OK);
    assert_int_equal(run(f, "p2", POLKU_OK), POLKU_OK);
    batch_flush(&f->b);
    assert_int_equal(outbox_pending(&f->ob), 2);
    assert_true(owed_in_store(f, 1));

    assert_int_equal(eventlog_ack_later(&f->log, 1, "sote"), POLKU_OK);
    /* a repeated ack, and one for an event never sent there */
    assert_int_equal(eventlog_ack_later(&f->log, 1, "sote"), POLKU_ENOTFOUND);
    assert_int_equal(eventlog_ack_later(&f->log, 2, "typ"), POLKU_ENOTFOUND);
    assert_int_equal(eventlog_acks_waiting(&f->log), 1);
    assert_int_equal(outbox_pending(&f->ob), 1); /* not sent again */
    assert_true(owed_in_store(f, 1));            /* no commit of its own */
    assert_int_equal(f->b.counters.commits, 1);  /* p1 and p2's, alone */

    /* the next batch takes it, before its first item */
    assert_int_equal(run(f, "p3", POLKU_OK), POLKU_OK);
    assert_int_equal(eventlog_acks_waiting(&f->log), 0);
    batch_flush(&f->b);
    assert_false(owed_in_store(f, 1));
    assert_true(owed_in_store(f, 2));
    assert_true(owed_in_store(f, 3));

    /* left for later and never applied: after a restart it is owed
     * again, as after a crash (sent again, dropped by its receiver) */
    assert_int_equal(eventlog_ack_later(&f->log, 2, "sote"), POLKU_OK);
    close_log(f);
    open_log(f);
    assert_true(owed_in_store(f, 2));
    assert_int_equal(outbox_pending(&f->ob), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_chain_holds_across_failed_items,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_log_loaded_again_reads_the_last_hash_back, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_ack_left_for_later_goes_with_the_next_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
