/* harness_record.c — every request the tests make, written down for the
 * OpenAPI check.
 *
 * When POLKU_HTTP_RECORD names a file, each request made through
 * h_http_request is appended to it as one JSON line: which server
 * (agent or broker), method, path with query, the request's content type
 * and body, the answer's status, content type and body (bodies as JSON
 * when they parse, else null). tests/openapi/validate.mjs then holds every
 * pair against docs/openapi.yaml and docs/openapi-broker.yaml, and every
 * FHIR resource against the official FHIR R4 schema. The tests' data are
 * made up (random client keys, test identity codes), so the file holds no
 * one's personal data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_internal.h"

static json_t *body_json(const char *body, size_t len)
{
    if (!body || !len)
        return json_null();
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

void h_record_exchange(const char *server, const char *method, const char *path,
                       const char *req_type, const char *req_body,
                       size_t req_len, long status, const char *resp_type,
                       const char *resp_body, size_t resp_len)
{
    const char *file = getenv("POLKU_HTTP_RECORD");
    if (!file || !*file)
        return;
    json_t *line = json_pack(
        "{s:s, s:s, s:s, s:s?, s:o, s:b, s:I, s:s?, s:o}", "server", server,
        "method", method, "path", path, "request_type", req_type, "request",
        body_json(req_body, req_len), "request_sent", req_body != NULL,
        "status", (json_int_t)status, "response_type", resp_type, "response",
        body_json(resp_body, resp_len));
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return; /* a path that is not UTF-8: nothing the document covers */
    FILE *f = fopen(file, "a");
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    free(text);
}
