/* report_test.c — the coordination report against a region whose figures
 * were worked out by hand (report.h has the counting rules).
 *
 * Four organisations' logs with known times and outcomes are folded as the
 * broker folds them; every figure of the report is compared with the value
 * computed on paper in the comments. Then the query parser's refusals and
 * the CSV form. No sockets. */
#include "test_events.h"

#include <stdio.h>
#include <stdlib.h>

#include "fold.h"
#include "report.h"
#include "polku/clock.h"
#include "polku/error.h"

#define SOTE "sote-keskus"
#define TK "tyokykytiimi"
#define KELA "kela"
#define TYP "typ"

#define RECEIVED POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define REJECTED POLKU__REFERRAL_STATE__REFERRAL_REJECTED
#define COMPLETED POLKU__REFERRAL_STATE__REFERRAL_COMPLETED
#define CANCELLED POLKU__REFERRAL_STATE__REFERRAL_CANCELLED
#define FAILED POLKU__REFERRAL_STATE__REFERRAL_FAILED
#define HO_ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
#define HO_DECLINED POLKU__HANDOVER_STATE__HANDOVER_DECLINED

#define T0 1700000000000ull
#define MIN 60000ull
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static const uint8_t KEY_A[16] = {0xa0, 1}, KEY_B[16] = {0xb0, 2},
                     KEY_C[16] = {0xc0, 3}, KEY_D[16] = {0xd0, 4};

typedef struct fixture {
    path_index *pi;
    consent_index *ci;
    client_index *cl;
    broker_config cfg;
    broker_org orgs[4];
    org_log sote, tk, kela, typ;
} fixture;

static void fold(fixture *f, const polku_envelope *env)
{
    const broker_indexes x = {f->ci, f->pi, f->cl, NULL};
    fold_apply(&x, env);
}

/* The region on paper (times after T0; r = referral, h = handover):
 *  A  r1 sote->tk  work-ability-assessment  req 0, recv 10m, acc 70m, done 1d
 *     r2 sote->kela vocational-rehab        req 1m, recv 31m, rejected 2h31m
 *     r3 sote->tk  work-ability-assessment  req 1d (a follow-up of r2 within
 *                                           the 2d SLA), recv 1d5m
 *     sote won term 1 at 5m; h1 sote->tk at 2h, accepted 3h: tk coordinates
 *  B  r4 tk->kela  benefits                 req 2m, recv 4m, rejected 64m
 *                                           (nobody referred B on)
 *     r5 sote->kela vocational-rehab        req 3m, recv 13m, cancelled 20m
 *     r6 sote->tk  work-ability-assessment  req 4m, failed by sote at 1h
 *     tk won term 1 at 6m; h2 tk->kela at 1d, declined 1d2h: tk stays
 *  C  r7 kela->tk  benefits                 req -2d (before the window),
 *                                           accepted -1d, nobody coordinates
 *  D  r8 kela->sote social-work             req 2d, never received; nobody
 *                                           coordinates D
 *  typ: nothing at all. Window [T0-1m, T0+3d], now T0+4d. */
static void region(fixture *f)
{
    fold(f, ev_requested(&f->sote, KEY_A, 1, TK, "work-ability-assessment", 0,
                         T0));
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, RECEIVED, 1, T0 + 10 * MIN));
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 2, T0 + 70 * MIN));
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, COMPLETED, 3, T0 + DAY));
    fold(f, ev_requested(&f->sote, KEY_A, 2, KELA, "vocational-rehab", 0,
                         T0 + MIN));
    fold(f, ev_status(&f->kela, KEY_A, 2, SOTE, RECEIVED, 1, T0 + 31 * MIN));
    fold(f, ev_status(&f->kela, KEY_A, 2, SOTE, REJECTED, 2, T0 + 151 * MIN));
    fold(f, ev_requested(&f->sote, KEY_A, 3, TK, "work-ability-assessment", 0,
                         T0 + DAY));
    fold(f, ev_status(&f->tk, KEY_A, 3, SOTE, RECEIVED, 1, T0 + DAY + 5 * MIN));
    fold(f, ev_won(&f->sote, KEY_A, 1, T0 + 5 * MIN));
    fold(f, ev_offered(&f->sote, KEY_A, TK, 1, 1, T0 + 2 * HOUR));
    fold(f, ev_answered(&f->tk, KEY_A, 1, HO_ACCEPTED, 2, SOTE, T0 + 3 * HOUR));

    fold(f, ev_requested(&f->tk, KEY_B, 4, KELA, "benefits", 0, T0 + 2 * MIN));
    fold(f, ev_status(&f->kela, KEY_B, 4, TK, RECEIVED, 1, T0 + 4 * MIN));
    fold(f, ev_status(&f->kela, KEY_B, 4, TK, REJECTED, 2, T0 + 64 * MIN));
    fold(f, ev_requested(&f->sote, KEY_B, 5, KELA, "vocational-rehab", 0,
                         T0 + 3 * MIN));
    fold(f, ev_status(&f->kela, KEY_B, 5, SOTE, RECEIVED, 1, T0 + 13 * MIN));
    fold(f, ev_status(&f->kela, KEY_B, 5, SOTE, CANCELLED, 2, T0 + 20 * MIN));
    fold(f, ev_requested(&f->sote, KEY_B, 6, TK, "work-ability-assessment", 0,
                         T0 + 4 * MIN));
    fold(f, ev_status(&f->sote, KEY_B, 6, NULL, FAILED, 1, T0 + HOUR));
    fold(f, ev_won(&f->tk, KEY_B, 1, T0 + 6 * MIN));
    fold(f, ev_offered(&f->tk, KEY_B, KELA, 2, 1, T0 + DAY));
    fold(f, ev_answered(&f->kela, KEY_B, 2, HO_DECLINED, 1, TK,
                        T0 + DAY + 2 * HOUR));

    fold(f, ev_requested(&f->kela, KEY_C, 7, TK, "benefits", 0, T0 - 2 * DAY));
    fold(f, ev_status(&f->tk, KEY_C, 7, KELA, RECEIVED, 1, T0 - 2 * DAY + MIN));
    fold(f, ev_status(&f->tk, KEY_C, 7, KELA, ACCEPTED, 2, T0 - DAY));

    fold(f, ev_requested(&f->kela, KEY_D, 8, SOTE, "social-work", 0,
                         T0 + 2 * DAY));
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->pi = pi_new();
    f->ci = ci_new();
    f->cl = cl_new();
    if (!f->pi || !f->ci || !f->cl)
        return -1;
    const char *ids[4] = {SOTE, TK, KELA, TYP};
    static char *names[4] = {"Sote-keskus", "Työkykytiimi", "Kela, \"KL\"",
                             "TYP"};
    for (int i = 0; i < 4; i++) {
        snprintf(f->orgs[i].id, sizeof f->orgs[i].id, "%s", ids[i]);
        f->orgs[i].name = names[i];
    }
    f->cfg.orgs = f->orgs;
    f->cfg.org_count = 4;
    f->cfg.sla = (broker_sla){HOUR, 3 * DAY, 2 * DAY, 5 * DAY, DAY};
    f->sote.org = SOTE;
    f->tk.org = TK;
    f->kela.org = KELA;
    f->typ.org = TYP;
    region(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cl_destroy(&f->cl);
    ci_destroy(&f->ci);
    pi_destroy(&f->pi);
    free(f);
    return 0;
}

static json_t *report(fixture *f, const char *org)
{
    report_query q = {T0 - MIN, T0 + 3 * DAY, org, 0};
    json_t *r = report_json(&f->cfg, f->cl, f->pi, &q, T0 + 4 * DAY);
    assert_non_null(r);
    return r;
}

static const json_t *row(const json_t *r, const char *org)
{
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(r, "rows"), i, w)
    {
        const char *o = json_string_value(json_object_get(w, "org"));
        if (org ? o && strcmp(o, org) == 0 : !o)
            return w;
    }
    fail_msg("no row for %s", org ? org : "the region");
    return NULL;
}

/* name=value pairs, value -1 for null. */
static void expect(const json_t *w, const char *who, const char *names,
                   const long long *values)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", names);
    size_t i = 0;
    for (char *save, *k = strtok_r(buf, " ", &save); k;
         k = strtok_r(NULL, " ", &save), i++) {
        const json_t *v = json_object_get(w, k);
        if (values[i] < 0) {
            if (!json_is_null(v))
                fail_msg("%s %s: expected null", who, k);
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) != values[i])
            fail_msg("%s %s: expected %lld, got %lld", who, k, values[i],
                     json_is_integer(v) ? (long long)json_integer_value(v)
                                        : -99);
    }
}

#define COUNTS                                                                 \
    "sent received accepted rejected rejected_no_followup cancelled failed "   \
    "completed handovers_offered handovers_received handovers_accepted "       \
    "handovers_declined active_paths"
#define TIMES                                                                  \
    "receipt_n receipt_p50_s receipt_p90_s receipt_max_s answer_n "            \
    "answer_p50_s answer_p90_s answer_max_s handover_answer_n "                \
    "handover_answer_p50_s handover_answer_p90_s handover_answer_max_s"

static void figures_per_org_and_region(void **state)
{
    fixture *f = *state;
    json_t *r = report(f, NULL);
    /* sote sent r1 r2 r3 r5 r6, received r8 (never received: no times),
     * offered h1, coordinates nobody now (tk took A over) */
    expect(row(r, SOTE), SOTE, COUNTS,
           (long long[]){5, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0});
    expect(row(r, SOTE), SOTE, TIMES,
           (long long[]){0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1});
    /* tk sent r4; received r1 r3 r6 (r7 is before the window): receipts
     * 600 s and 300 s -> p50 300, p90 600; answered r1 in 3600 s; r1
     * completed (so accepted too), r6 failed; accepted h1 in 3600 s,
     * offered h2; coordinates A and B */
    expect(row(r, TK), TK, COUNTS,
           (long long[]){1, 3, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 2});
    expect(row(r, TK), TK, TIMES,
           (long long[]){2, 300, 600, 600, 1, 3600, 3600, 3600, 1, 3600, 3600,
                         3600});
    /* kela sent r8; received r2 r4 r5: receipts 1800, 120, 600 s ->
     * [120 600 1800] p50 600 p90 1800; answers 7200, 3600, 420 s ->
     * [420 3600 7200] p50 3600 p90 7200; r2 and r4 rejected, r4 without a
     * follow-up (r3 followed r2 up within 2 d), r5 cancelled; declined h2
     * in 7200 s */
    expect(row(r, KELA), KELA, COUNTS,
           (long long[]){1, 3, 0, 2, 1, 1, 0, 0, 0, 1, 0, 1, 0});
    expect(row(r, KELA), KELA, TIMES,
           (long long[]){3, 600, 1800, 1800, 3, 3600, 7200, 7200, 1, 7200, 7200,
                         7200});
    expect(row(r, TYP), TYP, COUNTS,
           (long long[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    /* the region: r1..r6, r8; receipts [120 300 600 600 1800] p50 (rank 3)
     * 600, p90 (rank 5) 1800; answers [420 3600 3600 7200] p50 (rank 2)
     * 3600, p90 (rank 4) 7200; handovers answered in [3600 7200] */
    expect(row(r, NULL), "region", COUNTS,
           (long long[]){7, 7, 1, 2, 1, 1, 1, 1, 2, 2, 1, 1, 2});
    expect(row(r, NULL), "region", TIMES,
           (long long[]){5, 600, 1800, 1800, 4, 3600, 7200, 7200, 2, 3600, 7200,
                         7200});
    assert_string_equal(json_string_value(json_object_get(row(r, TK), "name")),
                        "Työkykytiimi");
    assert_string_equal(
        json_string_value(json_object_get(row(r, NULL), "scope")), "region");
    /* nobody coordinates C (r7 accepted, still open, since -2 d: 6 d at
     * now) nor D (r8, since 2 d: 2 d) -> [172800 518400] */
    expect(json_object_get(r, "without_coordinator"), "without_coordinator",
           "paths waiting_n waiting_p50_s waiting_max_s",
           (long long[]){2, 2, 172800, 518400});
    json_decref(r);
}

static void outcomes_by_service(void **state)
{
    fixture *f = *state;
    json_t *r = report(f, NULL);
    json_t *o = json_object_get(r, "outcomes_by_service");
    assert_int_equal(json_array_size(o), 4); /* sorted by service */
    const char *svc[4] = {"benefits", "social-work", "vocational-rehab",
                          "work-ability-assessment"};
    const long long want[4][5] = {{0, 1, 0, 0, 0},  /* r4 (r7 outside) */
                                  {0, 0, 0, 0, 1},  /* r8 */
                                  {0, 1, 0, 1, 0},  /* r2, r5 */
                                  {1, 0, 1, 0, 1}}; /* r1, r6, r3 */
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(o, i);
        assert_string_equal(json_string_value(json_object_get(x, "service")),
                            svc[i]);
        expect(x, svc[i], "completed rejected failed cancelled open", want[i]);
    }
    /* no sealed text, no identity code anywhere in the report */
    char *text = json_dumps(r, 0);
    assert_null(strstr(text, SECRET_TEXT));
    assert_null(strstr(text, SECRET_HETU));
    free(text);
    json_decref(r);
}

/* Before its SLA has run out, a rejection without a follow-up is not
 * counted yet; one org asked for: its row and the region only. */
static void followup_sla_and_one_org(void **state)
{
    fixture *f = *state;
    report_query q = {T0 - MIN, T0 + 3 * DAY, KELA, 0};
    /* r4 rejected at 64 m: its 2 d run out at 2d64m */
    json_t *r = report_json(&f->cfg, f->cl, f->pi, &q, T0 + 2 * DAY + 63 * MIN);
    assert_int_equal(json_array_size(json_object_get(r, "rows")), 2);
    expect(row(r, KELA), KELA, "rejected rejected_no_followup",
           (long long[]){2, 0});
    json_decref(r);
    r = report_json(&f->cfg, f->cl, f->pi, &q, T0 + 2 * DAY + 64 * MIN);
    expect(row(r, KELA), KELA, "rejected rejected_no_followup",
           (long long[]){2, 1});
    json_decref(r);
}

/* Day ends in Helsinki (EET, UTC+2): T0 is 2023-11-14T22:13:20Z, 00:13
 * on the 15th there. At 15th 23:59:59.999 nothing is pending (r1..r6 are
 * answered, r3 not yet requested); at the 16th's end r3 waits at tk; at
 * the 17th's end r3 and r8 (to sote, since 2d); the 18th began at
 * 17th 22:00Z and is counted at the window's end, 22:13:20Z: the same.
 * Asked at T0+2d12h (12:13 on the 17th in Helsinki), the 17th is counted
 * at that moment: r3 and r8 (requested at T0+2d). */
static void pending_by_day(void **state)
{
    fixture *f = *state;
    json_t *r = report(f, NULL);
    json_t *d = json_object_get(r, "pending_by_day");
    assert_int_equal(json_array_size(d), 4);
    const char *day[4] = {"2023-11-15", "2023-11-16", "2023-11-17",
                          "2023-11-18"};
    const long long want[4][5] = {{0, 0, 0, 0, 0}, /* sote tk kela typ all */
                                  {0, 1, 0, 0, 1},
                                  {1, 1, 0, 0, 2},
                                  {1, 1, 0, 0, 2}};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(d, i);
        assert_string_equal(json_string_value(json_object_get(x, "day")),
                            day[i]);
        expect(json_object_get(x, "pending"), day[i],
               SOTE " " TK " " KELA " " TYP, want[i]);
        expect(x, day[i], "total", &want[i][4]);
    }
    json_decref(r);
    report_query q = {T0 - MIN, T0 + 3 * DAY, NULL, 0};
    r = report_json(&f->cfg, f->cl, f->pi, &q, T0 + 2 * DAY + 12 * HOUR);
    d = json_object_get(r, "pending_by_day");
    assert_int_equal(json_array_size(d), 3);
    json_t *last = json_array_get(d, 2);
    assert_string_equal(json_string_value(json_object_get(last, "day")),
                        "2023-11-17");
    expect(json_object_get(last, "pending"), "now", SOTE " " TK,
           (long long[]){1, 1});
    json_decref(r);
}

static void csv_has_the_same_columns(void **state)
{
    fixture *f = *state;
    json_t *r = report(f, KELA);
    char *csv = report_csv(r);
    assert_non_null(csv);
    const char *nl = strstr(csv, "\r\n");
    assert_non_null(nl);
    /* the header is the columns */
    size_t i;
    json_t *c;
    char header[1024] = "";
    json_array_foreach(json_object_get(r, "columns"), i, c)
    {
        strcat(header, i ? "," : "");
        strcat(header, json_string_value(c));
    }
    assert_int_equal((size_t)(nl - csv), strlen(header));
    assert_memory_equal(csv, header, strlen(header));
    /* kela's row: the name quoted (with its quote doubled), empty fields
     * for figures without values */
    assert_non_null(strstr(csv, "\r\n\"org\",\"kela\",\"Kela, \"\"KL\"\"\",1,3,"
                                "3,600,1800,1800,3,3600,7200,7200,0,2,1,1,0,"
                                "0,0,1,0,1,1,7200,7200,7200,0\r\n"));
    assert_non_null(strstr(csv, "\r\n\"region\",,,7,7,"));
    free(csv);
    json_decref(r);
}

static void bad_queries(void **state)
{
    fixture *f = *state;
    report_query q;
    char why[200];
    struct {
        const char *from, *to, *org, *format, *says;
    } bad[] = {
        {NULL, "2026-01-31", NULL, NULL, "from is required"},
        {"2026-01-01", NULL, NULL, NULL, "to is required"},
        {"2026-13-01", "2026-01-31", NULL, NULL, "from: "},
        {"2026-01-01", "yesterday", NULL, NULL, "to: "},
        {"2026-02-01", "2026-01-31", NULL, NULL, "to is before from"},
        {"2026-01-01", "2026-01-31", "nobody", NULL, "org: no organisation"},
        {"2026-01-01", "2026-01-31", NULL, "xml", "format: expected json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        assert_int_equal(report_parse_query(&f->cfg, bad[i].from, bad[i].to,
                                            bad[i].org, bad[i].format, &q, why,
                                            sizeof why),
                         POLKU_EINVAL);
        if (strncmp(why, bad[i].says, strlen(bad[i].says)) != 0)
            fail_msg("case %zu: said \"%s\", expected \"%s...\"", i, why,
                     bad[i].says);
    }
    /* a date is a whole day in Finland: 2026-01-01 00:00 EET = 22:00 UTC
     * the day before; 2026-01-31 ends 21:59:59.999 UTC */
    assert_int_equal(report_parse_query(&f->cfg, "2026-01-01", "2026-01-31", TK,
                                        "csv", &q, why, sizeof why),
                     POLKU_OK);
    char from[POLKU_TIME_TEXT], to[POLKU_TIME_TEXT];
    polku_time_format(q.from_ms, from, sizeof from);
    polku_time_format(q.to_ms, to, sizeof to);
    assert_string_equal(from, "2025-12-31T22:00:00.000Z");
    assert_string_equal(to, "2026-01-31T21:59:59.999Z");
    assert_string_equal(q.org, TK);
    assert_int_equal(q.csv, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(figures_per_org_and_region, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(outcomes_by_service, setup, teardown),
        cmocka_unit_test_setup_teardown(followup_sla_and_one_org, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pending_by_day, setup, teardown),
        cmocka_unit_test_setup_teardown(csv_has_the_same_columns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_queries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
