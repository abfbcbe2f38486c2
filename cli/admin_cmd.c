/* admin_cmd.c — the operator's commands: make an organisation's key file
 * and the region's pseudonym secret (never overwriting one), and ask an
 * agent how it is doing. */
#include "cli.h"
#include "i18n.h"

#include "polku/error.h"
#include "polku/keys.h"

#include <errno.h>
#include <string.h>

const char cli_keygen_usage[] =
    N_("usage: polku keygen --out FILE\n"
       "\n"
       "Writes a new CURVE key pair to FILE (INI: [curve] public, secret;\n"
       "readable only by its owner) and prints the public key (Z85). An\n"
       "existing FILE is never overwritten.\n");

const char cli_secret_usage[] =
    N_("usage: polku secret --out FILE\n"
       "\n"
       "Writes a new regional pseudonym secret (64 hex characters, readable\n"
       "only by its owner) to FILE. Every agent of a region uses the same\n"
       "secret. An existing FILE is never overwritten.\n");

const char cli_status_usage[] = N_(
    "usage: polku [--agent URL] [--json] status\n"
    "\n"
    "Shows the agent's organisation, its connection to the broker and how\n"
    "many messages wait in its outbox (GET /healthz). broker: \"refused:\n"
    "duplicate_session\" means another process with this organisation's key\n"
    "holds the broker's session; this agent takes over when it goes silent.\n");

const char cli_reconcile_usage[] =
    N_("usage: polku [--agent URL] [--json] reconcile\n"
       "\n"
       "Lists what this agent's store knows it lost after a restore from an\n"
       "older copy (a backup or a VM snapshot), from what the broker and the\n"
       "other organisations told it (GET /v1/reconcile): each repair of its\n"
       "log (the sequences others hold that it does not, what it sent again)\n"
       "and each object another organisation wrote about that it does not\n"
       "hold, with who holds it. Look those up with the organisations named.\n"
       "Exit 0 with nothing to reconcile, 3 when something is listed.\n");

/* Explains a failed write of a secret file. */
static int write_failed(const char *what, const char *path, int rc)
{
    if (rc == POLKU_EEXIST)
        return cli_fail("%s exists; not overwriting it", path);
    if (rc == POLKU_EIO)
        return cli_fail("cannot write %s %s: %s", what, path, strerror(errno));
    return cli_fail("cannot make %s: %s", what, polku_strerror(rc));
}

int cli_keygen(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *out = NULL;
    const cli_opt opts[] = {{"out", &out, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (out == NULL || out[0] == '\0')
        return cli_usage_error("keygen: missing --out FILE");
    polku_keypair kp;
    rc = polku_keypair_generate(&kp);
    if (rc == POLKU_OK)
        rc = polku_keyfile_write(out, &kp);
    if (rc != POLKU_OK)
        return write_failed(_("key file"), out, rc);
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s}", "public_key", kp.public_z85, "file", out);
        if (j != NULL)
            cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", kp.public_z85);
    }
    memset(&kp, 0, sizeof kp);
    return CLI_OK;
}

int cli_secret(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *out = NULL;
    const cli_opt opts[] = {{"out", &out, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (out == NULL || out[0] == '\0')
        return cli_usage_error("secret: missing --out FILE");
    rc = polku_secret_write(out);
    if (rc != POLKU_OK)
        return write_failed(_("secret"), out, rc);
    if (!c->json)
        printf(_("wrote a regional pseudonym secret to %s\n"), out);
    return CLI_OK;
}

static void print_health(const json_t *h)
{
    char buf[32];
    cli_print_field(stdout, 12, _("agent:"),
                    cli_word(cli_field(h, "status", buf, 32)));
    cli_print_field(stdout, 12, _("org:"), cli_field(h, "org", buf, 32));
    const char *broker = cli_field(h, "broker", buf, 32);
    cli_print_field(stdout, 12, _("broker:"), cli_word(broker));
    const char *detail = json_string_value(json_object_get(h, "broker_detail"));
    if (detail && detail[0]) { /* why it is not connected (newer agents) */
        printf("%-12s ", "");
        cli_print_clean(stdout, detail);
        printf(" %s\n", _("(see the agent's log)"));
    } else if (broker && strcmp(broker, "refused: duplicate_session") == 0)
        printf("%-12s %s\n", "",
               _("another process with this organisation's key is "
                 "connected to the broker (see the agent's log)"));
    cli_print_field(stdout, 12, _("epoch:"), cli_field(h, "epoch", buf, 32));
    char pending[64];
    snprintf(pending, sizeof pending, _("%s pending"),
             cli_field(h, "outbox_pending", buf, sizeof buf));
    cli_print_field(stdout, 12, _("outbox:"), pending);
    const char *region = json_string_value(json_object_get(h, "region"));
    if (region)
        cli_print_field(stdout, 12, _("region:"), region);
    json_t *regions = json_object_get(h, "regions"), *r;
    size_t i;
    json_array_foreach(regions, i, r)
    { /* an agent serving several regions: each one's link and outbox */
        char line[160], word[32], count[32];
        snprintf(pending, sizeof pending, _("%s pending"),
                 cli_field(r, "outbox_pending", count, sizeof count));
        snprintf(line, sizeof line, "%s: %s, %s",
                 json_string_value(json_object_get(r, "region"))
                     ? json_string_value(json_object_get(r, "region"))
                     : "?",
                 cli_word(cli_field(r, "broker", word, sizeof word)), pending);
        cli_print_field(stdout, 12, i == 0 ? _("regions:") : "", line);
    }
}

int cli_status(cli *c, int argc, char **argv, const cli_cmd *self)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    long status = 0;
    json_t *h = NULL;
    rc = cli_request(c, "GET", "/healthz", NULL, &status, &h);
    if (rc != CLI_OK)
        return rc;
    /* an unhealthy agent may still answer with its health object */
    bool ok = status >= 200 && status <= 299;
    if (!json_is_object(h) || json_object_get(h, "status") == NULL) {
        rc =
            ok ? cli_fail("unexpected answer from the agent (HTTP %ld)", status)
               : cli_answer_error(c, status, h);
        json_decref(h);
        return rc;
    }
    if (c->json)
        cli_print_json(h);
    else
        print_health(h);
    json_decref(h);
    if (!ok)
        return cli_fail("the agent is not healthy (HTTP %ld)", status);
    return CLI_OK;
}

static void print_repair(json_t *r)
{
    json_t *lost = json_object_get(r, "lost_seqs");
    char at[40];
    printf(_("  %s  log repaired (told by %s): "),
           cli_time_field(r, "at", at, sizeof at),
           json_string_value(json_object_get(r, "told_by")));
    if (json_is_array(lost))
        printf(_("seqs %lld..%lld are held by others, not here; "),
               (long long)json_integer_value(json_array_get(lost, 0)),
               (long long)json_integer_value(json_array_get(lost, 1)));
    printf(_("%lld pending events sent again; incarnation %s -> %s\n"),
           (long long)json_integer_value(json_object_get(r, "resent")),
           json_string_value(json_object_get(r, "old_incarnation")),
           json_string_value(json_object_get(r, "new_incarnation")));
}

static void print_unknown(json_t *u)
{
    const char *id = json_string_value(json_object_get(u, "id"));
    if (!id)
        id = json_string_value(json_object_get(u, "client_key"));
    char last[40];
    printf(_("  %-8s %s  not held here; %s wrote about it (%s, seq %lld, "
             "%lld events, last %s)\n"),
           json_string_value(json_object_get(u, "object")), id ? id : "?",
           json_string_value(json_object_get(u, "from")),
           json_string_value(json_object_get(u, "event")),
           (long long)json_integer_value(json_object_get(u, "origin_seq")),
           (long long)json_integer_value(json_object_get(u, "seen")),
           cli_time_field(u, "last", last, sizeof last));
}

int cli_reconcile(cli *c, int argc, char **argv, const cli_cmd *self)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    long status = 0;
    json_t *j = NULL;
    rc = cli_request(c, "GET", "/v1/reconcile", NULL, &status, &j);
    if (rc != CLI_OK)
        return rc;
    json_t *repairs = json_object_get(j, "repairs");
    json_t *unknown = json_object_get(j, "unknown");
    if (status != 200 || !json_is_array(repairs) || !json_is_array(unknown)) {
        rc = status == 200
                 ? cli_fail("unexpected answer from the agent (HTTP %ld)",
                            status)
                 : cli_answer_error(c, status, j);
        json_decref(j);
        return rc;
    }
    size_t n = json_array_size(repairs) + json_array_size(unknown);
    if (c->json) {
        cli_print_json(j);
    } else if (n == 0) {
        printf(_("%s: nothing to reconcile (incarnation %s, last seq %lld)\n"),
               json_string_value(json_object_get(j, "org")),
               json_string_value(json_object_get(j, "incarnation")),
               (long long)json_integer_value(json_object_get(j, "last_seq")));
    } else {
        printf(_("%s: incarnation %s, last seq %lld%s\n"),
               json_string_value(json_object_get(j, "org")),
               json_string_value(json_object_get(j, "incarnation")),
               (long long)json_integer_value(json_object_get(j, "last_seq")),
               json_is_true(json_object_get(j, "resend_pending"))
                   ? _("; still to ask the others to send again")
                   : "");
        size_t i;
        json_t *it;
        if (json_array_size(repairs))
            printf("%s\n", _("repairs of this store's log:"));
        json_array_foreach(repairs, i, it) print_repair(it);
        if (json_array_size(unknown))
            printf("%s\n", _("objects others hold that this store lost:"));
        json_array_foreach(unknown, i, it) print_unknown(it);
    }
    json_decref(j);
    return n ? CLI_ATTENTION : CLI_OK;
}
