/* eventlog.c — writing events and their outbox entries (see eventlog.h). */
#include "eventlog.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "logchain.h"

void eventlog_init(eventlog *log, store *st, batch *b, outbox *ob,
                   const char *org)
{
    *log = (eventlog){.st = st, .b = b, .ob = ob, .org = org};
}

void eventlog_header(const char *org, polku_envelope *env, uint8_t msg_id[16])
{
    uint64_t now = polku_now_ms();
    polku_id id = polku_id_new(now);
    memcpy(msg_id, id.b, 16);
    env->version = POLKU_PROTOCOL_VERSION;
    env->msg_id.data = msg_id;
    env->msg_id.len = 16;
    env->origin_org = (char *)org;
    env->time_ms = now;
}

/* A frame on its way into the in-memory outbox, after the commit. */
typedef struct outbox_entry {
    outbox *ob;
    uint64_t seq, at_ms;
    char dest[33];
    size_t len;
    uint8_t *data;
} outbox_entry;

static void entry_add(void *arg, bool committed)
{
    outbox_entry *e = arg;
    if (committed) {
        outbox_add(e->ob, e->seq, e->dest, e->at_ms, e->data, e->len);
        e->data = NULL; /* taken, even when it could not be added */
    }
}

static void entry_free(void *arg)
{
    outbox_entry *e = arg;
    free(e->data);
    free(e);
}

/* (seq, dest) owed: in the store's outbox now, in memory after the
 * commit. The entry takes frame (malloc'ed), even when this fails. */
static int owe(eventlog *log, MDB_txn *txn, uint64_t seq, const char *dest,
               uint8_t *frame, size_t len, uint64_t now)
{
    int rc = store_outbox_put(log->st, txn, seq, dest, now);
    outbox_entry *e = rc ? NULL : malloc(sizeof *e);
    if (!e) {
        free(frame);
        return rc ? rc : POLKU_ENOMEM;
    }
    *e = (outbox_entry){
        .ob = log->ob, .seq = seq, .at_ms = now, .len = len, .data = frame};
    size_t n = strnlen(dest, sizeof e->dest - 1);
    memcpy(e->dest, dest, n);
    e->dest[n] = '\0';
    return batch_after(log->b, entry_add, e, entry_free);
}

/* A copy of frame for owe. */
static uint8_t *frame_copy(const uint8_t *frame, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy)
        memcpy(copy, frame, len);
    return copy;
}

int eventlog_emit(eventlog *log, MDB_txn *txn, polku_envelope *env,
                  uint64_t *seq_out)
{
    uint8_t msg_id[16];
    uint64_t seq = log->b->last_seq + 1;
    eventlog_header(log->org, env, msg_id);
    env->origin_seq = seq;
    env->origin_incarnation = log->incarnation;
    /* the chain: the hash of the event before, as stored (none before the
     * first); the caller's own chain_prev (a reemitted event's) is put
     * back after */
    ProtobufCBinaryData caller_prev = env->chain_prev;
    uint8_t prev[POLKU_CHAIN_HASH];
    env->chain_prev.data = NULL;
    env->chain_prev.len = 0;
    bool have_prev = seq > 1 && log->hashed_seq == seq - 1;
    if (have_prev)
        memcpy(prev, log->hashed, sizeof prev);
    else if (seq > 1)
        have_prev = logchain_hash_at(log->st, txn, seq - 1, prev) == POLKU_OK;
    if (have_prev) {
        env->chain_prev.data = prev;
        env->chain_prev.len = sizeof prev;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(env, &buf, &len);
    env->chain_prev = caller_prev;
    if (!rc) { /* the next event's link, if this one stands */
        polku_chain_hash(buf, len, log->hashed);
        log->hashed_seq = seq;
    }
    if (!rc)
        rc = store_event_put(log->st, txn, seq, buf, len);
    uint64_t now = polku_now_ms();
    /* no destination: the event is for the broker alone (dest "") */
    size_t n_dest = env->n_to ? env->n_to : 1;
    /* each destination's entry holds a frame: the last takes buf */
    for (size_t i = 0; !rc && i < n_dest; i++) {
        uint8_t *frame = i + 1 < n_dest ? frame_copy(buf, len) : buf;
        if (frame == buf)
            buf = NULL;
        rc = frame ? owe(log, txn, seq,
                         env->n_to ? env->to[i] : EVENTLOG_DEST_BROKER, frame,
                         len, now)
                   : POLKU_ENOMEM;
    }
    free(buf);
    env->msg_id.data = NULL; /* msg_id lived on this stack frame */
    env->msg_id.len = 0;
    if (rc)
        return rc;
    log->b->last_seq = seq;
    if (seq_out)
        *seq_out = seq;
    return POLKU_OK;
}

typedef struct resend_walk {
    eventlog *log;
    MDB_txn *txn;
    const char *dest;
    uint64_t now, queued;
} resend_walk;

static int resend_one(void *arg, uint64_t seq, const void *data, size_t len)
{
    resend_walk *w = arg;
    polku_envelope *env = NULL;
    char why[64];
    if (polku_envelope_decode(data, len, SIZE_MAX, &env, why, sizeof why))
        return POLKU_OK; /* our own event: cannot happen; not the asker's */
    bool for_dest = false;
    for (size_t i = 0; i < env->n_to && !for_dest; i++)
        for_dest = strcmp(env->to[i], w->dest) == 0;
    polku_envelope_free(&env);
    if (!for_dest || store_outbox_has(w->log->st, w->txn, seq, w->dest))
        return POLKU_OK;
    /* a copy: the map page may move under the writes that follow */
    uint8_t *frame = frame_copy(data, len);
    if (!frame)
        return POLKU_ENOMEM;
    int rc = owe(w->log, w->txn, seq, w->dest, frame, len, w->now);
    if (!rc)
        w->queued++;
    return rc;
}

int eventlog_resend(eventlog *log, MDB_txn *txn, const char *dest,
                    uint64_t from_seq, uint64_t *queued)
{
    resend_walk w = {log, txn, dest, polku_now_ms(), 0};
    int rc = store_each_event(log->st, txn, from_seq, resend_one, &w);
    *queued = w.queued;
    return rc;
}

typedef struct outbox_done {
    outbox *ob;
    uint64_t seq;
    char dest[33];
} outbox_done;

static void done_ack(void *arg, bool committed)
{
    outbox_done *d = arg;
    if (committed)
        outbox_ack(d->ob, d->seq, d->dest);
}

int eventlog_acknowledged(eventlog *log, MDB_txn *txn, uint64_t seq,
                          const char *dest)
{
    int rc = store_outbox_del(log->st, txn, seq, dest);
    if (rc)
        return rc;
    outbox_done *d = malloc(sizeof *d);
    if (!d)
        return POLKU_ENOMEM;
    d->ob = log->ob;
    d->seq = seq;
    snprintf(d->dest, sizeof d->dest, "%s", dest);
    /* Undone by an OS crash, the event is sent again and its receiver
     * drops the duplicate: no flush needed before forgetting it. */
    return batch_after_commit(log->b, done_ack, d, free);
}

int eventlog_ack_later(eventlog *log, uint64_t seq, const char *dest)
{
    if (strlen(dest) >= sizeof log->acks_later[0].dest)
        return POLKU_EINVAL;
    if (log->n_acks_later == log->cap_acks_later) {
        size_t cap = log->cap_acks_later ? log->cap_acks_later * 2 : 64;
        eventlog_ack *n = realloc(log->acks_later, cap * sizeof *n);
        if (!n)
            return POLKU_ENOMEM;
        log->acks_later = n;
        log->cap_acks_later = cap;
    }
    if (!outbox_ack(log->ob, seq, dest))
        return POLKU_ENOTFOUND;
    eventlog_ack *a = &log->acks_later[log->n_acks_later++];
    a->seq = seq;
    snprintf(a->dest, sizeof a->dest, "%s", dest);
    return POLKU_OK;
}

void eventlog_apply_acks(eventlog *log, MDB_txn *txn)
{
    if (!log->n_acks_later)
        return;
    MDB_txn *child = NULL;
    int rc = store_err(mdb_txn_begin(log->st->env, txn, 0, &child));
    for (size_t i = 0; !rc && i < log->n_acks_later; i++) {
        rc = store_outbox_del(log->st, child, log->acks_later[i].seq,
                              log->acks_later[i].dest);
        if (rc == POLKU_ENOTFOUND)
            rc = POLKU_OK;
    }
    if (!rc)
        rc = store_err(mdb_txn_commit(child));
    else if (child)
        mdb_txn_abort(child);
    if (rc) {
        log_warn("removing %zu acknowledged events from the outbox store "
                 "failed (%s): tried again with the next commit",
                 log->n_acks_later, polku_strerror(rc));
        return;
    }
    log->n_acks_later = 0;
}

size_t eventlog_acks_waiting(const eventlog *log)
{
    return log->n_acks_later;
}

void eventlog_fini(eventlog *log)
{
    free(log->acks_later);
    log->acks_later = NULL;
    log->n_acks_later = log->cap_acks_later = 0;
}

#define INCARNATION_KEY "incarnation"
#define RESEND_KEY "resend_needed"
#define RESEND_ASKED_KEY "resend_asked_seq"

int eventlog_resend_asked(eventlog *log, MDB_txn *txn)
{
    uint8_t v[8];
    store_seq_key(log->b->last_seq, v);
    int rc = store_meta_put(log->st, txn, RESEND_ASKED_KEY, v, 8);
    if (!rc)
        rc = eventlog_set_resend_needed(log, txn, false);
    if (!rc)
        log->resend_asked_seq = log->b->last_seq;
    return rc;
}

int eventlog_set_resend_needed(eventlog *log, MDB_txn *txn, bool needed)
{
    uint8_t v = needed ? 1 : 0;
    int rc = store_meta_put(log->st, txn, RESEND_KEY, &v, 1);
    if (!rc)
        log->resend_needed = needed;
    return rc;
}

int eventlog_read_incarnation(store *st, MDB_txn *txn, uint64_t *out)
{
    MDB_val v;
    int rc = store_meta_get(st, txn, INCARNATION_KEY, &v);
    if (rc)
        return rc;
    if (v.mv_size != 8)
        return POLKU_ESTORE;
    *out = store_seq_from_key(v.mv_data);
    return POLKU_OK;
}

int eventlog_new_incarnation(eventlog *log, MDB_txn *txn, uint64_t *old)
{
    uint64_t inc = 0;
    while (inc == 0) /* 0 means "from before incarnations" */
        randombytes_buf(&inc, sizeof inc);
    uint8_t key[8];
    store_seq_key(inc, key);
    int rc = store_meta_put(log->st, txn, INCARNATION_KEY, key, 8);
    if (rc)
        return rc;
    if (old)
        *old = log->incarnation;
    log->incarnation = inc;
    return POLKU_OK;
}

/* The stored incarnation, or a new one stored now (a new store, or one
 * from before incarnations). */
static int load_incarnation(eventlog *log)
{
    MDB_txn *txn = NULL;
    int rc = store_err(mdb_txn_begin(log->st->env, NULL, 0, &txn));
    if (rc)
        return rc;
    MDB_val flag, asked;
    log->resend_needed = store_meta_get(log->st, txn, RESEND_KEY, &flag) == 0 &&
                         flag.mv_size == 1 &&
                         *(const uint8_t *)flag.mv_data == 1;
    log->resend_asked_seq =
        store_meta_get(log->st, txn, RESEND_ASKED_KEY, &asked) == 0 &&
                asked.mv_size == 8
            ? store_seq_from_key(asked.mv_data)
            : 0;
    rc = eventlog_read_incarnation(log->st, txn, &log->incarnation);
    if (rc == POLKU_ENOTFOUND) {
        rc = eventlog_new_incarnation(log, txn, NULL);
        if (!rc)
            rc = store_commit_durable(log->st, txn);
        else
            mdb_txn_abort(txn);
        return rc;
    }
    mdb_txn_abort(txn);
    return rc;
}

/* Fills the log with SeqLost events up to through (a new incarnation has
 * begun): the sequences others hold another event at. */
static int skip_to(eventlog *log, MDB_txn *txn, uint64_t through,
                   uint64_t old_incarnation, uint64_t *lost)
{
    int rc = POLKU_OK;
    while (!rc && log->b->last_seq < through) {
        polku_envelope env = POLKU__ENVELOPE__INIT;
        Polku__SeqLost sl = POLKU__SEQ_LOST__INIT;
        sl.known_seq = through;
        sl.lost_incarnation = old_incarnation;
        env.body_case = POLKU__ENVELOPE__BODY_SEQ_LOST;
        env.seq_lost = &sl;
        rc = eventlog_emit(log, txn, &env, NULL);
        if (!rc)
            (*lost)++;
    }
    return rc;
}

/* The pending outbox entries a repair looks at, gathered (in sequence
 * order) before the outbox changes under the cursor. */
typedef struct pending_list {
    size_t n, cap;
    struct pending_entry {
        uint64_t seq;
        char dest[33];
    } * v;
} pending_list;

static int gather_pending(void *arg, uint64_t seq, const char *dest)
{
    pending_list *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        struct pending_entry *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return POLKU_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n].seq = seq;
    snprintf(p->v[p->n].dest, sizeof p->v[p->n].dest, "%s", dest);
    p->n++;
    return POLKU_OK;
}

/* The event stored at seq again, at the next sequence, to the same
 * destinations: its body and client unchanged, its header new. A SeqLost
 * is not: the new ones say all it said. */
static int reemit(eventlog *log, MDB_txn *txn, uint64_t seq, bool *emitted)
{
    *emitted = false;
    MDB_val ev;
    int rc = store_event_get(log->st, txn, seq, &ev);
    if (rc)
        return rc;
    polku_envelope *env = NULL;
    char why[64];
    if (polku_envelope_decode(ev.mv_data, ev.mv_size, SIZE_MAX, &env, why,
                              sizeof why))
        return POLKU_ESTORE; /* our own event: cannot happen */
    /* eventlog_emit writes the header in place; the decoded one is put
     * back so that it is freed as it was allocated */
    ProtobufCBinaryData msg_id = env->msg_id;
    char *origin = env->origin_org;
    if (env->body_case != POLKU__ENVELOPE__BODY_SEQ_LOST) {
        rc = eventlog_emit(log, txn, env, NULL);
        *emitted = rc == POLKU_OK;
    }
    env->msg_id = msg_id;
    env->origin_org = origin;
    polku_envelope_free(&env);
    return rc;
}

/* Each pending sequence with an entry for dest (any, when dest is NULL)
 * is emitted again once, and every outbox entry of the old sequence ends,
 * whatever its destination: the new event goes to all of them. */
static int reemit_pending(eventlog *log, MDB_txn *txn, const pending_list *p,
                          const char *dest, uint64_t *reemitted)
{
    int rc = POLKU_OK;
    for (size_t i = 0, end; !rc && i < p->n; i = end) {
        bool chosen = dest == NULL;
        for (end = i; end < p->n && p->v[end].seq == p->v[i].seq; end++)
            chosen = chosen || strcmp(p->v[end].dest, dest) == 0;
        if (!chosen)
            continue;
        bool emitted = false;
        rc = reemit(log, txn, p->v[i].seq, &emitted);
        if (emitted)
            (*reemitted)++;
        for (size_t k = i; !rc && k < end; k++)
            rc = eventlog_acknowledged(log, txn, p->v[k].seq, p->v[k].dest);
    }
    return rc;
}

int eventlog_repair(eventlog *log, MDB_txn *txn, uint64_t held_through,
                    const char *dest, eventlog_repair_result *out)
{
    *out = (eventlog_repair_result){.from_seq = log->b->last_seq};
    pending_list p = {0};
    int rc = store_outbox_each(log->st, txn, held_through, gather_pending, &p);
    if (!rc)
        rc = eventlog_new_incarnation(log, txn, &out->old_incarnation);
    if (!rc)
        rc = skip_to(log, txn, held_through, out->old_incarnation, &out->lost);
    if (!rc)
        rc = reemit_pending(log, txn, &p, dest, &out->reemitted);
    if (!rc)
        rc = eventlog_set_resend_needed(log, txn, true);
    free(p.v);
    if (rc && out->old_incarnation)
        log->incarnation = out->old_incarnation;
    return rc;
}

int eventlog_continue_after(eventlog *log, MDB_txn *txn, uint64_t known_seq,
                            eventlog_repair_result *out)
{
    *out = (eventlog_repair_result){.from_seq = log->b->last_seq};
    if (known_seq <= log->b->last_seq)
        return POLKU_OK;
    return eventlog_repair(log, txn, known_seq, NULL, out);
}

int eventlog_load(eventlog *log)
{
    int irc = load_incarnation(log);
    if (irc)
        return irc;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v, ev;
    int rc = mdb_txn_begin(log->st->env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_cursor_open(txn, log->st->outbox, &c);
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        return store_err(rc);
    }
    int prc = POLKU_OK;
    while (!prc && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size < 8 || k.mv_size > 40) /* 8: for the broker */
            continue;
        uint64_t seq = store_seq_from_key(k.mv_data);
        char dest[33];
        snprintf(dest, sizeof dest, "%.*s", (int)(k.mv_size - 8),
                 (const char *)k.mv_data + 8);
        if (store_event_get(log->st, txn, seq, &ev)) {
            log_warn("outbox entry %llu for %s has no event; skipped",
                     (unsigned long long)seq, dest);
            continue;
        }
        uint8_t *copy = malloc(ev.mv_size);
        if (!copy) {
            prc = POLKU_ENOMEM;
            break;
        }
        memcpy(copy, ev.mv_data, ev.mv_size);
        prc = outbox_add(log->ob, seq, dest,
                         v.mv_size == 8 ? store_seq_from_key(v.mv_data) : 0,
                         copy, ev.mv_size);
    }
    uint64_t last = 0;
    if (!prc)
        prc = store_last_seq(log->st, txn, &last);
    log->b->last_seq = log->b->written_seq = log->b->committed_seq = last;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (!prc)
        prc = logchain_load(log->st, last, &log->chain_from);
    return prc;
}
