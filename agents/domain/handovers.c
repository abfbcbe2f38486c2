/* handovers.c — offering, answering and withdrawing handovers (see .h). */
#include "handovers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consents.h"
#include "paths.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/handover.h"
#include "polku/keys.h"
#include "polku/log.h"
#include "records.h"
#include "sealing.h"

static Polku__HandoverRecord *record_new(const uint8_t id[16])
{
    Polku__HandoverRecord *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    polku__handover_record__init(h);
    if (record_own_strings(&h->base) || record_set_bytes(&h->id, id, 16)) {
        polku__handover_record__free_unpacked(h, NULL);
        return NULL;
    }
    return h;
}

static int history_add(Polku__HandoverRecord *h, Polku__HandoverState st,
                       uint64_t at, const char *by, const char *reason)
{
    Polku__HandoverHistoryEntry *e = malloc(sizeof *e);
    Polku__HandoverHistoryEntry **list =
        realloc(h->history, (h->n_history + 1) * sizeof *list);
    if (list)
        h->history = list;
    if (!e || !list) {
        free(e);
        return POLKU_ENOMEM;
    }
    polku__handover_history_entry__init(e);
    e->status = st;
    e->at_ms = at;
    e->by = strdup(by ? by : "");
    e->reason = strdup(reason ? reason : "");
    h->history[h->n_history++] = e;
    return e->by && e->reason ? POLKU_OK : POLKU_ENOMEM;
}

/* A status change of the record, with history. */
static int set_status(Polku__HandoverRecord *h, Polku__HandoverState st,
                      uint64_t at, const char *by, const char *reason)
{
    h->status = st;
    h->updated_ms = at;
    int rc = record_set_text(&h->reason, reason);
    return rc ? rc : history_add(h, st, at, by, reason);
}

/* ---- offering ---- */

static int check_offer(domain *d, MDB_txn *txn, const handover_new *n,
                       domain_refusal *why, Polku__PathRecord **path,
                       uint8_t consent_id[16], char recorded_by[33])
{
    if (!n->to || !polku_org_id_valid(n->to) || strcmp(n->to, d->org) == 0)
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "'to' must be another organisation's id");
    if (n->supporter && !polku_org_id_valid(n->supporter))
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "'supporter' must be an organisation id");
    int rc = paths_load(d, txn, n->client_key, path);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    if (rc || !paths_i_coordinate(d, *path))
        return domain_refuse(why, DOMAIN_NOT_COORDINATOR,
                             "only the client's coordinator offers a "
                             "handover, and this organisation is not it");
    if ((*path)->open_handover.len == 16)
        return domain_refuse(why, DOMAIN_HANDOVER_OPEN,
                             "this client already has an open handover offer: "
                             "wait for its answer or withdraw it");
    if (n->override.basis)
        return overrides_check(d, txn, n->client_key, n->to, "handover",
                               &n->override, why);
    if (consents_find_active(d, txn, n->client_key, d->org, n->to, "handover",
                             domain_now(d), consent_id, recorded_by))
        return domain_refuse(why, DOMAIN_CONSENT_REQUIRED,
                             "no active consent of this client covers both "
                             "organisations for handover");
    return POLKU_OK;
}

/* The offer's record, before it is sent. */
static int fill_offer(domain *d, Polku__HandoverRecord *h,
                      const handover_new *n, const Polku__PathRecord *path,
                      uint64_t now, const uint8_t consent_id[16])
{
    h->outgoing = true;
    h->term = path->term;
    h->plan_current = n->plan_current;
    h->status = POLKU__HANDOVER_STATE__HANDOVER_OFFERED;
    h->created_ms = h->updated_ms = now;
    const Polku__PlanPointer *plan = n->plan ? n->plan : path->plan;
    if (plan && !(h->plan = record_plan_copy(plan)))
        return POLKU_ENOMEM;
    int rc = record_set_text(&h->from_org, d->org);
    if (!rc)
        rc = record_set_text(&h->to_org, n->to);
    if (!rc)
        rc = record_set_bytes(&h->client_key, n->client_key, 16);
    if (!rc)
        rc = record_set_text(&h->supporter, n->supporter);
    if (!rc)
        rc = record_set_text(&h->note, n->note);
    if (!rc)
        rc = record_set_text(&h->rule, n->rule);
    if (!rc && n->referral_id)
        rc = record_set_bytes(&h->referral_id, n->referral_id, 16);
    if (!rc && !n->override.basis)
        rc = record_set_bytes(&h->consent_id, consent_id, 16);
    if (!rc && n->override.basis &&
        !(h->override =
              overrides_record(n->override.basis, n->override.reason)))
        rc = POLKU_ENOMEM;
    if (!rc)
        rc = history_add(h, h->status, now, d->org, "");
    return rc;
}

static int emit_offer(domain *d, MDB_txn *txn, const Polku__HandoverRecord *h,
                      const char *recorded_by)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__HandoverOffered o = POLKU__HANDOVER_OFFERED__INIT;
    char *to[1] = {h->to_org};
    env.n_to = 1;
    env.to = to;
    env.client_key = h->client_key;
    o.handover_id = h->id;
    o.term = h->term;
    o.supporter = h->supporter;
    o.plan = h->plan;
    o.plan_current = h->plan_current;
    o.consent_id = h->consent_id;
    o.consent_recorded_by = (char *)recorded_by;
    o.rule = h->rule;
    o.referral_id = h->referral_id;
    env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_OFFERED;
    env.handover_offered = &o;
    Polku__SealedText sealed = POLKU__SEALED_TEXT__INIT;
    sealed.reason = h->note;
    if (h->override) {
        o.override_basis = h->override->basis;
        sealed.override_reason = h->override->reason;
    }
    int rc = sealing_seal_text(d->seal, h->to_org, &sealed, &o.sealed);
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    free(o.sealed.data);
    return rc;
}

int handovers_offer(domain *d, MDB_txn *txn, const handover_new *n,
                    domain_refusal *why, Polku__HandoverRecord **out)
{
    uint8_t consent_id[16] = {0};
    char recorded_by[33] = "";
    Polku__PathRecord *path = NULL;
    int rc = check_offer(d, txn, n, why, &path, consent_id, recorded_by);
    if (rc) {
        if (path)
            polku__path_record__free_unpacked(path, NULL);
        return rc;
    }
    uint64_t now = domain_now(d);
    polku_id id = polku_id_new(now);
    Polku__HandoverRecord *h = record_new(id.b);
    rc = h ? fill_offer(d, h, n, path, now, consent_id) : POLKU_ENOMEM;
    polku__path_record__free_unpacked(path, NULL);
    if (!rc)
        rc = store_handover_put(d->st, txn, h);
    if (!rc)
        rc = emit_offer(d, txn, h, recorded_by);
    if (!rc)
        rc = paths_set_open_handover(d, txn, n->client_key, id.b);
    if (rc) {
        if (h)
            polku__handover_record__free_unpacked(h, NULL);
        return rc;
    }
    char idtext[POLKU_ID_TEXT];
    batch_after_log(d->b, POLKU_LOG_INFO,
                    "handover %s offered to %s (term %u%s%s)",
                    polku_id_text(h->id.data, idtext), h->to_org, h->term,
                    h->rule[0] ? ", rule " : "", h->rule);
    *out = h;
    return POLKU_OK;
}

/* ---- answering (the receiver writes the outcome) ---- */

static int emit_answer(domain *d, MDB_txn *txn, const Polku__HandoverRecord *h,
                       const char *reason)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__HandoverAnswered ans = POLKU__HANDOVER_ANSWERED__INIT;
    char *to[1] = {h->from_org};
    bool local = h->outgoing; /* the offerer's own `failed` */
    env.n_to = local ? 0 : 1;
    env.to = local ? NULL : to;
    env.client_key = h->client_key;
    ans.handover_id = h->id;
    ans.status = h->status;
    ans.term = h->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
                   ? h->term + 1
                   : h->term;
    ans.offered_by = h->from_org;
    ans.offered_to = h->to_org;
    env.body_case = POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED;
    env.handover_answered = &ans;
    int rc = POLKU_OK;
    if (local)
        ans.reason = (char *)reason; /* a Nack code, not free text */
    else
        rc = sealing_seal(d->seal, h->from_org, reason, NULL, &ans.sealed);
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    free(ans.sealed.data);
    return rc;
}

/* Receiver side: the offer's outcome, written once. */
static int conclude(domain *d, MDB_txn *txn, Polku__HandoverRecord *h,
                    Polku__HandoverState st, const char *reason)
{
    uint64_t now = domain_now(d);
    int rc = set_status(h, st, now, d->org, reason);
    if (!rc)
        rc = store_handover_put(d->st, txn, h);
    if (!rc)
        rc = emit_answer(d, txn, h, reason);
    /* the offer's plan pointer and supporter become the path's, as they
     * do at the offerer and the broker when the acceptance arrives */
    if (!rc && st == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED)
        rc = paths_take_over(d, txn, h->client_key.data, d->org, h->term, now,
                             h->plan, h->from_org, h->supporter);
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO, "handover %s %s (from %s)",
                        polku_id_text(h->id.data, idtext),
                        polku_handover_state_name(st), h->from_org);
    }
    return rc;
}

static int load(domain *d, MDB_txn *txn, const uint8_t id[16],
                domain_refusal *why, Polku__HandoverRecord **out)
{
    int rc = store_handover_get(d->st, txn, id, out);
    if (rc == POLKU_ENOTFOUND)
        return domain_refuse(why, DOMAIN_NOT_FOUND, "no such handover");
    return rc;
}

int handovers_answer(domain *d, MDB_txn *txn, const uint8_t id[16], bool accept,
                     const char *reason, domain_refusal *why,
                     Polku__HandoverRecord **out)
{
    if (!accept && (!reason || !*reason))
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "declining needs a 'reason'");
    Polku__HandoverRecord *h = NULL;
    int rc = load(d, txn, id, why, &h);
    if (rc)
        return rc;
    if (h->outgoing)
        rc = domain_refuse(why, DOMAIN_INVALID_TRANSITION,
                           "only the receiver answers an offer");
    else if (polku_handover_check(
                 h->status,
                 accept ? POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
                        : POLKU__HANDOVER_STATE__HANDOVER_DECLINED,
                 POLKU_HANDOVER_RECEIVER))
        rc = domain_refuse(why, DOMAIN_INVALID_TRANSITION,
                           "the offer is no longer open (it is %s)",
                           polku_handover_state_name(h->status));
    if (!rc)
        rc = conclude(d, txn, h,
                      accept ? POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
                             : POLKU__HANDOVER_STATE__HANDOVER_DECLINED,
                      accept ? "" : reason);
    if (rc) {
        polku__handover_record__free_unpacked(h, NULL);
        return rc;
    }
    *out = h;
    return POLKU_OK;
}

int handovers_withdraw(domain *d, MDB_txn *txn, const uint8_t id[16],
                       domain_refusal *why, Polku__HandoverRecord **out)
{
    Polku__HandoverRecord *h = NULL;
    int rc = load(d, txn, id, why, &h);
    if (rc)
        return rc;
    if (!h->outgoing)
        rc = domain_refuse(why, DOMAIN_INVALID_TRANSITION,
                           "only the offerer withdraws an offer");
    else if (h->status != POLKU__HANDOVER_STATE__HANDOVER_OFFERED)
        rc = domain_refuse(why, DOMAIN_INVALID_TRANSITION,
                           "the offer is no longer open (it is %s)",
                           polku_handover_state_name(h->status));
    else if (h->withdraw_requested) {
        *out = h; /* asked already: the same answer, no second request */
        return POLKU_OK;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__WithdrawRequested w = POLKU__WITHDRAW_REQUESTED__INIT;
    char *to[1] = {h->to_org};
    env.n_to = 1;
    env.to = to;
    env.client_key = h->client_key;
    w.handover_id = h->id;
    env.body_case = POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED;
    env.withdraw_requested = &w;
    if (!rc) {
        h->withdraw_requested = true;
        h->updated_ms = domain_now(d);
        rc = store_handover_put(d->st, txn, h);
    }
    if (!rc)
        rc = eventlog_emit(d->log, txn, &env, NULL);
    if (rc) {
        polku__handover_record__free_unpacked(h, NULL);
        return rc;
    }
    *out = h;
    return POLKU_OK;
}

/* ---- inbound ---- */

static int on_offered(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__HandoverOffered *o = env->handover_offered;
    Polku__HandoverRecord *h = NULL;
    if (env->client_key.len != 16 || env->n_to != 1 ||
        strcmp(env->to[0], d->org) != 0)
        return POLKU_EINVAL;
    if (store_handover_get(d->st, txn, o->handover_id.data, &h) == 0) {
        polku__handover_record__free_unpacked(h, NULL);
        return POLKU_EEXIST;
    }
    Polku__SealedText *text = NULL;
    int rc = sealing_open(d->seal, env->origin_org, o->sealed, &text);
    if (rc && rc != POLKU_ECRYPTO)
        return rc;
    bool unreadable = rc == POLKU_ECRYPTO;
    h = record_new(o->handover_id.data);
    if (!h) {
        polku__sealed_text__free_unpacked(text, NULL);
        return POLKU_ENOMEM;
    }
    uint64_t now = domain_now(d);
    h->outgoing = false;
    h->term = o->term;
    h->plan_current = o->plan_current;
    h->status = POLKU__HANDOVER_STATE__HANDOVER_OFFERED;
    h->created_ms = env->time_ms;
    h->updated_ms = now;
    rc = record_set_text(&h->from_org, env->origin_org);
    if (!rc)
        rc = record_set_text(&h->to_org, d->org);
    if (!rc)
        rc = record_set_bytes(&h->client_key, env->client_key.data, 16);
    if (!rc)
        rc = record_set_text(&h->supporter, o->supporter);
    if (!rc)
        rc = record_set_text(&h->note, sealed_reason(text));
    if (!rc)
        rc = record_set_text(&h->rule, o->rule);
    if (!rc)
        rc = record_set_bytes(&h->referral_id, o->referral_id.data,
                              o->referral_id.len);
    if (!rc)
        rc = record_set_bytes(&h->consent_id, o->consent_id.data,
                              o->consent_id.len);
    if (!rc && o->override_basis[0] &&
        !(h->override = overrides_record(
              o->override_basis,
              text && text->override_reason ? text->override_reason : "")))
        rc = POLKU_ENOMEM;
    if (!rc && o->plan && !(h->plan = record_plan_copy(o->plan)))
        rc = POLKU_ENOMEM;
    if (!rc)
        rc = history_add(h, h->status, env->time_ms, env->origin_org, "");
    if (!rc)
        rc = store_handover_put(d->st, txn, h);
    /* the offer tells us who coordinates, at which term */
    if (!rc)
        rc = paths_set_coordinator(d, txn, h->client_key.data, env->origin_org,
                                   o->term, 0);
    /* content we cannot open: declined visibly, never silently dropped */
    if (!rc && unreadable)
        rc = conclude(d, txn, h, POLKU__HANDOVER_STATE__HANDOVER_DECLINED,
                      "unverifiable_content: the sealed note could not be "
                      "opened with the sender's key");
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO, "handover %s offered by %s",
                        polku_id_text(h->id.data, idtext), h->from_org);
    }
    polku__sealed_text__free_unpacked(text, NULL);
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

/* Offerer side: the receiver's outcome. */
static int on_answered(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__HandoverAnswered *ans = env->handover_answered;
    Polku__HandoverRecord *h = NULL;
    int rc = store_handover_get(d->st, txn, ans->handover_id.data, &h);
    if (rc)
        return rc;
    if (!h->outgoing || strcmp(h->to_org, env->origin_org) != 0) {
        polku__handover_record__free_unpacked(h, NULL);
        return POLKU_ETRANSITION; /* only its receiver answers it */
    }
    if (h->status == ans->status && polku_handover_state_final(h->status)) {
        polku__handover_record__free_unpacked(h, NULL);
        return POLKU_OK; /* the same answer again */
    }
    /* the lifecycle's rows (polku/handover.h): the receiver's answer stands
     * over our own `failed` (a copy of the offer got through after all);
     * an accepted one moves the coordination here as it did there and at
     * the broker, or both of us would think we coordinate. Anything else
     * (a second, different answer; `offered` or `failed` from the
     * receiver) is no answer of this offer. */
    if (polku_handover_check(h->status, ans->status, POLKU_HANDOVER_RECEIVER)) {
        log_warn("handover answer %s after %s refused by its lifecycle",
                 polku_handover_state_name(ans->status),
                 polku_handover_state_name(h->status));
        polku__handover_record__free_unpacked(h, NULL);
        return POLKU_ETRANSITION;
    }
    if (ans->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED &&
        (h->term == UINT32_MAX || ans->term != h->term + 1)) {
        polku__handover_record__free_unpacked(h, NULL);
        return POLKU_ETRANSITION; /* an acceptance begins the offer's term + 1
                                   */
    }
    Polku__SealedText *text = NULL;
    rc = sealing_open(d->seal, env->origin_org, ans->sealed, &text);
    if (rc == POLKU_ECRYPTO)
        rc = POLKU_OK; /* the outcome stands; only its reason is unreadable */
    if (!rc)
        rc = set_status(h, ans->status, env->time_ms, env->origin_org,
                        sealed_reason(text));
    polku__sealed_text__free_unpacked(text, NULL);
    if (!rc)
        rc = store_handover_put(d->st, txn, h);
    /* only this offer: after our `failed` a newer one may be open */
    if (!rc)
        rc = paths_close_open_handover(d, txn, h->client_key.data, h->id.data);
    if (!rc && ans->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED)
        rc = paths_take_over(d, txn, h->client_key.data, h->to_org, h->term,
                             env->time_ms, h->plan, h->from_org, h->supporter);
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO, "handover %s %s by %s",
                        polku_id_text(h->id.data, idtext),
                        polku_handover_state_name(ans->status), h->to_org);
    }
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

/* Receiver side: withdrawn only while the offer is open. */
static int on_withdraw(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    Polku__HandoverRecord *h = NULL;
    int rc = store_handover_get(d->st, txn,
                                env->withdraw_requested->handover_id.data, &h);
    if (rc)
        return rc;
    if (h->outgoing || strcmp(h->from_org, env->origin_org) != 0)
        rc = POLKU_ETRANSITION;
    else if (h->status != POLKU__HANDOVER_STATE__HANDOVER_OFFERED)
        log_info("withdraw request for a concluded handover ignored");
    else
        rc = conclude(d, txn, h, POLKU__HANDOVER_STATE__HANDOVER_WITHDRAWN,
                      "withdrawn by the offerer");
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

int handovers_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return on_offered(d, txn, env);
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        return on_answered(d, txn, env);
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return on_withdraw(d, txn, env);
    default:
        return POLKU_EINVAL;
    }
}

int handovers_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                            const char *code)
{
    if (env->body_case != POLKU__ENVELOPE__BODY_HANDOVER_OFFERED)
        return POLKU_OK;
    Polku__HandoverRecord *h = NULL;
    int rc = store_handover_get(d->st, txn,
                                env->handover_offered->handover_id.data, &h);
    if (rc)
        return rc == POLKU_ENOTFOUND ? POLKU_OK : rc;
    if (h->outgoing && h->status == POLKU__HANDOVER_STATE__HANDOVER_OFFERED) {
        rc = set_status(h, POLKU__HANDOVER_STATE__HANDOVER_FAILED,
                        domain_now(d), d->org, code);
        if (!rc)
            rc = store_handover_put(d->st, txn, h);
        if (!rc)
            rc = emit_answer(d, txn, h, code);
        if (!rc)
            rc = paths_set_open_handover(d, txn, h->client_key.data, NULL);
        if (!rc) {
            char idtext[POLKU_ID_TEXT];
            batch_after_log(d->b, POLKU_LOG_WARN,
                            "handover %s to %s failed: %s",
                            polku_id_text(h->id.data, idtext), h->to_org, code);
        }
    }
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}
