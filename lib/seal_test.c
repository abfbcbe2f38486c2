/* seal_test.c — sealed content opens only for its recipient, only from its
 * sender, only unaltered; malformed input and bad keys are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "polku/error.h"
#include "polku/seal.h"

typedef struct org {
    char pub[41];
    char sec[41];
} org;

/* alice seals for bob; carol is another organisation; mallory an outsider. */
typedef struct orgs {
    org alice, bob, carol, mallory;
} orgs;

static void make_org(org *o)
{
    assert_int_equal(zmq_curve_keypair(o->pub, o->sec), 0);
    assert_int_equal(strlen(o->pub), 40);
}

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    orgs *k = calloc(1, sizeof *k);
    if (k == NULL)
        return -1;
    make_org(&k->alice);
    make_org(&k->bob);
    make_org(&k->carol);
    make_org(&k->mallory);
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static const char note[] = "Asiakas tarvitsee tukea tyokyvyn arviointiin.";

static uint8_t *seal_or_fail(const org *from, const org *to, const void *m,
                             size_t len, size_t *out_len)
{
    uint8_t *sealed = NULL;
    assert_int_equal(polku_seal(m, len, to->pub, from->sec, &sealed, out_len),
                     POLKU_OK);
    assert_non_null(sealed);
    assert_int_equal(*out_len, len + POLKU_SEAL_OVERHEAD);
    return sealed;
}

/* Opens and expects rc; on failure the outputs must be cleared. */
static void open_expect(const void *sealed, size_t len, const org *from,
                        const org *to, int want)
{
    uint8_t *plain = (uint8_t *)&plain; /* not NULL: must be reset */
    size_t plain_len = 12345;
    int rc = polku_unseal(sealed, len, from->pub, to->sec, &plain, &plain_len);
    assert_int_equal(rc, want);
    if (rc != POLKU_OK) {
        assert_null(plain);
        assert_int_equal(plain_len, 0);
    }
    free(rc == POLKU_OK ? plain : NULL);
}

static void test_round_trip(void **state)
{
    orgs *k = *state;
    size_t sizes[] = {1, sizeof note - 1, 1000, 100000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint8_t *m = malloc(sizes[s]);
        assert_non_null(m);
        if (s == 1)
            memcpy(m, note, sizes[s]);
        else
            randombytes_buf(m, sizes[s]);

        size_t len;
        uint8_t *sealed = seal_or_fail(&k->alice, &k->bob, m, sizes[s], &len);
        if (sizes[s] >= 16) /* the broker sees no plaintext */
            assert_null(memmem(sealed, len, m, 16));

        uint8_t *plain = NULL;
        size_t plain_len = 0;
        assert_int_equal(polku_unseal(sealed, len, k->alice.pub, k->bob.sec,
                                      &plain, &plain_len),
                         POLKU_OK);
        assert_int_equal(plain_len, sizes[s]);
        assert_memory_equal(plain, m, sizes[s]);
        assert_int_equal(plain[plain_len], '\0'); /* NUL after the bytes */
        if (s == 1)
            assert_string_equal((char *)plain, note);
        free(plain);
        free(sealed);
        free(m);
    }
}

static void test_random_nonce(void **state)
{
    orgs *k = *state;
    size_t l1, l2;
    uint8_t *s1 = seal_or_fail(&k->alice, &k->bob, note, sizeof note, &l1);
    uint8_t *s2 = seal_or_fail(&k->alice, &k->bob, note, sizeof note, &l2);
    assert_int_equal(l1, l2);
    assert_memory_not_equal(s1, s2, crypto_box_NONCEBYTES);
    assert_memory_not_equal(s1 + crypto_box_NONCEBYTES,
                            s2 + crypto_box_NONCEBYTES,
                            l1 - crypto_box_NONCEBYTES);
    free(s1);
    free(s2);
}

static void test_wrong_recipient(void **state)
{
    orgs *k = *state;
    size_t len;
    uint8_t *sealed = seal_or_fail(&k->alice, &k->bob, note, sizeof note, &len);
    open_expect(sealed, len, &k->alice, &k->bob, POLKU_OK);
    open_expect(sealed, len, &k->alice, &k->carol, POLKU_ECRYPTO);
    open_expect(sealed, len, &k->alice, &k->alice, POLKU_ECRYPTO);
    free(sealed);
}

/* mallory seals for bob and claims to be alice: bob, opening with alice's
 * public key from the directory, refuses it. */
static void test_sender_is_verified(void **state)
{
    orgs *k = *state;
    size_t len;
    uint8_t *forged =
        seal_or_fail(&k->mallory, &k->bob, note, sizeof note, &len);
    open_expect(forged, len, &k->alice, &k->bob, POLKU_ECRYPTO);
    open_expect(forged, len, &k->carol, &k->bob, POLKU_ECRYPTO);
    open_expect(forged, len, &k->mallory, &k->bob, POLKU_OK); /* control */
    free(forged);
}

static void test_any_flipped_bit_fails(void **state)
{
    orgs *k = *state;
    size_t len;
    uint8_t *sealed = seal_or_fail(&k->alice, &k->bob, "lausunto", 8, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            sealed[i] ^= (uint8_t)(1u << bit);
            open_expect(sealed, len, &k->alice, &k->bob, POLKU_ECRYPTO);
            sealed[i] ^= (uint8_t)(1u << bit);
        }
    }
    open_expect(sealed, len, &k->alice, &k->bob, POLKU_OK);
    /* Cut or extended by a byte is altered too. */
    open_expect(sealed, len - 1, &k->alice, &k->bob, POLKU_ECRYPTO);
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, sealed, len);
    longer[len] = 0;
    open_expect(longer, len + 1, &k->alice, &k->bob, POLKU_ECRYPTO);
    free(longer);
    free(sealed);
}

static void test_too_short(void **state)
{
    orgs *k = *state;
    uint8_t junk[POLKU_SEAL_OVERHEAD];
    randombytes_buf(junk, sizeof junk);
    for (size_t n = 0; n < POLKU_SEAL_OVERHEAD; n++)
        open_expect(junk, n, &k->alice, &k->bob, POLKU_EMALFORMED);
    open_expect(NULL, 0, &k->alice, &k->bob, POLKU_EMALFORMED);
    /* Exactly the overhead is well-formed (empty content) but not sealed. */
    open_expect(junk, sizeof junk, &k->alice, &k->bob, POLKU_ECRYPTO);
}

static void test_empty_plaintext(void **state)
{
    orgs *k = *state;
    const void *inputs[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *sealed = seal_or_fail(&k->alice, &k->bob, inputs[i], 0, &len);
        assert_int_equal(len, POLKU_SEAL_OVERHEAD);
        uint8_t *plain = NULL;
        size_t plain_len = 99;
        assert_int_equal(polku_unseal(sealed, len, k->alice.pub, k->bob.sec,
                                      &plain, &plain_len),
                         POLKU_OK);
        assert_non_null(plain);
        assert_int_equal(plain_len, 0);
        assert_int_equal(plain[0], '\0');
        free(plain);
        open_expect(sealed, len, &k->alice, &k->carol, POLKU_ECRYPTO);
        free(sealed);
    }
}

static void test_bad_z85(void **state)
{
    orgs *k = *state;
    char long41[42], bad_char[4][41];
    snprintf(long41, sizeof long41, "%sx", k->bob.pub);
    const char bads[] = {' ', '"', '~', (char)0x80};
    for (int i = 0; i < 4; i++) {
        memcpy(bad_char[i], k->bob.pub, 41);
        bad_char[i][17] = bads[i];
    }
    const char *keys[] = {
        NULL,
        "",
        "0123456789",
        long41,
        long41 + 2, /* 39 characters */
        bad_char[0],
        bad_char[1],
        bad_char[2],
        bad_char[3],
        "########################################", /* > 2^32 per group */
    };

    size_t len;
    uint8_t *good = seal_or_fail(&k->alice, &k->bob, note, sizeof note, &len);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint8_t *out = (uint8_t *)&out;
        size_t out_len = 7;
        /* each of the four key arguments in turn */
        assert_int_equal(polku_seal(note, sizeof note, keys[i], k->alice.sec,
                                    &out, &out_len),
                         POLKU_EINVAL);
        assert_null(out);
        assert_int_equal(out_len, 0);
        assert_int_equal(
            polku_seal(note, sizeof note, k->bob.pub, keys[i], &out, &out_len),
            POLKU_EINVAL);
        assert_null(out);
        assert_int_equal(
            polku_unseal(good, len, keys[i], k->bob.sec, &out, &out_len),
            POLKU_EINVAL);
        assert_null(out);
        assert_int_equal(
            polku_unseal(good, len, k->alice.pub, keys[i], &out, &out_len),
            POLKU_EINVAL);
        assert_null(out);
    }
    free(good);
}

/* An all-zero public key is a low-order point: no shared secret. */
static void test_degenerate_public_key(void **state)
{
    orgs *k = *state;
    char zero_pub[41];
    uint8_t zeros[32] = {0};
    assert_non_null(zmq_z85_encode(zero_pub, zeros, sizeof zeros));
    uint8_t *out = NULL;
    size_t out_len;
    assert_int_equal(
        polku_seal(note, sizeof note, zero_pub, k->alice.sec, &out, &out_len),
        POLKU_ECRYPTO);
    assert_null(out);
}

/* A derived key seals the same way both sides: bob's key for alice opens
 * what alice sealed with hers for bob, and the one-shot calls interoperate
 * with the derived-key calls; a key derived for carol opens nothing. */
static void test_derived_key(void **state)
{
    orgs *k = *state;
    polku_seal_key a_to_b, b_from_a, c_from_a;
    assert_int_equal(polku_seal_key_derive(k->bob.pub, k->alice.sec, &a_to_b),
                     POLKU_OK);
    assert_int_equal(
        polku_seal_key_derive(k->alice.pub, k->bob.sec, &b_from_a), POLKU_OK);
    assert_int_equal(
        polku_seal_key_derive(k->alice.pub, k->carol.sec, &c_from_a),
        POLKU_OK);
    assert_memory_equal(a_to_b.k, b_from_a.k, sizeof a_to_b.k);
    assert_memory_not_equal(a_to_b.k, c_from_a.k, sizeof a_to_b.k);

    uint8_t *sealed = NULL, *plain = NULL;
    size_t len = 0, plain_len = 0;
    assert_int_equal(polku_seal_with(&a_to_b, note, sizeof note, &sealed, &len),
                     POLKU_OK);
    assert_int_equal(len, sizeof note + POLKU_SEAL_OVERHEAD);
    assert_null(memmem(sealed, len, note, 16));
    open_expect(sealed, len, &k->alice, &k->bob, POLKU_OK);  /* one-shot */
    open_expect(sealed, len, &k->alice, &k->carol, POLKU_ECRYPTO);
    assert_int_equal(polku_unseal_with(&c_from_a, sealed, len, &plain,
                                       &plain_len),
                     POLKU_ECRYPTO);
    assert_null(plain);
    free(sealed);

    sealed = seal_or_fail(&k->alice, &k->bob, note, sizeof note, &len);
    assert_int_equal(
        polku_unseal_with(&b_from_a, sealed, len, &plain, &plain_len),
        POLKU_OK);
    assert_int_equal(plain_len, sizeof note);
    assert_string_equal((char *)plain, note);
    free(plain);
    free(sealed);

    char zero_pub[41];
    uint8_t zeros[32] = {0};
    polku_seal_key bad;
    assert_non_null(zmq_z85_encode(zero_pub, zeros, sizeof zeros));
    assert_int_equal(polku_seal_key_derive(zero_pub, k->alice.sec, &bad),
                     POLKU_ECRYPTO);
    assert_int_equal(polku_seal_key_derive("short", k->alice.sec, &bad),
                     POLKU_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_random_nonce),
        cmocka_unit_test(test_wrong_recipient),
        cmocka_unit_test(test_sender_is_verified),
        cmocka_unit_test(test_any_flipped_bit_fails),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_empty_plaintext),
        cmocka_unit_test(test_bad_z85),
        cmocka_unit_test(test_degenerate_public_key),
        cmocka_unit_test(test_derived_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
