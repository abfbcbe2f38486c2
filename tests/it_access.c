/* it_access — the client's access report and break-glass, over a real
 * region (issue 18).
 *
 * access_report: a client with referrals across four organisations of one
 * consent; the network report asked at one of them holds every event of
 * every organisation's log exactly once (the union of the four local
 * reports, no (source, seq) twice), each referral with its consent; the
 * CSV has a line per event; an organisation outside the consent is
 * refused by its agent (403) and, asking the broker directly, by the
 * broker (403); a stopped organisation is listed as not answering.
 *
 * break_glass: a referral under an emergency override from an
 * organisation the directory permits it: 201, the receiver reads the
 * sealed reason, both logs show it (access reports), the broker raises
 * override_used; the client's coordinator reviews it and the alert
 * clears; a second one is reviewed by an operator at the broker (logged by
 * the overriding organisation) and stays reviewed after the broker is
 * killed and rebuilt. Bad input gets specific errors; an organisation not
 * permitted gets 403 override_not_permitted from its agent and, forging
 * the event, a Nack override_not_permitted from the broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "harness_coord.h"
#include "polku/id.h"

/* ---------------------------------------------------------------- helpers */

static json_t *access_report(h_org *o, const char *key, const char *query,
                             long *status)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/clients/%s/access%s", key, query);
    h_resp resp;
    *status = h_api(o, "GET", path, NULL, &resp);
    json_t *j = resp.json ? json_incref(resp.json) : NULL;
    if (*status != 200)
        h_note("%s %s: %ld %s", o->id, path, *status, hc_body(&resp));
    h_resp_free(&resp);
    return j;
}

static bool listed(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i,
                       v) if (strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

/* Rows of report whose field equals value (and kind, if not NULL). */
static int count_rows(const json_t *rep, const char *kind, const char *field,
                      const char *value)
{
    int n = 0;
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(rep, "events"), i, row)
    {
        const char *k = json_string_value(json_object_get(row, "kind"));
        const char *v = json_string_value(json_object_get(row, field));
        if ((!kind || (k && strcmp(k, kind) == 0)) && v &&
            strcmp(v, value) == 0)
            n++;
    }
    return n;
}

static const json_t *find_row(const json_t *rep, const char *source,
                              const char *kind, const char *object)
{
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(rep, "events"), i, row)
    {
        if (strcmp(hc_str(row, "source"), source) == 0 &&
            strcmp(hc_str(row, "kind"), kind) == 0 &&
            strcmp(hc_str(row, "object_id"), object) == 0)
            return row;
    }
    return NULL;
}

static void row_key(const json_t *row, char *out, size_t len)
{
    snprintf(out, len, "%s:%lld", hc_str(row, "source"),
             (long long)hc_int(row, "seq"));
}

static void referral_ok(h_org *from, const char *key, h_org *to, char id[64])
{
    h_resp resp;
    long st =
        h_referral_create(from, key, to->id, NULL, "needs support", id, &resp);
    H_REQUIRE(st == 201, "referral %s -> %s: %ld %s", from->id, to->id, st,
              hc_body(&resp));
    h_resp_free(&resp);
}

static bool alert_held(h_region *r, const char *subject_id)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL,
                             NULL, 0, &resp);
    bool held = false;
    size_t i;
    json_t *a;
    if (st == 200)
        json_array_foreach(json_object_get(resp.json, "alerts"), i, a)
        {
            if (strcmp(hc_str(a, "kind"), "override_used") == 0 &&
                strcmp(hc_str(a, "subject_id"), subject_id) == 0)
                held = true;
        }
    h_resp_free(&resp);
    return held;
}

/* ----------------------------------------------------------- the report */

static void case_access_report(void)
{
    h_region *r = h_region_new();
    h_org *sote = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *tiimi = h_region_add_org(r, "tyokykytiimi", "work-ability");
    h_org *kela = h_region_add_org(r, "kela", "vocational-rehab");
    h_org *typ = h_region_add_org(r, "typ", "joint-service");
    h_org *muu = h_region_add_org(r, "ulkopuolinen", "other");
    h_org *vieras = h_region_add_org(r, "vieras", "guest"); /* no agent */
    h_broker_start(r);
    h_org *all[] = {sote, tiimi, kela, typ, muu};
    for (int i = 0; i < 5; i++)
        h_agent_start_connected(all[i]);

    char key[33], cid[64];
    h_client_key(key);
    h_org *with[] = {tiimi, kela, typ};
    hc_consent(sote, key, with, 3, NULL, cid);
    for (int i = 0; i < 3; i++)
        hc_wait_consent(with[i], key, cid);
    hc_claim_ok(sote, key);

    char r1[64], r2[64], r3[64];
    referral_ok(sote, key, tiimi, r1);
    referral_ok(sote, key, kela, r2);
    referral_ok(tiimi, key, typ, r3);
    h_wait_status(sote, r1, "received", H_SEC(10));
    h_wait_status(sote, r2, "received", H_SEC(10));
    h_wait_status(tiimi, r3, "received", H_SEC(10));
    h_resp resp;
    H_REQUIRE(h_referral_set_status(kela, r2, "accepted", NULL, NULL, &resp) ==
                  200,
              "kela accepts: %s", hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(sote, r2, "accepted", H_SEC(10));

    /* the four local reports: every event of each log */
    long st;
    json_t *local[4];
    size_t local_total = 0;
    h_org *four[] = {sote, tiimi, kela, typ};
    for (int i = 0; i < 4; i++) {
        local[i] = access_report(four[i], key, "", &st);
        H_REQUIRE(st == 200 && local[i], "local report at %s", four[i]->id);
        local_total += json_array_size(json_object_get(local[i], "events"));
        H_CHECK(count_rows(local[i], NULL, "source", four[i]->id) ==
                    (int)json_array_size(json_object_get(local[i], "events")),
                "a local report at %s holds only its own events", four[i]->id);
    }

    json_t *net = access_report(sote, key, "?network=1", &st);
    H_REQUIRE(st == 200 && net, "network report at sote-keskus: %ld", st);
    json_t *events = json_object_get(net, "events");
    h_note("network report: %zu events (local reports: %zu)",
           json_array_size(events), local_total);
    H_CHECK(json_array_size(events) == local_total,
            "the network report holds every event of the four logs: %zu, "
            "want %zu",
            json_array_size(events), local_total);
    h_ids seen = {0};
    size_t i;
    json_t *row;
    json_array_foreach(events, i, row)
    {
        char k[64];
        row_key(row, k, sizeof k);
        h_ids_add(&seen, k);
    }
    H_CHECK(h_ids_duplicates(&seen) == 0,
            "no event appears twice in the network report (%zu duplicates)",
            h_ids_duplicates(&seen));
    for (int o = 0; o < 4; o++)
        json_array_foreach(json_object_get(local[o], "events"), i, row)
        {
            char k[64];
            row_key(row, k, sizeof k);
            H_CHECK(h_ids_contains(&seen, k),
                    "%s's event %s is in the network report", four[o]->id, k);
        }
    h_ids_free(&seen);
    for (int o = 0; o < 4; o++)
        json_decref(local[o]);
    /* each referral once, with its consent and purpose; each receipt */
    const char *ids[3] = {r1, r2, r3};
    h_org *senders[3] = {sote, sote, tiimi}, *receivers[3] = {tiimi, kela, typ};
    for (int k = 0; k < 3; k++) {
        H_CHECK(count_rows(net, "referral_requested", "object_id", ids[k]) == 1,
                "referral %s requested exactly once", ids[k]);
        const json_t *req =
            find_row(net, senders[k]->id, "referral_requested", ids[k]);
        H_CHECK(req && strcmp(hc_str(req, "consent_id"), cid) == 0 &&
                    strcmp(hc_str(req, "purpose"), "referral") == 0 &&
                    json_is_null(json_object_get(req, "override")),
                "referral %s at %s under consent %s, purpose referral", ids[k],
                senders[k]->id, cid);
        const json_t *got =
            find_row(net, receivers[k]->id, "referral_status", ids[k]);
        H_CHECK(got && strcmp(hc_str(got, "consent_id"), cid) == 0,
                "%s's receipt of %s shows consent %s", receivers[k]->id, ids[k],
                cid);
    }
    H_CHECK(count_rows(net, "consent_granted", "consent_id", cid) == 1,
            "the consent's grant appears once");
    json_t *answered = json_object_get(net, "answered");
    H_CHECK(json_array_size(answered) == 4 && listed(answered, "typ") &&
                json_array_size(json_object_get(net, "not_answering")) == 0,
            "all four answered, none missing");
    json_decref(net);

    /* the printable report: header + one line per event */
    char path[160];
    snprintf(path, sizeof path, "/v1/clients/%s/access?network=1&format=csv",
             key);
    st = h_api(sote, "GET", path, NULL, &resp);
    int lines = 0;
    for (size_t c = 0; resp.body && c < resp.len; c++)
        lines += resp.body[c] == '\n';
    H_CHECK(st == 200 && resp.body &&
                strncmp(resp.body, "source,seq,at,kind,object_id", 28) == 0 &&
                lines == (int)local_total + 1,
            "CSV: 200, header and %zu lines (got %ld, %d lines)", local_total,
            st, lines);
    h_resp_free(&resp);

    /* the same from the CLI, and in Finnish as a table */
    char out[65536];
    const char *const csv_args[] = {"client",    "access", key,
                                    "--network", "--csv",  NULL};
    int ec = h_cli(sote, out, sizeof out, csv_args);
    H_CHECK(ec == 0 && strncmp(out, "source,seq,at,kind", 18) == 0 &&
                strstr(out, r3) != NULL,
            "polku client access KEY --network --csv: exit %d, %.200s", ec,
            out);
    const char *const fi_args[] = {"--lang",   "fi", "client", "access",
                                   "--client", key,  NULL};
    ec = h_cli(sote, out, sizeof out, fi_args);
    H_CHECK(ec == 0 && strstr(out, "tapahtuma") && strstr(out, r1),
            "polku --lang fi client access: a table in Finnish (exit %d)", ec);

    /* the client in the body (as for an identity code), CSV asked there */
    char pbody[160];
    snprintf(pbody, sizeof pbody,
             "{\"client\":{\"key\":\"%s\"},\"network\":false,"
             "\"format\":\"json\"}",
             key);
    st = h_api(kela, "POST", "/v1/clients/access", pbody, &resp);
    H_CHECK(st == 200 && count_rows(resp.json, NULL, "source", "kela") > 0 &&
                count_rows(resp.json, NULL, "source", "kela") ==
                    (int)json_array_size(json_object_get(resp.json, "events")),
            "POST /v1/clients/access at kela: its own events (%ld)", st);
    h_resp_free(&resp);
    st = h_api(kela, "POST", "/v1/clients/access",
               "{\"client\":{\"key\":\"zz\"},\"network\":\"yes\"}", &resp);
    H_CHECK(st == 400, "a bad client or network: 400, got %ld", st);
    h_resp_free(&resp);

    /* outside the scope: the agent refuses, and the broker refuses too */
    json_t *no = access_report(muu, key, "?network=1", &st);
    H_CHECK(st == 403, "an organisation outside the consent: 403, got %ld", st);
    json_decref(no);
    h_raw *raw = h_raw_new(r, &vieras->key);
    H_REQUIRE(h_raw_hello(raw, vieras->id, H_SEC(10)), "vieras says hello");
    polku_envelope q = POLKU__ENVELOPE__INIT;
    Polku__AccessQuery aq = POLKU__ACCESS_QUERY__INIT;
    uint8_t msg_id[16], qid[16], ck[16];
    polku_id id = polku_id_new(1);
    memcpy(msg_id, id.b, 16);
    id = polku_id_new(2);
    memcpy(qid, id.b, 16);
    for (int b = 0; b < 16; b++)
        sscanf(key + 2 * b, "%2hhx", &ck[b]);
    q.version = POLKU_PROTOCOL_VERSION;
    q.msg_id.data = msg_id;
    q.msg_id.len = 16;
    q.origin_org = vieras->id;
    q.client_key.data = ck;
    q.client_key.len = 16;
    aq.query_id.data = qid;
    aq.query_id.len = 16;
    q.body_case = POLKU__ENVELOPE__BODY_ACCESS_QUERY;
    q.access_query = &aq;
    H_REQUIRE(h_raw_send_env(raw, &q) == 0, "send the access query");
    unsigned got = 0;
    uint64_t dl = h_now_ms() + H_SEC(10);
    while (!got && h_now_ms() < dl) {
        polku_envelope *a = h_raw_recv(raw, 200);
        if (a && a->body_case == POLKU__ENVELOPE__BODY_ACCESS_ANSWER)
            got = a->access_answer->status;
        polku_envelope_free(&a);
    }
    H_CHECK(got == 403,
            "the broker refuses an access query from outside the consent "
            "(status %u)",
            got);
    h_raw_destroy(&raw);

    /* a stopped organisation does not answer: listed, the rest is there */
    h_agent_stop(typ);
    uint64_t t0 = h_now_ms();
    net = access_report(sote, key, "?network=1", &st);
    H_REQUIRE(st == 200 && net, "network report with typ stopped: %ld", st);
    H_CHECK(listed(json_object_get(net, "not_answering"), "typ") &&
                !listed(json_object_get(net, "answered"), "typ") &&
                listed(json_object_get(net, "answered"), "kela"),
            "typ listed as not answering, kela answered");
    H_CHECK(count_rows(net, "referral_requested", "object_id", r3) == 1,
            "tiimi's referral to typ is still in the report (from tiimi)");
    h_note("with typ stopped the report took %llu ms",
           (unsigned long long)(h_now_ms() - t0));
    json_decref(net);

    /* a broker rebuilt while typ stays away still answers, typ listed */
    h_broker_kill(r);
    h_broker_start(r);
    h_wait_agent_connected(sote, H_SEC(20));
    net = NULL;
    H_WAIT_UNTIL(H_SEC(20),
                 (json_decref(net),
                  net = access_report(sote, key, "?network=1", &st), st == 200),
                 "a network report from the rebuilt broker");
    H_CHECK(listed(json_object_get(net, "not_answering"), "typ") &&
                listed(json_object_get(net, "answered"), "kela") &&
                count_rows(net, "referral_requested", "object_id", r1) == 1,
            "after the rebuild: typ not answering, the rest there once");
    json_decref(net);
}

/* ------------------------------------------------------------ break-glass */

static long refer_override(h_org *from, const char *key, const char *to,
                           const char *override_json, char id[64], h_resp *resp)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\","
             "\"reason\":\"assessment\",\"override\":%s}",
             key, to, override_json);
    long st = h_api(from, "POST", "/v1/referrals", body, resp);
    if (id) {
        const char *s = json_string_value(json_object_get(resp->json, "id"));
        snprintf(id, 64, "%s", s ? s : "");
    }
    return st;
}

static void case_break_glass(void)
{
    h_region *r = h_region_new();
    h_org *ensi = h_region_add_org(r, "ensihoito", "emergency-care");
    snprintf(ensi->overrides, sizeof ensi->overrides, "emergency, statutory");
    h_org *tiimi = h_region_add_org(r, "tyokykytiimi", "work-ability");
    h_org *koord = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *muu = h_region_add_org(r, "kunta", "other");
    h_org *vieras = h_region_add_org(r, "vieras", "guest"); /* no agent */
    h_broker_start(r);
    h_org *run[] = {ensi, tiimi, koord, muu};
    for (int i = 0; i < 4; i++)
        h_agent_start_connected(run[i]);

    char key[33], cid[64];
    h_client_key(key);
    h_org *with[] = {tiimi};
    hc_consent(koord, key, with, 1, NULL, cid);
    hc_wait_consent(tiimi, key, cid);
    hc_claim_ok(koord, key);

    h_resp resp;
    char id[64];
    /* bad input: each names what is wrong */
    long st =
        refer_override(ensi, key, tiimi->id,
                       "{\"basis\":\"urgent\",\"reason\":\"x\"}", NULL, &resp);
    H_CHECK(st == 400 && strcmp(h_resp_error_code(&resp), "bad_override") == 0,
            "unknown basis: 400 bad_override, got %ld %s", st, hc_body(&resp));
    h_resp_free(&resp);
    st = refer_override(ensi, key, tiimi->id, "{\"basis\":\"emergency\"}", NULL,
                        &resp);
    H_CHECK(st == 400 && strstr(hc_body(&resp), "override.reason"),
            "missing reason: 400 naming override.reason, got %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);
    /* not permitted: the agent says so and sends nothing */
    st = refer_override(muu, key, tiimi->id,
                        "{\"basis\":\"emergency\",\"reason\":\"fire\"}", NULL,
                        &resp);
    H_CHECK(st == 403 &&
                strcmp(h_resp_error_code(&resp), "override_not_permitted") == 0,
            "kunta may not: 403 override_not_permitted, got %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);
    /* a handover under an override: the same permission */
    char hbody[512];
    snprintf(hbody, sizeof hbody,
             "{\"client\":{\"key\":\"%s\"},\"to\":\"%s\","
             "\"override\":{\"basis\":\"statutory\",\"reason\":\"duty\"}}",
             key, ensi->id);
    st = h_api(koord, "POST", "/v1/handovers", hbody, &resp);
    H_CHECK(st == 403 &&
                strcmp(h_resp_error_code(&resp), "override_not_permitted") == 0,
            "a handover under an override sote-keskus may not use: 403 "
            "override_not_permitted, got %ld %s",
            st, hc_body(&resp));
    h_resp_free(&resp);
    /* a consent covers it: the consent is used, not an override */
    char key2[33], cid2[64];
    h_client_key(key2);
    h_org *with2[] = {tiimi};
    hc_consent(ensi, key2, with2, 1, NULL, cid2);
    st = refer_override(ensi, key2, tiimi->id,
                        "{\"basis\":\"emergency\",\"reason\":\"x\"}", NULL,
                        &resp);
    H_CHECK(st == 409 &&
                strcmp(h_resp_error_code(&resp), "override_not_needed") == 0,
            "override where a consent covers it: 409 override_not_needed, got "
            "%ld %s",
            st, hc_body(&resp));
    h_resp_free(&resp);

    /* allowed: sent, received with its sealed reason, alerted */
    st = refer_override(
        ensi, key, tiimi->id,
        "{\"basis\":\"emergency\",\"reason\":\"unconscious, cannot consent\"}",
        id, &resp);
    H_REQUIRE(st == 201 && id[0], "emergency override: 201, got %ld %s", st,
              hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(ensi, id, "received", H_SEC(10));
    json_t *got = h_referral_get(tiimi, id);
    json_t *ov = json_object_get(got, "override");
    H_CHECK(ov && strcmp(hc_str(ov, "basis"), "emergency") == 0 &&
                strcmp(hc_str(ov, "reason"), "unconscious, cannot consent") ==
                    0,
            "the receiver holds the override and its (sealed) reason");
    json_decref(got);
    H_WAIT_UNTIL(H_SEC(10), alert_held(r, id),
                 "the broker's alert override_used for %s", id);
    json_t *mine = access_report(ensi, key, "", &st);
    const json_t *row = find_row(mine, ensi->id, "referral_requested", id);
    H_CHECK(row && strcmp(hc_str(row, "override"), "emergency") == 0 &&
                json_is_null(json_object_get(row, "consent_id")),
            "ensihoito's log: the referral under override emergency, no "
            "consent");
    json_decref(mine);
    json_t *theirs = access_report(tiimi, key, "", &st);
    row = find_row(theirs, tiimi->id, "referral_status", id);
    H_CHECK(row && strcmp(hc_str(row, "override"), "emergency") == 0,
            "tyokykytiimi's log: its receipt, under override emergency");
    json_decref(theirs);

    /* the sender cannot review its own; the coordinator does */
    char path[128];
    snprintf(path, sizeof path, "/v1/overrides/%s/review", id);
    char body[128];
    snprintf(body, sizeof body, "{\"client\":{\"key\":\"%s\"}}", key);
    st = h_api(ensi, "POST", path, body, &resp);
    H_CHECK(st == 403,
            "the overriding organisation (not coordinator) cannot "
            "review: got %ld",
            st);
    h_resp_free(&resp);
    st = h_api(koord, "POST", path, body, &resp);
    H_CHECK(st == 202, "the coordinator reviews: 202, got %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), !alert_held(r, id),
                 "override_used for %s to clear after the review", id);

    /* an operator's review at the broker, logged by ensihoito */
    char id2[64];
    st = refer_override(ensi, key, tiimi->id,
                        "{\"basis\":\"statutory\",\"reason\":\"child "
                        "protection duty\"}",
                        id2, &resp);
    H_REQUIRE(st == 201, "statutory override: %ld %s", st, hc_body(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), alert_held(r, id2), "override_used for %s", id2);
    snprintf(path, sizeof path, "/api/v1/overrides/%s/review", id2);
    st = h_http_request(r->broker_http, "POST", path, NULL, "", 0, &resp);
    H_CHECK(st == 202, "operator review at the broker: 202, got %ld %s", st,
            hc_body(&resp));
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(10), !alert_held(r, id2),
                 "override_used for %s to clear after the operator's review",
                 id2);
    got = h_referral_get(ensi, id2);
    H_CHECK(strcmp(hc_str(json_object_get(got, "override"), "reviewed_by"),
                   "operator") == 0,
            "ensihoito's record says an operator reviewed it");
    json_decref(got);
    st = h_http_request(r->broker_http, "POST", path, NULL, "", 0, &resp);
    H_CHECK(st == 409, "reviewed already: 409, got %ld", st);
    h_resp_free(&resp);

    /* a forged override from an organisation not permitted: Nack */
    h_raw *raw = h_raw_new(r, &vieras->key);
    H_REQUIRE(h_raw_hello(raw, vieras->id, H_SEC(10)), "vieras says hello");
    h_env e;
    h_env_init(&e, vieras->id, 1, tiimi->id);
    h_env_referral(&e, "work-ability", "");
    for (int b = 0; b < 16; b++)
        sscanf(key + 2 * b, "%2hhx", &e.client_key[b]);
    e.env.client_key.data = e.client_key;
    e.env.client_key.len = 16;
    e.referral.override_basis = "emergency";
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send the forged override");
    char reason[256] = "";
    H_CHECK(h_raw_wait_nack(raw, POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED,
                            H_SEC(10), reason, sizeof reason),
            "the broker Nacks a forged override with override_not_permitted");
    h_raw_destroy(&raw);
    H_CHECK(h_referral_lookup(tiimi, polku_id_text(e.referral_id,
                                                   (char[POLKU_ID_TEXT]){0})) ==
                404,
            "the forged referral never reached tyokykytiimi");

    /* rebuilt from the logs: the reviews hold, no alert comes back */
    h_broker_kill(r);
    h_broker_start(r);
    hc_wait_replayed(r, H_SEC(20));
    H_CHECK(!alert_held(r, id) && !alert_held(r, id2),
            "after a rebuild both overrides are still reviewed");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_access");
    H_CASE(case_access_report);
    H_CASE(case_break_glass);
    return h_finish();
}
