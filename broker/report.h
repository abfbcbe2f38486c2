/* report.h — coordination reports over what the broker holds.
 *
 * The region's services are measured on the referrals and handovers the
 * broker has folded: how fast referrals are received and answered, how
 * many are rejected with nobody referring the client on, who coordinates
 * how many clients, what the outcomes are. Everything is computed from the
 * folded state (clients.h, paths.h) and the directory, so after a restart
 * the same report comes back once the logs are replayed. No sockets here:
 * http_api.c serves it as /api/v1/reports (JSON or CSV), the dashboard's
 * report page and `polku report` read that.
 *
 * Counting rules (the unit test holds a hand-computed fixture):
 *   - a referral belongs to the window when its request's time is in
 *     [from, to]; "sent" counts it for the sender, everything else
 *     (received, times, outcomes) for the receiver;
 *   - time to receipt = received - requested, time to answer = the first
 *     status past received - received; p50 and p90 by nearest rank, max;
 *     whole seconds;
 *   - accepted = accepted, in progress, on hold or completed now;
 *     rejected / cancelled / failed / completed = that status now;
 *   - rejected without follow-up: rejected, the rejection_followup SLA has
 *     run out, and no referral of the client was requested after the
 *     rejection within it;
 *   - a handover belongs to the window when offered in it: "offered" for
 *     the offerer, "received", accepted, declined and answer time for the
 *     receiver;
 *   - active paths (now, not windowed): open paths per coordinator;
 *     without coordinator: clients with an open referral and nobody
 *     coordinating, for how long since their oldest open referral;
 *   - outcomes by service: the status kinds of the window's referrals,
 *     never the sealed outcome text (the broker cannot read it anyway);
 *   - pending by day: referrals requested and not yet answered at the end
 *     of each day (Europe/Helsinki) of the window, the last day counted at
 *     now or at the window's end if sooner, per receiving organisation (at
 *     most the last 62 days).
 * Metadata only: organisation ids and directory names, counts, seconds. */
#ifndef POLKU_BROKER_REPORT_H
#define POLKU_BROKER_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_config.h"
#include "clients.h"
#include "paths.h"

typedef struct report_query {
    uint64_t from_ms, to_ms; /* inclusive */
    const char *org; /* only this org's row (the region stays); NULL all */
    int csv;         /* format=csv */
} report_query;

/* Reads the query parameters (each NULL when absent): from and to are
 * required, a date YYYY-MM-DD (a whole day in Europe/Helsinki: from its
 * first, to its last millisecond) or an RFC 3339 time; org, if given, must
 * be in the directory; format is json (default) or csv. POLKU_OK, or
 * POLKU_EINVAL with why set to one sentence naming the parameter. */
int report_parse_query(const broker_config *cfg, const char *from,
                       const char *to, const char *org, const char *format,
                       report_query *q, char *why, size_t why_len);

/* The report: {"from","to","generated","columns":[...],"rows":[{...}],
 * "without_coordinator":{...},"outcomes_by_service":[...],
 * "pending_by_day":[{"day","pending":{org:n},"total"}]}; a row per
 * directory org (or the one asked for) and one for the region (scope
 * "region", org null). Caller owns the result; NULL when out of memory. */
json_t *report_json(const broker_config *cfg, const client_index *cl,
                    const path_index *pi, const report_query *q,
                    uint64_t now_ms);

/* The rows of a report_json as CSV (a header line of its columns, then a
 * line per row; RFC 4180 quoting). Caller frees; NULL when out of memory. */
char *report_csv(const json_t *report);

#endif
