/* print.c — how the CLI shows the agent's answers to a person: aligned
 * tables and "label: value" lines. Text from the agent is printed with its
 * control characters replaced, so a reason cannot break a table or send
 * escape sequences to the terminal. Errors go to stderr as "polku: ..."
 * (cli_fail), the one way every command reports what went wrong. */
#include "cli.h"
#include "i18n.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"

struct cli_table {
    size_t ncols;
    const char *const *heads;
    char **cells; /* rows * ncols */
    size_t rows, cap;
};

/* A copy of text with control characters (and DEL) as spaces. */
static char *clean_copy(const char *text)
{
    char *copy = strdup(text != NULL ? text : "-");
    if (copy == NULL)
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    return copy;
}

/* Characters on screen: UTF-8 continuation bytes do not count. */
static size_t text_width(const char *text)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            w++;
    }
    return w;
}

cli_table *cli_table_new(size_t ncols, const char *const *heads)
{
    cli_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->heads = heads;
    return t;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t == NULL)
        return;
    if (t->rows == t->cap) {
        size_t cap = t->cap == 0 ? 16 : t->cap * 2;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
        if (grown == NULL)
            return;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++)
        row[i] = clean_copy(cells[i]);
    t->rows++;
}

static const char *cell(const cli_table *t, size_t r, size_t col)
{
    const char *text = t->cells[r * t->ncols + col];
    return text != NULL ? text : "?";
}

static void print_row(FILE *out, const cli_table *t, const size_t *widths,
                      size_t r)
{
    for (size_t col = 0; col < t->ncols; col++) {
        const char *text = r == (size_t)-1 ? _(t->heads[col]) : cell(t, r, col);
        fputs(text, out);
        if (col + 1 == t->ncols)
            break;
        for (size_t w = text_width(text); w < widths[col] + 2; w++)
            fputc(' ', out);
    }
    fputc('\n', out);
}

void cli_table_print(const cli_table *t, FILE *out)
{
    if (t == NULL)
        return;
    size_t *widths = calloc(t->ncols, sizeof *widths);
    if (widths == NULL)
        return;
    for (size_t col = 0; col < t->ncols; col++) {
        widths[col] = text_width(_(t->heads[col]));
        for (size_t r = 0; r < t->rows; r++) {
            size_t w = text_width(cell(t, r, col));
            if (w > widths[col])
                widths[col] = w;
        }
    }
    print_row(out, t, widths, (size_t)-1);
    for (size_t r = 0; r < t->rows; r++)
        print_row(out, t, widths, r);
    free(widths);
}

void cli_table_free(cli_table **t)
{
    if (t == NULL || *t == NULL)
        return;
    for (size_t i = 0; i < (*t)->rows * (*t)->ncols; i++)
        free((*t)->cells[i]);
    free((*t)->cells);
    free(*t);
    *t = NULL;
}

void cli_print_rows(const json_t *list, size_t ncols, const char *const *heads,
                    const char *const *keys, const char *empty)
{
    assert(ncols <= CLI_ROWS_MAX_COLS);
    if (json_array_size(list) == 0 && empty != NULL) {
        printf("%s\n", empty);
        return;
    }
    cli_table *t = cli_table_new(ncols, heads);
    size_t i;
    const json_t *obj;
    json_array_foreach(list, i, obj)
    {
        char bufs[CLI_ROWS_MAX_COLS][40];
        const char *cells[CLI_ROWS_MAX_COLS];
        for (size_t k = 0; k < ncols; k++)
            cells[k] =
                cli_word(cli_time_field(obj, keys[k], bufs[k], sizeof bufs[k]));
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(&t);
}

void cli_print_history(const json_t *history)
{
    static const char *const heads[] = {N_("STATUS"), N_("AT"), N_("BY"),
                                        N_("REASON")};
    static const char *const keys[] = {"status", "at", "by", "reason"};
    cli_print_rows(history, 4, heads, keys, NULL);
}

const char *cli_field(const json_t *obj, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "yes";
    if (json_is_false(v))
        return "no";
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    }
    return "-";
}

void cli_print_clean(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
}

void cli_print_field(FILE *out, int width, const char *label, const char *value)
{
    fprintf(out, "%-*s ", width, label);
    cli_print_clean(out, value);
    fputc('\n', out);
}

void cli_say(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cli_print_clean(stdout, line);
    fputc('\n', stdout);
}

void cli_print_json(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
}

static bool in_english(void)
{
    return strcmp(cli_lang(), "en") == 0;
}

const char *cli_short_time(const char *rfc3339, char *buf, size_t len)
{
    if (!in_english())
        return cli_local_time(rfc3339, buf, len);
    size_t n = rfc3339 != NULL ? strlen(rfc3339) : 0;
    if (n < 16 || rfc3339[10] != 'T') {
        snprintf(buf, len, "%s", n > 0 ? rfc3339 : "-");
        return buf;
    }
    snprintf(buf, len, "%.10s %.5s", rfc3339, rfc3339 + 11);
    return buf;
}

const char *cli_time_field(const json_t *obj, const char *key, char *buf,
                           size_t len)
{
    const char *text = json_string_value(json_object_get(obj, key));
    uint64_t ms;
    /* only a time is rewritten: other text stays whole, however long */
    if (text == NULL || in_english() || polku_time_parse(text, &ms) != 0)
        return cli_field(obj, key, buf, len);
    return cli_local_time(text, buf, len);
}

const char *cli_word(const char *value)
{
    /* the values the agent writes that a person reads in a table */
    static const char *const words[] = {N_("requested"), N_("received"),
                                        N_("accepted"),  N_("in-progress"),
                                        N_("on-hold"),   N_("completed"),
                                        N_("rejected"),  N_("failed"),
                                        N_("cancelled"), N_("offered"),
                                        N_("declined"),  N_("expired"),
                                        N_("active"),    N_("revoked"),
                                        N_("in"),        N_("out"),
                                        N_("yes"),       N_("no"),
                                        N_("ok"),        N_("connected"),
                                        N_("routine"),   N_("urgent"),
                                        N_("open"),      N_("closed"),
                                        N_("withdrawn"), NULL};
    for (size_t i = 0; value != NULL && words[i] != NULL; i++)
        if (strcmp(value, words[i]) == 0)
            return _(words[i]);
    return value;
}

const char *cli_age_text(long long seconds, char *buf, size_t len)
{
    static const struct {
        long long secs;
        const char *unit;
    } units[] = {
        {86400, N_("d")}, {3600, N_("h")}, {60, N_("min")}, {1, N_("s")}};
    if (seconds < 0)
        seconds = 0;
    size_t i = 0;
    while (i + 1 < sizeof units / sizeof units[0] && seconds < units[i].secs)
        i++;
    snprintf(buf, len, "%lld %s", seconds / units[i].secs, _(units[i].unit));
    return buf;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("polku: ", stderr);
    vfprintf(stderr, _(fmt), ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}
