/* bench_events.c — agents' /v1/events streams read by the benchmark (see
 * bench_events.h). The SSE text is parsed line by line: "event:" names
 * the next event, "data:" holds its JSON, a blank line ends it; comments
 * (":keepalive") and "id:"/"retry:" lines are skipped ("retry:" is the
 * first thing the agent sends: the stream is attached). */
#include "bench_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bench_client.h"

#define BE_LINE_MAX 4096

typedef struct be_stream {
    be_watch *w;
    int index;
    CURL *e;
    struct curl_slist *headers;
    char topic[64];
    char line[BE_LINE_MAX];
    size_t line_len;
    bool overlong;      /* the current line did not fit: ignored */
    bool ready;         /* the preamble has arrived */
    bool event_matches; /* the current event's name is topic */
    char data_id[64];   /* the current event's "id" */
    size_t count, target;
    uint64_t target_ns, last_ns;
    char last_id[64];
} be_stream;

struct be_watch {
    CURLM *multi;
    be_stream s[BE_STREAMS_MAX];
    int n;
    char err[256];
};

be_watch *be_watch_new(void)
{
    be_watch *w = calloc(1, sizeof *w);
    if (w && !(w->multi = curl_multi_init())) {
        free(w);
        w = NULL;
    }
    return w;
}

void be_watch_free(be_watch **wp)
{
    if (!wp || !*wp)
        return;
    be_watch *w = *wp;
    for (int i = 0; i < w->n; i++) {
        curl_multi_remove_handle(w->multi, w->s[i].e);
        curl_easy_cleanup(w->s[i].e);
        curl_slist_free_all(w->s[i].headers);
    }
    curl_multi_cleanup(w->multi);
    free(w);
    *wp = NULL;
}

/* The "id" string of an event's JSON data, into out ("" if none). */
static void data_id(const char *json, char *out, size_t cap)
{
    const char *p = strstr(json, "\"id\":\"");
    out[0] = '\0';
    if (!p)
        return;
    p += 6;
    size_t n = strcspn(p, "\"");
    if (n < cap) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

static void on_line(be_stream *s, uint64_t now)
{
    const char *l = s->line;
    if (s->line_len == 0) { /* the end of an event */
        if (s->event_matches) {
            s->count++;
            s->last_ns = now;
            snprintf(s->last_id, sizeof s->last_id, "%s", s->data_id);
            if (s->count == s->target)
                s->target_ns = now;
        }
        s->event_matches = false;
        s->data_id[0] = '\0';
    } else if (strncmp(l, "event:", 6) == 0) {
        l += l[6] == ' ' ? 7 : 6;
        s->event_matches = strcmp(l, s->topic) == 0;
    } else if (strncmp(l, "data:", 5) == 0) {
        data_id(l + 5, s->data_id, sizeof s->data_id);
    } else if (strncmp(l, "retry:", 6) == 0) {
        s->ready = true;
    }
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    be_stream *s = arg;
    size_t n = size * nmemb;
    uint64_t now = bc_now_ns();
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            if (s->line_len && s->line[s->line_len - 1] == '\r')
                s->line_len--;
            s->line[s->line_len] = '\0';
            if (!s->overlong)
                on_line(s, now);
            s->line_len = 0;
            s->overlong = false;
        } else if (s->line_len + 1 < sizeof s->line) {
            s->line[s->line_len++] = c;
        } else {
            s->overlong = true;
        }
    }
    return n;
}

int be_watch_add(be_watch *w, const char *base_url, const char *token,
                 const char *topic)
{
    if (w->n == BE_STREAMS_MAX)
        return -1;
    be_stream *s = &w->s[w->n];
    memset(s, 0, sizeof *s);
    s->w = w;
    s->index = w->n;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    char url[512], auth[200];
    snprintf(url, sizeof url, "%s/v1/events", base_url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    s->headers = curl_slist_append(NULL, "Accept: text/event-stream");
    struct curl_slist *t =
        s->headers ? curl_slist_append(s->headers, auth) : NULL;
    s->e = curl_easy_init();
    if (!t || !s->e) {
        curl_slist_free_all(s->headers);
        if (s->e)
            curl_easy_cleanup(s->e);
        return -1;
    }
    curl_easy_setopt(s->e, CURLOPT_URL, url);
    curl_easy_setopt(s->e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(s->e, CURLOPT_PROXY, "");
    curl_easy_setopt(s->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->e, CURLOPT_PRIVATE, (char *)s);
    if (curl_multi_add_handle(w->multi, s->e) != CURLM_OK) {
        curl_easy_cleanup(s->e);
        curl_slist_free_all(s->headers);
        return -1;
    }
    return w->n++;
}

bool be_watch_pump(be_watch *w, int timeout_ms)
{
    int running = 0, left = 0;
    if (curl_multi_perform(w->multi, &running) != CURLM_OK ||
        curl_multi_poll(w->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK ||
        curl_multi_perform(w->multi, &running) != CURLM_OK) {
        snprintf(w->err, sizeof w->err, "libcurl multi handle failed");
        return false;
    }
    CURLMsg *m;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        be_stream *s = NULL;
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        snprintf(w->err, sizeof w->err,
                 "event stream %d (%s) ended: HTTP %ld, %s (an agent "
                 "drops a client too slow to read)",
                 s ? s->index : -1, s ? s->topic : "?", status,
                 curl_easy_strerror(m->data.result));
        return false;
    }
    return true;
}

const char *be_error(const be_watch *w)
{
    return w->err;
}

bool be_watch_ready(const be_watch *w)
{
    for (int i = 0; i < w->n; i++)
        if (!w->s[i].ready)
            return false;
    return w->n > 0;
}

size_t be_count(const be_watch *w, int i)
{
    return w->s[i].count;
}

const char *be_last_id(const be_watch *w, int i)
{
    return w->s[i].last_id;
}

uint64_t be_last_ns(const be_watch *w, int i)
{
    return w->s[i].last_ns;
}

void be_set_target(be_watch *w, int i, size_t target)
{
    w->s[i].target = target;
    w->s[i].target_ns = 0;
    if (w->s[i].count >= target)
        w->s[i].target_ns = bc_now_ns();
}

uint64_t be_target_ns(const be_watch *w, int i)
{
    return w->s[i].target_ns;
}
