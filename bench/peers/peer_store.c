/* peer_store.c — see peer_store.h. */
#include "peer_store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "peer_common.h"

struct peer_store {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; /* the open batch, or NULL */
    uint64_t *seqs;
    size_t n, max, commits;
};

static void check(int rc, const char *what)
{
    if (rc)
        peer_die(what, mdb_strerror(rc));
}

peer_store *peer_store_open(const char *dir, size_t max_batch)
{
    if (mkdir(dir, 0700) && errno != EEXIST)
        peer_die("receiver store", strerror(errno));
    peer_store *s = calloc(1, sizeof *s);
    if (!s || !(s->seqs = calloc(max_batch, sizeof *s->seqs)))
        peer_die("receiver store", "out of memory");
    s->max = max_batch;
    MDB_txn *txn = NULL;
    check(mdb_env_create(&s->env), "receiver store: create");
    check(mdb_env_set_mapsize(s->env, (size_t)1 << 30), "receiver store: map");
    /* 0: the default, durable flags (each commit flushes twice). */
    check(mdb_env_open(s->env, dir, 0, 0600), "receiver store: open");
    check(mdb_txn_begin(s->env, NULL, 0, &txn), "receiver store: begin");
    check(mdb_dbi_open(txn, NULL, 0, &s->dbi), "receiver store: dbi");
    check(mdb_txn_commit(txn), "receiver store: commit");
    return s;
}

void peer_store_put(peer_store *s, uint64_t seq, const void *data, size_t len)
{
    if (s->n == s->max)
        peer_die("receiver store", "batch larger than its limit");
    if (!s->txn)
        check(mdb_txn_begin(s->env, NULL, 0, &s->txn), "receiver: begin");
    uint8_t key[8];
    uint64_t k = seq;
    for (int i = 7; i >= 0; i--, k >>= 8)
        key[i] = (uint8_t)(k & 0xff);
    MDB_val mk = {sizeof key, key}, mv = {len, (void *)data};
    check(mdb_put(s->txn, s->dbi, &mk, &mv, 0), "receiver: put");
    s->seqs[s->n++] = seq;
}

size_t peer_store_pending(const peer_store *s)
{
    return s->n;
}

size_t peer_store_commit(peer_store *s)
{
    size_t n = s->n;
    if (!s->txn)
        return 0;
    int rc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    check(rc, "receiver: commit");
    s->commits++;
    peer_mark_received(s->seqs, n);
    s->n = 0;
    return n;
}

const uint64_t *peer_store_batch(const peer_store *s)
{
    return s->seqs;
}

size_t peer_store_commits(const peer_store *s)
{
    return s->commits;
}

void peer_store_close(peer_store **s)
{
    if (!s || !*s)
        return;
    if ((*s)->txn)
        mdb_txn_abort((*s)->txn);
    mdb_env_close((*s)->env);
    free((*s)->seqs);
    free(*s);
    *s = NULL;
}
