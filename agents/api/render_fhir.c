/* render_fhir.c — the agent's records as FHIR R4 JSON (see render_fhir.h). */
#include "render_fhir.h"

#include <stdio.h>
#include <string.h>

#include "consents.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/json.h"
#include "polku/referral.h"

/* FHIR JSON has no nulls: a time that is not set (0) is left out. */
static json_t *without_nulls(json_t *j)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, k, v)
        {
            if (json_is_null(v))
                json_object_del(j, k);
            else
                without_nulls(v);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) without_nulls(v);
    }
    return j;
}

static json_t *coding(const char *system, const char *code)
{
    return json_pack("{s:s, s:s}", "system", system, "code", code);
}

static json_t *concept(const char *system, const char *code)
{
    return json_pack("{s:[o]}", "coding", coding(system, code));
}

static json_t *org_ref(const char *org)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "Organization",
                     "identifier", "system", POLKU_FHIR_ORG, "value", org);
}

static json_t *client_ref(const ProtobufCBinaryData *key)
{
    char hex[POLKU_CLIENT_KEY_HEX] = "";
    if (key->len == 16)
        polku_client_key_hex(key->data, hex);
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "Patient", "identifier",
                     "system", POLKU_FHIR_CLIENT_KEY, "value", hex);
}

/* The ServiceRequest a Task is about: its status follows the Task's. */
static const char *request_status(polku_referral_state s)
{
    switch (s) {
    case POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD:
        return "on-hold";
    case POLKU__REFERRAL_STATE__REFERRAL_COMPLETED:
        return "completed";
    case POLKU__REFERRAL_STATE__REFERRAL_REJECTED:
    case POLKU__REFERRAL_STATE__REFERRAL_FAILED:
    case POLKU__REFERRAL_STATE__REFERRAL_CANCELLED:
        return "revoked";
    default:
        return "active";
    }
}

static json_t *service_request(const Polku__ReferralRecord *r)
{
    json_t *sr = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:[o], s:s, s:o}", "resourceType",
        "ServiceRequest", "id", POLKU_FHIR_REQUEST_ID, "status",
        request_status(r->status), "intent", "order", "subject",
        client_ref(&r->client_key), "requester", org_ref(r->from_org),
        "performer", org_ref(r->to_org), "priority",
        strcmp(r->urgency, "urgent") == 0 ? "urgent" : "routine", "authoredOn",
        polku_json_time(r->created_ms));
    if (r->service[0])
        json_object_set_new(sr, "code",
                            concept(POLKU_FHIR_SERVICE, r->service));
    if (r->reason[0])
        json_object_set_new(sr, "reasonCode",
                            json_pack("[{s:s}]", "text", r->reason));
    return sr;
}

/* The reason given with the change that led to the current status. */
static const char *last_reason(const Polku__ReferralRecord *r)
{
    for (size_t i = r->n_history; i > 0; i--) {
        const Polku__HistoryEntry *h = r->history[i - 1];
        if (h->status == r->status)
            return h->reason[0] ? h->reason : NULL;
    }
    return NULL;
}

json_t *render_fhir_task(const Polku__ReferralRecord *r)
{
    char id[POLKU_ID_TEXT], version[16];
    polku_id_text(r->id.data, id);
    snprintf(version, sizeof version, "%u", (unsigned)r->version);
    json_t *t = json_pack(
        "{s:s, s:s, s:{s:s, s:o}, s:[o], s:[{s:s, s:s}], s:s, s:s, s:s, "
        "s:o, s:{s:s}, s:o, s:o, s:o, s:o, s:o, s:[{s:o, s:b}]}",
        "resourceType", "Task", "id", id, "meta", "versionId", version,
        "lastUpdated", polku_json_time(r->updated_ms), "contained",
        service_request(r), "identifier", "system", POLKU_FHIR_REFERRAL,
        "value", id, "status", polku_referral_state_name(r->status), "intent",
        "order", "priority",
        strcmp(r->urgency, "urgent") == 0 ? "urgent" : "routine", "code",
        concept("http://hl7.org/fhir/CodeSystem/task-code", "fulfill"), "focus",
        "reference", "#" POLKU_FHIR_REQUEST_ID, "for",
        client_ref(&r->client_key), "authoredOn",
        polku_json_time(r->created_ms), "lastModified",
        polku_json_time(r->updated_ms), "requester", org_ref(r->from_org),
        "owner", org_ref(r->to_org), "input", "type",
        concept(POLKU_FHIR_TASK_INPUT, "transfer"), "valueBoolean",
        r->transfer);
    const char *why = last_reason(r);
    if (why)
        json_object_set_new(t, "statusReason", json_pack("{s:s}", "text", why));
    if (r->cancel_requested)
        json_object_set_new(t, "businessStatus",
                            concept(POLKU_FHIR_BUSINESS, "cancel-requested"));
    if (r->due_ms)
        json_object_set_new(t, "restriction",
                            json_pack("{s:{s:o}}", "period", "end",
                                      polku_json_time(r->due_ms)));
    if (r->outcome[0])
        json_object_set_new(
            t, "output",
            json_pack("[{s:o, s:s}]", "type",
                      concept(POLKU_FHIR_TASK_OUTPUT, "outcome"), "valueString",
                      r->outcome));
    return without_nulls(t);
}

static json_t *consent_actors(const Polku__ConsentRecord *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->n_orgs; i++)
        json_array_append_new(
            list, json_pack("{s:o, s:o}", "role",
                            concept("http://terminology.hl7.org/CodeSystem/"
                                    "v3-ParticipationType",
                                    "IRCP"),
                            "reference", org_ref(r->orgs[i])));
    return list;
}

static json_t *consent_purposes(const Polku__ConsentRecord *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->n_purposes; i++)
        json_array_append_new(
            list, coding(POLKU_FHIR_CONSENT_PURPOSE, r->purposes[i]));
    return list;
}

json_t *render_fhir_consent(const Polku__ConsentRecord *r, uint64_t now_ms)
{
    char id[POLKU_ID_TEXT];
    polku_id_text(r->id.data, id);
    bool active = consents_active(r, now_ms);
    uint64_t updated = r->revoked ? r->revoked_ms : r->created_ms;
    json_t *c = json_pack(
        "{s:s, s:s, s:{s:o}, s:s, s:o, s:[o], s:o, s:o, s:[o], s:o, "
        "s:{s:s, s:{s:o}, s:o, s:o}}",
        "resourceType", "Consent", "id", id, "meta", "lastUpdated",
        polku_json_time(updated), "status", active ? "active" : "inactive",
        "scope",
        concept("http://terminology.hl7.org/CodeSystem/consentscope",
                "patient-privacy"),
        "category", concept("http://loinc.org", "59284-0"), "patient",
        client_ref(&r->client_key), "dateTime", polku_json_time(r->created_ms),
        "organization", org_ref(r->recorded_by), "policyRule",
        concept(POLKU_FHIR_CONSENT_FORM, r->form[0] ? r->form : "written"),
        "provision", "type", "permit", "period", "end",
        polku_json_time(r->valid_until_ms), "actor", consent_actors(r),
        "purpose", consent_purposes(r));
    return without_nulls(c);
}

json_t *render_fhir_bundle(const char *self_url)
{
    return json_pack("{s:s, s:s, s:I, s:[{s:s, s:s}], s:[]}", "resourceType",
                     "Bundle", "type", "searchset", "total", (json_int_t)0,
                     "link", "relation", "self", "url", self_url, "entry");
}

void render_fhir_bundle_add(json_t *bundle, const char *base_url,
                            json_t *resource)
{
    char url[256];
    snprintf(url, sizeof url, "%s/%s/%s", base_url,
             json_string_value(json_object_get(resource, "resourceType")),
             json_string_value(json_object_get(resource, "id")));
    json_t *entries = json_object_get(bundle, "entry");
    json_array_append_new(entries, json_pack("{s:s, s:o, s:{s:s}}", "fullUrl",
                                             url, "resource", resource,
                                             "search", "mode", "match"));
    json_object_set_new(bundle, "total",
                        json_integer((json_int_t)json_array_size(entries)));
}

static json_t *search_param(const char *name, const char *type, const char *doc)
{
    return json_pack("{s:s, s:s, s:s}", "name", name, "type", type,
                     "documentation", doc);
}

json_t *render_fhir_capability(const char *org, const char *base_url,
                               uint64_t now_ms)
{
    json_t *task = json_pack(
        "{s:s, s:[{s:s}, {s:s}, {s:s}], s:[o, o, o, o]}", "type", "Task",
        "interaction", "code", "read", "code", "search-type", "code", "create",
        "searchParam",
        search_param("status", "token",
                     "one or more Task statuses, comma-separated"),
        search_param("owner", "reference",
                     "the receiving organisation: Organization/ID or "
                     "urn:polku:org|ID"),
        search_param("requester", "reference",
                     "the sending organisation: Organization/ID or "
                     "urn:polku:org|ID"),
        search_param("_lastUpdated", "date",
                     "with a prefix eq, gt, ge, lt or le (default eq)"));
    json_t *consent =
        json_pack("{s:s, s:[{s:s}], s:[o]}", "type", "Consent", "interaction",
                  "code", "search-type", "searchParam",
                  search_param("patient", "reference",
                               "the client key (32 hex characters), required"));
    char name[96];
    snprintf(name, sizeof name, "polku agent of %s", org);
    return json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:s, s:[s], s:{s:s}, s:{s:s, s:s}, "
        "s:[{s:s, s:[o, o]}]}",
        "resourceType", "CapabilityStatement", "status", "active", "date",
        polku_json_time(now_ms), "kind", "instance", "fhirVersion", "4.0.1",
        "name", "PolkuAgent", "format", "json", "software", "name", "polku",
        "implementation", "description", name, "url", base_url, "rest", "mode",
        "server", "resource", task, consent);
}

/* The OperationOutcome issue code (FHIR's IssueType) for polku's error
 * code where one says more than the status, else for the status. */
static const char *issue_code(unsigned status, const char *code)
{
    static const struct {
        const char *code, *issue;
    } by_code[] = {
        {"invalid_json", "structure"},
        {"invalid_transition", "business-rule"},
        {"not_supported", "not-supported"},
    };
    for (size_t i = 0; i < sizeof by_code / sizeof by_code[0]; i++)
        if (strcmp(code, by_code[i].code) == 0)
            return by_code[i].issue;
    switch (status) {
    case 400:
        return "invalid";
    case 401:
        return "login";
    case 403:
        return "forbidden";
    case 404:
        return "not-found";
    case 405:
        return "not-supported";
    case 409:
        return "conflict";
    case 413:
        return "too-long";
    case 503:
        return "transient";
    case 504:
        return "timeout";
    case 507:
        return "no-store";
    default:
        return "exception";
    }
}

json_t *render_fhir_outcome(unsigned status, const char *code,
                            const char *message)
{
    json_t *o =
        json_pack("{s:s, s:[{s:s, s:s, s:{s:[o], s:s}}]}", "resourceType",
                  "OperationOutcome", "issue", "severity", "error", "code",
                  issue_code(status, code), "details", "coding",
                  coding(POLKU_FHIR_ERROR, code), "text", message);
    if (!o) /* a message that is not UTF-8 */
        o = json_pack("{s:s, s:[{s:s, s:s, s:{s:[o]}}]}", "resourceType",
                      "OperationOutcome", "issue", "severity", "error", "code",
                      issue_code(status, code), "details", "coding",
                      coding(POLKU_FHIR_ERROR, code));
    return o;
}
