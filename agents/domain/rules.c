/* rules.c — the automatic handovers of the [rule] sections (see rules.h). */
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#include "handovers.h"
#include "paths.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "records.h"

/* True if the path's plan pointer is there and not past its review. */
static bool plan_current(const Polku__PathRecord *p, uint64_t now)
{
    return p && p->plan &&
           (p->plan->review_due_ms == 0 || p->plan->review_due_ms > now);
}

/* Offers the client's coordination as rule says: to `to`, with the rule's
 * supporter ("self": this organisation), the plan pointer of the path. */
static int rule_offer(domain *d, MDB_txn *txn, const agent_rule *rule,
                      const uint8_t key[16], const char *to,
                      const uint8_t *referral_id, domain_refusal *why,
                      Polku__HandoverRecord **out)
{
    Polku__PathRecord *path = NULL;
    int rc = paths_load(d, txn, key, &path);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    handover_new n = {.to = to, .rule = rule->name, .referral_id = referral_id};
    memcpy(n.client_key, key, 16);
    if (strcmp(rule->supporter, "self") == 0)
        n.supporter = d->org;
    else if (rule->supporter[0])
        n.supporter = rule->supporter;
    n.plan_current = plan_current(path, domain_now(d));
    if (path)
        polku__path_record__free_unpacked(path, NULL);
    return handovers_offer(d, txn, &n, why, out);
}

int rules_referral_accepted(domain *d, MDB_txn *txn, Polku__ReferralRecord *r)
{
    if (!r->outgoing || !r->transfer || r->transfer_done)
        return POLKU_OK;
    const agent_rule *rule = agent_rule_for_referral(d->cfg, r->service);
    if (!rule)
        return POLKU_OK; /* no rule: transfer stays a wish, nothing done */
    r->transfer_done = true;
    domain_refusal why = {0};
    Polku__HandoverRecord *h = NULL;
    int rc = rule_offer(d, txn, rule, r->client_key.data, r->to_org, r->id.data,
                        &why, &h);
    char idtext[POLKU_ID_TEXT];
    polku_id_text(r->id.data, idtext);
    if (rc == POLKU_EREFUSED) {
        const char *code = domain_reason_code(why.reason);
        batch_after_log(
            d->b, POLKU_LOG_INFO,
            "rule %s: referral %s accepted, no handover offered: %s",
            rule->name, idtext, code);
        return record_set_text(&r->transfer_note, code);
    }
    if (rc)
        return rc;
    batch_after_log(d->b, POLKU_LOG_INFO,
                    "rule %s: referral %s accepted, handover offered to %s",
                    rule->name, idtext, r->to_org);
    rc = record_set_bytes(&r->transfer_handover, h->id.data, 16);
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}

/* The rule that names the successor when the coordinator's service ends;
 * NULL with nothing to do when a successor is already being arranged. */
static int successor_rule(domain *d, const Polku__PathRecord *p,
                          const char *service, domain_refusal *why,
                          const agent_rule **rule)
{
    *rule = NULL;
    if (p->open_handover.len == 16)
        return POLKU_OK; /* a successor is already being arranged */
    *rule = agent_rule_for_service_end(d->cfg, service);
    if (!*rule)
        return domain_refuse(
            why, DOMAIN_SUCCESSOR_REQUIRED,
            "this organisation coordinates the client: name a successor "
            "with a handover (or a [rule] with on = service_ended) before "
            "the service ends");
    return POLKU_OK;
}

int rules_service_change(domain *d, MDB_txn *txn, const uint8_t key[16],
                         const char *service, bool ended, domain_refusal *why,
                         Polku__PathRecord **out,
                         Polku__HandoverRecord **handover)
{
    *out = NULL;
    *handover = NULL;
    Polku__PathRecord *p = NULL;
    const agent_rule *rule = NULL;
    int rc = paths_load(d, txn, key, &p);
    if (rc == POLKU_ENOTFOUND)
        rc = POLKU_OK;
    if (!rc && ended && paths_i_coordinate(d, p))
        rc = successor_rule(d, p, service, why, &rule);
    if (p)
        polku__path_record__free_unpacked(p, NULL);
    p = NULL;
    if (!rc)
        rc = paths_service(d, txn, key, service, ended, &p);
    /* the offer follows the service end in the log, so the timeline reads
     * in the order things happened */
    if (!rc && rule) {
        rc = rule_offer(d, txn, rule, key, rule->offer_to, NULL, why, handover);
        polku__path_record__free_unpacked(p, NULL);
        p = NULL;
        if (!rc) /* the offer is on the path now */
            rc = paths_load(d, txn, key, &p);
    }
    if (rc) {
        if (p)
            polku__path_record__free_unpacked(p, NULL);
        if (*handover)
            polku__handover_record__free_unpacked(*handover, NULL);
        *handover = NULL;
        return rc;
    }
    *out = p;
    return POLKU_OK;
}
