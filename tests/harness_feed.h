/* harness_feed.h — integration helpers for the feed and dashboard (issue 5):
 * extra broker config sections ([sla]) and finding programs on PATH.
 * Nothing here changes what harness.h's functions do. */
#ifndef POLKU_TESTS_HARNESS_FEED_H
#define POLKU_TESTS_HARNESS_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* Appends text (whole lines, e.g. a "[sla]" section) to the end of the
 * written broker config, writing the region first if needed; text already
 * in the file is not added twice. Call again after every h_region_write. */
void h_broker_config_append(h_region *r, const char *text);

/* Adds the broker's [sla] section with these durations ("2s", "15m", ...;
 * NULL leaves a key out, so the broker's default applies). */
void h_broker_sla(h_region *r, const char *referral_receipt,
                  const char *referral_answer, const char *rejection_followup,
                  const char *handover_answer);

/* The absolute path of an executable named name on $PATH (or name itself
 * when it holds a '/' and is executable) into out; false if there is none. */
bool h_find_program(const char *name, char *out, size_t len);

#endif
