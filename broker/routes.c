/* routes.c — the route table: one entry per organisation, found by id
 * (routes.h says why it is a module of its own). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/error.h"

struct routes_org {
    char id[33];
    int index;
    UT_hash_handle hh;
};

int routes_init(routes *t, const broker_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->by_org = calloc(cfg->org_count ? cfg->org_count : 1, sizeof *t->by_org);
    if (!t->by_org)
        return POLKU_ENOMEM;
    t->count = cfg->org_count;
    for (size_t i = 0; i < cfg->org_count; i++) {
        struct routes_org *e = calloc(1, sizeof *e);
        if (!e)
            return POLKU_ENOMEM;
        snprintf(e->id, sizeof e->id, "%s", cfg->orgs[i].id);
        e->index = (int)i;
        HASH_ADD_STR(t->org_ids, id, e);
    }
    return POLKU_OK;
}

void routes_fini(routes *t)
{
    struct routes_org *e, *tmp;
    HASH_ITER(hh, t->org_ids, e, tmp)
    {
        HASH_DEL(t->org_ids, e);
        free(e);
    }
    free(t->by_org);
    t->by_org = NULL;
    t->count = 0;
}

int routes_org_index(const routes *t, const char *org)
{
    struct routes_org *e = NULL;
    HASH_FIND_STR(t->org_ids, org, e);
    return e ? e->index : -1;
}

int64_t routes_clock_offset(const routes *t, const char *org)
{
    int idx = routes_org_index(t, org);
    return idx < 0 ? 0 : t->by_org[idx].clock_offset_ms;
}
