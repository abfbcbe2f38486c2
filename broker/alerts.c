/* alerts.c — alerts recomputed from the folded state, diffed against the
 * last evaluation. */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "alert_schedule.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/id.h"

enum alert_kind {
    ALERT_REFERRAL_NOT_RECEIVED,
    ALERT_REFERRAL_NOT_ANSWERED,
    ALERT_REJECTION_NO_FOLLOWUP,
    ALERT_HANDOVER_UNANSWERED,
    ALERT_CONSENT_EXPIRED_OPEN,
    ALERT_PATH_NO_COORDINATOR,
    ALERT_EVENTS_REFUSED,
    ALERT_DUPLICATE_SESSION,
    ALERT_STORE_REGRESSED,
    ALERT_OVERRIDE_USED,
    ALERT_LOG_DIVERGED,
    ALERT_KINDS
};

static const char *const kind_names[ALERT_KINDS] = {
    "referral_not_received", "referral_not_answered", "rejection_no_followup",
    "handover_unanswered",   "consent_expired_open",  "path_no_coordinator",
    "events_refused",        "duplicate_session",     "store_regressed",
    "override_used",         "log_diverged",
};

static const char *const kind_subjects[ALERT_KINDS] = {
    "referral", "referral", "referral", "handover", "referral", "path",
    "org",      "org",      "org",      "referral", "org",
};

typedef struct alert {
    char id[80]; /* kind:subject */
    unsigned kind;
    const char *subject; /* "referral", "handover", "path" */
    char subject_id[33];
    uint8_t client_key[16];
    char client_name[DISPLAY_NAME_TEXT]; /* what is shown (display.h) */
    char org[33];                        /* "" nobody */
    char detail[48]; /* numbers only, e.g. "seq 2 < 3"; "" none */
    uint64_t since_ms;
    char peers[2][64]; /* duplicate_session: the live, the refused */
    unsigned gen;
    unsigned raised_gen; /* the evaluation that raised it */
    UT_hash_handle hh;
} alert;

/* A full walk this often at the latest, whatever the schedule says: the
 * safety net under the incremental tick (see alerts_tick). */
#define ALERTS_FULL_WALK_MS 60000u

struct alert_set {
    alert *alerts;
    unsigned gen;
    alert_schedule *sched;   /* alerts_tick's; NULL until its first call */
    bool walk_all;           /* the next tick walks everything */
    uint64_t last_full_ms;   /* the last full walk (on the tick's clock) */
    size_t looked;           /* clients looked at by the last tick */
    struct watched *watched; /* looked at every tick (see eval_client) */
};

/* A client with an open referral relying on a consent not known to be
 * its own: a grant or revocation of it is noted for another client. */
typedef struct watched {
    uint8_t key[16];
    UT_hash_handle hh;
} watched;

static void watch(alert_set *set, const uint8_t key[16], bool on)
{
    if (!on && !set->watched)
        return; /* the usual case: nobody relies on another's consent */
    watched *w = NULL;
    HASH_FIND(hh, set->watched, key, 16, w);
    if (w && !on) {
        HASH_DEL(set->watched, w);
        free(w);
    } else if (!w && on && (w = calloc(1, sizeof *w))) {
        memcpy(w->key, key, 16);
        HASH_ADD(hh, set->watched, key, 16, w);
    } else if (!w && on) {
        set->walk_all = true; /* out of memory: the next tick walks */
    }
}

static void unwatch_all(alert_set *set)
{
    watched *w, *tmp;
    HASH_ITER(hh, set->watched, w, tmp)
    {
        HASH_DEL(set->watched, w);
        free(w);
    }
}

const char *alerts_kind_name(unsigned kind)
{
    return kind < ALERT_KINDS ? kind_names[kind] : "";
}

alert_set *alerts_new(void)
{
    return calloc(1, sizeof(alert_set));
}

void alerts_free(alert_set **set)
{
    if (!set || !*set)
        return;
    alert *a, *tmp;
    HASH_ITER(hh, (*set)->alerts, a, tmp)
    {
        HASH_DEL((*set)->alerts, a);
        free(a);
    }
    as_free(&(*set)->sched);
    unwatch_all(*set);
    free(*set);
    *set = NULL;
}

size_t alerts_count(const alert_set *set)
{
    return HASH_COUNT(set->alerts);
}

static void id_text(const uint8_t id[16], char out[33])
{
    polku_id pid;
    char text[POLKU_ID_TEXT];
    memcpy(pid.b, id, 16);
    polku_id_format(&pid, text);
    snprintf(out, 33, "%s", text);
}

static json_t *alert_json(const alert *a)
{
    char since[POLKU_TIME_TEXT];
    static const uint8_t none[16];
    polku_time_format(a->since_ms, since, sizeof since);
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "id", a->id, "kind",
        kind_names[a->kind], "client_key",
        memcmp(a->client_key, none, 16) ? json_string(a->client_name)
                                        : json_null(),
        "subject", a->subject, "subject_id", a->subject_id, "org",
        a->org[0] ? json_string(a->org) : json_null(), "since", since);
    if (j && a->detail[0])
        json_object_set_new(j, "detail", json_string(a->detail));
    if (j && a->kind == ALERT_DUPLICATE_SESSION)
        json_object_set_new(j, "peers",
                            json_pack("[s,s]", a->peers[0], a->peers[1]));
    return j;
}

/* ---- one evaluation ---- */

/* The clock offsets one evaluation asked for, by org: each referral asks
 * for its two orgs' clocks several times, each a lookup in the routes,
 * and a region has a handful of orgs. Offsets do not change during an
 * evaluation. */
#define CLOCK_MEMO 8
typedef struct clock_memo {
    size_t n, next;
    char org[CLOCK_MEMO][33];
    int64_t off[CLOCK_MEMO];
} clock_memo;

typedef struct eval {
    clock_memo *clocks; /* NULL: none (asked every time) */
    alert_set *set;
    const alert_inputs *in;
    uint64_t now;
    alert_change_fn change;
    void *arg;
    const char *peers[2]; /* for the next hold (NULL: none) */
    /* alerts_tick: the client's next thresholds, earliest per clock */
    size_t n_due;
    const char *due_org[8];
    uint64_t due_ms[8];
    const uint8_t *due_key;
    bool foreign_consent; /* an open referral's consent is not its own */
} eval;

/* The alert holds at this evaluation: kept, or raised if new. An existing
 * alert keeps its since; for path alerts the earliest candidate at the
 * raise wins (whatever order the candidates come in).
 * subject NULL: the kind's usual subject. */
static void hold_detail(eval *ev, unsigned kind, const char *subject,
                        const char *subject_id, const uint8_t client_key[16],
                        const char *org, uint64_t since_ms, const char *detail)
{
    char id[80];
    snprintf(id, sizeof id, "%s:%s", kind_names[kind], subject_id);
    alert *a = NULL;
    HASH_FIND_STR(ev->set->alerts, id, a);
    if (a && ev->peers[0]) /* the addresses now (a new refused one) */
        for (int i = 0; i < 2; i++)
            snprintf(a->peers[i], sizeof a->peers[i], "%s", ev->peers[i]);
    if (a) {
        if (a->gen != ev->set->gen)
            a->gen = ev->set->gen;
        else if (a->raised_gen == a->gen && since_ms < a->since_ms)
            a->since_ms = since_ms; /* several candidates at its raise */
        if (detail)
            snprintf(a->detail, sizeof a->detail, "%s", detail);
        return;
    }
    a = calloc(1, sizeof *a);
    if (!a)
        return;
    snprintf(a->id, sizeof a->id, "%s", id);
    a->kind = kind;
    a->subject = subject ? subject : kind_subjects[kind];
    snprintf(a->subject_id, sizeof a->subject_id, "%s", subject_id);
    memcpy(a->client_key, client_key, 16);
    display_name(ev->in->names, client_key, a->client_name);
    snprintf(a->org, sizeof a->org, "%s", org ? org : "");
    snprintf(a->detail, sizeof a->detail, "%s", detail ? detail : "");
    a->since_ms = since_ms;
    for (int i = 0; i < 2 && ev->peers[0]; i++)
        snprintf(a->peers[i], sizeof a->peers[i], "%s", ev->peers[i]);
    a->gen = a->raised_gen = ev->set->gen;
    HASH_ADD_STR(ev->set->alerts, id, a);
    json_t *j = alert_json(a);
    if (j && ev->change)
        ev->change("alert.raised", j, ev->arg);
    json_decref(j);
}

static void hold(eval *ev, unsigned kind, const char *subject,
                 const char *subject_id, const uint8_t client_key[16],
                 const char *org, uint64_t since_ms)
{
    hold_detail(ev, kind, subject, subject_id, client_key, org, since_ms, NULL);
}

/* org's clock offset, remembered for the rest of the evaluation. */
static int64_t clock_offset(const eval *ev, const char *org)
{
    clock_memo *m = ev->clocks;
    for (size_t i = 0; m && i < m->n; i++)
        if (strcmp(m->org[i], org) == 0)
            return m->off[i];
    int64_t off = ev->in->clock_offset(ev->in->clock_arg, org);
    if (m && strlen(org) < sizeof m->org[0]) {
        size_t i = m->n < CLOCK_MEMO ? m->n++ : m->next++ % CLOCK_MEMO;
        memcpy(m->org[i], org, strlen(org) + 1);
        m->off[i] = off;
    }
    return off;
}

/* The broker's now on org's clock (event times are its writer's). */
static uint64_t now_at(const eval *ev, const char *org)
{
    int64_t off =
        ev->in->clock_offset && org && *org ? clock_offset(ev, org) : 0;
    return polku_ms_shift(ev->now, off);
}

/* A time on org's clock, on the broker's (for an alert's "since"). */
static uint64_t on_broker_clock(const eval *ev, const char *org, uint64_t t)
{
    return t + (ev->now - now_at(ev, org));
}

static bool coordinated(const eval *ev, const uint8_t key[16])
{
    path_view v;
    return pi_view(ev->in->paths, key, &v) && (v.coordinator[0] || v.closed);
}

/* A referral's alert holds (its id is written only then: most referrals
 * of a walk hold none). */
static void hold_referral(eval *ev, unsigned kind, const cl_referral *r,
                          const char *org, uint64_t since_ms)
{
    char rid[33];
    id_text(r->id, rid);
    hold(ev, kind, NULL, rid, r->client_key, org, since_ms);
}

static void on_referral(const cl_referral *r, void *arg)
{
    eval *ev = arg;
    const broker_sla *sla = ev->in->sla;
    const client_index *cl = ev->in->clients;
    const char *from = cl_name(cl, r->from), *to = cl_name(cl, r->to);
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_REQUESTED &&
        r->requested &&
        now_at(ev, from) >= r->created_ms + sla->referral_receipt_ms)
        hold_referral(ev, ALERT_REFERRAL_NOT_RECEIVED, r, to,
                      on_broker_clock(
                          ev, from, r->created_ms + sla->referral_receipt_ms));
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED &&
        r->received_ms &&
        now_at(ev, to) >= r->received_ms + sla->referral_answer_ms)
        hold_referral(
            ev, ALERT_REFERRAL_NOT_ANSWERED, r, to,
            on_broker_clock(ev, to, r->received_ms + sla->referral_answer_ms));
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_REJECTED && r->status_ms &&
        now_at(ev, to) >= r->status_ms + sla->rejection_followup_ms &&
        !cl_followed_up(cl, r->client_key, r->status_ms)) {
        path_view v;
        bool closed = pi_view(ev->in->paths, r->client_key, &v) && v.closed;
        if (!closed)
            hold_referral(
                ev, ALERT_REJECTION_NO_FOLLOWUP, r, from,
                on_broker_clock(ev, to,
                                r->status_ms + sla->rejection_followup_ms));
    }
    if (!cl_referral_open(r))
        return;
    static const uint8_t zero[16];
    if (memcmp(r->consent_id, zero, 16) != 0 &&
        ci_consent_active(ev->in->consents, r->consent_id, ev->now) == 0)
        hold_referral(ev, ALERT_CONSENT_EXPIRED_OPEN, r, from, ev->now);
    if (r->requested &&
        now_at(ev, from) >= r->created_ms + sla->path_coordinator_ms &&
        !coordinated(ev, r->client_key)) {
        char key[DISPLAY_NAME_TEXT]; /* the subject: shown, and in the id */
        display_name(ev->in->names, r->client_key, key);
        hold(ev, ALERT_PATH_NO_COORDINATOR, NULL, key, r->client_key, NULL,
             on_broker_clock(ev, from,
                             r->created_ms + sla->path_coordinator_ms));
    }
}

static void on_path(const uint8_t key[16], const path_view *v, void *arg)
{
    eval *ev = arg;
    if (!v->has_open_handover)
        return;
    const path_handover_view *h = &v->open_handover;
    char hid[33];
    id_text(h->id, hid);
    uint64_t due = h->offered_ms + ev->in->sla->handover_answer_ms;
    if (h->offered_ms && now_at(ev, h->from) >= due)
        hold(ev, ALERT_HANDOVER_UNANSWERED, NULL, hid, key, h->to,
             on_broker_clock(ev, h->from, due));
    if (h->to[0] &&
        !ci_allows(ev->in->consents, key, h->to, "handover", ev->now))
        hold(ev, ALERT_CONSENT_EXPIRED_OPEN, "handover", hid, key, h->from,
             ev->now);
}

/* Break-glass not yet reviewed (overrides.h): the organisation that used
 * it, the basis as detail. */
static void hold_override(const ov_view *v, void *arg)
{
    char id[33];
    id_text(v->object_id, id);
    hold_detail(arg, ALERT_OVERRIDE_USED, v->subject, id, v->client_key,
                v->used_by, v->since_ms, v->basis);
}

/* ---- the schedule (alerts_tick) ----
 *
 * Beside what holds now, evaluating a client notes when its alerts can
 * next change with no event: each threshold of on_referral and on_path
 * that its clock has not reached yet. Everything else they read changes
 * only by a folded event (cl_take_changed) or, for an alert that holds,
 * is looked at every tick anyway. */

/* org's clock ("" the broker's) reaches due: look again then. */
static void plan_due(eval *ev, const char *org, uint64_t due)
{
    if (due <= now_at(ev, org))
        return; /* passed: on_referral / on_path has read it already */
    for (size_t i = 0; i < ev->n_due; i++)
        if (strcmp(ev->due_org[i], org) == 0) {
            if (due < ev->due_ms[i])
                ev->due_ms[i] = due;
            return;
        }
    if (ev->n_due == sizeof ev->due_ms / sizeof ev->due_ms[0]) {
        as_at(ev->set->sched, org, due, ev->due_key); /* many clocks */
        return;
    }
    ev->due_org[ev->n_due] = org;
    ev->due_ms[ev->n_due++] = due;
}

/* The thresholds of on_referral. */
static void plan_referral(eval *ev, const cl_referral *r)
{
    const broker_sla *sla = ev->in->sla;
    const client_index *cl = ev->in->clients;
    const char *from = cl_name(cl, r->from), *to = cl_name(cl, r->to);
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_REQUESTED && r->requested)
        plan_due(ev, from, r->created_ms + sla->referral_receipt_ms);
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED && r->received_ms)
        plan_due(ev, to, r->received_ms + sla->referral_answer_ms);
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_REJECTED && r->status_ms)
        plan_due(ev, to, r->status_ms + sla->rejection_followup_ms);
    if (!cl_referral_open(r))
        return;
    static const uint8_t zero[16];
    uint8_t owner[16];
    if (memcmp(r->consent_id, zero, 16) != 0 &&
        (!ci_consent_owner(ev->in->consents, r->consent_id, owner) ||
         memcmp(owner, r->client_key, 16) != 0))
        ev->foreign_consent = true;
    uint64_t until = ci_consent_until(ev->in->consents, r->consent_id, ev->now);
    if (until)
        plan_due(ev, "", until);
    if (r->requested)
        plan_due(ev, from, r->created_ms + sla->path_coordinator_ms);
}

static void on_referral_planned(const cl_referral *r, void *arg)
{
    on_referral(r, arg);
    plan_referral(arg, r);
}

/* The thresholds of on_path. */
static void plan_path(eval *ev, const uint8_t key[16], const path_view *v)
{
    const path_handover_view *h = &v->open_handover;
    if (v->has_open_handover && h->offered_ms)
        plan_due(ev, h->from, h->offered_ms + ev->in->sla->handover_answer_ms);
    uint64_t end = v->has_open_handover && h->to[0]
                       ? ci_client_next_end(ev->in->consents, key, ev->now)
                       : 0;
    if (end)
        plan_due(ev, "", end);
}

static void plan_begin(eval *ev, const uint8_t key[16])
{
    ev->n_due = 0;
    ev->due_key = key;
    ev->foreign_consent = false;
}

/* The planned thresholds into the schedule. */
static void plan_end(eval *ev)
{
    for (size_t i = 0; i < ev->n_due; i++)
        as_at(ev->set->sched, ev->due_org[i], ev->due_ms[i], ev->due_key);
}

/* Evaluates one client's referrals and path, and schedules it again. */
static void eval_client(eval *ev, const uint8_t key[16])
{
    plan_begin(ev, key);
    ev->set->looked++;
    cl_each_referral_of(ev->in->clients, key, on_referral_planned, ev);
    path_view v;
    if (pi_view(ev->in->paths, key, &v)) {
        on_path(key, &v, ev);
        plan_path(ev, key, &v);
    }
    plan_end(ev);
    watch(ev->set, key, ev->foreign_consent);
}

/* The org-level alerts, break-glass, then what no longer holds. */
static void evaluate_rest(eval *ev);

/* An evaluation (the walk's or the tick's) starts a new generation. */
static eval eval_begin(clock_memo *clocks, alert_set *set,
                       const alert_inputs *in, uint64_t now_ms,
                       alert_change_fn change, void *arg)
{
    set->gen++;
    return (eval){.clocks = clocks,
                  .set = set,
                  .in = in,
                  .now = now_ms,
                  .change = change,
                  .arg = arg};
}

void alerts_evaluate(alert_set *set, const alert_inputs *in, uint64_t now_ms,
                     alert_change_fn change, void *arg)
{
    clock_memo clocks = {0};
    eval ev = eval_begin(&clocks, set, in, now_ms, change, arg);
    cl_each_referral(in->clients, on_referral, &ev);
    pi_each(in->paths, on_path, &ev);
    evaluate_rest(&ev);
}

/* The full walk of alerts_tick: alerts_evaluate's walk in the index's
 * own order (no lookup per client), each referral and path scheduled on
 * its own (a client may get an entry for each). */
static void walk_referral(const cl_referral *r, void *arg)
{
    eval *ev = arg;
    on_referral(r, ev);
    plan_begin(ev, r->client_key);
    plan_referral(ev, r);
    plan_end(ev);
    if (ev->foreign_consent)
        watch(ev->set, r->client_key, true);
}

static void walk_path(const uint8_t key[16], const path_view *v, void *arg)
{
    eval *ev = arg;
    on_path(key, v, ev);
    plan_begin(ev, key);
    plan_path(ev, key, v);
    plan_end(ev);
}

/* Client keys to look at again, sorted and made unique before use. */
typedef struct key_list {
    uint8_t (*keys)[16];
    size_t n, cap;
    bool lost; /* out of memory: a key was dropped */
} key_list;

static void key_add(const uint8_t key[16], void *arg)
{
    key_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint8_t(*grown)[16] = realloc(l->keys, cap * sizeof *grown);
        if (!grown) {
            l->lost = true;
            return;
        }
        l->keys = grown;
        l->cap = cap;
    }
    memcpy(l->keys[l->n++], key, 16);
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static uint64_t now_of(void *arg, const char *org)
{
    return now_at(arg, org);
}

/* Only the clients whose alerts may have changed. False when a key list
 * ran out of memory: the caller walks everything instead. */
static bool evaluate_changed(eval *ev)
{
    key_list l = {0};
    cl_take_changed(ev->in->changed_clients, key_add, &l);
    ci_take_changed(ev->in->changed_consents, key_add, &l);
    for (watched *w = ev->set->watched; w; w = w->hh.next)
        key_add(w->key, &l);
    for (alert *a = ev->set->alerts; a; a = a->hh.next)
        if (a->kind <= ALERT_PATH_NO_COORDINATOR) /* a client's alert */
            key_add(a->client_key, &l);
    as_take_due(ev->set->sched, now_of, ev, key_add, &l);
    if (l.lost) {
        free(l.keys);
        return false;
    }
    if (l.n > 1)
        qsort(l.keys, l.n, sizeof l.keys[0], key_cmp);
    for (size_t i = 0; i < l.n; i++)
        if (i == 0 || memcmp(l.keys[i], l.keys[i - 1], 16) != 0)
            eval_client(ev, l.keys[i]);
    free(l.keys);
    return true;
}

void alerts_tick(alert_set *set, const alert_inputs *in, uint64_t now_ms,
                 alert_change_fn change, void *arg)
{
    if (!set->sched && !(set->sched = as_new())) {
        alerts_evaluate(set, in, now_ms, change, arg); /* out of memory */
        return;
    }
    clock_memo clocks = {0};
    eval ev = eval_begin(&clocks, set, in, now_ms, change, arg);
    set->looked = 0;
    bool full = set->walk_all || !in->changed_clients ||
                !in->changed_consents || as_lost(set->sched) ||
                now_ms < set->last_full_ms ||
                now_ms - set->last_full_ms >= ALERTS_FULL_WALK_MS;
    if (!full && !evaluate_changed(&ev)) {
        set->looked = 0;
        full = true; /* nothing was held or cleared yet: walk instead */
    }
    if (full) {
        set->walk_all = false;
        set->last_full_ms = now_ms;
        as_clear(set->sched);
        unwatch_all(set);
        if (in->changed_clients)
            cl_take_changed(in->changed_clients, NULL, NULL);
        if (in->changed_consents)
            ci_take_changed(in->changed_consents, NULL, NULL);
        cl_each_referral(in->clients, walk_referral, &ev);
        pi_each(in->paths, walk_path, &ev);
        as_order(set->sched);
        set->looked = cl_count_clients(in->clients);
    }
    evaluate_rest(&ev);
}

void alerts_walk_all(alert_set *set)
{
    set->walk_all = true;
}

size_t alerts_last_looked(const alert_set *set)
{
    return set->looked;
}

size_t alerts_scheduled(const alert_set *set)
{
    return set->sched ? as_count(set->sched) : 0;
}

static void evaluate_rest(eval *evp)
{
    eval ev = *evp;
    const alert_inputs *in = ev.in;
    alert_set *set = ev.set;
    alert_change_fn change = ev.change;
    void *arg = ev.arg;
    static const uint8_t no_client[16];
    for (size_t i = 0; i < in->n_refused; i++)
        if (in->refused[i].events > 0)
            hold(&ev, ALERT_EVENTS_REFUSED, NULL, in->refused[i].org, no_client,
                 in->refused[i].org, in->refused[i].since_ms);
    for (size_t i = 0; i < in->n_duplicates; i++) {
        const alert_session *d = &in->duplicates[i];
        ev.peers[0] = d->peer ? d->peer : "";
        ev.peers[1] = d->other_peer ? d->other_peer : "";
        hold(&ev, ALERT_DUPLICATE_SESSION, NULL, d->org, no_client, d->org,
             d->since_ms);
        ev.peers[0] = ev.peers[1] = NULL;
    }
    for (size_t i = 0; i < in->n_regressed; i++) {
        const alert_regression *g = &in->regressed[i];
        char detail[48];
        snprintf(detail, sizeof detail, "seq %llu < %llu",
                 (unsigned long long)g->agent_seq,
                 (unsigned long long)g->broker_seq);
        hold_detail(&ev, ALERT_STORE_REGRESSED, NULL, g->org, no_client, g->org,
                    g->since_ms, detail);
    }
    ov_each_open(cl_overrides(in->clients), hold_override, &ev);
    for (size_t i = 0; i < in->n_diverged; i++) {
        const alert_divergence *g = &in->diverged[i];
        char detail[48];
        snprintf(detail, sizeof detail, "seq %llu", (unsigned long long)g->seq);
        hold_detail(&ev, ALERT_LOG_DIVERGED, NULL, g->org, no_client, g->org,
                    g->since_ms, detail);
    }
    alert *a, *tmp;
    HASH_ITER(hh, set->alerts, a, tmp)
    {
        if (a->gen == set->gen)
            continue;
        HASH_DEL(set->alerts, a);
        json_t *j = alert_json(a);
        if (j && change)
            change("alert.cleared", j, arg);
        json_decref(j);
        free(a);
    }
}

static int since_cmp(const void *x, const void *y)
{
    const alert *a = *(const alert *const *)x, *b = *(const alert *const *)y;
    if (a->since_ms != b->since_ms)
        return a->since_ms < b->since_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

json_t *alerts_json(const alert_set *set)
{
    size_t n = HASH_COUNT(set->alerts), k = 0;
    alert **all = n ? malloc(n * sizeof *all) : NULL;
    for (alert *a = set->alerts; all && a; a = a->hh.next)
        all[k++] = a;
    if (all)
        qsort(all, n, sizeof *all, since_cmp);
    json_t *list = json_array();
    for (size_t i = 0; all && i < n; i++)
        json_array_append_new(list, alert_json(all[i]));
    free(all);
    return json_pack("{s:o}", "alerts", list);
}
