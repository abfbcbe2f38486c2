/* rebuild_logs.h — synthetic agents' logs, packed as their replays, for
 * rebuild_bench.
 *
 * Each of RB_ORGS organisations has a log: encoded polku.Envelopes with
 * its org as origin and origin seqs 1, 2, ... in the order written, the
 * events an agent writes (consents, claims and their answers, referrals
 * and their statuses, handovers, plans, services), with sealed blobs of
 * realistic sizes where an agent would seal text. As they are written
 * the events are packed into frames the way agents/net/link.c replays a log:
 * one Envelope with a ReplayBatch body per frame, events added until the
 * frame holds at least RB_FRAME_BYTES. Everything is encoded up front, so
 * only reading the frames is timed. Client keys are random 16 bytes. */
#ifndef POLKU_BENCH_REBUILD_LOGS_H
#define POLKU_BENCH_REBUILD_LOGS_H

#include <stddef.h>
#include <stdint.h>

#define RB_ORGS 20
/* The services every org lists in the directory (the gate refuses a
 * referral or service event for a service its org does not list). */
#define RB_SERVICES                                                            \
    {                                                                          \
        "home-care", "physiotherapy", "occupational-therapy"                   \
    }
#define RB_N_SERVICES 3
#define RB_FRAME_BYTES (256 * 1024) /* agents/net/link.c REPLAY_FRAME_BYTES */

/* One encoded replay frame (an Envelope holding a ReplayBatch). */
typedef struct rb_frame {
    uint8_t *data;
    size_t len;
    size_t events;
} rb_frame;

typedef struct rb_agent {
    char org[8];  /* "org-00" .. "org-19" */
    uint64_t seq; /* the last origin seq written */
    rb_frame *frames;
    size_t n_frames, cap_frames;
    /* events written but not yet in a frame */
    uint8_t **pend;
    size_t *pend_len;
    size_t n_pend, cap_pend, pend_bytes;
    uint64_t last_ms;
} rb_agent;

/* What the logs hold, and what a correct fold of all of them must show:
 * counts, and every client and referral (clients[], refs[] below). */
typedef struct rb_expect {
    size_t clients, consents, paths, referrals, open;
} rb_expect;

/* One client as a correct fold must leave it. */
typedef struct rb_client {
    uint8_t key[16], consent[16];
    uint8_t coordinator; /* org index, at term */
    uint8_t term;
    uint8_t timeline; /* client events written (the timeline's length) */
    uint8_t in_services, has_plan;
} rb_client;

/* One referral as a correct fold must leave it. */
typedef struct rb_referral {
    uint8_t id[16];
    uint8_t from, to, status;
} rb_referral;

typedef struct rb_logs {
    rb_agent agent[RB_ORGS];
    /* the broker's claim authenticator key (claim_auth.h): the won claims'
     * answers carry its MAC, as the broker sends them */
    uint8_t claim_key[32];
    uint64_t t0_ms;
    unsigned long long events, event_bytes, frames, frame_bytes;
    rb_expect expect;
    rb_client *clients;
    rb_referral *refs;
    size_t n_clients, cap_clients, n_refs, cap_refs;
    size_t cur; /* the client being written: clients[cur] */
} rb_logs;

/* Empty logs whose events start at t0_ms, claim answers authenticated
 * with claim_key (32 bytes). Requires sodium_init(). */
void rb_logs_init(rb_logs *l, uint64_t t0_ms, const uint8_t claim_key[32]);
void rb_logs_fini(rb_logs *l);

/* Writes client stories (rebuild_logs.c says which) into the logs until
 * they hold at least events events, then packs what is left into frames.
 * 0 or -1 when out of memory. */
int rb_write_stories(rb_logs *l, unsigned long long events);

/* The memory steps, each ending with its frames packed. For clients
 * keys[0..n): a consent granted by the client's home org (covering it and
 * two more, every purpose); a path claim won by the home org (the claim
 * and the broker's answer, as the claimant logs them); per_client
 * referrals from the home org to another, requested and received, never
 * answered (left open). In that order, with the same keys, on logs that
 * hold nothing else. 0 or -1 when out of memory. */
int rb_write_consents(rb_logs *l, const uint8_t (*keys)[16], size_t n);
int rb_write_claims(rb_logs *l, const uint8_t (*keys)[16], size_t n);
int rb_write_open_referrals(rb_logs *l, const uint8_t (*keys)[16], size_t n,
                            size_t per_client);

#endif
