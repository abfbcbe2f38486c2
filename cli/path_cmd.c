/* path_cmd.c — `polku path ...`: staff claim the coordination of a
 * client's path, read it, keep its plan pointer and this organisation's
 * services up to date, and close it, through their agent's /v1/paths API.
 * `path show` reads the shared path by default (printed by path_print.c):
 * the broker's fold of every organisation's events; `--local`
 * shows what this organisation's agent holds itself.
 * Exactly one organisation coordinates a client (DESIGN.md invariant 1):
 * when a claim loses, the answer names the coordinator so the person knows
 * whom to talk to. Shapes are checked here; which close reasons are valid
 * is the agent's to say. */
#include "cli.h"
#include "i18n.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 512

const char cli_path_usage[] =
    N_("usage: polku path COMMAND ...\n"
       "\n"
       "commands:\n"
       "  claim    (--client KEY | --hetu HETU)\n"
       "  show     KEY [--local]\n"
       "  list\n"
       "  plan     KEY --plan-id ID --version N --review-due DATE\n"
       "  service  KEY --service NAME (--started | --ended)\n"
       "  close    KEY --reason REASON [--text TEXT]\n"
       "\n"
       "A client's path names the one organisation that coordinates their\n"
       "services. KEY is a client key (32 hex characters); HETU an identity\n"
       "code, which the agent turns into the key. --json prints the agent's\n"
       "answer. 'polku path COMMAND --help' shows one command.\n");

static const char claim_usage[] =
    N_("usage: polku path claim (--client KEY | --hetu HETU)\n"
       "\n"
       "Claims the coordination of the client's path for this organisation\n"
       "(needs the client's consent). The broker decides between claims: if\n"
       "another organisation coordinates the path, the claim fails (exit 1)\n"
       "naming it. If the broker has not answered yet the claim stays queued\n"
       "and 'polku path show KEY' tells the outcome.\n");

static const char show_usage[] =
    N_("usage: polku path show KEY [--local]\n"
       "\n"
       "Shows the client's shared path, assembled by the broker from every\n"
       "organisation's events: stage, coordinator and since when, any open\n"
       "handover, the plan pointer and whether its review is overdue, open\n"
       "referrals with their ages, then the timeline. Needs an active consent\n"
       "of the client naming this organisation with purpose 'path'.\n"
       "\n"
       "  --local   this organisation's own view instead (no broker needed):\n"
       "            coordinator, plan pointer, its services, open handover\n"
       "\n"
       "--json prints the agent's answer as it is.\n");

static const char list_usage[] =
    N_("usage: polku path list\n"
       "\n"
       "Lists the paths this organisation knows.\n");

static const char plan_usage[] =
    N_("usage: polku path plan KEY --plan-id ID --version N --review-due DATE\n"
       "\n"
       "Points the path at version N of plan ID held here, to be reviewed by\n"
       "DATE (YYYY-MM-DD or RFC 3339). Coordinator only.\n");

static const char service_usage[] =
    N_("usage: polku path service KEY --service NAME (--started | --ended)\n"
       "\n"
       "Records that this organisation's service for the client started or\n"
       "ended. When the coordinator's service ends, a rule may offer the\n"
       "handover to a successor; without one the end is refused.\n");

static const char close_usage[] = N_(
    "usage: polku path close KEY --reason REASON [--text TEXT]\n"
    "\n"
    "Closes the path without a successor. Coordinator only. REASON is\n"
    "no_longer_needed, client_declined, moved_away or other (with --text).\n");

/* "/v1/paths/KEY" + suffix, the key checked and lowercased. */
static int key_path(const char *cmd, const char *text, const char *suffix,
                    char *out, size_t len)
{
    char key[33];
    if (!cli_client_key(text, key))
        return cli_usage_error("%s: not a client key (32 hex characters): "
                               "'%s'",
                               cmd, text);
    snprintf(out, len, "/v1/paths/%s%s", key, suffix);
    return CLI_OK;
}

/* The claim's answer as a line: won, already here, or queued. */
static void print_claimed(long status, const json_t *a)
{
    char b1[40], b2[40], b3[32];
    const char *key = cli_field(a, "client_key", b1, sizeof b1);
    if (status == 202) {
        printf(_("path %s: claim pending, the broker has not answered yet; "
                 "'polku path show %s' tells the outcome\n"),
               key, key);
        return;
    }
    printf(_("path %s %s: coordinator %s (term %s)\n"), key,
           status == 201 ? _("claimed") : _("already coordinated here"),
           cli_field(a, "coordinator", b2, sizeof b2),
           cli_field(a, "term", b3, sizeof b3));
}

static int path_claim(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *key = NULL, *hetu = NULL;
    const cli_opt opts[] = {
        {"client", &key, NULL}, {"hetu", &hetu, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    json_t *client = NULL;
    if (rc == CLI_OK)
        rc = cli_client_arg("path claim", key, hetu, &client);
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_pack("{s:o}", "client", client);
    if (body == NULL)
        return cli_fail("out of memory");
    long status = 0;
    json_t *answer = NULL;
    rc = cli_request(c, "POST", "/v1/paths", body, &status, &answer);
    json_decref(body);
    const char *coordinator =
        json_string_value(json_object_get(answer, "coordinator"));
    if (rc == CLI_OK && (status < 200 || status > 299)) {
        rc = cli_answer_error(c, status, answer);
        if (coordinator != NULL && !c->json) {
            fprintf(stderr, "polku: %s",
                    _("the client's path is coordinated "
                      "by "));
            cli_print_clean(stderr, coordinator);
            fputc('\n', stderr);
        }
    } else if (rc == CLI_OK && answer == NULL) {
        rc = cli_fail("the agent's answer is not JSON (HTTP %ld)", status);
    } else if (rc == CLI_OK && c->json) {
        cli_print_json(answer);
    } else if (rc == CLI_OK) {
        print_claimed(status, answer);
    }
    json_decref(answer);
    return rc;
}

/* What a person can do about a refused shared view. */
static void show_hint(long status)
{
    if (status == 403)
        fprintf(stderr, "polku: %s\n",
                _("the shared path needs an active consent of the client "
                  "naming this organisation with purpose 'path'; "
                  "'--local' shows this organisation's own view"));
    else if (status == 503 || status == 504)
        fprintf(stderr, "polku: %s\n",
                _("the broker did not answer; '--local' shows this "
                  "organisation's own view without it"));
}

static int path_show(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"KEY", NULL};
    const char *pos[1];
    bool local = false;
    const cli_opt opts[] = {{"local", NULL, &local}, {NULL, NULL, NULL}};
    char path[PATH_MAX_LEN];
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK)
        rc = key_path("path show", pos[0], local ? "?view=local" : "", path,
                      sizeof path);
    if (rc != CLI_OK)
        return rc;
    long status = 0;
    json_t *answer = NULL;
    rc = cli_request(c, "GET", path, NULL, &status, &answer);
    if (rc == CLI_OK && (status < 200 || status > 299)) {
        rc = cli_answer_error(c, status, answer);
        if (!local)
            show_hint(status);
    } else if (rc == CLI_OK && !json_is_object(answer)) {
        rc = cli_fail("the agent's answer is not a path (HTTP %ld)", status);
    } else if (rc == CLI_OK && c->json) {
        cli_print_json(answer);
    } else if (rc == CLI_OK) {
        (local ? cli_print_local_path : cli_print_shared_path)(answer);
    }
    json_decref(answer);
    return rc;
}

static void print_list(const json_t *list)
{
    static const char *const heads[] = {
        N_("CLIENT KEY"), N_("COORDINATOR"),   N_("TERM"),   N_("MINE"),
        N_("CLOSED"),     N_("OPEN HANDOVER"), N_("UPDATED")};
    static const char *const keys[] = {
        "client_key", "coordinator",   "term",   "i_coordinate",
        "closed",     "open_handover", "updated"};
    cli_print_rows(list, 7, heads, keys, _("no paths"));
}

static int path_list(cli *c, int argc, char **argv, const cli_cmd *self)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    return cli_get_list(c, "/v1/paths", "paths", print_list, NULL);
}

/* POSTs body (taken; NULL: out of memory) to path; prints the answer with
 * --json, else what(answer, arg). */
static int post_change(cli *c, const char *path, json_t *body,
                       void (*what)(const json_t *, const void *),
                       const void *arg)
{
    if (body == NULL)
        return cli_fail("out of memory");
    json_t *answer = NULL;
    int rc = cli_call(c, "POST", path, body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json)
        cli_print_json(answer);
    else if (rc == CLI_OK)
        what(answer, arg);
    json_decref(answer);
    return rc;
}

int cli_plan_version(const char *cmd, const char *text, json_int_t *out)
{
    if (text == NULL)
        return cli_usage_error("%s: missing --version N", cmd);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v < 1 ||
        v > (long long)UINT32_MAX)
        return cli_usage_error("%s: --version is a whole number from 1, not "
                               "'%s'",
                               cmd, text);
    *out = (json_int_t)v;
    return CLI_OK;
}

static void print_plan(const json_t *p, const void *unused)
{
    char b1[40], buf[256];
    printf(_("path %s plan: %s\n"), cli_field(p, "client_key", b1, sizeof b1),
           cli_plan_text(json_object_get(p, "plan"), buf, sizeof buf));
}

static int path_plan(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"KEY", NULL};
    const char *pos[1], *plan_id = NULL, *version = NULL, *due = NULL;
    const cli_opt opts[] = {{"plan-id", &plan_id, NULL},
                            {"version", &version, NULL},
                            {"review-due", &due, NULL},
                            {NULL, NULL, NULL}};
    char path[PATH_MAX_LEN];
    json_int_t v = 0;
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK && (plan_id == NULL || plan_id[0] == '\0'))
        rc = cli_usage_error("path plan: missing --plan-id ID");
    if (rc == CLI_OK && (due == NULL || due[0] == '\0'))
        rc = cli_usage_error("path plan: missing --review-due DATE");
    if (rc == CLI_OK)
        rc = cli_plan_version("path plan", version, &v);
    if (rc == CLI_OK)
        rc = key_path("path plan", pos[0], "/plan", path, sizeof path);
    if (rc != CLI_OK)
        return rc;
    return post_change(c, path,
                       json_pack("{s:s, s:I, s:s}", "plan_id", plan_id,
                                 "version", v, "review_due", due),
                       print_plan, NULL);
}

typedef struct service_args {
    const char *service, *state;
} service_args;

/* "path KEY: service NAME started|ended", and the handover an end
 * offered by rule, if any. */
static void print_service(const json_t *a, const void *arg)
{
    const service_args *sa = arg;
    const json_t *p = json_object_get(a, "path");
    const json_t *h = json_object_get(a, "handover");
    char b[4][40];
    cli_say(_("path %s: service %s %s"), cli_field(p, "client_key", b[0], 40),
            sa->service,
            strcmp(sa->state, "started") == 0 ? _("started") : _("ended"));
    if (json_is_object(h))
        printf(_("handover %s offered to %s (rule %s)\n"),
               cli_field(h, "id", b[1], 40), cli_field(h, "to", b[2], 40),
               cli_field(h, "rule", b[3], 40));
}

static int path_service(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"KEY", NULL};
    const char *pos[1], *service = NULL;
    bool started = false, ended = false;
    const cli_opt opts[] = {{"service", &service, NULL},
                            {"started", NULL, &started},
                            {"ended", NULL, &ended},
                            {NULL, NULL, NULL}};
    char path[PATH_MAX_LEN];
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK && (service == NULL || service[0] == '\0'))
        rc = cli_usage_error("path service: missing --service NAME");
    if (rc == CLI_OK && started == ended)
        rc = cli_usage_error("path service: give --started or --ended");
    if (rc == CLI_OK)
        rc = key_path("path service", pos[0], "/services", path, sizeof path);
    if (rc != CLI_OK)
        return rc;
    service_args sa = {service, started ? "started" : "ended"};
    return post_change(
        c, path,
        json_pack("{s:s, s:s}", "service", sa.service, "state", sa.state),
        print_service, &sa);
}

static void print_closed(const json_t *p, const void *unused)
{
    char b1[40], b2[40];
    printf(_("path %s closed: %s\n"), cli_field(p, "client_key", b1, sizeof b1),
           cli_field(p, "closed_reason", b2, sizeof b2));
}

static int path_close(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"KEY", NULL};
    const char *pos[1], *reason = NULL, *text = NULL;
    const cli_opt opts[] = {
        {"reason", &reason, NULL}, {"text", &text, NULL}, {NULL, NULL, NULL}};
    char path[PATH_MAX_LEN];
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc == CLI_OK && (reason == NULL || reason[0] == '\0'))
        rc = cli_usage_error("path close: missing --reason REASON");
    if (rc == CLI_OK)
        rc = key_path("path close", pos[0], "/close", path, sizeof path);
    if (rc != CLI_OK)
        return rc;
    json_t *body = json_object();
    if (cli_set_text(body, "reason", reason) ||
        cli_set_text(body, "text", text)) {
        json_decref(body);
        body = NULL;
    }
    return post_change(c, path, body, print_closed, NULL);
}

static const cli_cmd verbs[] = {
    {"claim", "claim coordination", claim_usage, path_claim},
    {"show", "one path as a timeline", show_usage, path_show},
    {"list", "list", list_usage, path_list},
    {"plan", "plan pointer", plan_usage, path_plan},
    {"service", "service started or ended", service_usage, path_service},
    {"close", "close without a successor", close_usage, path_close},
    {NULL, NULL, NULL, NULL}};

int cli_path(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, verbs, self->usage);
}
