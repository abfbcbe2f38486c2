/* harness_raw.c — a raw CURVE DEALER client for tests that misbehave on
 * the wire (unknown keys, forged origins, bad frames). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "harness_internal.h"
#include "polku/clock.h"
#include "polku/id.h"

#define H_MAX_RAW 16

struct h_raw {
    void *sock;
    void *mon;
    uint64_t seq;
    char org[33]; /* set by h_raw_hello */
};

static void *g_ctx;
static h_raw *g_raws[H_MAX_RAW];
static int g_nraws;

void *h_zmq_ctx(void)
{
    if (!g_ctx) {
        g_ctx = zmq_ctx_new();
        H_REQUIRE(g_ctx, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    }
    return g_ctx;
}

void h_raw_close_all(void)
{
    while (g_nraws > 0) {
        h_raw *r = g_raws[g_nraws - 1];
        h_raw_destroy(&r);
    }
}

void h_raw_global_fini(void)
{
    h_raw_close_all();
    if (g_ctx) {
        zmq_ctx_term(g_ctx);
        g_ctx = NULL;
    }
}

static void set_opt(void *sock, int opt, const void *v, size_t len,
                    const char *what)
{
    H_REQUIRE(zmq_setsockopt(sock, opt, v, len) == 0, "zmq_setsockopt %s: %s",
              what, zmq_strerror(zmq_errno()));
}

h_raw *h_raw_new(h_region *r, const polku_keypair *kp)
{
    static int n_monitors;
    H_REQUIRE(g_nraws < H_MAX_RAW, "too many raw clients");
    void *ctx = h_zmq_ctx();
    h_raw *raw = calloc(1, sizeof *raw);
    H_REQUIRE(raw, "out of memory");
    raw->sock = zmq_socket(ctx, ZMQ_DEALER);
    H_REQUIRE(raw->sock, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    g_raws[g_nraws++] = raw;
    int zero = 0;
    set_opt(raw->sock, ZMQ_LINGER, &zero, sizeof zero, "LINGER");
    set_opt(raw->sock, ZMQ_CURVE_SERVERKEY, r->broker_key.public_z85, 40,
            "CURVE_SERVERKEY");
    set_opt(raw->sock, ZMQ_CURVE_PUBLICKEY, kp->public_z85, 40,
            "CURVE_PUBLICKEY");
    set_opt(raw->sock, ZMQ_CURVE_SECRETKEY, kp->secret_z85, 40,
            "CURVE_SECRETKEY");
    int reconnect = 50;
    set_opt(raw->sock, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect,
            "RECONNECT_IVL");
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://h-raw-monitor-%d", ++n_monitors);
    H_REQUIRE(zmq_socket_monitor(raw->sock, ep, ZMQ_EVENT_ALL) == 0,
              "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    raw->mon = zmq_socket(ctx, ZMQ_PAIR);
    H_REQUIRE(raw->mon, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    set_opt(raw->mon, ZMQ_LINGER, &zero, sizeof zero, "LINGER");
    H_REQUIRE(zmq_connect(raw->mon, ep) == 0, "monitor connect: %s",
              zmq_strerror(zmq_errno()));
    H_REQUIRE(zmq_connect(raw->sock, r->broker_endpoint) == 0, "connect %s: %s",
              r->broker_endpoint, zmq_strerror(zmq_errno()));
    return raw;
}

void h_raw_destroy(h_raw **rawp)
{
    if (!rawp || !*rawp)
        return;
    h_raw *raw = *rawp;
    for (int i = 0; i < g_nraws; i++)
        if (g_raws[i] == raw) {
            g_raws[i] = g_raws[--g_nraws];
            break;
        }
    if (raw->sock) {
        zmq_socket_monitor(raw->sock, NULL, 0);
        zmq_close(raw->sock);
    }
    if (raw->mon)
        zmq_close(raw->mon);
    free(raw);
    *rawp = NULL;
}

int h_raw_send(h_raw *raw, const void *data, size_t len)
{
    return zmq_send(raw->sock, data, len, ZMQ_DONTWAIT) == (int)len ? 0 : -1;
}

int h_raw_send_env(h_raw *raw, const polku_envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    H_REQUIRE(polku_envelope_encode(env, &buf, &len) == 0,
              "polku_envelope_encode failed");
    int rc = h_raw_send(raw, buf, len);
    free(buf);
    return rc;
}

static void answer_replay(h_raw *raw, const polku_envelope *req)
{
    (void)req;
    h_env e;
    h_env_init(&e, raw->org, 0, NULL);
    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    done.last_seq = raw->seq;
    e.env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    e.env.replay_done = &done;
    h_raw_send_env(raw, &e.env);
}

polku_envelope *h_raw_recv(h_raw *raw, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = h_now_ms();
        long left = now < deadline ? (long)(deadline - now) : 0;
        zmq_pollitem_t item = {raw->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, left);
        if (n <= 0)
            return NULL;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, raw->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        polku_envelope *env = NULL;
        char why[128];
        polku_envelope_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), 64u << 20,
                              &env, why, sizeof why);
        zmq_msg_close(&msg);
        if (!env) {
            h_note("raw client: undecodable frame from the broker (%s)", why);
            continue;
        }
        if (env->body_case == POLKU__ENVELOPE__BODY_REPLAY_REQUEST)
            answer_replay(raw, env);
        return env;
    }
}

bool h_raw_wait_nack(h_raw *raw, Polku__NackCode code, uint64_t timeout_ms,
                     char *reason, size_t reason_len)
{
    uint64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        polku_envelope *env = h_raw_recv(raw, (int)(deadline - h_now_ms()));
        if (!env)
            continue;
        bool match = false;
        if (env->body_case == POLKU__ENVELOPE__BODY_NACK) {
            const Polku__Nack *n = env->nack;
            if (n->code == code) {
                match = true;
                if (reason)
                    snprintf(reason, reason_len, "%s",
                             n->reason ? n->reason : "");
            } else {
                h_note("raw client: got Nack %s (%s) while waiting for %s",
                       polku_nack_code_name(n->code), n->reason,
                       polku_nack_code_name(code));
            }
        }
        polku_envelope_free(&env);
        if (match)
            return true;
    }
    return false;
}

int h_raw_wait_event(h_raw *raw, int mask, uint64_t timeout_ms, int *value)
{
    uint64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        zmq_pollitem_t item = {raw->mon, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)(deadline - h_now_ms())) <= 0)
            continue;
        zmq_msg_t f1, f2;
        zmq_msg_init(&f1);
        zmq_msg_init(&f2);
        if (zmq_msg_recv(&f1, raw->mon, 0) < 0) {
            zmq_msg_close(&f1);
            zmq_msg_close(&f2);
            continue;
        }
        if (zmq_msg_more(&f1))
            zmq_msg_recv(&f2, raw->mon, 0);
        int event = 0;
        uint32_t v = 0;
        if (zmq_msg_size(&f1) >= 6) {
            const uint8_t *d = zmq_msg_data(&f1);
            uint16_t ev16;
            memcpy(&ev16, d, 2);
            memcpy(&v, d + 2, 4);
            event = ev16;
        }
        zmq_msg_close(&f1);
        zmq_msg_close(&f2);
        if (event & mask) {
            if (value)
                *value = (int)v;
            return event;
        }
    }
    return 0;
}

bool h_raw_hello(h_raw *raw, const char *org, uint64_t timeout_ms)
{
    snprintf(raw->org, sizeof raw->org, "%s", org);
    h_env e;
    h_env_init(&e, org, 0, NULL);
    e.hello.org = (char *)org;
    e.hello.last_seq = 0;
    e.hello.protocol_version = POLKU_PROTOCOL_VERSION;
    e.env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    e.env.hello = &e.hello;
    if (h_raw_send_env(raw, &e.env))
        return false;
    uint64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        polku_envelope *env = h_raw_recv(raw, (int)(deadline - h_now_ms()));
        bool welcome = env && env->body_case == POLKU__ENVELOPE__BODY_WELCOME;
        if (env && env->body_case == POLKU__ENVELOPE__BODY_NACK)
            h_note("raw client: Hello answered with Nack %s (%s)",
                   polku_nack_code_name(env->nack->code), env->nack->reason);
        polku_envelope_free(&env);
        if (welcome)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------- envelopes */

void h_env_init(h_env *e, const char *origin_org, uint64_t origin_seq,
                const char *to)
{
    memset(e, 0, sizeof *e);
    polku__envelope__init(&e->env);
    polku__hello__init(&e->hello);
    polku__referral_requested__init(&e->referral);
    e->env.version = POLKU_PROTOCOL_VERSION;
    polku_id id = polku_id_new(polku_now_ms());
    memcpy(e->msg_id, id.b, sizeof e->msg_id);
    e->env.msg_id.data = e->msg_id;
    e->env.msg_id.len = sizeof e->msg_id;
    e->env.origin_org = (char *)origin_org;
    e->env.origin_seq = origin_seq;
    if (to) {
        e->to_list[0] = (char *)to;
        e->env.to = e->to_list;
        e->env.n_to = 1;
    }
    randombytes_buf(e->client_key, sizeof e->client_key);
    e->env.client_key.data = e->client_key;
    e->env.client_key.len = sizeof e->client_key;
    e->env.time_ms = polku_now_ms();
}

void h_env_referral(h_env *e, const char *service, const char *reason)
{
    polku_id id = polku_id_new(polku_now_ms());
    memcpy(e->referral_id, id.b, sizeof e->referral_id);
    e->referral.referral_id.data = e->referral_id;
    e->referral.referral_id.len = sizeof e->referral_id;
    e->referral.service = (char *)service;
    e->referral.reason = (char *)reason;
    e->referral.urgency = (char *)"routine";
    e->env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    e->env.referral_requested = &e->referral;
}
