/* harness_browser.c — see harness_browser.h. */
#include "harness_browser.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "harness_feed.h"

const char *h_chromium_path(void)
{
    const char *c = getenv("POLKU_CHROMIUM");
    return c && *c ? c : "/usr/bin/chromium";
}

void h_require_browser_tools(const char *source_dir, char *node,
                             size_t node_len)
{
    H_REQUIRE(h_find_program("node", node, node_len),
              "node is not on PATH: run scripts/bootstrap (installs nodejs)");
    H_REQUIRE(access(h_chromium_path(), X_OK) == 0,
              "no Chromium at %s: run scripts/bootstrap (installs the Debian "
              "package chromium)",
              h_chromium_path());
    char pw[1024];
    snprintf(pw, sizeof pw, "%s/node_modules/playwright-core/package.json",
             source_dir);
    H_REQUIRE(access(pw, R_OK) == 0,
              "%s is missing: run scripts/bootstrap (npm ci at the "
              "repository root)",
              pw);
}
