/* state_names.h — names of a lifecycle's states, for lib/referral.c and
 * lib/handover.c (internal to libpolku). A table is indexed by the state's
 * value; gaps are NULL. */
#ifndef POLKU_LIB_STATE_NAMES_H
#define POLKU_LIB_STATE_NAMES_H

#include <stddef.h>
#include <string.h>

#include "polku/error.h"

/* The name of state s, "unknown" outside the table or in a gap. */
static inline const char *state_name_of(const char *const *names, size_t n,
                                        int s)
{
    if (s < 0 || (size_t)s >= n || names[s] == NULL)
        return "unknown";
    return names[s];
}

/* The state named text into *out: POLKU_OK or POLKU_EINVAL. */
static inline int state_named(const char *const *names, size_t n,
                              const char *text, int *out)
{
    if (text == NULL || out == NULL)
        return POLKU_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && strcmp(text, names[i]) == 0) {
            *out = (int)i;
            return POLKU_OK;
        }
    return POLKU_EINVAL;
}

#endif
