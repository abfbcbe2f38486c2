/* report.c — coordination reports (report.h): counts, times and outcomes
 * per organisation and for the region, from the folded state. */
#include "report.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/json.h"

#define DAY_MS 86400000ull

/* ---- query ---- */

static int bound(const char *name, const char *text, bool end, uint64_t *out,
                 char *why, size_t why_len)
{
    if (!text || !*text) {
        snprintf(why, why_len,
                 "%s is required: a date YYYY-MM-DD or an RFC 3339 time", name);
        return POLKU_EINVAL;
    }
    bool date_only = false;
    char reason[160] = "";
    if (polku_time_parse_why(text, out, &date_only, reason, sizeof reason)) {
        snprintf(why, why_len, "%s: %s", name, reason);
        return POLKU_EINVAL;
    }
    if (date_only && end) /* a whole day in Finland */
        *out = polku_helsinki_end_of_day(*out);
    else if (date_only) /* the day before's last ms, + 1 (none before 1970) */
        *out =
            *out >= DAY_MS ? polku_helsinki_end_of_day(*out - DAY_MS) + 1 : 0;
    return POLKU_OK;
}

int report_parse_query(const broker_config *cfg, const char *from,
                       const char *to, const char *org, const char *format,
                       report_query *q, char *why, size_t why_len)
{
    memset(q, 0, sizeof *q);
    if (bound("from", from, false, &q->from_ms, why, why_len) ||
        bound("to", to, true, &q->to_ms, why, why_len))
        return POLKU_EINVAL;
    if (q->to_ms < q->from_ms) {
        snprintf(why, why_len, "to is before from");
        return POLKU_EINVAL;
    }
    if (org) {
        const broker_org *o = broker_config_org(cfg, org);
        if (!o) {
            snprintf(why, why_len,
                     "org: no organisation with this id in the directory");
            return POLKU_EINVAL;
        }
        q->org = o->id;
    }
    if (format && strcmp(format, "csv") == 0)
        q->csv = 1;
    else if (format && strcmp(format, "json") != 0) {
        snprintf(why, why_len, "format: expected json or csv");
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

/* ---- durations ---- */

typedef struct durations {
    uint64_t *v; /* seconds */
    size_t n, cap;
} durations;

static void dur_add(durations *d, uint64_t later, uint64_t earlier)
{
    if (!later || !earlier)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        uint64_t *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return; /* out of memory: the figure is short of one value */
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = later > earlier ? (later - earlier) / 1000 : 0;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least pct % at or below it. */
static json_t *rank(const durations *d, unsigned pct)
{
    if (!d->n)
        return json_null();
    size_t r = (d->n * pct + 99) / 100;
    return json_integer((json_int_t)d->v[r ? r - 1 : 0]);
}

/* ---- rows ---- */

typedef struct row {
    size_t sent, received, accepted, rejected, rejected_no_followup, cancelled,
        failed, completed;
    size_t ho_offered, ho_received, ho_accepted, ho_declined, active_paths;
    durations receipt, answer, ho_answer;
} row;

typedef struct outcome {
    const char *service;
    size_t completed, rejected, failed, cancelled, open;
} outcome;

typedef struct request_time {
    uint8_t key[16];
    uint64_t at;
} request_time;

typedef struct ctx {
    const broker_config *cfg;
    const client_index *cl;
    const report_query *q;
    uint64_t now;
    row *rows; /* cfg->org_count directory orgs, then the region */
    outcome *outcomes;
    size_t n_outcomes;
    request_time *requests; /* every referral's request, by client */
    size_t n_requests;
    durations orphan; /* paths without coordinator: how long */
} ctx;

static row *row_of(ctx *c, const char *org)
{
    for (size_t i = 0; i < c->cfg->org_count; i++)
        if (strcmp(c->cfg->orgs[i].id, org) == 0)
            return &c->rows[i];
    return NULL; /* not in the directory: the region counts it */
}

static int req_cmp(const void *a, const void *b)
{
    const request_time *x = a, *y = b;
    int k = memcmp(x->key, y->key, 16);
    return k ? k : u64_cmp(&x->at, &y->at);
}

static void collect_request(const cl_referral *r, void *arg)
{
    ctx *c = arg;
    if (!r->requested)
        return;
    request_time *t = &c->requests[c->n_requests++];
    memcpy(t->key, r->client_key, 16);
    t->at = r->created_ms;
}

static void count_referrals(const cl_referral *r, void *arg)
{
    (void)r;
    (*(size_t *)arg)++;
}

/* A referral of key requested in (after, until]. */
static bool followed_up(const ctx *c, const uint8_t key[16], uint64_t after,
                        uint64_t until)
{
    size_t lo = 0, hi = c->n_requests;
    while (lo < hi) { /* the first request of key */
        size_t mid = (lo + hi) / 2;
        if (memcmp(c->requests[mid].key, key, 16) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo;
         i < c->n_requests && memcmp(c->requests[i].key, key, 16) == 0; i++)
        if (c->requests[i].at > after && c->requests[i].at <= until)
            return true;
    return false;
}

static outcome *outcome_of(ctx *c, const char *service)
{
    for (size_t i = 0; i < c->n_outcomes; i++)
        if (strcmp(c->outcomes[i].service, service) == 0)
            return &c->outcomes[i];
    outcome *o = &c->outcomes[c->n_outcomes++]; /* sized for every referral */
    memset(o, 0, sizeof *o);
    o->service = service;
    return o;
}

static void count_status(ctx *c, row *w, const cl_referral *r)
{
    switch (r->status) {
    case POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED:
    case POLKU__REFERRAL_STATE__REFERRAL_IN_PROGRESS:
    case POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD:
        w->accepted++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_COMPLETED:
        w->accepted++;
        w->completed++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_REJECTED: {
        w->rejected++;
        uint64_t at = r->status_ms, sla = c->cfg->sla.rejection_followup_ms;
        if (c->now >= at + sla && !followed_up(c, r->client_key, at, at + sla))
            w->rejected_no_followup++;
        break;
    }
    case POLKU__REFERRAL_STATE__REFERRAL_CANCELLED:
        w->cancelled++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_FAILED:
        w->failed++;
        break;
    default:
        break;
    }
}

static void add_referral(const cl_referral *r, void *arg)
{
    ctx *c = arg;
    if (!r->requested || r->created_ms < c->q->from_ms ||
        r->created_ms > c->q->to_ms)
        return;
    row *region = &c->rows[c->cfg->org_count];
    row *from = row_of(c, cl_name(c->cl, r->from));
    row *to = row_of(c, cl_name(c->cl, r->to));
    row *targets[2] = {region, to};
    region->sent++;
    if (from)
        from->sent++;
    for (int i = 0; i < 2; i++) {
        row *w = targets[i];
        if (!w)
            continue;
        w->received++;
        dur_add(&w->receipt, r->received_ms, r->created_ms);
        if (r->answered_ms && r->received_ms)
            dur_add(&w->answer, r->answered_ms, r->received_ms);
        count_status(c, w, r);
    }
    outcome *o = outcome_of(c, cl_name(c->cl, r->service));
    switch (r->status) {
    case POLKU__REFERRAL_STATE__REFERRAL_COMPLETED:
        o->completed++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_REJECTED:
        o->rejected++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_FAILED:
        o->failed++;
        break;
    case POLKU__REFERRAL_STATE__REFERRAL_CANCELLED:
        o->cancelled++;
        break;
    default:
        o->open++;
        break;
    }
}

static void add_handover(const uint8_t key[16], const path_handover_view *h,
                         void *arg)
{
    (void)key;
    ctx *c = arg;
    if (!h->offered || h->offered_ms < c->q->from_ms ||
        h->offered_ms > c->q->to_ms)
        return;
    row *region = &c->rows[c->cfg->org_count];
    row *from = row_of(c, h->from), *to = row_of(c, h->to);
    region->ho_offered++;
    if (from)
        from->ho_offered++;
    row *targets[2] = {region, to};
    for (int i = 0; i < 2; i++) {
        row *w = targets[i];
        if (!w)
            continue;
        w->ho_received++;
        bool acc = h->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED;
        bool dec = h->status == POLKU__HANDOVER_STATE__HANDOVER_DECLINED;
        w->ho_accepted += acc;
        w->ho_declined += dec;
        if (acc || dec)
            dur_add(&w->ho_answer, h->answered_ms, h->offered_ms);
    }
}

static void add_path(const uint8_t key[16], const path_view *v, void *arg)
{
    (void)key;
    ctx *c = arg;
    if (v->closed || !v->coordinator[0])
        return;
    c->rows[c->cfg->org_count].active_paths++;
    row *w = row_of(c, v->coordinator);
    if (w)
        w->active_paths++;
}

/* The oldest open referral of each client nobody coordinates. */
typedef struct orphan {
    uint8_t key[16];
    uint64_t since;
} orphan;

typedef struct orphans {
    const path_index *pi;
    orphan *list;
    size_t n;
} orphans;

static void add_orphan(const cl_referral *r, void *arg)
{
    orphans *o = arg;
    if (!r->requested || !cl_referral_open(r))
        return;
    path_view v;
    if (pi_view(o->pi, r->client_key, &v) && (v.coordinator[0] || v.closed))
        return;
    for (size_t i = 0; i < o->n; i++) {
        if (memcmp(o->list[i].key, r->client_key, 16) == 0) {
            if (r->created_ms < o->list[i].since)
                o->list[i].since = r->created_ms;
            return;
        }
    }
    memcpy(o->list[o->n].key, r->client_key, 16);
    o->list[o->n++].since = r->created_ms;
}

/* ---- pending per day ---- */

#define REPORT_MAX_DAYS 62

typedef struct days {
    const ctx *c;
    uint64_t at[REPORT_MAX_DAYS];  /* when counted: the day's end, or
                                      now or the window's end if sooner */
    uint64_t end[REPORT_MAX_DAYS]; /* the day's last millisecond */
    size_t n;
    size_t *count; /* n x (org_count + 1): the region last */
} days;

/* Pending (requested or received, not answered) at t. */
static bool pending_at(const cl_referral *r, uint64_t t)
{
    return r->requested && r->created_ms <= t &&
           (!r->answered_ms || r->answered_ms > t);
}

static void count_pending(const cl_referral *r, void *arg)
{
    days *d = arg;
    size_t stride = d->c->cfg->org_count + 1;
    const char *to = cl_name(d->c->cl, r->to);
    size_t org = stride - 1;
    for (size_t i = 0; i + 1 < stride; i++)
        if (strcmp(d->c->cfg->orgs[i].id, to) == 0)
            org = i;
    for (size_t k = 0; k < d->n; k++) {
        if (!pending_at(r, d->at[k]))
            continue;
        d->count[k * stride + stride - 1]++;
        if (org + 1 < stride)
            d->count[k * stride + org]++;
    }
}

/* The pending referrals per receiving organisation at the end of each day
 * (Europe/Helsinki) of the window, the last day counted at now or at the
 * window's end if sooner: [{"day","pending":{org:n},"total"}], at most
 * REPORT_MAX_DAYS (the last ones). */
static json_t *pending_by_day(const ctx *c)
{
    days d = {.c = c};
    uint64_t stop = c->q->to_ms < c->now ? c->q->to_ms : c->now;
    uint64_t first = c->q->from_ms; /* no more days than are kept */
    if (stop > first + (REPORT_MAX_DAYS + 1) * DAY_MS)
        first = stop - (REPORT_MAX_DAYS + 1) * DAY_MS;
    uint64_t t = first + DAY_MS / 2;
    while (c->q->from_ms <= stop) {
        uint64_t end = polku_helsinki_end_of_day(t);
        if (d.n == REPORT_MAX_DAYS) { /* keep the last days */
            memmove(d.at, d.at + 1, (REPORT_MAX_DAYS - 1) * sizeof d.at[0]);
            memmove(d.end, d.end + 1, (REPORT_MAX_DAYS - 1) * sizeof d.end[0]);
            d.n--;
        }
        d.end[d.n] = end;
        d.at[d.n++] = end < stop ? end : stop;
        if (end >= stop)
            break;
        t = end + DAY_MS / 2;
    }
    size_t stride = c->cfg->org_count + 1;
    d.count = calloc(d.n * stride + 1, sizeof *d.count);
    if (!d.count)
        return NULL;
    cl_each_referral(c->cl, count_pending, &d);
    json_t *list = json_array();
    for (size_t k = 0; k < d.n; k++) {
        char day[POLKU_TIME_TEXT];
        polku_time_format(d.end[k], day, sizeof day);
        day[10] = 0; /* the Helsinki date: its last ms is still that UTC day */
        json_t *per = json_object();
        for (size_t i = 0; i + 1 < stride; i++)
            if (!c->q->org || strcmp(c->q->org, c->cfg->orgs[i].id) == 0)
                json_object_set_new(
                    per, c->cfg->orgs[i].id,
                    json_integer((json_int_t)d.count[k * stride + i]));
        json_array_append_new(
            list,
            json_pack("{s:s, s:o, s:I}", "day", day, "pending", per, "total",
                      (json_int_t)d.count[k * stride + stride - 1]));
    }
    free(d.count);
    return list;
}

/* ---- output ---- */

static const char *const columns[] = {"scope",
                                      "org",
                                      "name",
                                      "sent",
                                      "received",
                                      "receipt_n",
                                      "receipt_p50_s",
                                      "receipt_p90_s",
                                      "receipt_max_s",
                                      "answer_n",
                                      "answer_p50_s",
                                      "answer_p90_s",
                                      "answer_max_s",
                                      "accepted",
                                      "rejected",
                                      "rejected_no_followup",
                                      "cancelled",
                                      "failed",
                                      "completed",
                                      "handovers_offered",
                                      "handovers_received",
                                      "handovers_accepted",
                                      "handovers_declined",
                                      "handover_answer_n",
                                      "handover_answer_p50_s",
                                      "handover_answer_p90_s",
                                      "handover_answer_max_s",
                                      "active_paths",
                                      NULL};

static void put_durations(json_t *j, const char *name, durations *d)
{
    char k[48];
    if (d->n)
        qsort(d->v, d->n, sizeof *d->v, u64_cmp);
    snprintf(k, sizeof k, "%s_n", name);
    json_object_set_new(j, k, json_integer((json_int_t)d->n));
    snprintf(k, sizeof k, "%s_p50_s", name);
    json_object_set_new(j, k, rank(d, 50));
    snprintf(k, sizeof k, "%s_p90_s", name);
    json_object_set_new(j, k, rank(d, 90));
    snprintf(k, sizeof k, "%s_max_s", name);
    json_object_set_new(j, k, rank(d, 100));
}

static json_t *row_json(row *w, const broker_org *org)
{
    json_t *j = json_pack(
        "{s:s, s:o, s:o, s:I, s:I}", "scope", org ? "org" : "region", "org",
        org ? json_string(org->id) : json_null(), "name",
        org && org->name ? json_string(org->name) : json_null(), "sent",
        (json_int_t)w->sent, "received", (json_int_t)w->received);
    if (!j)
        return NULL;
    put_durations(j, "receipt", &w->receipt);
    put_durations(j, "answer", &w->answer);
    const struct {
        const char *k;
        size_t v;
    } counts[] = {{"accepted", w->accepted},
                  {"rejected", w->rejected},
                  {"rejected_no_followup", w->rejected_no_followup},
                  {"cancelled", w->cancelled},
                  {"failed", w->failed},
                  {"completed", w->completed},
                  {"handovers_offered", w->ho_offered},
                  {"handovers_received", w->ho_received},
                  {"handovers_accepted", w->ho_accepted},
                  {"handovers_declined", w->ho_declined}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        json_object_set_new(j, counts[i].k,
                            json_integer((json_int_t)counts[i].v));
    put_durations(j, "handover_answer", &w->ho_answer);
    json_object_set_new(j, "active_paths",
                        json_integer((json_int_t)w->active_paths));
    return j;
}

static int outcome_cmp(const void *a, const void *b)
{
    return strcmp(((const outcome *)a)->service, ((const outcome *)b)->service);
}

json_t *report_json(const broker_config *cfg, const client_index *cl,
                    const path_index *pi, const report_query *q,
                    uint64_t now_ms)
{
    size_t n = 0;
    cl_each_referral(cl, count_referrals, &n);
    ctx c = {.cfg = cfg, .cl = cl, .q = q, .now = now_ms};
    c.rows = calloc(cfg->org_count + 1, sizeof *c.rows);
    c.outcomes = calloc(n + 1, sizeof *c.outcomes);
    c.requests = calloc(n + 1, sizeof *c.requests);
    orphans o = {pi, calloc(n + 1, sizeof *o.list), 0};
    json_t *out = NULL;
    if (!c.rows || !c.outcomes || !c.requests || !o.list)
        goto done;
    cl_each_referral(cl, collect_request, &c);
    qsort(c.requests, c.n_requests, sizeof *c.requests, req_cmp);
    cl_each_referral(cl, add_referral, &c);
    pi_each_handover(pi, add_handover, &c);
    pi_each(pi, add_path, &c);
    cl_each_referral(cl, add_orphan, &o);
    for (size_t i = 0; i < o.n; i++)
        dur_add(&c.orphan, now_ms, o.list[i].since);

    char from[POLKU_TIME_TEXT], to[POLKU_TIME_TEXT], gen[POLKU_TIME_TEXT];
    polku_time_format(q->from_ms, from, sizeof from);
    polku_time_format(q->to_ms, to, sizeof to);
    polku_time_format(now_ms, gen, sizeof gen);
    json_t *cols = json_array(), *rows = json_array(), *outs = json_array();
    for (size_t i = 0; columns[i]; i++)
        json_array_append_new(cols, json_string(columns[i]));
    for (size_t i = 0; i < cfg->org_count; i++)
        if (!q->org || strcmp(q->org, cfg->orgs[i].id) == 0)
            json_array_append_new(rows, row_json(&c.rows[i], &cfg->orgs[i]));
    json_array_append_new(rows, row_json(&c.rows[cfg->org_count], NULL));
    qsort(c.outcomes, c.n_outcomes, sizeof *c.outcomes, outcome_cmp);
    for (size_t i = 0; i < c.n_outcomes; i++) {
        const outcome *x = &c.outcomes[i];
        json_array_append_new(
            outs,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "service", x->service,
                      "completed", (json_int_t)x->completed, "rejected",
                      (json_int_t)x->rejected, "failed", (json_int_t)x->failed,
                      "cancelled", (json_int_t)x->cancelled, "open",
                      (json_int_t)x->open));
    }
    json_t *waiting = json_object();
    put_durations(waiting, "waiting", &c.orphan);
    json_object_set_new(waiting, "paths", json_integer((json_int_t)c.orphan.n));
    json_t *by_day = pending_by_day(&c);
    out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o*}", "from",
                    from, "to", to, "generated", gen, "org",
                    q->org ? json_string(q->org) : json_null(), "columns", cols,
                    "rows", rows, "without_coordinator", waiting,
                    "outcomes_by_service", outs, "pending_by_day", by_day);
done:
    for (size_t i = 0; c.rows && i <= cfg->org_count; i++) {
        free(c.rows[i].receipt.v);
        free(c.rows[i].answer.v);
        free(c.rows[i].ho_answer.v);
    }
    free(c.orphan.v);
    free(c.rows);
    free(c.outcomes);
    free(c.requests);
    free(o.list);
    return out;
}

static void csv_field(FILE *f, const json_t *v)
{
    if (json_is_string(v)) {
        fputc('"', f);
        for (const char *s = json_string_value(v); *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } /* null: an empty field */
}

char *report_csv(const json_t *report)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    const json_t *cols = json_object_get(report, "columns");
    const json_t *rows = json_object_get(report, "rows");
    size_t i, k;
    const json_t *col, *r;
    json_array_foreach(cols, k, col)
        fprintf(f, "%s%s", k ? "," : "", json_string_value(col));
    fputs("\r\n", f);
    json_array_foreach(rows, i, r)
    {
        json_array_foreach(cols, k, col)
        {
            if (k)
                fputc(',', f);
            csv_field(f, json_object_get(r, json_string_value(col)));
        }
        fputs("\r\n", f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
