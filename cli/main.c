/* main.c — the polku command-line tool: staff and operators talk to their
 * organisation's agent (referrals, consents, paths, handovers, status) and
 * make keys and secrets.
 * This file holds the global options, the option parser every command uses
 * and the table of nouns; the commands live in *_cmd.c. */
#include "cli.h"
#include "i18n.h"

#include <curl/curl.h>
#include <ctype.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "polku/version.h"

#define DEFAULT_AGENT "http://127.0.0.1:7001"
#define MAX_OPTIONS 24

enum {
    OPT_AGENT = 1000,
    OPT_TOKEN,
    OPT_JSON,
    OPT_HELP,
    OPT_LANG,
    OPT_REGION,
    OPT_VERSION,
    OPT_BASE = 2000
};

static const char usage_text[] = N_(
    "usage: polku [--agent URL] [--token-file FILE] [--region NAME] [--json]\n"
    "             [--lang LANG] COMMAND ...\n"
    "\n"
    "Talks to the local API of an organisation's polku-agent; makes keys.\n"
    "\n"
    "commands:\n"
    "  referral   create, list, show, answer and cancel referrals\n"
    "  consent    record, list and revoke a client's consents\n"
    "  path       claim, show and close the coordination of a client's path\n"
    "  handover   offer, answer, list and show coordination handovers\n"
    "  client     the client's access report: who handled their data\n"
    "  status     the agent's organisation, broker connection and outbox\n"
    "  reconcile  what this store lost when it was restored from an older "
    "copy\n"
    "  report     the broker's coordination report (--broker URL)\n"
    "  log        verify the event log's hash chain; the chain signing key\n"
    "  keygen     write a new CURVE key file and print its public key\n"
    "  secret     write a new regional pseudonym secret\n"
    "\n"
    "options (accepted before or after the command):\n"
    "  --agent URL        the agent's API (default $POLKU_AGENT or\n"
    "                     http://127.0.0.1:7001)\n"
    "  --token-file FILE  bearer token for the API (default "
    "$POLKU_TOKEN_FILE)\n"
    "  --region NAME      the region an agent serving several is asked about\n"
    "                     (default: the one the request names, else all)\n"
    "  --json             print the agent's JSON, for scripts\n"
    "  --lang fi|sv|en    the language (default from LANG or LC_MESSAGES)\n"
    "  --help             this text; 'polku COMMAND --help' for a command\n"
    "  --version          print polku's version and exit\n"
    "\n"
    "exit status: 0 done, 1 failed (agent unreachable or refused),\n"
    "2 usage error, 3 something to act on (reconcile)\n");

static const cli_cmd nouns[] = {
    {"referral", "referrals", cli_referral_usage, cli_referral},
    {"consent", "consents", cli_consent_usage, cli_consent},
    {"path", "paths", cli_path_usage, cli_path},
    {"handover", "handovers", cli_handover_usage, cli_handover},
    {"client", "client access report", cli_client_usage, cli_client},
    {"status", "agent status", cli_status_usage, cli_status},
    {"reconcile", "what a restored store lost", cli_reconcile_usage,
     cli_reconcile},
    {"report", "coordination report", cli_report_usage, cli_report},
    {"log", "the event log's hash chain", cli_log_usage, cli_log},
    {"keygen", "key file", cli_keygen_usage, cli_keygen},
    {"secret", "pseudonym secret", cli_secret_usage, cli_secret},
    {NULL, NULL, NULL, NULL},
};

/* The command being parsed ("referral create"), for messages. */
static char command[64];

static void set_command(const char *noun, const char *verb)
{
    snprintf(command, sizeof command, "%s%s%s", noun, verb ? " " : "",
             verb ? verb : "");
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("polku: ", stderr);
    vfprintf(stderr, _(fmt), ap);
    fprintf(stderr, _("\nTry 'polku %s%s--help'.\n"), command,
            command[0] ? " " : "");
    va_end(ap);
    return CLI_USAGE;
}

/* The getopt error for the option just seen. */
static int option_error(int ch, char **argv)
{
    char shortopt[3] = {'-', (char)optopt, '\0'};
    bool is_short = optopt > 0 && optopt < 128 && isalnum(optopt);
    const char *name = is_short ? shortopt : argv[optind - 1];
    if (ch == ':')
        return cli_usage_error("option '%s' needs a value", name);
    return cli_usage_error("unknown option '%s'", name);
}

/* Handles an option every command accepts. Returns true if it was one. */
static bool global_option(cli *c, int ch, bool *help)
{
    switch (ch) {
    case OPT_AGENT:
        c->agent = optarg;
        return true;
    case OPT_TOKEN:
        c->token_file = optarg;
        return true;
    case OPT_JSON:
        c->json = true;
        return true;
    case OPT_REGION:
        c->region = optarg;
        return true;
    case OPT_LANG: /* taken by cli_i18n_init before the parse */
        return true;
    case 'h':
    case OPT_HELP:
        *help = true;
        return true;
    }
    return false;
}

static size_t add_global_options(struct option *longs)
{
    longs[0] = (struct option){"agent", required_argument, NULL, OPT_AGENT};
    longs[1] =
        (struct option){"token-file", required_argument, NULL, OPT_TOKEN};
    longs[2] = (struct option){"json", no_argument, NULL, OPT_JSON};
    longs[3] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longs[4] = (struct option){"lang", required_argument, NULL, OPT_LANG};
    longs[5] = (struct option){"region", required_argument, NULL, OPT_REGION};
    return 6;
}

static int check_positional(int argc, char **argv, const char *const *pos_names,
                            const char **pos)
{
    int want = 0;
    while (pos_names != NULL && pos_names[want] != NULL)
        want++;
    int have = argc - optind;
    if (have < want)
        return cli_usage_error("%s: missing argument %s", command,
                               pos_names[have]);
    if (have > want)
        return cli_usage_error("%s: unexpected argument '%s'", command,
                               argv[optind + want]);
    for (int i = 0; i < want; i++)
        pos[i] = argv[optind + i];
    return CLI_OK;
}

int cli_parse(cli *c, int argc, char **argv, const cli_opt *opts,
              const char *const *pos_names, const char **pos, const char *usage)
{
    struct option longs[MAX_OPTIONS + 7];
    size_t n = add_global_options(longs);
    size_t nopts = 0;
    while (opts != NULL && opts[nopts].name != NULL && nopts < MAX_OPTIONS) {
        longs[n++] = (struct option){
            opts[nopts].name,
            opts[nopts].value != NULL ? required_argument : no_argument, NULL,
            OPT_BASE + (int)nopts};
        nopts++;
    }
    longs[n] = (struct option){NULL, 0, NULL, 0};

    bool help = false;
    int ch;
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (ch == '?' || ch == ':')
            return option_error(ch, argv);
        if (global_option(c, ch, &help))
            continue;
        const cli_opt *o = &opts[ch - OPT_BASE];
        if (o->value != NULL)
            *o->value = optarg;
        else
            *o->flag = true;
    }
    if (help) {
        fputs(_(usage), stdout);
        return CLI_HELP;
    }
    return check_positional(argc, argv, pos_names, pos);
}

bool cli_one_of(const char *text, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++) {
        if (strcmp(text, set[i]) == 0)
            return true;
    }
    return false;
}

bool cli_client_key(const char *text, char out[33])
{
    if (strlen(text) != 32)
        return false;
    for (size_t i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)text[i]))
            return false;
        out[i] = (char)tolower((unsigned char)text[i]);
    }
    out[32] = '\0';
    return true;
}

int cli_client_arg(const char *cmd, const char *key, const char *hetu,
                   json_t **out)
{
    char lower[33];
    *out = NULL;
    if ((key == NULL) == (hetu == NULL))
        return cli_usage_error("%s: give --client KEY or --hetu HETU", cmd);
    if (key != NULL && !cli_client_key(key, lower))
        return cli_usage_error("%s: --client needs a client key of 32 hex "
                               "characters",
                               cmd);
    json_t *client = json_object();
    if (client == NULL || cli_set_text(client, key != NULL ? "key" : "hetu",
                                       key != NULL ? lower : hetu) != 0) {
        json_decref(client);
        return cli_fail("out of memory");
    }
    *out = client;
    return CLI_OK;
}

static const cli_cmd *find_cmd(const cli_cmd *cmds, const char *name)
{
    for (const cli_cmd *cmd = cmds; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    }
    return NULL;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 ||
           strcmp(arg, "help") == 0;
}

int cli_dispatch(cli *c, int argc, char **argv, const cli_cmd *cmds,
                 const char *noun_help)
{
    if (argc < 2) {
        fputs(_(noun_help), stderr);
        return cli_usage_error("%s: missing command", argv[0]);
    }
    if (is_help(argv[1])) {
        fputs(_(noun_help), stdout);
        return CLI_HELP;
    }
    const cli_cmd *cmd = find_cmd(cmds, argv[1]);
    if (cmd == NULL)
        return cli_usage_error("unknown %s command '%s'", argv[0], argv[1]);
    set_command(argv[0], argv[1]);
    return cmd->run(c, argc - 1, argv + 1, cmd);
}

/* Global options before the noun; returns the index of the noun, or an
 * exit code (negative-mapped) through *rc. */
static int parse_globals(cli *c, int argc, char **argv, int *rc)
{
    struct option longs[9]; /* the global options, --version, the end */
    size_t n = add_global_options(longs);
    longs[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    longs[n] = (struct option){NULL, 0, NULL, 0};
    bool help = false, version = false;
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+:h", longs, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            *rc = option_error(ch, argv);
            return -1;
        }
        if (ch == OPT_VERSION)
            version = true;
        else
            global_option(c, ch, &help);
    }
    if (version) {
        polku_version_print(stdout, "polku");
        *rc = CLI_OK;
        return -1;
    }
    if (help) {
        fputs(_(usage_text), stdout);
        *rc = CLI_OK;
        return -1;
    }
    if (optind >= argc) {
        fputs(_(usage_text), stderr);
        *rc = cli_usage_error("missing command");
        return -1;
    }
    return optind;
}

static int run(int argc, char **argv)
{
    cli c = {getenv("POLKU_AGENT"), getenv("POLKU_TOKEN_FILE"), false, NULL};
    if (c.agent == NULL || c.agent[0] == '\0')
        c.agent = DEFAULT_AGENT;
    if (c.token_file != NULL && c.token_file[0] == '\0')
        c.token_file = NULL;
    int rc = CLI_OK;
    int first = parse_globals(&c, argc, argv, &rc);
    if (first < 0)
        return rc;
    if (is_help(argv[first])) {
        fputs(_(usage_text), stdout);
        return CLI_OK;
    }
    const cli_cmd *noun = find_cmd(nouns, argv[first]);
    if (noun == NULL)
        return cli_usage_error("unknown command '%s'", argv[first]);
    set_command(noun->name, NULL);
    rc = noun->run(&c, argc - first, argv + first, noun);
    return rc == CLI_HELP ? CLI_OK : rc;
}

int main(int argc, char **argv)
{
    if (cli_i18n_init(argc, argv) == NULL)
        return cli_usage_error("unknown language '%s' for --lang (one of fi, "
                               "sv, en)",
                               cli_lang_arg(argc, argv));
    if (sodium_init() < 0)
        return cli_fail("cannot initialise libsodium");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cli_fail("cannot initialise libcurl");
    int rc = run(argc, argv);
    curl_global_cleanup();
    fflush(stdout);
    if (ferror(stdout))
        return CLI_FAIL;
    return rc;
}
