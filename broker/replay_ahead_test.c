/* replay_ahead_test.c — a batch decoded ahead (replay_ahead.h) gives, for
 * each of its events in order, what decoding it on the caller's thread
 * gives: the same envelope (seq, origin, body), the chain hash of its
 * bytes for the batch org's events only, nothing for bytes that do not
 * decode, and "not ours" for another org's event and for a message that
 * is not an event. Checked with the helper thread and without, for many
 * batches in a row, for a batch abandoned half-way (the next one is
 * whole), and for a batch too small to hand over. Memory handed over
 * to page in (ra_populate) is resident once the next batch has ended,
 * with the thread or without. A claim answer's authenticator is checked
 * ahead as the gate checks it (claim_auth_verify): 1 for the broker's own,
 * 0 for another, -1 (not checked) for a refused claim, for another org's
 * answer, and when no key was given. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "replay_ahead.h"
#include "test_events.h"
#include "polku/error.h"

#define BATCH 700

typedef struct batch {
    ProtobufCBinaryData ev[BATCH];
    uint64_t seq[BATCH];
    enum { OURS, OTHER, GARBAGE, NOT_EVENT } kind[BATCH];
} batch;

static org_log own = {.org = "org-a"}, other = {.org = "org-b"};
static uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};

static ProtobufCBinaryData encoded(const polku_envelope *env)
{
    static uint8_t msg_id[16] = {0x1d};
    polku_envelope e = *env; /* as an agent sends it: with a message id */
    e.msg_id = test_bytes(msg_id, sizeof msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(polku_envelope_encode(&e, &buf, &len), POLKU_OK);
    polku_envelope *back = NULL; /* a valid message, as logged */
    char why[128] = "";
    polku_envelope_decode(buf, len, 1 << 20, &back, why, sizeof why);
    assert_string_equal(why, "");
    polku_envelope_free(&back);
    return (ProtobufCBinaryData){len, buf};
}

static void make_logs(void)
{
    static uint8_t keys[2][80][16]; /* the envelopes point at them */
    for (unsigned i = 0; own.n < 80; i++) {
        uint8_t *key = keys[0][i];
        test_id(0xaa, i, key);
        ev_status(&own, key, i, "org-b",
                  POLKU__REFERRAL_STATE__REFERRAL_RECEIVED, 2, 1000 + i)
            ->referral_status->sealed.len = 0; /* too short to be sealed */
        key = keys[1][i];
        test_id(0xab, i, key);
        ev_status(&other, key, i, "org-a",
                  POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED, 3, 2000 + i)
            ->referral_status->sealed.len = 0;
    }
}

static void make_batch(batch *bt)
{
    polku_envelope beat = POLKU__ENVELOPE__INIT;
    Polku__Heartbeat hb = POLKU__HEARTBEAT__INIT;
    beat.version = POLKU_PROTOCOL_VERSION;
    beat.origin_org = "org-a";
    beat.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    beat.heartbeat = &hb;
    for (size_t i = 0; i < BATCH; i++) {
        const polku_envelope *env = &own.ev[i % own.n].env;
        bt->kind[i] = OURS;
        if (i % 50 == 7) {
            env = &other.ev[i % other.n].env;
            bt->kind[i] = OTHER;
        } else if (i % 77 == 5) {
            bt->kind[i] = GARBAGE;
            env = NULL;
        } else if (i % 91 == 3) {
            env = &beat;
            bt->kind[i] = NOT_EVENT;
        }
        bt->seq[i] = env ? env->origin_seq : 0;
        bt->ev[i] =
            env ? encoded(env) : (ProtobufCBinaryData){sizeof garbage, NULL};
        if (!env) {
            bt->ev[i].data = malloc(sizeof garbage);
            memcpy(bt->ev[i].data, garbage, sizeof garbage);
        }
    }
}

static void free_batch(batch *bt)
{
    for (size_t i = 0; i < BATCH; i++)
        free(bt->ev[i].data);
}

static void check_event(const batch *bt, size_t i, const ra_event *e)
{
    if (bt->kind[i] == GARBAGE) {
        assert_int_not_equal(e->rc, POLKU_OK);
        assert_null(e->env);
        assert_false(e->ours);
        return;
    }
    assert_int_equal(e->rc, POLKU_OK);
    assert_non_null(e->env);
    assert_int_equal(e->env->origin_seq, bt->seq[i]);
    assert_int_equal(e->ours, bt->kind[i] == OURS);
    assert_int_equal(e->claim, -1);
    if (bt->kind[i] == NOT_EVENT) {
        assert_int_equal(e->env->body_case, POLKU__ENVELOPE__BODY_HEARTBEAT);
        return;
    }
    assert_int_equal(e->env->body_case, POLKU__ENVELOPE__BODY_REFERRAL_STATUS);
    assert_string_equal(e->env->origin_org,
                        bt->kind[i] == OURS ? "org-a" : "org-b");
    if (bt->kind[i] == OURS) {
        uint8_t h[POLKU_CHAIN_HASH];
        polku_chain_hash(bt->ev[i].data, bt->ev[i].len, h);
        assert_memory_equal(e->hash, h, sizeof h);
    }
}

static void batches(bool threaded)
{
    batch *bt = calloc(1, sizeof *bt);
    assert_non_null(bt);
    make_batch(bt);
    replay_ahead *ra = NULL;
    assert_int_equal(ra_new(1 << 20, threaded, &ra), POLKU_OK);
    assert_int_equal(ra_threaded(ra), threaded);
    for (int round = 0; round < 60; round++) {
        /* every third batch abandoned half-way, as a diverged chain does */
        size_t n = BATCH - (size_t)round, upto = round % 3 == 1 ? n / 2 : n;
        assert_int_equal(ra_begin(ra, "org-a", bt->ev, n, NULL), POLKU_OK);
        for (size_t i = 0; i < upto; i++)
            check_event(bt, i, ra_get(ra, i));
        ra_end(ra);
    }
    /* a batch too small to hand over: the same answers */
    assert_int_equal(ra_begin(ra, "org-a", bt->ev, RA_THREADED_MIN - 1, NULL),
                     POLKU_OK);
    for (size_t i = 0; i < RA_THREADED_MIN - 1; i++)
        check_event(bt, i, ra_get(ra, i));
    ra_end(ra);
    /* the batch's org decides what is ours */
    assert_int_equal(ra_begin(ra, "org-b", bt->ev, BATCH, NULL), POLKU_OK);
    for (size_t i = 0; i < BATCH; i++) {
        const ra_event *e = ra_get(ra, i);
        assert_int_equal(e->ours, bt->kind[i] == OTHER);
    }
    ra_end(ra);
    ra_destroy(&ra);
    assert_null(ra);
    ra_destroy(&ra); /* NULL accepted */
    free_batch(bt);
    free(bt);
}

static void threaded(void **state)
{
    (void)state;
    batches(true);
}

static void inline_only(void **state)
{
    (void)state;
    batches(false);
}

/* Started and destroyed without a batch: the thread is joined. */
static void idle(void **state)
{
    (void)state;
    replay_ahead *ra = NULL;
    assert_int_equal(ra_new(1 << 20, true, &ra), POLKU_OK);
    ra_end(ra);
    ra_destroy(&ra);
    assert_null(ra);
}

static size_t resident_pages(void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    unsigned char vec[64];
    assert_true(len / page <= sizeof vec);
    assert_int_equal(mincore(p, len, vec), 0);
    for (size_t i = 0; i < len / page; i++)
        n += vec[i] & 1;
    return n;
}

static void populated(bool threaded)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 48 * page;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    assert_int_equal(resident_pages(p, len), 0);
    batch *bt = calloc(1, sizeof *bt);
    assert_non_null(bt);
    make_batch(bt);
    replay_ahead *ra = NULL;
    assert_int_equal(ra_new(1 << 20, threaded, &ra), POLKU_OK);
    /* two ranges before a batch: both paged in with the first batch the
     * thread takes part in (the caller decodes a batch alone while the
     * thread is not scheduled) */
    ra_populate(ra, (uintptr_t)p + 16 * page, len - 16 * page);
    ra_populate(ra, (uintptr_t)p, 16 * page);
    int batches = 0;
    do {
        assert_true(++batches < 1000);
        assert_int_equal(ra_begin(ra, "org-a", bt->ev, BATCH, NULL), POLKU_OK);
        for (size_t i = 0; i < BATCH; i++)
            check_event(bt, i, ra_get(ra, i));
        ra_end(ra);
    } while (!ra_populate_refused(ra) && resident_pages(p, len) < len / page);
    if (!ra_populate_refused(ra)) /* a kernel before 5.14 refuses */
        assert_int_equal(resident_pages(p, len), len / page);
    if (!threaded)
        assert_int_equal(batches, 1); /* paged in at once */
    ra_destroy(&ra);
    free_batch(bt);
    free(bt);
    munmap(p, len);
}

static void populated_threaded(void **state)
{
    (void)state;
    populated(true);
}

static void populated_inline(void **state)
{
    (void)state;
    populated(false);
}

#define CLAIMS 90

static void claims(bool threaded)
{
    static org_log claims_log = {.org = "org-a"};
    static uint8_t auth[CLAIMS][CLAIM_AUTH_BYTES];
    uint8_t secret[32], key[CLAIM_AUTH_KEY_BYTES], client[16];
    memset(secret, 0x42, sizeof secret);
    claim_auth_key(secret, key);
    claim_auth_keyed keyed;
    claim_auth_keyed_init(&keyed, key);
    claims_log.n = 0;
    ProtobufCBinaryData ev[CLAIMS];
    for (unsigned i = 0; i < CLAIMS; i++) {
        test_id(0xcc, i, client);
        polku_envelope *env =
            i % 5 == 4 ? ev_claim_answer(&claims_log, client,
                                         POLKU__CLAIM_OUTCOME__CLAIM_REFUSED,
                                         "org-b", 1, 10, 10 + i)
                       : ev_won(&claims_log, client, 1, 10 + i);
        Polku__PathClaimAnswered *a = env->path_claim_answered;
        claim_auth_mac(key, client, "org-a", a, auth[i]);
        if (i % 2) /* another key's */
            auth[i][0] ^= 1;
        a->authenticator = test_bytes(auth[i], CLAIM_AUTH_BYTES);
        ev[i] = encoded(env);
    }
    replay_ahead *ra = NULL;
    assert_int_equal(ra_new(1 << 20, threaded, &ra), POLKU_OK);
    for (int with_key = 0; with_key < 2; with_key++) {
        assert_int_equal(
            ra_begin(ra, "org-a", ev, CLAIMS, with_key ? &keyed : NULL),
            POLKU_OK);
        for (unsigned i = 0; i < CLAIMS; i++) {
            const ra_event *e = ra_get(ra, i);
            assert_true(e->ours);
            int want = !with_key || i % 5 == 4 ? -1 : i % 2 ? 0 : 1;
            assert_int_equal(e->claim, want);
        }
        ra_end(ra);
    }
    /* another org's batch: its claims are not checked */
    assert_int_equal(ra_begin(ra, "org-b", ev, CLAIMS, &keyed), POLKU_OK);
    for (unsigned i = 0; i < CLAIMS; i++)
        assert_int_equal(ra_get(ra, i)->claim, -1);
    ra_end(ra);
    ra_destroy(&ra);
    for (unsigned i = 0; i < CLAIMS; i++)
        free(ev[i].data);
    claim_auth_keyed_wipe(&keyed);
}

static void claims_threaded(void **state)
{
    (void)state;
    claims(true);
}

static void claims_inline(void **state)
{
    (void)state;
    claims(false);
}

int main(void)
{
    make_logs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threaded),
        cmocka_unit_test(inline_only),
        cmocka_unit_test(idle),
        cmocka_unit_test(populated_threaded),
        cmocka_unit_test(populated_inline),
        cmocka_unit_test(claims_threaded),
        cmocka_unit_test(claims_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
