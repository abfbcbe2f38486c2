/* render_access.c — the access report's JSON and CSV (see .h). */
#include "render_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/hetu.h"
#include "polku/id.h"

json_t *render_access_report(const uint8_t client[16], const char *self,
                             bool network, uint64_t now_ms)
{
    char key[33], at[POLKU_TIME_TEXT];
    polku_client_key_hex(client, key);
    polku_time_format(now_ms, at, sizeof at);
    return json_pack("{s:s, s:s, s:b, s:s, s:[], s:[], s:[], s:[]}",
                     "client_key", key, "organisation", self, "network",
                     network, "generated_at", at, "events", "answered",
                     "not_answering", "truncated");
}

static json_t *id_or_null(ProtobufCBinaryData b)
{
    char text[POLKU_ID_TEXT];
    return b.len == 16 ? json_string(polku_id_text(b.data, text)) : json_null();
}

static json_t *text_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *row_of(const char *source, const Polku__AccessEntry *e)
{
    char at[POLKU_TIME_TEXT];
    polku_time_format(e->time_ms, at, sizeof at);
    json_t *to = json_array();
    for (size_t i = 0; to && i < e->n_to; i++)
        json_array_append_new(to, json_string(e->to[i]));
    return json_pack(
        "{s:s, s:I, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "source", source,
        "seq", (json_int_t)e->seq, "kind", e->kind, "object_id",
        id_or_null(e->object_id), "to", to ? to : json_array(), "at", at,
        "status", text_or_null(e->status), "purpose", text_or_null(e->purpose),
        "consent_id", id_or_null(e->consent_id), "override",
        text_or_null(e->override_basis));
}

int render_access_add(json_t *report, const char *source,
                      const Polku__AccessAnswer *a)
{
    json_t *events = json_object_get(report, "events");
    for (size_t i = 0; i < a->n_entries; i++) {
        json_t *row = row_of(source, a->entries[i]);
        if (!row || json_array_append_new(events, row))
            return -1;
    }
    if (json_array_append_new(json_object_get(report, "answered"),
                              json_string(source)))
        return -1;
    if (a->truncated &&
        json_array_append_new(json_object_get(report, "truncated"),
                              json_string(source)))
        return -1;
    return 0;
}

static int row_cmp(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int c = strcmp(json_string_value(json_object_get(a, "at")),
                   json_string_value(json_object_get(b, "at")));
    if (!c)
        c = strcmp(json_string_value(json_object_get(a, "source")),
                   json_string_value(json_object_get(b, "source")));
    if (!c) {
        json_int_t x = json_integer_value(json_object_get(a, "seq"));
        json_int_t y = json_integer_value(json_object_get(b, "seq"));
        c = x < y ? -1 : x > y;
    }
    return c;
}

void render_access_sort(json_t *report)
{
    json_t *events = json_object_get(report, "events");
    size_t n = json_array_size(events);
    if (n < 2)
        return;
    json_t **rows = malloc(n * sizeof *rows);
    if (!rows)
        return; /* unsorted, still whole */
    for (size_t i = 0; i < n; i++)
        rows[i] = json_incref(json_array_get(events, i));
    qsort(rows, n, sizeof *rows, row_cmp);
    json_array_clear(events);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(events, rows[i]);
    free(rows);
}

static const char *str_of(const json_t *row, const char *name)
{
    const char *s = json_string_value(json_object_get(row, name));
    return s ? s : "";
}

char *render_access_csv(const json_t *report)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    /* every value is a token, an id, a time or an org id: no quoting */
    fprintf(f, "source,seq,at,kind,object_id,status,to,purpose,consent_id,"
               "override\r\n");
    json_t *events = json_object_get(report, "events");
    size_t i;
    json_t *row;
    json_array_foreach(events, i, row)
    {
        fprintf(f, "%s,%lld,%s,%s,%s,%s,", str_of(row, "source"),
                (long long)json_integer_value(json_object_get(row, "seq")),
                str_of(row, "at"), str_of(row, "kind"),
                str_of(row, "object_id"), str_of(row, "status"));
        size_t j;
        json_t *to;
        json_array_foreach(json_object_get(row, "to"), j, to)
            fprintf(f, "%s%s", j ? " " : "", json_string_value(to));
        fprintf(f, ",%s,%s,%s\r\n", str_of(row, "purpose"),
                str_of(row, "consent_id"), str_of(row, "override"));
    }
    json_t *missing = json_object_get(report, "not_answering");
    json_array_foreach(missing, i, row)
        fprintf(f, "%s,,,not_answering,,,,,,\r\n", json_string_value(row));
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    return buf;
}
