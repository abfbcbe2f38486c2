/* logchain.c — the event log's hash chain and the heads held (see
 * logchain.h). */
#include "logchain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"
#include "polku/log.h"

#define CHAIN_FROM_KEY "chain_from"
#define HEAD_KEY_PREFIX "head:"

int logchain_hash_at(store *st, MDB_txn *txn, uint64_t seq,
                     uint8_t out[POLKU_CHAIN_HASH])
{
    MDB_val ev;
    int rc = store_event_get(st, txn, seq, &ev);
    if (rc)
        return rc;
    polku_chain_hash(ev.mv_data, ev.mv_size, out);
    return POLKU_OK;
}

static int read_chain_from(store *st, MDB_txn *txn, uint64_t *out)
{
    MDB_val v;
    int rc = store_meta_get(st, txn, CHAIN_FROM_KEY, &v);
    if (rc)
        return rc;
    if (v.mv_size != 8)
        return POLKU_ESTORE;
    *out = store_seq_from_key(v.mv_data);
    return POLKU_OK;
}

int logchain_load(store *st, uint64_t last_seq, uint64_t *chain_from)
{
    MDB_txn *txn = NULL;
    int rc = store_err(mdb_txn_begin(st->env, NULL, 0, &txn));
    if (rc)
        return rc;
    rc = read_chain_from(st, txn, chain_from);
    if (rc != POLKU_ENOTFOUND) {
        mdb_txn_abort(txn);
        return rc;
    }
    *chain_from = last_seq + 1;
    uint8_t v[8];
    store_seq_key(*chain_from, v);
    rc = store_meta_put(st, txn, CHAIN_FROM_KEY, v, sizeof v);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    if (last_seq)
        log_info("event log: the hash chain begins at seq %llu (the %llu "
                 "events before it were written before chains)",
                 (unsigned long long)*chain_from, (unsigned long long)last_seq);
    return store_commit_durable(st, txn);
}

int logchain_own_head(store *st, MDB_txn *txn, const char *org,
                      const uint8_t sk[POLKU_SIGN_SK], polku_chain_head *head)
{
    memset(head, 0, sizeof *head);
    snprintf(head->org, sizeof head->org, "%s", org);
    uint64_t last = 0;
    int rc = store_last_seq(st, txn, &last);
    if (rc || last == 0)
        return rc;
    MDB_val ev;
    rc = store_event_get(st, txn, last, &ev);
    if (rc)
        return rc;
    polku_envelope *env = NULL;
    char why[64];
    if (polku_envelope_decode(ev.mv_data, ev.mv_size, SIZE_MAX, &env, why,
                              sizeof why) == POLKU_OK)
        head->incarnation = env->origin_incarnation;
    polku_envelope_free(&env);
    head->seq = last;
    polku_chain_hash(ev.mv_data, ev.mv_size, head->hash);
    polku_chain_head_sign(head, sk);
    return POLKU_OK;
}

static void head_key(const char *org, char *key, size_t len)
{
    snprintf(key, len, HEAD_KEY_PREFIX "%s", org);
}

int logchain_held(store *st, MDB_txn *txn, const char *org,
                  polku_chain_head *head, char *why, size_t why_len)
{
    char key[48];
    head_key(org, key, sizeof key);
    MDB_val v;
    int rc = store_meta_get(st, txn, key, &v);
    if (rc)
        return rc;
    if (polku_chain_head_decode(org, v.mv_data, v.mv_size, head, why, why_len))
        return POLKU_ECORRUPT;
    return POLKU_OK;
}

int logchain_hold(store *st, MDB_txn *txn, const polku_chain_head *h,
                  bool *kept)
{
    *kept = false;
    if (!polku_org_id_valid(h->org))
        return POLKU_EINVAL;
    polku_chain_head old;
    char why[96];
    int rc = logchain_held(st, txn, h->org, &old, why, sizeof why);
    if (rc == POLKU_OK && old.incarnation == h->incarnation &&
        old.seq >= h->seq)
        return POLKU_OK; /* as new or newer held already */
    if (rc && rc != POLKU_ENOTFOUND && rc != POLKU_ECORRUPT)
        return rc;
    uint8_t rec[POLKU_CHAIN_HEAD_RECORD];
    polku_chain_head_encode(h, rec);
    char key[48];
    head_key(h->org, key, sizeof key);
    rc = store_meta_put(st, txn, key, rec, sizeof rec);
    *kept = rc == POLKU_OK;
    return rc;
}

typedef struct walk {
    store *st;
    logchain_report *r;
    uint64_t prev_seq;
    uint8_t prev_hash[POLKU_CHAIN_HASH];
    bool have_prev;
} walk;

static int walk_one(void *arg, uint64_t seq, const void *data, size_t len)
{
    walk *w = arg;
    logchain_report *r = w->r;
    polku_envelope *env = NULL;
    char why[96];
    if (polku_envelope_decode(data, len, SIZE_MAX, &env, why, sizeof why)) {
        r->bad_seq = seq;
        snprintf(r->problem, sizeof r->problem,
                 "the event does not decode (%s)", why);
        polku_envelope_free(&env);
        return POLKU_EREFUSED;
    }
    bool chained = seq >= r->chain_from && r->chain_from > 0;
    if (chained && w->have_prev && w->prev_seq == seq - 1) {
        r->checked++;
        if (env->chain_prev.len != POLKU_CHAIN_HASH ||
            memcmp(env->chain_prev.data, w->prev_hash, POLKU_CHAIN_HASH)) {
            r->bad_seq = seq - 1;
            snprintf(r->problem, sizeof r->problem,
                     "event %llu names another hash of event %llu than the "
                     "stored event has: event %llu was changed (or event "
                     "%llu's link)",
                     (unsigned long long)seq, (unsigned long long)(seq - 1),
                     (unsigned long long)(seq - 1), (unsigned long long)seq);
            polku_envelope_free(&env);
            return POLKU_EREFUSED;
        }
    } else if (chained && seq > 1 && seq != r->chain_from) {
        r->bad_seq = seq - 1;
        snprintf(r->problem, sizeof r->problem,
                 "event %llu is missing from the log",
                 (unsigned long long)(seq - 1));
        polku_envelope_free(&env);
        return POLKU_EREFUSED;
    }
    polku_chain_hash(data, len, w->prev_hash);
    w->prev_seq = seq;
    w->have_prev = true;
    if (r->head_held && seq == r->head.seq) {
        if (env->origin_incarnation != r->head.incarnation) {
            r->head_skipped = true;
        } else if (memcmp(w->prev_hash, r->head.hash, POLKU_CHAIN_HASH)) {
            r->bad_seq = seq;
            snprintf(r->problem, sizeof r->problem,
                     "event %llu does not hash to the head the other "
                     "organisations hold: the log was rewritten at or "
                     "before it",
                     (unsigned long long)seq);
            polku_envelope_free(&env);
            return POLKU_EREFUSED;
        } else {
            r->head_matches = true;
        }
    }
    polku_envelope_free(&env);
    return POLKU_OK;
}

int logchain_verify(store *st, MDB_txn *txn, const char *org, const uint8_t *pk,
                    logchain_report *r)
{
    memset(r, 0, sizeof *r);
    int rc = read_chain_from(st, txn, &r->chain_from);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    rc = store_last_seq(st, txn, &r->last_seq);
    if (rc)
        return rc;
    char why[96];
    rc = logchain_held(st, txn, org, &r->head, why, sizeof why);
    if (rc == POLKU_ECORRUPT) {
        r->bad_seq = r->last_seq ? r->last_seq : 1;
        snprintf(r->problem, sizeof r->problem,
                 "the held head of this log does not decode: %s", why);
        return POLKU_OK;
    }
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    r->head_held = rc == POLKU_OK;
    if (r->head_held && pk)
        r->head_signature = polku_chain_head_verify(&r->head, pk);
    if (r->head_held && r->head.seq > r->last_seq) {
        r->bad_seq = r->last_seq + 1;
        snprintf(r->problem, sizeof r->problem,
                 "the other organisations hold this log up to seq %llu, "
                 "the store ends at %llu",
                 (unsigned long long)r->head.seq,
                 (unsigned long long)r->last_seq);
        return POLKU_OK;
    }
    /* one event before the chain's first, so that its link is checked */
    uint64_t from = r->chain_from > 1 ? r->chain_from - 1 : 1;
    if (r->head_held && r->head.seq && r->head.seq < from)
        from = r->head.seq;
    walk w = {.st = st, .r = r};
    rc = store_each_event(st, txn, from, walk_one, &w);
    if (rc == POLKU_EREFUSED)
        rc = POLKU_OK;
    return rc;
}

int logchain_open_readonly(store *st, const char *dir, MDB_txn **txn)
{
    memset(st, 0, sizeof *st);
    *txn = NULL;
    int rc = mdb_env_create(&st->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(st->env, 16);
    if (!rc)
        rc = mdb_env_open(st->env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
    if (!rc)
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (!rc)
        rc = mdb_dbi_open(*txn, "events", 0, &st->events);
    if (!rc)
        rc = mdb_dbi_open(*txn, "meta", 0, &st->meta);
    if (rc) {
        if (*txn)
            mdb_txn_abort(*txn);
        *txn = NULL;
        if (st->env)
            mdb_env_close(st->env);
        st->env = NULL;
        return store_err(rc);
    }
    return POLKU_OK;
}

void logchain_close_readonly(store *st, MDB_txn *txn)
{
    if (txn)
        mdb_txn_abort(txn);
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
}
