/* ha.c — the Binary Star state machine of a broker pair (see ha.h). */
#include "ha.h"

#include <stdio.h>
#include <string.h>

void ha_init(ha *h, ha_role role, uint64_t timeout_ms, uint64_t margin_ms,
             uint64_t now)
{
    memset(h, 0, sizeof *h);
    h->role = role;
    h->timeout_ms = timeout_ms;
    h->margin_ms = margin_ms < timeout_ms ? margin_ms : timeout_ms / 2;
    h->peer_expiry_ms = now + timeout_ms;
    h->last_beat_ms = now;
    switch (role) {
    case HA_ROLE_PRIMARY:
        h->state = HA_STATE_PRIMARY;
        break;
    case HA_ROLE_BACKUP:
        h->state = HA_STATE_BACKUP;
        break;
    default:
        h->state = HA_STATE_ACTIVE;
        break;
    }
}

static void move(ha *h, ha_state to, const char *why)
{
    if (to == HA_STATE_ACTIVE && h->state != HA_STATE_ACTIVE)
        h->generation =
            (h->generation > h->peer_generation ? h->generation
                                                : h->peer_generation) +
            1;
    h->state = to;
    snprintf(h->why, sizeof h->why, "%s", why);
}

/* An active that sent no heartbeat for nearly the timeout cannot know
 * whether its peer took over meanwhile: it must not decide anything more.
 * (ha_on and ha_tick return early for HA_ROLE_NONE.) */
static bool frozen(ha *h, uint64_t now)
{
    uint64_t quiet = now > h->last_beat_ms ? now - h->last_beat_ms : 0;
    if (quiet + h->margin_ms < h->timeout_ms)
        return false;
    if (h->state != HA_STATE_ACTIVE) {
        /* a waiting or passive broker that stalled has not read its peer's
         * heartbeats either: the silence is its own, so it waits afresh */
        if (h->peer_expiry_ms < now + h->timeout_ms)
            h->peer_expiry_ms = now + h->timeout_ms;
        return false;
    }
    snprintf(h->why, sizeof h->why,
             "no heartbeat sent for %llu ms (the process was stopped or "
             "stalled): the peer may have taken over",
             (unsigned long long)quiet);
    h->state = HA_STATE_FAILED;
    return true;
}

static void on_peer(ha *h, ha_event ev)
{
    switch (h->state) {
    case HA_STATE_PRIMARY:
        if (ev == HA_PEER_BACKUP)
            move(h, HA_STATE_ACTIVE, "the backup is up and passive: active");
        else if (ev == HA_PEER_ACTIVE)
            move(h, HA_STATE_PASSIVE, "the backup is active: passive");
        else if (ev == HA_PEER_PRIMARY)
            move(h, HA_STATE_FAILED,
                 "the peer is configured primary too (ha_role)");
        break;
    case HA_STATE_BACKUP:
        if (ev == HA_PEER_ACTIVE)
            move(h, HA_STATE_PASSIVE, "the primary is active: passive");
        else if (ev == HA_PEER_BACKUP)
            move(h, HA_STATE_FAILED,
                 "the peer is configured backup too (ha_role)");
        break;
    case HA_STATE_ACTIVE:
        if (ev != HA_PEER_ACTIVE)
            break;
        if (h->peer_generation > h->generation ||
            (h->peer_generation == h->generation && h->role == HA_ROLE_BACKUP))
            move(h, HA_STATE_FAILED,
                 "the peer is active too and took over later (two "
                 "actives): stopping");
        break;
    case HA_STATE_PASSIVE:
        if (ev == HA_PEER_PRIMARY || ev == HA_PEER_BACKUP)
            move(h, HA_STATE_ACTIVE,
                 "the peer restarted: active (it goes passive)");
        else if (ev == HA_PEER_PASSIVE && h->role == HA_ROLE_PRIMARY)
            move(h, HA_STATE_ACTIVE, "both passive: the primary leads");
        break;
    default:
        break;
    }
}

static bool on_client(ha *h, uint64_t now)
{
    bool expired = now >= h->peer_expiry_ms;
    switch (h->state) {
    case HA_STATE_ACTIVE:
        return true;
    case HA_STATE_PRIMARY:
    case HA_STATE_BACKUP:
        if (!expired)
            return false;
        move(h, HA_STATE_ACTIVE,
             "an agent came and the peer has not been heard: active alone");
        return true;
    case HA_STATE_PASSIVE:
        if (!expired)
            return false;
        h->failovers++;
        move(h, HA_STATE_ACTIVE,
             "the active peer is silent and an agent came: failover, active");
        return true;
    default:
        return false;
    }
}

void ha_on_peer(ha *h, ha_event ev, uint64_t peer_generation, uint64_t now)
{
    if (ev < HA_PEER_PRIMARY || ev > HA_PEER_PASSIVE)
        return;
    if (h->role != HA_ROLE_NONE && h->state != HA_STATE_FAILED)
        h->peer_generation = peer_generation;
    ha_on(h, ev, now);
}

bool ha_on(ha *h, ha_event ev, uint64_t now)
{
    if (h->role == HA_ROLE_NONE)
        return ev == HA_CLIENT_REQUEST;
    if (h->state == HA_STATE_FAILED || frozen(h, now))
        return false;
    if (ev == HA_CLIENT_REQUEST)
        return on_client(h, now);
    h->peer_heard = true;
    h->peer_state = (ha_state)ev;
    h->peer_expiry_ms = now + h->timeout_ms;
    on_peer(h, ev);
    return false;
}

bool ha_tick(ha *h, uint64_t now)
{
    if (h->role == HA_ROLE_NONE)
        return false;
    return h->state != HA_STATE_FAILED && !frozen(h, now);
}

void ha_beat_sent(ha *h, uint64_t now)
{
    h->last_beat_ms = now;
}

const char *ha_state_name(ha_state s)
{
    switch (s) {
    case HA_STATE_PRIMARY:
        return "primary";
    case HA_STATE_BACKUP:
        return "backup";
    case HA_STATE_ACTIVE:
        return "active";
    case HA_STATE_PASSIVE:
        return "passive";
    case HA_STATE_FAILED:
        return "failed";
    }
    return "unknown";
}

const char *ha_role_name(ha_role r)
{
    return r == HA_ROLE_PRIMARY  ? "primary"
           : r == HA_ROLE_BACKUP ? "backup"
                                 : "single";
}

ha_event ha_peer_event(uint32_t wire_state)
{
    return wire_state >= HA_PEER_PRIMARY && wire_state <= HA_PEER_PASSIVE
               ? (ha_event)wire_state
               : (ha_event)0;
}
