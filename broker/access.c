/* access.c — AccessQuery out to the consent scope, answers back (see .h). */
#include "access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "router.h"
#include "polku/clock.h"
#include "polku/log.h"

typedef struct access_pending {
    uint8_t query_id[16];
    char asker[33];
    char asked[POLKU_MAX_DESTS][33];
    bool answered[POLKU_MAX_DESTS];
    size_t n_asked;
    uint64_t expires_ms; /* monotonic */
} access_pending;

struct access_pending_set {
    access_pending p[ACCESS_PENDING_MAX];
    size_t n;
};

static void expire(struct access_pending_set *s, uint64_t now)
{
    for (size_t i = 0; i < s->n;)
        if (now >= s->p[i].expires_ms)
            s->p[i] = s->p[--s->n];
        else
            i++;
}

static bool org_replayed(void *arg, const char *org)
{
    broker *b = arg;
    int idx = routes_org_index(&b->routes, org);
    return idx < 0 || b->routes.by_org[idx].replayed;
}

static void answer_asker(broker *b, const uint8_t *rid, size_t rid_len,
                         const char *asker, const polku_envelope *q,
                         Polku__AccessAnswer *a)
{
    polku_envelope out = POLKU__ENVELOPE__INIT;
    char *to[1] = {(char *)asker};
    out.n_to = 1;
    out.to = to;
    out.client_key = q->client_key;
    a->query_id = q->access_query->query_id;
    out.body_case = POLKU__ENVELOPE__BODY_ACCESS_ANSWER;
    out.access_answer = a;
    router_send_envelope(b, rid, rid_len, &out);
}

void access_on_query(broker *b, const uint8_t *rid, size_t rid_len,
                     const char *sender, const polku_envelope *env)
{
    Polku__AccessAnswer a = POLKU__ACCESS_ANSWER__INIT;
    uint64_t now = polku_now_ms();
    b->counters.access_queries++;
    if (!b->access && !(b->access = calloc(1, sizeof *b->access))) {
        a.status = 503;
        a.error_code = "overloaded";
        answer_asker(b, rid, rid_len, sender, env, &a);
        return;
    }
    struct access_pending_set *set = b->access;
    expire(set, polku_mono_ms());
    if (env->client_key.len != 16 || env->n_to != 0) {
        a.status = 400;
        a.error_code = "bad_request";
    } else if (!ci_allows(b->consents, env->client_key.data, sender, NULL,
                          now)) {
        /* not known in scope: refused, unless a log still to be replayed
         * may hold the consent (an organisation that stays away after a
         * restart delays only askers the broker cannot place yet) */
        bool settled = ci_client_replayed(b->consents, env->client_key.data,
                                          org_replayed, b);
        a.status = settled ? 403 : 503;
        a.error_code = settled ? "consent_required" : "broker_rebuilding";
        b->counters.access_refused += settled;
    } else if (set->n == ACCESS_PENDING_MAX) {
        a.status = 503;
        a.error_code = "overloaded";
    }
    if (a.status) {
        answer_asker(b, rid, rid_len, sender, env, &a);
        return;
    }
    const char *scope[POLKU_MAX_DESTS];
    size_t n = ci_scope_orgs(b->consents, env->client_key.data, sender, now,
                             scope, POLKU_MAX_DESTS);
    access_pending *p = &set->p[set->n++];
    memset(p, 0, sizeof *p);
    memcpy(p->query_id, env->access_query->query_id.data, 16);
    snprintf(p->asker, sizeof p->asker, "%s", sender);
    p->expires_ms = polku_mono_ms() + ACCESS_PENDING_MS;
    char *asked[POLKU_MAX_DESTS], *unreachable[POLKU_MAX_DESTS];
    size_t n_unreachable = 0;
    for (size_t i = 0; i < n; i++) {
        polku_envelope q = POLKU__ENVELOPE__INIT;
        Polku__AccessQuery aq = POLKU__ACCESS_QUERY__INIT;
        char *to[1] = {(char *)scope[i]};
        q.n_to = 1;
        q.to = to;
        q.client_key = env->client_key;
        aq.query_id = env->access_query->query_id;
        aq.asker = (char *)sender;
        q.body_case = POLKU__ENVELOPE__BODY_ACCESS_QUERY;
        q.access_query = &aq;
        if (router_send_to_org(b, scope[i], &q) == 0) {
            snprintf(p->asked[p->n_asked], 33, "%s", scope[i]);
            asked[p->n_asked] = p->asked[p->n_asked];
            p->n_asked++;
        } else {
            unreachable[n_unreachable++] = (char *)scope[i];
        }
    }
    a.status = 200;
    a.n_asked = p->n_asked;
    a.asked = asked;
    a.n_unreachable = n_unreachable;
    a.unreachable = unreachable;
    log_info("%s: access report asked of %zu organisations (%zu offline)",
             sender, p->n_asked, n_unreachable);
    answer_asker(b, rid, rid_len, sender, env, &a);
}

void access_on_answer(broker *b, const char *sender, const polku_envelope *env,
                      const void *payload, size_t len)
{
    struct access_pending_set *set = b->access;
    const Polku__AccessAnswer *a = env->access_answer;
    if (!set || a->query_id.len != 16 || env->n_to != 1 ||
        strcmp(a->from_org, sender) != 0)
        return;
    expire(set, polku_mono_ms());
    for (size_t i = 0; i < set->n; i++) {
        access_pending *p = &set->p[i];
        if (memcmp(p->query_id, a->query_id.data, 16) != 0 ||
            strcmp(p->asker, env->to[0]) != 0)
            continue;
        for (size_t k = 0; k < p->n_asked; k++) {
            if (strcmp(p->asked[k], sender) != 0 || p->answered[k])
                continue;
            p->answered[k] = true;
            router_send_raw(b, p->asker, payload, len);
            return;
        }
        return;
    }
}

void access_pending_free(broker *b)
{
    free(b->access);
    b->access = NULL;
}
