/* accept_encoding_fuzz.c — fuzz target for the Accept-Encoding reader of
 * the event streams (lib/sse_gzip.c: whether a client takes gzip).
 *
 * The header comes from any HTTP client of /events. Beyond "no crash, no
 * read past the string": the first gzip element decides, so the value
 * with "gzip, " in front is always accepted and with "gzip;q=0, " in
 * front never. Built as a libFuzzer binary (fuzz_accept_encoding) and as
 * a corpus replay test (fuzz_accept_encoding_replay). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse_gzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *with_prefix(const char *prefix, const uint8_t *data, size_t size)
{
    size_t n = strlen(prefix);
    char *text = malloc(n + size + 1);
    if (!text)
        return NULL;
    memcpy(text, prefix, n);
    memcpy(text + n, data, size);
    text[n + size] = '\0'; /* an embedded NUL just ends the string earlier */
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *plain = with_prefix("", data, size);
    char *yes = with_prefix("gzip, ", data, size);
    char *no = with_prefix("gzip;q=0, ", data, size);
    if (plain && yes && no) {
        (void)sse_gzip_accepted(plain);
        if (!sse_gzip_accepted(yes) || sse_gzip_accepted(no))
            abort();
    }
    free(plain);
    free(yes);
    free(no);
    return 0;
}
