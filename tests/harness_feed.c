/* harness_feed.c — helpers for the feed and dashboard tests: an [sla]
 * section in the broker config and programs looked up on PATH. */
#include "harness_feed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void h_broker_config_append(h_region *r, const char *text)
{
    if (!r->written)
        h_region_write(r);
    const char *path = r->broker.config;
    char *have = h_read_file(path, NULL);
    H_REQUIRE(have, "read %s: %s", path, strerror(errno));
    bool present = strstr(have, text) != NULL;
    bool newline = have[0] && have[strlen(have) - 1] != '\n';
    free(have);
    if (present)
        return;
    FILE *f = fopen(path, "a");
    H_REQUIRE(f, "append to %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = fprintf(f, "%s\n%s%s", newline ? "\n" : "", text,
                      len && text[len - 1] == '\n' ? "" : "\n") > 0;
    ok &= fclose(f) == 0;
    H_REQUIRE(ok, "append to %s: %s", path, strerror(errno));
}

void h_broker_sla(h_region *r, const char *referral_receipt,
                  const char *referral_answer, const char *rejection_followup,
                  const char *handover_answer)
{
    const char *names[] = {"referral_receipt", "referral_answer",
                           "rejection_followup", "handover_answer"};
    const char *values[] = {referral_receipt, referral_answer,
                            rejection_followup, handover_answer};
    char text[512];
    int n = snprintf(text, sizeof text, "[sla]\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (values[i])
            n += snprintf(text + n, sizeof text - (size_t)n, "%s = %s\n",
                          names[i], values[i]);
    H_REQUIRE(n < (int)sizeof text, "[sla] section too long");
    h_broker_config_append(r, text);
}

bool h_find_program(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return false;
        snprintf(out, len, "%s", name);
        return true;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dlen = end ? (size_t)(end - path) : strlen(path);
        int n = snprintf(out, len, "%.*s/%s", (int)dlen, path, name);
        if (dlen > 0 && n > 0 && (size_t)n < len && access(out, X_OK) == 0)
            return true;
        path += dlen + (end ? 1 : 0);
    }
    out[0] = '\0';
    return false;
}
