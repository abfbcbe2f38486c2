/* alert_schedule.c — a binary min-heap of (due, client key) per clock. */
#include "alert_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct as_entry {
    uint64_t due;
    uint8_t key[16];
} as_entry;

typedef struct as_heap {
    char org[33];
    as_entry *e;
    size_t n, cap;
    UT_hash_handle hh;
} as_heap;

struct alert_schedule {
    as_heap *heaps; /* by org */
    bool lost;
    bool unordered; /* since as_clear: entries appended, heaps not kept */
    as_heap *recent[16]; /* by the org string's address: most pushes name
                            one of a few interned names (clients.h) */
};

alert_schedule *as_new(void)
{
    return calloc(1, sizeof(alert_schedule));
}

void as_free(alert_schedule **sp)
{
    if (!sp || !*sp)
        return;
    as_heap *h, *tmp;
    HASH_ITER(hh, (*sp)->heaps, h, tmp)
    {
        HASH_DEL((*sp)->heaps, h);
        free(h->e);
        free(h);
    }
    free(*sp);
    *sp = NULL;
}

static as_heap *heap_of(alert_schedule *s, const char *org)
{
    as_heap **slot = &s->recent[((uintptr_t)org >> 4) % 16];
    if (*slot && strcmp((*slot)->org, org) == 0)
        return *slot;
    as_heap *h = NULL;
    HASH_FIND_STR(s->heaps, org, h);
    if (h)
        *slot = h;
    if (h || strlen(org) >= sizeof h->org)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    snprintf(h->org, sizeof h->org, "%s", org);
    HASH_ADD_STR(s->heaps, org, h);
    return h;
}

static void swap(as_entry *a, as_entry *b)
{
    as_entry t = *a;
    *a = *b;
    *b = t;
}

void as_at(alert_schedule *s, const char *org, uint64_t due,
           const uint8_t key[16])
{
    as_heap *h = heap_of(s, org ? org : "");
    if (h && h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        as_entry *grown = realloc(h->e, cap * sizeof *grown);
        if (grown) {
            h->e = grown;
            h->cap = cap;
        }
    }
    if (!h || h->n == h->cap) {
        s->lost = true;
        return;
    }
    size_t i = h->n++;
    h->e[i].due = due;
    memcpy(h->e[i].key, key, 16);
    while (!s->unordered && i > 0 && h->e[(i - 1) / 2].due > h->e[i].due) {
        swap(&h->e[(i - 1) / 2], &h->e[i]);
        i = (i - 1) / 2;
    }
}

static void sift_down(as_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->e[l].due < h->e[m].due)
            m = l;
        if (r < h->n && h->e[r].due < h->e[m].due)
            m = r;
        if (m == i)
            return;
        swap(&h->e[m], &h->e[i]);
        i = m;
    }
}

static void pop(as_heap *h)
{
    h->e[0] = h->e[--h->n];
    sift_down(h, 0);
}

void as_order(alert_schedule *s)
{
    if (!s->unordered)
        return;
    s->unordered = false;
    for (as_heap *h = s->heaps; h; h = h->hh.next)
        for (size_t i = h->n / 2; i-- > 0;)
            sift_down(h, i); /* Floyd: O(n) for the whole heap */
}

void as_take_due(alert_schedule *s, as_now_fn now_of, void *now_arg,
                 as_key_fn fn, void *arg)
{
    as_order(s);
    for (as_heap *h = s->heaps; h; h = h->hh.next) {
        if (h->n == 0)
            continue;
        uint64_t now = now_of(now_arg, h->org);
        while (h->n > 0 && h->e[0].due <= now) {
            uint8_t key[16];
            memcpy(key, h->e[0].key, 16);
            pop(h);
            fn(key, arg);
        }
    }
}

void as_clear(alert_schedule *s)
{
    for (as_heap *h = s->heaps; h; h = h->hh.next)
        h->n = 0;
    s->lost = false;
    s->unordered = true;
}

bool as_lost(const alert_schedule *s)
{
    return s->lost;
}

size_t as_count(const alert_schedule *s)
{
    size_t n = 0;
    for (const as_heap *h = s->heaps; h; h = h->hh.next)
        n += h->n;
    return n;
}
