/* agent.c — startup and wiring only (see agent.h). */
#include "agent.h"

#include <sodium.h>
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
    agent *a = h->data;
    if (a->b.txn)
        batch_commit(&a->b);
    else
        batch_sync(&a->b);
    if (!a->b.txn && !batch_unsynced(&a->b))
        uv_idle_stop(h);
}

/* The batch opened, or a commit waits for its flush: the next loop turn
 * deals with it (an active idle handle makes that turn poll without
 * waiting), so batches grow by themselves under load. */
static void store_has_work(void *arg)
{
    agent *a = arg;
    uv_idle_start(&a->commit_idle, on_commit_idle);
}

/* After each commit: what entered the outbox goes out. */
static void batch_committed(void *arg, bool ok)
{
    (void)ok;
    agent *a = arg;
    if (a->link.welcomed)
        outbox_pump(&a->ob, polku_mono_ms());
}

static void on_tick(uv_timer_t *t)
{
    agent *a = t->data;
    link_tick(&a->link);
    api_tick(&a->api, polku_mono_ms());
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
    if (!rc && directory_known(&a->dir))
        rc = agent_rules_check_orgs(&next, rule_org_known, &a->dir, &err);
    if (rc) {
        log_error("reload refused, the running rules are kept: %s",
                  err.msg[0] ? err.msg : polku_strerror(rc));
    } else {
        const char *keys[32];
        size_t n = agent_config_restart_keys(a->cfg, &next, keys, 32);
        for (size_t i = 0; i < n; i++)
            log_warn("reload: [agent] %s changed: it takes effect at the "
                     "next restart (the running value is kept)",
                     keys[i]);
        size_t before = a->cfg->rule_count;
        agent_config_take_rules(a->cfg, &next);
        if (agent_config_take_keys(a->cfg, &next))
            log_keys(a->cfg);
        log_info("reloaded %s: %zu rules (were %zu)", a->cfg->path,
                 a->cfg->rule_count, before);
        link_keys(&a->link); /* the broker may list the new key already */
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

int agent_init(agent *a, uv_loop_t *loop, agent_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = cfg;
    uv_idle_init(loop, &a->commit_idle);
    uv_timer_init(loop, &a->tick);
    a->commit_idle.data = a->tick.data = a;
    outbox_init(&a->ob, cfg->window, cfg->retry_min_ms, cfg->retry_max_ms,
                cfg->ack_timeout_ms, link_outbox_send, &a->link);
    directory_init(&a->dir, cfg->org);
    a->seal = (sealing){.dir = &a->dir,
                        .secret_z85 = cfg->key.secret_z85,
                        .public_z85 = cfg->key.public_z85,
                        .previous = &cfg->previous_key};
    int rc =
        store_open(&a->st, cfg->store, cfg->map_size, cfg->map_max, cfg->org);
    if (rc)
        return rc;
    batch_init(&a->b, &a->st);
    a->b.opened = store_has_work;
    a->b.unsynced_hook = store_has_work;
    a->b.committed = batch_committed;
    a->b.hook_arg = a;
    eventlog_init(&a->log, &a->st, &a->b, &a->ob, cfg->org);
    rc = eventlog_load(&a->log);
    if (rc)
        return rc;
    log_info("store %s: last seq %llu, %zu messages awaiting acknowledgement",
             cfg->store, (unsigned long long)a->b.committed_seq,
             outbox_pending(&a->ob));
    a->d = (domain){.st = &a->st,
                    .b = &a->b,
                    .log = &a->log,
                    .dir = &a->dir,
                    .seal = &a->seal,
                    .cfg = cfg,
                    .org = cfg->org,
                    .hooks = {api_claim_decided, &a->api}};
    rc = link_start(&a->link, loop, cfg, &a->d, &a->dir, &a->ob,
                    (link_hooks){.event_applied = api_event_applied,
                                 .path_answered = api_path_answered,
                                 .access_answered = api_access_answered,
                                 .arg = &a->api});
    if (!rc)
        rc = api_start(&a->api, loop, cfg, &a->d, &a->link, &a->ob);
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
    if (a->st.env)
        batch_fini(&a->b); /* answer what is pending with what is durable */
    api_stop(&a->api);
    sealing_fini(&a->seal);
    link_close(&a->link);
    close_if_open((uv_handle_t *)&a->commit_idle);
    close_if_open((uv_handle_t *)&a->tick);
    close_if_open((uv_handle_t *)&a->sigterm);
    close_if_open((uv_handle_t *)&a->sigint);
    close_if_open((uv_handle_t *)&a->sighup);
    outbox_fini(&a->ob);
    directory_fini(&a->dir);
    store_close(&a->st);
}
