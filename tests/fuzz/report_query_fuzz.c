/* report_query_fuzz.c — fuzz target for the report's query parameters.
 *
 * GET /api/v1/reports takes from, to, org and format from whoever asks the
 * broker's HTTP API (broker/report.h). The input is those four values, one
 * per line ("-" for a parameter left out). Beyond "no crash": an accepted
 * query has from <= to and a known org, and its report (over an empty
 * region) renders as JSON and as CSV with the header of its columns; a
 * refusal is one sentence naming the parameter that is wrong. Built as a
 * libFuzzer binary (fuzz_report_query) and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static broker_org orgs[2] = {{.id = "sote-keskus", .name = "Sote"},
                             {.id = "kela", .name = "Kela"}};
static broker_config cfg = {
    .orgs = orgs,
    .org_count = 2,
    .sla = {3600000, 86400000, 172800000, 432000000, 86400000}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *field[4] = {NULL, NULL, NULL, NULL};
    char *p = text;
    for (int i = 0; i < 4 && p; i++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        field[i] = strcmp(p, "-") == 0 ? NULL : p;
        p = nl ? nl + 1 : NULL;
    }
    report_query q;
    char why[200] = "";
    int rc = report_parse_query(&cfg, field[0], field[1], field[2], field[3],
                                &q, why, sizeof why);
    if (rc == POLKU_OK) {
        if (q.from_ms > q.to_ms)
            abort();
        if (q.org && strcmp(q.org, "kela") != 0 &&
            strcmp(q.org, "sote-keskus") != 0)
            abort();
        client_index *cl = cl_new();
        path_index *pi = pi_new();
        json_t *r = cl && pi ? report_json(&cfg, cl, pi, &q, q.to_ms) : NULL;
        char *csv = r ? report_csv(r) : NULL;
        if (r && (!csv || strncmp(csv, "scope,org,name,", 15) != 0))
            abort();
        free(csv);
        json_decref(r);
        pi_destroy(&pi);
        cl_destroy(&cl);
    } else {
        if (rc != POLKU_EINVAL || !why[0])
            abort();
        if (strncmp(why, "from", 4) != 0 && strncmp(why, "to", 2) != 0 &&
            strncmp(why, "org", 3) != 0 && strncmp(why, "format", 6) != 0)
            abort();
    }
    free(text);
    return 0;
}
