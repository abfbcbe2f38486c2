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

/* Both keys, or POLKU_EINVAL with nothing left in memory. */
static int decode_pair(const char *public_z85, const char *secret_z85,
                       uint8_t pk[32], uint8_t sk[32])
{
    if (decode_key(public_z85, pk) != POLKU_OK)
        return POLKU_EINVAL;
    if (decode_key(secret_z85, sk) != POLKU_OK)
        return POLKU_EINVAL;
    return POLKU_OK;
}

int polku_seal(const void *plain, size_t len, const char *recipient_public_z85,
               const char *sender_secret_z85, uint8_t **out, size_t *out_len)
{
    assert(out != NULL && out_len != NULL);
    assert(plain != NULL || len == 0);
    *out = NULL;
    *out_len = 0;
    if (sodium_init() < 0)
        return POLKU_ECRYPTO;
    if (len > SIZE_MAX - POLKU_SEAL_OVERHEAD ||
        len > crypto_box_MESSAGEBYTES_MAX)
        return POLKU_EINVAL;

    uint8_t pk[32], sk[32];
    int rc = decode_pair(recipient_public_z85, sender_secret_z85, pk, sk);
    if (rc != POLKU_OK) {
        sodium_memzero(sk, sizeof sk);
        return rc;
    }

    size_t total = len + POLKU_SEAL_OVERHEAD;
    uint8_t *buf = malloc(total);
    if (buf == NULL) {
        sodium_memzero(sk, sizeof sk);
        return POLKU_ENOMEM;
    }
    randombytes_buf(buf, crypto_box_NONCEBYTES);
    /* libsodium wants a non-NULL message pointer even for 0 bytes. */
    static const uint8_t empty[1];
    const uint8_t *m = len > 0 ? plain : empty;
    if (crypto_box_easy(buf + crypto_box_NONCEBYTES, m, len, buf, pk, sk) !=
        0) {
        /* e.g. a public key that is a low-order point */
        sodium_memzero(sk, sizeof sk);
        free(buf);
        return POLKU_ECRYPTO;
    }
    sodium_memzero(sk, sizeof sk);
    *out = buf;
    *out_len = total;
    return POLKU_OK;
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
    if (sodium_init() < 0)
        return POLKU_ECRYPTO;

    uint8_t pk[32], sk[32];
    int rc = decode_pair(sender_public_z85, recipient_secret_z85, pk, sk);
    if (rc != POLKU_OK) {
        sodium_memzero(sk, sizeof sk);
        return rc;
    }

    const uint8_t *nonce = sealed;
    const uint8_t *cipher = nonce + crypto_box_NONCEBYTES;
    size_t plain_len = len - POLKU_SEAL_OVERHEAD;
    uint8_t *buf = malloc(plain_len + 1);
    if (buf == NULL) {
        sodium_memzero(sk, sizeof sk);
        return POLKU_ENOMEM;
    }
    rc = crypto_box_open_easy(buf, cipher, len - crypto_box_NONCEBYTES, nonce,
                              pk, sk);
    sodium_memzero(sk, sizeof sk);
    if (rc != 0) {
        free(buf);
        return POLKU_ECRYPTO;
    }
    buf[plain_len] = '\0';
    *out = buf;
    *out_len = plain_len;
    return POLKU_OK;
}
