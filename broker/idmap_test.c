/* idmap_test.c — records found by their 16-byte key (idmap.h): every
 * record added is found, keys not added are not, through many growths,
 * with keys that share their first or last bytes (ids that begin with a
 * time, client keys that are random); records removed (every third, then
 * the rest) are not found and the others still are. A presized map
 * takes as many records as it was sized for without growing, keeps the
 * records it had, never shrinks, and grows as before past its size. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "idmap.h"
#include "polku/error.h"

typedef struct record {
    uint32_t n;
    uint8_t key[16];
} record;

#define N 50000

static void key_of(uint32_t i, bool shared_prefix, uint8_t key[16])
{
    memset(key, 0, 16);
    if (shared_prefix) { /* a time, then a counter: ids */
        memset(key, 0x01, 6);
        memcpy(key + 12, &i, 4);
    } else { /* a counter, then the same bytes: the other half varies */
        memcpy(key, &i, 4);
        memset(key + 4, 0xab, 12);
    }
}

static void found_and_not_found(bool shared_prefix)
{
    idmap m;
    idmap_init(&m, offsetof(record, key));
    uint8_t key[16];
    assert_null(idmap_find(&m, key)); /* empty: no table yet */
    record *all = calloc(N, sizeof *all);
    assert_non_null(all);
    for (uint32_t i = 0; i < N; i++) {
        all[i].n = i;
        key_of(i, shared_prefix, all[i].key);
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    }
    assert_int_equal(idmap_count(&m), N);
    for (uint32_t i = 0; i < N; i++) {
        key_of(i, shared_prefix, key);
        record *r = idmap_find(&m, key);
        assert_non_null(r);
        assert_int_equal(r->n, i);
    }
    for (uint32_t i = N; i < 2 * N; i++) {
        key_of(i, shared_prefix, key);
        assert_null(idmap_find(&m, key));
    }
    assert_int_equal(idmap_reserve(&m), POLKU_OK);
    record twin = all[7]; /* another record with a key the map has */
    assert_int_equal(idmap_put_new(&m, &twin), POLKU_EEXIST);
    assert_ptr_equal(idmap_find(&m, twin.key), &all[7]);
    assert_int_equal(idmap_count(&m), N);
    record fresh = {.n = 2 * N};
    key_of(2 * N, shared_prefix, fresh.key);
    assert_int_equal(idmap_put_new(&m, &fresh), POLKU_OK);
    assert_ptr_equal(idmap_find(&m, fresh.key), &fresh);
    assert_int_equal(idmap_count(&m), N + 1);
    idmap_fini(&m);
    assert_int_equal(idmap_count(&m), 0);
    assert_null(idmap_find(&m, all[0].key));
    free(all);
}

static void removed_and_kept(bool shared_prefix)
{
    idmap m;
    idmap_init(&m, offsetof(record, key));
    uint8_t key[16];
    key_of(1, shared_prefix, key);
    assert_null(idmap_remove(&m, key)); /* empty: no table yet */
    record *all = calloc(N, sizeof *all);
    assert_non_null(all);
    for (uint32_t i = 0; i < N; i++) {
        all[i].n = i;
        key_of(i, shared_prefix, all[i].key);
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    }
    for (uint32_t i = 0; i < N; i += 3)
        assert_ptr_equal(idmap_remove(&m, all[i].key), &all[i]);
    key_of(N + 1, shared_prefix, key);
    assert_null(idmap_remove(&m, key));        /* never added */
    assert_null(idmap_remove(&m, all[0].key)); /* removed already */
    assert_int_equal(idmap_count(&m), N - (N + 2) / 3);
    for (uint32_t i = 0; i < N; i++) {
        record *r = idmap_find(&m, all[i].key);
        if (i % 3 == 0) {
            assert_null(r);
        } else {
            assert_ptr_equal(r, &all[i]);
        }
    }
    for (uint32_t i = 0; i < N; i += 3) /* back again */
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    for (uint32_t i = 0; i < N; i++)
        assert_ptr_equal(idmap_remove(&m, all[i].key), &all[i]);
    assert_int_equal(idmap_count(&m), 0);
    for (uint32_t i = 0; i < N; i++)
        assert_null(idmap_find(&m, all[i].key));
    idmap_fini(&m);
    free(all);
}

static void removals(void **state)
{
    (void)state;
    removed_and_kept(true);
    removed_and_kept(false);
}

static void ids_with_a_time_prefix(void **state)
{
    (void)state;
    found_and_not_found(true);
}

static void keys_that_differ_in_front(void **state)
{
    (void)state;
    found_and_not_found(false);
}

static void presized(void **state)
{
    (void)state;
    idmap m;
    idmap_init(&m, offsetof(record, key));
    record *all = calloc(N, sizeof *all);
    assert_non_null(all);
    for (uint32_t i = 0; i < N; i++) {
        all[i].n = i;
        key_of(i, true, all[i].key);
    }
    for (uint32_t i = 0; i < 100; i++) /* some before */
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    assert_int_equal(idmap_presize(&m, N / 2), POLKU_OK);
    unsigned long cap = m.cap;
    assert_true(cap / 2 >= N / 2 + 1);
    assert_true(cap / 4 < N / 2 + 1); /* the smallest that fits */
    assert_int_equal(idmap_presize(&m, 10), POLKU_OK); /* never shrinks */
    assert_int_equal(m.cap, cap);
    for (uint32_t i = 100; i < N / 2; i++)
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    assert_int_equal(m.cap, cap);        /* all of them without growing */
    for (uint32_t i = N / 2; i < N; i++) /* past it: grows as before */
        assert_int_equal(idmap_put(&m, &all[i]), POLKU_OK);
    assert_true(m.cap > cap);
    assert_int_equal(idmap_count(&m), N);
    for (uint32_t i = 0; i < N; i++)
        assert_ptr_equal(idmap_find(&m, all[i].key), &all[i]);
    idmap_fini(&m);

    idmap e; /* an empty map, presized: no record, then found */
    idmap_init(&e, offsetof(record, key));
    assert_int_equal(idmap_presize(&e, 1000), POLKU_OK);
    assert_int_equal(idmap_count(&e), 0);
    assert_null(idmap_find(&e, all[0].key));
    assert_int_equal(idmap_put(&e, &all[0]), POLKU_OK);
    assert_ptr_equal(idmap_find(&e, all[0].key), &all[0]);
    idmap_fini(&e);
    free(all);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_with_a_time_prefix),
        cmocka_unit_test(keys_that_differ_in_front),
        cmocka_unit_test(removals),
        cmocka_unit_test(presized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
