/* api_claims.c — POST /v1/paths requests waiting for the broker's decision.
 *
 * The broker arbitrates between organisations claiming the same client;
 * its answer is written into this agent's log (paths_claim_answered) and
 * only then does the caller hear it. A claim request waits here, up to
 * 5 s, from the commit of its claim until the domain says the claim was
 * decided (api_claim_decided, inside the item that recorded the answer;
 * the reply goes after that commit). Past the deadline the caller gets 202
 * pending: the claim stays queued and is decided when the broker answers. */
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "polku/clock.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "render.h"

#define CLAIM_WAIT_MS 5000

typedef struct api_claim_waiter {
    uint8_t claim_id[16];
    uint8_t client_key[16];
    polku_http_req *req;
    uint64_t deadline_ms; /* monotonic */
} api_claim_waiter;

typedef struct pending_wait {
    agent_api *api;
    polku_http_req *req;
    uint8_t claim_id[16], client_key[16];
} pending_wait;

static void add_waiter(agent_api *api, const pending_wait *p)
{
    if (api->n_waiters == api->cap_waiters) {
        size_t cap = api->cap_waiters ? 2 * api->cap_waiters : 16;
        api_claim_waiter *w = realloc(api->waiters, cap * sizeof *w);
        if (!w) {
            polku_http_respond_error(p->req, 503, "overloaded",
                                     "out of memory; the claim is queued");
            return;
        }
        api->waiters = w;
        api->cap_waiters = cap;
    }
    api_claim_waiter *w = &api->waiters[api->n_waiters++];
    memcpy(w->claim_id, p->claim_id, 16);
    memcpy(w->client_key, p->client_key, 16);
    w->req = p->req;
    w->deadline_ms = polku_mono_ms() + CLAIM_WAIT_MS;
}

static void start_waiting(void *arg, bool committed)
{
    pending_wait *p = arg;
    if (committed)
        add_waiter(p->api, p);
    else
        polku_http_respond_error(p->req, 507, "store_full",
                                 "the store could not save this; nothing "
                                 "was changed, try again");
}

void api_after_wait_claim(agent_api *api, polku_http_req *req,
                          const uint8_t claim_id[16],
                          const uint8_t client_key[16])
{
    pending_wait *p = malloc(sizeof *p);
    if (!p) {
        polku_http_respond_error(req, 503, "overloaded",
                                 "out of memory; the claim is queued");
        return;
    }
    p->api = api;
    p->req = req;
    memcpy(p->claim_id, claim_id, 16);
    memcpy(p->client_key, client_key, 16);
    batch_after(api->d->b, start_waiting, p, free);
}

void api_claim_decided(void *arg, const Polku__PathRecord *p)
{
    agent_api *api = arg;
    if (p->claim_id.len != 16)
        return;
    unsigned status = 0;
    json_t *reply = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < api->n_waiters; i++) {
        api_claim_waiter *w = &api->waiters[i];
        if (memcmp(w->claim_id, p->claim_id.data, 16) != 0) {
            api->waiters[kept++] = *w;
            continue;
        }
        if (!reply)
            reply = render_claim_reply(api->d, p, &status);
        api_after_reply(api, w->req, status, json_deep_copy(reply));
    }
    api->n_waiters = kept;
    json_decref(reply);
}

void api_claims_expire(agent_api *api, uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < api->n_waiters; i++) {
        api_claim_waiter *w = &api->waiters[i];
        if (now < w->deadline_ms) {
            api->waiters[kept++] = *w;
            continue;
        }
        char idtext[POLKU_ID_TEXT], key[33];
        polku_id_text(w->claim_id, idtext);
        polku_client_key_hex(w->client_key, key);
        polku_http_respond_json(
            w->req, 202,
            json_pack("{s:s, s:s, s:s, s:s}", "status", "pending", "claim_id",
                      idtext, "client_key", key, "message",
                      "the broker has not answered yet; the claim stays "
                      "queued and is decided when it does"));
    }
    api->n_waiters = kept;
}

void api_claims_fini(agent_api *api)
{
    free(api->waiters); /* polku_http_stop answered the requests */
    api->waiters = NULL;
    api->n_waiters = api->cap_waiters = 0;
}
