/* seal.h — free text sealed from one organisation's agent to another's.
 *
 * Invariant 5: the broker routes metadata it can read and content it
 * cannot. Content is sealed with libsodium crypto_box (X25519 +
 * XSalsa20-Poly1305) between the sender's secret key and the recipient's
 * public key — the same Curve25519 keys CURVE uses, given in Z85. The
 * recipient opens it with its secret key and the sender's public key from
 * the directory, so a successful open also proves who sealed it.
 * Wire form: 24-byte random nonce || ciphertext with 16-byte MAC. */
#ifndef POLKU_SEAL_H
#define POLKU_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define POLKU_SEAL_OVERHEAD 40 /* crypto_box_NONCEBYTES + MACBYTES */

/* The X25519 shared key of two organisations (crypto_box_beforenm).
 * Deriving it is the expensive part of sealing (a scalar multiplication,
 * tens of microseconds); an agent derives it once per peer and keeps it.
 * Sealing with it gives exactly the bytes polku_seal gives. Wipe it with
 * sodium_memzero when done. */
typedef struct polku_seal_key {
    uint8_t k[32];
} polku_seal_key;

/* The shared key between peer (public, Z85) and us (secret, Z85).
 * POLKU_EINVAL (a key that is not Z85 of 32 bytes), POLKU_ECRYPTO (a
 * low-order public key). */
int polku_seal_key_derive(const char *peer_public_z85,
                          const char *own_secret_z85, polku_seal_key *out);

/* polku_seal and polku_unseal with a derived key. */
int polku_seal_with(const polku_seal_key *key, const void *plain, size_t len,
                    uint8_t **out, size_t *out_len);
int polku_unseal_with(const polku_seal_key *key, const void *sealed,
                      size_t len, uint8_t **out, size_t *out_len);

/* Seals len bytes for recipient. *out is malloc'ed (caller frees),
 * *out_len = len + POLKU_SEAL_OVERHEAD. POLKU_OK, POLKU_EINVAL (a key that
 * is not Z85 of 32 bytes), POLKU_ENOMEM, POLKU_ECRYPTO. */
int polku_seal(const void *plain, size_t len, const char *recipient_public_z85,
               const char *sender_secret_z85, uint8_t **out, size_t *out_len);

/* Opens what sender sealed for us. *out is malloc'ed with a NUL after the
 * *out_len bytes (handy for text). POLKU_ECRYPTO when it was not sealed by
 * sender for us or was altered; POLKU_EMALFORMED when too short. */
int polku_unseal(const void *sealed, size_t len, const char *sender_public_z85,
                 const char *recipient_secret_z85, uint8_t **out,
                 size_t *out_len);

#endif
