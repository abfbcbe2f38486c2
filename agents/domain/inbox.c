/* inbox.c — receipts, the body table, acks and nacks (see inbox.h). */
#include "inbox.h"

#include <string.h>

#include "consents.h"
#include "handovers.h"
#include "paths.h"
#include "polku/error.h"
#include "polku/log.h"
#include "reconcile.h"
#include "referrals.h"

typedef int (*inbox_apply_fn)(domain *d, MDB_txn *txn,
                              const polku_envelope *env);

/* Another organisation's store went back in time and asks for what this
 * log addressed to it (eventlog_resend). */
static int resend_asked(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    uint64_t queued = 0;
    int rc = eventlog_resend(d->log, txn, env->origin_org,
                             env->resend_requested->from_seq, &queued);
    if (!rc)
        batch_after_log(d->b, POLKU_LOG_WARN,
                        "%s's store went back in time and asks again for "
                        "what was sent to it from seq %llu on: %llu events "
                        "owed to it again",
                        env->origin_org,
                        (unsigned long long)env->resend_requested->from_seq,
                        (unsigned long long)queued);
    return rc;
}

/* Which module applies which event from another organisation. Anything
 * else is not for an agent: acknowledged, ignored. */
static const struct {
    Polku__Envelope__BodyCase body;
    inbox_apply_fn apply;
} appliers[] = {
    {POLKU__ENVELOPE__BODY_CONSENT_GRANTED, consents_apply_inbound},
    {POLKU__ENVELOPE__BODY_CONSENT_REVOKED, consents_apply_inbound},
    {POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED, referrals_apply_inbound},
    {POLKU__ENVELOPE__BODY_REFERRAL_STATUS, referrals_apply_inbound},
    {POLKU__ENVELOPE__BODY_CANCEL_REQUESTED, referrals_apply_inbound},
    {POLKU__ENVELOPE__BODY_HANDOVER_OFFERED, handovers_apply_inbound},
    {POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED, handovers_apply_inbound},
    {POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED, handovers_apply_inbound},
    {POLKU__ENVELOPE__BODY_PLAN_UPDATED, paths_apply_inbound},
    {POLKU__ENVELOPE__BODY_RESEND_REQUESTED, resend_asked},
};

static int apply(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    for (size_t i = 0; i < sizeof appliers / sizeof appliers[0]; i++)
        if (appliers[i].body == env->body_case)
            return appliers[i].apply(d, txn, env);
    return POLKU_EINVAL;
}

int inbox_event(domain *d, MDB_txn *txn, const polku_envelope *env,
                inbox_outcome *outcome)
{
    store_receipt receipt = STORE_RECEIPT_NEW;
    int rc = store_receipt_add(
        d->st, txn, env->origin_org, env->origin_seq, domain_now(d),
        env->msg_id.len == 16 ? env->msg_id.data : NULL, &receipt);
    if (rc)
        return rc;
    if (receipt != STORE_RECEIPT_NEW) {
        *outcome = receipt == STORE_RECEIPT_CONFLICT ? INBOX_CONFLICT
                                                     : INBOX_DUPLICATE;
        return POLKU_OK;
    }
    rc = apply(d, txn, env);
    if (rc == POLKU_EFULL || rc == POLKU_ESTORE || rc == POLKU_ENOMEM ||
        rc == POLKU_EAGAIN) /* EAGAIN: sealed to a key not held yet */
        return rc;          /* not acked: the sender retries */
    /* about an object this store does not hold: made while a restored
     * store's copy was old, most likely; the operator's to look up */
    if (rc == POLKU_ENOTFOUND) {
        int nrc = reconcile_note_unknown(d->st, txn, env, domain_now(d));
        if (nrc)
            return nrc;
    }
    *outcome = rc ? INBOX_NOT_APPLICABLE : INBOX_APPLIED;
    if (rc)
        log_warn("event %s/%llu (%s) not applicable: %s; acknowledged",
                 env->origin_org, (unsigned long long)env->origin_seq,
                 polku_body_name(env->body_case), polku_strerror(rc));
    return POLKU_OK;
}

int inbox_ack(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__Ack *ack = env->ack;
    if (strcmp(ack->origin_org, d->org) != 0)
        return POLKU_EINVAL;
    int rc =
        eventlog_acknowledged(d->log, txn, ack->origin_seq, env->origin_org);
    return rc == POLKU_ENOTFOUND ? POLKU_OK : rc; /* a repeated ack */
}

int inbox_undeliverable(domain *d, MDB_txn *txn, const Polku__Nack *nack)
{
    size_t len = 0;
    const uint8_t *frame =
        outbox_find(d->log->ob, nack->origin_seq, nack->dest_org, &len);
    if (!frame)
        return POLKU_ENOTFOUND;
    polku_envelope *env = NULL;
    char why[64];
    /* decoded before the entry goes: the frame lives in the outbox until
     * the commit */
    if (polku_envelope_decode(frame, len, POLKU_MAX_FRAME_DEFAULT, &env, why,
                              sizeof why))
        env = NULL; /* our own frame: cannot happen */
    int rc =
        eventlog_acknowledged(d->log, txn, nack->origin_seq, nack->dest_org);
    if (rc || !env) {
        polku_envelope_free(&env);
        return rc;
    }
    const char *code = polku_nack_code_name(nack->code);
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        rc = referrals_undeliverable(d, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        rc = handovers_undeliverable(d, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        rc = paths_undeliverable(d, txn, env, code);
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        rc = consents_undeliverable(d, txn, env, nack->dest_org, code);
        break;
    default:
        log_warn("%s %llu to %s refused: %s", polku_body_name(env->body_case),
                 (unsigned long long)nack->origin_seq,
                 nack->dest_org[0] ? nack->dest_org : "the broker", code);
        break;
    }
    polku_envelope_free(&env);
    return rc;
}

int inbox_claim_answered(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    return paths_claim_answered(d, txn, env);
}
