/* it_dashboard_region — the dashboard and the report page in a real
 * browser over a region with thousands of referrals (issue 19).
 *
 * Five organisations; each client's consent reaches all five, then the
 * fifth agent stops, so referrals to it are never received and run out of
 * their 3 s receipt SLA; rejections nobody follows up within 3 s.
 * tests/browser/region.mjs (node + playwright-core + Debian's headless
 * Chromium) seeds 2 000 referrals, answers part of them and leaves
 * handovers open through the agents' APIs; then, in Finnish, Swedish and
 * English, it loads the dashboard (interactive in under 2 s), filters by
 * organisation, opens a client's path from an alert, reads a chart's
 * figures on the report page against the report API, and saves
 * screenshots of both pages in the build folder.
 *
 * node, Chromium and playwright-core are installed by scripts/bootstrap;
 * when one is missing this test fails (it never skips). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_browser.h"
#include "harness_coord.h"
#include "harness_feed.h"

#ifndef POLKU_SOURCE_DIR
#error "POLKU_SOURCE_DIR must name the source tree"
#endif
#ifndef POLKU_BUILD_DIR
#error "POLKU_BUILD_DIR must name the build folder (screenshots)"
#endif

/* Runs one phase of tests/browser/region.mjs and prints its output. */
static int run_node(char *node, h_region *r, const char *phase, char *agents,
                    const char *down)
{
    char script[1024], dash[128], out[600], state[600];
    snprintf(script, sizeof script, "%s/tests/browser/region.mjs",
             POLKU_SOURCE_DIR);
    snprintf(dash, sizeof dash, "%s/", r->broker_url);
    snprintf(out, sizeof out, "%s/region-%s.log", r->dir, phase);
    snprintf(state, sizeof state, "%s/region-clients.json", r->dir);
    /* the volume in the plain build; under the sanitizers (every
     * process several times slower) a third of it, and the load budget
     * scaled like every other deadline */
    char referrals[16], clients[16], handovers[16], budget[16];
    snprintf(referrals, sizeof referrals, "%u", 2000 / h_scale());
    snprintf(clients, sizeof clients, "%u", 500 / h_scale());
    snprintf(handovers, sizeof handovers, "%u", 40 / h_scale());
    snprintf(budget, sizeof budget, "%u", 2000 * h_scale());
    char *const argv[] = {node,
                          script,
                          "--phase",
                          (char *)phase,
                          "--state",
                          state,
                          "--dashboard",
                          dash,
                          "--agents",
                          agents,
                          "--down",
                          (char *)down,
                          "--out",
                          POLKU_BUILD_DIR,
                          "--source",
                          POLKU_SOURCE_DIR,
                          "--referrals",
                          referrals,
                          "--clients",
                          clients,
                          "--handovers",
                          handovers,
                          "--load-budget-ms",
                          budget,
                          NULL};
    h_note("running %s --phase %s against %s", script, phase, dash);
    int rc = h_run_program(argv, out, H_SEC(280));
    char *text = h_read_file(out, NULL);
    printf("   --- browser test output, phase %s (%s) ---\n%s   --- end ---\n",
           phase, out, text ? text : "(unreadable)\n");
    fflush(stdout);
    free(text);
    return rc;
}

static void case_region_in_three_languages(void)
{
    char node[1024];
    h_require_browser_tools(POLKU_SOURCE_DIR, node, sizeof node);

    h_region *r = h_region_new();
    h_org *orgs[5] = {
        h_region_add_org(r, "sote-keskus",
                         "work-ability-coordination, social-work"),
        h_region_add_org(r, "tyokykytiimi", "work-ability-assessment"),
        h_region_add_org(r, "kela", "vocational-rehab, benefits"),
        h_region_add_org(r, "typ", "joint-service"),
        h_region_add_org(r, "tyollisyys", "employment-services"),
    };
    h_region_write(r);
    h_broker_sla(r, "3s", "30d", "3s", "30d");
    h_broker_start(r);
    for (int i = 0; i < 5; i++)
        h_agent_start_connected(orgs[i]);
    hc_wait_replayed(r, H_SEC(30));

    char agents[4096] = "";
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += (size_t)snprintf(agents + n, sizeof agents - n, "%s%s=%s=%s",
                              i ? "," : "", orgs[i]->id, orgs[i]->url,
                              orgs[i]->token_file);
    H_REQUIRE(n < sizeof agents, "agent list too long");

    const char *shots[] = {"dashboard-region-fi.png", "report-fi.png",
                           "dashboard-region-sv.png", "report-sv.png",
                           "dashboard-region-en.png", "report-en.png"};
    const size_t nshots = sizeof shots / sizeof shots[0];
    char png[1200];
    for (size_t i = 0; i < nshots; i++) { /* no old screenshot passes */
        snprintf(png, sizeof png, "%s/%s", POLKU_BUILD_DIR, shots[i]);
        if (unlink(png) != 0 && errno != ENOENT)
            H_FAIL("cannot remove the old %s: %s", png, strerror(errno));
    }

    /* the consents reach all five; then tyollisyys goes down */
    int rc = run_node(node, r, "consents", agents, orgs[4]->id);
    H_REQUIRE(rc == 0, "the consent phase exited with %d (its output above)",
              rc);
    rc = h_agent_stop(orgs[4]);
    H_CHECK(rc == 0, "agent %s stopped with %d", orgs[4]->id, rc);
    rc = run_node(node, r, "rest", agents, orgs[4]->id);
    H_REQUIRE(rc == 0, "the browser test exited with %d (its output above)",
              rc);
    for (size_t i = 0; i < nshots; i++) {
        snprintf(png, sizeof png, "%s/%s", POLKU_BUILD_DIR, shots[i]);
        H_CHECK(access(png, R_OK) == 0, "screenshot %s exists", png);
    }
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_dashboard_region");
    H_CASE(case_region_in_three_languages);
    return h_finish();
}
