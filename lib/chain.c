/* chain.c — chain hashes, signing keys and heads (see chain.h). */
#include "polku/chain.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "polku/codec.h"
#include "polku/error.h"

static const char chain_domain[] = "polku-chain-v1";
static const char sign_domain[] = "polku-sign-v1";
static const char head_domain[] = "polku-head-v1";

void polku_chain_hash(const void *event, size_t len,
                      uint8_t out[POLKU_CHAIN_HASH])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, POLKU_CHAIN_HASH);
    crypto_generichash_update(&st, (const uint8_t *)chain_domain,
                              sizeof chain_domain - 1);
    crypto_generichash_update(&st, event, len);
    crypto_generichash_final(&st, out, POLKU_CHAIN_HASH);
}

void polku_sign_keypair(const uint8_t curve_secret[32],
                        uint8_t pk[POLKU_SIGN_PK], uint8_t sk[POLKU_SIGN_SK])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, curve_secret, 32,
                       (const uint8_t *)sign_domain, sizeof sign_domain - 1);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
}

int polku_sign_public_z85(const char *secret_z85, char out[41])
{
    uint8_t secret[32], pk[POLKU_SIGN_PK], sk[POLKU_SIGN_SK];
    if (!secret_z85 || strlen(secret_z85) != 40 ||
        !zmq_z85_decode(secret, secret_z85))
        return POLKU_EINVAL;
    polku_sign_keypair(secret, pk, sk);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(sk, sizeof sk);
    return zmq_z85_encode(out, pk, sizeof pk) ? POLKU_OK : POLKU_EINVAL;
}

/* What a head's signature covers. */
static size_t head_message(const polku_chain_head *h, uint8_t *m)
{
    size_t n = 0, org_len = strnlen(h->org, sizeof h->org - 1);
    memcpy(m, head_domain, sizeof head_domain - 1);
    n += sizeof head_domain - 1;
    m[n++] = (uint8_t)org_len;
    memcpy(m + n, h->org, org_len);
    n += org_len;
    for (int i = 7; i >= 0; i--)
        m[n++] = (uint8_t)(h->incarnation >> (8 * i));
    for (int i = 7; i >= 0; i--)
        m[n++] = (uint8_t)(h->seq >> (8 * i));
    memcpy(m + n, h->hash, POLKU_CHAIN_HASH);
    return n + POLKU_CHAIN_HASH;
}

void polku_chain_head_sign(polku_chain_head *h, const uint8_t sk[POLKU_SIGN_SK])
{
    uint8_t m[128];
    size_t n = head_message(h, m);
    crypto_sign_detached(h->sig, NULL, m, n, sk);
    h->signed_ = true;
}

bool polku_chain_head_verify(const polku_chain_head *h,
                             const uint8_t pk[POLKU_SIGN_PK])
{
    if (!h->signed_)
        return false;
    uint8_t m[128];
    size_t n = head_message(h, m);
    return crypto_sign_verify_detached(h->sig, m, n, pk) == 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void polku_chain_head_encode(const polku_chain_head *h,
                             uint8_t out[POLKU_CHAIN_HEAD_RECORD])
{
    out[0] = 1;
    put64(out + 1, h->incarnation);
    put64(out + 9, h->seq);
    memcpy(out + 17, h->hash, POLKU_CHAIN_HASH);
    if (h->signed_)
        memcpy(out + 49, h->sig, POLKU_CHAIN_SIG);
    else
        memset(out + 49, 0, POLKU_CHAIN_SIG);
}

int polku_chain_head_decode(const char *org, const void *data, size_t len,
                            polku_chain_head *h, char *why, size_t why_len)
{
    const uint8_t *p = data;
    memset(h, 0, sizeof *h);
    if (!org || !polku_org_id_valid(org)) {
        snprintf(why, why_len, "not an organisation id");
        return POLKU_EINVAL;
    }
    if (len != POLKU_CHAIN_HEAD_RECORD) {
        snprintf(why, why_len, "a stored head is %d bytes, not %zu",
                 POLKU_CHAIN_HEAD_RECORD, len);
        return POLKU_EINVAL;
    }
    if (p[0] != 1) {
        snprintf(why, why_len, "stored head version %u, expected 1",
                 (unsigned)p[0]);
        return POLKU_EINVAL;
    }
    snprintf(h->org, sizeof h->org, "%s", org);
    h->incarnation = get64(p + 1);
    h->seq = get64(p + 9);
    memcpy(h->hash, p + 17, POLKU_CHAIN_HASH);
    memcpy(h->sig, p + 49, POLKU_CHAIN_SIG);
    static const uint8_t zero[POLKU_CHAIN_SIG];
    h->signed_ = memcmp(h->sig, zero, sizeof zero) != 0;
    return POLKU_OK;
}

void polku_chain_hex(const uint8_t *hash, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * n] = '\0';
}
