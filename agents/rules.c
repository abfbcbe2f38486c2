/* rules.c — the transfer rule on accepted referrals (see rules.h). */
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#include "handovers.h"
#include "paths.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/log.h"
#include "records.h"

int rules_referral_accepted(agent *a, MDB_txn *txn, Polku__ReferralRecord *r)
{
    if (!r->outgoing || !r->transfer || r->transfer_done)
        return POLKU_OK;
    const agent_rule *rule = agent_rule_for_referral(a->cfg, r->service);
    if (!rule)
        return POLKU_OK; /* no rule: transfer stays a wish, nothing done */
    r->transfer_done = true;
    Polku__PathRecord *path = NULL;
    int rc = paths_load(a, txn, r->client_key.data, &path);
    if (rc && rc != POLKU_ENOTFOUND)
        return rc;
    handover_new n = {.to = r->to_org, .rule = rule->name,
                      .referral_id = r->id.data};
    memcpy(n.client_key, r->client_key.data, 16);
    if (strcmp(rule->supporter, "self") == 0)
        n.supporter = a->cfg->org;
    else if (rule->supporter[0])
        n.supporter = rule->supporter;
    uint64_t now = polku_now_ms();
    n.plan_current = path && path->plan &&
                     (path->plan->review_due_ms == 0 ||
                      path->plan->review_due_ms > now);
    if (path)
        polku__path_record__free_unpacked(path, NULL);
    agent_refusal why = {0};
    Polku__HandoverRecord *h = NULL;
    rc = handovers_offer(a, txn, &n, &why, &h);
    char idtext[POLKU_ID_TEXT];
    polku_id rid;
    memcpy(rid.b, r->id.data, 16);
    polku_id_format(&rid, idtext);
    if (rc == POLKU_EREFUSED) {
        agent_after_log(
            a, POLKU_LOG_INFO,
            "rule %s: referral %s accepted, no handover offered: %s",
            rule->name, idtext, why.code);
        json_decref(why.extra);
        return record_set_text(&r->transfer_note, why.code);
    }
    if (rc)
        return rc;
    agent_after_log(a, POLKU_LOG_INFO,
                    "rule %s: referral %s accepted, handover offered to %s",
                    rule->name, idtext, r->to_org);
    rc = record_set_bytes(&r->transfer_handover, h->id.data, 16);
    polku__handover_record__free_unpacked(h, NULL);
    return rc;
}
