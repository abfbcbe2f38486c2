/* broker.c — setting up and tearing down the broker's sockets and handles. */
#include "broker.h"
#include "access.h"

#include "claim_auth.h"
#include "ha_link.h"
#include "handshakes.h"
#include "http_api.h"
#include "reload.h"
#include "rotation.h"
#include "router.h"
#include "routes.h"
#include "zap.h"

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"

#define ZMQ_ZAP_ENFORCE_DOMAIN_OPT 93 /* draft option missing from zmq.h */

static int setopt_int(void *s, int opt, int value)
{
    return zmq_setsockopt(s, opt, &value, sizeof value);
}

static void flush_router(void *arg)
{
    router_flush(arg);
}

static int open_router(broker *b)
{
    void *s = zmq_socket(b->zctx, ZMQ_ROUTER);
    b->router = s;
    int64_t maxmsg =
        (int64_t)b->cfg->max_frame * 2; /* between 1x and 2x: Nack */
    uint8_t secret[32];
    zmq_z85_decode(secret, b->cfg->key.secret_z85);
    claim_auth_key(secret, b->claim_key);
    claim_auth_keyed_init(&b->claim_keyed, b->claim_key);
    int rc = !s || setopt_int(s, ZMQ_LINGER, 0) ||
             setopt_int(s, ZMQ_ROUTER_MANDATORY, 1) ||
             setopt_int(s, ZMQ_SNDHWM, 100000) ||
             setopt_int(s, ZMQ_RCVHWM, 100000) ||
             setopt_int(s, ZMQ_HANDSHAKE_IVL, POLKU_ZMQ_HANDSHAKE_IVL_MS) ||
             zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
             setopt_int(s, ZMQ_CURVE_SERVER, 1) ||
             zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 32) ||
             zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "polku", 5) ||
             setopt_int(s, ZMQ_ZAP_ENFORCE_DOMAIN_OPT, 1);
    sodium_memzero(secret, sizeof secret);
    if (rc) {
        log_error("cannot set up the ROUTER socket: %s",
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    if ((rc = handshakes_watch(b)))
        return rc;
    if (zmq_bind(s, b->cfg->listen)) {
        log_error("cannot listen on %s: %s", b->cfg->listen,
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    if ((rc = polku_outq_new(0, &b->outq)))
        return rc;
    if ((rc = polku_zwatch_start(b->loop, s, 512, router_on_message, b,
                                 &b->router_watch)))
        return rc;
    polku_zwatch_before_sleep(b->router_watch, flush_router, b);
    return POLKU_OK;
}

static void on_heartbeat(uv_timer_t *t)
{
    router_send_heartbeats(t->data);
}

static void on_alert_change(const char *topic, const json_t *alert, void *arg)
{
    broker *b = arg;
    feed_publish(b->feed, topic, json_deep_copy(alert));
}

static int64_t clock_offset(void *arg, const char *org)
{
    const broker *b = arg;
    return routes_clock_offset(&b->routes, org);
}

typedef struct diverged_list {
    alert_divergence *v;
    size_t n, cap;
} diverged_list;

static void add_diverged(void *arg, const char *org, uint64_t seq,
                         uint64_t since_ms, const char *detail)
{
    diverged_list *l = arg;
    (void)detail;
    if (l->n < l->cap)
        l->v[l->n++] = (alert_divergence){org, seq, since_ms};
}

/* Evaluates the alerts now; raised and cleared ones go to the feed. */
static void evaluate_alerts(broker *b)
{
    alert_divergence diverged[b->cfg->org_count ? b->cfg->org_count : 1];
    diverged_list dl = {diverged, 0, b->cfg->org_count};
    heads_each_diverged(b->heads, add_diverged, &dl);
    alert_refusals refused[b->cfg->org_count ? b->cfg->org_count : 1];
    size_t n = 0;
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        const route *r = &b->routes.by_org[i];
        if (r->events_refused) /* final decisions: held ones are not counted */
            refused[n++] = (alert_refusals){
                b->cfg->orgs[i].id, r->events_refused, r->first_refused_ms};
    }
    alert_regression regressed[b->cfg->org_count ? b->cfg->org_count : 1];
    size_t n_regressed = 0;
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        route *r = &b->routes.by_org[i];
        if (!r->regressed_to)
            continue;
        if (r->regression_over && r->regression_reported) {
            r->regressed_to = 0; /* raised before; cleared now */
            continue;
        }
        r->regression_reported = true; /* a short regression is seen too */
        regressed[n_regressed++] =
            (alert_regression){b->cfg->orgs[i].id, r->regressed_from,
                               r->regressed_to, r->regressed_since_ms};
    }
    alert_session dup[b->cfg->org_count ? b->cfg->org_count : 1];
    size_t n_dup = 0;
    uint64_t now = polku_mono_ms();
    uint64_t stale = routes_stale_after_ms(b->cfg->heartbeat_ms);
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        const route *r = &b->routes.by_org[i];
        if (routes_duplicate_live(r, now, stale)) /* two sessions */
            dup[n_dup++] = (alert_session){b->cfg->orgs[i].id, r->peer,
                                           r->dup_peer, r->dup_since_ms};
    }
    alert_inputs in = {.clients = b->clients,
                       .paths = b->paths,
                       .consents = b->consents,
                       .sla = &b->cfg->sla,
                       .refused = refused,
                       .n_refused = n,
                       .regressed = regressed,
                       .n_regressed = n_regressed,
                       .duplicates = dup,
                       .n_duplicates = n_dup,
                       .diverged = diverged,
                       .n_diverged = dl.n,
                       .clock_offset = clock_offset,
                       .clock_arg = b,
                       .names = b->display,
                       .changed_clients = b->clients,
                       .changed_consents = b->consents};
    alerts_tick(b->alerts, &in, polku_now_ms(), on_alert_change, b);
}

#define ALERT_TICK_MS 500
#define KEEPALIVE_MS 15000
#define ALERT_REPLAY_WAIT_MS 30000 /* alerts wait for replays at most */

/* An agent connected and its log is being replayed. */
static bool replay_running(const broker *b)
{
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        const route *r = &b->routes.by_org[i];
        if (r->connected && r->replay_requested && !r->replayed)
            return true;
    }
    return false;
}

/* While a replay runs the indexes are half rebuilt (a request folded, its
 * receipt still in another log): the alerts a tick would raise then are
 * false, and evaluating every client the replay touched took a third of
 * the rebuild's CPU. The tick waits until the replays are done (what they
 * changed is remembered, cl_take_changed), at most ALERT_REPLAY_WAIT_MS
 * in a row, so a replay that never ends does not silence the alerts. */
static bool alerts_wait_for_replay(broker *b, uint64_t mono_ms)
{
    if (!replay_running(b)) {
        b->alerts_held_ms = 0;
        return false;
    }
    if (!b->alerts_held_ms)
        b->alerts_held_ms = mono_ms;
    if (mono_ms - b->alerts_held_ms < ALERT_REPLAY_WAIT_MS)
        return true;
    b->alerts_held_ms = 0; /* evaluated now, then waits again */
    return false;
}

static void on_alert_tick(uv_timer_t *t)
{
    broker *b = t->data;
    rotation_expire(b, polku_now_ms());
    if (!alerts_wait_for_replay(b, polku_mono_ms()))
        evaluate_alerts(b);
    uint64_t now = polku_mono_ms();
    if (now - b->last_keepalive_ms >= KEEPALIVE_MS) {
        b->last_keepalive_ms = now;
        feed_keepalive(b->feed);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    broker *b = s->data;
    log_info("signal %d: stopping", signum);
    uv_stop(b->loop);
}

static void on_sighup(uv_signal_t *s, int signum)
{
    (void)signum;
    broker *b = s->data;
    if (!b->config_path) {
        log_warn("SIGHUP: no config file to read again; ignored");
        return;
    }
    log_info("SIGHUP: reading %s again", b->config_path);
    broker_reload(b, b->config_path); /* it logs what it did or refused */
}

int broker_init(broker *b, uv_loop_t *loop, broker_config *cfg,
                const char *config_path)
{
    memset(b, 0, sizeof *b);
    b->config_path = config_path;
    b->loop = loop;
    b->cfg = cfg;
    b->started_ms = polku_now_ms();
    do {
        randombytes_buf(&b->epoch, sizeof b->epoch);
    } while (b->epoch == 0);
    if (routes_init(&b->routes, cfg))
        return POLKU_ENOMEM;
    b->consents = ci_new();
    b->paths = pi_new();
    b->clients = cl_new();
    b->alerts = alerts_new();
    b->held = hb_new(HB_HELD_PER_ORIGIN_MAX);
    b->display = display_new(cfg->display_secret);
    b->heads = heads_new();
    if (!b->consents || !b->paths || !b->clients || !b->alerts || !b->held ||
        !b->display || !b->heads ||
        polku_arena_new(64 * 1024, &b->replay_arena) ||
        polku_arena_new(512 * 1024, &b->frame_arena) ||
        ra_new(cfg->max_frame, true, &b->ahead))
        return POLKU_ENOMEM;
    cl_set_display(b->clients, b->display);
    heap_warm_init(&b->heap);
    if (cfg->debug_dump_file) {
        b->dump = fopen(cfg->debug_dump_file, "ab");
        if (!b->dump) {
            log_error("cannot open debug_dump_file %s", cfg->debug_dump_file);
            return POLKU_EIO;
        }
        log_warn("debug_dump_file is set: every frame is written to %s",
                 cfg->debug_dump_file);
    }
    b->zctx = zmq_ctx_new();
    if (!b->zctx)
        return POLKU_EZMQ;
    int rc = zap_start(b); /* before the ROUTER binds (DESIGN §9) */
    if (!rc)
        rc = open_router(b);
    if (!rc)
        rc = feed_open(loop, b->zctx, cfg->feed, b->epoch, &b->feed);
    if (!rc)
        rc = http_api_start(b);
    if (!rc)
        rc = pair_start(b);
    if (rc)
        return rc;
    uv_timer_init(loop, &b->heartbeat_timer);
    b->heartbeat_timer.data = b;
    uv_timer_start(&b->heartbeat_timer, on_heartbeat, cfg->heartbeat_ms,
                   cfg->heartbeat_ms);
    uv_timer_init(loop, &b->alert_timer);
    b->alert_timer.data = b;
    b->last_keepalive_ms = polku_mono_ms();
    uv_timer_start(&b->alert_timer, on_alert_tick, ALERT_TICK_MS,
                   ALERT_TICK_MS);
    uv_signal_init(loop, &b->sigterm);
    uv_signal_init(loop, &b->sigint);
    uv_signal_init(loop, &b->sighup);
    b->sigterm.data = b->sigint.data = b->sighup.data = b;
    uv_signal_start(&b->sighup, on_sighup, SIGHUP);
    uv_signal_start(&b->sigterm, on_signal, SIGTERM);
    uv_signal_start(&b->sigint, on_signal, SIGINT);
    log_info("listening on %s, epoch %016llx, %zu organisations", cfg->listen,
             (unsigned long long)b->epoch, cfg->org_count);
    return POLKU_OK;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

void broker_fini(broker *b)
{
    /* first: the replay thread may be decoding a batch whose bytes, claim
     * key and arenas are freed below */
    ra_destroy(&b->ahead);
    feed_close(&b->feed); /* its SSE streams end before the server does */
    polku_http_stop(&b->http);
    router_flush(b); /* a last turn's answers, before the socket closes */
    polku_zwatch_close(&b->router_watch);
    polku_outq_free(&b->outq);
    polku_zwatch_close(&b->zap_watch);
    handshakes_close(b);
    pair_close(b);
    close_if_open((uv_handle_t *)&b->heartbeat_timer);
    close_if_open((uv_handle_t *)&b->alert_timer);
    close_if_open((uv_handle_t *)&b->sigterm);
    close_if_open((uv_handle_t *)&b->sigint);
    close_if_open((uv_handle_t *)&b->sighup);
    if (b->router)
        zmq_close(b->router);
    if (b->zap)
        zmq_close(b->zap);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    routes_fini(&b->routes);
    ci_destroy(&b->consents);
    pi_destroy(&b->paths);
    cl_destroy(&b->clients);
    alerts_free(&b->alerts);
    access_pending_free(b);
    heads_free(&b->heads);
    hb_destroy(&b->held);
    display_free(&b->display);
    sodium_memzero(b->claim_key, sizeof b->claim_key);
    claim_auth_keyed_wipe(&b->claim_keyed);
    polku_arena_free(&b->replay_arena);
    polku_arena_free(&b->frame_arena);
    if (b->dump)
        fclose(b->dump);
    b->dump = NULL;
}
