/* json_reader_fuzz.c — the hot-path JSON reader (agents/api/json_reader.h)
 * against jansson.
 *
 * Any bytes go to both jr_parse and json_loadb(JSON_REJECT_DUPLICATES):
 * the target aborts when one accepts what the other refuses (but for one
 * quirk of jansson's, below), or when both accept and the values differ
 * (type, integer, real, string bytes, member set, element order). Every
 * accepted string is also written back by the writer (json_writer.h)
 * inside an array and read again by jansson, which must give the same
 * bytes. A body the create fast path takes (json_create.h) must be one the
 * general path takes alike, with the same values. Built as a libFuzzer
 * binary (fuzz_json_reader) and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_create.h"
#include "json_reader.h"
#include "polku/json_writer.h"
#include "polku/codec.h"

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

/* The member name of j as the general path reads it with api_opt_string:
 * absent or null, or a string of at most max bytes; want is what the fast
 * path read (NULL: absent). */
static void same_field(json_t *obj, const char *name, size_t max,
                       const char *want)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        if (want)
            abort();
        return;
    }
    if (!json_is_string(v) || json_string_length(v) > max || !want ||
        strcmp(json_string_value(v), want) != 0)
        abort();
}

/* A body the create fast path took (json_create.h) is one the general
 * path takes too, with the same values, and one it need not send there:
 * only the members the fast path knows. */
static void check_create(const jr_value *root, json_t *j)
{
    create_fields f;
    if (!json_create_fields(root, &f))
        return;
    json_t *client = json_object_get(j, "client");
    if (!json_is_object(client))
        abort();
    same_field(client, "hetu", 16, f.hetu);
    same_field(client, "key", 32, f.key);
    if (f.hetu && f.key)
        abort();
    same_field(j, "to", 32, f.to);
    same_field(j, "service", 128, f.service);
    same_field(j, "reason", POLKU_MAX_TEXT, f.reason);
    same_field(j, "urgency", 32, f.urgency);
    same_field(j, "due", 64, f.due);
    json_t *t = json_object_get(j, "transfer");
    if ((t && !json_is_boolean(t)) || f.transfer != json_is_true(t))
        abort();
    static const char *const known[] = {"client",  "to",  "service", "reason",
                                        "urgency", "due", "transfer"};
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            found |= strcmp(key, known[i]) == 0;
        if (!found)
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
    if (ok) {
        same(doc.root, j);
        check_create(doc.root, j);
    }
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
