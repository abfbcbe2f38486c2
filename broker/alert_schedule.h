/* alert_schedule.h — when a client's alerts can change with no new event.
 *
 * A referral's alerts turn on when a clock passes a threshold (receipt
 * due, answer due, follow-up due, coordinator due, a consent's end). The
 * alerts tick (alerts.h) puts each client's next threshold here instead of
 * looking at every referral twice a second, and asks for the clients whose
 * threshold has come. Thresholds are kept on the clock they are read on,
 * one min-heap per organisation's clock ("" is the broker's own), so a
 * clock offset that changes moves them all at once and nothing is late.
 * An entry is only a reminder: a client looked at again for a stale one
 * costs a look, never a wrong alert. No sockets here. */
#ifndef POLKU_BROKER_ALERT_SCHEDULE_H
#define POLKU_BROKER_ALERT_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct alert_schedule alert_schedule;

/* Caller owns the result; NULL when out of memory. */
alert_schedule *as_new(void);
/* Frees s, sets *s NULL; accepts NULL. */
void as_free(alert_schedule **s);

/* The client key is to be looked at again once org's clock ("" the
 * broker's) reaches due. Out of memory it is forgotten and as_lost says
 * so (the caller then walks everything). */
void as_at(alert_schedule *s, const char *org, uint64_t due,
           const uint8_t key[16]);

/* Now on org's clock ("" the broker's). */
typedef uint64_t (*as_now_fn)(void *arg, const char *org);
typedef void (*as_key_fn)(const uint8_t key[16], void *arg);

/* Calls fn for every entry whose due has come on its clock, and forgets
 * those entries. A key may come more than once. */
void as_take_due(alert_schedule *s, as_now_fn now_of, void *now_arg,
                 as_key_fn fn, void *arg);

/* Forgets every entry (a full walk schedules everything again); clears
 * as_lost. Until as_order (or as_take_due) entries are only appended, and
 * ordered at once then: cheaper than one by one for a whole walk. */
void as_clear(alert_schedule *s);
void as_order(alert_schedule *s);

/* True when an entry was forgotten for want of memory since as_clear. */
bool as_lost(const alert_schedule *s);

/* Entries held, over all clocks. */
size_t as_count(const alert_schedule *s);

#endif
