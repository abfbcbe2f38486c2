/* seal.c — end-to-end sealing of free text between two organisations.
 *
 * Referral reasons and handover notes pass through the broker, which must
 * not be able to read them (invariant 5). The sending agent seals them for
 * the receiving organisation with crypto_box and the Curve25519 keys it
 * already has for CURVE; only the receiver can open them, and opening
 * proves which organisation sealed them. */
#include "polku/seal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "polku/error.h"
#include "polku/random.h"

#define Z85_KEY_CHARS 40

_Static_assert(POLKU_SEAL_OVERHEAD ==
                   crypto_box_NONCEBYTES + crypto_box_MACBYTES,
               "seal.h overhead must match libsodium");
_Static_assert(crypto_box_PUBLICKEYBYTES == 32 &&
                   crypto_box_SECRETKEYBYTES == 32,
               "Curve25519 keys are 32 bytes, as CURVE's");

/* Decodes a Z85 key of exactly 40 characters into 32 bytes. */
static int decode_key(const char *z85, uint8_t out[32])
{
    if (z85 == NULL || strnlen(z85, Z85_KEY_CHARS + 1) != Z85_KEY_CHARS)
        return POLKU_EINVAL;
    if (zmq_z85_decode(out, z85) == NULL) {
        sodium_memzero(out, 32);
        return POLKU_EINVAL;
    }
    return POLKU_OK;
}

int polku_seal_key_derive(const char *peer_public_z85,
                          const char *own_secret_z85, polku_seal_key *out)
{
    assert(out != NULL);
    sodium_memzero(out, sizeof *out);
    if (sodium_init() < 0)
        return POLKU_ECRYPTO;
    uint8_t pk[32], sk[32];
    int rc = decode_key(peer_public_z85, pk);
    if (rc == POLKU_OK)
        rc = decode_key(own_secret_z85, sk);
    if (rc == POLKU_OK && crypto_box_beforenm(out->k, pk, sk) != 0)
        rc = POLKU_ECRYPTO; /* e.g. a public key that is a low-order point */
    sodium_memzero(sk, sizeof sk);
    if (rc != POLKU_OK)
        sodium_memzero(out, sizeof *out);
    return rc;
}

int polku_seal_with(const polku_seal_key *key, const void *plain, size_t len,
                    uint8_t **out, size_t *out_len)
{
    assert(key != NULL && out != NULL && out_len != NULL);
    assert(plain != NULL || len == 0);
    *out = NULL;
    *out_len = 0;
    if (len > SIZE_MAX - POLKU_SEAL_OVERHEAD ||
        len > crypto_box_MESSAGEBYTES_MAX)
        return POLKU_EINVAL;
    size_t total = len + POLKU_SEAL_OVERHEAD;
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return POLKU_ENOMEM;
    polku_random_bytes(buf, crypto_box_NONCEBYTES);
    /* libsodium wants a non-NULL message pointer even for 0 bytes. */
    static const uint8_t empty[1];
    const uint8_t *m = len > 0 ? plain : empty;
    if (crypto_box_easy_afternm(buf + crypto_box_NONCEBYTES, m, len, buf,
                                key->k) != 0) {
        free(buf);
        return POLKU_ECRYPTO;
    }
    *out = buf;
    *out_len = total;
    return POLKU_OK;
}

int polku_unseal_with(const polku_seal_key *key, const void *sealed,
                      size_t len, uint8_t **out, size_t *out_len)
{
    assert(key != NULL && out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    if (sealed == NULL || len < POLKU_SEAL_OVERHEAD)
        return POLKU_EMALFORMED;
    const uint8_t *nonce = sealed;
    const uint8_t *cipher = nonce + crypto_box_NONCEBYTES;
    size_t plain_len = len - POLKU_SEAL_OVERHEAD;
    uint8_t *buf = malloc(plain_len + 1);
    if (buf == NULL)
        return POLKU_ENOMEM;
    if (crypto_box_open_easy_afternm(buf, cipher, len - crypto_box_NONCEBYTES,
                                     nonce, key->k) != 0) {
        free(buf);
        return POLKU_ECRYPTO;
    }
    buf[plain_len] = '\0';
    *out = buf;
    *out_len = plain_len;
    return POLKU_OK;
}

int polku_seal(const void *plain, size_t len, const char *recipient_public_z85,
               const char *sender_secret_z85, uint8_t **out, size_t *out_len)
{
    assert(out != NULL && out_len != NULL);
    assert(plain != NULL || len == 0);
    *out = NULL;
    *out_len = 0;
    polku_seal_key key;
    int rc = polku_seal_key_derive(recipient_public_z85, sender_secret_z85,
                                   &key);
    if (rc == POLKU_OK)
        rc = polku_seal_with(&key, plain, len, out, out_len);
    sodium_memzero(&key, sizeof key);
    return rc;
}

int polku_unseal(const void *sealed, size_t len, const char *sender_public_z85,
                 const char *recipient_secret_z85, uint8_t **out,
                 size_t *out_len)
{
    assert(out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    if (sealed == NULL || len < POLKU_SEAL_OVERHEAD)
        return POLKU_EMALFORMED;
    polku_seal_key key;
    int rc = polku_seal_key_derive(sender_public_z85, recipient_secret_z85,
                                   &key);
    if (rc == POLKU_OK)
        rc = polku_unseal_with(&key, sealed, len, out, out_len);
    sodium_memzero(&key, sizeof key);
    return rc;
}
