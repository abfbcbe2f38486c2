/* api_reconcile.c — GET /v1/reconcile: what this store knows it lost.
 *
 * After a restore from an older copy (a backup, a VM snapshot) the store
 * lacks what happened between the copy and the restore. The repairs of its
 * log (which sequences others hold and it does not, what it sent again)
 * and the objects others wrote about that it does not hold are its notes
 * (core/reconcile.h); this lists them for the operator, who settles them
 * with the organisations named (`polku reconcile`). */
#include <string.h>

#include "api_call.h"
#include "api_state.h"
#include "polku/error.h"
#include "render.h"

typedef struct reconcile_list {
    json_t *repairs, *unknown;
} reconcile_list;

static int add_note(void *arg, const Polku__ReconcileRecord *r)
{
    reconcile_list *l = arg;
    json_t *j = render_reconcile_note(r);
    if (!j)
        return POLKU_OK; /* a note without its object id: nothing to show */
    json_array_append_new(strcmp(r->kind, "repair") == 0 ? l->repairs
                                                         : l->unknown,
                          j);
    return POLKU_OK;
}

static int item_reconcile(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    reconcile_list l = {json_array(), json_array()};
    int rc = store_each_reconcile(api->d->st, txn, add_note, &l);
    if (rc) {
        json_decref(l.repairs);
        json_decref(l.unknown);
        return rc;
    }
    char incarnation[17];
    snprintf(incarnation, sizeof incarnation, "%016llx",
             (unsigned long long)api->d->log->incarnation);
    api_after_reply(
        api, c->req, 200,
        json_pack("{s:s, s:s, s:I, s:b, s:o, s:o}", "org", api->d->org,
                  "incarnation", incarnation, "last_seq",
                  (json_int_t)api->d->b->committed_seq, "resend_pending",
                  api->d->log->resend_needed, "repairs", l.repairs, "unknown",
                  l.unknown));
    return POLKU_OK;
}

void api_reconcile_show(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_reconcile);
}
