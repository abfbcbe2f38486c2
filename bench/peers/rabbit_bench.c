/* rabbit_bench.c — durable delivery through RabbitMQ quorum queues and a
 * receipt back, as bench/compare sets it against polku's referral path.
 *
 * Why it exists: issue #6 asks whether polku's durable path is faster
 * than what an integration team would otherwise deploy, and issue #16
 * asks for the same three end points on both sides. For RabbitMQ that is
 * persistent messages (delivery_mode 2) in a durable quorum queue
 * (x-queue-type=quorum, Raft log fsynced before a confirm), published
 * with publisher confirms; a receiving system that stores each message
 * in its own durable LMDB store (peer_store.h, group commit) before it
 * acks; and a reply through a second durable quorum queue back to the
 * publisher. Same settings as polku's run (500-byte payloads, the same
 * windows); key=value lines for bench/compare to read.
 *
 * Three connections, as two organisations' systems would have:
 *   P  the sender's publisher (channel in confirm mode), --window
 *      publishes unconfirmed at most: end point "sender" is the confirm;
 *   R  the receiver (its own thread for the whole run): basic.consume
 *      with manual acks and prefetch --prefetch; takes every message that
 *      has arrived (the first waited for, the rest without waiting), puts
 *      them in one LMDB transaction and commits it — end point
 *      "receiver" — then publishes one persistent 8-byte reply per
 *      message to the replies queue and acks the batch (multiple);
 *   K  the sender's reply consumer (manual ack, one basic.ack each): end
 *      point "receipt" when a reply is consumed.
 * One at a time: publish, confirm, then K waits for the reply; --warmup
 * untimed ones first. Throughput: one phase per window, K in its own
 * thread. Any protocol error, nack or timeout ends the run with exit 1
 * and no figures. */
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
#include "peer_store.h"

typedef struct opts {
    const char *host, *queue, *replies;
    int port, prefetch;
} opts;

/* What only RabbitMQ has; the rest is peer_common.h's. */
static opts g = {.host = "127.0.0.1",
                 .queue = "polku-bench",
                 .replies = "polku-bench-replies",
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

/* A persistent message to queue q through the default exchange. */
static void publish_persistent(amqp_connection_state_t c, const char *q,
                               const void *data, size_t len)
{
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    amqp_bytes_t body = {.len = len, .bytes = (void *)data};
    int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(q),
                                0, 0, &props, body);
    if (rc != AMQP_STATUS_OK)
        peer_die("basic.publish", amqp_error_string2(rc));
}

/* Publishes message seq. */
static void publish_one(publisher *p, uint64_t seq)
{
    peer_stamp(seq);
    publish_persistent(p->c, g.queue, peer_payload, (size_t)peer.size);
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
    amqp_queue_declare(p->c, 1, amqp_cstring_bytes(g.replies), 0, 1, 0, 0,
                       args);
    check_reply(amqp_get_rpc_reply(p->c), "queue.declare replies (quorum)");
    p->acked_cap = total + 2;
    p->acked = calloc(p->acked_cap, sizeof *p->acked);
    if (!p->acked)
        peer_die("publisher", "out of memory");
}

/* ------------------------------------------------------------- consumers */

/* A connection consuming queue q with manual acks. */
static amqp_connection_state_t consumer_open(const char *who, const char *q)
{
    amqp_connection_state_t c = connect_channel(who);
    amqp_basic_qos(c, 1, 0, (uint16_t)g.prefetch, 0);
    check_reply(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "basic.consume");
    return c;
}

/* The next delivery on c into *env: waits up to the deadline, or not at
 * all when wait is false (then false if nothing had arrived). */
static bool next_delivery(amqp_connection_state_t c, amqp_envelope_t *env,
                          bool wait)
{
    struct timeval tv = wait ? time_left() : (struct timeval){0, 0};
    amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, env, &tv, 0);
    if (!wait && r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_TIMEOUT)
        return false;
    check_reply(r, "consume");
    return true;
}

/* The receiving organisation's system: stores, commits, replies, acks. */
typedef struct receiver {
    amqp_connection_state_t c;
    peer_store *store;
} receiver;

static void *receiver_thread(void *arg)
{
    receiver *r = arg;
    size_t total = peer_total(), done = 0;
    while (done < total) {
        uint64_t last_tag = 0;
        bool wait = true;
        amqp_envelope_t env;
        while (peer_store_pending(r->store) < (size_t)g.prefetch &&
               next_delivery(r->c, &env, wait)) {
            amqp_bytes_t b = env.message.body;
            if (b.len != (size_t)peer.size)
                peer_die("receiver", "a message of the wrong size");
            peer_store_put(r->store, peer_seq_of(b.bytes, b.len), b.bytes,
                           b.len);
            last_tag = env.delivery_tag;
            amqp_destroy_envelope(&env);
            wait = false;
        }
        size_t n = peer_store_commit(r->store); /* durable at the receiver */
        const uint64_t *seqs = peer_store_batch(r->store);
        for (size_t i = 0; i < n; i++) {
            uint8_t reply[8];
            for (int k = 0; k < 8; k++)
                reply[k] = (uint8_t)(seqs[i] >> (56 - 8 * k));
            publish_persistent(r->c, g.replies, reply, sizeof reply);
        }
        if (amqp_basic_ack(r->c, 1, last_tag, 1) != AMQP_STATUS_OK)
            peer_die("receiver basic.ack", "cannot send");
        done += n;
    }
    peer_receiver_linger();
    return NULL;
}

/* The sender's reply consumer: one reply, acked; its seq. */
static uint64_t consume_reply(amqp_connection_state_t k)
{
    amqp_envelope_t env;
    next_delivery(k, &env, true);
    uint64_t seq = peer_seq_of(env.message.body.bytes, env.message.body.len);
    peer_mark_receipt(seq);
    if (amqp_basic_ack(k, 1, env.delivery_tag, 0) != AMQP_STATUS_OK)
        peer_die("reply basic.ack", "cannot send");
    amqp_destroy_envelope(&env);
    return seq;
}

typedef struct replies {
    amqp_connection_state_t k;
    size_t n;
} replies;

static void *replies_thread(void *arg)
{
    replies *x = arg;
    for (size_t i = 0; i < x->n; i++)
        consume_reply(x->k);
    return NULL;
}

/* ---------------------------------------------------------------- phases */

typedef struct sender {
    publisher *p;
    amqp_connection_state_t k;
} sender;

/* One at a time: publish, wait for the confirm, wait for the reply. */
static void one_at_a_time(void *arg, uint64_t seq, double *t_sender,
                          double *t_receipt)
{
    sender *x = arg;
    publish_one(x->p, seq);
    while (x->p->confirmed < x->p->published)
        read_confirm(x->p);
    *t_sender = peer_now_s();
    if (consume_reply(x->k) != seq)
        peer_die("one at a time", "the reply of another message");
    *t_receipt = peer_now_s();
}

static double phase(void *arg, uint64_t first, size_t n, int window)
{
    sender *x = arg;
    publisher *p = x->p;
    uint64_t base = p->published;
    replies r = {x->k, n};
    pthread_t th;
    if (pthread_create(&th, NULL, replies_thread, &r) != 0)
        peer_die("reply consumer thread", strerror(errno));
    uint64_t seq = first;
    while (p->confirmed < base + n) {
        while (p->published < base + n &&
               p->published - p->confirmed < (uint64_t)window)
            publish_one(p, seq++);
        read_confirm(p);
    }
    double confirmed = peer_now_s();
    pthread_join(th, NULL);
    return confirmed;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: rabbit_bench [--host H] [--port P] [--queue Q]\n"
               "         [--serial N] [--count N] [--window N[,N..]]\n"
               "         [--warmup N] [--prefetch N] [--size B] [--timeout S]\n"
               "         [--server-pid PID] --store DIR\n");
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
    publisher_open(&p, peer_total());
    receiver r = {consumer_open("receiver", g.queue),
                  peer_store_open(peer.store, (size_t)g.prefetch)};
    sender x = {&p, consumer_open("reply consumer", g.replies)};
    printf("system=rabbitmq\nqueue=quorum\npayload_bytes=%d\nprefetch=%d\n",
           peer.size, g.prefetch);
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
    close_connection(x.k);
    close_connection(r.c);
    close_connection(p.c);
    free(p.acked);
    return 0;
}
