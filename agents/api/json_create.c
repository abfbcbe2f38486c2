/* json_create.c — POST /v1/referrals without jansson (see json_create.h). */
#include "json_create.h"

#include <ctype.h>
#include <string.h>

#include "polku/codec.h"
#include "polku/hetu.h"
#include "polku/id.h"
#include "polku/referral.h"

/* A string member of at most max bytes, or null (absent): what
 * api_opt_string accepts. The reader's strings hold no NUL. */
static bool opt_string(const jr_value *v, size_t max, const char **out)
{
    if (v->type == JR_NULL)
        return true;
    if (v->type != JR_STRING || v->len > max)
        return false;
    *out = v->u.s;
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static bool client_fields(const jr_value *client, create_fields *f)
{
    if (client->type != JR_OBJECT)
        return false;
    for (const jr_value *m = client->u.first; m; m = m->next) {
        bool ok;
        if (strcmp(m->key, "hetu") == 0)
            ok = opt_string(m, 16, &f->hetu);
        else if (strcmp(m->key, "key") == 0)
            ok = opt_string(m, 32, &f->key);
        else
            ok = false;
        if (!ok)
            return false;
    }
    return !(f->hetu && f->key);
}

bool json_create_fields(const jr_value *body, create_fields *f)
{
    memset(f, 0, sizeof *f);
    if (!body || body->type != JR_OBJECT)
        return false;
    bool client = false;
    for (const jr_value *m = body->u.first; m; m = m->next) {
        const char *k = m->key;
        bool ok;
        if (strcmp(k, "client") == 0)
            ok = client = client_fields(m, f);
        else if (strcmp(k, "to") == 0)
            ok = opt_string(m, 32, &f->to);
        else if (strcmp(k, "service") == 0)
            ok = opt_string(m, 128, &f->service);
        else if (strcmp(k, "reason") == 0)
            ok = opt_string(m, POLKU_MAX_TEXT, &f->reason) &&
                 !(f->reason && blank(f->reason));
        else if (strcmp(k, "urgency") == 0)
            ok = opt_string(m, 32, &f->urgency);
        else if (strcmp(k, "due") == 0)
            ok = opt_string(m, 64, &f->due);
        else if (strcmp(k, "transfer") == 0)
            ok = m->type == JR_TRUE || m->type == JR_FALSE,
            f->transfer = m->type == JR_TRUE;
        else
            ok = false;
        if (!ok)
            return false;
    }
    return client;
}

static void write_override(jw *w, const Polku__OverrideRecord *o)
{
    if (!o) {
        jw_null(w);
        return;
    }
    jw_begin_object(w);
    jw_key(w, "basis");
    jw_string(w, o->basis);
    jw_key(w, "reason");
    jw_string(w, o->reason);
    jw_key(w, "reviewed_by");
    if (o->reviewed_by[0])
        jw_string(w, o->reviewed_by);
    else
        jw_null(w);
    if (o->reviewed_ms) {
        jw_key(w, "reviewed_at");
        jw_time(w, o->reviewed_ms);
    }
    jw_end_object(w);
}

void json_write_referral(jw *w, const Polku__ReferralRecord *r,
                         const char *tag_name, const char *tag_value)
{
    char id[POLKU_ID_TEXT], key[33] = "";
    polku_id_text(r->id.data, id);
    if (r->client_key.len == 16)
        polku_client_key_hex(r->client_key.data, key);
    jw_begin_object(w);
    jw_key(w, "id");
    jw_string(w, id);
    jw_key(w, "direction");
    jw_string(w, r->outgoing ? "out" : "in");
    jw_key(w, "from");
    jw_string(w, r->from_org);
    jw_key(w, "to");
    jw_string(w, r->to_org);
    jw_key(w, "client_key");
    jw_string(w, key);
    jw_key(w, "service");
    jw_string(w, r->service);
    jw_key(w, "reason");
    jw_string(w, r->reason);
    jw_key(w, "urgency");
    jw_string(w, r->urgency);
    jw_key(w, "due");
    jw_time(w, r->due_ms);
    jw_key(w, "transfer");
    jw_bool(w, r->transfer);
    jw_key(w, "status");
    jw_string(w, polku_referral_state_name(r->status));
    jw_key(w, "created");
    jw_time(w, r->created_ms);
    jw_key(w, "updated");
    jw_time(w, r->updated_ms);
    jw_key(w, "cancel_requested");
    jw_bool(w, r->cancel_requested);
    jw_key(w, "outcome");
    jw_string(w, r->outcome);
    jw_key(w, "version");
    jw_int(w, (long long)r->version);
    jw_key(w, "override");
    write_override(w, r->override);
    if (tag_name) {
        jw_key(w, tag_name);
        jw_string(w, tag_value);
    }
    jw_end_object(w);
}
