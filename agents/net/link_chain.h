/* link_chain.h — the chain heads an agent says and hears (logchain.h).
 *
 * Why a module of its own: the link says this log's signed head in every
 * Hello and heartbeat, tells a Hello the heads of other organisations it
 * holds, and keeps the heads the broker republishes (each signed by its
 * owner, checked against the directory's sign_key) in the store. That is
 * the agent's whole part in witnessing; link.c only calls in here. */
#ifndef POLKU_AGENT_LINK_CHAIN_H
#define POLKU_AGENT_LINK_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "directory.h"
#include "polku.pb-c.h"
#include "polku/chain.h"
#include "store.h"

#define LINK_CHAIN_MAX_HELD 256

typedef struct link_chain {
    const char *org;
    store *st;
    batch *b;
    directory *dir;
    uint8_t pk[POLKU_SIGN_PK], sk[POLKU_SIGN_SK];
    /* this log's head, signed, as last said (re-signed when it moves) */
    polku_chain_head own;
    Polku__ChainHead own_pb;
    /* the heads held, for a Hello */
    polku_chain_head held[LINK_CHAIN_MAX_HELD];
    Polku__ChainHead held_pb[LINK_CHAIN_MAX_HELD];
    Polku__ChainHead *held_ptrs[LINK_CHAIN_MAX_HELD];
    /* the last republished list kept, so an unchanged one costs nothing */
    uint8_t heard_digest[32];
    unsigned long long heads_kept, heads_refused;
} link_chain;

/* The signing key from the CURVE secret (Z85). POLKU_OK or POLKU_EINVAL. */
int link_chain_init(link_chain *c, const char *org, const char *secret_z85,
                    store *st, batch *b, directory *dir);
void link_chain_fini(link_chain *c);

/* This log's head, signed (NULL while the log is empty or unreadable):
 * borrowed, valid until the next call. */
Polku__ChainHead *link_chain_own(link_chain *c);

/* The heads of other organisations this store holds: *n of them,
 * borrowed, valid until the next call. */
Polku__ChainHead **link_chain_held(link_chain *c, size_t *n);

/* The broker's heartbeat republished heads: each one whose signature
 * verifies under its owner's directory sign_key (this agent's own key for
 * its own log; any, when the directory names none) and that is newer than
 * the one held is kept in the store, in a batch item. */
void link_chain_heard(link_chain *c, Polku__ChainHead *const *heads, size_t n);

#endif
