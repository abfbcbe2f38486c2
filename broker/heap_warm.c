/* heap_warm.c — see heap_warm.h. */
#define _DEFAULT_SOURCE
#include "heap_warm.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "polku/log.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void heap_warm_init(heap_warm *w)
{
    *w = (heap_warm){0};
    mallopt(M_TOP_PAD, (int)HEAP_WARM_AHEAD);
}

void heap_warm_step(heap_warm *w)
{
    if (w->off)
        return;
    uintptr_t end = (uintptr_t)sbrk(0);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (!w->paged || end < w->paged) { /* begun, or the heap shrank */
        w->paged = end & ~(page - 1);
        return;
    }
    uintptr_t from = w->paged;
    end &= ~(page - 1);
    if (end <= from)
        return;
    if (madvise((void *)from, end - from, MADV_POPULATE_WRITE) != 0 &&
        (errno == EINVAL || errno == ENOSYS)) {
        log_debug("heap pages not paged in ahead: %s", strerror(errno));
        w->off = true;
        return;
    }
    w->paged = end;
}
