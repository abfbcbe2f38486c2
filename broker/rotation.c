/* rotation.c — previous keys dropped at the end of a rotation
 * (rotation.h). */
#include "rotation.h"

#include <sodium.h>

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
