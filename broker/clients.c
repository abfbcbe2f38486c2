/* clients.c — referrals, services and timelines folded per client. */
#include "clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/error.h"
#include "polku/json.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/id.h"
#include "polku/referral.h"
#include "idmap.h"
#include "pool.h"

#define CL_MAX_NAMES 65535

typedef struct referral_entry {
    cl_referral r; /* by r.id in client_index.referrals */
    struct referral_entry *next_of_client;
} referral_entry;

/* One organisation's service for the client: its latest start or end. */
typedef struct service_entry {
    uint16_t org, service;
    bool running;
    uint64_t at_ms, seq;
} service_entry;

typedef struct timeline_entry {
    uint64_t at_ms, seq;
    uint16_t org;
    uint8_t event; /* index into event_names */
    uint8_t id[16];
    bool has_id;
} timeline_entry;

typedef struct client_entry {
    uint8_t key[16];
    uint64_t first_ms;
    referral_entry *referrals; /* list by next_of_client */
    service_entry *services;
    uint8_t n_services, cap_services;
    uint8_t n_timeline, cap_timeline;
    bool changed;             /* on the changed list (in the padding here) */
    bool named;               /* noted in the display (cl_set_display) */
    timeline_entry *timeline; /* sorted oldest first, CL_TIMELINE_MAX */
    struct client_entry *next_changed;
} client_entry;

typedef struct name_entry {
    uint16_t idx;
    UT_hash_handle hh;
    char name[];
} name_entry;

struct client_index {
    idmap clients;     /* client_entry by key, in client_pool */
    idmap referrals;   /* referral_entry by id, in referral_pool */
    name_entry *names; /* by name */
    char **by_idx;     /* idx -> name; [0] unused */
    size_t n_names, cap_names;
    size_t open;
    override_index *overrides;       /* break-glass until reviewed */
    client_entry *changed;           /* events folded since cl_take_changed */
    display *display;                /* clients noted as they become known */
    pool client_pool, referral_pool; /* entries, freed with the index */
    /* The client and referral found last: the gate, the fold and the feed
     * ask for the same ones in turn for each event. Entries are freed only
     * with the index, so a pointer kept here stays valid. Behind a pointer
     * so that the const lookups may update it. */
    struct cl_last {
        client_entry *client;
        referral_entry *referral;
        uint16_t origin; /* the name an event's origin interned last */
    } * last;
};

/* ---- event names ---- */

static const char *const event_names[] = {
    "",
    "referral.requested",
    "referral.received",
    "referral.accepted",
    "referral.rejected",
    "referral.in-progress",
    "referral.on-hold",
    "referral.completed",
    "referral.failed",
    "referral.cancelled",
    "referral.cancel_requested",
    "consent.granted",
    "consent.revoked",
    "path.claim_won",
    "path.claim_lost",
    "path.closed",
    "path.plan",
    "service.started",
    "service.ended",
    "handover.offered",
    "handover.accepted",
    "handover.declined",
    "handover.withdrawn",
    "handover.failed",
    "handover.withdraw_requested",
};
#define N_EVENT_NAMES (sizeof event_names / sizeof event_names[0])
_Static_assert(N_EVENT_NAMES == 25, "event_index numbers these names");

/* The index of the event's topic in event_names (0: not a client event):
 * a byte per timeline entry instead of a pointer. By body and status, as
 * polku_event_topic names them (clients_test checks every case), without
 * comparing the topic with each name for every folded event. */
static uint8_t event_index(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return 1;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS: {
        unsigned s = env->referral_status->status;
        return s >= 1 && s <= 9 ? (uint8_t)s : 0; /* listed in state order */
    }
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return 10;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        return 11;
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return 12;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        switch (env->path_claim_answered->outcome) {
        case POLKU__CLAIM_OUTCOME__CLAIM_WON:
            return 13;
        case POLKU__CLAIM_OUTCOME__CLAIM_LOST:
            return 14;
        default:
            return 0;
        }
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        return 15;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return 16;
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        return 17;
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        return 18;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return 19;
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED: {
        unsigned s = env->handover_answered->status;
        return s >= 2 && s <= 5 ? (uint8_t)(18 + s) : 0;
    }
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return 24;
    default:
        return 0;
    }
}

bool cl_notes_display(const client_index *cl, const polku_envelope *env)
{
    return cl->display && env->client_key.len == 16 && env->origin_org &&
           env->origin_org[0] && event_index(env) != 0;
}

const char *cl_event_name(const polku_envelope *env)
{
    uint8_t i = event_index(env);
    return i ? event_names[i] : NULL;
}

/* ---- names ---- */

static uint16_t intern(client_index *cl, const char *name)
{
    if (!name || !*name)
        return 0;
    name_entry *n = NULL;
    HASH_FIND_STR(cl->names, name, n);
    if (n)
        return n->idx;
    if (cl->n_names + 1 >= CL_MAX_NAMES)
        return 0;
    if (cl->n_names + 1 >= cl->cap_names) {
        size_t cap = cl->cap_names ? 2 * cl->cap_names : 16;
        char **by = realloc(cl->by_idx, cap * sizeof *by);
        if (!by)
            return 0;
        cl->by_idx = by;
        cl->cap_names = cap;
    }
    size_t len = strlen(name);
    n = calloc(1, sizeof *n + len + 1);
    if (!n)
        return 0;
    memcpy(n->name, name, len + 1);
    n->idx = (uint16_t)++cl->n_names;
    cl->by_idx[n->idx] = n->name;
    HASH_ADD_STR(cl->names, name, n);
    return n->idx;
}

const char *cl_name(const client_index *cl, uint16_t idx)
{
    return idx && idx <= cl->n_names ? cl->by_idx[idx] : "";
}

/* The event's origin, interned: a replay folds thousands of events of one
 * origin in a row (a strcmp instead of a hash). */
static uint16_t intern_origin(client_index *cl, const polku_envelope *env)
{
    uint16_t last = cl->last->origin;
    if (last && env->origin_org &&
        strcmp(cl_name(cl, last), env->origin_org) == 0)
        return last;
    uint16_t idx = intern(cl, env->origin_org);
    if (idx)
        cl->last->origin = idx;
    return idx;
}

/* ---- life ---- */

client_index *cl_new(void)
{
    client_index *cl = calloc(1, sizeof(client_index));
    if (!cl)
        return NULL;
    pool_init(&cl->client_pool, sizeof(client_entry), 0);
    idmap_init(&cl->clients, offsetof(client_entry, key));
    idmap_init(&cl->referrals, offsetof(referral_entry, r.id));
    pool_init(&cl->referral_pool, sizeof(referral_entry), 0);
    cl->overrides = ov_new();
    cl->last = calloc(1, sizeof *cl->last);
    if (!cl->overrides || !cl->last) {
        ov_destroy(&cl->overrides);
        free(cl->last);
        free(cl);
        return NULL;
    }
    return cl;
}

void cl_set_display(client_index *cl, display *names)
{
    cl->display = names;
}

const override_index *cl_overrides(const client_index *cl)
{
    return cl->overrides;
}

void cl_destroy(client_index **clp)
{
    if (!clp || !*clp)
        return;
    client_index *cl = *clp;
    ov_destroy(&cl->overrides);
    idmap_fini(&cl->referrals);
    client_entry *c;
    for (pool_cursor at = pool_begin(&cl->client_pool);
         (c = pool_next(&cl->client_pool, &at));) {
        free(c->services);
        free(c->timeline);
    }
    idmap_fini(&cl->clients);
    pool_fini(&cl->referral_pool);
    pool_fini(&cl->client_pool);
    name_entry *n, *ntmp;
    HASH_ITER(hh, cl->names, n, ntmp)
    {
        HASH_DEL(cl->names, n);
        free(n);
    }
    free(cl->by_idx);
    free(cl->last);
    free(cl);
    *clp = NULL;
}

static client_entry *client_find(const client_index *cl, const uint8_t key[16])
{
    client_entry *c = cl->last->client;
    if (c && memcmp(c->key, key, 16) == 0)
        return c;
    c = idmap_find(&cl->clients, key);
    if (c)
        cl->last->client = c;
    return c;
}

static referral_entry *referral_find(const client_index *cl,
                                     const uint8_t id[16])
{
    referral_entry *e = cl->last->referral;
    if (e && memcmp(e->r.id, id, 16) == 0)
        return e;
    e = idmap_find(&cl->referrals, id);
    if (e)
        cl->last->referral = e;
    return e;
}

static client_entry *client_get(client_index *cl, const uint8_t key[16])
{
    client_entry *c = client_find(cl, key);
    if (c)
        return c;
    if (idmap_reserve(&cl->clients) != POLKU_OK ||
        !(c = pool_calloc(&cl->client_pool)))
        return NULL;
    memcpy(c->key, key, 16);
    idmap_put(&cl->clients, c); /* reserved: cannot fail */
    return c;
}

/* ---- referrals ---- */

bool cl_referral_pending(const cl_referral *r)
{
    return r->status == POLKU__REFERRAL_STATE__REFERRAL_REQUESTED ||
           r->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED;
}

bool cl_referral_open(const cl_referral *r)
{
    return r->status != 0 &&
           !polku_referral_state_final((polku_referral_state)r->status);
}

static referral_entry *referral_get(client_index *cl, client_entry *c,
                                    const uint8_t id[16])
{
    referral_entry *e = referral_find(cl, id);
    if (e)
        return e;
    if (idmap_reserve(&cl->referrals) != POLKU_OK ||
        !(e = pool_calloc(&cl->referral_pool)))
        return NULL;
    memcpy(e->r.id, id, 16);
    memcpy(e->r.client_key, c->key, 16);
    idmap_put(&cl->referrals, e); /* reserved: cannot fail */
    e->next_of_client = c->referrals;
    c->referrals = e;
    return e;
}

static void set_open(client_index *cl, cl_referral *r, bool was_open)
{
    bool open = cl_referral_open(r);
    if (open && !was_open)
        cl->open++;
    else if (!open && was_open)
        cl->open--;
}

static void on_requested(client_index *cl, client_entry *c,
                         const polku_envelope *env)
{
    const Polku__ReferralRequested *q = env->referral_requested;
    if (q->referral_id.len != 16 || env->n_to != 1)
        return;
    referral_entry *e = referral_get(cl, c, q->referral_id.data);
    if (!e || e->r.requested)
        return;
    cl_referral *r = &e->r;
    bool was_open = cl_referral_open(r);
    r->requested = true;
    r->from = intern_origin(cl, env);
    r->to = intern(cl, env->to[0]);
    r->service = intern(cl, q->service);
    r->created_ms = env->time_ms;
    r->due_ms = q->due_ms;
    r->urgent = q->urgency && strcmp(q->urgency, "urgent") == 0;
    if (q->consent_id.len == 16)
        memcpy(r->consent_id, q->consent_id.data, 16);
    if (r->status == 0) {
        r->status = POLKU__REFERRAL_STATE__REFERRAL_REQUESTED;
        r->status_ms = env->time_ms;
    }
    set_open(cl, r, was_open);
}

static uint64_t earliest(uint64_t have, uint64_t t)
{
    return have == 0 || t < have ? t : have;
}

static void on_status(client_index *cl, client_entry *c,
                      const polku_envelope *env)
{
    const Polku__ReferralStatus *st = env->referral_status;
    if (st->referral_id.len != 16 || st->status < 1 || st->status > 9)
        return;
    referral_entry *e = referral_get(cl, c, st->referral_id.data);
    if (!e)
        return;
    cl_referral *r = &e->r;
    bool was_open = cl_referral_open(r);
    bool by_sender = st->status == POLKU__REFERRAL_STATE__REFERRAL_FAILED &&
                     env->n_to == 0; /* its own `failed` */
    if (!r->requested) { /* the request is still to come: parties now */
        if (by_sender && !r->from)
            r->from = intern_origin(cl, env);
        if (!by_sender && !r->to)
            r->to = intern_origin(cl, env);
        if (!by_sender && !r->from && env->n_to == 1)
            r->from = intern(cl, env->to[0]);
    }
    if (st->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED)
        r->received_ms = earliest(r->received_ms, env->time_ms);
    else if (st->status != POLKU__REFERRAL_STATE__REFERRAL_REQUESTED)
        r->answered_ms = earliest(r->answered_ms, env->time_ms);
    /* the writer's highest version wins; ties: the later state */
    if (st->version > r->version ||
        (st->version == r->version && st->status > r->status)) {
        r->version = st->version;
        r->status = (uint8_t)st->status;
        r->status_ms = env->time_ms;
    }
    set_open(cl, r, was_open);
}

/* ---- services ---- */

static void on_service(client_entry *c, client_index *cl,
                       const polku_envelope *env, const char *service,
                       bool running)
{
    uint16_t org = intern_origin(cl, env), svc = intern(cl, service);
    if (!org || !svc)
        return;
    service_entry *s = NULL;
    for (size_t i = 0; i < c->n_services; i++)
        if (c->services[i].org == org && c->services[i].service == svc)
            s = &c->services[i];
    if (!s) {
        if (c->n_services == UINT8_MAX)
            return;
        if (c->n_services == c->cap_services) {
            size_t cap = c->cap_services ? 2u * c->cap_services : 2u;
            if (cap > UINT8_MAX)
                cap = UINT8_MAX;
            service_entry *list = realloc(c->services, cap * sizeof *list);
            if (!list)
                return;
            c->services = list;
            c->cap_services = (uint8_t)cap;
        }
        s = &c->services[c->n_services++];
        s->org = org;
        s->service = svc;
        s->at_ms = 0;
        s->seq = 0;
        s->running = false;
    }
    /* the latest by (time, seq) of the same org's log wins */
    if (env->time_ms > s->at_ms ||
        (env->time_ms == s->at_ms && env->origin_seq > s->seq)) {
        s->at_ms = env->time_ms;
        s->seq = env->origin_seq;
        s->running = running;
    }
}

void cl_presize(client_index *cl, size_t clients, size_t referrals)
{
    idmap_presize(&cl->clients, clients);
    idmap_presize(&cl->referrals, referrals);
}

/* ---- timeline ---- */

/* Orders entries by (time, org name, seq): the same whatever the order
 * they were added in. */
static int timeline_cmp(const client_index *cl, const timeline_entry *a,
                        const timeline_entry *b)
{
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    int c = strcmp(cl_name(cl, a->org), cl_name(cl, b->org));
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void timeline_add(client_index *cl, client_entry *c,
                         const polku_envelope *env, uint8_t event)
{
    timeline_entry t = {.at_ms = env->time_ms,
                        .seq = env->origin_seq,
                        .org = intern_origin(cl, env),
                        .event = event};
    t.has_id = polku_event_object_id(env, t.id);
    if (c->n_timeline == c->cap_timeline && c->cap_timeline < CL_TIMELINE_MAX) {
        size_t cap = c->cap_timeline ? 2u * c->cap_timeline : 4u;
        if (cap > CL_TIMELINE_MAX)
            cap = CL_TIMELINE_MAX;
        timeline_entry *tl = realloc(c->timeline, cap * sizeof *tl);
        if (!tl)
            return;
        c->timeline = tl;
        c->cap_timeline = (uint8_t)cap;
    }
    size_t n = c->n_timeline, at = n;
    while (at > 0 && timeline_cmp(cl, &c->timeline[at - 1], &t) > 0)
        at--;
    if (n == CL_TIMELINE_MAX) { /* full: the oldest goes */
        if (at == 0)
            return; /* older than everything kept */
        memmove(&c->timeline[0], &c->timeline[1],
                (at - 1) * sizeof *c->timeline);
        c->timeline[at - 1] = t;
        return;
    }
    memmove(&c->timeline[at + 1], &c->timeline[at],
            (n - at) * sizeof *c->timeline);
    c->timeline[at] = t;
    c->n_timeline++;
}

/* ---- apply ---- */

/* The client's alerts may have changed (cl_take_changed). */
static void note_changed(client_index *cl, client_entry *c)
{
    if (!c || c->changed)
        return;
    c->changed = true;
    c->next_changed = cl->changed;
    cl->changed = c;
}

bool cl_apply(client_index *cl, const polku_envelope *env)
{
    if (env->origin_org && env->origin_org[0])
        ov_apply(cl->overrides, env);
    if (env->client_key.len != 16)
        return false;
    uint8_t event = event_index(env);
    if (!event || !env->origin_org || !env->origin_org[0]) {
        /* consents and paths fold it too */
        note_changed(cl, client_find(cl, env->client_key.data));
        return false;
    }
    client_entry *c = client_get(cl, env->client_key.data);
    if (!c)
        return false;
    note_changed(cl, c);
    if (cl->display && !c->named)
        c->named = display_note(cl->display, c->key) == POLKU_OK;
    c->first_ms = earliest(c->first_ms, env->time_ms);
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        on_requested(cl, c, env);
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        on_status(cl, c, env);
        break;
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        on_service(c, cl, env, env->service_started->service, true);
        break;
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        on_service(c, cl, env, env->service_ended->service, false);
        break;
    default:
        break;
    }
    timeline_add(cl, c, env, event);
    return true;
}

/* ---- queries ---- */

const cl_referral *cl_referral_find(const client_index *cl,
                                    const uint8_t id[16])
{
    referral_entry *e = referral_find(cl, id);
    return e ? &e->r : NULL;
}

void cl_each_referral(const client_index *cl, cl_referral_fn fn, void *arg)
{
    referral_entry *e;
    for (pool_cursor at = pool_begin(&cl->referral_pool);
         (e = pool_next(&cl->referral_pool, &at));)
        fn(&e->r, arg);
}

void cl_each_referral_of(const client_index *cl, const uint8_t key[16],
                         cl_referral_fn fn, void *arg)
{
    const client_entry *c = client_find(cl, key);
    for (referral_entry *e = c ? c->referrals : NULL; e; e = e->next_of_client)
        fn(&e->r, arg);
}

void cl_take_changed(client_index *cl, cl_key_fn fn, void *arg)
{
    client_entry *c = cl->changed;
    cl->changed = NULL;
    while (c) {
        client_entry *next = c->next_changed;
        c->changed = false;
        c->next_changed = NULL;
        if (fn)
            fn(c->key, arg);
        c = next;
    }
}

bool cl_followed_up(const client_index *cl, const uint8_t key[16],
                    uint64_t after_ms)
{
    const client_entry *c = client_find(cl, key);
    for (referral_entry *e = c ? c->referrals : NULL; e; e = e->next_of_client)
        if (e->r.requested && e->r.created_ms > after_ms)
            return true;
    return false;
}

void cl_each_client(const client_index *cl, cl_client_fn fn, void *arg)
{
    client_entry *c;
    for (pool_cursor at = pool_begin(&cl->client_pool);
         (c = pool_next(&cl->client_pool, &at));)
        fn(c->key, c->first_ms, arg);
}

bool cl_in_services(const client_index *cl, const uint8_t key[16])
{
    const client_entry *c = client_find(cl, key);
    if (!c)
        return false;
    for (size_t i = 0; i < c->n_services; i++)
        if (c->services[i].running)
            return true;
    for (referral_entry *e = c->referrals; e; e = e->next_of_client)
        if (e->r.status == POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED ||
            e->r.status == POLKU__REFERRAL_STATE__REFERRAL_IN_PROGRESS ||
            e->r.status == POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD)
            return true;
    return false;
}

bool cl_known(const client_index *cl, const uint8_t key[16])
{
    return client_find(cl, key) != NULL;
}

size_t cl_count_clients(const client_index *cl)
{
    return idmap_count(&cl->clients);
}

size_t cl_count_referrals(const client_index *cl)
{
    return idmap_count(&cl->referrals);
}

size_t cl_count_open(const client_index *cl)
{
    return cl->open;
}

/* ---- JSON ---- */

static json_t *id_json(const uint8_t id[16])
{
    polku_id pid;
    char text[POLKU_ID_TEXT];
    memcpy(pid.b, id, 16);
    polku_id_format(&pid, text);
    return json_string(text);
}

json_t *cl_referral_change_json(const client_index *cl, const cl_referral *r)
{
    return json_pack(
        "{s:o, s:s, s:s, s:s, s:s, s:I, s:s}", "id", id_json(r->id), "from",
        cl_name(cl, r->from), "to", cl_name(cl, r->to), "service",
        cl_name(cl, r->service), "status",
        r->status ? polku_referral_state_name(r->status) : "unknown", "version",
        (json_int_t)r->version, "urgency", r->urgent ? "urgent" : "routine");
}

json_t *cl_referral_json(const client_index *cl, const cl_referral *r,
                         uint64_t now_ms, const display *names)
{
    json_t *j = cl_referral_change_json(cl, r);
    if (!j)
        return NULL;
    char key[DISPLAY_NAME_TEXT];
    display_name(names, r->client_key, key);
    uint64_t since = r->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
                         ? r->received_ms
                         : r->created_ms;
    json_object_set_new(j, "client_key", json_string(key));
    json_object_set_new(j, "created", polku_json_time(r->created_ms));
    json_object_set_new(j, "received", polku_json_time(r->received_ms));
    json_object_set_new(j, "answered", polku_json_time(r->answered_ms));
    json_object_set_new(j, "due", polku_json_time(r->due_ms));
    json_object_set_new(j, "age_s",
                        json_integer((json_int_t)(since && now_ms > since
                                                      ? (now_ms - since) / 1000
                                                      : 0)));
    return j;
}

json_t *cl_client_json(const client_index *cl, const uint8_t key[16],
                       uint64_t now_ms, const display *names)
{
    const client_entry *c = client_find(cl, key);
    if (!c)
        return NULL;
    json_t *refs = json_array(), *services = json_array(),
           *timeline = json_array();
    for (referral_entry *e = c->referrals; e; e = e->next_of_client)
        json_array_append_new(refs, cl_referral_json(cl, &e->r, now_ms, names));
    for (size_t i = 0; i < c->n_services; i++) {
        const service_entry *s = &c->services[i];
        if (s->running)
            json_array_append_new(services,
                                  json_pack("{s:s, s:s, s:o}", "org",
                                            cl_name(cl, s->org), "service",
                                            cl_name(cl, s->service), "since",
                                            polku_json_time(s->at_ms)));
    }
    for (size_t i = 0; i < c->n_timeline; i++) {
        const timeline_entry *t = &c->timeline[i];
        json_t *j =
            json_pack("{s:o, s:s, s:s}", "at", polku_json_time(t->at_ms), "org",
                      cl_name(cl, t->org), "event", event_names[t->event]);
        if (t->has_id)
            json_object_set_new(j, "id", id_json(t->id));
        json_array_append_new(timeline, j);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "first_seen",
                     polku_json_time(c->first_ms), "referrals", refs,
                     "services", services, "timeline", timeline);
}

/* ---- digest ---- */

static int key_cmp(const void *a, const void *b)
{
    const client_entry *x = *(client_entry *const *)a;
    const client_entry *y = *(client_entry *const *)b;
    return memcmp(x->key, y->key, 16);
}

static int ref_cmp(const void *a, const void *b)
{
    const cl_referral *x = *(const cl_referral *const *)a;
    const cl_referral *y = *(const cl_referral *const *)b;
    return memcmp(x->id, y->id, 16);
}

static void feed_u64(crypto_hash_sha256_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    crypto_hash_sha256_update(h, b, 8);
}

static void feed_str(crypto_hash_sha256_state *h, const char *s)
{
    crypto_hash_sha256_update(h, (const uint8_t *)s, strlen(s) + 1);
}

static void digest_client(const client_index *cl, const client_entry *c,
                          crypto_hash_sha256_state *h)
{
    crypto_hash_sha256_update(h, c->key, 16);
    feed_u64(h, c->first_ms);
    size_t n = 0;
    for (referral_entry *e = c->referrals; e; e = e->next_of_client)
        n++;
    const cl_referral **refs = n ? malloc(n * sizeof *refs) : NULL;
    size_t k = 0;
    for (referral_entry *e = c->referrals; refs && e; e = e->next_of_client)
        refs[k++] = &e->r;
    if (refs)
        qsort(refs, n, sizeof *refs, ref_cmp);
    feed_u64(h, n);
    for (size_t i = 0; refs && i < n; i++) {
        const cl_referral *r = refs[i];
        crypto_hash_sha256_update(h, r->id, 16);
        feed_str(h, cl_name(cl, r->from));
        feed_str(h, cl_name(cl, r->to));
        feed_str(h, cl_name(cl, r->service));
        feed_u64(h, r->status);
        feed_u64(h, r->version);
        feed_u64(h, r->created_ms);
        feed_u64(h, r->received_ms);
        feed_u64(h, r->answered_ms);
        feed_u64(h, r->status_ms);
    }
    free(refs);
    /* services in (org name, service name) order */
    const service_entry **svc =
        c->n_services ? malloc(c->n_services * sizeof *svc) : NULL;
    for (size_t i = 0; svc && i < c->n_services; i++)
        svc[i] = &c->services[i];
    for (size_t i = 1; svc && i < c->n_services; i++) /* few: insertion */
        for (size_t j = i; j > 0; j--) {
            const service_entry *a = svc[j - 1], *b = svc[j];
            int o = strcmp(cl_name(cl, a->org), cl_name(cl, b->org));
            if (o == 0)
                o = strcmp(cl_name(cl, a->service), cl_name(cl, b->service));
            if (o <= 0)
                break;
            svc[j - 1] = b;
            svc[j] = a;
        }
    for (size_t i = 0; svc && i < c->n_services; i++) {
        feed_str(h, cl_name(cl, svc[i]->org));
        feed_str(h, cl_name(cl, svc[i]->service));
        feed_u64(h, svc[i]->running);
        feed_u64(h, svc[i]->at_ms);
    }
    free(svc);
    for (size_t i = 0; i < c->n_timeline; i++) {
        const timeline_entry *t = &c->timeline[i];
        feed_u64(h, t->at_ms);
        feed_str(h, cl_name(cl, t->org));
        feed_u64(h, t->seq);
        feed_u64(h, t->event);
    }
}

void cl_digest_update(const client_index *cl, crypto_hash_sha256_state *h)
{
    size_t n = idmap_count(&cl->clients), k = 0;
    client_entry **all = n ? malloc(n * sizeof *all) : NULL;
    client_entry *c;
    for (pool_cursor at = pool_begin(&cl->client_pool);
         all && k < n && (c = pool_next(&cl->client_pool, &at));)
        all[k++] = c;
    if (all)
        qsort(all, n, sizeof *all, key_cmp);
    for (size_t i = 0; all && i < n; i++)
        digest_client(cl, all[i], h);
    free(all);
}
