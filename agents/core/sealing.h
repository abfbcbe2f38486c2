/* sealing.h — free text travels sealed from agent to agent (invariant 5).
 *
 * A SealedText (reason, outcome) is sealed with crypto_box for the
 * receiving organisation's public key from the broker's directory and our
 * secret key; the receiver opens it with the sender's public key, which
 * also proves the sender. The broker routes it without being able to read
 * it. Used by referrals and handovers alike.
 *
 * The X25519 shared key of each peer is derived once and kept (deriving
 * it is a scalar multiplication, most of what sealing costs); it is
 * derived again when the directory gives the peer another public key.
 *
 * Key rotation: while an organisation changes its key pair, the directory
 * lists its previous key too, and its agent holds the previous pair
 * (previous_key_file). What was sealed to or by an old key before the
 * change (in an outbox, retried, replayed) is still opened: the shared
 * key of the current pairs is tried first, then the others. */
#ifndef POLKU_AGENT_SEALING_H
#define POLKU_AGENT_SEALING_H

#include "directory.h"
#include "polku/keys.h"
#include "polku.pb-c.h"

struct seal_peer;

typedef struct sealing {
    const directory *dir;   /* the peers' public keys */
    const char *secret_z85; /* this organisation's secret key */
    const char *public_z85; /* and its public key (NULL: no rotation) */
    /* During a key rotation, the old key pair (empty or NULL otherwise):
     * text is sealed with whichever pair the directory lists for us, and
     * opened with either, from either of the peer's listed keys. */
    const polku_keypair *previous;
    struct seal_peer *peers; /* shared keys derived so far */
    size_t n_peers;
} sealing;

/* Seals reason and outcome for org. Leaves *out empty when there is no
 * text, or no key for org (the broker refuses such a destination anyway).
 * Caller frees out->data. */
int sealing_seal(sealing *s, const char *org, const char *reason,
                 const char *outcome, ProtobufCBinaryData *out);

/* sealing_seal for a whole SealedText (all its strings non-NULL; with an
 * override reason, say). */
int sealing_seal_text(sealing *s, const char *org, const Polku__SealedText *t,
                      ProtobufCBinaryData *out);

/* Opens text org sealed for us; *out NULL when nothing was sealed.
 * POLKU_ECRYPTO when it was not sealed by org for us. POLKU_EAGAIN when
 * the directory lists a key for us this agent does not hold (the broker
 * took a rotated key before the agent did): not our failure to report,
 * the event is to come again. Caller frees *out
 * (polku__sealed_text__free_unpacked). */
int sealing_open(sealing *s, const char *org, ProtobufCBinaryData in,
                 Polku__SealedText **out);

/* Wipes and frees the derived keys. */
void sealing_fini(sealing *s);

/* The texts of a possibly NULL SealedText ("" when absent). */
const char *sealed_reason(const Polku__SealedText *t);
const char *sealed_outcome(const Polku__SealedText *t);

#endif
