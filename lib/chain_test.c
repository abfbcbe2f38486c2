/* chain_test.c — chain hashes change with any byte, heads verify only
 * unaltered and under their owner's key, stored heads round-trip and
 * malformed ones are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "polku/chain.h"
#include "polku/error.h"

static void test_hash_changes_with_any_byte(void **state)
{
    (void)state;
    uint8_t ev[40], h1[32], h2[32];
    for (size_t i = 0; i < sizeof ev; i++)
        ev[i] = (uint8_t)i;
    polku_chain_hash(ev, sizeof ev, h1);
    polku_chain_hash(ev, sizeof ev, h2);
    assert_memory_equal(h1, h2, 32);
    for (size_t i = 0; i < sizeof ev; i++) {
        ev[i] ^= 1;
        polku_chain_hash(ev, sizeof ev, h2);
        assert_memory_not_equal(h1, h2, 32);
        ev[i] ^= 1;
    }
}

static void test_sign_and_verify(void **state)
{
    (void)state;
    char pub[41], sec[41], spub[41];
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    uint8_t secret[32], pk[32], sk[64], pk2[32], sk2[64];
    assert_non_null(zmq_z85_decode(secret, sec));
    polku_sign_keypair(secret, pk, sk);
    polku_sign_keypair(secret, pk2, sk2); /* deterministic */
    assert_memory_equal(pk, pk2, 32);
    assert_int_equal(polku_sign_public_z85(sec, spub), POLKU_OK);
    uint8_t decoded[32];
    assert_non_null(zmq_z85_decode(decoded, spub));
    assert_memory_equal(decoded, pk, 32);
    assert_int_equal(polku_sign_public_z85("short", spub), POLKU_EINVAL);

    polku_chain_head h = {.org = "kela", .incarnation = 7, .seq = 42};
    memset(h.hash, 0xab, sizeof h.hash);
    assert_false(polku_chain_head_verify(&h, pk)); /* not signed */
    polku_chain_head_sign(&h, sk);
    assert_true(polku_chain_head_verify(&h, pk));
    polku_chain_head t = h;
    t.seq = 43;
    assert_false(polku_chain_head_verify(&t, pk));
    t = h;
    t.hash[5] ^= 1;
    assert_false(polku_chain_head_verify(&t, pk));
    t = h;
    snprintf(t.org, sizeof t.org, "typ");
    assert_false(polku_chain_head_verify(&t, pk));
    t = h;
    t.incarnation = 8;
    assert_false(polku_chain_head_verify(&t, pk));
    /* another organisation's key */
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    assert_non_null(zmq_z85_decode(secret, sec));
    polku_sign_keypair(secret, pk2, sk2);
    assert_false(polku_chain_head_verify(&h, pk2));
}

static void test_record_round_trip(void **state)
{
    (void)state;
    uint8_t rec[POLKU_CHAIN_HEAD_RECORD];
    polku_chain_head h = {.org = "kela", .incarnation = 1, .seq = 9};
    memset(h.hash, 0x11, sizeof h.hash);
    memset(h.sig, 0x22, sizeof h.sig);
    h.signed_ = true;
    polku_chain_head_encode(&h, rec);
    polku_chain_head d;
    char why[96];
    assert_int_equal(
        polku_chain_head_decode("kela", rec, sizeof rec, &d, why, sizeof why),
        POLKU_OK);
    assert_int_equal(d.seq, 9);
    assert_int_equal(d.incarnation, 1);
    assert_true(d.signed_);
    assert_memory_equal(d.hash, h.hash, 32);
    assert_int_equal(
        polku_chain_head_decode("kela", rec, 10, &d, why, sizeof why),
        POLKU_EINVAL);
    assert_non_null(strstr(why, "113"));
    rec[0] = 2;
    assert_int_equal(
        polku_chain_head_decode("kela", rec, sizeof rec, &d, why, sizeof why),
        POLKU_EINVAL);
    assert_non_null(strstr(why, "version"));
    rec[0] = 1;
    assert_int_equal(
        polku_chain_head_decode("Kela!", rec, sizeof rec, &d, why, sizeof why),
        POLKU_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_changes_with_any_byte),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_record_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
