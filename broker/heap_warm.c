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

bool heap_warm_take(heap_warm *w, uintptr_t *from, size_t *len)
{
    if (w->off)
        return false;
    uintptr_t end = (uintptr_t)sbrk(0);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (!w->paged || end < w->paged) { /* begun, or the heap shrank */
        w->paged = end & ~(page - 1);
        return false;
    }
    end &= ~(page - 1);
    if (end <= w->paged)
        return false;
    *from = w->paged;
    *len = end - w->paged;
    w->paged = end;
    return true;
}

int heap_warm_populate(uintptr_t from, size_t len)
{
    if (madvise((void *)from, len, MADV_POPULATE_WRITE) != 0 &&
        (errno == EINVAL || errno == ENOSYS)) {
        log_debug("heap pages not paged in ahead: %s", strerror(errno));
        return -1;
    }
    return 0; /* (ENOMEM: the heap shrank meanwhile; nothing to page in) */
}
