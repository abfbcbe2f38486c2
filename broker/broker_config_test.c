/* broker_config_test — an [org] section during a key rotation.
 *
 * previous_public_key and previous_key_until come together; the old key
 * differs from public_key and from every other organisation's keys; the
 * end time is an RFC 3339 time. A connection offering the old key belongs
 * to the organisation until then, not after. Errors name FILE:LINE and the
 * key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zmq.h>

#include "broker_config.h"
#include "polku/error.h"

typedef struct fixture {
    char dir[64], path[128], key[128], secret[128];
    polku_keypair kela, kela_old, typ;
    broker_config cfg;
    polku_cfgerr err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/polku-broker-config-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key, sizeof f->key, "%s/broker.key", f->dir);
    snprintf(f->path, sizeof f->path, "%s/broker.ini", f->dir);
    snprintf(f->secret, sizeof f->secret, "%s/display.secret", f->dir);
    FILE *sf = fopen(f->secret, "w"); /* the display secret: 32 bytes, hex */
    assert_non_null(sf);
    fprintf(sf, "%s\n",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(fclose(sf), 0);
    assert_int_equal(chmod(f->secret, 0600), 0);
    polku_keypair kp;
    assert_int_equal(polku_keypair_generate(&kp), 0);
    assert_int_equal(polku_keyfile_write(f->key, &kp), 0);
    assert_int_equal(polku_keypair_generate(&f->kela), 0);
    assert_int_equal(polku_keypair_generate(&f->kela_old), 0);
    assert_int_equal(polku_keypair_generate(&f->typ), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    broker_config_fini(&f->cfg);
    unlink(f->path);
    unlink(f->key);
    unlink(f->secret);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Lines 1-7: [broker] and [org typ]; kela's section from line 8. */
static int load(fixture *f, const char *kela)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "[broker]\n"                      /* 1 */
            "listen = tcp://127.0.0.1:5570\n" /* 2 */
            "key_file = %s\n"                 /* 3 */
            "display_secret_file = %s\n"      /* 4 */
            "[org typ]\n"                     /* 5 */
            "public_key = %s\n"               /* 6 */
            "services = joint-service\n"      /* 7 */
            "[org kela]\n"                    /* 8 */
            "%s",
            f->key, f->secret, f->typ.public_z85, kela);
    assert_int_equal(fclose(fp), 0);
    broker_config_fini(&f->cfg);
    memset(&f->err, 0, sizeof f->err);
    return broker_config_load(f->path, &f->cfg, &f->err);
}

static void fails_at(fixture *f, const char *kela, int line, const char *key,
                     const char *fragment)
{
    assert_int_equal(load(f, kela), POLKU_ECONFIG);
    char want[256];
    snprintf(want, sizeof want, "%s:%d: [org kela] %s: ", f->path, line, key);
    if (strncmp(f->err.msg, want, strlen(want)) != 0 ||
        !strstr(f->err.msg, fragment))
        fail_msg("message '%s': expected '%s' ... '%s'", f->err.msg, want,
                 fragment);
}

static void rotation(void **state)
{
    fixture *f = *state;
    char text[512];
    snprintf(text, sizeof text,
             "public_key = %s\n"                            /* 9 */
             "previous_public_key = %s\n"                   /* 10 */
             "previous_key_until = 2026-12-31T00:00:00Z\n", /* 11 */
             f->kela.public_z85, f->kela_old.public_z85);
    assert_int_equal(load(f, text), POLKU_OK);
    const broker_org *kela = broker_config_org(&f->cfg, "kela");
    assert_non_null(kela);
    assert_true(kela->has_previous);
    assert_string_equal(kela->previous_z85, f->kela_old.public_z85);
    uint8_t now_key[32], old_key[32], typ_key[32];
    zmq_z85_decode(now_key, f->kela.public_z85);
    zmq_z85_decode(old_key, f->kela_old.public_z85);
    zmq_z85_decode(typ_key, f->typ.public_z85);
    uint64_t before = kela->previous_until_ms - 1;
    bool previous = true;
    assert_ptr_equal(
        broker_config_org_for_login(&f->cfg, now_key, before, &previous), kela);
    assert_false(previous);
    assert_ptr_equal(
        broker_config_org_for_login(&f->cfg, old_key, before, &previous), kela);
    assert_true(previous);
    assert_null(broker_config_org_for_login(
        &f->cfg, old_key, kela->previous_until_ms, &previous));
    assert_string_equal(
        broker_config_org_for_login(&f->cfg, typ_key, before, &previous)->id,
        "typ");
}

static void rotation_refused(void **state)
{
    fixture *f = *state;
    char text[512];
    snprintf(text, sizeof text, "public_key = %s\nprevious_public_key = %s\n",
             f->kela.public_z85, f->kela_old.public_z85);
    fails_at(f, text, 10, "previous_public_key", "both previous_public_key");
    snprintf(text, sizeof text,
             "public_key = %s\nprevious_public_key = %s\n"
             "previous_key_until = 2026-12-31T00:00:00Z\n",
             f->kela.public_z85, f->kela.public_z85);
    fails_at(f, text, 10, "previous_public_key", "the same as public_key");
    snprintf(text, sizeof text,
             "public_key = %s\nprevious_public_key = %s\n"
             "previous_key_until = 2026-12-31T00:00:00Z\n",
             f->kela.public_z85, f->typ.public_z85);
    fails_at(f, text, 10, "previous_public_key", "another organisation");
    snprintf(text, sizeof text,
             "public_key = %s\nprevious_public_key = %s\n"
             "previous_key_until = next week\n",
             f->kela.public_z85, f->kela_old.public_z85);
    fails_at(f, text, 11, "previous_key_until", "2026-12-31T00:00:00Z");
    snprintf(text, sizeof text,
             "public_key = %s\nprevious_public_key = not-a-key\n"
             "previous_key_until = 2026-12-31T00:00:00Z\n",
             f->kela.public_z85);
    fails_at(f, text, 10, "previous_public_key", "Z85");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
