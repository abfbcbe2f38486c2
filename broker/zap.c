/* zap.c — our ZAP handler: only organisations in the directory get in.
 *
 * Without a ZAP handler a CURVE server accepts every client key (libzmq
 * 4.3.4, DESIGN §9). This REP socket answers libzmq's ZAP requests from the
 * broker's loop: a client key found in the [org] directory gets 200 and the
 * org id as User-Id (read back on every message with zmq_msg_gets); any
 * other key gets 400 and the connection never carries a message. */
#include <string.h>
#include <zmq.h>

#include "zap.h"
#include "rotation.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

static void zap_send(void *sock, const char *s, size_t len, int more)
{
    zmq_send(sock, s, len, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
}

static void zap_reply(void *sock, zmq_msg_t *request_id, const char *status,
                      const char *text, const char *user_id,
                      const char *previous_z85)
{
    zap_send(sock, "1.0", 3, 1);
    zap_send(sock, zmq_msg_data(request_id), zmq_msg_size(request_id), 1);
    zap_send(sock, status, strlen(status), 1);
    zap_send(sock, text, strlen(text), 1);
    zap_send(sock, user_id, strlen(user_id), 1);
    if (!previous_z85) {
        zap_send(sock, "", 0, 0);
        return;
    }
    /* ZAP metadata, as ZMTP properties (name length, name, 4-byte value
     * length, value): the retiring key a connection was made with, which
     * zmq_msg_gets reads back on its every frame (rotation.h) */
    uint8_t meta[1 + sizeof ZAP_KEY_PROPERTY + 4 + 40];
    size_t n = 0, name = sizeof ZAP_KEY_PROPERTY - 1;
    meta[n++] = (uint8_t)name;
    memcpy(meta + n, ZAP_KEY_PROPERTY, name);
    n += name;
    meta[n++] = 0;
    meta[n++] = 0;
    meta[n++] = 0;
    meta[n++] = 40;
    memcpy(meta + n, previous_z85, 40);
    n += 40;
    zap_send(sock, (const char *)meta, n, 0);
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* A refused connection is logged with its address and the public key it
 * offered (Z85, as in the [org] sections and `polku keygen`), so that an
 * operator can tell which agent it was and compare the key with the
 * directory. At most 10 lines a second: anyone can knock. */
static void log_refused(zmq_msg_t *address, zmq_msg_t *key)
{
    static polku_log_limit limit;
    if (!polku_log_limit_allow(&limit, 10, "refused connections"))
        return;
    char z85[41] = "(not a CURVE key)";
    if (key != NULL && zmq_msg_size(key) == 32)
        zmq_z85_encode(z85, zmq_msg_data(key), 32);
    int alen = (int)zmq_msg_size(address);
    log_warn("zap: refused a connection from %.*s: public key %s is not in "
             "the directory (no [org] section has it)",
             alen > 64 ? 64 : alen, (const char *)zmq_msg_data(address), z85);
}

/* Request: version, request id, domain, address, routing id, mechanism,
 * then the mechanism's credentials (CURVE: the 32-byte client key). */
static void on_zap_request(polku_zwatch *zw, zmq_msg_t *frames, size_t n,
                           void *arg)
{
    broker *b = arg;
    if (n < 6) {
        log_warn("zap: request with %zu frames ignored", n);
        return;
    }
    const broker_org *org = NULL;
    bool previous = false;
    if (n == 7 && frame_is(&frames[0], "1.0") &&
        frame_is(&frames[5], "CURVE") && zmq_msg_size(&frames[6]) == 32)
        org = broker_config_org_for_login(b->cfg, zmq_msg_data(&frames[6]),
                                          polku_now_ms(), &previous);
    if (org) {
        b->zap_allowed++;
        if (previous)
            log_info("zap: %s authenticated with its previous key (a key "
                     "rotation is under way)",
                     org->id);
        else
            log_debug("zap: %s authenticated", org->id);
        zap_reply(b->zap, &frames[1], "200", "OK", org->id,
                  previous ? org->previous_z85 : NULL);
    } else {
        b->zap_denied++;
        log_refused(&frames[3], n == 7 ? &frames[6] : NULL);
        zap_reply(b->zap, &frames[1], "400", "unknown key", "", NULL);
    }
}

int zap_start(broker *b)
{
    b->zap = zmq_socket(b->zctx, ZMQ_REP);
    int zero = 0;
    if (!b->zap || zmq_setsockopt(b->zap, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_bind(b->zap, ZAP_ENDPOINT)) {
        log_error("zap: cannot bind %s: %s", ZAP_ENDPOINT,
                  zmq_strerror(zmq_errno()));
        return POLKU_EZMQ;
    }
    return polku_zwatch_start(b->loop, b->zap, 64, on_zap_request, b,
                              &b->zap_watch);
}
