/* routes.c — the route table: one entry per organisation, found by id
 * (routes.h says why it is a module of its own). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/error.h"

struct routes_org {
    char id[33];
    int index;
    UT_hash_handle hh;
};

int routes_init(routes *t, const broker_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->by_org = calloc(cfg->org_count ? cfg->org_count : 1, sizeof *t->by_org);
    if (!t->by_org)
        return POLKU_ENOMEM;
    t->count = cfg->org_count;
    for (size_t i = 0; i < cfg->org_count; i++) {
        struct routes_org *e = calloc(1, sizeof *e);
        if (!e)
            return POLKU_ENOMEM;
        snprintf(e->id, sizeof e->id, "%s", cfg->orgs[i].id);
        e->index = (int)i;
        HASH_ADD_STR(t->org_ids, id, e);
    }
    return POLKU_OK;
}

void routes_fini(routes *t)
{
    struct routes_org *e, *tmp;
    HASH_ITER(hh, t->org_ids, e, tmp)
    {
        HASH_DEL(t->org_ids, e);
        free(e);
    }
    free(t->by_org);
    t->by_org = NULL;
    t->count = 0;
}

int routes_org_index(const routes *t, const char *org)
{
    struct routes_org *e = NULL;
    HASH_FIND_STR(t->org_ids, org, e);
    return e ? e->index : -1;
}

int64_t routes_clock_offset(const routes *t, const char *org)
{
    int idx = routes_org_index(t, org);
    return idx < 0 ? 0 : t->by_org[idx].clock_offset_ms;
}

uint64_t routes_stale_after_ms(uint64_t heartbeat_ms)
{
    return 4 * heartbeat_ms + 1000;
}

static bool heard_within(uint64_t last_ms, uint64_t now_ms, uint64_t stale_ms)
{
    return now_ms < last_ms || now_ms - last_ms <= stale_ms;
}

static bool same_id(const uint8_t *a, size_t a_len, const uint8_t *b,
                    size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

routes_session routes_session_of(const route *r, const uint8_t *rid, size_t len,
                                 uint64_t now_ms, uint64_t stale_after_ms)
{
    if (!r->connected)
        return ROUTES_NEW;
    if (same_id(r->routing_id, r->routing_id_len, rid, len))
        return ROUTES_SAME;
    return heard_within(r->last_seen_ms, now_ms, stale_after_ms)
               ? ROUTES_DUPLICATE
               : ROUTES_NEW;
}

static void copy_peer(char out[ROUTES_PEER_MAX], const char *peer)
{
    snprintf(out, ROUTES_PEER_MAX, "%s", peer ? peer : "");
}

void routes_take(route *r, const uint8_t *rid, size_t len, const char *peer,
                 uint64_t now_ms)
{
    if (len > ROUTES_ROUTING_ID_MAX)
        return;
    if (!r->connected || !same_id(r->routing_id, r->routing_id_len, rid, len)) {
        memcpy(r->routing_id, rid, len);
        r->routing_id_len = len;
        copy_peer(r->peer, peer);
        r->dup_routing_id_len = 0;
        r->dup_peer[0] = '\0';
        r->dup_last_seen_ms = 0;
        r->dup_since_ms = 0;
        r->open_checked_ms = 0;
    }
    r->connected = true;
    r->last_seen_ms = now_ms;
}

bool routes_note_duplicate(route *r, const uint8_t *rid, size_t len,
                           const char *peer, uint64_t now_ms, uint64_t wall_ms)
{
    if (len > ROUTES_ROUTING_ID_MAX || len == 0)
        return false;
    bool first = !same_id(r->dup_routing_id, r->dup_routing_id_len, rid, len);
    if (first) {
        memcpy(r->dup_routing_id, rid, len);
        r->dup_routing_id_len = len;
        copy_peer(r->dup_peer, peer);
        r->dup_since_ms = wall_ms;
    }
    r->dup_last_seen_ms = now_ms;
    return first;
}

bool routes_duplicate_live(const route *r, uint64_t now_ms,
                           uint64_t stale_after_ms)
{
    return r->connected && r->dup_routing_id_len > 0 &&
           heard_within(r->last_seen_ms, now_ms, stale_after_ms) &&
           heard_within(r->dup_last_seen_ms, now_ms, stale_after_ms);
}
