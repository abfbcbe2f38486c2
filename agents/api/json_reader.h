/* json_reader.h — a strict JSON reader for the request bodies on the hot
 * path (creating referrals, one at a time or in a batch).
 *
 * jansson builds a reference-counted tree with a malloc per value and a
 * hash table per object; for a create body that was a fifth of the sending
 * agent's CPU. This reader builds a read-only tree in an arena that lives
 * on the caller's stack (one block for a typical body, no malloc at all)
 * and is freed at once.
 *
 * It accepts exactly what json_loadb(JSON_REJECT_DUPLICATES) accepts
 * (tests/fuzz/json_reader_fuzz.c compares the two): RFC 8259 with an
 * object or array at the top; strings of valid UTF-8 without control
 * characters or \u0000 and with paired surrogates; integers that fit a
 * long long and reals that do not overflow; a duplicate key in an object
 * refused; at most JR_MAX_DEPTH values deep. It says only whether the
 * text is accepted: the caller that needs jansson's words for a refusal
 * asks jansson (a refusal is not the hot path). */
#ifndef POLKU_AGENT_JSON_READER_H
#define POLKU_AGENT_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>

#define JR_MAX_DEPTH 2048 /* as jansson's JSON_PARSER_MAX_DEPTH */

typedef enum jr_type {
    JR_NULL,
    JR_FALSE,
    JR_TRUE,
    JR_INT,
    JR_REAL,
    JR_STRING,
    JR_ARRAY,
    JR_OBJECT
} jr_type;

/* A value; an array's elements and an object's members are a list through
 * next (in the order of the text). A member's key is key (key_len bytes,
 * NUL-terminated), NULL in an array element. */
typedef struct jr_value {
    jr_type type;
    size_t len; /* bytes of a string; elements or members of a container */
    union {
        long long i;
        double d;
        const char *s; /* NUL-terminated, UTF-8, no NUL inside */
        struct jr_value *first;
    } u;
    const char *key;
    size_t key_len;
    const char *src; /* the value's own text in the input */
    size_t src_len;
    struct jr_value *next;
} jr_value;

/* The arena the tree lives in: the first block inside the struct (so a
 * small body costs no malloc), more blocks from malloc. */
typedef struct jr_block jr_block;
typedef struct jr_doc {
    jr_value *root;
    char *cur, *end;  /* free space of the current block */
    jr_block *blocks; /* malloc'd blocks, freed by jr_doc_fini */
    _Alignas(16) char first[3072];
} jr_doc;

/* Reads len bytes of text into doc (initialised here): true and doc->root
 * set if the text is accepted, false if not (or out of memory). Either
 * way jr_doc_fini(doc) releases what it took. */
bool jr_parse(jr_doc *doc, const char *text, size_t len);
void jr_doc_fini(jr_doc *doc);

/* The member of object o called name, or NULL. */
const jr_value *jr_get(const jr_value *o, const char *name);

#endif
