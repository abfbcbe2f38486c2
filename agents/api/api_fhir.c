/* api_fhir.c — /fhir: a FHIR R4 view of the referrals and consents.
 *
 * Integrators' FHIR tooling reads referrals as Tasks (read and search),
 * consents as Consents (search by patient) and creates referrals with
 * POST /fhir/Task. The view decides nothing: a created Task is turned into
 * the body of POST /v1/referrals and goes through the same validation,
 * consent gate and domain call (api_referral_create_parsed). Every answer
 * is application/fhir+json; every error an OperationOutcome whose details
 * carry polku's error code (api_fhir_style, set by the route table for
 * every /fhir path, before the token check). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "render_fhir.h"

void api_fhir_style(polku_http_req *req)
{
    polku_http_set_json_style(req, POLKU_FHIR_JSON, render_fhir_outcome);
}

static void bad(api_call *c, const char *code, const char *msg)
{
    polku_http_respond_error(c->req, 400, code, msg);
}

/* "http://HOST/fhir": the Host the client used when it is a plain
 * host[:port], else the address the API listens on. */
static void base_url(agent_api *api, api_call *c, char *out, size_t len)
{
    const char *host = polku_http_header(c->req, "Host");
    bool plain = host && *host && strlen(host) < 128;
    for (const char *p = host; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || strchr(".-:[]", *p);
    snprintf(out, len, "http://%s/fhir", plain ? host : api->cfg->http);
}

void api_fhir_metadata(agent_api *api, api_call *c)
{
    char base[192];
    base_url(api, c, base, sizeof base);
    polku_http_respond_json(
        c->req, 200,
        render_fhir_capability(api->cfg->org, base, domain_now(api->d)));
}

/* ---- read ---- */

static int item_task_read(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(c->api->d->st, txn, c->id.b, &r);
    if (rc)
        return rc;
    api_after_reply(c->api, c->req, 200, render_fhir_task(r));
    polku__referral_record__free_unpacked(r, NULL);
    return POLKU_OK;
}

void api_fhir_task_read(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_task_read);
}

/* ---- search ---- */

typedef struct task_search {
    api_call *call;
    unsigned statuses; /* bit per polku_referral_state; 0: any */
    char owner[64], requester[64];
    uint64_t after_ms, before_ms; /* lastUpdated in [after, before) */
    size_t count;                 /* entries at most */
    char base[192], self[512];
    json_t *bundle;
    size_t matched;
} task_search;

/* status=a,b,c (token, comma means or). */
static int parse_statuses(api_call *c, const char *text, unsigned *out)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        polku_referral_state s;
        if (polku_referral_state_parse(tok, &s) || (unsigned)s >= 32) {
            bad(c, "unknown_status",
                "status must be one or more (comma-separated) of requested, "
                "received, accepted, rejected, in-progress, on-hold, "
                "completed, failed, cancelled");
            return POLKU_EINVAL;
        }
        *out |= 1u << (unsigned)s;
    }
    if (!*out) {
        bad(c, "unknown_status", "status is empty");
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

/* An organisation as a reference parameter: "Organization/ID",
 * "urn:polku:org|ID" or "ID". */
static int parse_org(api_call *c, const char *name, const char *text, char *out,
                     size_t len)
{
    const char *id = text;
    if (strncmp(text, "Organization/", 13) == 0)
        id = text + 13;
    else if (strncmp(text, POLKU_FHIR_ORG "|", sizeof POLKU_FHIR_ORG) == 0)
        id = text + sizeof POLKU_FHIR_ORG;
    if (!polku_org_id_valid(id)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "%s must name an organisation: Organization/ID, "
                 "" POLKU_FHIR_ORG "|ID or ID",
                 name);
        bad(c, "bad_request", msg);
        return POLKU_EINVAL;
    }
    snprintf(out, len, "%s", id);
    return POLKU_OK;
}

/* _lastUpdated=[eq|gt|ge|lt|le]TIME: a date covers its UTC day, a time
 * without fractions its second. */
static int parse_last_updated(api_call *c, const char *text, task_search *s)
{
    char prefix[3] = "eq";
    if (isalpha((unsigned char)text[0]) && isalpha((unsigned char)text[1])) {
        memcpy(prefix, text, 2);
        text += 2;
    }
    uint64_t at = 0, span = 1;
    bool date_only = false;
    char why[160], msg[240];
    if (polku_time_parse_why(text, &at, &date_only, why, sizeof why)) {
        snprintf(msg, sizeof msg, "_lastUpdated: %s", why);
        bad(c, "invalid_date", msg);
        return POLKU_EINVAL;
    }
    if (date_only)
        span = 86400000;
    else if (!strchr(text, '.'))
        span = 1000;
    if (strcmp(prefix, "eq") == 0) {
        s->after_ms = at, s->before_ms = at + span;
    } else if (strcmp(prefix, "gt") == 0) {
        s->after_ms = at + span;
    } else if (strcmp(prefix, "ge") == 0) {
        s->after_ms = at;
    } else if (strcmp(prefix, "lt") == 0) {
        s->before_ms = at;
    } else if (strcmp(prefix, "le") == 0) {
        s->before_ms = at + span;
    } else {
        polku_http_respond_error(c->req, 400, "not_supported",
                                 "_lastUpdated takes the prefixes eq, gt, ge, "
                                 "lt and le");
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

static int parse_count(api_call *c, const char *text, size_t *out)
{
    char *end = NULL;
    unsigned long n = strtoul(text, &end, 10);
    if (!*text || *end || n == 0 || n > 1000) {
        bad(c, "bad_request", "_count must be 1..1000");
        return POLKU_EINVAL;
    }
    *out = n;
    return POLKU_OK;
}

static int add_task(Polku__ReferralRecord *r, void *arg)
{
    task_search *s = arg;
    if (s->statuses && !((unsigned)r->status < 32 &&
                         (s->statuses & (1u << (unsigned)r->status))))
        return 0;
    if ((s->owner[0] && strcmp(s->owner, r->to_org)) ||
        (s->requester[0] && strcmp(s->requester, r->from_org)))
        return 0;
    if (r->updated_ms < s->after_ms || r->updated_ms >= s->before_ms)
        return 0;
    if (++s->matched <= s->count)
        render_fhir_bundle_add(s->bundle, s->base, render_fhir_task(r));
    return 0;
}

static int item_task_search(MDB_txn *txn, void *ctx)
{
    task_search *s = ctx;
    s->bundle = render_fhir_bundle(s->self);
    int rc = store_each_referral(s->call->api->d->st, txn, add_task, s);
    if (rc) {
        json_decref(s->bundle);
        return rc;
    }
    json_object_set_new(s->bundle, "total",
                        json_integer((json_int_t)s->matched));
    api_after_reply(s->call->api, s->call->req, 200, s->bundle);
    return POLKU_OK;
}

/* The self link: the search as understood (only the parameters used). */
static void self_link(task_search *s, const char *const *names,
                      const char *const *values, size_t n)
{
    size_t off = (size_t)snprintf(s->self, sizeof s->self, "%s/Task", s->base);
    char sep = '?';
    for (size_t i = 0; i < n && off < sizeof s->self; i++) {
        if (!values[i])
            continue;
        off += (size_t)snprintf(s->self + off, sizeof s->self - off, "%c%s=%s",
                                sep, names[i], values[i]);
        sep = '&';
    }
}

void api_fhir_task_search(agent_api *api, api_call *c)
{
    task_search s = {.call = c, .before_ms = UINT64_MAX, .count = 1000};
    static const char *const names[] = {"status", "owner", "requester",
                                        "_lastUpdated", "_count"};
    const char *values[5];
    for (size_t i = 0; i < 5; i++)
        values[i] = polku_http_query(c->req, names[i]);
    if ((values[0] && parse_statuses(c, values[0], &s.statuses)) ||
        (values[1] &&
         parse_org(c, "owner", values[1], s.owner, sizeof s.owner)) ||
        (values[2] && parse_org(c, "requester", values[2], s.requester,
                                sizeof s.requester)) ||
        (values[3] && parse_last_updated(c, values[3], &s)) ||
        (values[4] && parse_count(c, values[4], &s.count)))
        return;
    base_url(api, c, s.base, sizeof s.base);
    /* the values are echoed only once parsed: no free text, no codes */
    self_link(&s, names, values, 5);
    int rc = batch_read(api->d->b, item_task_search, &s);
    if (rc)
        api_respond_err(c->req, c->object, rc);
}

/* ---- consents ---- */

typedef struct consent_search {
    api_call *call;
    char base[192], self[256];
    json_t *bundle;
} consent_search;

static int add_consent(Polku__ConsentRecord *r, void *arg)
{
    consent_search *s = arg;
    render_fhir_bundle_add(s->bundle, s->base,
                           render_fhir_consent(r, domain_now(s->call->api->d)));
    return 0;
}

static int item_consent_search(MDB_txn *txn, void *ctx)
{
    consent_search *s = ctx;
    s->bundle = render_fhir_bundle(s->self);
    int rc = store_consents_of_client(s->call->api->d->st, txn, s->call->key,
                                      add_consent, s);
    if (rc) {
        json_decref(s->bundle);
        return rc;
    }
    api_after_reply(s->call->api, s->call->req, 200, s->bundle);
    return POLKU_OK;
}

void api_fhir_consent_search(agent_api *api, api_call *c)
{
    consent_search s = {.call = c};
    const char *patient = polku_http_query(c->req, "patient");
    const char *key = patient;
    if (key && strncmp(key, POLKU_FHIR_CLIENT_KEY "|",
                       sizeof POLKU_FHIR_CLIENT_KEY) == 0)
        key += sizeof POLKU_FHIR_CLIENT_KEY;
    if (!key || polku_client_key_parse(key, c->key)) {
        bad(c, "bad_request",
            "?patient= is required: the client key (32 lowercase hex "
            "characters, or " POLKU_FHIR_CLIENT_KEY "|KEY)");
        return;
    }
    base_url(api, c, s.base, sizeof s.base);
    snprintf(s.self, sizeof s.self, "%s/Consent?patient=%s", s.base, key);
    int rc = batch_read(api->d->b, item_consent_search, &s);
    if (rc)
        api_respond_err(c->req, c->object, rc);
}

/* ---- create ---- */

/* Task.for as body.client: a client key or an identity code. */
static int task_client(api_call *c, json_t *task, json_t *body)
{
    json_t *id = json_object_get(json_object_get(task, "for"), "identifier");
    const char *system = json_string_value(json_object_get(id, "system"));
    json_t *value = json_object_get(id, "value");
    const char *field = NULL;
    if (system && strcmp(system, POLKU_FHIR_CLIENT_KEY) == 0)
        field = "key";
    else if (system && strcmp(system, POLKU_FHIR_HETU) == 0)
        field = "hetu";
    if (!field || !json_is_string(value)) {
        bad(c, "bad_request",
            "Task.for must be {\"identifier\": {\"system\": "
            "\"" POLKU_FHIR_CLIENT_KEY "\", \"value\": \"<32 hex>\"}} or "
            "the identity code with system \"" POLKU_FHIR_HETU "\"");
        return POLKU_EINVAL;
    }
    json_object_set_new(body, "client", json_pack("{s:O}", field, value));
    return POLKU_OK;
}

/* Task.owner (or requester) as an organisation id, NULL if absent. */
static int task_org(api_call *c, json_t *task, const char *name,
                    const char **out)
{
    json_t *ref = json_object_get(task, name);
    *out = NULL;
    if (!ref)
        return POLKU_OK;
    json_t *id = json_object_get(ref, "identifier");
    const char *system = json_string_value(json_object_get(id, "system"));
    const char *value = json_string_value(json_object_get(id, "value"));
    const char *reference =
        json_string_value(json_object_get(ref, "reference"));
    if (system && strcmp(system, POLKU_FHIR_ORG) == 0 && value)
        *out = value;
    else if (reference && strncmp(reference, "Organization/", 13) == 0)
        *out = reference + 13;
    if (*out && polku_org_id_valid(*out))
        return POLKU_OK;
    char msg[200];
    snprintf(msg, sizeof msg,
             "Task.%s must be {\"identifier\": {\"system\": "
             "\"" POLKU_FHIR_ORG "\", \"value\": ID}} or {\"reference\": "
             "\"Organization/ID\"}",
             name);
    bad(c, "bad_request", msg);
    return POLKU_EINVAL;
}

/* The contained ServiceRequest Task.focus points at: service and reason. */
static int task_request(api_call *c, json_t *task, json_t *body)
{
    json_t *focus = json_object_get(task, "focus");
    if (!focus)
        return POLKU_OK;
    const char *ref = json_string_value(json_object_get(focus, "reference"));
    json_t *sr = NULL, *v;
    size_t i;
    json_array_foreach(json_object_get(task, "contained"), i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (ref && ref[0] == '#' && id && strcmp(id, ref + 1) == 0)
            sr = v;
    }
    const char *type = json_string_value(json_object_get(sr, "resourceType"));
    if (!sr || !type || strcmp(type, "ServiceRequest")) {
        bad(c, "bad_request",
            "Task.focus must reference a contained ServiceRequest "
            "(\"#id\")");
        return POLKU_EINVAL;
    }
    json_array_foreach(json_object_get(json_object_get(sr, "code"), "coding"),
                       i, v)
    {
        const char *system = json_string_value(json_object_get(v, "system"));
        if (system && strcmp(system, POLKU_FHIR_SERVICE) == 0)
            json_object_set(body, "service", json_object_get(v, "code"));
    }
    json_t *reason = json_object_get(
        json_array_get(json_object_get(sr, "reasonCode"), 0), "text");
    if (reason)
        json_object_set(body, "reason", reason);
    return POLKU_OK;
}

static int task_transfer(json_t *task, json_t *body)
{
    json_t *v;
    size_t i, j;
    json_array_foreach(json_object_get(task, "input"), i, v)
    {
        json_t *cd;
        json_array_foreach(
            json_object_get(json_object_get(v, "type"), "coding"), j, cd)
        {
            const char *sys = json_string_value(json_object_get(cd, "system"));
            const char *code = json_string_value(json_object_get(cd, "code"));
            if (sys && code && strcmp(sys, POLKU_FHIR_TASK_INPUT) == 0 &&
                strcmp(code, "transfer") == 0)
                json_object_set(body, "transfer",
                                json_object_get(v, "valueBoolean"));
        }
    }
    return POLKU_OK;
}

static bool field_is(json_t *obj, const char *name, const char *want)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s && strcmp(s, want) == 0;
}

/* The Task as the body of POST /v1/referrals (render_fhir.h's table). */
static int task_to_body(agent_api *api, api_call *c, json_t *task, json_t *body)
{
    const char *owner = NULL, *requester = NULL;
    if (!field_is(task, "resourceType", "Task")) {
        bad(c, "bad_request", "the body must be a FHIR Task resource");
        return POLKU_EINVAL;
    }
    if (!field_is(task, "status", "requested") ||
        !field_is(task, "intent", "order")) {
        bad(c, "bad_request",
            "a new referral is a Task with status \"requested\" and intent "
            "\"order\"");
        return POLKU_EINVAL;
    }
    if (task_client(c, task, body) || task_org(c, task, "owner", &owner) ||
        task_org(c, task, "requester", &requester) ||
        task_request(c, task, body) || task_transfer(task, body))
        return POLKU_EINVAL;
    if (requester && strcmp(requester, api->cfg->org)) {
        bad(c, "bad_request",
            "Task.requester must be this organisation, or left out");
        return POLKU_EINVAL;
    }
    if (owner)
        json_object_set_new(body, "to", json_string(owner));
    json_t *priority = json_object_get(task, "priority");
    if (priority)
        json_object_set(body, "urgency", priority);
    json_t *due = json_object_get(
        json_object_get(json_object_get(task, "restriction"), "period"), "end");
    if (due)
        json_object_set(body, "due", due);
    return POLKU_OK;
}

/* The created Task, and where it is (FHIR's create answers Location:
 * [base]/Task/[id]/_history/[version]). */
static json_t *task_view(api_call *c, const Polku__ReferralRecord *r)
{
    char base[192], url[320], id[POLKU_ID_TEXT];
    base_url(c->api, c, base, sizeof base);
    polku_id_text(r->id.data, id);
    snprintf(url, sizeof url, "%s/Task/%s/_history/%u", base, id,
             (unsigned)r->version);
    polku_http_set_location(c->req, url); /* without it, still an answer */
    return render_fhir_task(r);
}

void api_fhir_task_create(agent_api *api, api_call *c)
{
    if (api_parse_body(c))
        return;
    json_t *body = json_object();
    if (task_to_body(api, c, c->body, body)) {
        json_decref(body);
        return;
    }
    json_decref(c->body);
    c->body = body;
    c->view = task_view;
    api_referral_create_parsed(api, c);
}
