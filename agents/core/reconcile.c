/* reconcile.c — notes of what a restored store lost (see reconcile.h). */
#include "reconcile.h"

#include <string.h>

#include "polku/error.h"

enum { KEY_REPAIR = 'R', KEY_UNKNOWN = 'U' };

int reconcile_note_repair(store *st, MDB_txn *txn,
                          const eventlog_repair_result *res, uint64_t through,
                          uint64_t new_incarnation, const char *told_by,
                          uint64_t now_ms)
{
    Polku__ReconcileRecord r = POLKU__RECONCILE_RECORD__INIT;
    r.kind = "repair";
    r.at_ms = r.last_ms = now_ms;
    r.from_seq = res->from_seq;
    r.through_seq = through;
    r.old_incarnation = res->old_incarnation;
    r.new_incarnation = new_incarnation;
    r.told_by = (char *)told_by;
    r.resent = res->reemitted;
    uint8_t key[9] = {KEY_REPAIR};
    store_seq_key(new_incarnation, key + 1);
    return store_reconcile_put(st, txn, key, sizeof key, &r);
}

const char *reconcile_object_kind(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return "referral";
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return "handover";
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return "consent";
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return "path";
    default:
        return NULL;
    }
}

int reconcile_note_unknown(store *st, MDB_txn *txn, const polku_envelope *env,
                           uint64_t now_ms)
{
    const char *kind = reconcile_object_kind(env);
    uint8_t key[17] = {KEY_UNKNOWN};
    if (!kind)
        return POLKU_OK;
    if (env->body_case == POLKU__ENVELOPE__BODY_PLAN_UPDATED) {
        if (env->client_key.len != 16)
            return POLKU_OK;
        memcpy(key + 1, env->client_key.data, 16); /* a path: its client */
    } else if (!polku_event_object_id(env, key + 1)) {
        return POLKU_OK;
    }
    Polku__ReconcileRecord *old = NULL;
    int rc = store_reconcile_get(st, txn, key, sizeof key, &old);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    Polku__ReconcileRecord r = POLKU__RECONCILE_RECORD__INIT;
    r.kind = "unknown";
    r.at_ms = old ? old->at_ms : now_ms;
    r.last_ms = now_ms;
    r.object_id = (ProtobufCBinaryData){16, key + 1};
    r.object_kind = (char *)kind;
    r.from_org = env->origin_org;
    r.event = (char *)polku_body_name(env->body_case);
    r.origin_seq = env->origin_seq;
    r.seen = (old ? old->seen : 0) + 1;
    rc = store_reconcile_put(st, txn, key, sizeof key, &r);
    if (old)
        polku__reconcile_record__free_unpacked(old, NULL);
    return rc;
}
