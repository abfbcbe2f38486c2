/* it_logs — log_format = json, for log collectors (issue 20).
 *
 * A region whose broker and agents all log JSON carries a referral from
 * one agent to another; then every line either program wrote is one JSON
 * object with time, level, program, org (the agent's; none for the
 * broker), event and ids, and the referral's id shows up in some record's
 * "ids". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Every line of path after the harness's marker is a JSON record; counts
 * them and whether one lists id among its ids. */
static int check_json_log(const char *path, const char *program,
                          const char *org, const char *id, bool *id_seen)
{
    size_t len = 0;
    char *text = h_read_file(path, &len);
    H_REQUIRE(text, "read %s", path);
    int records = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "==== harness:", 13) == 0)
            continue;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        H_CHECK(json_is_object(o), "%s: not a JSON object: %s", path, line);
        const char *prog = json_string_value(json_object_get(o, "program"));
        const char *level = json_string_value(json_object_get(o, "level"));
        H_CHECK(json_string_value(json_object_get(o, "time")) && level &&
                    prog && strcmp(prog, program) == 0 &&
                    json_string_value(json_object_get(o, "event")) &&
                    json_is_array(json_object_get(o, "ids")),
                "%s: a record lacks time, level, program, event or ids: %s",
                path, line);
        const char *o_org = json_string_value(json_object_get(o, "org"));
        H_CHECK(org ? o_org && strcmp(o_org, org) == 0 : o_org == NULL,
                "%s: org should be %s: %s", path, org ? org : "absent", line);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(o, "ids"), i, v)
        {
            if (strcmp(json_string_value(v), id) == 0)
                *id_seen = true;
        }
        json_decref(o);
        records++;
    }
    free(text);
    return records;
}

static void case_json_logs(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "kela", "vocational-rehab");
    h_broker_config_add(r, "log_format = json");
    h_agent_config_add(a, "log_format = json");
    h_agent_config_add(b, "log_format = json");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    char key[33], id[64];
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    h_resp resp;
    long st = h_referral_create(a, key, b->id, NULL, "json logs", id, &resp);
    H_REQUIRE(st == 201, "create a referral: HTTP %ld", st);
    h_resp_free(&resp);
    h_wait_status(b, id, "received", H_SEC(10));
    h_agent_stop(a);
    h_agent_stop(b);
    h_broker_stop(r);
    bool seen = false;
    int n = check_json_log(r->broker.log, "polku-broker", NULL, id, &seen);
    n += check_json_log(a->proc.log, "polku-agent", a->id, id, &seen);
    n += check_json_log(b->proc.log, "polku-agent", b->id, id, &seen);
    h_note("%d JSON records", n);
    H_CHECK(n >= 6, "at least the start and stop records: %d", n);
    H_CHECK(seen, "referral %s appears in a record's ids", id);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_logs");
    H_CASE(case_json_logs);
    return h_finish();
}
