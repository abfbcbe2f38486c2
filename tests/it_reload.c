/* it_reload — the directory and the rules change without a restart (SIGHUP).
 *
 * (1) directory_reload: a broker and three agents (a, b, c) run; a has an
 *     unanswered referral to b whose alert is raised. While a burst of
 *     referrals a -> b is in flight:
 *       - d is added to the broker's file + SIGHUP: d's agent connects and
 *         a referral a -> d is received and accepted; a learns d from a
 *         Welcome of the same epoch (no reconnection: no new "welcomed");
 *       - c is removed + SIGHUP: the broker drops its route, c's agent is
 *         told (Nack not_authenticated), a new connection with c's key is
 *         refused by ZAP, a refuses a referral to c (its directory lacks c);
 *       - a key changes + SIGHUP: the old key is refused, the new one
 *         welcomed;
 *       - an invalid file + SIGHUP: the log names FILE:LINE, the directory
 *         is kept, referrals still flow.
 *     Throughout: the same pids (no restarts), the broker's epoch and the
 *     alert's "since" unchanged, every referral of the burst received.
 * (2) rules_reload: an agent without rules; a [rule] service_ended added +
 *     SIGHUP makes the end of a service offer a handover; an invalid file
 *     + SIGHUP is refused with FILE:LINE and the rule still acts; a changed
 *     [agent] key is named as needing a restart. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_feed.h"

/* Occurrences of needle in the process's log. */
static int log_count(const h_proc *p, const char *needle)
{
    char *text = h_read_file(p->log, NULL);
    int n = 0;
    for (const char *s = text; s && (s = strstr(s, needle)); s++)
        n++;
    free(text);
    return n;
}

static bool log_has(const h_proc *p, const char *needle)
{
    return log_count(p, needle) > 0;
}

/* SIGHUP to p; waits for one more line with done or refused than before.
 * Returns true if it was done. */
static bool hup(h_proc *p, const char *done, const char *refused)
{
    int d0 = log_count(p, done), r0 = log_count(p, refused);
    H_REQUIRE(p->pid > 0 && kill(p->pid, SIGHUP) == 0, "SIGHUP to %s: %s",
              p->name, strerror(errno));
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(p, done) > d0 || log_count(p, refused) > r0,
                 "%s to log '%s' or '%s' after SIGHUP", p->name, done, refused);
    return log_count(p, done) > d0;
}

static bool broker_hup(h_region *r)
{
    return hup(&r->broker, "reloaded ", "reload refused");
}

/* The epoch /healthz shows ("" if unavailable). */
static void broker_epoch(h_region *r, char out[32])
{
    json_t *h = h_broker_health(r);
    snprintf(out, 32, "%s", hc_str(h, "epoch"));
    json_decref(h);
}

/* "since" of the alert id in /api/v1/alerts, "" if not listed. */
static void alert_since(h_region *r, const char *id, char out[64])
{
    out[0] = '\0';
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL,
                             NULL, 0, &resp);
    json_t *list = st == 200 ? json_object_get(resp.json, "alerts") : NULL;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        if (strcmp(hc_str(a, "id"), id) == 0)
            snprintf(out, 64, "%s", hc_str(a, "since"));
    }
    h_resp_free(&resp);
}

/* What must not change while the directory does. */
typedef struct steady {
    pid_t pids[H_MAX_ORGS + 1];
    int starts[H_MAX_ORGS + 1];
    char epoch[32];
    char alert[128];
    char since[64];
} steady;

static h_proc *proc_at(h_region *r, int i)
{
    return i == 0 ? &r->broker : &r->orgs[i - 1].proc;
}

static void steady_take(h_region *r, steady *s)
{
    for (int i = 0; i <= r->norgs; i++) {
        s->pids[i] = proc_at(r, i)->pid;
        s->starts[i] = proc_at(r, i)->starts;
    }
    broker_epoch(r, s->epoch);
    alert_since(r, s->alert, s->since);
    H_REQUIRE(s->epoch[0] && s->since[0], "epoch %s and alert %s (since %s)",
              s->epoch, s->alert, s->since);
}

static void steady_check(h_region *r, const steady *s, const char *after)
{
    for (int i = 0; i <= r->norgs; i++) {
        h_proc *p = proc_at(r, i);
        if (!s->pids[i])
            continue; /* started later */
        H_CHECK(p->pid == s->pids[i] && p->starts == s->starts[i] &&
                    kill(p->pid, 0) == 0,
                "%s: %s still runs as pid %d (now pid %d, %d starts)", after,
                p->name, (int)s->pids[i], (int)p->pid, p->starts);
    }
    char epoch[32], since[64];
    broker_epoch(r, epoch);
    alert_since(r, s->alert, since);
    H_CHECK(strcmp(epoch, s->epoch) == 0, "%s: broker epoch %s kept (now %s)",
            after, s->epoch, epoch);
    H_CHECK(strcmp(since, s->since) == 0,
            "%s: alert %s still raised since %s (now '%s')", after, s->alert,
            s->since, since);
}

static void referral_ok(h_org *a, h_org *to, char id[64])
{
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, to->id);
    h_resp resp;
    long st = h_referral_create(a, key, to->id, NULL, "reload test", id, &resp);
    H_REQUIRE(st == 201 && id[0], "referral %s -> %s: HTTP %ld %s", a->id,
              to->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

/* A referral a -> to the agent refuses as outside its directory. */
static bool refused_unknown_org(h_org *a, const h_org *to)
{
    char key[33], id[64] = "";
    h_client_key(key);
    h_resp resp;
    long st = h_referral_create(a, key, to->id, NULL, "reload test", id, &resp);
    bool refused =
        st == 400 && strcmp(h_resp_error_code(&resp), "unknown_org") == 0;
    if (!refused)
        h_note("referral %s -> %s: HTTP %ld %s", a->id, to->id, st,
               hc_body(&resp));
    h_resp_free(&resp);
    return refused;
}

/* Opens a CURVE connection with kp; true if ZAP let it in. */
static bool zap_lets_in(h_region *r, const polku_keypair *kp)
{
    h_raw *raw = h_raw_new(r, kp);
    int value = 0;
    int ev = h_raw_wait_event(
        raw, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
        H_SEC(10), &value);
    h_raw_destroy(&raw);
    H_REQUIRE(ev != 0, "a handshake decision within the deadline");
    return ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
}

#define BURST 30

static void case_directory_reload(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "kela", "vocational-rehab");
    h_org *d = h_region_add_org(r, "typ", "joint-service");
    h_org *e = h_region_add_org(r, "ips", "individual-placement");
    d->not_in_directory = true;
    h_region_write(r);
    h_broker_sla_all(r, NULL, "1s", NULL, NULL, NULL);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);
    hc_wait_replayed(r, H_SEC(15));

    /* an alert whose age must survive every reload */
    char unanswered[64];
    referral_ok(a, b, unanswered);
    h_wait_status(b, unanswered, "received", H_SEC(10));
    steady s = {0};
    snprintf(s.alert, sizeof s.alert, "referral_not_answered:%s", unanswered);
    char since[64] = "";
    H_WAIT_UNTIL(H_SEC(10), (alert_since(r, s.alert, since), since[0]),
                 "alert %s", s.alert);
    steady_take(r, &s);
    int welcomed_a = log_count(&a->proc, "welcomed by broker epoch");
    H_REQUIRE(welcomed_a >= 1, "%s logged its Welcome", a->id);

    /* referrals in flight across the reloads */
    char burst[BURST][64];
    for (int i = 0; i < BURST / 2; i++)
        referral_ok(a, b, burst[i]);

    /* (1) d added */
    H_CHECK(refused_unknown_org(a, d), "before the reload %s does not know %s",
            a->id, d->id);
    d->not_in_directory = false;
    h_region_write(r);
    h_broker_sla_all(r, NULL, "1s", NULL, NULL, NULL);
    H_REQUIRE(broker_hup(r), "the broker reloads with %s added", d->id);
    H_CHECK(log_has(&r->broker, "typ: added to the directory"),
            "the broker logs the organisation added");
    for (int i = BURST / 2; i < BURST; i++)
        referral_ok(a, b, burst[i]);
    H_WAIT_UNTIL(H_SEC(10),
                 log_has(&a->proc, "directory updated by the broker (5 "
                                   "organisations)"),
                 "%s to take the new directory", a->id);
    h_agent_start_connected(d);
    char to_d[64];
    referral_ok(a, d, to_d);
    h_wait_status(d, to_d, "received", H_SEC(10));
    h_resp resp;
    long st = h_referral_set_status(d, to_d, "accepted", NULL, NULL, &resp);
    H_CHECK(st == 200, "%s accepts: HTTP %ld %s", d->id, st, hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(a, to_d, "accepted", H_SEC(10));
    steady_check(r, &s, "after adding an organisation");

    /* (2) c removed */
    int refused_c = log_count(&c->proc, "not_authenticated");
    c->not_in_directory = true;
    h_region_write(r);
    h_broker_sla_all(r, NULL, "1s", NULL, NULL, NULL);
    H_REQUIRE(broker_hup(r), "the broker reloads with %s removed", c->id);
    H_CHECK(log_has(&r->broker, "kela: removed from the directory"),
            "the broker logs the organisation removed");
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&c->proc, "not_authenticated") > refused_c,
                 "%s to be told it is refused", c->id);
    json_t *hc = NULL;
    H_WAIT_UNTIL(H_SEC(10),
                 (json_decref(hc), hc = h_agent_health(c),
                  strcmp(hc_str(hc, "broker"), "refused: authentication") == 0),
                 "%s's /healthz to say refused: authentication", c->id);
    json_decref(hc);
    H_CHECK(!h_broker_lists_connected(r, c->id),
            "the broker does not list %s as connected", c->id);
    H_CHECK(!zap_lets_in(r, &c->key),
            "a new connection with %s's key is "
            "refused",
            c->id);
    H_WAIT_UNTIL(H_SEC(10),
                 log_has(&a->proc, "directory updated by the broker (4 "
                                   "organisations)"),
                 "%s to take the directory without %s", a->id, c->id);
    H_CHECK(refused_unknown_org(a, c), "%s refuses a referral to %s", a->id,
            c->id);
    steady_check(r, &s, "after removing an organisation");

    /* (3) e's key changes (no agent runs for e) */
    polku_keypair old_key = e->key;
    H_CHECK(zap_lets_in(r, &old_key), "%s's first key is let in", e->id);
    H_REQUIRE(polku_keypair_generate(&e->key) == 0, "a new key pair");
    h_region_write(r);
    h_broker_sla_all(r, NULL, "1s", NULL, NULL, NULL);
    H_REQUIRE(broker_hup(r), "the broker reloads with %s's new key", e->id);
    H_CHECK(log_has(&r->broker, "ips: public key changed"),
            "the broker logs the changed key");
    H_CHECK(zap_lets_in(r, &e->key), "%s's new key is let in", e->id);
    H_CHECK(!zap_lets_in(r, &old_key), "%s's old key is refused", e->id);

    /* (4) an invalid file */
    h_broker_config_append(r, "[org Not-An-Id]\npublic_key = x\n");
    char *text = h_read_file(r->broker.config, NULL);
    int line = 1; /* of the bad section's header: the last but one line */
    for (const char *p = text; p && *p; p++)
        line += *p == '\n';
    free(text);
    char where[600];
    snprintf(where, sizeof where, "%s:%d:", r->broker.config, line - 2);
    H_CHECK(!broker_hup(r), "the broker refuses an invalid file");
    H_CHECK(log_has(&r->broker, where), "the refusal names %s", where);
    H_CHECK(h_broker_metric(r, "polku_broker_reloads_total{result=\"done\"}") ==
                    3 &&
                h_broker_metric(
                    r, "polku_broker_reloads_total{result=\"refused\"}") == 1,
            "/metrics counts 3 reloads done and 1 refused");
    char after[64];
    referral_ok(a, b, after);
    h_wait_status(b, after, "received", H_SEC(10));
    H_CHECK(h_broker_lists_connected(r, d->id),
            "%s still in the directory after a refused reload", d->id);
    H_CHECK(refused_unknown_org(a, c), "%s still does not know %s", a->id,
            c->id);

    for (int i = 0; i < BURST; i++)
        h_wait_status(b, burst[i], "received", H_SEC(15));
    h_note("all %d referrals sent across the reloads received", BURST);
    steady_check(r, &s, "after every reload");
    H_CHECK(log_count(&a->proc, "welcomed by broker epoch") == welcomed_a,
            "%s never reconnected (%d Welcomes logged, %d before)", a->id,
            log_count(&a->proc, "welcomed by broker epoch"), welcomed_a);
}

static void new_client(h_org *a, h_org *const with[], int n, char key[33])
{
    char cid[64];
    h_client_key(key);
    hc_consent(a, key, with, n, NULL, cid);
    for (int i = 0; i < n; i++)
        hc_wait_consent(with[i], key, cid);
}

/* Starts and ends a's service for a new client it coordinates; true if
 * the end offered a handover to to under rule. */
static bool end_offers(h_org *a, h_org *const with[], int n, const h_org *to,
                       const char *rule)
{
    char key[33];
    new_client(a, with, n, key);
    hc_claim_ok(a, key);
    h_resp resp;
    long st = hc_service(a, key, "coordination", "started", &resp);
    H_REQUIRE(st == 200, "service started: HTTP %ld %s", st, hc_body(&resp));
    h_resp_free(&resp);
    st = hc_service(a, key, "coordination", "ended", &resp);
    /* without a rule the coordinator may not just end: 409 */
    bool no_rule = st == 409 &&
                   strcmp(h_resp_error_code(&resp), "successor_required") == 0;
    H_REQUIRE(st == 200 || no_rule, "service ended: HTTP %ld %s", st,
              hc_body(&resp));
    json_t *h = json_object_get(resp.json, "handover");
    bool offered = h && strcmp(hc_str(h, "to"), to->id) == 0 &&
                   strcmp(hc_str(h, "rule"), rule) == 0;
    h_resp_free(&resp);
    return offered;
}

static void case_rules_reload(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);
    pid_t pid = a->proc.pid;
    h_org *const with[] = {b, c};

    H_CHECK(!end_offers(a, with, 2, c, "after"),
            "without a rule the end offers no handover");
    hc_agent_config_append(a, "[rule after]\non = service_ended\n"
                              "offer_to = typ\n");
    H_REQUIRE(hup(&a->proc, "reloaded ", "reload refused"),
              "%s reloads its rules", a->id);
    H_CHECK(end_offers(a, with, 2, c, "after"),
            "after the reload the end offers a handover to %s", c->id);

    /* an invalid file: refused with FILE:LINE, the rule stays */
    hc_agent_config_append(a, "[rule broken]\non = sometimes\n");
    char *text = h_read_file(a->proc.config, NULL);
    int line = 1;
    for (const char *p = text; p && *p; p++)
        line += *p == '\n';
    free(text);
    char where[600];
    snprintf(where, sizeof where, "%s:%d:", a->proc.config, line - 1);
    H_CHECK(!hup(&a->proc, "reloaded ", "reload refused"),
            "%s refuses an invalid file", a->id);
    H_CHECK(log_has(&a->proc, where), "the refusal names %s", where);
    H_CHECK(end_offers(a, with, 2, c, "after"),
            "the running rule still acts after a refused reload");

    /* a key that needs a restart is named, the rules still taken */
    char *cfg = h_read_file(a->proc.config, NULL);
    H_REQUIRE(cfg, "read %s", a->proc.config);
    char *bad = strstr(cfg, "[rule broken]");
    H_REQUIRE(bad, "the broken rule is in the file");
    *bad = '\0';
    FILE *f = fopen(a->proc.config, "w");
    H_REQUIRE(f, "write %s", a->proc.config);
    fputs(cfg, f);
    fclose(f);
    free(cfg);
    h_agent_config_add(a, "window = 17");
    H_CHECK(hup(&a->proc, "reloaded ", "reload refused"),
            "%s reloads a valid file again", a->id);
    H_CHECK(log_has(&a->proc, "[agent] window changed: it takes effect at "
                              "the next restart"),
            "the changed [agent] key is named");
    H_CHECK(a->proc.pid == pid && a->proc.starts == 1 && kill(pid, 0) == 0,
            "%s was never restarted", a->id);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_reload");
    H_CASE(case_directory_reload);
    H_CASE(case_rules_reload);
    return h_finish();
}
