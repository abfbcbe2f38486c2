/* api_front.c — which region a request is about (see api_front.h). */
#include "api_front.h"
#include "api_call.h"
#include "json_reader.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "polku/error.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/keys.h"
#include "polku/log.h"

#define MAX_REGIONS AGENT_MAX_REGIONS

/* A set of regions, by index into f->apis. */
typedef struct region_set {
    bool in[MAX_REGIONS];
    size_t count;
} region_set;

static void set_all(const api_front *f, region_set *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < f->n; i++)
        s->in[i] = true;
    s->count = f->n;
}

/* s becomes s ∩ t unless t is empty (what nobody knows narrows nothing:
 * the region's own API answers what is unknown). */
static void narrow(region_set *s, const region_set *t)
{
    if (t->count == 0)
        return;
    s->count = 0;
    for (size_t i = 0; i < MAX_REGIONS; i++) {
        s->in[i] = s->in[i] && t->in[i];
        s->count += s->in[i];
    }
}

static size_t first_of(const region_set *s)
{
    for (size_t i = 0; i < MAX_REGIONS; i++)
        if (s->in[i])
            return i;
    return 0;
}

/* "a, b and c" of the regions in s (all when s is NULL). */
static void names_of(const api_front *f, const region_set *s, char *out,
                     size_t len)
{
    size_t n = 0, total = s ? s->count : f->n;
    out[0] = '\0';
    for (size_t i = 0, k = 0; i < f->n; i++) {
        if (s && !s->in[i])
            continue;
        k++;
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s",
                              k == 1       ? ""
                              : k == total ? " and "
                                           : ", ",
                              f->apis[i]->region);
        if (n >= len)
            return;
    }
}

/* ---- what the stores and directories know ---- */

typedef struct probe {
    const uint8_t *bytes; /* 16: a client key or an id */
    bool is_key;
    bool found;
    store *st;
} probe;

static int probe_read(MDB_txn *txn, void *ctx)
{
    probe *p = ctx;
    p->found = p->is_key ? store_knows_client(p->st, txn, p->bytes)
                         : store_knows_id(p->st, txn, p->bytes);
    return POLKU_OK;
}

static void regions_knowing(const api_front *f, const uint8_t bytes[16],
                            bool is_key, region_set *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < f->n; i++) {
        probe p = {bytes, is_key, false, f->apis[i]->d->st};
        if (batch_read(f->apis[i]->d->b, probe_read, &p) == POLKU_OK &&
            p.found) {
            out->in[i] = true;
            out->count++;
        }
    }
}

static void regions_with_org(const api_front *f, const char *org,
                             region_set *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < f->n; i++)
        if (directory_knows_org(f->apis[i]->dir, org)) {
            out->in[i] = true;
            out->count++;
        }
}

static bool named_in_path(const char *path, uint8_t out[16], bool *is_key);

/* ---- answers ---- */

static bool key_unknown(api_front *f, polku_http_req *req, size_t i);
static bool authorised(const api_front *f, polku_http_req *req);

static void dispatch(api_front *f, size_t i, polku_http_req *req)
{
    if (!key_unknown(f, req, i))
        api_handle(f->apis[i], req);
}

static void respond_region_error(polku_http_req *req, const char *code,
                                 const char *msg)
{
    polku_http_respond_error(req, 422, code, msg);
}

static bool authorised(const api_front *f, polku_http_req *req)
{
    const char *h = polku_http_header(req, "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 &&
           polku_token_equal(h + 7, f->cfg->token);
}

/* GET /v1/paths/{key} in a region whose store does not know the key: it
 * would ask its broker only to be refused for want of a consent. A key
 * belongs to the region whose secret derived it; say so. */
static bool key_unknown(api_front *f, polku_http_req *req, size_t i)
{
    static const char prefix[] = "/v1/paths/";
    const char *path = polku_http_path(req);
    uint8_t key[16];
    bool is_key = false;
    if (f->n < 2 || !authorised(f, req) ||
        strcmp(polku_http_method(req), "GET") != 0 ||
        strncmp(path, prefix, sizeof prefix - 1) != 0 ||
        strchr(path + sizeof prefix - 1, '/') ||
        !named_in_path(path, key, &is_key) || !is_key)
        return false;
    region_set s;
    regions_knowing(f, key, true, &s);
    if (s.in[i])
        return false;
    char msg[300];
    snprintf(msg, sizeof msg,
             "this client key is unknown in region %s: a client key belongs "
             "to the region whose pseudonym secret derived it",
             f->apis[i]->region);
    polku_http_respond_error(req, 404, "not_found", msg);
    return true;
}

/* ---- lists: every region's, one after the other ---- */

static const char *const list_params[] = {"direction", "status", "limit",
                                          "view",      "client", NULL};

/* Runs req's GET in region i as a local request; its JSON answer, or NULL
 * (then *status says what, 0 when it did not answer at once). */
static json_t *local_get(api_front *f, size_t i, polku_http_req *req,
                         unsigned *status, char **raw)
{
    const char *query[2 * 8 + 1] = {NULL};
    size_t q = 0;
    for (size_t k = 0; list_params[k]; k++) {
        const char *v = polku_http_query(req, list_params[k]);
        if (v) {
            query[q++] = list_params[k];
            query[q++] = v;
        }
    }
    const char *headers[] = {"Authorization",
                             polku_http_header(req, "Authorization"), NULL};
    if (!headers[1])
        headers[0] = NULL;
    polku_http_local out = {0};
    polku_http_req *local = polku_http_local_req("GET", polku_http_path(req),
                                                 query, headers, NULL, 0, &out);
    *raw = NULL;
    if (!local) {
        *status = 500;
        return NULL;
    }
    api_handle(f->apis[i], local);
    *status = out.status;
    json_t *j = out.body ? json_loads(out.body, 0, NULL) : NULL;
    if (out.status == 0 || !j)
        *status = out.status ? out.status : 500;
    *raw = out.body;
    return j;
}

static void merge_lists(api_front *f, polku_http_req *req)
{
    json_t *merged = NULL;
    for (size_t i = 0; i < f->n; i++) {
        unsigned status = 0;
        char *raw = NULL;
        json_t *j = local_get(f, i, req, &status, &raw);
        if (status < 200 || status >= 300 || !json_is_object(j)) {
            /* the first region that refuses answers for all */
            json_decref(merged);
            if (j)
                polku_http_respond_json(req, status, j);
            else
                polku_http_respond_error(req, 500, "internal",
                                         "a region did not answer the list");
            free(raw);
            return;
        }
        free(raw);
        if (!merged) {
            merged = j;
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            json_t *into = json_object_get(merged, k);
            if (json_is_array(v) && json_is_array(into))
                json_array_extend(into, v);
        }
        json_t *c1 = json_object_get(merged, "count"),
               *c2 = json_object_get(j, "count");
        if (json_is_integer(c1) && json_is_integer(c2))
            json_integer_set(c1,
                             json_integer_value(c1) + json_integer_value(c2));
        json_decref(j);
    }
    polku_http_respond_json(req, 200, merged);
}

/* /healthz: the default region's, and every region's under "regions". */
static void health(api_front *f, polku_http_req *req)
{
    json_t *top = NULL, *all = json_array();
    for (size_t i = 0; i < f->n; i++) {
        unsigned status = 0;
        char *raw = NULL;
        json_t *j = local_get(f, i, req, &status, &raw);
        free(raw);
        if (!j)
            j = json_pack("{s:s, s:s}", "region", f->apis[i]->region, "status",
                          "no answer");
        if (i == 0)
            top = json_deep_copy(j);
        json_array_append_new(all, j);
    }
    json_object_set_new(top, "regions", all);
    polku_http_respond_json(req, 200, top);
}

/* /metrics of an agent of several regions: every region's, or the one
 * at index only (index < f->n), each sample labelled with its region. */
static void metrics(api_front *f, polku_http_req *req, size_t index)
{
    if (index < f->n)
        api_metrics_respond(req, &f->apis[index], 1, true);
    else
        api_metrics_respond(req, f->apis, f->n, true);
}

/* ---- creates: the regions the body's names fit ---- */

/* What the front reads of a POST body: the names that may pick a region.
 * The strings point into the parsed body, which lives until the request
 * has been handed on. */
typedef struct body_names {
    bool object;            /* the body is a JSON object */
    bool region_given;      /* it has a "region" member */
    const char *region;     /* that member when it is a string */
    const char *to;         /* "to" when a string */
    size_t orgs;            /* elements of "orgs" */
    region_set orgs_fit;    /* every region, narrowed by each org named */
    const char *client_key; /* client.key when a string */
    bool client_hetu;       /* client has "hetu" */
} body_names;

static void names_init(const api_front *f, body_names *n)
{
    memset(n, 0, sizeof *n);
    set_all(f, &n->orgs_fit);
}

static void names_org(const api_front *f, body_names *n, const char *org)
{
    region_set t;
    regions_with_org(f, org, &t);
    narrow(&n->orgs_fit, &t);
}

/* The usual body, read without a malloc (json_reader.h): it accepts a
 * subset of what jansson does, with the same meaning. */
static void names_from_reader(const api_front *f, const jr_value *root,
                              body_names *n)
{
    names_init(f, n);
    if (!root || root->type != JR_OBJECT)
        return;
    n->object = true;
    const jr_value *v = jr_get(root, "region");
    n->region_given = v != NULL;
    n->region = v && v->type == JR_STRING ? v->u.s : NULL;
    v = jr_get(root, "to");
    n->to = v && v->type == JR_STRING ? v->u.s : NULL;
    v = jr_get(root, "orgs");
    if (v && v->type == JR_ARRAY) {
        n->orgs = v->len;
        for (const jr_value *o = v->u.first; o; o = o->next)
            if (o->type == JR_STRING)
                names_org(f, n, o->u.s);
    }
    const jr_value *client = jr_get(root, "client");
    if (client && client->type == JR_OBJECT) {
        v = jr_get(client, "key");
        n->client_key = v && v->type == JR_STRING ? v->u.s : NULL;
        n->client_hetu = jr_get(client, "hetu") != NULL;
    }
}

/* Any other body jansson takes (a duplicate key, the last one counting). */
static void names_from_jansson(const api_front *f, json_t *root, body_names *n)
{
    names_init(f, n);
    if (!json_is_object(root))
        return;
    n->object = true;
    json_t *v = json_object_get(root, "region");
    n->region_given = v != NULL;
    n->region = json_string_value(v);
    n->to = json_string_value(json_object_get(root, "to"));
    json_t *orgs = json_object_get(root, "orgs"), *o;
    size_t i;
    n->orgs = json_array_size(orgs);
    json_array_foreach(orgs, i, o)
    {
        if (json_is_string(o))
            names_org(f, n, json_string_value(o));
    }
    json_t *client = json_object_get(root, "client");
    n->client_key = json_string_value(json_object_get(client, "key"));
    n->client_hetu = json_object_get(client, "hetu") != NULL;
}

/* Narrows s by the body's destination (to, orgs) and client key. */
static void narrow_by_body(const api_front *f, const body_names *body,
                           region_set *s, const char **hetu_only)
{
    region_set t;
    if (body->to) {
        regions_with_org(f, body->to, &t);
        narrow(s, &t);
    }
    narrow(s, &body->orgs_fit);
    uint8_t key[16];
    if (body->client_key &&
        polku_client_key_parse(body->client_key, key) == POLKU_OK) {
        regions_knowing(f, key, true, &t);
        narrow(s, &t);
    }
    if (body->client_hetu)
        *hetu_only = "an identity code fits every region";
}

static void route_create(api_front *f, polku_http_req *req,
                         const body_names *body)
{
    region_set s;
    set_all(f, &s);
    const char *why = NULL;
    narrow_by_body(f, body, &s, &why);
    if (s.count == 1) {
        dispatch(f, first_of(&s), req);
        return;
    }
    char names[512], msg[700];
    names_of(f, &s, names, sizeof names);
    region_set with_to;
    if (body->to)
        regions_with_org(f, body->to, &with_to);
    if (body->to && with_to.count > 1)
        snprintf(msg, sizeof msg,
                 "'%s' is an organisation in regions %s: give \"region\"",
                 body->to, names);
    else if (body->orgs > 0)
        snprintf(msg, sizeof msg,
                 "the organisations named are in regions %s: give "
                 "\"region\"",
                 names);
    else
        snprintf(msg, sizeof msg,
                 "this agent serves regions %s and %s: give \"region\"", names,
                 why ? why : "the request does not say which");
    respond_region_error(req, "region_required", msg);
}

/* ---- the path: which {id} or {key} it names ---- */

/* The 16 bytes of the path's segment after prefix (an id of 26 or a key of
 * 32 characters); false when there is none. */
static bool named_in_path(const char *path, uint8_t out[16], bool *is_key)
{
    static const char *const prefixes[] = {
        "/v1/referrals/", "/v1/handovers/", "/v1/consents/", "/v1/overrides/",
        "/fhir/Task/",    "/v1/paths/",     "/v1/clients/",  NULL};
    for (size_t i = 0; prefixes[i]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], n) != 0)
            continue;
        const char *seg = path + n;
        size_t len = strcspn(seg, "/");
        char text[40];
        if (len == 0 || len >= sizeof text)
            return false;
        snprintf(text, sizeof text, "%.*s", (int)len, seg);
        if (len == 32 && polku_client_key_parse(text, out) == POLKU_OK) {
            *is_key = true;
            return true;
        }
        polku_id id;
        if (len == POLKU_ID_TEXT - 1 && polku_id_parse(text, &id) == POLKU_OK) {
            memcpy(out, id.b, 16);
            *is_key = false;
            return true;
        }
        return false;
    }
    return false;
}

static bool is_list(const char *method, const char *path)
{
    return strcmp(method, "GET") == 0 && (strcmp(path, "/v1/referrals") == 0 ||
                                          strcmp(path, "/v1/handovers") == 0 ||
                                          strcmp(path, "/v1/paths") == 0 ||
                                          strcmp(path, "/v1/consents") == 0);
}

static bool is_create(const char *method, const char *path)
{
    return strcmp(method, "POST") == 0 &&
           (strcmp(path, "/v1/referrals") == 0 ||
            strcmp(path, "/v1/consents") == 0 ||
            strcmp(path, "/v1/paths") == 0 ||
            strcmp(path, "/v1/handovers") == 0 ||
            strcmp(path, "/v1/clients/access") == 0);
}

/* What is one region's alone and names nothing that picks it: the event
 * stream, a store's reconcile notes and log chain, the FHIR searches, a
 * FHIR Task create and a batch of referrals (committed in one region's
 * store). Without ?region= they are refused rather than
 * answered for one region as if it were all. */
static bool per_region(const char *method, const char *path)
{
    static const char *const gets[] = {"/v1/events",     "/v1/reconcile",
                                       "/v1/log/verify", "/fhir/Task",
                                       "/fhir/Consent",  NULL};
    if (strcmp(method, "POST") == 0) /* a batch's items: one region's */
        return strcmp(path, "/fhir/Task") == 0 ||
               strcmp(path, "/v1/referrals/batch") == 0;
    for (size_t i = 0; gets[i]; i++)
        if (strcmp(method, "GET") == 0 && strcmp(path, gets[i]) == 0)
            return true;
    return false;
}

/* Without a region named: what the request names decides. */
static void route_implicit(api_front *f, polku_http_req *req,
                           const body_names *body)
{
    const char *method = polku_http_method(req);
    char path[256];
    snprintf(path, sizeof path, "%s", polku_http_path(req));
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        path[len - 1] = '\0';
    uint8_t bytes[16];
    bool is_key = false;
    const char *client = polku_http_query(req, "client");
    if (named_in_path(path, bytes, &is_key) ||
        (client && polku_client_key_parse(client, bytes) == POLKU_OK &&
         (is_key = true))) {
        region_set s;
        regions_knowing(f, bytes, is_key, &s);
        dispatch(f, s.count ? first_of(&s) : 0, req);
    } else if (is_list(method, path)) {
        merge_lists(f, req);
    } else if (is_create(method, path) && body->object) {
        route_create(f, req, body);
    } else if (per_region(method, path)) {
        char names[512], msg[700];
        names_of(f, NULL, names, sizeof names);
        snprintf(msg, sizeof msg,
                 "this agent serves regions %s, each with a log and store of "
                 "its own: give ?region=NAME (polku --region NAME)",
                 names);
        respond_region_error(req, "region_required", msg);
    } else {
        dispatch(f, 0, req); /* health, metrics, the documents */
    }
}

static size_t region_index(const api_front *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->apis[i]->region, name) == 0)
            return i;
    return f->n;
}

void api_front_handle(api_front *f, polku_http_req *req)
{
    const char *asked = polku_http_query(req, "region");
    const char *path = polku_http_path(req);
    if (strncmp(path, "/fhir", 5) == 0 && (path[5] == '/' || !path[5]))
        api_fhir_style(req); /* the front's refusals too */
    body_names body;
    names_init(f, &body);
    jr_doc doc;
    bool read = false;
    json_t *other = NULL;
    if (strcmp(polku_http_method(req), "POST") == 0) {
        size_t len = 0;
        const char *data = polku_http_body(req, &len);
        /* one region: the body is read again only if it names one */
        if (data && len &&
            (f->n > 1 || memmem(data, len, "\"region\"", 8) != NULL)) {
            read = true;
            if (jr_parse(&doc, data, len))
                names_from_reader(f, doc.root, &body);
            else if ((other = json_loadb(data, len, 0, NULL)) != NULL)
                names_from_jansson(f, other, &body);
        }
    }
    const char *named = asked;
    if (body.region_given && !body.region) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "'region' must be a region's name");
    } else if (asked && body.region && strcmp(asked, body.region) != 0) {
        polku_http_respond_error(req, 400, "bad_request",
                                 "?region= and the body's \"region\" differ");
    } else if ((named = asked ? asked : body.region) != NULL &&
               region_index(f, named) == f->n) {
        char names[512], msg[700];
        names_of(f, NULL, names, sizeof names);
        snprintf(msg, sizeof msg,
                 "no region '%.40s' here: this agent serves %s", named, names);
        respond_region_error(req, "unknown_region", msg);
    } else if (f->n > 1 && strcmp(path, "/metrics") == 0 &&
               strcmp(polku_http_method(req), "GET") == 0 &&
               authorised(f, req)) {
        metrics(f, req, named ? region_index(f, named) : f->n);
    } else if (named) {
        dispatch(f, region_index(f, named), req);
    } else if (f->n > 1 && strcmp(path, "/healthz") == 0 &&
               strcmp(polku_http_method(req), "GET") == 0) {
        health(f, req); /* public, as the one region's */
    } else if (f->n == 1 || !authorised(f, req)) {
        dispatch(f, 0, req); /* it answers 401 where a token is needed */
    } else {
        route_implicit(f, req, &body);
    }
    if (read)
        jr_doc_fini(&doc);
    json_decref(other);
}

static void on_request(polku_http_req *req, void *arg)
{
    api_front_handle(arg, req);
}

int api_front_start(api_front *f, uv_loop_t *loop, const agent_config *cfg,
                    agent_api **apis, size_t n)
{
    f->apis = apis;
    f->n = n < MAX_REGIONS ? n : MAX_REGIONS;
    f->cfg = cfg;
    int rc = polku_http_start(loop, cfg->http, cfg->max_body, on_request, f,
                              &f->http);
    if (rc)
        log_error("cannot serve the API on %s: %s", cfg->http,
                  polku_strerror(rc));
    for (size_t i = 0; i < f->n && !rc; i++)
        apis[i]->http = f->http;
    return rc;
}

void api_front_stop(api_front *f)
{
    for (size_t i = 0; i < f->n; i++)
        api_stop_streams(f->apis[i]);
    polku_http_stop(&f->http); /* answers the waiting requests too */
    for (size_t i = 0; i < f->n; i++) {
        f->apis[i]->http = NULL;
        api_stop(f->apis[i]);
    }
}
