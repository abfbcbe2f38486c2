/* api_override.h — the `override` object's parser, without HTTP, so that
 * it can be fuzzed (tests/fuzz/override_json_fuzz.c). */
#ifndef POLKU_AGENT_API_OVERRIDE_H
#define POLKU_AGENT_API_OVERRIDE_H

#include <jansson.h>
#include <stddef.h>

#include "overrides.h"

/* body.override into o: POLKU_OK (o->basis NULL when there is none; else
 * basis is emergency or statutory and reason holds text), or POLKU_EINVAL
 * with one sentence in msg naming the field and what is expected. o's
 * strings point into body. */
int api_override_parse(json_t *body, override_request *o, char *msg,
                       size_t len);

#endif
