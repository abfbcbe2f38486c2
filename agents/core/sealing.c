/* sealing.c — free text sealed between organisations (see sealing.h). */
#include "sealing.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"
#include "polku/log.h"
#include "polku/seal.h"

struct seal_peer {
    char *org;
    char public_z85[41]; /* the key the shared key was derived from */
    polku_seal_key key;
};

/* The shared key with org, derived on first use: POLKU_OK with *out,
 * POLKU_ENOTFOUND when the directory has no key for org, or the error
 * deriving it (a bad key, no memory). */
static int peer_key(sealing *s, const char *org, const polku_seal_key **out)
{
    *out = NULL;
    const char *pub = directory_public_key(s->dir, org);
    if (!pub)
        return POLKU_ENOTFOUND;
    struct seal_peer *p = NULL;
    for (size_t i = 0; i < s->n_peers && !p; i++)
        if (strcmp(s->peers[i].org, org) == 0)
            p = &s->peers[i];
    if (p && strcmp(p->public_z85, pub) == 0) {
        *out = &p->key;
        return POLKU_OK;
    }
    if (!p) {
        struct seal_peer *grown =
            realloc(s->peers, (s->n_peers + 1) * sizeof *s->peers);
        if (!grown)
            return POLKU_ENOMEM;
        s->peers = grown;
        p = &s->peers[s->n_peers];
        memset(p, 0, sizeof *p);
        if (!(p->org = strdup(org)))
            return POLKU_ENOMEM;
        s->n_peers++;
    }
    p->public_z85[0] = '\0'; /* derived again below, or unusable */
    int rc = polku_seal_key_derive(pub, s->secret_z85, &p->key);
    if (rc != POLKU_OK)
        return rc;
    snprintf(p->public_z85, sizeof p->public_z85, "%s", pub);
    *out = &p->key;
    return POLKU_OK;
}

void sealing_fini(sealing *s)
{
    for (size_t i = 0; i < s->n_peers; i++) {
        free(s->peers[i].org);
        sodium_memzero(&s->peers[i].key, sizeof s->peers[i].key);
    }
    free(s->peers);
    s->peers = NULL;
    s->n_peers = 0;
}

/* Seals reason and outcome for org (invariant 5). Leaves *out empty when
 * there is no text, or no key for org (the broker refuses such a
 * destination anyway). Caller frees out->data. */
int sealing_seal(sealing *s, const char *org, const char *reason,
                 const char *outcome, ProtobufCBinaryData *out)
{
    Polku__SealedText t = POLKU__SEALED_TEXT__INIT;
    t.reason = (char *)(reason ? reason : "");
    t.outcome = (char *)(outcome ? outcome : "");
    return sealing_seal_text(s, org, &t, out);
}

int sealing_seal_text(sealing *s, const char *org, const Polku__SealedText *t,
                      ProtobufCBinaryData *out)
{
    out->data = NULL;
    out->len = 0;
    if (!t->reason[0] && !t->outcome[0] && !t->override_reason[0])
        return POLKU_OK;
    const polku_seal_key *key;
    int rc = peer_key(s, org, &key);
    if (rc == POLKU_ENOTFOUND)
        return POLKU_OK;
    if (rc != POLKU_OK)
        return rc;
    size_t len = polku__sealed_text__get_packed_size(t);
    uint8_t *plain = malloc(len ? len : 1);
    if (!plain)
        return POLKU_ENOMEM;
    polku__sealed_text__pack(t, plain);
    rc = polku_seal_with(key, plain, len, &out->data, &out->len);
    sodium_memzero(plain, len);
    free(plain);
    return rc;
}

/* Opens text org sealed for us; *out NULL when nothing was sealed.
 * POLKU_ECRYPTO when it was not sealed by org for us: the event is not
 * applied. */
int sealing_open(sealing *s, const char *org, ProtobufCBinaryData in,
                 Polku__SealedText **out)
{
    *out = NULL;
    if (in.len == 0)
        return POLKU_OK;
    const polku_seal_key *key;
    uint8_t *plain = NULL;
    size_t len = 0;
    if (peer_key(s, org, &key) != POLKU_OK ||
        polku_unseal_with(key, in.data, in.len, &plain, &len)) {
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
