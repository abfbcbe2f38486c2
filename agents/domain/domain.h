/* domain.h — what every decision of the agent is given, and how it says no.
 *
 * The domain modules (consents, referrals, handovers, paths, rules, inbox)
 * decide over one transaction of the store: they read records, write
 * records, emit events into the organisation's log and queue log lines for
 * after the commit. They know nothing of HTTP, JSON, ZeroMQ or the loop:
 * what they are given is this context, and what they answer is a polku_err
 * and, when they refuse, a domain reason (the API turns it into a status
 * and an error code; the rules turn it into a note on the referral).
 *
 * Dependencies run one way: lib → core → domain → {net, api} → agent.c.
 * Inside domain, one way too: inbox → referrals → rules → handovers →
 * paths → consents (see docs/architecture.md). */
#ifndef POLKU_AGENT_DOMAIN_H
#define POLKU_AGENT_DOMAIN_H

#include <lmdb.h>
#include <stdint.h>

#include "agent_config.h"
#include "batch.h"
#include "directory.h"
#include "eventlog.h"
#include "polku.pb-c.h"
#include "sealing.h"
#include "store.h"

/* Why a decision refused. Each has one error code (domain_reason_code)
 * and the API one HTTP status (api/api_errors.c). */
typedef enum domain_reason {
    DOMAIN_REFUSED_NONE = 0,
    DOMAIN_BAD_INPUT,              /* the request names something wrongly */
    DOMAIN_NOT_FOUND,              /* no such object here */
    DOMAIN_NOT_COORDINATOR,        /* only the coordinator may do this */
    DOMAIN_HANDOVER_OPEN,          /* a handover offer is still open */
    DOMAIN_CONSENT_REQUIRED,       /* no active consent covers it */
    DOMAIN_INVALID_TRANSITION,     /* not from this state, or not by us */
    DOMAIN_SUCCESSOR_REQUIRED,     /* the coordinator's service would end
                                      without a successor */
    DOMAIN_STALE_PLAN,             /* a plan version older than the path's */
    DOMAIN_OVERRIDE_NOT_PERMITTED, /* break-glass this org may not use */
    DOMAIN_OVERRIDE_NOT_NEEDED,    /* break-glass where a consent covers it */
    DOMAIN_REASON_COUNT
} domain_reason;

typedef struct domain_refusal {
    domain_reason reason;
    char message[200]; /* for a person: what is wrong, what would do */
} domain_refusal;

/* Fills why (if not NULL) and returns POLKU_EREFUSED. */
int domain_refuse(domain_refusal *why, domain_reason reason, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/* The reason's error code: "not_coordinator", "handover_open", ... */
const char *domain_reason_code(domain_reason reason);

/* What the domain tells the layers above while an item runs (called
 * inside the item; act after the commit with batch_after). */
typedef struct domain_hooks {
    /* the broker's answer to our claim was recorded in p */
    void (*claim_decided)(void *arg, const Polku__PathRecord *p);
    void *arg;
} domain_hooks;

typedef struct domain {
    store *st;
    batch *b;
    eventlog *log;
    const directory *dir;
    sealing *seal;
    const agent_config *cfg; /* the rules */
    const char *org;         /* this organisation's id */
    uint64_t clock_ms;       /* 0: the real clock; tests fix it */
    domain_hooks hooks;
} domain;

/* Now, in Unix ms (the fixed clock_ms when set). */
uint64_t domain_now(const domain *d);

#endif
