/* handover_cmd.c — `polku handover ...`: the coordinator of a client's path
 * offers the coordination to another organisation (with who supports the
 * client meanwhile and whether the plan is current), the receiver accepts
 * or declines, the offerer may ask to withdraw, and both sides list and
 * read the offers with their history, through the agent's /v1/handovers
 * API. The coordinator changes only when the receiver accepts (DESIGN.md
 * invariant 3); arguments are checked here first so a typo is a usage
 * error, not a round trip. */
#include "cli.h"
#include "i18n.h"

#include "polku/codec.h"

#include <string.h>

#define PATH_MAX_LEN 512
#define WIDTH 15 /* "withdraw asked:" */

const char cli_handover_usage[] =
    N_("usage: polku handover COMMAND ...\n"
       "\n"
       "commands:\n"
       "  offer     (--client KEY | --hetu HETU) --to ORG [--supporter ORG]\n"
       "            [--plan-id ID --version N [--review-due DATE]]\n"
       "            [--plan-current] [--note TEXT]\n"
       "  accept    ID\n"
       "  decline   ID --reason TEXT\n"
       "  withdraw  ID\n"
       "  list      [--direction in|out] [--status STATUS]\n"
       "  show      ID\n"
       "\n"
       "KEY is a client key (32 hex characters); HETU an identity code, which\n"
       "the agent turns into the key. STATUS is one of offered, accepted,\n"
       "declined, withdrawn, failed. --json prints the agent's answer.\n"
       "'polku handover COMMAND --help' shows one command.\n");

static const char offer_usage[] =
    N_("usage: polku handover offer (--client KEY | --hetu HETU) --to ORG\n"
       "           [--supporter ORG] [--plan-id ID --version N\n"
       "           [--review-due DATE]] [--plan-current] [--note TEXT]\n"
       "\n"
       "Offers the coordination of the client's path to ORG. Coordinator\n"
       "only; needs the client's consent for handovers. --supporter names who\n"
       "supports the client until ORG takes over; the plan options point at\n"
       "the plan held here and --plan-current says it is up to date. The note\n"
       "is sealed for ORG. DATE is YYYY-MM-DD or RFC 3339.\n");

static const char accept_usage[] =
    N_("usage: polku handover accept ID\n"
       "\n"
       "Accepts an offer this organisation received: it becomes the client's\n"
       "coordinator.\n");

static const char decline_usage[] =
    N_("usage: polku handover decline ID --reason TEXT\n"
       "\n"
       "Declines an offer this organisation received; the coordinator stays\n"
       "where it was.\n");

static const char withdraw_usage[] = N_(
    "usage: polku handover withdraw ID\n"
    "\n"
    "Asks to withdraw an offer this organisation made; the receiver's agent\n"
    "applies it if the offer is still open.\n");

static const char list_usage[] =
    N_("usage: polku handover list [--direction in|out] [--status STATUS]\n"
       "\n"
       "Lists handovers this organisation offered (out) or received (in).\n");

static const char show_usage[] = N_("usage: polku handover show ID\n"
                                    "\n"
                                    "Shows one handover and its history.\n");

static const char *const statuses[] = {"offered",   "accepted", "declined",
                                       "withdrawn", "failed",   NULL};

/* "/v1/handovers/ID" + suffix, with ID escaped. */
static int handover_path(char *out, size_t len, const char *id,
                         const char *suffix)
{
    char escaped[PATH_MAX_LEN / 2];
    if (id[0] == '\0' || !cli_url_escape(id, escaped, sizeof escaped))
        return cli_usage_error("not a handover id: '%s'", id);
    snprintf(out, len, "/v1/handovers/%s%s", escaped, suffix);
    return CLI_OK;
}

typedef struct offer_args {
    const char *client, *hetu, *to, *supporter, *plan_id, *version, *due, *note;
    bool plan_current;
} offer_args;

static int offer_check(const offer_args *a, json_int_t *version)
{
    if (a->to == NULL)
        return cli_usage_error("handover offer: missing --to ORG");
    if (!polku_org_id_valid(a->to))
        return cli_usage_error("handover offer: not an organisation id: '%s'",
                               a->to);
    if (a->supporter != NULL && !polku_org_id_valid(a->supporter))
        return cli_usage_error("handover offer: not an organisation id: '%s'",
                               a->supporter);
    if (a->plan_id == NULL && (a->version != NULL || a->due != NULL))
        return cli_usage_error("handover offer: --version and --review-due "
                               "need --plan-id ID");
    if (a->plan_id != NULL && a->plan_id[0] == '\0')
        return cli_usage_error("handover offer: --plan-id is empty");
    if (a->plan_id != NULL)
        return cli_plan_version("handover offer", a->version, version);
    return CLI_OK;
}

/* The request body; takes client. NULL when out of memory. */
static json_t *offer_body(const offer_args *a, json_t *client,
                          json_int_t version)
{
    json_t *body = json_pack("{s:o, s:s, s:b}", "client", client, "to", a->to,
                             "plan_current", a->plan_current);
    if (body == NULL)
        return NULL;
    int bad = cli_set_text(body, "supporter", a->supporter);
    bad |= cli_set_text(body, "note", a->note);
    if (a->plan_id != NULL) {
        json_t *plan =
            json_pack("{s:s, s:I}", "plan_id", a->plan_id, "version", version);
        bad |= plan == NULL || cli_set_text(plan, "review_due", a->due);
        bad |= json_object_set_new(body, "plan", plan);
    }
    if (bad) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static int handover_offer(cli *c, int argc, char **argv, const cli_cmd *self)
{
    offer_args a = {0};
    const cli_opt opts[] = {
        {"client", &a.client, NULL},   {"hetu", &a.hetu, NULL},
        {"to", &a.to, NULL},           {"supporter", &a.supporter, NULL},
        {"plan-id", &a.plan_id, NULL}, {"version", &a.version, NULL},
        {"review-due", &a.due, NULL},  {"plan-current", NULL, &a.plan_current},
        {"note", &a.note, NULL},       {NULL, NULL, NULL}};
    json_int_t version = 0;
    json_t *client = NULL;
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc == CLI_OK)
        rc = cli_client_arg("handover offer", a.client, a.hetu, &client);
    if (rc == CLI_OK)
        rc = offer_check(&a, &version);
    if (rc != CLI_OK) {
        json_decref(client);
        return rc;
    }
    json_t *body = offer_body(&a, client, version);
    if (body == NULL)
        return cli_fail("out of memory");
    json_t *answer = NULL;
    rc = cli_call(c, "POST", "/v1/handovers", body, &answer);
    json_decref(body);
    char b1[40], b2[40];
    if (rc == CLI_OK && c->json)
        cli_print_json(answer);
    else if (rc == CLI_OK)
        printf(_("handover %s offered to %s\n"),
               cli_field(answer, "id", b1, sizeof b1),
               cli_field(answer, "to", b2, sizeof b2));
    json_decref(answer);
    return rc;
}

/* POSTs body (taken; NULL: out of memory) to /v1/handovers/ID/verb and
 * reports "handover ID <what>". */
static int post_change(cli *c, const char *id, const char *verb, json_t *body,
                       const char *what)
{
    char path[PATH_MAX_LEN], suffix[16];
    snprintf(suffix, sizeof suffix, "/%s", verb);
    int rc = handover_path(path, sizeof path, id, suffix);
    if (rc != CLI_OK || body == NULL) {
        json_decref(body);
        return rc != CLI_OK ? rc : cli_fail("out of memory");
    }
    json_t *answer = NULL;
    rc = cli_call(c, "POST", path, body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json) {
        cli_print_json(answer);
    } else if (rc == CLI_OK) {
        cli_say(_("handover %s %s"), id, what);
    }
    json_decref(answer);
    return rc;
}

static int handover_accept(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1];
    int rc = cli_parse(c, argc, argv, NULL, names, pos, self->usage);
    if (rc != CLI_OK)
        return rc;
    return post_change(c, pos[0], "accept", json_object(), _("accepted"));
}

static int handover_decline(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1], *reason = NULL;
    const cli_opt opts[] = {{"reason", &reason, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK && (reason == NULL || reason[0] == '\0'))
        rc = cli_usage_error("handover decline: missing --reason TEXT");
    if (rc != CLI_OK)
        return rc;
    return post_change(c, pos[0], "decline",
                       json_pack("{s:s}", "reason", reason), _("declined"));
}

static int handover_withdraw(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1];
    int rc = cli_parse(c, argc, argv, NULL, names, pos, self->usage);
    if (rc != CLI_OK)
        return rc;
    return post_change(c, pos[0], "withdraw", json_object(),
                       _("withdrawal requested"));
}

static void print_list(const json_t *list)
{
    static const char *const heads[] = {
        N_("ID"),         N_("DIR"),    N_("FROM"),   N_("TO"),
        N_("CLIENT KEY"), N_("STATUS"), N_("UPDATED")};
    static const char *const keys[] = {
        "id", "direction", "from", "to", "client_key", "status", "updated"};
    cli_print_rows(list, 7, heads, keys, _("no handovers"));
}

static int handover_list(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *direction = NULL, *status = NULL;
    const cli_opt opts[] = {{"direction", &direction, NULL},
                            {"status", &status, NULL},
                            {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    static const char *const dirs[] = {"in", "out", NULL};
    if (direction != NULL && !cli_one_of(direction, dirs))
        return cli_usage_error("handover list: --direction is in or out, "
                               "not '%s'",
                               direction);
    if (status != NULL && !cli_one_of(status, statuses))
        return cli_usage_error("unknown status '%s' (one of offered, "
                               "accepted, declined, withdrawn, failed)",
                               status);
    char path[PATH_MAX_LEN] = "/v1/handovers";
    if (!cli_add_query(path, sizeof path, "direction", direction) ||
        !cli_add_query(path, sizeof path, "status", status))
        return cli_usage_error("handover list: argument too long");
    return cli_get_list(c, path, "handovers", print_list, NULL);
}

static void print_handover(const json_t *h)
{
    static const char *const rows[][2] = {
        {N_("id:"), "id"},
        {N_("direction:"), "direction"},
        {N_("from:"), "from"},
        {N_("to:"), "to"},
        {N_("client key:"), "client_key"},
        {N_("supporter:"), "supporter"},
        {N_("plan:"), NULL},
        {N_("plan current:"), "plan_current"},
        {N_("note:"), "note"},
        {N_("status:"), "status"},
        {N_("reason:"), "reason"},
        {N_("term:"), "term"},
        {N_("rule:"), "rule"},
        {N_("referral:"), "referral_id"},
        {N_("withdraw asked:"), "withdraw_requested"},
        {N_("created:"), "created"},
        {N_("updated:"), "updated"}};
    char buf[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cli_print_field(
            stdout, WIDTH, _(rows[i][0]),
            rows[i][1] != NULL
                ? cli_word(cli_time_field(h, rows[i][1], buf, sizeof buf))
                : cli_plan_text(json_object_get(h, "plan"), buf, sizeof buf));
    const json_t *history = json_object_get(h, "history");
    if (json_array_size(history) > 0) {
        printf("\n%s\n", _("history:"));
        cli_print_history(history);
    }
}

static int handover_show(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1];
    int rc = cli_parse(c, argc, argv, NULL, names, pos, self->usage);
    char path[PATH_MAX_LEN];
    if (rc == CLI_OK)
        rc = handover_path(path, sizeof path, pos[0], "");
    if (rc != CLI_OK)
        return rc;
    json_t *answer = NULL;
    rc = cli_call(c, "GET", path, NULL, &answer);
    if (rc == CLI_OK && c->json)
        cli_print_json(answer);
    else if (rc == CLI_OK)
        print_handover(answer);
    json_decref(answer);
    return rc;
}

static const cli_cmd verbs[] = {
    {"offer", "offer coordination", offer_usage, handover_offer},
    {"accept", "accept an offer", accept_usage, handover_accept},
    {"decline", "decline an offer", decline_usage, handover_decline},
    {"withdraw", "ask to withdraw", withdraw_usage, handover_withdraw},
    {"list", "list", list_usage, handover_list},
    {"show", "one, with history", show_usage, handover_show},
    {NULL, NULL, NULL, NULL}};

int cli_handover(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, verbs, self->usage);
}
