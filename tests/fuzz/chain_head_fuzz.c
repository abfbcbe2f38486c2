/* chain_head_fuzz.c — fuzz target for the stored chain head record.
 *
 * An agent keeps the heads other organisations signed (meta "head:ORG")
 * and `polku log verify` reads them back from a store that may have been
 * edited by hand, so the decoder sees any bytes. Beyond "no crash": a
 * record it accepts encodes back to the same bytes, and a refusal says
 * why. The first byte picks the organisation id the record is read for
 * (valid or not). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polku/chain.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const orgs[] = {"kela", "typ-kokkola", "",
                                       "Kela", "a",           NULL};
    const char *org = orgs[size ? data[0] % 6 : 0];
    const uint8_t *rec = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;
    polku_chain_head h;
    char why[96] = "";
    int rc = polku_chain_head_decode(org, rec, len, &h, why, sizeof why);
    if (rc == POLKU_OK) {
        uint8_t again[POLKU_CHAIN_HEAD_RECORD];
        if (len != sizeof again)
            abort();
        polku_chain_head_encode(&h, again);
        if (memcmp(again, rec, sizeof again) != 0)
            abort();
        if (strcmp(h.org, org) != 0)
            abort();
    } else if (rc != POLKU_EINVAL || why[0] == '\0') {
        abort();
    }
    return 0;
}
