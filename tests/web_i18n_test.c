/* web_i18n_test — the dashboard's words exist in every language.
 *
 * The page (web/index.html, web/app.js) takes every word from one table
 * per language (web/i18n/fi.json, sv.json, en.json). This fails when a
 * key is missing from a table, a value is empty, a table holds a
 * placeholder ({name}) another lacks, or the page uses a key (i18n("..."),
 * data-i18n="...", data-i18n-attr="attr:key") no table has; a key built
 * at run time (i18n("status." + s)) needs its prefix in every table. It also
 * checks that the comparison itself reports a key taken out of a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#ifndef POLKU_SOURCE_DIR
#error "POLKU_SOURCE_DIR must name the source tree"
#endif

static const char *const langs[] = {"fi", "sv", "en"};
#define NLANG 3

static json_t *table(const char *lang)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/web/i18n/%s.json", POLKU_SOURCE_DIR, lang);
    json_error_t err;
    json_t *t = json_load_file(path, 0, &err);
    if (!t)
        fail_msg("%s: line %d: %s", path, err.line, err.text);
    if (!json_is_object(t))
        fail_msg("%s is not a JSON object", path);
    return t;
}

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", POLKU_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

/* The first key of a that b lacks, or NULL. */
static const char *first_missing(const json_t *a, const json_t *b)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)a, k, v)
    {
        if (!json_object_get(b, k))
            return k;
    }
    return NULL;
}

static void same_keys_everywhere(void **state)
{
    (void)state;
    json_t *t[NLANG];
    for (int i = 0; i < NLANG; i++)
        t[i] = table(langs[i]);
    for (int i = 0; i < NLANG; i++)
        for (int j = 0; j < NLANG; j++) {
            const char *k = first_missing(t[i], t[j]);
            if (k)
                fail_msg("key \"%s\" of %s.json is missing from %s.json", k,
                         langs[i], langs[j]);
        }
    assert_true(json_object_size(t[0]) > 100);
    for (int i = 0; i < NLANG; i++)
        json_decref(t[i]);
}

/* Placeholders of s ("{a}{b}") into out, sorted by appearance. */
static void placeholders(const char *s, char *out, size_t len)
{
    out[0] = 0;
    for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            break;
        if (strlen(out) + (size_t)(e - p) + 2 < len)
            strncat(out, p, (size_t)(e - p) + 1);
    }
}

static void values_and_placeholders(void **state)
{
    (void)state;
    json_t *t[NLANG];
    for (int i = 0; i < NLANG; i++)
        t[i] = table(langs[i]);
    const char *k;
    json_t *v;
    json_object_foreach(t[2], k, v)
    {
        char want[256], got[256];
        placeholders(json_string_value(v), want, sizeof want);
        for (int i = 0; i < NLANG; i++) {
            const json_t *x = json_object_get(t[i], k);
            if (!json_is_string(x) || !json_string_value(x)[0])
                fail_msg("%s.json: \"%s\" is not a non-empty string", langs[i],
                         k);
            placeholders(json_string_value(x), got, sizeof got);
            /* the same set; the order may differ between languages */
            for (const char *p = strchr(want, '{'); p; p = strchr(p + 1, '{')) {
                char one[64];
                size_t n = (size_t)(strchr(p, '}') - p) + 1;
                snprintf(one, sizeof one, "%.*s", (int)n, p);
                if (!strstr(got, one))
                    fail_msg("%s.json: \"%s\" lacks the placeholder %s",
                             langs[i], k, one);
            }
        }
    }
    for (int i = 0; i < NLANG; i++)
        json_decref(t[i]);
}

/* key is in t; a key ending in '.' (i18n("status." + s)) is a prefix:
 * some key of t starts with it. */
static bool known(const json_t *t, const char *key)
{
    size_t n = strlen(key);
    if (!n || key[n - 1] != '.')
        return json_object_get(t, key) != NULL;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)t, k, v)
    {
        if (strncmp(k, key, n) == 0)
            return true;
    }
    return false;
}

/* Every key named after marker in text (up to the closing quote; with
 * attr, each "attr:key" of a ';' list) exists in every table. Returns the
 * number of keys seen. */
static int check_used(const char *file, const char *text, const char *marker,
                      bool attr, json_t *const t[NLANG])
{
    int seen = 0;
    for (const char *p = strstr(text, marker); p; p = strstr(p + 1, marker)) {
        const char *s = p + strlen(marker), *e = strchr(s, '"');
        if (!e)
            break;
        char list[512];
        snprintf(list, sizeof list, "%.*s", (int)(e - s), s);
        char *save = NULL;
        for (char *item = strtok_r(list, ";", &save); item;
             item = strtok_r(NULL, ";", &save)) {
            char *key = attr ? strchr(item, ':') : item;
            if (!key)
                fail_msg("%s: \"%s\" is not attr:key", file, item);
            key += attr;
            seen++;
            for (int i = 0; i < NLANG; i++)
                if (!known(t[i], key))
                    fail_msg("%s uses \"%s\", missing from %s.json", file, key,
                             langs[i]);
        }
    }
    return seen;
}

static void the_page_uses_only_known_keys(void **state)
{
    (void)state;
    json_t *t[NLANG];
    for (int i = 0; i < NLANG; i++)
        t[i] = table(langs[i]);
    char *js = slurp("web/app.js"), *html = slurp("web/index.html");
    int n = check_used("web/app.js", js, "i18n(\"", false, t);
    n += check_used("web/index.html", html, "data-i18n=\"", false, t);
    n += check_used("web/index.html", html, "data-i18n-attr=\"", true, t);
    assert_true(n > 50); /* the scan found the page's keys */
    free(js);
    free(html);
    for (int i = 0; i < NLANG; i++)
        json_decref(t[i]);
}

/* The comparison can fail: a key taken out of one table is reported. */
static void a_missing_key_is_found(void **state)
{
    (void)state;
    json_t *fi = table("fi"), *sv = table("sv");
    assert_null(first_missing(fi, sv));
    assert_int_equal(json_object_del(sv, "tile.pending"), 0);
    const char *k = first_missing(fi, sv);
    assert_non_null(k);
    assert_string_equal(k, "tile.pending");
    json_decref(fi);
    json_decref(sv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_keys_everywhere),
        cmocka_unit_test(values_and_placeholders),
        cmocka_unit_test(the_page_uses_only_known_keys),
        cmocka_unit_test(a_missing_key_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
