/* agent.c — startup, the batch (group commit) and the outbox at start. */
#include "agent.h"
#include "path_query.h"
#include "sealed.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zmq.h>

#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "polku/sse.h"

static void after_free(after_action *x)
{
    json_decref(x->json);
    free(x->data);
}

static int after_push(agent *a, after_action x)
{
    if (a->n_after == a->cap_after) {
        size_t cap = a->cap_after ? a->cap_after * 2 : 256;
        after_action *n = realloc(a->after, cap * sizeof *n);
        if (!n) {
            after_free(&x);
            return POLKU_ENOMEM;
        }
        a->after = n;
        a->cap_after = cap;
    }
    a->after[a->n_after++] = x;
    return POLKU_OK;
}

void agent_after_reply(agent *a, polku_http_req *req, unsigned status,
                       json_t *json)
{
    after_push(a, (after_action){.kind = AFTER_REPLY,
                                 .req = req,
                                 .status = status,
                                 .json = json});
}

void agent_after_send(agent *a, uint8_t *data, size_t len)
{
    after_push(a, (after_action){.kind = AFTER_SEND, .data = data, .len = len});
}

void agent_after_outbox_ack(agent *a, uint64_t seq, const char *dest)
{
    after_action x = {.kind = AFTER_OUTBOX_ACK, .seq = seq};
    snprintf(x.dest, sizeof x.dest, "%s", dest);
    after_push(a, x);
}

void agent_after_log(agent *a, polku_log_level level, const char *fmt, ...)
{
    if (level < polku_log_threshold)
        return;
    after_action x = {.kind = AFTER_LOG, .status = level};
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(x.data = malloc((size_t)n + 1)))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)x.data, (size_t)n + 1, fmt, ap);
    va_end(ap);
    x.len = (size_t)n;
    after_push(a, x);
}

int agent_refuse(agent_refusal *why, unsigned status, const char *code,
                 const char *fmt, ...)
{
    if (why) {
        why->status = status;
        why->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->message, sizeof why->message, fmt, ap);
        va_end(ap);
    }
    return POLKU_EREFUSED;
}

#define CLAIM_WAIT_MS 5000

void agent_after_wait_claim(agent *a, polku_http_req *req,
                            const uint8_t claim_id[16],
                            const uint8_t client_key[16])
{
    after_action x = {.kind = AFTER_WAIT_CLAIM, .req = req};
    x.data = malloc(32);
    if (!x.data) {
        polku_http_respond_error(req, 503, "overloaded",
                                 "out of memory; the claim is queued");
        return;
    }
    memcpy(x.data, claim_id, 16);
    memcpy(x.data + 16, client_key, 16);
    x.len = 32;
    after_push(a, x);
}

static void add_waiter(agent *a, polku_http_req *req, const uint8_t *ids)
{
    if (a->n_waiters == a->cap_waiters) {
        size_t cap = a->cap_waiters ? 2 * a->cap_waiters : 16;
        claim_waiter *w = realloc(a->waiters, cap * sizeof *w);
        if (!w) {
            polku_http_respond_error(req, 503, "overloaded",
                                     "out of memory; the claim is queued");
            return;
        }
        a->waiters = w;
        a->cap_waiters = cap;
    }
    claim_waiter *w = &a->waiters[a->n_waiters++];
    memcpy(w->claim_id, ids, 16);
    memcpy(w->client_key, ids + 16, 16);
    w->req = req;
    w->deadline_ms = polku_mono_ms() + CLAIM_WAIT_MS;
}

void agent_wake_claim(agent *a, const uint8_t claim_id[16], unsigned status,
                      const json_t *json)
{
    size_t kept = 0;
    for (size_t i = 0; i < a->n_waiters; i++) {
        claim_waiter *w = &a->waiters[i];
        if (memcmp(w->claim_id, claim_id, 16) == 0)
            agent_after_reply(a, w->req, status, json_deep_copy(json));
        else
            a->waiters[kept++] = *w;
    }
    a->n_waiters = kept;
}

void agent_expire_claims(agent *a, uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < a->n_waiters; i++) {
        claim_waiter *w = &a->waiters[i];
        if (now < w->deadline_ms) {
            a->waiters[kept++] = *w;
            continue;
        }
        polku_id id;
        char idtext[POLKU_ID_TEXT], key[33];
        memcpy(id.b, w->claim_id, 16);
        polku_id_format(&id, idtext);
        polku_client_key_hex(w->client_key, key);
        polku_http_respond_json(
            w->req, 202,
            json_pack("{s:s, s:s, s:s, s:s}", "status", "pending", "claim_id",
                      idtext, "client_key", key, "message",
                      "the broker has not answered yet; the claim stays "
                      "queued and is decided when it does"));
    }
    a->n_waiters = kept;
}

void agent_after_publish(agent *a, const polku_envelope *env)
{
    const char *topic = polku_event_topic(env);
    if (!topic || !a->events)
        return;
    char key[33] = "", at[POLKU_TIME_TEXT];
    if (env->client_key.len == 16)
        polku_client_key_hex(env->client_key.data, key);
    polku_time_format(env->time_ms, at, sizeof at);
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "topic", topic, "from",
                          env->origin_org, "origin_seq",
                          (json_int_t)env->origin_seq, "client_key", key,
                          "at", at);
    polku_id pid;
    if (j && polku_event_object_id(env, pid.b)) {
        char text[POLKU_ID_TEXT];
        polku_id_format(&pid, text);
        json_object_set_new(j, "id", json_string(text));
    }
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return;
    size_t tl = strlen(topic), bl = strlen(body);
    after_action x = {.kind = AFTER_PUBLISH};
    x.data = malloc(tl + 1 + bl + 1);
    if (x.data) {
        memcpy(x.data, topic, tl + 1);
        memcpy(x.data + tl + 1, body, bl + 1);
        x.len = tl + 1 + bl + 1;
        after_push(a, x);
    }
    free(body);
}

static void run_after(agent *a, after_action *x, bool committed)
{
    switch (x->kind) {
    case AFTER_REPLY:
        if (committed) {
            polku_http_respond_json(x->req, x->status, x->json);
            x->json = NULL; /* taken by the response */
        } else {
            polku_http_respond_error(x->req, 507, "store_full",
                                     "the store could not save this; "
                                     "nothing was changed, try again");
        }
        break;
    case AFTER_SEND:
        if (committed && agent_send_now(a, x->data, x->len) == 0 && x->len > 0)
            a->counters.acks_sent++;
        break;
    case AFTER_OUTBOX_ADD:
        if (committed) {
            outbox_add(&a->ob, x->seq, x->dest, x->at_ms, x->data, x->len);
            x->data = NULL;
        }
        break;
    case AFTER_OUTBOX_ACK:
        if (committed)
            outbox_ack(&a->ob, x->seq, x->dest);
        break;
    case AFTER_PUBLISH:
        if (committed) {
            const char *topic = (const char *)x->data;
            polku_sse_publish(a->events, topic, topic + strlen(topic) + 1);
        }
        break;
    case AFTER_LOG:
        if (committed)
            polku_log_write((polku_log_level)x->status, "%s",
                            (const char *)x->data);
        break;
    case AFTER_WAIT_CLAIM:
        if (committed)
            add_waiter(a, x->req, x->data);
        else
            polku_http_respond_error(x->req, 507, "store_full",
                                     "the store could not save this; "
                                     "nothing was changed, try again");
        break;
    }
    after_free(x);
}

static void commit_batch(agent *a)
{
    int rc = mdb_txn_commit(a->txn); /* a failed commit has aborted */
    a->txn = NULL;
    bool ok = rc == MDB_SUCCESS;
    if (ok) {
        a->committed_seq = a->last_seq;
        a->counters.commits++;
    } else {
        log_error("batch commit failed: %s", mdb_strerror(rc));
        a->counters.commit_failures++;
        a->last_seq = a->committed_seq;
        if (store_err(rc) == POLKU_EFULL)
            a->map_full = true;
    }
    /* Actions may start a new batch (none do today); take the list first. */
    after_action *list = a->after;
    size_t n = a->n_after;
    a->after = NULL;
    a->n_after = a->cap_after = 0;
    for (size_t i = 0; i < n; i++)
        run_after(a, &list[i], ok);
    free(list);
    /* Grow before the map is full: a commit that runs out of pages loses
     * its whole batch (answered 507, not acked: nothing acknowledged is
     * lost, but the callers must retry). */
    if (a->map_full || store_used(&a->st) > a->st.map_size / 4 * 3) {
        bool asked = a->map_full;
        a->map_full = false;
        if (store_grow(&a->st) == POLKU_EFULL && asked)
            log_error("store full at its maximum map size (%llu MiB)",
                      (unsigned long long)(a->st.map_max >> 20));
    }
    if (a->welcomed)
        outbox_pump(&a->ob, polku_mono_ms());
}

static void on_commit_idle(uv_idle_t *h)
{
    agent *a = h->data;
    uv_idle_stop(h);
    if (a->txn)
        commit_batch(a);
}

static int batch_txn(agent *a, MDB_txn **out)
{
    if (!a->txn) {
        int rc = mdb_txn_begin(a->st.env, NULL, 0, &a->txn);
        if (rc) {
            a->txn = NULL;
            log_error("cannot begin a write transaction: %s", mdb_strerror(rc));
            return store_err(rc);
        }
        uv_idle_start(&a->commit_idle, on_commit_idle);
    }
    *out = a->txn;
    return POLKU_OK;
}

static int run_item_once(agent *a, agent_item_fn fn, void *ctx)
{
    MDB_txn *parent = NULL, *child = NULL;
    int rc = batch_txn(a, &parent);
    if (rc)
        return rc;
    rc = store_err(mdb_txn_begin(a->st.env, parent, 0, &child));
    if (rc)
        return rc;
    uint64_t seq_before = a->last_seq;
    size_t after_before = a->n_after;
    a->counters.items++;
    rc = fn(a, child, ctx);
    if (rc == POLKU_OK)
        rc = store_err(mdb_txn_commit(child));
    else
        mdb_txn_abort(child);
    if (rc) {
        a->last_seq = seq_before;
        while (a->n_after > after_before)
            after_free(&a->after[--a->n_after]);
        if (rc == POLKU_EFULL) {
            a->map_full = true;
            a->counters.store_full++;
        }
    }
    return rc;
}

int agent_run_item(agent *a, agent_item_fn fn, void *ctx)
{
    int rc = run_item_once(a, fn, ctx);
    if (rc == POLKU_EFULL && a->st.map_size < a->st.map_max) {
        /* Commit what the batch holds, grow the map (no transaction may be
         * open for that), and try this item once more in a new batch. */
        uv_idle_stop(&a->commit_idle);
        if (a->txn)
            commit_batch(a);
        if (store_grow(&a->st) == POLKU_OK)
            rc = run_item_once(a, fn, ctx);
    }
    return rc;
}

int agent_read(agent *a, agent_item_fn fn, void *ctx)
{
    MDB_txn *txn = NULL;
    int rc = store_err(mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc;
    size_t before = a->n_after;
    rc = fn(a, txn, ctx);
    mdb_txn_abort(txn);
    /* what fn queued are replies to a read: nothing to wait for */
    for (size_t i = before; i < a->n_after; i++)
        run_after(a, &a->after[i], rc == POLKU_OK);
    a->n_after = before;
    if (a->n_after == 0 && !a->txn) { /* no batch owns the list */
        free(a->after);
        a->after = NULL;
        a->cap_after = 0;
    }
    return rc;
}

void agent_header(agent *a, polku_envelope *env, uint8_t msg_id[16])
{
    uint64_t now = polku_now_ms();
    polku_id id = polku_id_new(now);
    memcpy(msg_id, id.b, 16);
    env->version = POLKU_PROTOCOL_VERSION;
    env->msg_id.data = msg_id;
    env->msg_id.len = 16;
    env->origin_org = a->cfg->org;
    env->time_ms = now;
}

int agent_emit(agent *a, MDB_txn *txn, polku_envelope *env, uint64_t *seq_out)
{
    uint8_t msg_id[16];
    uint64_t seq = a->last_seq + 1;
    agent_header(a, env, msg_id);
    env->origin_seq = seq;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(env, &buf, &len);
    if (!rc)
        rc = store_event_put(&a->st, txn, seq, buf, len);
    uint64_t now = polku_now_ms();
    /* no destination: the event is for the broker alone (dest "") */
    size_t n_dest = env->n_to ? env->n_to : 1;
    for (size_t i = 0; !rc && i < n_dest; i++) {
        const char *dest = env->n_to ? env->to[i] : AGENT_DEST_BROKER;
        rc = store_outbox_put(&a->st, txn, seq, dest, now);
        if (rc)
            break;
        after_action x = {
            .kind = AFTER_OUTBOX_ADD, .seq = seq, .at_ms = now, .len = len};
        snprintf(x.dest, sizeof x.dest, "%s", dest);
        x.data = malloc(len);
        if (!x.data) {
            rc = POLKU_ENOMEM;
            break;
        }
        memcpy(x.data, buf, len);
        rc = after_push(a, x);
    }
    free(buf);
    env->msg_id.data = NULL; /* msg_id lived on this stack frame */
    env->msg_id.len = 0;
    if (rc)
        return rc;
    a->last_seq = seq;
    if (seq_out)
        *seq_out = seq;
    return POLKU_OK;
}

int agent_send_now(agent *a, const uint8_t *data, size_t len)
{
    if (zmq_send(a->dealer, data, len, ZMQ_DONTWAIT) < 0)
        return zmq_errno() ? zmq_errno() : EIO;
    return 0;
}

static int outbox_send(void *arg, const uint8_t *data, size_t len)
{
    return agent_send_now(arg, data, len);
}

/* Rebuilds the in-memory outbox from the store's outbox database. */
static int load_outbox(agent *a)
{
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v, ev;
    int rc = mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_cursor_open(txn, a->st.outbox, &c);
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
        if (store_event_get(&a->st, txn, seq, &ev)) {
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
        prc = outbox_add(&a->ob, seq, dest,
                         v.mv_size == 8 ? store_seq_from_key(v.mv_data) : 0,
                         copy, ev.mv_size);
    }
    uint64_t last = 0;
    if (!prc)
        prc = store_last_seq(&a->st, txn, &last);
    a->last_seq = a->committed_seq = last;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return prc;
}

static void on_tick(uv_timer_t *t)
{
    agent_link_tick(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    agent *a = s->data;
    log_info("signal %d: stopping", signum);
    uv_stop(a->loop);
}

int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = cfg;
    uv_idle_init(loop, &a->commit_idle);
    uv_idle_init(loop, &a->replay_idle);
    uv_timer_init(loop, &a->tick);
    a->commit_idle.data = a->replay_idle.data = a->tick.data = a;
    outbox_init(&a->ob, cfg->window, cfg->retry_min_ms, cfg->retry_max_ms,
                cfg->ack_timeout_ms, outbox_send, a);
    int rc =
        store_open(&a->st, cfg->store, cfg->map_size, cfg->map_max, cfg->org);
    if (!rc)
        rc = load_outbox(a);
    if (rc)
        return rc;
    log_info("store %s: last seq %llu, %zu messages awaiting acknowledgement",
             cfg->store, (unsigned long long)a->last_seq,
             outbox_pending(&a->ob));
    uint64_t epoch = 0;
    randombytes_buf(&epoch, sizeof epoch); /* a new feed each start */
    a->events = polku_sse_hub_new(epoch | 1, 1024);
    if (!a->events)
        return POLKU_ENOMEM;
    rc = agent_link_start(a);
    if (!rc)
        rc = agent_api_start(a);
    if (rc)
        return rc;
    uint64_t tick = cfg->heartbeat_ms / 4 ? cfg->heartbeat_ms / 4 : 1;
    if (tick > 100)
        tick = 100;
    uv_timer_start(&a->tick, on_tick, tick, tick);
    uv_signal_init(loop, &a->sigterm);
    uv_signal_init(loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    return POLKU_OK;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

void agent_fini(agent *a)
{
    if (a->txn)
        commit_batch(a); /* answer what is pending with what is durable */
    polku_sse_hub_free(&a->events); /* its streams end before the server */
    agent_seal_keys_free(a);
    polku_http_stop(&a->http); /* answers the waiting claims too */
    path_query_fini(a);
    free(a->waiters);
    a->waiters = NULL;
    a->n_waiters = a->cap_waiters = 0;
    agent_link_close(a);
    close_if_open((uv_handle_t *)&a->commit_idle);
    close_if_open((uv_handle_t *)&a->replay_idle);
    close_if_open((uv_handle_t *)&a->tick);
    close_if_open((uv_handle_t *)&a->sigterm);
    close_if_open((uv_handle_t *)&a->sigint);
    if (a->zctx)
        zmq_ctx_term(a->zctx);
    outbox_fini(&a->ob);
    free(a->after);
    a->after = NULL;
    if (a->directory)
        polku__welcome__free_unpacked(a->directory, NULL);
    store_close(&a->st);
}
