/* render_fhir.h — the agent's records as FHIR R4 resources (JSON).
 *
 * Health-care integrators read and write referrals with FHIR tooling; this
 * is the one place that knows how a polku record looks as a FHIR resource
 * (the HTTP side is api_fhir.c). A referral is a Task whose focus is a
 * contained ServiceRequest; a consent is a Consent. The client appears only
 * as its client key (an identifier of system POLKU_FHIR_CLIENT_KEY), never
 * as an identity code; organisations as identifiers of POLKU_FHIR_ORG.
 *
 *   polku referral           FHIR Task
 *   id                       id, identifier (POLKU_FHIR_REFERRAL)
 *   status                   status (the same nine codes), statusReason
 *                            (the reason of the last change)
 *   from / to                requester / owner (Organization identifiers)
 *   client_key               for (Patient identifier)
 *   service, reason          contained ServiceRequest: code, reasonCode
 *   urgency                  priority (routine | urgent)
 *   due                      restriction.period.end
 *   transfer                 input "transfer" (valueBoolean)
 *   outcome                  output "outcome" (valueString)
 *   cancel_requested         businessStatus "cancel-requested"
 *   created / updated        authoredOn / lastModified, meta.lastUpdated
 *   version                  meta.versionId */
#ifndef POLKU_AGENT_RENDER_FHIR_H
#define POLKU_AGENT_RENDER_FHIR_H

#include <jansson.h>
#include <stdbool.h>

#include "domain.h"

#define POLKU_FHIR_CLIENT_KEY "urn:polku:client-key"
#define POLKU_FHIR_ORG "urn:polku:org"
#define POLKU_FHIR_SERVICE "urn:polku:service"
#define POLKU_FHIR_REFERRAL "urn:polku:referral"
#define POLKU_FHIR_TASK_INPUT "urn:polku:task-input"
#define POLKU_FHIR_TASK_OUTPUT "urn:polku:task-output"
#define POLKU_FHIR_BUSINESS "urn:polku:business-status"
#define POLKU_FHIR_ERROR "urn:polku:error"
#define POLKU_FHIR_CONSENT_FORM "urn:polku:consent-form"
#define POLKU_FHIR_CONSENT_PURPOSE "urn:polku:consent-purpose"
/* The Finnish personal identity code (accepted in POST /fhir/Task only). */
#define POLKU_FHIR_HETU "urn:oid:1.2.246.21"
/* The id of the contained ServiceRequest a Task's focus points at. */
#define POLKU_FHIR_REQUEST_ID "request"

#define POLKU_FHIR_JSON "application/fhir+json"

/* The referral as a Task. Caller owns the result. */
json_t *render_fhir_task(const Polku__ReferralRecord *r);
/* The consent as a Consent, as of now_ms. Caller owns the result. */
json_t *render_fhir_consent(const Polku__ConsentRecord *r, uint64_t now_ms);
/* An empty searchset Bundle whose self link is self_url; add entries with
 * render_fhir_bundle_add (base_url: "http://host/fhir"). */
json_t *render_fhir_bundle(const char *self_url);
void render_fhir_bundle_add(json_t *bundle, const char *base_url,
                            json_t *resource);
/* The CapabilityStatement of this agent (now_ms: its date). */
json_t *render_fhir_capability(const char *org, const char *base_url,
                               uint64_t now_ms);
/* An OperationOutcome for an error answer: the issue code follows the
 * HTTP status, details carry polku's error code and the message. */
json_t *render_fhir_outcome(unsigned status, const char *code,
                            const char *message);

#endif
