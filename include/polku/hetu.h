/* hetu.h — Finnish personal identity codes and pseudonymous client keys.
 *
 * A henkilötunnus DDMMYYCZZZQ: birth date, century sign C (`+` 1800s;
 * `-`, `Y`, `X`, `W`, `V`, `U` 1900s; `A`–`F` 2000s), individual number ZZZ
 * (002–899; 900–999 are temporary codes, refused), check character Q
 * (the 9-digit number DDMMYYZZZ mod 31 in "0123456789ABCDEFHJKLMNPRSTUVWXY").
 * Lower-case letters are accepted and canonicalised to upper case.
 *
 * The client key is HMAC-SHA256(regional secret, canonical code) truncated
 * to 16 bytes: every agent of a region derives the same key, nobody without
 * the secret can go back to the code. The code itself never leaves the
 * agent that received it, and is never logged. */
#ifndef POLKU_HETU_H
#define POLKU_HETU_H

#include <stddef.h>
#include <stdint.h>

#define POLKU_HETU_LEN 11
#define POLKU_CLIENT_KEY_BYTES 16
#define POLKU_CLIENT_KEY_HEX 33 /* 32 + NUL */

typedef enum polku_hetu_problem {
    POLKU_HETU_OK = 0,
    POLKU_HETU_LENGTH,     /* not 11 characters */
    POLKU_HETU_DIGITS,     /* date or individual number not digits */
    POLKU_HETU_CENTURY,    /* unknown century sign */
    POLKU_HETU_DATE,       /* no such calendar date */
    POLKU_HETU_INDIVIDUAL, /* individual number 000, 001 or temporary */
    POLKU_HETU_CHECK,      /* wrong check character */
} polku_hetu_problem;

/* Validates text; on success writes the canonical (upper-case) code and a
 * NUL into canonical and returns POLKU_OK. Otherwise POLKU_EINVAL with
 * *problem saying which part is wrong (problem may be NULL). */
int polku_hetu_parse(const char *text, char canonical[POLKU_HETU_LEN + 1],
                     polku_hetu_problem *problem);

/* A sentence for the API ("the check character is wrong"); never contains
 * the code. */
const char *polku_hetu_problem_text(polku_hetu_problem problem);

/* HMAC-SHA256(secret, canonical) truncated. Requires sodium_init(). */
void polku_client_key(const uint8_t secret[32], const char *canonical,
                      uint8_t key[POLKU_CLIENT_KEY_BYTES]);

/* 32 lowercase hex characters and a NUL. */
void polku_client_key_hex(const uint8_t key[POLKU_CLIENT_KEY_BYTES],
                          char out[POLKU_CLIENT_KEY_HEX]);

/* Parses 32 lowercase hex. POLKU_OK or POLKU_EINVAL. */
int polku_client_key_parse(const char *hex,
                           uint8_t key[POLKU_CLIENT_KEY_BYTES]);

#endif
