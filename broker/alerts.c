/* alerts.c — alerts recomputed from the folded state, diffed against the
 * last evaluation. */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

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
    ALERT_KINDS
};

static const char *const kind_names[ALERT_KINDS] = {
    "referral_not_received", "referral_not_answered", "rejection_no_followup",
    "handover_unanswered",   "consent_expired_open",  "path_no_coordinator",
    "events_refused",        "duplicate_session",     "store_regressed",
};

static const char *const kind_subjects[ALERT_KINDS] = {
    "referral", "referral", "referral", "handover", "referral",
    "path",     "org",      "org",      "org",
};

typedef struct alert {
    char id[80]; /* kind:subject */
    unsigned kind;
    const char *subject; /* "referral", "handover", "path" */
    char subject_id[33];
    uint8_t client_key[16];
    char org[33];    /* "" nobody */
    char detail[48]; /* numbers only, e.g. "seq 2 < 3"; "" none */
    uint64_t since_ms;
    char peers[2][64]; /* duplicate_session: the live, the refused */
    unsigned gen;
    UT_hash_handle hh;
} alert;

struct alert_set {
    alert *alerts;
    unsigned gen;
};

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
    free(*set);
    *set = NULL;
}

size_t alerts_count(const alert_set *set)
{
    return HASH_COUNT(set->alerts);
}

static void key_hex(const uint8_t key[16], char out[33])
{
    polku_client_key_hex(key, out);
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
    char key[33], since[POLKU_TIME_TEXT];
    static const uint8_t none[16];
    key_hex(a->client_key, key);
    polku_time_format(a->since_ms, since, sizeof since);
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "id", a->id, "kind",
        kind_names[a->kind], "client_key",
        memcmp(a->client_key, none, 16) ? json_string(key) : json_null(),
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

typedef struct eval {
    alert_set *set;
    const alert_inputs *in;
    uint64_t now;
    alert_change_fn change;
    void *arg;
    const char *peers[2]; /* for the next hold (NULL: none) */
} eval;

/* The alert holds at this evaluation: kept, or raised if new. An existing
 * alert keeps its since; for path alerts the earliest candidate wins.
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
        if (a->gen != ev->set->gen) {
            a->gen = ev->set->gen;
        } else if (since_ms < a->since_ms) {
            a->since_ms = since_ms; /* several candidates this round */
        }
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
    snprintf(a->org, sizeof a->org, "%s", org ? org : "");
    snprintf(a->detail, sizeof a->detail, "%s", detail ? detail : "");
    a->since_ms = since_ms;
    for (int i = 0; i < 2 && ev->peers[0]; i++)
        snprintf(a->peers[i], sizeof a->peers[i], "%s", ev->peers[i]);
    a->gen = ev->set->gen;
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

/* The broker's now on org's clock (event times are its writer's). */
static uint64_t now_at(const eval *ev, const char *org)
{
    int64_t off = ev->in->clock_offset && org && *org
                      ? ev->in->clock_offset(ev->in->clock_arg, org)
                      : 0;
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
        char key[33];
        key_hex(r->client_key, key);
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

void alerts_evaluate(alert_set *set, const alert_inputs *in, uint64_t now_ms,
                     alert_change_fn change, void *arg)
{
    eval ev = {set, in, now_ms, change, arg, {NULL, NULL}};
    set->gen++;
    cl_each_referral(in->clients, on_referral, &ev);
    pi_each(in->paths, on_path, &ev);
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
