/* store.c — LMDB environment, named databases and typed accessors. */
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "polku/error.h"
#include "polku/log.h"
#include "store_check.h"

int store_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return POLKU_OK;
    case MDB_NOTFOUND:
        return POLKU_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        return POLKU_EFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        return POLKU_ECORRUPT;
    default:
        return POLKU_ESTORE;
    }
}

void store_seq_key(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(seq & 0xff);
        seq >>= 8;
    }
}

uint64_t store_seq_from_key(const void *key)
{
    const uint8_t *p = key;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int mkdir_p(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return POLKU_EINVAL;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) && errno != EEXIST)
            return POLKU_EIO;
        *p = '/';
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        return POLKU_EIO;
    return POLKU_OK;
}

static int open_dbis(store *s, const char *org)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return store_err(rc);
    rc = mdb_dbi_open(txn, "events", MDB_CREATE, &s->events);
    if (!rc)
        rc = mdb_dbi_open(txn, "outbox", MDB_CREATE, &s->outbox);
    if (!rc)
        rc = mdb_dbi_open(txn, "receipts", MDB_CREATE, &s->receipts);
    if (!rc)
        rc = mdb_dbi_open(txn, "referrals", MDB_CREATE, &s->referrals);
    if (!rc)
        rc = mdb_dbi_open(txn, "consents", MDB_CREATE, &s->consents);
    if (!rc)
        rc = mdb_dbi_open(txn, "consents_by_client", MDB_CREATE,
                          &s->consents_by_client);
    if (!rc)
        rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &s->clients);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
    if (!rc)
        rc = mdb_dbi_open(txn, "paths", MDB_CREATE, &s->paths);
    if (!rc)
        rc = mdb_dbi_open(txn, "handovers", MDB_CREATE, &s->handovers);
    if (!rc)
        rc = mdb_dbi_open(txn, "reconcile", MDB_CREATE, &s->reconcile);
    if (rc) {
        mdb_txn_abort(txn);
        return store_err(rc);
    }
    MDB_val v;
    int prc = store_meta_get(s, txn, "org", &v);
    if (prc == POLKU_ENOTFOUND) {
        prc = store_meta_put(s, txn, "org", org, strlen(org));
    } else if (prc == POLKU_OK && (v.mv_size != strlen(org) ||
                                   memcmp(v.mv_data, org, v.mv_size))) {
        log_error("store belongs to organisation '%.*s', not '%s'",
                  (int)v.mv_size, (const char *)v.mv_data, org);
        prc = POLKU_EINVAL;
    }
    if (prc) {
        mdb_txn_abort(txn);
        return prc;
    }
    return store_commit_durable(s, txn);
}

int store_commit_durable(store *s, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    if (!rc)
        rc = mdb_env_sync(s->env, 1);
    return store_err(rc);
}

int store_open(store *s, const char *dir, uint64_t map_size, uint64_t map_max,
               const char *org)
{
    memset(s, 0, sizeof *s);
    s->map_size = map_size;
    s->map_max = map_max;
    if (mkdir_p(dir)) {
        log_error("cannot create store directory %s: %s", dir, strerror(errno));
        return POLKU_EIO;
    }
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, 16);
    if (!rc)
        rc = mdb_env_set_mapsize(s->env, (size_t)map_size);
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
    store_check_report rep;
    memset(&rep, 0, sizeof rep);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        snprintf(rep.problem, sizeof rep.problem,
                 "data.mdb is not a readable LMDB file, its meta pages are "
                 "damaged (%s)",
                 mdb_strerror(rc));
        store_check_log_damage(dir, &rep);
        return POLKU_ECORRUPT;
    }
    if (rc) {
        log_error("cannot open store %s: %s", dir, mdb_strerror(rc));
        return store_err(rc);
    }
    /* Before anything reads a page: a file cut short would be a SIGBUS. */
    rc = store_check_size(s->env, dir, &rep);
    if (!rc)
        rc = store_check_walk(s->env, false, &rep);
    if (rc) {
        if (rc == POLKU_ECORRUPT)
            store_check_log_damage(dir, &rep);
        else
            log_error("cannot check store %s: %s", dir, rep.problem);
        return rc;
    }
    /* A map grown by an earlier run is kept as it is. */
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    if (info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize;
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (dead)
        log_info("cleared %d stale reader slots", dead);
    return open_dbis(s, org);
}

void store_close(store *s)
{
    if (s->env) {
        /* the last commit's meta page (MDB_NOMETASYNC) */
        int rc = mdb_env_sync(s->env, 1);
        if (rc && rc != EACCES && rc != EINVAL)
            log_error("store flush at close failed: %s", mdb_strerror(rc));
        mdb_env_close(s->env);
    }
    s->env = NULL;
}

int store_grow(store *s)
{
    if (s->map_size >= s->map_max)
        return POLKU_EFULL;
    uint64_t next = s->map_size * 2;
    if (next > s->map_max)
        next = s->map_max;
    int rc = mdb_env_set_mapsize(s->env, (size_t)next);
    if (rc) {
        log_error("cannot grow the store map: %s", mdb_strerror(rc));
        return store_err(rc);
    }
    log_info("store map grown from %llu to %llu KiB",
             (unsigned long long)(s->map_size >> 10),
             (unsigned long long)(next >> 10));
    s->map_size = next;
    return POLKU_OK;
}

uint64_t store_used(store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
        return 0;
    return (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

/* Room kept ahead of the last used page; when it runs short, a chunk of
 * a thirty-second of what is used (within these bounds) is written at
 * once. The zeros are flushed once, by the next commit: a bigger chunk
 * makes that commit slower (8 MiB: a few ms once in ~3 000 referrals),
 * a smaller one makes it more often. Measured on ext4 (tmp file, 4 pages
 * and one fdatasync per commit): 89-94 us of CPU and 245-363 us wall per
 * commit when the file grows, 51-57 us and 137-274 us when it does not. */
#define STORE_AHEAD_LOW ((uint64_t)1 << 20)
#define STORE_AHEAD_CHUNK_MIN ((uint64_t)1 << 20)
#define STORE_AHEAD_CHUNK_MAX ((uint64_t)8 << 20)

void store_write_ahead(store *s)
{
    uint64_t used = store_used(s);
    if (!used || used + STORE_AHEAD_LOW <= s->ahead_end)
        return;
    int fd;
    struct stat sb;
    if (mdb_env_get_fd(s->env, &fd) || fstat(fd, &sb))
        return;
    /* Never below what the file or LMDB holds: only beyond both. */
    uint64_t from = (uint64_t)sb.st_size > used ? (uint64_t)sb.st_size : used;
    uint64_t chunk = used / 32;
    if (chunk < STORE_AHEAD_CHUNK_MIN)
        chunk = STORE_AHEAD_CHUNK_MIN;
    if (chunk > STORE_AHEAD_CHUNK_MAX)
        chunk = STORE_AHEAD_CHUNK_MAX;
    uint64_t to = used + STORE_AHEAD_LOW + chunk;
    if (to > s->map_size)
        to = s->map_size;
    if (from + STORE_AHEAD_LOW >= to) {
        s->ahead_end = from; /* room enough, or the map's end */
        return;
    }
    static const uint8_t zeros[1 << 16];
    for (uint64_t at = from; at < to;) {
        size_t n = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)at);
        if (w <= 0) {
            /* A full disk shows here first: LMDB will say so at its
             * commit; what was written stays zeros beyond its pages. */
            log_warn("cannot keep space ahead in the store: %s",
                     w < 0 ? strerror(errno) : "short write");
            s->ahead_end = used + STORE_AHEAD_LOW; /* again in a MiB */
            return;
        }
        at += (uint64_t)w;
    }
    /* Start writing the zeros back now: the next commit's flush need not
     * carry them all. */
    sync_file_range(fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
    s->ahead_end = to;
}

int store_last_seq(store *s, MDB_txn *txn, uint64_t *out)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->events, &c);
    if (rc)
        return store_err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return POLKU_OK;
    }
    if (rc)
        return store_err(rc);
    *out = store_seq_from_key(k.mv_data);
    return POLKU_OK;
}

int store_event_put(store *s, MDB_txn *txn, uint64_t seq, const void *data,
                    size_t len)
{
    uint8_t key[8];
    store_seq_key(seq, key);
    MDB_val k = {8, key}, v = {len, (void *)data};
    return store_err(mdb_put(txn, s->events, &k, &v, MDB_APPEND));
}

int store_event_get(store *s, MDB_txn *txn, uint64_t seq, MDB_val *data)
{
    uint8_t key[8];
    store_seq_key(seq, key);
    MDB_val k = {8, key};
    return store_err(mdb_get(txn, s->events, &k, data));
}

static size_t outbox_key(uint64_t seq, const char *dest, uint8_t out[48])
{
    size_t n = strlen(dest);
    if (n > 32)
        n = 32;
    store_seq_key(seq, out);
    memcpy(out + 8, dest, n);
    return 8 + n;
}

int store_outbox_put(store *s, MDB_txn *txn, uint64_t seq, const char *dest,
                     uint64_t now_ms)
{
    uint8_t key[48], val[8];
    MDB_val k = {outbox_key(seq, dest, key), key}, v = {8, val};
    store_seq_key(now_ms, val);
    return store_err(mdb_put(txn, s->outbox, &k, &v, 0));
}

int store_outbox_del(store *s, MDB_txn *txn, uint64_t seq, const char *dest)
{
    uint8_t key[48];
    MDB_val k = {outbox_key(seq, dest, key), key};
    return store_err(mdb_del(txn, s->outbox, &k, NULL));
}

int store_each_event(store *s, MDB_txn *txn, uint64_t from_seq,
                     int (*fn)(void *arg, uint64_t seq, const void *data,
                               size_t len),
                     void *arg)
{
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, s->events, &c);
    if (rc)
        return store_err(rc);
    uint8_t key[8];
    store_seq_key(from_seq, key);
    MDB_val k = {8, key}, v;
    int out = POLKU_OK;
    MDB_cursor_op op = MDB_SET_RANGE;
    while (!out && (rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        if (k.mv_size == 8)
            out = fn(arg, store_seq_from_key(k.mv_data), v.mv_data, v.mv_size);
    }
    mdb_cursor_close(c);
    if (out)
        return out;
    return rc == MDB_NOTFOUND || rc == 0 ? POLKU_OK : store_err(rc);
}

bool store_outbox_has(store *s, MDB_txn *txn, uint64_t seq, const char *dest)
{
    uint8_t key[48];
    MDB_val k = {outbox_key(seq, dest, key), key}, v;
    return mdb_get(txn, s->outbox, &k, &v) == 0;
}

int store_outbox_each(store *s, MDB_txn *txn, uint64_t through,
                      int (*fn)(void *arg, uint64_t seq, const char *dest),
                      void *arg)
{
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, s->outbox, &c);
    if (rc)
        return store_err(rc);
    MDB_val k, v;
    int out = POLKU_OK;
    while (!out && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size < 8 || k.mv_size > 40)
            continue;
        uint64_t seq = store_seq_from_key(k.mv_data);
        if (seq > through)
            break;
        char dest[33];
        snprintf(dest, sizeof dest, "%.*s", (int)(k.mv_size - 8),
                 (const char *)k.mv_data + 8);
        out = fn(arg, seq, dest);
    }
    mdb_cursor_close(c);
    if (out)
        return out;
    return rc == MDB_NOTFOUND || rc == 0 ? POLKU_OK : store_err(rc);
}

int store_receipt_last(store *s, MDB_txn *txn, const char *origin,
                       uint64_t *out)
{
    *out = 0;
    size_t n = strlen(origin);
    if (n > 32)
        return POLKU_EINVAL;
    /* receipts are keyed origin NUL seq: the first key past origin's is
     * origin followed by 0x01; the one before it is origin's highest */
    uint8_t key[48];
    memcpy(key, origin, n);
    key[n] = 1;
    MDB_val k = {n + 1, key}, v;
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, s->receipts, &c);
    if (rc)
        return store_err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(c, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    if (rc == 0 && k.mv_size == n + 9 && memcmp(k.mv_data, origin, n) == 0 &&
        ((const uint8_t *)k.mv_data)[n] == 0)
        *out = store_seq_from_key((const uint8_t *)k.mv_data + n + 1);
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? POLKU_OK : store_err(rc);
}

int store_receipt_add(store *s, MDB_txn *txn, const char *origin, uint64_t seq,
                      uint64_t now_ms, const uint8_t *msg_id,
                      store_receipt *out)
{
    uint8_t key[48], val[24];
    size_t n = strlen(origin);
    if (n > 32)
        return POLKU_EINVAL;
    memcpy(key, origin, n);
    key[n] = 0;
    store_seq_key(seq, key + n + 1);
    store_seq_key(now_ms, val);
    if (msg_id)
        memcpy(val + 8, msg_id, 16);
    MDB_val k = {n + 9, key}, v = {msg_id ? 24 : 8, val};
    int rc = mdb_put(txn, s->receipts, &k, &v, MDB_NOOVERWRITE);
    *out = STORE_RECEIPT_NEW;
    if (rc != MDB_KEYEXIST)
        return store_err(rc);
    /* on MDB_KEYEXIST, v holds the stored receipt */
    bool other = msg_id && v.mv_size == 24 &&
                 memcmp((const uint8_t *)v.mv_data + 8, msg_id, 16) != 0;
    *out = other ? STORE_RECEIPT_CONFLICT : STORE_RECEIPT_DUPLICATE;
    return POLKU_OK;
}

/* A protobuf record under a 16-byte id. The caller owns *out. */
static int record_get(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[16],
                      const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **out)
{
    MDB_val k = {16, (void *)id}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc)
        return store_err(rc);
    *out = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
    return *out ? POLKU_OK : POLKU_ESTORE;
}

/* Reserves the value in place and packs the record straight into the map. */
static int record_put(MDB_txn *txn, MDB_dbi dbi, const uint8_t id[16],
                      const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    MDB_val k = {16, (void *)id}, v = {len, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc)
        return store_err(rc);
    protobuf_c_message_pack(m, v.mv_data);
    return POLKU_OK;
}

int store_referral_get(store *s, MDB_txn *txn, const uint8_t id[16],
                       Polku__ReferralRecord **out)
{
    return record_get(txn, s->referrals, id,
                      &polku__referral_record__descriptor,
                      (ProtobufCMessage **)out);
}

int store_referral_put(store *s, MDB_txn *txn, const Polku__ReferralRecord *r)
{
    return record_put(txn, s->referrals, r->id.data, &r->base);
}

int store_path_get(store *s, MDB_txn *txn, const uint8_t key[16],
                   Polku__PathRecord **out)
{
    return record_get(txn, s->paths, key, &polku__path_record__descriptor,
                      (ProtobufCMessage **)out);
}

int store_path_put(store *s, MDB_txn *txn, const Polku__PathRecord *p)
{
    return record_put(txn, s->paths, p->client_key.data, &p->base);
}

int store_handover_get(store *s, MDB_txn *txn, const uint8_t id[16],
                       Polku__HandoverRecord **out)
{
    return record_get(txn, s->handovers, id,
                      &polku__handover_record__descriptor,
                      (ProtobufCMessage **)out);
}

int store_handover_put(store *s, MDB_txn *txn, const Polku__HandoverRecord *h)
{
    return record_put(txn, s->handovers, h->id.data, &h->base);
}

int store_consent_get(store *s, MDB_txn *txn, const uint8_t id[16],
                      Polku__ConsentRecord **out)
{
    return record_get(txn, s->consents, id, &polku__consent_record__descriptor,
                      (ProtobufCMessage **)out);
}

int store_consent_put(store *s, MDB_txn *txn, const Polku__ConsentRecord *r)
{
    int rc = record_put(txn, s->consents, r->id.data, &r->base);
    if (rc)
        return rc;
    if (r->client_key.len != 16)
        return POLKU_OK; /* a revocation that arrived before its grant */
    uint8_t ik[32];
    memcpy(ik, r->client_key.data, 16);
    memcpy(ik + 16, r->id.data, 16);
    MDB_val ikv = {32, ik}, empty = {0, ""};
    return store_err(mdb_put(txn, s->consents_by_client, &ikv, &empty, 0));
}

/* The consents a walk hands to its callback live only for the call, and
 * every referral created walks its client's: each is unpacked into a
 * block on the stack instead of a malloc per field (a bigger one spills
 * into malloc). */
typedef struct unpack_arena {
    char *cur;
    _Alignas(16) char block[2048];
} unpack_arena;

static void *arena_alloc(void *data, size_t size)
{
    unpack_arena *a = data;
    size_t n = (size + 15) & ~(size_t)15;
    if ((size_t)(a->block + sizeof a->block - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *p)
{
    unpack_arena *a = data;
    uintptr_t at = (uintptr_t)p, lo = (uintptr_t)a->block;
    if (at < lo || at >= lo + sizeof a->block)
        free(p);
}

int store_consents_of_client(store *s, MDB_txn *txn, const uint8_t key[16],
                             int (*fn)(Polku__ConsentRecord *r, void *arg),
                             void *arg)
{
    unpack_arena arena;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
    MDB_cursor *c = NULL;
    uint8_t start[32] = {0};
    memcpy(start, key, 16);
    MDB_val k = {32, start}, v;
    int rc = mdb_cursor_open(txn, s->consents_by_client, &c);
    if (rc)
        return store_err(rc);
    int stop = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !stop;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 32 || memcmp(k.mv_data, key, 16) != 0)
            break;
        MDB_val id = {16, (uint8_t *)k.mv_data + 16}, rec;
        if (mdb_get(txn, s->consents, &id, &rec))
            continue;
        arena.cur = arena.block;
        Polku__ConsentRecord *r =
            polku__consent_record__unpack(&alloc, rec.mv_size, rec.mv_data);
        if (!r)
            continue;
        stop = fn(r, arg);
        polku__consent_record__free_unpacked(r, &alloc);
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? POLKU_OK : store_err(rc);
}

/* One walk over a database of records of one message type. */
#define STORE_EACH(name, type, dbi, unpack, free_unpacked)                     \
    int name(store *s, MDB_txn *txn, int (*fn)(type * r, void *arg),           \
             void *arg)                                                        \
    {                                                                          \
        MDB_cursor *c = NULL;                                                  \
        MDB_val k, v;                                                          \
        int rc = mdb_cursor_open(txn, s->dbi, &c);                             \
        if (rc)                                                                \
            return store_err(rc);                                              \
        int stop = 0;                                                          \
        while (!stop && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {     \
            type *r = unpack(NULL, v.mv_size, v.mv_data);                      \
            if (!r)                                                            \
                continue;                                                      \
            stop = fn(r, arg);                                                 \
            free_unpacked(r, NULL);                                            \
        }                                                                      \
        mdb_cursor_close(c);                                                   \
        return rc == 0 || rc == MDB_NOTFOUND ? POLKU_OK : store_err(rc);       \
    }

STORE_EACH(store_each_referral, Polku__ReferralRecord, referrals,
           polku__referral_record__unpack,
           polku__referral_record__free_unpacked)
STORE_EACH(store_each_handover, Polku__HandoverRecord, handovers,
           polku__handover_record__unpack,
           polku__handover_record__free_unpacked)
STORE_EACH(store_each_path, Polku__PathRecord, paths,
           polku__path_record__unpack, polku__path_record__free_unpacked)

int store_client_put(store *s, MDB_txn *txn, const uint8_t key[16],
                     const char *canonical_hetu)
{
    MDB_val k = {16, (void *)key},
            v = {strlen(canonical_hetu), (void *)canonical_hetu};
    return store_err(mdb_put(txn, s->clients, &k, &v, 0));
}

bool store_knows_client(store *s, MDB_txn *txn, const uint8_t key[16])
{
    MDB_val k = {16, (void *)key}, v;
    if (mdb_get(txn, s->clients, &k, &v) == 0 ||
        mdb_get(txn, s->paths, &k, &v) == 0)
        return true;
    MDB_cursor *c = NULL;
    uint8_t start[32] = {0};
    memcpy(start, key, 16);
    MDB_val r = {32, start};
    if (mdb_cursor_open(txn, s->consents_by_client, &c))
        return false;
    bool found = mdb_cursor_get(c, &r, &v, MDB_SET_RANGE) == 0 &&
                 r.mv_size == 32 && memcmp(r.mv_data, key, 16) == 0;
    mdb_cursor_close(c);
    return found;
}

bool store_knows_id(store *s, MDB_txn *txn, const uint8_t id[16])
{
    MDB_val k = {16, (void *)id}, v;
    return mdb_get(txn, s->referrals, &k, &v) == 0 ||
           mdb_get(txn, s->handovers, &k, &v) == 0 ||
           mdb_get(txn, s->consents, &k, &v) == 0;
}

int store_meta_get(store *s, MDB_txn *txn, const char *key, MDB_val *out)
{
    MDB_val k = {strlen(key), (void *)key};
    return store_err(mdb_get(txn, s->meta, &k, out));
}

int store_meta_put(store *s, MDB_txn *txn, const char *key, const void *data,
                   size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
    return store_err(mdb_put(txn, s->meta, &k, &v, 0));
}

int store_reconcile_get(store *s, MDB_txn *txn, const uint8_t *key,
                        size_t key_len, Polku__ReconcileRecord **out)
{
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(txn, s->reconcile, &k, &v);
    if (rc)
        return store_err(rc);
    *out = polku__reconcile_record__unpack(NULL, v.mv_size, v.mv_data);
    return *out ? POLKU_OK : POLKU_ESTORE;
}

int store_reconcile_put(store *s, MDB_txn *txn, const uint8_t *key,
                        size_t key_len, const Polku__ReconcileRecord *r)
{
    size_t len = polku__reconcile_record__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return POLKU_ENOMEM;
    polku__reconcile_record__pack(r, buf);
    MDB_val k = {key_len, (void *)key}, v = {len, buf};
    int rc = store_err(mdb_put(txn, s->reconcile, &k, &v, 0));
    free(buf);
    return rc;
}

int store_each_reconcile(store *s, MDB_txn *txn,
                         int (*fn)(void *arg, const Polku__ReconcileRecord *r),
                         void *arg)
{
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, s->reconcile, &c);
    if (rc)
        return store_err(rc);
    MDB_val k, v;
    int out = POLKU_OK;
    while (!out && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        Polku__ReconcileRecord *r =
            polku__reconcile_record__unpack(NULL, v.mv_size, v.mv_data);
        if (!r) {
            out = POLKU_ESTORE;
            break;
        }
        out = fn(arg, r);
        polku__reconcile_record__free_unpacked(r, NULL);
    }
    mdb_cursor_close(c);
    if (out)
        return out;
    return rc == MDB_NOTFOUND || rc == 0 ? POLKU_OK : store_err(rc);
}
