/* display.c — see display.h. */
#include "display.h"

#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "idmap.h"
#include "polku/error.h"
#include "polku/hetu.h"
#include "pool.h"

static const char domain[] = "polku-display:";

/* One client, in two tables: by key (every folded event of a client asks
 * whether it is known, without computing a MAC) and by name (the API's
 * lookup). Both are idmaps: a rebuild asks by key for most events. */
typedef struct display_entry {
    uint8_t name[16]; /* the pseudonym, binary */
    uint8_t key[16];
} display_entry;

struct display {
    uint8_t secret[DISPLAY_SECRET_BYTES];
    /* the HMAC keyed with the secret: each pseudonym continues a copy of
     * it (the two key blocks are hashed once, not for every client) */
    crypto_auth_hmacsha256_state keyed;
    idmap by_name;
    idmap by_key;
    pool entries; /* freed together with the display */
};

static void hmac_keyed(const uint8_t secret[DISPLAY_SECRET_BYTES],
                       crypto_auth_hmacsha256_state *st)
{
    _Static_assert(crypto_auth_hmacsha256_KEYBYTES == DISPLAY_SECRET_BYTES,
                   "secret size");
    crypto_auth_hmacsha256_init(st, secret, DISPLAY_SECRET_BYTES);
}

static void pseudonym(const crypto_auth_hmacsha256_state *keyed,
                      const uint8_t client_key[16], uint8_t out[16])
{
    crypto_auth_hmacsha256_state st = *keyed;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
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
    hmac_keyed(secret, &d->keyed);
    idmap_init(&d->by_name, offsetof(display_entry, name));
    idmap_init(&d->by_key, offsetof(display_entry, key));
    pool_init(&d->entries, sizeof(display_entry), 0);
    return d;
}

void display_presize(display *d, size_t clients)
{
    idmap_presize(&d->by_name, clients);
    idmap_presize(&d->by_key, clients);
}

void display_free(display **d)
{
    if (!d || !*d)
        return;
    idmap_fini(&(*d)->by_key);
    idmap_fini(&(*d)->by_name);
    pool_fini(&(*d)->entries);
    sodium_memzero((*d)->secret, sizeof(*d)->secret);
    sodium_memzero(&(*d)->keyed, sizeof(*d)->keyed);
    free(*d);
    *d = NULL;
}

void display_name_with(const uint8_t secret[DISPLAY_SECRET_BYTES],
                       const uint8_t client_key[16],
                       char out[DISPLAY_NAME_TEXT])
{
    crypto_auth_hmacsha256_state keyed;
    uint8_t name[16];
    hmac_keyed(secret, &keyed);
    pseudonym(&keyed, client_key, name);
    sodium_memzero(&keyed, sizeof keyed);
    polku_client_key_hex(name, out);
}

void display_name(const display *d, const uint8_t client_key[16],
                  char out[DISPLAY_NAME_TEXT])
{
    uint8_t name[16];
    if (!d) {
        polku_client_key_hex(client_key, out);
        return;
    }
    pseudonym(&d->keyed, client_key, name);
    polku_client_key_hex(name, out);
}

int display_note(display *d, const uint8_t client_key[16])
{
    if (idmap_find(&d->by_key, client_key))
        return POLKU_OK;
    display_entry *e = NULL;
    /* both tables reserved first: a failure leaves neither changed */
    if (idmap_reserve(&d->by_key) || idmap_reserve(&d->by_name) ||
        !(e = pool_calloc(&d->entries)))
        return POLKU_ENOMEM;
    pseudonym(&d->keyed, client_key, e->name);
    memcpy(e->key, client_key, 16);
    idmap_put(&d->by_name, e); /* reserved: cannot fail */
    idmap_put(&d->by_key, e);
    return POLKU_OK;
}

bool display_lookup(const display *d, const char *name, uint8_t client_key[16])
{
    uint8_t bin[16];
    if (!d || polku_client_key_parse(name, bin) != POLKU_OK)
        return false;
    const display_entry *e = idmap_find(&d->by_name, bin);
    if (!e)
        return false;
    memcpy(client_key, e->key, 16);
    return true;
}

size_t display_count(const display *d)
{
    return d ? idmap_count(&d->by_name) : 0;
}
