/* codec.h — the wire envelope: encode, decode, validate.
 *
 * Every ZeroMQ message is one frame holding one polku.Envelope (proto/).
 * Decoding checks the size limit first, then the protobuf, then the
 * envelope's invariants (id lengths, org id syntax, a body present, body
 * fields sane), so a caller that gets POLKU_OK can trust shapes and lengths.
 * The free text in bodies is bounded but not interpreted here. */
#ifndef POLKU_CODEC_H
#define POLKU_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "polku.pb-c.h"

#define POLKU_PROTOCOL_VERSION 1
#define POLKU_MAX_FRAME_DEFAULT (1024u * 1024u) /* 1 MiB */
#define POLKU_MAX_TEXT 8192                     /* any one free-text field */
#define POLKU_MAX_DESTS 64
/* A Bundle holds at most this many messages (the frame's size limit
 * holds for the whole bundle too). */
#define POLKU_BUNDLE_MAX_MESSAGES 1024

typedef Polku__Envelope polku_envelope;

/* Decodes and validates one frame. On success *out is owned by the caller
 * (polku_envelope_free). On failure *out is NULL, why gets a short reason
 * with no content from the frame beyond field names, and the result is:
 *   POLKU_ETOOLARGE   len > max_len
 *   POLKU_EMALFORMED  not a protobuf Envelope, or a field breaks a rule
 *   POLKU_EVERSION    version != POLKU_PROTOCOL_VERSION; in this one case
 *                     *out IS set (so the caller can Nack by msg id;
 *                     msg_id is checked first, so it is 16 bytes) */
int polku_envelope_decode(const uint8_t *data, size_t len, size_t max_len,
                          polku_envelope **out, char *why, size_t why_len);

void polku_envelope_free(polku_envelope **env);

/* A scratch arena for decoding many envelopes one after another (a replay
 * batch holds thousands): allocation is a pointer bump and freeing is
 * polku_arena_reset, instead of one malloc and free per protobuf field.
 * An envelope decoded in an arena is never passed to polku_envelope_free;
 * it is gone at the next polku_arena_reset. Not thread-safe. */
typedef struct polku_arena polku_arena;

/* chunk: bytes per block (requests larger than that get their own).
 * POLKU_OK or POLKU_ENOMEM. */
int polku_arena_new(size_t chunk, polku_arena **out);
void polku_arena_free(polku_arena **a);
/* Forgets everything allocated in a; keeps its first block for reuse. */
void polku_arena_reset(polku_arena *a);

/* polku_envelope_decode with every allocation in a (see above). */
int polku_envelope_decode_in(polku_arena *a, const uint8_t *data, size_t len,
                             size_t max_len, polku_envelope **out, char *why,
                             size_t why_len);

/* Packs env into a new malloc'ed buffer (*out, caller frees).
 * POLKU_OK or POLKU_ENOMEM. */
int polku_envelope_encode(const polku_envelope *env, uint8_t **out,
                          size_t *out_len);

/* The unsealed fields are closed vocabularies (no words can travel in
 * them): identifiers such as services, plan ids and rule names are tokens
 * of [A-Za-z0-9._:-]{1,64} that hold no valid identity code; consent forms are
 * Y100, written, oral or electronic (polku_consent_form_valid: what an agent
 * records); a message may also carry the older "verbal"
 * (polku_consent_form_readable: what every reader accepts, so logs recorded
 * before stay replayable); urgency is routine or urgent. */
#define POLKU_TOKEN_MAX 64
bool polku_token_valid(const char *s);
#define POLKU_CONSENT_FORMS "Y100", "written", "oral", "electronic"
#define POLKU_CONSENT_FORMS_TEXT "Y100, written, oral or electronic"
bool polku_consent_form_valid(const char *form);
bool polku_consent_form_readable(const char *form);
bool polku_urgency_valid(const char *urgency);

/* Organisation id syntax: [a-z0-9][a-z0-9-]{1,31}. */
bool polku_org_id_valid(const char *org);

/* The highest Nack code: tables by code have POLKU_NACK_CODE_LAST + 1
 * entries. */
#define POLKU_NACK_CODE_LAST POLKU__NACK_CODE__NACK_STALE_PLAN

/* "unknown_org", "origin_mismatch", ... ("unspecified" for 0/unknown). */
const char *polku_nack_code_name(Polku__NackCode code);

/* True if s is the name of a Nack code ("consent_required", ...): the one
 * code, never words, that an organisation's own `failed` carries. */
bool polku_nack_code_known(const char *s);

/* Body case as text ("referral_requested"), for logs and metrics. */
const char *polku_body_name(Polku__Envelope__BodyCase body);

/* The feed and timeline name of a client event: "referral.accepted",
 * "handover.offered", "consent.granted", "path.claim_won", "path.closed",
 * "path.plan", "service.started", ... ; NULL for anything else. */
const char *polku_event_topic(const polku_envelope *env);

/* The object an event is about: the referral id of a referral event, the
 * consent id of a consent event, the handover id of a handover event.
 * True with its 16 bytes in out; false for other bodies or a bad length. */
bool polku_event_object_id(const polku_envelope *env, uint8_t out[16]);

/* True for the domain bodies: events in their origin agent's log, with an
 * origin sequence, routed to env->to or (to empty) for the broker alone. */
bool polku_body_is_event(Polku__Envelope__BodyCase body);

#endif
