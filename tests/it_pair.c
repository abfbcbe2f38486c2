/* it_pair — a broker pair (issue 17; broker/ha.h): real processes.
 *
 * (1) passive_names_the_active: the agents list the backup first. The
 *     backup is passive: it answers Nack broker_passive naming the
 *     primary, the agents move there and referrals flow; the backup's
 *     /healthz and /metrics say passive, name the active one and count the
 *     Nacks; it learned no route and folded nothing.
 * (2) killed_primary_fails_over: SIGKILL of the active primary; the agents
 *     leave it after their silence timeout, the backup takes over (logged
 *     FAILOVER, polku_broker_ha_failovers_total 1), rebuilds by replay to
 *     the same path digest within 5 s of the kill, and referrals flow
 *     again. The primary started again is passive.
 * (3) frozen_primary_stops: SIGSTOP of the active primary; the backup takes
 *     over. Woken (SIGCONT), the primary finds it sent no heartbeat for
 *     longer than the peer's timeout, decides nothing more and exits 1 (its
 *     log says why); started again it is passive.
 * (4) pair_config_refused: ha_role = leader, or ha_role without ha_peer:
 *     exit 2 naming the file, line and key. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_internal.h"
#include "harness_pair.h"

#define SOTE "sote-keskus"

static bool state_is(h_region *side, const char *want)
{
    char st[32];
    return strcmp(h_pair_state(side, st, sizeof st), want) == 0;
}

static bool agent_at(h_org *o, const char *endpoint)
{
    json_t *h = h_agent_health(o);
    const char *s = json_string_value(json_object_get(h, "broker_address"));
    const char *st = json_string_value(json_object_get(h, "broker"));
    bool at =
        s && st && strcmp(s, endpoint) == 0 && strcmp(st, "connected") == 0;
    json_decref(h);
    return at;
}

static bool log_has(const h_proc *p, const char *text)
{
    char *log = h_read_file(p->log, NULL);
    bool has = log && strstr(log, text);
    free(log);
    return has;
}

static const char *digest_of(h_region *r, char out[80])
{
    json_t *stats = hc_broker_stats(r);
    snprintf(out, 80, "%s", stats ? hc_str(stats, "digest") : "");
    json_decref(stats);
    return out;
}

static void pair_region(h_pair *p, h_org **a, h_org **b, bool backup_first)
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, SOTE, "coordination");
    *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_pair_setup(p, r, backup_first);
    h_pair_start(p);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    hc_wait_replayed(r, H_SEC(20));
}

/* A referral from a to b, received at b within the deadline. */
static void referral_flows(h_org *a, h_org *b, const char *key)
{
    char id[64];
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "pair", id, &resp);
    H_CHECK(st == 201, "referral: HTTP %ld", st);
    h_resp_free(&resp);
    h_wait_status(a, id, "received", H_SEC(15));
}

static void passive_names_the_active(void)
{
    h_pair p;
    h_org *a, *b;
    pair_region(&p, &a, &b, true);
    H_CHECK(agent_at(a, p.a->broker_endpoint) &&
                agent_at(b, p.a->broker_endpoint),
            "both agents at the active primary");
    json_t *ha = h_pair_ha(p.b);
    H_CHECK(ha && strcmp(hc_str(ha, "state"), "passive") == 0 &&
                strcmp(hc_str(ha, "role"), "backup") == 0 &&
                strcmp(hc_str(ha, "active"), p.a->broker_endpoint) == 0,
            "the backup's /healthz: passive, active %s (got %s)",
            p.a->broker_endpoint, ha ? json_dumps(ha, 0) : "nothing");
    json_decref(ha);
    double nacks = h_broker_metric(
        p.b, "polku_broker_nacks_total{code=\"broker_passive\"}");
    H_CHECK(nacks >= 2, "the backup sent Nack broker_passive (%g)", nacks);
    H_CHECK(h_broker_metric(p.b, "polku_broker_ha_state{role=\"backup\","
                                 "state=\"passive\"}") == 1,
            "the backup's metrics say passive");
    H_CHECK(h_broker_metric(p.a, "polku_broker_ha_state{role=\"primary\","
                                 "state=\"active\"}") == 1,
            "the primary's metrics say active");
    H_CHECK(log_has(&a->proc, "is passive: moving to"),
            "the agent's log says it moved away from the passive broker");
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    referral_flows(a, b, key);
    /* the passive learned nothing: no route, no path, no fold */
    json_t *h = h_broker_health(p.b);
    H_CHECK(h && json_array_size(json_object_get(h, "connected")) == 0,
            "the passive broker lists no connected organisation");
    json_decref(h);
    H_CHECK(h_broker_metric(p.b, "polku_broker_consents") == 0 &&
                h_broker_metric(p.b, "polku_broker_routed_total") == 0,
            "the passive broker folded and routed nothing");
}

static void killed_primary_fails_over(void)
{
    h_pair p;
    h_org *a, *b;
    pair_region(&p, &a, &b, false);
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    hc_claim_ok(a, key);
    referral_flows(a, b, key);
    char digest[80];
    digest_of(p.a, digest);

    uint64_t t0 = h_now_ms();
    h_proc_kill(&p.a->broker);
    H_WAIT_UNTIL(H_SEC(10), state_is(p.b, "active"), "the backup to take over");
    h_pair_swap(&p); /* a: the new active */
    hc_wait_replayed(p.a, H_SEC(20));
    uint64_t gap = h_now_ms() - t0;
    H_CHECK(agent_at(a, p.a->broker_endpoint), "the agent at the backup");
    H_CHECK(h_broker_metric(p.a, "polku_broker_ha_failovers_total") == 1,
            "one failover counted");
    H_CHECK(log_has(&p.a->broker, "FAILOVER passive -> active"),
            "the backup's log says FAILOVER");
    char now_digest[80] = "";
    H_WAIT_UNTIL(H_SEC(10), strcmp(digest_of(p.a, now_digest), digest) == 0,
                 "the new active's path digest %s to equal the old one's %s",
                 now_digest, digest);
    referral_flows(a, b, key);
    h_note("routing resumed %llu ms after the kill", (unsigned long long)gap);
    H_CHECK(gap < 5000, "routing resumed within 5 s (%llu ms)",
            (unsigned long long)gap);
    /* the old primary, started again, is passive */
    h_broker_start(p.b);
    H_WAIT_UNTIL(H_SEC(10), state_is(p.b, "passive"),
                 "the restarted primary to be passive");
    referral_flows(a, b, key);
}

static void frozen_primary_stops(void)
{
    h_pair p;
    h_org *a, *b;
    pair_region(&p, &a, &b, false);
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    H_REQUIRE(kill(p.a->broker.pid, SIGSTOP) == 0, "SIGSTOP the primary");
    H_WAIT_UNTIL(H_SEC(10), state_is(p.b, "active"), "the backup to take over");
    h_pair_swap(&p);
    hc_wait_replayed(p.a, H_SEC(20));
    h_proc *old = &p.b->broker;
    old->expect_alive = false; /* it is to stop by itself */
    kill(old->pid, SIGCONT);
    H_WAIT_UNTIL(H_SEC(10), !h_proc_running(old),
                 "the woken primary to stop by itself");
    H_CHECK(WIFEXITED(old->last_status) && WEXITSTATUS(old->last_status) == 1,
            "it exits 1 (status %d)", old->last_status);
    H_CHECK(log_has(old, "no heartbeat sent for"),
            "its log says it was frozen past the peer's timeout");
    referral_flows(a, b, key);
    h_broker_start(p.b);
    H_WAIT_UNTIL(H_SEC(10), state_is(p.b, "passive"),
                 "the restarted primary to be passive");
}

static void pair_config_refused(void)
{
    h_region *r = h_region_new();
    h_region_write(r);
    h_broker_config_add(r, "ha_role = leader");
    char out[600];
    snprintf(out, sizeof out, "%s/refused.out", r->dir);
    char *argv[] = {(char *)POLKU_BROKER_BIN, "--config", r->broker.config,
                    NULL};
    H_CHECK(h_run_program(argv, out, H_SEC(10)) == 2,
            "ha_role = leader: exit 2");
    char *text = h_read_file(out, NULL);
    H_CHECK(text && strstr(text, "ha_role") &&
                strstr(text, "expected primary or backup") &&
                strstr(text, r->broker.config),
            "the error names the file and ha_role: %s", text ? text : "");
    free(text);
    h_region_write(r);
    h_broker_config_add(r, "ha_role = primary");
    h_broker_config_add(r, "ha_bind = tcp://127.0.0.1:1");
    H_CHECK(h_run_program(argv, out, H_SEC(10)) == 2,
            "ha_role without ha_peer: exit 2");
    text = h_read_file(out, NULL);
    H_CHECK(text && strstr(text, "ha_peer"), "the error names ha_peer: %s",
            text ? text : "");
    free(text);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_pair");
    H_CASE(passive_names_the_active);
    H_CASE(killed_primary_fails_over);
    H_CASE(frozen_primary_stops);
    H_CASE(pair_config_refused);
    return h_finish();
}
