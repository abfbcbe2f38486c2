/* agent_config_test.c — [rule NAME] sections: what loads, what is refused
 * (with the file, line and key an operator needs), the directory check and
 * the lookups the agent uses when a referral is accepted or a service ends. */
#include "agent_config.h"

#include "polku/error.h"
#include "polku/keys.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* The [agent] section every test config starts with: lines 1-7, so the
 * rules a test appends begin on line 8. */
#define AGENT_LINES 7

typedef struct fixture {
    char dir[64];
    char key[128], token[128];
    char path[128]; /* the config, made by mkstemp */
    char public_z85[POLKU_Z85_KEY];
    agent_config cfg;
    polku_cfgerr err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/polku-agent-config-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        goto fail;
    snprintf(f->key, sizeof f->key, "%s/kela.key", f->dir);
    snprintf(f->token, sizeof f->token, "%s/kela.token", f->dir);
    snprintf(f->path, sizeof f->path, "%s/agent-XXXXXX", f->dir);
    int fd = mkstemp(f->path);
    if (fd < 0)
        goto fail;
    close(fd);
    polku_keypair kp;
    if (polku_keypair_generate(&kp) || polku_keyfile_write(f->key, &kp))
        goto fail;
    memcpy(f->public_z85, kp.public_z85, sizeof f->public_z85);
    FILE *fp = fopen(f->token, "w");
    if (fp == NULL)
        goto fail;
    fputs("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
          fp);
    fclose(fp);
    *state = f;
    return 0;
fail:
    free(f);
    return -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    agent_config_fini(&f->cfg);
    unlink(f->path);
    unlink(f->key);
    unlink(f->token);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes the [agent] section followed by rules and loads it. */
static int load(fixture *f, const char *rules)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "[agent]\n"                         /* 1 */
            "org = kela\n"                      /* 2 */
            "broker = tcp://127.0.0.1:5570\n"   /* 3 */
            "broker_public_key = %s\n"          /* 4 */
            "key_file = %s\n"                   /* 5 */
            "store = %s/store   ; not opened\n" /* 6 */
            "http_token_file = %s\n"            /* 7 */
            "%s",
            f->public_z85, f->key, f->dir, f->token, rules);
    assert_int_equal(fclose(fp), 0);
    agent_config_fini(&f->cfg);
    memset(&f->err, 0, sizeof f->err);
    return agent_config_load(f->path, &f->cfg, &f->err);
}

static void load_ok(fixture *f, const char *rules)
{
    int rc = load(f, rules);
    if (rc != POLKU_OK)
        fail_msg("load failed (%d): %s", rc, f->err.msg);
}

/* The load's error message starts with "PATH:LINE: [section] key:" (no
 * key part when key is "") and contains fragment. line counts from the
 * first rule line (1 = file line 8). */
static void error_names(const fixture *f, int line, const char *section,
                        const char *key, const char *fragment)
{
    char want[512];
    if (key[0])
        snprintf(want, sizeof want, "%s:%d: [%s] %s: ", f->path,
                 AGENT_LINES + line, section, key);
    else
        snprintf(want, sizeof want, "%s:%d: [%s] ", f->path, AGENT_LINES + line,
                 section);
    if (strncmp(f->err.msg, want, strlen(want)) != 0)
        fail_msg("message '%s' does not start with '%s'", f->err.msg, want);
    if (strstr(f->err.msg, fragment) == NULL)
        fail_msg("message '%s' lacks '%s'", f->err.msg, fragment);
}

/* Expects POLKU_ECONFIG and that message. */
static void load_fails(fixture *f, const char *rules, int line,
                       const char *section, const char *key,
                       const char *fragment)
{
    assert_int_equal(load(f, rules), POLKU_ECONFIG);
    error_names(f, line, section, key, fragment);
    agent_config_fini(&f->cfg); /* frees rules of a partly loaded file */
    assert_null(f->cfg.rules);
    assert_int_equal(f->cfg.rule_count, 0);
}

static const char valid_rules[] =
    "\n"                                   /* 8 */
    "[rule trial-accept]\n"                /* 9 */
    "on = referral_accepted\n"             /* 10 */
    "service = work-trial\n"               /* 11 */
    "[rule accepted_any]  ; any service\n" /* 12 */
    "on        = referral_accepted\n"      /* 13 */
    "supporter = self\n"                   /* 14 */
    "[rule rehab-end]\n"                   /* 15 */
    "on       = service_ended\n"           /* 16 */
    "service  = work-trial\n"              /* 17 */
    "offer_to = typ-kokkola ; the TYP\n"   /* 18 */
    "supporter = kela\n"                   /* 19 */
    "[rule any_end]\n"                     /* 20 */
    "supporter = te-keski\n"               /* 21 */
    "offer_to  = te-pohjanmaa\n"           /* 22 */
    "on        = service_ended\n"          /* 23 */
    "[rule none-supporter]\n"              /* 24 */
    "on = referral_accepted\n"             /* 25 */
    "supporter = none\n";                  /* 26 */

static void test_valid_rules(void **state)
{
    fixture *f = *state;
    load_ok(f, valid_rules);
    const agent_config *c = &f->cfg;
    assert_string_equal(c->path, f->path);
    assert_string_equal(c->org, "kela");
    assert_int_equal(c->rule_count, 5);

    const agent_rule *r = &c->rules[0];
    assert_string_equal(r->name, "trial-accept");
    assert_int_equal(r->on, RULE_REFERRAL_ACCEPTED);
    assert_string_equal(r->service, "work-trial");
    assert_string_equal(r->offer_to, "");
    assert_string_equal(r->supporter, "");
    assert_int_equal(r->line, 9);
    assert_int_equal(r->offer_to_line, 0);

    r = &c->rules[1];
    assert_string_equal(r->name, "accepted_any");
    assert_int_equal(r->on, RULE_REFERRAL_ACCEPTED);
    assert_string_equal(r->service, "");
    assert_string_equal(r->supporter, "self");
    assert_int_equal(r->line, 12);
    assert_int_equal(r->supporter_line, 14);

    r = &c->rules[2];
    assert_string_equal(r->name, "rehab-end");
    assert_int_equal(r->on, RULE_SERVICE_ENDED);
    assert_string_equal(r->service, "work-trial");
    assert_string_equal(r->offer_to, "typ-kokkola");
    assert_string_equal(r->supporter, "self"); /* our own id means self */
    assert_int_equal(r->line, 15);
    assert_int_equal(r->offer_to_line, 18);

    r = &c->rules[3];
    assert_string_equal(r->name, "any_end");
    assert_int_equal(r->on, RULE_SERVICE_ENDED);
    assert_string_equal(r->service, "");
    assert_string_equal(r->offer_to, "te-pohjanmaa");
    assert_string_equal(r->supporter, "te-keski");
    assert_int_equal(r->line, 20);
    assert_int_equal(r->offer_to_line, 22);
    assert_int_equal(r->supporter_line, 21);

    r = &c->rules[4];
    assert_string_equal(r->name, "none-supporter");
    assert_string_equal(r->supporter, "");
    assert_int_equal(r->line, 24);
}

static void test_no_rules(void **state)
{
    fixture *f = *state;
    load_ok(f, "");
    assert_int_equal(f->cfg.rule_count, 0);
    assert_null(agent_rule_for_referral(&f->cfg, "work-trial"));
    assert_null(agent_rule_for_service_end(&f->cfg, NULL));
}

static void test_limits(void **state)
{
    fixture *f = *state;
    char rules[512];
    char name63[64], service128[129];
    memset(name63, 'a', 63);
    name63[63] = '\0';
    memset(service128, 's', 128);
    service128[128] = '\0';
    snprintf(rules, sizeof rules,
             "[rule %s]\non = referral_accepted\nservice = %s\n", name63,
             service128);
    load_ok(f, rules);
    assert_int_equal(f->cfg.rule_count, 1);
    assert_string_equal(f->cfg.rules[0].name, name63);
    assert_string_equal(f->cfg.rules[0].service, service128);

    /* Empty values count as absent. */
    load_ok(f, "[rule r]\non = referral_accepted\nservice =\noffer_to =\n"
               "supporter =\n");
    assert_string_equal(f->cfg.rules[0].service, "");
    assert_string_equal(f->cfg.rules[0].offer_to, "");
    assert_string_equal(f->cfg.rules[0].supporter, "");
}

/* How far ahead a consent may be valid: 5 years unless the [agent]
 * section says otherwise, 1 to 100. */
static void test_consent_max_years(void **state)
{
    fixture *f = *state;
    load_ok(f, "");
    assert_int_equal(f->cfg.consent_max_years, 5);
    load_ok(f, "consent_max_years = 2\n");
    assert_int_equal(f->cfg.consent_max_years, 2);
    assert_int_equal(load(f, "consent_max_years = 0\n"), POLKU_ECONFIG);
    assert_non_null(strstr(f->err.msg, ":8: [agent] consent_max_years"));
    assert_int_equal(load(f, "consent_max_years = 101\n"), POLKU_ECONFIG);
    assert_int_equal(load(f, "consent_max_years = five\n"), POLKU_ECONFIG);
}

static void test_unknown_key(void **state)
{
    fixture *f = *state;
    load_fails(f,
               "[rule r]\n"               /* 1 */
               "on = service_ended\n"     /* 2 */
               "ofer_to = typ-kokkola\n", /* 3 */
               3, "rule r", "", "unknown key 'ofer_to'");
}

static void test_trigger(void **state)
{
    fixture *f = *state;
    load_fails(f, "[rule r]\nservice = work-trial\n", 1, "rule r", "on",
               "is required");
    load_fails(f, "[rule r]\non =\n", 1, "rule r", "on", "is required");
    load_fails(f, "[rule r]\n\non = referral_sent\n", 3, "rule r", "on",
               "unknown trigger 'referral_sent' (expected referral_accepted "
               "or service_ended)");
}

static void test_offer_to(void **state)
{
    fixture *f = *state;
    load_fails(f, "[rule end]\non = service_ended\nsupporter = self\n", 1,
               "rule end", "offer_to", "is required with on = service_ended");
    load_fails(f,
               "[rule acc]\non = referral_accepted\noffer_to = typ-kokkola\n",
               3, "rule acc", "offer_to", "not allowed");
    load_fails(f, "[rule end]\non = service_ended\noffer_to = TYP_Kokkola\n", 3,
               "rule end", "offer_to",
               "'TYP_Kokkola' is not an organisation id");
    load_fails(f, "[rule end]\non = service_ended\noffer_to = kela\n", 3,
               "rule end", "offer_to", "'kela' is this organisation");
    load_fails(f, "[rule end]\non = service_ended\noffer_to = self\n", 3,
               "rule end", "offer_to", "'self' is this organisation");
    load_fails(f, "[rule end]\non = service_ended\noffer_to = none\n", 3,
               "rule end", "offer_to", "'none' is not an organisation id");
}

static void test_supporter(void **state)
{
    fixture *f = *state;
    load_fails(f,
               "[rule ok]\non = referral_accepted\n"          /* 1-2 */
               "[rule bad]\n"                                 /* 3 */
               "on = service_ended\noffer_to = typ-kokkola\n" /* 4-5 */
               "supporter = Bad Org\n",                       /* 6 */
               6, "rule bad", "supporter",
               "'Bad Org' is not an organisation id");
    load_fails(f, "[rule s]\non = referral_accepted\nsupporter = x\n", 3,
               "rule s", "supporter", "'x' is not an organisation id");
}

static void test_rule_name(void **state)
{
    fixture *f = *state;
    load_fails(f, "[rule Bad]\non = referral_accepted\n", 1, "rule Bad", "",
               "1 to 63 characters");
    load_fails(f, "\n[rule]\non = referral_accepted\n", 2, "rule", "",
               "1 to 63 characters");
    load_fails(f, "[rule a.b]\non = referral_accepted\n", 1, "rule a.b", "",
               "1 to 63 characters");
    char rules[256], section[80];
    char name64[65];
    memset(name64, 'a', 64);
    name64[64] = '\0';
    snprintf(section, sizeof section, "rule %s", name64);
    snprintf(rules, sizeof rules, "[%s]\non = referral_accepted\n", section);
    load_fails(f, rules, 1, section, "", "1 to 63 characters");
}

static void test_service_too_long(void **state)
{
    fixture *f = *state;
    char rules[512], service129[130];
    memset(service129, 's', 129);
    service129[129] = '\0';
    snprintf(rules, sizeof rules,
             "[rule r]\non = service_ended\noffer_to = typ-kokkola\n"
             "service = %s\n",
             service129);
    load_fails(f, rules, 4, "rule r", "service", "longer than 128 bytes");
}

static void test_unknown_section(void **state)
{
    fixture *f = *state;
    load_fails(f, "[rule r]\non = referral_accepted\n\n[rules x]\na = b\n", 4,
               "rules x", "", "unknown section");
}

/* ---- [region NAME] ---- */

/* Two region secrets in the fixture's directory; the region text with
 * %1$s the first secret's path, %2$s the second's, %3$s a broker key. */
static int load_regions(fixture *f, const char *fmt)
{
    char a[128], b[128], text[2048];
    snprintf(a, sizeof a, "%s/savo.secret", f->dir);
    snprintf(b, sizeof b, "%s/lappi.secret", f->dir);
    unlink(a);
    unlink(b);
    assert_int_equal(polku_secret_write(a), POLKU_OK);
    assert_int_equal(polku_secret_write(b), POLKU_OK);
    snprintf(text, sizeof text, fmt, a, b, f->public_z85);
    int rc = load(f, text);
    unlink(a);
    unlink(b);
    return rc;
}

static void regions_fail(fixture *f, const char *fmt, int line,
                         const char *section, const char *key,
                         const char *fragment)
{
    assert_int_equal(load_regions(f, fmt), POLKU_ECONFIG);
    error_names(f, line, section, key, fragment);
}

static void test_regions(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_regions(f, "region = keski-pohjanmaa\n"
                                     "[region pohjois-savo]\n"
                                     "broker = tcp://127.0.0.1:6570\n"
                                     "broker_public_key = %3$s\n"
                                     "pseudonym_secret_file = %1$s\n"
                                     "[region lappi]\n"
                                     "broker = tcp://127.0.0.1:7570 "
                                     "tcp://127.0.0.1:7571\n"
                                     "broker_public_key = %3$s\n"
                                     "pseudonym_secret_file = %2$s\n"
                                     "store = /tmp/lappi-store\n"),
                     POLKU_OK);
    assert_string_equal(agent_default_region(&f->cfg), "keski-pohjanmaa");
    assert_int_equal(f->cfg.region_count, 2);
    assert_string_equal(f->cfg.regions[0].name, "pohjois-savo");
    assert_string_equal(f->cfg.regions[0].broker, "tcp://127.0.0.1:6570");
    char want[160];
    snprintf(want, sizeof want, "%s/store-pohjois-savo", f->dir);
    assert_string_equal(f->cfg.regions[0].store, want);
    assert_string_equal(f->cfg.regions[1].store, "/tmp/lappi-store");
    assert_int_equal(f->cfg.regions[1].line, AGENT_LINES + 6);
    assert_memory_not_equal(f->cfg.regions[0].pseudonym_secret,
                            f->cfg.regions[1].pseudonym_secret, 32);
    /* no region at all: the default is "default" */
    load_ok(f, "");
    assert_string_equal(agent_default_region(&f->cfg), "default");
    assert_int_equal(f->cfg.region_count, 0);
}

static void test_region_refused(void **state)
{
    fixture *f = *state;
    regions_fail(f,
                 "[region savo]\nbroker = tcp://127.0.0.1:6570\n"
                 "pseudonym_secret_file = %1$s\n",
                 1, "region savo", "broker_public_key", "is required");
    regions_fail(f,
                 "[region savo]\nbroker_public_key = %3$s\n"
                 "pseudonym_secret_file = %1$s\n",
                 1, "region savo", "broker", "is required");
    regions_fail(f,
                 "[region savo]\nbroker = tcp://127.0.0.1:6570\n"
                 "broker_public_key = %3$s\n",
                 1, "region savo", "pseudonym_secret_file", "is required");
    regions_fail(f,
                 "[region savo]\nbroker = tcp://127.0.0.1:6570\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = /nonexistent/savo.secret\n",
                 4, "region savo", "pseudonym_secret_file",
                 "/nonexistent/savo.secret");
    regions_fail(f,
                 "[region savo]\nbroker = tcp://127.0.0.1:6570\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = %1$s\n"
                 "[region lappi]\nbroker = tcp://127.0.0.1:6571\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = %2$s\n"
                 "[region savo]\nstore = /tmp/x\n",
                 9, "region savo", "", "given twice (first at line 8)");
    regions_fail(f,
                 "[region default]\nbroker = tcp://127.0.0.1:6570\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = %1$s\n",
                 1, "region default", "", "the default region's name");
    regions_fail(f, "[region Savo]\nbroker = tcp://127.0.0.1:6570\n", 1,
                 "region Savo", "", "must match");
    regions_fail(f,
                 "[region savo]\nbroker = tcp://127.0.0.1:6570\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = %1$s\nsecret = x\n",
                 5, "region savo", "", "unknown key 'secret'");
    regions_fail(f,
                 "[region savo]\nbroker = udp://x\n"
                 "broker_public_key = %3$s\n"
                 "pseudonym_secret_file = %1$s\n",
                 2, "region savo", "broker", "");
}

/* A directory: a NULL-terminated list of org ids. Records what it was
 * asked, to check "self" never is. */
typedef struct directory {
    const char *const *orgs;
    int asked_self;
} directory;

static bool in_directory(void *arg, const char *org)
{
    directory *d = arg;
    if (strcmp(org, "self") == 0 || strcmp(org, "kela") == 0)
        d->asked_self++;
    for (size_t i = 0; d->orgs[i] != NULL; i++)
        if (strcmp(d->orgs[i], org) == 0)
            return true;
    return false;
}

static void test_check_orgs(void **state)
{
    fixture *f = *state;
    load_ok(f, valid_rules);
    polku_cfgerr err = {{0}};
    static const char *const all[] = {"kela", "typ-kokkola", "te-pohjanmaa",
                                      "te-keski", NULL};
    directory d = {all, 0};
    assert_int_equal(agent_rules_check_orgs(&f->cfg, in_directory, &d, &err),
                     POLKU_OK);
    assert_int_equal(d.asked_self, 0);

    char want[512];
    static const char *const no_typ[] = {"kela", "te-pohjanmaa", "te-keski",
                                         NULL};
    d = (directory){no_typ, 0};
    assert_int_equal(agent_rules_check_orgs(&f->cfg, in_directory, &d, &err),
                     POLKU_ECONFIG);
    snprintf(want, sizeof want,
             "%s:18: [rule rehab-end] offer_to: 'typ-kokkola' is not an "
             "organisation in the directory",
             f->path);
    assert_string_equal(err.msg, want);

    static const char *const no_keski[] = {"kela", "typ-kokkola",
                                           "te-pohjanmaa", NULL};
    d = (directory){no_keski, 0};
    assert_int_equal(agent_rules_check_orgs(&f->cfg, in_directory, &d, &err),
                     POLKU_ECONFIG);
    snprintf(want, sizeof want,
             "%s:21: [rule any_end] supporter: 'te-keski' is not an "
             "organisation in the directory",
             f->path);
    assert_string_equal(err.msg, want);
    assert_int_equal(agent_rules_check_orgs(&f->cfg, in_directory, &d, NULL),
                     POLKU_ECONFIG);
}

static void test_lookups(void **state)
{
    fixture *f = *state;
    load_ok(f, valid_rules);
    const agent_rule *r = agent_rule_for_referral(&f->cfg, "work-trial");
    assert_non_null(r);
    assert_string_equal(r->name, "trial-accept"); /* first in file order */
    r = agent_rule_for_referral(&f->cfg, "benefits");
    assert_non_null(r);
    assert_string_equal(r->name, "accepted_any");
    r = agent_rule_for_referral(&f->cfg, NULL);
    assert_non_null(r);
    assert_string_equal(r->name, "accepted_any");
    r = agent_rule_for_service_end(&f->cfg, "work-trial");
    assert_non_null(r);
    assert_string_equal(r->name, "rehab-end");
    r = agent_rule_for_service_end(&f->cfg, "benefits");
    assert_non_null(r);
    assert_string_equal(r->name, "any_end");

    /* Only service-specific rules: other services get none. */
    load_ok(f, "[rule a]\non = referral_accepted\nservice = work-trial\n"
               "[rule e]\non = service_ended\nservice = work-trial\n"
               "offer_to = typ-kokkola\n");
    assert_null(agent_rule_for_referral(&f->cfg, "benefits"));
    assert_null(agent_rule_for_referral(&f->cfg, NULL));
    assert_null(agent_rule_for_service_end(&f->cfg, "benefits"));
    r = agent_rule_for_service_end(&f->cfg, "work-trial");
    assert_non_null(r);
    assert_string_equal(r->name, "e");
}

/* A key rotation: previous_key_file holds the old pair (not the current
 * one); a reload takes both key files, they need no restart. */
static void test_previous_key(void **state)
{
    fixture *f = *state;
    char line[700], old[600];
    snprintf(line, sizeof line, "previous_key_file = %s\n", f->key);
    load_fails(f, line, 1, "agent", "previous_key_file",
               "the same key as key_file");
    snprintf(old, sizeof old, "%s/kela-old.key", f->dir);
    polku_keypair kp;
    assert_int_equal(polku_keypair_generate(&kp), 0);
    assert_int_equal(polku_keyfile_write(old, &kp), 0);
    load_ok(f, "");
    assert_false(f->cfg.has_previous_key);
    agent_config cur = f->cfg;
    memset(&f->cfg, 0, sizeof f->cfg);
    snprintf(line, sizeof line, "previous_key_file = %s\n", old);
    load_ok(f, line);
    assert_true(f->cfg.has_previous_key);
    assert_string_equal(f->cfg.previous_key.public_z85, kp.public_z85);
    const char *names[4];
    assert_int_equal(agent_config_restart_keys(&cur, &f->cfg, names, 4), 0);
    assert_true(agent_config_take_keys(&cur, &f->cfg));
    assert_string_equal(cur.previous_key.secret_z85, kp.secret_z85);
    assert_false(agent_config_take_keys(&cur, &f->cfg)); /* no change */
    agent_config_fini(&cur);
    unlink(old);
}

/* Reload: the rules move into the running config, the old ones out; the
 * [agent] keys that need a restart are named when they differ. */
static void test_reload_helpers(void **state)
{
    fixture *f = *state;
    load_ok(f, "window = 10\n");
    agent_config cur = f->cfg; /* taken over: the fixture loads anew */
    memset(&f->cfg, 0, sizeof f->cfg);
    load_ok(f, "window = 12\n[rule after]\non = service_ended\n"
               "offer_to = typ\n");
    const char *names[4];
    assert_int_equal(agent_config_restart_keys(&cur, &f->cfg, names, 4), 1);
    assert_string_equal(names[0], "window");
    assert_int_equal(agent_config_restart_keys(&cur, &cur, names, 4), 0);
    assert_null(agent_rule_for_service_end(&cur, NULL));
    agent_config_take_rules(&cur, &f->cfg);
    assert_int_equal(cur.rule_count, 1);
    assert_int_equal(f->cfg.rule_count, 0);
    assert_null(f->cfg.rules);
    const agent_rule *r = agent_rule_for_service_end(&cur, NULL);
    assert_non_null(r);
    assert_string_equal(r->offer_to, "typ");
    assert_int_equal(cur.window, 10); /* the rest stays as it runs */
    agent_config_fini(&cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consent_max_years, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offer_to, setup, teardown),
        cmocka_unit_test_setup_teardown(test_supporter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_orgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previous_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
