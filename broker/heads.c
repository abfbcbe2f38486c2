/* heads.c — chain heads and tips per organisation (see heads.h). */
#include "heads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/log.h"

typedef struct org_chain {
    char org[33];
    /* the latest head told (signed by the owner when it has a sign_key) */
    bool known;
    polku_chain_head head;
    /* the tip of the chain as computed from the events seen in order */
    bool tip_set;
    uint64_t tip_seq, tip_inc;
    uint8_t tip_hash[POLKU_CHAIN_HASH];
    /* marked diverged: the first bad seq, since when, what */
    bool diverged;
    uint64_t bad_seq, since_ms, diverged_inc;
    char detail[160];
    /* for heads_all */
    Polku__ChainHead pb;
    UT_hash_handle hh;
} org_chain;

struct broker_heads {
    org_chain *by_org;
    Polku__ChainHead **all;
    size_t all_cap;
    unsigned long long divergences, reanchors;
};

broker_heads *heads_new(void)
{
    return calloc(1, sizeof(broker_heads));
}

void heads_free(broker_heads **hp)
{
    if (!hp || !*hp)
        return;
    broker_heads *h = *hp;
    org_chain *c, *tmp;
    HASH_ITER(hh, h->by_org, c, tmp)
    {
        HASH_DEL(h->by_org, c);
        free(c);
    }
    free(h->all);
    free(h);
    *hp = NULL;
}

static org_chain *find(const broker_heads *h, const char *org)
{
    org_chain *c = NULL;
    HASH_FIND_STR(h->by_org, org, c);
    return c;
}

static org_chain *get(broker_heads *h, const char *org)
{
    org_chain *c = find(h, org);
    if (c || !polku_org_id_valid(org))
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->org, sizeof c->org, "%s", org);
    HASH_ADD_STR(h->by_org, org, c);
    return c;
}

static heads_verdict diverge(broker_heads *h, org_chain *c, uint64_t seq,
                             uint64_t inc, uint64_t now_ms, const char *what)
{
    if (!c->diverged) {
        c->diverged = true;
        c->bad_seq = seq;
        c->since_ms = now_ms;
        c->diverged_inc = inc;
        snprintf(c->detail, sizeof c->detail, "seq %llu: %s",
                 (unsigned long long)seq, what);
        h->divergences++;
        log_error("%s: its event log does not extend the chain the broker "
                  "knows at seq %llu (%s): refused until an operator "
                  "restores its store (alert log_diverged)",
                  c->org, (unsigned long long)seq, what);
    }
    return HEADS_DIVERGED;
}

static const broker_org *org_of(const broker_config *cfg, const char *org)
{
    for (size_t i = 0; i < cfg->org_count; i++)
        if (strcmp(cfg->orgs[i].id, org) == 0)
            return &cfg->orgs[i];
    return NULL;
}

heads_verdict heads_note_head(broker_heads *h, const broker_config *cfg,
                              const Polku__ChainHead *pb, bool from_owner,
                              uint64_t now_ms)
{
    const broker_org *o = org_of(cfg, pb->org);
    if (!o || pb->hash.len != POLKU_CHAIN_HASH || pb->seq == 0)
        return HEADS_IGNORED;
    polku_chain_head head = {.incarnation = pb->incarnation, .seq = pb->seq};
    snprintf(head.org, sizeof head.org, "%s", pb->org);
    memcpy(head.hash, pb->hash.data, POLKU_CHAIN_HASH);
    if (pb->signature.len == POLKU_CHAIN_SIG) {
        memcpy(head.sig, pb->signature.data, POLKU_CHAIN_SIG);
        head.signed_ = true;
    }
    if (o->has_sign_key) {
        if (!polku_chain_head_verify(&head, o->sign_key)) {
            log_warn("%s: a chain head of %s at seq %llu whose signature "
                     "does not verify under its sign_key: ignored",
                     from_owner ? pb->org : "another organisation", pb->org,
                     (unsigned long long)pb->seq);
            return HEADS_IGNORED;
        }
    } else if (!from_owner) {
        return HEADS_IGNORED; /* another's word, unverifiable */
    }
    org_chain *c = get(h, pb->org);
    if (!c)
        return HEADS_IGNORED;
    if (c->diverged)
        return HEADS_DIVERGED;
    if (c->known && c->head.seq == head.seq &&
        c->head.incarnation == head.incarnation &&
        memcmp(c->head.hash, head.hash, POLKU_CHAIN_HASH) != 0)
        return diverge(h, c, head.seq, head.incarnation, now_ms,
                       "another head at a seq the broker holds a head of");
    if (c->tip_set && c->tip_seq == head.seq &&
        c->tip_inc == head.incarnation &&
        memcmp(c->tip_hash, head.hash, POLKU_CHAIN_HASH) != 0)
        return diverge(h, c, head.seq, head.incarnation, now_ms,
                       "a head that differs from the event the broker saw");
    if (!c->known || head.seq > c->head.seq ||
        (head.seq == c->head.seq && head.incarnation != c->head.incarnation &&
         from_owner)) {
        c->head = head;
        c->known = true;
    }
    return HEADS_OK;
}

heads_verdict heads_note_event(broker_heads *h, const char *org,
                               const polku_envelope *env, const void *data,
                               size_t len, bool regressed, uint64_t now_ms)
{
    uint8_t hash[POLKU_CHAIN_HASH];
    polku_chain_hash(data, len, hash);
    return heads_note_event_hashed(h, org, env, hash, regressed, now_ms);
}

heads_verdict heads_note_event_hashed(broker_heads *h, const char *org,
                                      const polku_envelope *env,
                                      const uint8_t hash[POLKU_CHAIN_HASH],
                                      bool regressed, uint64_t now_ms)
{
    org_chain *c = get(h, org);
    if (!c)
        return HEADS_IGNORED;
    if (c->diverged)
        return HEADS_DIVERGED;
    uint64_t seq = env->origin_seq, inc = env->origin_incarnation;
    bool chained = env->chain_prev.len == POLKU_CHAIN_HASH;
    bool move = !c->tip_set || seq > c->tip_seq;
    if (c->tip_set && seq == c->tip_seq + 1 && chained &&
        memcmp(env->chain_prev.data, c->tip_hash, POLKU_CHAIN_HASH) != 0) {
        if (!(regressed && inc != c->tip_inc))
            return diverge(h, c, c->tip_seq, inc, now_ms,
                           "the next event names another hash of it than "
                           "the event the broker saw");
        c->tip_set = false; /* a new incarnation after a restore */
        h->reanchors++;
        log_warn("%s: chain re-anchored at seq %llu (incarnation %016llx, "
                 "after store_regressed)",
                 org, (unsigned long long)seq, (unsigned long long)inc);
    } else if (c->tip_set && seq <= c->tip_seq && inc != c->tip_inc &&
               regressed) {
        move = true; /* the new incarnation rewrites what the store lost */
        h->reanchors++;
        log_warn("%s: chain re-anchored at seq %llu (incarnation %016llx, "
                 "after store_regressed)",
                 org, (unsigned long long)seq, (unsigned long long)inc);
    } else if (c->tip_set && seq == c->tip_seq && inc == c->tip_inc &&
               chained && memcmp(hash, c->tip_hash, POLKU_CHAIN_HASH) != 0) {
        /* (an event without a chain is from before chains: its bytes are
         * not held to anything) */
        return diverge(h, c, seq, inc, now_ms,
                       "another event than the one the broker saw");
    }
    if (c->known && seq == c->head.seq && inc == c->head.incarnation &&
        memcmp(hash, c->head.hash, POLKU_CHAIN_HASH) != 0)
        return diverge(h, c, seq, inc, now_ms,
                       "the event does not hash to the signed head");
    if (move) {
        c->tip_set = true;
        c->tip_seq = seq;
        c->tip_inc = inc;
        memcpy(c->tip_hash, hash, POLKU_CHAIN_HASH);
    }
    return HEADS_OK;
}

bool heads_diverged(const broker_heads *h, const char *org, uint64_t *seq,
                    uint64_t *since_ms, const char **detail)
{
    const org_chain *c = find(h, org);
    if (!c || !c->diverged)
        return false;
    if (seq)
        *seq = c->bad_seq;
    if (since_ms)
        *since_ms = c->since_ms;
    if (detail)
        *detail = c->detail;
    return true;
}

uint64_t heads_diverged_incarnation(const broker_heads *h, const char *org)
{
    const org_chain *c = find(h, org);
    return c && c->diverged ? c->diverged_inc : 0;
}

void heads_reanchor(broker_heads *h, const char *org)
{
    org_chain *c = find(h, org);
    if (!c)
        return;
    c->diverged = false;
    c->tip_set = false;
    c->known = false;
    h->reanchors++;
}

void heads_each_diverged(const broker_heads *h,
                         void (*fn)(void *arg, const char *org, uint64_t seq,
                                    uint64_t since_ms, const char *detail),
                         void *arg)
{
    for (const org_chain *c = h->by_org; c; c = c->hh.next)
        if (c->diverged)
            fn(arg, c->org, c->bad_seq, c->since_ms, c->detail);
}

void heads_all(broker_heads *h, Polku__ChainHead ***out, size_t *n)
{
    size_t count = 0;
    for (org_chain *c = h->by_org; c; c = c->hh.next)
        count += c->known && !c->diverged;
    if (count > h->all_cap) {
        Polku__ChainHead **v = realloc(h->all, count * sizeof *v);
        if (!v) {
            *out = NULL;
            *n = 0;
            return;
        }
        h->all = v;
        h->all_cap = count;
    }
    size_t k = 0;
    for (org_chain *c = h->by_org; c; c = c->hh.next) {
        if (!c->known || c->diverged)
            continue;
        polku__chain_head__init(&c->pb);
        c->pb.org = c->org;
        c->pb.seq = c->head.seq;
        c->pb.incarnation = c->head.incarnation;
        c->pb.hash.data = c->head.hash;
        c->pb.hash.len = POLKU_CHAIN_HASH;
        if (c->head.signed_) {
            c->pb.signature.data = c->head.sig;
            c->pb.signature.len = POLKU_CHAIN_SIG;
        }
        h->all[k++] = &c->pb;
    }
    *out = h->all;
    *n = k;
}

unsigned long long heads_divergences(const broker_heads *h)
{
    return h->divergences;
}

unsigned long long heads_reanchors(const broker_heads *h)
{
    return h->reanchors;
}
