/* render_access.h — the client's access report as JSON and as CSV.
 *
 * Rows come from Polku__AccessEntry (this organisation's own log, or an
 * AccessAnswer another organisation sent through the broker), each
 * marked by its source organisation. The CSV is what a coordinator
 * prints and hands to the client. No JSON reading here: what comes from
 * the network is protobuf the codec has checked (closed vocabularies),
 * and rendering it is fuzzed (tests/fuzz/access_answer_fuzz.c). */
#ifndef POLKU_AGENT_RENDER_ACCESS_H
#define POLKU_AGENT_RENDER_ACCESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "polku.pb-c.h"

/* A new report: {client_key, organisation, network, generated_at,
 * events: [], answered: [], not_answering: [], truncated: []}. */
json_t *render_access_report(const uint8_t client[16], const char *self,
                             bool network, uint64_t now_ms);

/* Appends the rows of source to report.events and names source under
 * answered (and truncated when the answer was cut). 0, or -1 (memory). */
int render_access_add(json_t *report, const char *source,
                      const Polku__AccessAnswer *a);

/* Sorts report.events by time, source, seq (a merged report reads in
 * order). */
void render_access_sort(json_t *report);

/* The report as CSV (one header line, one line per event): caller frees.
 * NULL on memory failure. */
char *render_access_csv(const json_t *report);

#endif
