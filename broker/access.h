/* access.h — a client's network access report, passed through the broker.
 *
 * The report is gathered, never kept: an agent asks (AccessQuery), the
 * broker checks that the asker is in an active consent of the client
 * (its consent index; the agent checked its own store already), asks
 * every other organisation of that scope which is connected, tells the
 * asker whom it asked and who could not be asked (offline), and passes
 * each organisation's AccessAnswer on to the asker. An answer is passed on
 * only for a query the broker asked that organisation, once, within
 * ACCESS_PENDING_MS. Each organisation answers from its own log; the
 * broker reads nothing of the rows but what the codec checks. */
#ifndef POLKU_BROKER_ACCESS_H
#define POLKU_BROKER_ACCESS_H

#include "broker_state.h"

#define ACCESS_PENDING_MS 10000
#define ACCESS_PENDING_MAX 256

/* An AccessQuery from sender (authenticated). */
void access_on_query(broker *b, const uint8_t *rid, size_t rid_len,
                     const char *sender, const polku_envelope *env);

/* An AccessAnswer from sender: passed on (payload as it came) to the
 * asker of a pending query, else dropped. */
void access_on_answer(broker *b, const char *sender, const polku_envelope *env,
                      const void *payload, size_t len);

void access_pending_free(broker *b);

#endif
