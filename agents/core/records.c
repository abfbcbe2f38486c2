/* records.c — storage records with owned fields (see records.h). */
#include "records.h"

#include <stdlib.h>
#include <string.h>

#include "polku/error.h"

int record_set_text(char **field, const char *value)
{
    char *copy = strdup(value ? value : "");
    if (!copy)
        return POLKU_ENOMEM;
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = copy;
    return POLKU_OK;
}

int record_set_bytes(ProtobufCBinaryData *f, const void *data, size_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return POLKU_ENOMEM;
        memcpy(copy, data, len);
    }
    free(f->data);
    f->data = copy;
    f->len = len;
    return POLKU_OK;
}

int record_own_strings(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING ||
            f->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        char **field = (char **)((char *)m + f->offset);
        if (*field == NULL || *field == protobuf_c_empty_string) {
            *field = NULL;
            if (record_set_text(field, ""))
                return POLKU_ENOMEM;
        }
    }
    return POLKU_OK;
}

Polku__PlanPointer *record_plan_new(const char *org, const char *plan_id,
                                    uint32_t version, uint64_t review_due_ms)
{
    Polku__PlanPointer *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    polku__plan_pointer__init(p);
    p->org = p->plan_id = NULL;
    if (record_set_text(&p->org, org) ||
        record_set_text(&p->plan_id, plan_id)) {
        polku__plan_pointer__free_unpacked(p, NULL);
        return NULL;
    }
    p->version = version;
    p->review_due_ms = review_due_ms;
    return p;
}

Polku__PlanPointer *record_plan_copy(const Polku__PlanPointer *p)
{
    return p ? record_plan_new(p->org, p->plan_id, p->version, p->review_due_ms)
             : NULL;
}

int record_add_string(char ***list, size_t *n, const char *s)
{
    char **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return POLKU_ENOMEM;
    *list = grown;
    grown[*n] = strdup(s ? s : "");
    if (!grown[*n])
        return POLKU_ENOMEM;
    (*n)++;
    return POLKU_OK;
}
