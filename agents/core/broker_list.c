/* broker_list.c — the agent's broker addresses (see broker_list.h). */
#include "broker_list.h"

#include <stdio.h>
#include <string.h>

#include "polku/error.h"

int broker_list_parse(const char *s, broker_list *out, char *why,
                      size_t why_len)
{
    memset(out, 0, sizeof *out);
    const char *p = s ? s : "";
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        if (out->n == BROKER_LIST_MAX) {
            snprintf(why, why_len, "at most %d broker addresses",
                     BROKER_LIST_MAX);
            return POLKU_ECONFIG;
        }
        if (n > BROKER_ADDR_MAX) {
            snprintf(why, why_len, "a broker address is at most %d characters",
                     BROKER_ADDR_MAX);
            return POLKU_ECONFIG;
        }
        if (strncmp(p, "tcp://", 6) != 0 && strncmp(p, "ipc://", 6) != 0) {
            snprintf(why, why_len,
                     "'%.*s' is not a broker address: expected tcp://HOST:PORT "
                     "(several separated by spaces)",
                     (int)(n > 60 ? 60 : n), p);
            return POLKU_ECONFIG;
        }
        memcpy(out->addr[out->n], p, n);
        out->addr[out->n][n] = '\0';
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->addr[i], out->addr[out->n]) == 0) {
                snprintf(why, why_len, "%s is listed twice", out->addr[i]);
                return POLKU_ECONFIG;
            }
        out->n++;
        p += n;
    }
    if (out->n == 0) {
        snprintf(why, why_len,
                 "expected tcp://HOST:PORT (several separated "
                 "by spaces)");
        return POLKU_ECONFIG;
    }
    return POLKU_OK;
}

size_t broker_list_next(const broker_list *l, size_t at, const char *named)
{
    if (l->n == 0)
        return 0;
    for (size_t i = 0; named && *named && i < l->n; i++)
        if (i != at && strcmp(l->addr[i], named) == 0)
            return i;
    return (at + 1) % l->n;
}
