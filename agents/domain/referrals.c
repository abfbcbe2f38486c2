/* referrals.c — creating, receiving and moving referrals on (see .h). */
#include "referrals.h"

#include "consents.h"
#include "records.h"
#include "rules.h"
#include "sealing.h"

#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "polku/seal.h"

static char *dup_text(const char *s)
{
    return strdup(s ? s : "");
}

/* Appends a history entry (copies strings); record owns it. */
static int history_add(Polku__ReferralRecord *r, polku_referral_state st,
                       uint64_t at, const char *by, const char *reason,
                       const char *outcome, uint32_t version)
{
    Polku__HistoryEntry *h = malloc(sizeof *h);
    Polku__HistoryEntry **list =
        realloc(r->history, (r->n_history + 1) * sizeof *list);
    if (!h || !list) {
        free(h);
        if (list)
            r->history = list;
        return POLKU_ENOMEM;
    }
    r->history = list;
    polku__history_entry__init(h);
    h->status = st;
    h->at_ms = at;
    h->by = dup_text(by);
    h->reason = dup_text(reason);
    h->outcome = dup_text(outcome);
    h->version = version;
    /* keep the list ordered by version: resends may arrive late */
    size_t pos = r->n_history;
    while (pos > 0 && r->history[pos - 1]->version > version)
        pos--;
    memmove(&r->history[pos + 1], &r->history[pos],
            (r->n_history - pos) * sizeof *list);
    r->history[pos] = h;
    r->n_history++;
    return POLKU_OK;
}

/* A record made here is freed with free_unpacked, so every string in it is
 * malloc'ed and no field points at protobuf_c_empty_string. */
static Polku__ReferralRecord *record_new(const polku_id *id)
{
    Polku__ReferralRecord *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    polku__referral_record__init(r);
    r->id.data = malloc(16);
    r->id.len = 16;
    memcpy(r->id.data, id->b, 16);
    r->client_key.data = malloc(16);
    r->client_key.len = 16;
    r->from_org = dup_text("");
    r->to_org = dup_text("");
    r->service = dup_text("");
    r->reason = dup_text("");
    r->urgency = dup_text("");
    r->outcome = dup_text("");
    return r;
}

static int emit_status(domain *d, MDB_txn *txn, Polku__ReferralRecord *r,
                       const char *dest)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReferralStatus st = POLKU__REFERRAL_STATUS__INIT;
    char *to[1] = {(char *)dest};
    env.n_to = dest ? 1 : 0;
    env.to = dest ? to : NULL;
    env.client_key = r->client_key;
    st.referral_id = r->id;
    st.status = r->status;
    st.version = r->version;
    const Polku__HistoryEntry *last = r->history[r->n_history - 1];
    st.writer_org = (char *)d->org;
    env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_STATUS;
    env.referral_status = &st;
    int rc;
    if (dest) {
        rc = sealing_seal(d->seal, dest, last->reason, last->outcome,
                          &st.sealed);
    } else {
        /* a local event (the sender's own `failed`): its reason is a
         * Nack code, not free text */
        st.reason = last->reason;
        rc = POLKU_OK;
    }
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    free(st.sealed.data);
    return rc;
}

int referrals_create(domain *d, MDB_txn *txn, const referral_new *n,
                     Polku__ReferralRecord **out)
{
    uint64_t now = domain_now(d);
    uint8_t consent_id[16];
    char recorded_by[33] = "";
    bool override = n->override.basis != NULL;
    int crc = override ? POLKU_OK
                       : consents_find_active(d, txn, n->client_key, d->org,
                                              n->to, "referral", now,
                                              consent_id, recorded_by);
    if (crc)
        return crc; /* POLKU_EFORBIDDEN: nothing stored, nothing sent */
    polku_id id = polku_id_new(now);
    Polku__ReferralRecord *r = record_new(&id);
    if (!r)
        return POLKU_ENOMEM;
    memcpy(r->client_key.data, n->client_key, 16);
    r->outgoing = true;
    int rc = record_set_text(&r->from_org, d->org);
    if (!rc)
        rc = record_set_text(&r->to_org, n->to);
    if (!rc)
        rc = record_set_text(&r->service, n->service);
    if (!rc)
        rc = record_set_text(&r->reason, n->reason);
    if (!rc)
        rc = record_set_text(&r->urgency, n->urgency);
    r->due_ms = n->due_ms;
    r->transfer = n->transfer;
    r->status = POLKU__REFERRAL_STATE__REFERRAL_REQUESTED;
    r->created_ms = r->updated_ms = now;
    if (!rc)
        rc = history_add(r, r->status, now, d->org, "", "", 0);

    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ReferralRequested req = POLKU__REFERRAL_REQUESTED__INIT;
    char *to[1] = {(char *)n->to};
    env.n_to = 1;
    env.to = to;
    env.client_key = r->client_key;
    req.referral_id = r->id;
    req.service = r->service;
    req.urgency = r->urgency;
    req.due_ms = r->due_ms;
    req.transfer = r->transfer;
    if (override) {
        r->override = overrides_record(n->override.basis, n->override.reason);
        if (!r->override)
            rc = POLKU_ENOMEM;
        req.override_basis = (char *)n->override.basis;
    } else {
        r->consent_id.data = malloc(16);
        r->consent_id.len = 16;
        memcpy(r->consent_id.data, consent_id, 16);
    }
    req.consent_id = r->consent_id;
    req.consent_recorded_by = recorded_by;
    env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    env.referral_requested = &req;
    Polku__SealedText sealed = POLKU__SEALED_TEXT__INIT;
    sealed.reason = r->reason;
    sealed.override_reason =
        (char *)(override && n->override.reason ? n->override.reason : "");
    if (!rc)
        rc = sealing_seal_text(d->seal, n->to, &sealed, &req.sealed);
    if (!rc)
        rc = store_referral_put(d->st, txn, r);
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    free(req.sealed.data);
    if (rc) {
        polku__referral_record__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return POLKU_OK;
}

static int change_status(domain *d, MDB_txn *txn, Polku__ReferralRecord *r,
                         polku_referral_state to, const char *reason,
                         const char *outcome);

/* Receiver side: a new referral arrives; `received` is written at once. */
static int on_requested(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__ReferralRequested *q = env->referral_requested;
    Polku__ReferralRecord *existing = NULL;
    if (env->client_key.len != 16)
        return POLKU_EINVAL;
    if (store_referral_get(d->st, txn, q->referral_id.data, &existing) == 0) {
        polku__referral_record__free_unpacked(existing, NULL);
        return POLKU_EEXIST;
    }
    Polku__SealedText *text = NULL;
    int urc = sealing_open(d->seal, env->origin_org, q->sealed, &text);
    if (urc && urc != POLKU_ECRYPTO)
        return urc;
    /* The broker vouches for the origin; only the content is unreadable
     * (keys rotated?). Keep the referral and fail it visibly at both ends
     * rather than drop it. */
    bool unreadable = urc == POLKU_ECRYPTO;
    polku_id id;
    memcpy(id.b, q->referral_id.data, 16);
    Polku__ReferralRecord *r = record_new(&id);
    if (!r) {
        polku__sealed_text__free_unpacked(text, NULL);
        return POLKU_ENOMEM;
    }
    uint64_t now = domain_now(d);
    memcpy(r->client_key.data, env->client_key.data, 16);
    r->outgoing = false;
    int trc = record_set_text(&r->from_org, env->origin_org);
    if (!trc)
        trc = record_set_text(&r->to_org, d->org);
    if (!trc)
        trc = record_set_text(&r->service, q->service);
    if (!trc)
        trc = record_set_text(&r->reason, sealed_reason(text));
    if (!trc && q->override_basis[0] &&
        !(r->override = overrides_record(
              q->override_basis,
              text && text->override_reason ? text->override_reason : "")))
        trc = POLKU_ENOMEM;
    polku__sealed_text__free_unpacked(text, NULL);
    if (!trc)
        trc = record_set_text(&r->urgency, q->urgency);
    if (trc) {
        polku__referral_record__free_unpacked(r, NULL);
        return trc;
    }
    r->due_ms = q->due_ms;
    r->transfer = q->transfer;
    if (q->consent_id.len == 16) {
        r->consent_id.data = malloc(16);
        r->consent_id.len = 16;
        memcpy(r->consent_id.data, q->consent_id.data, 16);
    }
    r->created_ms = env->time_ms;
    r->updated_ms = now;
    r->status = POLKU__REFERRAL_STATE__REFERRAL_RECEIVED;
    r->version = 1;
    int rc = history_add(r, POLKU__REFERRAL_STATE__REFERRAL_REQUESTED,
                         env->time_ms, env->origin_org, "", "", 0);
    if (!rc)
        rc = history_add(r, r->status, now, d->org, "", "", 1);
    if (!rc)
        rc = store_referral_put(d->st, txn, r);
    if (!rc)
        rc = emit_status(d, txn, r, r->from_org);
    if (!rc && unreadable)
        rc = change_status(d, txn, r, POLKU__REFERRAL_STATE__REFERRAL_FAILED,
                           "unverifiable_content: the sealed text could not "
                           "be opened with the sender's key",
                           "");
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        polku_id_format(&id, idtext);
        batch_after_log(d->b, POLKU_LOG_INFO, "referral %s received from %s%s",
                        idtext, r->from_org,
                        unreadable ? " (content unreadable: failed)" : "");
    }
    polku__referral_record__free_unpacked(r, NULL);
    return rc;
}

/* Sender side: the receiver's status change, applied by version. */
static int on_status(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__ReferralStatus *st = env->referral_status;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(d->st, txn, st->referral_id.data, &r);
    if (rc)
        return rc;
    if (!r->outgoing || strcmp(r->to_org, env->origin_org) != 0) {
        polku__referral_record__free_unpacked(r, NULL);
        return POLKU_ETRANSITION; /* only its receiver writes it */
    }
    Polku__SealedText *text = NULL;
    rc = sealing_open(d->seal, env->origin_org, st->sealed, &text);
    /* The broker vouches for the writer and the status is metadata: only
     * the sealed reason is unreadable (keys rotated?). The status stands,
     * with a reason that says so, rather than being dropped for good. */
    bool unreadable = rc == POLKU_ECRYPTO;
    if (unreadable)
        rc = POLKU_OK;
    if (!rc)
        rc = history_add(r, st->status, env->time_ms, env->origin_org,
                         unreadable ? "unverifiable_content"
                                    : sealed_reason(text),
                         sealed_outcome(text), st->version);
    if (!rc && st->version > r->version) {
        r->version = st->version;
        r->status = st->status;
        r->updated_ms = env->time_ms;
        if (sealed_outcome(text)[0])
            rc = record_set_text(&r->outcome, sealed_outcome(text));
    }
    if (!rc && st->status == POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED)
        rc = rules_referral_accepted(d, txn, r);
    if (!rc)
        rc = store_referral_put(d->st, txn, r);
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(
            d->b, unreadable ? POLKU_LOG_WARN : POLKU_LOG_INFO,
            "referral %s %s at %s (v%u)%s", polku_id_text(r->id.data, idtext),
            polku_referral_state_name(st->status), env->origin_org, st->version,
            unreadable ? " (reason unreadable: applied as "
                         "unverifiable_content)"
                       : "");
    }
    polku__sealed_text__free_unpacked(text, NULL);
    polku__referral_record__free_unpacked(r, NULL);
    return rc;
}

static int change_status(domain *d, MDB_txn *txn, Polku__ReferralRecord *r,
                         polku_referral_state to, const char *reason,
                         const char *outcome)
{
    uint64_t now = domain_now(d);
    r->status = to;
    r->version++;
    r->updated_ms = now;
    int rc =
        outcome && *outcome ? record_set_text(&r->outcome, outcome) : POLKU_OK;
    if (!rc)
        rc = history_add(r, to, now, d->org, reason, outcome, r->version);
    if (!rc)
        rc = store_referral_put(d->st, txn, r);
    if (!rc)
        rc = emit_status(d, txn, r, r->outgoing ? NULL : r->from_org);
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO, "referral %s %s (v%u, %s)",
                        polku_id_text(r->id.data, idtext),
                        polku_referral_state_name(to), r->version,
                        r->outgoing ? "local" : r->from_org);
    }
    return rc;
}

/* Receiver side: the sender asks to cancel; applied only while current. */
static int on_cancel(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__CancelRequested *c = env->cancel_requested;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(d->st, txn, c->referral_id.data, &r);
    if (rc)
        return rc;
    if (r->outgoing || strcmp(r->from_org, env->origin_org) != 0) {
        rc = POLKU_ETRANSITION;
    } else if (polku_referral_state_final(r->status)) {
        /* The request raced our final status: the referral stays what we
         * made it, but the sender did ask, and its record keeps saying so
         * (cancel_requested stays true there when our status arrives).
         * Clearing the sender's flag would erase a request that was made;
         * marking ours tells both ends the same true story: asked to
         * cancel, finished before the request arrived. No event: the
         * status the sender gets is the one we already sent. */
        log_info("cancel request for a finished referral: recorded, the "
                 "referral stays %s",
                 polku_referral_state_name(r->status));
        if (!r->cancel_requested) {
            r->cancel_requested = true;
            r->updated_ms = domain_now(d);
            rc = store_referral_put(d->st, txn, r);
        }
    } else {
        Polku__SealedText *text = NULL;
        rc = sealing_open(d->seal, env->origin_org, c->sealed, &text);
        /* the sender asked: the cancel stands even if its reason cannot
         * be read (keys rotated?); dropping it would lose it for good */
        bool unreadable = rc == POLKU_ECRYPTO;
        const char *reason = unreadable ? "cancelled by sender (reason "
                                          "unreadable)"
                             : sealed_reason(text)[0] ? sealed_reason(text)
                                                      : "cancelled by sender";
        if (unreadable)
            rc = POLKU_OK;
        r->cancel_requested = true;
        if (!rc)
            rc = change_status(d, txn, r,
                               POLKU__REFERRAL_STATE__REFERRAL_CANCELLED,
                               reason, "");
        if (!rc && unreadable) {
            char idtext[POLKU_ID_TEXT];
            batch_after_log(d->b, POLKU_LOG_WARN,
                            "referral %s: cancel request from %s applied; "
                            "its reason could not be opened",
                            polku_id_text(r->id.data, idtext), env->origin_org);
        }
        polku__sealed_text__free_unpacked(text, NULL);
    }
    polku__referral_record__free_unpacked(r, NULL);
    return rc;
}

int referrals_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return on_requested(d, txn, env);
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        return on_status(d, txn, env);
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return on_cancel(d, txn, env);
    default:
        return POLKU_EINVAL;
    }
}

int referrals_set_status(domain *d, MDB_txn *txn, const uint8_t id[16],
                         polku_referral_state to, const char *reason,
                         const char *outcome, Polku__ReferralRecord **out)
{
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(d->st, txn, id, &r);
    if (rc)
        return rc;
    rc = polku_referral_check(r->status, to,
                              r->outgoing ? POLKU_WRITER_SENDER
                                          : POLKU_WRITER_RECEIVER,
                              reason && *reason);
    /* The sender's only write (failed) belongs to undeliverable messages;
     * through the API, the sender asks to cancel instead. */
    if (!rc && r->outgoing)
        rc = POLKU_ETRANSITION;
    if (!rc)
        rc = change_status(d, txn, r, to, reason, outcome);
    if (rc) {
        polku__referral_record__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return POLKU_OK;
}

int referrals_request_cancel(domain *d, MDB_txn *txn, const uint8_t id[16],
                             const char *reason, Polku__ReferralRecord **out)
{
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(d->st, txn, id, &r);
    if (rc)
        return rc;
    if (!r->outgoing || polku_referral_state_final(r->status))
        rc = POLKU_ETRANSITION;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__CancelRequested c = POLKU__CANCEL_REQUESTED__INIT;
    char *to[1] = {r->to_org};
    env.n_to = 1;
    env.to = to;
    env.client_key = r->client_key;
    c.referral_id = r->id;
    env.body_case = POLKU__ENVELOPE__BODY_CANCEL_REQUESTED;
    env.cancel_requested = &c;
    if (!rc)
        rc = sealing_seal(d->seal, r->to_org, reason, NULL, &c.sealed);
    if (!rc) {
        r->cancel_requested = true;
        rc = store_referral_put(d->st, txn, r);
    }
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    free(c.sealed.data);
    if (rc) {
        polku__referral_record__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return POLKU_OK;
}

int referrals_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                            const char *code)
{
    if (env->body_case != POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED)
        return POLKU_OK;
    Polku__ReferralRecord *r = NULL;
    int rc = store_referral_get(d->st, txn,
                                env->referral_requested->referral_id.data, &r);
    if (!rc &&
        polku_referral_check(r->status, POLKU__REFERRAL_STATE__REFERRAL_FAILED,
                             POLKU_WRITER_SENDER, true) == POLKU_OK)
        rc = change_status(d, txn, r, POLKU__REFERRAL_STATE__REFERRAL_FAILED,
                           code, "");
    else if (rc == POLKU_ENOTFOUND)
        rc = POLKU_OK;
    if (r)
        polku__referral_record__free_unpacked(r, NULL);
    return rc;
}
