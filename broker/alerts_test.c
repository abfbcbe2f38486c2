/* alerts_test.c — every alert kind raised on time, once, and cleared.
 *
 * Alerts are a function of the folded state and the time. For each kind
 * this folds the history that leads to it, evaluates one ms before the
 * SLA runs out (nothing), at it (raised, with the right kind, org and
 * subject), again (nothing new), then folds what it was waiting for and
 * evaluates once more (cleared). The SLAs are small and the ones not under
 * test far away, so each case sees only its own kind. */
#include "test_events.h"

#include <stdio.h>
#include <stdlib.h>

#include "alerts.h"
#include "fold.h"
#include "polku/clock.h"
#include "polku/hetu.h"
#include "polku/id.h"

#define SOTE "sote-keskus"
#define TK "tyokykytiimi"
#define TYP "typ"
#define KELA "kela"

#define RECEIVED POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define REJECTED POLKU__REFERRAL_STATE__REFERRAL_REJECTED
#define CANCELLED POLKU__REFERRAL_STATE__REFERRAL_CANCELLED
#define HO_ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED

static const uint8_t KEY_A[16] = {0xa0, 1}, KEY_B[16] = {0xb0, 2},
                     KEY_C[16] = {0xc0, 3};

#define T0 1700000000000ull
#define FAR 1000000000ull /* an SLA never reached in these cases */

/* ---- what the callback saw ---- */

#define MAX_CHANGES 16

typedef struct change {
    char topic[32];
    json_t *alert;
} change;

typedef struct fixture {
    path_index *pi;
    consent_index *ci;
    client_index *cl;
    alert_set *set;
    broker_sla sla;
    org_log sote, tk, typ, kela;
    change seen[MAX_CHANGES];
    size_t n_seen;
    alert_refusals refused[2];
    size_t n_refused;
    alert_session dups[1];
    size_t n_dups;
    alert_regression regressed[1];
    size_t n_regressed;
    alert_divergence diverged[1];
    size_t n_diverged;
    const char *skewed_org[2]; /* an org's clock ahead (+) or behind (-) */
    int64_t skew_ms[2];
    size_t n_skews;
    bool incremental; /* evaluate with alerts_tick */
} fixture;

static void record(const char *topic, const json_t *alert, void *arg)
{
    fixture *f = arg;
    assert_true(f->n_seen < MAX_CHANGES);
    change *c = &f->seen[f->n_seen++];
    snprintf(c->topic, sizeof c->topic, "%s", topic);
    c->alert = json_deep_copy(alert);
}

static void forget(fixture *f)
{
    for (size_t i = 0; i < f->n_seen; i++)
        json_decref(f->seen[i].alert);
    f->n_seen = 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->pi = pi_new();
    f->ci = ci_new();
    f->cl = cl_new();
    f->set = alerts_new();
    if (!f->pi || !f->ci || !f->cl || !f->set)
        return -1;
    f->sla = (broker_sla){FAR, FAR, FAR, FAR, FAR};
    f->sote.org = SOTE;
    f->tk.org = TK;
    f->typ.org = TYP;
    f->kela.org = KELA;
    *state = f;
    return 0;
}

/* The same cases through the incremental tick (alerts_tick). */
static int setup_incremental(void **state)
{
    int rc = setup(state);
    if (rc == 0)
        ((fixture *)*state)->incremental = true;
    return rc;
}

static int teardown(void **state)
{
    fixture *f = *state;
    forget(f);
    alerts_free(&f->set);
    assert_null(f->set);
    alerts_free(&f->set); /* NULL is fine */
    cl_destroy(&f->cl);
    ci_destroy(&f->ci);
    pi_destroy(&f->pi);
    free(f);
    return 0;
}

/* As the router folds (fold.c). */
static void fold(fixture *f, const polku_envelope *env)
{
    const broker_indexes x = {f->ci, f->pi, f->cl, NULL};
    fold_apply(&x, env);
}

static int64_t skew_of(void *arg, const char *org)
{
    fixture *f = arg;
    for (size_t i = 0; i < f->n_skews; i++)
        if (strcmp(f->skewed_org[i], org) == 0)
            return f->skew_ms[i];
    return 0;
}

static void evaluate(fixture *f, uint64_t now)
{
    forget(f);
    alert_inputs in = {.clients = f->cl,
                       .paths = f->pi,
                       .consents = f->ci,
                       .sla = &f->sla,
                       .refused = f->refused,
                       .n_refused = f->n_refused,
                       .duplicates = f->dups,
                       .n_duplicates = f->n_dups,
                       .regressed = f->regressed,
                       .n_regressed = f->n_regressed,
                       .diverged = f->diverged,
                       .n_diverged = f->n_diverged,
                       .clock_offset = f->n_skews ? skew_of : NULL,
                       .clock_arg = f};
    if (f->incremental) {
        in.changed_clients = f->cl;
        in.changed_consents = f->ci;
        alerts_tick(f->set, &in, now, record, f);
    } else {
        alerts_evaluate(f->set, &in, now, record, f);
    }
}

static void nothing_changes(fixture *f, uint64_t now)
{
    size_t before = alerts_count(f->set);
    evaluate(f, now);
    if (f->n_seen)
        fail_msg("at +%llu: unexpected %s of %s",
                 (unsigned long long)(now - T0), f->seen[0].topic,
                 json_string_value(json_object_get(f->seen[0].alert, "id")));
    assert_int_equal(alerts_count(f->set), before);
}

static void referral_text(unsigned rid, char out[POLKU_ID_TEXT])
{
    polku_id id;
    test_id(0x5e, rid, id.b);
    polku_id_format(&id, out);
}

static void handover_text(unsigned hid, char out[POLKU_ID_TEXT])
{
    polku_id id;
    test_id(0x01, hid, id.b);
    polku_id_format(&id, out);
}

/* The one change of the last evaluation is topic for this alert. */
static void assert_one(fixture *f, const char *topic, const char *kind,
                       const uint8_t key[16], const char *subject,
                       const char *subject_id, const char *org, uint64_t since)
{
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, topic);
    const json_t *a = f->seen[0].alert;
    assert_non_null(a);
    char key_hex[33], since_text[POLKU_TIME_TEXT], id[80];
    polku_client_key_hex(key, key_hex);
    polku_time_format(since, since_text, sizeof since_text);
    snprintf(id, sizeof id, "%s:%s", kind, subject_id);
    assert_string_equal(json_string_value(json_object_get(a, "kind")), kind);
    assert_string_equal(json_string_value(json_object_get(a, "id")), id);
    assert_string_equal(json_string_value(json_object_get(a, "client_key")),
                        key_hex);
    assert_string_equal(json_string_value(json_object_get(a, "subject")),
                        subject);
    assert_string_equal(json_string_value(json_object_get(a, "subject_id")),
                        subject_id);
    if (org)
        assert_string_equal(json_string_value(json_object_get(a, "org")), org);
    else
        assert_true(json_is_null(json_object_get(a, "org")));
    assert_string_equal(json_string_value(json_object_get(a, "since")),
                        since_text);
}

/* sote coordinates KEY_A (no path alert) and refers it to tk at t. */
static void sote_refers_a_to_tk(fixture *f, unsigned consent, uint64_t t)
{
    fold(f, ev_won(&f->sote, KEY_A, 1, t - 500));
    fold(f, ev_requested(&f->sote, KEY_A, 1, TK, "tyokyky", consent, t));
}

/* ---- one case per kind ---- */

static void referral_not_received(void **state)
{
    fixture *f = *state;
    char rid[POLKU_ID_TEXT];
    referral_text(1, rid);
    f->sla.referral_receipt_ms = 1000;
    sote_refers_a_to_tk(f, 0, T0);
    nothing_changes(f, T0 + 999);
    evaluate(f, T0 + 1000);
    assert_one(f, "alert.raised", "referral_not_received", KEY_A, "referral",
               rid, TK, T0 + 1000);
    assert_int_equal(alerts_count(f->set), 1);
    nothing_changes(f, T0 + 1001);
    nothing_changes(f, T0 + 50000);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, RECEIVED, 1, T0 + 60000));
    evaluate(f, T0 + 60001);
    assert_one(f, "alert.cleared", "referral_not_received", KEY_A, "referral",
               rid, TK, T0 + 1000);
    assert_int_equal(alerts_count(f->set), 0);
    nothing_changes(f, T0 + 60002);
}

static void referral_not_answered(void **state)
{
    fixture *f = *state;
    char rid[POLKU_ID_TEXT];
    referral_text(1, rid);
    f->sla.referral_answer_ms = 2000;
    sote_refers_a_to_tk(f, 0, T0);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, RECEIVED, 1, T0 + 300));
    nothing_changes(f, T0 + 2299);
    evaluate(f, T0 + 2300);
    assert_one(f, "alert.raised", "referral_not_answered", KEY_A, "referral",
               rid, TK, T0 + 2300);
    nothing_changes(f, T0 + 2400);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 2, T0 + 3000));
    evaluate(f, T0 + 3001);
    assert_one(f, "alert.cleared", "referral_not_answered", KEY_A, "referral",
               rid, TK, T0 + 2300);
    assert_int_equal(alerts_count(f->set), 0);
}

static void rejection_no_followup(void **state)
{
    fixture *f = *state;
    char rid[POLKU_ID_TEXT];
    referral_text(1, rid);
    f->sla.rejection_followup_ms = 3000;
    sote_refers_a_to_tk(f, 0, T0);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, REJECTED, 1, T0 + 100));
    nothing_changes(f, T0 + 3099);
    evaluate(f, T0 + 3100);
    /* the sender must act */
    assert_one(f, "alert.raised", "rejection_no_followup", KEY_A, "referral",
               rid, SOTE, T0 + 3100);
    nothing_changes(f, T0 + 4000);
    /* a request for another client is no follow-up */
    fold(f, ev_requested(&f->sote, KEY_B, 2, TYP, "ohjaus", 0, T0 + 4100));
    nothing_changes(f, T0 + 4200);
    fold(f, ev_requested(&f->sote, KEY_A, 3, TYP, "ohjaus", 0, T0 + 4300));
    evaluate(f, T0 + 4400);
    assert_one(f, "alert.cleared", "rejection_no_followup", KEY_A, "referral",
               rid, SOTE, T0 + 3100);
}

static void rejection_on_a_closed_path_needs_no_followup(void **state)
{
    fixture *f = *state;
    char rid[POLKU_ID_TEXT];
    referral_text(1, rid);
    f->sla.rejection_followup_ms = 3000;
    sote_refers_a_to_tk(f, 0, T0);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, REJECTED, 1, T0 + 100));
    evaluate(f, T0 + 3100);
    assert_one(f, "alert.raised", "rejection_no_followup", KEY_A, "referral",
               rid, SOTE, T0 + 3100);
    fold(f, ev_closed(&f->sote, KEY_A, 1, T0 + 3200));
    evaluate(f, T0 + 3300);
    assert_one(f, "alert.cleared", "rejection_no_followup", KEY_A, "referral",
               rid, SOTE, T0 + 3100);
}

static void handover_unanswered(void **state)
{
    fixture *f = *state;
    char hid[POLKU_ID_TEXT];
    handover_text(1, hid);
    f->sla.handover_answer_ms = 4000;
    fold(f, ev_won(&f->sote, KEY_A, 1, T0));
    fold(f, ev_granted(&f->sote, KEY_A, 1, TYP, "handover", T0 + FAR, T0 + 10));
    fold(f, ev_offered(&f->sote, KEY_A, TYP, 1, 1, T0 + 100));
    nothing_changes(f, T0 + 4099);
    evaluate(f, T0 + 4100);
    assert_one(f, "alert.raised", "handover_unanswered", KEY_A, "handover", hid,
               TYP, T0 + 4100);
    nothing_changes(f, T0 + 5000);
    fold(f, ev_answered(&f->typ, KEY_A, 1, HO_ACCEPTED, 2, SOTE, T0 + 5100));
    evaluate(f, T0 + 5200);
    assert_one(f, "alert.cleared", "handover_unanswered", KEY_A, "handover",
               hid, TYP, T0 + 4100);
    assert_int_equal(alerts_count(f->set), 0);
}

static void consent_expired_open_referral(void **state)
{
    fixture *f = *state;
    char rid[POLKU_ID_TEXT];
    referral_text(1, rid);
    fold(f,
         ev_granted(&f->sote, KEY_A, 7, TK, "referral", T0 + 5000, T0 - 100));
    sote_refers_a_to_tk(f, 7, T0);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, ACCEPTED, 1, T0 + 100));
    nothing_changes(f, T0 + 4999); /* the consent holds until 5000 */
    evaluate(f, T0 + 5000);
    assert_one(f, "alert.raised", "consent_expired_open", KEY_A, "referral",
               rid, SOTE, T0 + 5000);
    nothing_changes(f, T0 + 6000);
    fold(f, ev_status(&f->tk, KEY_A, 1, SOTE, CANCELLED, 2, T0 + 7000));
    evaluate(f, T0 + 7001);
    assert_one(f, "alert.cleared", "consent_expired_open", KEY_A, "referral",
               rid, SOTE, T0 + 5000);
}

static void consent_revoked_under_an_open_handover(void **state)
{
    fixture *f = *state;
    char hid[POLKU_ID_TEXT];
    handover_text(1, hid);
    fold(f, ev_won(&f->sote, KEY_A, 1, T0));
    fold(f, ev_granted(&f->sote, KEY_A, 1, TYP, "handover", T0 + FAR, T0 + 10));
    fold(f, ev_offered(&f->sote, KEY_A, TYP, 1, 1, T0 + 100));
    nothing_changes(f, T0 + 200);
    fold(f, ev_revoked(&f->typ, KEY_A, 1, T0 + 300));
    evaluate(f, T0 + 400);
    /* the offerer must act */
    assert_one(f, "alert.raised", "consent_expired_open", KEY_A, "handover",
               hid, SOTE, T0 + 400);
    nothing_changes(f, T0 + 500);
    fold(f, ev_answered(&f->typ, KEY_A, 1,
                        POLKU__HANDOVER_STATE__HANDOVER_DECLINED, 0, SOTE,
                        T0 + 600));
    evaluate(f, T0 + 700);
    assert_one(f, "alert.cleared", "consent_expired_open", KEY_A, "handover",
               hid, SOTE, T0 + 400);
}

static void path_no_coordinator(void **state)
{
    fixture *f = *state;
    char key[33];
    polku_client_key_hex(KEY_A, key);
    f->sla.path_coordinator_ms = 5000;
    fold(f, ev_requested(&f->sote, KEY_A, 1, TK, "tyokyky", 0, T0));
    fold(f, ev_requested(&f->sote, KEY_A, 2, KELA, "kuntoutus", 0, T0 + 50));
    nothing_changes(f, T0 + 4999);
    evaluate(f, T0 + 5000);
    /* the earliest open referral sets since; nobody must act */
    assert_one(f, "alert.raised", "path_no_coordinator", KEY_A, "path", key,
               NULL, T0 + 5000);
    assert_int_equal(alerts_count(f->set), 1);
    nothing_changes(f, T0 + 5100);
    fold(f, ev_won(&f->kela, KEY_A, 1, T0 + 6000));
    evaluate(f, T0 + 6001);
    assert_one(f, "alert.cleared", "path_no_coordinator", KEY_A, "path", key,
               NULL, T0 + 5000);
    assert_int_equal(alerts_count(f->set), 0);
}

/* ---- the set as JSON ---- */

static void json_lists_oldest_first(void **state)
{
    fixture *f = *state;
    f->sla.referral_receipt_ms = 1000;
    /* folded newest first: the set's own order is not the answer */
    const uint8_t *keys[3] = {KEY_A, KEY_B, KEY_C};
    for (unsigned i = 0; i < 3; i++) {
        fold(f, ev_won(&f->sote, keys[i], 1, T0));
        fold(f, ev_requested(&f->sote, keys[i], i + 1, TK, "s", 0,
                             T0 + 3000 - 1000 * i));
    }
    evaluate(f, T0 + 10000);
    assert_int_equal(f->n_seen, 3);
    assert_int_equal(alerts_count(f->set), 3);
    json_t *j = alerts_json(f->set);
    json_t *list = json_object_get(j, "alerts");
    assert_int_equal(json_array_size(list), 3);
    for (unsigned k = 0; k < 3; k++) {
        char rid[POLKU_ID_TEXT], since[POLKU_TIME_TEXT];
        referral_text(3 - k, rid);
        polku_time_format(T0 + 2000 + 1000 * k, since, sizeof since);
        json_t *a = json_array_get(list, k);
        assert_string_equal(json_string_value(json_object_get(a, "subject_id")),
                            rid);
        assert_string_equal(json_string_value(json_object_get(a, "since")),
                            since);
    }
    json_decref(j);
    /* receiving the middle one leaves two, still in order */
    fold(f, ev_status(&f->tk, KEY_B, 2, SOTE, RECEIVED, 1, T0 + 11000));
    evaluate(f, T0 + 11001);
    assert_int_equal(f->n_seen, 1);
    assert_int_equal(alerts_count(f->set), 2);
    j = alerts_json(f->set);
    list = json_object_get(j, "alerts");
    assert_int_equal(json_array_size(list), 2);
    char r3[POLKU_ID_TEXT], r1[POLKU_ID_TEXT];
    referral_text(3, r3);
    referral_text(1, r1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(list, 0), "subject_id")),
                        r3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(list, 1), "subject_id")),
                        r1);
    json_decref(j);
}

static void empty_set(void **state)
{
    fixture *f = *state;
    nothing_changes(f, T0);
    assert_int_equal(alerts_count(f->set), 0);
    json_t *j = alerts_json(f->set);
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 0);
    json_decref(j);
    assert_string_equal(alerts_kind_name(0), "referral_not_received");
    assert_string_equal(alerts_kind_name(5), "path_no_coordinator");
    assert_string_equal(alerts_kind_name(6), "events_refused");
    assert_string_equal(alerts_kind_name(7), "duplicate_session");
    assert_string_equal(alerts_kind_name(8), "store_regressed");
    assert_string_equal(alerts_kind_name(9), "override_used");
    assert_string_equal(alerts_kind_name(10), "log_diverged");
    assert_string_equal(alerts_kind_name(11), "");
}

/* A sender 400 days behind stamps its referral 400 days ago: read on its
 * own clock the referral is new, not overdue; a receiver 400 days ahead
 * does not make its receipts overdue either. Its real lateness still
 * counts. */
static void skewed_clocks(void **state)
{
    fixture *f = *state;
    const uint64_t behind = 400ull * 86400000ull;
    f->sla.referral_receipt_ms = 3600000; /* 1 h */
    f->skewed_org[0] = SOTE;
    f->skew_ms[0] = -(int64_t)behind;
    f->n_skews = 1;
    fold(f, ev_requested(&f->sote, KEY_A, 1, KELA, "benefits", 0, T0 - behind));
    nothing_changes(f, T0 + 60000); /* a minute old on sote's clock */
    assert_int_equal(alerts_count(f->set), 0);
    evaluate(f, T0 + 2 * 3600000); /* two hours old: overdue */
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(
        json_string_value(json_object_get(f->seen[0].alert, "kind")),
        "referral_not_received");
    /* "since" is on the broker's clock: an hour after T0 */
    const char *since =
        json_string_value(json_object_get(f->seen[0].alert, "since"));
    char want[POLKU_TIME_TEXT];
    polku_time_format(T0 + 3600000, want, sizeof want);
    assert_string_equal(since, want);
    /* without the correction the same referral is 400 days overdue */
    f->n_skews = 0;
    alerts_free(&f->set);
    f->set = alerts_new();
    evaluate(f, T0 + 60000);
    assert_int_equal(f->n_seen, 2); /* not received; and no coordinator */
}

/* An org whose replayed log held refused events is named, without a
 * client; an org with none is not. */
static void events_refused(void **state)
{
    fixture *f = *state;
    f->refused[0] = (alert_refusals){"evil-org", 3, T0 + 5};
    f->refused[1] = (alert_refusals){KELA, 0, 0};
    f->n_refused = 2;
    evaluate(f, T0 + 10);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.raised");
    const json_t *a = f->seen[0].alert;
    assert_string_equal(json_string_value(json_object_get(a, "kind")),
                        "events_refused");
    assert_string_equal(json_string_value(json_object_get(a, "org")),
                        "evil-org");
    assert_string_equal(json_string_value(json_object_get(a, "subject")),
                        "org");
    assert_true(json_is_null(json_object_get(a, "client_key")));
    nothing_changes(f, T0 + 20);
    f->n_refused = 0;
    evaluate(f, T0 + 30);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.cleared");
}

/* A referral under an override raises override_used (the sender, the
 * basis) until a review is folded; a review folded first (a replay in
 * another order) leaves nothing to raise. */
static void override_used(void **state)
{
    fixture *f = *state;
    polku_envelope *env =
        ev_requested(&f->sote, KEY_A, 7, TK, "tyokyky", 0, T0 + 5);
    env->referral_requested->override_basis = "emergency";
    fold(f, env);
    char rid[POLKU_ID_TEXT];
    referral_text(7, rid);
    evaluate(f, T0 + 10);
    assert_one(f, "alert.raised", "override_used", KEY_A, "referral", rid, SOTE,
               T0 + 5);
    assert_string_equal(
        json_string_value(json_object_get(f->seen[0].alert, "detail")),
        "emergency");
    nothing_changes(f, T0 + 20);
    /* the coordinator's review, an event of its log */
    polku_envelope rev = POLKU__ENVELOPE__INIT;
    Polku__OverrideReviewed r = POLKU__OVERRIDE_REVIEWED__INIT;
    uint8_t obj[16];
    test_id(0x5e, 7, obj);
    rev.version = POLKU_PROTOCOL_VERSION;
    rev.origin_org = KELA;
    rev.origin_seq = 1;
    rev.client_key = test_bytes((uint8_t *)KEY_A, 16);
    rev.time_ms = T0 + 25;
    r.object_id = test_bytes(obj, 16);
    r.used_by = SOTE;
    r.reviewer = KELA;
    rev.body_case = POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED;
    rev.override_reviewed = &r;
    fold(f, &rev);
    evaluate(f, T0 + 30);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.cleared");
    /* reviewed before its override arrives: never raised */
    test_id(0x5e, 8, obj);
    rev.origin_seq = 2;
    fold(f, &rev);
    env = ev_requested(&f->sote, KEY_A, 8, TK, "tyokyky", 0, T0 + 35);
    env->referral_requested->override_basis = "statutory";
    fold(f, env);
    nothing_changes(f, T0 + 40);
}

/* Two sessions of one org: named with both connections' addresses while
 * the broker reports them, cleared when one remains. */
static void duplicate_session(void **state)
{
    fixture *f = *state;
    f->dups[0] = (alert_session){SOTE, "10.0.0.1", "10.0.0.2", T0 + 5};
    f->n_dups = 1;
    evaluate(f, T0 + 10);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.raised");
    const json_t *a = f->seen[0].alert;
    assert_string_equal(json_string_value(json_object_get(a, "kind")),
                        "duplicate_session");
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        "duplicate_session:" SOTE);
    assert_string_equal(json_string_value(json_object_get(a, "org")), SOTE);
    assert_string_equal(json_string_value(json_object_get(a, "subject")),
                        "org");
    assert_true(json_is_null(json_object_get(a, "client_key")));
    const json_t *peers = json_object_get(a, "peers");
    assert_int_equal(json_array_size(peers), 2);
    assert_string_equal(json_string_value(json_array_get(peers, 0)),
                        "10.0.0.1");
    assert_string_equal(json_string_value(json_array_get(peers, 1)),
                        "10.0.0.2");
    /* a new refused connection from elsewhere: the same alert, new peers */
    f->dups[0].other_peer = "10.0.0.3";
    nothing_changes(f, T0 + 20);
    json_t *j = alerts_json(f->set);
    const json_t *now = json_object_get(
        json_array_get(json_object_get(j, "alerts"), 0), "peers");
    assert_string_equal(json_string_value(json_array_get(now, 1)), "10.0.0.3");
    json_decref(j);
    f->n_dups = 0;
    evaluate(f, T0 + 30);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.cleared");
    assert_int_equal(alerts_count(f->set), 0);
}

/* An org whose store went back in time is named with both sequences
 * (numbers only) until its log passes what the broker had seen. */
static void store_regressed(void **state)
{
    fixture *f = *state;
    f->regressed[0] = (alert_regression){KELA, 2, 3, T0 + 5};
    f->n_regressed = 1;
    evaluate(f, T0 + 10);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.raised");
    const json_t *a = f->seen[0].alert;
    assert_string_equal(json_string_value(json_object_get(a, "kind")),
                        "store_regressed");
    assert_string_equal(json_string_value(json_object_get(a, "org")), KELA);
    assert_string_equal(json_string_value(json_object_get(a, "detail")),
                        "seq 2 < 3");
    assert_true(json_is_null(json_object_get(a, "client_key")));
    nothing_changes(f, T0 + 20);
    f->n_regressed = 0;
    evaluate(f, T0 + 30);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.cleared");
}

/* An org whose log no longer extends its witnessed chain is named with
 * the first bad sequence until the divergence ends (a restore). */
static void log_diverged(void **state)
{
    fixture *f = *state;
    f->diverged[0] = (alert_divergence){KELA, 7, T0 + 5};
    f->n_diverged = 1;
    evaluate(f, T0 + 10);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.raised");
    const json_t *a = f->seen[0].alert;
    assert_string_equal(json_string_value(json_object_get(a, "kind")),
                        "log_diverged");
    assert_string_equal(json_string_value(json_object_get(a, "org")), KELA);
    assert_string_equal(json_string_value(json_object_get(a, "detail")),
                        "seq 7");
    nothing_changes(f, T0 + 20);
    f->n_diverged = 0;
    evaluate(f, T0 + 30);
    assert_int_equal(f->n_seen, 1);
    assert_string_equal(f->seen[0].topic, "alert.cleared");
}

/* ---- the incremental tick against the full walk ----
 *
 * Random histories of a few clients among four organisations (referrals
 * and their statuses, claims, closed paths, consents with ends and
 * revocations, handovers), clocks whose offsets change, time in random
 * steps. After every step one set is evaluated by the full walk and one
 * by alerts_tick; both must hold the same alerts (kind, subject, org,
 * since) and have reported the same raised and cleared ones. */

typedef struct rnd_referral {
    uint8_t key[16];
    org_log *from, *to;
    uint32_t version;
    bool done;
} rnd_referral;

static uint32_t rnd_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void rnd_changes(const change *seen, size_t n, json_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *id =
            json_string_value(json_object_get(seen[i].alert, "id"));
        json_array_append_new(
            out, json_sprintf("%s %s", seen[i].topic, id ? id : "(no id)"));
    }
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

/* The changes of one evaluation as sorted lines. */
static char *sorted_changes(fixture *f)
{
    json_t *lines = json_array();
    rnd_changes(f->seen, f->n_seen, lines);
    size_t n = json_array_size(lines);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(lines, i);
    qsort(v, n, sizeof *v, line_cmp);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    char *text = json_dumps(sorted, JSON_COMPACT);
    json_decref(sorted);
    json_decref(lines);
    free(v);
    return text;
}

/* Raised by the full walk over all histories, by kind: each kind of a
 * client must come up, or the histories test nothing. */
static unsigned raised_by_kind[6];

static void tally(const fixture *f)
{
    static const char *const kinds[6] = {
        "referral_not_received", "referral_not_answered",
        "rejection_no_followup", "handover_unanswered",
        "consent_expired_open",  "path_no_coordinator"};
    for (size_t i = 0; i < f->n_seen; i++)
        for (unsigned k = 0; k < 6; k++)
            if (strcmp(f->seen[i].topic, "alert.raised") == 0 &&
                strcmp(json_string_value(
                           json_object_get(f->seen[i].alert, "kind")),
                       kinds[k]) == 0)
                raised_by_kind[k]++;
}

static void one_random_history(uint64_t seed)
{
    void *full_state = NULL, *tick_state = NULL;
    assert_int_equal(setup(&full_state), 0);
    assert_int_equal(setup_incremental(&tick_state), 0);
    fixture *full = full_state, *tick = tick_state;
    /* one folded state, two alert sets */
    cl_destroy(&tick->cl);
    ci_destroy(&tick->ci);
    pi_destroy(&tick->pi);
    tick->cl = full->cl;
    tick->ci = full->ci;
    tick->pi = full->pi;
    uint64_t s = seed * 2654435761u + 1;
    broker_sla sla = {1000 + rnd_next(&s) % 5000, 1000 + rnd_next(&s) % 5000,
                      1000 + rnd_next(&s) % 5000, 1000 + rnd_next(&s) % 5000,
                      1000 + rnd_next(&s) % 5000};
    full->sla = tick->sla = sla;
    org_log *orgs[4] = {&full->sote, &full->tk, &full->typ, &full->kela};
    const char *names[4] = {SOTE, TK, TYP, KELA};
    uint8_t keys[6][16];
    for (unsigned i = 0; i < 6; i++)
        test_id(0xd0, i + 1, keys[i]);
    rnd_referral refs[64];
    unsigned n_refs = 0, consents = 0, handovers = 0;
    uint32_t term[6] = {0};
    int coordinator[6] = {-1, -1, -1, -1, -1, -1};
    uint64_t now = T0;
    for (unsigned step = 0; step < 200; step++) {
        now += rnd_next(&s) % 1500;
        unsigned c = rnd_next(&s) % 6, o = rnd_next(&s) % 4;
        org_log *l = orgs[o];
        const uint8_t *key = keys[c];
        uint64_t t = now - rnd_next(&s) % 500;
        bool room = true;
        for (unsigned i = 0; i < 4; i++)
            room = room && orgs[i]->n + 2 < TEST_LOG_MAX;
        switch (room ? rnd_next(&s) % 9 : 99) {
        case 0:
        case 1: /* a referral */
            if (n_refs < 64) {
                org_log *to = orgs[(o + 1 + rnd_next(&s) % 3) % 4];
                unsigned consent = consents && rnd_next(&s) % 2
                                       ? 1 + rnd_next(&s) % consents
                                       : 0;
                fold(full, ev_requested(l, key, ++n_refs, to->org, "palvelu",
                                        consent, t));
                rnd_referral *r = &refs[n_refs - 1];
                memcpy(r->key, key, 16);
                r->from = l;
                r->to = to;
                r->version = 0;
                r->done = false;
            }
            break;
        case 2:
        case 3: { /* a status of a referral still open */
            if (!n_refs)
                break;
            unsigned rid = 1 + rnd_next(&s) % n_refs;
            rnd_referral *r = &refs[rid - 1];
            if (r->done)
                break;
            static const Polku__ReferralState next[] = {
                RECEIVED, RECEIVED, ACCEPTED, REJECTED,
                POLKU__REFERRAL_STATE__REFERRAL_COMPLETED};
            Polku__ReferralState st = next[rnd_next(&s) % 5];
            if (rnd_next(&s) % 6 == 0) {
                fold(full, ev_cancel(r->from, r->key, rid, r->to->org, t));
                r->done = true;
                break;
            }
            fold(full, ev_status(r->to, r->key, rid, r->from->org, st,
                                 ++r->version, t));
            r->done = st == REJECTED ||
                      st == POLKU__REFERRAL_STATE__REFERRAL_COMPLETED;
            break;
        }
        case 4: /* a claim won */
            fold(full, ev_won(l, key, ++term[c], t));
            coordinator[c] = (int)o;
            break;
        case 5: /* a consent, ending soon or not */
            fold(full, ev_granted(l, key, ++consents, names[(o + 1) % 4],
                                  rnd_next(&s) % 2 ? "referral" : "handover",
                                  now + rnd_next(&s) % 8000, t));
            break;
        case 6: /* a consent revoked */
            if (consents)
                fold(full, ev_revoked(l, key, 1 + rnd_next(&s) % consents, t));
            break;
        case 7: /* a handover offered by the coordinator, or answered */
            if (coordinator[c] >= 0 && rnd_next(&s) % 2) {
                org_log *by = orgs[coordinator[c]];
                fold(full, ev_offered(by, key, names[(coordinator[c] + 1) % 4],
                                      ++handovers, term[c], t));
            } else if (handovers) {
                fold(full,
                     ev_answered(l, key, handovers,
                                 rnd_next(&s) % 2
                                     ? HO_ACCEPTED
                                     : POLKU__HANDOVER_STATE__HANDOVER_DECLINED,
                                 term[c] + 1, names[(o + 3) % 4], t));
            }
            break;
        case 8: /* a path closed, or a clock that moves */
            if (rnd_next(&s) % 3 == 0 && coordinator[c] >= 0) {
                fold(full, ev_closed(orgs[coordinator[c]], key, term[c], t));
            } else {
                full->n_skews = tick->n_skews = 2;
                full->skewed_org[0] = tick->skewed_org[0] = names[o];
                full->skewed_org[1] = tick->skewed_org[1] = names[(o + 2) % 4];
                int64_t a = (int64_t)(rnd_next(&s) % 4000) - 2000;
                int64_t b = (int64_t)(rnd_next(&s) % 4000) - 2000;
                full->skew_ms[0] = tick->skew_ms[0] = a;
                full->skew_ms[1] = tick->skew_ms[1] = b;
            }
            break;
        default:
            break;
        }
        evaluate(full, now);
        evaluate(tick, now);
        tally(full);
        char *a = sorted_changes(full), *b = sorted_changes(tick);
        if (strcmp(a, b) != 0)
            fail_msg("seed %llu step %u: full walk %s, tick %s",
                     (unsigned long long)seed, step, a, b);
        free(a);
        free(b);
        json_t *ja = alerts_json(full->set), *jb = alerts_json(tick->set);
        if (!json_equal(ja, jb)) {
            char *x = json_dumps(ja, JSON_COMPACT),
                 *y = json_dumps(jb, JSON_COMPACT);
            fail_msg("seed %llu step %u: full walk %s, tick %s",
                     (unsigned long long)seed, step, x, y);
        }
        json_decref(ja);
        json_decref(jb);
    }
    tick->cl = NULL;
    tick->ci = NULL;
    tick->pi = NULL;
    assert_int_equal(teardown(&tick_state), 0);
    assert_int_equal(teardown(&full_state), 0);
}

static void tick_equals_full_walk(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 120; seed++)
        one_random_history(seed);
    for (unsigned k = 0; k < 6; k++) {
        printf("kind %u raised %u times\n", k, raised_by_kind[k]);
        assert_true(raised_by_kind[k] > 0);
    }
}

/* Once walked, a tick looks only at what changed, holds or came due. */
static void tick_looks_only_at_what_can_change(void **state)
{
    fixture *f = *state;
    f->sla.referral_receipt_ms = 1000;
    for (unsigned i = 1; i <= 40; i++) {
        uint8_t key[16];
        test_id(0xd0, i, key);
        fold(f, ev_requested(&f->sote, key, i, TK, "tyokyky", 0, T0 + i * 100));
    }
    evaluate(f, T0); /* the first tick walks all 40 */
    assert_int_equal(alerts_last_looked(f->set), 40);
    assert_int_equal(alerts_scheduled(f->set), 40);
    evaluate(f, T0 + 500);
    assert_int_equal(alerts_last_looked(f->set), 0);
    assert_int_equal(f->n_seen, 0);
    evaluate(f, T0 + 1350); /* clients 1..3 are due */
    assert_int_equal(alerts_last_looked(f->set), 3);
    assert_int_equal(f->n_seen, 3);
    uint8_t key[16];
    test_id(0xd0, 30, key);
    fold(f, ev_status(&f->tk, key, 30, SOTE, RECEIVED, 1, T0 + 1400));
    evaluate(f, T0 + 1380); /* 3 held, 1 changed */
    assert_int_equal(alerts_last_looked(f->set), 4);
    assert_int_equal(f->n_seen, 0);
    alerts_walk_all(f->set);
    evaluate(f, T0 + 1450);
    assert_int_equal(alerts_last_looked(f->set), 40);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TICK(f) cmocka_unit_test_setup_teardown(f, setup_incremental, teardown)
#define BOTH(f) CASE(f), TICK(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(referral_not_received),
        BOTH(referral_not_answered),
        BOTH(rejection_no_followup),
        BOTH(rejection_on_a_closed_path_needs_no_followup),
        BOTH(handover_unanswered),
        BOTH(consent_expired_open_referral),
        BOTH(consent_revoked_under_an_open_handover),
        BOTH(path_no_coordinator),
        BOTH(json_lists_oldest_first),
        BOTH(empty_set),
        BOTH(events_refused),
        BOTH(store_regressed),
        BOTH(log_diverged),
        BOTH(duplicate_session),
        BOTH(override_used),
        BOTH(skewed_clocks),
        TICK(tick_looks_only_at_what_can_change),
        CASE(tick_equals_full_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
