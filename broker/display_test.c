/* display_test — display pseudonyms: stable, keyed, found again, and
 * never the client key itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "display.h"
#include "polku/hetu.h"

static const uint8_t SECRET_A[32] = {1, 2, 3};
static const uint8_t SECRET_B[32] = {1, 2, 4};
static const uint8_t KEY_1[16] = {0xaa, 0xbb, 0xcc};
static const uint8_t KEY_2[16] = {0xaa, 0xbb, 0xcd};

static void test_the_name_is_keyed_and_stable(void **state)
{
    (void)state;
    char a1[DISPLAY_NAME_TEXT], again[DISPLAY_NAME_TEXT], b1[DISPLAY_NAME_TEXT],
        a2[DISPLAY_NAME_TEXT], hex[POLKU_CLIENT_KEY_HEX];
    display *d = display_new(SECRET_A);
    assert_non_null(d);
    display_name(d, KEY_1, a1);
    display_name_with(SECRET_A, KEY_1, again);
    display_name_with(SECRET_B, KEY_1, b1);
    display_name(d, KEY_2, a2);
    polku_client_key_hex(KEY_1, hex);
    assert_int_equal(strlen(a1), 32);
    assert_string_equal(a1, again);   /* same secret: same name */
    assert_string_not_equal(a1, b1);  /* another secret: another name */
    assert_string_not_equal(a1, a2);  /* another client */
    assert_string_not_equal(a1, hex); /* never the key */
    /* HMAC-SHA-256(secret, "polku-display:" || key), 16 bytes */
    uint8_t msg[14 + 16], mac[32];
    memcpy(msg, "polku-display:", 14);
    memcpy(msg + 14, KEY_1, 16);
    crypto_auth_hmacsha256(mac, msg, sizeof msg, SECRET_A);
    char want[33];
    sodium_bin2hex(want, sizeof want, mac, 16);
    assert_string_equal(a1, want);
    display_free(&d);
    assert_null(d);
    display_free(&d); /* NULL is fine */
}

static void test_no_display_renders_the_key_for_the_link(void **state)
{
    (void)state;
    char name[DISPLAY_NAME_TEXT], hex[POLKU_CLIENT_KEY_HEX];
    display_name(NULL, KEY_1, name);
    polku_client_key_hex(KEY_1, hex);
    assert_string_equal(name, hex);
}

static void test_a_noted_client_is_found_by_its_name(void **state)
{
    (void)state;
    display *d = display_new(SECRET_A);
    char name[DISPLAY_NAME_TEXT], hex[POLKU_CLIENT_KEY_HEX];
    uint8_t got[16];
    display_name(d, KEY_1, name);
    assert_false(display_lookup(d, name, got)); /* not seen yet */
    assert_int_equal(display_note(d, KEY_1), 0);
    assert_int_equal(display_note(d, KEY_1), 0); /* once */
    assert_int_equal(display_count(d), 1);
    assert_true(display_lookup(d, name, got));
    assert_memory_equal(got, KEY_1, 16);
    polku_client_key_hex(KEY_1, hex);
    assert_false(display_lookup(d, hex, got)); /* the key is no name */
    assert_false(display_lookup(d, "not hex", got));
    assert_false(display_lookup(d, "", got));
    display_free(&d);
}

/* Enough clients that both tables grow many times: each is found by its
 * name (the keyed HMAC state reused gives the one-shot HMAC's name), and
 * noting one again adds nothing. */
static void test_many_clients_are_each_found_by_name(void **state)
{
    (void)state;
    enum { N = 5000 };
    display *d = display_new(SECRET_B);
    assert_non_null(d);
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < N; i++) {
            uint8_t key[16] = {0x5a};
            memcpy(key + 4, &i, sizeof i);
            assert_int_equal(display_note(d, key), 0);
        }
    assert_int_equal(display_count(d), N);
    for (uint32_t i = 0; i < N; i += 7) {
        uint8_t key[16] = {0x5a}, got[16];
        char name[DISPLAY_NAME_TEXT], want[DISPLAY_NAME_TEXT];
        memcpy(key + 4, &i, sizeof i);
        display_name(d, key, name);
        display_name_with(SECRET_B, key, want);
        assert_string_equal(name, want);
        assert_true(display_lookup(d, name, got));
        assert_memory_equal(got, key, 16);
    }
    display_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_name_is_keyed_and_stable),
        cmocka_unit_test(test_no_display_renders_the_key_for_the_link),
        cmocka_unit_test(test_a_noted_client_is_found_by_its_name),
        cmocka_unit_test(test_many_clients_are_each_found_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
