/* openapi_routes_test.c — the route table and docs/openapi.yaml agree.
 *
 * The document is the contract integrators build against: a route the
 * agent serves that the document lacks is a call nobody can find, and a
 * path the document lists that the table lacks is a promise the agent
 * breaks. The build converts the YAML to JSON (POLKU_OPENAPI_JSON); here
 * every route's method and pattern must be an operation of the document,
 * with the same need for the bearer token, and every operation a route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>
#include <jansson.h>

#include "api.h"

static json_t *load_doc(void)
{
    json_error_t err;
    json_t *doc = json_load_file(POLKU_OPENAPI_JSON, 0, &err);
    if (!doc)
        fail_msg("%s: %s", POLKU_OPENAPI_JSON, err.text);
    return doc;
}

/* The operation method (lower case) of the document's path, or NULL. */
static json_t *operation(json_t *doc, const char *pattern, const char *method)
{
    char lower[16];
    size_t i = 0;
    for (; method[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(method[i] | 0x20);
    lower[i] = '\0';
    return json_object_get(
        json_object_get(json_object_get(doc, "paths"), pattern), lower);
}

static void every_route_is_documented(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    assert_true(api_route_count() > 20);
    for (size_t i = 0; i < api_route_count(); i++) {
        const char *method, *pattern;
        bool public;
        api_route_get(i, &method, &pattern, &public);
        json_t *op = operation(doc, pattern, method);
        if (!op)
            fail_msg("%s %s is a route but not in docs/openapi.yaml", method,
                     pattern);
        /* a public operation says "security: []" */
        json_t *sec = json_object_get(op, "security");
        bool documented_public =
            json_is_array(sec) && json_array_size(sec) == 0;
        if (documented_public != public)
            fail_msg("%s %s: the route is %s but the document says %s", method,
                     pattern, public ? "public" : "behind the token",
                     documented_public ? "public" : "behind the token");
    }
    json_decref(doc);
}

static bool is_route(const char *pattern, const char *method)
{
    for (size_t i = 0; i < api_route_count(); i++) {
        const char *m, *p;
        bool public;
        api_route_get(i, &m, &p, &public);
        if (strcmp(p, pattern) == 0 && strcasecmp(m, method) == 0)
            return true;
    }
    return false;
}

static void every_documented_operation_is_a_route(void **state)
{
    (void)state;
    static const char *const methods[] = {"get", "post", "put", "patch",
                                          "delete"};
    json_t *doc = load_doc();
    const char *pattern;
    json_t *item;
    size_t operations = 0;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item)
    {
        for (size_t m = 0; m < 5; m++) {
            if (!json_object_get(item, methods[m]))
                continue;
            operations++;
            if (!is_route(pattern, methods[m]))
                fail_msg("docs/openapi.yaml lists %s %s, which the agent "
                         "does not serve",
                         methods[m], pattern);
        }
    }
    assert_int_equal(operations, api_route_count());
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_documented),
        cmocka_unit_test(every_documented_operation_is_a_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
