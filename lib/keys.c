/* keys.c — the files that hold an organisation's secrets: its CURVE key
 * pair, the region's pseudonym secret and the local API token. They are
 * created once (O_EXCL, mode 0600, never overwritten) and validated on every
 * read, so a broken or mismatched key is reported at start, not at the first
 * failed handshake. Secret values never appear in error messages. */
#include "polku/keys.h"

#include "polku/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define Z85_KEY_CHARS 40
#define SECRET_BYTES 32
#define FILE_MAX 4096 /* secret and token files are tiny */

static const char z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";

static void err_set(polku_cfgerr *err, const char *fmt, const char *path,
                    const char *detail)
{
    if (err != NULL)
        snprintf(err->msg, sizeof err->msg, fmt, path, detail);
}

/* Creates path with O_EXCL and mode 0600 and writes data. On failure the
 * partial file is removed and errno tells why. */
static int write_new_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? POLKU_EEXIST : POLKU_EIO;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return POLKU_OK;
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    errno = saved;
    return POLKU_EIO;
}

/* Reads a small file into buf (NUL-terminated) with surrounding whitespace
 * removed. POLKU_ENOTFOUND (cannot open), POLKU_EIO, POLKU_ETOOLARGE. */
static int read_trimmed(const char *path, char *buf, size_t cap,
                        polku_cfgerr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return POLKU_ENOTFOUND;
    }
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap) {
            close(fd);
            err_set(err, "%s: %s", path, "file is too large");
            return POLKU_ETOOLARGE;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(err, "%s: cannot read: %s", path, strerror(errno));
            close(fd);
            return POLKU_EIO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", buf[start]) != NULL)
        start++;
    while (len > start && strchr(" \t\r\n", buf[len - 1]) != NULL)
        len--;
    memmove(buf, buf + start, len - start);
    buf[len - start] = '\0';
    return POLKU_OK;
}

/* A file holding a secret must be the owner's alone, as ssh demands of
 * its private keys: one that group or others may read or write is refused
 * with its mode and the fix. A file that cannot be stat'ed is left to the
 * open that follows (which says why). POLKU_OK or POLKU_ECONFIG. */
static int check_private(const char *path, const char *what, polku_cfgerr *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || (st.st_mode & 077) == 0)
        return POLKU_OK;
    if (err != NULL)
        snprintf(err->msg, sizeof err->msg,
                 "%s: permissions %04o are too open: %s must not be "
                 "accessible by group or others (chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 07777), what, path);
    return POLKU_ECONFIG;
}

int polku_keypair_generate(polku_keypair *kp)
{
    if (zmq_curve_keypair(kp->public_z85, kp->secret_z85) != 0)
        return POLKU_ECRYPTO;
    return POLKU_OK;
}

bool polku_z85_key_valid(const char *text)
{
    if (text == NULL || strlen(text) != Z85_KEY_CHARS)
        return false;
    for (size_t i = 0; i < Z85_KEY_CHARS; i++) {
        if (strchr(z85_alphabet, text[i]) == NULL)
            return false;
    }
    uint8_t raw[32];
    bool ok = zmq_z85_decode(raw, text) != NULL;
    sodium_memzero(raw, sizeof raw);
    return ok;
}

int polku_keyfile_write(const char *path, const polku_keypair *kp)
{
    if (!polku_z85_key_valid(kp->public_z85) ||
        !polku_z85_key_valid(kp->secret_z85))
        return POLKU_EINVAL;
    char text[160];
    int n = snprintf(text, sizeof text, "[curve]\npublic = %s\nsecret = %s\n",
                     kp->public_z85, kp->secret_z85);
    int rc = write_new_file(path, text, (size_t)n);
    int saved = errno;
    sodium_memzero(text, sizeof text);
    errno = saved;
    return rc;
}

/* Reads one Z85 key of [curve] into out. */
static int keyfile_key(const polku_ini *ini, const char *key, char *out,
                       polku_cfgerr *err)
{
    const char *value = NULL;
    int rc = polku_ini_str(ini, "curve", key, NULL, &value, err);
    if (rc != POLKU_OK)
        return rc;
    if (!polku_z85_key_valid(value))
        return polku_cfgerr_set(err, ini, polku_ini_find(ini, "curve", key),
                                "curve", key,
                                "expected a Z85 key of 40 characters");
    memcpy(out, value, POLKU_Z85_KEY);
    return POLKU_OK;
}

int polku_keyfile_read(const char *path, polku_keypair *kp, polku_cfgerr *err)
{
    static const char *const known[] = {"public", "secret", NULL};
    polku_ini *ini = NULL;
    int rc = check_private(path, "a secret key file", err);
    if (rc != POLKU_OK)
        return rc;
    rc = polku_ini_load(path, &ini, err);
    if (rc != POLKU_OK)
        return rc;
    rc = polku_ini_check_keys(ini, "curve", known, err);
    if (rc == POLKU_OK)
        rc = keyfile_key(ini, "public", kp->public_z85, err);
    if (rc == POLKU_OK)
        rc = keyfile_key(ini, "secret", kp->secret_z85, err);
    if (rc == POLKU_OK) {
        char derived[POLKU_Z85_KEY];
        if (zmq_curve_public(derived, kp->secret_z85) != 0 ||
            strcmp(derived, kp->public_z85) != 0)
            rc = polku_cfgerr_set(
                err, ini, polku_ini_find(ini, "curve", "public"), "curve",
                "public", "does not belong to the secret key");
    }
    polku_ini_free(&ini);
    if (rc != POLKU_OK)
        sodium_memzero(kp, sizeof *kp);
    return rc;
}

/* 32 random bytes as 64 lowercase hex characters. */
static int random_hex(char out[2 * SECRET_BYTES + 1])
{
    if (sodium_init() < 0)
        return POLKU_ECRYPTO;
    uint8_t raw[SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, 2 * SECRET_BYTES + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    return POLKU_OK;
}

int polku_secret_write(const char *path)
{
    char text[2 * SECRET_BYTES + 2];
    int rc = random_hex(text);
    if (rc != POLKU_OK)
        return rc;
    text[2 * SECRET_BYTES] = '\n';
    text[2 * SECRET_BYTES + 1] = '\0';
    rc = write_new_file(path, text, 2 * SECRET_BYTES + 1);
    int saved = errno;
    sodium_memzero(text, sizeof text);
    errno = saved;
    return rc;
}

int polku_secret_read(const char *path, uint8_t out[32], polku_cfgerr *err)
{
    char text[FILE_MAX];
    int rc = check_private(path, "the pseudonym secret", err);
    if (rc != POLKU_OK)
        return rc;
    rc = read_trimmed(path, text, sizeof text, err);
    if (rc != POLKU_OK)
        return rc == POLKU_ETOOLARGE ? POLKU_ECONFIG : rc;
    size_t bin_len = 0;
    const char *end = NULL;
    if (strlen(text) != 2 * SECRET_BYTES ||
        sodium_hex2bin(out, SECRET_BYTES, text, strlen(text), NULL, &bin_len,
                       &end) != 0 ||
        bin_len != SECRET_BYTES || *end != '\0') {
        err_set(err, "%s: %s", path,
                "expected 64 hexadecimal characters (make one with "
                "'polku secret --out FILE')");
        rc = POLKU_ECONFIG;
    }
    sodium_memzero(text, sizeof text);
    if (rc != POLKU_OK)
        sodium_memzero(out, SECRET_BYTES);
    return rc;
}

static bool token_text_valid(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > POLKU_TOKEN_TEXT - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < 0x21 || text[i] > 0x7e)
            return false;
    }
    return true;
}

/* Writes a new random token to path; an existing file (a concurrent
 * creator) is fine. */
static int token_create(const char *path, polku_cfgerr *err)
{
    char text[2 * SECRET_BYTES + 2];
    int rc = random_hex(text);
    if (rc != POLKU_OK)
        return rc;
    text[2 * SECRET_BYTES] = '\n';
    rc = write_new_file(path, text, 2 * SECRET_BYTES + 1);
    if (rc == POLKU_EIO)
        err_set(err, "%s: cannot create: %s", path, strerror(errno));
    sodium_memzero(text, sizeof text);
    return rc == POLKU_EEXIST ? POLKU_OK : rc;
}

int polku_token_load(const char *path, bool create, char out[POLKU_TOKEN_TEXT],
                     polku_cfgerr *err)
{
    char text[FILE_MAX];
    int rc = read_trimmed(path, text, sizeof text, err);
    if (rc == POLKU_ENOTFOUND && create && access(path, F_OK) != 0 &&
        errno == ENOENT) {
        rc = token_create(path, err);
        if (rc != POLKU_OK)
            return rc;
        rc = read_trimmed(path, text, sizeof text, err);
    }
    if (rc == POLKU_ETOOLARGE)
        rc = POLKU_ECONFIG;
    if (rc == POLKU_OK && !token_text_valid(text)) {
        err_set(err, "%s: %s", path,
                "expected a token of 1 to 64 visible characters");
        rc = POLKU_ECONFIG;
    }
    if (rc == POLKU_OK)
        memcpy(out, text, strlen(text) + 1);
    sodium_memzero(text, sizeof text);
    return rc;
}

bool polku_token_equal(const char *presented, const char *expected)
{
    if (presented == NULL || expected == NULL)
        return false;
    size_t len = strlen(expected);
    if (len == 0 || strlen(presented) != len)
        return false;
    return sodium_memcmp(presented, expected, len) == 0;
}
