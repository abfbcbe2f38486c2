/* override_review.h — an operator reviews a break-glass at the broker.
 *
 * POST /api/v1/overrides/{id}/review (the broker's bearer token, as every
 * API call): the broker keeps nothing, so the review must land in a log.
 * It is sent, with the broker's authenticator (overrides.h), to the
 * organisation that used the override, whose agent logs it as its own
 * event for the broker; the alert override_used clears when that event
 * is folded, and stays cleared after any restart. 202 when sent; 404 no
 * such override; 409 reviewed already; 503 that organisation is offline. */
#ifndef POLKU_BROKER_OVERRIDE_REVIEW_H
#define POLKU_BROKER_OVERRIDE_REVIEW_H

#include "broker_state.h"

void override_review_http(broker *b, polku_http_req *req, const char *idtext);

#endif
