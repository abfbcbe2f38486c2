/* heads_test — the broker's witness of every organisation's chain: a log
 * that extends what it saw is accepted, one changed event, a rewritten
 * head or a broken link is diverged at the right sequence, a new
 * incarnation after a regression re-anchors, and heads that prove nothing
 * (bad signature, another's unverifiable word) are ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_config.h"
#include "heads.h"

#define KELA "kela"

typedef struct log {
    uint8_t bytes[16][128];
    size_t len[16];
    polku_envelope env[16];
    uint8_t prev[16][POLKU_CHAIN_HASH];
} log_t;

/* Event seq (1-based) of a log: a fake stored form (its own bytes), the
 * chain naming the one before. tweak changes the bytes, not the link. */
static void make(log_t *l, uint64_t seq, uint64_t inc, int tweak)
{
    polku_envelope *e = &l->env[seq];
    polku__envelope__init(e);
    e->origin_seq = seq;
    e->origin_incarnation = inc;
    l->len[seq] = (size_t)snprintf(
        (char *)l->bytes[seq], 128, "event %llu inc %llu %d",
        (unsigned long long)seq, (unsigned long long)inc, tweak);
    if (seq > 1) {
        polku_chain_hash(l->bytes[seq - 1], l->len[seq - 1], l->prev[seq]);
        e->chain_prev.data = l->prev[seq];
        e->chain_prev.len = POLKU_CHAIN_HASH;
    }
}

static heads_verdict note(broker_heads *h, log_t *l, uint64_t seq,
                          bool regressed)
{
    return heads_note_event(h, KELA, &l->env[seq], l->bytes[seq], l->len[seq],
                            regressed, 1000);
}

static void extending_log_accepted_broken_link_diverges(void **state)
{
    (void)state;
    broker_heads *h = heads_new();
    log_t l;
    for (uint64_t s = 1; s <= 5; s++)
        make(&l, s, 7, 0);
    for (uint64_t s = 1; s <= 5; s++)
        assert_int_equal(note(h, &l, s, false), HEADS_OK);
    assert_false(heads_diverged(h, KELA, NULL, NULL, NULL));
    heads_free(&h);

    /* a rebuilt broker replays a log whose event 3 was changed */
    h = heads_new();
    make(&l, 3, 7, 1); /* event 4 still names the old event 3 */
    for (uint64_t s = 1; s <= 3; s++)
        assert_int_equal(note(h, &l, s, false), HEADS_OK);
    assert_int_equal(note(h, &l, 4, false), HEADS_DIVERGED);
    uint64_t bad = 0;
    const char *detail = NULL;
    assert_true(heads_diverged(h, KELA, &bad, NULL, &detail));
    assert_int_equal(bad, 3);
    assert_non_null(strstr(detail, "seq 3"));
    assert_int_equal(note(h, &l, 5, false), HEADS_DIVERGED); /* stays */
    assert_int_equal(heads_divergences(h), 1);
    heads_free(&h);
}

static void new_incarnation_reanchors_only_after_a_regression(void **state)
{
    (void)state;
    log_t old, restored;
    for (uint64_t s = 1; s <= 6; s++)
        make(&old, s, 7, 0);
    for (uint64_t s = 1; s <= 3; s++)
        make(&restored, s, 7, 0); /* the backup: the same prefix */
    for (uint64_t s = 4; s <= 7; s++)
        make(&restored, s, 9, 0); /* SeqLost 4..6, then 7, incarnation 9 */
    for (int regressed = 0; regressed <= 1; regressed++) {
        broker_heads *h = heads_new();
        for (uint64_t s = 1; s <= 6; s++)
            assert_int_equal(note(h, &old, s, false), HEADS_OK);
        heads_verdict v = HEADS_OK;
        for (uint64_t s = 4; s <= 7 && v == HEADS_OK; s++)
            v = note(h, &restored, s, regressed);
        assert_int_equal(v, regressed ? HEADS_OK : HEADS_DIVERGED);
        assert_int_equal(heads_diverged(h, KELA, NULL, NULL, NULL), !regressed);
        if (regressed)
            assert_true(heads_reanchors(h) >= 1);
        heads_free(&h);
    }
}

static void heads_checked_against_events_and_signatures(void **state)
{
    (void)state;
    uint8_t secret[32] = {1, 2, 3}, pk[32], sk[64];
    polku_sign_keypair(secret, pk, sk);
    broker_org org = {.id = KELA, .has_sign_key = true};
    memcpy(org.sign_key, pk, 32);
    broker_config cfg = {.orgs = &org, .org_count = 1};
    log_t l;
    for (uint64_t s = 1; s <= 4; s++)
        make(&l, s, 7, 0);
    broker_heads *h = heads_new();
    for (uint64_t s = 1; s <= 4; s++)
        assert_int_equal(note(h, &l, s, false), HEADS_OK);

    polku_chain_head head = {.org = KELA, .incarnation = 7, .seq = 4};
    polku_chain_hash(l.bytes[4], l.len[4], head.hash);
    polku_chain_head_sign(&head, sk);
    Polku__ChainHead pb = POLKU__CHAIN_HEAD__INIT;
    pb.org = KELA;
    pb.seq = 4;
    pb.incarnation = 7;
    pb.hash.data = head.hash;
    pb.hash.len = 32;
    pb.signature.data = head.sig;
    pb.signature.len = 64;
    assert_int_equal(heads_note_head(h, &cfg, &pb, true, 1000), HEADS_OK);
    Polku__ChainHead **all;
    size_t n;
    heads_all(h, &all, &n);
    assert_int_equal(n, 1);
    assert_int_equal(all[0]->seq, 4);

    /* a forged signature proves nothing */
    uint8_t sig[64];
    memcpy(sig, head.sig, 64);
    sig[0] ^= 1;
    pb.signature.data = sig;
    assert_int_equal(heads_note_head(h, &cfg, &pb, false, 1000), HEADS_IGNORED);
    /* a signed head of another event at seq 4: the log was rewritten */
    polku_chain_head other = head;
    other.hash[0] ^= 1;
    polku_chain_head_sign(&other, sk);
    pb.hash.data = other.hash;
    pb.signature.data = other.sig;
    assert_int_equal(heads_note_head(h, &cfg, &pb, false, 1000),
                     HEADS_DIVERGED);
    uint64_t bad = 0;
    assert_true(heads_diverged(h, KELA, &bad, NULL, NULL));
    assert_int_equal(bad, 4);
    heads_all(h, &all, &n);
    assert_int_equal(n, 0); /* a diverged log's head is not republished */
    heads_reanchor(h, KELA);
    assert_false(heads_diverged(h, KELA, NULL, NULL, NULL));
    heads_free(&h);

    /* without a sign_key, another organisation's word is not taken */
    org.has_sign_key = false;
    h = heads_new();
    assert_int_equal(heads_note_head(h, &cfg, &pb, false, 1000), HEADS_IGNORED);
    heads_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extending_log_accepted_broken_link_diverges),
        cmocka_unit_test(new_incarnation_reanchors_only_after_a_regression),
        cmocka_unit_test(heads_checked_against_events_and_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
