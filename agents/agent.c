/* agent.c — startup and wiring only (see agent.h). */
#include "agent.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"

/* Once per loop turn while the store has work (batch.h): an open batch is
 * committed — its data flush also makes the commit before durable — and
 * when nothing new came in a turn, the last commit is flushed on its own.
 * So under load each commit costs one flush, and at low load a message
 * waits for nothing but its own two. */
static void on_commit_idle(uv_idle_t *h)
{
    agent_region *r = h->data;
    if (r->b.txn)
        batch_commit(&r->b);
    else
        batch_sync(&r->b);
    if (!r->b.txn && !batch_unsynced(&r->b))
        uv_idle_stop(h);
}

/* The batch opened, or a commit waits for its flush: the next loop turn
 * deals with it (an active idle handle makes that turn poll without
 * waiting), so batches grow by themselves under load. */
static void store_has_work(void *arg)
{
    agent_region *r = arg;
    uv_idle_start(&r->commit_idle, on_commit_idle);
}

/* After each commit: what entered the outbox goes out. */
static void batch_committed(void *arg, bool ok)
{
    (void)ok;
    agent_region *r = arg;
    if (r->link.welcomed)
        outbox_pump(&r->ob, polku_mono_ms());
}

/* A batch begins: the acks left for it go in first (eventlog.h). */
static void batch_begun(void *arg, MDB_txn *txn)
{
    agent_region *r = arg;
    eventlog_apply_acks(&r->log, txn);
}

static int nothing_more(MDB_txn *txn, void *ctx)
{
    (void)txn;
    (void)ctx;
    return POLKU_OK;
}

/* Acks left for the next batch while none came: a batch of their own
 * (no flush waits for it), so that a restart resends little. */
static void apply_waiting_acks(agent_region *r)
{
    if (eventlog_acks_waiting(&r->log) && !r->b.txn)
        batch_run_item(&r->b, nothing_more, NULL);
}

static void on_tick(uv_timer_t *t)
{
    agent *a = t->data;
    uint64_t now = polku_mono_ms();
    for (size_t i = 0; i < a->n_regions; i++) {
        link_tick(&a->r[i].link);
        api_tick(&a->r[i].api, now);
        apply_waiting_acks(&a->r[i]);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    agent *a = s->data;
    log_info("signal %d: stopping", signum);
    uv_stop(a->loop);
}

static bool rule_org_known(void *arg, const char *org)
{
    return directory_knows_org(arg, org);
}

/* What a region's view of the config shares with the agent's: the rules
 * and the key pairs (after a reload they are new). */
static void region_sync(agent_region *r, const agent_config *cfg)
{
    r->cfg.rules = cfg->rules;
    r->cfg.rule_count = cfg->rule_count;
    r->cfg.key = cfg->key;
    r->cfg.previous_key = cfg->previous_key;
    r->cfg.has_previous_key = cfg->has_previous_key;
}

/* The agent's config as region i sees it (agent.h). */
static void region_view(agent_region *r, const agent_config *cfg, size_t i)
{
    r->cfg = *cfg;
    if (i == 0)
        return;
    const agent_region_config *rc = &cfg->regions[i - 1];
    r->cfg.broker = rc->broker;
    memcpy(r->cfg.broker_public_z85, rc->broker_public_z85,
           sizeof r->cfg.broker_public_z85);
    memcpy(r->cfg.pseudonym_secret, rc->pseudonym_secret,
           sizeof r->cfg.pseudonym_secret);
    r->cfg.has_pseudonym_secret = true;
    r->cfg.store = rc->store;
    snprintf(r->cfg.region, sizeof r->cfg.region, "%s", rc->name);
}

/* A key rotation taken on reload: which keys open and seal now. */
static void log_keys(const agent_config *cfg)
{
    if (cfg->has_previous_key)
        log_info("key rotation: key %s, previous key %s: what was sealed "
                 "to either is opened; the broker's directory says which "
                 "one to connect and seal with",
                 cfg->key.public_z85, cfg->previous_key.public_z85);
    else
        log_info("key %s (no previous key any more)", cfg->key.public_z85);
}

/* SIGHUP: the [rule] sections and the key pairs read again
 * (agent_config.h). A file that does not load, or whose rules name
 * organisations the directory lacks, is refused with its FILE:LINE error; the
 * running rules stay. */
static void reload_rules(agent *a)
{
    agent_config next;
    polku_cfgerr err = {{0}};
    int rc = agent_config_load(a->cfg->path, &next, &err);
    for (size_t i = 0; !rc && i < a->n_regions; i++) {
        /* a rule acts in every region: its organisations must be in each
         * directory, as link_start asks of them when the agent starts */
        if (!directory_known(&a->r[i].dir))
            continue;
        rc = agent_rules_check_orgs(&next, rule_org_known, &a->r[i].dir, &err);
        if (rc && a->n_regions > 1) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%.440s of region %.40s", err.msg,
                     agent_default_region(&a->r[i].cfg));
            snprintf(err.msg, sizeof err.msg, "%s", msg);
        }
    }
    if (rc) {
        log_error("reload refused, the running rules are kept: %s",
                  err.msg[0] ? err.msg : polku_strerror(rc));
    } else {
        const char *keys[32];
        size_t n = agent_config_restart_keys(a->cfg, &next, keys, 32);
        for (size_t i = 0; i < n; i++)
            log_warn("reload: %s%s changed: it takes effect at the next "
                     "restart (the running value is kept)",
                     keys[i][0] == '[' ? "" : "[agent] ", keys[i]);
        size_t before = a->cfg->rule_count;
        agent_config_take_rules(a->cfg, &next);
        if (agent_config_take_keys(a->cfg, &next))
            log_keys(a->cfg);
        log_info("reloaded %s: %zu rules (were %zu)", a->cfg->path,
                 a->cfg->rule_count, before);
        for (size_t i = 0; i < a->n_regions; i++) {
            region_sync(&a->r[i], a->cfg);
            link_keys(&a->r[i].link); /* its broker may list it already */
        }
    }
    sodium_memzero(next.pseudonym_secret, sizeof next.pseudonym_secret);
    sodium_memzero(&next.key, sizeof next.key);
    agent_config_fini(&next);
}

static void on_sighup(uv_signal_t *s, int signum)
{
    (void)signum;
    agent *a = s->data;
    log_info("SIGHUP: reading %s again", a->cfg->path);
    reload_rules(a);
}

/* Region i's store, log and link; its API waits for the front. */
static int region_init(agent *a, size_t i)
{
    agent_region *r = &a->r[i];
    uv_loop_t *loop = a->loop;
    r->a = a;
    region_view(r, a->cfg, i);
    agent_config *cfg = &r->cfg;
    const char *name = i ? cfg->region : agent_default_region(a->cfg);
    uv_idle_init(loop, &r->commit_idle);
    r->commit_idle.data = r;
    outbox_init(&r->ob, cfg->window, cfg->retry_min_ms, cfg->retry_max_ms,
                cfg->ack_timeout_ms, link_outbox_send, &r->link);
    directory_init(&r->dir, cfg->org);
    r->seal = (sealing){.dir = &r->dir,
                        .secret_z85 = cfg->key.secret_z85,
                        .public_z85 = cfg->key.public_z85,
                        .previous = &cfg->previous_key};
    int rc =
        store_open(&r->st, cfg->store, cfg->map_size, cfg->map_max, cfg->org);
    if (rc)
        return rc;
    batch_init(&r->b, &r->st);
    r->b.opened = store_has_work;
    r->b.unsynced_hook = store_has_work;
    r->b.committed = batch_committed;
    r->b.begun = batch_begun;
    r->b.hook_arg = r;
    eventlog_init(&r->log, &r->st, &r->b, &r->ob, cfg->org);
    rc = eventlog_load(&r->log);
    if (rc)
        return rc;
    log_info("region %s: store %s: last seq %llu, %zu messages awaiting "
             "acknowledgement",
             name, cfg->store, (unsigned long long)r->b.committed_seq,
             outbox_pending(&r->ob));
    r->d = (domain){.st = &r->st,
                    .b = &r->b,
                    .log = &r->log,
                    .dir = &r->dir,
                    .seal = &r->seal,
                    .cfg = cfg,
                    .org = cfg->org,
                    .hooks = {api_claim_decided, &r->api}};
    rc = link_start(&r->link, loop, cfg, &r->d, &r->dir, &r->ob,
                    (link_hooks){.event_applied = api_event_applied,
                                 .path_answered = api_path_answered,
                                 .access_answered = api_access_answered,
                                 .arg = &r->api});
    if (!rc)
        rc = api_start(&r->api, loop, cfg, name, &r->d, &r->link, &r->ob);
    return rc;
}

int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = cfg;
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    size_t n = 1 + cfg->region_count;
    a->r = calloc(n, sizeof *a->r);
    a->apis = calloc(n, sizeof *a->apis);
    if (!a->r || !a->apis)
        return POLKU_ENOMEM;
    int rc = POLKU_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        a->n_regions = i + 1; /* what agent_fini undoes */
        rc = region_init(a, i);
        a->apis[i] = &a->r[i].api;
    }
    if (!rc)
        rc = api_front_start(&a->front, loop, cfg, a->apis, n);
    if (rc)
        return rc;
    uint64_t tick = cfg->heartbeat_ms / 4 ? cfg->heartbeat_ms / 4 : 1;
    if (tick > 100)
        tick = 100;
    uv_timer_start(&a->tick, on_tick, tick, tick);
    uv_signal_init(loop, &a->sigterm);
    uv_signal_init(loop, &a->sigint);
    uv_signal_init(loop, &a->sighup);
    a->sigterm.data = a->sigint.data = a->sighup.data = a;
    uv_signal_start(&a->sighup, on_sighup, SIGHUP);
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    return POLKU_OK;
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

void agent_fini(agent *a)
{
    for (size_t i = 0; i < a->n_regions; i++)
        if (a->r[i].st.env) {
            apply_waiting_acks(&a->r[i]);
            batch_fini(&a->r[i].b); /* answer what is pending: durable */
            eventlog_fini(&a->r[i].log);
        }
    if (a->front.apis)
        api_front_stop(&a->front);
    else
        for (size_t i = 0; i < a->n_regions; i++) {
            api_stop_streams(&a->r[i].api);
            api_stop(&a->r[i].api);
        }
    for (size_t i = 0; i < a->n_regions; i++) {
        agent_region *r = &a->r[i];
        sealing_fini(&r->seal);
        link_close(&r->link);
        close_if_open((uv_handle_t *)&r->commit_idle);
        sodium_memzero(&r->cfg.key, sizeof r->cfg.key); /* copies of secrets */
        sodium_memzero(&r->cfg.previous_key, sizeof r->cfg.previous_key);
        sodium_memzero(r->cfg.pseudonym_secret, sizeof r->cfg.pseudonym_secret);
    }
    close_if_open((uv_handle_t *)&a->tick);
    close_if_open((uv_handle_t *)&a->sigterm);
    close_if_open((uv_handle_t *)&a->sigint);
    close_if_open((uv_handle_t *)&a->sighup);
    for (size_t i = 0; i < a->n_regions; i++) {
        outbox_fini(&a->r[i].ob);
        directory_fini(&a->r[i].dir);
        store_close(&a->r[i].st);
    }
    free(a->r);
    free(a->apis);
    a->r = NULL;
    a->apis = NULL;
    a->n_regions = 0;
}
