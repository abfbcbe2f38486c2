/* views.c — the broker's JSON views over the folded state: the shared
 * client path, what is pending, the stats with the state digest.
 *
 * Metadata only: display pseudonyms (display.h), organisation ids,
 * statuses, times. */
#include "fold.h"
#include "views.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/json.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/id.h"

void views_digest(const views_state *vs, char out[65])
{
    fold_digest(&vs->x, out, NULL);
}

const char *views_path_stage(const views_state *vs, const uint8_t key[16],
                             uint64_t now_ms)
{
    path_view v;
    bool known = pi_view(vs->x.paths, key, &v);
    if (known && v.closed)
        return "closed";
    /* no consent holds any more: nothing may be exchanged for the client,
     * whatever services still run (the path says why: stage_reason) */
    if (ci_client_ended(vs->x.consents, key, now_ms))
        return "consent_ended";
    if (cl_in_services(vs->x.clients, key))
        return "in_services";
    if (known && v.has_plan)
        return "planned";
    if (known && v.coordinator[0])
        return "coordinated";
    json_t *consents = ci_client_json(vs->x.consents, key, now_ms);
    bool consented = false;
    size_t i;
    json_t *c;
    json_array_foreach(consents, i, c) consented |=
        json_is_true(json_object_get(c, "active"));
    json_decref(consents);
    return consented ? "consented" : "identified";
}

json_t *views_path_json(const views_state *vs, const uint8_t key[16],
                        uint64_t now_ms, const display *names)
{
    json_t *j = pi_json(vs->x.paths, key, names);
    json_t *more = cl_client_json(vs->x.clients, key, now_ms, names);
    json_t *consents = ci_client_json(vs->x.consents, key, now_ms);
    if (!j && !more && json_array_size(consents) == 0) {
        json_decref(consents);
        return NULL;
    }
    if (!j) {
        char hex[DISPLAY_NAME_TEXT];
        display_name(names, key, hex);
        j = json_pack("{s:s, s:n, s:i, s:n, s:b, s:n, s:n, s:n, s:n}",
                      "client_key", hex, "coordinator", "term", 0, "since",
                      "closed", 0, "closed_reason", "open_handover", "plan",
                      "supporter");
    }
    path_view v;
    if (pi_view(vs->x.paths, key, &v) && v.has_plan) {
        json_t *plan = json_object_get(j, "plan");
        if (json_is_object(plan))
            json_object_set_new(plan, "overdue",
                                json_boolean(v.plan_review_due_ms &&
                                             v.plan_review_due_ms < now_ms));
    }
    const char *stage = views_path_stage(vs, key, now_ms);
    json_object_set_new(j, "stage", json_string(stage));
    json_object_set_new(
        j, "stage_reason",
        strcmp(stage, "consent_ended") == 0
            ? json_string(ci_client_ended(vs->x.consents, key, now_ms))
            : json_null());
    json_object_set_new(j, "consents", consents);
    if (more) {
        json_object_update(j, more);
        json_decref(more);
    } else {
        json_object_set_new(j, "first_seen", json_null());
        json_object_set_new(j, "referrals", json_array());
        json_object_set_new(j, "services", json_array());
        json_object_set_new(j, "timeline", json_array());
    }
    return j;
}

/* ---- pending ---- */

typedef struct pending_ctx {
    const views_state *vs;
    uint64_t now;
    json_t *referrals, *handovers, *by_org;
    size_t overdue;
} pending_ctx;

typedef struct pending_ref {
    uint64_t since;
    json_t *j;
} pending_ref;

/* now on org's clock (event times are their writers'). */
static uint64_t now_on(const views_state *vs, const char *org, uint64_t now)
{
    return polku_ms_shift(now, routes_clock_offset(vs->routes, org));
}

static void add_referral(const cl_referral *r, void *arg)
{
    pending_ctx *p = arg;
    if (!cl_referral_pending(r) || !r->requested)
        return;
    const broker_sla *sla = &p->vs->cfg->sla;
    const char *reason = NULL;
    /* times are their writers' clocks: ages are read on those */
    const char *from = cl_name(p->vs->x.clients, r->from);
    const char *to = cl_name(p->vs->x.clients, r->to);
    uint64_t now_from = now_on(p->vs, from, p->now);
    uint64_t now_to = now_on(p->vs, to, p->now);
    bool received = r->status == POLKU__REFERRAL_STATE__REFERRAL_RECEIVED;
    if (r->status == POLKU__REFERRAL_STATE__REFERRAL_REQUESTED &&
        now_from >= r->created_ms + sla->referral_receipt_ms)
        reason = "not_received";
    else if (received && r->received_ms &&
             now_to >= r->received_ms + sla->referral_answer_ms)
        reason = "not_answered";
    json_t *j = cl_referral_json(p->vs->x.clients, r,
                                 received ? now_to : now_from, p->vs->x.names);
    json_object_set_new(j, "overdue", json_boolean(reason != NULL));
    json_object_set_new(j, "overdue_reason",
                        reason ? json_string(reason) : json_null());
    p->overdue += reason != NULL;
    json_array_append_new(p->referrals, j);
    json_t *n = json_object_get(p->by_org, to);
    json_object_set_new(p->by_org, to,
                        json_integer(n ? json_integer_value(n) + 1 : 1));
}

static void add_handover(const uint8_t key[16], const path_view *v, void *arg)
{
    pending_ctx *p = arg;
    if (!v->has_open_handover)
        return;
    const path_handover_view *h = &v->open_handover;
    char hex[DISPLAY_NAME_TEXT], id[POLKU_ID_TEXT];
    display_name(p->vs->x.names, key, hex);
    polku_id pid;
    memcpy(pid.b, h->id, 16);
    polku_id_format(&pid, id);
    uint64_t now = now_on(p->vs, h->from, p->now);
    bool overdue = h->offered_ms &&
                   now >= h->offered_ms + p->vs->cfg->sla.handover_answer_ms;
    p->overdue += overdue;
    json_array_append_new(
        p->handovers,
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:b}", "id", id,
                  "client_key", hex, "from", h->from, "to", h->to, "term",
                  (json_int_t)h->term, "offered",
                  polku_json_time(h->offered_ms), "age_s",
                  (json_int_t)(h->offered_ms && now > h->offered_ms
                                   ? (now - h->offered_ms) / 1000
                                   : 0),
                  "overdue", overdue));
}

/* Oldest first: by "created" (referrals) or "offered" (handovers), then
 * id, both as text (RFC 3339 UTC and ULIDs sort as text). */
static int by_time(const void *x, const void *y)
{
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    const char *ta = json_string_value(json_object_get(a, "created"));
    const char *tb = json_string_value(json_object_get(b, "created"));
    if (!ta)
        ta = json_string_value(json_object_get(a, "offered"));
    if (!tb)
        tb = json_string_value(json_object_get(b, "offered"));
    int c = strcmp(ta ? ta : "", tb ? tb : "");
    if (c)
        return c;
    return strcmp(json_string_value(json_object_get(a, "id")),
                  json_string_value(json_object_get(b, "id")));
}

static json_t *sorted(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **items = n ? malloc(n * sizeof *items) : NULL;
    if (!items)
        return list;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, by_time);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, items[i]);
    free(items);
    json_decref(list);
    return out;
}

json_t *views_pending_json(const views_state *vs, uint64_t now_ms)
{
    pending_ctx p = {vs, now_ms, json_array(), json_array(), json_object(), 0};
    cl_each_referral(vs->x.clients, add_referral, &p);
    pi_each(vs->x.paths, add_handover, &p);
    char now[POLKU_TIME_TEXT];
    polku_time_format(now_ms, now, sizeof now);
    size_t handovers = json_array_size(p.handovers);
    return json_pack("{s:s, s:o, s:o, s:{s:o, s:I, s:I, s:I}}", "now", now,
                     "referrals", sorted(p.referrals), "handovers",
                     sorted(p.handovers), "tiles", "pending_by_org", p.by_org,
                     "overdue", (json_int_t)p.overdue, "handovers_open",
                     (json_int_t)handovers, "alerts",
                     (json_int_t)alerts_count(vs->alerts));
}

json_t *views_directory_json(const views_state *vs)
{
    json_t *orgs = json_array();
    for (size_t i = 0; i < vs->cfg->org_count; i++) {
        const broker_org *o = &vs->cfg->orgs[i];
        json_t *services = json_array();
        for (size_t k = 0; k < o->service_count; k++)
            json_array_append_new(services, json_string(o->services[k]));
        json_array_append_new(orgs, json_pack("{s:s, s:s, s:o}", "id", o->id,
                                              "name", o->name ? o->name : o->id,
                                              "services", services));
    }
    const broker_sla *s = &vs->cfg->sla;
    return json_pack(
        "{s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "orgs", orgs, "sla_s",
        "referral_receipt", (json_int_t)(s->referral_receipt_ms / 1000),
        "referral_answer", (json_int_t)(s->referral_answer_ms / 1000),
        "rejection_followup", (json_int_t)(s->rejection_followup_ms / 1000),
        "handover_answer", (json_int_t)(s->handover_answer_ms / 1000),
        "path_coordinator", (json_int_t)(s->path_coordinator_ms / 1000));
}

json_t *views_stats_json(const views_state *vs, bool with_digest)
{
    char epoch[17];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)vs->epoch);
    size_t replayed = 0;
    json_t *replay = json_object();
    for (size_t i = 0; i < vs->cfg->org_count; i++) {
        const route *r = &vs->routes->by_org[i];
        replayed += r->replayed;
        uint64_t expected = r->last_seq >= r->replay_from && r->replay_from
                                ? r->last_seq - r->replay_from + 1
                                : 0;
        /* applied_seq < last_seq once done: a gap that stayed open */
        json_object_set_new(
            replay, vs->cfg->orgs[i].id,
            json_pack(
                "{s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I}", "events",
                (json_int_t)r->replayed_events, "expected",
                (json_int_t)expected, "from_seq", (json_int_t)r->replay_from,
                "last_seq", (json_int_t)r->last_seq, "done", r->replayed,
                "gaps", (json_int_t)r->gaps_detected, "applied_seq",
                (json_int_t)pi_contiguous(vs->x.paths, vs->cfg->orgs[i].id),
                "stale", (json_int_t)r->replay_stale));
    }
    json_t *stats = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "epoch",
        epoch, "paths", (json_int_t)pi_count(vs->x.paths), "coordinated",
        (json_int_t)pi_coordinated(vs->x.paths), "clients",
        (json_int_t)cl_count_clients(vs->x.clients), "referrals",
        (json_int_t)cl_count_referrals(vs->x.clients), "referrals_open",
        (json_int_t)cl_count_open(vs->x.clients), "consents",
        (json_int_t)ci_count(vs->x.consents), "alerts",
        (json_int_t)alerts_count(vs->alerts), "orgs",
        (json_int_t)vs->cfg->org_count, "orgs_replayed", (json_int_t)replayed,
        "feed_seq", (json_int_t)vs->feed_seq, "replay", replay);
    if (stats && with_digest) {
        char digest[65], paths_digest[65];
        views_digest(vs, digest);
        pi_digest(vs->x.paths, paths_digest);
        json_object_set_new(stats, "digest", json_string(digest));
        json_object_set_new(stats, "paths_digest", json_string(paths_digest));
    }
    return stats;
}
