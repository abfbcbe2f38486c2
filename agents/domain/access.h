/* access.h — who handled a client's data here: the access report's rows.
 *
 * A client may ask which organisation sent or received what about them,
 * and under which consent (or override). Each organisation answers for its
 * own log only: every event of the log about the client becomes one row —
 * its sequence, kind, object, destinations, time, and the consent id and
 * purpose it relied on or the override basis. Events that rely on an
 * object (a status of a referral, an answer to a handover) show that
 * object's consent or override, as the local record holds it. Metadata
 * only: no free text, never an identity code. The network report merges
 * the rows every organisation of the client's scope answers (net/,
 * api/); no one keeps them centrally. */
#ifndef POLKU_AGENT_ACCESS_H
#define POLKU_AGENT_ACCESS_H

#include "domain.h"

/* At most this many rows per organisation (the newest are kept out and
 * `truncated` is set: a frame has a size limit). */
#define ACCESS_MAX_ENTRIES 4000

/* The rows of this organisation's log about client, oldest first, into
 * out->entries (n_entries; out->truncated when there were more). Caller
 * frees with access_entries_free. */
int access_collect(domain *d, MDB_txn *txn, const uint8_t client[16],
                   Polku__AccessAnswer *out);

/* Frees what access_collect put into a (not a itself). */
void access_entries_free(Polku__AccessAnswer *a);

/* Is org in an active consent of client that names this organisation
 * too (any purpose)? The answering side's check of who asks. */
bool access_asker_in_scope(domain *d, MDB_txn *txn, const uint8_t client[16],
                           const char *org);

#endif
