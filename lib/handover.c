/* handover.c — the handover lifecycle, readable in one table (see
 * polku/handover.h). */
#include "polku/handover.h"

#include <stddef.h>
#include <string.h>

#include "polku/error.h"
#include "state_names.h"

#define OFFERED POLKU__HANDOVER_STATE__HANDOVER_OFFERED
#define ACCEPTED POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED
#define DECLINED POLKU__HANDOVER_STATE__HANDOVER_DECLINED
#define WITHDRAWN POLKU__HANDOVER_STATE__HANDOVER_WITHDRAWN
#define FAILED POLKU__HANDOVER_STATE__HANDOVER_FAILED

#define OFFERER POLKU_HANDOVER_OFFERER
#define RECEIVER POLKU_HANDOVER_RECEIVER

typedef struct transition {
    polku_handover_state from, to;
    polku_handover_writer writer;
} transition;

static const transition transitions[] = {
    /* {from, to, writer} */
    {OFFERED, ACCEPTED, RECEIVER},  /* the coordination moves: term + 1 */
    {OFFERED, DECLINED, RECEIVER},  /* with a (sealed) reason */
    {OFFERED, WITHDRAWN, RECEIVER}, /* the offerer asked, the offer was open */
    {OFFERED, FAILED, OFFERER},     /* the offer could not be delivered */
    {FAILED, ACCEPTED, RECEIVER},   /* a copy got through after all */
    {FAILED, DECLINED, RECEIVER},   {FAILED, WITHDRAWN, RECEIVER},
};

static const char *const state_names[] = {
    [OFFERED] = "offered",     [ACCEPTED] = "accepted", [DECLINED] = "declined",
    [WITHDRAWN] = "withdrawn", [FAILED] = "failed",
};

#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *polku_handover_state_name(polku_handover_state s)
{
    return state_name_of(state_names, N_STATES, (int)s);
}

int polku_handover_state_parse(const char *text, polku_handover_state *out)
{
    int s = 0;
    int rc = out ? state_named(state_names, N_STATES, text, &s)
                 : POLKU_EINVAL;
    if (rc == POLKU_OK)
        *out = (polku_handover_state)s;
    return rc;
}

bool polku_handover_state_final(polku_handover_state s)
{
    return s != OFFERED;
}

int polku_handover_check(polku_handover_state from, polku_handover_state to,
                         polku_handover_writer writer)
{
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
        if (transitions[i].from == from && transitions[i].to == to &&
            transitions[i].writer == writer)
            return POLKU_OK;
    return POLKU_ETRANSITION;
}
