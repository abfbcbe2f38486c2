/* heap_warm.h — a rebuild's heap paged in ahead, many pages a call.
 *
 * A rebuild grows the broker's heap by hundreds of megabytes in seconds,
 * and the first write to each 4 KiB page of it is a page fault taken by
 * the main thread in the middle of folding an event: about a tenth of
 * its time during a rebuild on a virtual machine, where a fault costs
 * the most (tens of microseconds a page). Here malloc keeps
 * HEAP_WARM_AHEAD bytes of room above the heap's top (M_TOP_PAD), and
 * between batches of a rebuild what the heap gained since (heap_warm_take)
 * is paged in with one madvise(MADV_POPULATE_WRITE) (Linux 5.14,
 * heap_warm_populate):
 * the same pages, about half the cost, none of them taken mid-event. At
 * most HEAP_WARM_AHEAD bytes more are resident than malloc uses. Where
 * the kernel does not know the advice, the first call says so (debug)
 * and the heap faults in as before. Only the main thread's heap (brk):
 * other threads' arenas are left as they are. During a rebuild the
 * router hands the range to the replay thread (replay_ahead.h,
 * ra_populate), which pages it in while the loop folds. */
#ifndef POLKU_BROKER_HEAP_WARM_H
#define POLKU_BROKER_HEAP_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_WARM_AHEAD (4u << 20)

typedef struct heap_warm {
    uintptr_t paged; /* the heap's end when last paged in; 0: not begun */
    bool off;        /* the kernel refused the advice */
} heap_warm;

/* Malloc keeps HEAP_WARM_AHEAD of room above the heap (process-wide). */
void heap_warm_init(heap_warm *w);

/* In two halves, so that another thread can page in (replay_ahead.h):
 * the range the heap gained since the last call (false: none, or w is
 * off), then paging it in, on any thread: 0, or -1 where the kernel does
 * not know the advice (the caller sets w->off). */
bool heap_warm_take(heap_warm *w, uintptr_t *from, size_t *len);
int heap_warm_populate(uintptr_t from, size_t len);

#endif
