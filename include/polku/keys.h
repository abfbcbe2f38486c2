/* keys.h — organisation key files, the regional pseudonym secret and API
 * tokens.
 *
 * Key file (INI, mode 0600):  [curve] public = <Z85 40>  secret = <Z85 40>
 * The same Curve25519 keys serve CURVE and (later) content sealing.
 * Files holding secrets are created with O_EXCL and mode 0600: an existing
 * file is never overwritten. */
#ifndef POLKU_KEYS_H
#define POLKU_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "polku/config.h"

#define POLKU_Z85_KEY 41    /* 40 characters + NUL */
#define POLKU_TOKEN_TEXT 65 /* 64 hex + NUL */

typedef struct polku_keypair {
    char public_z85[POLKU_Z85_KEY];
    char secret_z85[POLKU_Z85_KEY];
} polku_keypair;

/* zmq_curve_keypair. POLKU_OK or POLKU_ECRYPTO. */
int polku_keypair_generate(polku_keypair *kp);

/* True if text is 40 Z85 characters decoding to 32 bytes. */
bool polku_z85_key_valid(const char *text);

/* Writes kp to path (O_CREAT|O_EXCL, 0600). POLKU_EEXIST if path exists,
 * POLKU_EINVAL if a key is not valid Z85, POLKU_EIO otherwise on failure
 * (errno says why; a partly written file is removed). */
int polku_keyfile_write(const char *path, const polku_keypair *kp);

/* Reads and validates a key file; checks that public matches secret.
 * A file group or others may access is refused (as ssh does), naming it,
 * its mode and `chmod 600`. POLKU_ENOTFOUND, POLKU_ECONFIG (message in
 * err). */
int polku_keyfile_read(const char *path, polku_keypair *kp, polku_cfgerr *err);

/* Regional pseudonym secret: 32 random bytes as 64 hex characters + '\n'.
 * write: O_CREAT|O_EXCL, 0600; POLKU_EEXIST, POLKU_EIO (errno says why),
 * POLKU_ECRYPTO. read: POLKU_ENOTFOUND (cannot open), POLKU_EIO,
 * POLKU_ECONFIG (not 64 hex characters, or accessible by group or
 * others); the message in err never holds the secret. */
int polku_secret_write(const char *path);
int polku_secret_read(const char *path, uint8_t out[32], polku_cfgerr *err);

/* Bearer token file: 64 hex characters. If create and the file is missing,
 * a new random token is written (0600). Surrounding whitespace ignored; a
 * token an operator wrote may be any 1 to 64 visible ASCII characters.
 * POLKU_ENOTFOUND (missing and !create, or cannot open), POLKU_EIO,
 * POLKU_ECONFIG (empty or not a token), POLKU_ECRYPTO. */
int polku_token_load(const char *path, bool create, char out[POLKU_TOKEN_TEXT],
                     polku_cfgerr *err);

/* Constant-time comparison of a presented token with the expected one
 * (only the length may leak). False if either is NULL or expected is "". */
bool polku_token_equal(const char *presented, const char *expected);

#endif
