/* unreadable_test.c — content a receiver cannot open fails visibly.
 *
 * Sealed text is opened with the sender's key from the directory. When that
 * fails (keys rotated, a broken sender) the broker has still vouched for
 * the origin, so the receiving agent keeps the referral and fails it with
 * a reason, and the sender hears `failed` — instead of a referral that
 * silently never arrives. A raw CURVE client with org-a's real key plays a
 * broken sender: a consent, then a referral whose sealed text is noise. */
#include <sodium.h>
#include <string.h>

#include "harness.h"
#include "polku/clock.h"
#include "polku/id.h"

static void send_replay_done(h_raw *raw)
{
    h_env e;
    Polku__ReplayDone done = POLKU__REPLAY_DONE__INIT;
    h_env_init(&e, "org-a", 0, NULL);
    e.env.body_case = POLKU__ENVELOPE__BODY_REPLAY_DONE;
    e.env.replay_done = &done;
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send ReplayDone");
}

static void send_consent(h_raw *raw, const uint8_t client[16],
                         const uint8_t consent_id[16])
{
    h_env e;
    Polku__ConsentGranted g = POLKU__CONSENT_GRANTED__INIT;
    char *orgs[] = {"org-a", "org-b"}, *purposes[] = {"referral"};
    h_env_init(&e, "org-a", 1, "org-b");
    memcpy(e.client_key, client, 16);
    g.consent_id = (ProtobufCBinaryData){16, (uint8_t *)consent_id};
    g.orgs = orgs;
    g.n_orgs = 2;
    g.purposes = purposes;
    g.n_purposes = 1;
    g.valid_until_ms = polku_now_ms() + 3600 * 1000;
    g.form = "Y100";
    e.env.body_case = POLKU__ENVELOPE__BODY_CONSENT_GRANTED;
    e.env.consent_granted = &g;
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send ConsentGranted");
}

static void send_referral_with_noise(h_raw *raw, const uint8_t client[16],
                                     const uint8_t consent_id[16],
                                     char idtext[POLKU_ID_TEXT])
{
    h_env e;
    uint8_t noise[64];
    randombytes_buf(noise, sizeof noise);
    h_env_init(&e, "org-a", 2, "org-b");
    memcpy(e.client_key, client, 16);
    h_env_referral(&e, "svc", "");
    e.referral.consent_id = (ProtobufCBinaryData){16, (uint8_t *)consent_id};
    e.referral.consent_recorded_by = "org-a";
    e.referral.sealed = (ProtobufCBinaryData){sizeof noise, noise};
    polku_id id;
    memcpy(id.b, e.referral_id, 16);
    polku_id_format(&id, idtext);
    H_REQUIRE(h_raw_send_env(raw, &e.env) == 0, "send ReferralRequested");
}

/* Waits for B's ReferralStatus `failed` to reach the raw sender. */
static bool sender_hears_failed(h_raw *raw)
{
    uint64_t deadline = h_now_ms() + H_SEC(10);
    while (h_now_ms() < deadline) {
        polku_envelope *env = h_raw_recv(raw, 100);
        bool failed = env &&
                      env->body_case == POLKU__ENVELOPE__BODY_REFERRAL_STATUS &&
                      env->referral_status->status ==
                          POLKU__REFERRAL_STATE__REFERRAL_FAILED &&
                      env->referral_status->sealed.len > 0;
        polku_envelope_free(&env);
        if (failed)
            return true;
    }
    return false;
}

static void unreadable_content_fails_visibly(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_org *b = h_region_add_org(r, "org-b", "svc"); /* the service referred to */
    h_broker_start(r);
    h_agent_start_connected(b);
    h_raw *raw = h_raw_new(r, &a->key);
    H_REQUIRE(h_raw_hello(raw, "org-a", H_SEC(5)), "org-a's Welcome");
    send_replay_done(raw); /* org-a's log is empty: the broker may route */

    uint8_t client[16], consent_id[16];
    char idtext[POLKU_ID_TEXT];
    randombytes_buf(client, sizeof client);
    polku_id cid = polku_id_new(polku_now_ms());
    memcpy(consent_id, cid.b, 16);
    send_consent(raw, client, consent_id);
    send_referral_with_noise(raw, client, consent_id, idtext);

    char status[32] = "";
    H_WAIT_UNTIL(H_SEC(10),
                 strcmp(h_referral_status(b, idtext, status, sizeof status),
                        "failed") == 0,
                 "referral %s failed at org-b (now '%s')", idtext, status);
    json_t *ref = h_referral_get(b, idtext);
    char *text = json_dumps(ref, 0);
    H_CHECK(text && strstr(text, "unverifiable_content"),
            "org-b's history says why: %s", text ? text : "(none)");
    free(text);
    json_decref(ref);
    H_CHECK(sender_hears_failed(raw), "the sender is told `failed`, sealed");
    h_raw_destroy(&raw);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "unreadable_test");
    H_CASE(unreadable_content_fails_visibly);
    return h_finish();
}
