/* hetu.c — validates Finnish personal identity codes and derives the
 * pseudonymous client key from them.
 *
 * An agent receives identity codes from its organisation's systems; it must
 * refuse a mistyped one with a clear reason (and without echoing the code)
 * and turn a good one into the one canonical text every agent of the region
 * hashes the same way, so that they all arrive at the same client key
 * (DESIGN.md §3, invariant 5). */
#include "polku/hetu.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "polku/error.h"

/* The check character for (DDMMYYZZZ mod 31); G I O Q Z are left out. */
static const char check_chars[] = "0123456789ABCDEFHJKLMNPRSTUVWXY";

/* Positions within DDMMYYCZZZQ. */
enum { POS_CENTURY = 6, POS_INDIVIDUAL = 7, POS_CHECK = 10 };

static char upper_ascii(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Value of the two or three digits at s (already checked to be digits). */
static int digits_value(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* The century (1800, 1900, 2000) the upper-cased sign stands for, or -1.
 * Since 2023 the 1900s also have Y X W V U and the 2000s B-F besides A:
 * the same meaning, but a different code for a different person. */
static int century_of(char sign)
{
    if (sign == '+')
        return 1800;
    if (sign != '\0' && strchr("-YXWVU", sign) != NULL)
        return 1900;
    if (sign != '\0' && strchr("ABCDEF", sign) != NULL)
        return 2000;
    return -1;
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static bool date_exists(int year, int month, int day)
{
    static const int days_in[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1)
        return false;
    int last = days_in[month - 1];
    if (month == 2 && is_leap(year))
        last = 29;
    return day <= last;
}

static polku_hetu_problem check(const char *text, char canonical[])
{
    if (text == NULL || strnlen(text, POLKU_HETU_LEN + 1) != POLKU_HETU_LEN)
        return POLKU_HETU_LENGTH;

    for (int i = 0; i < POLKU_HETU_LEN; i++)
        canonical[i] = upper_ascii(text[i]);
    canonical[POLKU_HETU_LEN] = '\0';

    for (int i = 0; i < POS_CHECK; i++) {
        if (i != POS_CENTURY && !is_digit(canonical[i]))
            return POLKU_HETU_DIGITS;
    }

    int century = century_of(canonical[POS_CENTURY]);
    if (century < 0)
        return POLKU_HETU_CENTURY;

    int day = digits_value(canonical, 2);
    int month = digits_value(canonical + 2, 2);
    int year = century + digits_value(canonical + 4, 2);
    if (!date_exists(year, month, day))
        return POLKU_HETU_DATE;

    int individual = digits_value(canonical + POS_INDIVIDUAL, 3);
    if (individual < 2 || individual > 899)
        return POLKU_HETU_INDIVIDUAL;

    /* DDMMYYZZZ < 10^9 fits easily in 32 bits. */
    uint32_t number =
        (uint32_t)digits_value(canonical, 6) * 1000u + (uint32_t)individual;
    if (canonical[POS_CHECK] != check_chars[number % 31])
        return POLKU_HETU_CHECK;
    return POLKU_HETU_OK;
}

int polku_hetu_parse(const char *text, char canonical[POLKU_HETU_LEN + 1],
                     polku_hetu_problem *problem)
{
    assert(canonical != NULL);
    char work[POLKU_HETU_LEN + 1];
    polku_hetu_problem p = check(text, work);
    if (problem != NULL)
        *problem = p;
    if (p == POLKU_HETU_OK)
        memcpy(canonical, work, sizeof work);
    else
        canonical[0] = '\0';
    sodium_memzero(work, sizeof work);
    return p == POLKU_HETU_OK ? POLKU_OK : POLKU_EINVAL;
}

const char *polku_hetu_problem_text(polku_hetu_problem problem)
{
    switch (problem) {
    case POLKU_HETU_OK:
        return "the identity code is valid";
    case POLKU_HETU_LENGTH:
        return "an identity code has exactly 11 characters";
    case POLKU_HETU_DIGITS:
        return "the birth date and the individual number must be digits";
    case POLKU_HETU_CENTURY:
        return "the century sign is not one of + - Y X W V U A B C D E F";
    case POLKU_HETU_DATE:
        return "the birth date is not a calendar date";
    case POLKU_HETU_INDIVIDUAL:
        return "the individual number must be 002-899 (temporary codes are "
               "not accepted)";
    case POLKU_HETU_CHECK:
        return "the check character is wrong";
    }
    return "the identity code is not valid";
}

void polku_client_key(const uint8_t secret[32], const char *canonical,
                      uint8_t key[POLKU_CLIENT_KEY_BYTES])
{
    assert(secret != NULL && canonical != NULL && key != NULL);
    _Static_assert(crypto_auth_hmacsha256_KEYBYTES == 32, "secret size");
    _Static_assert(crypto_auth_hmacsha256_BYTES >= POLKU_CLIENT_KEY_BYTES,
                   "mac size");
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)canonical,
                           strlen(canonical), secret);
    memcpy(key, mac, POLKU_CLIENT_KEY_BYTES);
    sodium_memzero(mac, sizeof mac);
}

void polku_client_key_hex(const uint8_t key[POLKU_CLIENT_KEY_BYTES],
                          char out[POLKU_CLIENT_KEY_HEX])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < POLKU_CLIENT_KEY_BYTES; i++) {
        out[2 * i] = hex[key[i] >> 4];
        out[2 * i + 1] = hex[key[i] & 0x0f];
    }
    out[2 * POLKU_CLIENT_KEY_BYTES] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int polku_client_key_parse(const char *hex, uint8_t key[POLKU_CLIENT_KEY_BYTES])
{
    enum { CHARS = 2 * POLKU_CLIENT_KEY_BYTES };
    if (hex == NULL || strnlen(hex, CHARS + 1) != CHARS)
        return POLKU_EINVAL;
    uint8_t out[POLKU_CLIENT_KEY_BYTES];
    for (int i = 0; i < POLKU_CLIENT_KEY_BYTES; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return POLKU_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(key, out, sizeof out);
    return POLKU_OK;
}
