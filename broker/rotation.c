/* rotation.c — previous keys dropped at the end of a rotation
 * (rotation.h). */
#include "rotation.h"

#include <sodium.h>
#include <string.h>

#include "router.h"
#include "polku/clock.h"
#include "polku/log.h"

size_t rotation_expire(broker *b, uint64_t now_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        broker_org *o = &b->cfg->orgs[i];
        if (!o->has_previous || now_ms < o->previous_until_ms)
            continue;
        char until[POLKU_TIME_TEXT];
        polku_time_format(o->previous_until_ms, until, sizeof until);
        log_info("%s: previous key %s dropped: its rotation ended at %s; "
                 "only %s is let in and listed now",
                 o->id, o->previous_z85, until, o->public_z85);
        o->has_previous = false;
        sodium_memzero(o->previous_key, sizeof o->previous_key);
        o->previous_z85[0] = '\0';
        o->previous_until_ms = 0;
        dropped++;
    }
    if (dropped)
        router_send_directory(b);
    return dropped;
}

bool rotation_refuses(broker *b, int idx, zmq_msg_t *rid, zmq_msg_t *payload)
{
    const char *key = zmq_msg_gets(payload, ZAP_KEY_PROPERTY);
    if (!key)
        return false; /* made with the current key */
    const broker_org *o = &b->cfg->orgs[idx];
    if (strcmp(key, o->public_z85) == 0 ||
        (o->has_previous && strcmp(key, o->previous_z85) == 0 &&
         polku_now_ms() < o->previous_until_ms))
        return false;
    b->counters.rejected++;
    static polku_log_limit limit;
    if (polku_log_limit_allow(&limit, 10, "frames on retired keys"))
        log_warn("%s: a frame over a connection made with its previous key "
                 "%s refused: that key is retired; the agent must connect "
                 "with its new key",
                 o->id, key);
    router_refuse_retired_key(b, zmq_msg_data(rid), zmq_msg_size(rid), o->id);
    return true;
}
