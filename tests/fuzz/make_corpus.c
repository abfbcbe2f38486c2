/* make_corpus.c — writes the seed corpus for fuzz_envelope.
 *
 * A fuzzer that starts from real frames reaches the body validators in
 * seconds instead of hours. This writes one valid frame per body type and
 * a few broken ones (bad version, bad id, truncated, bad UTF-8, field
 * number 0, ...) into DIR (and a Bundle of two of them). Run once by hand; the
 * output is committed: make_fuzz_corpus tests/fuzz/corpus/envelope
 * Deterministic: the same program writes the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/error.h"

#define PUBKEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

static const char *out_dir;
static uint8_t msg_id[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                             9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t client_key[16] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
                                 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc,
                                 0xcd, 0xce, 0xcf, 0xd0};
static uint8_t referral_id[16] = {0x52, 1, 2,  3,  4,  5,  6,  7,
                                  8,    9, 10, 11, 12, 13, 14, 15};
static char *dests[] = {"hva-pirkanmaa", "kela"};

static void write_bytes(const char *name, const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

static uint8_t *encode(const polku_envelope *env, size_t *len)
{
    uint8_t *buf;
    if (polku_envelope_encode(env, &buf, len) != POLKU_OK)
        exit(1);
    return buf;
}

/* cut bytes are dropped from the end of the encoded frame. */
static void write_frame(const char *name, const polku_envelope *env, size_t cut)
{
    size_t len;
    uint8_t *buf = encode(env, &len);
    write_bytes(name, buf, len > cut ? len - cut : 0);
    free(buf);
}

/* env plus an unknown field whose tag is an overlong varint for field
 * number 0: protobuf-c parses it, but could not parse it re-encoded. */
static void write_field_zero(const polku_envelope *env)
{
    static const uint8_t field_zero[] = {0x85, 0x00, 0xde, 0xad, 0xbe, 0xef};
    size_t len;
    uint8_t *buf = encode(env, &len);
    uint8_t *all = malloc(len + sizeof field_zero);
    if (all == NULL)
        exit(1);
    memcpy(all, buf, len);
    memcpy(all + len, field_zero, sizeof field_zero);
    write_bytes("field-zero", all, len + sizeof field_zero);
    free(all);
    free(buf);
}

static polku_envelope base(const char *origin)
{
    polku_envelope env = POLKU__ENVELOPE__INIT;
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id = (ProtobufCBinaryData){sizeof msg_id, msg_id};
    env.origin_org = (char *)origin;
    env.time_ms = 1763820000000u;
    return env;
}

static polku_envelope event(const char *origin, uint64_t seq)
{
    polku_envelope env = base(origin);
    env.origin_seq = seq;
    env.to = dests;
    env.n_to = 1;
    env.client_key = (ProtobufCBinaryData){sizeof client_key, client_key};
    return env;
}

static void session_frames(void)
{
    polku_envelope env = base("kela");
    Polku__Hello hello = POLKU__HELLO__INIT;
    hello.org = "kela";
    hello.last_seq = 41;
    hello.protocol_version = POLKU_PROTOCOL_VERSION;
    env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    write_frame("hello", &env, 0);
    write_field_zero(&env);
    env.version = 2;
    write_frame("bad-version", &env, 0);
    env.version = POLKU_PROTOCOL_VERSION;
    env.msg_id.len = 8;
    write_frame("bad-msg-id", &env, 0);

    char *services[] = {"sosiaalityö", "lastensuojelu"};
    Polku__DirectoryEntry entry = POLKU__DIRECTORY_ENTRY__INIT;
    entry.org = "hva-pirkanmaa";
    entry.name = "Pirkanmaan hyvinvointialue";
    entry.public_key = PUBKEY;
    entry.services = services;
    entry.n_services = 2;
    Polku__DirectoryEntry *directory[] = {&entry};
    Polku__Welcome welcome = POLKU__WELCOME__INIT;
    welcome.epoch = 1763820000;
    welcome.applied_seq = 40;
    welcome.directory = directory;
    welcome.n_directory = 1;
    env = base("");
    env.body_case = POLKU__ENVELOPE__BODY_WELCOME;
    env.welcome = &welcome;
    write_frame("welcome", &env, 0);

    Polku__Heartbeat heartbeat = POLKU__HEARTBEAT__INIT;
    heartbeat.epoch = 1763820000;
    env.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &heartbeat;
    write_frame("heartbeat", &env, 0);

    /* chain heads: a Hello with its own and held heads, a heartbeat from
     * the broker republishing them */
    static uint8_t hash[32] = {0xab, 1, 2, 3}, sig[64] = {0x22, 4, 5};
    Polku__ChainHead own = POLKU__CHAIN_HEAD__INIT, held = own;
    own.org = "kela";
    own.seq = 41;
    own.incarnation = 7;
    own.hash.data = hash;
    own.hash.len = sizeof hash;
    own.signature.data = sig;
    own.signature.len = sizeof sig;
    held = own;
    held.org = "hva-pirkanmaa";
    Polku__ChainHead *heads[] = {&own, &held};
    env = base("kela");
    hello.chain = &own;
    hello.held = &heads[1];
    hello.n_held = 1;
    env.body_case = POLKU__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    write_frame("hello-chain", &env, 0);
    env = base("");
    heartbeat.heads = heads;
    heartbeat.n_heads = 2;
    env.body_case = POLKU__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &heartbeat;
    write_frame("heartbeat-heads", &env, 0);
    own.hash.len = 31; /* refused: a hash is 32 bytes */
    write_frame("heartbeat-bad-head", &env, 0);
}

static void delivery_frames(void)
{
    polku_envelope env = base("hva-pirkanmaa");
    Polku__Ack ack = POLKU__ACK__INIT;
    ack.origin_org = "kela";
    ack.origin_seq = 42;
    env.body_case = POLKU__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    write_frame("ack", &env, 0);

    Polku__Nack nack = POLKU__NACK__INIT;
    nack.code = POLKU__NACK_CODE__NACK_CONSENT_REQUIRED;
    nack.reason = "no consent for this destination";
    nack.origin_seq = 42;
    nack.dest_org = "hva-pirkanmaa";
    env = base("");
    env.body_case = POLKU__ENVELOPE__BODY_NACK;
    env.nack = &nack;
    write_frame("nack", &env, 0);

    /* a Bundle of the ack and the nack above, as the broker sends them */
    size_t ack_len, nack_len;
    polku_envelope ack_env = base("hva-pirkanmaa");
    ack_env.body_case = POLKU__ENVELOPE__BODY_ACK;
    ack_env.ack = &ack;
    uint8_t *ack_bytes = encode(&ack_env, &ack_len);
    uint8_t *nack_bytes = encode(&env, &nack_len);
    ProtobufCBinaryData messages[] = {{ack_len, ack_bytes},
                                      {nack_len, nack_bytes}};
    Polku__Bundle bundle = POLKU__BUNDLE__INIT;
    bundle.messages = messages;
    bundle.n_messages = 2;
    env = base("");
    env.body_case = POLKU__ENVELOPE__BODY_BUNDLE;
    env.bundle = &bundle;
    write_frame("bundle", &env, 0);
    free(ack_bytes);
    free(nack_bytes);
}

static void replay_frames(const uint8_t *logged, size_t logged_len)
{
    polku_envelope env = base("");
    Polku__ReplayRequest request = POLKU__REPLAY_REQUEST__INIT;
    request.from_seq = 40;
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_REQUEST;
    env.replay_request = &request;
    write_frame("replay-request", &env, 0);

    ProtobufCBinaryData events[] = {{logged_len, (uint8_t *)logged}};
    Polku__ReplayBatch batch = POLKU__REPLAY_BATCH__INIT;
    batch.events = events;
    batch.n_events = 1;
    batch.answers = (ProtobufCBinaryData){sizeof msg_id, msg_id};
    env = base("kela");
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_BATCH;
    env.replay_batch = &batch;
    write_frame("replay-batch", &env, 0);

    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    done.last_seq = 42;
    done.answers = (ProtobufCBinaryData){sizeof msg_id, msg_id};
    env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    env.replay_done = &done;
    write_frame("replay-done", &env, 0);
}

static void referral_frames(void)
{
    ProtobufCBinaryData rid = {sizeof referral_id, referral_id};
    Polku__ReferralRequested req = POLKU__REFERRAL_REQUESTED__INIT;
    req.referral_id = rid;
    req.service = "sosiaalityö";
    req.reason = "asiakas tarvitsee tukea asumiseen";
    req.urgency = "kiireellinen";
    req.due_ms = 1764000000000u;
    req.transfer = 1;
    polku_envelope env = event("kela", 42);
    env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED;
    env.referral_requested = &req;
    write_frame("referral-requested", &env, 0);
    write_frame("truncated", &env, 5);
    env.n_to = 2;
    dests[1] = dests[0];
    write_frame("duplicate-dest", &env, 0);
    dests[1] = "kela";

    size_t logged_len;
    env.n_to = 1;
    uint8_t *logged = encode(&env, &logged_len);
    replay_frames(logged, logged_len);
    free(logged);

    Polku__ReferralStatus status = POLKU__REFERRAL_STATUS__INIT;
    status.referral_id = rid;
    status.status = POLKU__REFERRAL_STATE__REFERRAL_REJECTED;
    status.version = 2;
    status.reason = "ei kuulu palvelun piiriin";
    status.writer_org = "hva-pirkanmaa";
    env = event("hva-pirkanmaa", 7);
    env.to = dests + 1;
    env.body_case = POLKU__ENVELOPE__BODY_REFERRAL_STATUS;
    env.referral_status = &status;
    write_frame("referral-status", &env, 0);

    Polku__CancelRequested cancel = POLKU__CANCEL_REQUESTED__INIT;
    cancel.referral_id = rid;
    cancel.reason = "asiakas muutti";
    env = event("kela", 43);
    env.body_case = POLKU__ENVELOPE__BODY_CANCEL_REQUESTED;
    env.cancel_requested = &cancel;
    write_frame("cancel-requested", &env, 0);
    cancel.reason = "bad \xc3\x28 utf-8";
    write_frame("bad-utf8", &env, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    session_frames();
    delivery_frames();
    referral_frames();
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f,
                                      0x12, 0x10, 0x00, 0x08, 0x81};
    write_bytes("garbage", garbage, sizeof garbage);
    write_bytes("empty", garbage, 0);
    return 0;
}
