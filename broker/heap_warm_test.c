/* heap_warm_test.c — the heap's pages are paged in ahead (heap_warm.h):
 * after a step (take, then populate), the heap's end is paged in up to where it ends, every
 * page between the end seen before and the end now is resident before
 * anything writes to it, and the blocks malloc hands out from there are
 * usable. Where the kernel refuses the advice, the step turns itself off
 * and the heap works as before. (Not built with the sanitizers: their
 * malloc does not take its memory from the program break.) */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "heap_warm.h"

#define BLOCKS 40000 /* of 256 B: ~10 MB, more than HEAP_WARM_AHEAD */

/* What the router does between two replayed batches (its replay thread
 * doing the second half). */
static void step(heap_warm *w)
{
    uintptr_t from;
    size_t len;
    if (heap_warm_take(w, &from, &len) && heap_warm_populate(from, len))
        w->off = true;
}

static void paged_in_ahead(void **state)
{
    (void)state;
    heap_warm w;
    heap_warm_init(&w);
    step(&w); /* begins: the end as it is */
    assert_false(w.off);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(w.paged, (uintptr_t)sbrk(0) & ~(page - 1));
    void **blocks = calloc(BLOCKS, sizeof *blocks);
    assert_non_null(blocks);
    uintptr_t before = w.paged;
    for (size_t i = 0; i < BLOCKS; i++) /* the heap grows: not written */
        assert_non_null(blocks[i] = malloc(256));
    uintptr_t end = (uintptr_t)sbrk(0) & ~(page - 1);
    assert_true(end > before); /* glibc's heap grew at the break */
    step(&w);
    if (!w.off) { /* the kernel knows the advice */
        assert_int_equal(w.paged, end);
        /* the room above the blocks is resident, nothing wrote to it */
        uintptr_t top =
            ((uintptr_t)blocks[BLOCKS - 1] + 256 + page - 1) & ~(page - 1);
        assert_true(top < end);
        size_t n = (end - top) / page;
        unsigned char *vec = malloc(n);
        assert_non_null(vec);
        assert_int_equal(mincore((void *)top, end - top, vec), 0);
        for (size_t i = 0; i < n; i++)
            assert_true(vec[i] & 1);
        free(vec);
    }
    step(&w); /* nothing new: nothing changes */
    assert_true(w.off || w.paged == end);
    for (size_t i = 0; i < BLOCKS; i++) {
        memset(blocks[i], 0xab, 256);
        free(blocks[i]);
    }
    free(blocks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paged_in_ahead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
