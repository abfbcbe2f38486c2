/* link_chain.c — heads said and heard by the link (see link_chain.h). */
#include "link_chain.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "logchain.h"
#include "polku/error.h"
#include "polku/log.h"

int link_chain_init(link_chain *c, const char *org, const char *secret_z85,
                    store *st, batch *b, directory *dir)
{
    memset(c, 0, sizeof *c);
    c->org = org;
    c->st = st;
    c->b = b;
    c->dir = dir;
    uint8_t secret[32];
    if (!secret_z85 || strlen(secret_z85) != 40 ||
        !zmq_z85_decode(secret, secret_z85))
        return POLKU_EINVAL;
    polku_sign_keypair(secret, c->pk, c->sk);
    sodium_memzero(secret, sizeof secret);
    return POLKU_OK;
}

void link_chain_fini(link_chain *c)
{
    sodium_memzero(c->sk, sizeof c->sk);
}

static void to_pb(const polku_chain_head *h, Polku__ChainHead *pb)
{
    polku__chain_head__init(pb);
    pb->org = (char *)h->org;
    pb->seq = h->seq;
    pb->incarnation = h->incarnation;
    pb->hash.data = (uint8_t *)h->hash;
    pb->hash.len = POLKU_CHAIN_HASH;
    if (h->signed_) {
        pb->signature.data = (uint8_t *)h->sig;
        pb->signature.len = POLKU_CHAIN_SIG;
    }
}

Polku__ChainHead *link_chain_own(link_chain *c)
{
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(c->st->env, NULL, MDB_RDONLY, &txn))
        return NULL;
    uint64_t last = 0;
    int rc = store_last_seq(c->st, txn, &last);
    if (!rc && last && last != c->own.seq)
        rc = logchain_own_head(c->st, txn, c->org, c->sk, &c->own);
    mdb_txn_abort(txn);
    if (rc || last == 0 || c->own.seq != last)
        return NULL;
    to_pb(&c->own, &c->own_pb);
    return &c->own_pb;
}

Polku__ChainHead **link_chain_held(link_chain *c, size_t *n)
{
    *n = 0;
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(c->st->env, NULL, MDB_RDONLY, &txn))
        return c->held_ptrs;
    for (size_t i = 0; i < directory_count(c->dir) && *n < LINK_CHAIN_MAX_HELD;
         i++) {
        const char *org = directory_org_at(c->dir, i);
        char why[96];
        if (!org || strcmp(org, c->org) == 0 ||
            logchain_held(c->st, txn, org, &c->held[*n], why, sizeof why))
            continue;
        to_pb(&c->held[*n], &c->held_pb[*n]);
        c->held_ptrs[*n] = &c->held_pb[*n];
        (*n)++;
    }
    mdb_txn_abort(txn);
    return c->held_ptrs;
}

/* The heads to keep, verified, for the batch item. */
typedef struct heard {
    link_chain *c;
    polku_chain_head *v;
    size_t n;
} heard;

static int keep_heads(MDB_txn *txn, void *ctx)
{
    heard *h = ctx;
    for (size_t i = 0; i < h->n; i++) {
        bool kept = false;
        int rc = logchain_hold(h->c->st, txn, &h->v[i], &kept);
        if (rc)
            return rc;
        h->c->heads_kept += kept;
    }
    return POLKU_OK;
}

/* The key org's heads are checked with: its directory sign_key, ours for
 * our own log; false when none is known. */
static bool key_of(link_chain *c, const char *org, uint8_t pk[32])
{
    if (strcmp(org, c->org) == 0) {
        memcpy(pk, c->pk, 32);
        return true;
    }
    const char *z85 = directory_sign_key(c->dir, org);
    return z85 && strlen(z85) == 40 && zmq_z85_decode(pk, z85);
}

void link_chain_heard(link_chain *c, Polku__ChainHead *const *heads, size_t n)
{
    uint8_t digest[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof digest);
    for (size_t i = 0; i < n; i++) {
        crypto_generichash_update(&st, (const uint8_t *)heads[i]->org,
                                  strlen(heads[i]->org));
        crypto_generichash_update(&st, (const uint8_t *)&heads[i]->seq, 8);
        crypto_generichash_update(&st, heads[i]->hash.data, heads[i]->hash.len);
    }
    crypto_generichash_final(&st, digest, sizeof digest);
    if (n == 0 || memcmp(digest, c->heard_digest, sizeof digest) == 0)
        return;
    polku_chain_head v[LINK_CHAIN_MAX_HELD];
    size_t k = 0;
    for (size_t i = 0; i < n && k < LINK_CHAIN_MAX_HELD; i++) {
        const Polku__ChainHead *pb = heads[i];
        polku_chain_head h = {.incarnation = pb->incarnation, .seq = pb->seq};
        if (pb->hash.len != POLKU_CHAIN_HASH || !pb->org)
            continue;
        snprintf(h.org, sizeof h.org, "%s", pb->org);
        memcpy(h.hash, pb->hash.data, POLKU_CHAIN_HASH);
        if (pb->signature.len == POLKU_CHAIN_SIG) {
            memcpy(h.sig, pb->signature.data, POLKU_CHAIN_SIG);
            h.signed_ = true;
        }
        uint8_t pk[32];
        if (key_of(c, h.org, pk) && !polku_chain_head_verify(&h, pk)) {
            c->heads_refused++;
            log_warn("a chain head of %s at seq %llu from the broker does not "
                     "verify under its signing key: not kept",
                     h.org, (unsigned long long)h.seq);
            continue;
        }
        v[k++] = h;
    }
    heard h = {c, v, k};
    if (batch_run_item(c->b, keep_heads, &h) == POLKU_OK)
        memcpy(c->heard_digest, digest, sizeof digest);
}
