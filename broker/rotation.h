/* rotation.h — an organisation's key rotation coming to its end.
 *
 * Why it exists: while an organisation changes its key pair, messages
 * sealed to its old key are still on their way (queued in outboxes,
 * retried, replayed). Its [org] section then lists both keys
 * (previous_public_key, previous_key_until): ZAP lets either in and the
 * directory sent to agents carries both, so receivers still open what was
 * sealed to or by the old key. At the end time the old key is dropped
 * here: logged, no longer let in (broker_config_org_for_login already
 * refuses it), and every connected agent gets the directory without it. */
#ifndef POLKU_BROKER_ROTATION_H
#define POLKU_BROKER_ROTATION_H

#include <stdint.h>

#include "broker_state.h"

/* Drops every previous key whose end time is at or before now_ms (Unix
 * ms). Returns how many; when any, the directory is sent again. */
size_t rotation_expire(broker *b, uint64_t now_ms);

#endif
