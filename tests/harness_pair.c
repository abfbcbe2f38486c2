/* harness_pair.c — a broker pair for integration tests (see
 * harness_pair.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_internal.h"
#include "harness_pair.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    H_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

/* In the file at path, the first line equal to from becomes to. */
static void replace_line(const char *path, const char *from, const char *to)
{
    char *text = h_read_file(path, NULL);
    H_REQUIRE(text, "read %s", path);
    char *at = strstr(text, from);
    H_REQUIRE(at, "%s has no line \"%s\"", path, from);
    size_t head = (size_t)(at - text), n = strlen(from);
    size_t len = strlen(text) - n + strlen(to) + 1;
    char *out = malloc(len);
    H_REQUIRE(out, "out of memory");
    snprintf(out, len, "%.*s%s%s", (int)head, text, to, at + n);
    write_text(path, out);
    free(out);
    free(text);
}

void h_pair_setup(h_pair *p, h_region *r, bool backup_first)
{
    p->a = r;
    p->b = h_region_new();
    h_region *a = p->a, *b = p->b;
    h_region_write(a);
    /* the same key pair for both */
    b->broker_key = a->broker_key;
    snprintf(b->broker_key_file, sizeof b->broker_key_file, "%s",
             a->broker_key_file);
    char *text = h_read_file(a->broker.config, NULL);
    H_REQUIRE(text, "read %s", a->broker.config);
    write_text(b->broker.config, text);
    free(text);
    b->written = true;
    char from[128], to[128];
    snprintf(from, sizeof from, "listen = %s\n", a->broker_endpoint);
    snprintf(to, sizeof to, "listen = %s\n", b->broker_endpoint);
    replace_line(b->broker.config, from, to);
    snprintf(from, sizeof from, "http = 127.0.0.1:%d\n", a->broker_http_port);
    snprintf(to, sizeof to, "http = 127.0.0.1:%d\n", b->broker_http_port);
    replace_line(b->broker.config, from, to);
    char line[600];
    const char *role[2] = {"primary", "backup"};
    h_region *side[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "ha_role = %s", role[i]);
        h_broker_config_add(side[i], line);
        snprintf(line, sizeof line, "ha_bind = ipc://%s/ha-%s.sock", a->dir,
                 role[i]);
        h_broker_config_add(side[i], line);
        snprintf(line, sizeof line, "ha_peer = ipc://%s/ha-%s.sock", a->dir,
                 role[1 - i]);
        h_broker_config_add(side[i], line);
    }
    for (int i = 0; i < a->norgs; i++) {
        snprintf(from, sizeof from, "broker = %s\n", a->broker_endpoint);
        snprintf(line, sizeof line, "broker = %s %s\n",
                 backup_first ? b->broker_endpoint : a->broker_endpoint,
                 backup_first ? a->broker_endpoint : b->broker_endpoint);
        replace_line(a->orgs[i].proc.config, from, line);
    }
    h_note("pair: primary %s (http %d), backup %s (http %d)",
           a->broker_endpoint, a->broker_http_port, b->broker_endpoint,
           b->broker_http_port);
}

json_t *h_pair_ha(h_region *side)
{
    json_t *h = h_broker_health(side);
    json_t *ha = h ? json_incref(json_object_get(h, "ha")) : NULL;
    json_decref(h);
    return ha;
}

const char *h_pair_state(h_region *side, char *out, size_t len)
{
    json_t *ha = h_pair_ha(side);
    const char *s = ha ? json_string_value(json_object_get(ha, "state")) : NULL;
    snprintf(out, len, "%s", s ? s : "");
    json_decref(ha);
    return out;
}

static bool in_state(h_region *side, const char *want)
{
    char st[32];
    return strcmp(h_pair_state(side, st, sizeof st), want) == 0;
}

void h_pair_start(h_pair *p)
{
    h_broker_start(p->a);
    h_broker_start(p->b);
    H_WAIT_UNTIL(H_SEC(10),
                 in_state(p->a, "active") && in_state(p->b, "passive"),
                 "the primary active and the backup passive");
}

#define SWAP(x, y)                                                             \
    do {                                                                       \
        __typeof__(x) t_ = (x);                                                \
        (x) = (y);                                                             \
        (y) = t_;                                                              \
    } while (0)

void h_pair_swap(h_pair *p)
{
    h_region *a = p->a, *b = p->b;
    SWAP(a->broker, b->broker);
    SWAP(a->broker_port, b->broker_port);
    SWAP(a->broker_http_port, b->broker_http_port);
    char t[64];
    memcpy(t, a->broker_endpoint, sizeof t);
    memcpy(a->broker_endpoint, b->broker_endpoint, sizeof t);
    memcpy(b->broker_endpoint, t, sizeof t);
    memcpy(t, a->broker_url, sizeof t);
    memcpy(a->broker_url, b->broker_url, sizeof t);
    memcpy(b->broker_url, t, sizeof t);
    SWAP(a->broker_http, b->broker_http);
}
