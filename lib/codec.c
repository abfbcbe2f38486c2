/* codec.c — the one place where bytes from the network become an Envelope.
 *
 * protobuf-c only checks the wire format. Everything else a reader of an
 * Envelope relies on (16-byte ids, org id syntax, a body present, bounded
 * and valid UTF-8 text, enums in range) is checked here, once, so broker
 * and agents never look at an unchecked frame. Reasons given in `why` name
 * fields and rules only, never frame content. */
#include "polku/codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"
#include "polku/hetu.h"

#define ID_LEN 16 /* msg_id, referral_id, client_key */
#define ORG_MIN 2
#define ORG_MAX 32
#define Z85_KEY_LEN 40

/* Where a failed check writes its reason. */
typedef struct check {
    char *why;
    size_t why_len;
} check;

static bool fail(check *c, const char *field, const char *rule)
{
    if (c->why_len > 0)
        snprintf(c->why, c->why_len, "%s %s", field, rule);
    return false;
}

/* ---- small predicates ---- */

bool polku_org_id_valid(const char *org)
{
    if (org == NULL)
        return false;
    size_t n = strnlen(org, ORG_MAX + 1);
    if (n < ORG_MIN || n > ORG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = org[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || ch != '-'))
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence led by b, its payload bits and the smallest
 * code point that may use that length; 0 for a byte that cannot lead. */
static size_t utf8_lead(unsigned char b, uint32_t *bits, uint32_t *min)
{
    if (b >= 0xC2 && b <= 0xDF) {
        *bits = b & 0x1Fu;
        *min = 0x80;
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        *bits = b & 0x0Fu;
        *min = 0x800;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        *bits = b & 0x07u;
        *min = 0x10000;
        return 4;
    }
    return 0;
}

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF. (protobuf-c does not check proto3 strings.) */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp, min;
        size_t len = utf8_lead(s[i], &cp, &min);
        if (len == 0 || n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* A NULL string reads as "" (proto3 default). */
static bool text_ok(check *c, const char *field, const char *s, size_t max)
{
    if (s == NULL)
        return true;
    size_t n = strlen(s);
    if (n > max)
        return fail(c, field, "too long");
    if (!utf8_valid((const unsigned char *)s, n))
        return fail(c, field, "is not valid UTF-8");
    return true;
}

bool polku_token_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= POLKU_TOKEN_MAX ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
              ch == '-'))
            return false;
    }
    /* the characters of an identity code are all token characters: a
     * token that holds one is refused (they never leave their agent) */
    for (size_t i = 0; i + POLKU_HETU_LEN <= n; i++) {
        /* an identity code begins with six digits (its birth date): a
         * window that does not is not parsed */
        size_t digits = 0;
        while (digits < 6 && s[i + digits] >= '0' && s[i + digits] <= '9')
            digits++;
        if (digits < 6)
            continue;
        char window[POLKU_HETU_LEN + 1], canonical[POLKU_HETU_LEN + 1];
        memcpy(window, s + i, POLKU_HETU_LEN);
        window[POLKU_HETU_LEN] = '\0';
        if (polku_hetu_parse(window, canonical, NULL) == POLKU_OK)
            return false;
    }
    return n > 0;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

bool polku_consent_form_valid(const char *form)
{
    static const char *const forms[] = {POLKU_CONSENT_FORMS, NULL};
    return form && in_list(form, forms);
}

bool polku_consent_form_readable(const char *form)
{
    /* "verbal" was recorded before the list became the four forms above;
     * such consents stay in the agents' logs and are replayed */
    return polku_consent_form_valid(form) ||
           (form && strcmp(form, "verbal") == 0);
}

bool polku_urgency_valid(const char *urgency)
{
    static const char *const levels[] = {"routine", "urgent", NULL};
    return urgency && in_list(urgency, levels);
}

/* An identifier field ("" allowed when optional): never words. */
static bool token_ok(check *c, const char *field, const char *s, bool optional)
{
    if ((s == NULL || s[0] == '\0') && optional)
        return true;
    if (!polku_token_valid(s))
        return fail(c, field, "must be 1 to 64 of [A-Za-z0-9._:-]");
    return true;
}

/* "" or a closed list: the unsealed fields carry codes, never words. */
static bool code_ok(check *c, const char *field, const char *s,
                    bool (*valid)(const char *))
{
    if (s == NULL || s[0] == '\0' || valid(s))
        return true;
    return fail(c, field, "is not one of its known values");
}

bool polku_override_basis_valid(const char *basis)
{
    return basis &&
           (strcmp(basis, "emergency") == 0 || strcmp(basis, "statutory") == 0);
}

bool polku_nack_code_known(const char *s)
{
    const ProtobufCEnumDescriptor *d = &polku__nack_code__descriptor;
    for (unsigned i = 0; i < d->n_values; i++)
        if (strcmp(s, polku_nack_code_name(d->values[i].value)) == 0)
            return true;
    return false;
}

static bool org_ok(check *c, const char *field, const char *org)
{
    if (!polku_org_id_valid(org))
        return fail(c, field, "is not a valid org id");
    return true;
}

static bool org_or_empty_ok(check *c, const char *field, const char *org)
{
    if (org == NULL || org[0] == '\0')
        return true;
    return org_ok(c, field, org);
}

static bool id_ok(check *c, const char *field, ProtobufCBinaryData id)
{
    if (id.len != ID_LEN)
        return fail(c, field, "must be 16 bytes");
    return true;
}

static bool opt_id_ok(check *c, const char *field, ProtobufCBinaryData id)
{
    if (id.len != 0 && id.len != ID_LEN)
        return fail(c, field, "must be empty or 16 bytes");
    return true;
}

/* ---- field numbers ---- */

static bool unknown_fields_ok(const ProtobufCMessage *m);

static const void *member(const ProtobufCMessage *m, unsigned offset)
{
    return (const char *)m + offset;
}

/* Walks the sub-messages held by one field (each element if repeated;
 * none if it is an unselected oneof member). */
static bool field_messages_ok(const ProtobufCMessage *m,
                              const ProtobufCFieldDescriptor *fd)
{
    if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)member(m, fd->quantifier_offset) != fd->id)
        return true;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)member(m, fd->quantifier_offset);
        ProtobufCMessage *const *subs =
            *(ProtobufCMessage *const *const *)member(m, fd->offset);
        for (size_t i = 0; i < n; i++)
            if (!unknown_fields_ok(subs[i]))
                return false;
        return true;
    }
    const ProtobufCMessage *sub =
        *(ProtobufCMessage *const *)member(m, fd->offset);
    return sub == NULL || unknown_fields_ok(sub);
}

/* Unknown fields are kept (a newer peer may add fields), but protobuf-c
 * lets field number 0 through when the tag is an overlong varint, and
 * such a field re-encodes to bytes it then refuses. */
static bool unknown_fields_ok(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned f = 0; f < d->n_fields; f++)
        if (d->fields[f].type == PROTOBUF_C_TYPE_MESSAGE &&
            !field_messages_ok(m, &d->fields[f]))
            return false;
    return true;
}

/* ---- envelope header ---- */

static bool destinations_ok(check *c, const polku_envelope *env)
{
    if (env->n_to > POLKU_MAX_DESTS)
        return fail(c, "to", "has too many destinations");
    for (size_t i = 0; i < env->n_to; i++) {
        if (!org_ok(c, "to", env->to[i]))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(env->to[i], env->to[j]) == 0)
                return fail(c, "to", "has a duplicate destination");
    }
    return true;
}

static bool header_ok(check *c, const polku_envelope *env)
{
    if (!org_or_empty_ok(c, "origin_org", env->origin_org))
        return false;
    if (!destinations_ok(c, env))
        return false;
    if (env->client_key.len != 0 && env->client_key.len != ID_LEN)
        return fail(c, "client_key", "must be empty or 16 bytes");
    if (env->chain_prev.len != 0 && env->chain_prev.len != 32)
        return fail(c, "chain_prev", "must be empty or 32 bytes");
    return true;
}

/* ---- bodies ---- */

/* A chain head (lib/chain.h): an organisation, a 32-byte hash, a 64-byte
 * signature or none. */
static bool chain_head_ok(check *c, const char *field,
                          const Polku__ChainHead *h)
{
    if (!org_ok(c, field, h->org))
        return false;
    if (h->hash.len != 32)
        return fail(c, field, "hash must be 32 bytes");
    if (h->signature.len != 0 && h->signature.len != 64)
        return fail(c, field, "signature must be empty or 64 bytes");
    return true;
}

/* At most this many heads in one Hello or heartbeat: one per organisation
 * of a region (the directory is far smaller). */
#define MAX_CHAIN_HEADS 4096

static bool chain_heads_ok(check *c, const char *field,
                           Polku__ChainHead *const *heads, size_t n)
{
    if (n > MAX_CHAIN_HEADS)
        return fail(c, field, "at most 4096 heads");
    for (size_t i = 0; i < n; i++)
        if (!chain_head_ok(c, field, heads[i]))
            return false;
    return true;
}

static bool hello_ok(check *c, const Polku__Hello *b)
{
    if (b->chain && !chain_head_ok(c, "hello.chain", b->chain))
        return false;
    if (!chain_heads_ok(c, "hello.held", b->held, b->n_held))
        return false;
    return org_ok(c, "hello.org", b->org);
}

static bool heartbeat_ok(check *c, const Polku__Heartbeat *b)
{
    if (b->chain && !chain_head_ok(c, "heartbeat.chain", b->chain))
        return false;
    return chain_heads_ok(c, "heartbeat.heads", b->heads, b->n_heads);
}

static bool directory_entry_ok(check *c, const Polku__DirectoryEntry *e)
{
    if (!org_ok(c, "welcome.directory.org", e->org))
        return false;
    if (!text_ok(c, "welcome.directory.name", e->name, POLKU_MAX_TEXT))
        return false;
    if (e->public_key == NULL || strlen(e->public_key) != Z85_KEY_LEN)
        return fail(c, "welcome.directory.public_key", "must be 40 chars");
    if (e->sign_key && *e->sign_key && strlen(e->sign_key) != Z85_KEY_LEN)
        return fail(c, "welcome.directory.sign_key",
                    "must be empty or 40 chars");
    for (size_t i = 0; i < e->n_services; i++)
        if (!token_ok(c, "welcome.directory.services", e->services[i], false))
            return false;
    for (size_t i = 0; i < e->n_overrides; i++)
        if (!code_ok(c, "welcome.directory.overrides", e->overrides[i],
                     polku_override_basis_valid))
            return false;
    return true;
}

static bool welcome_ok(check *c, const Polku__Welcome *b)
{
    for (size_t i = 0; i < b->n_directory; i++)
        if (!directory_entry_ok(c, b->directory[i]))
            return false;
    return true;
}

static bool ack_ok(check *c, const Polku__Ack *b)
{
    return org_ok(c, "ack.origin_org", b->origin_org);
}

static bool seq_conflict_ok(check *c, const polku_envelope *env)
{
    const Polku__SeqConflict *b = env->seq_conflict;
    if (!org_ok(c, "seq_conflict.origin_org", b->origin_org))
        return false;
    if (env->n_to != 1 || strcmp(env->to[0], b->origin_org) != 0)
        return fail(c, "seq_conflict",
                    "goes to the origin it names, and to nobody else");
    if (b->origin_seq == 0 || b->held_through < b->origin_seq)
        return fail(c, "seq_conflict.held_through",
                    "is at least origin_seq, which is at least 1");
    return true;
}

static bool nack_ok(check *c, const Polku__Nack *b)
{
    if (b->code < POLKU__NACK_CODE__NACK_UNSPECIFIED ||
        b->code > POLKU_NACK_CODE_LAST)
        return fail(c, "nack.code", "is out of range");
    if (!text_ok(c, "nack.reason", b->reason, POLKU_MAX_TEXT) ||
        !text_ok(c, "nack.active_broker", b->active_broker, 256))
        return false;
    return org_or_empty_ok(c, "nack.dest_org", b->dest_org);
}

static bool replay_batch_ok(check *c, const Polku__ReplayBatch *b)
{
    for (size_t i = 0; i < b->n_events; i++)
        if (b->events[i].len == 0)
            return fail(c, "replay_batch.events", "has an empty event");
    return opt_id_ok(c, "replay_batch.answers", b->answers);
}

/* A bundle's messages are each decoded and checked on their own by the
 * receiver; here only the frame's shape: 1..POLKU_BUNDLE_MAX_MESSAGES
 * non-empty messages, and the bundle itself is not an event. */
static bool bundle_ok(check *c, const polku_envelope *env)
{
    const Polku__Bundle *b = env->bundle;
    if (env->origin_seq != 0 || env->n_to != 0 || env->client_key.len != 0)
        return fail(c, "bundle", "carries no sequence, destination or client");
    if (b->n_messages == 0 || b->n_messages > POLKU_BUNDLE_MAX_MESSAGES)
        return fail(c, "bundle.messages", "holds 1 to 1024 messages");
    for (size_t i = 0; i < b->n_messages; i++)
        if (b->messages[i].len == 0)
            return fail(c, "bundle.messages", "has an empty message");
    return true;
}

/* Sealed SealedText: at most three texts (reason, outcome, override
 * reason), their framing and the box. */
#define SEALED_MAX (3 * POLKU_MAX_TEXT + 96 + 40)

static bool sealed_ok(check *c, const char *field, ProtobufCBinaryData b)
{
    if (b.len > SEALED_MAX)
        return fail(c, field, "is too long");
    if (b.len != 0 && b.len < 40)
        return fail(c, field, "is too short to be sealed");
    return true;
}

static bool referral_requested_ok(check *c, const Polku__ReferralRequested *b)
{
    if (b->consent_id.len != 0 && b->consent_id.len != 16)
        return fail(c, "referral_requested.consent_id",
                    "must be empty or 16 bytes");
    return id_ok(c, "referral_requested.referral_id", b->referral_id) &&
           token_ok(c, "referral_requested.service", b->service, true) &&
           code_ok(c, "referral_requested.urgency", b->urgency,
                   polku_urgency_valid) &&
           text_ok(c, "referral_requested.reason", b->reason, POLKU_MAX_TEXT) &&
           org_or_empty_ok(c, "referral_requested.consent_recorded_by",
                           b->consent_recorded_by) &&
           sealed_ok(c, "referral_requested.sealed", b->sealed) &&
           code_ok(c, "referral_requested.override_basis", b->override_basis,
                   polku_override_basis_valid);
}

static bool purpose_known(const char *p)
{
    return strcmp(p, "referral") == 0 || strcmp(p, "handover") == 0 ||
           strcmp(p, "path") == 0 || strcmp(p, "plan") == 0;
}

static bool consent_granted_ok(check *c, const Polku__ConsentGranted *b)
{
    if (!id_ok(c, "consent_granted.consent_id", b->consent_id))
        return false;
    if (b->n_orgs < 2 || b->n_orgs > POLKU_MAX_DESTS)
        return fail(c, "consent_granted.orgs", "must list 2 to 64 orgs");
    for (size_t i = 0; i < b->n_orgs; i++) {
        if (!org_ok(c, "consent_granted.orgs", b->orgs[i]))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(b->orgs[i], b->orgs[j]) == 0)
                return fail(c, "consent_granted.orgs", "lists an org twice");
    }
    if (b->n_purposes < 1 || b->n_purposes > 4)
        return fail(c, "consent_granted.purposes", "must list 1 to 4");
    for (size_t i = 0; i < b->n_purposes; i++)
        if (!purpose_known(b->purposes[i]))
            return fail(c, "consent_granted.purposes", "has an unknown one");
    return code_ok(c, "consent_granted.form", b->form,
                   polku_consent_form_readable);
}

static bool referral_status_ok(check *c, const Polku__ReferralStatus *b)
{
    if (!id_ok(c, "referral_status.referral_id", b->referral_id))
        return false;
    if (b->status < POLKU__REFERRAL_STATE__REFERRAL_REQUESTED ||
        b->status > POLKU__REFERRAL_STATE__REFERRAL_CANCELLED)
        return fail(c, "referral_status.status", "is out of range");
    return text_ok(c, "referral_status.reason", b->reason, POLKU_MAX_TEXT) &&
           text_ok(c, "referral_status.outcome", b->outcome, POLKU_MAX_TEXT) &&
           org_or_empty_ok(c, "referral_status.writer_org", b->writer_org) &&
           sealed_ok(c, "referral_status.sealed", b->sealed);
}

static bool cancel_requested_ok(check *c, const Polku__CancelRequested *b)
{
    return id_ok(c, "cancel_requested.referral_id", b->referral_id) &&
           text_ok(c, "cancel_requested.reason", b->reason, POLKU_MAX_TEXT) &&
           sealed_ok(c, "cancel_requested.sealed", b->sealed);
}

static bool opt_bytes_ok(check *c, const char *field, ProtobufCBinaryData b,
                         size_t len)
{
    if (b.len != 0 && b.len != len)
        return fail(c, field, "has the wrong length");
    return true;
}

static bool plan_ok(check *c, const char *field, const Polku__PlanPointer *p)
{
    if (p == NULL)
        return true;
    if (!org_or_empty_ok(c, field, p->org))
        return false;
    return token_ok(c, field, p->plan_id, false);
}

static bool path_claimed_ok(check *c, const Polku__PathClaimed *b)
{
    return id_ok(c, "path_claimed.claim_id", b->claim_id) &&
           opt_id_ok(c, "path_claimed.consent_id", b->consent_id) &&
           org_or_empty_ok(c, "path_claimed.consent_recorded_by",
                           b->consent_recorded_by);
}

static bool path_claim_answered_ok(check *c, const Polku__PathClaimAnswered *b)
{
    if (b->outcome < POLKU__CLAIM_OUTCOME__CLAIM_WON ||
        b->outcome > POLKU__CLAIM_OUTCOME__CLAIM_REFUSED)
        return fail(c, "path_claim_answered.outcome", "is out of range");
    return id_ok(c, "path_claim_answered.claim_id", b->claim_id) &&
           org_or_empty_ok(c, "path_claim_answered.coordinator",
                           b->coordinator) &&
           code_ok(c, "path_claim_answered.refusal", b->refusal,
                   polku_nack_code_known) &&
           opt_bytes_ok(c, "path_claim_answered.authenticator",
                        b->authenticator, 32);
}

static bool close_reason_ok(const char *r)
{
    return r && (strcmp(r, "no_longer_needed") == 0 ||
                 strcmp(r, "client_declined") == 0 ||
                 strcmp(r, "moved_away") == 0 || strcmp(r, "other") == 0);
}

static bool handover_offered_ok(check *c, const Polku__HandoverOffered *b)
{
    return id_ok(c, "handover_offered.handover_id", b->handover_id) &&
           org_or_empty_ok(c, "handover_offered.supporter", b->supporter) &&
           plan_ok(c, "handover_offered.plan", b->plan) &&
           opt_id_ok(c, "handover_offered.consent_id", b->consent_id) &&
           org_or_empty_ok(c, "handover_offered.consent_recorded_by",
                           b->consent_recorded_by) &&
           sealed_ok(c, "handover_offered.sealed", b->sealed) &&
           token_ok(c, "handover_offered.rule", b->rule, true) &&
           opt_id_ok(c, "handover_offered.referral_id", b->referral_id) &&
           code_ok(c, "handover_offered.override_basis", b->override_basis,
                   polku_override_basis_valid);
}

static bool override_reviewed_ok(check *c, const polku_envelope *env)
{
    const Polku__OverrideReviewed *b = env->override_reviewed;
    if (env->client_key.len != ID_LEN)
        return fail(c, "override_reviewed", "needs a client key");
    if (strcmp(b->reviewer, "operator") != 0 &&
        !org_ok(c, "override_reviewed.reviewer", b->reviewer))
        return false;
    return id_ok(c, "override_reviewed.object_id", b->object_id) &&
           org_or_empty_ok(c, "override_reviewed.used_by", b->used_by) &&
           opt_bytes_ok(c, "override_reviewed.authenticator", b->authenticator,
                        32);
}

/* An access entry's kind is a body name; its status a state name or a
 * Nack code: closed vocabularies, like every field the broker passes on. */
static bool access_entry_ok(check *c, const Polku__AccessEntry *e)
{
    if (!token_ok(c, "access_answer.entries.kind", e->kind, false) ||
        !opt_id_ok(c, "access_answer.entries.object_id", e->object_id) ||
        !opt_id_ok(c, "access_answer.entries.consent_id", e->consent_id) ||
        !token_ok(c, "access_answer.entries.status", e->status, true) ||
        !code_ok(c, "access_answer.entries.override_basis", e->override_basis,
                 polku_override_basis_valid))
        return false;
    if (e->purpose[0] && !purpose_known(e->purpose) &&
        strcmp(e->purpose, "consent") != 0)
        return fail(c, "access_answer.entries.purpose", "is not a purpose");
    if (e->n_to > POLKU_MAX_DESTS)
        return fail(c, "access_answer.entries.to", "lists too many orgs");
    for (size_t i = 0; i < e->n_to; i++)
        if (!org_ok(c, "access_answer.entries.to", e->to[i]))
            return false;
    return true;
}

static bool org_list_ok(check *c, const char *field, char **orgs, size_t n)
{
    if (n > POLKU_MAX_DESTS)
        return fail(c, field, "lists too many orgs");
    for (size_t i = 0; i < n; i++)
        if (!org_ok(c, field, orgs[i]))
            return false;
    return true;
}

static bool access_answer_ok(check *c, const Polku__AccessAnswer *b)
{
    if (!id_ok(c, "access_answer.query_id", b->query_id) ||
        !text_ok(c, "access_answer.error_code", b->error_code, 32) ||
        !org_or_empty_ok(c, "access_answer.from_org", b->from_org) ||
        !org_list_ok(c, "access_answer.asked", b->asked, b->n_asked) ||
        !org_list_ok(c, "access_answer.unreachable", b->unreachable,
                     b->n_unreachable))
        return false;
    if (b->status < 100 || b->status > 599)
        return fail(c, "access_answer.status", "is not an HTTP status");
    for (size_t i = 0; i < b->n_entries; i++)
        if (!access_entry_ok(c, b->entries[i]))
            return false;
    return true;
}

static bool handover_answered_ok(check *c, const Polku__HandoverAnswered *b)
{
    if (b->status < POLKU__HANDOVER_STATE__HANDOVER_ACCEPTED ||
        b->status > POLKU__HANDOVER_STATE__HANDOVER_FAILED)
        return fail(c, "handover_answered.status", "is out of range");
    return id_ok(c, "handover_answered.handover_id", b->handover_id) &&
           org_or_empty_ok(c, "handover_answered.offered_by", b->offered_by) &&
           org_or_empty_ok(c, "handover_answered.offered_to", b->offered_to) &&
           code_ok(c, "handover_answered.reason", b->reason,
                   polku_nack_code_known) &&
           sealed_ok(c, "handover_answered.sealed", b->sealed);
}

static bool body_ok(check *c, const polku_envelope *env)
{
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_HELLO:
        return hello_ok(c, env->hello);
    case POLKU__ENVELOPE__BODY_WELCOME:
        return welcome_ok(c, env->welcome);
    case POLKU__ENVELOPE__BODY_ACK:
        return ack_ok(c, env->ack);
    case POLKU__ENVELOPE__BODY_SEQ_CONFLICT:
        return seq_conflict_ok(c, env);
    case POLKU__ENVELOPE__BODY_NACK:
        return nack_ok(c, env->nack);
    case POLKU__ENVELOPE__BODY_REPLAY_BATCH:
        return replay_batch_ok(c, env->replay_batch);
    case POLKU__ENVELOPE__BODY_BUNDLE:
        return bundle_ok(c, env);
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return referral_requested_ok(c, env->referral_requested);
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        return referral_status_ok(c, env->referral_status);
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return cancel_requested_ok(c, env->cancel_requested);
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        return consent_granted_ok(c, env->consent_granted);
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return id_ok(c, "consent_revoked.consent_id",
                     env->consent_revoked->consent_id);
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        return path_claimed_ok(c, env->path_claimed);
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        return path_claim_answered_ok(c, env->path_claim_answered);
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        if (!close_reason_ok(env->path_closed->reason))
            return fail(c, "path_closed.reason", "is not a known reason");
        return true;
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        if (env->plan_updated->plan == NULL)
            return fail(c, "plan_updated.plan", "is missing");
        return plan_ok(c, "plan_updated.plan", env->plan_updated->plan) &&
               opt_id_ok(c, "plan_updated.consent_id",
                         env->plan_updated->consent_id) &&
               org_or_empty_ok(c, "plan_updated.consent_recorded_by",
                               env->plan_updated->consent_recorded_by);
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        return token_ok(c, "service_started.service",
                        env->service_started->service, false);
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        return token_ok(c, "service_ended.service", env->service_ended->service,
                        false);
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return handover_offered_ok(c, env->handover_offered);
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        return handover_answered_ok(c, env->handover_answered);
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return id_ok(c, "withdraw_requested.handover_id",
                     env->withdraw_requested->handover_id);
    case POLKU__ENVELOPE__BODY_PATH_QUERY:
        return id_ok(c, "path_query.query_id", env->path_query->query_id);
    case POLKU__ENVELOPE__BODY_PATH_ANSWER:
        return id_ok(c, "path_answer.query_id", env->path_answer->query_id) &&
               text_ok(c, "path_answer.error_code",
                       env->path_answer->error_code, 32);
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        return override_reviewed_ok(c, env);
    case POLKU__ENVELOPE__BODY_ACCESS_QUERY:
        return id_ok(c, "access_query.query_id", env->access_query->query_id) &&
               org_or_empty_ok(c, "access_query.asker",
                               env->access_query->asker);
    case POLKU__ENVELOPE__BODY_ACCESS_ANSWER:
        return access_answer_ok(c, env->access_answer);
    case POLKU__ENVELOPE__BODY_SEQ_LOST:
        if (env->n_to != 0)
            return fail(c, "seq_lost", "is for the broker alone (no 'to')");
        return true; /* numbers only */
    case POLKU__ENVELOPE__BODY_RESEND_REQUESTED:
        if (env->n_to != 1 || env->client_key.len != 0)
            return fail(c, "resend_requested",
                        "goes to one organisation, for no client");
        if (env->resend_requested->from_seq == 0)
            return fail(c, "resend_requested.from_seq", "is at least 1");
        return true;
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        return heartbeat_ok(c, env->heartbeat);
    case POLKU__ENVELOPE__BODY_REPLAY_REQUEST:
        return true; /* numbers only */
    case POLKU__ENVELOPE__BODY_REPLAY_DONE:
        return opt_id_ok(c, "replay_done.answers", env->replay_done->answers);
    case POLKU__ENVELOPE__BODY__NOT_SET:
    default:
        return fail(c, "body", "is missing");
    }
}

/* ---- public ---- */

/* ---- arena ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[]; /* size bytes */
} arena_block;

struct polku_arena {
    size_t chunk;
    arena_block *blocks; /* newest first; the last one is kept on reset */
    ProtobufCAllocator allocator;
};

static arena_block *arena_block_new(size_t size)
{
    arena_block *b = malloc(sizeof *b + size);
    if (b) {
        b->next = NULL;
        b->size = size;
        b->used = 0;
    }
    return b;
}

static void *arena_alloc(void *ctx, size_t size)
{
    polku_arena *a = ctx;
    size = (size + _Alignof(max_align_t) - 1) &
           ~(size_t)(_Alignof(max_align_t) - 1);
    arena_block *b = a->blocks;
    if (b == NULL || b->size - b->used < size) {
        arena_block *nb = arena_block_new(size > a->chunk ? size : a->chunk);
        if (nb == NULL)
            return NULL;
        nb->next = a->blocks;
        a->blocks = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static void arena_release(void *ctx, void *p)
{
    (void)ctx; /* freed all at once by polku_arena_reset */
    (void)p;
}

int polku_arena_new(size_t chunk, polku_arena **out)
{
    polku_arena *a = calloc(1, sizeof *a);
    *out = NULL;
    if (a == NULL)
        return POLKU_ENOMEM;
    a->chunk = chunk > 0 ? chunk : 64 * 1024;
    a->allocator.alloc = arena_alloc;
    a->allocator.free = arena_release;
    a->allocator.allocator_data = a;
    *out = a;
    return POLKU_OK;
}

void polku_arena_reset(polku_arena *a)
{
    while (a->blocks != NULL && a->blocks->next != NULL) {
        arena_block *b = a->blocks;
        a->blocks = b->next;
        free(b);
    }
    if (a->blocks != NULL)
        a->blocks->used = 0;
}

void polku_arena_free(polku_arena **a)
{
    if (a == NULL || *a == NULL)
        return;
    polku_arena_reset(*a);
    free((*a)->blocks);
    free(*a);
    *a = NULL;
}

/* ---- public ---- */

static int decode_fail(polku_envelope **out, polku_envelope *env,
                       ProtobufCAllocator *alloc, int err)
{
    if (env != NULL)
        polku__envelope__free_unpacked(env, alloc);
    *out = NULL;
    return err;
}

static int decode(ProtobufCAllocator *alloc, const uint8_t *data, size_t len,
                  size_t max_len, polku_envelope **out, char *why,
                  size_t why_len)
{
    assert(out != NULL);
    assert(data != NULL || len == 0);
    check c = {why, why != NULL ? why_len : 0};
    if (c.why_len > 0)
        c.why[0] = '\0';
    *out = NULL;

    if (len > max_len) {
        fail(&c, "frame", "is over the size limit");
        return POLKU_ETOOLARGE;
    }
    polku_envelope *env = polku__envelope__unpack(alloc, len, data);
    if (env == NULL) {
        fail(&c, "frame", "is not a protobuf Envelope");
        return POLKU_EMALFORMED;
    }
    if (!unknown_fields_ok(&env->base)) {
        fail(&c, "frame", "has field number 0");
        return decode_fail(out, env, alloc, POLKU_EMALFORMED);
    }
    /* msg_id first, so that an EVERSION caller can always Nack by it. */
    if (!id_ok(&c, "msg_id", env->msg_id))
        return decode_fail(out, env, alloc, POLKU_EMALFORMED);
    if (env->version != POLKU_PROTOCOL_VERSION) {
        fail(&c, "version", "is not supported");
        *out = env;
        return POLKU_EVERSION;
    }
    if (!header_ok(&c, env) || !body_ok(&c, env))
        return decode_fail(out, env, alloc, POLKU_EMALFORMED);
    *out = env;
    return POLKU_OK;
}

int polku_envelope_decode(const uint8_t *data, size_t len, size_t max_len,
                          polku_envelope **out, char *why, size_t why_len)
{
    return decode(NULL, data, len, max_len, out, why, why_len);
}

int polku_envelope_decode_in(polku_arena *a, const uint8_t *data, size_t len,
                             size_t max_len, polku_envelope **out, char *why,
                             size_t why_len)
{
    return decode(&a->allocator, data, len, max_len, out, why, why_len);
}

void polku_envelope_free(polku_envelope **env)
{
    if (env == NULL || *env == NULL)
        return;
    polku__envelope__free_unpacked(*env, NULL);
    *env = NULL;
}

int polku_envelope_encode(const polku_envelope *env, uint8_t **out,
                          size_t *out_len)
{
    assert(env != NULL && out != NULL && out_len != NULL);
    size_t size = polku__envelope__get_packed_size(env);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return POLKU_ENOMEM;
    size_t packed = polku__envelope__pack(env, buf);
    assert(packed == size);
    (void)packed;
    *out = buf;
    *out_len = size;
    return POLKU_OK;
}

const char *polku_nack_code_name(Polku__NackCode code)
{
    static const char *const names[] = {
        [POLKU__NACK_CODE__NACK_UNKNOWN_ORG] = "unknown_org",
        [POLKU__NACK_CODE__NACK_NOT_AUTHENTICATED] = "not_authenticated",
        [POLKU__NACK_CODE__NACK_ORIGIN_MISMATCH] = "origin_mismatch",
        [POLKU__NACK_CODE__NACK_CONSENT_REQUIRED] = "consent_required",
        [POLKU__NACK_CODE__NACK_CONSENT_REVOKED] = "consent_revoked",
        [POLKU__NACK_CODE__NACK_NOT_COORDINATOR] = "not_coordinator",
        [POLKU__NACK_CODE__NACK_INVALID_TRANSITION] = "invalid_transition",
        [POLKU__NACK_CODE__NACK_MALFORMED] = "malformed",
        [POLKU__NACK_CODE__NACK_TOO_LARGE] = "too_large",
        [POLKU__NACK_CODE__NACK_UNSUPPORTED_VERSION] = "unsupported_version",
        [POLKU__NACK_CODE__NACK_OVERLOADED] = "overloaded",
        [POLKU__NACK_CODE__NACK_RETRY_LATER] = "retry_later",
        [POLKU__NACK_CODE__NACK_DUPLICATE_SESSION] = "duplicate_session",
        [POLKU__NACK_CODE__NACK_STALE_PLAN] = "stale_plan",
        [POLKU__NACK_CODE__NACK_BROKER_PASSIVE] = "broker_passive",
        [POLKU__NACK_CODE__NACK_OVERRIDE_NOT_PERMITTED] =
            "override_not_permitted",
        [POLKU__NACK_CODE__NACK_LOG_DIVERGED] = "log_diverged",
    };
    size_t i = (size_t)code;
    if (code < 0 || i >= sizeof names / sizeof names[0] || names[i] == NULL)
        return "unspecified";
    return names[i];
}

bool polku_event_object_id(const polku_envelope *env, uint8_t out[16])
{
    const ProtobufCBinaryData *id = NULL;
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        id = &env->referral_requested->referral_id;
        break;
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        id = &env->referral_status->referral_id;
        break;
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        id = &env->cancel_requested->referral_id;
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        id = &env->consent_granted->consent_id;
        break;
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        id = &env->consent_revoked->consent_id;
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        id = &env->handover_offered->handover_id;
        break;
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        id = &env->handover_answered->handover_id;
        break;
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        id = &env->withdraw_requested->handover_id;
        break;
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        id = &env->override_reviewed->object_id;
        break;
    default:
        return false;
    }
    if (id->len != ID_LEN)
        return false;
    memcpy(out, id->data, ID_LEN);
    return true;
}

const char *polku_body_name(Polku__Envelope__BodyCase body)
{
    switch (body) {
    case POLKU__ENVELOPE__BODY_HELLO:
        return "hello";
    case POLKU__ENVELOPE__BODY_WELCOME:
        return "welcome";
    case POLKU__ENVELOPE__BODY_HEARTBEAT:
        return "heartbeat";
    case POLKU__ENVELOPE__BODY_ACK:
        return "ack";
    case POLKU__ENVELOPE__BODY_NACK:
        return "nack";
    case POLKU__ENVELOPE__BODY_REPLAY_REQUEST:
        return "replay_request";
    case POLKU__ENVELOPE__BODY_REPLAY_BATCH:
        return "replay_batch";
    case POLKU__ENVELOPE__BODY_BUNDLE:
        return "bundle";
    case POLKU__ENVELOPE__BODY_REPLAY_DONE:
        return "replay_done";
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return "referral_requested";
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
        return "referral_status";
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return "cancel_requested";
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        return "consent_granted";
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return "consent_revoked";
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
        return "path_claimed";
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        return "path_claim_answered";
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        return "path_closed";
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return "plan_updated";
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        return "service_started";
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        return "service_ended";
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return "handover_offered";
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
        return "handover_answered";
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return "withdraw_requested";
    case POLKU__ENVELOPE__BODY_PATH_QUERY:
        return "path_query";
    case POLKU__ENVELOPE__BODY_PATH_ANSWER:
        return "path_answer";
    case POLKU__ENVELOPE__BODY_SEQ_LOST:
        return "seq_lost";
    case POLKU__ENVELOPE__BODY_SEQ_CONFLICT:
        return "seq_conflict";
    case POLKU__ENVELOPE__BODY_RESEND_REQUESTED:
        return "resend_requested";
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        return "override_reviewed";
    case POLKU__ENVELOPE__BODY_ACCESS_QUERY:
        return "access_query";
    case POLKU__ENVELOPE__BODY_ACCESS_ANSWER:
        return "access_answer";
    case POLKU__ENVELOPE__BODY__NOT_SET:
        return "none";
    default:
        return "unknown";
    }
}

const char *polku_event_topic(const polku_envelope *env)
{
    static const char *const referral[] = {NULL,
                                           "referral.requested",
                                           "referral.received",
                                           "referral.accepted",
                                           "referral.rejected",
                                           "referral.in-progress",
                                           "referral.on-hold",
                                           "referral.completed",
                                           "referral.failed",
                                           "referral.cancelled"};
    static const char *const handover[] = {NULL,
                                           "handover.offered",
                                           "handover.accepted",
                                           "handover.declined",
                                           "handover.withdrawn",
                                           "handover.failed"};
    switch (env->body_case) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
        return referral[1];
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS: {
        unsigned s = env->referral_status->status;
        return s < 10 ? referral[s] : NULL;
    }
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
        return "referral.cancel_requested";
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
        return "consent.granted";
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
        return "consent.revoked";
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
        switch (env->path_claim_answered->outcome) {
        case POLKU__CLAIM_OUTCOME__CLAIM_WON:
            return "path.claim_won";
        case POLKU__CLAIM_OUTCOME__CLAIM_LOST:
            return "path.claim_lost";
        default:
            return NULL;
        }
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
        return "path.closed";
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
        return "path.plan";
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
        return "service.started";
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
        return "service.ended";
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
        return handover[1];
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED: {
        unsigned s = env->handover_answered->status;
        return s >= 2 && s <= 5 ? handover[s] : NULL;
    }
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
        return "handover.withdraw_requested";
    default:
        return NULL;
    }
}

bool polku_body_is_event(Polku__Envelope__BodyCase body)
{
    switch (body) {
    case POLKU__ENVELOPE__BODY_REFERRAL_REQUESTED:
    case POLKU__ENVELOPE__BODY_REFERRAL_STATUS:
    case POLKU__ENVELOPE__BODY_CANCEL_REQUESTED:
    case POLKU__ENVELOPE__BODY_CONSENT_GRANTED:
    case POLKU__ENVELOPE__BODY_CONSENT_REVOKED:
    case POLKU__ENVELOPE__BODY_PATH_CLAIMED:
    case POLKU__ENVELOPE__BODY_PATH_CLAIM_ANSWERED:
    case POLKU__ENVELOPE__BODY_PATH_CLOSED:
    case POLKU__ENVELOPE__BODY_PLAN_UPDATED:
    case POLKU__ENVELOPE__BODY_SERVICE_STARTED:
    case POLKU__ENVELOPE__BODY_SERVICE_ENDED:
    case POLKU__ENVELOPE__BODY_HANDOVER_OFFERED:
    case POLKU__ENVELOPE__BODY_HANDOVER_ANSWERED:
    case POLKU__ENVELOPE__BODY_WITHDRAW_REQUESTED:
    case POLKU__ENVELOPE__BODY_SEQ_LOST:
    case POLKU__ENVELOPE__BODY_RESEND_REQUESTED:
    case POLKU__ENVELOPE__BODY_OVERRIDE_REVIEWED:
        return true;
    default:
        return false;
    }
}
