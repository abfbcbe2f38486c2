/* referral.c — the referral lifecycle, readable in one table.
 *
 * Agents and the broker must agree on which status changes are legal and
 * who may write them (one writer per referral, DESIGN §4). Keeping the rules
 * as data rather than branches means the whole lifecycle is reviewed, and
 * tested, by reading the rows below. */
#include "polku/referral.h"

#include <stddef.h>
#include <string.h>

#include "polku/error.h"
#include "state_names.h"

#define REQUESTED POLKU__REFERRAL_STATE__REFERRAL_REQUESTED
#define RECEIVED POLKU__REFERRAL_STATE__REFERRAL_RECEIVED
#define ACCEPTED POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED
#define REJECTED POLKU__REFERRAL_STATE__REFERRAL_REJECTED
#define IN_PROGRESS POLKU__REFERRAL_STATE__REFERRAL_IN_PROGRESS
#define ON_HOLD POLKU__REFERRAL_STATE__REFERRAL_ON_HOLD
#define COMPLETED POLKU__REFERRAL_STATE__REFERRAL_COMPLETED
#define FAILED POLKU__REFERRAL_STATE__REFERRAL_FAILED
#define CANCELLED POLKU__REFERRAL_STATE__REFERRAL_CANCELLED

#define SENDER POLKU_WRITER_SENDER
#define RECEIVER POLKU_WRITER_RECEIVER

typedef struct transition {
    polku_referral_state from;
    polku_referral_state to;
    polku_referral_writer writer;
    bool reason_required;
} transition;

static const transition transitions[] = {
    /* {from, to, writer, reason required} */
    {REQUESTED, RECEIVED, RECEIVER, false}, /* durably stored: receipt */
    {REQUESTED, FAILED, SENDER, true},      /* undeliverable */
    {RECEIVED, ACCEPTED, RECEIVER, false},
    {RECEIVED, REJECTED, RECEIVER, true},
    {ACCEPTED, IN_PROGRESS, RECEIVER, false},
    {IN_PROGRESS, ON_HOLD, RECEIVER, false},
    {ON_HOLD, IN_PROGRESS, RECEIVER, false},
    {ACCEPTED, COMPLETED, RECEIVER, false},
    {IN_PROGRESS, COMPLETED, RECEIVER, false},
    {RECEIVED, CANCELLED, RECEIVER, true},
    {ACCEPTED, CANCELLED, RECEIVER, true},
    {IN_PROGRESS, CANCELLED, RECEIVER, true},
    {ON_HOLD, CANCELLED, RECEIVER, true},
    {RECEIVED, FAILED, RECEIVER, true},
    {ACCEPTED, FAILED, RECEIVER, true},
    {IN_PROGRESS, FAILED, RECEIVER, true},
    {ON_HOLD, FAILED, RECEIVER, true},
};

static const char *const state_names[] = {
    [REQUESTED] = "requested",     [RECEIVED] = "received",
    [ACCEPTED] = "accepted",       [REJECTED] = "rejected",
    [IN_PROGRESS] = "in-progress", [ON_HOLD] = "on-hold",
    [COMPLETED] = "completed",     [FAILED] = "failed",
    [CANCELLED] = "cancelled",
};

#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *polku_referral_state_name(polku_referral_state s)
{
    return state_name_of(state_names, N_STATES, (int)s);
}

int polku_referral_state_parse(const char *text, polku_referral_state *out)
{
    int s = 0;
    int rc = out ? state_named(state_names, N_STATES, text, &s)
                 : POLKU_EINVAL;
    if (rc == POLKU_OK)
        *out = (polku_referral_state)s;
    return rc;
}

bool polku_referral_state_final(polku_referral_state s)
{
    return s == COMPLETED || s == REJECTED || s == FAILED || s == CANCELLED;
}

static const transition *find_row(polku_referral_state from,
                                  polku_referral_state to,
                                  polku_referral_writer writer)
{
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
        const transition *t = &transitions[i];
        if (t->from == from && t->to == to && t->writer == writer)
            return t;
    }
    return NULL;
}

int polku_referral_check(polku_referral_state from, polku_referral_state to,
                         polku_referral_writer writer, bool has_reason)
{
    const transition *t = find_row(from, to, writer);
    if (t == NULL)
        return POLKU_ETRANSITION;
    if (t->reason_required && !has_reason)
        return POLKU_EINVAL;
    return POLKU_OK;
}
