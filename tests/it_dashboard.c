/* it_dashboard — the broker's dashboard in a real browser (issue 5, must
 * show 5).
 *
 * A region with short SLAs (referral_receipt = 2s): a broker and two agents,
 * a consent of the client between them; then the receiving agent is
 * stopped, so a referral to it stays `requested` and its receipt SLA runs
 * out. tests/browser/dashboard.mjs (node + playwright-core + Debian's
 * headless Chromium) opens the broker's dashboard, creates the referral
 * through the sending agent's API, sees its row appear live (a feed event,
 * no reload) and then turn overdue, checks the page text holds no identity
 * code and saves a screenshot in the build folder (dashboard.png).
 *
 * node, Chromium and playwright-core are installed by scripts/bootstrap;
 * when one is missing this test fails (it never skips). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_browser.h"
#include "harness_feed.h"

#ifndef POLKU_SOURCE_DIR
#error "POLKU_SOURCE_DIR must name the source tree"
#endif
#ifndef POLKU_DASHBOARD_PNG
#error "POLKU_DASHBOARD_PNG must name the screenshot file"
#endif

#define SLA_RECEIPT "2s"
#define SLA_RECEIPT_MS 2000

static bool broker_replayed(h_region *r, const char *org)
{
    json_t *h = h_broker_health(r);
    bool found = false;
    json_t *list = json_object_get(h, "replayed");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = json_string_value(json_array_get(list, i));
        found |= s && strcmp(s, org) == 0;
    }
    json_decref(h);
    return found;
}

static void print_file(const char *title, const char *path)
{
    char *text = h_read_file(path, NULL);
    printf("   --- %s (%s) ---\n%s   --- end ---\n", title, path,
           text ? text : "(unreadable)\n");
    fflush(stdout);
    free(text);
}

static void case_referral_appears_live_and_turns_overdue(void)
{
    char node[1024];
    h_require_browser_tools(POLKU_SOURCE_DIR, node, sizeof node);

    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_region_write(r);
    /* Only the receipt SLA is short: the referral is overdue because it is
     * never received, nothing else runs out during the test. */
    h_broker_sla(r, SLA_RECEIPT, "1h", "1h", "1h");

    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    H_WAIT_UNTIL(H_SEC(15),
                 broker_replayed(r, a->id) && broker_replayed(r, b->id),
                 "the broker to list %s and %s as replayed", a->id, b->id);

    char key[33], display[33], cid[64] = "";
    h_client_key(key);
    h_display_name(r, key, display); /* what the dashboard must show */
    const char *const orgs[] = {b->id, NULL};
    h_resp resp;
    long st = h_consent_grant(a, key, orgs, NULL, cid, &resp);
    H_REQUIRE(st == 201 && cid[0], "consent at %s: HTTP %ld %s %s", a->id, st,
              resp.body ? resp.body : "", resp.err);
    h_resp_free(&resp);
    H_WAIT_UNTIL(H_SEC(15), h_consent_state_is(b, key, cid, "active"),
                 "%s to hold consent %s as active", b->id, cid);

    /* The receiver goes away: the referral cannot be received in time. */
    int rc = h_agent_stop(b);
    H_CHECK(rc == 0, "agent %s stopped with %d", b->id, rc);

    const char *png = POLKU_DASHBOARD_PNG;
    if (unlink(png) != 0 && errno != ENOENT)
        H_FAIL("cannot remove the old %s: %s", png, strerror(errno));

    char script[1024], dash[128], timeout[32], sla[32], out[600];
    snprintf(script, sizeof script, "%s/tests/browser/dashboard.mjs",
             POLKU_SOURCE_DIR);
    snprintf(dash, sizeof dash, "%s/", r->broker_url);
    uint64_t budget = H_SEC(60);
    snprintf(timeout, sizeof timeout, "%llu", (unsigned long long)budget);
    snprintf(sla, sizeof sla, "%d", SLA_RECEIPT_MS);
    snprintf(out, sizeof out, "%s/dashboard-node.log", r->dir);
    char *const argv[] = {node,
                          script,
                          "--dashboard",
                          dash,
                          "--agent",
                          a->url,
                          "--token-file",
                          a->token_file,
                          "--to",
                          b->id,
                          "--client",
                          key,
                          "--display",
                          display,
                          "--sla-ms",
                          sla,
                          "--screenshot",
                          (char *)png,
                          "--timeout-ms",
                          timeout,
                          NULL};
    h_note("running %s %s against %s (screenshot %s)", node, script, dash, png);
    rc = h_run_program(argv, out, budget + H_SEC(30));
    print_file("browser test output", out);
    H_REQUIRE(rc == 0, "the browser test exited with %d (its output above)",
              rc);

    struct stat sb;
    H_REQUIRE(stat(png, &sb) == 0, "no screenshot at %s: %s", png,
              strerror(errno));
    H_REQUIRE(sb.st_size > 0, "the screenshot %s is empty", png);
    h_note("screenshot %s: %lld bytes", png, (long long)sb.st_size);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_dashboard");
    H_CASE(case_referral_appears_live_and_turns_overdue);
    return h_finish();
}
