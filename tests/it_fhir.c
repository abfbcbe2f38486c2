/* it_fhir — the FHIR R4 view of real agents, field by field.
 *
 * Broker + agents a (sote) and b (kela, offers vocational-rehab). A
 * referral made through /v1 reads back at /fhir/Task/{id} as a Task whose
 * fields follow the referral through accepted (statusReason) to completed
 * (output); one made through POST /fhir/Task (by identity code) is the
 * same referral at /v1 and arrives at b; searches filter by status, owner,
 * requester and _lastUpdated; a client's consents are Consents. Errors are
 * OperationOutcomes with polku's code: no consent (the same gate as /v1),
 * an unknown organisation, an unknown id, no token, a bad search. The
 * metadata and /v1/openapi.json answer without a token.
 *
 * Run with POLKU_HTTP_RECORD set (the ctest entry does), every exchange
 * here is then validated against docs/openapi.yaml and the FHIR R4 schema
 * (tests/openapi/validate.mjs, the ctest entry openapi_validate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "polku/clock.h"

#define HETU "150382-624C"

static h_region *region(h_org **a, h_org **b)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote", "coordination");
    *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_region_use_secret(r); /* identity codes become client keys */
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    return r;
}

/* The string at a dotted path ("contained.0.code.coding.0.code"), "" if
 * there is none. Digits index arrays. */
static const char *at(json_t *j, const char *path)
{
    char copy[160];
    snprintf(copy, sizeof copy, "%s", path);
    char *save = NULL;
    for (char *p = strtok_r(copy, ".", &save); p && j;
         p = strtok_r(NULL, ".", &save))
        j = (*p >= '0' && *p <= '9') ? json_array_get(j, (size_t)atoi(p))
                                     : json_object_get(j, p);
    return json_is_string(j) ? json_string_value(j) : "";
}

static json_int_t int_at(json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

#define CHECK_FIELD(j, path, want)                                             \
    H_CHECK(strcmp(at(j, path), want) == 0, "%s: want '%s', got '%s'", path,   \
            want, at(j, path))

/* GET path at o as JSON (with the token); ends the case unless 200. */
static json_t *get_ok(h_org *o, const char *path)
{
    h_resp resp;
    long st = h_api(o, "GET", path, NULL, &resp);
    if (st != 200 || !resp.json) {
        char msg[400];
        snprintf(msg, sizeof msg, "%ld %.300s", st,
                 resp.body ? resp.body : resp.err);
        h_resp_free(&resp);
        H_FAIL("GET %s at %s: want 200, got %s", path, o->id, msg);
    }
    json_t *j = json_incref(resp.json);
    h_resp_free(&resp);
    return j;
}

static json_t *task_of(h_org *o, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/fhir/Task/%s", id);
    return get_ok(o, path);
}

/* The issue's code and polku's code of an OperationOutcome answer. */
static void check_outcome(const h_resp *resp, long want_status, long got,
                          const char *issue, const char *code)
{
    H_CHECK(got == want_status, "want HTTP %ld, got %ld: %s", want_status, got,
            resp->body ? resp->body : resp->err);
    CHECK_FIELD(resp->json, "resourceType", "OperationOutcome");
    CHECK_FIELD(resp->json, "issue.0.severity", "error");
    CHECK_FIELD(resp->json, "issue.0.code", issue);
    CHECK_FIELD(resp->json, "issue.0.details.coding.0.system",
                "urn:polku:error");
    CHECK_FIELD(resp->json, "issue.0.details.coding.0.code", code);
    H_CHECK(at(resp->json, "issue.0.details.text")[0],
            "the outcome says what is wrong: %s", resp->body);
}

/* A Task for POST /fhir/Task: client by identifier (system, value), to
 * owner, service and reason in the contained ServiceRequest. */
static json_t *new_task(const char *system, const char *value,
                        const char *owner, const char *due)
{
    json_t *t = json_pack(
        "{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}, "
        "s:[{s:s}], s:{s:s}}], s:{s:s}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}, "
        "s:[{s:{s:[{s:s, s:s}]}, s:b}]}",
        "resourceType", "Task", "status", "requested", "intent", "order",
        "priority", "urgent", "contained", "resourceType", "ServiceRequest",
        "id", "sr1", "status", "active", "intent", "order", "code", "coding",
        "system", "urn:polku:service", "code", "vocational-rehab", "reasonCode",
        "text", "needs a new trade", "subject", "reference", "#sr1", "focus",
        "reference", "#sr1", "for", "identifier", "system", system, "value",
        value, "owner", "identifier", "system", "urn:polku:org", "value", owner,
        "input", "type", "coding", "system", "urn:polku:task-input", "code",
        "transfer", "valueBoolean", 0);
    if (due)
        json_object_set_new(t, "restriction",
                            json_pack("{s:{s:s}}", "period", "end", due));
    return t;
}

static void case_v1_referral_as_task(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, NULL, "vocational-rehab",
                                "retraining after an injury", id, &resp);
    H_REQUIRE(st == 201, "POST /v1/referrals: %ld %s", st, resp.body);
    h_resp_free(&resp);

    json_t *t = task_of(a, id);
    CHECK_FIELD(t, "resourceType", "Task");
    CHECK_FIELD(t, "id", id);
    CHECK_FIELD(t, "identifier.0.system", "urn:polku:referral");
    CHECK_FIELD(t, "identifier.0.value", id);
    H_CHECK(strcmp(at(t, "status"), "requested") == 0 ||
                strcmp(at(t, "status"), "received") == 0,
            "a new referral is requested or received: %s", at(t, "status"));
    CHECK_FIELD(t, "intent", "order");
    CHECK_FIELD(t, "priority", "routine");
    CHECK_FIELD(t, "for.type", "Patient");
    CHECK_FIELD(t, "for.identifier.system", "urn:polku:client-key");
    CHECK_FIELD(t, "for.identifier.value", key);
    CHECK_FIELD(t, "requester.identifier.system", "urn:polku:org");
    CHECK_FIELD(t, "requester.identifier.value", a->id);
    CHECK_FIELD(t, "owner.identifier.value", b->id);
    CHECK_FIELD(t, "focus.reference", "#request");
    CHECK_FIELD(t, "contained.0.resourceType", "ServiceRequest");
    CHECK_FIELD(t, "contained.0.id", "request");
    CHECK_FIELD(t, "contained.0.status", "active");
    CHECK_FIELD(t, "contained.0.code.coding.0.system", "urn:polku:service");
    CHECK_FIELD(t, "contained.0.code.coding.0.code", "vocational-rehab");
    CHECK_FIELD(t, "contained.0.reasonCode.0.text",
                "retraining after an injury");
    CHECK_FIELD(t, "contained.0.subject.identifier.value", key);
    CHECK_FIELD(t, "input.0.type.coding.0.code", "transfer");
    H_CHECK(
        json_is_false(json_object_get(
            json_array_get(json_object_get(t, "input"), 0), "valueBoolean")),
        "transfer is false");
    H_CHECK(!json_object_get(t, "output"), "no outcome yet");
    H_CHECK(at(t, "meta.lastUpdated")[0] && at(t, "authoredOn")[0],
            "times are set");
    json_decref(t);

    /* the receiver accepts with a reason, then completes with an outcome */
    h_wait_status(b, id, "received", H_SEC(15));
    H_REQUIRE(h_referral_set_status(b, id, "accepted", "fits the criteria",
                                    NULL, NULL) == 200,
              "accept at b");
    h_wait_status(a, id, "accepted", H_SEC(15));
    t = task_of(a, id);
    CHECK_FIELD(t, "status", "accepted");
    CHECK_FIELD(t, "statusReason.text", "fits the criteria");
    json_decref(t);
    H_REQUIRE(h_referral_set_status(b, id, "in-progress", NULL, NULL, NULL) ==
                  200,
              "start at b");
    H_REQUIRE(h_referral_set_status(b, id, "completed", NULL,
                                    "started a course in March", NULL) == 200,
              "complete at b");
    h_wait_status(a, id, "completed", H_SEC(15));
    t = task_of(a, id);
    CHECK_FIELD(t, "status", "completed");
    CHECK_FIELD(t, "contained.0.status", "completed");
    CHECK_FIELD(t, "output.0.type.coding.0.system", "urn:polku:task-output");
    CHECK_FIELD(t, "output.0.type.coding.0.code", "outcome");
    CHECK_FIELD(t, "output.0.valueString", "started a course in March");
    H_CHECK(!json_object_get(t, "statusReason"),
            "completing gave no reason: %s", at(t, "statusReason.text"));
    json_decref(t);
    /* b's own copy says the same, from the other side */
    t = task_of(b, id);
    CHECK_FIELD(t, "status", "completed");
    CHECK_FIELD(t, "requester.identifier.value", a->id);
    CHECK_FIELD(t, "output.0.valueString", "started a course in March");
    json_decref(t);
}

static void case_fhir_create_is_a_referral(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;
    /* the consent by identity code gives the client key */
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 30 * 86400000ull, until, sizeof until);
    json_t *cbody =
        json_pack("{s:{s:s}, s:[s], s:[s], s:s}", "client", "hetu", HETU,
                  "orgs", b->id, "purposes", "referral", "valid_until", until);
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/consents", cbody, &resp);
    H_REQUIRE(st == 201, "consent: %ld %s", st, resp.body);
    char key[33];
    snprintf(key, sizeof key, "%s", at(resp.json, "client_key"));
    h_resp_free(&resp);

    char due[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 7 * 86400000ull, due, sizeof due);
    st = h_api_json(a, "POST", "/fhir/Task",
                    new_task("urn:oid:1.2.246.21", HETU, b->id, due), &resp);
    H_REQUIRE(st == 201, "POST /fhir/Task: %ld %s", st, resp.body);
    H_CHECK(!strstr(resp.body, HETU) && !strstr(resp.body, "150382"),
            "the identity code is never answered: %s", resp.body);
    json_t *t = resp.json;
    char id[64];
    snprintf(id, sizeof id, "%s", at(t, "id"));
    CHECK_FIELD(t, "resourceType", "Task");
    CHECK_FIELD(t, "status", "requested");
    CHECK_FIELD(t, "priority", "urgent");
    CHECK_FIELD(t, "for.identifier.system", "urn:polku:client-key");
    CHECK_FIELD(t, "for.identifier.value", key);
    CHECK_FIELD(t, "requester.identifier.value", a->id);
    CHECK_FIELD(t, "owner.identifier.value", b->id);
    CHECK_FIELD(t, "contained.0.code.coding.0.code", "vocational-rehab");
    CHECK_FIELD(t, "contained.0.reasonCode.0.text", "needs a new trade");
    CHECK_FIELD(t, "restriction.period.end", due);
    CHECK_FIELD(t, "meta.versionId", "0"); /* a new referral is version 0 */
    char want_location[160];
    snprintf(want_location, sizeof want_location, "%s/fhir/Task/%s/_history/0",
             a->url, id);
    H_CHECK(strcmp(resp.location, want_location) == 0,
            "Location: want %s, got '%s'", want_location, resp.location);
    h_resp_free(&resp);

    /* the same referral through /v1, and at the receiver */
    json_t *v1 = h_referral_get(a, id);
    H_REQUIRE(v1, "GET /v1/referrals/%s at a", id);
    CHECK_FIELD(v1, "client_key", key);
    CHECK_FIELD(v1, "to", b->id);
    CHECK_FIELD(v1, "service", "vocational-rehab");
    CHECK_FIELD(v1, "reason", "needs a new trade");
    CHECK_FIELD(v1, "urgency", "urgent");
    CHECK_FIELD(v1, "due", due);
    json_decref(v1);
    h_wait_status(b, id, "received", H_SEC(15));
    t = task_of(b, id);
    CHECK_FIELD(t, "status", "received");
    CHECK_FIELD(t, "for.identifier.value", key);
    CHECK_FIELD(t, "contained.0.reasonCode.0.text", "needs a new trade");
    json_decref(t);

    /* the consent as a FHIR Consent */
    char path[160];
    snprintf(path, sizeof path, "/fhir/Consent?patient=%s", key);
    json_t *bundle = get_ok(a, path);
    CHECK_FIELD(bundle, "resourceType", "Bundle");
    CHECK_FIELD(bundle, "type", "searchset");
    H_CHECK(int_at(bundle, "total") == 1, "one consent, total %lld",
            (long long)int_at(bundle, "total"));
    json_t *c = json_object_get(
        json_array_get(json_object_get(bundle, "entry"), 0), "resource");
    CHECK_FIELD(c, "resourceType", "Consent");
    CHECK_FIELD(c, "status", "active");
    CHECK_FIELD(c, "patient.identifier.system", "urn:polku:client-key");
    CHECK_FIELD(c, "patient.identifier.value", key);
    CHECK_FIELD(c, "provision.type", "permit");
    CHECK_FIELD(c, "provision.purpose.0.code", "referral");
    CHECK_FIELD(c, "organization.0.identifier.value", a->id);
    const char *o0 = at(c, "provision.actor.0.reference.identifier.value");
    const char *o1 = at(c, "provision.actor.1.reference.identifier.value");
    H_CHECK((strcmp(o0, a->id) == 0 && strcmp(o1, b->id) == 0) ||
                (strcmp(o0, b->id) == 0 && strcmp(o1, a->id) == 0),
            "the consent covers %s and %s: got %s, %s", a->id, b->id, o0, o1);
    H_CHECK(strstr(at(bundle, "entry.0.fullUrl"), "/fhir/Consent/") != NULL,
            "fullUrl names the Consent: %s", at(bundle, "entry.0.fullUrl"));
    json_decref(bundle);
}

static bool bundle_holds(json_t *bundle, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(bundle, "entry"), i, e)
    {
        if (strcmp(at(e, "resource.id"), id) == 0)
            return true;
    }
    return false;
}

static void case_search(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;
    char key[33], id1[64], id2[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    H_REQUIRE(h_referral_create(a, key, b->id, NULL, "one", id1, NULL) == 201,
              "first referral");
    H_REQUIRE(h_referral_create(a, key, b->id, NULL, "two", id2, NULL) == 201,
              "second referral");
    h_wait_status(b, id1, "received", H_SEC(15));
    h_wait_status(b, id2, "received", H_SEC(15));
    H_REQUIRE(h_referral_set_status(b, id2, "accepted", NULL, NULL, NULL) ==
                  200,
              "accept the second");
    h_wait_status(a, id2, "accepted", H_SEC(15));

    char path[256];
    snprintf(path, sizeof path, "/fhir/Task?owner=Organization/%s", b->id);
    json_t *s = get_ok(a, path);
    H_CHECK(int_at(s, "total") == 2 && bundle_holds(s, id1) &&
                bundle_holds(s, id2),
            "owner=kela finds both: total %lld", (long long)int_at(s, "total"));
    CHECK_FIELD(s, "link.0.relation", "self");
    H_CHECK(strstr(at(s, "link.0.url"), "/fhir/Task?owner=") != NULL,
            "the self link is the search: %s", at(s, "link.0.url"));
    CHECK_FIELD(s, "entry.0.search.mode", "match");
    json_decref(s);

    s = get_ok(a, "/fhir/Task?status=accepted");
    H_CHECK(int_at(s, "total") == 1 && bundle_holds(s, id2),
            "status=accepted finds the second only: total %lld",
            (long long)int_at(s, "total"));
    json_decref(s);
    s = get_ok(a, "/fhir/Task?status=received,accepted&_count=1");
    H_CHECK(int_at(s, "total") == 2 &&
                json_array_size(json_object_get(s, "entry")) == 1,
            "total counts every match, _count limits the entries");
    json_decref(s);
    snprintf(path, sizeof path, "/fhir/Task?requester=urn:polku:org|%s", b->id);
    s = get_ok(a, path);
    H_CHECK(int_at(s, "total") == 0, "kela requested nothing here: %lld",
            (long long)int_at(s, "total"));
    json_decref(s);
    snprintf(path, sizeof path,
             "/fhir/Task?requester=%s&_lastUpdated=ge2020-01-01", a->id);
    s = get_ok(b, path);
    H_CHECK(int_at(s, "total") == 2, "b holds both from a: %lld",
            (long long)int_at(s, "total"));
    json_decref(s);
    s = get_ok(a, "/fhir/Task?_lastUpdated=lt2020-01-01");
    H_CHECK(int_at(s, "total") == 0 &&
                json_array_size(json_object_get(s, "entry")) == 0,
            "nothing was updated before 2020");
    json_decref(s);

    /* a bad search is an OperationOutcome naming what is wrong */
    h_resp resp;
    long st = h_api(a, "GET", "/fhir/Task?status=finished", NULL, &resp);
    check_outcome(&resp, 400, st, "invalid", "unknown_status");
    h_resp_free(&resp);
    st = h_api(a, "GET", "/fhir/Task?_lastUpdated=ge2026-02-30", NULL, &resp);
    check_outcome(&resp, 400, st, "invalid", "invalid_date");
    h_resp_free(&resp);
    st = h_api(a, "GET", "/fhir/Consent", NULL, &resp);
    check_outcome(&resp, 400, st, "invalid", "bad_request");
    h_resp_free(&resp);
}

static void case_errors_are_outcomes(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;
    char key[33];
    h_client_key(key);
    h_resp resp;

    /* no consent: refused by the same gate as /v1 */
    long st =
        h_api_json(a, "POST", "/fhir/Task",
                   new_task("urn:polku:client-key", key, b->id, NULL), &resp);
    check_outcome(&resp, 403, st, "forbidden", "consent_required");
    H_CHECK(!resp.location[0], "a refusal names no created resource: %s",
            resp.location);
    h_resp_free(&resp);
    st = h_referral_create(a, key, b->id, NULL, "same", NULL, &resp);
    H_CHECK(st == 403 &&
                strcmp(h_resp_error_code(&resp), "consent_required") == 0,
            "/v1 refuses the same: %ld %s", st, resp.body);
    h_resp_free(&resp);

    /* an organisation not in the directory */
    st = h_api_json(a, "POST", "/fhir/Task",
                    new_task("urn:polku:client-key", key, "nobody", NULL),
                    &resp);
    check_outcome(&resp, 400, st, "invalid", "unknown_org");
    h_resp_free(&resp);
    /* a Task that is not a new one */
    json_t *t = new_task("urn:polku:client-key", key, b->id, NULL);
    json_object_set_new(t, "status", json_string("completed"));
    st = h_api_json(a, "POST", "/fhir/Task", t, &resp);
    check_outcome(&resp, 400, st, "invalid", "bad_request");
    h_resp_free(&resp);
    /* a client named some other way */
    st = h_api_json(a, "POST", "/fhir/Task",
                    new_task("http://example.org/mrn", "123", b->id, NULL),
                    &resp);
    check_outcome(&resp, 400, st, "invalid", "bad_request");
    h_resp_free(&resp);
    /* not JSON */
    st = h_api(a, "POST", "/fhir/Task", "{\"resourceType\":", &resp);
    check_outcome(&resp, 400, st, "structure", "invalid_json");
    h_resp_free(&resp);
    /* no such Task; an id that is not one */
    st = h_api(a, "GET", "/fhir/Task/01JBZZZZZZZZZZZZZZZZZZZZZZ", NULL, &resp);
    check_outcome(&resp, 404, st, "not-found", "not_found");
    h_resp_free(&resp);
    st = h_api(a, "GET", "/fhir/Task/nope", NULL, &resp);
    check_outcome(&resp, 404, st, "not-found", "not_found");
    h_resp_free(&resp);
    /* no token */
    st = h_http_request(a->http, "GET", "/fhir/Task", NULL, NULL, 0, &resp);
    check_outcome(&resp, 401, st, "login", "unauthorized");
    h_resp_free(&resp);
    /* a method the path does not serve */
    st = h_api(a, "DELETE", "/fhir/Task", NULL, &resp);
    check_outcome(&resp, 405, st, "not-supported", "method_not_allowed");
    h_resp_free(&resp);
}

static void case_public_documents(void)
{
    h_org *a, *b;
    h_region *r = region(&a, &b);
    (void)r;
    (void)b;
    h_resp resp;
    long st =
        h_http_request(a->http, "GET", "/fhir/metadata", NULL, NULL, 0, &resp);
    H_REQUIRE(st == 200, "GET /fhir/metadata without a token: %ld %s", st,
              resp.body);
    CHECK_FIELD(resp.json, "resourceType", "CapabilityStatement");
    CHECK_FIELD(resp.json, "fhirVersion", "4.0.1");
    CHECK_FIELD(resp.json, "kind", "instance");
    CHECK_FIELD(resp.json, "format.0", "json");
    CHECK_FIELD(resp.json, "rest.0.mode", "server");
    CHECK_FIELD(resp.json, "rest.0.resource.0.type", "Task");
    CHECK_FIELD(resp.json, "rest.0.resource.1.type", "Consent");
    H_CHECK(strstr(at(resp.json, "implementation.url"), "/fhir") != NULL,
            "the base URL: %s", at(resp.json, "implementation.url"));
    h_resp_free(&resp);

    st = h_http_request(a->http, "GET", "/v1/openapi.json", NULL, NULL, 0,
                        &resp);
    H_REQUIRE(st == 200, "GET /v1/openapi.json without a token: %ld", st);
    CHECK_FIELD(resp.json, "openapi", "3.1.0");
    json_t *paths = json_object_get(resp.json, "paths");
    H_CHECK(json_object_get(paths, "/fhir/Task") &&
                json_object_get(paths, "/v1/referrals") &&
                json_object_get(paths, "/v1/openapi.json"),
            "the document lists the routes");
    h_resp_free(&resp);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_fhir");
    H_CASE(case_v1_referral_as_task);
    H_CASE(case_fhir_create_is_a_referral);
    H_CASE(case_search);
    H_CASE(case_errors_are_outcomes);
    H_CASE(case_public_documents);
    return h_finish();
}
