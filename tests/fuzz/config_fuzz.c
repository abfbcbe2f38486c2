/* config_fuzz.c — fuzz target for the INI reader and its typed getters.
 *
 * Operators write the configs by hand, so the reader sees typos, stray
 * bytes, enormous lines and half-written sections. Beyond "no crash": a
 * refusal names the file and says why in a terminated message; an
 * accepted file gives entries with a key, a value without surrounding
 * blanks, a line inside the file, each found again by section and key; and
 * every getter answers each value with a result or a clear error. Built as
 * a libFuzzer binary (fuzz_config) and as a plain corpus replay test
 * (fuzz_config_replay). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/config.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.ini"

static void check_message(const polku_cfgerr *err)
{
    if (strnlen(err->msg, sizeof err->msg) == sizeof err->msg)
        abort(); /* not terminated */
    if (strncmp(err->msg, NAME, strlen(NAME)) != 0)
        abort(); /* does not name the file */
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_entry(const polku_ini *ini, const polku_ini_entry *e,
                        int lines)
{
    if (!e->section || !e->key || !e->key[0] || !e->value)
        abort();
    size_t n = strlen(e->value);
    if (n > 0 && (blank(e->value[0]) || blank(e->value[n - 1])))
        abort();
    if (e->line < 1 || e->line > lines)
        abort();
    if (polku_ini_find(ini, e->section, e->key) != e)
        abort(); /* a key appears once per section */

    polku_cfgerr err = {0};
    const char *s = NULL;
    uint64_t u = 0, ms = 0;
    bool b = false;
    int rc = polku_ini_str(ini, e->section, e->key, "", &s, &err);
    if (rc != POLKU_OK || !s)
        abort();
    rc = polku_ini_uint(ini, e->section, e->key, false, 7, 0, 1000, &u, &err);
    if (rc == POLKU_OK ? u > 1000 : rc != POLKU_ECONFIG)
        abort();
    if (rc != POLKU_OK)
        check_message(&err);
    rc = polku_ini_bool(ini, e->section, e->key, false, &b, &err);
    if (rc != POLKU_OK && rc != POLKU_ECONFIG)
        abort();
    rc = polku_ini_duration(ini, e->section, e->key, 1000, &ms, &err);
    if (rc != POLKU_OK && rc != POLKU_ECONFIG)
        abort();
    char host[256];
    uint16_t port;
    rc = polku_hostport_parse(e->value, host, sizeof host, &port);
    if (rc == POLKU_OK && strnlen(host, sizeof host) == sizeof host)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    polku_ini *ini = NULL;
    polku_cfgerr err = {0};
    int rc = polku_ini_parse(NAME, (const char *)data, size, &ini, &err);
    if (rc != POLKU_OK) {
        if (ini != NULL || (rc != POLKU_ECONFIG && rc != POLKU_ENOMEM))
            abort();
        check_message(&err);
        return 0;
    }
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < polku_ini_count(ini); i++)
        check_entry(ini, polku_ini_at(ini, i), lines);
    for (size_t i = 0; i < polku_ini_section_count(ini); i++) {
        const char *section = polku_ini_section_at(ini, i);
        int line = polku_ini_section_line(ini, section);
        if (!section || line < 0 || line > lines)
            abort();
        static const char *const none[] = {NULL};
        rc = polku_ini_check_keys(ini, section, none, &err);
        bool has_keys = false;
        for (size_t k = 0; k < polku_ini_count(ini) && !has_keys; k++)
            has_keys = strcmp(polku_ini_at(ini, k)->section, section) == 0;
        if ((rc == POLKU_OK) == has_keys)
            abort(); /* an empty list of known keys refuses any key */
        if (rc != POLKU_OK)
            check_message(&err);
    }
    polku_ini_free(&ini);
    if (ini != NULL)
        abort();
    return 0;
}
