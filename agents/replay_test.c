/* replay_test.c — an agent streams its log on the broker's request.
 *
 * The broker rebuilds its memory after a restart by asking each agent to
 * replay its event log (DESIGN §5). Here the test process plays the broker:
 * it fills a real agent's LMDB store with 100,000 events through the store
 * module, starts the real polku-agent on it, answers its Hello and sends
 * ReplayRequest. Every event must come back, in order, none missing or
 * repeated, many per frame, then ReplayDone; a replay from the middle
 * starts exactly there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "polku/clock.h"
#include "polku/id.h"
#include "store.h"

#define EVENTS 100000

static void *zctx;

/* Fills the org's store with events 1..n: referral requests to "org-b". */
static void fill_store(h_org *o, uint64_t n)
{
    store st;
    H_REQUIRE(store_open(&st, o->store, 1ull << 30, 1ull << 30, o->id) == 0,
              "store opens");
    MDB_txn *txn = NULL;
    H_REQUIRE(mdb_txn_begin(st.env, NULL, 0, &txn) == 0, "txn");
    for (uint64_t seq = 1; seq <= n; seq++) {
        h_env e;
        h_env_init(&e, o->id, seq, "org-b");
        h_env_referral(&e, "svc", "replayed");
        uint8_t *buf = NULL;
        size_t len = 0;
        H_REQUIRE(polku_envelope_encode(&e.env, &buf, &len) == 0, "encode");
        H_REQUIRE(store_event_put(&st, txn, seq, buf, len) == 0, "put %llu",
                  (unsigned long long)seq);
        free(buf);
    }
    H_REQUIRE(mdb_txn_commit(txn) == 0, "commit");
    store_close(&st);
}

/* A ROUTER bound where the agent expects the broker, with its key. */
static void *fake_broker(h_region *r)
{
    void *s = zmq_socket(zctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    uint8_t secret[32];
    zmq_z85_decode(secret, r->broker_key.secret_z85);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 32);
    int rcvtimeo = (int)H_SEC(10);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    H_REQUIRE(zmq_bind(s, r->broker_endpoint) == 0, "fake broker binds %s",
              r->broker_endpoint);
    return s;
}

typedef struct conn {
    void *sock;
    uint8_t rid[256];
    size_t rid_len;
} conn;

/* Receives one envelope from the agent; NULL on timeout. */
static polku_envelope *recv_env(conn *c)
{
    int n = zmq_recv(c->sock, c->rid, sizeof c->rid, 0);
    if (n < 0)
        return NULL;
    c->rid_len = (size_t)n;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->sock, 0) < 0) {
        zmq_msg_close(&m);
        return NULL;
    }
    polku_envelope *env = NULL;
    char why[128];
    polku_envelope_decode(zmq_msg_data(&m), zmq_msg_size(&m), 4u << 20, &env,
                          why, sizeof why);
    zmq_msg_close(&m);
    return env;
}

static void send_env(conn *c, polku_envelope *env)
{
    uint8_t id[16];
    polku_id pid = polku_id_new(polku_now_ms());
    memcpy(id, pid.b, 16);
    env->version = POLKU_PROTOCOL_VERSION;
    if (env->msg_id.len == 0) { /* else the caller's */
        env->msg_id.data = id;
        env->msg_id.len = 16;
    }
    env->origin_org = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    H_REQUIRE(polku_envelope_encode(env, &buf, &len) == 0, "encode");
    zmq_send(c->sock, c->rid, c->rid_len, ZMQ_SNDMORE);
    zmq_send(c->sock, buf, len, 0);
    free(buf);
}

/* Waits for the agent's Hello and welcomes it; returns its last_seq. */
static uint64_t handshake(conn *c)
{
    for (;;) {
        polku_envelope *env = recv_env(c);
        H_REQUIRE(env, "a Hello from the agent");
        bool hello = env->body_case == POLKU__ENVELOPE__BODY_HELLO;
        uint64_t last = hello ? env->hello->last_seq : 0;
        polku_envelope_free(&env);
        if (!hello)
            continue;
        polku_envelope w = POLKU__ENVELOPE__INIT;
        Polku__Welcome welcome = POLKU__WELCOME__INIT;
        welcome.epoch = 42;
        w.body_case = POLKU__ENVELOPE__BODY_WELCOME;
        w.welcome = &welcome;
        send_env(c, &w);
        return last;
    }
}

/* Whether a replay frame's `answers` names the request id asked. */
static bool answers(const ProtobufCBinaryData *named, const uint8_t asked[16])
{
    return named->len == 16 && memcmp(named->data, asked, 16) == 0;
}

/* Asks for a replay from `from` and checks what comes back. */
static void replay_and_check(conn *c, uint64_t from, uint64_t last)
{
    polku_envelope req = POLKU__ENVELOPE__INIT;
    Polku__ReplayRequest rr = POLKU__REPLAY_REQUEST__INIT;
    rr.from_seq = from;
    req.body_case = POLKU__ENVELOPE__BODY_REPLAY_REQUEST;
    req.replay_request = &rr;
    polku_id asked = polku_id_new(polku_now_ms());
    req.msg_id = (ProtobufCBinaryData){sizeof asked.b, asked.b};
    send_env(c, &req);
    unsigned long long unanswered = 0; /* frames not naming the request */
    uint64_t expect = from, frames = 0;
    for (;;) {
        polku_envelope *env = recv_env(c);
        H_REQUIRE(env, "replay frames (got up to seq %llu)",
                  (unsigned long long)expect - 1);
        if (env->body_case == POLKU__ENVELOPE__BODY_REPLAY_DONE) {
            unanswered += !answers(&env->replay_done->answers, asked.b);
            H_CHECK(env->replay_done->last_seq == last,
                    "ReplayDone names the last seq %llu (got %llu)",
                    (unsigned long long)last,
                    (unsigned long long)env->replay_done->last_seq);
            polku_envelope_free(&env);
            break;
        }
        if (env->body_case != POLKU__ENVELOPE__BODY_REPLAY_BATCH) {
            polku_envelope_free(&env); /* heartbeats meanwhile */
            continue;
        }
        frames++;
        unanswered += !answers(&env->replay_batch->answers, asked.b);
        for (size_t i = 0; i < env->replay_batch->n_events; i++) {
            polku_envelope *ev = NULL;
            char why[128];
            ProtobufCBinaryData *b = &env->replay_batch->events[i];
            H_REQUIRE(polku_envelope_decode(b->data, b->len, 1u << 20, &ev, why,
                                            sizeof why) == 0,
                      "replayed event decodes: %s", why);
            H_REQUIRE(
                ev->origin_seq == expect, "event %llu in order (got %llu)",
                (unsigned long long)expect, (unsigned long long)ev->origin_seq);
            polku_envelope_free(&ev);
            expect++;
        }
        polku_envelope_free(&env);
    }
    H_CHECK(expect == last + 1,
            "every event from %llu to %llu came back "
            "(next expected %llu)",
            (unsigned long long)from, (unsigned long long)last,
            (unsigned long long)expect);
    H_CHECK(unanswered == 0,
            "every batch and the ReplayDone name the request they answer "
            "(%llu do not)",
            unanswered);
    H_CHECK(frames > 1 && frames < (last - from + 1) / 10,
            "many events per frame (%llu frames)", (unsigned long long)frames);
    h_note("replayed %llu events from %llu in %llu frames",
           (unsigned long long)(expect - from), (unsigned long long)from,
           (unsigned long long)frames);
}

static void replay_100k_in_order(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_region_add_org(r, "org-b", "");
    h_region_write(r);
    fill_store(a, EVENTS);
    conn c = {.sock = fake_broker(r)};
    h_agent_start(a);
    H_REQUIRE(handshake(&c) == EVENTS, "Hello carries last seq %d", EVENTS);
    replay_and_check(&c, 1, EVENTS);
    replay_and_check(&c, EVENTS / 2 + 1, EVENTS);
    H_CHECK(h_agent_stop(a) == 0, "the agent stops cleanly (exit 0, no "
                                  "sanitizer report)");
    zmq_close(c.sock);
}

int main(int argc, char **argv)
{
    zctx = zmq_ctx_new();
    h_init(argc, argv, "replay_test");
    H_CASE(replay_100k_in_order);
    int rc = h_finish();
    zmq_ctx_term(zctx);
    return rc;
}
