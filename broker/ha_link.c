/* ha_link.c — the pair's heartbeat sockets and the admission of agents'
 * frames (see ha_link.h). */
#include "ha_link.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ha.h"
#include "ha_beat.h"
#include "polku/clock.h"
#include "polku/codec.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"

struct pair_link {
    ha h;
    void *pub, *sub;
    polku_zwatch *sub_watch;
    uv_timer_t timer;
    char peer_listen[HA_LISTEN_MAX + 1];
    uint64_t peer_epoch;
    uint64_t peer_heard_ms;     /* monotonic; 0 never */
    unsigned long long refused; /* frames answered broker_passive */
    unsigned long long beats_dropped;
    polku_log_limit refuse_log, beat_log;
};

static uint64_t pair_timeout_ms(const broker *b)
{
    return 3 * b->cfg->heartbeat_ms + 500;
}

static uint64_t beat_interval_ms(const broker *b)
{
    uint64_t i = b->cfg->heartbeat_ms / 2;
    return i ? i : 1;
}

/* The machine moved from `was`: said in the log; a failed one stops the
 * loop (the program exits 1). */
static void after_event(broker *b, ha_state was)
{
    struct pair_link *p = b->pair;
    if (p->h.state == was)
        return;
    if (p->h.state == HA_STATE_FAILED) {
        log_error("pair: %s -> failed: %s; stopping (exit 1) so that the "
                  "supervisor starts this broker again, passive",
                  ha_state_name(was), p->h.why);
        uv_stop(b->loop);
        return;
    }
    if (p->h.state == HA_STATE_ACTIVE && was == HA_STATE_PASSIVE)
        log_warn("pair: FAILOVER passive -> active (%s): agents are "
                 "rebuilding this broker by replay, epoch %016llx; failovers "
                 "so far %llu",
                 p->h.why, (unsigned long long)b->epoch, p->h.failovers);
    else
        log_info("pair: %s -> %s (%s)", ha_state_name(was),
                 ha_state_name(p->h.state), p->h.why);
}

/* Sends this broker's state; now: when ha_tick allowed it (a freeze in
 * between shows at the next check instead of hiding behind a later time). */
static void send_beat(broker *b, uint64_t now)
{
    struct pair_link *p = b->pair;
    ha_beat beat = {.state = (uint32_t)p->h.state,
                    .role = (uint32_t)p->h.role,
                    .epoch = b->epoch,
                    .generation = p->h.generation};
    snprintf(beat.listen, sizeof beat.listen, "%s", b->cfg->listen);
    uint8_t buf[512];
    size_t n = ha_beat_encode(&beat, buf, sizeof buf);
    if (n && zmq_send(p->pub, buf, n, ZMQ_DONTWAIT) >= 0)
        ha_beat_sent(&p->h, now);
}

static void on_timer(uv_timer_t *t)
{
    broker *b = t->data;
    struct pair_link *p = b->pair;
    ha_state was = p->h.state;
    uint64_t now = polku_mono_ms();
    bool ok = ha_tick(&p->h, now);
    after_event(b, was);
    if (ok)
        send_beat(b, now);
}

static void on_peer_beat(polku_zwatch *zw, zmq_msg_t *frames, size_t n,
                         void *arg)
{
    (void)zw;
    broker *b = arg;
    struct pair_link *p = b->pair;
    ha_beat beat;
    char why[96];
    if (n != 1 ||
        ha_beat_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                       &beat, why, sizeof why)) {
        p->beats_dropped++;
        if (polku_log_limit_allow(&p->beat_log, 1, "pair heartbeats dropped"))
            log_warn("pair: a heartbeat from %s dropped: %s", b->cfg->ha_peer,
                     n == 1 ? why : "not one frame");
        return;
    }
    ha_state was = p->h.state;
    if (!p->peer_heard_ms || strcmp(p->peer_listen, beat.listen) != 0)
        log_info("pair: peer heard at %s (%s, listening on %s)",
                 b->cfg->ha_peer, ha_state_name((ha_state)beat.state),
                 beat.listen);
    snprintf(p->peer_listen, sizeof p->peer_listen, "%s", beat.listen);
    p->peer_epoch = beat.epoch;
    p->peer_heard_ms = polku_mono_ms();
    ha_on_peer(&p->h, ha_peer_event(beat.state), beat.generation,
               p->peer_heard_ms);
    after_event(b, was);
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

int pair_start(broker *b)
{
    struct pair_link *p = calloc(1, sizeof *p);
    if (!p)
        return POLKU_ENOMEM;
    b->pair = p;
    ha_init(&p->h, (ha_role)b->cfg->ha_role, pair_timeout_ms(b),
            beat_interval_ms(b), polku_mono_ms());
    if (b->cfg->ha_role == HA_ROLE_NONE)
        return POLKU_OK;
    p->pub = zmq_socket(b->zctx, ZMQ_PUB);
    p->sub = zmq_socket(b->zctx, ZMQ_SUB);
    if (!p->pub || !p->sub || setopt_int(p->pub, ZMQ_LINGER, 0) ||
        setopt_int(p->sub, ZMQ_LINGER, 0) ||
        setopt_int(p->pub, ZMQ_SNDHWM, 100) ||
        setopt_int(p->sub, ZMQ_RCVHWM, 100) ||
        setopt_int(p->sub, ZMQ_RECONNECT_IVL, 100) ||
        setopt_int(p->sub, ZMQ_RECONNECT_IVL_MAX, 1000) ||
        zmq_setsockopt(p->sub, ZMQ_SUBSCRIBE, "", 0)) {
        log_error("pair: cannot set up the heartbeat sockets: %s",
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    if (zmq_bind(p->pub, b->cfg->ha_bind)) {
        log_error("pair: cannot bind ha_bind %s: %s", b->cfg->ha_bind,
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    if (zmq_connect(p->sub, b->cfg->ha_peer)) {
        log_error("pair: cannot connect to ha_peer %s: %s", b->cfg->ha_peer,
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    int rc =
        polku_zwatch_start(b->loop, p->sub, 64, on_peer_beat, b, &p->sub_watch);
    if (rc)
        return rc;
    uv_timer_init(b->loop, &p->timer);
    p->timer.data = b;
    uv_timer_start(&p->timer, on_timer, 0, beat_interval_ms(b));
    log_info("pair: %s, heartbeat on %s, peer at %s, peer timeout %llu ms; "
             "waiting for the peer",
             ha_role_name(p->h.role), b->cfg->ha_bind, b->cfg->ha_peer,
             (unsigned long long)pair_timeout_ms(b));
    return POLKU_OK;
}

static void send_passive_nack(broker *b, const uint8_t *rid, size_t rid_len,
                              const char *org)
{
    struct pair_link *p = b->pair;
    polku_envelope env = POLKU__ENVELOPE__INIT;
    Polku__Nack nack = POLKU__NACK__INIT;
    polku_id id = polku_id_new(polku_now_ms());
    char *to[1] = {(char *)org};
    char reason[HA_LISTEN_MAX + 96];
    const char *active = p->peer_listen; /* the peer: active, or to be */
    snprintf(reason, sizeof reason, "this broker is %s; the active one is %s",
             ha_state_name(p->h.state), active[0] ? active : "not known yet");
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id.data = id.b;
    env.msg_id.len = 16;
    env.origin_org = "";
    env.time_ms = polku_now_ms();
    env.n_to = 1;
    env.to = to;
    nack.code = POLKU__NACK_CODE__NACK_BROKER_PASSIVE;
    nack.reason = reason;
    nack.active_broker = (char *)active;
    env.body_case = POLKU__ENVELOPE__BODY_NACK;
    env.nack = &nack;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (polku_envelope_encode(&env, &buf, &len))
        return;
    polku_zwatch_sent(b->router_watch);
    if (zmq_send(b->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(b->router, buf, len, ZMQ_DONTWAIT);
    free(buf);
    b->counters.nacks[POLKU__NACK_CODE__NACK_BROKER_PASSIVE]++;
}

bool pair_admit(broker *b, const uint8_t *rid, size_t rid_len, const char *org)
{
    struct pair_link *p = b->pair;
    if (!p || p->h.role == HA_ROLE_NONE)
        return true;
    ha_state was = p->h.state;
    bool serve = ha_on(&p->h, HA_CLIENT_REQUEST, polku_mono_ms());
    after_event(b, was);
    if (serve)
        return true;
    p->refused++;
    if (polku_log_limit_allow(&p->refuse_log, 1, "frames refused (passive)"))
        log_info("pair: %s: frame refused, this broker is %s (Nack "
                 "broker_passive naming %s)",
                 org, ha_state_name(p->h.state),
                 p->peer_listen[0] ? p->peer_listen : "nobody yet");
    send_passive_nack(b, rid, rid_len, org);
    return false;
}

json_t *pair_json(const broker *b)
{
    const struct pair_link *p = b->pair;
    if (!p)
        return json_null();
    json_t *j =
        json_pack("{s:s, s:s, s:I, s:I, s:I}", "role", ha_role_name(p->h.role),
                  "state", ha_state_name(p->h.state), "failovers",
                  (json_int_t)p->h.failovers, "refused", (json_int_t)p->refused,
                  "generation", (json_int_t)p->h.generation);
    if (p->h.role == HA_ROLE_NONE)
        return j;
    json_object_set_new(j, "listen", json_string(b->cfg->listen));
    json_t *peer = json_object();
    json_object_set_new(peer, "ha_peer", json_string(b->cfg->ha_peer));
    if (p->peer_heard_ms) {
        char epoch[17];
        snprintf(epoch, sizeof epoch, "%016llx",
                 (unsigned long long)p->peer_epoch);
        json_object_set_new(peer, "state",
                            json_string(ha_state_name(p->h.peer_state)));
        json_object_set_new(peer, "listen", json_string(p->peer_listen));
        json_object_set_new(peer, "epoch", json_string(epoch));
        json_object_set_new(
            peer, "heard_ms_ago",
            json_integer((json_int_t)(polku_mono_ms() - p->peer_heard_ms)));
    }
    json_object_set_new(j, "peer", peer);
    const char *active =
        ha_is_active(&p->h) ? b->cfg->listen
        : p->peer_heard_ms && p->h.peer_state == HA_STATE_ACTIVE
            ? p->peer_listen
            : NULL;
    json_object_set_new(j, "active",
                        active ? json_string(active) : json_null());
    return j;
}

void pair_metrics(const broker *b, FILE *f)
{
    const struct pair_link *p = b->pair;
    if (!p)
        return;
    static const ha_state states[] = {HA_STATE_PRIMARY, HA_STATE_BACKUP,
                                      HA_STATE_ACTIVE, HA_STATE_PASSIVE,
                                      HA_STATE_FAILED};
    fprintf(f, "# HELP polku_broker_ha_state This broker's state in its pair "
               "(1 for the state it is in): active routes; passive answers "
               "Nack broker_passive; primary and backup wait for the peer. A "
               "broker without ha_role is role single, always active.\n"
               "# TYPE polku_broker_ha_state gauge\n");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        fprintf(f, "polku_broker_ha_state{role=\"%s\",state=\"%s\"} %d\n",
                ha_role_name(p->h.role), ha_state_name(states[i]),
                p->h.state == states[i]);
    bool peer_up = p->peer_heard_ms &&
                   polku_mono_ms() - p->peer_heard_ms < p->h.timeout_ms;
    fprintf(f,
            "# HELP polku_broker_ha_failovers_total Times this broker took "
            "over from a silent active peer (since it started).\n"
            "# TYPE polku_broker_ha_failovers_total counter\n"
            "polku_broker_ha_failovers_total %llu\n"
            "# HELP polku_broker_ha_peer_up 1 while the pair peer's "
            "heartbeats arrive (0 also for a single broker).\n"
            "# TYPE polku_broker_ha_peer_up gauge\n"
            "polku_broker_ha_peer_up %d\n"
            "# HELP polku_broker_ha_refused_total Agents' frames answered "
            "Nack broker_passive.\n"
            "# TYPE polku_broker_ha_refused_total counter\n"
            "polku_broker_ha_refused_total %llu\n",
            p->h.failovers, peer_up, p->refused);
}

bool pair_failed(const broker *b)
{
    return b->pair && b->pair->h.state == HA_STATE_FAILED;
}

static void free_pair(uv_handle_t *h)
{
    free(h->data);
}

void pair_close(broker *b)
{
    struct pair_link *p = b->pair;
    if (!p)
        return;
    b->pair = NULL;
    polku_zwatch_close(&p->sub_watch);
    if (p->pub)
        zmq_close(p->pub);
    if (p->sub)
        zmq_close(p->sub);
    if (p->timer.loop && !uv_is_closing((uv_handle_t *)&p->timer)) {
        p->timer.data = p;
        uv_close((uv_handle_t *)&p->timer, free_pair);
        return;
    }
    free(p);
}
