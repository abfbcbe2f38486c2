/* codec_test.c — the wire envelope: every body round-trips, every
 * validation rule refuses what it should, and damaged or random bytes never
 * crash the decoder nor come back as OK with broken invariants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "polku/codec.h"
#include "polku/error.h"

/* ---- a valid envelope of any body, built on the stack ---- */

typedef struct fixture {
    polku_envelope env;
    Polku__Hello hello;
    Polku__Welcome welcome;
    Polku__DirectoryEntry entry;
    Polku__DirectoryEntry *entries[1];
    char *services[2];
    Polku__Heartbeat heartbeat;
    Polku__Ack ack;
    Polku__SeqConflict seq_conflict;
    Polku__Nack nack;
    Polku__ReplayRequest replay_request;
    Polku__ReplayBatch replay_batch;
    ProtobufCBinaryData events[2];
    Polku__ReplayDone replay_done;
    Polku__Bundle bundle;
    Polku__ReferralRequested referral_requested;
    Polku__ReferralStatus referral_status;
    Polku__CancelRequested cancel_requested;
    char *to[POLKU_MAX_DESTS + 1];
    uint8_t msg_id[17];
    uint8_t client_key[17];
    uint8_t referral_id[17];
    uint8_t event[8];
} fixture;

static const Polku__Envelope__BodyCase all_bodies[] = {
    POLKU__ENVELOPE__BODY_HELLO,
    POLKU__ENVELOPE__BODY_WELCOME,
    POLKU__ENVELOPE__BODY_HEARTBEAT,
    POLKU__ENVELOPE__BODY_ACK,
    POLKU__ENVELOPE__BODY_NACK,
    POLKU__ENVELOPE__BODY_REPLAY_REQUEST,
    POLKU__ENVELOPE__BODY_REPLAY_BATCH,
    POLKU__ENVELOPE__BODY_REPLAY_DONE,
    POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED,
    POLKU__ENVELOPE__BODY_REFERRAL_STATUS,
    POLKU__ENVELOPE__BODY_CANCEL_REQUESTED,
    POLKU__ENVELOPE__BODY_SEQ_CONFLICT,
    POLKU__ENVELOPE__BODY_BUNDLE,
};
#define N_BODIES (sizeof all_bodies / sizeof all_bodies[0])

/* The Z85 public key of ZeroMQ's test vectors: 40 characters. */
#define PUBKEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static void init_bodies(fixture *f)
{
    f->hello = (Polku__Hello)POLKU__HELLO__INIT;
    f->hello.org = "kela";
    f->hello.last_seq = 7;
    f->hello.protocol_version = POLKU_PROTOCOL_VERSION;

    f->entry = (Polku__DirectoryEntry)POLKU__DIRECTORY_ENTRY__INIT;
    f->entry.org = "hva-pirkanmaa";
    f->entry.name = "Pirkanmaan hyvinvointialue";
    f->entry.public_key = PUBKEY;
    f->services[0] = "social-work";
    f->services[1] = "substance-services";
    f->entry.services = f->services;
    f->entry.n_services = 2;
    f->entries[0] = &f->entry;
    f->welcome = (Polku__Welcome)POLKU__WELCOME__INIT;
    f->welcome.epoch = 3;
    f->welcome.applied_seq = 99;
    f->welcome.directory = f->entries;
    f->welcome.n_directory = 1;

    f->heartbeat = (Polku__Heartbeat)POLKU__HEARTBEAT__INIT;
    f->heartbeat.epoch = 3;
    f->ack = (Polku__Ack)POLKU__ACK__INIT;
    f->ack.origin_org = "kela";
    f->ack.origin_seq = 12;
    f->seq_conflict = (Polku__SeqConflict)POLKU__SEQ_CONFLICT__INIT;
    f->seq_conflict.origin_org = "hva-pirkanmaa";
    f->seq_conflict.origin_seq = 12;
    f->seq_conflict.held_through = 14;
    f->nack = (Polku__Nack)POLKU__NACK__INIT;
    f->nack.code = POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
    f->nack.reason = "no consent on record";
    f->nack.origin_seq = 12;
    f->nack.dest_org = "hva-pirkanmaa";
    f->replay_request = (Polku__ReplayRequest)POLKU__REPLAY_REQUEST__INIT;
    f->replay_request.from_seq = 5;
    memset(f->event, 0x42, sizeof f->event);
    f->events[0] = (ProtobufCBinaryData){sizeof f->event, f->event};
    f->events[1] = (ProtobufCBinaryData){3, f->event};
    f->replay_batch = (Polku__ReplayBatch)POLKU__REPLAY_BATCH__INIT;
    f->replay_batch.events = f->events;
    f->replay_batch.n_events = 2;
    f->replay_batch.answers = (ProtobufCBinaryData){16, f->msg_id};
    f->replay_done = (Polku__ReplayDone)POLKU__REPLAY_DONE__INIT;
    f->replay_done.last_seq = 9;
    f->replay_done.answers = (ProtobufCBinaryData){16, f->msg_id};
    f->bundle = (Polku__Bundle)POLKU__BUNDLE__INIT;
    f->bundle.messages = f->events; /* two opaque messages */
    f->bundle.n_messages = 2;
}

static void init_referral_bodies(fixture *f)
{
    ProtobufCBinaryData rid = {16, f->referral_id};
    f->referral_requested =
        (Polku__ReferralRequested)POLKU__REFERRAL_REQUESTED__INIT;
    f->referral_requested.referral_id = rid;
    f->referral_requested.service = "social-work";
    f->referral_requested.reason = "asiakas tarvitsee tukea";
    f->referral_requested.urgency = "urgent";
    f->referral_requested.due_ms = 1700000000000u;
    f->referral_requested.transfer = 1;
    f->referral_status = (Polku__ReferralStatus)POLKU__REFERRAL_STATUS__INIT;
    f->referral_status.referral_id = rid;
    f->referral_status.status = POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED;
    f->referral_status.version = 2;
    f->referral_status.outcome = "ok";
    f->referral_status.writer_org = "hva-pirkanmaa";
    f->cancel_requested = (Polku__CancelRequested)POLKU__CANCEL_REQUESTED__INIT;
    f->cancel_requested.referral_id = rid;
    f->cancel_requested.reason = "asiakas muutti";
}

static void set_body(fixture *f, Polku__Envelope__BodyCase body)
{
    f->env.body_case = body;
    switch (body) {
    case POLKU__ENVELOPE__BODY_HELLO:
        f->env.hello = &f->hello;
        break;
    case POLKU__ENVELOPE__BODY_WELCOME:
        f->env.welcome = &f->welcome;
        break;
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        f->env.heartbeat = &f->heartbeat;
        break;
    case POLKU__ENVELOPE__BODY_ACK:
        f->env.ack = &f->ack;
        break;
    case POLKU__ENVELOPE__BODY_NACK:
        f->env.nack = &f->nack;
        break;
    case POLKU__ENVELOPE__BODY_SEQ_CONFLICT:
        f->env.seq_conflict = &f->seq_conflict;
        f->env.n_to = 1; /* to the origin it names */
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_REQUEST:
        f->env.replay_request = &f->replay_request;
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_BATCH:
        f->env.replay_batch = &f->replay_batch;
        break;
    case POLKU__ENVELOPE__BODY_REPLAY_DONE:
        f->env.replay_done = &f->replay_done;
        break;
    case POLKU__ENVELOPE__BODY_BUNDLE: /* a frame, not an event */
        f->env.bundle = &f->bundle;
        f->env.origin_seq = 0;
        f->env.n_to = 0;
        f->env.client_key.len = 0;
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        f->env.referral_requested = &f->referral_requested;
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        f->env.referral_status = &f->referral_status;
        break;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        f->env.cancel_requested = &f->cancel_requested;
        break;
    default:
        break;
    }
}

static void fixture_init(fixture *f, Polku__Envelope__BodyCase body)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 17; i++) {
        f->msg_id[i] = (uint8_t)(i + 1);
        f->client_key[i] = (uint8_t)(0xA0 + i);
        f->referral_id[i] = (uint8_t)(0x10 + i);
    }
    f->env = (polku_envelope)POLKU__ENVELOPE__INIT;
    f->env.version = POLKU_PROTOCOL_VERSION;
    f->env.msg_id = (ProtobufCBinaryData){16, f->msg_id};
    f->env.origin_org = "kela";
    f->env.origin_seq = 12;
    f->to[0] = "hva-pirkanmaa";
    f->to[1] = "hva-uusimaa-2";
    f->env.to = f->to;
    f->env.n_to = 2;
    f->env.client_key = (ProtobufCBinaryData){16, f->client_key};
    f->env.time_ms = 1700000000123u;
    init_bodies(f);
    init_referral_bodies(f);
    set_body(f, body);
}

/* ---- helpers ---- */

static void encode(const polku_envelope *env, uint8_t **buf, size_t *len)
{
    assert_int_equal(polku_envelope_encode(env, buf, len), POLKU_OK);
}

static int decode(const uint8_t *buf, size_t len, polku_envelope **out,
                  char *why, size_t why_len)
{
    return polku_envelope_decode(buf, len, POLKU_MAX_FRAME_DEFAULT, out, why,
                                 why_len);
}

/* Encodes f, decodes it, expects err and (if given) why containing text. */
static void expect(fixture *f, int err, const char *text)
{
    uint8_t *buf;
    size_t len;
    encode(&f->env, &buf, &len);
    polku_envelope *out = (polku_envelope *)&len; /* must be overwritten */
    char why[128] = "unset";
    int rc = decode(buf, len, &out, why, sizeof why);
    if (rc != err)
        fail_msg("expected %d got %d (%s) for %s", err, rc, why,
                 text ? text : "");
    if (err == POLKU_OK || err == POLKU_EVERSION)
        assert_non_null(out);
    else
        assert_null(out);
    if (text != NULL && strstr(why, text) == NULL)
        fail_msg("why \"%s\" lacks \"%s\"", why, text);
    polku_envelope_free(&out);
    assert_null(out);
    free(buf);
}

/* Invariants any envelope that decoded OK must satisfy. */
static void assert_sane(const polku_envelope *env)
{
    assert_int_equal(env->version, POLKU_PROTOCOL_VERSION);
    assert_int_equal(env->msg_id.len, 16);
    assert_true(env->origin_org[0] == '\0' ||
                polku_org_id_valid(env->origin_org));
    assert_true(env->n_to <= POLKU_MAX_DESTS);
    for (size_t i = 0; i < env->n_to; i++)
        assert_true(polku_org_id_valid(env->to[i]));
    assert_true(env->client_key.len == 0 || env->client_key.len == 16);
    assert_int_not_equal(env->body_case, POLKU__ENVELOPE__BODY__NOT_SET);
    assert_non_null(env->hello); /* any union member: the body pointer */
}

/* ---- round trips ---- */

static void test_round_trip_every_body(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_BODIES; i++) {
        fixture f;
        fixture_init(&f, all_bodies[i]);
        uint8_t *buf, *again;
        size_t len, again_len;
        encode(&f.env, &buf, &len);
        polku_envelope *out = NULL;
        char why[128];
        assert_int_equal(decode(buf, len, &out, why, sizeof why), POLKU_OK);
        assert_string_equal(why, "");
        assert_sane(out);
        assert_int_equal(out->body_case, all_bodies[i]);
        assert_memory_equal(out->msg_id.data, f.msg_id, 16);
        assert_string_equal(out->origin_org, "kela");
        assert_int_equal(out->n_to, f.env.n_to);
        if (f.env.n_to > 0) /* a bundle goes to no one */
            assert_string_equal(out->to[f.env.n_to - 1], f.to[f.env.n_to - 1]);
        assert_int_equal(out->time_ms, 1700000000123u);
        encode(out, &again, &again_len);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        polku_envelope_free(&out);
        free(again);
        free(buf);
    }
}

static void test_round_trip_fields(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED);
    uint8_t *buf;
    size_t len;
    encode(&f.env, &buf, &len);
    polku_envelope *out = NULL;
    assert_int_equal(decode(buf, len, &out, NULL, 0), POLKU_OK);
    const Polku__ReferralRequested *r = out->referral_requested;
    assert_memory_equal(r->referral_id.data, f.referral_id, 16);
    assert_string_equal(r->service, "social-work");
    assert_string_equal(r->urgency, "urgent");
    assert_int_equal(r->due_ms, 1700000000000u);
    assert_true(r->transfer);
    polku_envelope_free(&out);
    free(buf);

    fixture_init(&f, POLKU__ENVELOPE__BODY_WELCOME);
    encode(&f.env, &buf, &len);
    assert_int_equal(decode(buf, len, &out, NULL, 0), POLKU_OK);
    assert_int_equal(out->welcome->n_directory, 1);
    assert_string_equal(out->welcome->directory[0]->public_key, PUBKEY);
    assert_string_equal(out->welcome->directory[0]->services[1],
                        "substance-services");
    polku_envelope_free(&out);
    free(buf);
}

/* Decoding in an arena gives what plain decoding gives, for every body,
 * many times over one arena with a small block (so blocks are added and
 * dropped), and refuses what plain decoding refuses. */
static void test_decode_in_arena(void **state)
{
    (void)state;
    polku_arena *a = NULL;
    assert_int_equal(polku_arena_new(256, &a), POLKU_OK);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N_BODIES; i++) {
            fixture f;
            fixture_init(&f, all_bodies[i]);
            uint8_t *buf, *again;
            size_t len, again_len;
            encode(&f.env, &buf, &len);
            polku_envelope *out = NULL;
            char why[128];
            assert_int_equal(polku_envelope_decode_in(a, buf, len,
                                                      POLKU_MAX_FRAME_DEFAULT,
                                                      &out, why, sizeof why),
                             POLKU_OK);
            assert_sane(out);
            assert_int_equal(out->body_case, all_bodies[i]);
            encode(out, &again, &again_len);
            assert_int_equal(again_len, len);
            assert_memory_equal(again, buf, len);
            free(again);
            if (i % 2 == 0) /* and some kept across decodes */
                polku_arena_reset(a);
            /* a refusal in the arena: cut short, then too long */
            assert_int_equal(polku_envelope_decode_in(
                                 a, buf, len / 2, POLKU_MAX_FRAME_DEFAULT, &out,
                                 why, sizeof why) == POLKU_OK,
                             false);
            assert_null(out);
            assert_int_equal(polku_envelope_decode_in(a, buf, len, len - 1,
                                                      &out, why, sizeof why),
                             POLKU_ETOOLARGE);
            free(buf);
        }
        polku_arena_reset(a);
    }
    polku_arena_free(&a);
    assert_null(a);
    polku_arena_free(&a); /* twice is harmless */
}

static void test_broker_envelope_minimal(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, POLKU__ENVELOPE__BODY_HEARTBEAT);
    f.env.origin_org = ""; /* from the broker */
    f.env.n_to = 0;
    f.env.client_key.len = 0;
    f.env.origin_seq = 0;
    f.env.time_ms = 0;
    expect(&f, POLKU_OK, NULL);
}

/* ---- the rules, each broken once ---- */

typedef void (*breaker)(fixture *f);

typedef struct rule_case {
    const char *name;
    Polku__Envelope__BodyCase body;
    breaker brk;
    int err;
    const char *why; /* substring expected in why */
} rule_case;

static char long_text[POLKU_MAX_TEXT + 2];

static void no_body(fixture *f)
{
    f->env.body_case = POLKU__ENVELOPE__BODY__NOT_SET;
}
static void old_version(fixture *f)
{
    f->env.version = 0;
}
static void future_version(fixture *f)
{
    f->env.version = POLKU_PROTOCOL_VERSION + 1;
}
static void msg_id_short(fixture *f)
{
    f->env.msg_id.len = 15;
}
static void msg_id_long(fixture *f)
{
    f->env.msg_id.len = 17;
}
static void msg_id_empty(fixture *f)
{
    f->env.msg_id.len = 0;
}
static void bad_version_and_msg_id(fixture *f)
{
    f->env.version = 9;
    f->env.msg_id.len = 4;
}
static void replay_batch_answers_short(fixture *f)
{
    f->replay_batch.answers = (ProtobufCBinaryData){15, f->msg_id};
}
static void replay_done_answers_long(fixture *f)
{
    static uint8_t id[17];
    f->replay_done.answers = (ProtobufCBinaryData){sizeof id, id};
}
static void origin_upper(fixture *f)
{
    f->env.origin_org = "Kela";
}
static void to_invalid(fixture *f)
{
    f->to[1] = "-starts-with-hyphen";
}
static void to_empty_string(fixture *f)
{
    f->to[0] = "";
}
static void to_duplicate(fixture *f)
{
    f->to[1] = f->to[0];
}
static void to_too_many(fixture *f)
{
    static char names[POLKU_MAX_DESTS + 1][8];
    for (int i = 0; i <= POLKU_MAX_DESTS; i++) {
        snprintf(names[i], sizeof names[i], "org%d", i);
        f->to[i] = names[i];
    }
    f->env.n_to = POLKU_MAX_DESTS + 1;
}
static void client_key_short(fixture *f)
{
    f->env.client_key.len = 8;
}
static void client_key_long(fixture *f)
{
    f->env.client_key.len = 17;
}
static void chain_prev_short(fixture *f)
{
    static uint8_t prev[31];
    f->env.chain_prev = (ProtobufCBinaryData){sizeof prev, prev};
}
static void hello_chain_hash_short(fixture *f)
{
    static uint8_t hash[31];
    static Polku__ChainHead head = POLKU__CHAIN_HEAD__INIT;
    head.org = "kela";
    head.seq = 3;
    head.hash = (ProtobufCBinaryData){sizeof hash, hash};
    f->hello.chain = &head;
}
static void hello_org_bad(fixture *f)
{
    f->hello.org = "a";
}
static void hello_org_empty(fixture *f)
{
    f->hello.org = "";
}
static void welcome_org_bad(fixture *f)
{
    f->entry.org = "kela_";
}
static void welcome_key_short(fixture *f)
{
    f->entry.public_key = "abc";
}
static void welcome_name_utf8(fixture *f)
{
    f->entry.name = "bad \xff byte";
}
static void ack_origin_bad(fixture *f)
{
    f->ack.origin_org = "";
}
static void conflict_to_another(fixture *f)
{
    f->seq_conflict.origin_org = "hva-uusimaa-2";
}
static void conflict_to_two(fixture *f)
{
    f->env.n_to = 2;
}
static void conflict_held_below(fixture *f)
{
    f->seq_conflict.held_through = 11;
}
static void conflict_seq_zero(fixture *f)
{
    f->seq_conflict.origin_seq = 0;
    f->seq_conflict.held_through = 0;
}
static void nack_code_high(fixture *f)
{
    f->nack.code = (Polku__NackCode)(POLKU_NACK_CODE_LAST + 1);
}
static void nack_code_negative(fixture *f)
{
    f->nack.code = (Polku__NackCode)-1;
}
static void nack_reason_long(fixture *f)
{
    f->nack.reason = long_text;
}
static void nack_dest_bad(fixture *f)
{
    f->nack.dest_org = "x";
}
static void replay_event_empty(fixture *f)
{
    f->events[1].len = 0;
}
static void bundle_none(fixture *f)
{
    f->bundle.n_messages = 0;
}
static void bundle_empty_message(fixture *f)
{
    f->events[0].len = 0;
}
static void bundle_with_seq(fixture *f)
{
    f->env.origin_seq = 3;
}
static void rr_id_short(fixture *f)
{
    f->referral_requested.referral_id.len = 15;
}
static void rr_service_long(fixture *f)
{
    f->referral_requested.service = long_text + POLKU_MAX_TEXT - 65;
}
static void rr_urgency_long(fixture *f)
{
    f->referral_requested.urgency = "kiireellinen"; /* words, not a code */
}
static void rr_reason_long(fixture *f)
{
    f->referral_requested.reason = long_text;
}
static void rr_reason_overlong_utf8(fixture *f)
{
    f->referral_requested.reason = "overlong \xc0\xaf slash";
}
static void rr_service_surrogate(fixture *f)
{
    f->referral_requested.service = "\xed\xa0\x80";
}
static void rs_id_long(fixture *f)
{
    f->referral_status.referral_id.len = 17;
}
static void rs_status_unspecified(fixture *f)
{
    f->referral_status.status = POLKU__REFERRAL_STATE__REFERRAL_UNSPECIFIED;
}
static void rs_status_high(fixture *f)
{
    f->referral_status.status = (Polku__ReferralState)10;
}
static void rs_reason_long(fixture *f)
{
    f->referral_status.reason = long_text;
}
static void rs_outcome_utf8(fixture *f)
{
    f->referral_status.outcome = "truncated \xe2\x82";
}
static void rs_writer_bad(fixture *f)
{
    f->referral_status.writer_org = "KELA";
}
static void rr_override_unknown(fixture *f)
{
    f->referral_requested.override_basis = "urgent";
}
static void cr_id_empty(fixture *f)
{
    f->cancel_requested.referral_id.len = 0;
}
static void cr_reason_long(fixture *f)
{
    f->cancel_requested.reason = long_text;
}

#define B(x) POLKU__ENVELOPE__BODY_##x
static const rule_case rules[] = {
    {"no body", B(HELLO), no_body, POLKU_EMALFORMED, "body"},
    {"version 0", B(HELLO), old_version, POLKU_EVERSION, "version"},
    {"version 2", B(HELLO), future_version, POLKU_EVERSION, "version"},
    {"msg_id 15", B(HELLO), msg_id_short, POLKU_EMALFORMED,
     "msg_id must be 16 bytes"},
    {"msg_id 17", B(HELLO), msg_id_long, POLKU_EMALFORMED, "msg_id"},
    {"msg_id 0", B(HELLO), msg_id_empty, POLKU_EMALFORMED, "msg_id"},
    {"bad version+msg_id", B(HELLO), bad_version_and_msg_id, POLKU_EMALFORMED,
     "msg_id"},
    {"origin case", B(HELLO), origin_upper, POLKU_EMALFORMED, "origin_org"},
    {"replay batch answers 15", B(REPLAY_BATCH), replay_batch_answers_short,
     POLKU_EMALFORMED, "replay_batch.answers"},
    {"replay done answers 17", B(REPLAY_DONE), replay_done_answers_long,
     POLKU_EMALFORMED, "replay_done.answers"},
    {"to syntax", B(REFERRAL_REQUESTED), to_invalid, POLKU_EMALFORMED,
     "to is not a valid org id"},
    {"to empty", B(REFERRAL_REQUESTED), to_empty_string, POLKU_EMALFORMED,
     "to is not a valid org id"},
    {"to duplicate", B(REFERRAL_REQUESTED), to_duplicate, POLKU_EMALFORMED,
     "to has a duplicate destination"},
    {"to > max", B(REFERRAL_REQUESTED), to_too_many, POLKU_EMALFORMED,
     "too many"},
    {"client_key 8", B(ACK), client_key_short, POLKU_EMALFORMED, "client_key"},
    {"client_key 17", B(ACK), client_key_long, POLKU_EMALFORMED, "client_key"},
    {"chain_prev 31", B(REFERRAL_REQUESTED), chain_prev_short, POLKU_EMALFORMED,
     "chain_prev"},
    {"hello.chain hash 31", B(HELLO), hello_chain_hash_short, POLKU_EMALFORMED,
     "hello.chain"},
    {"hello.org 1 char", B(HELLO), hello_org_bad, POLKU_EMALFORMED,
     "hello.org"},
    {"hello.org empty", B(HELLO), hello_org_empty, POLKU_EMALFORMED,
     "hello.org"},
    {"directory org", B(WELCOME), welcome_org_bad, POLKU_EMALFORMED,
     "welcome.directory.org"},
    {"directory key", B(WELCOME), welcome_key_short, POLKU_EMALFORMED,
     "public_key"},
    {"directory name", B(WELCOME), welcome_name_utf8, POLKU_EMALFORMED,
     "UTF-8"},
    {"ack origin", B(ACK), ack_origin_bad, POLKU_EMALFORMED, "ack.origin_org"},
    {"conflict to another", B(SEQ_CONFLICT), conflict_to_another,
     POLKU_EMALFORMED, "goes to the origin it names"},
    {"conflict to two", B(SEQ_CONFLICT), conflict_to_two, POLKU_EMALFORMED,
     "goes to the origin it names"},
    {"conflict held below", B(SEQ_CONFLICT), conflict_held_below,
     POLKU_EMALFORMED, "seq_conflict.held_through is at least origin_seq"},
    {"conflict seq 0", B(SEQ_CONFLICT), conflict_seq_zero, POLKU_EMALFORMED,
     "seq_conflict.held_through"},
    {"nack code past the last", B(NACK), nack_code_high, POLKU_EMALFORMED,
     "nack.code"},
    {"nack code -1", B(NACK), nack_code_negative, POLKU_EMALFORMED,
     "nack.code"},
    {"nack reason", B(NACK), nack_reason_long, POLKU_EMALFORMED,
     "nack.reason too long"},
    {"nack dest", B(NACK), nack_dest_bad, POLKU_EMALFORMED, "nack.dest_org"},
    {"replay empty event", B(REPLAY_BATCH), replay_event_empty,
     POLKU_EMALFORMED, "replay_batch.events"},
    {"bundle of nothing", B(BUNDLE), bundle_none, POLKU_EMALFORMED,
     "bundle.messages holds 1 to 1024"},
    {"bundle empty message", B(BUNDLE), bundle_empty_message, POLKU_EMALFORMED,
     "bundle.messages has an empty message"},
    {"bundle with a sequence", B(BUNDLE), bundle_with_seq, POLKU_EMALFORMED,
     "bundle carries no sequence"},
    {"rr id", B(REFERRAL_REQUESTED), rr_id_short, POLKU_EMALFORMED,
     "referral_requested.referral_id must be 16 bytes"},
    {"rr service", B(REFERRAL_REQUESTED), rr_service_long, POLKU_EMALFORMED,
     "referral_requested.service must be 1 to 64 of [A-Za-z0-9._:-]"},
    {"rr urgency", B(REFERRAL_REQUESTED), rr_urgency_long, POLKU_EMALFORMED,
     "referral_requested.urgency is not one of its known values"},
    {"rr reason", B(REFERRAL_REQUESTED), rr_reason_long, POLKU_EMALFORMED,
     "referral_requested.reason too long"},
    {"rr override basis", B(REFERRAL_REQUESTED), rr_override_unknown,
     POLKU_EMALFORMED,
     "referral_requested.override_basis is not one of its known values"},
    {"rr overlong", B(REFERRAL_REQUESTED), rr_reason_overlong_utf8,
     POLKU_EMALFORMED, "referral_requested.reason is not valid UTF-8"},
    {"rr surrogate", B(REFERRAL_REQUESTED), rr_service_surrogate,
     POLKU_EMALFORMED,
     "referral_requested.service must be 1 to 64 of [A-Za-z0-9._:-]"},
    {"rs id", B(REFERRAL_STATUS), rs_id_long, POLKU_EMALFORMED,
     "referral_status.referral_id"},
    {"rs unspecified", B(REFERRAL_STATUS), rs_status_unspecified,
     POLKU_EMALFORMED, "referral_status.status"},
    {"rs status 10", B(REFERRAL_STATUS), rs_status_high, POLKU_EMALFORMED,
     "referral_status.status"},
    {"rs reason", B(REFERRAL_STATUS), rs_reason_long, POLKU_EMALFORMED,
     "referral_status.reason"},
    {"rs outcome", B(REFERRAL_STATUS), rs_outcome_utf8, POLKU_EMALFORMED,
     "referral_status.outcome is not valid UTF-8"},
    {"rs writer", B(REFERRAL_STATUS), rs_writer_bad, POLKU_EMALFORMED,
     "referral_status.writer_org"},
    {"cr id", B(CANCEL_REQUESTED), cr_id_empty, POLKU_EMALFORMED,
     "cancel_requested.referral_id"},
    {"cr reason", B(CANCEL_REQUESTED), cr_reason_long, POLKU_EMALFORMED,
     "cancel_requested.reason too long"},
};

static void test_each_rule(void **state)
{
    (void)state;
    memset(long_text, 'a', sizeof long_text - 1);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        fixture f;
        fixture_init(&f, rules[i].body);
        expect(&f, POLKU_OK, NULL); /* valid before ... */
        fixture_init(&f, rules[i].body);
        rules[i].brk(&f);
        expect(&f, rules[i].err, rules[i].why); /* ... refused after */
    }
}

/* The bounds themselves are allowed: the limit is inclusive. */
static void test_limits_inclusive(void **state)
{
    (void)state;
    memset(long_text, 'a', sizeof long_text - 1);
    fixture f;
    fixture_init(&f, B(REFERRAL_REQUESTED));
    f.referral_requested.reason = long_text + 1; /* POLKU_MAX_TEXT chars */
    f.referral_requested.service = long_text + POLKU_MAX_TEXT + 1 - 64;
    static char names[POLKU_MAX_DESTS][8];
    for (int i = 0; i < POLKU_MAX_DESTS; i++) {
        snprintf(names[i], sizeof names[i], "org%d", i);
        f.to[i] = names[i];
    }
    f.env.n_to = POLKU_MAX_DESTS;
    expect(&f, POLKU_OK, NULL);
}

static void test_version_mismatch_keeps_envelope(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, B(HELLO));
    f.env.version = 2;
    uint8_t *buf;
    size_t len;
    encode(&f.env, &buf, &len);
    polku_envelope *out = NULL;
    assert_int_equal(decode(buf, len, &out, NULL, 0), POLKU_EVERSION);
    assert_non_null(out);
    assert_int_equal(out->msg_id.len, 16);
    assert_memory_equal(out->msg_id.data, f.msg_id, 16);
    polku_envelope_free(&out);
    free(buf);
}

static void test_utf8_accepts_valid(void **state)
{
    (void)state;
    const char *ok[] = {"",
                        "plain",
                        "ääkköset ÅÄÖ",
                        "€ 3 bytes",
                        "\xf0\x9f\x98\x80 emoji",
                        "\xf4\x8f\xbf\xbf max",
                        "\xef\xbf\xbd replacement"};
    const char *bad[] = {"\x80",
                         "\xc1\xbf",
                         "\xe0\x80\xaf",
                         "\xf0\x80\x80\xaf",
                         "\xf4\x90\x80\x80",
                         "\xf5\x80\x80\x80",
                         "\xed\xbf\xbf",
                         "\xe2\x82",
                         "ab\xc3"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fixture f;
        fixture_init(&f, B(CANCEL_REQUESTED));
        f.cancel_requested.reason = (char *)ok[i];
        expect(&f, POLKU_OK, NULL);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture f;
        fixture_init(&f, B(CANCEL_REQUESTED));
        f.cancel_requested.reason = (char *)bad[i];
        expect(&f, POLKU_EMALFORMED, "UTF-8");
    }
}

/* ---- unknown fields ---- */

static uint8_t unknown_data[4] = {0xde, 0xad, 0xbe, 0xef};
static ProtobufCMessageUnknownField unknown99 = {
    99, PROTOBUF_C_WIRE_TYPE_32BIT, sizeof unknown_data, unknown_data};

/* Encodes f with unknown field 99 on msg; if zero_tag, rewrites its tag
 * (9d 06) as an overlong field number 0 (85 00), same length. */
static void encode_unknown(fixture *f, ProtobufCMessage *msg, bool zero_tag,
                           uint8_t **buf, size_t *len)
{
    msg->n_unknown_fields = 1;
    msg->unknown_fields = &unknown99;
    encode(&f->env, buf, len);
    const uint8_t tagged[] = {0x9d, 0x06, 0xde, 0xad, 0xbe, 0xef};
    uint8_t *at = memmem(*buf, *len, tagged, sizeof tagged);
    assert_non_null(at);
    if (zero_tag) {
        at[0] = 0x85;
        at[1] = 0x00;
    }
}

static void test_unknown_fields_kept(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, B(HELLO));
    uint8_t *buf, *again;
    size_t len, again_len;
    encode_unknown(&f, &f.hello.base, false, &buf, &len);
    polku_envelope *out = NULL;
    assert_int_equal(decode(buf, len, &out, NULL, 0), POLKU_OK);
    assert_int_equal(out->hello->base.n_unknown_fields, 1);
    encode(out, &again, &again_len); /* forwarded unchanged */
    assert_int_equal(again_len, len);
    assert_memory_equal(again, buf, len);
    polku_envelope_free(&out);
    free(again);
    free(buf);
}

static void test_field_number_zero_refused(void **state)
{
    (void)state;
    for (int nested = 0; nested <= 1; nested++) {
        fixture f;
        fixture_init(&f, B(WELCOME));
        ProtobufCMessage *msg = nested ? &f.entry.base : &f.env.base;
        uint8_t *buf;
        size_t len;
        encode_unknown(&f, msg, true, &buf, &len);
        polku_envelope *out = NULL;
        char why[64];
        assert_int_equal(decode(buf, len, &out, why, sizeof why),
                         POLKU_EMALFORMED);
        assert_null(out);
        assert_string_equal(why, "frame has field number 0");
        free(buf);
    }
}

/* ---- damaged and hostile bytes ---- */

static void test_oversized(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, B(HELLO));
    uint8_t *buf;
    size_t len;
    encode(&f.env, &buf, &len);
    polku_envelope *out = (polku_envelope *)buf;
    char why[64];
    assert_int_equal(
        polku_envelope_decode(buf, len, len - 1, &out, why, sizeof why),
        POLKU_ETOOLARGE);
    assert_null(out);
    assert_non_null(strstr(why, "size limit"));
    assert_int_equal(
        polku_envelope_decode(buf, len, len, &out, why, sizeof why), POLKU_OK);
    polku_envelope_free(&out);

    /* The size check comes first: an over-limit frame is not even parsed. */
    static uint8_t junk[POLKU_MAX_FRAME_DEFAULT + 1];
    assert_int_equal(decode(junk, sizeof junk, &out, NULL, 0), POLKU_ETOOLARGE);
    assert_null(out);
    free(buf);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    for (size_t b = 0; b < N_BODIES; b++) {
        fixture f;
        fixture_init(&f, all_bodies[b]);
        uint8_t *buf;
        size_t len;
        encode(&f.env, &buf, &len);
        for (size_t cut = 0; cut < len; cut++) {
            /* a copy of exactly cut bytes, so ASan sees any overread */
            uint8_t *part = malloc(cut ? cut : 1);
            assert_non_null(part);
            memcpy(part, buf, cut);
            polku_envelope *out = (polku_envelope *)part;
            int rc = decode(part, cut, &out, NULL, 0);
            assert_int_equal(rc, POLKU_EMALFORMED);
            assert_null(out);
            free(part);
        }
        free(buf);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* If it decodes, it is sane and re-encodes to a stable form. */
static void decode_any(const uint8_t *data, size_t len, int *oks)
{
    polku_envelope *out = NULL;
    char why[96];
    int rc = decode(data, len, &out, why, sizeof why);
    assert_true(strlen(why) < sizeof why);
    if (rc != POLKU_OK) {
        assert_true(rc == POLKU_EMALFORMED || rc == POLKU_EVERSION);
        assert_true(rc == POLKU_EVERSION || out == NULL);
        polku_envelope_free(&out);
        return;
    }
    (*oks)++;
    assert_sane(out);
    uint8_t *b1, *b2;
    size_t l1, l2;
    encode(out, &b1, &l1);
    polku_envelope *again = NULL;
    assert_int_equal(decode(b1, l1, &again, NULL, 0), POLKU_OK);
    encode(again, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    polku_envelope_free(&again);
    polku_envelope_free(&out);
    free(b1);
    free(b2);
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint8_t data[256];
    int oks = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len = rng() % sizeof data;
        for (size_t k = 0; k < len; k++)
            data[k] = (uint8_t)rng();
        decode_any(data, len, &oks);
    }
    assert_true(oks < 20000); /* random bytes are (almost) never a frame */
}

/* Flip, set and delete single bytes of valid frames. */
static void test_mutated_frames(void **state)
{
    (void)state;
    int oks = 0;
    for (size_t b = 0; b < N_BODIES; b++) {
        fixture f;
        fixture_init(&f, all_bodies[b]);
        uint8_t *buf;
        size_t len;
        encode(&f.env, &buf, &len);
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        for (size_t pos = 0; pos < len; pos++) {
            for (int v = 0; v < 256; v += 17) {
                memcpy(copy, buf, len);
                copy[pos] = (uint8_t)v;
                decode_any(copy, len, &oks);
            }
            memcpy(copy, buf, pos); /* delete byte pos */
            memcpy(copy + pos, buf + pos + 1, len - pos - 1);
            decode_any(copy, len - 1, &oks);
        }
        free(copy);
        free(buf);
    }
    assert_true(oks > 0); /* some mutations hit free-form bytes */
}

static void test_null_why_is_fine(void **state)
{
    (void)state;
    polku_envelope *out = NULL;
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(
        polku_envelope_decode(junk, sizeof junk, 100, &out, NULL, 64),
        POLKU_EMALFORMED);
    char why[4];
    assert_int_equal(
        polku_envelope_decode(junk, sizeof junk, 100, &out, why, sizeof why),
        POLKU_EMALFORMED);
    assert_int_equal(strlen(why), 3); /* truncated, terminated */
    assert_int_equal(polku_envelope_decode(NULL, 0, 100, &out, why, sizeof why),
                     POLKU_EMALFORMED); /* empty frame: no body */
    polku_envelope_free(NULL);
    polku_envelope_free(&out);
}

/* ---- names ---- */

static void test_org_id_syntax(void **state)
{
    (void)state;
    const char *ok[] = {"ab",
                        "kela",
                        "hva-pirkanmaa",
                        "0x",
                        "a-",
                        "9-9",
                        "abcdefghijklmnopqrstuvwxyz012345"};
    const char *bad[] = {NULL,    "",      "a",
                         "-ab",   "Kela",  "ke la",
                         "kela_", "kelä",  "abcdefghijklmnopqrstuvwxyz0123456",
                         "ke.la", "ke\nla"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(polku_org_id_valid(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(polku_org_id_valid(bad[i]));
}

static void test_nack_code_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "unspecified",     "unknown_org",         "not_authenticated",
        "origin_mismatch", "consent_required",    "consent_revoked",
        "not_coordinator", "invalid_transition",  "malformed",
        "too_large",       "unsupported_version", "overloaded",
        "retry_later",     "duplicate_session",   "stale_plan"};
    assert_string_equal(
        polku_nack_code_name(POLKU__NACK_CODE__NACK_LOG_DIVERGED),
        "log_diverged");
    for (int c = 0; c <= 14; c++)
        assert_string_equal(polku_nack_code_name((Polku__NackCode)c), names[c]);
    assert_true(polku_nack_code_known("duplicate_session"));
    assert_true(polku_nack_code_known("stale_plan"));
    assert_string_equal(
        polku_nack_code_name(POLKU__NACK_CODE__NACK_BROKER_PASSIVE),
        "broker_passive");
    assert_string_equal(
        polku_nack_code_name(POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED),
        "override_not_permitted");
    assert_true(polku_override_basis_valid("emergency"));
    assert_true(polku_override_basis_valid("statutory"));
    assert_false(polku_override_basis_valid(""));
    assert_false(polku_override_basis_valid("Emergency"));
    assert_string_equal(polku_nack_code_name((Polku__NackCode)15),
                        "unspecified");
    assert_string_equal(polku_nack_code_name((Polku__NackCode)-1),
                        "unspecified");
}

static void test_body_names(void **state)
{
    (void)state;
    static const char *const names[] = {"hello",
                                        "welcome",
                                        "heartbeat",
                                        "ack",
                                        "nack",
                                        "replay_request",
                                        "replay_batch",
                                        "replay_done",
                                        "referral_requested",
                                        "referral_status",
                                        "cancel_requested",
                                        "seq_conflict",
                                        "bundle"};
    assert_int_equal(sizeof names / sizeof names[0], N_BODIES);
    for (size_t i = 0; i < N_BODIES; i++)
        assert_string_equal(polku_body_name(all_bodies[i]), names[i]);
    assert_string_equal(polku_body_name(POLKU__ENVELOPE__BODY__NOT_SET),
                        "none");
    assert_string_equal(polku_body_name((Polku__Envelope__BodyCase)99),
                        "unknown");
}

/* The unsealed fields are closed vocabularies: words and identity codes
 * cannot travel in them. */
static void test_closed_vocabularies(void **state)
{
    (void)state;
    assert_true(polku_token_valid("vocational-rehab"));
    assert_true(polku_token_valid("plan:2026.v3_final"));
    assert_false(polku_token_valid(""));
    assert_false(polku_token_valid("two words"));
    assert_false(polku_token_valid("sosiaalityö"));
    assert_false(polku_token_valid("131052-308T"));      /* a valid code */
    assert_false(polku_token_valid("plan-131052-308T")); /* inside one */
    assert_true(polku_token_valid("131052-308X"));       /* wrong check char */
    char longest[POLKU_TOKEN_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[POLKU_TOKEN_MAX] = '\0';
    assert_true(polku_token_valid(longest));
    longest[POLKU_TOKEN_MAX] = 'a';
    longest[POLKU_TOKEN_MAX + 1] = '\0';
    assert_false(polku_token_valid(longest));
    assert_true(polku_consent_form_valid("Y100"));
    assert_true(polku_consent_form_valid("written"));
    assert_true(polku_consent_form_valid("oral"));
    assert_true(polku_consent_form_valid("electronic"));
    assert_false(polku_consent_form_valid("verbal")); /* no longer recorded */
    assert_false(polku_consent_form_valid("y100"));
    assert_false(polku_consent_form_valid("Matti Meikäläinen"));
    assert_true(polku_consent_form_readable("verbal")); /* but still read */
    assert_true(polku_consent_form_readable("electronic"));
    assert_false(polku_consent_form_readable("telepathy"));
    assert_false(polku_consent_form_readable(NULL));
    assert_true(polku_urgency_valid("urgent"));
    assert_false(polku_urgency_valid("asap"));

    /* on the wire: one body of each kind with a bad unsealed field */
    uint8_t id[16] = {1}, key[16] = {2}, msg[16] = {3};
    char *orgs[] = {"kela", "typ"}, *purposes[] = {"referral"};
    Polku__ConsentGranted g = POLKU__CONSENT_GRANTED__INIT;
    g.consent_id = (ProtobufCBinaryData){16, id};
    g.n_orgs = 2;
    g.orgs = orgs;
    g.n_purposes = 1;
    g.purposes = purposes;
    g.form = "131052-308T";
    Polku__ServiceStarted st = POLKU__SERVICE_STARTED__INIT;
    st.service = "kotikäynti 131052-308T";
    Polku__HandoverOffered o = POLKU__HANDOVER_OFFERED__INIT;
    o.handover_id = (ProtobufCBinaryData){16, id};
    o.rule = "marker-131052-308T";
    struct {
        Polku__Envelope__BodyCase body;
        void *msg;
        const char *why;
    } cases[] = {
        {B(CONSENT_GRANTED), &g,
         "consent_granted.form is not one of its known values"},
        {B(SERVICE_STARTED), &st,
         "service_started.service must be 1 to 64 of [A-Za-z0-9._:-]"},
        {B(HANDOVER_OFFERED), &o,
         "handover_offered.rule must be 1 to 64 of [A-Za-z0-9._:-]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        polku_envelope env = POLKU__ENVELOPE__INIT;
        env.version = POLKU_PROTOCOL_VERSION;
        env.msg_id = (ProtobufCBinaryData){16, msg};
        env.origin_org = "kela";
        env.origin_seq = 1;
        env.client_key = (ProtobufCBinaryData){16, key};
        env.body_case = cases[i].body;
        env.consent_granted = cases[i].msg; /* one member of the union */
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(polku_envelope_encode(&env, &buf, &len), POLKU_OK);
        polku_envelope *out = NULL;
        char why[128] = "";
        assert_int_equal(
            polku_envelope_decode(buf, len, 1u << 20, &out, why, sizeof why),
            POLKU_EMALFORMED);
        assert_null(out);
        assert_string_equal(why, cases[i].why);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_body),
        cmocka_unit_test(test_round_trip_fields),
        cmocka_unit_test(test_broker_envelope_minimal),
        cmocka_unit_test(test_each_rule),
        cmocka_unit_test(test_limits_inclusive),
        cmocka_unit_test(test_version_mismatch_keeps_envelope),
        cmocka_unit_test(test_utf8_accepts_valid),
        cmocka_unit_test(test_unknown_fields_kept),
        cmocka_unit_test(test_field_number_zero_refused),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutated_frames),
        cmocka_unit_test(test_null_why_is_fine),
        cmocka_unit_test(test_org_id_syntax),
        cmocka_unit_test(test_nack_code_names),
        cmocka_unit_test(test_body_names),
        cmocka_unit_test(test_decode_in_arena),
        cmocka_unit_test(test_closed_vocabularies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
