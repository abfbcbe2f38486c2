/* it_rotate — an organisation's key changes with referrals in flight, no
 * process restarts, nothing lost (`polku-broker --reload`, SIGHUP).
 *
 * A broker and three agents (a, b, c) run; a has an unanswered referral
 * to b whose alert is raised. Then b's key is rotated as docs/operations.md
 * tells an operator to:
 *   1. b's agent gets the new key_file and the old one as
 *      previous_key_file (and a new [rule]), SIGHUP: it takes both keys
 *      and the rule, and stays connected with the old key, which the
 *      broker still lists;
 *   2. b is frozen (SIGSTOP) until the broker marks it offline; a sends
 *      referrals to b, sealed to b's old key: the broker refuses them
 *      (b offline) and they wait in a's outbox through the change;
 *   3. the broker's [org] section gets public_key = NEW,
 *      previous_public_key = OLD, previous_key_until a few seconds ahead;
 *      `polku-broker --reload` says "reloaded" (exit 0); a takes the
 *      directory and sends more referrals, sealed to the new key;
 *   4. b thaws: it gets the directory it missed, connects again with
 *      its new key, and receives every referral with its sealed reason
 *      opened — the early ones with its previous key, after the switch —
 *      none refused; its answer's reason opens at a;
 *   5. at the end time the broker drops the old key (logged): ZAP refuses
 *      it, lets the new one in;
 *   6. an invalid file: `--reload` exits 2 naming FILE:LINE, and the
 *      broker's own answer to POST /api/v1/reload is 422 with it.
 * Throughout: the same pids, the broker's (and feed's) epoch and the
 * alert's "since" unchanged.
 *
 * case_broker_first: the steps in the wrong order (the broker first) lose
 * nothing either: b holds back what it cannot open yet. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_feed.h"
#include "polku/clock.h"

static int log_count(const h_proc *p, const char *needle)
{
    char *text = h_read_file(p->log, NULL);
    int n = 0;
    for (const char *s = text; s && (s = strstr(s, needle)); s++)
        n++;
    free(text);
    return n;
}

/* SIGHUP to an agent; true once it logged "reloaded " (false: refused). */
static bool agent_hup(h_org *o)
{
    int d0 = log_count(&o->proc, "reloaded "),
        r0 = log_count(&o->proc, "reload refused");
    H_REQUIRE(kill(o->proc.pid, SIGHUP) == 0, "SIGHUP to %s: %s", o->id,
              strerror(errno));
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&o->proc, "reloaded ") > d0 ||
                     log_count(&o->proc, "reload refused") > r0,
                 "%s to log its reload", o->id);
    return log_count(&o->proc, "reloaded ") > d0;
}

/* `polku-broker --reload --config FILE`: its exit code and output. */
static int broker_reload_cmd(h_region *r, char *out, size_t len)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s --reload --config %s 2>&1", POLKU_BROKER_BIN,
             r->broker.config);
    FILE *p = popen(cmd, "r");
    H_REQUIRE(p, "popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    H_REQUIRE(st != -1 && WIFEXITED(st), "%s ran to its end", cmd);
    h_note("%s -> exit %d: %s", cmd, WEXITSTATUS(st), out);
    return WEXITSTATUS(st);
}

/* Replaces the first occurrence of from in path with to. */
static void file_replace(const char *path, const char *from, const char *to)
{
    char *text = h_read_file(path, NULL);
    H_REQUIRE(text, "read %s", path);
    char *at = strstr(text, from);
    H_REQUIRE(at, "'%s' in %s", from, path);
    FILE *f = fopen(path, "w");
    H_REQUIRE(f, "write %s: %s", path, strerror(errno));
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    H_REQUIRE(fclose(f) == 0, "write %s", path);
    free(text);
}

static void broker_epoch(h_region *r, char out[32])
{
    json_t *h = h_broker_health(r);
    snprintf(out, 32, "%s", hc_str(h, "epoch"));
    json_decref(h);
}

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

static void referral_to(h_org *a, h_org *to, const char *reason, char id[64])
{
    char key[33];
    h_client_key(key);
    h_consent_ok(a, key, to->id);
    h_resp resp;
    long st = h_referral_create(a, key, to->id, NULL, reason, id, &resp);
    H_REQUIRE(st == 201 && id[0], "referral %s -> %s: HTTP %ld %s", a->id,
              to->id, st, hc_body(&resp));
    h_resp_free(&resp);
}

/* True when o holds referral id with this reason (its sealed text opened). */
static bool reason_is(h_org *o, const char *id, const char *reason)
{
    json_t *j = h_referral_get(o, id);
    bool same = j && strcmp(hc_str(j, "reason"), reason) == 0;
    if (!same)
        h_note("%s: referral %s has reason '%s', expected '%s'", o->id, id,
               j ? hc_str(j, "reason") : "(unreadable)", reason);
    json_decref(j);
    return same;
}

typedef struct steady {
    pid_t pids[4];
    char epoch[32], alert[128], since[64];
} steady;

static void steady_check(h_region *r, const steady *s, h_proc *const p[4],
                         const char *after)
{
    for (int i = 0; i < 4; i++)
        H_CHECK(p[i]->pid == s->pids[i] && p[i]->starts == 1 &&
                    kill(p[i]->pid, 0) == 0,
                "%s: %s still runs as pid %d, started once", after, p[i]->name,
                (int)s->pids[i]);
    char epoch[32], since[64];
    broker_epoch(r, epoch);
    alert_since(r, s->alert, since);
    H_CHECK(strcmp(epoch, s->epoch) == 0, "%s: epoch %s kept (now %s)", after,
            s->epoch, epoch);
    H_CHECK(strcmp(since, s->since) == 0, "%s: alert %s since %s (now '%s')",
            after, s->alert, s->since, since);
}

/* Writes a new key pair for o beside its key file; its config names the
 * new one as key_file and the old one as previous_key_file. */
static void agent_takes_new_key(h_org *o, polku_keypair *new_key)
{
    char new_file[600], from[600], line[1300];
    H_REQUIRE(polku_keypair_generate(new_key) == 0, "a new key pair");
    snprintf(new_file, sizeof new_file, "%s.new", o->key_file);
    H_REQUIRE(polku_keyfile_write(new_file, new_key) == 0, "write %s",
              new_file);
    snprintf(from, sizeof from, "key_file = %s\n", o->key_file);
    snprintf(line, sizeof line, "key_file = %s\nprevious_key_file = %s\n",
             new_file, o->key_file);
    file_replace(o->proc.config, from, line);
}

#define OLD_SEALED 20
#define NEW_SEALED 10
#define ROTATION_S 8

static void case_key_rotation(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "typ", "joint-service");
    h_region_write(r);
    h_broker_sla_all(r, NULL, "1s", NULL, NULL, NULL);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);
    hc_wait_replayed(r, H_SEC(15));
    h_proc *const procs[4] = {&r->broker, &a->proc, &b->proc, &c->proc};

    char unanswered[64], answered[64];
    referral_to(a, b, "an alert that keeps its age", unanswered);
    referral_to(a, b, "answered after the rotation", answered);
    h_wait_status(b, unanswered, "received", H_SEC(10));
    h_wait_status(b, answered, "received", H_SEC(10));
    steady s = {0};
    snprintf(s.alert, sizeof s.alert, "referral_not_answered:%s", unanswered);
    H_WAIT_UNTIL(H_SEC(10), (alert_since(r, s.alert, s.since), s.since[0]),
                 "alert %s", s.alert);
    broker_epoch(r, s.epoch);
    for (int i = 0; i < 4; i++)
        s.pids[i] = procs[i]->pid;

    /* (1) b's agent: the new key, the old one kept, a new rule */
    polku_keypair old_key = b->key, new_key;
    char from[600], line[1300];
    agent_takes_new_key(b, &new_key);
    hc_agent_config_append(b, "[rule onwards]\non = service_ended\n"
                              "offer_to = typ\n");
    int reconnects = log_count(&b->proc, "connecting again with key");
    H_REQUIRE(agent_hup(b), "%s reloads its keys and rules", b->id);
    H_CHECK(log_count(&b->proc, "reloaded ") == 1 &&
                log_count(&b->proc, "1 rules (were 0)") == 1,
            "%s took the new rule", b->id);
    snprintf(line, sizeof line, "key rotation: key %s, previous key %s",
             new_key.public_z85, old_key.public_z85);
    H_CHECK(log_count(&b->proc, line) == 1, "%s logs both keys", b->id);
    H_CHECK(log_count(&b->proc, "connecting again with key") == reconnects,
            "%s keeps its connection while the broker lists its old key",
            b->id);

    /* (2) b frozen; referrals sealed to its old key */
    H_REQUIRE(kill(b->proc.pid, SIGSTOP) == 0, "SIGSTOP %s", b->id);
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&r->broker, "tyokykytiimi: no traffic for") == 1,
                 "the broker to mark the frozen %s offline", b->id);
    char ids[OLD_SEALED + NEW_SEALED][64], reasons[OLD_SEALED + NEW_SEALED][64];
    for (int i = 0; i < OLD_SEALED; i++) {
        snprintf(reasons[i], sizeof reasons[i], "sealed to the old key #%d", i);
        referral_to(a, b, reasons[i], ids[i]);
    }
    H_WAIT_UNTIL(H_SEC(10), h_agent_outbox_pending(a) >= OLD_SEALED,
                 "%s's outbox to hold the referrals to the offline %s", a->id,
                 b->id);

    /* (3) the broker: the new key, the old one until the end time */
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + ROTATION_S * 1000, until, sizeof until);
    snprintf(from, sizeof from, "public_key = %s\n", old_key.public_z85);
    snprintf(line, sizeof line,
             "public_key = %s\nprevious_public_key = %s\n"
             "previous_key_until = %s\n",
             new_key.public_z85, old_key.public_z85, until);
    file_replace(r->broker.config, from, line);
    int dir_a = log_count(&a->proc, "directory updated by the broker");
    char out[2048];
    H_CHECK(broker_reload_cmd(r, out, sizeof out) == 0 &&
                strstr(out, "reloaded: 3 organisations (0 added, 0 removed, "
                            "1 keys changed)"),
            "polku-broker --reload says it reloaded with one key changed");
    H_CHECK(log_count(&r->broker, "tyokykytiimi: key rotation: new key") == 1,
            "the broker logs the rotation");
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&a->proc, "directory updated by the broker") > dir_a,
                 "%s to take the directory with %s's new key", a->id, b->id);
    for (int i = OLD_SEALED; i < OLD_SEALED + NEW_SEALED; i++) {
        snprintf(reasons[i], sizeof reasons[i], "sealed to the new key #%d", i);
        referral_to(a, b, reasons[i], ids[i]);
    }
    H_CHECK(log_count(&b->proc, "opened with our previous key") == 0,
            "nothing opened yet while %s is frozen", b->id);

    /* (4) b thaws: everything received and opened */
    H_REQUIRE(kill(b->proc.pid, SIGCONT) == 0, "SIGCONT %s", b->id);
    int opened = 0;
    for (int i = 0; i < OLD_SEALED + NEW_SEALED; i++) {
        h_wait_status(b, ids[i], "received", H_SEC(20));
        h_wait_status(a, ids[i], "received", H_SEC(10));
        opened += reason_is(b, ids[i], reasons[i]);
    }
    h_note("%d of %d referrals received by %s with their reasons opened",
           opened, OLD_SEALED + NEW_SEALED, b->id);
    H_CHECK(opened == OLD_SEALED + NEW_SEALED,
            "every referral's sealed reason opened at %s (%d of %d)", b->id,
            opened, OLD_SEALED + NEW_SEALED);
    H_CHECK(log_count(&b->proc, "could not be verified") == 0,
            "%s refused no sealed content", b->id);
    int with_old = log_count(&b->proc, "opened with our previous key");
    h_note("%s opened %d referrals with its previous key after it had "
           "switched to the new one",
           b->id, with_old);
    H_CHECK(with_old >= 1,
            "referrals sealed to the old key before the change were opened "
            "with %s's previous key after it",
            b->id);
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&b->proc, "connecting again with key") > reconnects,
                 "%s to connect again with its new key", b->id);
    h_wait_agent_connected(b, H_SEC(10));
    h_resp resp;
    long st = h_referral_set_status(b, answered, "rejected",
                                    "answered with the new key", NULL, &resp);
    H_CHECK(st == 200, "%s rejects: HTTP %ld %s", b->id, st, hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(a, answered, "rejected", H_SEC(10));
    json_t *ra = h_referral_get(a, answered);
    json_t *last =
        json_array_get(json_object_get(ra, "history"),
                       json_array_size(json_object_get(ra, "history")) - 1);
    H_CHECK(last && strcmp(hc_str(last, "reason"),
                           "answered with the new key") == 0,
            "%s opens the reason %s sealed with its new key", a->id, b->id);
    json_decref(ra);
    steady_check(r, &s, procs, "during the rotation");

    /* (5) the end time: the old key dropped; a connection made with it
     * before (it says nothing until then: b's agent holds the session) is
     * refused from its next frame */
    h_raw *stale = h_raw_new(r, &old_key);
    int value = 0;
    H_CHECK(h_raw_wait_event(
                stale,
                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
                H_SEC(10), &value) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
            "before the end time %s's old key is let in", b->id);
    H_WAIT_UNTIL(H_SEC(ROTATION_S + 5),
                 log_count(&r->broker, "tyokykytiimi: previous key") == 1,
                 "the broker to drop %s's previous key", b->id);
    H_CHECK(!zap_lets_in(r, &old_key), "%s's old key is refused", b->id);
    H_CHECK(zap_lets_in(r, &new_key), "%s's new key is let in", b->id);
    h_env hb;
    h_env_init(&hb, b->id, 0, NULL);
    Polku__Heartbeat beat = POLKU__HEARTBEAT__INIT;
    hb.env.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    hb.env.heartbeat = &beat;
    char why[256] = "";
    H_CHECK(h_raw_send_env(stale, &hb.env) == 0 &&
                h_raw_wait_nack(stale, POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED,
                                H_SEC(10), why, sizeof why) &&
                strstr(why, "retired"),
            "a connection made with the old key is refused after the end "
            "time (Nack: %s)",
            why);
    h_raw_destroy(&stale);
    H_CHECK(h_broker_lists_connected(r, b->id),
            "%s's agent, on its new key, stays connected", b->id);

    /* (6) an invalid file: --reload and POST /api/v1/reload say where */
    h_broker_config_append(r, "[org Not-An-Id]\npublic_key = x\n");
    char *text = h_read_file(r->broker.config, NULL);
    int nl = 0;
    for (const char *p = text; p && *p; p++)
        nl += *p == '\n';
    free(text);
    char where[600];
    snprintf(where, sizeof where, "%s:%d:", r->broker.config, nl - 1);
    H_CHECK(broker_reload_cmd(r, out, sizeof out) == 2 && strstr(out, where),
            "--reload exits 2 naming %s", where);
    H_CHECK(h_broker_metric(
                r, "polku_broker_reloads_total{result=\"refused\"}") == 0,
            "--reload checked the file before asking the broker");
    st = h_http_request(r->broker_http, "POST", "/api/v1/reload", NULL, NULL, 0,
                        &resp);
    H_CHECK(st == 415,
            "a reload without Content-Type application/json (what a "
            "cross-site form sends) is refused: HTTP %ld",
            st);
    h_resp_free(&resp);
    st = h_http_request(r->broker_http, "POST", "/api/v1/reload", NULL, "{}", 2,
                        &resp);
    H_CHECK(st == 422 &&
                strcmp(h_resp_error_code(&resp), "config_refused") == 0 &&
                strstr(hc_body(&resp), where),
            "POST /api/v1/reload answers 422 naming %s: HTTP %ld %s", where, st,
            hc_body(&resp));
    h_resp_free(&resp);
    H_CHECK(h_broker_metric(
                r, "polku_broker_reloads_total{result=\"refused\"}") == 1 &&
                h_broker_metric(
                    r, "polku_broker_reloads_total{result=\"done\"}") == 1,
            "/metrics: one reload done, one refused by the broker");
    file_replace(r->broker.config, "[org Not-An-Id]\npublic_key = x\n", "");
    st = h_http_request(r->broker_http, "POST", "/api/v1/reload", NULL, "{}", 2,
                        &resp);
    H_CHECK(st == 200 && json_is_true(json_object_get(resp.json, "reloaded")) &&
                strstr(hc_str(resp.json, "message"), "3 organisations"),
            "the fixed file reloads: HTTP %ld %s", st, hc_body(&resp));
    h_resp_free(&resp);
    char after[64];
    referral_to(a, b, "after the refused reload", after);
    h_wait_status(b, after, "received", H_SEC(10));
    H_CHECK(reason_is(b, after, "after the refused reload"),
            "%s still opens what %s sends", b->id, a->id);
    steady_check(r, &s, procs, "after the rotation");
}

/* The broker lists o's new key (and the old one for an hour). */
static void broker_takes_new_key(h_region *r, const polku_keypair *old_key,
                                 const polku_keypair *new_key)
{
    char until[POLKU_TIME_TEXT], from[600], line[1300];
    polku_time_format(polku_now_ms() + 3600000, until, sizeof until);
    snprintf(from, sizeof from, "public_key = %s\n", old_key->public_z85);
    snprintf(line, sizeof line,
             "public_key = %s\nprevious_public_key = %s\n"
             "previous_key_until = %s\n",
             new_key->public_z85, old_key->public_z85, until);
    file_replace(r->broker.config, from, line);
    char out[2048];
    H_REQUIRE(broker_reload_cmd(r, out, sizeof out) == 0,
              "the broker reloads: %s", out);
}

/* The steps in the wrong order: the broker lists b's new key before b's
 * agent holds it. What a seals to the new key meanwhile is not refused at
 * b (which would fail the referral for good) but left unacknowledged; it
 * comes again and is opened once b's agent has reloaded its keys. */
static void case_broker_first(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_region_write(r);
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    hc_wait_replayed(r, H_SEC(15));
    pid_t pid_a = a->proc.pid, pid_b = b->proc.pid;

    polku_keypair old_key = b->key, new_key;
    agent_takes_new_key(b, &new_key); /* written, not yet reloaded */
    int dir_a = log_count(&a->proc, "directory updated by the broker");
    broker_takes_new_key(r, &old_key, &new_key);
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&a->proc, "directory updated by the broker") > dir_a,
                 "%s to take the directory with %s's new key", a->id, b->id);
    char id[64];
    referral_to(a, b, "sealed to a key b does not hold yet", id);
    H_WAIT_UNTIL(H_SEC(10),
                 log_count(&b->proc, "which this agent does not hold") >= 1,
                 "%s to hold the referral back", b->id);
    char st[32];
    H_CHECK(strcmp(h_referral_status(b, id, st, sizeof st), "") == 0 &&
                h_agent_outbox_pending(a) >= 1,
            "not applied at %s, still in %s's outbox", b->id, a->id);
    H_CHECK(log_count(&b->proc, "could not be verified") == 0,
            "nothing refused for good at %s", b->id);

    H_REQUIRE(agent_hup(b), "%s reloads its keys", b->id);
    h_wait_status(b, id, "received", H_SEC(20));
    h_wait_status(a, id, "received", H_SEC(10));
    H_CHECK(reason_is(b, id, "sealed to a key b does not hold yet"),
            "the held-back referral's reason opened at %s", b->id);
    H_CHECK(a->proc.pid == pid_a && b->proc.pid == pid_b &&
                a->proc.starts == 1 && b->proc.starts == 1,
            "no agent restarted");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_rotate");
    H_CASE(case_key_rotation);
    H_CASE(case_broker_first);
    return h_finish();
}
