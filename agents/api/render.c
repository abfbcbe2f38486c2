/* render.c — the agent's records as the API's JSON (see render.h). */
#include "render.h"

#include <stdio.h>
#include <string.h>

#include "consents.h"
#include "paths.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/json.h"
#include "polku/referral.h"
#include "polku/handover.h"

static json_t *history_json(const Polku__ReferralRecord *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < r->n_history; i++) {
        const Polku__HistoryEntry *h = r->history[i];
        json_t *e = json_pack("{s:s, s:o, s:s}", "status",
                              polku_referral_state_name(h->status), "at",
                              polku_json_time(h->at_ms), "by", h->by);
        if (h->reason[0])
            json_object_set_new(e, "reason", json_string(h->reason));
        if (h->outcome[0])
            json_object_set_new(e, "outcome", json_string(h->outcome));
        json_array_append_new(list, e);
    }
    return list;
}

/* Break-glass on a referral or handover: basis, reason, review. */
static json_t *override_json(const Polku__OverrideRecord *o)
{
    if (!o)
        return json_null();
    json_t *j = json_pack("{s:s, s:s, s:o}", "basis", o->basis, "reason",
                          o->reason, "reviewed_by",
                          o->reviewed_by[0] ? json_string(o->reviewed_by)
                                            : json_null());
    if (j && o->reviewed_ms)
        json_object_set_new(j, "reviewed_at", polku_json_time(o->reviewed_ms));
    return j;
}

json_t *render_referral(const Polku__ReferralRecord *r, bool with_history)
{
    char idtext[POLKU_ID_TEXT], key[33];
    polku_id_text(r->id.data, idtext);
    key[0] = '\0';
    if (r->client_key.len == 16)
        polku_client_key_hex(r->client_key.data, key);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:o, s:o, "
        "s:b, s:s, s:I}",
        "id", idtext, "direction", r->outgoing ? "out" : "in", "from",
        r->from_org, "to", r->to_org, "client_key", key, "service", r->service,
        "reason", r->reason, "urgency", r->urgency, "due",
        polku_json_time(r->due_ms), "transfer", r->transfer, "status",
        polku_referral_state_name(r->status), "created",
        polku_json_time(r->created_ms), "updated",
        polku_json_time(r->updated_ms), "cancel_requested", r->cancel_requested,
        "outcome", r->outcome, "version", (json_int_t)r->version);
    json_object_set_new(j, "override", override_json(r->override));
    if (with_history)
        json_object_set_new(j, "history", history_json(r));
    return j;
}

static json_t *string_array(char *const *list, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(list[i]));
    return arr;
}

json_t *render_consent(const Polku__ConsentRecord *r, uint64_t now_ms)
{
    char idtext[POLKU_ID_TEXT], key[POLKU_CLIENT_KEY_HEX] = "";
    polku_id_text(r->id.data, idtext);
    if (r->client_key.len == 16)
        polku_client_key_hex(r->client_key.data, key);
    const char *state = r->revoked                    ? "revoked"
                        : r->valid_until_ms <= now_ms ? "expired"
                                                      : "active";
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:s, s:b}", "id", idtext,
        "client_key", key, "orgs", string_array(r->orgs, r->n_orgs), "purposes",
        string_array(r->purposes, r->n_purposes), "valid_until",
        polku_json_time(r->valid_until_ms), "form", r->form, "recorded_by",
        r->recorded_by, "created", polku_json_time(r->created_ms), "state",
        state, "active", consents_active(r, now_ms));
    if (r->n_undelivered) {
        json_t *list = json_array();
        for (size_t i = 0; i < r->n_undelivered; i++) {
            const char *colon = strchr(r->undelivered[i], ':');
            size_t n = colon ? (size_t)(colon - r->undelivered[i])
                             : strlen(r->undelivered[i]);
            json_array_append_new(list, json_pack("{s:s%, s:s}", "org",
                                                  r->undelivered[i], n, "code",
                                                  colon ? colon + 1 : ""));
        }
        json_object_set_new(j, "undelivered", list);
    }
    if (r->revoked) {
        json_object_set_new(j, "revoked", polku_json_time(r->revoked_ms));
        json_object_set_new(j, "revoked_by", json_string(r->revoked_by));
        if (r->revoke_reason[0])
            json_object_set_new(j, "revoke_reason",
                                json_string(r->revoke_reason));
    }
    return j;
}

typedef struct list_ctx {
    json_t *arr;
    uint64_t now;
} list_ctx;

static int add_json(Polku__ConsentRecord *r, void *arg)
{
    list_ctx *l = arg;
    json_array_append_new(l->arr, render_consent(r, l->now));
    return 0;
}

json_t *render_consent_list(store *st, MDB_txn *txn, const uint8_t client[16],
                            uint64_t now_ms)
{
    list_ctx l = {.arr = json_array(), .now = now_ms};
    store_consents_of_client(st, txn, client, add_json, &l);
    return json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(l.arr),
                     "consents", l.arr);
}

/* ---- JSON ---- */

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *render_handover(const Polku__HandoverRecord *h, bool with_history)
{
    char idtext[POLKU_ID_TEXT], key[33] = "";
    if (h->client_key.len == 16)
        polku_client_key_hex(h->client_key.data, key);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:s, s:I, s:o, s:o, s:b, "
        "s:o, s:o}",
        "id", polku_id_text(h->id.data, idtext), "direction",
        h->outgoing ? "out" : "in", "from", h->from_org, "to", h->to_org,
        "client_key", key, "supporter", text_or_null(h->supporter),
        "plan_current", h->plan_current, "note", h->note, "status",
        polku_handover_state_name(h->status), "term", (json_int_t)h->term,
        "created", polku_json_time(h->created_ms), "updated",
        polku_json_time(h->updated_ms), "withdraw_requested",
        h->withdraw_requested, "rule", text_or_null(h->rule), "reason",
        text_or_null(h->reason));
    if (h->referral_id.len == 16) {
        char rid[POLKU_ID_TEXT];
        json_object_set_new(
            j, "referral_id",
            json_string(polku_id_text(h->referral_id.data, rid)));
    } else {
        json_object_set_new(j, "referral_id", json_null());
    }
    if (h->plan)
        json_object_set_new(
            j, "plan",
            json_pack("{s:s, s:s, s:I, s:o}", "org", h->plan->org, "plan_id",
                      h->plan->plan_id, "version", (json_int_t)h->plan->version,
                      "review_due", polku_json_time(h->plan->review_due_ms)));
    else
        json_object_set_new(j, "plan", json_null());
    json_object_set_new(j, "override", override_json(h->override));
    if (with_history) {
        json_t *list = json_array();
        for (size_t i = 0; i < h->n_history; i++) {
            const Polku__HandoverHistoryEntry *e = h->history[i];
            json_t *x = json_pack("{s:s, s:o, s:s}", "status",
                                  polku_handover_state_name(e->status), "at",
                                  polku_json_time(e->at_ms), "by", e->by);
            if (e->reason[0])
                json_object_set_new(x, "reason", json_string(e->reason));
            json_array_append_new(list, x);
        }
        json_object_set_new(j, "history", list);
    }
    return j;
}

/* ---- JSON ---- */

static json_t *id_or_null(ProtobufCBinaryData b)
{
    if (b.len != 16)
        return json_null();
    char text[POLKU_ID_TEXT];
    return json_string(polku_id_text(b.data, text));
}

static const char *claim_outcome_name(Polku__ClaimOutcome o)
{
    switch (o) {
    case POLKU__CLAIM_OUTCOME__CLAIM_WON:
        return "won";
    case POLKU__CLAIM_OUTCOME__CLAIM_LOST:
        return "lost";
    case POLKU__CLAIM_OUTCOME__CLAIM_REFUSED:
        return "refused";
    default:
        return "pending";
    }
}

json_t *render_path(const domain *d, const Polku__PathRecord *p)
{
    char key[33];
    polku_client_key_hex(p->client_key.data, key);
    json_t *services = json_array();
    for (size_t i = 0; i < p->n_services; i++)
        json_array_append_new(services, json_string(p->services[i]));
    json_t *j = json_pack(
        "{s:s, s:o, s:I, s:o, s:b, s:b, s:o, s:o, s:o, s:o}", "client_key", key,
        "coordinator",
        p->coordinator[0] ? json_string(p->coordinator) : json_null(), "term",
        (json_int_t)p->term, "since", polku_json_time(p->since_ms),
        "i_coordinate", paths_i_coordinate(d, p), "closed", p->closed,
        "closed_reason",
        p->closed && p->closed_reason[0] ? json_string(p->closed_reason)
                                         : json_null(),
        "open_handover", id_or_null(p->open_handover), "services", services,
        "updated", polku_json_time(p->updated_ms));
    if (p->claim_id.len == 16)
        json_object_set_new(j, "claim",
                            json_pack("{s:o, s:s}", "id",
                                      id_or_null(p->claim_id), "outcome",
                                      claim_outcome_name(p->claim_outcome)));
    else
        json_object_set_new(j, "claim", json_null());
    if (p->plan)
        json_object_set_new(
            j, "plan",
            json_pack("{s:s, s:s, s:I, s:o}", "org", p->plan->org, "plan_id",
                      p->plan->plan_id, "version", (json_int_t)p->plan->version,
                      "review_due", polku_json_time(p->plan->review_due_ms)));
    else
        json_object_set_new(j, "plan", json_null());
    json_object_set_new(j, "supporter", text_or_null(p->supporter));
    return j;
}

json_t *render_claim_reply(const domain *d, const Polku__PathRecord *p,
                           unsigned *status)
{
    switch (p->claim_outcome) {
    case POLKU__CLAIM_OUTCOME__CLAIM_WON:
        *status = 201;
        return render_path(d, p);
    case POLKU__CLAIM_OUTCOME__CLAIM_LOST: {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "this client's path is already coordinated by %s",
                 p->coordinator);
        *status = 409;
        return json_pack("{s:{s:s, s:s}, s:s, s:I}", "error", "code",
                         "already_coordinated", "message", msg, "coordinator",
                         p->coordinator, "term", (json_int_t)p->term);
    }
    default:
        *status = 403;
        return json_pack("{s:{s:s, s:s}}", "error", "code", "consent_required",
                         "message",
                         "the broker refused the claim: no active consent of "
                         "this client names this organisation");
    }
}

json_t *render_reconcile_note(const Polku__ReconcileRecord *r)
{
    char old[17], now[17];
    if (strcmp(r->kind, "repair") == 0) {
        snprintf(old, sizeof old, "%016llx",
                 (unsigned long long)r->old_incarnation);
        snprintf(now, sizeof now, "%016llx",
                 (unsigned long long)r->new_incarnation);
        json_t *j = json_pack(
            "{s:s, s:o, s:I, s:I, s:s, s:s, s:s, s:I}", "kind", "repair", "at",
            polku_json_time(r->at_ms), "from_seq", (json_int_t)r->from_seq,
            "through_seq", (json_int_t)r->through_seq, "old_incarnation", old,
            "new_incarnation", now, "told_by", r->told_by, "resent",
            (json_int_t)r->resent);
        /* the sequences others hold and this store does not */
        if (j && r->through_seq > r->from_seq)
            json_object_set_new(j, "lost_seqs",
                                json_pack("[I, I]", (json_int_t)r->from_seq + 1,
                                          (json_int_t)r->through_seq));
        return j;
    }
    char idtext[33]; /* a client key's 32 hex characters, or an id's 26 */
    if (r->object_id.len != 16)
        return NULL;
    /* a path is its client's: the key; anything else its 26-char id */
    if (strcmp(r->object_kind, "path") == 0)
        polku_client_key_hex(r->object_id.data, idtext);
    else
        polku_id_text(r->object_id.data, idtext);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:o, s:o}", "kind",
                     "unknown", "object", r->object_kind,
                     strcmp(r->object_kind, "path") == 0 ? "client_key" : "id",
                     idtext, "from", r->from_org, "event", r->event,
                     "origin_seq", (json_int_t)r->origin_seq, "seen",
                     (int)r->seen, "first", polku_json_time(r->at_ms), "last",
                     polku_json_time(r->last_ms));
}
