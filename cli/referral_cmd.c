/* referral_cmd.c — `polku referral ...`: staff create referrals, list and
 * read them, move the ones they received on and ask to cancel the ones
 * they sent, through their agent's /v1/referrals API. Arguments are
 * checked here first so a typo is a usage error, not a round trip. */
#include "cli.h"
#include "i18n.h"

#include <string.h>

#define PATH_MAX_LEN 512

const char cli_referral_usage[] =
    N_("usage: polku referral COMMAND ...\n"
       "\n"
       "commands:\n"
       "  create  (--client KEY | --hetu HETU) (--to ORG | --service NAME)\n"
       "          [--reason TEXT] [--urgency routine|urgent] [--due DATE]\n"
       "          [--transfer]\n"
       "  list    [--direction in|out] [--status STATUS]\n"
       "  show    ID\n"
       "  status  ID STATUS [--reason TEXT] [--outcome TEXT]\n"
       "  cancel  ID --reason TEXT\n"
       "\n"
       "KEY is a client key (32 hex characters); HETU an identity code, which\n"
       "the agent turns into the key. STATUS is one of requested, received,\n"
       "accepted, in-progress, on-hold, completed, rejected, failed,\n"
       "cancelled. --json prints the agent's answer. 'polku referral COMMAND\n"
       "--help' shows one command.\n");

static const char create_usage[] = N_(
    "usage: polku referral create (--client KEY | --hetu HETU)\n"
    "           (--to ORG | --service NAME) [--reason TEXT]\n"
    "           [--urgency routine|urgent] [--due DATE] [--transfer]\n"
    "\n"
    "Creates a referral and sends it (the agent's outbox holds it until the\n"
    "receiver has it). --transfer asks for coordination to move to the\n"
    "receiver when it accepts. DATE is YYYY-MM-DD or RFC 3339.\n");

static const char list_usage[] =
    N_("usage: polku referral list [--direction in|out] [--status STATUS]\n"
       "\n"
       "Lists referrals this organisation sent (out) or received (in).\n");

static const char show_usage[] = N_("usage: polku referral show ID\n"
                                    "\n"
                                    "Shows one referral and its history.\n");

static const char status_usage[] =
    N_("usage: polku referral status ID STATUS [--reason TEXT] "
       "[--outcome TEXT]\n"
       "\n"
       "Moves a referral this organisation received on (accepted,\n"
       "in-progress, on-hold, completed, rejected, failed). rejected and\n"
       "failed need --reason.\n");

static const char cancel_usage[] =
    N_("usage: polku referral cancel ID --reason TEXT\n"
       "\n"
       "Asks the receiver to cancel a referral this organisation sent; it is\n"
       "cancelled if the receiver has not finished it.\n");

static const char *const statuses[] = {
    "requested", "received", "accepted", "in-progress", "on-hold",
    "completed", "rejected", "failed",   "cancelled",   NULL};

static int check_status(const char *status)
{
    if (status != NULL && !cli_one_of(status, statuses))
        return cli_usage_error("unknown status '%s' (one of requested, "
                               "received, accepted, in-progress, on-hold, "
                               "completed, rejected, failed, cancelled)",
                               status);
    return CLI_OK;
}

/* "/v1/referrals/ID" + suffix, with ID escaped. */
static int referral_path(char *out, size_t len, const char *id,
                         const char *suffix)
{
    char escaped[PATH_MAX_LEN / 2];
    if (id[0] == '\0' || !cli_url_escape(id, escaped, sizeof escaped))
        return cli_usage_error("not a referral id: '%s'", id);
    snprintf(out, len, "/v1/referrals/%s%s", escaped, suffix);
    return CLI_OK;
}

typedef struct create_args {
    const char *client, *hetu, *to, *service, *reason, *urgency, *due;
    bool transfer;
} create_args;

static int create_check(const create_args *a, char key[33])
{
    if ((a->client == NULL) == (a->hetu == NULL))
        return cli_usage_error("referral create: give --client KEY or "
                               "--hetu HETU");
    if (a->client != NULL && !cli_client_key(a->client, key))
        return cli_usage_error("referral create: --client needs a client key "
                               "of 32 hex characters");
    if (a->to == NULL && a->service == NULL)
        return cli_usage_error("referral create: give --to ORG or "
                               "--service NAME");
    static const char *const urgencies[] = {"routine", "urgent", NULL};
    if (a->urgency != NULL && !cli_one_of(a->urgency, urgencies))
        return cli_usage_error("referral create: --urgency is routine or "
                               "urgent, not '%s'",
                               a->urgency);
    return CLI_OK;
}

static json_t *create_body(const create_args *a, const char *key)
{
    json_t *body = json_object();
    json_t *client = json_object();
    int bad = body == NULL || client == NULL;
    if (a->client != NULL)
        bad |= cli_set_text(client, "key", key);
    else
        bad |= cli_set_text(client, "hetu", a->hetu);
    bad |= json_object_set_new(body, "client", client);
    bad |= cli_set_text(body, "to", a->to);
    bad |= cli_set_text(body, "service", a->service);
    bad |= cli_set_text(body, "reason", a->reason);
    bad |= cli_set_text(body, "urgency", a->urgency);
    bad |= cli_set_text(body, "due", a->due);
    if (a->transfer)
        bad |= json_object_set_new(body, "transfer", json_true());
    if (bad) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static int referral_create(cli *c, int argc, char **argv, const cli_cmd *self)
{
    create_args a = {0};
    const cli_opt opts[] = {
        {"client", &a.client, NULL}, {"hetu", &a.hetu, NULL},
        {"to", &a.to, NULL},         {"service", &a.service, NULL},
        {"reason", &a.reason, NULL}, {"urgency", &a.urgency, NULL},
        {"due", &a.due, NULL},       {"transfer", NULL, &a.transfer},
        {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    char key[33] = "";
    if (rc == CLI_OK)
        rc = create_check(&a, key);
    if (rc != CLI_OK)
        return rc;
    json_t *body = create_body(&a, key);
    if (body == NULL)
        return cli_fail("out of memory");
    json_t *answer = NULL;
    rc = cli_call(c, "POST", "/v1/referrals", body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json) {
        cli_print_json(answer);
    } else if (rc == CLI_OK) {
        char b1[32], b2[32], b3[32];
        const char *to = cli_field(answer, "to", b3, sizeof b3);
        printf(_("referral %s %s -> %s\n"), cli_field(answer, "id", b1, 32),
               cli_word(json_object_get(answer, "status") != NULL
                            ? cli_field(answer, "status", b2, 32)
                            : "requested"),
               strcmp(to, "-") != 0 ? to : (a.to ? a.to : a.service));
    }
    json_decref(answer);
    return rc;
}

static void print_list(const json_t *list)
{
    static const char *const heads[] = {N_("ID"), N_("DIR"),    N_("FROM"),
                                        N_("TO"), N_("STATUS"), N_("UPDATED")};
    static const char *const keys[] = {"id", "direction", "from",
                                       "to", "status",    "updated"};
    cli_print_rows(list, 6, heads, keys, _("no referrals"));
}

static int referral_list(cli *c, int argc, char **argv, const cli_cmd *self)
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
        return cli_usage_error("referral list: --direction is in or out, "
                               "not '%s'",
                               direction);
    if ((rc = check_status(status)) != CLI_OK)
        return rc;
    char path[PATH_MAX_LEN] = "/v1/referrals";
    if (!cli_add_query(path, sizeof path, "direction", direction) ||
        !cli_add_query(path, sizeof path, "status", status))
        return cli_usage_error("referral list: argument too long");
    return cli_get_list(c, path, "referrals", print_list, NULL);
}

static void print_referral(const json_t *r)
{
    static const char *const rows[][2] = {
        {N_("id:"), "id"},
        {N_("direction:"), "direction"},
        {N_("from:"), "from"},
        {N_("to:"), "to"},
        {N_("client key:"), "client_key"},
        {N_("service:"), "service"},
        {N_("urgency:"), "urgency"},
        {N_("due:"), "due"},
        {N_("transfer:"), "transfer"},
        {N_("status:"), "status"},
        {N_("reason:"), "reason"},
        {N_("outcome:"), "outcome"},
        {N_("cancel asked:"), "cancel_requested"},
        {N_("created:"), "created"},
        {N_("updated:"), "updated"}};
    char buf[32];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        cli_print_field(
            stdout, 13, _(rows[i][0]),
            cli_word(cli_time_field(r, rows[i][1], buf, sizeof buf)));
    const json_t *history = json_object_get(r, "history");
    if (json_array_size(history) > 0) {
        printf("\n%s\n", _("history:"));
        cli_print_history(history);
    }
}

static int referral_show(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1];
    int rc = cli_parse(c, argc, argv, NULL, names, pos, self->usage);
    char path[PATH_MAX_LEN];
    if (rc == CLI_OK)
        rc = referral_path(path, sizeof path, pos[0], "");
    if (rc != CLI_OK)
        return rc;
    json_t *answer = NULL;
    rc = cli_call(c, "GET", path, NULL, &answer);
    if (rc == CLI_OK && c->json)
        cli_print_json(answer);
    else if (rc == CLI_OK)
        print_referral(answer);
    json_decref(answer);
    return rc;
}

/* POSTs body to path and reports "referral ID <what>". */
static int post_change(cli *c, const char *path, json_t *body, const char *id,
                       const char *what)
{
    if (body == NULL)
        return cli_fail("out of memory");
    json_t *answer = NULL;
    int rc = cli_call(c, "POST", path, body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json && answer != NULL)
        cli_print_json(answer);
    else if (rc == CLI_OK && !c->json)
        printf(_("referral %s %s\n"), id, what);
    json_decref(answer);
    return rc;
}

static int referral_status(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", "STATUS", NULL};
    const char *pos[2], *reason = NULL, *outcome = NULL;
    const cli_opt opts[] = {{"reason", &reason, NULL},
                            {"outcome", &outcome, NULL},
                            {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    char path[PATH_MAX_LEN];
    if (rc == CLI_OK)
        rc = check_status(pos[1]);
    if (rc == CLI_OK)
        rc = referral_path(path, sizeof path, pos[0], "/status");
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_object();
    if (cli_set_text(body, "status", pos[1]) ||
        cli_set_text(body, "reason", reason) ||
        cli_set_text(body, "outcome", outcome)) {
        json_decref(body);
        body = NULL;
    }
    char what[64];
    snprintf(what, sizeof what, "-> %s", cli_word(pos[1]));
    return post_change(c, path, body, pos[0], what);
}

static int referral_cancel(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1], *reason = NULL;
    const cli_opt opts[] = {{"reason", &reason, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK && (reason == NULL || reason[0] == '\0'))
        rc = cli_usage_error("referral cancel: missing --reason TEXT");
    char path[PATH_MAX_LEN];
    if (rc == CLI_OK)
        rc = referral_path(path, sizeof path, pos[0], "/cancel");
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_object();
    if (cli_set_text(body, "reason", reason)) {
        json_decref(body);
        body = NULL;
    }
    return post_change(c, path, body, pos[0], _("cancel requested"));
}

static const cli_cmd verbs[] = {
    {"create", "create and send", create_usage, referral_create},
    {"list", "list", list_usage, referral_list},
    {"show", "one, with history", show_usage, referral_show},
    {"status", "move on", status_usage, referral_status},
    {"cancel", "ask to cancel", cancel_usage, referral_cancel},
    {NULL, NULL, NULL, NULL}};

int cli_referral(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, verbs, self->usage);
}
