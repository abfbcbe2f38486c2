/* feed.c — feed events out on PUB and SSE. */
#include "feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "polku/handover.h"
#include "polku/hetu.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/json_line.h"
#include "polku/log.h"
#include "polku/referral.h"
#include "polku/sse.h"

#define FEED_RING 4096
#define FEED_PUB_HWM 10000

/* The SSE streams get what was published at most this long after: one
 * write and one wake-up per subscriber per flush, whatever the event rate
 * (1 000 dashboards cost the routing ~1 µs each per event otherwise).
 * Each of those writes costs about 10 µs of the broker's loop on a small
 * VM whatever it carries, so with many subscribers the wait grows, to keep
 * the writes near 5 % of a core: FEED_FLUSH_MS up to 250 subscribers, then
 * FEED_FLUSH_MS_PER_SUB each (200 ms for 1 000), FEED_FLUSH_MAX_MS at most.
 * A dashboard a quarter of a second late is still live to a person. */
#define FEED_FLUSH_MS 50
#define FEED_FLUSH_MS_PER_SUB 0.2
#define FEED_FLUSH_MAX_MS 250

static uint64_t flush_delay_ms(const polku_sse_hub *hub)
{
    double ms = (double)polku_sse_clients(hub) * FEED_FLUSH_MS_PER_SUB;
    if (ms < FEED_FLUSH_MS)
        return FEED_FLUSH_MS;
    return ms > FEED_FLUSH_MAX_MS ? FEED_FLUSH_MAX_MS : (uint64_t)ms;
}

struct feed {
    void *pub;
    polku_sse_hub *hub;
    uv_timer_t flush; /* polku_sse_flush while events wait */
};

static void on_flush(uv_timer_t *t)
{
    feed *f = t->data;
    polku_sse_flush(f->hub);
}

/* Events wait in the hub: flush them soon. */
static void flush_soon(feed *f)
{
    if (polku_sse_pending(f->hub) && !uv_is_active((uv_handle_t *)&f->flush))
        uv_timer_start(&f->flush, on_flush, flush_delay_ms(f->hub), 0);
}

int feed_open(uv_loop_t *loop, void *zctx, const char *endpoint, uint64_t epoch,
              feed **out)
{
    feed *f = calloc(1, sizeof *f);
    if (!f)
        return POLKU_ENOMEM;
    f->hub = polku_sse_hub_new(epoch, FEED_RING);
    if (!f->hub) {
        free(f);
        return POLKU_ENOMEM;
    }
    polku_sse_hub_batch(f->hub, true);
    uv_timer_init(loop, &f->flush);
    f->flush.data = f;
    if (endpoint && *endpoint) {
        int linger = 0, hwm = FEED_PUB_HWM;
        f->pub = zmq_socket(zctx, ZMQ_PUB);
        if (!f->pub ||
            zmq_setsockopt(f->pub, ZMQ_LINGER, &linger, sizeof linger) ||
            zmq_setsockopt(f->pub, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
            zmq_bind(f->pub, endpoint)) {
            log_error("feed: cannot bind PUB on %s: %s", endpoint,
                      zmq_strerror(zmq_errno()));
            feed_close(&f);
            return POLKU_ECONFIG;
        }
        log_info("feed: publishing on %s", endpoint);
    }
    *out = f;
    return POLKU_OK;
}

static void on_flush_closed(uv_handle_t *h)
{
    free(h->data);
}

void feed_close(feed **fp)
{
    if (!fp || !*fp)
        return;
    feed *f = *fp;
    if (f->pub)
        zmq_close(f->pub);
    polku_sse_hub_free(&f->hub); /* it flushes what waits */
    uv_close((uv_handle_t *)&f->flush, on_flush_closed);
    *fp = NULL;
}

/* body (taken) with "seq" and "at", as one line of JSON. The topic is
 * not repeated in it: the SSE event name and the PUB frame carry it. */
static char *finish(json_t *body, uint64_t seq, uint64_t at_ms)
{
    char at[POLKU_TIME_TEXT];
    polku_time_format(at_ms, at, sizeof at);
    json_object_set_new(body, "seq", json_integer((json_int_t)seq));
    json_object_set_new(body, "at", json_string(at));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

uint64_t feed_publish(feed *f, const char *topic, json_t *body)
{
    if (!body)
        return 0;
    uint64_t seq = polku_sse_last_seq(f->hub) + 1;
    char *text = finish(body, seq, polku_now_ms());
    if (!text)
        return 0;
    seq = polku_sse_publish(f->hub, topic, text);
    flush_soon(f);
    if (f->pub) {
        /* a full PUB queue drops: watchers are not waited for */
        if (zmq_send(f->pub, topic, strlen(topic),
                     ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(f->pub, text, strlen(text), ZMQ_DONTWAIT);
    }
    free(text);
    return seq;
}

static json_t *id_json(const ProtobufCBinaryData *b)
{
    if (b->len != 16)
        return json_null();
    polku_id id;
    char text[POLKU_ID_TEXT];
    memcpy(id.b, b->data, 16);
    polku_id_format(&id, text);
    return json_string(text);
}

/* A referral's feed event names what changed and between whom, not the
 * whole view: its dates, due time and age are in /api/v1/pending and
 * /api/v1/paths/{display}, which a dashboard re-reads on an event, and
 * each feed event is written to every SSE client (bench/README.md, "SSE
 * subscribers on the broker"). client_key is added by the caller. */
static json_t *referral_body(const ProtobufCBinaryData *rid,
                             const client_index *cl)
{
    const cl_referral *r =
        rid->len == 16 ? cl_referral_find(cl, rid->data) : NULL;
    if (!r)
        return json_pack("{s:o}", "id", id_json(rid));
    return cl_referral_change_json(cl, r);
}

static json_t *handover_body(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return json_pack("{s:o, s:s, s:s, s:I, s:s}", "id",
                         id_json(&env->handover_offered->handover_id), "from",
                         env->origin_org, "to", env->n_to ? env->to[0] : "",
                         "term", (json_int_t)env->handover_offered->term,
                         "status", "offered");
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED: {
        const Polku__HandoverAnswered *a = env->handover_answered;
        return json_pack("{s:o, s:s, s:s, s:I, s:s}", "id",
                         id_json(&a->handover_id), "from", a->offered_by, "to",
                         a->offered_to, "term", (json_int_t)a->term, "status",
                         polku_handover_state_name(a->status));
    }
    default: /* withdraw requested */
        return json_pack("{s:o, s:s}", "id",
                         id_json(&env->withdraw_requested->handover_id), "from",
                         env->origin_org);
    }
}

json_t *feed_event_of(const polku_envelope *env, const client_index *cl,
                      const path_index *pi, const display *names,
                      const char **topic)
{
    const char *name = cl_event_name(env);
    if (!name || env->client_key.len != 16)
        return NULL;
    json_t *body = NULL;
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        body = referral_body(&env->referral_requested->referral_id, cl);
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        body = referral_body(&env->referral_status->referral_id, cl);
        break;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        body = referral_body(&env->cancel_requested->referral_id, cl);
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED: {
        const Polku__ConsentGranted *g = env->consent_granted;
        json_t *orgs = json_array(), *purposes = json_array();
        for (size_t i = 0; i < g->n_orgs; i++)
            json_array_append_new(orgs, json_string(g->orgs[i]));
        for (size_t i = 0; i < g->n_purposes; i++)
            json_array_append_new(purposes, json_string(g->purposes[i]));
        char until[POLKU_TIME_TEXT];
        polku_time_format(g->valid_until_ms, until, sizeof until);
        body =
            json_pack("{s:o, s:o, s:o, s:s}", "id", id_json(&g->consent_id),
                      "orgs", orgs, "purposes", purposes, "valid_until", until);
        break;
    }
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        body = json_pack("{s:o, s:s}", "id",
                         id_json(&env->consent_revoked->consent_id), "by",
                         env->origin_org);
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        body = handover_body(env);
        break;
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        body = json_pack("{s:s, s:s}", "org", env->origin_org, "service",
                         env->service_started->service);
        break;
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        body = json_pack("{s:s, s:s}", "org", env->origin_org, "service",
                         env->service_ended->service);
        break;
    default: { /* path.*: the coordination as it stands now */
        path_view v;
        bool known = pi_view(pi, env->client_key.data, &v);
        body = json_pack("{s:s, s:o, s:I, s:b}", "by", env->origin_org,
                         "coordinator",
                         known && v.coordinator[0] ? json_string(v.coordinator)
                                                   : json_null(),
                         "term", (json_int_t)(known ? v.term : 0), "closed",
                         known && v.closed);
        break;
    }
    }
    if (!body)
        return NULL;
    char key[DISPLAY_NAME_TEXT];
    display_name(names, env->client_key.data, key);
    json_object_set_new(body, "client_key", json_string(key));
    *topic = name;
    return body;
}

/* ---- a referral's feed event, rendered when read ----
 *
 * Most of what the broker folds is a referral's progress, and most of the
 * time nobody watches the feed: rendering each event's JSON as it is
 * folded cost as much as routing it. The referral as it stood then is
 * captured (a small copy; names stay interned in the client index) and
 * rendered only when an SSE client reads it. */

typedef struct referral_capture {
    const client_index *cl;
    const display *names;
    cl_referral r;
    bool known; /* r holds the referral; else only its id */
    uint8_t client_key[16];
    const char *topic;
    uint64_t at_ms;
} referral_capture;

/* The event of a known referral without building it (polku/json_line.h):
 * what jansson would print for cl_referral_change_json plus client_key,
 * seq and at, in that order, at a fraction of the cost (it is rendered
 * for every event while anyone watches). NULL when a name is not valid
 * UTF-8 or memory ran out: the caller tries jansson then. */
static char *render_referral_line(const referral_capture *c, uint64_t seq)
{
    const cl_referral *r = &c->r;
    const char *status =
        r->status ? polku_referral_state_name(r->status) : "unknown";
    if (!status)
        return NULL;
    char id[POLKU_ID_TEXT], key[DISPLAY_NAME_TEXT], at[POLKU_TIME_TEXT];
    polku_id_text(r->id, id);
    display_name(c->names, c->client_key, key);
    polku_time_format(c->at_ms, at, sizeof at);
    const polku_json_member m[] = {
        {"id", id, 0},
        {"from", cl_name(c->cl, r->from), 0},
        {"to", cl_name(c->cl, r->to), 0},
        {"service", cl_name(c->cl, r->service), 0},
        {"status", status, 0},
        {"version", NULL, (int64_t)r->version},
        {"urgency", r->urgent ? "urgent" : "routine", 0},
        {"client_key", key, 0},
        {"seq", NULL, (int64_t)seq},
        {"at", at, 0},
    };
    return polku_json_line(m, sizeof m / sizeof m[0], NULL);
}

static char *render_referral(void *ctx, uint64_t seq)
{
    const referral_capture *c = ctx;
    char *line = c->known ? render_referral_line(c, seq) : NULL;
    if (line)
        return line;
    ProtobufCBinaryData rid = {16, (uint8_t *)c->r.id};
    json_t *body = c->known ? cl_referral_change_json(c->cl, &c->r)
                            : json_pack("{s:o}", "id", id_json(&rid));
    if (!body)
        return NULL;
    char key[DISPLAY_NAME_TEXT];
    display_name(c->names, c->client_key, key);
    json_object_set_new(body, "client_key", json_string(key));
    return finish(body, seq, c->at_ms);
}

static const ProtobufCBinaryData *referral_id_of(const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return &env->referral_requested->referral_id;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        return &env->referral_status->referral_id;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return &env->cancel_requested->referral_id;
    default:
        return NULL;
    }
}

uint64_t feed_publish_event(feed *f, const polku_envelope *env,
                            const client_index *cl, const path_index *pi,
                            const display *names)
{
    const char *topic = cl_event_name(env);
    if (!topic || env->client_key.len != 16)
        return 0;
    const ProtobufCBinaryData *rid = referral_id_of(env);
    if (!rid || rid->len != 16 || f->pub) { /* PUB subscribers read all */
        json_t *body = feed_event_of(env, cl, pi, names, &topic);
        return body ? feed_publish(f, topic, body) : 0;
    }
    referral_capture *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    const cl_referral *r = cl_referral_find(cl, rid->data);
    c->cl = cl;
    c->names = names;
    c->known = r != NULL;
    if (r)
        c->r = *r;
    else
        memcpy(c->r.id, rid->data, 16);
    memcpy(c->client_key, env->client_key.data, 16);
    c->topic = topic;
    c->at_ms = polku_now_ms();
    uint64_t seq =
        polku_sse_publish_lazy(f->hub, topic, render_referral, free, c);
    flush_soon(f);
    return seq;
}

void feed_attach(feed *f, polku_http_req *req)
{
    polku_sse_attach(f->hub, req);
}

void feed_keepalive(feed *f)
{
    polku_sse_keepalive(f->hub);
}

uint64_t feed_seq(const feed *f)
{
    return polku_sse_last_seq(f->hub);
}

size_t feed_clients(const feed *f)
{
    return polku_sse_clients(f->hub);
}
