/* api_referral_batch.c — POST /v1/referrals/batch: many referrals in one
 * request.
 *
 * An integrator that sends referrals by the hundred pays for one request
 * instead of hundreds. Each item is handled exactly as POST /v1/referrals
 * handles its body: it is handed to api_referral_create as a request of
 * its own that did not come over a socket (polku_http_local_req), so the
 * validation, the consent gate, the domain call, the errors and the 201
 * are the single create's, word for word. The items run in the batch that
 * is open now, so the accepted ones are committed in one LMDB transaction
 * (and a refused one changes nothing: it ran in a nested transaction that
 * was dropped). The answer is queued behind the items' own answers and
 * sent once they are durable: for each item its index, the status and the
 * body POST /v1/referrals would have answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "json_reader.h"
#include "polku/json_writer.h"
#include "polku/error.h"

#define BATCH_MAX_ITEMS 1000

typedef struct batch_call {
    polku_http_req *req;
    size_t n;
    polku_http_local out[]; /* each item's answer */
} batch_call;

static void batch_call_free(batch_call *bc)
{
    for (size_t i = 0; i < bc->n; i++)
        free(bc->out[i].body);
    free(bc);
}

/* Runs once every item has its answer (after the commit, when one did
 * not fail): {"count", "created", "failed", "results": [{"index",
 * "status", "body"}]}. */
static void batch_send(void *arg, bool committed)
{
    (void)committed; /* each item's answer already says (507) */
    batch_call *bc = arg;
    size_t created = 0;
    for (size_t i = 0; i < bc->n; i++)
        created += bc->out[i].status == 201;
    jw w;
    jw_init(&w);
    jw_begin_object(&w);
    jw_key(&w, "count");
    jw_int(&w, (long long)bc->n);
    jw_key(&w, "created");
    jw_int(&w, (long long)created);
    jw_key(&w, "failed");
    jw_int(&w, (long long)(bc->n - created));
    jw_key(&w, "results");
    jw_begin_array(&w);
    for (size_t i = 0; i < bc->n; i++) {
        const polku_http_local *o = &bc->out[i];
        jw_begin_object(&w);
        jw_key(&w, "index");
        jw_int(&w, (long long)i);
        jw_key(&w, "status");
        jw_int(&w, o->status ? (long long)o->status : 500);
        jw_key(&w, "body");
        if (o->status && o->body && o->len)
            jw_raw(&w, o->body, o->len);
        else
            jw_raw(&w,
                   "{\"error\":{\"code\":\"internal\",\"message\":\"this "
                   "item was not answered\"}}",
                   sizeof "{\"error\":{\"code\":\"internal\",\"message\":"
                          "\"this item was not answered\"}}" -
                       1);
        jw_end_object(&w);
    }
    jw_end_array(&w);
    jw_end_object(&w);
    size_t len = 0;
    char *text = jw_take(&w, &len);
    if (text)
        polku_http_respond(bc->req, 200, "application/json", text, len);
    else
        polku_http_respond_error(bc->req, 500, "internal", "out of memory");
    free(text);
    batch_call_free(bc);
}

/* The body's "referrals", or NULL after answering what is wrong. */
static const jr_value *batch_items(api_call *c, const jr_doc *doc, bool parsed)
{
    char msg[160];
    if (!parsed) {
        /* jansson's words for what is wrong, as every other route */
        if (api_parse_body(c) == 0)
            polku_http_respond_error(c->req, 400, "invalid_json",
                                     "invalid JSON");
        return NULL;
    }
    if (doc->root->type != JR_OBJECT) {
        polku_http_respond_error(c->req, 400, "invalid_json",
                                 "the body must be a JSON object");
        return NULL;
    }
    const jr_value *list = jr_get(doc->root, "referrals");
    if (!list || list->type != JR_ARRAY || list->len == 0) {
        snprintf(msg, sizeof msg,
                 "'referrals' must be an array of 1 to %d create requests "
                 "(bodies of POST /v1/referrals)",
                 BATCH_MAX_ITEMS);
        polku_http_respond_error(c->req, 400, "bad_request", msg);
        return NULL;
    }
    if (list->len > BATCH_MAX_ITEMS) {
        snprintf(msg, sizeof msg,
                 "a batch holds at most %d referrals; this one has %zu: "
                 "send it in parts",
                 BATCH_MAX_ITEMS, list->len);
        polku_http_respond_error(c->req, 413, "too_large", msg);
        return NULL;
    }
    return list;
}

void api_referral_batch(agent_api *api, api_call *c)
{
    size_t len = 0;
    const char *data = polku_http_body(c->req, &len);
    jr_doc doc;
    bool parsed = jr_parse(&doc, data ? data : "", len);
    const jr_value *list = batch_items(c, &doc, parsed);
    batch_call *bc =
        list ? calloc(1, sizeof *bc + list->len * sizeof bc->out[0]) : NULL;
    if (list && !bc)
        polku_http_respond_error(c->req, 500, "internal", "out of memory");
    if (!bc) {
        jr_doc_fini(&doc);
        return;
    }
    bc->req = c->req;
    bc->n = list->len;
    size_t i = 0;
    for (const jr_value *item = list->u.first; item; item = item->next, i++) {
        polku_http_req *one =
            polku_http_local_req("POST", "/v1/referrals", NULL, NULL, item->src,
                                 item->src_len, &bc->out[i]);
        if (!one)
            continue; /* answered as not answered (500) */
        api_call ic = {.api = api, .req = one, .object = API_REFERRAL};
        api_referral_create(api, &ic);
        json_decref(ic.body);
    }
    jr_doc_fini(&doc);
    batch *b = api->d->b;
    if (!b->txn) { /* nothing was accepted: nothing to wait for */
        batch_send(bc, true);
        return;
    }
    /* behind the accepted items' answers, so after the commit; freed by
     * batch_send itself */
    if (batch_after(b, batch_send, bc, NULL) != POLKU_OK)
        polku_http_respond_error(c->req, 500, "internal", "out of memory");
    /* then bc is left to the items' answers still to come (not freed) */
}
