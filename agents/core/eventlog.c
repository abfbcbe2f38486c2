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

int eventlog_emit(eventlog *log, MDB_txn *txn, polku_envelope *env,
                  uint64_t *seq_out)
{
    uint8_t msg_id[16];
    uint64_t seq = log->b->last_seq + 1;
    eventlog_header(log->org, env, msg_id);
    env->origin_seq = seq;
    env->origin_incarnation = log->incarnation;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(env, &buf, &len);
    if (!rc)
        rc = store_event_put(log->st, txn, seq, buf, len);
    uint64_t now = polku_now_ms();
    /* no destination: the event is for the broker alone (dest "") */
    size_t n_dest = env->n_to ? env->n_to : 1;
    for (size_t i = 0; !rc && i < n_dest; i++) {
        const char *dest = env->n_to ? env->to[i] : EVENTLOG_DEST_BROKER;
        rc = store_outbox_put(log->st, txn, seq, dest, now);
        if (rc)
            break;
        outbox_entry *e = calloc(1, sizeof *e);
        if (!e || !(e->data = malloc(len))) {
            free(e);
            rc = POLKU_ENOMEM;
            break;
        }
        *e = (outbox_entry){.ob = log->ob,
                            .seq = seq,
                            .at_ms = now,
                            .len = len,
                            .data = e->data};
        snprintf(e->dest, sizeof e->dest, "%s", dest);
        memcpy(e->data, buf, len);
        rc = batch_after(log->b, entry_add, e, entry_free);
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
    return batch_after(log->b, done_ack, d, free);
}

#define INCARNATION_KEY "incarnation"

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
    rc = eventlog_read_incarnation(log->st, txn, &log->incarnation);
    if (rc == POLKU_ENOTFOUND) {
        rc = eventlog_new_incarnation(log, txn, NULL);
        if (!rc)
            rc = store_err(mdb_txn_commit(txn));
        else
            mdb_txn_abort(txn);
        return rc;
    }
    mdb_txn_abort(txn);
    return rc;
}

int eventlog_continue_after(eventlog *log, MDB_txn *txn, uint64_t known_seq,
                            uint64_t *lost)
{
    *lost = 0;
    if (known_seq <= log->b->last_seq)
        return POLKU_OK;
    uint64_t old = 0;
    int rc = eventlog_new_incarnation(log, txn, &old);
    while (!rc && log->b->last_seq < known_seq) {
        polku_envelope env = POLKU__ENVELOPE__INIT;
        Polku__SeqLost sl = POLKU__SEQ_LOST__INIT;
        sl.known_seq = known_seq;
        sl.lost_incarnation = old;
        env.body_case = POLKU__ENVELOPE__BODY_SEQ_LOST;
        env.seq_lost = &sl;
        rc = eventlog_emit(log, txn, &env, NULL);
        if (!rc)
            (*lost)++;
    }
    if (rc)
        log->incarnation = old;
    return rc;
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
    log->b->last_seq = log->b->committed_seq = last;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return prc;
}
