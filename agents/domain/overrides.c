/* overrides.c — break-glass checks and reviews (see overrides.h). */
#include "overrides.h"

#include <stdlib.h>
#include <string.h>

#include "consents.h"
#include "paths.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/id.h"
#include "records.h"

int overrides_check(domain *d, MDB_txn *txn, const uint8_t client[16],
                    const char *to, const char *purpose,
                    const override_request *o, domain_refusal *why)
{
    if (!polku_override_basis_valid(o->basis))
        return domain_refuse(
            why, DOMAIN_BAD_INPUT,
            "'override.basis' must be " POLKU_OVERRIDE_BASES_TEXT);
    if (!o->reason || !o->reason[0])
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "'override.reason' is required: why no consent "
                             "could be asked");
    if (!directory_may_override(d->dir, d->org, o->basis))
        return domain_refuse(why, DOMAIN_OVERRIDE_NOT_PERMITTED,
                             "the broker's directory does not permit this "
                             "organisation to use the override '%s' (its "
                             "[org] section's 'overrides')",
                             o->basis);
    uint8_t id[16];
    char recorded_by[33];
    int rc = consents_find_active(d, txn, client, d->org, to, purpose,
                                  domain_now(d), id, recorded_by);
    if (rc == POLKU_OK)
        return domain_refuse(why, DOMAIN_OVERRIDE_NOT_NEEDED,
                             "an active consent of this client covers both "
                             "organisations for %s: send without 'override'",
                             purpose);
    return rc == POLKU_EFORBIDDEN ? POLKU_OK : rc;
}

Polku__OverrideRecord *overrides_record(const char *basis, const char *reason)
{
    Polku__OverrideRecord *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    polku__override_record__init(o);
    o->basis = o->reason = o->reviewed_by = NULL;
    if (record_set_text(&o->basis, basis) ||
        record_set_text(&o->reason, reason) ||
        record_set_text(&o->reviewed_by, "")) {
        polku__override_record__free_unpacked(o, NULL);
        return NULL;
    }
    return o;
}

/* The local record of object_id's override: *ov points into *ref or *hov
 * (whichever holds it; the caller frees both). */
typedef struct held_override {
    Polku__ReferralRecord *ref;
    Polku__HandoverRecord *hov;
    Polku__OverrideRecord *ov;
    const char *used_by; /* the sender or offerer */
} held_override;

static int find_held(domain *d, MDB_txn *txn, const uint8_t id[16],
                     held_override *h)
{
    memset(h, 0, sizeof *h);
    int rc = store_referral_get(d->st, txn, id, &h->ref);
    if (rc == POLKU_OK) {
        h->ov = h->ref->override;
        h->used_by = h->ref->from_org;
        return POLKU_OK;
    }
    if (rc != POLKU_ENOTFOUND)
        return rc;
    rc = store_handover_get(d->st, txn, id, &h->hov);
    if (rc == POLKU_OK) {
        h->ov = h->hov->override;
        h->used_by = h->hov->from_org;
    }
    return rc;
}

static void held_free(held_override *h)
{
    if (h->ref)
        polku__referral_record__free_unpacked(h->ref, NULL);
    if (h->hov)
        polku__handover_record__free_unpacked(h->hov, NULL);
    memset(h, 0, sizeof *h);
}

static int mark_reviewed(domain *d, MDB_txn *txn, held_override *h,
                         const char *reviewer)
{
    if (!h->ov || h->ov->reviewed_by[0])
        return POLKU_OK;
    int rc = record_set_text(&h->ov->reviewed_by, reviewer);
    h->ov->reviewed_ms = domain_now(d);
    if (rc)
        return rc;
    return h->ref ? store_referral_put(d->st, txn, h->ref)
                  : store_handover_put(d->st, txn, h->hov);
}

int overrides_review(domain *d, MDB_txn *txn, const uint8_t client[16],
                     const uint8_t object_id[16], domain_refusal *why)
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load(d, txn, client, &p);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    bool coordinator = rc == POLKU_OK && paths_i_coordinate(d, p);
    uint32_t term = coordinator ? p->term : 0;
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    if (!coordinator)
        return domain_refuse(why, DOMAIN_NOT_COORDINATOR,
                             "only the client's coordinator reviews an "
                             "override, and this organisation is not it");
    held_override h;
    rc = find_held(d, txn, object_id, &h);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    if (h.ref || h.hov) {
        if (memcmp(h.ref ? h.ref->client_key.data : h.hov->client_key.data,
                   client, 16) != 0) {
            held_free(&h);
            return domain_refuse(why, DOMAIN_BAD_INPUT,
                                 "the object is about another client");
        }
        if (!h.ov) {
            held_free(&h);
            return domain_refuse(why, DOMAIN_BAD_INPUT,
                                 "the object was not sent under an override");
        }
        if (strcmp(h.used_by, d->org) == 0) {
            held_free(&h);
            return domain_refuse(why, DOMAIN_BAD_INPUT,
                                 "this organisation used the override: "
                                 "another coordinator or an operator "
                                 "reviews it");
        }
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__OverrideReviewed r = POLKU__OVERRIDE_REVIEWED__INIT;
    env.client_key.data = (uint8_t *)client;
    env.client_key.len = 16;
    r.object_id.data = (uint8_t *)object_id;
    r.object_id.len = 16;
    r.used_by = (char *)(h.used_by ? h.used_by : "");
    r.reviewer = (char *)d->org;
    r.term = term;
    env.body_case = POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED;
    env.override_reviewed = &r;
    rc = eventlog_emit(d->log, txn, &env, NULL);
    if (!rc)
        rc = mark_reviewed(d, txn, &h, d->org);
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO,
                        "override on %s reviewed by this organisation "
                        "(coordinator, term %u)",
                        polku_id_text(object_id, idtext), term);
    }
    held_free(&h);
    return rc;
}

int overrides_operator_reviewed(domain *d, MDB_txn *txn,
                                const polku_envelope *env)
{
    const Polku__OverrideReviewed *in = env->override_reviewed;
    if (in->object_id.len != 16 || env->client_key.len != 16 ||
        strcmp(in->reviewer, "operator") != 0 ||
        strcmp(in->used_by, d->org) != 0)
        return POLKU_EINVAL;
    held_override h;
    int rc = find_held(d, txn, in->object_id.data, &h);
    if (rc)
        return rc;
    if (!h.ov || strcmp(h.used_by, d->org) != 0) {
        held_free(&h);
        return POLKU_ENOTFOUND;
    }
    if (h.ov->reviewed_by[0] && strcmp(h.ov->reviewed_by, "operator") == 0) {
        held_free(&h); /* logged already: the broker asked again */
        return POLKU_OK;
    }
    polku_envelope ev = POLKU__ENVELOPE__INIT;
    Polku__OverrideReviewed r = *in;
    ev.client_key = env->client_key;
    ev.body_case = POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED;
    ev.override_reviewed = &r;
    rc = eventlog_emit(d->log, txn, &ev, NULL);
    if (!rc) {
        /* the coordinator's review may have come first: the operator's
         * is logged all the same, the record keeps the first */
        rc = mark_reviewed(d, txn, &h, "operator");
    }
    if (!rc) {
        char idtext[POLKU_ID_TEXT];
        batch_after_log(d->b, POLKU_LOG_INFO,
                        "override on %s reviewed by an operator at the "
                        "broker",
                        polku_id_text(in->object_id.data, idtext));
    }
    held_free(&h);
    return rc;
}
