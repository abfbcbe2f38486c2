/* holdback.c — see holdback.h. Held events sit in a list (oldest first);
 * counters per object and per org, and per client the terms its held
 * term-beginning events begin, let the gate ask its questions without
 * walking the list (a rebuild holds tens of thousands of events and asks
 * for each event it folds). Each held event also waits on one key (the
 * object it names, or its client): hb_wake finds the events waiting on a
 * key without walking the list either. hb_wake (each event folded) and the
 * object counts (each event held, and asked by the gate) are found in
 * idmaps: one slot read, no chain of records to walk. */
#include "holdback.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "idmap.h"
#include "polku/error.h"

/* An origin whose events were held: its number (in held ids) and how many
 * it has held now. Kept until hb_destroy: the directory's organisations. */
typedef struct origin {
    char org[33];
    uint32_t number;
    unsigned long count;
    UT_hash_handle hh;
} origin;

/* Held events sit on two queues through links of their own: every held
 * event in the order it came (sweeps, hb_drop_oldest), and the woken ones
 * to decide again. One pair of queue operations serves both, given which
 * link (its offset in held_event). */
struct held_event;
typedef struct hb_link {
    struct held_event *prev, *next;
} hb_link;
typedef struct hb_queue {
    struct held_event *head, *tail;
} hb_queue;

typedef struct held_event {
    hb_link order;  /* on holdback.all */
    uint8_t id[16]; /* origin seq, origin number: holdback.by_id */
    origin *origin;
    bool has_object;
    uint8_t object[16];
    bool begins_term;
    uint8_t client_key[16];
    uint32_t term;
    /* what it waits for (hb_wake): its object or its client */
    bool has_wait, ready;
    uint8_t wait_key[16];
    struct held_event *wprev, *wnext; /* the events waiting on wait_key */
    struct waiters *wset;             /* ... and their set */
    hb_link ready_link;               /* on holdback.ready, if ready */
    size_t len;
    uint8_t data[];
} held_event;

typedef struct waiters { /* the held events waiting on one key */
    uint8_t key[16];
    held_event *head;
} waiters;

typedef struct object_count { /* held events naming one object */
    uint8_t key[16];
    unsigned long count;
} object_count;

typedef struct count_entry { /* a client's held term beginnings */
    char key[32];
    unsigned long count;
    /* terms only: the term of each held event counted here (a client has
     * a handful at most) */
    uint32_t *terms;
    size_t n_terms, cap_terms;
    UT_hash_handle hh;
} count_entry;

struct holdback {
    hb_queue all;
    idmap by_id; /* the same events, by (origin, seq) */
    origin *origins;
    uint32_t n_origins;
    size_t count, max;
    idmap objects;      /* object_count, by object id */
    count_entry *terms; /* by client key */
    idmap waits;        /* waiters, by wait_key */
    /* keys with waiters counted by a few bits of their hash: most events
     * folded wake nothing, and a bucket of 0 says so without a lookup (a
     * lookup that misses reads the records in its probe) */
    uint32_t *wait_filter;
    hb_queue ready; /* woken, to decide again */
};

#define WAIT_FILTER_BITS 16

static size_t filter_bucket(const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return (size_t)(((a ^ b) * 0x9e3779b97f4a7c15u) >> (64 - WAIT_FILTER_BITS));
}

holdback *hb_new(size_t max_events)
{
    holdback *hb = calloc(1, sizeof *hb);
    if (hb && !(hb->wait_filter = calloc((size_t)1 << WAIT_FILTER_BITS,
                                         sizeof *hb->wait_filter))) {
        free(hb);
        return NULL;
    }
    if (!hb)
        return NULL;
    hb->max = max_events;
    idmap_init(&hb->by_id, offsetof(held_event, id));
    idmap_init(&hb->objects, offsetof(object_count, key));
    idmap_init(&hb->waits, offsetof(waiters, key));
    return hb;
}

static void counts_free(count_entry **set)
{
    count_entry *e, *tmp;
    HASH_ITER(hh, *set, e, tmp)
    {
        HASH_DEL(*set, e);
        free(e->terms);
        free(e);
    }
}

static void index_event(holdback *hb, struct held_event *e, int delta);

void hb_destroy(holdback **hb)
{
    if (!hb || !*hb)
        return;
    for (held_event *e = (*hb)->all.head, *next; e; e = next) {
        next = e->order.next;
        index_event(*hb, e, -1); /* frees its waiters and object counts */
        free(e);
    }
    idmap_fini(&(*hb)->by_id);
    idmap_fini(&(*hb)->objects);
    idmap_fini(&(*hb)->waits);
    counts_free(&(*hb)->terms);
    free((*hb)->wait_filter);
    origin *o, *tmp;
    HASH_ITER(hh, (*hb)->origins, o, tmp)
    {
        HASH_DEL((*hb)->origins, o);
        free(o);
    }
    free(*hb);
    *hb = NULL;
}

/* One more (or one less) held event naming the object id. */
static void object_add(holdback *hb, const uint8_t id[16], int delta)
{
    object_count *c = idmap_find(&hb->objects, id);
    if (delta < 0) {
        if (c && --c->count == 0)
            free(idmap_remove(&hb->objects, id));
        return;
    }
    if (!c) {
        c = malloc(sizeof *c);
        if (!c)
            return; /* a count lost only makes a question answer "no" */
        memcpy(c->key, id, 16);
        c->count = 0;
        if (idmap_put(&hb->objects, c)) {
            free(c);
            return;
        }
    }
    c->count++;
}

/* Keys: org ids as they are (their length), 16-byte ids as bytes. */
static size_t org_len(const char *org)
{
    return strnlen(org, 32);
}

/* The entry counted: found or added (delta > 0), NULL if none. */
static count_entry *count_add(count_entry **set, const void *key, size_t len,
                              int delta)
{
    count_entry *e = NULL;
    HASH_FIND(hh, *set, key, len, e);
    if (!e) {
        if (delta < 0)
            return NULL;
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL; /* a count lost only makes a question answer "no" */
        memcpy(e->key, key, len);
        HASH_ADD(hh, *set, key, len, e);
    }
    if (delta > 0) {
        e->count++;
    } else if (--e->count == 0) {
        HASH_DEL(*set, e);
        free(e->terms);
        free(e);
        return NULL;
    }
    return e;
}

/* One more (or one less) held event of the entry's client beginning term. */
static void terms_note(count_entry *e, uint32_t term, int delta)
{
    if (delta < 0) {
        for (size_t i = 0; i < e->n_terms; i++)
            if (e->terms[i] == term) {
                e->terms[i] = e->terms[--e->n_terms];
                return;
            }
        return;
    }
    if (e->n_terms == e->cap_terms) {
        size_t cap = e->cap_terms ? 2 * e->cap_terms : 4;
        uint32_t *t = realloc(e->terms, cap * sizeof *t);
        if (!t)
            return; /* a term lost only makes a question answer "no" */
        e->terms = t;
        e->cap_terms = cap;
    }
    e->terms[e->n_terms++] = term;
}

/* The term an event begins, if it may begin one. */
static bool event_term(const polku_envelope *env, uint32_t *term)
{
    if (env->client_key.len != 16)
        return false;
    if (env->body_case == POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED &&
        env->handover_answered->status ==
            POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED) {
        *term = env->handover_answered->term;
        return true;
    }
    if (env->body_case == POLKU__ENVELOPE__BODY_PATH_CLOSED) {
        *term = env->path_closed->term + 1;
        return true;
    }
    return false;
}

/* The key a held event waits on: the referral, consent or offer it
 * answers must be folded first; any other event waits on its client
 * (a consent, a term begun). */
static bool event_wait_key(const polku_envelope *env, uint8_t key[16])
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return polku_event_object_id(env, key);
    default:
        if (env->client_key.len != 16)
            return false;
        memcpy(key, env->client_key.data, 16);
        return true;
    }
}

#define ORDER offsetof(held_event, order)
#define READY offsetof(held_event, ready_link)

static hb_link *link_at(held_event *e, size_t at)
{
    return (hb_link *)((char *)e + at);
}

static void queue_remove(hb_queue *q, held_event *e, size_t at)
{
    hb_link *l = link_at(e, at);
    if (l->prev)
        link_at(l->prev, at)->next = l->next;
    else
        q->head = l->next;
    if (l->next)
        link_at(l->next, at)->prev = l->prev;
    else
        q->tail = l->prev;
    l->prev = l->next = NULL;
}

static void queue_append(hb_queue *q, held_event *e, size_t at)
{
    hb_link *l = link_at(e, at);
    l->prev = q->tail;
    l->next = NULL;
    if (q->tail)
        link_at(q->tail, at)->next = e;
    else
        q->head = e;
    q->tail = e;
}

static void ready_remove(holdback *hb, held_event *e)
{
    if (!e->ready)
        return;
    queue_remove(&hb->ready, e, READY);
    e->ready = false;
}

static void ready_append(holdback *hb, held_event *e)
{
    if (e->ready)
        return;
    e->ready = true;
    queue_append(&hb->ready, e, READY);
}

static void wait_index(holdback *hb, held_event *e, int delta)
{
    if (!e->has_wait)
        return;
    if (delta < 0) {
        if (!e->wset)
            return;
        if (e->wprev)
            e->wprev->wnext = e->wnext;
        else
            e->wset->head = e->wnext;
        if (e->wnext)
            e->wnext->wprev = e->wprev;
        if (!e->wset->head) {
            hb->wait_filter[filter_bucket(e->wset->key)]--;
            free(idmap_remove(&hb->waits, e->wset->key));
        }
        e->wset = NULL;
        e->wprev = e->wnext = NULL;
        return;
    }
    waiters *w = idmap_find(&hb->waits, e->wait_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return; /* not woken then: decided at the next sweep */
        memcpy(w->key, e->wait_key, 16);
        if (idmap_put(&hb->waits, w)) {
            free(w);
            return;
        }
        hb->wait_filter[filter_bucket(w->key)]++;
    }
    e->wset = w;
    e->wprev = NULL;
    e->wnext = w->head;
    if (w->head)
        w->head->wprev = e;
    w->head = e;
}

static void index_event(holdback *hb, held_event *e, int delta)
{
    wait_index(hb, e, delta);
    if (e->has_object)
        object_add(hb, e->object, delta);
    if (delta > 0)
        e->origin->count++;
    else
        e->origin->count--;
    if (e->begins_term) {
        count_entry *c = count_add(&hb->terms, e->client_key, 16, delta);
        if (c) /* removed with its last event otherwise */
            terms_note(c, e->term, delta);
    }
}

/* The origin named org (its first 32 characters), added if new. */
static origin *origin_get(holdback *hb, const char *org)
{
    size_t len = org_len(org);
    origin *o = NULL;
    HASH_FIND(hh, hb->origins, org, len, o);
    if (o)
        return o;
    o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    memcpy(o->org, org, len);
    o->number = hb->n_origins++;
    HASH_ADD(hh, hb->origins, org, len, o);
    return o;
}

int hb_hold(holdback *hb, const polku_envelope *env, const uint8_t *data,
            size_t len)
{
    origin *o = origin_get(hb, env->origin_org);
    if (!o)
        return POLKU_ENOMEM;
    uint8_t id[16] = {0};
    memcpy(id, &env->origin_seq, 8);
    memcpy(id + 8, &o->number, 4);
    if (o->count >= hb->max)
        return idmap_find(&hb->by_id, id) ? POLKU_EEXIST : POLKU_EFULL;
    /* the header zeroed, the data copied over (not zeroed first) */
    held_event *e = malloc(sizeof *e + len);
    if (!e)
        return POLKU_ENOMEM;
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, 16);
    int rc = idmap_put_new(&hb->by_id, e); /* POLKU_EEXIST: held already */
    if (rc) {
        free(e);
        return rc;
    }
    e->origin = o;
    e->has_object = polku_event_object_id(env, e->object);
    e->begins_term = event_term(env, &e->term);
    if (e->begins_term)
        memcpy(e->client_key, env->client_key.data, 16);
    e->has_wait = event_wait_key(env, e->wait_key);
    e->len = len;
    memcpy(e->data, data, len);
    queue_append(&hb->all, e, ORDER);
    index_event(hb, e, +1);
    hb->count++;
    return POLKU_OK;
}

bool hb_holds_object(const holdback *hb, const uint8_t id[16])
{
    return idmap_find(&hb->objects, id) != NULL;
}

bool hb_holds_org(const holdback *hb, const char *org)
{
    return hb_count_origin(hb, org) > 0;
}

bool hb_holds_term(const holdback *hb, const uint8_t key[16], uint32_t term)
{
    count_entry *c = NULL;
    HASH_FIND(hh, hb->terms, key, 16, c);
    for (size_t i = 0; c && i < c->n_terms; i++)
        if (c->terms[i] <= term)
            return true;
    return false;
}

size_t hb_count(const holdback *hb)
{
    return hb->count;
}

size_t hb_count_origin(const holdback *hb, const char *org)
{
    origin *o = NULL;
    HASH_FIND(hh, hb->origins, org, org_len(org), o);
    return o ? o->count : 0;
}

static void forget(holdback *hb, held_event *e)
{
    queue_remove(&hb->all, e, ORDER);
    idmap_remove(&hb->by_id, e->id);
    hb->count--;
    free(e);
    if (hb->count == 0) { /* nothing waits: a rebuild's tables are freed */
        idmap_fini(&hb->by_id);
        if (!idmap_count(&hb->objects))
            idmap_fini(&hb->objects);
        if (!idmap_count(&hb->waits))
            idmap_fini(&hb->waits);
    }
}

/* fn decides e once more (off the ready queue, out of the indexes while
 * it does: fn may hold or wake others): settled and forgotten (1), or
 * indexed again to wait on (0). */
static size_t decide(holdback *hb, held_event *e, hb_decide_fn fn, void *arg)
{
    ready_remove(hb, e);
    index_event(hb, e, -1);
    if (fn(e->data, e->len, arg)) {
        forget(hb, e);
        return 1;
    }
    index_event(hb, e, +1);
    return 0;
}

size_t hb_sweep(holdback *hb, hb_decide_fn fn, void *arg)
{
    size_t settled = 0, before;
    do {
        before = settled;
        held_event *e = hb->all.head, *next;
        /* events held during this round go to the tail: seen next round */
        held_event *last = hb->all.tail;
        while (e) {
            next = e->order.next;
            bool end = e == last;
            settled += decide(hb, e, fn, arg); /* here, not when woken */
            if (end)
                break;
            e = next;
        }
    } while (settled > before && hb->count > 0);
    return settled;
}

void hb_wake(holdback *hb, const uint8_t key[16])
{
    if (!hb->wait_filter[filter_bucket(key)])
        return;
    waiters *w = idmap_find(&hb->waits, key);
    for (held_event *e = w ? w->head : NULL; e; e = e->wnext)
        ready_append(hb, e);
}

bool hb_any_ready(const holdback *hb)
{
    return hb->ready.head != NULL;
}

size_t hb_decide_ready(holdback *hb, hb_decide_fn fn, void *arg)
{
    size_t settled = 0;
    held_event *e;
    while ((e = hb->ready.head))
        settled += decide(hb, e, fn, arg);
    return settled;
}

bool hb_drop_oldest(holdback *hb,
                    void (*fn)(const uint8_t *data, size_t len, void *arg),
                    void *arg)
{
    held_event *e = hb->all.head;
    if (!e)
        return false;
    ready_remove(hb, e);
    index_event(hb, e, -1);
    fn(e->data, e->len, arg);
    forget(hb, e);
    return true;
}
