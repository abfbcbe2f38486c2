/* it_regions — a national organisation's one agent in two regions.
 *
 * Two regions, each with its own broker and pseudonym secret: "pohjanmaa"
 * (sote-pohjanmaa) and "savo" (sote-savo). Kela is in both directories
 * with the same key; its single agent has [agent] for pohjanmaa and a
 * [region savo] section. Shown here, with real brokers, agents, LMDB and
 * CURVE:
 *   - one link per region: both brokers list kela connected;
 *   - referrals in each region reach only that region's receiver;
 *   - the same identity code is two client keys, one per region; a key
 *     of one region is unknown in the other (paths 404, no consents);
 *   - an ambiguous create (an org in both regions, an identity code only)
 *     is 422 region_required naming both; an unknown region 422;
 *   - lists filter by ?region= and carry "region";
 *   - `polku --region NAME` on every noun. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sys/stat.h>

#include "polku/clock.h"

#define HETU "150382-624C" /* synthetic, valid check character */

static void write_secret(const char *path)
{
    uint8_t raw[32];
    char text[2 * sizeof raw + 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(text, sizeof text, raw, sizeof raw);
    strcat(text, "\n");
    FILE *f = fopen(path, "w");
    H_REQUIRE(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    H_REQUIRE(chmod(path, 0600) == 0, "chmod %s", path);
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    H_REQUIRE(f, "cannot append to %s", path);
    fputs(text, f);
    fclose(f);
}

typedef struct world {
    h_region *a, *b;
    h_org *kela, *sote_a, *sote_b;
} world;

static bool region_connected(h_org *o, const char *name)
{
    json_t *j = h_agent_health(o), *r;
    size_t i;
    bool ok = false;
    json_array_foreach(json_object_get(j, "regions"), i, r)
    {
        const char *n = json_string_value(json_object_get(r, "region"));
        const char *b = json_string_value(json_object_get(r, "broker"));
        ok |= n && b && strcmp(n, name) == 0 && strcmp(b, "connected") == 0;
    }
    json_decref(j);
    return ok;
}

/* The kela config's [region savo] section. */
static void add_savo(world *w)
{
    char sb[600], section[1400];
    snprintf(sb, sizeof sb, "%s/savo.secret", w->b->dir);
    snprintf(section, sizeof section,
             "\n[region savo]\nbroker = %s\nbroker_public_key = %s\n"
             "pseudonym_secret_file = %s\n",
             w->b->broker_endpoint, w->b->broker_key.public_z85, sb);
    append(w->kela->proc.config, section);
}

/* Both regions' brokers and local agents; kela with [region savo] when
 * with_savo, else in pohjanmaa alone (as before a region is added). */
static void world_start(world *w, bool with_savo)
{
    w->a = h_region_new();
    w->b = h_region_new();
    w->kela = h_region_add_org(w->a, "kela", "");
    w->sote_a = h_region_add_org(w->a, "sote-pohjanmaa", "");
    h_org *kela_b = h_region_add_org(w->b, "kela", "");
    w->sote_b = h_region_add_org(w->b, "sote-savo", "");
    /* the employment authority: in both directories (here, an agent per
     * region) */
    h_org *ty_a = h_region_add_org(w->a, "tyollisyys", "");
    h_org *ty_b = h_region_add_org(w->b, "tyollisyys", "");
    kela_b->key = w->kela->key; /* one organisation, one key */
    h_region_write(w->a);
    h_region_write(w->b);
    char sa[600], sb[600], line[700];
    snprintf(sa, sizeof sa, "%s/pohjanmaa.secret", w->a->dir);
    snprintf(sb, sizeof sb, "%s/savo.secret", w->b->dir);
    write_secret(sa);
    write_secret(sb);
    snprintf(line, sizeof line, "pseudonym_secret_file = %s", sa);
    h_agent_config_add(w->kela, line);
    h_agent_config_add(w->sote_a, line);
    h_agent_config_add(w->kela, "region = pohjanmaa");
    snprintf(line, sizeof line, "pseudonym_secret_file = %s", sb);
    h_agent_config_add(w->sote_b, line);
    if (with_savo)
        add_savo(w);
    h_broker_start(w->a);
    h_broker_start(w->b);
    h_agent_start_connected(w->sote_a);
    h_agent_start_connected(w->sote_b);
    h_agent_start_connected(ty_a);
    h_agent_start_connected(ty_b);
    h_agent_start_connected(w->kela);
    if (!with_savo)
        return;
    H_WAIT_UNTIL(H_SEC(10), region_connected(w->kela, "savo"),
                 "kela's link to the savo broker to be connected");
    H_WAIT_UNTIL(H_SEC(10), h_broker_lists_connected(w->b, "kela"),
                 "the savo broker to list kela connected");
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* POST body at kela; returns the status, the answer in *resp. */
static long post(h_org *o, const char *path, json_t *body, h_resp *resp)
{
    return h_api_json(o, "POST", path, body, resp);
}

static json_t *consent_body(const char *hetu, const char *org2)
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 30ull * 86400000ull, until,
                      sizeof until);
    json_t *orgs = json_pack("[s]", "kela");
    if (org2)
        json_array_append_new(orgs, json_string(org2));
    return json_pack("{s:{s:s}, s:o, s:[s,s], s:s, s:s}", "client", "hetu",
                     hetu, "orgs", orgs, "purposes", "referral", "path",
                     "valid_until", until, "form", "Y100");
}

static long list_count(h_org *o, const char *path, const char *region_each)
{
    h_resp r;
    long n = -1;
    if (h_api(o, "GET", path, NULL, &r) == 200) {
        n = (long)json_integer_value(json_object_get(r.json, "count"));
        const char *k;
        json_t *v, *item;
        size_t i;
        json_object_foreach(r.json, k, v)
        {
            json_array_foreach(v, i, item)
            {
                if (region_each && strcmp(str(item, "region"), region_each))
                    n = -2; /* a record of another region */
                if (!json_object_get(item, "region"))
                    n = -3; /* untagged */
            }
        }
    }
    h_resp_free(&r);
    return n;
}

/* Runs polku (the real binary) against kela; returns the exit status and
 * the output in out (freed by the caller). */
static int cli(world *w, char **out, const char *const *args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)POLKU_CLI_BIN;
    argv[n++] = (char *)"--agent";
    argv[n++] = w->kela->url;
    argv[n++] = (char *)"--token-file";
    argv[n++] = w->kela->token_file;
    argv[n++] = (char *)"--lang";
    argv[n++] = (char *)"en";
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/cli.out", w->a->dir);
    int rc = h_run_program(argv, path, H_SEC(20));
    size_t len = 0;
    *out = h_read_file(path, &len);
    if (!*out)
        *out = strdup("");
    return rc;
}

/* How many times needle stands in text. */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The value of the sample "name{region=\"region\"}" in text, or -1. */
static long long region_sample(const char *text, const char *name,
                               const char *region)
{
    char head[160];
    snprintf(head, sizeof head, "\n%s{region=\"%s\"} ", name, region);
    const char *p = strstr(text, head);
    return p ? strtoll(p + strlen(head), NULL, 10) : -1;
}

/* kela's /metrics: each family described once, a sample per region
 * labelled with it, the values that region's (its log's last seq); with
 * ?region= that region's samples only. */
static void check_metrics(h_org *kela, const long long seqs[2])
{
    h_resp r;
    long st = h_api(kela, "GET", "/metrics", NULL, &r);
    H_REQUIRE(st == 200 && r.body, "GET /metrics at kela: HTTP %ld", st);
    long long a = region_sample(r.body, "polku_agent_last_seq", "pohjanmaa");
    long long b = region_sample(r.body, "polku_agent_last_seq", "savo");
    H_CHECK(a == seqs[0] && b == seqs[1],
            "/metrics: polku_agent_last_seq per region %lld and %lld, "
            "healthz says %lld and %lld",
            a, b, seqs[0], seqs[1]);
    H_CHECK(occurrences(r.body, "# TYPE polku_agent_last_seq gauge\n") == 1 &&
                occurrences(r.body, "# HELP polku_agent_commits_total ") == 1 &&
                occurrences(r.body, "\npolku_agent_commits_total{region=") ==
                    2 &&
                !strstr(r.body, "\npolku_agent_commits_total "),
            "/metrics: each family described once, one labelled sample per "
            "region, none unlabelled:\n%.2000s",
            r.body);
    H_CHECK(!strstr(r.body, "polku_agent_outbox_pending_by_dest{dest=") &&
                !strstr(r.body, "polku_agent_outbox_oldest_seconds{dest="),
            "/metrics: the outbox by destination carries the region too");
    h_resp_free(&r);
    st = h_api(kela, "GET", "/metrics?region=savo", NULL, &r);
    H_CHECK(st == 200 && r.body &&
                region_sample(r.body, "polku_agent_last_seq", "savo") ==
                    seqs[1] &&
                !strstr(r.body, "pohjanmaa"),
            "/metrics?region=savo: savo's samples only, got HTTP %ld", st);
    h_resp_free(&r);
    st = h_api(kela, "GET", "/metrics?region=lappi", NULL, &r);
    H_CHECK(st == 422 && strcmp(h_resp_error_code(&r), "unknown_region") == 0,
            "/metrics?region=lappi: 422 unknown_region, got %ld", st);
    h_resp_free(&r);
}

static bool log_says(const h_org *o, const char *needle)
{
    char *text = h_read_file(o->proc.log, NULL);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

/* A rule acts in every region, so each region's directory must hold the
 * organisations it names: a reload of a rule naming one only pohjanmaa
 * has is refused, naming savo, as a restart would refuse to start. */
static void check_rule_reload(h_org *kela)
{
    FILE *f = fopen(kela->proc.config, "a");
    H_REQUIRE(f, "append to %s", kela->proc.config);
    fputs("\n[rule pohjanmaa_only]\non = service_ended\n"
          "offer_to = sote-pohjanmaa\n",
          f);
    fclose(f);
    H_REQUIRE(kill(kela->proc.pid, SIGHUP) == 0, "SIGHUP to kela");
    H_WAIT_UNTIL(H_SEC(10),
                 log_says(kela, "reload refused") ||
                     log_says(kela, "reloaded "),
                 "kela to log the reload's outcome");
    H_CHECK(log_says(kela, "reload refused") &&
                log_says(kela, "'sote-pohjanmaa' is not an organisation in "
                               "the directory of region savo"),
            "a rule naming an organisation savo lacks is refused on reload, "
            "naming savo");
}

static void case_two_regions(void)
{
    world w = {0};
    world_start(&w, true);
    h_org *kela = w.kela;
    h_resp r;

    /* consents: the org in both regions alone is ambiguous */
    long st = post(kela, "/v1/consents", consent_body(HETU, NULL), &r);
    H_CHECK(st == 422 &&
                strcmp(h_resp_error_code(&r), "region_required") == 0 &&
                strstr(r.body, "pohjanmaa") && strstr(r.body, "savo"),
            "a consent for kela alone (in both regions) without region: "
            "422 region_required naming both; got %ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);

    /* ... and resolved by naming the region, in the body or the query */
    json_t *named = consent_body(HETU, "tyollisyys");
    json_object_set_new(named, "region", json_string("savo"));
    st = post(kela, "/v1/consents", named, &r);
    H_CHECK(st == 201 && strcmp(str(r.json, "region"), "savo") == 0,
            "the same consent with \"region\": \"savo\": 201 in savo, got "
            "%ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);
    st = post(kela, "/v1/consents?region=pohjanmaa",
              consent_body(HETU, "tyollisyys"), &r);
    H_CHECK(st == 201 && strcmp(str(r.json, "region"), "pohjanmaa") == 0,
            "the same consent with ?region=pohjanmaa: 201 there, got %ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);

    /* the receiver decides the region; one identity code, two keys */
    char key_a[40] = "", key_b[40] = "";
    st = post(kela, "/v1/consents", consent_body(HETU, "sote-pohjanmaa"), &r);
    H_REQUIRE(st == 201 && strcmp(str(r.json, "region"), "pohjanmaa") == 0,
              "consent in pohjanmaa: %ld %s", st, r.body ? r.body : "");
    snprintf(key_a, sizeof key_a, "%s", str(r.json, "client_key"));
    h_resp_free(&r);
    st = post(kela, "/v1/consents", consent_body(HETU, "sote-savo"), &r);
    H_REQUIRE(st == 201 && strcmp(str(r.json, "region"), "savo") == 0,
              "consent in savo: %ld %s", st, r.body ? r.body : "");
    snprintf(key_b, sizeof key_b, "%s", str(r.json, "client_key"));
    h_resp_free(&r);
    H_CHECK(strlen(key_a) == 32 && strlen(key_b) == 32 &&
                strcmp(key_a, key_b) != 0,
            "one identity code is a different client key in each region "
            "(%s, %s)",
            key_a, key_b);
    h_note("client key in pohjanmaa %s, in savo %s", key_a, key_b);

    /* referrals in each region, by identity code: the receiver decides */
    char ids[2][64] = {"", ""};
    const char *to[2] = {"sote-pohjanmaa", "sote-savo"};
    const char *region[2] = {"pohjanmaa", "savo"};
    for (int i = 0; i < 2; i++) {
        json_t *body =
            json_pack("{s:{s:s}, s:s, s:s, s:s}", "client", "hetu", HETU, "to",
                      to[i], "reason", "test referral", "urgency", "routine");
        st = post(kela, "/v1/referrals", body, &r);
        H_REQUIRE(st == 201 && strcmp(str(r.json, "region"), region[i]) == 0,
                  "referral to %s: %ld %s", to[i], st, r.body ? r.body : "");
        snprintf(ids[i], sizeof ids[i], "%s", str(r.json, "id"));
        h_resp_free(&r);
    }
    h_wait_status(kela, ids[0], "received", H_SEC(10));
    h_wait_status(kela, ids[1], "received", H_SEC(10));
    long in_a = h_referral_list(w.sote_a, "in", NULL, NULL);
    long in_b = h_referral_list(w.sote_b, "in", NULL, NULL);
    H_CHECK(in_a == 1 && in_b == 1,
            "each region's receiver has its one referral, none of the "
            "other's: sote-pohjanmaa %ld, sote-savo %ld",
            in_a, in_b);
    json_t *got = h_referral_get(w.sote_b, ids[1]);
    H_CHECK(got && strcmp(str(got, "client_key"), key_b) == 0,
            "sote-savo knows the client by the savo key only");
    json_decref(got);

    /* a referral by identity code where the receiver is in both: 422 */
    json_t *body = json_pack("{s:{s:s}, s:s, s:s}", "client", "hetu", HETU,
                             "service", "x", "reason", "r");
    st = post(kela, "/v1/referrals", body, &r);
    H_CHECK(st == 422 && strcmp(h_resp_error_code(&r), "region_required") == 0,
            "a referral by identity code only: 422 region_required, got %ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);
    body = json_pack("{s:{s:s}, s:s, s:s}", "client", "hetu", HETU, "to",
                     "tyollisyys", "reason", "r");
    st = post(kela, "/v1/referrals", body, &r);
    H_CHECK(st == 422 &&
                strcmp(h_resp_error_code(&r), "region_required") == 0 &&
                strstr(r.body, "'tyollisyys' is an organisation in regions "
                               "pohjanmaa and savo"),
            "a referral to tyollisyys (in both regions): 422 naming both, got "
            "%ld %s",
            st, r.body ? r.body : "");
    h_note("ambiguous create answered: %s", r.body ? r.body : "");
    h_resp_free(&r);
    st = h_api(kela, "GET", "/v1/referrals?region=lappi", NULL, &r);
    H_CHECK(st == 422 && strcmp(h_resp_error_code(&r), "unknown_region") == 0,
            "?region=lappi: 422 unknown_region, got %ld %s", st,
            r.body ? r.body : "");
    h_resp_free(&r);
    /* a body the front's fast reader refuses (a duplicate key) is still
     * read for its "region", as jansson reads it: not a name, so 400 */
    st = h_api(kela, "POST", "/v1/referrals",
               "{\"region\":5,\"reason\":\"a\",\"reason\":\"b\"}", &r);
    H_CHECK(st == 400 && r.body &&
                strstr(r.body, "'region' must be a region's name"),
            "a body with a duplicate key and a \"region\" of 5: 400 naming "
            "\"region\", got %ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);

    /* lists: filtered by region, tagged; without region, all */
    long n_a = list_count(kela, "/v1/referrals?region=pohjanmaa", "pohjanmaa");
    long n_b = list_count(kela, "/v1/referrals?region=savo", "savo");
    long n_all = list_count(kela, "/v1/referrals", NULL);
    H_CHECK(n_a == 1 && n_b == 1 && n_all == 2,
            "referrals: pohjanmaa %ld, savo %ld, all %ld (want 1, 1, 2)", n_a,
            n_b, n_all);
    h_note("referral lists: pohjanmaa %ld, savo %ld, all %ld", n_a, n_b, n_all);

    /* paths: claimed in pohjanmaa by its key; unknown in savo */
    char path[200];
    body = json_pack("{s:{s:s}}", "client", "key", key_a);
    st = post(kela, "/v1/paths", body, &r);
    H_CHECK(st == 201 || st == 200,
            "claim the pohjanmaa path by its key: %ld %s", st,
            r.body ? r.body : "");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/paths/%s?region=savo", key_a);
    st = h_api(kela, "GET", path, NULL, &r);
    H_CHECK(st == 404, "the pohjanmaa key in savo: 404, got %ld %s", st,
            r.body ? r.body : "");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/paths/%s", key_a);
    st = h_api(kela, "GET", path, NULL, &r);
    H_CHECK(st == 200 && strcmp(str(r.json, "region"), "pohjanmaa") == 0,
            "the pohjanmaa key without region: its region's path, got %ld %s",
            st, r.body ? r.body : "");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/consents?client=%s&region=savo", key_a);
    H_CHECK(list_count(kela, path, "savo") == 0,
            "savo holds no consent under the pohjanmaa key");
    snprintf(path, sizeof path, "/v1/consents?client=%s", key_b);
    H_CHECK(list_count(kela, path, "savo") == 2,
            "the savo key's two consents, found in savo without ?region=");
    H_CHECK(list_count(kela, "/v1/paths?region=savo", "savo") == 0 &&
                list_count(kela, "/v1/paths?region=pohjanmaa", "pohjanmaa") ==
                    1,
            "paths kept apart: savo 0, pohjanmaa 1");

    /* the CLI: --region on every noun */
    struct {
        const char *args[12];
        const char *want;
    } runs[] = {
        {{"--region", "savo", "--json", "referral", "list", NULL}, "\"savo\""},
        {{"--region", "savo", "--json", "referral", "show", ids[1], NULL},
         "\"savo\""},
        {{"--region", "savo", "--json", "consent", "list", "--client", key_b,
          NULL},
         "\"savo\""},
        {{"--region", "pohjanmaa", "--json", "path", "show", key_a, NULL},
         "\"pohjanmaa\""},
        {{"--region", "savo", "--json", "handover", "list", NULL}, "\"savo\""},
        {{"--region", "savo", "--json", "status", NULL}, "\"savo\""},
        {{"--region", "pohjanmaa", "--json", "reconcile", NULL}, "pohjanmaa"},
        {{"--region", "savo", "--json", "client", key_b, NULL}, "savo"},
        {{"--region", "savo", "--json", "log", "verify", NULL}, "savo"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *out = NULL;
        int rc = cli(&w, &out, runs[i].args);
        H_CHECK(strstr(out, runs[i].want) != NULL,
                "polku --region %s %s %s: exit %d, output lacks %s: %.400s",
                runs[i].args[1], runs[i].args[3], runs[i].args[4], rc,
                runs[i].want, out);
        free(out);
    }
    char *out = NULL;
    const char *plain[] = {"status", NULL};
    int rc = cli(&w, &out, plain);
    H_CHECK(rc == 0 && strstr(out, "pohjanmaa: connected") &&
                strstr(out, "savo: connected"),
            "polku status lists each region's link (exit %d): %.600s", rc, out);
    free(out);

    /* one log per region: each gapless from 1, neither holding the other's */
    json_t *hz = h_agent_health(kela), *each;
    size_t i;
    long long seqs[2] = {-1, -1};
    json_array_foreach(json_object_get(hz, "regions"), i, each)
    {
        if (i < 2)
            seqs[i] = json_integer_value(json_object_get(each, "last_seq"));
    }
    json_decref(hz);
    H_CHECK(seqs[0] >= 4 && seqs[1] >= 3,
            "each region's log holds its own events (pohjanmaa last seq %lld: "
            "2 consents, referral, path; savo %lld: 2 consents, referral)",
            seqs[0], seqs[1]);
    h_note("kela's logs: pohjanmaa last seq %lld, savo last seq %lld", seqs[0],
           seqs[1]);
    check_metrics(kela, seqs);
    /* each region's link names its region in kela's log */
    char *kela_log = h_read_file(kela->proc.log, NULL);
    H_CHECK(
        kela_log &&
            strstr(kela_log, "region pohjanmaa: welcomed by broker epoch") &&
            strstr(kela_log, "region savo: welcomed by broker epoch"),
        "kela's log names the region of each broker link's lines");
    free(kela_log);
    const char *bad[] = {"--region", "lappi", "referral", "list", NULL};
    rc = cli(&w, &out, bad);
    H_CHECK(rc == 1 && strstr(out, "lappi"),
            "polku --region lappi: exit 1 naming the region (exit %d: %.300s)",
            rc, out);
    free(out);
    const char *none[] = {"--region", "pohjanmaa", "--json", "path",
                          "show",     key_b,       NULL};
    rc = cli(&w, &out, none);
    H_CHECK(rc == 1, "the savo key asked in pohjanmaa fails (exit %d: %.300s)",
            rc, out);
    free(out);

    /* what is one region's alone needs --region */
    const char *verify[] = {"log", "verify", NULL};
    rc = cli(&w, &out, verify);
    H_CHECK(rc == 1 && strstr(out, "pohjanmaa and savo") &&
                strstr(out, "--region"),
            "polku log verify without --region: exit 1 naming the regions "
            "(exit %d: %.300s)",
            rc, out);
    free(out);

    /* a region's store is backed up on its own, while the agent runs */
    char dir[600], log[600];
    snprintf(dir, sizeof dir, "%s/backup-savo", w.a->dir);
    snprintf(log, sizeof log, "%s/backup.out", w.a->dir);
    char *argv[] = {(char *)POLKU_AGENT_BIN,
                    "--backup",
                    dir,
                    "--region",
                    "savo",
                    "--config",
                    kela->proc.config,
                    NULL};
    rc = h_run_program(argv, log, H_SEC(20));
    size_t len = 0;
    out = h_read_file(log, &len);
    H_CHECK(rc == 0 && out && strstr(out, "kela-savo"),
            "polku-agent --backup --region savo: exit %d, %s", rc,
            out ? out : "");
    free(out);
    check_rule_reload(kela);
}

/* docs/operations.md, "Adding a region to an agent": an agent's store
 * from before opens unchanged as the default region. */
static void case_add_region(void)
{
    world w = {0};
    world_start(&w, false);
    h_org *kela = w.kela;
    h_resp r;
    long st =
        post(kela, "/v1/consents", consent_body(HETU, "sote-pohjanmaa"), &r);
    H_REQUIRE(st == 201 && strcmp(str(r.json, "region"), "pohjanmaa") == 0,
              "one region: the consent is the default region's: %ld %s", st,
              r.body ? r.body : "");
    h_resp_free(&r);
    json_t *body = json_pack("{s:{s:s}, s:s, s:s}", "client", "hetu", HETU,
                             "to", "sote-pohjanmaa", "reason", "before");
    char id[64];
    st = post(kela, "/v1/referrals", body, &r);
    H_REQUIRE(st == 201, "referral before: %ld %s", st, r.body ? r.body : "");
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    h_resp_free(&r);
    h_wait_status(kela, id, "received", H_SEC(10));
    json_t *hz = h_agent_health(kela);
    long long seq = json_integer_value(json_object_get(hz, "last_seq"));
    char inc[40];
    snprintf(inc, sizeof inc, "%s", str(hz, "incarnation"));
    json_decref(hz);

    H_REQUIRE(h_agent_stop(kela) == 0, "kela stops cleanly");
    add_savo(&w);
    h_agent_start_connected(kela);
    H_WAIT_UNTIL(H_SEC(10), region_connected(kela, "savo"),
                 "kela's new link to the savo broker to be connected");
    hz = h_agent_health(kela);
    H_CHECK(json_integer_value(json_object_get(hz, "last_seq")) == seq &&
                strcmp(str(hz, "incarnation"), inc) == 0 &&
                strcmp(str(hz, "region"), "pohjanmaa") == 0,
            "the store from before is the default region, unchanged: last "
            "seq %lld, incarnation %s",
            seq, inc);
    json_decref(hz);
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s", id);
    st = h_api(kela, "GET", path, NULL, &r);
    H_CHECK(st == 200 && strcmp(str(r.json, "region"), "pohjanmaa") == 0 &&
                strcmp(str(r.json, "status"), "received") == 0,
            "the referral from before, found without ?region=: %ld %s", st,
            r.body ? r.body : "");
    h_resp_free(&r);
    H_CHECK(list_count(kela, "/v1/referrals?region=savo", "savo") == 0 &&
                list_count(kela, "/v1/referrals", NULL) == 1,
            "the new region starts empty");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_regions");
    H_CASE(case_two_regions);
    H_CASE(case_add_region);
    return h_finish();
}
