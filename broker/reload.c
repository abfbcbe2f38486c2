/* reload.c — the directory read again from the config file, swapped into
 * the running broker (reload.h says what changes and what does not). */
#include "reload.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "router.h"
#include "routes.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"

static bool differ(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* [broker] keys the running broker cannot change: named, kept. */
static void warn_restart_keys(const broker_config *cur,
                              const broker_config *next)
{
    struct {
        const char *key;
        bool changed;
    } keys[] = {
        {"listen", differ(cur->listen, next->listen)},
        {"feed", differ(cur->feed, next->feed)},
        {"http", differ(cur->http, next->http)},
        {"http_token_file",
         differ(cur->http_token_file, next->http_token_file)},
        {"debug_dump_file",
         differ(cur->debug_dump_file, next->debug_dump_file)},
        {"key_file", differ(cur->key.public_z85, next->key.public_z85)},
        {"display_secret_file",
         memcmp(cur->display_secret, next->display_secret,
                sizeof cur->display_secret) != 0},
        {"heartbeat", cur->heartbeat_ms != next->heartbeat_ms},
        {"max_frame", cur->max_frame != next->max_frame},
        {"log_level", cur->log_level != next->log_level},
        {"log_format", cur->log_format != next->log_format},
        {"ha_role", cur->ha_role != next->ha_role},
        {"ha_bind", differ(cur->ha_bind, next->ha_bind)},
        {"ha_peer", differ(cur->ha_peer, next->ha_peer)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].changed)
            log_warn("reload: [broker] %s changed: it takes effect at the "
                     "next restart (the running value is kept)",
                     keys[i].key);
}

/* A rotation begun (or its end time moved): both keys named. */
static void log_rotation(const broker_org *cur, const broker_org *next)
{
    if (!next->has_previous ||
        (cur->has_previous &&
         cur->previous_until_ms == next->previous_until_ms &&
         !memcmp(cur->previous_key, next->previous_key, 32)))
        return;
    char until[POLKU_TIME_TEXT];
    polku_time_format(next->previous_until_ms, until, sizeof until);
    log_info("%s: key rotation: new key %s; the previous key %s is let in "
             "and listed to agents until %s",
             next->id, next->public_z85, next->previous_z85, until);
}

/* A rotation whose end time has passed is over: the file still naming
 * its old key changes nothing (rotation.h). */
static void skip_ended_rotations(broker_config *next, uint64_t now_ms)
{
    for (size_t i = 0; i < next->org_count; i++) {
        broker_org *o = &next->orgs[i];
        if (!o->has_previous || now_ms < o->previous_until_ms)
            continue;
        char until[POLKU_TIME_TEXT];
        polku_time_format(o->previous_until_ms, until, sizeof until);
        log_info("%s: previous_key_until %s has passed: its previous key is "
                 "not let in (previous_public_key and previous_key_until "
                 "can be deleted)",
                 o->id, until);
        o->has_previous = false;
    }
}

typedef struct reload_counts {
    size_t added, removed, rekeyed;
} reload_counts;

/* The new route table, at the new directory's indexes: every org kept
 * keeps its route as it is. */
static void carry_routes(const broker *b, const broker_config *next, routes *nr,
                         reload_counts *n)
{
    for (size_t i = 0; i < next->org_count; i++) {
        const broker_org *o = &next->orgs[i];
        int old = routes_org_index(&b->routes, o->id);
        route *r = &nr->by_org[i];
        if (old >= 0) {
            *r = b->routes.by_org[old];
            if (memcmp(b->cfg->orgs[old].public_key, o->public_key, 32)) {
                n->rekeyed++;
                log_info("%s: public key changed: new connections must use "
                         "the new key",
                         o->id);
            }
            log_rotation(&b->cfg->orgs[old], o);
            continue;
        }
        r->replayed = true; /* nothing may wait for an agent not yet run */
        r->added_live = true;
        n->added++;
        log_info("%s: added to the directory", o->id);
    }
}

/* Orgs of the running directory that the new one lacks: told, logged. */
static void refuse_removed(broker *b, const broker_config *next,
                           reload_counts *n)
{
    for (size_t i = 0; i < b->cfg->org_count; i++) {
        const char *id = b->cfg->orgs[i].id;
        if (broker_config_org(next, id))
            continue;
        const route *r = &b->routes.by_org[i];
        n->removed++;
        if (r->connected)
            router_refuse_removed(b, r->routing_id, r->routing_id_len, id);
        log_info("%s: removed from the directory: its connections are "
                 "refused%s",
                 id, r->connected ? " (the live one told so)" : "");
    }
}

int broker_reload(broker *b, const char *path)
{
    return broker_reload_report(b, path, NULL, 0);
}

int broker_reload_report(broker *b, const char *path, char *why, size_t why_len)
{
    broker_config next;
    polku_cfgerr err = {{0}};
    int rc = broker_config_load(path, &next, &err);
    routes nr = {0};
    if (!rc && routes_init(&nr, &next))
        rc = POLKU_ENOMEM;
    if (rc) {
        b->reloads_refused++;
        log_error("reload refused, the running directory is kept: %s",
                  err.msg[0] ? err.msg : polku_strerror(rc));
        if (why)
            snprintf(why, why_len, "%s",
                     err.msg[0] ? err.msg : polku_strerror(rc));
        routes_fini(&nr);
        sodium_memzero(&next.key, sizeof next.key);
        broker_config_fini(&next);
        return rc;
    }
    reload_counts n = {0};
    skip_ended_rotations(&next, polku_now_ms());
    router_flush(b); /* what is queued is queued by the old indexes */
    carry_routes(b, &next, &nr, &n);
    refuse_removed(b, &next, &n);
    warn_restart_keys(b->cfg, &next);
    /* the swap: the directory and the SLA; the rest stays as it runs */
    broker_org *old_orgs = b->cfg->orgs;
    size_t old_count = b->cfg->org_count;
    b->cfg->orgs = next.orgs;
    b->cfg->org_count = next.org_count;
    b->cfg->sla = next.sla;
    alerts_walk_all(b->alerts); /* thresholds moved with the SLA */
    next.orgs = old_orgs;
    next.org_count = old_count;
    sodium_memzero(&next.key, sizeof next.key);
    broker_config_fini(&next);
    routes_fini(&b->routes);
    b->routes = nr;
    b->reloads++;
    log_info("reloaded %s: %zu organisations (%zu added, %zu removed, %zu "
             "keys changed), epoch %016llx kept",
             path, b->cfg->org_count, n.added, n.removed, n.rekeyed,
             (unsigned long long)b->epoch);
    if (why)
        snprintf(why, why_len,
                 "%zu organisations (%zu added, %zu removed, %zu keys "
                 "changed), epoch %016llx kept",
                 b->cfg->org_count, n.added, n.removed, n.rekeyed,
                 (unsigned long long)b->epoch);
    router_send_directory(b);
    router_decide_held(b); /* a removed org no longer holds anything back */
    return POLKU_OK;
}
