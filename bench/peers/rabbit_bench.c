/* rabbit_bench.c — durable delivery through a RabbitMQ quorum queue, as
 * bench/compare sets it against polku's referral path.
 *
 * Why it exists: issue #6 asks whether polku's durable path is faster
 * than what an integration team would otherwise deploy. For RabbitMQ
 * that is persistent messages (delivery_mode 2) in a durable quorum queue
 * (x-queue-type=quorum, Raft log fsynced before a confirm), published
 * with publisher confirms and consumed with manual acks. This client
 * measures exactly that, with the settings polku's run uses (500-byte
 * payloads, the same window), and prints key=value lines for
 * bench/compare to read.
 *
 * Two connections, as two organisations' systems would have: a publisher
 * (channel in confirm mode) and a consumer (basic.consume, manual ack,
 * prefetch --prefetch).
 *   one at a time: publish, wait for its confirm, receive it at the
 *     consumer, ack it; the time from publish to the ack being sent.
 *     --warmup untimed ones first.
 *   throughput: the publisher keeps --window publishes unconfirmed at
 *     most; the consumer (its own thread) acks each message. The clock
 *     runs from the first publish until every message is confirmed and
 *     acked by the consumer. The disks' flushes are read around it.
 * Any protocol error, nack or timeout ends the run with exit 1 and no
 * figures. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "disk_flushes.h"
#include "peer_common.h"

typedef struct opts {
    const char *host, *queue;
    int port, prefetch;
} opts;

/* What only RabbitMQ has; the rest is peer_common.h's. */
static opts g = {.host = "127.0.0.1",
                 .queue = "polku-bench",
                 .port = 5672,
                 .prefetch = 1000};

/* What is left of the run's deadline, as a timeval for librabbitmq. */
static struct timeval time_left(void)
{
    double left = peer_left_s();
    struct timeval tv = {.tv_sec = (time_t)left,
                         .tv_usec = (suseconds_t)((left - floor(left)) * 1e6)};
    return tv;
}

static void check_reply(amqp_rpc_reply_t r, const char *what)
{
    char buf[128];
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_NONE:
        peer_die(what, "missing RPC reply");
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        peer_die(what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, sizeof buf, "channel closed: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, sizeof buf, "connection closed: %u %.*s",
                     m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, sizeof buf, "server method 0x%08X", r.reply.id);
        }
        peer_die(what, buf);
        break;
    }
}

static amqp_connection_state_t connect_channel(const char *who)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (!s)
        peer_die(who, "cannot create a TCP socket");
    struct timeval tv = time_left();
    int rc = amqp_socket_open_noblock(s, g.host, g.port, &tv);
    if (rc != AMQP_STATUS_OK)
        peer_die(who, amqp_error_string2(rc));
    check_reply(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                           "guest", "guest"),
                who);
    amqp_channel_open(c, 1);
    check_reply(amqp_get_rpc_reply(c), who);
    return c;
}

static void close_connection(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* ------------------------------------------------------------ publisher */

typedef struct publisher {
    amqp_connection_state_t c;
    uint64_t published, confirmed; /* delivery tags are 1..published */
    uint64_t confirmed_upto;       /* every tag <= this one is confirmed */
    bool *acked;                   /* by tag, for single (non-multiple) acks */
    size_t acked_cap;
} publisher;

static void publish_one(publisher *p)
{
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    amqp_bytes_t body = {.len = (size_t)peer.size, .bytes = peer_payload};
    int rc =
        amqp_basic_publish(p->c, 1, amqp_empty_bytes,
                           amqp_cstring_bytes(g.queue), 0, 0, &props, body);
    if (rc != AMQP_STATUS_OK)
        peer_die("basic.publish", amqp_error_string2(rc));
    p->published++;
}

static void mark_confirmed(publisher *p, uint64_t tag, bool multiple)
{
    if (tag > p->published || tag >= p->acked_cap)
        peer_die("confirm", "delivery tag never published");
    if (multiple) {
        for (uint64_t t = p->confirmed_upto + 1; t <= tag; t++)
            if (!p->acked[t])
                p->acked[t] = true, p->confirmed++;
    } else if (!p->acked[tag]) {
        p->acked[tag] = true, p->confirmed++;
    }
    while (p->confirmed_upto + 1 < p->acked_cap &&
           p->acked[p->confirmed_upto + 1])
        p->confirmed_upto++;
}

/* Reads one frame from the publisher's connection (waiting for it) and
 * books the confirms in it. */
static void read_confirm(publisher *p)
{
    amqp_frame_t f;
    struct timeval tv = time_left();
    int rc = amqp_simple_wait_frame_noblock(p->c, &f, &tv);
    if (rc != AMQP_STATUS_OK)
        peer_die("waiting for a confirm", amqp_error_string2(rc));
    if (f.frame_type != AMQP_FRAME_METHOD)
        peer_die("waiting for a confirm", "unexpected frame");
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        mark_confirmed(p, a->delivery_tag, a->multiple);
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        peer_die("confirm", "the broker nacked a publish");
    } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = f.payload.method.decoded;
        fprintf(stderr, "rabbit_bench: channel closed: %.*s\n",
                (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        exit(1);
    } else {
        peer_die("waiting for a confirm", "unexpected method");
    }
    amqp_maybe_release_buffers(p->c);
}

static void publisher_open(publisher *p, size_t total)
{
    p->c = connect_channel("publisher");
    amqp_confirm_select(p->c, 1);
    check_reply(amqp_get_rpc_reply(p->c), "confirm.select");
    amqp_table_entry_t e = {.key = amqp_cstring_bytes("x-queue-type")};
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes("quorum");
    amqp_table_t args = {.num_entries = 1, .entries = &e};
    amqp_queue_declare(p->c, 1, amqp_cstring_bytes(g.queue), 0, 1, 0, 0, args);
    check_reply(amqp_get_rpc_reply(p->c), "queue.declare (quorum)");
    p->acked_cap = total + 2;
    p->acked = calloc(p->acked_cap, sizeof *p->acked);
    if (!p->acked)
        peer_die("publisher", "out of memory");
}

/* ------------------------------------------------------------- consumer */

typedef struct consumer {
    amqp_connection_state_t c;
    size_t received;
} consumer;

static void consumer_open(consumer *k)
{
    k->c = connect_channel("consumer");
    amqp_basic_qos(k->c, 1, 0, (uint16_t)g.prefetch, 0);
    check_reply(amqp_get_rpc_reply(k->c), "basic.qos");
    amqp_basic_consume(k->c, 1, amqp_cstring_bytes(g.queue), amqp_empty_bytes,
                       0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(k->c), "basic.consume");
}

/* Receives one message and acks it. */
static void consume_one(consumer *k)
{
    amqp_envelope_t env;
    struct timeval tv = time_left();
    amqp_maybe_release_buffers(k->c);
    check_reply(amqp_consume_message(k->c, &env, &tv, 0), "consume");
    if (env.message.body.len != (size_t)peer.size)
        peer_die("consume", "a message of the wrong size");
    if (amqp_basic_ack(k->c, 1, env.delivery_tag, 0) != AMQP_STATUS_OK)
        peer_die("basic.ack", "cannot send");
    amqp_destroy_envelope(&env);
    k->received++;
}

static void *consumer_thread(void *arg)
{
    consumer *k = arg;
    while (k->received < peer.count)
        consume_one(k);
    return NULL;
}

/* ---------------------------------------------------------------- phases */

/* One at a time: publish, wait for the confirm, receive and ack. */
typedef struct pair {
    publisher *p;
    consumer *k;
} pair;

static void one_at_a_time(void *arg)
{
    pair *x = arg;
    publish_one(x->p);
    while (x->p->confirmed < x->p->published)
        read_confirm(x->p);
    consume_one(x->k);
}

static void run_serial(publisher *p, consumer *k)
{
    pair x = {p, k};
    peer_run_serial(one_at_a_time, &x);
}

static void run_throughput(publisher *p, consumer *k)
{
    uint64_t base = p->published;
    k->received = 0;
    long long f0 = df_flushes();
    double t0 = peer_now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, consumer_thread, k) != 0)
        peer_die("consumer thread", strerror(errno));
    while (p->confirmed < base + peer.count) {
        while (p->published < base + peer.count &&
               p->published - p->confirmed < (uint64_t)peer.window)
            publish_one(p);
        read_confirm(p);
    }
    double confirmed_s = peer_now_s() - t0;
    pthread_join(th, NULL);
    double s = peer_now_s() - t0;
    long long flushes = df_delta(f0, df_flushes());
    peer_print_throughput(confirmed_s, s, flushes);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: rabbit_bench [--host H] [--port P] [--queue Q]\n"
               "         [--serial N] [--count N] [--window N] [--warmup N]\n"
               "         [--prefetch N] [--size B] [--timeout S]\n");
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = peer_num(v);
        if (v && peer_option(a, v))
            continue;
        if (strcmp(a, "--host") == 0 && v)
            g.host = v;
        else if (strcmp(a, "--queue") == 0 && v)
            g.queue = v;
        else if (strcmp(a, "--port") == 0 && n > 0 && n < 65536)
            g.port = (int)n;
        else if (strcmp(a, "--prefetch") == 0 && n > 0 && n < 65536)
            g.prefetch = (int)n;
        else {
            usage(stderr);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    peer.name = "rabbit_bench";
    parse(argc, argv);
    peer_start();
    publisher p = {0};
    consumer k = {0};
    publisher_open(&p, peer.warmup + peer.serial + peer.count);
    consumer_open(&k);
    printf("system=rabbitmq\nqueue=quorum\npayload_bytes=%d\nprefetch=%d\n",
           peer.size, g.prefetch);
    run_serial(&p, &k);
    fflush(stdout);
    run_throughput(&p, &k);
    close_connection(k.c);
    close_connection(p.c);
    free(p.acked);
    return 0;
}
