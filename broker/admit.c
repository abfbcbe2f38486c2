/* admit.c — see admit.h. */
#include "admit.h"

#include "polku/error.h"

/* Whether env, folded or settled, can decide an event that waits on its
 * client: one that needs a consent (a referral request) or a term begun
 * (coordination: claims, accepted offers, closes). Other events of the
 * client wake nothing: a client's held events are not decided again for
 * each of its referrals' statuses. */
static bool wakes_client(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        return true;
    default:
        return false;
    }
}

void admit_wake(holdback *hb, const polku_envelope *env)
{
    uint8_t id[16];
    if (hb_count(hb) == 0)
        return;
    if (polku_event_object_id(env, id))
        hb_wake(hb, id);
    if (env->client_key.len == 16 && wakes_client(env))
        hb_wake(hb, env->client_key.data);
}

static void fold_replayed(const gate_env *g, holdback *hb,
                          const polku_envelope *env, bool marked,
                          const admit_report *report)
{
    unsigned done =
        marked ? fold_apply_marked(g->x, env) : fold_apply(g->x, env);
    /* its recorder's outbox delivers it to the whole scope until acked */
    if (env->body_case == POLKU__ENVELOPE__BODY_CONSENT_GRANTED)
        ci_mark_distributed(g->x->consents,
                            env->consent_granted->consent_id.data);
    if (report && report->folded)
        report->folded(env, done, report->arg);
    admit_wake(hb, env);
}

static void refused(const polku_envelope *env, gate_result w,
                    const admit_report *report)
{
    if (report && report->refused)
        report->refused(env, w, report->arg);
}

admit_outcome admit_replayed(const gate_env *g, holdback *hb,
                             const polku_envelope *env, const uint8_t *data,
                             size_t len, const admit_report *report)
{
    if (pi_seen(g->x->paths, env->origin_org, env->origin_seq))
        return ADMIT_DUPLICATE;
    gate_result w;
    if (gate_carries_clear_text(env)) {
        w = (gate_result){GATE_REFUSE, POLKU__NACK_CODE__NACK_MALFORMED,
                          "free text must be sealed"};
    } else {
        w = gate_writer(g, env);
        if (w.verdict == GATE_ACCEPT) {
            fold_replayed(g, hb, env, false, report);
            return ADMIT_FOLDED;
        }
    }
    /* the log has no gap here, whatever becomes of the event */
    pi_mark(g->x->paths, env->origin_org, env->origin_seq);
    if (w.verdict == GATE_IGNORE)
        return ADMIT_IGNORED;
    if (w.verdict == GATE_WAIT) {
        int rc = hb_hold(hb, env, data, len);
        if (rc == POLKU_OK || rc == POLKU_EEXIST)
            return ADMIT_HELD;
        w = (gate_result){GATE_REFUSE, POLKU__NACK_CODE__NACK_OVERLOADED,
                          "too many events waiting for other logs"};
    }
    refused(env, w, report);
    return ADMIT_REFUSED;
}

typedef struct sweep_ctx {
    const gate_env *g;
    holdback *hb;
    polku_arena *arena;
    size_t max_frame;
    const admit_report *report;
} sweep_ctx;

/* A held event decoded into the arena, or NULL: one that no longer
 * decodes (cannot happen: it decoded when it was held) is refused, never
 * dropped silently. */
static polku_envelope *decode_held(sweep_ctx *c, const uint8_t *data,
                                   size_t len)
{
    polku_envelope *env = NULL;
    if (polku_envelope_decode_in(c->arena, data, len, c->max_frame, &env, NULL,
                                 0) == POLKU_OK)
        return env;
    polku_arena_reset(c->arena);
    polku_envelope none = POLKU__ENVELOPE__INIT;
    none.origin_org = "";
    refused(&none,
            (gate_result){GATE_REFUSE, POLKU__NACK_CODE__NACK_MALFORMED,
                          "a held event no longer decodes"},
            c->report);
    return NULL;
}

static bool decide(const uint8_t *data, size_t len, void *arg)
{
    sweep_ctx *c = arg;
    polku_envelope *env = decode_held(c, data, len);
    if (!env)
        return true;
    gate_result w = gate_writer(c->g, env);
    if (w.verdict == GATE_ACCEPT)
        fold_replayed(c->g, c->hb, env, true, c->report);
    else if (w.verdict == GATE_REFUSE)
        refused(env, w, c->report);
    /* GATE_IGNORE: its seq was marked when it was held */
    if (w.verdict != GATE_ACCEPT && w.verdict != GATE_WAIT)
        admit_wake(c->hb, env); /* waited on it as held (holds_object) */
    polku_arena_reset(c->arena);
    return w.verdict != GATE_WAIT;
}

size_t admit_held(const gate_env *g, holdback *hb, polku_arena *arena,
                  size_t max_frame, const admit_report *report)
{
    if (hb_count(hb) == 0)
        return 0;
    sweep_ctx c = {g, hb, arena, max_frame, report};
    size_t settled = hb_sweep(hb, decide, &c);
    return settled + hb_decide_ready(hb, decide, &c);
}

size_t admit_woken(const gate_env *g, holdback *hb, polku_arena *arena,
                   size_t max_frame, const admit_report *report)
{
    if (!hb_any_ready(hb))
        return 0;
    sweep_ctx c = {g, hb, arena, max_frame, report};
    return hb_decide_ready(hb, decide, &c);
}

size_t admit_replay_done(const gate_env *g, holdback *hb, polku_arena *arena,
                         size_t max_frame, const char *org, bool every_log_in,
                         const admit_report *report, size_t *undecidable)
{
    *undecidable = 0;
    /* while its own events wait, the org is not settled: what waits on its
     * log stays undecided (and is woken when those are decided) */
    if (!every_log_in && org && hb_holds_org(hb, org))
        return 0;
    size_t settled = admit_held(g, hb, arena, max_frame, report);
    *undecidable = every_log_in && hb_count(hb)
                       ? admit_undecidable(g, hb, arena, max_frame, report)
                       : 0;
    return settled;
}

static void refuse_dropped(const uint8_t *data, size_t len, void *arg)
{
    sweep_ctx *c = arg;
    polku_envelope *env = decode_held(c, data, len);
    if (!env)
        return;
    admit_wake(c->hb, env);
    refused(env,
            (gate_result){GATE_REFUSE,
                          POLKU__NACK_CODE__NACK_INVALID_TRANSITION,
                          "waits for an event no log holds (lost with a "
                          "store restored from an older copy?)"},
            c->report);
    polku_arena_reset(c->arena);
}

size_t admit_undecidable(const gate_env *g, holdback *hb, polku_arena *arena,
                         size_t max_frame, const admit_report *report)
{
    sweep_ctx c = {g, hb, arena, max_frame, report};
    size_t dropped = 0;
    while (hb_count(hb) > 0) {
        /* one at a time while few wait; in slices when many do, so the
         * rounds stay bounded */
        size_t slice = hb_count(hb) / 64 + 1;
        for (size_t i = 0; i < slice && hb_drop_oldest(hb, refuse_dropped, &c);
             i++)
            dropped++;
        admit_held(g, hb, arena, max_frame, report);
    }
    return dropped;
}
