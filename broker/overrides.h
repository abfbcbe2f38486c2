/* overrides.h — break-glass the broker has seen, until reviewed.
 *
 * A referral or handover sent under an override (no consent; a basis the
 * directory permits its sender) is kept here from the event that carried
 * it, and marked reviewed by an OverrideReviewed event: the client's
 * coordinator's (its own log) or an operator's (the log of the
 * organisation that used the override, authenticated by the broker's MAC).
 * Folded from events like everything else, in any order (a review seen
 * before its override is kept and applies when the override comes), so a
 * rebuilt broker knows the same. The alert override_used (alerts.h) holds
 * while an override is not reviewed. No sockets here. */
#ifndef POLKU_BROKER_OVERRIDES_H
#define POLKU_BROKER_OVERRIDES_H

#include <stdbool.h>
#include <stdint.h>

#include "polku/codec.h"

typedef struct override_index override_index;

override_index *ov_new(void);
void ov_destroy(override_index **ov);

/* Folds env if it carries an override or reviews one (else nothing). */
void ov_apply(override_index *ov, const polku_envelope *env);

typedef struct ov_view {
    const uint8_t *object_id;  /* 16 bytes */
    const uint8_t *client_key; /* 16 bytes */
    const char *used_by;
    const char *to;
    const char *basis;
    const char *subject; /* "referral" or "handover" */
    uint64_t since_ms;   /* the event's time (its writer's clock) */
    bool reviewed;
    const char *reviewer; /* "" not reviewed */
} ov_view;

/* The override on object_id: true with *out (valid until the next
 * ov_apply). */
bool ov_find(const override_index *ov, const uint8_t id[16], ov_view *out);

/* Each override not yet reviewed. */
void ov_each_open(const override_index *ov,
                  void (*fn)(const ov_view *v, void *arg), void *arg);

/* The operator review's authenticator: a MAC under the broker's key
 * (claim_auth.h) over the client, the object and the organisation that
 * used the override. */
void ov_review_mac(const uint8_t key[32], const uint8_t client[16],
                   const uint8_t object_id[16], const char *used_by,
                   uint8_t out[32]);
bool ov_review_verify(const uint8_t key[32], const polku_envelope *env);

#endif
