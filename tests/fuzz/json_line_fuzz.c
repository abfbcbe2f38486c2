/* json_line_fuzz.c — fuzz target for the JSON lines of the broker's feed
 * (lib/json_line.c, written by lib/json_writer.c) against jansson's
 * verdicts.
 *
 * The input is split at NUL bytes into name, value, name, value, ...; a
 * value starting with '#' is an integer (the next up to 8 bytes, raw),
 * any other a string. polku_json_line must print exactly what
 * json_dumps(JSON_COMPACT) prints for the object built from the same
 * members in order, whenever it prints anything; and it must print
 * whenever jansson takes every name and string (valid UTF-8). Built as a
 * libFuzzer binary (fuzz_json_line) and as a corpus replay test
 * (fuzz_json_line_replay). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polku/json_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MEMBERS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *field[2 * MAX_MEMBERS];
    size_t flen[2 * MAX_MEMBERS], nf = 0;
    for (size_t at = 0; at <= size && nf < 2 * MAX_MEMBERS;) {
        field[nf] = text + at;
        flen[nf] = strlen(text + at);
        at += flen[nf] + 1;
        nf++;
    }
    polku_json_member m[MAX_MEMBERS];
    size_t n = nf / 2;
    bool unique = true;
    for (size_t i = 0; i < n; i++) {
        const char *v = field[2 * i + 1];
        m[i].name = field[2 * i];
        m[i].str = v[0] == '#' ? NULL : v;
        m[i].num = 0;
        if (!m[i].str) {
            size_t k = flen[2 * i + 1] - 1;
            memcpy(&m[i].num, v + 1, k < 8 ? k : 8);
        }
        for (size_t j = 0; j < i; j++)
            unique = unique && strcmp(m[j].name, m[i].name) != 0;
    }
    if (!unique) { /* a jansson object keeps one of each name */
        free(text);
        return 0;
    }
    json_t *o = json_object();
    bool taken = o != NULL;
    for (size_t i = 0; taken && i < n; i++)
        taken = json_object_set_new(o, m[i].name,
                                    m[i].str ? json_string(m[i].str)
                                             : json_integer(m[i].num)) == 0;
    size_t len = 0;
    char *mine = polku_json_line(m, n, &len);
    if (taken != (mine != NULL))
        abort(); /* refused what jansson takes, or printed what it refuses */
    if (mine) {
        char *theirs = json_dumps(o, JSON_COMPACT);
        if (!theirs || strcmp(mine, theirs) != 0 || len != strlen(theirs))
            abort();
        free(theirs);
        free(mine);
    }
    json_decref(o);
    free(text);
    return 0;
}
