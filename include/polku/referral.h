/* referral.h — the referral lifecycle as one table (DESIGN §4).
 *
 * FHIR Task statuses. One writer per referral: after it is requested only
 * its receiver moves it on; the sender may only write `failed` while the
 * referral is still `requested` (it could not be delivered), and may ask the
 * receiver to cancel. Rows: {from, to, writer, reason required}. */
#ifndef POLKU_REFERRAL_H
#define POLKU_REFERRAL_H

#include <stdbool.h>

#include "polku.pb-c.h"

typedef Polku__ReferralState polku_referral_state;

typedef enum polku_referral_writer {
    POLKU_WRITER_SENDER,
    POLKU_WRITER_RECEIVER
} polku_referral_writer;

/* "requested", "received", "accepted", "rejected", "in-progress",
 * "on-hold", "completed", "failed", "cancelled"; "unknown" otherwise. */
const char *polku_referral_state_name(polku_referral_state s);

/* Inverse of the above (exact, lower case). POLKU_OK or POLKU_EINVAL. */
int polku_referral_state_parse(const char *text, polku_referral_state *out);

/* completed, rejected, failed, cancelled. */
bool polku_referral_state_final(polku_referral_state s);

/* Checks one transition. Returns POLKU_OK; POLKU_ETRANSITION if no row
 * allows from -> to for writer; POLKU_EINVAL if the row requires a reason
 * and has_reason is false. */
int polku_referral_check(polku_referral_state from, polku_referral_state to,
                         polku_referral_writer writer, bool has_reason);

#endif
