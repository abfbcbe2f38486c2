/* replay_ahead.c — see replay_ahead.h. One helper thread, one batch at a
 * time. The batch's events are claimed one at a time from `next` by the
 * thread and, whenever the event it needs is not ready yet, by the loop
 * itself (each into its own arena): a thread the machine has descheduled
 * delays the loop by one event at most, not by the rest of the batch.
 * An event's `ready` flag is set once its slot is written; the loop sleeps
 * on `cv` only when every event is claimed and the one it needs is still
 * being decoded by the thread. `waiting` (set by the loop, read by the
 * thread after each event) says whether a wake-up is wanted: both
 * sequentially consistent, so one of the two always sees the other (no
 * wake-up lost). */
#include "replay_ahead.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_warm.h"
#include "polku/error.h"
#include "polku/log.h"

#define SPINS 200 /* polls of `ready` before sleeping: about a decode */

/* A slot on a cache line of its own, its flag beside it: the line the
 * thread writes is the one the loop reads next, never one it is reading
 * (no line bounces between the cores while both work). */
typedef struct slot {
    ra_event ev;
    atomic_uchar ready; /* ev written */
} __attribute__((aligned(64))) slot;

struct replay_ahead {
    size_t max_frame;
    polku_arena *arena; /* the thread's */
    polku_arena *own;   /* the caller's (ra_get, inline batches) */
    slot *slots;
    size_t cap;
    /* the batch */
    char org[33];
    const claim_auth_keyed *claim_keyed;
    const ProtobufCBinaryData *events;
    size_t n;
    bool inline_batch; /* decoded by the caller in ra_get */
    size_t decoded;    /* inline: events decoded so far */
    /* the thread */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a batch to do, one ready, the thread idle */
    bool quit, busy;   /* under mu */
    unsigned long job, taken_job, done_job; /* under mu */
    uintptr_t pop_from; /* heap to page in with the next batch */
    size_t pop_len;     /* (under mu) */
    atomic_bool pop_refused;
    atomic_size_t next; /* the next event to claim */
    atomic_bool stop, waiting;
};

static void decode_one(replay_ahead *ra, polku_arena *arena, size_t i)
{
    ra_event *e = &ra->slots[i].ev;
    e->env = NULL;
    e->ours = false;
    e->claim = -1;
    e->rc =
        polku_envelope_decode_in(arena, ra->events[i].data, ra->events[i].len,
                                 ra->max_frame, &e->env, NULL, 0);
    if (e->rc != POLKU_OK) {
        e->env = NULL;
        return;
    }
    e->ours = strcmp(e->env->origin_org, ra->org) == 0 &&
              polku_body_is_event(e->env->body_case);
    if (!e->ours)
        return;
    polku_chain_hash(ra->events[i].data, ra->events[i].len, e->hash);
    const polku_envelope *env = e->env;
    if (ra->claim_keyed &&
        env->body_case == POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED &&
        env->client_key.len == 16 &&
        env->path_claim_answered->outcome !=
            POLKU__CLAIM_OUTCOME__CLAIM_REFUSED)
        e->claim = claim_auth_verify(ra->claim_keyed, env->client_key.data,
                                     env->origin_org, env->path_claim_answered);
}

static void *run(void *arg)
{
    replay_ahead *ra = arg;
    pthread_mutex_lock(&ra->mu);
    for (;;) {
        while (!ra->quit && ra->job == ra->done_job)
            pthread_cond_wait(&ra->cv, &ra->mu);
        if (ra->quit)
            break;
        unsigned long job = ra->job;
        ra->taken_job = job;
        size_t n = ra->n;
        uintptr_t pop_from = ra->pop_from;
        size_t pop_len = ra->pop_len;
        ra->pop_len = 0;
        pthread_mutex_unlock(&ra->mu);
        /* the heap is paged in once the loop has its first events */
        size_t pop_at = n < RA_POPULATE_AFTER ? n : RA_POPULATE_AFTER;
        for (size_t done = 1; !atomic_load(&ra->stop); done++) {
            size_t i = atomic_fetch_add(&ra->next, 1);
            if (i >= n)
                break;
            decode_one(ra, ra->arena, i);
            atomic_store(&ra->slots[i].ready, 1);
            if (atomic_load(&ra->waiting)) {
                pthread_mutex_lock(&ra->mu);
                pthread_cond_broadcast(&ra->cv);
                pthread_mutex_unlock(&ra->mu);
            }
            if (done == pop_at && pop_len) {
                if (heap_warm_populate(pop_from, pop_len))
                    atomic_store(&ra->pop_refused, true);
                pop_len = 0;
            }
        }
        if (pop_len && heap_warm_populate(pop_from, pop_len)) /* stopped */
            atomic_store(&ra->pop_refused, true);
        pthread_mutex_lock(&ra->mu);
        ra->done_job = job;
        ra->busy = false;
        pthread_cond_broadcast(&ra->cv);
    }
    pthread_mutex_unlock(&ra->mu);
    return NULL;
}

int ra_new(size_t max_frame, bool threaded, replay_ahead **out)
{
    *out = NULL;
    replay_ahead *ra = calloc(1, sizeof *ra);
    if (!ra)
        return POLKU_ENOMEM;
    ra->max_frame = max_frame;
    if (polku_arena_new(RA_ARENA_CHUNK, &ra->arena) ||
        polku_arena_new(RA_ARENA_CHUNK, &ra->own)) {
        polku_arena_free(&ra->arena);
        free(ra);
        return POLKU_ENOMEM;
    }
    ra->inline_batch = true;
    atomic_init(&ra->next, 0);
    atomic_init(&ra->stop, false);
    atomic_init(&ra->waiting, false);
    atomic_init(&ra->pop_refused, false);
    if (threaded && pthread_mutex_init(&ra->mu, NULL) == 0) {
        if (pthread_cond_init(&ra->cv, NULL) == 0) {
            int rc = pthread_create(&ra->thread, NULL, run, ra);
            if (rc == 0)
                ra->threaded = true;
            else
                log_warn("replayed events are decoded on the loop's thread: "
                         "no helper thread (%s)",
                         strerror(rc));
            if (!ra->threaded)
                pthread_cond_destroy(&ra->cv);
        }
        if (!ra->threaded)
            pthread_mutex_destroy(&ra->mu);
    }
    *out = ra;
    return POLKU_OK;
}

void ra_destroy(replay_ahead **p)
{
    if (!p || !*p)
        return;
    replay_ahead *ra = *p;
    if (ra->threaded) {
        ra_end(ra);
        pthread_mutex_lock(&ra->mu);
        ra->quit = true;
        pthread_cond_broadcast(&ra->cv);
        pthread_mutex_unlock(&ra->mu);
        pthread_join(ra->thread, NULL);
        pthread_cond_destroy(&ra->cv);
        pthread_mutex_destroy(&ra->mu);
    }
    polku_arena_free(&ra->arena);
    polku_arena_free(&ra->own);
    free(ra->slots);
    free(ra);
    *p = NULL;
}

bool ra_threaded(const replay_ahead *ra)
{
    return ra->threaded;
}

int ra_begin(replay_ahead *ra, const char *org,
             const ProtobufCBinaryData *events, size_t n,
             const claim_auth_keyed *claim_keyed)
{
    if (n > ra->cap) {
        size_t cap = ra->cap ? ra->cap : 256;
        while (cap < n)
            cap *= 2;
        slot *s = aligned_alloc(_Alignof(slot), cap * sizeof *s);
        if (!s)
            return POLKU_ENOMEM;
        free(ra->slots); /* (nothing in them between batches) */
        ra->slots = s;
        ra->cap = cap;
    }
    snprintf(ra->org, sizeof ra->org, "%s", org);
    ra->claim_keyed = claim_keyed;
    ra->events = events;
    ra->n = n;
    ra->decoded = 0;
    ra->inline_batch = !ra->threaded || n < RA_THREADED_MIN;
    if (ra->inline_batch)
        return POLKU_OK;
    for (size_t i = 0; i < n; i++) /* (the thread is idle) */
        atomic_init(&ra->slots[i].ready, 0);
    atomic_store(&ra->next, 0);
    atomic_store(&ra->stop, false);
    pthread_mutex_lock(&ra->mu);
    ra->busy = true;
    ra->job++;
    pthread_cond_broadcast(&ra->cv);
    pthread_mutex_unlock(&ra->mu);
    return POLKU_OK;
}

const ra_event *ra_get(replay_ahead *ra, size_t i)
{
    if (ra->inline_batch) {
        while (ra->decoded <= i)
            decode_one(ra, ra->own, ra->decoded++);
        return &ra->slots[i].ev;
    }
    for (int spin = 0; !atomic_load(&ra->slots[i].ready); spin++) {
        if (atomic_load(&ra->next) < ra->n) { /* the thread lags: help */
            size_t j = atomic_fetch_add(&ra->next, 1);
            if (j < ra->n) {
                decode_one(ra, ra->own, j);
                atomic_store(&ra->slots[j].ready, 1);
            }
            continue;
        }
        if (spin < SPINS) /* the thread is decoding event i */
            continue;
        pthread_mutex_lock(&ra->mu);
        atomic_store(&ra->waiting, true);
        while (!atomic_load(&ra->slots[i].ready))
            pthread_cond_wait(&ra->cv, &ra->mu);
        atomic_store(&ra->waiting, false);
        pthread_mutex_unlock(&ra->mu);
    }
    return &ra->slots[i].ev;
}

void ra_end(replay_ahead *ra)
{
    if (!ra->inline_batch) {
        atomic_store(&ra->stop, true);
        pthread_mutex_lock(&ra->mu);
        if (ra->busy && ra->taken_job != ra->job) { /* never begun */
            ra->done_job = ra->job;
            ra->busy = false;
        }
        while (ra->busy)
            pthread_cond_wait(&ra->cv, &ra->mu);
        pthread_mutex_unlock(&ra->mu);
    }
    ra->inline_batch = true;
    ra->events = NULL;
    ra->claim_keyed = NULL;
    ra->n = ra->decoded = 0;
    polku_arena_reset(ra->arena);
    polku_arena_reset(ra->own);
}

void ra_populate(replay_ahead *ra, uintptr_t from, size_t len)
{
    if (!ra->threaded) {
        if (heap_warm_populate(from, len))
            atomic_store(&ra->pop_refused, true);
        return;
    }
    pthread_mutex_lock(&ra->mu);
    if (ra->pop_len) { /* not begun yet: one range over both */
        uintptr_t end = ra->pop_from + ra->pop_len;
        if (from + len > end)
            end = from + len;
        if (from > ra->pop_from)
            from = ra->pop_from;
        len = end - from;
    }
    ra->pop_from = from;
    ra->pop_len = len;
    pthread_mutex_unlock(&ra->mu);
}

bool ra_populate_refused(const replay_ahead *ra)
{
    return atomic_load(&ra->pop_refused);
}
