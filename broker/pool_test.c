/* pool_test.c — records out of a pool: zeroed, aligned, distinct, freed
 * together (pool.h). Under the sanitizers an overlap or a leak fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"

typedef struct record {
    uint64_t a;
    char text[13]; /* 21 bytes: rounded up to 24 */
} record;

static void records_are_zeroed_aligned_and_distinct(void **state)
{
    (void)state;
    pool p;
    pool_init(&p, sizeof(record), 7); /* several blocks */
    assert_int_equal(p.size, 24);
    record *all[100];
    for (int i = 0; i < 100; i++) {
        all[i] = pool_calloc(&p);
        assert_non_null(all[i]);
        assert_int_equal((uintptr_t)all[i] % 8, 0);
        assert_int_equal(all[i]->a, 0);
        assert_int_equal(all[i]->text[12], 0);
        all[i]->a = (uint64_t)i;
        memset(all[i]->text, 'x', sizeof all[i]->text);
    }
    for (int i = 0; i < 100; i++) /* none overwrote another */
        assert_int_equal(all[i]->a, (uint64_t)i);
    assert_int_equal(p.count, 100);
    int seen = 0; /* walked in the order handed out */
    record *r;
    for (pool_cursor c = pool_begin(&p); (r = pool_next(&p, &c)); seen++)
        assert_ptr_equal(r, all[seen]);
    assert_int_equal(seen, 100);
    pool_fini(&p);
    assert_null(p.blocks);
    pool_cursor none = pool_begin(&p);
    assert_null(pool_next(&p, &none));
    record *again = pool_calloc(&p); /* usable after fini */
    assert_non_null(again);
    assert_int_equal(again->a, 0);
    pool_fini(&p);
}

static void default_block_size(void **state)
{
    (void)state;
    pool p;
    pool_init(&p, 100, 0);
    assert_int_equal(p.size, 104);
    assert_true(p.per_block >= 100);
    pool_init(&p, 0, 0);
    assert_int_equal(p.size, 8);
    assert_non_null(pool_calloc(&p));
    pool_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_are_zeroed_aligned_and_distinct),
        cmocka_unit_test(default_block_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
