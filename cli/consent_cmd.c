/* consent_cmd.c — `polku consent ...`: staff record the consent a client
 * gave to share their information between organisations, list a client's
 * consents and revoke one, through their agent's /v1/consents API. Nothing
 * is routed for a client without a consent (DESIGN.md invariant 4), so
 * mistakes in purposes or forms are usage errors here, before a round trip.
 * Only client keys are printed: an identity code given with --hetu goes to
 * the agent and is never shown back. */
#include "cli.h"
#include "i18n.h"

#include "polku/codec.h"

#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 512
#define ITEM_MAX 32 /* an organisation id's longest */

const char cli_consent_usage[] =
    N_("usage: polku consent COMMAND ...\n"
       "\n"
       "commands:\n"
       "  grant   (--client KEY | --hetu HETU) --orgs ORG[,ORG...]\n"
       "          --purposes P[,P...] --valid-until DATE\n"
       "          [--form Y100|written|oral|electronic]\n"
       "  list    --client KEY\n"
       "  revoke  ID --reason TEXT\n"
       "\n"
       "KEY is a client key (32 hex characters); HETU an identity code, which\n"
       "the agent turns into the key. Purposes are referral, handover, path\n"
       "and plan. --json prints the agent's answer. 'polku consent COMMAND\n"
       "--help' shows one command.\n");

static const char grant_usage[] =
    N_("usage: polku consent grant (--client KEY | --hetu HETU)\n"
       "           --orgs ORG[,ORG...] --purposes P[,P...] --valid-until DATE\n"
       "           [--form Y100|written|oral|electronic]\n"
       "\n"
       "Records the client's consent to share their information with ORGs\n"
       "(this organisation is always included) for the purposes given\n"
       "(referral, handover, path, plan) until DATE (YYYY-MM-DD or RFC 3339),\n"
       "and sends it to those organisations. --form is how it was given\n"
       "(Y100 is Kela's form; the agent's default is written).\n");

static const char list_usage[] =
    N_("usage: polku consent list --client KEY\n"
       "\n"
       "Lists the client's consents known here: active, revoked or expired.\n");

static const char revoke_usage[] =
    N_("usage: polku consent revoke ID --reason TEXT\n"
       "\n"
       "Revokes a consent and tells the organisations in its scope; nothing\n"
       "more is routed for the client under it.\n");

static const char *const purposes[] = {"referral", "handover", "path", "plan",
                                       NULL};
static const char *const forms[] = {POLKU_CONSENT_FORMS, NULL};

/* Removes every "hetu" member under v, so --json never shows an identity
 * code even if an agent were to send one back. */
static void drop_hetu(json_t *v)
{
    const char *key;
    json_t *member;
    size_t i;
    if (json_is_object(v)) {
        json_object_del(v, "hetu");
        json_object_foreach(v, key, member) drop_hetu(member);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, member) drop_hetu(member);
    }
}

static void print_answer_json(json_t *answer)
{
    drop_hetu(answer);
    cli_print_json(answer);
}

/* Checks one item of --orgs (set NULL) or --purposes. */
static int check_item(const char *option, const char *item,
                      const char *const *set)
{
    if (item[0] == '\0')
        return cli_usage_error("consent grant: %s has an empty item", option);
    if (set != NULL && !cli_one_of(item, set))
        return cli_usage_error("consent grant: unknown purpose '%s' (one of "
                               "referral, handover, path, plan)",
                               item);
    if (set == NULL && !polku_org_id_valid(item))
        return cli_usage_error("consent grant: not an organisation id: '%s'",
                               item);
    return CLI_OK;
}

/* "a,b,c" as a JSON array of its items; NULL with *rc set (a message
 * printed) when an item is wrong. */
static json_t *split_list(const char *option, const char *text,
                          const char *const *set, int *rc)
{
    json_t *arr = json_array();
    *rc = arr != NULL ? CLI_OK : cli_fail("out of memory");
    for (const char *p = text; *rc == CLI_OK; p++) {
        size_t n = strcspn(p, ",");
        char item[ITEM_MAX + 1] = "";
        if (n > ITEM_MAX) {
            *rc = cli_usage_error("consent grant: %s item too long: '%.*s'",
                                  option, (int)n, p);
            break;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        *rc = check_item(option, item, set);
        if (*rc == CLI_OK && json_array_append_new(arr, json_string(item)))
            *rc = cli_fail("out of memory");
        p += n;
        if (*p == '\0')
            break;
    }
    if (*rc != CLI_OK) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

typedef struct grant_args {
    const char *client, *hetu, *orgs, *purposes, *valid_until, *form;
} grant_args;

static int grant_check(const grant_args *a, char key[33])
{
    if ((a->client == NULL) == (a->hetu == NULL))
        return cli_usage_error("consent grant: give --client KEY or "
                               "--hetu HETU");
    if (a->client != NULL && !cli_client_key(a->client, key))
        return cli_usage_error("consent grant: --client needs a client key "
                               "of 32 hex characters");
    if (a->orgs == NULL)
        return cli_usage_error("consent grant: missing --orgs ORG[,ORG...]");
    if (a->purposes == NULL)
        return cli_usage_error("consent grant: missing --purposes "
                               "P[,P...]");
    if (a->valid_until == NULL || a->valid_until[0] == '\0')
        return cli_usage_error("consent grant: missing --valid-until DATE");
    if (a->form != NULL && !cli_one_of(a->form, forms))
        return cli_usage_error("consent grant: --form is %s, not '%s'",
                               POLKU_CONSENT_FORMS_TEXT, a->form);
    return CLI_OK;
}

/* The request body; NULL with *rc set when a list is wrong. */
static json_t *grant_body(const grant_args *a, const char *key, int *rc)
{
    json_t *orgs = split_list("--orgs", a->orgs, NULL, rc);
    json_t *ps = orgs != NULL
                     ? split_list("--purposes", a->purposes, purposes, rc)
                     : NULL;
    if (ps == NULL) {
        json_decref(orgs);
        return NULL;
    }
    json_t *body = json_object();
    json_t *client = json_object();
    int bad = body == NULL || client == NULL;
    if (a->client != NULL)
        bad |= cli_set_text(client, "key", key);
    else
        bad |= cli_set_text(client, "hetu", a->hetu);
    bad |= json_object_set_new(body, "client", client);
    bad |= json_object_set_new(body, "orgs", orgs);
    bad |= json_object_set_new(body, "purposes", ps);
    bad |= cli_set_text(body, "valid_until", a->valid_until);
    bad |= cli_set_text(body, "form", a->form);
    if (bad) {
        json_decref(body);
        *rc = cli_fail("out of memory");
        return NULL;
    }
    return body;
}

static const char *item_text(const json_t *v)
{
    const char *text = json_string_value(v);
    return text != NULL ? text : "?";
}

/* The strings of arr joined with commas ("-" when none); caller frees. */
static char *join(const json_t *arr)
{
    size_t len = 2, i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        len += strlen(item_text(v)) + 1;
    }
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    strcpy(out, json_array_size(arr) == 0 ? "-" : "");
    json_array_foreach(arr, i, v)
    {
        if (i > 0)
            strcat(out, ",");
        strcat(out, item_text(v));
    }
    return out;
}

static void print_granted(const json_t *r)
{
    char *orgs = join(json_object_get(r, "orgs"));
    char *ps = join(json_object_get(r, "purposes"));
    char b1[32], b2[32];
    cli_say(_("consent %s granted: orgs %s purposes %s until %s"),
            cli_field(r, "id", b1, sizeof b1), orgs != NULL ? orgs : "?",
            ps != NULL ? ps : "?",
            cli_time_field(r, "valid_until", b2, sizeof b2));
    free(orgs);
    free(ps);
}

static int consent_grant(cli *c, int argc, char **argv, const cli_cmd *self)
{
    grant_args a = {0};
    const cli_opt opts[] = {{"client", &a.client, NULL},
                            {"hetu", &a.hetu, NULL},
                            {"orgs", &a.orgs, NULL},
                            {"purposes", &a.purposes, NULL},
                            {"valid-until", &a.valid_until, NULL},
                            {"form", &a.form, NULL},
                            {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    char key[33] = "";
    if (rc == CLI_OK)
        rc = grant_check(&a, key);
    json_t *body = rc == CLI_OK ? grant_body(&a, key, &rc) : NULL;
    if (body == NULL)
        return rc;
    json_t *answer = NULL;
    rc = cli_call(c, "POST", "/v1/consents", body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json)
        print_answer_json(answer);
    else if (rc == CLI_OK)
        print_granted(answer);
    json_decref(answer);
    return rc;
}

static void print_list(const json_t *list)
{
    static const char *const heads[] = {N_("ID"),          N_("STATE"),
                                        N_("ORGS"),        N_("PURPOSES"),
                                        N_("VALID UNTIL"), N_("RECORDED BY")};
    cli_table *t = cli_table_new(6, heads);
    size_t i;
    const json_t *r;
    json_array_foreach(list, i, r)
    {
        char b[4][32];
        char *orgs = join(json_object_get(r, "orgs"));
        char *ps = join(json_object_get(r, "purposes"));
        const char *cells[6] = {cli_field(r, "id", b[0], sizeof b[0]),
                                cli_word(cli_field(r, "state", b[1], 32)),
                                orgs != NULL ? orgs : "?",
                                ps != NULL ? ps : "?",
                                cli_time_field(r, "valid_until", b[2], 32),
                                cli_field(r, "recorded_by", b[3], sizeof b[3])};
        cli_table_add(t, cells);
        free(orgs);
        free(ps);
    }
    if (json_array_size(list) == 0)
        printf("%s\n", _("no consents"));
    else
        cli_table_print(t, stdout);
    cli_table_free(&t);
}

static int consent_list(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *client = NULL;
    const cli_opt opts[] = {{"client", &client, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    char key[33];
    if (client == NULL)
        return cli_usage_error("consent list: missing --client KEY");
    if (!cli_client_key(client, key))
        return cli_usage_error("consent list: --client needs a client key "
                               "of 32 hex characters");
    char path[PATH_MAX_LEN] = "/v1/consents";
    cli_add_query(path, sizeof path, "client", key); /* always fits */
    return cli_get_list(c, path, "consents", print_list, print_answer_json);
}

static int consent_revoke(cli *c, int argc, char **argv, const cli_cmd *self)
{
    static const char *const names[] = {"ID", NULL};
    const char *pos[1], *reason = NULL;
    const cli_opt opts[] = {{"reason", &reason, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, names, pos, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (reason == NULL || reason[0] == '\0')
        return cli_usage_error("consent revoke: missing --reason TEXT");
    char escaped[PATH_MAX_LEN / 2], path[PATH_MAX_LEN];
    if (pos[0][0] == '\0' || !cli_url_escape(pos[0], escaped, sizeof escaped))
        return cli_usage_error("not a consent id: '%s'", pos[0]);
    snprintf(path, sizeof path, "/v1/consents/%s/revoke", escaped);
    json_t *body = json_object();
    if (body == NULL || cli_set_text(body, "reason", reason) != 0) {
        json_decref(body);
        return cli_fail("out of memory");
    }
    json_t *answer = NULL;
    rc = cli_call(c, "POST", path, body, &answer);
    json_decref(body);
    if (rc == CLI_OK && c->json && answer != NULL) {
        print_answer_json(answer);
    } else if (rc == CLI_OK && !c->json) {
        cli_say(_("consent %s revoked"), pos[0]);
    }
    json_decref(answer);
    return rc;
}

static const cli_cmd verbs[] = {
    {"grant", "record and send", grant_usage, consent_grant},
    {"list", "a client's consents", list_usage, consent_list},
    {"revoke", "revoke", revoke_usage, consent_revoke},
    {NULL, NULL, NULL, NULL}};

int cli_consent(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, verbs, self->usage);
}
