/* store_test.c — the agent's LMDB store: receipts, outbox, ownership, a
 * full map and its growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "polku/error.h"
#include "test_tmpdir.h"
#include "store.h"

static char top[200]; /* the test's temporary directory */
static char dir[240]; /* the store's: top/kela */

static int make_dir(void **state)
{
    (void)state;
    assert_int_equal(test_tmpdir_make(top, sizeof top, "store"), 0);
    snprintf(dir, sizeof dir, "%s/kela", top);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    return test_tmpdir_remove(top);
}

static MDB_txn *begin(store *s)
{
    MDB_txn *t = NULL;
    assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &t), 0);
    return t;
}

static uint64_t file_bytes(void)
{
    char path[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

/* The space written ahead is zeros beyond the used pages, kept as the
 * store grows, and a store so extended opens, checks and reads as before. */
static void space_is_written_ahead_of_the_used_pages(void **state)
{
    store s;
    assert_int_equal(store_open(&s, dir, 64 << 20, 64 << 20, "kela"), 0);
    uint64_t before = file_bytes();
    store_write_ahead(&s);
    uint64_t used = store_used(&s), after = file_bytes();
    assert_true(after >= used + (1 << 20));
    assert_true(after > before);
    /* what is beyond the used pages is zeros */
    char path[300];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseeko(f, (off_t)used, SEEK_SET), 0);
    static uint8_t buf[1 << 16];
    uint64_t read = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i])
                fail_msg("byte %llu beyond the used pages is %u",
                         (unsigned long long)(read + i), buf[i]);
        read += n;
    }
    fclose(f);
    assert_int_equal(read, after - used);
    /* no system call while there is room: the file stays as it is */
    store_write_ahead(&s);
    assert_int_equal(file_bytes(), after);
    /* grow the store past the room: more is written ahead */
    static uint8_t value[3000];
    for (int i = 1; i <= 1200; i++) {
        MDB_txn *t = begin(&s);
        char key[16];
        snprintf(key, sizeof key, "k%04d", i);
        memset(value, i & 0xff, sizeof value);
        assert_int_equal(store_meta_put(&s, t, key, value, sizeof value), 0);
        assert_int_equal(mdb_txn_commit(t), 0);
        store_write_ahead(&s);
        assert_true(file_bytes() >= store_used(&s));
    }
    assert_true(store_used(&s) > after);
    assert_true(file_bytes() >= store_used(&s) + (1 << 20));
    store_close(&s);
    /* reopens (its size and walk checks pass) and reads what was written */
    assert_int_equal(store_open(&s, dir, 64 << 20, 64 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    MDB_val v;
    assert_int_equal(store_meta_get(&s, t, "k1200", &v), 0);
    assert_int_equal(v.mv_size, sizeof value);
    assert_int_equal(((const uint8_t *)v.mv_data)[0], 1200 & 0xff);
    mdb_txn_abort(t);
    store_close(&s);
}

static void receipts_are_permanent_and_per_origin(void **state)
{
    store s;
    store_receipt r = STORE_RECEIPT_CONFLICT;
    static const uint8_t m1[16] = {1};
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    assert_int_equal(store_receipt_add(&s, t, "typ", 7, 1, m1, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_NEW);
    assert_int_equal(store_receipt_add(&s, t, "typ", 7, 2, m1, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_DUPLICATE);
    assert_int_equal(store_receipt_add(&s, t, "typ-x", 7, 2, m1, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_NEW); /* the org name is delimited */
    assert_int_equal(mdb_txn_commit(t), 0);
    store_close(&s);
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    t = begin(&s);
    assert_int_equal(store_receipt_add(&s, t, "typ", 7, 3, m1, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_DUPLICATE); /* survives a restart */
    mdb_txn_abort(t);
    store_close(&s);
}

/* Another event at a sequence already received is not a duplicate: the
 * origin's store went back in time and reused it. A receipt without a
 * message id (from before they were kept) never conflicts. */
static void a_reused_sequence_is_a_conflict(void **state)
{
    store s;
    store_receipt r = STORE_RECEIPT_NEW;
    static const uint8_t m1[16] = {1}, m2[16] = {2};
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    assert_int_equal(store_receipt_add(&s, t, "typ", 3, 1, m1, &r), 0);
    assert_int_equal(store_receipt_add(&s, t, "typ", 3, 2, m2, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_CONFLICT);
    assert_int_equal(store_receipt_add(&s, t, "typ", 3, 3, m1, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_DUPLICATE); /* the first one stays */
    assert_int_equal(store_receipt_add(&s, t, "typ", 4, 1, NULL, &r), 0);
    assert_int_equal(store_receipt_add(&s, t, "typ", 4, 2, m2, &r), 0);
    assert_int_equal(r, STORE_RECEIPT_DUPLICATE);
    mdb_txn_abort(t);
    store_close(&s);
}

/* How far a receiver holds an origin's log: its highest receipt, whatever
 * other origins share the name's beginning. */
static void the_last_receipt_of_an_origin(void **state)
{
    store s;
    store_receipt r;
    uint64_t last = 99;
    static const uint8_t m[16] = {1};
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    assert_int_equal(store_receipt_last(&s, t, "sote", &last), 0);
    assert_int_equal(last, 0); /* nothing yet */
    uint64_t sote[] = {3, 300, 12};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(store_receipt_add(&s, t, "sote", sote[i], 1, m, &r),
                         0);
    assert_int_equal(store_receipt_add(&s, t, "sote-keskus", 900, 1, m, &r), 0);
    assert_int_equal(store_receipt_add(&s, t, "sot", 901, 1, m, &r), 0);
    assert_int_equal(store_receipt_last(&s, t, "sote", &last), 0);
    assert_int_equal(last, 300);
    assert_int_equal(store_receipt_last(&s, t, "sote-keskus", &last), 0);
    assert_int_equal(last, 900); /* the last key of all */
    assert_int_equal(store_receipt_last(&s, t, "sot", &last), 0);
    assert_int_equal(last, 901);
    assert_int_equal(store_receipt_last(&s, t, "so", &last), 0);
    assert_int_equal(last, 0);
    mdb_txn_abort(t);
    store_close(&s);
}

static int count_pending(void *arg, uint64_t seq, const char *dest)
{
    (void)seq;
    (void)dest;
    (*(int *)arg)++;
    return 0;
}

/* The outbox walked in sequence order up to a bound, and one entry asked
 * for. */
static void the_outbox_walked_and_asked(void **state)
{
    store s;
    int n = 0;
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    assert_int_equal(store_outbox_put(&s, t, 2, "typ", 1), 0);
    assert_int_equal(store_outbox_put(&s, t, 2, "", 1), 0);
    assert_int_equal(store_outbox_put(&s, t, 7, "typ", 1), 0);
    assert_int_equal(store_outbox_each(&s, t, 6, count_pending, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(store_outbox_each(&s, t, UINT64_MAX, count_pending, &n),
                     0);
    assert_int_equal(n, 3);
    assert_true(store_outbox_has(&s, t, 7, "typ"));
    assert_false(store_outbox_has(&s, t, 7, ""));
    mdb_txn_abort(t);
    store_close(&s);
}

static void a_store_belongs_to_one_org(void **state)
{
    store s;
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    store_close(&s);
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "typ"),
                     POLKU_EINVAL);
    store_close(&s);
}

static void events_outbox_and_last_seq(void **state)
{
    store s;
    uint64_t last = 99;
    MDB_val v;
    assert_int_equal(store_open(&s, dir, 1 << 20, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    assert_int_equal(store_last_seq(&s, t, &last), 0);
    assert_int_equal(last, 0);
    for (uint64_t seq = 1; seq <= 300; seq++)
        assert_int_equal(store_event_put(&s, t, seq, "e", 1), 0);
    assert_int_equal(store_last_seq(&s, t, &last), 0);
    assert_int_equal(last, 300); /* 256 < 300: big-endian keys sort right */
    assert_int_equal(store_event_get(&s, t, 256, &v), 0);
    assert_int_equal(store_event_get(&s, t, 301, &v), POLKU_ENOTFOUND);
    assert_int_equal(store_outbox_put(&s, t, 5, "typ", 1), 0);
    assert_int_equal(store_outbox_del(&s, t, 5, "typ"), 0);
    assert_int_equal(store_outbox_del(&s, t, 5, "typ"), POLKU_ENOTFOUND);
    assert_int_equal(mdb_txn_commit(t), 0);
    store_close(&s);
}

static void full_map_is_an_error_then_grows(void **state)
{
    store s;
    char blob[4000];
    memset(blob, 'x', sizeof blob);
    assert_int_equal(store_open(&s, dir, 256 << 10, 1 << 20, "kela"), 0);
    MDB_txn *t = begin(&s);
    int rc = 0;
    uint64_t seq = 1;
    while (rc == 0 && seq < 10000)
        rc = store_event_put(&s, t, seq++, blob, sizeof blob);
    assert_int_equal(rc, POLKU_EFULL);
    mdb_txn_abort(t);
    assert_int_equal(store_grow(&s), 0); /* 256 KiB -> 512 KiB */
    assert_int_equal(s.map_size, 512 << 10);
    assert_int_equal(store_grow(&s), 0);
    assert_int_equal(store_grow(&s), POLKU_EFULL); /* at the maximum */
    t = begin(&s);
    assert_int_equal(store_event_put(&s, t, 1, blob, sizeof blob), 0);
    assert_int_equal(mdb_txn_commit(t), 0);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_reused_sequence_is_a_conflict,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            space_is_written_ahead_of_the_used_pages, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(receipts_are_permanent_and_per_origin,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(the_last_receipt_of_an_origin, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(the_outbox_walked_and_asked, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(a_store_belongs_to_one_org, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(events_outbox_and_last_seq, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(full_map_is_an_error_then_grows,
                                        make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
