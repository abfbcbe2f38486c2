/* sealed.c — free text sealed between organisations (see sealed.h). */
#include "sealed.h"

#include <sodium.h>
#include <stdlib.h>

#include "polku/error.h"
#include "polku/log.h"
#include "polku/seal.h"

/* Seals reason and outcome for org (invariant 5). Leaves *out empty when
 * there is no text, or no key for org (the broker refuses such a
 * destination anyway). Caller frees out->data. */
int agent_seal_text(agent *a, const char *org, const char *reason,
                     const char *outcome, ProtobufCBinaryData *out)
{
    out->data = NULL;
    out->len = 0;
    const char *key = agent_org_public_key(a, org);
    if (!key || ((!reason || !*reason) && (!outcome || !*outcome)))
        return POLKU_OK;
    Polku__SealedText t = POLKU__SEALED_TEXT__INIT;
    t.reason = (char *)(reason ? reason : "");
    t.outcome = (char *)(outcome ? outcome : "");
    size_t len = polku__sealed_text__get_packed_size(&t);
    uint8_t *plain = malloc(len ? len : 1);
    if (!plain)
        return POLKU_ENOMEM;
    polku__sealed_text__pack(&t, plain);
    int rc = polku_seal(plain, len, key, a->cfg->key.secret_z85, &out->data,
                        &out->len);
    sodium_memzero(plain, len);
    free(plain);
    return rc;
}

/* Opens text org sealed for us; *out NULL when nothing was sealed.
 * POLKU_ECRYPTO when it was not sealed by org for us: the event is not
 * applied. */
int agent_unseal_text(agent *a, const char *org, ProtobufCBinaryData in,
                       Polku__SealedText **out)
{
    *out = NULL;
    if (in.len == 0)
        return POLKU_OK;
    const char *key = agent_org_public_key(a, org);
    uint8_t *plain = NULL;
    size_t len = 0;
    if (!key || polku_unseal(in.data, in.len, key, a->cfg->key.secret_z85,
                             &plain, &len)) {
        log_warn("sealed content from %s could not be verified; event "
                 "refused",
                 org);
        return POLKU_ECRYPTO;
    }
    *out = polku__sealed_text__unpack(NULL, len, plain);
    sodium_memzero(plain, len);
    free(plain);
    return *out ? POLKU_OK : POLKU_ECRYPTO;
}


const char *sealed_reason(const Polku__SealedText *t)
{
    return t ? t->reason : "";
}

const char *sealed_outcome(const Polku__SealedText *t)
{
    return t ? t->outcome : "";
}

