/* json_create_test.c — the 201 written without jansson is render_referral's.
 *
 * json_write_referral writes by hand what render_referral builds with
 * jansson; the two must not drift apart (a field added to one and not the
 * other). Records with every field set, with none, with break-glass
 * reviewed and not, with text to escape, are written both ways and must
 * read back as equal JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_create.h"
#include "render.h"

static uint8_t id16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void assert_same_as_render(const Polku__ReferralRecord *r)
{
    jw w;
    jw_init(&w);
    json_write_referral(&w, r, NULL, NULL);
    size_t len = 0;
    char *text = jw_take(&w, &len);
    assert_non_null(text);
    json_error_t err;
    json_t *written = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    json_t *rendered = render_referral(r, false);
    assert_non_null(written);
    assert_non_null(rendered);
    if (!json_equal(written, rendered)) {
        char *want = json_dumps(rendered, JSON_COMPACT);
        print_error("written  %s\nrendered %s\n", text, want);
        free(want);
        fail();
    }
    json_decref(written);
    json_decref(rendered);
    free(text);
}

static void every_field(void **state)
{
    (void)state;
    Polku__ReferralRecord r = POLKU__REFERRAL_RECORD__INIT;
    Polku__OverrideRecord o = POLKU__OVERRIDE_RECORD__INIT;
    r.id = (ProtobufCBinaryData){16, id16};
    r.client_key = (ProtobufCBinaryData){16, id16};
    r.outgoing = true;
    r.from_org = "org-a";
    r.to_org = "org-b";
    r.service = "physio";
    r.reason = "polvi \xc3\xa4 \"lainaus\"\n\ttab \\ /\x01";
    r.urgency = "urgent";
    r.due_ms = 1800000000000ull;
    r.transfer = true;
    r.status = POLKU__REFERRAL_STATE__REFERRAL_ACCEPTED;
    r.version = 3000000000u;
    r.created_ms = 1700000000123ull;
    r.updated_ms = 1700000000456ull;
    r.cancel_requested = true;
    r.outcome = "done";
    assert_same_as_render(&r);

    o.basis = "emergency";
    o.reason = "unconscious";
    r.override = &o;
    assert_same_as_render(&r);
    o.reviewed_by = "coordinator";
    o.reviewed_ms = 1700000000999ull;
    assert_same_as_render(&r);
}

static void nothing_set(void **state)
{
    (void)state;
    Polku__ReferralRecord r = POLKU__REFERRAL_RECORD__INIT;
    r.id = (ProtobufCBinaryData){16, id16};
    assert_same_as_render(&r); /* no client key, no due: "" and null */
}

static void invalid_text_is_refused(void **state)
{
    (void)state;
    Polku__ReferralRecord r = POLKU__REFERRAL_RECORD__INIT;
    r.id = (ProtobufCBinaryData){16, id16};
    r.reason = "broken \xff";
    jw w;
    jw_init(&w);
    json_write_referral(&w, &r, NULL, NULL);
    size_t len = 0;
    assert_null(jw_take(&w, &len)); /* the caller answers through jansson */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field), cmocka_unit_test(nothing_set),
        cmocka_unit_test(invalid_text_is_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
