/* api_events.c — /v1/events: what arrived from other organisations.
 *
 * An organisation's own systems follow what others sent it (a referral
 * received, a handover offered, a consent recorded) as a server-sent event
 * stream of metadata only: topic, sender, client key, object id, origin
 * sequence, time — never free text; the system reads the record itself
 * through the API. An event is published once it is durable. Each start
 * is a new feed (a new epoch): a client resuming with Last-Event-ID from
 * an earlier run gets a reset. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "polku/clock.h"
#include "polku/error.h"
#include "polku/id.h"
#include "polku/sse.h"

int api_events_start(agent_api *api)
{
    uint64_t epoch = 0;
    randombytes_buf(&epoch, sizeof epoch); /* a new feed each start */
    api->events = polku_sse_hub_new(epoch | 1, 1024);
    return api->events ? POLKU_OK : POLKU_ENOMEM;
}

void api_events_stop(agent_api *api)
{
    polku_sse_hub_free(&api->events);
}

void api_events_keepalive(agent_api *api, uint64_t now)
{
    if (now - api->last_keepalive_ms >= 15000) {
        api->last_keepalive_ms = now;
        polku_sse_keepalive(api->events);
    }
}

void api_events_attach(agent_api *api, api_call *c)
{
    polku_sse_attach(api->events, c->req);
}

typedef struct publication {
    struct polku_sse_hub *hub;
    char *topic; /* then NUL, then the JSON */
} publication;

static void publish(void *arg, bool committed)
{
    publication *p = arg;
    if (committed && p->hub)
        polku_sse_publish(p->hub, p->topic, p->topic + strlen(p->topic) + 1);
}

static void publication_free(void *arg)
{
    publication *p = arg;
    free(p->topic);
    free(p);
}

void api_event_applied(void *arg, const polku_envelope *env)
{
    agent_api *api = arg;
    const char *topic = polku_event_topic(env);
    if (!topic || !api->events)
        return;
    char key[33] = "", at[POLKU_TIME_TEXT];
    if (env->client_key.len == 16)
        polku_client_key_hex(env->client_key.data, key);
    polku_time_format(env->time_ms, at, sizeof at);
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:s, s:s}", "topic", topic, "from", env->origin_org,
        "origin_seq", (json_int_t)env->origin_seq, "client_key", key, "at", at);
    polku_id pid;
    if (j && polku_event_object_id(env, pid.b)) {
        char text[POLKU_ID_TEXT];
        polku_id_format(&pid, text);
        json_object_set_new(j, "id", json_string(text));
    }
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        return;
    size_t tl = strlen(topic), bl = strlen(body);
    publication *p = malloc(sizeof *p);
    char *text = malloc(tl + 1 + bl + 1);
    if (p && text) {
        memcpy(text, topic, tl + 1);
        memcpy(text + tl + 1, body, bl + 1);
        *p = (publication){api->events, text};
        batch_after(api->d->b, publish, p, publication_free);
    } else {
        free(p);
        free(text);
    }
    free(body);
}
