/* config_test.c — INI loading, typed getters and the errors operators see. */
#include "polku/config.h"
#include "polku/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/polku-config-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/test.ini", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

/* Loads text and expects POLKU_OK. */
static polku_ini *load_ok(struct fixture *f, const char *text)
{
    write_file(f->path, text);
    polku_ini *ini = NULL;
    polku_cfgerr err = {{0}};
    int rc = polku_ini_load(f->path, &ini, &err);
    if (rc != POLKU_OK)
        fail_msg("load failed (%d): %s", rc, err.msg);
    assert_non_null(ini);
    return ini;
}

/* Loads text, expects code, and checks the message is "PATH:want". */
static void load_fails(struct fixture *f, const char *text, int code,
                       const char *want)
{
    write_file(f->path, text);
    polku_ini *ini = (polku_ini *)&ini; /* must be reset to NULL */
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_ini_load(f->path, &ini, &err), code);
    assert_null(ini);
    char expected[512];
    snprintf(expected, sizeof expected, "%s:%s", f->path, want);
    assert_string_equal(err.msg, expected);
}

static const char broker_ini[] =
    "; polku broker\n"                                         /* 1 */
    "[broker]\n"                                               /* 2 */
    "listen      = tcp://127.0.0.1:5570\n"                     /* 3 */
    "feed        = tcp://127.0.0.1:5571      ; PUB feed\n"     /* 4 */
    "http_token_file =                        ; required...\n" /* 5 */
    "\n"                                                       /* 6 */
    "# hash comment\n"                                         /* 7 */
    "[sla]                                   ; durations\n"    /* 8 */
    "referral_receipt   = 1h\n"                                /* 9 */
    "   indented = 3d\n"                                       /* 10 */
    "[org kela]\n"                                             /* 11 */
    "name       = Kela\n"                                      /* 12 */
    "services   = vocational-rehab, benefits\n"                /* 13 */
    "semi = a;b\n"                                             /* 14 */
    "[ empty ]\n";                                             /* 15 */

static void test_load_values_sections_lines(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, broker_ini);
    assert_string_equal(polku_ini_path(ini), f->path);

    assert_int_equal(polku_ini_section_count(ini), 4);
    assert_string_equal(polku_ini_section_at(ini, 0), "broker");
    assert_string_equal(polku_ini_section_at(ini, 1), "sla");
    assert_string_equal(polku_ini_section_at(ini, 2), "org kela");
    assert_string_equal(polku_ini_section_at(ini, 3), "empty");
    assert_null(polku_ini_section_at(ini, 4));
    assert_int_equal(polku_ini_section_line(ini, "broker"), 2);
    assert_int_equal(polku_ini_section_line(ini, "sla"), 8);
    assert_int_equal(polku_ini_section_line(ini, "org kela"), 11);
    assert_int_equal(polku_ini_section_line(ini, "empty"), 15);
    assert_int_equal(polku_ini_section_line(ini, "nope"), 0);

    struct {
        const char *section, *key, *value;
        int line;
    } want[] = {
        {"broker", "listen", "tcp://127.0.0.1:5570", 3},
        {"broker", "feed", "tcp://127.0.0.1:5571", 4},
        {"broker", "http_token_file", "", 5},
        {"sla", "referral_receipt", "1h", 9},
        {"sla", "indented", "3d", 10},
        {"org kela", "name", "Kela", 12},
        {"org kela", "services", "vocational-rehab, benefits", 13},
        {"org kela", "semi", "a;b", 14},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(polku_ini_count(ini), n);
    for (size_t i = 0; i < n; i++) {
        const polku_ini_entry *e = polku_ini_at(ini, i);
        assert_non_null(e);
        assert_string_equal(e->section, want[i].section);
        assert_string_equal(e->key, want[i].key);
        assert_string_equal(e->value, want[i].value);
        assert_int_equal(e->line, want[i].line);
        assert_ptr_equal(polku_ini_find(ini, want[i].section, want[i].key), e);
    }
    assert_null(polku_ini_at(ini, n));
    assert_null(polku_ini_find(ini, "broker", "name"));
    assert_null(polku_ini_find(ini, "org", "name"));
    polku_ini_free(&ini);
    assert_null(ini);
    polku_ini_free(&ini); /* NULL is accepted */
    polku_ini_free(NULL);
}

static void test_crlf_bom_and_keys_before_section(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, "\xEF\xBB\xBFtop = 1\r\n"
                                "\r\n"
                                "[a]\r\n"
                                "k = v  \r\n"
                                "last=no newline");
    assert_int_equal(polku_ini_count(ini), 3);
    const polku_ini_entry *top = polku_ini_find(ini, "", "top");
    assert_non_null(top);
    assert_string_equal(top->value, "1");
    assert_int_equal(top->line, 1);
    const polku_ini_entry *k = polku_ini_find(ini, "a", "k");
    assert_non_null(k);
    assert_string_equal(k->value, "v");
    assert_int_equal(k->line, 4);
    assert_int_equal(polku_ini_find(ini, "a", "last")->line, 5);
    assert_string_equal(polku_ini_find(ini, "a", "last")->value, "no newline");
    assert_string_equal(polku_ini_section_at(ini, 0), "");
    polku_ini_free(&ini);
}

static void test_repeated_section_merges(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, "[a]\nx = 1\n[b]\n[a]\ny = 2\n");
    assert_int_equal(polku_ini_section_count(ini), 2);
    assert_int_equal(polku_ini_section_line(ini, "a"), 1);
    assert_int_equal(polku_ini_find(ini, "a", "y")->line, 5);
    polku_ini_free(&ini);
}

static void test_load_errors(void **state)
{
    struct fixture *f = *state;
    load_fails(f, "[a]\nx = 1\n; c\ny = 2\nx = 3\n", POLKU_ECONFIG,
               "5: [a] x: given twice (first on line 2)");
    load_fails(f, "[a]\nx = 1\n[b]\n[a]\n\nx = 2\n", POLKU_ECONFIG,
               "6: [a] x: given twice (first on line 2)");
    load_fails(f, "[a]\nx = 1\n\njust words\ny = 2\n", POLKU_ECONFIG,
               "4: expected 'key = value' or '[section]'");
    load_fails(f, "[a]\nx = 1\n[b\n", POLKU_ECONFIG,
               "3: section header without ']'");
    load_fails(f, "[a] junk\n", POLKU_ECONFIG, "1: unexpected text after ']'");
    load_fails(f, "x = 1\n[  ]\n", POLKU_ECONFIG, "2: empty section name");
    load_fails(f, "[a]\n= value\n", POLKU_ECONFIG, "2: missing key before '='");
}

static void test_nul_byte_is_rejected(void **state)
{
    struct fixture *f = *state;
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("[a]\nx = 1\ny = a\0b\n", 1, 17, fp), 17);
    assert_int_equal(fclose(fp), 0);
    polku_ini *ini = NULL;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_ini_load(f->path, &ini, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, ":3: NUL byte"));
}

static void test_long_line(void **state)
{
    struct fixture *f = *state;
    char text[1024];
    int n = snprintf(text, sizeof text, "[a]\nok = 1\nlong = ");
    memset(text + n, 'x', 400);
    strcpy(text + n + 400, "\nafter = 2\n");
    write_file(f->path, text);
    polku_ini *ini = NULL;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_ini_load(f->path, &ini, &err), POLKU_ECONFIG);
    assert_null(ini);
    char want[256];
    snprintf(want, sizeof want, "%s:3: line longer than", f->path);
    assert_memory_equal(err.msg, want, strlen(want));

    /* A long comment does not count against the limit. */
    n = snprintf(text, sizeof text, "[a]\nk = v   ; ");
    memset(text + n, 'c', 400);
    strcpy(text + n + 400, "\nj = w\n");
    ini = load_ok(f, text);
    assert_string_equal(polku_ini_find(ini, "a", "k")->value, "v");
    assert_int_equal(polku_ini_find(ini, "a", "j")->line, 3);
    polku_ini_free(&ini);
}

static void test_missing_file(void **state)
{
    struct fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/absent.ini", f->dir);
    polku_ini *ini = NULL;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_ini_load(path, &ini, &err), POLKU_ENOTFOUND);
    assert_null(ini);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory",
             path);
    assert_string_equal(err.msg, want);

    assert_int_equal(polku_ini_load(f->dir, &ini, &err), POLKU_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static const char getters_ini[] = "[g]\n"
                                  "name = Kela\n"
                                  "empty =\n"
                                  "port = 8570\n"
                                  "big = 99999999999999999999999\n"
                                  "hex = 0x10\n"
                                  "neg = -1\n"
                                  "sign = +5\n"
                                  "on = On\n"
                                  "off = no\n"
                                  "maybe = perhaps\n"
                                  "sla = 36h\n"
                                  "badsla = 3 days\n"
                                  "zero = 0s\n";

static void expect_msg(const struct fixture *f, const polku_cfgerr *err,
                       const char *want)
{
    char expected[512];
    snprintf(expected, sizeof expected, "%s%s", f->path, want);
    assert_string_equal(err->msg, expected);
}

static void test_str(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, getters_ini);
    polku_cfgerr err = {{0}};
    const char *s = NULL;
    assert_int_equal(polku_ini_str(ini, "g", "name", NULL, &s, &err), POLKU_OK);
    assert_string_equal(s, "Kela");
    assert_int_equal(polku_ini_str(ini, "g", "absent", "dflt", &s, &err),
                     POLKU_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(polku_ini_str(ini, "g", "empty", "dflt", &s, &err),
                     POLKU_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(polku_ini_str(ini, "g", "empty", NULL, &s, &err),
                     POLKU_ECONFIG);
    expect_msg(f, &err, ":3: [g] empty is required");
    assert_int_equal(polku_ini_str(ini, "h", "x", NULL, &s, &err),
                     POLKU_ECONFIG);
    expect_msg(f, &err, ": [h] x is required");
    polku_ini_free(&ini);
}

static void test_uint(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, getters_ini);
    polku_cfgerr err = {{0}};
    uint64_t v = 0;
    assert_int_equal(
        polku_ini_uint(ini, "g", "port", true, 0, 1, 65535, &v, &err),
        POLKU_OK);
    assert_int_equal(v, 8570);
    assert_int_equal(
        polku_ini_uint(ini, "g", "absent", false, 77, 1, 10, &v, &err),
        POLKU_OK);
    assert_int_equal(v, 77);
    assert_int_equal(
        polku_ini_uint(ini, "g", "empty", false, 5, 0, 10, &v, &err), POLKU_OK);
    assert_int_equal(v, 5);
    assert_int_equal(
        polku_ini_uint(ini, "g", "absent", true, 0, 0, 10, &v, &err),
        POLKU_ECONFIG);
    expect_msg(f, &err, ":1: [g] absent is required");

    v = 123;
    assert_int_equal(
        polku_ini_uint(ini, "g", "port", true, 0, 1, 1024, &v, &err),
        POLKU_ECONFIG);
    expect_msg(f, &err,
               ":4: [g] port: expected a whole number from 1 to 1024, "
               "got '8570'");
    assert_int_equal(v, 123);
    const char *bad[] = {"big", "hex", "neg", "sign", "name"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            polku_ini_uint(ini, "g", bad[i], false, 0, 0, UINT64_MAX, &v, &err),
            POLKU_ECONFIG);
        char key[32];
        snprintf(key, sizeof key, "] %s: expected", bad[i]);
        assert_non_null(strstr(err.msg, key));
    }
    expect_msg(f, &err,
               ":2: [g] name: expected a whole number from 0 to "
               "18446744073709551615, got 'Kela'");
    assert_int_equal(v, 123);
    polku_ini_free(&ini);
}

static void test_bool(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, "[b]\n"
                                "a = true\nb = FALSE\nc = yes\nd = no\n"
                                "e = on\nf = off\ng = 1\nh = 0\n"
                                "bad = 2\n");
    polku_cfgerr err = {{0}};
    const struct {
        const char *key;
        bool want;
    } cases[] = {{"a", true}, {"b", false}, {"c", true}, {"d", false},
                 {"e", true}, {"f", false}, {"g", true}, {"h", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool v = !cases[i].want;
        assert_int_equal(
            polku_ini_bool(ini, "b", cases[i].key, !cases[i].want, &v, &err),
            POLKU_OK);
        assert_int_equal(v, cases[i].want);
    }
    bool v = false;
    assert_int_equal(polku_ini_bool(ini, "b", "absent", true, &v, &err),
                     POLKU_OK);
    assert_true(v);
    assert_int_equal(polku_ini_bool(ini, "b", "bad", true, &v, &err),
                     POLKU_ECONFIG);
    expect_msg(f, &err,
               ":10: [b] bad: expected true/false, yes/no, on/off or 1/0, "
               "got '2'");
    polku_ini_free(&ini);
}

static void test_duration(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, getters_ini);
    polku_cfgerr err = {{0}};
    uint64_t ms = 0;
    assert_int_equal(polku_ini_duration(ini, "g", "sla", 1, &ms, &err),
                     POLKU_OK);
    assert_int_equal(ms, UINT64_C(129600000));
    assert_int_equal(polku_ini_duration(ini, "g", "absent", 42, &ms, &err),
                     POLKU_OK);
    assert_int_equal(ms, 42);
    assert_int_equal(polku_ini_duration(ini, "g", "badsla", 1, &ms, &err),
                     POLKU_ECONFIG);
    expect_msg(f, &err,
               ":13: [g] badsla: expected a duration like 500ms, 30s, 15m, "
               "36h or 5d, got '3 days'");
    assert_int_equal(polku_ini_duration(ini, "g", "zero", 1, &ms, &err),
                     POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, ":14: [g] zero:"));
    polku_ini_free(&ini);
}

static void test_check_keys(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, "[agent]\norg = kela\nstore = d\n"
                                "stroe = typo\n[other]\nzzz = 1\n");
    polku_cfgerr err = {{0}};
    const char *const known[] = {"org", "store", NULL};
    assert_int_equal(polku_ini_check_keys(ini, "agent", known, &err),
                     POLKU_ECONFIG);
    expect_msg(f, &err, ":4: [agent] unknown key 'stroe'");
    const char *const all[] = {"org", "store", "stroe", NULL};
    assert_int_equal(polku_ini_check_keys(ini, "agent", all, &err), POLKU_OK);
    assert_int_equal(polku_ini_check_keys(ini, "absent", known, &err),
                     POLKU_OK);
    polku_ini_free(&ini);
}

static void test_cfgerr_set(void **state)
{
    struct fixture *f = *state;
    polku_ini *ini = load_ok(f, "[agent]\n\nhttp = x\n");
    polku_cfgerr err = {{0}};
    const polku_ini_entry *e = polku_ini_find(ini, "agent", "http");
    assert_int_equal(polku_cfgerr_set(&err, ini, e, "agent", "http",
                                      "expected HOST:PORT, got '%s'", e->value),
                     POLKU_ECONFIG);
    expect_msg(f, &err, ":3: [agent] http: expected HOST:PORT, got 'x'");
    assert_int_equal(polku_cfgerr_set(&err, ini, NULL, "agent", "key_file",
                                      "cannot read %s", "k.key"),
                     POLKU_ECONFIG);
    expect_msg(f, &err, ": [agent] key_file: cannot read k.key");
    /* Section and key default to the entry's. */
    polku_cfgerr_set(&err, ini, e, NULL, NULL, "bad");
    expect_msg(f, &err, ":3: [agent] http: bad");
    polku_ini_free(&ini);
}

static void test_hostport(void **state)
{
    char host[64];
    uint16_t port = 0;
    assert_int_equal(
        polku_hostport_parse("127.0.0.1:8570", host, sizeof host, &port),
        POLKU_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8570);
    assert_int_equal(
        polku_hostport_parse("localhost:80", host, sizeof host, &port),
        POLKU_OK);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 80);
    assert_int_equal(polku_hostport_parse("h:0", host, sizeof host, &port),
                     POLKU_OK);
    assert_int_equal(port, 0);
    assert_int_equal(
        polku_hostport_parse("my-host.example:65535", host, sizeof host, &port),
        POLKU_OK);
    assert_int_equal(port, 65535);

    const char *bad[] = {"127.0.0.1",  "127.0.0.1:",  ":80",     "h:65536",
                         "h:99999999", "h:80x",       "h:+80",   "h: 80",
                         "h:-1",       "ho st:80",    "::1:80",  "",
                         "h:8:80",     "http://h:80", "h:000080"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(host, "unchanged");
        port = 7;
        if (polku_hostport_parse(bad[i], host, sizeof host, &port) !=
            POLKU_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_string_equal(host, "unchanged");
        assert_int_equal(port, 7);
    }
    char tiny[5];
    assert_int_equal(polku_hostport_parse("hello:1", tiny, sizeof tiny, &port),
                     POLKU_EINVAL);
    assert_int_equal(polku_hostport_parse("hell:1", tiny, sizeof tiny, &port),
                     POLKU_OK);
    assert_string_equal(tiny, "hell");
}
/* Text in memory parses as the same text in a file does, named as asked,
 * and need not end in a NUL. */
static void test_parse_from_memory(void **state)
{
    struct fixture *f = *state;
    polku_ini *from_file = load_ok(f, broker_ini);
    polku_ini *ini = NULL;
    polku_cfgerr err = {{0}};
    char copy[sizeof broker_ini - 1]; /* no NUL */
    memcpy(copy, broker_ini, sizeof copy);
    assert_int_equal(
        polku_ini_parse("mem.ini", copy, sizeof copy, &ini, &err), POLKU_OK);
    assert_string_equal(polku_ini_path(ini), "mem.ini");
    assert_int_equal(polku_ini_count(ini), polku_ini_count(from_file));
    for (size_t i = 0; i < polku_ini_count(ini); i++) {
        const polku_ini_entry *a = polku_ini_at(ini, i);
        const polku_ini_entry *b = polku_ini_at(from_file, i);
        assert_string_equal(a->section, b->section);
        assert_string_equal(a->key, b->key);
        assert_string_equal(a->value, b->value);
        assert_int_equal(a->line, b->line);
    }
    polku_ini_free(&ini);
    polku_ini_free(&from_file);

    assert_int_equal(polku_ini_parse("mem.ini", "[a]\nnot a pair\n", 15, &ini,
                                     &err),
                     POLKU_ECONFIG);
    assert_null(ini);
    assert_non_null(strstr(err.msg, "mem.ini:2:"));
    assert_int_equal(polku_ini_parse("empty.ini", NULL, 0, &ini, &err),
                     POLKU_OK);
    assert_int_equal(polku_ini_count(ini), 0);
    polku_ini_free(&ini);
}

/* A template's "@NAME@" left in a value is named as a placeholder, with
 * its line; '@' inside a 40-character Z85 key is an ordinary character. */
static void test_placeholder(void **state)
{
    struct fixture *f = *state;
    load_fails(f,
               "[agent]\norg = kela\nbroker = tcp://127.0.0.1:@BROKER_PORT@\n",
               POLKU_ECONFIG,
               "3: [agent] broker: '@BROKER_PORT@' is a template placeholder: "
               "replace it with the value it stands for (the file's header "
               "comment says which)");
    load_fails(f, "[org kela]\npublic_key = @kela.pub@\n", POLKU_ECONFIG,
               "2: [org kela] public_key: '@kela.pub@' is a template "
               "placeholder: replace it with the value it stands for (the "
               "file's header comment says which)");
    polku_ini *ini =
        load_ok(f, "[org kela]\n"
                   "public_key = rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n"
                   "mail = a@b\n");
    assert_string_equal(polku_ini_find(ini, "org kela", "public_key")->value,
                        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    polku_ini_free(&ini);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_load_values_sections_lines),
        T(test_crlf_bom_and_keys_before_section),
        T(test_repeated_section_merges),
        T(test_load_errors),
        T(test_nul_byte_is_rejected),
        T(test_long_line),
        T(test_missing_file),
        T(test_str),
        T(test_uint),
        T(test_bool),
        T(test_duration),
        T(test_check_keys),
        T(test_cfgerr_set),
        T(test_hostport),
        T(test_parse_from_memory),
        T(test_placeholder),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
