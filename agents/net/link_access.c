/* link_access.c — this organisation's part of a client's network access
 * report.
 *
 * The broker passes on an AccessQuery from another organisation of the
 * client's consent scope (asker, set by the broker from its CURVE
 * identity). The agent checks the asker too — an active consent of the
 * client naming both — and answers from its own log only (access.h): an
 * AccessAnswer to the asker, through the broker. Nothing is stored. */
#include "link_access.h"

#include <string.h>

#include "access.h"
#include "polku/error.h"
#include "polku/log.h"

typedef struct access_read {
    broker_link *l;
    const polku_envelope *query;
    Polku__AccessAnswer *ans;
    bool in_scope;
} access_read;

static int read_log(MDB_txn *txn, void *ctx)
{
    access_read *r = ctx;
    const polku_envelope *q = r->query;
    r->in_scope = access_asker_in_scope(r->l->d, txn, q->client_key.data,
                                        q->access_query->asker);
    if (!r->in_scope)
        return POLKU_OK;
    return access_collect(r->l->d, txn, q->client_key.data, r->ans);
}

void link_answer_access(broker_link *l, const polku_envelope *q)
{
    const char *asker = q->access_query->asker;
    if (q->client_key.len != 16 || !asker[0] || strcmp(asker, l->cfg->org) == 0)
        return;
    Polku__AccessAnswer ans = POLKU__ACCESS_ANSWER__INIT;
    access_read r = {l, q, &ans, false};
    int rc = batch_read(l->d->b, read_log, &r);
    ans.query_id = q->access_query->query_id;
    ans.from_org = (char *)l->cfg->org;
    if (rc) {
        ans.status = 500;
        ans.error_code = "store_error";
    } else if (!r.in_scope) {
        ans.status = 403;
        ans.error_code = "consent_required";
    } else {
        ans.status = 200;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    char *to[1] = {(char *)asker};
    env.n_to = 1;
    env.to = to;
    env.client_key = q->client_key;
    env.body_case = POLKU__ENVELOPE__BODY_ACCESS_ANSWER;
    env.access_answer = &ans;
    if (link_send_envelope(l, &env))
        link_warn(l, "access report for %s: the answer could not be sent",
                  asker);
    else
        link_info(l, "access report: answered %s with %zu events%s", asker,
                  ans.n_entries,
                  ans.status == 403 ? " (refused: no consent "
                                      "names it with us)"
                                    : "");
    access_entries_free(&ans);
}
