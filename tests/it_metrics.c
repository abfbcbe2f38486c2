/* it_metrics — every metric of the broker and the agents is described.
 *
 * Prometheus tooling (and promtool check metrics) expects each metric
 * family to have one "# HELP" and one "# TYPE" line before its samples.
 * After some traffic (so that labelled families have samples), the
 * broker's and two agents' /metrics are checked by our own reader: every
 * sample's family has HELP and TYPE before it, a known type, a counter's
 * name ends in _total, no family is described twice. When promtool is
 * installed (Debian package prometheus) it checks the same texts too and
 * must find nothing to say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MAX_FAMILIES 128

typedef struct family {
    char name[96];
    bool help, type, sampled;
    char kind[16];
} family;

typedef struct exposition {
    family f[MAX_FAMILIES];
    int n;
    int problems;
    bool report; /* each problem fails the case */
} exposition;

static family *find(exposition *e, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->f[i].name, name) == 0)
            return &e->f[i];
    H_REQUIRE(e->n < MAX_FAMILIES, "more than %d families", MAX_FAMILIES);
    family *f = &e->f[e->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

static void problem(exposition *e, const char *who, const char *fmt,
                    const char *name)
{
    e->problems++;
    char what[256];
    snprintf(what, sizeof what, fmt, name);
    if (e->report)
        h_check_failed(__FILE__, __LINE__, "%s /metrics: %s", who, what);
    else
        h_note("%s: %s", who, what);
}

/* One "# HELP name text" or "# TYPE name kind" line. */
static void comment_line(exposition *e, const char *who, const char *line)
{
    char word[8], name[96], rest[64] = "";
    if (sscanf(line, "# %7s %95s %63s", word, name, rest) < 2)
        return;
    bool help = strcmp(word, "HELP") == 0, type = strcmp(word, "TYPE") == 0;
    if (!help && !type)
        return;
    family *f = find(e, name);
    if (f->sampled)
        problem(e, who, "%s described after its samples", name);
    if ((help && f->help) || (type && f->type))
        problem(e, who, "%s described twice", name);
    if (help) {
        f->help = true;
        if (rest[0] == '\0')
            problem(e, who, "%s has an empty HELP", name);
        return;
    }
    f->type = true;
    snprintf(f->kind, sizeof f->kind, "%s", rest);
    if (strcmp(rest, "counter") && strcmp(rest, "gauge") &&
        strcmp(rest, "histogram") && strcmp(rest, "summary") &&
        strcmp(rest, "untyped"))
        problem(e, who, "%s has an unknown TYPE", name);
    size_t n = strlen(name);
    bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
    if (strcmp(rest, "counter") == 0 && !total)
        problem(e, who, "counter %s does not end in _total", name);
    if (strcmp(rest, "counter") != 0 && total)
        problem(e, who, "%s ends in _total but is not a counter", name);
}

/* Checks text; returns the number of families sampled and the number of
 * problems in *problems. report: each problem fails the case. */
static int check_exposition(const char *who, const char *text, bool report,
                            int *problems)
{
    exposition *e = calloc(1, sizeof *e);
    H_REQUIRE(e, "out of memory");
    e->report = report;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            comment_line(e, who, line);
            continue;
        }
        char name[96];
        size_t n = strcspn(line, "{ ");
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        family *f = find(e, name);
        if (!f->sampled && !f->help)
            problem(e, who, "%s has samples but no HELP", name);
        if (!f->sampled && !f->type)
            problem(e, who, "%s has samples but no TYPE", name);
        f->sampled = true;
    }
    free(copy);
    int sampled = 0;
    for (int i = 0; i < e->n; i++)
        sampled += e->f[i].sampled;
    h_note("%s: %d families, %d with samples, %d problems", who, e->n, sampled,
           e->problems);
    *problems = e->problems;
    free(e);
    return sampled;
}

static bool have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* promtool check metrics < text: no output and exit 0. */
static void promtool_check(h_region *r, const char *who, const char *text)
{
    char in[600], out[600], cmd[1400];
    snprintf(in, sizeof in, "%s/metrics-%s.txt", r->dir, who);
    snprintf(out, sizeof out, "%s/promtool-%s.out", r->dir, who);
    FILE *f = fopen(in, "w");
    H_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", in);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", in,
             out);
    int rc = system(cmd);
    size_t len = 0;
    char *said = h_read_file(out, &len);
    H_CHECK(rc == 0 && len == 0,
            "promtool check metrics on %s's /metrics: exit %d, said:\n%s", who,
            rc, said ? said : "");
    free(said);
}

static char *metrics_text(h_region *r, h_org *o)
{
    h_resp resp;
    long st = o ? h_api(o, "GET", "/metrics", NULL, &resp)
                : h_http_request(r->broker_http, "GET", "/metrics", NULL, NULL,
                                 0, &resp);
    H_REQUIRE(st == 200 && resp.body, "GET /metrics at %s: HTTP %ld",
              o ? o->id : "the broker", st);
    char *text = strdup(resp.body);
    h_resp_free(&resp);
    return text;
}

static void case_help_and_type(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "metrics", id, &resp);
    H_REQUIRE(st == 201, "create a referral: HTTP %ld", st);
    h_resp_free(&resp);
    h_wait_status(b, id, "received", H_SEC(10));

    bool promtool = have_promtool();
    if (!promtool)
        h_note("promtool not installed (Debian package prometheus): only "
               "our own check runs");
    struct {
        const char *who;
        h_org *o;
        int min_families;
    } targets[] = {
        {"broker", NULL, 20}, {"sote-keskus", a, 15}, {"kela", b, 15}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char *text = metrics_text(r, targets[i].o);
        int problems = 0;
        int sampled = check_exposition(targets[i].who, text, true, &problems);
        H_CHECK(sampled >= targets[i].min_families,
                "%s: %d families with samples, expected at least %d",
                targets[i].who, sampled, targets[i].min_families);
        if (promtool)
            promtool_check(r, targets[i].who, text);
        free(text);
    }
}

/* The reader itself: a family without HELP, one without TYPE and a
 * counter named like a gauge are each found. */
static void case_reader_finds_problems(void)
{
    int found = 0;
    check_exposition("sample",
                     "# TYPE a_total counter\na_total 1\n"
                     "# HELP b Bee.\nb 2\n"
                     "# HELP c Sea.\n# TYPE c counter\nc 3\n"
                     "# HELP d_total Dee.\n# TYPE d_total counter\n"
                     "d_total{x=\"1\"} 4\nd_total{x=\"2\"} 5\n",
                     false, &found);
    H_CHECK(found == 3, "the reader found %d problems, expected 3", found);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_metrics");
    H_CASE(case_help_and_type);
    H_CASE(case_reader_finds_problems);
    return h_finish();
}
