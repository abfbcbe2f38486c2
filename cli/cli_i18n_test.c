/* cli_i18n_test — the CLI's marked messages exist in Finnish and Swedish,
 * and the program speaks the language asked for.
 *
 * xgettext (Debian package gettext, like msgfmt at build time) lists the
 * messages the CLI's sources mark with _() or N_(); each must have a
 * non-empty translation in cli/po/fi.po and cli/po/sv.po, and the two
 * catalogues must hold the same messages. Then the built polku is run with
 * --lang and with LANG. The catalogue reader is checked to notice a
 * missing translation, so the test can fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#ifndef POLKU_SOURCE_DIR
#error "POLKU_SOURCE_DIR must name the source tree"
#endif
#ifndef POLKU_BIN
#error "POLKU_BIN must name the built polku"
#endif

#define MAX_MSGS 512

typedef struct catalogue {
    char *id[MAX_MSGS];
    char *str[MAX_MSGS];
    size_t n;
} catalogue;

/* Appends the C-escaped text between the quotes of line to *to. */
static void append_quoted(char **to, const char *line)
{
    const char *q = strchr(line, '"');
    if (!q)
        return;
    size_t have = *to ? strlen(*to) : 0;
    char *out = realloc(*to, have + strlen(q) + 1);
    assert_non_null(out);
    char *w = out + have;
    for (const char *p = q + 1; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *w++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
    *to = out;
}

/* Reads msgid/msgstr pairs (the header's empty msgid left out). */
static void read_catalogue(FILE *f, catalogue *c)
{
    char line[4096];
    char **cur = NULL;
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "msgid ", 6) == 0) {
            assert_true(c->n < MAX_MSGS);
            cur = &c->id[c->n];
            *cur = strdup("");
            append_quoted(cur, line + 6);
        } else if (strncmp(line, "msgstr ", 7) == 0) {
            cur = &c->str[c->n++];
            *cur = strdup("");
            append_quoted(cur, line + 7);
        } else if (line[0] == '"' && cur) {
            append_quoted(cur, line);
        } else {
            cur = NULL;
        }
    }
}

static void free_catalogue(catalogue *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->id[i]);
        free(c->str[i]);
    }
    c->n = 0;
}

/* The translation of id in c, NULL if c lacks it (the header skipped). */
static const char *lookup(const catalogue *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->id[i][0] && strcmp(c->id[i], id) == 0)
            return c->str[i];
    return NULL;
}

/* The first message of a missing or empty in b, or NULL. */
static const char *first_untranslated(const catalogue *a, const catalogue *b)
{
    for (size_t i = 0; i < a->n; i++) {
        if (!a->id[i][0])
            continue;
        const char *s = lookup(b, a->id[i]);
        if (!s || !s[0])
            return a->id[i];
    }
    return NULL;
}

static void load_po(const char *lang, catalogue *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cli/po/%s.po", POLKU_SOURCE_DIR, lang);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    read_catalogue(f, c);
    fclose(f);
}

static void every_marked_message_is_translated(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s/cli' && xgettext --from-code=UTF-8 --keyword=_ "
             "--keyword=N_ --keyword=cli_fail --keyword=cli_usage_error "
             "--no-location -o - *.c",
             POLKU_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    catalogue pot, fi, sv;
    read_catalogue(p, &pot);
    if (pclose(p) != 0)
        fail_msg("xgettext failed (Debian package gettext): %s", cmd);
    assert_true(pot.n > 20); /* it found the marked messages */
    /* cli_fail and cli_usage_error translate their format: they count */
    assert_non_null(lookup(&pot, "out of memory"));
    assert_non_null(lookup(&pot, "unknown command '%s'"));
    load_po("fi", &fi);
    load_po("sv", &sv);
    const char *m;
    if ((m = first_untranslated(&pot, &fi)))
        fail_msg("not translated in fi.po: \"%s\"", m);
    if ((m = first_untranslated(&pot, &sv)))
        fail_msg("not translated in sv.po: \"%s\"", m);
    if ((m = first_untranslated(&fi, &sv)))
        fail_msg("in fi.po, not in sv.po: \"%s\"", m);
    if ((m = first_untranslated(&sv, &fi)))
        fail_msg("in sv.po, not in fi.po: \"%s\"", m);
    free_catalogue(&pot);
    free_catalogue(&fi);
    free_catalogue(&sv);
}

/* The reader notices a message without translation. */
static void a_missing_translation_is_found(void **state)
{
    (void)state;
    const char *text = "msgid \"\"\nmsgstr \"\"\n\"Language: fi\\n\"\n\n"
                       "msgid \"open\"\nmsgstr \"avoinna\"\n\n"
                       "msgid \"rej\"\nmsgstr \"\"\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    catalogue c;
    read_catalogue(f, &c);
    fclose(f);
    assert_string_equal(lookup(&c, "open"), "avoinna");
    const char *m = first_untranslated(&c, &c);
    assert_non_null(m);
    assert_string_equal(m, "rej");
    free_catalogue(&c);
}

/* Output (stdout and stderr) of sh -c cmd into a malloc'd string. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    pclose(p);
    return out;
}

static void the_program_speaks_the_language(void **state)
{
    (void)state;
    const struct {
        const char *env, *args, *want, *not ;
    } cases[] = {
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "--lang fi --help",
         "komennot:", "commands:"},
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "--lang sv --help",
         "kommandon:", "commands:"},
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "--lang en --help",
         "commands:", "komennot:"},
        {"LANG=fi_FI.UTF-8 LANGUAGE= LC_ALL= LC_MESSAGES=", "--help",
         "komennot:", "commands:"},
        {"LANG=en_GB.UTF-8 LANGUAGE= LC_ALL= LC_MESSAGES=sv_FI.UTF-8", "--help",
         "kommandon:", "commands:"},
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "--lang fi report --help",
         "välittäjän koordinoinnin raportin", "coordination report"},
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "report --help",
         "coordination report", "välittäjän"},
        {"LANG=C LANGUAGE= LC_ALL= LC_MESSAGES=", "--lang sv nosuch",
         "Pröva 'polku --help'", "Try"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "env %s '%s' %s 2>&1", cases[i].env,
                 POLKU_BIN, cases[i].args);
        char *out = run(cmd);
        if (!strstr(out, cases[i].want) || strstr(out, cases[i].not ))
            fail_msg("%s: want \"%s\" and no \"%s\", got:\n%s", cmd,
                     cases[i].want, cases[i].not, out);
        free(out);
    }
}

/* Exit status and output (stdout and stderr) of sh -c cmd. */
static int run_status(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* An unknown --lang is a usage error naming the languages there are, in
 * the language of the environment; the last --lang counts. */
static void an_unknown_language_is_a_usage_error(void **state)
{
    (void)state;
    const struct {
        const char *env, *args, *want;
    } cases[] = {
        {"LANG=C", "--lang xx status",
         "polku: unknown language 'xx' for --lang (one of fi, sv, en)\n"
         "Try 'polku --help'.\n"},
        {"LANG=C", "referral list --lang=fi_FI",
         "polku: unknown language 'fi_FI' for --lang (one of fi, sv, en)\n"},
        {"LANG=C", "--lang sv referral show X --lang klingon",
         "unknown language 'klingon'"},
        {"LANG=fi_FI.UTF-8", "--lang xx --help",
         "polku: tuntematon kieli 'xx' valitsimelle --lang (fi, sv tai en)\n"
         "Kokeile 'polku --help'.\n"},
        {"LANG=sv_FI.UTF-8", "--lang=xx status",
         "polku: okänt språk 'xx' för --lang (fi, sv eller en)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048], out[4096];
        snprintf(cmd, sizeof cmd,
                 "env LANGUAGE= LC_ALL= LC_MESSAGES= %s '%s' --agent "
                 "http://127.0.0.1:1 %s 2>&1",
                 cases[i].env, POLKU_BIN, cases[i].args);
        int rc = run_status(cmd, out, sizeof out);
        if (rc != 2 || !strstr(out, cases[i].want))
            fail_msg("%s: want exit 2 and \"%s\", got %d:\n%s", cmd,
                     cases[i].want, rc, out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_marked_message_is_translated),
        cmocka_unit_test(a_missing_translation_is_found),
        cmocka_unit_test(the_program_speaks_the_language),
        cmocka_unit_test(an_unknown_language_is_a_usage_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
