/* rotation.h — an organisation's key rotation coming to its end.
 *
 * Why it exists: while an organisation changes its key pair, messages
 * sealed to its old key are still on their way (queued in outboxes,
 * retried, replayed). Its [org] section then lists both keys
 * (previous_public_key, previous_key_until): ZAP lets either in and the
 * directory sent to agents carries both, so receivers still open what was
 * sealed to or by the old key. At the end time the old key is dropped
 * here: logged, no longer let in (broker_config_org_for_login already
 * refuses it), and every connected agent gets the directory without it;
 * a connection made with it is refused from its next frame. */
#ifndef POLKU_BROKER_ROTATION_H
#define POLKU_BROKER_ROTATION_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "broker_state.h"

/* Drops every previous key whose end time is at or before now_ms (Unix
 * ms). Returns how many; when any, the directory is sent again. */
size_t rotation_expire(broker *b, uint64_t now_ms);

/* A connection made with a previous key carries it (Z85) in this ZAP
 * metadata property. */
#define ZAP_KEY_PROPERTY "X-Polku-Previous-Key"

/* True when payload came over a connection of org idx made with a
 * previous key that is no longer accepted (the rotation ended, or a
 * reload took the key out): it is refused, and told so with a Nack
 * not_authenticated (its agent connects again, with its new key). */
bool rotation_refuses(broker *b, int idx, zmq_msg_t *rid, zmq_msg_t *payload);

#endif
