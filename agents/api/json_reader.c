/* json_reader.c — the strict JSON reader (see json_reader.h). */
#include "json_reader.h"
#include "polku/json_writer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jr_block {
    jr_block *next;
    _Alignas(16) char data[];
};

typedef struct reader {
    jr_doc *doc;
    const unsigned char *p, *end;
    unsigned depth;
} reader;

static void *arena_alloc(jr_doc *doc, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(doc->end - doc->cur) < n) {
        size_t size = n > 8192 ? n : 8192;
        jr_block *b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->next = doc->blocks;
        doc->blocks = b;
        doc->cur = b->data;
        doc->end = b->data + size;
    }
    void *out = doc->cur;
    doc->cur += n;
    return out;
}

void jr_doc_fini(jr_doc *doc)
{
    while (doc->blocks) {
        jr_block *b = doc->blocks;
        doc->blocks = b->next;
        free(b);
    }
    doc->cur = doc->end = NULL;
    doc->root = NULL;
}

static void skip_space(reader *r)
{
    while (r->p < r->end &&
           (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* ---- strings ---- */

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* One \u escape at p (after the backslash and 'u'), with its low half if
 * it is a high surrogate: the code point, or -1. *p moves past it. */
static long unicode_escape(const unsigned char **p, const unsigned char *end)
{
    if (end - *p < 4)
        return -1;
    long v = hex4(*p);
    *p += 4;
    if (v < 0 || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return -1;
    if (v < 0xD800 || v > 0xDBFF)
        return v;
    if (end - *p < 6 || (*p)[0] != '\\' || (*p)[1] != 'u')
        return -1;
    long lo = hex4(*p + 2);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return -1;
    *p += 6;
    return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
}

/* A string at r->p (on its opening quote) into the arena. The unescaped
 * text is never longer than the escaped one. */
static bool read_string(reader *r, const char **out, size_t *len)
{
    const unsigned char *p = r->p + 1, *start = p;
    while (p < r->end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    const unsigned char *q = p;
    while (q < r->end && *q != '"')
        q += *q == '\\' && q + 1 < r->end ? 2 : 1;
    if (q >= r->end)
        return false;
    char *o = arena_alloc(r->doc, (size_t)(q - start) + 1), *s = o;
    if (!o)
        return false;
    memcpy(o, start, (size_t)(p - start));
    o += p - start;
    while (p < r->end) {
        unsigned c = *p;
        if (c == '"') {
            *o = '\0';
            *out = s;
            *len = (size_t)(o - s);
            r->p = p + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            size_t n = json_utf8_seq(p, r->end);
            if (!n)
                return false;
            memcpy(o, p, n);
            o += n, p += n;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (++p >= r->end)
            return false;
        switch (*p++) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            long cp = unicode_escape(&p, r->end);
            if (cp < 0)
                return false;
            o = put_utf8(o, (uint32_t)cp);
            break;
        }
        default:
            return false;
        }
    }
    return false;
}

/* ---- numbers ---- */

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static bool read_number(reader *r, jr_value *v)
{
    const unsigned char *p = r->p, *start = p;
    bool real = false;
    if (p < r->end && *p == '-')
        p++;
    if (!is_digit(p, r->end))
        return false;
    if (*p == '0') {
        p++;
        if (is_digit(p, r->end))
            return false;
    } else {
        while (is_digit(p, r->end))
            p++;
    }
    if (p < r->end && *p == '.') {
        real = true;
        if (!is_digit(++p, r->end))
            return false;
        while (is_digit(p, r->end))
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, r->end))
            return false;
        while (is_digit(p, r->end))
            p++;
    }
    size_t n = (size_t)(p - start);
    char small[64],
        *text = n < sizeof small ? small : arena_alloc(r->doc, n + 1);
    if (!text)
        return false;
    memcpy(text, start, n);
    text[n] = '\0';
    errno = 0;
    if (real) {
        v->type = JR_REAL;
        v->u.d = strtod(text, NULL);
        if (errno == ERANGE && (v->u.d > 1.0 || v->u.d < -1.0))
            return false; /* overflow; an underflow is accepted as jansson does
                           */
    } else {
        v->type = JR_INT;
        v->u.i = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            return false;
    }
    r->p = p;
    return true;
}

/* ---- values ---- */

static bool read_value(reader *r, jr_value *v);

static int key_order(const void *a, const void *b)
{
    const jr_value *x = *(const jr_value *const *)a;
    const jr_value *y = *(const jr_value *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* A duplicate key among o's members: a scan for a few, a sort for many. */
static bool has_duplicate(reader *r, const jr_value *o)
{
    if (o->len <= 12) {
        for (const jr_value *a = o->u.first; a; a = a->next)
            for (const jr_value *b = a->next; b; b = b->next)
                if (a->key_len == b->key_len &&
                    memcmp(a->key, b->key, a->key_len) == 0)
                    return true;
        return false;
    }
    const jr_value **list = arena_alloc(r->doc, o->len * sizeof *list);
    if (!list)
        return true; /* out of memory: refused */
    size_t i = 0;
    for (const jr_value *a = o->u.first; a; a = a->next)
        list[i++] = a;
    qsort(list, o->len, sizeof *list, key_order);
    for (i = 1; i < o->len; i++)
        if (key_order(&list[i - 1], &list[i]) == 0)
            return true;
    return false;
}

/* The members or elements of a container at r->p (on '{' or '['). */
static bool read_container(reader *r, jr_value *v, bool object)
{
    unsigned char close = object ? '}' : ']';
    jr_value **tail = &v->u.first;
    v->type = object ? JR_OBJECT : JR_ARRAY;
    v->u.first = NULL;
    v->len = 0;
    r->p++;
    skip_space(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return true;
    }
    for (;;) {
        jr_value *e = arena_alloc(r->doc, sizeof *e);
        if (!e)
            return false;
        e->key = NULL;
        e->key_len = 0;
        e->next = NULL;
        if (object) {
            if (r->p >= r->end || *r->p != '"' ||
                !read_string(r, &e->key, &e->key_len))
                return false;
            skip_space(r);
            if (r->p >= r->end || *r->p != ':')
                return false;
            r->p++;
            skip_space(r);
        }
        if (!read_value(r, e))
            return false;
        *tail = e;
        tail = &e->next;
        v->len++;
        skip_space(r);
        if (r->p >= r->end)
            return false;
        if (*r->p == close) {
            r->p++;
            break;
        }
        if (*r->p != ',')
            return false;
        r->p++;
        skip_space(r);
    }
    return !object || !has_duplicate(r, v);
}

static bool literal(reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

/* A value at r->p (not on white space). */
static bool read_value(reader *r, jr_value *v)
{
    if (r->p >= r->end || ++r->depth > JR_MAX_DEPTH)
        return false;
    const unsigned char *start = r->p;
    bool ok;
    switch (*r->p) {
    case '{':
        ok = read_container(r, v, true);
        break;
    case '[':
        ok = read_container(r, v, false);
        break;
    case '"':
        v->type = JR_STRING;
        ok = read_string(r, &v->u.s, &v->len);
        break;
    case 't':
        ok = literal(r, "true", 4), v->type = JR_TRUE;
        break;
    case 'f':
        ok = literal(r, "false", 5), v->type = JR_FALSE;
        break;
    case 'n':
        ok = literal(r, "null", 4), v->type = JR_NULL;
        break;
    default:
        ok = read_number(r, v);
        break;
    }
    r->depth--;
    v->src = (const char *)start;
    v->src_len = (size_t)(r->p - start);
    return ok;
}

bool jr_parse(jr_doc *doc, const char *text, size_t len)
{
    doc->root = NULL;
    doc->blocks = NULL;
    doc->cur = doc->first;
    doc->end = doc->first + sizeof doc->first;
    reader r = {doc, (const unsigned char *)text,
                (const unsigned char *)text + len, 0};
    skip_space(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
        return false;
    jr_value *root = arena_alloc(doc, sizeof *root);
    if (!root)
        return false;
    root->key = NULL;
    root->next = NULL;
    if (!read_value(&r, root))
        return false;
    skip_space(&r);
    if (r.p != r.end)
        return false;
    doc->root = root;
    return true;
}

const jr_value *jr_get(const jr_value *o, const char *name)
{
    if (!o || o->type != JR_OBJECT)
        return NULL;
    size_t n = strlen(name);
    for (const jr_value *m = o->u.first; m; m = m->next)
        if (m->key_len == n && memcmp(m->key, name, n) == 0)
            return m;
    return NULL;
}
