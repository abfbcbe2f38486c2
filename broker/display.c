/* display.c — see display.h. */
#include "display.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "polku/error.h"
#include "polku/hetu.h"
#include "pool.h"

static const char domain[] = "polku-display:";

/* One client, in two tables: by key (every folded event asks whether it
 * is known, without computing a MAC) and by name (the API's lookup). */
typedef struct display_entry {
    uint8_t name[16]; /* the pseudonym, binary */
    uint8_t key[16];
    UT_hash_handle hh;     /* by_name */
    UT_hash_handle hh_key; /* by_key */
} display_entry;

struct display {
    uint8_t secret[DISPLAY_SECRET_BYTES];
    display_entry *by_name;
    display_entry *by_key;
    pool entries; /* freed together with the display */
};

static void pseudonym(const uint8_t secret[DISPLAY_SECRET_BYTES],
                      const uint8_t client_key[16], uint8_t out[16])
{
    _Static_assert(crypto_auth_hmacsha256_KEYBYTES == DISPLAY_SECRET_BYTES,
                   "secret size");
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, secret, DISPLAY_SECRET_BYTES);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)domain,
                                  sizeof domain - 1);
    crypto_auth_hmacsha256_update(&st, client_key, 16);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, mac, 16);
    sodium_memzero(&st, sizeof st);
}

display *display_new(const uint8_t secret[DISPLAY_SECRET_BYTES])
{
    display *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    memcpy(d->secret, secret, DISPLAY_SECRET_BYTES);
    pool_init(&d->entries, sizeof(display_entry), 0);
    return d;
}

void display_free(display **d)
{
    if (!d || !*d)
        return;
    HASH_CLEAR(hh_key, (*d)->by_key);
    HASH_CLEAR(hh, (*d)->by_name);
    pool_fini(&(*d)->entries);
    sodium_memzero((*d)->secret, sizeof(*d)->secret);
    free(*d);
    *d = NULL;
}

void display_name_with(const uint8_t secret[DISPLAY_SECRET_BYTES],
                       const uint8_t client_key[16],
                       char out[DISPLAY_NAME_TEXT])
{
    uint8_t name[16];
    pseudonym(secret, client_key, name);
    polku_client_key_hex(name, out);
}

void display_name(const display *d, const uint8_t client_key[16],
                  char out[DISPLAY_NAME_TEXT])
{
    if (!d)
        polku_client_key_hex(client_key, out);
    else
        display_name_with(d->secret, client_key, out);
}

int display_note(display *d, const uint8_t client_key[16])
{
    display_entry *e = NULL;
    HASH_FIND(hh_key, d->by_key, client_key, 16, e);
    if (e)
        return POLKU_OK;
    e = pool_calloc(&d->entries);
    if (!e)
        return POLKU_ENOMEM;
    pseudonym(d->secret, client_key, e->name);
    memcpy(e->key, client_key, 16);
    HASH_ADD(hh, d->by_name, name, 16, e);
    HASH_ADD(hh_key, d->by_key, key, 16, e);
    return POLKU_OK;
}

bool display_lookup(const display *d, const char *name, uint8_t client_key[16])
{
    uint8_t bin[16];
    if (!d || polku_client_key_parse(name, bin) != POLKU_OK)
        return false;
    display_entry *e = NULL;
    HASH_FIND(hh, d->by_name, bin, 16, e);
    if (!e)
        return false;
    memcpy(client_key, e->key, 16);
    return true;
}

size_t display_count(const display *d)
{
    return d ? HASH_COUNT(d->by_name) : 0;
}
