/* chain.h — the hash chain of an organisation's event log, and its heads.
 *
 * Why: an organisation's LMDB store is its own to edit, so a log by itself
 * proves nothing. Each event names the hash of the event before it
 * (Envelope.chain_prev), so changing one event changes every hash after
 * it; the head of the chain (seq, hash) is signed with the organisation's
 * Ed25519 key and handed to the broker, which republishes every head to
 * every agent. A rewritten log then no longer matches the heads the others
 * hold (docs/trust.md, "Tamper-evident logs").
 *
 * The chain hash of an event is BLAKE2b-256 (libsodium crypto_generichash)
 * of "polku-chain-v1" and the event's bytes exactly as stored (the encoded
 * Envelope, which holds chain_prev): the stored bytes are the canonical
 * encoding, since nothing re-encodes a stored event (replay sends them
 * byte for byte).
 *
 * The signing key is derived from the organisation's CURVE secret key
 * (BLAKE2b-256 keyed with "polku-sign-v1" as an Ed25519 seed): nothing new
 * to generate, store or back up, and the public half (`polku log key`)
 * goes in the broker's `[org] sign_key`. A head's signature covers
 * "polku-head-v1", the org id, the incarnation, the seq and the hash. */
#ifndef POLKU_CHAIN_H
#define POLKU_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLKU_CHAIN_HASH 32
#define POLKU_CHAIN_SIG 64
#define POLKU_SIGN_PK 32
#define POLKU_SIGN_SK 64

/* A chain head: org's event at seq hashes to hash; sig (all zero: not
 * signed) by org's signing key. */
typedef struct polku_chain_head {
    char org[33];
    uint64_t incarnation;
    uint64_t seq;
    uint8_t hash[POLKU_CHAIN_HASH];
    uint8_t sig[POLKU_CHAIN_SIG];
    bool signed_;
} polku_chain_head;

/* The chain hash of a stored event. */
void polku_chain_hash(const void *event, size_t len,
                      uint8_t out[POLKU_CHAIN_HASH]);

/* The signing key pair of a CURVE secret key (32 raw bytes). */
void polku_sign_keypair(const uint8_t curve_secret[32],
                        uint8_t pk[POLKU_SIGN_PK], uint8_t sk[POLKU_SIGN_SK]);

/* The signing public key of a CURVE secret key in Z85 (40 characters +
 * NUL). POLKU_OK or POLKU_EINVAL (secret_z85 not a Z85 key). */
int polku_sign_public_z85(const char *secret_z85, char out[41]);

/* Signs h (sets sig and signed_). */
void polku_chain_head_sign(polku_chain_head *h,
                           const uint8_t sk[POLKU_SIGN_SK]);

/* True if h is signed and its signature verifies under pk. */
bool polku_chain_head_verify(const polku_chain_head *h,
                             const uint8_t pk[POLKU_SIGN_PK]);

/* A head as stored in an agent's store (meta "head:<org>"): a fixed
 * record of version 1, incarnation, seq, hash, signature (113 bytes). */
#define POLKU_CHAIN_HEAD_RECORD 113
void polku_chain_head_encode(const polku_chain_head *h,
                             uint8_t out[POLKU_CHAIN_HEAD_RECORD]);
/* Decodes a stored head of org: POLKU_OK, or POLKU_EINVAL (wrong size or
 * version, or org not an organisation id) with why filled. */
int polku_chain_head_decode(const char *org, const void *data, size_t len,
                            polku_chain_head *h, char *why, size_t why_len);

/* Lowercase hex of the first n bytes of hash (n <= 32) into out (2n + 1). */
void polku_chain_hex(const uint8_t *hash, size_t n, char *out);

#endif
