/* harness_consent.c — helpers for the consent and privacy tests: extra
 * config lines (pseudonym secret, broker debug dump), consent list and
 * revoke calls, referral history look-ups, whole-file reads and byte
 * searches. Nothing here changes what the other harness functions do. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* ------------------------------------------------------------- files */

void h_copy_file(const char *src, const char *dst)
{
    size_t len = 0;
    char *data = h_read_file(src, &len);
    H_REQUIRE(data, "read %s", src);
    FILE *f = fopen(dst, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    ok = f && fclose(f) == 0 && ok;
    free(data);
    H_REQUIRE(ok, "write %s", dst);
}

char *h_read_file(const char *path, size_t *len_out)
{
    if (len_out)
        *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    H_REQUIRE(buf, "out of memory");
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *n = realloc(buf, cap + 1);
            if (!n) {
                free(buf);
                fclose(f);
                H_FAIL("out of memory reading %s", path);
            }
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static void write_whole(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    H_REQUIRE(fd >= 0, "create %s: %s", path, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            H_FAIL("write %s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    fchmod(fd, mode);
    close(fd);
}

bool h_mem_contains(const void *hay, size_t hay_len, const void *needle,
                    size_t needle_len)
{
    if (!hay || needle_len == 0 || needle_len > hay_len)
        return false;
    return memmem(hay, hay_len, needle, needle_len) != NULL;
}

/* ------------------------------------------------------ config lines */

/* Inserts line right after the "[section]" header of an INI file, unless
 * the file already holds exactly that line. */
static void config_insert(const char *path, const char *section,
                          const char *line)
{
    size_t len = 0;
    char *text = h_read_file(path, &len);
    H_REQUIRE(text, "read %s: %s (write the region first)", path,
              strerror(errno));
    char header[64], want[1100];
    snprintf(header, sizeof header, "[%s]\n", section);
    snprintf(want, sizeof want, "%s\n", line);
    if (strstr(text, want)) {
        free(text);
        return;
    }
    char *at = strstr(text, header);
    if (!at) {
        free(text);
        H_FAIL("%s has no %s section", path, header);
    }
    size_t head = (size_t)(at - text) + strlen(header);
    size_t out_len = len + strlen(want) + 1;
    char *out = malloc(out_len);
    H_REQUIRE(out, "out of memory");
    memcpy(out, text, head);
    memcpy(out + head, want, strlen(want));
    memcpy(out + head + strlen(want), text + head, len - head + 1);
    free(text);
    write_whole(path, 0644, out);
    free(out);
}

void h_broker_config_add(h_region *r, const char *line)
{
    if (!r->written)
        h_region_write(r);
    config_insert(r->broker.config, "broker", line);
}

void h_agent_config_add(h_org *o, const char *line)
{
    if (!o->region->written)
        h_region_write(o->region);
    config_insert(o->proc.config, "agent", line);
}

void h_region_secret_path(h_region *r, char *out, size_t len)
{
    snprintf(out, len, "%s/region.secret", r->dir);
}

void h_region_use_secret(h_region *r)
{
    if (!r->written)
        h_region_write(r);
    char path[512];
    h_region_secret_path(r, path, sizeof path);
    if (access(path, F_OK) != 0) {
        uint8_t raw[32];
        char text[2 * sizeof raw + 2];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(text, sizeof text, raw, sizeof raw);
        strcat(text, "\n");
        write_whole(path, 0600, text);
        sodium_memzero(raw, sizeof raw);
    }
    char line[600];
    snprintf(line, sizeof line, "pseudonym_secret_file = %s", path);
    for (int i = 0; i < r->norgs; i++)
        h_agent_config_add(&r->orgs[i], line);
}

void h_broker_use_dump(h_region *r, char *path_out, size_t len)
{
    snprintf(path_out, len, "%s/broker-frames.dump", r->dir);
    char line[600];
    snprintf(line, sizeof line, "debug_dump_file = %s", path_out);
    h_broker_config_add(r, line);
}

/* ---------------------------------------------------------- consents */

json_t *h_consent_list(h_org *o, const char *client_key)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/consents?client=%s", client_key);
    h_resp resp;
    json_t *list = NULL;
    if (h_api(o, "GET", path, NULL, &resp) == 200) {
        json_t *c = json_object_get(resp.json, "consents");
        json_t *n = json_object_get(resp.json, "count");
        if (json_is_array(c) && json_is_integer(n) &&
            (size_t)json_integer_value(n) == json_array_size(c))
            list = json_incref(c);
    }
    h_resp_free(&resp);
    return list;
}

long h_consent_count(h_org *o, const char *client_key)
{
    json_t *l = h_consent_list(o, client_key);
    long n = l ? (long)json_array_size(l) : -1;
    json_decref(l);
    return n;
}

const char *h_consent_state(h_org *o, const char *client_key,
                            const char *consent_id, char *buf, size_t len)
{
    json_t *l = h_consent_list(o, client_key);
    buf[0] = '\0';
    size_t i;
    json_t *c;
    json_array_foreach(l, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *st = json_string_value(json_object_get(c, "state"));
        if (id && st && strcmp(id, consent_id) == 0)
            snprintf(buf, len, "%s", st);
    }
    json_decref(l);
    return buf;
}

bool h_consent_state_is(h_org *o, const char *client_key,
                        const char *consent_id, const char *state)
{
    char buf[32];
    return strcmp(h_consent_state(o, client_key, consent_id, buf, sizeof buf),
                  state) == 0;
}

long h_consent_revoke(h_org *o, const char *consent_id, const char *reason,
                      h_resp *resp)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/consents/%s/revoke", consent_id);
    json_t *body = json_pack("{s:s}", "reason", reason);
    h_resp local;
    h_resp *r = resp ? resp : &local;
    long st = h_api_json(o, "POST", path, body, r);
    if (!resp)
        h_resp_free(&local);
    return st;
}

/* --------------------------------------------------------- referrals */

bool h_referral_history_has(h_org *o, const char *id, const char *status,
                            const char *reason_part)
{
    json_t *ref = h_referral_get(o, id);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ref, "history"), i, e)
    {
        const char *s = json_string_value(json_object_get(e, "status"));
        const char *why = json_string_value(json_object_get(e, "reason"));
        if (s && strcmp(s, status) == 0 &&
            (!reason_part || (why && strstr(why, reason_part))))
            found = true;
    }
    json_decref(ref);
    return found;
}

long h_referral_lookup(h_org *o, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s", id);
    h_resp resp;
    long st = h_api(o, "GET", path, NULL, &resp);
    h_resp_free(&resp);
    return st;
}
