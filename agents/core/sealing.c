/* sealing.c — free text sealed between organisations (see sealing.h). */
#include "sealing.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/clock.h"
#include "polku/error.h"
#include "polku/log.h"
#include "polku/seal.h"

struct seal_peer {
    char *org;
    char public_z85[41]; /* the key the shared key was derived from */
    char own_z85[41];    /* and our public key it was derived with */
    polku_seal_key key;
};

static bool has_previous(const sealing *s)
{
    return s->previous && s->previous->secret_z85[0];
}

/* The secret key we seal with: the previous pair's while the directory
 * still lists its public key for us (the others open with that one),
 * else the current one. *own_pub names it for the cache ("" unknown). */
static const char *own_secret(const sealing *s, const char **own_pub)
{
    const char *listed =
        s->dir->self ? directory_public_key(s->dir, s->dir->self) : NULL;
    if (has_previous(s) && listed &&
        strcmp(listed, s->previous->public_z85) == 0) {
        *own_pub = s->previous->public_z85;
        return s->previous->secret_z85;
    }
    *own_pub = s->public_z85 ? s->public_z85 : "";
    return s->secret_z85;
}

/* The shared key with org, derived on first use: POLKU_OK with *out,
 * POLKU_ENOTFOUND when the directory has no key for org, or the error
 * deriving it (a bad key, no memory). */
static int peer_key(sealing *s, const char *org, const polku_seal_key **out)
{
    *out = NULL;
    const char *pub = directory_public_key(s->dir, org);
    if (!pub)
        return POLKU_ENOTFOUND;
    const char *own_pub = "";
    const char *secret = own_secret(s, &own_pub);
    struct seal_peer *p = NULL;
    for (size_t i = 0; i < s->n_peers && !p; i++)
        if (strcmp(s->peers[i].org, org) == 0)
            p = &s->peers[i];
    if (p && strcmp(p->public_z85, pub) == 0 &&
        strcmp(p->own_z85, own_pub) == 0) {
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
    int rc = polku_seal_key_derive(pub, secret, &p->key);
    if (rc != POLKU_OK)
        return rc;
    snprintf(p->public_z85, sizeof p->public_z85, "%s", pub);
    snprintf(p->own_z85, sizeof p->own_z85, "%s", own_pub);
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

/* What the shared key of the current pairs did not open, during a key
 * rotation of ours or org's: every other pair of org's listed keys and
 * our own, derived for this message only (rare: the messages sealed
 * before the change). */
static int open_rotated(sealing *s, const char *org, ProtobufCBinaryData in,
                        uint8_t **plain, size_t *len)
{
    const char *theirs[2] = {
        directory_public_key(s->dir, org),
        directory_previous_key(s->dir, org, polku_now_ms())};
    const char *ours[2] = {s->secret_z85,
                           has_previous(s) ? s->previous->secret_z85 : NULL};
    for (size_t t = 0; t < 2; t++)
        for (size_t o = 0; o < 2; o++) {
            polku_seal_key k;
            if (!theirs[t] || !ours[o] ||
                polku_seal_key_derive(theirs[t], ours[o], &k) != POLKU_OK)
                continue;
            int rc = polku_unseal_with(&k, in.data, in.len, plain, len);
            sodium_memzero(&k, sizeof k);
            if (rc == POLKU_OK) {
                if (t || o)
                    log_info("sealed content from %s opened with %s "
                             "previous key (a key rotation)",
                             org, o ? "our" : "its");
                return POLKU_OK;
            }
        }
    return POLKU_ECRYPTO;
}

/* True when the broker lists a key for us that this agent does not hold
 * (the broker was given a rotated key before this agent was): what others
 * sealed to it cannot be opened here yet, but will be. */
static bool key_not_held(const sealing *s)
{
    const char *listed =
        s->dir->self ? directory_public_key(s->dir, s->dir->self) : NULL;
    return listed && s->public_z85 && strcmp(listed, s->public_z85) != 0 &&
           !(has_previous(s) && strcmp(listed, s->previous->public_z85) == 0);
}

/* Opens text org sealed for us; *out NULL when nothing was sealed.
 * POLKU_ECRYPTO when it was not sealed by org for us: the event is not
 * applied. POLKU_EAGAIN when the broker lists a key for us this agent
 * does not hold: the event is not acknowledged, and comes again. */
int sealing_open(sealing *s, const char *org, ProtobufCBinaryData in,
                 Polku__SealedText **out)
{
    *out = NULL;
    if (in.len == 0)
        return POLKU_OK;
    const polku_seal_key *key;
    uint8_t *plain = NULL;
    size_t len = 0;
    if ((peer_key(s, org, &key) != POLKU_OK ||
         polku_unseal_with(key, in.data, in.len, &plain, &len)) &&
        open_rotated(s, org, in, &plain, &len) != POLKU_OK) {
        if (key_not_held(s)) {
            static polku_log_limit limit;
            if (polku_log_limit_allow(&limit, 1, "sealed content held back"))
                log_error("sealed content from %s could not be opened: the "
                          "broker lists key %s for %s, which this agent "
                          "does not hold. Not acknowledged: %s sends it "
                          "again. Give the agent that key_file (and the "
                          "old one as previous_key_file) and reload it",
                          org, directory_public_key(s->dir, s->dir->self),
                          s->dir->self, org);
            return POLKU_EAGAIN;
        }
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
