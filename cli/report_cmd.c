/* report_cmd.c — `polku report`: the region's coordination report as a
 * table, for coordinators who live in a terminal and for the demo.
 *
 * The report is the broker's (GET /api/v1/reports, broker/report.h), not
 * an agent's: the command talks to the broker's HTTP API (--broker URL)
 * and prints one line per organisation and one for the region. */
#include "cli.h"
#include "i18n.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_BROKER "http://127.0.0.1:8570"

const char cli_report_usage[] = N_(
    "usage: polku report [--broker URL] [--token-file FILE] [--from DATE]\n"
    "                    [--to DATE] [--org ID] [--json]\n"
    "\n"
    "Prints the broker's coordination report (GET /api/v1/reports) for\n"
    "referrals requested and handovers offered from --from to --to (dates\n"
    "YYYY-MM-DD, whole days in Finnish time, or RFC 3339 times; default the\n"
    "last 30 days up to today): per organisation and for the region,\n"
    "referrals sent and received, time to receipt and to answer (p50 / p90\n"
    "/ max), accepted, rejected, rejected with no follow-up within the SLA,\n"
    "cancelled, failed, handovers offered, accepted and declined, and the\n"
    "paths each organisation coordinates now; then the paths nobody\n"
    "coordinates and the outcomes by service. --org ID: that organisation's\n"
    "line and the region's.\n"
    "\n"
    "  --broker URL  the broker's HTTP API (default $POLKU_BROKER or\n"
    "                http://127.0.0.1:8570)\n");

static const char *utc_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d", &tm);
    return buf;
}

/* "p50 / p90 / max" of name_* in seconds, as ages. */
static const char *times(const json_t *row, const char *name, char *buf,
                         size_t len)
{
    const char *parts[3] = {"p50_s", "p90_s", "max_s"};
    char t[3][20];
    for (int i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s_%s", name, parts[i]);
        const json_t *v = json_object_get(row, k);
        if (json_is_integer(v))
            cli_age_text((long long)json_integer_value(v), t[i], sizeof t[i]);
        else
            snprintf(t[i], sizeof t[i], "-");
    }
    snprintf(buf, len, "%s / %s / %s", t[0], t[1], t[2]);
    return buf;
}

static void print_report(const json_t *r)
{
    char a[64], b[64];
    printf(_("Coordination report %s .. %s\n\n"),
           cli_local_time(json_string_value(json_object_get(r, "from")), a,
                          sizeof a),
           cli_local_time(json_string_value(json_object_get(r, "to")), b,
                          sizeof b));
    static const char *const heads[] = {N_("org"),
                                        N_("sent"),
                                        N_("recv"),
                                        N_("receipt p50/p90/max"),
                                        N_("answer p50/p90/max"),
                                        N_("acc"),
                                        N_("rej"),
                                        N_("rej-no-followup"),
                                        N_("canc"),
                                        N_("fail"),
                                        N_("ho off/acc/dec"),
                                        N_("ho answer p50/p90/max"),
                                        N_("coordinates")};
    const size_t n = sizeof heads / sizeof heads[0];
    const char *words[sizeof heads / sizeof heads[0]];
    for (size_t k = 0; k < n; k++)
        words[k] = _(heads[k]);
    cli_table *t = cli_table_new(n, words);
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(r, "rows"), i, w)
    {
        /* cli_field answers a string member with its own text, a number
         * written into the buffer: the cells are what it returns */
        char cell[13][64];
        const char *cells[13];
        const json_t *org = json_object_get(w, "org");
        cells[0] = json_is_string(org) ? json_string_value(org) : _("REGION");
        cells[1] = cli_field(w, "sent", cell[1], 64);
        cells[2] = cli_field(w, "received", cell[2], 64);
        cells[3] = times(w, "receipt", cell[3], 64);
        cells[4] = times(w, "answer", cell[4], 64);
        const char *more[] = {"accepted", "rejected", "rejected_no_followup",
                              "cancelled", "failed"};
        for (int k = 0; k < 5; k++)
            cells[5 + k] = cli_field(w, more[k], cell[5 + k], 64);
        char x[3][20];
        snprintf(cell[10], 64, "%s / %s / %s",
                 cli_field(w, "handovers_offered", x[0], 20),
                 cli_field(w, "handovers_accepted", x[1], 20),
                 cli_field(w, "handovers_declined", x[2], 20));
        cells[10] = cell[10];
        cells[11] = times(w, "handover_answer", cell[11], 64);
        cells[12] = cli_field(w, "active_paths", cell[12], 64);
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(&t);

    const json_t *wc = json_object_get(r, "without_coordinator");
    char p50[32] = "-", mx[32] = "-";
    if (json_is_integer(json_object_get(wc, "waiting_p50_s")))
        cli_age_text(json_integer_value(json_object_get(wc, "waiting_p50_s")),
                     p50, sizeof p50);
    if (json_is_integer(json_object_get(wc, "waiting_max_s")))
        cli_age_text(json_integer_value(json_object_get(wc, "waiting_max_s")),
                     mx, sizeof mx);
    printf(_("\nPaths with open referrals and no coordinator: %s (waiting p50 "
             "%s, longest %s)\n"),
           cli_field(wc, "paths", a, sizeof a), p50, mx);

    static const char *const oheads[] = {"service", "completed", "rejected",
                                         "failed",  "cancelled", "open"};
    const char *owords[6] = {_("service"), _("completed"), _("rejected"),
                             _("failed"),  _("cancelled"), _("open")};
    cli_table *o = cli_table_new(6, owords);
    json_array_foreach(json_object_get(r, "outcomes_by_service"), i, w)
    {
        char cell[6][64];
        const char *cells[6];
        for (int k = 0; k < 6; k++)
            cells[k] = cli_field(w, oheads[k], cell[k], 64);
        cli_table_add(o, cells);
    }
    printf(_("\nOutcomes by service (referrals requested in the period):\n"));
    cli_table_print(o, stdout);
    cli_table_free(&o);
}

int cli_report(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *broker = NULL, *from = NULL, *to = NULL, *org = NULL;
    const cli_opt opts[] = {{"broker", &broker, NULL},
                            {"from", &from, NULL},
                            {"to", &to, NULL},
                            {"org", &org, NULL},
                            {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (!broker)
        broker = getenv("POLKU_BROKER");
    cli bc = *c;
    bc.agent = broker && *broker ? broker : DEFAULT_BROKER;
    bc.region = NULL; /* a broker is one region's: --broker picks it */
    char dfrom[16], dto[16], path[512] = "/api/v1/reports";
    time_t now = time(NULL);
    if (!from)
        from = utc_date(now - 30 * 86400, dfrom, sizeof dfrom);
    if (!to)
        to = utc_date(now, dto, sizeof dto);
    if (!cli_add_query(path, sizeof path, "from", from) ||
        !cli_add_query(path, sizeof path, "to", to) ||
        !cli_add_query(path, sizeof path, "org", org))
        return cli_usage_error(_("report: --from, --to or --org is too long"));
    json_t *r = NULL;
    rc = cli_call(&bc, "GET", path, NULL, &r);
    if (rc != CLI_OK)
        return rc;
    if (!json_is_object(r) || !json_is_array(json_object_get(r, "rows"))) {
        json_decref(r);
        return cli_fail(_("unexpected answer from the broker at %s"), bc.agent);
    }
    if (c->json)
        cli_print_json(r);
    else
        print_report(r);
    json_decref(r);
    return CLI_OK;
}
