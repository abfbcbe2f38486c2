/* it_openapi — the documented calls no other integration test makes.
 *
 * tests/openapi/validate.mjs holds every recorded exchange against
 * docs/openapi.yaml and docs/openapi-broker.yaml; a documented operation
 * that no test calls is never held against anything. This test makes
 * those calls (the agent's path list and a withdrawn handover offer, the
 * broker's dashboard files) and checks their answers, so the record
 * covers every operation that is not a stream. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "harness_coord.h"

static void case_paths_and_withdraw(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote", "coordination");
    h_org *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    char key[33], cid[64], hid[64];
    h_client_key(key);
    h_org *const with[] = {b};
    hc_consent(a, key, with, 1, NULL, cid);
    hc_claim_ok(a, key);

    h_resp resp;
    long st = h_api(a, "GET", "/v1/paths", NULL, &resp);
    H_REQUIRE(st == 200, "GET /v1/paths: %ld %s", st, hc_body(&resp));
    json_t *paths = json_object_get(resp.json, "paths");
    H_CHECK(json_array_size(paths) == 1 &&
                strcmp(hc_str(json_array_get(paths, 0), "client_key"), key) ==
                    0,
            "the one path a coordinates: %s", hc_body(&resp));
    H_CHECK(hc_int(resp.json, "count") == 1, "count 1: %s", hc_body(&resp));
    h_resp_free(&resp);

    hc_offer_ok(a, key, b->id, hid);
    st = hc_handover_act(a, hid, "withdraw", NULL, &resp);
    H_CHECK(st == 200 || st == 202, "withdraw: %ld %s", st, hc_body(&resp));
    H_CHECK(strcmp(hc_str(resp.json, "id"), hid) == 0, "the handover: %s",
            hc_body(&resp));
    h_resp_free(&resp);
}

static void case_dashboard_files(void)
{
    h_region *r = h_region_new();
    h_region_add_org(r, "sote", "coordination");
    h_broker_start(r);
    static const char *const files[][2] = {
        {"/", "<html"},
        {"/index.html", "<html"},
        {"/app.js", ""}, /* any script, any style: the dashboard's own */
        {"/style.css", ""},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        h_resp resp;
        long st = h_http_request(r->broker_http, "GET", files[i][0], NULL, NULL,
                                 0, &resp);
        H_CHECK(st == 200 && resp.len > 0 && strstr(resp.body, files[i][1]),
                "GET %s at the broker: %ld, want 200 with '%s'", files[i][0],
                st, files[i][1]);
        h_resp_free(&resp);
    }
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_openapi");
    H_CASE(case_paths_and_withdraw);
    H_CASE(case_dashboard_files);
    return h_finish();
}
