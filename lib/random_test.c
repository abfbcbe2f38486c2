/* random_test.c — the pool hands out each byte once, refills itself, and a
 * forked child never repeats what its parent draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "polku/random.h"

#define DRAWS 2000
#define NONCE 24

static int by_bytes(const void *a, const void *b)
{
    return memcmp(a, b, NONCE);
}

static void no_draw_repeats_across_refills(void **state)
{
    (void)state;
    /* 2000 x 24 bytes: the 4 KiB pool refills a dozen times */
    uint8_t(*d)[NONCE] = calloc(DRAWS, NONCE);
    assert_non_null(d);
    for (int i = 0; i < DRAWS; i++)
        polku_random_bytes(d[i], NONCE);
    qsort(d, DRAWS, NONCE, by_bytes);
    for (int i = 1; i < DRAWS; i++)
        assert_int_not_equal(memcmp(d[i - 1], d[i], NONCE), 0);
    /* and the bytes are not all zero (the pool was filled) */
    int nonzero = 0;
    for (int i = 0; i < NONCE; i++)
        nonzero += d[DRAWS / 2][i] != 0;
    assert_true(nonzero > 0);
    free(d);
}

static void large_requests_are_filled_whole(void **state)
{
    (void)state;
    uint8_t big[8192], zero[8192] = {0};
    memset(big, 0, sizeof big);
    polku_random_bytes(big, sizeof big);
    /* the last kilobyte is written too */
    assert_int_not_equal(memcmp(big + 7168, zero, 1024), 0);
}

static void a_forked_child_does_not_repeat_the_parent(void **state)
{
    (void)state;
    uint8_t first[NONCE];
    polku_random_bytes(first, sizeof first); /* the pool is filled now */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t c[NONCE];
        polku_random_bytes(c, sizeof c);
        ssize_t w = write(fds[1], c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    uint8_t parent[NONCE], child[NONCE];
    polku_random_bytes(parent, sizeof parent);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_not_equal(memcmp(parent, child, NONCE), 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_draw_repeats_across_refills),
        cmocka_unit_test(large_requests_are_filled_whole),
        cmocka_unit_test(a_forked_child_does_not_repeat_the_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
