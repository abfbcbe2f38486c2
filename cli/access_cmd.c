/* access_cmd.c — `polku client access`: who handled a client's data.
 *
 * The client's access report (POST /v1/clients/access): every event of
 * this organisation's log about the client — which organisation sent
 * what to whom, when, under which consent or override — and with
 * --network the same from every organisation of the client's consent
 * scope, gathered through the broker, with those that did not answer
 * named. A table by default, --csv for the printable report a coordinator
 * hands to the client, --json for scripts. */
#include "cli.h"
#include "i18n.h"

#include <stdlib.h>
#include <string.h>

const char cli_client_usage[] =
    N_("usage: polku client access (KEY | --client KEY | --hetu HETU)\n"
       "                           [--network] [--csv] [--json]\n"
       "\n"
       "The client's access report: every event of this organisation's log\n"
       "about the client (source, time, kind, object, destinations, consent\n"
       "or override). --network asks every organisation of the client's\n"
       "consent scope through the broker and names those that did not\n"
       "answer; only an organisation in the client's active consent may.\n"
       "--csv prints the report as CSV, to print and hand to the client.\n");

static void print_csv(const json_t *rep)
{
    printf("source,seq,at,kind,object_id,status,to,purpose,consent_id,"
           "override\n");
    size_t i, j;
    const json_t *row, *to;
    json_array_foreach(json_object_get(rep, "events"), i, row)
    {
        char b[6][64];
        printf("%s,%s,%s,%s,%s,%s,", cli_field(row, "source", b[0], 64),
               cli_field(row, "seq", b[1], 64), cli_field(row, "at", b[2], 64),
               cli_field(row, "kind", b[3], 64),
               json_is_string(json_object_get(row, "object_id"))
                   ? cli_field(row, "object_id", b[4], 64)
                   : "",
               json_is_string(json_object_get(row, "status"))
                   ? cli_field(row, "status", b[5], 64)
                   : "");
        json_array_foreach(json_object_get(row, "to"), j, to)
            printf("%s%s", j ? " " : "", json_string_value(to));
        const char *names[] = {"purpose", "consent_id", "override"};
        for (int k = 0; k < 3; k++) {
            const json_t *v = json_object_get(row, names[k]);
            printf(",%s", json_is_string(v) ? json_string_value(v) : "");
        }
        printf("\n");
    }
    json_array_foreach(json_object_get(rep, "not_answering"), i, row)
        printf("%s,,,not_answering,,,,,,\n", json_string_value(row));
}

static void print_table(const json_t *rep)
{
    static const char *const heads[] = {
        N_("source"), N_("time"), N_("event"),
        N_("object"), N_("to"),   N_("consent or override")};
    const char *words[6];
    for (int k = 0; k < 6; k++)
        words[k] = _(heads[k]);
    cli_table *t = cli_table_new(6, words);
    size_t i, j;
    const json_t *row, *v;
    json_array_foreach(json_object_get(rep, "events"), i, row)
    {
        char b[4][64], to[256] = "", basis[96];
        const char *cells[6];
        cells[0] = cli_field(row, "source", b[0], 64);
        cells[1] = cli_short_time(json_string_value(json_object_get(row, "at")),
                                  b[1], 64);
        cells[2] = cli_field(row, "kind", b[2], 64);
        cells[3] = json_is_string(json_object_get(row, "object_id"))
                       ? cli_field(row, "object_id", b[3], 64)
                       : "-";
        json_array_foreach(json_object_get(row, "to"), j, v)
        {
            size_t n = strlen(to);
            snprintf(to + n, sizeof to - n, "%s%s", j ? " " : "",
                     json_string_value(v));
        }
        cells[4] = to[0] ? to : _("broker");
        const json_t *ov = json_object_get(row, "override");
        const json_t *cid = json_object_get(row, "consent_id");
        if (json_is_string(ov))
            snprintf(basis, sizeof basis, _("override: %s"),
                     json_string_value(ov));
        else if (json_is_string(cid))
            snprintf(basis, sizeof basis, "%s", json_string_value(cid));
        else
            snprintf(basis, sizeof basis, "-");
        cells[5] = basis;
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(&t);
    json_array_foreach(json_object_get(rep, "not_answering"), i, v)
        printf(_("did not answer: %s\n"), json_string_value(v));
}

static int client_access(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *key = NULL, *hetu = NULL;
    bool network = false, csv = false;
    /* a bare KEY first: polku client access KEY */
    if (argc > 1 && argv[1][0] != '-') {
        key = argv[1];
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    const char *flag_key = NULL;
    const cli_opt opts[] = {{"client", &flag_key, NULL},
                            {"hetu", &hetu, NULL},
                            {"network", NULL, &network},
                            {"csv", NULL, &csv},
                            {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (key && flag_key)
        return cli_usage_error(_("client access: give the key once"));
    json_t *client = NULL;
    rc = cli_client_arg("client access", key ? key : flag_key, hetu, &client);
    if (rc != CLI_OK)
        return rc;
    json_t *body =
        json_pack("{s:o, s:b}", "client", client, "network", network);
    if (!body)
        return cli_fail("out of memory");
    json_t *rep = NULL;
    rc = cli_call(c, "POST", "/v1/clients/access", body, &rep);
    json_decref(body);
    if (rc != CLI_OK)
        return rc;
    if (c->json)
        cli_print_json(rep);
    else if (csv)
        print_csv(rep);
    else
        print_table(rep);
    json_decref(rep);
    return CLI_OK;
}

static const cli_cmd client_cmds[] = {
    {"access", "access report", cli_client_usage, client_access},
    {NULL, NULL, NULL, NULL},
};

int cli_client(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, client_cmds, self->usage);
}
