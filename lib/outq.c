/* outq.c — frames gathered during one loop turn, sent as one bundle per
 * destination (see polku/outq.h).
 *
 * The queued bytes live in one growing buffer per generation; a flush
 * takes the current generation and gives the queue the spare one, so a
 * failure callback that queues (a Nack for what could not be forwarded)
 * writes into the next flush, never into the one being sent. */
#include "polku/outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/id.h"

#define OUTQ_DEFAULT_MAX_BYTES (256u * 1024u)

typedef struct outq_item {
    int dest;
    bool sent; /* handled by this flush */
    size_t off, len;
    uint64_t tag;
} outq_item;

typedef struct outq_gen {
    outq_item *items;
    size_t n, cap;
    uint8_t *bytes;
    size_t used, bytes_cap;
} outq_gen;

struct polku_outq {
    outq_gen cur, spare;
    size_t max_bytes;
    ProtobufCBinaryData *chunk; /* a bundle's messages, reused */
    unsigned long long messages, frames;
};

int polku_outq_new(size_t max_bytes, polku_outq **out)
{
    polku_outq *q = calloc(1, sizeof *q);
    *out = NULL;
    if (!q)
        return POLKU_ENOMEM;
    q->max_bytes = max_bytes ? max_bytes : OUTQ_DEFAULT_MAX_BYTES;
    q->chunk = malloc(POLKU_BUNDLE_MAX_MESSAGES * sizeof *q->chunk);
    if (!q->chunk) {
        free(q);
        return POLKU_ENOMEM;
    }
    *out = q;
    return POLKU_OK;
}

static void gen_free(outq_gen *g)
{
    free(g->items);
    free(g->bytes);
    memset(g, 0, sizeof *g);
}

void polku_outq_free(polku_outq **q)
{
    if (!q || !*q)
        return;
    gen_free(&(*q)->cur);
    gen_free(&(*q)->spare);
    free((*q)->chunk);
    free(*q);
    *q = NULL;
}

int polku_outq_add(polku_outq *q, int dest, const void *data, size_t len,
                   uint64_t tag)
{
    outq_gen *g = &q->cur;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        outq_item *items = realloc(g->items, cap * sizeof *items);
        if (!items)
            return POLKU_ENOMEM;
        g->items = items;
        g->cap = cap;
    }
    if (g->used + len > g->bytes_cap) {
        size_t cap = g->bytes_cap ? g->bytes_cap : 64 * 1024;
        while (cap < g->used + len)
            cap *= 2;
        uint8_t *bytes = realloc(g->bytes, cap);
        if (!bytes)
            return POLKU_ENOMEM;
        g->bytes = bytes;
        g->bytes_cap = cap;
    }
    memcpy(g->bytes + g->used, data, len);
    g->items[g->n++] = (outq_item){dest, false, g->used, len, tag};
    g->used += len;
    q->messages++;
    return POLKU_OK;
}

size_t polku_outq_pending(const polku_outq *q)
{
    return q->cur.n;
}

void polku_outq_drop(polku_outq *q, int dest)
{
    outq_gen *g = &q->cur;
    size_t kept = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->items[i].dest != dest)
            g->items[kept++] = g->items[i];
    g->n = kept; /* their bytes stay until the flush resets the buffer */
}

static void fail_items(const polku_outq_sink *sink, outq_item **its, size_t n,
                       int err)
{
    if (!sink->failed)
        return;
    for (size_t i = 0; i < n; i++)
        sink->failed(sink->arg, its[i]->dest, its[i]->tag, err);
}

/* Sends its[0..n) (one destination, in order) as one frame: the message
 * itself when alone, else a Bundle. */
static int send_chunk(polku_outq *q, const outq_gen *g, outq_item **its,
                      size_t n, const polku_outq_sink *sink)
{
    int dest = its[0]->dest;
    if (n == 1)
        return sink->send(sink->arg, dest, g->bytes + its[0]->off, its[0]->len);
    for (size_t i = 0; i < n; i++) {
        q->chunk[i].data = g->bytes + its[i]->off;
        q->chunk[i].len = its[i]->len;
    }
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Bundle bundle = POLKU__BUNDLE__INIT;
    uint64_t now = polku_now_ms();
    polku_id id = polku_id_new(now);
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id.data = id.b;
    env.msg_id.len = sizeof id.b;
    env.origin_org = (char *)(sink->origin_org ? sink->origin_org : "");
    env.time_ms = now;
    bundle.n_messages = n;
    bundle.messages = q->chunk;
    env.body_case = POLKU__ENVELOPE__BODY_BUNDLE;
    env.bundle = &bundle;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = polku_envelope_encode(&env, &buf, &len);
    if (rc)
        return ENOMEM;
    rc = sink->send(sink->arg, dest, buf, len);
    free(buf);
    return rc;
}

/* Sends what g holds for the destination of g->items[first], in order. */
static size_t flush_dest(polku_outq *q, outq_gen *g, size_t first,
                         outq_item **its, const polku_outq_sink *sink)
{
    int dest = g->items[first].dest;
    bool bundles = sink->bundles && sink->bundles(sink->arg, dest);
    size_t frames = 0, n = 0, bytes = 0;
    for (size_t i = first; i <= g->n; i++) {
        outq_item *it = i < g->n ? &g->items[i] : NULL;
        if (it && (it->sent || it->dest != dest))
            continue;
        bool full =
            n > 0 && (!it || !bundles || n == POLKU_BUNDLE_MAX_MESSAGES ||
                      bytes + it->len > q->max_bytes);
        if (full) {
            int err = send_chunk(q, g, its, n, sink);
            if (err)
                fail_items(sink, its, n, err);
            frames++;
            n = bytes = 0;
        }
        if (!it)
            break;
        it->sent = true;
        its[n++] = it;
        bytes += it->len;
    }
    return frames;
}

size_t polku_outq_flush(polku_outq *q, const polku_outq_sink *sink)
{
    if (q->cur.n == 0)
        return 0;
    outq_gen g = q->cur;
    q->cur = q->spare;
    q->cur.n = q->cur.used = 0;
    outq_item **its = malloc(g.n * sizeof *its);
    size_t frames = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (g.items[i].sent)
            continue;
        if (!its) { /* no memory for the gathering: each message alone */
            g.items[i].sent = true;
            int err = sink->send(sink->arg, g.items[i].dest,
                                 g.bytes + g.items[i].off, g.items[i].len);
            if (err && sink->failed)
                sink->failed(sink->arg, g.items[i].dest, g.items[i].tag, err);
            frames++;
            continue;
        }
        frames += flush_dest(q, &g, i, its, sink);
    }
    free(its);
    g.n = g.used = 0;
    q->spare = g;
    q->frames += frames;
    return frames;
}

unsigned long long polku_outq_messages(const polku_outq *q)
{
    return q->messages;
}

unsigned long long polku_outq_frames(const polku_outq *q)
{
    return q->frames;
}
