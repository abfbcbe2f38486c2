/* link_access.h — answering the broker's AccessQuery (link_access.c). */
#ifndef POLKU_AGENT_LINK_ACCESS_H
#define POLKU_AGENT_LINK_ACCESS_H

#include "link.h"

/* q: an AccessQuery passed on by the broker. Answers it (AccessAnswer to
 * q's asker) from this organisation's own log, or 403 when no active
 * consent of the client names both. */
void link_answer_access(broker_link *l, const polku_envelope *q);

#endif
