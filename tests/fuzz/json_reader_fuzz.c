/* json_reader_fuzz.c — the hot-path JSON reader (agents/api/json_reader.h)
 * against jansson.
 *
 * Any bytes go to both jr_parse and json_loadb(JSON_REJECT_DUPLICATES):
 * the target aborts when one accepts what the other refuses (but for one
 * quirk of jansson's, below), or when both accept and the values differ (type,
 * integer, real, string bytes, member set, element order). Every accepted
 * string is also written back by the writer (json_writer.h) inside an array and
 * read again by jansson, which must give the same bytes. Built as a libFuzzer
 * binary (fuzz_json_reader) and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_reader.h"
#include "json_writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_written(const char *s, size_t n)
{
    jw w;
    jw_init(&w);
    jw_begin_array(&w);
    jw_string_n(&w, s, n);
    jw_end_array(&w);
    size_t len = 0;
    char *text = jw_take(&w, &len);
    if (!text)
        abort(); /* the reader gave a string the writer cannot write */
    json_t *back = json_loadb(text, len, 0, NULL);
    json_t *str = json_array_get(back, 0);
    if (!json_is_string(str) || json_string_length(str) != n ||
        memcmp(json_string_value(str), s, n) != 0)
        abort();
    json_decref(back);
    free(text);
}

static void same(const jr_value *v, json_t *j)
{
    switch (v->type) {
    case JR_NULL:
        if (!json_is_null(j))
            abort();
        break;
    case JR_TRUE:
        if (!json_is_true(j))
            abort();
        break;
    case JR_FALSE:
        if (!json_is_false(j))
            abort();
        break;
    case JR_INT:
        if (!json_is_integer(j) || json_integer_value(j) != v->u.i)
            abort();
        break;
    case JR_REAL:
        if (!json_is_real(j) ||
            memcmp(&(double){json_real_value(j)}, &v->u.d, sizeof v->u.d) != 0)
            abort();
        break;
    case JR_STRING:
        if (!json_is_string(j) || json_string_length(j) != v->len ||
            memcmp(json_string_value(j), v->u.s, v->len) != 0 ||
            v->u.s[v->len] != '\0')
            abort();
        check_written(v->u.s, v->len);
        break;
    case JR_ARRAY: {
        if (!json_is_array(j) || json_array_size(j) != v->len)
            abort();
        size_t i = 0;
        for (const jr_value *e = v->u.first; e; e = e->next)
            same(e, json_array_get(j, i++));
        if (i != v->len)
            abort();
        break;
    }
    case JR_OBJECT: {
        if (!json_is_object(j) || json_object_size(j) != v->len)
            abort();
        size_t i = 0;
        for (const jr_value *m = v->u.first; m; m = m->next, i++) {
            json_t *x = json_object_getn(j, m->key, m->key_len);
            if (!x || jr_get(v, m->key) != m)
                abort();
            check_written(m->key, m->key_len);
            same(m, x);
        }
        if (i != v->len)
            abort();
        break;
    }
    default:
        abort();
    }
}

/* jansson 2.14 skips one NUL byte right after a number or a literal
 * ("[1\0]" is [1]: its stream takes a NUL it has put back for the end of
 * its one-character buffer). The reader refuses that; what jansson read is
 * the text without those NULs, and that the reader must accept alike.
 * Returns that text's length in out (malloc'd), 0 if there is no such
 * NUL. */
static size_t without_skipped_nuls(const uint8_t *data, size_t size,
                                   uint8_t **out)
{
    uint8_t *t = malloc(size ? size : 1);
    size_t n = 0;
    bool any = false;
    for (size_t i = 0; i < size; i++) {
        bool after_token =
            i > 0 && ((data[i - 1] >= '0' && data[i - 1] <= '9') ||
                      (data[i - 1] >= 'a' && data[i - 1] <= 'z') ||
                      (data[i - 1] >= 'A' && data[i - 1] <= 'Z'));
        if (data[i] == 0 && after_token) {
            any = true;
            continue;
        }
        t[n++] = data[i];
    }
    if (!any) {
        free(t);
        return 0;
    }
    *out = t;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *j =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    jr_doc doc;
    bool ok = jr_parse(&doc, (const char *)data, size);
    if (ok && !j)
        abort(); /* the reader accepts what jansson refuses */
    if (ok)
        same(doc.root, j);
    jr_doc_fini(&doc);
    if (!ok && j) {
        uint8_t *clean = NULL;
        size_t n = without_skipped_nuls(data, size, &clean);
        if (!n)
            abort(); /* jansson accepts what the reader refuses */
        if (!jr_parse(&doc, (const char *)clean, n))
            abort();
        same(doc.root, j);
        jr_doc_fini(&doc);
        free(clean);
    }
    json_decref(j);
    return 0;
}
