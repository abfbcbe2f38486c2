/* paths.c — client paths folded from events (see paths.h). */
#include "paths.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/json.h"
#include "polku/error.h"
#include "polku/handover.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/id.h"
#include "idmap.h"
#include "pool.h"

/* ---- applied events, per origin: a contiguous prefix and the rest ---- */

typedef struct seq_entry {
    uint64_t seq;
    UT_hash_handle hh;
} seq_entry;

typedef struct origin_seen {
    char org[33];
    uint64_t contig; /* every seq <= contig is applied */
    seq_entry *above;
    UT_hash_handle hh;
} origin_seen;

/* Where a path's plan pointer (or supporter) came from. Every end orders
 * the changes by (term, kind, version, seq, handover id), highest wins, so
 * any interleaving of the same logs gives the same pointer and each agent,
 * ordering its own record the same way (agents/domain/paths.c), agrees:
 *   PLAN_UPDATE    a PlanUpdated of the coordinator at term: a higher
 *                  version replaces, the same version with a later seq
 *                  moves the review (a postponement), a lower one is stale
 *   PLAN_CLOSE     a close of term: the path has no plan or supporter
 *   PLAN_HANDOVER  the offer of term was accepted: its plan pointer (or
 *                  none) and supporter become the path's; above a close of
 *                  the same term, as its coordinator is above the close */
enum { PLAN_UPDATE = 0, PLAN_CLOSE = 1, PLAN_HANDOVER = 2 };

typedef struct plan_rank {
    uint32_t term, kind, version;
    uint64_t seq;
    uint8_t id[16]; /* PLAN_HANDOVER: the handover */
} plan_rank;

static int rank_cmp(const plan_rank *a, const plan_rank *b)
{
    if (a->term != b->term)
        return a->term < b->term ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->version != b->version)
        return a->version < b->version ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return memcmp(a->id, b->id, 16);
}

typedef struct plan_slot {
    bool has_plan;
    char org[33];
    char id[65];
    uint32_t version;
    uint64_t review_due_ms;
} plan_slot;

typedef struct handover_entry {
    uint8_t id[16];
    char from[33], to[33];
    uint32_t term;
    Polku__HandoverState status;
    uint64_t offered_ms, answered_ms;
    bool offered;
    char supporter[33]; /* the offer's */
    plan_slot plan;     /* the offer's plan pointer, if any */
    UT_hash_handle hh;
} handover_entry;

/* Who held one term: the gate asks "did org coordinate at term t?" for
 * events folded late (an old offer replayed after a later term). */
typedef struct term_entry {
    uint32_t term;
    bool closed;
    char coordinator[33];
} term_entry;

typedef struct path_state {
    uint8_t key[16];
    term_entry *terms; /* sorted by term */
    uint32_t n_terms, cap_terms;
    char coordinator[33];
    uint32_t term;
    uint64_t since_ms;
    bool closed;
    char closed_reason[24];
    plan_slot plan;
    plan_rank plan_rank;
    char supporter[33];
    plan_rank supporter_rank; /* term and kind only */
    handover_entry *handovers;
} path_state;

struct path_index {
    idmap paths;    /* path_state by client key, in path_pool */
    pool path_pool; /* the paths, oldest first, freed with the index */
    origin_seen *origins;
    /* The origin and the path found last: a replay asks for the same
     * origin for thousands of events in a row, several times each (a
     * strcmp, not a hash), and the gate and the fold ask for the same path
     * in turn. Paths and origins are freed only with the index, so a
     * pointer kept here stays valid. Behind a pointer so that the const
     * lookups may update it. */
    struct pi_last {
        origin_seen *origin;
        path_state *path;
    } * cache;
    unsigned long long conflicts;
};

path_index *pi_new(void)
{
    path_index *pi = calloc(1, sizeof(path_index));
    if (pi && !(pi->cache = calloc(1, sizeof *pi->cache))) {
        free(pi);
        return NULL;
    }
    if (pi) {
        idmap_init(&pi->paths, offsetof(path_state, key));
        pool_init(&pi->path_pool, sizeof(path_state), 0);
    }
    return pi;
}

/* Walks every path, oldest first. */
#define EACH_PATH(pi, p)                                                       \
    for (pool_cursor at_ = pool_begin(&(pi)->path_pool);                       \
         ((p) = pool_next(&(pi)->path_pool, &at_));)

void pi_presize(path_index *pi, size_t paths)
{
    idmap_presize(&pi->paths, paths);
}

void pi_destroy(path_index **pi)
{
    if (!pi || !*pi)
        return;
    path_state *p;
    EACH_PATH(*pi, p)
    {
        handover_entry *h, *htmp;
        HASH_ITER(hh, p->handovers, h, htmp)
        {
            HASH_DEL(p->handovers, h);
            free(h);
        }
        free(p->terms);
    }
    idmap_fini(&(*pi)->paths);
    pool_fini(&(*pi)->path_pool);
    origin_seen *o, *otmp;
    HASH_ITER(hh, (*pi)->origins, o, otmp)
    {
        seq_entry *s, *stmp;
        HASH_ITER(hh, o->above, s, stmp)
        {
            HASH_DEL(o->above, s);
            free(s);
        }
        HASH_DEL((*pi)->origins, o);
        free(o);
    }
    free((*pi)->cache);
    free(*pi);
    *pi = NULL;
}

static origin_seen *origin_get(const path_index *pi, const char *org)
{
    origin_seen *o = pi->cache->origin;
    if (o && strcmp(o->org, org) == 0)
        return o;
    HASH_FIND_STR(pi->origins, org, o);
    if (o)
        pi->cache->origin = o;
    return o;
}

static bool seen_in(const origin_seen *o, uint64_t seq)
{
    if (seq <= o->contig)
        return true;
    seq_entry *s = NULL;
    HASH_FIND(hh, o->above, &seq, sizeof seq, s);
    return s != NULL;
}

uint64_t pi_contiguous(const path_index *pi, const char *org)
{
    origin_seen *o = origin_get(pi, org);
    return o ? o->contig : 0;
}

bool pi_seen(const path_index *pi, const char *org, uint64_t seq)
{
    const origin_seen *o = origin_get(pi, org);
    return o && seen_in(o, seq);
}

/* Records (org, seq) as applied; false if it already was. */
static bool mark_seen(path_index *pi, const char *org, uint64_t seq)
{
    origin_seen *o = origin_get(pi, org);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o)
            return false;
        snprintf(o->org, sizeof o->org, "%s", org);
        HASH_ADD_STR(pi->origins, org, o);
    }
    if (seen_in(o, seq))
        return false;
    if (seq == o->contig + 1) {
        o->contig = seq;
        for (;;) { /* absorb what had arrived ahead of the gap */
            uint64_t next = o->contig + 1;
            seq_entry *s = NULL;
            HASH_FIND(hh, o->above, &next, sizeof next, s);
            if (!s)
                break;
            HASH_DEL(o->above, s);
            free(s);
            o->contig = next;
        }
        return true;
    }
    seq_entry *s = calloc(1, sizeof *s);
    if (!s)
        return false;
    s->seq = seq;
    HASH_ADD(hh, o->above, seq, sizeof s->seq, s);
    return true;
}

/* ---- paths ---- */

static path_state *path_find(const path_index *pi, const uint8_t key[16])
{
    path_state *p = pi->cache->path;
    if (p && memcmp(p->key, key, 16) == 0)
        return p;
    p = idmap_find(&pi->paths, key);
    if (p)
        pi->cache->path = p;
    return p;
}

static path_state *path_get(path_index *pi, const uint8_t key[16])
{
    path_state *p = path_find(pi, key);
    if (p)
        return p;
    if (idmap_reserve(&pi->paths) != POLKU_OK ||
        !(p = pool_calloc(&pi->path_pool)))
        return NULL;
    memcpy(p->key, key, 16);
    idmap_put(&pi->paths, p); /* reserved: cannot fail */
    return p;
}

/* Two events begin the same term and disagree: the one held stays if the
 * newcomer is a close (a coordinator over a close) or a coordinator whose
 * id does not sort before it (the smaller id), whatever the order. */
static bool held_stays(bool held_closed, const char *held, bool closed,
                       const char *who)
{
    return closed || (!held_closed && strcmp(who, held) >= 0);
}

/* Records who began term, whatever the current term: the gate asks about
 * old terms too (an offer replayed after a later claim). Two events that
 * begin the same term and disagree are settled as begin_term settles
 * them: a coordinator over a close, else the smaller org id. */
static void remember_term(path_state *p, uint32_t term, const char *who,
                          bool closed)
{
    uint32_t at = p->n_terms;
    while (at > 0 && p->terms[at - 1].term > term)
        at--;
    if (at > 0 && p->terms[at - 1].term == term) {
        term_entry *e = &p->terms[at - 1];
        bool same = e->closed == closed && strcmp(e->coordinator, who) == 0;
        if (same || held_stays(e->closed, e->coordinator, closed, who))
            return;
        e->closed = closed;
        snprintf(e->coordinator, sizeof e->coordinator, "%s", who);
        return;
    }
    if (p->n_terms == p->cap_terms) {
        uint32_t cap = p->cap_terms ? 2 * p->cap_terms : 2;
        term_entry *t = realloc(p->terms, cap * sizeof *t);
        if (!t)
            return;
        p->terms = t;
        p->cap_terms = cap;
    }
    memmove(&p->terms[at + 1], &p->terms[at],
            (p->n_terms - at) * sizeof *p->terms);
    p->n_terms++;
    term_entry *e = &p->terms[at];
    e->term = term;
    e->closed = closed;
    snprintf(e->coordinator, sizeof e->coordinator, "%s", who);
}

/* A term begins: coordinator ("" with closed) from since. The highest term
 * wins; the same term told twice must agree (else a conflict, settled the
 * same way whatever the order: a coordinator over a close, since a close
 * arriving after its term was taken is dropped; else the smaller id). */
static void begin_term(path_index *pi, path_state *p, uint32_t term,
                       const char *coordinator, uint64_t since_ms, bool closed,
                       const char *reason)
{
    if (term == 0)
        return;
    remember_term(p, term, coordinator, closed);
    if (term < p->term)
        return;
    if (term == p->term) {
        bool same =
            closed == p->closed && strcmp(coordinator, p->coordinator) == 0;
        if (same) {
            if (since_ms && (!p->since_ms || since_ms < p->since_ms))
                p->since_ms = since_ms;
            return;
        }
        pi->conflicts++;
        if (held_stays(p->closed, p->coordinator, closed, coordinator))
            return;
    }
    p->term = term;
    snprintf(p->coordinator, sizeof p->coordinator, "%s", coordinator);
    p->since_ms = since_ms;
    p->closed = closed;
    snprintf(p->closed_reason, sizeof p->closed_reason, "%s",
             closed && reason ? reason : "");
}

static handover_entry *handover_get(path_state *p, const uint8_t id[16],
                                    bool create)
{
    handover_entry *h = NULL;
    HASH_FIND(hh, p->handovers, id, 16, h);
    if (h || !create)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    memcpy(h->id, id, 16);
    HASH_ADD(hh, p->handovers, id, 16, h);
    return h;
}

static void on_claim_answered(path_index *pi, path_state *p,
                              const polku_envelope *env)
{
    const Polku__PathClaimAnswered *a = env->path_claim_answered;
    if (a->outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON)
        begin_term(pi, p, a->term, env->origin_org, a->since_ms, false, NULL);
    else if (a->outcome == POLKU__CLAIM_OUTCOME__CLAIM_LOST &&
             a->coordinator[0])
        begin_term(pi, p, a->term, a->coordinator, a->since_ms, false, NULL);
}

static void set_plan(path_state *p, const plan_rank *r, const plan_slot *plan)
{
    if (rank_cmp(r, &p->plan_rank) <= 0)
        return;
    p->plan_rank = *r;
    p->plan = *plan;
}

static void set_supporter(path_state *p, const plan_rank *r,
                          const char *supporter)
{
    if (rank_cmp(r, &p->supporter_rank) <= 0)
        return;
    p->supporter_rank = *r;
    snprintf(p->supporter, sizeof p->supporter, "%s", supporter);
}

/* An accepted offer, once both it and its acceptance are folded (in either
 * order): its plan pointer (or none) and supporter become the path's. */
static void take_over(path_state *p, const handover_entry *h)
{
    if (!h->offered || h->status != POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED)
        return;
    plan_rank r = {.term = h->term, .kind = PLAN_HANDOVER};
    memcpy(r.id, h->id, 16);
    set_plan(p, &r, &h->plan);
    set_supporter(p, &r, h->supporter);
}

/* A close of term: no plan and no supporter from there on. */
static void close_resets(path_state *p, uint32_t term)
{
    plan_rank r = {.term = term, .kind = PLAN_CLOSE};
    plan_slot none = {0};
    set_plan(p, &r, &none);
    set_supporter(p, &r, "");
}

static void on_offered(path_state *p, const polku_envelope *env)
{
    const Polku__HandoverOffered *o = env->handover_offered;
    if (env->n_to != 1)
        return;
    handover_entry *h = handover_get(p, o->handover_id.data, true);
    if (!h)
        return;
    /* an answer came first and named other parties: not this offer's */
    if ((h->from[0] && strcmp(h->from, env->origin_org) != 0) ||
        (h->to[0] && strcmp(h->to, env->to[0]) != 0))
        return;
    snprintf(h->from, sizeof h->from, "%s", env->origin_org);
    snprintf(h->to, sizeof h->to, "%s", env->to[0]);
    h->term = o->term;
    h->offered_ms = env->time_ms;
    h->offered = true;
    snprintf(h->supporter, sizeof h->supporter, "%s", o->supporter);
    memset(&h->plan, 0, sizeof h->plan);
    if (o->plan) {
        h->plan.has_plan = true;
        snprintf(h->plan.org, sizeof h->plan.org, "%s",
                 o->plan->org[0] ? o->plan->org : env->origin_org);
        snprintf(h->plan.id, sizeof h->plan.id, "%s", o->plan->plan_id);
        h->plan.version = o->plan->version;
        h->plan.review_due_ms = o->plan->review_due_ms;
    }
    if (h->status == POLKU__HANDOVER_STATE__HANDOVER_UNSPECIFIED)
        h->status = POLKU__HANDOVER_STATE__HANDOVER_OFFERED;
    take_over(p, h);
}

static void on_answered(path_index *pi, path_state *p,
                        const polku_envelope *env)
{
    const Polku__HandoverAnswered *a = env->handover_answered;
    /* one writer per outcome: the receiver answers, the offerer only fails
     * its own offer; anything else is not folded, in any order */
    bool failed = a->status == POLKU__HANDOVER_STATE__HANDOVER_FAILED;
    if (strcmp(env->origin_org, failed ? a->offered_by : a->offered_to) != 0)
        return;
    handover_entry *h = handover_get(p, a->handover_id.data, true);
    if (!h)
        return;
    if ((h->from[0] && strcmp(h->from, a->offered_by) != 0) ||
        (h->to[0] && strcmp(h->to, a->offered_to) != 0))
        return;
    if (!h->from[0])
        snprintf(h->from, sizeof h->from, "%s", a->offered_by);
    if (!h->to[0])
        snprintf(h->to, sizeof h->to, "%s", a->offered_to);
    /* the lifecycle's rows (polku/handover.h), in either order: an answer
     * folded before its offer finds the entry not yet offered */
    polku_handover_state from =
        h->status == POLKU__HANDOVER_STATE__HANDOVER_UNSPECIFIED
            ? POLKU__HANDOVER_STATE__HANDOVER_OFFERED
            : h->status;
    polku_handover_writer writer =
        failed ? POLKU_HANDOVER_OFFERER : POLKU_HANDOVER_RECEIVER;
    if (h->status != a->status &&
        from == POLKU__HANDOVER_STATE__HANDOVER_FAILED)
        pi->conflicts++; /* a resend refused after the offer got through */
    if (polku_handover_check(from, a->status, writer) == POLKU_OK) {
        h->status = a->status;
        h->answered_ms = env->time_ms;
    } else if (h->status != a->status) {
        pi->conflicts++;
    }
    take_over(p, h);
    if (a->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED)
        begin_term(pi, p, a->term, env->origin_org, env->time_ms, false, NULL);
}

/* A PlanUpdated: a new version replaces, the same version later in the
 * coordinator's log moves the review date, an older one changes nothing
 * (the gate refuses it: pi_plan_stale). */
static void on_plan(path_state *p, const polku_envelope *env)
{
    const Polku__PlanUpdated *u = env->plan_updated;
    const Polku__PlanPointer *plan = u->plan;
    if (!plan)
        return;
    plan_rank r = {.term = u->term,
                   .kind = PLAN_UPDATE,
                   .version = plan->version,
                   .seq = env->origin_seq};
    plan_slot slot = {.has_plan = true,
                      .version = plan->version,
                      .review_due_ms = plan->review_due_ms};
    snprintf(slot.org, sizeof slot.org, "%s",
             plan->org[0] ? plan->org : env->origin_org);
    snprintf(slot.id, sizeof slot.id, "%s", plan->plan_id);
    set_plan(p, &r, &slot);
}

static bool affects_paths(Polku__Envelope__BodyCase body)
{
    switch (body) {
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        return true;
    default:
        return false;
    }
}

bool pi_mark(path_index *pi, const char *org, uint64_t seq)
{
    if (!org || !org[0] || seq == 0)
        return false;
    return mark_seen(pi, org, seq);
}

bool pi_apply(path_index *pi, const polku_envelope *env)
{
    /* every event is marked, so each origin's seen set stays a prefix */
    if (!pi_mark(pi, env->origin_org, env->origin_seq))
        return false;
    return pi_apply_marked(pi, env);
}

bool pi_apply_marked(path_index *pi, const polku_envelope *env)
{
    if (!affects_paths(env->body_case) || env->client_key.len != 16)
        return false;
    path_state *p = path_get(pi, env->client_key.data);
    if (!p)
        return false;
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        on_claim_answered(pi, p, env);
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        /* whatever the order: an older close never outranks a later plan */
        if (env->path_closed->term < UINT32_MAX)
            close_resets(p, env->path_closed->term);
        /* only its coordinator closes a term (the broker refuses others;
         * this keeps a refused close in a log from counting at replay) */
        if (env->path_closed->term > p->term ||
            (env->path_closed->term == p->term && !p->closed &&
             strcmp(p->coordinator, env->origin_org) == 0))
            begin_term(pi, p, env->path_closed->term + 1, "", env->time_ms,
                       true, env->path_closed->reason);
        break;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        on_plan(p, env);
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        on_offered(p, env);
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        on_answered(pi, p, env);
        break;
    default:
        break;
    }
    return true;
}

static const handover_entry *open_handover(const path_state *p)
{
    const handover_entry *h, *tmp, *best = NULL;
    HASH_ITER(hh, p->handovers, h, tmp)
    {
        if (h->status == POLKU__HANDOVER_STATE__HANDOVER_OFFERED &&
            (!best || memcmp(h->id, best->id, 16) > 0))
            best = h; /* the newest, if ever more than one */
    }
    return best;
}

static void handover_view(const handover_entry *h, path_handover_view *out)
{
    memcpy(out->id, h->id, 16);
    memcpy(out->from, h->from, sizeof out->from);
    memcpy(out->to, h->to, sizeof out->to);
    out->term = h->term;
    out->status = h->status;
    out->offered_ms = h->offered_ms;
    out->answered_ms = h->answered_ms;
    out->offered = h->offered;
}

static void fill_view(const path_state *p, path_view *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->coordinator, p->coordinator, sizeof out->coordinator);
    out->term = p->term;
    out->since_ms = p->since_ms;
    out->closed = p->closed;
    out->has_plan = p->plan.has_plan;
    out->plan_review_due_ms = p->plan.review_due_ms;
    snprintf(out->plan_org, sizeof out->plan_org, "%s", p->plan.org);
    snprintf(out->plan_id, sizeof out->plan_id, "%s", p->plan.id);
    out->plan_version = p->plan.version;
    out->plan_term = p->plan_rank.term;
    snprintf(out->supporter, sizeof out->supporter, "%s", p->supporter);
    const handover_entry *h = open_handover(p);
    if (h) {
        out->has_open_handover = true;
        handover_view(h, &out->open_handover);
    }
}

void pi_each(const path_index *pi, pi_path_fn fn, void *arg)
{
    path_view v;
    const path_state *p;
    EACH_PATH(pi, p)
    {
        fill_view(p, &v);
        fn(p->key, &v, arg);
    }
}

void pi_each_handover(const path_index *pi, pi_handover_fn fn, void *arg)
{
    path_handover_view v;
    const path_state *p;
    EACH_PATH(pi, p)
    {
        const handover_entry *h, *tmp;
        HASH_ITER(hh, p->handovers, h, tmp)
        {
            handover_view(h, &v);
            fn(p->key, &v, arg);
        }
    }
}

bool pi_view(const path_index *pi, const uint8_t key[16], path_view *out)
{
    const path_state *p = path_find(pi, key);
    if (!p)
        return false;
    fill_view(p, out);
    return true;
}

Polku__ClaimOutcome pi_decide_claim(path_index *pi, const uint8_t key[16],
                                    const char *claimant, uint64_t now_ms,
                                    path_view *out)
{
    path_state *p = path_get(pi, key);
    if (!p) {
        memset(out, 0, sizeof *out);
        return POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED;
    }
    Polku__ClaimOutcome outcome = POLKU__CLAIM_OUTCOME__CLAIM_WON;
    if (p->coordinator[0] && !p->closed) {
        if (strcmp(p->coordinator, claimant) != 0)
            outcome = POLKU__CLAIM_OUTCOME__CLAIM_LOST;
    } else {
        begin_term(pi, p, p->term + 1, claimant, now_ms, false, NULL);
    }
    fill_view(p, out);
    return outcome;
}

bool pi_plan_stale(const path_index *pi, const uint8_t key[16], uint32_t term,
                   uint32_t version, uint32_t *current)
{
    const path_state *p = path_find(pi, key);
    if (!p || !p->plan.has_plan || p->plan_rank.kind != PLAN_UPDATE ||
        p->plan_rank.term != term || version >= p->plan.version)
        return false;
    if (current)
        *current = p->plan.version;
    return true;
}

Polku__NackCode pi_check_coordinator(const path_index *pi,
                                     const uint8_t key[16], const char *org,
                                     uint32_t term)
{
    const path_state *p = path_find(pi, key);
    uint32_t current = p ? p->term : 0;
    if (term > current)
        return POLKU__NACK_CODE__NACK_RETRY_LATER;
    if (term == current && p && !p->closed && strcmp(p->coordinator, org) == 0)
        return 0;
    return POLKU__NACK_CODE__NACK_NOT_COORDINATOR;
}

bool pi_term_holder(const path_index *pi, const uint8_t key[16], uint32_t term,
                    char who[33], bool *closed)
{
    const path_state *p = path_find(pi, key);
    for (uint32_t i = 0; p && i < p->n_terms; i++) {
        if (p->terms[i].term != term)
            continue;
        memcpy(who, p->terms[i].coordinator, 33);
        *closed = p->terms[i].closed;
        return true;
    }
    return false;
}

bool pi_handover(const path_index *pi, const uint8_t key[16],
                 const uint8_t id[16], path_handover_view *out)
{
    path_state *p = path_find(pi, key);
    handover_entry *h = p ? handover_get(p, id, false) : NULL;
    if (!h)
        return false;
    handover_view(h, out);
    return true;
}

size_t pi_count(const path_index *pi)
{
    return idmap_count(&pi->paths);
}

size_t pi_coordinated(const path_index *pi)
{
    size_t n = 0;
    const path_state *p;
    EACH_PATH(pi, p)
    {
        if (p->coordinator[0] && !p->closed)
            n++;
    }
    return n;
}

unsigned long long pi_conflicts(const path_index *pi)
{
    return pi->conflicts;
}

/* ---- digest ---- */

static int by_key(const void *a, const void *b)
{
    const path_state *x = *(const path_state *const *)a;
    const path_state *y = *(const path_state *const *)b;
    return memcmp(x->key, y->key, 16);
}

static int by_id(const void *a, const void *b)
{
    const handover_entry *x = *(const handover_entry *const *)a;
    const handover_entry *y = *(const handover_entry *const *)b;
    return memcmp(x->id, y->id, 16);
}

static void hash_text(crypto_hash_sha256_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void hash_text(crypto_hash_sha256_state *st, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        crypto_hash_sha256_update(st, (const unsigned char *)buf,
                                  (size_t)n < sizeof buf ? (size_t)n
                                                         : sizeof buf - 1);
}

static void hash_path(crypto_hash_sha256_state *st, const path_state *p)
{
    char key[POLKU_CLIENT_KEY_HEX];
    polku_client_key_hex(p->key, key);
    hash_text(st, "path %s|%s|%u|%llu|%d|%s\n", key, p->coordinator, p->term,
              (unsigned long long)p->since_ms, p->closed, p->closed_reason);
    if (p->plan.has_plan)
        hash_text(st, "plan %s|%s|%u|%u|%llu\n", p->plan.org, p->plan.id,
                  p->plan.version, p->plan_rank.term,
                  (unsigned long long)p->plan.review_due_ms);
    if (p->supporter[0])
        hash_text(st, "supporter %s|%u\n", p->supporter,
                  p->supporter_rank.term);
    size_t n = HASH_COUNT(p->handovers), i = 0;
    if (n == 0)
        return;
    handover_entry **list = malloc(n * sizeof *list);
    if (!list)
        return;
    handover_entry *h, *tmp;
    HASH_ITER(hh, p->handovers, h, tmp)
    list[i++] = h;
    qsort(list, n, sizeof *list, by_id);
    for (i = 0; i < n; i++) {
        char id[POLKU_ID_TEXT];
        polku_id hid;
        memcpy(hid.b, list[i]->id, 16);
        polku_id_format(&hid, id);
        hash_text(st, "handover %s|%s|%s|%u|%d|%llu|%llu\n", id, list[i]->from,
                  list[i]->to, list[i]->term, (int)list[i]->status,
                  (unsigned long long)list[i]->offered_ms,
                  (unsigned long long)list[i]->answered_ms);
    }
    free(list);
}

void pi_digest(const path_index *pi, char out[65])
{
    crypto_hash_sha256_state st;
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    size_t n = idmap_count(&pi->paths), i = 0;
    path_state **list = malloc((n ? n : 1) * sizeof *list);
    if (list) {
        path_state *p;
        EACH_PATH(pi, p)
        {
            if (i < n)
                list[i++] = p;
        }
        qsort(list, n, sizeof *list, by_key);
        for (i = 0; i < n; i++)
            hash_path(&st, list[i]);
        free(list);
    }
    crypto_hash_sha256_final(&st, hash);
    sodium_bin2hex(out, 65, hash, sizeof hash);
}

/* ---- JSON ---- */

json_t *pi_json(const path_index *pi, const uint8_t key[16],
                const display *names)
{
    const path_state *p = path_find(pi, key);
    if (!p)
        return NULL;
    char keyhex[DISPLAY_NAME_TEXT];
    display_name(names, p->key, keyhex);
    json_t *j = json_pack(
        "{s:s, s:o, s:I, s:o, s:b, s:o}", "client_key", keyhex, "coordinator",
        p->coordinator[0] ? json_string(p->coordinator) : json_null(), "term",
        (json_int_t)p->term, "since", polku_json_time(p->since_ms), "closed",
        p->closed, "closed_reason",
        p->closed ? json_string(p->closed_reason) : json_null());
    const handover_entry *h = open_handover(p);
    if (h) {
        char id[POLKU_ID_TEXT];
        polku_id hid;
        memcpy(hid.b, h->id, 16);
        polku_id_format(&hid, id);
        json_object_set_new(j, "open_handover",
                            json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", id,
                                      "from", h->from, "to", h->to, "term",
                                      (json_int_t)h->term, "offered",
                                      polku_json_time(h->offered_ms)));
    } else {
        json_object_set_new(j, "open_handover", json_null());
    }
    if (p->plan.has_plan)
        json_object_set_new(
            j, "plan",
            /* no plan_id: an identifier the coordinator chose is for the
             * organisations in the consent (they get the PlanUpdated),
             * not for the broker's dashboard */
            json_pack("{s:s, s:I, s:o}", "org", p->plan.org, "version",
                      (json_int_t)p->plan.version, "review_due",
                      polku_json_time(p->plan.review_due_ms)));
    else
        json_object_set_new(j, "plan", json_null());
    json_object_set_new(j, "supporter",
                        p->supporter[0] ? json_string(p->supporter)
                                        : json_null());
    json_object_set_new(j, "handovers",
                        json_integer((json_int_t)HASH_COUNT(p->handovers)));
    return j;
}
