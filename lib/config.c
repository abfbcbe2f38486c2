/* config.c — INI files whose every error names the file, line and key.
 *
 * An operator who mistypes a broker or agent config should learn where,
 * not just that. inih splits "key = value" lines, but how it treats line
 * numbers, inline comments, indented lines and long lines depends on how
 * the library was compiled. So we hand inih one cleaned physical line at a
 * time through a reader: the reader counts lines, strips a BOM, leading
 * blanks (no multi-line values), whole-line comments (';' or '#') and
 * inline "  ; comments", records "[section]" headers itself (inih does not
 * report sections without keys) and refuses lines too long for inih's
 * buffer instead of letting inih split them. */
#include "polku/config.h"

#include "polku/clock.h"
#include "polku/error.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (1024 * 1024)
#define SHOWN_VALUE_CHARS 40

struct section {
    char *name;
    int line;
};

struct polku_ini {
    char *path;
    polku_ini_entry *entries;
    size_t count, entries_cap;
    struct section *sections;
    size_t section_count, sections_cap;
};

/* ---- error messages ---- */

static void format_error(polku_cfgerr *err, const char *path, int line,
                         const char *section, const char *key, const char *fmt,
                         va_list ap)
{
    if (err == NULL)
        return;
    char where[256];
    size_t n = sizeof where;
    int used = line > 0 ? snprintf(where, n, "%s:%d:", path, line)
                        : snprintf(where, n, "%s:", path);
    if (used >= 0 && (size_t)used < n && section != NULL && section[0] != '\0')
        used += snprintf(where + used, n - (size_t)used, " [%s]", section);
    if (used >= 0 && (size_t)used < n && key != NULL && key[0] != '\0')
        snprintf(where + used, n - (size_t)used, " %s:", key);
    char message[256];
    vsnprintf(message, sizeof message, fmt, ap);
    snprintf(err->msg, sizeof err->msg, "%s %s", where, message);
}

int polku_cfgerr_set(polku_cfgerr *err, const polku_ini *ini,
                     const polku_ini_entry *e, const char *section,
                     const char *key, const char *fmt, ...)
{
    if (section == NULL && e != NULL)
        section = e->section;
    if (key == NULL && e != NULL)
        key = e->key;
    va_list ap;
    va_start(ap, fmt);
    format_error(err, ini != NULL ? ini->path : "(config)",
                 e != NULL ? e->line : 0, section, key, fmt, ap);
    va_end(ap);
    return POLKU_ECONFIG;
}

/* An error at path:line (line 0: none); section and key may be NULL. */
static int error_at(polku_cfgerr *err, const char *path, int line,
                    const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int error_at(polku_cfgerr *err, const char *path, int line,
                    const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_error(err, path, line, section, key, fmt, ap);
    va_end(ap);
    return POLKU_ECONFIG;
}

/* ---- the in-memory file ---- */

static const struct section *find_section(const polku_ini *ini,
                                          const char *name)
{
    for (size_t i = 0; i < ini->section_count; i++) {
        if (strcmp(ini->sections[i].name, name) == 0)
            return &ini->sections[i];
    }
    return NULL;
}

/* The ini-owned copy of section name, added (with its header line) if
 * new; NULL when out of memory. */
static const char *intern_section(polku_ini *ini, const char *name, int line)
{
    const struct section *known = find_section(ini, name);
    if (known != NULL)
        return known->name;
    if (ini->section_count == ini->sections_cap) {
        size_t cap = ini->sections_cap ? ini->sections_cap * 2 : 8;
        struct section *grown = realloc(ini->sections, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        ini->sections = grown;
        ini->sections_cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return NULL;
    ini->sections[ini->section_count++] = (struct section){copy, line};
    return copy;
}

static int append_entry(polku_ini *ini, const char *section, const char *key,
                        const char *value, int line)
{
    if (ini->count == ini->entries_cap) {
        size_t cap = ini->entries_cap ? ini->entries_cap * 2 : 16;
        polku_ini_entry *grown = realloc(ini->entries, cap * sizeof *grown);
        if (grown == NULL)
            return POLKU_ENOMEM;
        ini->entries = grown;
        ini->entries_cap = cap;
    }
    char *k = strdup(key);
    char *v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return POLKU_ENOMEM;
    }
    ini->entries[ini->count++] = (polku_ini_entry){section, k, v, line};
    return POLKU_OK;
}

/* ---- loading: the reader and handler given to inih ---- */

struct load {
    polku_ini *ini;
    const char *text;
    size_t len, pos;
    int line;            /* physical line last handed to inih */
    const char *section; /* current section (ini-owned), NULL before any */
    int err_code;        /* first error found by us, with its line */
    int err_line;
    polku_cfgerr err;
};

static void load_error(struct load *ld, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_error(struct load *ld, int code, const char *fmt, ...)
{
    if (ld->err_code != POLKU_OK)
        return; /* keep the first */
    ld->err_code = code;
    ld->err_line = ld->line;
    va_list ap;
    va_start(ap, fmt);
    format_error(&ld->err, ld->ini->path, ld->line, NULL, NULL, fmt, ap);
    va_end(ap);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Narrows [*start, *end) to the meaningful part of a line. */
static void clean_line(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && is_blank(s[*start]))
        (*start)++;
    if (*start < *end && (s[*start] == ';' || s[*start] == '#')) {
        *end = *start;
        return;
    }
    for (size_t i = *start + 1; i < *end; i++) {
        if (s[i] == ';' && is_blank(s[i - 1])) {
            *end = i;
            break;
        }
    }
    while (*end > *start && is_blank(s[*end - 1]))
        (*end)--;
}

/* Handles a "[name]" line (s, length n): records the section and writes
 * "[name]" into out (room for n + 1 bytes); false (error recorded) if bad. */
static bool read_header(struct load *ld, const char *s, size_t n, char *out)
{
    const char *close = memchr(s, ']', n);
    if (close == NULL) {
        load_error(ld, POLKU_ECONFIG, "section header without ']'");
        return false;
    }
    if (close != s + n - 1) {
        load_error(ld, POLKU_ECONFIG, "unexpected text after ']'");
        return false;
    }
    size_t a = 1, b = n - 1;
    while (a < b && is_blank(s[a]))
        a++;
    while (b > a && is_blank(s[b - 1]))
        b--;
    if (a == b) {
        load_error(ld, POLKU_ECONFIG, "empty section name");
        return false;
    }
    size_t len = b - a;
    out[0] = '[';
    memcpy(out + 1, s + a, len);
    out[len + 1] = '\0';
    ld->section = intern_section(ld->ini, out + 1, ld->line);
    if (ld->section == NULL) {
        load_error(ld, POLKU_ENOMEM, "out of memory");
        return false;
    }
    memcpy(out + len + 1, "]", 2);
    return true;
}

static char *reader(char *out, int size, void *stream)
{
    struct load *ld = stream;
    if (ld->pos >= ld->len || size < 4)
        return NULL;
    const char *s = ld->text + ld->pos;
    const char *nl = memchr(s, '\n', ld->len - ld->pos);
    size_t raw = nl != NULL ? (size_t)(nl - s) : ld->len - ld->pos;
    ld->pos += raw + (nl != NULL);
    ld->line++;

    size_t start = 0, end = raw;
    if (ld->line == 1 && raw >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    strcpy(out, "\n");
    if (memchr(s, '\0', raw) != NULL) {
        load_error(ld, POLKU_ECONFIG, "NUL byte in line");
        return out;
    }
    clean_line(s, &start, &end);
    size_t n = end - start;
    if (n + 2 > (size_t)size) {
        load_error(ld, POLKU_ECONFIG, "line longer than %d characters",
                   size - 2);
        return out;
    }
    if (n > 0 && s[start] == '[') {
        if (read_header(ld, s + start, n, out))
            strcat(out, "\n");
        else
            strcpy(out, "\n");
        return out;
    }
    memcpy(out, s + start, n);
    memcpy(out + n, "\n", 2);
    return out;
}

static const polku_ini_entry *find_in(const polku_ini *ini, const char *section,
                                      const char *key)
{
    for (size_t i = 0; i < ini->count; i++) {
        const polku_ini_entry *e = &ini->entries[i];
        if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* A template's "@NAME@" placeholder in value (NAME: a letter, then
 * letters, digits, '_', '.' or '-'), or NULL. A 40-character value of Z85
 * characters is a key, where '@' is an ordinary character: the key
 * validator judges it. The placeholder is copied into out. */
static const char *placeholder_in(const char *value, char *out, size_t cap)
{
    static const char z85[] =
        "0123456789abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(value) == 40 && strspn(value, z85) == 40)
        return NULL;
    for (const char *at = strchr(value, '@'); at; at = strchr(at + 1, '@')) {
        const char *p = at + 1;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            continue;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-')
            p++;
        if (*p != '@')
            continue;
        snprintf(out, cap, "%.*s", (int)(p - at + 1), at);
        return out;
    }
    return NULL;
}

/* inih's own section name is ignored: it truncates long names, and the
 * reader already tracks the section (ld->section). */
static int handler(void *user, const char *inih_section, const char *key,
                   const char *value)
{
    struct load *ld = user;
    if (value == NULL) {
        load_error(ld, POLKU_ECONFIG, "expected 'key = value'");
        return 0;
    }
    if (key[0] == '\0') {
        load_error(ld, POLKU_ECONFIG, "missing key before '='");
        return 0;
    }
    if (ld->section == NULL)
        ld->section = intern_section(ld->ini, "", 0);
    if (ld->section == NULL) {
        load_error(ld, POLKU_ENOMEM, "out of memory");
        return 0;
    }
    char placeholder[64];
    if (placeholder_in(value, placeholder, sizeof placeholder) != NULL) {
        if (ld->err_code == POLKU_OK) {
            ld->err_code = POLKU_ECONFIG;
            ld->err_line = ld->line;
            error_at(&ld->err, ld->ini->path, ld->line, ld->section, key,
                     "'%s' is a template placeholder: replace it with the "
                     "value it stands for (the file's header comment says "
                     "which)",
                     placeholder);
        }
        return 0;
    }
    const polku_ini_entry *first = find_in(ld->ini, ld->section, key);
    if (first != NULL) {
        if (ld->err_code == POLKU_OK) {
            ld->err_code = POLKU_ECONFIG;
            ld->err_line = ld->line;
            error_at(&ld->err, ld->ini->path, ld->line, ld->section, key,
                     "given twice (first on line %d)", first->line);
        }
        return 0;
    }
    if (append_entry(ld->ini, ld->section, key, value, ld->line) != POLKU_OK) {
        load_error(ld, POLKU_ENOMEM, "out of memory");
        return 0;
    }
    return 1;
}

/* Reads the whole file: POLKU_OK, ENOTFOUND, ECONFIG (too large), ENOMEM. */
static int read_file(const char *path, char **text, size_t *len,
                     polku_cfgerr *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        error_at(err, path, 0, NULL, NULL, "cannot open: %s", strerror(errno));
        return POLKU_ENOTFOUND;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        error_at(err, path, 0, NULL, NULL, "cannot open: not a regular file");
        return POLKU_ENOTFOUND;
    }
    char *buf = malloc(MAX_FILE_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return POLKU_ENOMEM;
    }
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno != 0) {
        free(buf);
        error_at(err, path, 0, NULL, NULL, "cannot read: %s",
                 strerror(read_errno));
        return POLKU_ENOTFOUND;
    }
    if (n > MAX_FILE_BYTES) {
        free(buf);
        return error_at(err, path, 0, NULL, NULL, "file larger than %d bytes",
                        MAX_FILE_BYTES);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return POLKU_OK;
}

/* Runs inih over the text and turns its result and ours into one error. */
static int parse_text(struct load *ld, polku_cfgerr *err)
{
    int bad_line = ini_parse_stream(reader, ld, handler, ld);
    if (bad_line == -2)
        return POLKU_ENOMEM;
    if (ld->err_code != POLKU_OK &&
        (bad_line <= 0 || ld->err_line <= bad_line)) {
        if (err != NULL)
            *err = ld->err;
        return ld->err_code;
    }
    if (bad_line != 0)
        return error_at(err, ld->ini->path, bad_line, NULL, NULL,
                        "expected 'key = value' or '[section]'");
    return POLKU_OK;
}

int polku_ini_parse(const char *name, const char *text, size_t len,
                    polku_ini **out, polku_cfgerr *err)
{
    assert(name != NULL && (text != NULL || len == 0) && out != NULL);
    *out = NULL;
    if (len > MAX_FILE_BYTES)
        return error_at(err, name, 0, NULL, NULL, "file larger than %d bytes",
                        MAX_FILE_BYTES);
    polku_ini *ini = calloc(1, sizeof *ini);
    if (ini == NULL || (ini->path = strdup(name)) == NULL) {
        free(ini);
        if (err != NULL)
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", name);
        return POLKU_ENOMEM;
    }
    struct load ld = {.ini = ini, .text = text ? text : "", .len = len};
    int rc = parse_text(&ld, err);
    if (rc != POLKU_OK) {
        if (rc == POLKU_ENOMEM && err != NULL)
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", name);
        polku_ini_free(&ini);
        return rc;
    }
    *out = ini;
    return POLKU_OK;
}

int polku_ini_load(const char *path, polku_ini **out, polku_cfgerr *err)
{
    assert(path != NULL && out != NULL);
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err);
    if (rc == POLKU_OK)
        rc = polku_ini_parse(path, text, len, out, err);
    free(text);
    return rc;
}

void polku_ini_free(polku_ini **ini)
{
    if (ini == NULL || *ini == NULL)
        return;
    polku_ini *p = *ini;
    for (size_t i = 0; i < p->count; i++) {
        free((char *)p->entries[i].key);
        free((char *)p->entries[i].value);
    }
    for (size_t i = 0; i < p->section_count; i++)
        free(p->sections[i].name);
    free(p->entries);
    free(p->sections);
    free(p->path);
    free(p);
    *ini = NULL;
}

/* ---- queries ---- */

const char *polku_ini_path(const polku_ini *ini)
{
    return ini->path;
}

size_t polku_ini_count(const polku_ini *ini)
{
    return ini->count;
}

const polku_ini_entry *polku_ini_at(const polku_ini *ini, size_t i)
{
    return i < ini->count ? &ini->entries[i] : NULL;
}

size_t polku_ini_section_count(const polku_ini *ini)
{
    return ini->section_count;
}

const char *polku_ini_section_at(const polku_ini *ini, size_t i)
{
    return i < ini->section_count ? ini->sections[i].name : NULL;
}

int polku_ini_section_line(const polku_ini *ini, const char *section)
{
    const struct section *s = find_section(ini, section);
    return s != NULL ? s->line : 0;
}

const polku_ini_entry *polku_ini_find(const polku_ini *ini, const char *section,
                                      const char *key)
{
    assert(ini != NULL && section != NULL && key != NULL);
    return find_in(ini, section, key);
}

/* The entry if present with a non-empty value, else NULL. */
static const polku_ini_entry *find_set(const polku_ini *ini,
                                       const char *section, const char *key)
{
    const polku_ini_entry *e = polku_ini_find(ini, section, key);
    return e != NULL && e->value[0] != '\0' ? e : NULL;
}

/* "FILE:LINE: [section] key is required": LINE is the key's own line when
 * it is there but empty, else its section's header, else left out. */
static int required_error(polku_cfgerr *err, const polku_ini *ini,
                          const char *section, const char *key)
{
    if (err == NULL)
        return POLKU_ECONFIG;
    const polku_ini_entry *e = find_in(ini, section, key);
    int line = e != NULL ? e->line : polku_ini_section_line(ini, section);
    char where[300];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d:", ini->path, line);
    else
        snprintf(where, sizeof where, "%s:", ini->path);
    if (section[0] != '\0')
        snprintf(err->msg, sizeof err->msg, "%s [%s] %s is required", where,
                 section, key);
    else
        snprintf(err->msg, sizeof err->msg, "%s %s is required", where, key);
    return POLKU_ECONFIG;
}

int polku_ini_str(const polku_ini *ini, const char *section, const char *key,
                  const char *def, const char **out, polku_cfgerr *err)
{
    const polku_ini_entry *e = find_set(ini, section, key);
    if (e != NULL) {
        *out = e->value;
        return POLKU_OK;
    }
    if (def == NULL)
        return required_error(err, ini, section, key);
    *out = def;
    return POLKU_OK;
}

/* Decimal digits only, no sign or blanks; false on overflow. */
static bool parse_decimal(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t digit = (uint64_t)(*s - '0');
        if (n > (UINT64_MAX - digit) / 10)
            return false;
        n = n * 10 + digit;
    }
    *out = n;
    return true;
}

int polku_ini_uint(const polku_ini *ini, const char *section, const char *key,
                   bool required, uint64_t def, uint64_t min, uint64_t max,
                   uint64_t *out, polku_cfgerr *err)
{
    const polku_ini_entry *e = find_set(ini, section, key);
    if (e == NULL) {
        if (required)
            return required_error(err, ini, section, key);
        *out = def;
        return POLKU_OK;
    }
    uint64_t n;
    if (!parse_decimal(e->value, &n) || n < min || n > max)
        return polku_cfgerr_set(
            err, ini, e, section, key,
            "expected a whole number from %llu to %llu, got '%.*s'",
            (unsigned long long)min, (unsigned long long)max, SHOWN_VALUE_CHARS,
            e->value);
    *out = n;
    return POLKU_OK;
}

int polku_ini_bool(const polku_ini *ini, const char *section, const char *key,
                   bool def, bool *out, polku_cfgerr *err)
{
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const lies[] = {"false", "no", "off", "0"};
    const polku_ini_entry *e = find_set(ini, section, key);
    if (e == NULL) {
        *out = def;
        return POLKU_OK;
    }
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        if (strcasecmp(e->value, truths[i]) == 0) {
            *out = true;
            return POLKU_OK;
        }
        if (strcasecmp(e->value, lies[i]) == 0) {
            *out = false;
            return POLKU_OK;
        }
    }
    return polku_cfgerr_set(
        err, ini, e, section, key,
        "expected true/false, yes/no, on/off or 1/0, got '%.*s'",
        SHOWN_VALUE_CHARS, e->value);
}

int polku_ini_duration(const polku_ini *ini, const char *section,
                       const char *key, uint64_t def_ms, uint64_t *out_ms,
                       polku_cfgerr *err)
{
    const polku_ini_entry *e = find_set(ini, section, key);
    if (e == NULL) {
        *out_ms = def_ms;
        return POLKU_OK;
    }
    if (polku_duration_parse(e->value, out_ms) != POLKU_OK)
        return polku_cfgerr_set(
            err, ini, e, section, key,
            "expected a duration like 500ms, 30s, 15m, 36h or 5d, got '%.*s'",
            SHOWN_VALUE_CHARS, e->value);
    return POLKU_OK;
}

static bool is_known(const char *key, const char *const *known)
{
    for (; *known != NULL; known++) {
        if (strcmp(key, *known) == 0)
            return true;
    }
    return false;
}

int polku_ini_check_keys(const polku_ini *ini, const char *section,
                         const char *const *known, polku_cfgerr *err)
{
    for (size_t i = 0; i < ini->count; i++) {
        const polku_ini_entry *e = &ini->entries[i];
        if (strcmp(e->section, section) == 0 && !is_known(e->key, known))
            return error_at(err, ini->path, e->line, section, NULL,
                            "unknown key '%s'", e->key);
    }
    return POLKU_OK;
}

/* ---- HOST:PORT ---- */

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-';
}

int polku_hostport_parse(const char *text, char *host, size_t host_len,
                         uint16_t *port)
{
    if (text == NULL || host == NULL || port == NULL)
        return POLKU_EINVAL;
    const char *colon = strrchr(text, ':');
    if (colon == NULL)
        return POLKU_EINVAL;
    size_t n = (size_t)(colon - text);
    if (n == 0 || n >= host_len)
        return POLKU_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!is_host_char(text[i]))
            return POLKU_EINVAL;
    }
    const char *digits = colon + 1;
    uint64_t value;
    if (strlen(digits) > 5 || !parse_decimal(digits, &value) || value > 65535)
        return POLKU_EINVAL;
    memcpy(host, text, n);
    host[n] = '\0';
    *port = (uint16_t)value;
    return POLKU_OK;
}
