/* override_json_fuzz.c — fuzz target for the `override` object of a
 * referral or handover (agents/api/api_override.h).
 *
 * The input is a request body as an organisation's system would send it.
 * Beyond "no crash": an accepted override has basis emergency or
 * statutory and a reason that holds text within POLKU_MAX_TEXT; a body
 * without one is accepted with no basis; a refusal is one sentence naming
 * a field of `override`. Built as a libFuzzer binary (fuzz_override_json)
 * and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_override.h"
#include "polku/codec.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *body =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    override_request o;
    char msg[200] = "";
    int rc = api_override_parse(body, &o, msg, sizeof msg);
    json_t *v = json_object_get(body, "override");
    if (rc == POLKU_OK) {
        if (!o.basis) {
            if (v && !json_is_null(v))
                abort(); /* an override given was dropped */
        } else {
            if (!polku_override_basis_valid(o.basis) || !o.reason ||
                !o.reason[0] || strlen(o.reason) > POLKU_MAX_TEXT)
                abort();
        }
    } else if (rc != POLKU_EINVAL || !strstr(msg, "override") || !v) {
        abort();
    }
    json_decref(body);
    return 0;
}
