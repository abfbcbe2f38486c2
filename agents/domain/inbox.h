/* inbox.h — what arrives from other organisations and from the broker,
 * applied to the store.
 *
 * An event from another organisation is applied at most once: its receipt
 * (origin, seq) is written first, in the same transaction, so a resend is
 * a duplicate that changes nothing and is acknowledged again. One table
 * maps each event's body to the module that applies it. An event that
 * cannot apply here (not addressed to us, out of its lifecycle) is
 * acknowledged all the same — the sender must not resend it forever — and
 * logged; a store failure is not acknowledged, so the sender resends.
 *
 * Acks end our own outbox entries; a Nack that ends a delivery becomes a
 * visible failure on the record it was about (a referral `failed`, a
 * handover `failed`, a consent's `undelivered`, a claim `refused`). */
#ifndef POLKU_AGENT_INBOX_H
#define POLKU_AGENT_INBOX_H

#include <stdbool.h>

#include "domain.h"
#include "polku/codec.h"

typedef enum inbox_outcome {
    INBOX_APPLIED,        /* new, and applied */
    INBOX_DUPLICATE,      /* seen before: nothing changed */
    INBOX_NOT_APPLICABLE, /* new, but not applicable here: nothing changed */
    INBOX_CONFLICT        /* another event at a sequence already received:
                             the origin's store went back in time. Nothing
                             changed, and it must NOT be acknowledged: the
                             sender keeps it pending (visible in its outbox
                             and the broker's alerts) instead of losing it
                             as a duplicate */
} inbox_outcome;

/* An event from another organisation (env->origin_org, env->origin_seq).
 * POLKU_OK: acknowledge it unless *outcome is INBOX_CONFLICT; a store
 * error (POLKU_EFULL, POLKU_ESTORE, POLKU_ENOMEM): do not, the sender
 * resends. */
int inbox_event(domain *d, MDB_txn *txn, const polku_envelope *env,
                inbox_outcome *outcome);

/* The broker's Ack of one of our events (env->ack). POLKU_EINVAL if it
 * is not about an event of ours. */
int inbox_ack(domain *d, MDB_txn *txn, const polku_envelope *env);

/* The broker ended the delivery of our event (nack->origin_seq to
 * nack->dest_org): its outbox entry goes and the record it was about
 * shows the failure. POLKU_ENOTFOUND if it was not pending. */
int inbox_undeliverable(domain *d, MDB_txn *txn, const Polku__Nack *nack);

/* The broker's answer to one of our claims. */
int inbox_claim_answered(domain *d, MDB_txn *txn, const polku_envelope *env);

#endif
