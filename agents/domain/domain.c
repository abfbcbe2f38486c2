/* domain.c — refusals and the clock of the domain context (see domain.h). */
#include "domain.h"

#include <stdarg.h>
#include <stdio.h>

#include "polku/clock.h"
#include "polku/error.h"

int domain_refuse(domain_refusal *why, domain_reason reason, const char *fmt,
                  ...)
{
    if (why) {
        why->reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->message, sizeof why->message, fmt, ap);
        va_end(ap);
    }
    return POLKU_EREFUSED;
}

const char *domain_reason_code(domain_reason reason)
{
    static const char *const codes[DOMAIN_REASON_COUNT] = {
        [DOMAIN_REFUSED_NONE] = "refused",
        [DOMAIN_BAD_INPUT] = "bad_request",
        [DOMAIN_NOT_FOUND] = "not_found",
        [DOMAIN_NOT_COORDINATOR] = "not_coordinator",
        [DOMAIN_HANDOVER_OPEN] = "handover_open",
        [DOMAIN_CONSENT_REQUIRED] = "consent_required",
        [DOMAIN_INVALID_TRANSITION] = "invalid_transition",
        [DOMAIN_SUCCESSOR_REQUIRED] = "successor_required",
        [DOMAIN_STALE_PLAN] = "stale_plan_version",
        [DOMAIN_OVERRIDE_NOT_PERMITTED] = "override_not_permitted",
        [DOMAIN_OVERRIDE_NOT_NEEDED] = "override_not_needed",
    };
    return (unsigned)reason < DOMAIN_REASON_COUNT ? codes[reason] : "refused";
}

uint64_t domain_now(const domain *d)
{
    return d->clock_ms ? d->clock_ms : polku_now_ms();
}
