/* nats_bench.c — acked delivery through a NATS JetStream file stream, as
 * bench/compare sets it against polku's referral path.
 *
 * Why it exists: issue #6 compares polku's durable path with what an
 * integration team would otherwise deploy; NATS JetStream is the other
 * candidate. This client uses it the way its documentation recommends
 * for "at least once": a stream with file storage, publishes acknowledged
 * by the server (PubAck), a durable consumer with explicit acks acking
 * every message. Same settings as polku's run (500-byte payloads, the
 * same window); key=value lines for bench/compare to read.
 *
 * Note on durability: nats-server 2.9 answers a PubAck once the message
 * is written to its file store, not after an fsync (it syncs every two
 * minutes by default). The flushes counted around the throughput phase
 * show it; bench/README.md says more.
 *
 * Two connections, like two organisations' systems: a publisher and a
 * consumer (push, synchronous subscription, explicit ack, max ack pending
 * --max-ack-pending).
 *   one at a time: js_Publish (waits for the PubAck), then the consumer
 *     receives it and acks it (natsMsg_Ack, fire and forget as RabbitMQ's
 *     basic.ack); --warmup untimed ones first.
 *   throughput: js_PublishAsync with MaxPending = --window unacked
 *     publishes; the consumer (its own thread) acks each message. The
 *     clock runs from the first publish until every publish is acked and
 *     the consumer has acked every message; flushes read around it.
 * Any error ends the run with exit 1 and no figures. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "disk_flushes.h"
#include "peer_common.h"

#define STREAM "POLKU_BENCH"
#define SUBJECT "polku.bench"

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

typedef struct side {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub; /* the consumer's */
    size_t received;
} side;

static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                      void *closure)
{
    if (pa)
        atomic_fetch_add(&g_puback_ok, 1);
    else
        atomic_fetch_add(&g_puback_err, 1);
    natsMsg_Destroy(msg);
}

static void side_open(side *x, bool publisher)
{
    jsOptions o;
    natsStatus s = natsConnection_ConnectTo(&x->nc, g.url);
    if (s != NATS_OK)
        die("connect", s, 0);
    jsOptions_Init(&o);
    o.Wait = 10000;
    if (publisher) {
        o.PublishAsync.MaxPending = peer.window;
        o.PublishAsync.AckHandler = on_puback;
        o.PublishAsync.StallWait = 60000;
    }
    s = natsConnection_JetStream(&x->js, x->nc, &o);
    if (s != NATS_OK)
        die("jetstream context", s, 0);
}

static void stream_add(side *p)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *subjects[] = {SUBJECT};
    jsStreamConfig_Init(&cfg);
    cfg.Name = STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    natsStatus s = js_AddStream(&si, p->js, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        die("add stream", s, jerr);
    jsStreamInfo_Destroy(si);
}

static void consumer_subscribe(side *k)
{
    jsSubOptions so;
    jsErrCode jerr = 0;
    jsSubOptions_Init(&so);
    so.Stream = STREAM;
    so.Config.Durable = "polku-bench";
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = g.max_ack_pending;
    so.ManualAck = true;
    natsStatus s = js_SubscribeSync(&k->sub, k->js, SUBJECT, NULL, &so, &jerr);
    if (s != NATS_OK)
        die("subscribe", s, jerr);
}

/* Receives one message and acks it. */
static void consume_one(side *k)
{
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, k->sub, ms_left());
    if (s != NATS_OK)
        die("next message", s, 0);
    if (natsMsg_GetDataLength(m) != peer.size) {
        fprintf(stderr, "nats_bench: a message of the wrong size\n");
        exit(1);
    }
    s = natsMsg_Ack(m, NULL);
    if (s != NATS_OK)
        die("ack", s, 0);
    natsMsg_Destroy(m);
    k->received++;
}

static void *consumer_thread(void *arg)
{
    side *k = arg;
    while (k->received < peer.count)
        consume_one(k);
    return NULL;
}

/* ---------------------------------------------------------------- phases */

/* One at a time: publish and wait for the PubAck, receive and ack. */
typedef struct pair {
    side *p, *k;
} pair;

static void one_at_a_time(void *arg)
{
    pair *x = arg;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&pa, x->p->js, SUBJECT, peer_payload, peer.size,
                              NULL, &jerr);
    if (s != NATS_OK)
        die("publish", s, jerr);
    jsPubAck_Destroy(pa);
    consume_one(x->k);
}

static void run_serial(side *p, side *k)
{
    pair x = {p, k};
    peer_run_serial(one_at_a_time, &x);
}

static void run_throughput(side *p, side *k)
{
    k->received = 0;
    long long f0 = df_flushes();
    double t0 = peer_now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, consumer_thread, k) != 0) {
        fprintf(stderr, "nats_bench: cannot start the consumer thread\n");
        exit(1);
    }
    for (size_t i = 0; i < peer.count; i++) {
        natsStatus s =
            js_PublishAsync(p->js, SUBJECT, peer_payload, peer.size, NULL);
        if (s != NATS_OK)
            die("publish async", s, 0);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = ms_left();
    natsStatus s = js_PublishAsyncComplete(p->js, &po);
    if (s != NATS_OK)
        die("waiting for the PubAcks", s, 0);
    double acked_s = peer_now_s() - t0;
    pthread_join(th, NULL);
    double secs = peer_now_s() - t0;
    long long flushes = df_delta(f0, df_flushes());
    if (atomic_load(&g_puback_err) || atomic_load(&g_puback_ok) != peer.count) {
        fprintf(stderr, "nats_bench: %zu PubAcks, %zu errors for %zu\n",
                atomic_load(&g_puback_ok), atomic_load(&g_puback_err),
                peer.count);
        exit(1);
    }
    peer_print_throughput(acked_s, secs, flushes);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: nats_bench [--url nats://H:P] [--serial N] [--count N]\n"
               "         [--window N] [--warmup N] [--max-ack-pending N]\n"
               "         [--size B] [--timeout S]\n");
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
    side p = {0}, k = {0};
    side_open(&p, true);
    side_open(&k, false);
    stream_add(&p);
    consumer_subscribe(&k);
    printf("system=nats\nstorage=file\npayload_bytes=%d\nmax_ack_pending=%d\n",
           peer.size, g.max_ack_pending);
    run_serial(&p, &k);
    fflush(stdout);
    run_throughput(&p, &k);
    natsSubscription_Destroy(k.sub);
    jsCtx_Destroy(k.js);
    jsCtx_Destroy(p.js);
    natsConnection_Destroy(k.nc);
    natsConnection_Destroy(p.nc);
    nats_Close();
    return 0;
}
