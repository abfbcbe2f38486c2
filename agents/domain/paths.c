/* paths.c — this organisation's view of its clients' paths (see .h). */
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consents.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/log.h"
#include "records.h"

static Polku__PathRecord *record_new(const uint8_t key[16])
{
    Polku__PathRecord *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    polku__path_record__init(p);
    if (record_own_strings(&p->base) ||
        record_set_bytes(&p->client_key, key, 16)) {
        polku__path_record__free_unpacked(p, NULL);
        return NULL;
    }
    return p;
}

int paths_load(domain *d, MDB_txn *txn, const uint8_t key[16],
               Polku__PathRecord **out)
{
    return store_path_get(d->st, txn, key, out);
}

int paths_load_or_new(domain *d, MDB_txn *txn, const uint8_t key[16],
                      Polku__PathRecord **out)
{
    int rc = store_path_get(d->st, txn, key, out);
    if (rc != POLKU_ENOTFOUND)
        return rc;
    *out = record_new(key);
    return *out ? POLKU_OK : POLKU_ENOMEM;
}

bool paths_i_coordinate(const domain *d, const Polku__PathRecord *p)
{
    return p && !p->closed && strcmp(p->coordinator, d->org) == 0;
}

static int save(domain *d, MDB_txn *txn, Polku__PathRecord *p)
{
    p->updated_ms = domain_now(d);
    return store_path_put(d->st, txn, p);
}

/* Keeps the record's coordination at the highest term it has heard of. */
static int learn_term(Polku__PathRecord *p, const char *coordinator,
                      uint32_t term, uint64_t since_ms, bool closed)
{
    if (term < p->term || (term == p->term && term != 0))
        return POLKU_OK;
    p->term = term;
    p->since_ms = since_ms;
    p->closed = closed;
    return record_set_text(&p->coordinator, coordinator);
}

/* ---- plan pointer and supporter: ordered as the broker orders them ----
 *
 * Every change of the path's plan pointer has a rank (term, kind, version,
 * seq), highest wins (see PathRecord in proto/polku.proto, and
 * broker/paths.c, which folds the same changes the same way): a
 * PlanUpdated of the coordinator at term (a new version replaces, the same
 * version later in its log moves the review date), a close of term (no
 * plan), an accepted handover offered at term (its pointer, or none). The
 * supporter follows accepted handovers and closes the same way. So the
 * coordinator's record and the broker's shared path say the same. */

enum { PLAN_UPDATE = 0, PLAN_CLOSE = 1, PLAN_HANDOVER = 2 };

static bool plan_rank_above(const Polku__PathRecord *p, uint32_t term,
                            uint32_t kind, uint32_t version, uint64_t seq)
{
    uint32_t have = p->plan ? p->plan->version : 0;
    if (term != p->plan_term)
        return term > p->plan_term;
    if (kind != p->plan_kind)
        return kind > p->plan_kind;
    if (version != have)
        return version > have;
    return seq > p->plan_seq;
}

/* Sets the plan pointer (a copy of plan, or none) if (term, kind, version,
 * seq) ranks above the record's. */
static int set_plan(Polku__PathRecord *p, const Polku__PlanPointer *plan,
                    const char *owner, uint32_t term, uint32_t kind,
                    uint64_t seq)
{
    if (!plan_rank_above(p, term, kind, plan ? plan->version : 0, seq))
        return POLKU_OK;
    Polku__PlanPointer *copy = NULL;
    if (plan && !(copy = record_plan_copy(plan)))
        return POLKU_ENOMEM;
    if (copy && !copy->org[0] && record_set_text(&copy->org, owner)) {
        polku__plan_pointer__free_unpacked(copy, NULL);
        return POLKU_ENOMEM;
    }
    if (p->plan)
        polku__plan_pointer__free_unpacked(p->plan, NULL);
    p->plan = copy;
    p->plan_term = term;
    p->plan_kind = kind;
    p->plan_seq = seq;
    return POLKU_OK;
}

static int set_supporter(Polku__PathRecord *p, const char *supporter,
                         uint32_t term, uint32_t kind)
{
    if (term < p->supporter_term ||
        (term == p->supporter_term && kind <= p->supporter_kind))
        return POLKU_OK;
    p->supporter_term = term;
    p->supporter_kind = kind;
    return record_set_text(&p->supporter, supporter);
}

/* A close of term (ours, or one a won claim tells of): no plan, no
 * supporter from there on. */
static int close_resets(Polku__PathRecord *p, uint32_t term)
{
    int rc = set_plan(p, NULL, "", term, PLAN_CLOSE, 0);
    return rc ? rc : set_supporter(p, "", term, PLAN_CLOSE);
}

/* ---- claims ---- */

int paths_claim(domain *d, MDB_txn *txn, const uint8_t key[16],
                domain_refusal *why, Polku__PathRecord **out, bool *decided)
{
    uint64_t now = domain_now(d);
    uint8_t consent_id[16];
    char recorded_by[33];
    *decided = false;
    if (consents_find_active(d, txn, key, d->org, d->org, NULL, now, consent_id,
                             recorded_by))
        return domain_refuse(why, DOMAIN_CONSENT_REQUIRED,
                             "no active consent of this client names this "
                             "organisation");
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, key, &p);
    if (rc)
        return rc;
    if (paths_i_coordinate(d, p)) {
        *decided = true;
        *out = p;
        return POLKU_OK;
    }
    if (p->claim_id.len == 16 &&
        p->claim_outcome == POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED) {
        *out = p; /* still on its way: wait for the same answer */
        return POLKU_OK;
    }
    polku_id claim = polku_id_new(now);
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClaimed c = POLKU__PATH_CLAIMED__INIT;
    env.client_key.data = (uint8_t *)key;
    env.client_key.len = 16;
    c.claim_id.data = claim.b;
    c.claim_id.len = 16;
    c.consent_id.data = consent_id;
    c.consent_id.len = 16;
    c.consent_recorded_by = recorded_by;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIMED;
    env.path_claimed = &c;
    uint64_t seq = 0;
    rc = eventlog_emit(d->log, txn, &env, &seq);
    if (!rc)
        rc = record_set_bytes(&p->claim_id, claim.b, 16);
    if (!rc) {
        p->claim_seq = seq;
        p->claim_outcome = POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED;
        rc = save(d, txn, p);
    }
    if (rc) {
        polku__path_record__free_unpacked(p, NULL);
        return rc;
    }
    char idtext[POLKU_ID_TEXT];
    polku_id_format(&claim, idtext);
    batch_after_log(d->b, POLKU_LOG_INFO, "claim %s sent to the broker",
                    idtext);
    *out = p;
    return POLKU_OK;
}

/* Records the outcome as our own event (for the broker, so it is in our
 * log when the broker rebuilds) and wakes whoever waits for it. */
static int record_claim_outcome(domain *d, MDB_txn *txn, Polku__PathRecord *p,
                                const Polku__PathClaimAnswered *answer)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClaimAnswered copy = *answer;
    env.client_key = p->client_key;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
    env.path_claim_answered = &copy;
    copy.base.unknown_fields = NULL;
    copy.base.n_unknown_fields = 0;
    int rc = eventlog_emit(d->log, txn, &env, NULL);
    if (!rc) /* the claim itself needs no ack any more */
        rc = eventlog_acknowledged(d->log, txn, p->claim_seq,
                                   EVENTLOG_DEST_BROKER);
    if (rc == POLKU_ENOTFOUND)
        rc = POLKU_OK;
    if (!rc && d->hooks.claim_decided)
        d->hooks.claim_decided(d->hooks.arg, p);
    return rc;
}

int paths_claim_answered(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    const Polku__PathClaimAnswered *ans = env->path_claim_answered;
    Polku__PathRecord *p = NULL;
    if (env->client_key.len != 16 || ans->claim_id.len != 16)
        return POLKU_EINVAL;
    int rc = paths_load(d, txn, env->client_key.data, &p);
    if (rc)
        return rc == POLKU_ENOTFOUND ? POLKU_OK : rc;
    if (p->claim_id.len != 16 ||
        memcmp(p->claim_id.data, ans->claim_id.data, 16) != 0 ||
        p->claim_outcome != POLKU__CLAIM_OUTCOME__CLAIM_UNSPECIFIED) {
        polku__path_record__free_unpacked(p, NULL);
        return POLKU_OK; /* an answer we have already recorded */
    }
    p->claim_outcome = ans->outcome;
    /* a claim wins a new term only on a path without a coordinator: never
     * claimed, or closed at the term before (a close we did not write and
     * the broker's path already shows): what we knew of its plan and
     * supporter ended with it */
    if (ans->outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON &&
        ans->term > p->term && ans->term > 1)
        rc = close_resets(p, ans->term - 1);
    if (!rc && ans->outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON)
        rc = learn_term(p, d->org, ans->term, ans->since_ms, false);
    else if (!rc && ans->outcome == POLKU__CLAIM_OUTCOME__CLAIM_LOST)
        rc = learn_term(p, ans->coordinator, ans->term, ans->since_ms, false);
    if (!rc)
        rc = save(d, txn, p);
    if (!rc)
        rc = record_claim_outcome(d, txn, p, ans);
    if (!rc)
        batch_after_log(
            d->b, POLKU_LOG_INFO, "claim %s: coordinator %s (term %u)",
            ans->outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON    ? "won"
            : ans->outcome == POLKU__CLAIM_OUTCOME__CLAIM_LOST ? "lost"
                                                               : "refused",
            p->coordinator[0] ? p->coordinator : "none", p->term);
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}

/* ---- close, plan, services ---- */

static bool close_reason_known(const char *r)
{
    return strcmp(r, "no_longer_needed") == 0 ||
           strcmp(r, "client_declined") == 0 || strcmp(r, "moved_away") == 0 ||
           strcmp(r, "other") == 0;
}

/* The record, if this org coordinates it; else a not_coordinator refusal. */
static int load_coordinated(domain *d, MDB_txn *txn, const uint8_t key[16],
                            domain_refusal *why, Polku__PathRecord **out)
{
    int rc = paths_load(d, txn, key, out);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    if (rc == POLKU_OK && paths_i_coordinate(d, *out))
        return POLKU_OK;
    if (*out)
        polku__path_record__free_unpacked(*out, NULL);
    *out = NULL;
    return domain_refuse(why, DOMAIN_NOT_COORDINATOR,
                         "this organisation does not coordinate this "
                         "client's path");
}

int paths_close(domain *d, MDB_txn *txn, const uint8_t key[16],
                const char *reason, const char *text, domain_refusal *why,
                Polku__PathRecord **out)
{
    if (!reason || !close_reason_known(reason))
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "'reason' must be no_longer_needed, "
                             "client_declined, moved_away or other");
    if (strcmp(reason, "other") == 0 && (!text || !*text))
        return domain_refuse(why, DOMAIN_BAD_INPUT,
                             "reason 'other' needs a 'text'");
    Polku__PathRecord *p = NULL;
    int rc = load_coordinated(d, txn, key, why, &p);
    if (rc)
        return rc;
    if (p->open_handover.len == 16) {
        polku__path_record__free_unpacked(p, NULL);
        return domain_refuse(why, DOMAIN_HANDOVER_OPEN,
                             "a handover offer is open: withdraw it or wait "
                             "for its answer first");
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PathClosed c = POLKU__PATH_CLOSED__INIT;
    env.client_key = p->client_key;
    c.term = p->term;
    c.reason = (char *)reason;
    env.body_case = POLKU__ENVELOPE__BODY_PATH_CLOSED;
    env.path_closed = &c;
    rc = eventlog_emit(d->log, txn, &env, NULL);
    if (!rc)
        rc = close_resets(p, c.term);
    if (!rc)
        rc = learn_term(p, "", p->term + 1, domain_now(d), true);
    if (!rc)
        rc = record_set_text(&p->closed_reason, reason);
    if (!rc)
        rc = record_set_text(&p->closed_text, text);
    if (!rc)
        rc = save(d, txn, p);
    if (rc) {
        polku__path_record__free_unpacked(p, NULL);
        return rc;
    }
    batch_after_log(d->b, POLKU_LOG_INFO, "path closed (%s, term %u)", reason,
                    p->term);
    *out = p;
    return POLKU_OK;
}

int paths_plan(domain *d, MDB_txn *txn, const uint8_t key[16],
               const char *plan_id, uint32_t version, uint64_t review_due_ms,
               domain_refusal *why, Polku__PathRecord **out)
{
    Polku__PathRecord *p = NULL;
    int rc = load_coordinated(d, txn, key, why, &p);
    if (rc)
        return rc;
    /* the same version moves the review date (postponed or brought
     * forward), a higher one replaces; an older version than this term's
     * would send the organisations and the broker back in time */
    if (p->plan && p->plan_kind == PLAN_UPDATE && p->plan_term == p->term &&
        version < p->plan->version) {
        uint32_t current = p->plan->version;
        polku__path_record__free_unpacked(p, NULL);
        return domain_refuse(why, DOMAIN_STALE_PLAN,
                             "the plan is at version %u: send version %u to "
                             "move its review date, or a higher one to "
                             "replace it",
                             current, current);
    }
    Polku__PlanPointer *plan =
        record_plan_new(d->org, plan_id, version, review_due_ms);
    if (!plan) {
        polku__path_record__free_unpacked(p, NULL);
        return POLKU_ENOMEM;
    }
    /* to the organisations a consent with purpose plan lets see it (the
     * broker, which always gets it, checks each against that consent) */
    uint8_t consent_id[16];
    char recorded_by[33];
    const char *to[CONSENT_MAX_ORGS + 1];
    size_t n_to = 0;
    bool consent =
        consents_scope(d, txn, key, d->org, "plan", domain_now(d), consent_id,
                       recorded_by, to, &n_to, CONSENT_MAX_ORGS) == POLKU_OK;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__PlanUpdated u = POLKU__PLAN_UPDATED__INIT;
    env.client_key = p->client_key;
    env.to = (char **)to;
    env.n_to = consent ? n_to : 0;
    u.plan = plan;
    u.term = p->term;
    if (consent) {
        u.consent_id.data = consent_id;
        u.consent_id.len = 16;
        u.consent_recorded_by = recorded_by;
    }
    env.body_case = POLKU__ENVELOPE__BODY_PLAN_UPDATED;
    env.plan_updated = &u;
    uint64_t seq = 0;
    rc = eventlog_emit(d->log, txn, &env, &seq);
    if (!rc)
        rc = set_plan(p, plan, d->org, p->term, PLAN_UPDATE, seq);
    if (!rc)
        rc = save(d, txn, p);
    polku__plan_pointer__free_unpacked(plan, NULL);
    if (rc) {
        polku__path_record__free_unpacked(p, NULL);
        return rc;
    }
    *out = p;
    return POLKU_OK;
}

static bool has_service(const Polku__PathRecord *p, const char *service,
                        size_t *at)
{
    for (size_t i = 0; i < p->n_services; i++)
        if (strcmp(p->services[i], service) == 0) {
            *at = i;
            return true;
        }
    return false;
}

static int emit_service(domain *d, MDB_txn *txn, Polku__PathRecord *p,
                        const char *service, bool ended)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__ServiceStarted st = POLKU__SERVICE_STARTED__INIT;
    Polku__ServiceEnded en = POLKU__SERVICE_ENDED__INIT;
    env.client_key = p->client_key;
    if (ended) {
        en.service = (char *)service;
        env.body_case = POLKU__ENVELOPE__BODY_SERVICE_ENDED;
        env.service_ended = &en;
    } else {
        st.service = (char *)service;
        env.body_case = POLKU__ENVELOPE__BODY_SERVICE_STARTED;
        env.service_started = &st;
    }
    return eventlog_emit(d->log, txn, &env, NULL);
}

int paths_service(domain *d, MDB_txn *txn, const uint8_t key[16],
                  const char *service, bool ended, Polku__PathRecord **out)
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, key, &p);
    if (rc)
        return rc;
    size_t at = 0;
    bool running = has_service(p, service, &at);
    rc = emit_service(d, txn, p, service, ended);
    if (!rc && ended && running) {
        free(p->services[at]);
        memmove(&p->services[at], &p->services[at + 1],
                (p->n_services - at - 1) * sizeof *p->services);
        p->n_services--;
    } else if (!rc && !ended && !running) {
        rc = record_add_string(&p->services, &p->n_services, service);
    }
    if (!rc)
        rc = save(d, txn, p);
    if (rc) {
        polku__path_record__free_unpacked(p, NULL);
        return rc;
    }
    *out = p;
    return POLKU_OK;
}

/* ---- from others ---- */

int paths_apply_inbound(domain *d, MDB_txn *txn, const polku_envelope *env)
{
    if (env->body_case != POLKU__ENVELOPE__BODY_PLAN_UPDATED ||
        env->client_key.len != 16)
        return POLKU_EINVAL;
    const Polku__PlanUpdated *u = env->plan_updated;
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, env->client_key.data, &p);
    if (rc)
        return rc;
    /* in the broker's order, whatever order the updates arrive in */
    if (u->plan)
        rc = set_plan(p, u->plan, env->origin_org, u->term, PLAN_UPDATE,
                      env->origin_seq);
    if (!rc)
        rc = save(d, txn, p);
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}

int paths_undeliverable(domain *d, MDB_txn *txn, const polku_envelope *env,
                        const char *code)
{
    if (env->client_key.len != 16)
        return POLKU_OK;
    if (env->body_case == POLKU__ENVELOPE__BODY_PATH_CLAIMED) {
        Polku__PathClaimAnswered refused = POLKU__PATH_CLAIM_ANSWERED__INIT;
        polku_envelope answer = *env;
        refused.claim_id = env->path_claimed->claim_id;
        refused.outcome = POLKU__CLAIM_OUTCOME__CLAIM_REFUSED;
        refused.claim_seq = env->origin_seq;
        refused.refusal = (char *)code;
        answer.body_case = POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED;
        answer.path_claim_answered = &refused;
        return paths_claim_answered(d, txn, &answer);
    }
    log_error("the broker refused our %s (%s): this organisation's view of "
              "the path may be stale",
              polku_body_name(env->body_case), code);
    return POLKU_OK;
}

int paths_set_coordinator(domain *d, MDB_txn *txn, const uint8_t key[16],
                          const char *coordinator, uint32_t term,
                          uint64_t since_ms)
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, key, &p);
    if (rc)
        return rc;
    rc = learn_term(p, coordinator, term, since_ms, false);
    if (!rc)
        rc = save(d, txn, p);
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}

int paths_take_over(domain *d, MDB_txn *txn, const uint8_t key[16],
                    const char *coordinator, uint32_t offer_term,
                    uint64_t since_ms, const Polku__PlanPointer *plan,
                    const char *plan_owner, const char *supporter)
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, key, &p);
    if (rc)
        return rc;
    if (offer_term == UINT32_MAX)
        rc = POLKU_EINVAL;
    if (!rc)
        rc = learn_term(p, coordinator, offer_term + 1, since_ms, false);
    if (!rc)
        rc = set_plan(p, plan, plan_owner, offer_term, PLAN_HANDOVER, 0);
    if (!rc)
        rc = set_supporter(p, supporter ? supporter : "", offer_term,
                           PLAN_HANDOVER);
    if (!rc)
        rc = save(d, txn, p);
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}

int paths_set_open_handover(domain *d, MDB_txn *txn, const uint8_t key[16],
                            const uint8_t *handover_id)
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load_or_new(d, txn, key, &p);
    if (rc)
        return rc;
    rc = record_set_bytes(&p->open_handover, handover_id, handover_id ? 16 : 0);
    if (!rc)
        rc = save(d, txn, p);
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}

int paths_close_open_handover(domain *d, MDB_txn *txn, const uint8_t key[16],
                              const uint8_t handover_id[16])
{
    Polku__PathRecord *p = NULL;
    int rc = paths_load(d, txn, key, &p);
    if (rc)
        return rc == POLKU_ENOTFOUND ? POLKU_OK : rc;
    if (p->open_handover.len == 16 &&
        memcmp(p->open_handover.data, handover_id, 16) == 0) {
        rc = record_set_bytes(&p->open_handover, NULL, 0);
        if (!rc)
            rc = save(d, txn, p);
    }
    polku__path_record__free_unpacked(p, NULL);
    return rc;
}
