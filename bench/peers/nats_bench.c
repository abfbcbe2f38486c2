/* nats_bench.c — acked delivery through NATS JetStream file streams and a
 * receipt back, as bench/compare sets it against polku's referral path.
 *
 * Why it exists: issue #6 compares polku's durable path with what an
 * integration team would otherwise deploy, and issue #16 asks for the same
 * three end points on every system; NATS JetStream is the other
 * candidate. This client uses it the way its documentation recommends
 * for "at least once": streams with file storage, publishes acknowledged
 * by the server (PubAck), durable consumers with explicit acks; a
 * receiving system that stores each message in its own durable LMDB store
 * (peer_store.h, group commit) before it acks; a reply through a second
 * file stream back to the publisher. Same settings as polku's run
 * (500-byte payloads, the same windows); key=value lines for
 * bench/compare to read.
 *
 * Note on durability: nats-server 2.9 answers a PubAck once the message
 * is written to its file store, not after an fsync (it syncs every two
 * minutes by default, and Debian's 2.9 rejects `sync_interval`): it
 * acknowledges before fsync. bench/README.md says more.
 *
 * Three connections, as two organisations' systems would have:
 *   P  the sender's publisher: js_Publish one at a time (waits for the
 *      PubAck), js_PublishAsync with MaxPending = the window in a
 *      throughput phase: end point "sender" is the PubAck;
 *   R  the receiver (its own thread for the whole run): a durable push
 *      consumer, synchronous subscription, explicit acks, max ack pending
 *      --max-ack-pending; takes every message that has arrived (the first
 *      waited for, the rest without waiting), puts them in one LMDB
 *      transaction and commits it — end point "receiver" — then
 *      publishes one 8-byte reply per message to the replies stream's
 *      subject and acks each message;
 *   K  the sender's reply consumer (durable, explicit ack each): end
 *      point "receipt" when a reply is consumed.
 * Any error ends the run with exit 1 and no figures. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "peer_common.h"
#include "peer_store.h"

#define STREAM "POLKU_BENCH"
#define SUBJECT "polku.bench"
#define REPLY_STREAM "POLKU_REPLIES"
#define REPLY_SUBJECT "polku.reply"

typedef struct opts {
    const char *url;
    int max_ack_pending;
} opts;

/* What only NATS has; the rest is peer_common.h's. */
static opts g = {.url = "nats://127.0.0.1:4222", .max_ack_pending = 1000};

static atomic_size_t g_puback_ok, g_puback_err;

static void die(const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf(stderr, "nats_bench: %s: %s (jetstream error %d)\n", what,
            natsStatus_GetText(s), (int)jerr);
    nats_PrintLastErrorStack(stderr);
    exit(1);
}

/* Milliseconds left of the run's deadline. */
static int64_t ms_left(void)
{
    return (int64_t)(peer_left_s() * 1e3) + 1;
}

static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                      void *closure)
{
    (void)js, (void)pae, (void)closure;
    if (pa)
        atomic_fetch_add(&g_puback_ok, 1);
    else
        atomic_fetch_add(&g_puback_err, 1);
    natsMsg_Destroy(msg);
}

static natsConnection *connect(void)
{
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, g.url);
    if (s != NATS_OK)
        die("connect", s, 0);
    return nc;
}

/* A JetStream context on nc; window > 0: for js_PublishAsync with at
 * most window PubAcks outstanding. */
static jsCtx *jetstream(natsConnection *nc, int window)
{
    jsOptions o;
    jsCtx *js = NULL;
    jsOptions_Init(&o);
    o.Wait = 10000;
    if (window > 0) {
        o.PublishAsync.MaxPending = window;
        o.PublishAsync.AckHandler = on_puback;
        o.PublishAsync.StallWait = 60000;
    }
    natsStatus s = natsConnection_JetStream(&js, nc, &o);
    if (s != NATS_OK)
        die("jetstream context", s, 0);
    return js;
}

static void stream_add(jsCtx *js, const char *name, const char *subject)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *subjects[] = {subject};
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        die("add stream", s, jerr);
    jsStreamInfo_Destroy(si);
}

/* A durable push consumer of stream with explicit acks. */
static natsSubscription *subscribe(jsCtx *js, const char *stream,
                                   const char *subject, const char *durable)
{
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsSubscription *sub = NULL;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.Durable = durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = g.max_ack_pending;
    so.ManualAck = true;
    natsStatus s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
    if (s != NATS_OK)
        die("subscribe", s, jerr);
    return sub;
}

/* ------------------------------------------------------------- receiver */

typedef struct receiver {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    peer_store *store;
    natsMsg **batch; /* max_ack_pending */
} receiver;

static void *receiver_thread(void *arg)
{
    receiver *r = arg;
    size_t total = peer_total(), done = 0;
    while (done < total) {
        size_t n = 0;
        for (int64_t wait = ms_left(); n < (size_t)g.max_ack_pending;
             wait = 0) {
            natsMsg *m = NULL;
            natsStatus s = natsSubscription_NextMsg(&m, r->sub, wait);
            if (s == NATS_TIMEOUT && wait == 0)
                break;
            if (s != NATS_OK)
                die("receiver: next message", s, 0);
            const char *d = natsMsg_GetData(m);
            int len = natsMsg_GetDataLength(m);
            if (len != peer.size)
                peer_die("receiver", "a message of the wrong size");
            peer_store_put(r->store, peer_seq_of(d, (size_t)len), d,
                           (size_t)len);
            r->batch[n++] = m;
        }
        peer_store_commit(r->store); /* durable at the receiver */
        const uint64_t *seqs = peer_store_batch(r->store);
        for (size_t i = 0; i < n; i++) {
            uint8_t reply[8];
            for (int k = 0; k < 8; k++)
                reply[k] = (uint8_t)(seqs[i] >> (56 - 8 * k));
            natsStatus s = natsConnection_Publish(r->nc, REPLY_SUBJECT, reply,
                                                  sizeof reply);
            if (s != NATS_OK)
                die("receiver: reply", s, 0);
        }
        for (size_t i = 0; i < n; i++) {
            natsStatus s = natsMsg_Ack(r->batch[i], NULL);
            if (s != NATS_OK)
                die("receiver: ack", s, 0);
            natsMsg_Destroy(r->batch[i]);
        }
        done += n;
    }
    peer_receiver_linger();
    return NULL;
}

/* --------------------------------------------------------------- sender */

typedef struct sender {
    natsConnection *nc, *knc;
    jsCtx *js;             /* one at a time, synchronous publishes */
    natsSubscription *sub; /* the replies */
} sender;

/* One reply, acked; its seq. */
static uint64_t consume_reply(natsSubscription *sub)
{
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, ms_left());
    if (s != NATS_OK)
        die("reply: next message", s, 0);
    uint64_t seq =
        peer_seq_of(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    peer_mark_receipt(seq);
    s = natsMsg_Ack(m, NULL);
    if (s != NATS_OK)
        die("reply: ack", s, 0);
    natsMsg_Destroy(m);
    return seq;
}

typedef struct replies {
    natsSubscription *sub;
    size_t n;
} replies;

static void *replies_thread(void *arg)
{
    replies *x = arg;
    for (size_t i = 0; i < x->n; i++)
        consume_reply(x->sub);
    return NULL;
}

/* One at a time: publish and wait for the PubAck, wait for the reply. */
static void one_at_a_time(void *arg, uint64_t seq, double *t_sender,
                          double *t_receipt)
{
    sender *x = arg;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    peer_stamp(seq);
    natsStatus s =
        js_Publish(&pa, x->js, SUBJECT, peer_payload, peer.size, NULL, &jerr);
    if (s != NATS_OK)
        die("publish", s, jerr);
    *t_sender = peer_now_s();
    jsPubAck_Destroy(pa);
    if (consume_reply(x->sub) != seq)
        peer_die("one at a time", "the reply of another message");
    *t_receipt = peer_now_s();
}

static double phase(void *arg, uint64_t first, size_t n, int window)
{
    sender *x = arg;
    jsCtx *js = jetstream(x->nc, window);
    atomic_store(&g_puback_ok, 0);
    atomic_store(&g_puback_err, 0);
    replies r = {x->sub, n};
    pthread_t th;
    if (pthread_create(&th, NULL, replies_thread, &r) != 0)
        peer_die("reply consumer thread", strerror(errno));
    for (size_t i = 0; i < n; i++) {
        peer_stamp(first + i);
        natsStatus s =
            js_PublishAsync(js, SUBJECT, peer_payload, peer.size, NULL);
        if (s != NATS_OK)
            die("publish async", s, 0);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = ms_left();
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK)
        die("waiting for the PubAcks", s, 0);
    double acked = peer_now_s();
    if (atomic_load(&g_puback_err) || atomic_load(&g_puback_ok) != n) {
        fprintf(stderr, "nats_bench: %zu PubAcks, %zu errors for %zu\n",
                atomic_load(&g_puback_ok), atomic_load(&g_puback_err), n);
        exit(1);
    }
    pthread_join(th, NULL);
    jsCtx_Destroy(js);
    return acked;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nats_bench [--url nats://H:P] [--serial N] [--count N]\n"
               "         [--window N[,N..]] [--warmup N] [--max-ack-pending "
               "N]\n"
               "         [--size B] [--timeout S] [--server-pid PID] --store "
               "DIR\n");
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = peer_num(v);
        if (v && peer_option(a, v))
            continue;
        if (strcmp(a, "--url") == 0 && v)
            g.url = v;
        else if (strcmp(a, "--max-ack-pending") == 0 && n > 0)
            g.max_ack_pending = (int)n;
        else {
            usage(stderr);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    peer.name = "nats_bench";
    parse(argc, argv);
    peer_start();
    natsStatus s = nats_Open(-1);
    if (s != NATS_OK)
        die("nats_Open", s, 0);
    sender x = {.nc = connect(), .knc = connect()};
    x.js = jetstream(x.nc, 0);
    stream_add(x.js, STREAM, SUBJECT);
    stream_add(x.js, REPLY_STREAM, REPLY_SUBJECT);
    jsCtx *kjs = jetstream(x.knc, 0);
    x.sub = subscribe(kjs, REPLY_STREAM, REPLY_SUBJECT, "polku-replies");
    receiver r = {.nc = connect()};
    r.js = jetstream(r.nc, 0);
    r.sub = subscribe(r.js, STREAM, SUBJECT, "polku-bench");
    r.store = peer_store_open(peer.store, (size_t)g.max_ack_pending);
    r.batch = calloc((size_t)g.max_ack_pending, sizeof *r.batch);
    if (!r.batch)
        peer_die("receiver", "out of memory");
    printf("system=nats\nstorage=file\npayload_bytes=%d\nmax_ack_pending=%d\n",
           peer.size, g.max_ack_pending);
    pthread_t th;
    if (pthread_create(&th, NULL, receiver_thread, &r) != 0)
        peer_die("receiver thread", strerror(errno));
    peer_set_receiver(th);
    peer_run_serial(one_at_a_time, &x);
    fflush(stdout);
    peer_run_throughput(phase, &x);
    pthread_join(th, NULL);
    printf("receiver_commits=%zu\n", peer_store_commits(r.store));
    peer_store_close(&r.store);
    free(r.batch);
    natsSubscription_Destroy(r.sub);
    natsSubscription_Destroy(x.sub);
    jsCtx_Destroy(r.js);
    jsCtx_Destroy(kjs);
    jsCtx_Destroy(x.js);
    natsConnection_Destroy(r.nc);
    natsConnection_Destroy(x.knc);
    natsConnection_Destroy(x.nc);
    nats_Close();
    return 0;
}
