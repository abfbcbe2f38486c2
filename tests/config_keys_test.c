/* config_keys_test — config/agent.ini and config/broker.ini document
 * exactly the keys the loaders accept.
 *
 * README and polku.ini(5) promise that config/agent.ini and
 * config/broker.ini show every key; eleven keys once went missing. A key
 * counts as documented when a line of its section, active or commented out
 * (";key = value"), sets it; a section header counts commented out too
 * (";[rule NAME]"). [org ID] and [rule NAME] sections are one kind each.
 * The test fails for a key the loader accepts and the file does not show,
 * and for a key the file shows and the loader would refuse. It also checks
 * its own reader on a sample, so that it cannot pass by reading nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#include "broker_config.h"

#define MAX_KEYS 64

typedef struct documented {
    char section[MAX_KEYS][16];
    char key[MAX_KEYS][40];
    int n;
} documented;

/* "org kela" -> "org", "rule x" -> "rule", else the name itself. */
static void section_kind(const char *name, size_t len, char *out, size_t cap)
{
    size_t word = strcspn(name, " \t]");
    if (word > len)
        word = len;
    snprintf(out, cap, "%.*s", (int)word, name);
}

/* Reads the documented keys of an INI text. */
static void read_documented(const char *text, documented *d)
{
    char section[16] = "";
    d->n = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t'))
            p++;
        if (p < line + len && *p == ';') /* one ';': commented out */
            p++;
        while (p < line + len && (*p == ' ' || *p == '\t'))
            p++;
        const char *q = p;
        while (q < line + len && (islower((unsigned char)*q) || *q == '_'))
            q++;
        const char *eq = q;
        while (eq < line + len && *eq == ' ')
            eq++;
        const char *close = memchr(p, ']', (size_t)(line + len - p));
        if (p < line + len && *p == '[' && close) {
            section_kind(p + 1, (size_t)(close - p - 1), section,
                         sizeof section);
        } else if (section[0] && q > p && eq < line + len && *eq == '=' &&
                   d->n < MAX_KEYS) { /* before any section: prose */
            snprintf(d->section[d->n], sizeof d->section[0], "%s", section);
            snprintf(d->key[d->n], sizeof d->key[0], "%.*s", (int)(q - p), p);
            d->n++;
        }
        line = end ? end + 1 : NULL;
    }
}

static bool has(const documented *d, const char *section, const char *key)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->section[i], section) == 0 && strcmp(d->key[i], key) == 0)
            return true;
    return false;
}

static bool in_list(const char *const *keys, const char *key)
{
    for (; keys && *keys; keys++)
        if (strcmp(*keys, key) == 0)
            return true;
    return false;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Both ways: every accepted key documented, every documented key
 * accepted. Returns the number of differences (each printed). */
static int compare(const char *file, const documented *d,
                   const char *const sections[],
                   const char *const *(*known)(const char *))
{
    int bad = 0;
    for (int s = 0; sections[s]; s++)
        for (const char *const *k = known(sections[s]); k && *k; k++)
            if (!has(d, sections[s], *k)) {
                printf("%s: [%s] %s is accepted but not documented\n", file,
                       sections[s], *k);
                bad++;
            }
    for (int i = 0; i < d->n; i++)
        if (!in_list(known(d->section[i]), d->key[i])) {
            printf("%s: [%s] %s is documented but not accepted\n", file,
                   d->section[i], d->key[i]);
            bad++;
        }
    return bad;
}

static void test_reader(void **state)
{
    (void)state;
    documented d;
    read_documented("; header = comment prose, not a key\n"
                    "[agent]\norg = x ; inline\n"
                    ";retry_min  = 100ms ; optional\n"
                    "                ; continuation, words only\n"
                    ";[rule name]\n;on = service_ended\n"
                    "[org kela]\npublic_key = k\n",
                    &d);
    assert_int_equal(d.n, 4);
    assert_true(has(&d, "agent", "org"));
    assert_true(has(&d, "agent", "retry_min"));
    assert_true(has(&d, "rule", "on"));
    assert_true(has(&d, "org", "public_key"));
    static const char *const sections[] = {"agent", "rule", "org", NULL};
    /* the sample lacks most keys and has one the agent refuses */
    assert_true(compare("sample", &d, sections, agent_config_known_keys) > 5);
}

static void test_agent_ini(void **state)
{
    (void)state;
    char *text = slurp(POLKU_SOURCE_DIR "/config/agent.ini");
    documented d;
    read_documented(text, &d);
    free(text);
    static const char *const sections[] = {"agent", "rule", "region", NULL};
    assert_int_equal(
        compare("config/agent.ini", &d, sections, agent_config_known_keys), 0);
}

static void test_broker_ini(void **state)
{
    (void)state;
    char *text = slurp(POLKU_SOURCE_DIR "/config/broker.ini");
    documented d;
    read_documented(text, &d);
    free(text);
    static const char *const sections[] = {"broker", "sla", "org", NULL};
    assert_int_equal(
        compare("config/broker.ini", &d, sections, broker_config_known_keys),
        0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_agent_ini),
        cmocka_unit_test(test_broker_ini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
