/* keys_test.c — key files, pseudonym secret and tokens: round trips, files
 * never overwritten and created 0600, bad or mismatched keys refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "polku/error.h"
#include "polku/keys.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/polku-keys-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/file", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    unlink(path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0600), 0); /* as key files must be */
}

static char *read_text(const char *path)
{
    static char buf[1024];
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

static void test_z85_valid(void **state)
{
    polku_keypair kp;
    assert_int_equal(polku_keypair_generate(&kp), POLKU_OK);
    assert_true(polku_z85_key_valid(kp.public_z85));
    assert_true(polku_z85_key_valid(kp.secret_z85));
    assert_true(
        polku_z85_key_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    assert_false(polku_z85_key_valid(NULL));
    assert_false(polku_z85_key_valid(""));
    assert_false(
        polku_z85_key_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf"));
    assert_false(
        polku_z85_key_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf77"));
    /* ',' ' ' '"' and '~' are not in the Z85 alphabet */
    assert_false(
        polku_z85_key_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y,7"));
    assert_false(
        polku_z85_key_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y 7"));
    assert_false(
        polku_z85_key_valid("~q:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
}

static void test_keyfile_round_trip(void **state)
{
    fixture *f = *state;
    polku_keypair kp, back;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keypair_generate(&kp), POLKU_OK);
    assert_int_equal(polku_keyfile_write(f->path, &kp), POLKU_OK);
    assert_int_equal(file_mode(f->path), 0600);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_OK);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_string_equal(back.secret_z85, kp.secret_z85);
    char *text = read_text(f->path);
    assert_non_null(strstr(text, "[curve]\n"));
    assert_non_null(strstr(text, kp.public_z85));
}

static void test_keyfile_never_overwritten(void **state)
{
    fixture *f = *state;
    polku_keypair kp1, kp2, back;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keypair_generate(&kp1), POLKU_OK);
    assert_int_equal(polku_keypair_generate(&kp2), POLKU_OK);
    assert_int_equal(polku_keyfile_write(f->path, &kp1), POLKU_OK);
    assert_int_equal(polku_keyfile_write(f->path, &kp2), POLKU_EEXIST);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_OK);
    assert_string_equal(back.public_z85, kp1.public_z85);
}

static void test_keyfile_write_bad_dir(void **state)
{
    fixture *f = *state;
    polku_keypair kp;
    char path[200];
    snprintf(path, sizeof path, "%s/missing/dir/key", f->dir);
    assert_int_equal(polku_keypair_generate(&kp), POLKU_OK);
    assert_int_equal(polku_keyfile_write(path, &kp), POLKU_EIO);
    strcpy(kp.secret_z85, "short");
    assert_int_equal(polku_keyfile_write(f->path, &kp), POLKU_EINVAL);
    assert_int_equal(access(f->path, F_OK), -1);
}

static void test_keyfile_mismatch(void **state)
{
    fixture *f = *state;
    polku_keypair kp1, kp2, back;
    polku_cfgerr err = {{0}};
    char text[200];
    assert_int_equal(polku_keypair_generate(&kp1), POLKU_OK);
    assert_int_equal(polku_keypair_generate(&kp2), POLKU_OK);
    snprintf(text, sizeof text, "[curve]\npublic = %s\nsecret = %s\n",
             kp1.public_z85, kp2.secret_z85);
    write_text(f->path, text);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, "public"));
    assert_null(strstr(err.msg, kp2.secret_z85));
}

static void test_keyfile_bad_z85(void **state)
{
    fixture *f = *state;
    polku_keypair kp, back;
    polku_cfgerr err = {{0}};
    char text[200];
    assert_int_equal(polku_keypair_generate(&kp), POLKU_OK);

    snprintf(text, sizeof text, "[curve]\npublic = %s\nsecret = abc\n",
             kp.public_z85);
    write_text(f->path, text);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, "secret"));
    assert_null(strstr(err.msg, "abc"));

    kp.public_z85[3] = ',';
    snprintf(text, sizeof text, "[curve]\npublic = %s\nsecret = %s\n",
             kp.public_z85, kp.secret_z85);
    write_text(f->path, text);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, "public"));

    snprintf(text, sizeof text, "[curve]\npublic = %s\n", kp.public_z85);
    write_text(f->path, text);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
}

static void test_keyfile_missing(void **state)
{
    fixture *f = *state;
    polku_keypair back;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ENOTFOUND);
    assert_true(strlen(err.msg) > 0);
}

/* A secret file group or others may read is refused, as ssh does, with
 * the file, its mode and the fix named; 0600 and 0400 are fine. */
static void test_keyfile_too_open(void **state)
{
    fixture *f = *state;
    polku_keypair kp, back;
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_keypair_generate(&kp), POLKU_OK);
    assert_int_equal(polku_keyfile_write(f->path, &kp), POLKU_OK);
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "permissions 0644 are too open"));
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_ECONFIG);
    assert_int_equal(chmod(f->path, 0400), 0);
    assert_int_equal(polku_keyfile_read(f->path, &back, &err), POLKU_OK);
    unlink(f->path);
    uint8_t secret[32];
    assert_int_equal(polku_secret_write(f->path), POLKU_OK);
    assert_int_equal(chmod(f->path, 0604), 0);
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_ECONFIG);
    assert_non_null(strstr(err.msg, "permissions 0604 are too open"));
}

static void test_secret_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t secret[32], expect[32];
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_secret_write(f->path), POLKU_OK);
    assert_int_equal(file_mode(f->path), 0600);
    char *text = read_text(f->path);
    assert_int_equal(strlen(text), 65);
    assert_int_equal(text[64], '\n');
    for (int i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", text[i]));
    assert_int_equal(sodium_hex2bin(expect, 32, text, 64, NULL, NULL, NULL), 0);
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_OK);
    assert_memory_equal(secret, expect, 32);
    assert_int_equal(polku_secret_write(f->path), POLKU_EEXIST);
    assert_string_equal(read_text(f->path), text);
}

static void test_secret_bad(void **state)
{
    fixture *f = *state;
    uint8_t secret[32];
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_ENOTFOUND);
    write_text(f->path, "deadbeef\n");
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_ECONFIG);
    assert_null(strstr(err.msg, "deadbeef"));
    write_text(f->path, "zz3456789abcdef0123456789abcdef0123456789abcdef0"
                        "123456789abcdef\n");
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_ECONFIG);
    write_text(f->path, "  0123456789abcdef0123456789abcdef0123456789abcdef0"
                        "123456789abcdef  \n\n");
    assert_int_equal(polku_secret_read(f->path, secret, &err), POLKU_OK);
    assert_int_equal(secret[0], 0x01);
    assert_int_equal(secret[31], 0xef);
}

static void test_token_create_and_load(void **state)
{
    fixture *f = *state;
    char tok[POLKU_TOKEN_TEXT], again[POLKU_TOKEN_TEXT];
    polku_cfgerr err = {{0}};
    assert_int_equal(polku_token_load(f->path, false, tok, &err),
                     POLKU_ENOTFOUND);
    assert_int_equal(access(f->path, F_OK), -1);
    assert_int_equal(polku_token_load(f->path, true, tok, &err), POLKU_OK);
    assert_int_equal(file_mode(f->path), 0600);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(strspn(tok, "0123456789abcdef"), 64);
    assert_int_equal(polku_token_load(f->path, true, again, &err), POLKU_OK);
    assert_string_equal(tok, again);
    assert_int_equal(polku_token_load(f->path, false, again, &err), POLKU_OK);
    assert_string_equal(tok, again);
}

static void test_token_trim_and_bad(void **state)
{
    fixture *f = *state;
    char tok[POLKU_TOKEN_TEXT];
    polku_cfgerr err = {{0}};
    write_text(f->path, "  s3cret-token \n");
    assert_int_equal(polku_token_load(f->path, false, tok, &err), POLKU_OK);
    assert_string_equal(tok, "s3cret-token");
    write_text(f->path, " \n");
    assert_int_equal(polku_token_load(f->path, true, tok, &err), POLKU_ECONFIG);
    write_text(f->path, "two words\n");
    assert_int_equal(polku_token_load(f->path, false, tok, &err),
                     POLKU_ECONFIG);
    char longtok[80];
    memset(longtok, 'a', 65);
    longtok[65] = '\0';
    write_text(f->path, longtok);
    assert_int_equal(polku_token_load(f->path, false, tok, &err),
                     POLKU_ECONFIG);
}

static void test_token_equal(void **state)
{
    assert_true(polku_token_equal("abc123", "abc123"));
    assert_false(polku_token_equal("abc124", "abc123"));
    assert_false(polku_token_equal("abc12", "abc123"));
    assert_false(polku_token_equal("abc1234", "abc123"));
    assert_false(polku_token_equal("", ""));
    assert_false(polku_token_equal(NULL, "abc"));
    assert_false(polku_token_equal("abc", NULL));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_z85_valid),
        cmocka_unit_test_setup_teardown(test_keyfile_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_never_overwritten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_write_bad_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_bad_z85, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_too_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_create_and_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_trim_and_bad, setup,
                                        teardown),
        cmocka_unit_test(test_token_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
