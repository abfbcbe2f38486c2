/* api_log.c — GET /v1/log/verify: walk this organisation's hash-chained
 * event log against the head the others hold.
 *
 * The same walk as `polku log verify --config` (core/logchain.h), in a
 * read transaction beside the agent's writes, so an operator (or a
 * monitoring job) can ask a running agent whether its store still holds
 * what it said. 200 either way; "ok" and "bad_seq" say which. */
#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "api_call.h"
#include "api_state.h"
#include "logchain.h"
#include "polku/error.h"

static int item_verify(MDB_txn *txn, void *ctx)
{
    api_call *c = ctx;
    agent_api *api = c->api;
    uint8_t secret[32], pk[POLKU_SIGN_PK], sk[POLKU_SIGN_SK];
    bool have_pk = zmq_z85_decode(secret, api->cfg->key.secret_z85) != NULL;
    if (have_pk)
        polku_sign_keypair(secret, pk, sk);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(sk, sizeof sk);
    logchain_report r;
    int rc =
        logchain_verify(api->d->st, txn, api->d->org, have_pk ? pk : NULL, &r);
    if (rc)
        return rc;
    json_t *head = json_null();
    if (r.head_held) {
        char hash[2 * POLKU_CHAIN_HASH + 1], inc[17];
        polku_chain_hex(r.head.hash, POLKU_CHAIN_HASH, hash);
        snprintf(inc, sizeof inc, "%016llx",
                 (unsigned long long)r.head.incarnation);
        head = json_pack("{s:I, s:s, s:s, s:b, s:b, s:b}", "seq",
                         (json_int_t)r.head.seq, "hash", hash, "incarnation",
                         inc, "signature_ok", r.head_signature, "matches",
                         r.head_matches, "other_incarnation", r.head_skipped);
    }
    api_after_reply(
        api, c->req, 200,
        json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:o}", "org",
                  api->d->org, "ok", r.bad_seq == 0, "chain_from",
                  (json_int_t)r.chain_from, "last_seq", (json_int_t)r.last_seq,
                  "checked", (json_int_t)r.checked, "bad_seq",
                  (json_int_t)r.bad_seq, "problem", r.problem, "head", head));
    return POLKU_OK;
}

void api_log_verify(agent_api *api, api_call *c)
{
    api_run_read(api, c, item_verify);
}
