/* api_reply.c — running a call's item or read, and answering it.
 *
 * A write runs as a batch item and its answer waits for the commit (so
 * the caller never hears "done" of something that is not durable: if the
 * batch fails to commit, the caller gets 507 instead). A read answers at
 * once. An item that fails is answered from its result: a domain refusal
 * or a polku_err, through api_errors.c's tables. */
#include <stdlib.h>

#include "api_call.h"
#include "polku/error.h"

typedef struct reply {
    polku_http_req *req;
    unsigned status;
    json_t *json;
    char *text; /* or JSON text already written */
    size_t len;
} reply;

static void reply_send(void *arg, bool committed)
{
    reply *r = arg;
    if (committed && r->text) {
        polku_http_respond(r->req, r->status, "application/json", r->text,
                           r->len);
    } else if (committed) {
        polku_http_respond_json(r->req, r->status, r->json);
        r->json = NULL; /* taken by the response */
    } else {
        polku_http_respond_error(r->req, 507, "store_full",
                                 "the store could not save this; nothing "
                                 "was changed, try again");
    }
}

static void reply_free(void *arg)
{
    reply *r = arg;
    json_decref(r->json);
    free(r->text);
    free(r);
}

void api_after_reply(agent_api *api, polku_http_req *req, unsigned status,
                     json_t *json)
{
    reply *r = malloc(sizeof *r);
    if (!r) {
        json_decref(json);
        return; /* the item goes on; the server answers 500 at its end */
    }
    *r = (reply){req, status, json, NULL, 0};
    batch_after(api->d->b, reply_send, r, reply_free);
}

void api_after_reply_text(agent_api *api, polku_http_req *req, unsigned status,
                          char *text, size_t len)
{
    reply *r = malloc(sizeof *r);
    if (!r) {
        free(text);
        return; /* as api_after_reply */
    }
    *r = (reply){req, status, NULL, text, len};
    batch_after(api->d->b, reply_send, r, reply_free);
}

static void answer_failure(api_call *c, int rc)
{
    if (rc == POLKU_EREFUSED)
        api_respond_refusal(c->req, &c->why);
    else
        api_respond_err(c->req, c->object, rc);
}

void api_run(agent_api *api, api_call *c, batch_item_fn fn)
{
    int rc = batch_run_item(api->d->b, fn, c);
    if (rc)
        answer_failure(c, rc);
}

void api_run_read(agent_api *api, api_call *c, batch_item_fn fn)
{
    int rc = batch_read(api->d->b, fn, c);
    if (rc)
        answer_failure(c, rc);
}
