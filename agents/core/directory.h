/* directory.h — the organisations of the region, as the broker last told.
 *
 * The broker's Welcome lists every organisation: its id, its public key
 * and the services it offers. The agent keeps the last one (and saves it in
 * the store, so a restart without the broker still knows who is who) and
 * asks it: who offers this service, does this organisation exist, which key
 * seals text for it. Before any Welcome the directory is empty ("not known
 * yet"): the broker's gate decides what this agent cannot. */
#ifndef POLKU_AGENT_DIRECTORY_H
#define POLKU_AGENT_DIRECTORY_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "polku.pb-c.h"
#include "store.h"

typedef struct directory {
    const char *self;  /* this organisation's id */
    Polku__Welcome *w; /* the last Welcome, or NULL */
} directory;

void directory_init(directory *d, const char *self);
void directory_fini(directory *d);

/* Takes a copy of w's directory. POLKU_OK or POLKU_ENOMEM. */
int directory_set(directory *d, const Polku__Welcome *w);

/* The directory saved by directory_save, if any (POLKU_OK either way
 * unless the store fails). */
int directory_load(directory *d, store *st);
int directory_save(const directory *d, store *st, MDB_txn *txn);

bool directory_known(const directory *d);

/* The other organisation offering service: POLKU_OK with *org,
 * POLKU_ENOTFOUND (none), POLKU_EEXIST (several; *org = NULL),
 * POLKU_EAGAIN (no directory yet). */
int directory_resolve_service(const directory *d, const char *service,
                              const char **org);

/* True if the directory lists service for this organisation, or no
 * directory has come yet (the broker's gate decides then). */
bool directory_offers_service(const directory *d, const char *service);

bool directory_knows_org(const directory *d, const char *org);

/* True if the directory lists service for org (false for an org it does
 * not know, or when no directory has come yet). */
bool directory_org_offers(const directory *d, const char *org,
                          const char *service);

/* The directory's own copy of org's id (lives until the next
 * directory_set), or NULL. */
const char *directory_org_name(const directory *d, const char *org);

/* The organisations listed, by index (0 and NULL before any Welcome). */
size_t directory_count(const directory *d);
const char *directory_org_at(const directory *d, size_t i);

/* True if the directory's entry of org permits break-glass on basis
 * ("emergency", "statutory"); false before any Welcome. */
bool directory_may_override(const directory *d, const char *org,
                            const char *basis);

/* The org's public key (Z85), or NULL. */
const char *directory_public_key(const directory *d, const char *org);

/* During org's key rotation, its previous public key (Z85), which what was
 * sealed by or to it before may still need; NULL when none is listed or
 * its end time (Unix ms) is at or before now_ms. */
const char *directory_previous_key(const directory *d, const char *org,
                                   uint64_t now_ms);

/* The org's chain signing key (Z85), or NULL when the broker's directory
 * names none. */
const char *directory_sign_key(const directory *d, const char *org);

#endif
