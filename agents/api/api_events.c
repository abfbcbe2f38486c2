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
#include "polku/json_writer.h"
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
    /* "topic", NUL, then the event's JSON, in one buffer (written
     * directly: one event per referral on the hot path) */
    jw w;
    jw_init(&w);
    jw_raw(&w, topic, strlen(topic) + 1);
    w.comma = false;
    jw_begin_object(&w);
    jw_key(&w, "topic");
    jw_string(&w, topic);
    jw_key(&w, "from");
    jw_string(&w, env->origin_org);
    jw_key(&w, "origin_seq");
    jw_int(&w, (long long)env->origin_seq);
    jw_key(&w, "client_key");
    jw_string(&w, key);
    jw_key(&w, "at");
    jw_string(&w, at);
    polku_id pid;
    if (polku_event_object_id(env, pid.b)) {
        char text[POLKU_ID_TEXT];
        polku_id_format(&pid, text);
        jw_key(&w, "id");
        jw_string(&w, text);
    }
    jw_end_object(&w);
    size_t len = 0;
    char *text = jw_take(&w, &len);
    publication *p = text ? malloc(sizeof *p) : NULL;
    if (!p) {
        free(text);
        return;
    }
    *p = (publication){api->events, text};
    batch_after(api->d->b, publish, p, publication_free);
}
