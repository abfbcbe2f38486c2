/* hetu_fuzz.c — fuzz target for the identity-code parser.
 *
 * Identity codes arrive at the agent's local API from organisations'
 * systems, so the parser sees whatever text they send. Beyond "no crash":
 * an accepted code must come out canonical (11 characters, no lower case)
 * and parse again to itself, because two agents of a region must hash
 * exactly the same text to arrive at the same client key; a refusal must
 * name a reason and a sentence for it. Built as a libFuzzer binary
 * (fuzz_hetu) and as a plain corpus replay test (fuzz_hetu_replay). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "polku/error.h"
#include "polku/hetu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_canonical(const char *canon)
{
    if (strlen(canon) != POLKU_HETU_LEN)
        abort();
    for (size_t i = 0; i < POLKU_HETU_LEN; i++)
        if (canon[i] >= 'a' && canon[i] <= 'z')
            abort();
    char again[POLKU_HETU_LEN + 1];
    polku_hetu_problem p = POLKU_HETU_CHECK;
    if (polku_hetu_parse(canon, again, &p) != POLKU_OK || p != POLKU_HETU_OK)
        abort();
    if (memcmp(canon, again, sizeof again) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL just ends the string earlier */

    char canon[POLKU_HETU_LEN + 1];
    polku_hetu_problem p = (polku_hetu_problem)-1;
    int rc = polku_hetu_parse(text, canon, &p);
    if (rc == POLKU_OK) {
        if (p != POLKU_HETU_OK)
            abort();
        check_canonical(canon);
        /* the input differs from the canonical code at most in case */
        if (strlen(text) != POLKU_HETU_LEN ||
            strncasecmp(text, canon, POLKU_HETU_LEN) != 0)
            abort();
    } else {
        if (rc != POLKU_EINVAL || p <= POLKU_HETU_OK || p > POLKU_HETU_CHECK)
            abort();
        if (polku_hetu_problem_text(p) == NULL)
            abort();
    }
    free(text);
    return 0;
}
