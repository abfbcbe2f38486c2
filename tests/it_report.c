/* it_report — the coordination report over a real region, and the same
 * report after the broker is killed with SIGKILL and rebuilt from the
 * agents' logs (issue 19).
 *
 * Three organisations; referrals accepted, rejected, cancelled and left
 * waiting, a handover accepted and one declined, a path claimed. The
 * report's counts are checked against what was done, bad queries get 400
 * with a message naming the parameter, the CSV has the JSON's columns,
 * `polku report` prints the table; then kill -9, restart, replay, and the
 * report (less the times that depend on "now") is equal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "harness_coord.h"

static json_t *get_report(h_region *r, const char *query, long *status,
                          char **text)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/reports%s", query);
    h_resp resp;
    *status = h_http_request(r->broker_http, "GET", path, NULL, NULL, 0, &resp);
    json_t *j = resp.json ? json_incref(resp.json) : NULL;
    if (text)
        *text = resp.body ? strdup(resp.body) : NULL;
    h_resp_free(&resp);
    return j;
}

/* The window: yesterday to tomorrow (UTC dates), whatever the hour. */
static void window(char *q, size_t len, const char *extra)
{
    char from[16], to[16];
    time_t now = time(NULL), a = now - 86400, b = now + 86400;
    struct tm tm;
    gmtime_r(&a, &tm);
    strftime(from, sizeof from, "%Y-%m-%d", &tm);
    gmtime_r(&b, &tm);
    strftime(to, sizeof to, "%Y-%m-%d", &tm);
    snprintf(q, len, "?from=%s&to=%s%s", from, to, extra);
}

static const json_t *row_of(const json_t *rep, const char *org)
{
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(rep, "rows"), i, w)
    {
        const char *o = json_string_value(json_object_get(w, "org"));
        if (org ? o && strcmp(o, org) == 0 : !o)
            return w;
    }
    return NULL;
}

static long long num(const json_t *rep, const char *org, const char *k)
{
    const json_t *v = json_object_get(row_of(rep, org), k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The report without what moves with the clock. */
static char *stable_text(json_t *rep)
{
    json_t *c = json_deep_copy(rep);
    json_object_del(c, "generated");
    json_t *wc = json_object_get(c, "without_coordinator");
    json_object_del(wc, "waiting_p50_s");
    json_object_del(wc, "waiting_p90_s");
    json_object_del(wc, "waiting_max_s");
    char *text = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(c);
    return text;
}

static void referral_ok(h_org *from, const char *key, h_org *to, char id[64])
{
    h_resp resp;
    long st = h_referral_create(from, key, to->id, NULL, "x", id, &resp);
    H_REQUIRE(st == 201, "referral %s -> %s: HTTP %ld %s", from->id, to->id, st,
              hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(to, id, "received", H_SEC(15));
}

static void set_status(h_org *o, const char *id, const char *status)
{
    h_resp resp;
    bool why =
        strcmp(status, "rejected") == 0 || strcmp(status, "cancelled") == 0;
    long st =
        h_referral_set_status(o, id, status, why ? "x" : NULL, NULL, &resp);
    H_REQUIRE(st == 200, "%s sets %s %s: HTTP %ld %s", o->id, id, status, st,
              hc_body(&resp));
    h_resp_free(&resp);
}

static void case_report_survives_a_broker_kill(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "kela", "vocational-rehab");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);

    /* 4 clients, each with a consent covering all three */
    char keys[4][33], cid[64];
    h_org *const with[] = {b, c};
    for (int i = 0; i < 4; i++) {
        h_client_key(keys[i]);
        hc_consent(a, keys[i], with, 2, NULL, cid);
        hc_wait_consent(b, keys[i], cid);
        hc_wait_consent(c, keys[i], cid);
    }
    /* a -> b: accepted; a -> c: rejected; a -> b: cancelled by b;
     * a -> c: received, waiting; c -> b: accepted */
    char r1[64], r2[64], r3[64], r4[64], r5[64];
    referral_ok(a, keys[0], b, r1);
    set_status(b, r1, "accepted");
    referral_ok(a, keys[1], c, r2);
    set_status(c, r2, "rejected");
    referral_ok(a, keys[2], b, r3);
    set_status(b, r3, "cancelled");
    referral_ok(a, keys[3], c, r4);
    referral_ok(c, keys[0], b, r5);
    set_status(b, r5, "accepted");
    /* a coordinates clients 0 and 1; hands 0 to b (accepted), offers 1 to
     * c (declined) */
    hc_claim_ok(a, keys[0]);
    hc_claim_ok(a, keys[1]);
    char h1[64], h2[64], seen[32];
    hc_offer_ok(a, keys[0], b->id, h1);
    H_WAIT_UNTIL(
        H_SEC(15),
        strcmp(hc_handover_status(b, h1, seen, sizeof seen), "offered") == 0,
        "%s to see the offer %s", b->id, h1);
    H_REQUIRE(hc_handover_act(b, h1, "accept", NULL, NULL) == 200,
              "%s accepts %s", b->id, h1);
    hc_offer_ok(a, keys[1], c->id, h2);
    H_WAIT_UNTIL(
        H_SEC(15),
        strcmp(hc_handover_status(c, h2, seen, sizeof seen), "offered") == 0,
        "%s to see the offer %s", c->id, h2);
    H_REQUIRE(hc_handover_act(c, h2, "decline", "x", NULL) == 200,
              "%s declines %s", c->id, h2);

    char q[200];
    window(q, sizeof q, "");
    long st = 0;
    json_t *before = NULL;
    /* wait until the broker has folded every answer */
    H_WAIT_UNTIL(H_SEC(15),
                 (json_decref(before), before = get_report(r, q, &st, NULL),
                  st == 200 && num(before, NULL, "handovers_declined") == 1 &&
                      num(before, NULL, "handovers_accepted") == 1 &&
                      num(before, NULL, "accepted") == 2 &&
                      num(before, NULL, "rejected") == 1 &&
                      num(before, NULL, "cancelled") == 1),
                 "the report to count every answer (HTTP %ld)", st);
    H_CHECK(num(before, NULL, "sent") == 5 &&
                num(before, NULL, "received") == 5,
            "the region sent and received 5");
    H_CHECK(num(before, a->id, "sent") == 4 &&
                num(before, a->id, "received") == 0,
            "%s sent 4, received 0", a->id);
    H_CHECK(num(before, b->id, "received") == 3 &&
                num(before, b->id, "accepted") == 2 &&
                num(before, b->id, "cancelled") == 1,
            "%s received 3, accepted 2, cancelled 1", b->id);
    H_CHECK(num(before, c->id, "sent") == 1 &&
                num(before, c->id, "received") == 2 &&
                num(before, c->id, "rejected") == 1,
            "%s sent 1, received 2, rejected 1", c->id);
    H_CHECK(num(before, b->id, "receipt_n") == 3 &&
                num(before, b->id, "receipt_max_s") >= 0 &&
                num(before, b->id, "answer_n") == 3,
            "%s has 3 receipt and 3 answer times", b->id);
    H_CHECK(num(before, a->id, "handovers_offered") == 2 &&
                num(before, b->id, "handovers_accepted") == 1 &&
                num(before, c->id, "handovers_declined") == 1,
            "handovers: %s offered 2, %s accepted 1, %s declined 1", a->id,
            b->id, c->id);
    H_CHECK(num(before, b->id, "active_paths") == 1 &&
                num(before, a->id, "active_paths") == 1,
            "%s and %s coordinate one path each", a->id, b->id);

    /* one org: its row and the region's */
    char qo[260];
    window(qo, sizeof qo, "&org=kela");
    json_t *one = get_report(r, qo, &st, NULL);
    H_CHECK(st == 200 && json_array_size(json_object_get(one, "rows")) == 2 &&
                row_of(one, "kela") && row_of(one, NULL),
            "?org=kela: kela's row and the region's (HTTP %ld)", st);
    json_decref(one);

    /* CSV: the JSON's columns, a line per row */
    char qc[260], *csv = NULL;
    window(qc, sizeof qc, "&format=csv");
    json_decref(get_report(r, qc, &st, &csv));
    H_CHECK(st == 200 && csv &&
                strncmp(csv, "scope,org,name,sent,received,", 29) == 0 &&
                strstr(csv, "\r\n\"region\",,,5,5,"),
            "the CSV has the columns and the region's line: %s",
            csv ? csv : "(none)");
    free(csv);

    /* bad queries: 400 naming the parameter */
    const struct {
        const char *q, *says;
    } bad[] = {{"", "from is required"},
               {"?from=2026-01-01", "to is required"},
               {"?from=2026-02-30&to=2026-03-01", "from: "},
               {"?from=2026-03-01&to=2026-02-01", "to is before from"},
               {"?from=2026-01-01&to=2026-02-01&org=nobody", "org: "},
               {"?from=2026-01-01&to=2026-02-01&format=xml", "format: "}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *e = get_report(r, bad[i].q, &st, NULL);
        const char *msg = json_string_value(
            json_object_get(json_object_get(e, "error"), "message"));
        H_CHECK(st == 400 && msg && strstr(msg, bad[i].says),
                "%s: 400 saying '%s' (got %ld, '%s')", bad[i].q, bad[i].says,
                st, msg ? msg : "");
        json_decref(e);
    }

    /* the CLI prints the table */
    char out[8192], from[40], to[40];
    const char *amp = strchr(q, '&');
    snprintf(from, sizeof from, "%.*s", (int)(amp - q - 6), q + 6);
    snprintf(to, sizeof to, "%s", amp + 4);
    const char *args[] = {"report", "--broker", r->broker_url, "--from", from,
                          "--to",   to,         NULL};
    int rc = h_cli(a, out, sizeof out, args);
    const char *region = strstr(out, "REGION");
    H_CHECK(rc == 0 && region && !strstr(region + 1, "REGION") &&
                strstr(out, "tyokykytiimi") && strstr(out, "rej-no-followup") &&
                strstr(out, "Outcomes by service"),
            "polku report prints the table, the region once (exit %d):\n%s", rc,
            out);
    /* the region's line: 5 sent, 5 received */
    H_CHECK(region && strncmp(region, "REGION", 6) == 0 &&
                strstr(region, " 5 ") != NULL,
            "the region's line counts 5: %s", region ? region : "(none)");

    /* kill -9, rebuild, the same report */
    char *was = stable_text(before);
    h_broker_kill(r);
    h_broker_start(r);
    hc_wait_replayed(r, H_SEC(30));
    json_t *after = NULL;
    char *now = NULL;
    H_WAIT_UNTIL(
        H_SEC(15),
        (json_decref(after), free(now), now = NULL,
         after = get_report(r, q, &st, NULL),
         st == 200 && (now = stable_text(after)) && strcmp(now, was) == 0),
        "the report after the rebuild to equal the one before:\n"
        "  before %s\n  after  %s",
        was, now ? now : "(none)");
    h_note("report equal after kill -9 and rebuild (%zu bytes)", strlen(was));
    free(now);
    free(was);
    json_decref(after);
    json_decref(before);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_report");
    H_CASE(case_report_survives_a_broker_kill);
    return h_finish();
}
