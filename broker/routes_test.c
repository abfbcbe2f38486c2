/* routes_test.c — the route table and its one-session-per-organisation
 * decision (routes.h): a frame from the live connection, from a new one
 * while no session is live, and from a second one while the first is live
 * or after it went silent; the refused connection's record and when two
 * sessions count as live (the alert duplicate_session). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "routes.h"

#define HB 200
#define STALE (4 * HB + 1000)
#define T0 1000000ull

static const uint8_t A[] = {0, 'a', 'a', 'a', 'a'};
static const uint8_t B[] = {0, 'b', 'b', 'b', 'b'};
static const uint8_t C[] = {0, 'c', 'c', 'c', 'c'};

typedef struct fixture {
    broker_org orgs[2];
    broker_config cfg;
    routes t;
} fixture;

static int setup(void **state)
{
    fixture *f = test_calloc(1, sizeof *f);
    snprintf(f->orgs[0].id, sizeof f->orgs[0].id, "sote");
    snprintf(f->orgs[1].id, sizeof f->orgs[1].id, "kela");
    f->cfg.orgs = f->orgs;
    f->cfg.org_count = 2;
    assert_int_equal(routes_init(&f->t, &f->cfg), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    routes_fini(&f->t);
    routes_fini(&f->t); /* a second call does nothing */
    test_free(f);
    return 0;
}

static route *sote(fixture *f)
{
    int idx = routes_org_index(&f->t, "sote");
    assert_int_equal(idx, 0);
    return &f->t.by_org[idx];
}

static void stale_after_is_four_heartbeats_and_a_second(void **state)
{
    (void)state;
    assert_int_equal(routes_stale_after_ms(HB), STALE);
    assert_int_equal(routes_stale_after_ms(1000), 5000);
}

static void orgs_are_found_by_id(void **state)
{
    fixture *f = *state;
    assert_int_equal(routes_org_index(&f->t, "kela"), 1);
    assert_int_equal(routes_org_index(&f->t, "typ"), -1);
    assert_false(f->t.by_org[0].connected);
}

/* Offline: any connection takes the route; its own frames are SAME. */
static void first_connection_takes_the_route(void **state)
{
    route *r = sote(*state);
    assert_int_equal(routes_session_of(r, A, sizeof A, T0, STALE), ROUTES_NEW);
    routes_take(r, A, sizeof A, "10.0.0.1", T0);
    assert_true(r->connected);
    assert_string_equal(r->peer, "10.0.0.1");
    assert_int_equal(routes_session_of(r, A, sizeof A, T0 + 10, STALE),
                     ROUTES_SAME);
    /* its own frames keep it live however late they come */
    assert_int_equal(routes_session_of(r, A, sizeof A, T0 + 10 * STALE, STALE),
                     ROUTES_SAME);
    routes_take(r, A, sizeof A, NULL, T0 + 50);
    assert_int_equal(r->last_seen_ms, T0 + 50);
    assert_string_equal(r->peer, "10.0.0.1"); /* kept */
}

/* Another routing id while the first is live: refused; at the timeout
 * itself still live; one millisecond later the new one may take over. */
static void second_connection_refused_while_first_is_live(void **state)
{
    route *r = sote(*state);
    routes_take(r, A, sizeof A, "10.0.0.1", T0);
    assert_int_equal(routes_session_of(r, B, sizeof B, T0 + 1, STALE),
                     ROUTES_DUPLICATE);
    assert_int_equal(routes_session_of(r, B, sizeof B, T0 + STALE, STALE),
                     ROUTES_DUPLICATE);
    assert_int_equal(routes_session_of(r, B, sizeof B, T0 + STALE + 1, STALE),
                     ROUTES_NEW);
    /* a routing id that only differs in length is another connection */
    assert_int_equal(routes_session_of(r, A, sizeof A - 1, T0 + 1, STALE),
                     ROUTES_DUPLICATE);
    /* marked offline (a failed send): the next one takes over at once */
    r->connected = false;
    assert_int_equal(routes_session_of(r, B, sizeof B, T0 + 1, STALE),
                     ROUTES_NEW);
}

/* The refused connection is recorded once (counted, logged once), its
 * frames keep it heard; two sessions are live while both are heard. */
static void refused_connection_is_recorded_once(void **state)
{
    route *r = sote(*state);
    routes_take(r, A, sizeof A, "10.0.0.1", T0);
    assert_false(routes_duplicate_live(r, T0, STALE));
    assert_true(routes_note_duplicate(r, B, sizeof B, "10.0.0.2", T0 + 5,
                                      1700000000000ull));
    assert_false(routes_note_duplicate(r, B, sizeof B, "10.0.0.2", T0 + 200,
                                       1700000000200ull));
    assert_string_equal(r->dup_peer, "10.0.0.2");
    assert_int_equal(r->dup_since_ms, 1700000000000ull); /* the first */
    assert_int_equal(r->dup_last_seen_ms, T0 + 200);
    assert_true(routes_duplicate_live(r, T0 + 300, STALE));
    /* the live one keeps speaking, the refused one goes quiet */
    routes_take(r, A, sizeof A, NULL, T0 + 2000);
    assert_true(routes_duplicate_live(r, T0 + 200 + STALE, STALE));
    assert_false(routes_duplicate_live(r, T0 + 201 + STALE, STALE));
    /* a third connection is another refusal to count */
    assert_true(routes_note_duplicate(r, C, sizeof C, "10.0.0.3", T0 + 2100,
                                      1700000002100ull));
    assert_string_equal(r->dup_peer, "10.0.0.3");
    assert_true(routes_duplicate_live(r, T0 + 2200, STALE));
    /* the first goes silent: only one session is left to speak */
    assert_false(routes_duplicate_live(r, T0 + 2001 + STALE, STALE));
}

/* The refused connection takes over once the first is silent: the route
 * is its own, the record of a second session is gone; the old connection
 * is now the one refused. */
static void silent_session_is_taken_over(void **state)
{
    route *r = sote(*state);
    routes_take(r, A, sizeof A, "10.0.0.1", T0);
    routes_note_duplicate(r, B, sizeof B, "10.0.0.2", T0 + 100, 1);
    uint64_t later = T0 + STALE + 1;
    assert_int_equal(routes_session_of(r, B, sizeof B, later, STALE),
                     ROUTES_NEW);
    routes_take(r, B, sizeof B, "10.0.0.2", later);
    assert_int_equal(r->routing_id_len, sizeof B);
    assert_memory_equal(r->routing_id, B, sizeof B);
    assert_string_equal(r->peer, "10.0.0.2");
    assert_int_equal(r->dup_routing_id_len, 0);
    assert_false(routes_duplicate_live(r, later, STALE));
    /* the old one wakes up: refused in its turn, and counted */
    assert_int_equal(routes_session_of(r, A, sizeof A, later + 10, STALE),
                     ROUTES_DUPLICATE);
    assert_true(
        routes_note_duplicate(r, A, sizeof A, "10.0.0.1", later + 10, 2));
    assert_true(routes_duplicate_live(r, later + 10, STALE));
}

/* Routing ids beyond the table's room are never taken or recorded. */
static void oversized_routing_ids_are_ignored(void **state)
{
    route *r = sote(*state);
    uint8_t big[ROUTES_ROUTING_ID_MAX + 1];
    memset(big, 7, sizeof big);
    routes_take(r, big, sizeof big, "10.0.0.9", T0);
    assert_false(r->connected);
    routes_take(r, A, sizeof A, "10.0.0.1", T0);
    assert_false(routes_note_duplicate(r, big, sizeof big, "x", T0, 1));
    assert_int_equal(r->dup_routing_id_len, 0);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stale_after_is_four_heartbeats_and_a_second),
        CASE(orgs_are_found_by_id),
        CASE(first_connection_takes_the_route),
        CASE(second_connection_refused_while_first_is_live),
        CASE(refused_connection_is_recorded_once),
        CASE(silent_session_is_taken_over),
        CASE(oversized_routing_ids_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
