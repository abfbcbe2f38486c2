/* ha_beat.c — PairBeat to and from the wire (see ha_beat.h). */
#include "ha_beat.h"

#include <stdio.h>
#include <string.h>

#include "polku.pb-c.h"

size_t ha_beat_encode(const ha_beat *b, uint8_t *buf, size_t cap)
{
    Polku__PairBeat m = POLKU__PAIR_BEAT__INIT;
    m.version = HA_BEAT_VERSION;
    m.state = b->state;
    m.role = b->role;
    m.listen = (char *)b->listen;
    m.epoch = b->epoch;
    m.generation = b->generation;
    size_t n = polku__pair_beat__get_packed_size(&m);
    if (n > cap)
        return 0;
    return polku__pair_beat__pack(&m, buf);
}

static int refuse(char *why, size_t why_len, const char *what)
{
    snprintf(why, why_len, "%s", what);
    return -1;
}

int ha_beat_decode(const uint8_t *data, size_t len, ha_beat *out, char *why,
                   size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len > 1024)
        return refuse(why, why_len, "larger than a pair heartbeat");
    Polku__PairBeat *m = polku__pair_beat__unpack(NULL, len, data);
    if (!m)
        return refuse(why, why_len, "not a pair heartbeat");
    int rc = 0;
    size_t n = m->listen ? strlen(m->listen) : 0;
    if (m->version != HA_BEAT_VERSION)
        rc = refuse(why, why_len, "another version of the pair heartbeat");
    else if (m->state < 1 || m->state > 4)
        rc = refuse(why, why_len, "state out of range (1..4)");
    else if (m->role < 1 || m->role > 2)
        rc = refuse(why, why_len, "role out of range (1..2)");
    else if (n > HA_LISTEN_MAX)
        rc = refuse(why, why_len, "listen address too long");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (m->listen[i] < 0x21 || m->listen[i] > 0x7e)
            rc = refuse(why, why_len, "listen address not printable");
    if (rc == 0) {
        out->state = m->state;
        out->role = m->role;
        memcpy(out->listen, m->listen ? m->listen : "", n + 1);
        out->epoch = m->epoch;
        out->generation = m->generation;
    }
    polku__pair_beat__free_unpacked(m, NULL);
    return rc;
}
