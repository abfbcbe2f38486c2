/* path_print.c — how `polku path show` prints a path: this agent's own
 * record (--local) as a few fields, or the shared path the broker folded
 * from every organisation's events as a header, the open referrals with
 * their ages and a timeline. Printing only: path_cmd.c asks the agent.
 * Everything printed is metadata (DESIGN.md invariant 5). */
#include "cli.h"
#include "i18n.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WIDTH 14 /* "open handover:" */

const char *cli_plan_text(const json_t *plan, char *buf, size_t len)
{
    char b[4][32], due[32];
    if (!json_is_object(plan)) {
        snprintf(buf, len, "-");
        return buf;
    }
    /* a review date given as a day reads as that day */
    const char *at = cli_field(plan, "review_due", b[3], sizeof b[3]);
    cli_short_time(at, due, sizeof due);
    char *clock = strchr(due, ' ');
    if (strlen(at) > 10 && strcmp(at + 10, "T00:00:00.000Z") == 0 && clock)
        *clock = '\0';
    /* the broker's shared path names no plan id (this agent's view does) */
    if (!json_object_get(plan, "plan_id"))
        snprintf(buf, len, _("version %s by %s, review due %s"),
                 cli_field(plan, "version", b[1], sizeof b[1]),
                 cli_field(plan, "org", b[2], sizeof b[2]), due);
    else
        snprintf(buf, len, _("%s version %s by %s, review due %s"),
                 cli_field(plan, "plan_id", b[0], sizeof b[0]),
                 cli_field(plan, "version", b[1], sizeof b[1]),
                 cli_field(plan, "org", b[2], sizeof b[2]), due);
    return buf;
}

/* The services as "a, b": names (this agent's view) or {org, service}
 * objects (the broker's), "-" when none. */
static const char *services_text(const json_t *list, char *buf, size_t len)
{
    size_t i, used = 0;
    const json_t *s;
    buf[0] = '\0';
    json_array_foreach(list, i, s)
    {
        const char *name =
            json_is_string(s)
                ? json_string_value(s)
                : json_string_value(json_object_get(s, "service"));
        const char *org = json_string_value(json_object_get(s, "org"));
        int n = snprintf(buf + used, len - used, "%s%s%s%s", i > 0 ? ", " : "",
                         org != NULL ? org : "", org != NULL ? " " : "",
                         name != NULL ? name : "?");
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "-");
    return buf;
}

void cli_print_local_path(const json_t *p)
{
    static const char *const rows[][2] = {
        {N_("client key:"), "client_key"},
        {N_("coordinator:"), "coordinator"},
        {N_("term:"), "term"},
        {N_("since:"), "since"},
        {N_("i coordinate:"), "i_coordinate"},
        {N_("closed:"), "closed"},
        {N_("closed reason:"), "closed_reason"}};
    char buf[256], b1[32], b2[32];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cli_print_field(stdout, WIDTH, _(rows[i][0]),
                        cli_word(cli_time_field(p, rows[i][1], buf, 64)));
    const json_t *claim = json_object_get(p, "claim");
    snprintf(buf, sizeof buf, "-");
    if (json_is_object(claim))
        snprintf(buf, sizeof buf, "%s (%s)",
                 cli_field(claim, "id", b1, sizeof b1),
                 cli_word(cli_field(claim, "outcome", b2, sizeof b2)));
    cli_print_field(stdout, WIDTH, _("claim:"), buf);
    cli_print_field(stdout, WIDTH, _("open handover:"),
                    cli_field(p, "open_handover", buf, sizeof buf));
    cli_print_field(stdout, WIDTH, _("plan:"),
                    cli_plan_text(json_object_get(p, "plan"), buf, sizeof buf));
    cli_print_field(stdout, WIDTH, _("supporter:"),
                    cli_field(p, "supporter", buf, sizeof buf));
    cli_print_field(
        stdout, WIDTH, _("services:"),
        services_text(json_object_get(p, "services"), buf, sizeof buf));
    cli_print_field(stdout, WIDTH, _("updated:"),
                    cli_time_field(p, "updated", buf, sizeof buf));
}

/* ---- the shared path, from the broker ---- */

/* "coordinator (term N) since YYYY-MM-DD HH:MM", or "none". */
static const char *coordinator_text(const json_t *p, char *buf, size_t len)
{
    char b[2][40], t[32];
    const char *who = json_string_value(json_object_get(p, "coordinator"));
    if (who == NULL) {
        snprintf(buf, len, "%s", _("none"));
        return buf;
    }
    snprintf(
        buf, len, _("%s (term %s) since %s"), who,
        cli_field(p, "term", b[0], sizeof b[0]),
        cli_short_time(cli_field(p, "since", b[1], sizeof b[1]), t, sizeof t));
    return buf;
}

/* "ID from A to B, offered YYYY-MM-DD HH:MM", or "-". */
static const char *handover_text(const json_t *h, char *buf, size_t len)
{
    char b[4][40], t[32];
    if (!json_is_object(h)) {
        snprintf(buf, len, "-");
        return buf;
    }
    snprintf(buf, len, _("%s from %s to %s, offered %s"),
             cli_field(h, "id", b[0], sizeof b[0]),
             cli_field(h, "from", b[1], sizeof b[1]),
             cli_field(h, "to", b[2], sizeof b[2]),
             cli_short_time(cli_field(h, "offered", b[3], sizeof b[3]), t,
                            sizeof t));
    return buf;
}

/* Referrals not yet in a final state, with their ages (since received,
 * else since sent, as the broker counts them). */
static void print_open_referrals(const json_t *list)
{
    static const char *const final[] = {"rejected", "completed", "failed",
                                        "cancelled", NULL};
    static const char *const heads[] = {N_("  ID"),    N_("FROM"),   N_("TO"),
                                        N_("SERVICE"), N_("STATUS"), N_("AGE")};
    static const char *const keys[] = {"id", "from", "to", "service", "status"};
    cli_table *t = cli_table_new(6, heads);
    size_t i, open = 0;
    const json_t *r;
    json_array_foreach(list, i, r)
    {
        char bufs[5][48], id[52], age[32];
        const char *cells[6];
        const char *status = json_string_value(json_object_get(r, "status"));
        if (status != NULL && cli_one_of(status, final))
            continue;
        for (size_t k = 0; k < 5; k++)
            cells[k] = cli_word(cli_field(r, keys[k], bufs[k], sizeof bufs[k]));
        snprintf(id, sizeof id, "  %s", cells[0]);
        cells[0] = id;
        cells[5] = cli_age_text(json_integer_value(json_object_get(r, "age_s")),
                                age, sizeof age);
        cli_table_add(t, cells);
        open++;
    }
    if (open == 0) {
        cli_print_field(stdout, WIDTH, _("open referrals:"), _("none"));
    } else {
        printf("%s\n", _("open referrals:"));
        cli_table_print(t, stdout);
    }
    cli_table_free(&t);
}

/* "YYYY-MM-DD HH:MM  ORG  EVENT  ID", the columns aligned. */
static void print_timeline(const json_t *list)
{
    size_t i, w_org = 0, w_event = 0;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        char b[2][48];
        size_t o = strlen(cli_field(e, "org", b[0], sizeof b[0]));
        size_t v = strlen(cli_field(e, "event", b[1], sizeof b[1]));
        w_org = o > w_org ? o : w_org;
        w_event = v > w_event ? v : w_event;
    }
    printf("%s%s\n", _("timeline:"),
           json_array_size(list) == 0 ? _(" empty") : "");
    json_array_foreach(list, i, e)
    {
        char b[4][48], t[32], line[256];
        const char *id = cli_field(e, "id", b[3], sizeof b[3]);
        snprintf(
            line, sizeof line, "%s  %-*s  %-*s  %s",
            cli_short_time(cli_field(e, "at", b[0], sizeof b[0]), t, sizeof t),
            (int)w_org, cli_field(e, "org", b[1], sizeof b[1]), (int)w_event,
            cli_field(e, "event", b[2], sizeof b[2]),
            strcmp(id, "-") != 0 ? id : "");
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        cli_print_clean(stdout, line);
        fputc('\n', stdout);
    }
}

void cli_print_shared_path(const json_t *p)
{
    char buf[512];
    const json_t *plan = json_object_get(p, "plan");
    cli_print_field(stdout, WIDTH, _("client key:"),
                    cli_field(p, "client_key", buf, sizeof buf));
    /* the name the broker's dashboard shows instead of the key */
    if (json_is_string(json_object_get(p, "display_name")))
        cli_print_field(stdout, WIDTH, _("dashboard:"),
                        cli_field(p, "display_name", buf, sizeof buf));
    char stage[64];
    snprintf(buf, sizeof buf, "%s", cli_field(p, "stage", stage, sizeof stage));
    const char *why = json_string_value(json_object_get(p, "stage_reason"));
    if (why) /* consent_ended: consent_revoked or consent_expired */
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (%s)", why);
    cli_print_field(stdout, WIDTH, _("stage:"), buf);
    cli_print_field(stdout, WIDTH, _("coordinator:"),
                    coordinator_text(p, buf, sizeof buf));
    cli_print_field(stdout, WIDTH, _("i coordinate:"),
                    cli_word(cli_field(p, "i_coordinate", buf, sizeof buf)));
    if (json_is_true(json_object_get(p, "closed")))
        cli_print_field(stdout, WIDTH, _("closed:"),
                        cli_field(p, "closed_reason", buf, sizeof buf));
    cli_print_field(
        stdout, WIDTH, _("open handover:"),
        handover_text(json_object_get(p, "open_handover"), buf, sizeof buf));
    cli_plan_text(plan, buf, sizeof buf);
    if (json_is_object(plan))
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " (%s)",
                 json_is_true(json_object_get(plan, "overdue"))
                     ? _("review OVERDUE")
                     : _("not yet due"));
    cli_print_field(stdout, WIDTH, _("plan:"), buf);
    cli_print_field(stdout, WIDTH, _("supporter:"),
                    cli_field(p, "supporter", buf, sizeof buf));
    cli_print_field(
        stdout, WIDTH, _("services:"),
        services_text(json_object_get(p, "services"), buf, sizeof buf));
    print_open_referrals(json_object_get(p, "referrals"));
    print_timeline(json_object_get(p, "timeline"));
}
