/* cli.h — what the files of the polku command-line tool share: the global
 * options, the option parser, the agent HTTP client and the printers.
 * Not a public header: only the files in cli/ include it. */
#ifndef POLKU_CLI_H
#define POLKU_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

/* Exit codes (DESIGN.md §10). CLI_HELP is internal: help was printed. */
/* CLI_ATTENTION: the command worked and found something to act on */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
    CLI_ATTENTION = 3,
    CLI_HELP = -1
};

typedef struct cli {
    const char *agent;      /* base URL, e.g. http://127.0.0.1:7001 */
    const char *token_file; /* NULL: no Authorization header */
    bool json;              /* print the agent's JSON instead of tables */
    const char *region;     /* --region: ?region= on every request, or NULL */
} cli;

/* One option of a command: --name VALUE (value != NULL) or --name (flag). */
typedef struct cli_opt {
    const char *name;
    const char **value;
    bool *flag;
} cli_opt;

/* A command: name, what it does in one line, usage text, handler. argv[0]
 * is the command's own name. */
typedef struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(cli *c, int argc, char **argv, const struct cli_cmd *self);
} cli_cmd;

/* --- main.c --- */

/* Prints "polku: <message>" and a hint to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "polku: <message>" to stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses argv[1..] against opts (NULL-name terminated) plus the global
 * options (--agent, --token-file, --json, --help, accepted everywhere).
 * Positional arguments must match pos_names (NULL-terminated, all required)
 * and are stored in pos. Returns CLI_OK, CLI_USAGE (message printed) or
 * CLI_HELP (usage printed to stdout). */
int cli_parse(cli *c, int argc, char **argv, const cli_opt *opts,
              const char *const *pos_names, const char **pos,
              const char *usage);

/* Runs the command of cmds (NULL-name terminated) named argv[1] for noun
 * argv[0]; prints the noun's help for --help or no verb. */
int cli_dispatch(cli *c, int argc, char **argv, const cli_cmd *cmds,
                 const char *noun_help);

/* Whether text is one of set (NULL-terminated). */
bool cli_one_of(const char *text, const char *const *set);

/* A client key is 32 hex characters; true and the key lowercased into out
 * if text is one. */
bool cli_client_key(const char *text, char out[33]);

/* The request's "client" object from --client KEY or --hetu HETU (exactly
 * one; the key is lowercased). cmd ("path claim") prefixes messages.
 * Returns CLI_OK with *out set (caller decrefs), or CLI_USAGE / CLI_FAIL
 * with a message printed and *out NULL. */
int cli_client_arg(const char *cmd, const char *key, const char *hetu,
                   json_t **out);

/* --- admin_cmd.c: keygen, secret, status --- */
int cli_keygen(cli *c, int argc, char **argv, const cli_cmd *self);
int cli_secret(cli *c, int argc, char **argv, const cli_cmd *self);
int cli_status(cli *c, int argc, char **argv, const cli_cmd *self);
int cli_reconcile(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_keygen_usage[], cli_secret_usage[], cli_status_usage[],
    cli_reconcile_usage[];

/* --- log_cmd.c: the event log's hash chain --- */
int cli_log(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_log_usage[];
/* --- report_cmd.c: the broker's coordination report --- */
int cli_report(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_report_usage[];

/* --- referral_cmd.c --- */
int cli_referral(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_referral_usage[];

/* --- consent_cmd.c --- */
int cli_consent(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_consent_usage[];

/* --- path_cmd.c --- */
int cli_path(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_path_usage[];
/* A plan --version (a whole number from 1 to 2^32 - 1) into *out; else a
 * usage error prefixed with cmd. Returns CLI_OK or CLI_USAGE. */
int cli_plan_version(const char *cmd, const char *text, json_int_t *out);

/* --- path_print.c --- */
/* A plan pointer {org, plan_id, version, review_due} as one line of text
 * ("-" when plan is not an object) in buf. Returns buf. */
const char *cli_plan_text(const json_t *plan, char *buf, size_t len);
/* This agent's own record of a path (GET /v1/paths/KEY?local=1). */
void cli_print_local_path(const json_t *p);
/* The broker's shared path: header, open referrals, timeline. */
void cli_print_shared_path(const json_t *p);

/* --- access_cmd.c: the client's access report --- */
int cli_client(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_client_usage[];

/* --- handover_cmd.c --- */
int cli_handover(cli *c, int argc, char **argv, const cli_cmd *self);
extern const char cli_handover_usage[];

/* --- client.c: the agent's local API over libcurl --- */

/* Sends one request (body may be NULL; not consumed) to c->agent + path.
 * On a transport failure prints "cannot reach agent at URL: why" and
 * returns CLI_FAIL. Otherwise *status is the HTTP status and *out the
 * parsed body (NULL when empty or not JSON; caller decrefs). */
int cli_request(const cli *c, const char *method, const char *path,
                json_t *body, long *status, json_t **out);

/* cli_request, then: a non-2xx answer prints the agent's error code and
 * message (and, with --json, the body on stdout) and returns CLI_FAIL. */
int cli_call(const cli *c, const char *method, const char *path, json_t *body,
             json_t **out);

/* Prints an error answer: "polku: CODE: MESSAGE (HTTP 409)" on stderr and,
 * with --json, body on stdout. Returns CLI_FAIL. */
int cli_answer_error(const cli *c, long status, const json_t *body);

/* Sets obj[key] to the string text when text is not NULL. Returns 0, or
 * -1 when out of memory. */
int cli_set_text(json_t *obj, const char *key, const char *text);

/* Percent-encodes text for a URL path segment or query value into out.
 * Returns false if it does not fit. */
bool cli_url_escape(const char *text, char *out, size_t out_len);

/* Appends "?name=value" (or "&name=value"), value escaped, to the path in
 * out when value is not NULL. Returns false if it does not fit. */
bool cli_add_query(char *out, size_t len, const char *name, const char *value);

/* GETs path (a list route) and prints the answer's array member: as JSON
 * with --json (through print_json when not NULL, else cli_print_json),
 * otherwise through print_list. CLI_OK or the error (printed); an answer
 * without the array is an error. */
int cli_get_list(const cli *c, const char *path, const char *member,
                 void (*print_list)(const json_t *list),
                 void (*print_json)(json_t *answer));

/* --- print.c --- */

typedef struct cli_table cli_table;

/* A table with ncols columns headed by heads. Caller owns the result. */
cli_table *cli_table_new(size_t ncols, const char *const *heads);
/* Appends a row of ncols cells (copied; control characters replaced). */
void cli_table_add(cli_table *t, const char *const *cells);
/* Prints the table with columns padded to their widest cell. */
void cli_table_print(const cli_table *t, FILE *out);
/* Frees t and sets it NULL; accepts NULL. */
void cli_table_free(cli_table **t);

/* At most this many columns in cli_print_rows. */
#define CLI_ROWS_MAX_COLS 8

/* Prints list's objects as a table, one row each: column k headed
 * heads[k] shows obj[keys[k]] as a person reads it (cli_time_field, then
 * cli_word). An empty list prints the line empty (already translated)
 * instead, or the heads alone when empty is NULL. */
void cli_print_rows(const json_t *list, size_t ncols, const char *const *heads,
                    const char *const *keys, const char *empty);

/* A referral's or handover's history: status, time, by whom, reason. */
void cli_print_history(const json_t *history);

/* The text of obj[key]: the string, "yes"/"no", a number (written into
 * buf), or "-" when absent or null. */
const char *cli_field(const json_t *obj, const char *key, char *buf,
                      size_t len);

/* Prints "label: value" with labels aligned to width; control characters
 * in value are replaced. */
void cli_print_field(FILE *out, int width, const char *label,
                     const char *value);

/* Prints one line on stdout from fmt (already translated) with control
 * characters of the result replaced, then a newline. */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes text to out with control characters replaced by spaces. */
void cli_print_clean(FILE *out, const char *text);

/* An RFC 3339 time as "YYYY-MM-DD HH:MM" (UTC) in English, in the local
 * conventions of fi and sv (cli_local_time), in buf; other text as it
 * is, "-" for NULL. Returns buf. */
const char *cli_short_time(const char *rfc3339, char *buf, size_t len);

/* obj[key] for a person: an RFC 3339 time in the local conventions of
 * fi and sv (cli_local_time), as the agent wrote it in English; other
 * values as cli_field. Returns the text (buf or obj's). */
const char *cli_time_field(const json_t *obj, const char *key, char *buf,
                           size_t len);

/* A status or other machine word the agent writes (accepted, on-hold,
 * in, yes...) in the CLI's language for display; other text as it is.
 * Never use the result in a request or in --json output. */
const char *cli_word(const char *value);

/* An age in seconds as "42 s", "5 min", "3 h" or "2 d" (rounded down) in
 * buf. Returns buf. */
const char *cli_age_text(long long seconds, char *buf, size_t len);

/* Prints v as indented JSON and a newline on stdout. */
void cli_print_json(const json_t *v);

#endif
