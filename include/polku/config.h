/* config.h — INI configuration files (inih) with errors an operator can act on.
 *
 * polku_ini_load reads a whole file into memory, keeping for every value its
 * section, key and line. Typed getters validate and, on failure, write a
 * message naming the file, line and key into a polku_cfgerr, e.g.
 *   "config/kela.ini:4: [agent] http: expected HOST:PORT, got 'x'".
 * Section names keep their full text: "[org kela]" is section "org kela". */
#ifndef POLKU_CONFIG_H
#define POLKU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct polku_cfgerr {
    char msg[512];
} polku_cfgerr;

typedef struct polku_ini polku_ini;

typedef struct polku_ini_entry {
    const char *section;
    const char *key;
    const char *value; /* leading/trailing blanks and ';' comments removed */
    int line;
} polku_ini_entry;

/* Loads path. Caller owns *out (polku_ini_free). Returns POLKU_OK,
 * POLKU_ENOTFOUND (cannot open: message says why), POLKU_ECONFIG (syntax
 * error, a key given twice in one section, or a value still holding a
 * template's "@NAME@" placeholder: message names the line). */
int polku_ini_load(const char *path, polku_ini **out, polku_cfgerr *err);

/* The same for text already in memory (len bytes, need not end in NUL);
 * name stands for the file in messages. */
int polku_ini_parse(const char *name, const char *text, size_t len,
                    polku_ini **out, polku_cfgerr *err);

/* Frees ini and sets *ini to NULL. Accepts NULL. */
void polku_ini_free(polku_ini **ini);

const char *polku_ini_path(const polku_ini *ini);

/* All entries in file order. */
size_t polku_ini_count(const polku_ini *ini);
const polku_ini_entry *polku_ini_at(const polku_ini *ini, size_t i);

/* Distinct section names in file order (sections with no keys included). */
size_t polku_ini_section_count(const polku_ini *ini);
const char *polku_ini_section_at(const polku_ini *ini, size_t i);
/* Line of the section header, 0 if unknown. */
int polku_ini_section_line(const polku_ini *ini, const char *section);

/* The entry for section/key, or NULL. */
const polku_ini_entry *polku_ini_find(const polku_ini *ini, const char *section,
                                      const char *key);

/* Getters: when the key is absent, *out = def and POLKU_OK, unless def is
 * NULL for strings / required is true, in which case POLKU_ECONFIG with
 * "FILE:LINE: [section] key is required" (LINE: the empty key's, else the
 * section header's, left out when there is neither). An empty value
 * counts as absent. */
int polku_ini_str(const polku_ini *ini, const char *section, const char *key,
                  const char *def, const char **out, polku_cfgerr *err);
int polku_ini_uint(const polku_ini *ini, const char *section, const char *key,
                   bool required, uint64_t def, uint64_t min, uint64_t max,
                   uint64_t *out, polku_cfgerr *err);
int polku_ini_bool(const polku_ini *ini, const char *section, const char *key,
                   bool def, bool *out, polku_cfgerr *err);
/* Durations as in clock.h ("30s", "15m", "36h", "5d"), in milliseconds. */
int polku_ini_duration(const polku_ini *ini, const char *section,
                       const char *key, uint64_t def_ms, uint64_t *out_ms,
                       polku_cfgerr *err);

/* Every key of section must be in known (NULL-terminated); the first that
 * is not gives POLKU_ECONFIG "FILE:LINE: [section] unknown key 'k'". */
int polku_ini_check_keys(const polku_ini *ini, const char *section,
                         const char *const *known, polku_cfgerr *err);

/* Formats "FILE:LINE: [section] key: <message>" into err; returns
 * POLKU_ECONFIG, for callers validating values themselves. e may be NULL
 * (then FILE: [section] key: ...). */
int polku_cfgerr_set(polku_cfgerr *err, const polku_ini *ini,
                     const polku_ini_entry *e, const char *section,
                     const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Splits "HOST:PORT" (IPv4 or name; port 0..65535). POLKU_OK / EINVAL. */
int polku_hostport_parse(const char *text, char *host, size_t host_len,
                         uint16_t *port);

#endif
