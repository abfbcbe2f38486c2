/* fold.c — see fold.h. */
#include "fold.h"

#include <sodium.h>
#include <string.h>

/* The dashboard finds a client by its display pseudonym from now on. A
 * client event the client index folds is noted there, with the lookup of
 * its client it makes anyway (cl_set_display); fresh: it will fold it. */
static void note_client(const broker_indexes *x, const polku_envelope *env,
                        bool fresh)
{
    if (x->names && env->client_key.len == 16 &&
        !(fresh && cl_notes_display(x->clients, env)))
        display_note(x->names, env->client_key.data);
}

unsigned fold_apply(const broker_indexes *x, const polku_envelope *env)
{
    /* the path index remembers every (origin, seq) it saw: it decides
     * whether the client index has seen this event before */
    bool fresh = env->origin_org && env->origin_org[0] && env->origin_seq &&
                 !pi_seen(x->paths, env->origin_org, env->origin_seq);
    unsigned done = 0;
    note_client(x, env, fresh);
    ci_apply(x->consents, env);
    if (pi_apply(x->paths, env))
        done |= FOLD_PATH;
    if (fresh && cl_apply(x->clients, env))
        done |= FOLD_CLIENT;
    return done;
}

unsigned fold_apply_marked(const broker_indexes *x, const polku_envelope *env)
{
    unsigned done = 0;
    note_client(x, env, true);
    ci_apply(x->consents, env);
    if (pi_apply_marked(x->paths, env))
        done |= FOLD_PATH;
    if (cl_apply(x->clients, env))
        done |= FOLD_CLIENT;
    return done;
}

void fold_presize(const broker_indexes *x, uint64_t events)
{
    uint64_t n = events / FOLD_PRESIZE_EVENTS;
    size_t each = n < FOLD_PRESIZE_MAX ? (size_t)n : FOLD_PRESIZE_MAX;
    cl_presize(x->clients, each, each);
    ci_presize(x->consents, each, each);
    pi_presize(x->paths, each);
    if (x->names)
        display_presize(x->names, each);
}

void fold_digest(const broker_indexes *x, char out[65], char paths[65])
{
    char pd[65];
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    pi_digest(x->paths, pd);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)pd, 64);
    cl_digest_update(x->clients, &st);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, 65, h, sizeof h);
    if (paths)
        memcpy(paths, pd, 65);
}
