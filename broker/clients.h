/* clients.h — the broker's referrals, services and timelines per client.
 *
 * The rest of the shared client path beside coordination (paths.h) and
 * consents (consent_index.h): every referral with its status and the times
 * the dashboard and the alerts need, the services each organisation runs
 * for the client, and a compact timeline of metadata. No sockets here.
 *
 * The caller applies each event once (by origin org and seq). The result
 * does not depend on the order events arrive in (invariant 1): a status is
 * the highest version (ties: the higher state), times are those of the
 * events that set them, a service is its latest start or end, and the
 * timeline keeps the newest entries by (time, org, seq). Organisation and
 * service names are interned: a referral costs ~150 bytes. */
#ifndef POLKU_BROKER_CLIENTS_H
#define POLKU_BROKER_CLIENTS_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display.h"
#include "overrides.h"
#include "polku/codec.h"

#define CL_TIMELINE_MAX 48

typedef struct client_index client_index;

/* One referral as the broker knows it (read-only for callers). */
typedef struct cl_referral {
    uint8_t id[16];
    uint8_t client_key[16];
    uint8_t consent_id[16];
    uint16_t from, to, service; /* interned; 0 = unknown */
    uint8_t status;             /* Polku__ReferralState; 0 only a status */
    bool requested;             /* the request itself has been seen */
    uint32_t version;
    uint64_t created_ms;  /* the request's time */
    uint64_t received_ms; /* the `received` status's time, 0 not yet */
    uint64_t answered_ms; /* earliest status past received, 0 none */
    uint64_t status_ms;   /* time of the event that set the status */
    uint64_t due_ms;
    bool urgent; /* the request's urgency: "urgent" (else "routine") */
} cl_referral;

client_index *cl_new(void);
/* The overrides folded with the clients (overrides.h). */
const override_index *cl_overrides(const client_index *cl);
void cl_destroy(client_index **cl);

/* Room for this many clients and referrals without growing the tables
 * (idmap_presize); a hint: nothing changes when memory runs out. */
void cl_presize(client_index *cl, size_t clients, size_t referrals);

/* Clients this index comes to know are noted in names (display_note)
 * from now on; NULL: none (the default). Only folding uses it. */
void cl_set_display(client_index *cl, display *names);

/* True if cl_apply of env notes its client in the display set with
 * cl_set_display (a client event with an origin): the caller need not. */
bool cl_notes_display(const client_index *cl, const polku_envelope *env);

/* Folds one event (already known to be new). Returns true if it touched
 * a client. Never fails on content. */
bool cl_apply(client_index *cl, const polku_envelope *env);

/* The event's name for timelines and the feed ("referral.accepted",
 * "handover.offered", "consent.granted", "path.closed", ...), or NULL for
 * bodies that are not client events. Static strings. */
const char *cl_event_name(const polku_envelope *env);

/* The interned name (org or service), "" for 0 or unknown. */
const char *cl_name(const client_index *cl, uint16_t idx);

/* True for requested and received: waiting for the receiver. */
bool cl_referral_pending(const cl_referral *r);
/* True while not completed, rejected, failed or cancelled. */
bool cl_referral_open(const cl_referral *r);

/* The referral with this id, or NULL. */
const cl_referral *cl_referral_find(const client_index *cl,
                                    const uint8_t id[16]);

typedef void (*cl_referral_fn)(const cl_referral *r, void *arg);
/* Every referral, in no particular order. */
void cl_each_referral(const client_index *cl, cl_referral_fn fn, void *arg);

/* Every referral of one client (none if unknown). */
void cl_each_referral_of(const client_index *cl, const uint8_t key[16],
                         cl_referral_fn fn, void *arg);

/* The clients an event was folded for since the last call (each once, in
 * no particular order), then forgets them: what the alerts schedule
 * (alerts.h) looks at again. fn may be NULL (just forget); it may not
 * change the index. */
typedef void (*cl_key_fn)(const uint8_t key[16], void *arg);
void cl_take_changed(client_index *cl, cl_key_fn fn, void *arg);

/* True if the client has a referral requested after after_ms. */
bool cl_followed_up(const client_index *cl, const uint8_t key[16],
                    uint64_t after_ms);

/* Every known client key; fn may not change the index. */
typedef void (*cl_client_fn)(const uint8_t key[16], uint64_t first_ms,
                             void *arg);
void cl_each_client(const client_index *cl, cl_client_fn fn, void *arg);

/* True if the client has a service running or a referral accepted, in
 * progress or on hold. */
bool cl_in_services(const client_index *cl, const uint8_t key[16]);
/* True if the broker has seen anything of the client. */
bool cl_known(const client_index *cl, const uint8_t key[16]);

size_t cl_count_clients(const client_index *cl);
size_t cl_count_referrals(const client_index *cl);
size_t cl_count_open(const client_index *cl);

/* What changed in one referral and between whom: id, from, to, service,
 * status, version, urgency (the feed's referral event, feed.c; no client
 * key, dates or age). */
json_t *cl_referral_change_json(const client_index *cl, const cl_referral *r);

/* JSON of one referral (metadata only): cl_referral_change_json's members
 * and client_key, created, received, answered, due, age_s. "client_key" is
 * the client's
 * display pseudonym under names (display.h; NULL: the client key, for
 * an agent's own link only). */
json_t *cl_referral_json(const client_index *cl, const cl_referral *r,
                         uint64_t now_ms, const display *names);

/* The client's referrals, services and timeline:
 * {"first_seen", "referrals":[...], "services":[{org,service,since}],
 *  "timeline":[{at, org, event, id?}]}; NULL if unknown. */
json_t *cl_client_json(const client_index *cl, const uint8_t key[16],
                       uint64_t now_ms, const display *names);

/* Feeds the canonical form of every client (sorted by key) into h. */
void cl_digest_update(const client_index *cl, crypto_hash_sha256_state *h);

#endif
