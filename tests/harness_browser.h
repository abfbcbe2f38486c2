/* harness_browser.h — what the browser tests need besides a region.
 *
 * The dashboard tests drive Debian's Chromium with playwright-core under
 * node. Before a case starts, each piece is checked and a missing one
 * fails the case naming it and how to get it (scripts/bootstrap), rather
 * than a timeout deep inside node. */
#ifndef POLKU_TESTS_HARNESS_BROWSER_H
#define POLKU_TESTS_HARNESS_BROWSER_H

#include <stddef.h>

/* $POLKU_CHROMIUM, else /usr/bin/chromium. */
const char *h_chromium_path(void);

/* node on PATH (its path into node), Chromium, and playwright-core under
 * source_dir/node_modules; fails the case otherwise. */
void h_require_browser_tools(const char *source_dir, char *node,
                             size_t node_len);

#endif
