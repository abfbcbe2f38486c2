/* json_create.h — POST /v1/referrals without jansson: the request's
 * fields read from json_reader's tree, the 201 written by json_writer.
 *
 * This is the hot path of a sending organisation. It covers the requests
 * that are well formed in the usual way: members client ({hetu} or
 * {key}), to, service, reason, urgency, due and transfer, each of the type
 * and size the general path accepts. Anything else (another member such as
 * override, a wrong type, a string too long, blank text, a null transfer)
 * is left to the general path in api_referrals.c, which reads the body
 * with jansson and names what is wrong; so an error is worded exactly as
 * it always was, and a member added there is never silently dropped
 * here. */
#ifndef POLKU_AGENT_JSON_CREATE_H
#define POLKU_AGENT_JSON_CREATE_H

#include <stdbool.h>

#include "json_reader.h"
#include "polku/json_writer.h"
#include "polku.pb-c.h"

typedef struct create_fields {
    const char *hetu, *key; /* client; NULL when absent */
    const char *to, *service, *reason, *urgency, *due;
    bool transfer;
} create_fields;

/* f from body when the fast path covers it (see above); false otherwise.
 * f's strings point into body's document. */
bool json_create_fields(const jr_value *body, create_fields *f);

/* r as render_referral(r, false) renders it, written into w; with
 * tag_name, one more member tag_name: tag_value last (the region an answer
 * of a multi-region agent carries, polku_http_set_json_tag). */
void json_write_referral(jw *w, const Polku__ReferralRecord *r,
                         const char *tag_name, const char *tag_value);

#endif
