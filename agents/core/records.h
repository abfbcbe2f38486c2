/* records.h — building the agent's protobuf storage records by hand.
 *
 * A record loaded from the store is freed with free_unpacked, which frees
 * every string and bytes field it finds. A record built here must look the
 * same: every string its own malloc'ed copy (never the shared
 * protobuf_c_empty_string), every sub-message malloc'ed. */
#ifndef POLKU_AGENT_RECORDS_H
#define POLKU_AGENT_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "polku.pb-c.h"

/* Replaces *field with a copy of value (NULL: ""). POLKU_OK/ENOMEM. */
int record_set_text(char **field, const char *value);

/* Replaces f with a copy of len bytes (len 0: empty). */
int record_set_bytes(ProtobufCBinaryData *f, const void *data, size_t len);

/* Gives every string field of a freshly initialised message (not its
 * sub-messages) its own "". POLKU_OK/ENOMEM. */
int record_own_strings(ProtobufCMessage *m);

/* A new plan pointer with owned strings, or NULL. */
Polku__PlanPointer *record_plan_new(const char *org, const char *plan_id,
                                    uint32_t version, uint64_t review_due_ms);

/* A copy of p (NULL gives NULL). */
Polku__PlanPointer *record_plan_copy(const Polku__PlanPointer *p);

/* Appends a copy of s to a repeated string field. */
int record_add_string(char ***list, size_t *n, const char *s);

#endif
