/* ha_test.c — the Binary Star state machine of a broker pair (ha.h), with
 * no sockets: cold start, failover only when the peer is silent AND an
 * agent comes, a restarted broker goes passive, two actives or a frozen
 * active fail, a stalled passive waits afresh, and two brokers wired to each
 * other through their heartbeats never are active at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ha.h"

#define TIMEOUT 1100
#define MARGIN 100
#define T0 1000000ull

static void test_single_broker_always_serves(void **state)
{
    (void)state;
    ha h;
    ha_init(&h, HA_ROLE_NONE, TIMEOUT, MARGIN, T0);
    assert_true(ha_is_active(&h));
    assert_true(ha_on(&h, HA_CLIENT_REQUEST, T0 + 100000));
    assert_false(ha_tick(&h, T0)); /* no heartbeats to send */
    assert_int_equal(h.state, HA_STATE_ACTIVE);
}

static void test_cold_start_primary_leads(void **state)
{
    (void)state;
    ha p, b;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    assert_int_equal(p.state, HA_STATE_PRIMARY);
    assert_int_equal(b.state, HA_STATE_BACKUP);
    /* an agent before anyone has heard anyone: both refuse */
    assert_false(ha_on(&p, HA_CLIENT_REQUEST, T0 + 10));
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + 10));
    ha_on(&p, HA_PEER_BACKUP, T0 + 20);
    assert_int_equal(p.state, HA_STATE_ACTIVE);
    ha_on(&b, HA_PEER_ACTIVE, T0 + 30);
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    assert_true(ha_on(&p, HA_CLIENT_REQUEST, T0 + 40));
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + 40));
    assert_int_equal(b.failovers, 0);
}

static void test_alone_after_timeout(void **state)
{
    (void)state;
    ha b;
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_beat_sent(&b, T0 + TIMEOUT - 1);
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + TIMEOUT - 1));
    ha_beat_sent(&b, T0 + TIMEOUT);
    assert_true(ha_on(&b, HA_CLIENT_REQUEST, T0 + TIMEOUT));
    assert_int_equal(b.state, HA_STATE_ACTIVE);
}

/* Silence alone is not enough, an agent alone is not enough. */
static void test_failover_needs_silence_and_a_client(void **state)
{
    (void)state;
    ha b;
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on(&b, HA_PEER_ACTIVE, T0 + 10);
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    uint64_t t = T0 + 10;
    for (int i = 0; i < 20; i++) { /* the peer beats; agents knock */
        t += 200;
        ha_beat_sent(&b, t);
        ha_on(&b, HA_PEER_ACTIVE, t);
        assert_false(ha_on(&b, HA_CLIENT_REQUEST, t + 1));
    }
    /* the peer goes silent; time passes without agents: still passive */
    for (uint64_t s = t; s < t + 5000; s += 200) {
        ha_beat_sent(&b, s);
        assert_true(ha_tick(&b, s));
    }
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    /* within the timeout an agent is refused */
    ha_beat_sent(&b, t + 5000);
    assert_true(ha_on(&b, HA_CLIENT_REQUEST, t + 5000));
    assert_int_equal(b.state, HA_STATE_ACTIVE);
    assert_int_equal(b.failovers, 1);
    assert_string_not_equal(b.why, "");
}

static void test_passive_refuses_before_expiry(void **state)
{
    (void)state;
    ha b;
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on(&b, HA_PEER_ACTIVE, T0);
    ha_beat_sent(&b, T0 + TIMEOUT - 1);
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + TIMEOUT - 1));
    assert_int_equal(b.state, HA_STATE_PASSIVE);
}

static void test_restarted_peer_goes_passive(void **state)
{
    (void)state;
    /* the backup is active (the primary died); the primary comes back */
    ha p, b;
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on(&b, HA_PEER_ACTIVE, T0);
    ha_beat_sent(&b, T0 + 2000);
    assert_true(ha_on(&b, HA_CLIENT_REQUEST, T0 + 2000));
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0 + 3000);
    ha_beat_sent(&b, T0 + 3000);
    ha_on(&b, HA_PEER_PRIMARY, T0 + 3010); /* nothing for an active */
    assert_int_equal(b.state, HA_STATE_ACTIVE);
    ha_on(&p, HA_PEER_ACTIVE, T0 + 3020);
    assert_int_equal(p.state, HA_STATE_PASSIVE);
    /* a passive peer that restarts makes the other active at once */
    ha q;
    ha_init(&q, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&q, HA_PEER_ACTIVE, T0);
    ha_on(&q, HA_PEER_BACKUP, T0 + 100);
    assert_int_equal(q.state, HA_STATE_ACTIVE);
    assert_int_equal(q.failovers, 0); /* not a failover: nobody was active */
}

static void test_two_actives_fail(void **state)
{
    (void)state;
    ha p;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&p, HA_PEER_BACKUP, T0);
    assert_int_equal(p.generation, 1);
    ha_on_peer(&p, HA_PEER_ACTIVE, 1, T0 + 10); /* equal: the backup stops */
    assert_int_equal(p.state, HA_STATE_ACTIVE);
    ha_on_peer(&p, HA_PEER_ACTIVE, 2, T0 + 20); /* it took over later */
    assert_int_equal(p.state, HA_STATE_FAILED);
    assert_false(ha_on(&p, HA_CLIENT_REQUEST, T0 + 20));
    assert_false(ha_tick(&p, T0 + 20));
    ha_on(&p, HA_PEER_PASSIVE, T0 + 30); /* failed is final */
    assert_int_equal(p.state, HA_STATE_FAILED);
}

/* The backup took over from a frozen primary; the primary, woken, gets
 * one stale ACTIVE beat out before it sees the time: that beat does not
 * stop the backup; the backup's beat stops the primary. */
static void test_stale_active_beat_stops_the_older(void **state)
{
    (void)state;
    ha p, b;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on_peer(&p, HA_PEER_BACKUP, 0, T0);
    ha_on_peer(&b, HA_PEER_ACTIVE, p.generation, T0 + 1);
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    /* p frozen; b takes over */
    ha_beat_sent(&b, T0 + 3000);
    assert_true(ha_on(&b, HA_CLIENT_REQUEST, T0 + 3000));
    assert_true(b.generation > p.generation);
    ha_on_peer(&b, HA_PEER_ACTIVE, p.generation, T0 + 3100); /* stale */
    assert_int_equal(b.state, HA_STATE_ACTIVE);
    ha_beat_sent(&p, T0 + 3100); /* p's last check passed just before */
    ha_on_peer(&p, HA_PEER_ACTIVE, b.generation, T0 + 3101);
    assert_int_equal(p.state, HA_STATE_FAILED);
}

static void test_same_role_twice_fails(void **state)
{
    (void)state;
    ha p, b;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&p, HA_PEER_PRIMARY, T0);
    assert_int_equal(p.state, HA_STATE_FAILED);
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on(&b, HA_PEER_BACKUP, T0);
    assert_int_equal(b.state, HA_STATE_FAILED);
}

/* SIGSTOP of the active: when it runs again, before anything else, it
 * finds it sent no heartbeat for the timeout and stops deciding. */
static void test_frozen_active_fails_first(void **state)
{
    (void)state;
    ha p;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&p, HA_PEER_BACKUP, T0);
    ha_beat_sent(&p, T0 + 200);
    assert_true(ha_on(&p, HA_CLIENT_REQUEST, T0 + 200 + TIMEOUT - MARGIN - 1));
    /* resumed: the first thing it sees is a buffered client frame */
    assert_false(ha_on(&p, HA_CLIENT_REQUEST, T0 + 200 + TIMEOUT - MARGIN));
    assert_int_equal(p.state, HA_STATE_FAILED);
    ha q;
    ha_init(&q, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&q, HA_PEER_BACKUP, T0);
    assert_false(ha_tick(&q, T0 + 5000)); /* or its timer */
    assert_int_equal(q.state, HA_STATE_FAILED);
    /* a buffered heartbeat of the peer does not make it passive either */
    ha r;
    ha_init(&r, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_on(&r, HA_PEER_BACKUP, T0);
    ha_on(&r, HA_PEER_PASSIVE, T0 + 5000);
    assert_int_equal(r.state, HA_STATE_FAILED);
}

/* A passive that was stopped has not read the peer's heartbeats: a client
 * frame buffered meanwhile must not make it take over. */
static void test_stalled_passive_waits_afresh(void **state)
{
    (void)state;
    ha b;
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    ha_on(&b, HA_PEER_ACTIVE, T0);
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + 10000));
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    ha_beat_sent(&b, T0 + 10001);
    ha_on(&b, HA_PEER_ACTIVE, T0 + 10002); /* the buffered beats */
    assert_false(ha_on(&b, HA_CLIENT_REQUEST, T0 + 10003));
    /* and with the peer really gone, it takes over a timeout later */
    ha_beat_sent(&b, T0 + 10002 + TIMEOUT);
    assert_true(ha_on(&b, HA_CLIENT_REQUEST, T0 + 10002 + TIMEOUT));
}

static void test_two_passives_primary_leads(void **state)
{
    (void)state;
    ha p, b;
    ha_init(&p, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_init(&b, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    p.state = b.state = HA_STATE_PASSIVE;
    ha_on(&b, HA_PEER_PASSIVE, T0);
    assert_int_equal(b.state, HA_STATE_PASSIVE);
    ha_on(&p, HA_PEER_PASSIVE, T0);
    assert_int_equal(p.state, HA_STATE_ACTIVE);
}

/* Two machines wired through their heartbeats, with a scripted schedule of
 * deaths, stops, partitions and agent visits: at no moment are two of
 * them serving, and a live broker serves within a bounded time. */
typedef struct node {
    ha h;
    bool up;      /* process running (not killed, not stopped) */
    bool stopped; /* SIGSTOP: up is false, state kept */
} node;

static void deliver_beats(node n[2], bool link_up, uint64_t now)
{
    for (int i = 0; i < 2; i++) {
        if (!n[i].up || !ha_tick(&n[i].h, now))
            continue;
        ha_beat_sent(&n[i].h, now);
        node *peer = &n[1 - i];
        if (link_up && peer->up)
            ha_on_peer(&peer->h, (ha_event)n[i].h.state, n[i].h.generation,
                       now);
    }
}

static void restart_failed(node n[2], uint64_t now)
{
    for (int i = 0; i < 2; i++)
        if (n[i].h.state == HA_STATE_FAILED) /* the supervisor restarts it */
            ha_init(&n[i].h, i == 0 ? HA_ROLE_PRIMARY : HA_ROLE_BACKUP, TIMEOUT,
                    MARGIN, now);
}

static void test_pair_never_two_actives(void **state)
{
    (void)state;
    node n[2];
    memset(n, 0, sizeof n);
    ha_init(&n[0].h, HA_ROLE_PRIMARY, TIMEOUT, MARGIN, T0);
    ha_init(&n[1].h, HA_ROLE_BACKUP, TIMEOUT, MARGIN, T0);
    n[0].up = n[1].up = true;
    uint32_t rnd = 12345;
    int agent_at = 0; /* agents use one broker at a time */
    uint64_t silent_since = 0;
    int served = 0;
    for (uint64_t now = T0; now < T0 + 600000; now += 50) {
        rnd = rnd * 1103515245u + 12345u;
        uint32_t r = (rnd >> 8) % 1000;
        bool link_up = (now / 7000) % 5 != 3; /* pair link partitioned */
        if (r == 1 && n[0].up && n[1].up) {   /* kill or stop the active */
            int a = ha_is_active(&n[0].h) ? 0 : 1;
            n[a].up = false;
            n[a].stopped = (rnd >> 20) & 1;
        } else if (r == 2 || r == 3) { /* bring back who is down */
            for (int i = 0; i < 2; i++) {
                if (n[i].up)
                    continue;
                n[i].up = true;
                if (!n[i].stopped)
                    ha_init(&n[i].h, i == 0 ? HA_ROLE_PRIMARY : HA_ROLE_BACKUP,
                            TIMEOUT, MARGIN, now);
                n[i].stopped = false;
            }
        }
        if (now % 200 == 0)
            deliver_beats(n, link_up, now);
        /* the agents: at their broker; gone elsewhere when it is silent or
         * refuses (as link.c does) */
        node *at = &n[agent_at];
        if (at->up && ha_on(&at->h, HA_CLIENT_REQUEST, now)) {
            served++;
            silent_since = 0;
        } else if (!silent_since) {
            silent_since = now;
        } else if (now - silent_since >= 1800) {
            agent_at = 1 - agent_at;
            silent_since = now;
        }
        /* the real broker asks ha_on before it serves any frame, so a
         * resumed one checks itself first: counted after that check */
        int active = 0;
        for (int i = 0; i < 2; i++)
            active += n[i].up && ha_tick(&n[i].h, now) && ha_is_active(&n[i].h);
        assert_true(active <= 1);
        restart_failed(n, now);
    }
    assert_true(served > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_broker_always_serves),
        cmocka_unit_test(test_cold_start_primary_leads),
        cmocka_unit_test(test_alone_after_timeout),
        cmocka_unit_test(test_failover_needs_silence_and_a_client),
        cmocka_unit_test(test_passive_refuses_before_expiry),
        cmocka_unit_test(test_restarted_peer_goes_passive),
        cmocka_unit_test(test_two_actives_fail),
        cmocka_unit_test(test_stale_active_beat_stops_the_older),
        cmocka_unit_test(test_same_role_twice_fails),
        cmocka_unit_test(test_frozen_active_fails_first),
        cmocka_unit_test(test_stalled_passive_waits_afresh),
        cmocka_unit_test(test_two_passives_primary_leads),
        cmocka_unit_test(test_pair_never_two_actives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
