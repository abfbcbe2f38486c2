/* it_restore — an agent's store restored from an older copy loses nothing
 * that others hold and reuses no sequence (issue: a store that goes back
 * in time).
 *
 * sote-keskus sends referrals to typ; a backup is taken while it runs
 * (polku-agent --backup); more referrals follow and are received; then
 * sote-keskus is killed with SIGKILL and its store restored from the copy
 * (polku-agent --restore), which starts a new incarnation. On its first
 * Hello the broker, which has seen the newer events, says how far
 * (Welcome.known_seq) and raises store_regressed; the agent marks the
 * sequences its store lost (SeqLost) and continues after them. Referrals
 * made after the restore must then reach typ exactly once — before this,
 * they took the lost sequences again and typ dropped them as duplicates,
 * silently — and the alert must clear once the log is in step. The broker
 * and typ stay up throughout. The same after a VM-style snapshot restore
 * (the store directory copied while the agent runs, put back later: no
 * command at all). Behind a restarted broker (which has no memory of the
 * lost sequences) the reuse is caught by the receiver as a conflict, which
 * it answers, and the sender repairs its log (docs/operations.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_coord.h"

enum { CLIENTS = 4, EACH = 5 };

static void create(h_org *a, h_org *b, char keys[][33], h_ids *sent,
                   const char *why)
{
    for (int i = 0; i < EACH; i++) {
        char id[64];
        h_resp resp;
        long st = h_referral_create(a, keys[i % CLIENTS], b->id, NULL, why, id,
                                    &resp);
        H_REQUIRE(st == 201, "referral %d (%s) at %s: HTTP %ld %s", i + 1, why,
                  a->id, st, resp.body ? resp.body : resp.err);
        h_resp_free(&resp);
        h_ids_add(sent, id);
    }
}

static void wait_received(h_org *a, const h_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        h_wait_status(a, ids->v[i], "received", H_SEC(20));
}

static int agent_tool(h_org *o, const char *option, const char *dir,
                      const char *out)
{
    char *argv[] = {(char *)POLKU_AGENT_BIN,
                    (char *)option,
                    (char *)dir,
                    "--config",
                    o->proc.config,
                    NULL};
    return h_run_program(argv, out, H_SEC(30));
}

/* polku-agent --backup of o's store into r's dir/backup-ID while it runs
 * (dir: the copy's path); its output in out. */
static void take_backup(h_region *r, h_org *o, char dir[600], char out[600])
{
    snprintf(dir, 600, "%s/backup-%s", r->dir, o->id);
    snprintf(out, 600, "%s/backup-%s.out", r->dir, o->id);
    H_REQUIRE(agent_tool(o, "--backup", dir, out) == 0,
              "polku-agent --backup of %s exits 0 while it runs (see %s)",
              o->id, out);
}

/* polku-agent --restore of o's (stopped) store from dir; output in out. */
static void restore_from(h_region *r, h_org *o, const char *dir, char out[600])
{
    snprintf(out, 600, "%s/restore-%s.out", r->dir, o->id);
    H_REQUIRE(agent_tool(o, "--restore", dir, out) == 0,
              "polku-agent --restore of %s exits 0 (see %s)", o->id, out);
}

/* The store_regressed alert of org as /api/v1/alerts lists it now (a new
 * reference), or NULL. */
static json_t *regression_alert(h_region *r, const char *org)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL,
                             NULL, 0, &resp);
    json_t *found = NULL, *list = json_object_get(resp.json, "alerts");
    for (size_t i = 0; st == 200 && i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        if (strcmp(hc_str(a, "kind"), "store_regressed") == 0 &&
            strcmp(hc_str(a, "org"), org) == 0)
            found = json_incref(a);
    }
    h_resp_free(&resp);
    return found;
}

static bool regression_listed(h_region *r, const char *org)
{
    json_t *alert = regression_alert(r, org);
    json_decref(alert);
    return alert != NULL;
}

/* An agent writes a log line about a change once the change is durable
 * (batch_after_log), a loop turn or two after the metric that counts it:
 * tests wait for such lines. */
static bool file_contains(const char *path, const char *text)
{
    size_t len = 0;
    char *data = h_read_file(path, &len);
    bool found = data && h_mem_contains(data, len, text, strlen(text));
    free(data);
    return found;
}

/* receiver holds every referral of groups, each exactly once, and
 * nothing else: none was taken for a duplicate of another. */
static void held_once(h_org *receiver, const h_ids *const groups[], int n)
{
    long want = 0;
    for (int g = 0; g < n; g++)
        want += (long)groups[g]->n;
    h_ids held = {0};
    long count = h_referral_list(receiver, "in", NULL, &held);
    H_CHECK(count == want, "%s lists %ld referrals, want %ld", receiver->id,
            count, want);
    H_CHECK(h_ids_duplicates(&held) == 0, "no referral is listed twice");
    for (int g = 0; g < n; g++)
        for (size_t i = 0; i < groups[g]->n; i++)
            H_CHECK(h_ids_contains(&held, groups[g]->v[i]),
                    "%s holds %s (group %d)", receiver->id, groups[g]->v[i], g);
    h_ids_free(&held);
}

static void wait_drained(h_org *o)
{
    long pending = -1;
    H_WAIT_UNTIL(H_SEC(20), (pending = h_agent_outbox_pending(o)) == 0,
                 "%s's outbox to drain (now %ld)", o->id, pending);
}

/* polku reconcile at o into listing; its exit code. */
static int reconcile(h_org *o, char *listing, size_t len)
{
    const char *const args[] = {"reconcile", NULL};
    return h_cli(o, listing, len, args);
}

/* sote-keskus and typ, connected, with CLIENTS clients who consented to
 * referrals between them. */
static h_region *region(h_org **a, h_org **b, char keys[][33])
{
    h_region *r = h_region_new();
    *a = h_region_add_org(r, "sote-keskus", "coordination");
    *b = h_region_add_org(r, "typ", "joint-service");
    h_broker_start(r);
    h_agent_start_connected(*a);
    h_agent_start_connected(*b);
    for (int i = 0; i < CLIENTS; i++) {
        h_client_key(keys[i]);
        h_consent_ok(*a, keys[i], (*b)->id);
    }
    return r;
}

static void restore_with_broker_and_receiver_up(void)
{
    h_org *a, *b;
    char keys[CLIENTS][33];
    h_region *r = region(&a, &b, keys);
    h_ids before = {0}, lost = {0}, after = {0};
    create(a, b, keys, &before, "before the backup");
    wait_received(a, &before);

    char backup[600], out[600];
    take_backup(r, a, backup, out);
    json_t *h = h_agent_health(a);
    long seq_at_backup =
        (long)json_integer_value(json_object_get(h, "last_seq"));
    char incarnation_before[17];
    snprintf(incarnation_before, sizeof incarnation_before, "%s",
             hc_str(h, "incarnation"));
    json_decref(h);

    create(a, b, keys, &lost, "after the backup, lost with the disk");
    wait_received(a, &lost);
    h_agent_kill(a);

    restore_from(r, a, backup, out);
    H_CHECK(file_contains(out, "new incarnation"),
            "--restore says it started a new incarnation");
    h_agent_start_connected(a);
    h = h_agent_health(a);
    H_CHECK(strcmp(hc_str(h, "incarnation"), incarnation_before) != 0,
            "the restored store has a new incarnation (was %s, now %s)",
            incarnation_before, hc_str(h, "incarnation"));
    json_decref(h);

    /* the broker had seen the lost events: it says so, as an alert */
    json_t *alert = NULL;
    H_WAIT_UNTIL(H_SEC(10), (alert = regression_alert(r, a->id)) != NULL,
                 "a store_regressed alert for %s", a->id);
    char want[64];
    snprintf(want, sizeof want, "seq %ld < ", seq_at_backup);
    H_CHECK(strncmp(hc_str(alert, "detail"), want, strlen(want)) == 0,
            "the alert names both sequences: '%s' (want '%s<known>')",
            hc_str(alert, "detail"), want);
    json_decref(alert);
    H_CHECK(h_broker_metric(r, "polku_broker_store_regressions_total") >= 1,
            "the broker counts the regression");
    H_WAIT_UNTIL(H_SEC(10), file_contains(a->proc.log, "are not in this store"),
                 "%s's log tells the operator which sequences it lost", a->id);

    create(a, b, keys, &after, "after the restore");
    wait_received(a, &after);
    H_WAIT_UNTIL(H_SEC(10), !regression_listed(r, a->id),
                 "the store_regressed alert of %s to clear", a->id);

    /* typ holds every referral exactly once: none made after the restore
     * was taken for a duplicate of a lost one */
    held_once(b, (const h_ids *const[]){&before, &lost, &after}, 3);
    /* the restored sender knows what it kept and what it made since */
    long at_a = h_referral_list(a, "out", NULL, NULL);
    H_CHECK(at_a == 2 * EACH, "%s lists %ld outgoing referrals, want %d", a->id,
            at_a, 2 * EACH);
    /* typ answers a referral sote-keskus made in the lost time: its answer
     * names a referral sote-keskus no longer holds, which it lists for the
     * operator beside the repair of its log */
    h_resp resp;
    long st =
        h_referral_set_status(b, lost.v[0], "accepted", NULL, NULL, &resp);
    H_CHECK(st == 200, "%s accepts %s: HTTP %ld", b->id, lost.v[0], st);
    h_resp_free(&resp);
    char listing[8192] = "";
    int rc = -1;
    H_WAIT_UNTIL(H_SEC(10),
                 (rc = reconcile(a, listing, sizeof listing),
                  strstr(listing, lost.v[0]) != NULL),
                 "polku reconcile at %s to list %s (exit %d): %s", a->id,
                 lost.v[0], rc, listing);
    H_CHECK(rc == 3, "polku reconcile exits 3 with something to settle: %d",
            rc);
    char seqs[96];
    snprintf(seqs, sizeof seqs, "seqs %ld..", seq_at_backup + 1);
    H_CHECK(strstr(listing, "log repaired (told by broker)") &&
                strstr(listing, seqs),
            "the listing names the repair and the lost sequences from %ld: %s",
            seq_at_backup + 1, listing);
    H_CHECK(strstr(listing, "not held here; typ wrote about it"),
            "the listing says typ holds the referral: %s", listing);
    wait_drained(a);
    h_ids_free(&before);
    h_ids_free(&lost);
    h_ids_free(&after);
}

/* The broker (and the receiver) restarted while the store was away: the
 * broker has no memory of the lost sequences, and the restored agent
 * writes referrals before it has even said Hello: it reuses sequences typ
 * holds other events at, and no broker can tell it. typ can: it holds another
 * event at that sequence (a receipt with another message id), so it applies
 * nothing, acks nothing, and answers how far it holds sote-keskus's log
 * (SeqConflict). sote-keskus then continues after that in a new incarnation and
 * sends what was pending again at new sequences; the broker raises
 * store_regressed on the answer and clears it when the log is past. Every
 * referral made after the restore reaches typ exactly once. */
static void restore_behind_a_restarted_broker_repairs_itself(void)
{
    h_org *a, *b;
    char keys[CLIENTS][33];
    h_region *r = region(&a, &b, keys);
    h_ids before = {0}, lost = {0}, offline = {0}, after = {0};
    create(a, b, keys, &before, "before the backup");
    wait_received(a, &before);
    char backup[600], out[600];
    take_backup(r, a, backup, out);
    create(a, b, keys, &lost, "after the backup");
    wait_received(a, &lost);
    h_agent_kill(a);
    h_agent_kill(b); /* the receiver restarts too */
    h_broker_kill(r);
    restore_from(r, a, backup, out);
    h_agent_start(a); /* no broker: what it writes waits in its outbox */
    create(a, b, keys, &offline, "after the restore, before any Hello");
    h_broker_start(r);
    h_agent_start(b);
    h_wait_agent_connected(a, H_SEC(20));
    h_wait_agent_connected(b, H_SEC(20));

    H_WAIT_UNTIL(H_SEC(20),
                 h_agent_metric(b, "polku_agent_sequence_conflicts_total") >= 1,
                 "%s to see a sequence conflict", b->id);
    H_WAIT_UNTIL(H_SEC(10), file_contains(b->proc.log, "has gone back in time"),
                 "%s's log says the sender's store went back in time", b->id);
    H_WAIT_UNTIL(H_SEC(20),
                 h_agent_metric(a, "polku_agent_log_repairs_total") >= 1,
                 "%s to repair its log", a->id);
    H_WAIT_UNTIL(H_SEC(10),
                 file_contains(a->proc.log, "sent again at new sequences"),
                 "%s's log tells the operator what it sent again", a->id);
    H_CHECK(h_broker_metric(r, "polku_broker_sequence_conflicts_total") >= 1,
            "the broker counts the conflict it passed on");
    H_CHECK(h_broker_metric(r, "polku_broker_store_regressions_total") >= 1,
            "the broker counts the regression");
    /* the operator is shown the repair and who told of it */
    char listing[8192] = "";
    int rc = reconcile(a, listing, sizeof listing);
    H_CHECK(rc == 3 && strstr(listing, "log repaired (told by typ)"),
            "polku reconcile at %s lists the repair typ told of (exit %d): "
            "%s",
            a->id, rc, listing);
    wait_received(a, &offline);
    create(a, b, keys, &after, "after the repair");
    wait_received(a, &after);
    H_WAIT_UNTIL(H_SEC(10), !regression_listed(r, a->id),
                 "the store_regressed alert of %s to clear", a->id);

    held_once(b, (const h_ids *const[]){&before, &lost, &offline, &after}, 4);
    wait_drained(a);
    h_ids_free(&before);
    h_ids_free(&lost);
    h_ids_free(&offline);
    h_ids_free(&after);
}

/* The receiver's store goes back in time: typ is restored from a copy
 * taken before sote-keskus sent it more referrals, which typ had received
 * and acknowledged (sote-keskus's outbox forgot them). On its first
 * Welcome typ learns its log is behind (it had sent `received` for each),
 * repairs it, and asks sote-keskus for everything it addressed to typ
 * after the last typ still holds (ResendRequested): every referral comes
 * back, once, and typ's own answers go on from there. */
static void a_restored_receiver_gets_back_what_was_sent(void)
{
    h_org *a, *b;
    char keys[CLIENTS][33];
    h_region *r = region(&a, &b, keys);
    h_ids before = {0}, lost = {0}, after = {0};
    create(a, b, keys, &before, "before typ's backup");
    wait_received(a, &before);
    char backup[600], out[600];
    take_backup(r, b, backup, out);
    create(a, b, keys, &lost, "received by typ after its backup");
    wait_received(a, &lost);
    wait_drained(a);
    h_agent_kill(b);
    restore_from(r, b, backup, out);
    h_agent_start_connected(b);

    h_ids at_b = {0};
    long count = 0;
    H_WAIT_UNTIL(H_SEC(20),
                 (h_ids_free(&at_b),
                  (count = h_referral_list(b, "in", NULL, &at_b)) == 2 * EACH),
                 "%s to hold every referral again (%ld of %d)", b->id, count,
                 2 * EACH);
    H_CHECK(h_ids_duplicates(&at_b) == 0, "no referral is listed twice");
    for (size_t i = 0; i < lost.n; i++)
        H_CHECK(h_ids_contains(&at_b, lost.v[i]), "%s got %s back from %s",
                b->id, lost.v[i], a->id);
    H_WAIT_UNTIL(
        H_SEC(10),
        file_contains(a->proc.log, "asks again for what was sent to it"),
        "%s's log says what it sent again and why", a->id);
    create(a, b, keys, &after, "after typ's restore");
    wait_received(a, &after);
    h_resp resp;
    long st =
        h_referral_set_status(b, lost.v[0], "accepted", NULL, NULL, &resp);
    H_CHECK(st == 200, "%s accepts %s, got back: HTTP %ld %s", b->id, lost.v[0],
            st, resp.body ? resp.body : resp.err);
    h_resp_free(&resp);
    h_wait_status(a, lost.v[0], "accepted", H_SEC(20));
    H_WAIT_UNTIL(H_SEC(10), !regression_listed(r, b->id),
                 "the store_regressed alert of %s to clear", b->id);
    h_ids_free(&at_b);
    h_ids_free(&before);
    h_ids_free(&lost);
    h_ids_free(&after);
}

/* A VM snapshot restore: the store directory is copied while the agent
 * runs (idle, as a snapshot would catch it) and put back later as it was,
 * without --restore and without telling anybody. The agent finds out on
 * its first Hello, starts a new incarnation, continues after what the
 * broker saw, and what it sends is received exactly once. */
static void snapshot_restore_needs_nothing(void)
{
    h_org *a, *b;
    char keys[CLIENTS][33];
    h_region *r = region(&a, &b, keys);
    h_ids before = {0}, lost = {0}, after = {0};
    create(a, b, keys, &before, "before the snapshot");
    wait_received(a, &before);
    wait_drained(a); /* idle, as a snapshot would catch it */
    char data[600], snapshot[600];
    snprintf(data, sizeof data, "%s/data.mdb", a->store);
    snprintf(snapshot, sizeof snapshot, "%s/snapshot-a.mdb", r->dir);
    h_copy_file(data, snapshot);
    json_t *h = h_agent_health(a);
    char incarnation[17];
    snprintf(incarnation, sizeof incarnation, "%s", hc_str(h, "incarnation"));
    json_decref(h);

    create(a, b, keys, &lost, "after the snapshot");
    wait_received(a, &lost);
    h_agent_kill(a);
    h_copy_file(snapshot, data); /* the VM comes back from its snapshot */
    h_agent_start_connected(a);

    H_WAIT_UNTIL(H_SEC(10),
                 h_broker_metric(r, "polku_broker_store_regressions_total") >=
                     1,
                 "the broker to see %s's store gone back", a->id);
    create(a, b, keys, &after, "after the snapshot restore");
    wait_received(a, &after);
    H_WAIT_UNTIL(H_SEC(10), !regression_listed(r, a->id),
                 "the store_regressed alert of %s to clear", a->id);
    char listing[8192] = "";
    int rc = reconcile(a, listing, sizeof listing);
    H_CHECK(rc == 3 && strstr(listing, "log repaired (told by broker)"),
            "polku reconcile lists the repair after the snapshot (exit %d): "
            "%s",
            rc, listing);
    h = h_agent_health(a);
    H_CHECK(strcmp(hc_str(h, "incarnation"), incarnation) != 0,
            "the agent began a new incarnation by itself (was %s, now %s)",
            incarnation, hc_str(h, "incarnation"));
    json_decref(h);
    held_once(b, (const h_ids *const[]){&before, &lost, &after}, 3);
    H_CHECK(h_agent_metric(b, "polku_agent_sequence_conflicts_total") == 0,
            "%s saw no reused sequence", b->id);
    h_ids_free(&before);
    h_ids_free(&lost);
    h_ids_free(&after);
}

/* --restore refuses a copy that is not there, and a backup will not write
 * into a directory that already holds something. */
static void bad_directories(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_region_write(r);
    char dir[600], out[600];
    snprintf(dir, sizeof dir, "%s/no-such-backup", r->dir);
    snprintf(out, sizeof out, "%s/restore.out", r->dir);
    H_CHECK(agent_tool(a, "--restore", dir, out) == 1,
            "--restore from a missing copy exits 1");
    H_CHECK(file_contains(out, "restore failed"), "and says so");
    snprintf(out, sizeof out, "%s/backup.out", r->dir);
    H_CHECK(agent_tool(a, "--backup", r->dir, out) != 0,
            "--backup into a directory that holds files fails");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_restore");
    h_run_case("restore_with_broker_and_receiver_up",
               restore_with_broker_and_receiver_up);
    h_run_case("restore_behind_a_restarted_broker_repairs_itself",
               restore_behind_a_restarted_broker_repairs_itself);
    h_run_case("a_restored_receiver_gets_back_what_was_sent",
               a_restored_receiver_gets_back_what_was_sent);
    h_run_case("snapshot_restore_needs_nothing",
               snapshot_restore_needs_nothing);
    h_run_case("bad_directories", bad_directories);
    return h_finish();
}
