/* claim_auth.c — see claim_auth.h. HMAC-SHA256 (libsodium) over a
 * length-prefixed canonical encoding, so no two answers share bytes. */
#include "claim_auth.h"

#include <sodium.h>
#include <string.h>

static const char key_context[] = "polku claim authenticator v1";

void claim_auth_key(const uint8_t broker_secret[32],
                    uint8_t key[CLAIM_AUTH_KEY_BYTES])
{
    crypto_generichash(key, CLAIM_AUTH_KEY_BYTES, (const uint8_t *)key_context,
                       sizeof key_context - 1, broker_secret, 32);
}

static void put_u64(crypto_auth_hmacsha256_state *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_auth_hmacsha256_update(st, b, sizeof b);
}

static void put_bytes(crypto_auth_hmacsha256_state *st, const void *p, size_t n)
{
    put_u64(st, n);
    if (n)
        crypto_auth_hmacsha256_update(st, p, n);
}

static void put_str(crypto_auth_hmacsha256_state *st, const char *s)
{
    put_bytes(st, s ? s : "", s ? strlen(s) : 0);
}

/* The MAC, continuing st (keyed, nothing hashed yet). */
static void mac_keyed(crypto_auth_hmacsha256_state *st,
                      const uint8_t client_key[16], const char *claimant,
                      const Polku__PathClaimAnswered *a,
                      uint8_t out[CLAIM_AUTH_BYTES])
{
    put_bytes(st, client_key, 16);
    put_str(st, claimant);
    put_bytes(st, a->claim_id.data, a->claim_id.len);
    put_u64(st, (uint64_t)a->outcome);
    put_str(st, a->coordinator);
    put_u64(st, a->term);
    put_u64(st, a->since_ms);
    put_u64(st, a->claim_seq);
    crypto_auth_hmacsha256_final(st, out);
}

void claim_auth_mac(const uint8_t key[CLAIM_AUTH_KEY_BYTES],
                    const uint8_t client_key[16], const char *claimant,
                    const Polku__PathClaimAnswered *a,
                    uint8_t out[CLAIM_AUTH_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, CLAIM_AUTH_KEY_BYTES);
    mac_keyed(&st, client_key, claimant, a, out);
}

void claim_auth_keyed_init(claim_auth_keyed *k,
                           const uint8_t key[CLAIM_AUTH_KEY_BYTES])
{
    crypto_auth_hmacsha256_init(&k->st, key, CLAIM_AUTH_KEY_BYTES);
}

void claim_auth_keyed_wipe(claim_auth_keyed *k)
{
    sodium_memzero(k, sizeof *k);
}

bool claim_auth_verify(const claim_auth_keyed *k, const uint8_t client_key[16],
                       const char *claimant, const Polku__PathClaimAnswered *a)
{
    uint8_t mac[CLAIM_AUTH_BYTES];
    if (a->authenticator.len != CLAIM_AUTH_BYTES)
        return false;
    crypto_auth_hmacsha256_state st = k->st;
    mac_keyed(&st, client_key, claimant, a, mac);
    return sodium_memcmp(mac, a->authenticator.data, CLAIM_AUTH_BYTES) == 0;
}
