/* log_cmd.c — `polku log verify` and `polku log key`: is this
 * organisation's event log still the one it said it wrote?
 *
 * The log is a hash chain whose signed head the other organisations hold
 * (docs/trust.md). `verify` walks it and names the first bad sequence:
 * from the store itself (--config AGENT.ini: a read-only LMDB transaction,
 * with the agent stopped or running) or from a running agent's API
 * (GET /v1/log/verify). `key` prints the chain signing key the broker's
 * `[org] sign_key` needs. Exit 0 when the chain holds, 3 when it does not,
 * 1 when it cannot be read. */
#include "cli.h"
#include "i18n.h"

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "agent_config.h"
#include "logchain.h"
#include "polku/chain.h"
#include "polku/error.h"

const char cli_log_usage[] =
    N_("usage: polku log COMMAND ...\n"
       "\n"
       "commands:\n"
       "  verify  [--config AGENT.ini]  walk the event log's hash chain\n"
       "  key     --config AGENT.ini    print the chain signing key\n"
       "\n"
       "'polku log COMMAND --help' shows one command.\n");

static const char verify_usage[] =
    N_("usage: polku log verify [--config AGENT.ini]\n"
       "\n"
       "Walks this organisation's event log: every event must name the hash\n"
       "of the one before it, and the event at the head the other\n"
       "organisations hold must hash to it. With --config it reads the store\n"
       "named there directly (the agent stopped or running); without, it asks\n"
       "the running agent (GET /v1/log/verify). Names the first bad sequence.\n"
       "Exit 0 when the chain holds, 3 when it does not, 1 when it cannot be\n"
       "read.\n");

static const char key_usage[] =
    N_("usage: polku log key --config AGENT.ini\n"
       "\n"
       "Prints the organisation's chain signing key (Z85), derived from its\n"
       "key file: put it in the broker's [org ID] section as sign_key.\n");

/* The JSON of a walk, as the agent's API answers it. */
static json_t *report_json(const char *org, const logchain_report *r)
{
    json_t *head = json_null();
    if (r->head_held) {
        char hash[2 * POLKU_CHAIN_HASH + 1], inc[17];
        polku_chain_hex(r->head.hash, POLKU_CHAIN_HASH, hash);
        snprintf(inc, sizeof inc, "%016llx",
                 (unsigned long long)r->head.incarnation);
        head = json_pack("{s:I, s:s, s:s, s:b, s:b, s:b}", "seq",
                         (json_int_t)r->head.seq, "hash", hash, "incarnation",
                         inc, "signature_ok", r->head_signature, "matches",
                         r->head_matches, "other_incarnation", r->head_skipped);
    }
    return json_pack(
        "{s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:o}", "org", org, "ok",
        r->bad_seq == 0, "chain_from", (json_int_t)r->chain_from, "last_seq",
        (json_int_t)r->last_seq, "checked", (json_int_t)r->checked, "bad_seq",
        (json_int_t)r->bad_seq, "problem", r->problem, "head", head);
}

static long long num(const json_t *j, const char *key)
{
    return (long long)json_integer_value(json_object_get(j, key));
}

/* Prints the walk's result; CLI_OK when the chain holds, else
 * CLI_ATTENTION. */
static int print_report(const cli *c, const json_t *j)
{
    bool ok = json_is_true(json_object_get(j, "ok"));
    if (c->json) {
        cli_print_json(j);
        return ok ? CLI_OK : CLI_ATTENTION;
    }
    const char *org = json_string_value(json_object_get(j, "org"));
    const json_t *head = json_object_get(j, "head");
    if (!ok) {
        printf(_("%s: the event log's chain is broken at seq %lld\n"),
               org ? org : "?", num(j, "bad_seq"));
        printf("  %s\n", json_string_value(json_object_get(j, "problem")));
        return CLI_ATTENTION;
    }
    printf(_("%s: the event log's chain holds: seq %lld..%lld, %lld links "
             "checked\n"),
           org ? org : "?", num(j, "chain_from"), num(j, "last_seq"),
           num(j, "checked"));
    if (json_is_object(head)) {
        bool matches = json_is_true(json_object_get(head, "matches"));
        bool other = json_is_true(json_object_get(head, "other_incarnation"));
        printf(_("  the head the others hold: seq %lld, %s%s\n"),
               num(head, "seq"),
               matches ? _("matches")
                       : (other ? _("written by an earlier incarnation (a "
                                    "restore)")
                                : _("not reached")),
               json_is_true(json_object_get(head, "signature_ok"))
                   ? _(", signature verified")
                   : "");
    } else {
        printf("  %s\n", _("no head from the broker yet: the chain is "
                           "checked against itself only"));
    }
    return CLI_OK;
}

/* The store named in the agent's config, read directly. */
static int verify_offline(const cli *c, const char *config)
{
    agent_config cfg;
    polku_cfgerr err = {{0}};
    if (agent_config_load(config, &cfg, &err) != POLKU_OK)
        return cli_fail("cannot load %s: %s", config, err.msg);
    uint8_t secret[32], pk[POLKU_SIGN_PK], sk[POLKU_SIGN_SK];
    bool have_pk = zmq_z85_decode(secret, cfg.key.secret_z85) != NULL;
    if (have_pk)
        polku_sign_keypair(secret, pk, sk);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(sk, sizeof sk);
    store st;
    MDB_txn *txn = NULL;
    int rc = logchain_open_readonly(&st, cfg.store, &txn);
    if (rc) {
        rc = cli_fail(_("cannot read the store %s: %s"), cfg.store,
                      polku_strerror(rc));
        agent_config_fini(&cfg);
        return rc;
    }
    logchain_report r;
    rc = logchain_verify(&st, txn, cfg.org, have_pk ? pk : NULL, &r);
    logchain_close_readonly(&st, txn);
    if (rc) {
        rc = cli_fail(_("cannot walk the event log in %s: %s"), cfg.store,
                      polku_strerror(rc));
        agent_config_fini(&cfg);
        return rc;
    }
    json_t *j = report_json(cfg.org, &r);
    agent_config_fini(&cfg);
    rc = j ? print_report(c, j) : cli_fail("out of memory");
    json_decref(j);
    return rc;
}

static int log_verify(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *config = NULL;
    const cli_opt opts[] = {{"config", &config, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (config)
        return verify_offline(c, config);
    long status = 0;
    json_t *j = NULL;
    rc = cli_request(c, "GET", "/v1/log/verify", NULL, &status, &j);
    if (rc != CLI_OK)
        return rc;
    if (status != 200 || !json_is_object(j) ||
        !json_is_boolean(json_object_get(j, "ok"))) {
        rc = status == 200
                 ? cli_fail(_("unexpected answer from the agent (HTTP %ld)"),
                            status)
                 : cli_answer_error(c, status, j);
        json_decref(j);
        return rc;
    }
    rc = print_report(c, j);
    json_decref(j);
    return rc;
}

static int log_key(cli *c, int argc, char **argv, const cli_cmd *self)
{
    const char *config = NULL;
    const cli_opt opts[] = {{"config", &config, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, self->usage);
    if (rc != CLI_OK)
        return rc;
    if (!config)
        return cli_usage_error("log key: missing --config AGENT.ini");
    agent_config cfg;
    polku_cfgerr err = {{0}};
    if (agent_config_load(config, &cfg, &err) != POLKU_OK)
        return cli_fail("cannot load %s: %s", config, err.msg);
    char z85[41];
    rc = polku_sign_public_z85(cfg.key.secret_z85, z85);
    agent_config_fini(&cfg);
    if (rc)
        return cli_fail("the key file holds no valid secret key");
    if (c->json) {
        json_t *j = json_pack("{s:s}", "sign_key", z85);
        if (j)
            cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", z85);
    }
    return CLI_OK;
}

static const cli_cmd verbs[] = {
    {"verify", "walk the chain", verify_usage, log_verify},
    {"key", "the signing key", key_usage, log_key},
    {NULL, NULL, NULL, NULL}};

int cli_log(cli *c, int argc, char **argv, const cli_cmd *self)
{
    return cli_dispatch(c, argc, argv, verbs, self->usage);
}
