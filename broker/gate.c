/* gate.c — the writer rules and the live routing gates (see gate.h). */
#include "gate.h"

#include <string.h>

#include "claim_auth.h"

static const gate_result ok = {GATE_ACCEPT, 0, NULL};
static const gate_result ignore = {GATE_IGNORE, 0, NULL};
static const gate_result undecided = {GATE_WAIT,
                                      POLKU__NACK_CODE__NACK_RETRY_LATER,
                                      "waits for an event not yet folded"};

static gate_result refuse(Polku__NackCode code, const char *why)
{
    gate_result r = {GATE_REFUSE, code, why};
    return r;
}

static gate_result not_writer(const char *why)
{
    return refuse(POLKU__NACK_CODE__NACK_INVALID_TRANSITION, why);
}

static gate_result malformed(const char *why)
{
    return refuse(POLKU__NACK_CODE__NACK_MALFORMED, why);
}

/* A service the org lists in the directory. */
static bool offers_service(const broker_org *o, const char *service)
{
    for (size_t i = 0; o && i < o->service_count; i++)
        if (strcmp(o->services[i], service) == 0)
            return true;
    return false;
}

/* The org's log is folded: replayed in this epoch, nothing held back. */
static bool settled(const gate_env *g, const char *org)
{
    return g->replayed(g->arg, org) && !hb_holds_org(g->held, org);
}

static bool gate_org_replayed(void *arg, const char *org)
{
    const gate_env *g = arg;
    return !broker_config_org(g->cfg, org) || g->replayed(g->arg, org);
}

bool gate_client_ready(const gate_env *g, const polku_envelope *env)
{
    return env->client_key.len == 16 &&
           ci_client_replayed(g->x->consents, env->client_key.data,
                              gate_org_replayed, (void *)g);
}

static bool every_org_settled(const gate_env *g)
{
    for (size_t i = 0; i < g->cfg->org_count; i++)
        if (!settled(g, g->cfg->orgs[i].id))
            return false;
    return true;
}

/* A destination that is another org of the directory. */
static bool one_other_org(const gate_env *g, const polku_envelope *env)
{
    return env->n_to == 1 && broker_config_org(g->cfg, env->to[0]) &&
           strcmp(env->to[0], env->origin_org) != 0;
}

/* ---- break-glass (overrides.h) ---- */

/* An override instead of a consent: only a basis the directory permits
 * the sender, and no consent besides. */
static gate_result override_permitted(const gate_env *g,
                                      const polku_envelope *env,
                                      const char *basis, size_t consent_len)
{
    if (!broker_org_may_override(g->cfg, env->origin_org, basis))
        return refuse(POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED,
                      "the directory does not permit this organisation "
                      "that override");
    if (consent_len)
        return malformed("an override relies on no consent");
    return ok;
}

/* The override's basis an event carries ("" none). */
static const char *override_basis(const polku_envelope *env)
{
    if (env->body_case == POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED)
        return env->referral_requested->override_basis;
    if (env->body_case == POLKU__ENVELOPE__BODY_HANDOVER_OFFERED)
        return env->handover_offered->override_basis;
    return "";
}

static gate_result coordinated_at(const gate_env *g, const polku_envelope *env,
                                  uint32_t term);

/* A review: the coordinator's own (not of its own override), or an
 * operator's logged by the organisation that used the override with the
 * broker's authenticator. */
static gate_result override_reviewed(const gate_env *g,
                                     const polku_envelope *env)
{
    const Polku__OverrideReviewed *r = env->override_reviewed;
    if (env->n_to != 0 || env->client_key.len != 16)
        return malformed("a review is for the broker, with a client key");
    ov_view v;
    bool known = ov_find(cl_overrides(g->x->clients), r->object_id.data, &v) &&
                 memcmp(v.client_key, env->client_key.data, 16) == 0;
    if (strcmp(r->reviewer, "operator") == 0) {
        if (strcmp(r->used_by, env->origin_org) != 0 ||
            !ov_review_verify(g->claim_key, env))
            return not_writer("an operator's review is logged by the "
                              "organisation that used the override, with "
                              "the broker's authenticator");
        return ok;
    }
    if (strcmp(r->reviewer, env->origin_org) != 0)
        return not_writer("a coordinator reviews in its own name");
    if ((known && strcmp(v.used_by, env->origin_org) == 0) ||
        strcmp(r->used_by, env->origin_org) == 0)
        return not_writer("the organisation that used the override does not "
                          "review it");
    return coordinated_at(g, env, r->term);
}

/* ---- referrals ---- */

static gate_result referral_requested(const gate_env *g,
                                      const polku_envelope *env)
{
    const Polku__ReferralRequested *q = env->referral_requested;
    if (env->n_to == 1 && !broker_config_org(g->cfg, env->to[0]))
        return refuse(POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                      "the receiver is not in the directory");
    if (!one_other_org(g, env))
        return malformed("a referral goes to one other organisation of the "
                         "directory");
    if (env->client_key.len != 16)
        return malformed("a referral needs a client key");
    if (q->service[0] &&
        !offers_service(broker_config_org(g->cfg, env->to[0]), q->service))
        return malformed("the service is not one the receiver offers in the "
                         "directory");
    const cl_referral *r = cl_referral_find(g->x->clients, q->referral_id.data);
    if (r && r->requested &&
        (strcmp(cl_name(g->x->clients, r->from), env->origin_org) != 0 ||
         strcmp(cl_name(g->x->clients, r->to), env->to[0]) != 0))
        return not_writer("the referral id names another referral");
    if (q->override_basis[0])
        return override_permitted(g, env, q->override_basis, q->consent_id.len);
    Polku__NackCode code =
        ci_check_scope(g->x->consents, env, env->origin_org, env->to[0],
                       "referral", gate_org_replayed, (void *)g);
    /* the grant is not known yet: it waits for its recorder's log (for
     * every log when the referral names no recorder), then is refused */
    const char *rec = q->consent_recorded_by;
    if (code == POLKU__NACK_CODE__NACK_RETRY_LATER &&
        (rec[0] ? !settled(g, rec) : !every_org_settled(g)))
        return undecided;
    if (code)
        return refuse(POLKU__NACK_CODE__NACK_CONSENT_REQUIRED,
                      "no consent of the client covers this referral");
    return ok;
}

/* The referral an event names: known (its request folded), held back, or
 * unknown for good once its sender's log is settled. */
static gate_result referral_known(const gate_env *g, const uint8_t id[16],
                                  const char *sender, const cl_referral **out)
{
    *out = cl_referral_find(g->x->clients, id);
    if (*out && (*out)->requested)
        return ok;
    if (!broker_config_org(g->cfg, sender))
        return not_writer("the referral is not known");
    if (hb_holds_object(g->held, id) || !settled(g, sender))
        return undecided;
    return not_writer("the referral is not known");
}

static gate_result referral_status(const gate_env *g, const polku_envelope *env)
{
    const Polku__ReferralStatus *st = env->referral_status;
    bool own_failure = env->n_to == 0;
    if (st->status == POLKU__REFERRAL_STATE__REFERRAL_REQUESTED)
        return not_writer("`requested` is not a status change");
    if (own_failure && st->status != POLKU__REFERRAL_STATE__REFERRAL_FAILED)
        return not_writer("a status for the broker alone is its sender's "
                          "`failed`");
    if (!own_failure && env->n_to != 1)
        return malformed("a status goes to the referral's sender");
    const cl_referral *r = NULL;
    gate_result k =
        referral_known(g, st->referral_id.data,
                       own_failure ? env->origin_org : env->to[0], &r);
    if (k.verdict == GATE_REFUSE && own_failure)
        return ignore; /* its own failure of a referral the broker refused */
    if (k.verdict != GATE_ACCEPT)
        return k;
    const char *from = cl_name(g->x->clients, r->from);
    const char *to = cl_name(g->x->clients, r->to);
    if (own_failure)
        return strcmp(from, env->origin_org) == 0
                   ? ok
                   : not_writer("only the referral's sender fails it");
    if (strcmp(to, env->origin_org) != 0 || strcmp(from, env->to[0]) != 0)
        return not_writer("only the referral's receiver changes its status");
    return ok;
}

static gate_result cancel_requested(const gate_env *g,
                                    const polku_envelope *env)
{
    if (env->n_to != 1)
        return malformed("a cancel request goes to the referral's receiver");
    const cl_referral *r = NULL;
    gate_result k = referral_known(g, env->cancel_requested->referral_id.data,
                                   env->origin_org, &r);
    if (k.verdict != GATE_ACCEPT)
        return k;
    if (strcmp(cl_name(g->x->clients, r->from), env->origin_org) != 0 ||
        strcmp(cl_name(g->x->clients, r->to), env->to[0]) != 0)
        return not_writer("only the referral's sender asks its receiver to "
                          "cancel");
    return ok;
}

/* ---- consents ---- */

static bool names(char **list, size_t n, const char *org)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], org) == 0)
            return true;
    return false;
}

static gate_result consent_granted(const gate_env *g, const polku_envelope *env)
{
    const Polku__ConsentGranted *c = env->consent_granted;
    if (env->client_key.len != 16)
        return malformed("a consent needs a client key");
    if (!names(c->orgs, c->n_orgs, env->origin_org))
        return not_writer("only an organisation in the consent's scope "
                          "records it");
    /* org ids are shown with the consent: only the directory's */
    for (size_t i = 0; i < c->n_orgs; i++)
        if (!broker_config_org(g->cfg, c->orgs[i]))
            return refuse(POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                          "the consent names an organisation outside the "
                          "directory");
    /* it goes to every other org of its scope, and nowhere else */
    if (env->n_to != c->n_orgs - 1)
        return malformed("a consent goes to every other organisation of its "
                         "scope");
    for (size_t i = 0; i < env->n_to; i++)
        if (!names(c->orgs, c->n_orgs, env->to[i]) ||
            strcmp(env->to[i], env->origin_org) == 0)
            return malformed("a consent goes to every other organisation of "
                             "its scope");
    if (!ci_grant_matches(g->x->consents, env))
        return not_writer("the consent id names another consent");
    return ok;
}

static gate_result consent_revoked(const gate_env *g, const polku_envelope *env)
{
    int scope = ci_grant_scope(
        g->x->consents, env->consent_revoked->consent_id.data, env->origin_org);
    if (scope == 1)
        return ok;
    if (scope == 0)
        return not_writer("only an organisation in the consent's scope "
                          "revokes it");
    /* the grant is not known: it may be in a log still to come */
    if (hb_holds_object(g->held, env->consent_revoked->consent_id.data) ||
        !every_org_settled(g))
        return undecided;
    return not_writer("the consent is not known");
}

/* ---- coordination ---- */

/* Whether org held term of the client's path: ok, refuse, or undecided
 * while the event that began the term may still come. */
static gate_result coordinated_at(const gate_env *g, const polku_envelope *env,
                                  uint32_t term)
{
    char who[33];
    bool closed = false;
    if (env->client_key.len != 16)
        return malformed("a path event needs a client key");
    if (pi_term_holder(g->x->paths, env->client_key.data, term, who, &closed))
        return !closed && strcmp(who, env->origin_org) == 0
                   ? ok
                   : refuse(POLKU__NACK_CODE__NACK_NOT_COORDINATOR,
                            "the sender did not coordinate at that term");
    if (term > 0 && (!gate_client_ready(g, env) ||
                     hb_holds_term(g->held, env->client_key.data, term)))
        return undecided;
    /* live, the term just after the broker's: the acceptance that began
     * it is committed at its sender and on its way (retried) */
    path_view v;
    uint32_t current =
        pi_view(g->x->paths, env->client_key.data, &v) ? v.term : 0;
    if (g->live && current < UINT32_MAX && term == current + 1)
        return undecided;
    return refuse(POLKU__NACK_CODE__NACK_NOT_COORDINATOR,
                  "no coordination began at that term");
}

static gate_result claim_answered(const gate_env *g, const polku_envelope *env)
{
    const Polku__PathClaimAnswered *a = env->path_claim_answered;
    if (env->n_to != 0 || env->client_key.len != 16)
        return malformed("a claim answer is for the broker, with a client "
                         "key");
    if (a->outcome == POLKU__CLAIM_OUTCOME__CLAIM_REFUSED)
        return ok; /* decides nothing */
    if (a->outcome == POLKU__CLAIM_OUTCOME__CLAIM_WON &&
        strcmp(a->coordinator, env->origin_org) != 0 && a->coordinator[0])
        return not_writer("a won claim names its claimant");
    bool authentic = g->claim_checked == env
                         ? g->claim_checked_ok
                         : claim_auth_verify(g->claim_keyed,
                                             env->client_key.data,
                                             env->origin_org, a);
    if (!authentic)
        return not_writer("the claim answer does not carry the broker's "
                          "authenticator");
    return ok;
}

static gate_result handover_offered(const gate_env *g,
                                    const polku_envelope *env)
{
    if (env->n_to == 1 && !broker_config_org(g->cfg, env->to[0]))
        return refuse(POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                      "the receiver is not in the directory");
    if (!one_other_org(g, env))
        return malformed("an offer goes to one other organisation of the "
                         "directory");
    const char *supporter = env->handover_offered->supporter;
    if (supporter[0] && !broker_config_org(g->cfg, supporter))
        return malformed("the supporter is not in the directory");
    const char *basis = env->handover_offered->override_basis;
    if (basis[0]) {
        gate_result r = override_permitted(
            g, env, basis, env->handover_offered->consent_id.len);
        if (r.verdict != GATE_ACCEPT)
            return r;
    }
    return coordinated_at(g, env, env->handover_offered->term);
}

static gate_result handover_answered(const gate_env *g,
                                     const polku_envelope *env)
{
    const Polku__HandoverAnswered *a = env->handover_answered;
    bool own_failure = a->status == POLKU__HANDOVER_STATE__HANDOVER_FAILED;
    if (env->client_key.len != 16)
        return malformed("an answer needs a client key");
    if (own_failure ? env->n_to != 0 : env->n_to != 1)
        return malformed(own_failure ? "an offerer's failure is for the broker"
                                     : "an answer goes to the offerer");
    if (strcmp(env->origin_org, own_failure ? a->offered_by : a->offered_to))
        return not_writer(own_failure ? "only the offerer fails its offer"
                                      : "only the offer's receiver answers "
                                        "it");
    path_handover_view h;
    if (!pi_handover(g->x->paths, env->client_key.data, a->handover_id.data,
                     &h) ||
        !h.offered) {
        const char *offerer = a->offered_by;
        if (hb_holds_object(g->held, a->handover_id.data) ||
            (broker_config_org(g->cfg, offerer) && !settled(g, offerer)))
            return undecided;
        /* its own failure of an offer the broker refused: nothing to fold */
        return own_failure ? ignore : not_writer("the offer is not known");
    }
    if (strcmp(h.from, a->offered_by) != 0 || strcmp(h.to, a->offered_to) != 0)
        return not_writer("the answer names other parties than the offer");
    if (!own_failure && env->to[0] && strcmp(env->to[0], h.from) != 0)
        return malformed("an answer goes to the offerer");
    if (a->status == POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED &&
        (h.term == UINT32_MAX || a->term != h.term + 1))
        return not_writer("an accepted offer begins the offer's term + 1");
    return ok;
}

static gate_result withdraw_requested(const gate_env *g,
                                      const polku_envelope *env)
{
    path_handover_view h;
    if (env->client_key.len != 16 || env->n_to != 1)
        return malformed("a withdrawal goes to the offer's receiver");
    const uint8_t *id = env->withdraw_requested->handover_id.data;
    if (!pi_handover(g->x->paths, env->client_key.data, id, &h) || !h.offered) {
        if (hb_holds_object(g->held, id) || !settled(g, env->origin_org))
            return undecided;
        return not_writer("the offer is not known");
    }
    if (strcmp(h.from, env->origin_org) != 0 || strcmp(h.to, env->to[0]) != 0)
        return not_writer("only the offerer withdraws its offer");
    return ok;
}

static gate_result path_closed(const gate_env *g, const polku_envelope *env)
{
    if (env->n_to != 0)
        return malformed("a close is for the broker");
    if (env->path_closed->term == UINT32_MAX)
        return not_writer("the term cannot grow past its maximum");
    return coordinated_at(g, env, env->path_closed->term);
}

static gate_result service_event(const gate_env *g, const polku_envelope *env,
                                 const char *service)
{
    if (env->client_key.len != 16)
        return malformed("a service event needs a client key");
    if (!offers_service(broker_config_org(g->cfg, env->origin_org), service))
        return malformed("the service is not one this organisation offers "
                         "in the directory");
    return ok;
}

static gate_result plan_updated(const gate_env *g, const polku_envelope *env)
{
    const Polku__PlanPointer *plan = env->plan_updated->plan;
    if (plan->org[0] && !broker_config_org(g->cfg, plan->org))
        return malformed("the plan's organisation is not in the directory");
    for (size_t i = 0; i < env->n_to; i++)
        if (!broker_config_org(g->cfg, env->to[i]))
            return refuse(POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                          "a destination is not in the directory");
    gate_result r = coordinated_at(g, env, env->plan_updated->term);
    if (r.verdict != GATE_ACCEPT)
        return r;
    /* the coordinator's own agent refuses an older version (409), so a log
     * that holds one is faulty; folded, it would change nothing anyway */
    if (pi_plan_stale(g->x->paths, env->client_key.data,
                      env->plan_updated->term, plan->version, NULL))
        return refuse(POLKU__NACK_CODE__NACK_STALE_PLAN,
                      "the plan's version is older than the path's");
    return ok;
}

/* The org id fields every body may name beyond its destinations: each one
 * "" or an organisation of the directory (an org id's syntax admits a
 * lower-case identity code; the directory does not). */
static bool named_orgs_known(const gate_env *g, const polku_envelope *env)
{
    const char *names[3] = {NULL, NULL, NULL};
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        names[0] = env->referral_requested->consent_recorded_by;
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        names[0] = env->referral_status->writer_org;
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        names[0] = env->path_claimed->consent_recorded_by;
        break;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        names[0] = env->plan_updated->consent_recorded_by;
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        names[0] = env->handover_offered->consent_recorded_by;
        names[1] = env->handover_offered->supporter;
        if (env->handover_offered->plan)
            names[2] = env->handover_offered->plan->org;
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        names[0] = env->handover_answered->offered_by;
        names[1] = env->handover_answered->offered_to;
        break;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        names[0] = env->path_claim_answered->coordinator;
        break;
    default:
        break;
    }
    for (int i = 0; i < 3; i++)
        if (names[i] && names[i][0] && !broker_config_org(g->cfg, names[i]))
            return false;
    for (size_t i = 0; i < env->n_to; i++)
        if (!broker_config_org(g->cfg, env->to[i]) &&
            env->body_case != POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED &&
            env->body_case != POLKU__ENVELOPE__BODY_HANDOVER_OFFERED &&
            env->body_case != POLKU__ENVELOPE__BODY_PLAN_UPDATED &&
            env->body_case != POLKU__ENVELOPE__BODY_CONSENT_REVOKED)
            return false; /* those answer unknown_org per destination */
    return true;
}

gate_result gate_writer(const gate_env *g, const polku_envelope *env)
{
    if (!named_orgs_known(g, env))
        return refuse(POLKU__NACK_CODE__NACK_UNKNOWN_ORG,
                      "the event names an organisation outside the "
                      "directory");
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return referral_requested(g, env);
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        return referral_status(g, env);
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return cancel_requested(g, env);
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        return consent_granted(g, env);
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return consent_revoked(g, env);
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        if (env->n_to != 0 || env->client_key.len != 16)
            return malformed("a claim is for the broker, with a client key");
        return ok;
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        return claim_answered(g, env);
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        return path_closed(g, env);
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return plan_updated(g, env);
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        return service_event(g, env, env->service_started->service);
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        return service_event(g, env, env->service_ended->service);
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return handover_offered(g, env);
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        return handover_answered(g, env);
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return withdraw_requested(g, env);
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        return override_reviewed(g, env);
    case POLKU__ENVELOPE__BODY_SEQ_LOST: /* its own log's hole, nothing more */
        if (env->n_to != 0)
            return malformed("seq_lost is for the broker alone");
        return ok;
    case POLKU__ENVELOPE__BODY_RESEND_REQUESTED:
        /* asks for what was addressed to the asker: nothing to check but
         * the shape (the codec's), nothing to fold */
        return ok;
    default:
        return malformed("not an event");
    }
}

/* ---- live routing ---- */

/* The coordinator gate on an offer: from the coordinator, at its term. */
static Polku__NackCode route_offer(const gate_env *g, const polku_envelope *env,
                                   const char *dest, uint64_t now_ms)
{
    Polku__NackCode code =
        override_basis(env)[0] /* permitted by the writer rule */
            ? 0
            : ci_check(g->x->consents, env, env->origin_org, dest, "handover",
                       now_ms, gate_org_replayed, (void *)g);
    if (code)
        return code;
    if (!gate_client_ready(g, env))
        return POLKU__NACK_CODE__NACK_RETRY_LATER;
    path_handover_view h;
    if (pi_handover(g->x->paths, env->client_key.data,
                    env->handover_offered->handover_id.data, &h) &&
        h.status != POLKU__HANDOVER_STATE__HANDOVER_OFFERED &&
        h.status != POLKU__HANDOVER_STATE__HANDOVER_UNSPECIFIED)
        return 0; /* answered already: a resend, let the receiver re-ack */
    return pi_check_coordinator(g->x->paths, env->client_key.data,
                                env->origin_org, env->handover_offered->term);
}

Polku__NackCode gate_route(const gate_env *g, const polku_envelope *env,
                           const char *dest, uint64_t now_ms)
{
    if (!broker_config_org(g->cfg, dest))
        return POLKU__NACK_CODE__NACK_UNKNOWN_ORG;
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        if (override_basis(env)[0]) /* permitted by the writer rule */
            return 0;
        return ci_check(g->x->consents, env, env->origin_org, dest, "referral",
                        now_ms, gate_org_replayed, (void *)g);
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return route_offer(g, env, dest, now_ms);
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return ci_check(g->x->consents, env, env->origin_org, dest, "plan",
                        now_ms, gate_org_replayed, (void *)g);
    default:
        return 0;
    }
}

const char *gate_nack_reason(Polku__NackCode code)
{
    switch (code) {
    case POLKU__NACK_CODE__NACK_UNKNOWN_ORG:
        return "not in the directory";
    case POLKU__NACK_CODE__NACK_RETRY_LATER:
        return "offline or not yet rebuilt, retry later";
    case POLKU__NACK_CODE__NACK_CONSENT_REQUIRED:
        return "no consent of the client covers this";
    case POLKU__NACK_CODE__NACK_CONSENT_REVOKED:
        return "the consent was revoked or has expired";
    case POLKU__NACK_CODE__NACK_NOT_COORDINATOR:
        return "the sender does not coordinate this client's path";
    case POLKU__NACK_CODE__NACK_INVALID_TRANSITION:
        return "the sender may not write this event";
    case POLKU__NACK_CODE__NACK_MALFORMED:
        return "the event breaks a rule of the protocol";
    case POLKU__NACK_CODE__NACK_STALE_PLAN:
        return "the plan's version is older than the path's";
    case POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED:
        return "the directory does not permit this organisation that "
               "override";
    default:
        return "queue full, retry later";
    }
}

/* A sender's own `failed` (a referral or handover the broker refused) names
 * the Nack code as its reason: a code, not free text. */
bool gate_carries_clear_text(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return env->referral_requested->reason[0] != '\0';
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        if (env->n_to == 0 &&
            env->referral_status->status ==
                POLKU__REFERRAL_STATE__REFERRAL_FAILED &&
            env->referral_status->outcome[0] == '\0' &&
            polku_nack_code_known(env->referral_status->reason))
            return false;
        return env->referral_status->reason[0] != '\0' ||
               env->referral_status->outcome[0] != '\0';
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return env->cancel_requested->reason[0] != '\0';
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED: /* failed: a Nack code */
        return env->handover_answered->reason[0] != '\0' &&
               !(env->handover_answered->status ==
                     POLKU__HANDOVER_STATE__HANDOVER_FAILED &&
                 polku_nack_code_known(env->handover_answered->reason));
    default:
        return false;
    }
}
