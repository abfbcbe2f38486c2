/* outbox.c — per-destination windows, backoff and resends (see outbox.h).
 *
 * Each destination keeps its entries in an array ordered by sequence:
 * [head, sent) have been sent (some maybe acknowledged), [sent, n) wait.
 * in_flight counts the unacknowledged among the sent. A rewind sets
 * sent = head so the pump resends every unacknowledged entry in order. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/error.h"

typedef struct ob_entry {
    uint64_t seq;
    uint64_t created_ms;
    uint8_t *data;
    size_t len;
    bool done;
} ob_entry;

struct ob_dest {
    char org[33];
    ob_entry *e;
    size_t head, sent, n, cap;
    size_t in_flight;
    size_t pending;
    uint64_t paused_until, backoff_ms, last_progress_ms;
    bool progressed; /* an ack arrived since the last pump */
    UT_hash_handle hh;
};

void outbox_init(outbox *ob, uint64_t window, uint64_t retry_min_ms,
                 uint64_t retry_max_ms, uint64_t ack_timeout_ms,
                 outbox_send_fn send, void *arg)
{
    memset(ob, 0, sizeof *ob);
    ob->window = window;
    ob->retry_min_ms = retry_min_ms;
    ob->retry_max_ms = retry_max_ms;
    ob->ack_timeout_ms = ack_timeout_ms;
    ob->send = send;
    ob->arg = arg;
}

void outbox_fini(outbox *ob)
{
    ob_dest *d, *tmp;
    HASH_ITER(hh, ob->dests, d, tmp)
    {
        HASH_DEL(ob->dests, d);
        for (size_t i = d->head; i < d->n; i++)
            free(d->e[i].data);
        free(d->e);
        free(d);
    }
    ob->pending = 0;
}

static ob_dest *dest_get(outbox *ob, const char *org, bool create)
{
    ob_dest *d = NULL;
    HASH_FIND_STR(ob->dests, org, d);
    if (d || !create)
        return d;
    d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    snprintf(d->org, sizeof d->org, "%s", org);
    d->backoff_ms = ob->retry_min_ms;
    HASH_ADD_STR(ob->dests, org, d);
    return d;
}

/* Drops finished entries at the front; compacts when half is dead. */
static void dest_trim(ob_dest *d)
{
    while (d->head < d->n && d->e[d->head].done)
        d->head++;
    if (d->sent < d->head)
        d->sent = d->head;
    if (d->head == d->n) {
        d->head = d->sent = d->n = 0;
    } else if (d->head > 1024 && d->head * 2 > d->n) {
        memmove(d->e, d->e + d->head, (d->n - d->head) * sizeof *d->e);
        d->n -= d->head;
        d->sent -= d->head;
        d->head = 0;
    }
}

static void dest_rewind(ob_dest *d)
{
    d->sent = d->head;
    d->in_flight = 0;
}

int outbox_add(outbox *ob, uint64_t seq, const char *dest, uint64_t created_ms,
               uint8_t *data, size_t len)
{
    ob_dest *d = dest_get(ob, dest, true);
    if (!d) {
        free(data);
        return POLKU_ENOMEM;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        ob_entry *e = realloc(d->e, cap * sizeof *e);
        if (!e) {
            free(data);
            return POLKU_ENOMEM;
        }
        d->e = e;
        d->cap = cap;
    }
    /* in order, almost always at the end; an older sequence owed again
     * (a restored receiver asked for it) goes to its place, and the
     * destination is rewound so that it is sent in order with the rest */
    size_t at = d->n;
    while (at > d->head && d->e[at - 1].seq > seq)
        at--;
    if (at > d->head && d->e[at - 1].seq == seq) {
        /* owed again while its finished entry is still in the array: it
         * lives again there, so there is one entry per sequence */
        ob_entry *e = &d->e[at - 1];
        if (!e->done) {
            free(data); /* owed already */
            return POLKU_OK;
        }
        *e = (ob_entry){
            .seq = seq, .created_ms = created_ms, .data = data, .len = len};
        if ((size_t)(e - d->e) < d->sent)
            dest_rewind(d);
        ob->pending++;
        d->pending++;
        return POLKU_OK;
    }
    memmove(d->e + at + 1, d->e + at, (d->n - at) * sizeof *d->e);
    d->e[at] = (ob_entry){
        .seq = seq, .created_ms = created_ms, .data = data, .len = len};
    d->n++;
    if (at < d->sent)
        dest_rewind(d);
    ob->pending++;
    d->pending++;
    return POLKU_OK;
}

static ob_entry *entry_find(const ob_dest *d, uint64_t seq)
{
    size_t lo = d->head, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->e[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->e[lo].seq == seq ? &d->e[lo] : NULL;
}

bool outbox_ack(outbox *ob, uint64_t seq, const char *dest)
{
    ob_dest *d = dest_get(ob, dest, false);
    ob_entry *e = d ? entry_find(d, seq) : NULL;
    if (!e || e->done)
        return false;
    e->done = true;
    free(e->data);
    e->data = NULL;
    if ((size_t)(e - d->e) < d->sent && d->in_flight > 0)
        d->in_flight--;
    ob->pending--;
    d->pending--;
    d->backoff_ms = ob->retry_min_ms;
    d->paused_until = 0;
    d->progressed = true;
    dest_trim(d);
    return true;
}

const uint8_t *outbox_find(const outbox *ob, uint64_t seq, const char *dest,
                           size_t *len)
{
    ob_dest *d = NULL;
    HASH_FIND_STR(ob->dests, dest, d);
    ob_entry *e = d ? entry_find(d, seq) : NULL;
    if (!e || e->done)
        return NULL;
    *len = e->len;
    return e->data;
}

void outbox_retry_later(outbox *ob, const char *dest, uint64_t now_ms)
{
    ob_dest *d = dest_get(ob, dest, false);
    if (!d)
        return;
    if (d->paused_until <= now_ms) {
        d->paused_until = now_ms + d->backoff_ms;
        d->backoff_ms *= 2;
        if (d->backoff_ms > ob->retry_max_ms)
            d->backoff_ms = ob->retry_max_ms;
    }
    dest_rewind(d);
}

void outbox_rewind_all(outbox *ob)
{
    for (ob_dest *d = ob->dests; d; d = d->hh.next) {
        dest_rewind(d);
        d->paused_until = 0;
        d->backoff_ms = ob->retry_min_ms;
    }
}

static void dest_pump(outbox *ob, ob_dest *d, uint64_t now_ms)
{
    if (d->paused_until > now_ms)
        return;
    if (d->progressed || d->in_flight == 0) {
        d->last_progress_ms = now_ms;
        d->progressed = false;
    } else if (now_ms - d->last_progress_ms > ob->ack_timeout_ms) {
        dest_rewind(d); /* acks stopped: resend the unacknowledged */
        d->last_progress_ms = now_ms;
    }
    while (d->sent < d->n && d->in_flight < ob->window) {
        ob_entry *e = &d->e[d->sent];
        if (!e->done) {
            if (ob->send(ob->arg, e->data, e->len) != 0)
                return;
            d->in_flight++;
        }
        d->sent++;
    }
}

void outbox_pump(outbox *ob, uint64_t now_ms)
{
    for (ob_dest *d = ob->dests; d; d = d->hh.next)
        dest_pump(ob, d, now_ms);
}

size_t outbox_pending(const outbox *ob)
{
    return ob->pending;
}

void outbox_each_dest(const outbox *ob, outbox_dest_fn fn, void *arg)
{
    for (const ob_dest *d = ob->dests; d; d = d->hh.next)
        if (d->pending > 0) /* trimmed: the head is the oldest pending */
            fn(d->org, d->pending, d->e[d->head].created_ms, arg);
}
