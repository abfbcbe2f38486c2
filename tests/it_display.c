/* it_display — keys the dashboard cannot reverse (docs/privacy.md).
 *
 * Every agent host holds the region's pseudonym secret, and an identity
 * code has few candidates per birth date, so a client key is reversible by
 * any organisation's staff. The broker must therefore never show one: a
 * region of three organisations works through consents, referrals, a
 * coordination claim, a handover, a service, a plan pointer and an alert;
 * every client key an agent's API answered is collected, and none of them
 * (lower or upper case hex) may appear in anything the broker serves —
 * every /api/v1 route, /healthz, /metrics, the dashboard's files, the SSE
 * feed, the ZeroMQ PUB feed — or in its log at debug level. What the
 * broker shows instead is the display pseudonym the test computes from
 * the broker's display secret on its own (h_display_name), and that
 * pseudonym is the same after the broker is killed (-9) and rebuilt from
 * the agents' logs. Meanwhile an agent's GET /v1/paths/{key}, which goes
 * to the broker over the agent's own link, keeps working with the client
 * key, and tells the agent the name the dashboard shows (display_name). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "harness.h"
#include "harness_coord.h"
#include "harness_feed.h"
#include "polku/clock.h"

/* Synthetic identity codes with valid check characters. */
static const char *const hetus[] = {"010190-802J", "240685-813F",
                                    "311299-8355"};
#define N_HETU 3
#define N_KEYS (N_HETU + 1) /* and one client given by key */

/* ---------------------------------------------------- collected keys */

typedef struct keyset {
    char k[64][33];
    int n;
} keyset;

static bool is_key(const char *s)
{
    if (!s || strlen(s) != 32)
        return false;
    for (int i = 0; i < 32; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static void keys_add(keyset *ks, const char *k)
{
    for (int i = 0; i < ks->n; i++)
        if (strcmp(ks->k[i], k) == 0)
            return;
    H_REQUIRE(ks->n < 64, "too many client keys");
    snprintf(ks->k[ks->n++], 33, "%s", k);
}

/* Every "client_key" member anywhere in j. */
static void collect(keyset *ks, const json_t *j)
{
    const char *name;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, name, v)
        {
            if (strcmp(name, "client_key") == 0 && is_key(json_string_value(v)))
                keys_add(ks, json_string_value(v));
            collect(ks, v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) collect(ks, v);
    }
}

/* GET path at o; its answer's client keys go into ks. */
static void collect_from(keyset *ks, h_org *o, const char *path)
{
    h_resp resp;
    long st = h_api(o, "GET", path, NULL, &resp);
    H_REQUIRE(st == 200 && resp.json, "GET %s at %s: HTTP %ld %s", path, o->id,
              st, hc_body(&resp));
    collect(ks, resp.json);
    h_resp_free(&resp);
}

/* ---------------------------------------------------- what the broker
 * shows */

typedef struct surface {
    char what[160];
    char *data;
    size_t len;
} surface;

typedef struct surfaces {
    surface s[48];
    int n;
} surfaces;

static void add_surface(surfaces *all, const char *what, const char *data,
                        size_t len)
{
    H_REQUIRE(all->n < 48, "too many surfaces");
    surface *s = &all->s[all->n++];
    snprintf(s->what, sizeof s->what, "%s", what);
    s->data = malloc(len + 1);
    H_REQUIRE(s->data, "out of memory");
    memcpy(s->data, data, len);
    s->data[len] = '\0';
    s->len = len;
}

static void free_surfaces(surfaces *all)
{
    for (int i = 0; i < all->n; i++)
        free(all->s[i].data);
    all->n = 0;
}

/* GET path at the broker (no token: loopback), expecting status. */
static void add_http(surfaces *all, h_region *r, const char *path, long want)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", path, NULL, NULL, 0, &resp);
    H_CHECK(st == want, "broker GET %s: HTTP %ld, expected %ld", path, st,
            want);
    char what[160];
    snprintf(what, sizeof what, "the broker's GET %s", path);
    add_surface(all, what, resp.body ? resp.body : "",
                resp.body ? resp.len : 0);
    h_resp_free(&resp);
}

static bool surface_has(const surface *s, const char *text)
{
    return h_mem_contains(s->data, s->len, text, strlen(text));
}

/* No client key, in either case, in any surface; returns how many bytes
 * were searched. */
static size_t expect_no_keys(const surfaces *all, const keyset *ks)
{
    size_t bytes = 0;
    for (int i = 0; i < all->n; i++) {
        bytes += all->s[i].len;
        for (int k = 0; k < ks->n; k++) {
            char up[33];
            for (int c = 0; c < 33; c++)
                up[c] = (char)toupper((unsigned char)ks->k[k][c]);
            H_CHECK(!surface_has(&all->s[i], ks->k[k]) &&
                        !surface_has(&all->s[i], up),
                    "client key %s appears in %s", ks->k[k], all->s[i].what);
        }
    }
    return bytes;
}

static const surface *find_surface(const surfaces *all, const char *what)
{
    for (int i = 0; i < all->n; i++)
        if (strstr(all->s[i].what, what))
            return &all->s[i];
    H_FAIL("no surface %s", what);
}

/* ------------------------------------------------------------ helpers */

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    H_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                  getsockname(fd, (struct sockaddr *)&sa, &len) == 0,
              "a free port");
    close(fd);
    return ntohs(sa.sin_port);
}

/* Everything the PUB feed has sent so far, frames joined. */
static void drain_pub(void *sub, char **buf, size_t *len)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char *grown = realloc(*buf, *len + zmq_msg_size(&m) + 2);
        H_REQUIRE(grown, "out of memory");
        memcpy(grown + *len, zmq_msg_data(&m), zmq_msg_size(&m));
        *len += zmq_msg_size(&m);
        grown[(*len)++] = '\n';
        grown[*len] = '\0';
        *buf = grown;
        zmq_msg_close(&m);
    }
}

static long consent_by_hetu(h_org *at, const char *hetu, h_org *const with[],
                            int n, char key_out[33])
{
    char until[POLKU_TIME_TEXT];
    polku_time_format(polku_now_ms() + 86400000ull, until, sizeof until);
    json_t *orgs = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(orgs, json_string(with[i]->id));
    json_t *body =
        json_pack("{s:{s:s}, s:o, s:[s,s,s,s], s:s, s:s}", "client", "hetu",
                  hetu, "orgs", orgs, "purposes", "referral", "handover",
                  "path", "plan", "valid_until", until, "form", "Y100");
    h_resp resp;
    long st = h_api_json(at, "POST", "/v1/consents", body, &resp);
    const char *k = hc_str(resp.json, "client_key");
    H_REQUIRE(st == 201 && is_key(k), "consent by identity code at %s: %ld %s",
              at->id, st, hc_body(&resp));
    snprintf(key_out, 33, "%s", k);
    h_resp_free(&resp);
    return st;
}

static void referral_by_hetu(h_org *a, const char *hetu, h_org *to,
                             char id_out[64])
{
    json_t *body =
        json_pack("{s:{s:s}, s:s, s:s, s:s}", "client", "hetu", hetu, "to",
                  to->id, "reason", "assessment", "urgency", "routine");
    h_resp resp;
    long st = h_api_json(a, "POST", "/v1/referrals", body, &resp);
    const char *id = hc_str(resp.json, "id");
    H_REQUIRE(st == 201 && id[0], "referral by identity code at %s: %ld %s",
              a->id, st, hc_body(&resp));
    snprintf(id_out, 64, "%s", id);
    h_resp_free(&resp);
}

static bool alert_listed(h_region *r, const char *id)
{
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", "/api/v1/alerts", NULL,
                             NULL, 0, &resp);
    bool found = st == 200 && resp.body && strstr(resp.body, id);
    h_resp_free(&resp);
    return found;
}

/* GET /v1/paths/{key} at o, the shared view: asked of the broker over
 * o's link. The JSON or NULL. */
static json_t *shared_path(h_org *o, const char *key)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/paths/%.32s", key);
    h_resp resp;
    long st = h_api(o, "GET", path, NULL, &resp);
    json_t *j = st == 200 ? json_incref(resp.json) : NULL;
    h_resp_free(&resp);
    return j;
}

/* The broker's path of a client by its display pseudonym, or NULL. */
static json_t *shown_path(h_region *r, const char *shown)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/paths/%s", shown);
    h_resp resp;
    long st = h_http_request(r->broker_http, "GET", path, NULL, NULL, 0, &resp);
    json_t *j = st == 200 ? json_incref(resp.json) : NULL;
    h_resp_free(&resp);
    return j;
}

/* -------------------------------------------------------------- case */

static void gather(surfaces *all, h_region *r, const keyset *ks,
                   const char shown[][33], h_sse *sse, void *sub, char **pub,
                   size_t *pub_len)
{
    static const char *const routes[] = {"/",
                                         "/index.html",
                                         "/app.js",
                                         "/style.css",
                                         "/i18n/fi.json",
                                         "/i18n/sv.json",
                                         "/i18n/en.json",
                                         "/healthz",
                                         "/metrics",
                                         "/api/v1/stats",
                                         "/api/v1/pending",
                                         "/api/v1/directory",
                                         "/api/v1/alerts",
                                         NULL};
    for (int i = 0; routes[i]; i++)
        add_http(all, r, routes[i], 200);
    char day[16], path[160];
    polku_time_format(polku_now_ms(), path, sizeof path);
    snprintf(day, sizeof day, "%.10s", path);
    snprintf(path, sizeof path, "/api/v1/reports?from=%s&to=%s", day, day);
    add_http(all, r, path, 200);
    snprintf(path, sizeof path, "/api/v1/reports?from=%s&to=%s&format=csv", day,
             day);
    add_http(all, r, path, 200);
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(path, sizeof path, "/api/v1/paths/%s", shown[i]);
        add_http(all, r, path, 200);
    }
    /* a client key is not a name the broker answers to, and its refusal
     * does not echo it */
    for (int i = 0; i < ks->n; i++) {
        snprintf(path, sizeof path, "/api/v1/paths/%s", ks->k[i]);
        add_http(all, r, path, 404);
        /* the surface's name holds the key: keep it out of the search */
        snprintf(all->s[all->n - 1].what, sizeof all->s[0].what,
                 "the broker's refusal of client key #%d", i);
    }
    for (int i = 0; i < 10; i++)
        h_sse_pump(sse, 100);
    add_surface(all, "the broker's SSE feed", h_sse_text(sse),
                strlen(h_sse_text(sse)));
    drain_pub(sub, pub, pub_len);
    add_surface(all, "the broker's ZeroMQ PUB feed", *pub ? *pub : "",
                *pub_len);
    size_t len = 0;
    char *log = h_read_file(r->broker.log, &len);
    H_REQUIRE(log, "the broker's log %s", r->broker.log);
    add_surface(all, "the broker's log", log, len);
    free(log);
}

static void case_client_keys_stay_on_the_links(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_org *c = h_region_add_org(r, "kela", "vocational-rehab");
    h_region_write(r);
    h_region_use_secret(r);
    char line[96];
    snprintf(line, sizeof line, "feed = tcp://127.0.0.1:%d", free_tcp_port());
    h_broker_config_add(r, line);
    /* path_no_coordinator after 2 s: an alert about a client */
    h_broker_sla_all(r, "1h", "1h", "1h", "1h", "2s");
    h_broker_start(r);

    void *zctx = zmq_ctx_new();
    void *sub = zctx ? zmq_socket(zctx, ZMQ_SUB) : NULL;
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    H_REQUIRE(sub && zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) == 0 &&
                  zmq_connect(sub, line + strlen("feed = ")) == 0,
              "subscribe to the PUB feed: %s", zmq_strerror(zmq_errno()));
    h_sse *sse = h_sse_open_broker(r, NULL);
    char *pub = NULL;
    size_t pub_len = 0;

    h_agent_start_connected(a);
    h_agent_start_connected(b);
    h_agent_start_connected(c);

    /* the clients: three by identity code, one by key */
    char key[N_KEYS][33], shown[N_KEYS][33];
    h_org *const scope[] = {b, c};
    for (int i = 0; i < N_HETU; i++)
        consent_by_hetu(a, hetus[i], scope, 2, key[i]);
    h_client_key(key[N_HETU]);
    char cid[64];
    hc_consent(a, key[N_HETU], scope, 2, NULL, cid);
    for (int i = 0; i < N_KEYS; i++)
        h_display_name(r, key[i], shown[i]);

    /* client 0: referred, accepted, coordinated, handed over, in service,
     * with a plan pointer */
    char rid[N_KEYS][64], hid[64];
    h_resp resp;
    referral_by_hetu(a, hetus[0], b, rid[0]);
    h_wait_status(b, rid[0], "received", H_SEC(10));
    H_REQUIRE(h_referral_set_status(b, rid[0], "accepted", NULL, NULL, &resp) ==
                  200,
              "accept %s at %s: %s", rid[0], b->id, hc_body(&resp));
    h_resp_free(&resp);
    hc_claim_ok(a, key[0]);
    hc_offer_ok(a, key[0], b->id, hid);
    H_WAIT_UNTIL(H_SEC(10),
                 hc_handover_act(b, hid, "accept", NULL, NULL) == 200,
                 "%s to accept handover %s", b->id, hid);
    long st =
        hc_service(b, key[0], "work-ability-assessment", "started", &resp);
    H_REQUIRE(st >= 200 && st < 300, "service start at %s: HTTP %ld %s", b->id,
              st, hc_body(&resp));
    h_resp_free(&resp);
    /* clients 1 and 2: referred, nobody coordinates (an alert); 1 is
     * rejected */
    referral_by_hetu(a, hetus[1], c, rid[1]);
    referral_by_hetu(a, hetus[2], b, rid[2]);
    h_wait_status(c, rid[1], "received", H_SEC(10));
    H_REQUIRE(h_referral_set_status(c, rid[1], "rejected", "not ours", NULL,
                                    &resp) == 200,
              "reject %s at %s: %s", rid[1], c->id, hc_body(&resp));
    h_resp_free(&resp);
    /* client 3, by key */
    H_REQUIRE(h_referral_create(a, key[N_HETU], c->id, NULL, "by key",
                                rid[N_HETU], &resp) == 201,
              "referral by key at %s: %s", a->id, hc_body(&resp));
    h_resp_free(&resp);
    h_wait_status(c, rid[N_HETU], "received", H_SEC(10));

    char alert[80];
    snprintf(alert, sizeof alert, "path_no_coordinator:%s", shown[2]);
    H_WAIT_UNTIL(H_SEC(15), alert_listed(r, alert),
                 "the broker to list alert %s", alert);
    H_WAIT_UNTIL(H_SEC(10),
                 h_agent_outbox_pending(a) == 0 &&
                     h_agent_outbox_pending(b) == 0 &&
                     h_agent_outbox_pending(c) == 0,
                 "every outbox to drain");

    /* the keys the agents answered, from every organisation's API; an
     * agent's path query goes over its link and keeps the client key */
    keyset ks = {0};
    h_org *const orgs[] = {a, b, c};
    for (int o = 0; o < 3; o++) {
        collect_from(&ks, orgs[o], "/v1/referrals");
        collect_from(&ks, orgs[o], "/v1/handovers");
        for (int i = 0; i < N_KEYS; i++) {
            char path[96];
            snprintf(path, sizeof path, "/v1/consents?client=%.32s", key[i]);
            collect_from(&ks, orgs[o], path);
        }
    }
    json_t *own = shared_path(a, key[0]);
    H_CHECK(own && strcmp(hc_str(own, "client_key"), key[0]) == 0 &&
                strcmp(hc_coordinator(own), b->id) == 0 &&
                strcmp(hc_str(own, "display_name"), shown[0]) == 0,
            "%s's GET /v1/paths/{key} answers with the client key, "
            "coordinator %s and the name the dashboard shows, %s",
            a->id, b->id, shown[0]);
    collect(&ks, own);
    json_decref(own);
    for (int i = 0; i < N_KEYS; i++)
        keys_add(&ks, key[i]);
    H_CHECK(ks.n == N_KEYS, "the agents answered %d client keys, expected %d",
            ks.n, N_KEYS);

    surfaces all = {0};
    gather(&all, r, &ks, shown, sse, sub, &pub, &pub_len);
    size_t bytes = expect_no_keys(&all, &ks);
    h_note("%d client keys, none in %d broker surfaces (%zu bytes)", ks.n,
           all.n, bytes);

    /* what it shows instead: the display pseudonyms, computed here */
    const surface *pending = find_surface(&all, "GET /api/v1/pending");
    const surface *alerts = find_surface(&all, "GET /api/v1/alerts");
    const surface *feed = find_surface(&all, "SSE feed");
    const surface *pubs = find_surface(&all, "PUB feed");
    H_CHECK(surface_has(pending, shown[2]) &&
                surface_has(pending, shown[N_HETU]),
            "/api/v1/pending names the open referrals' clients by display "
            "pseudonym");
    H_CHECK(surface_has(alerts, shown[2]), "the alert names client %s",
            shown[2]);
    for (int i = 0; i < N_KEYS; i++)
        H_CHECK(surface_has(feed, shown[i]) && surface_has(pubs, shown[i]),
                "the SSE and PUB feeds name client %d as %s", i, shown[i]);
    json_t *before = shown_path(r, shown[0]);
    H_REQUIRE(before, "the broker's path of %s", shown[0]);
    H_CHECK(strcmp(hc_str(before, "client_key"), shown[0]) == 0 &&
                strcmp(hc_coordinator(before), b->id) == 0,
            "/api/v1/paths/%s names the client so, coordinator %s", shown[0],
            b->id);
    free_surfaces(&all);

    /* kill -9 and rebuild: the same names */
    h_broker_kill(r);
    h_broker_start(r);
    hc_wait_replayed(r, H_SEC(30));
    json_t *after = NULL;
    H_WAIT_UNTIL(H_SEC(15),
                 (json_decref(after), after = shown_path(r, shown[0])) &&
                     strcmp(hc_coordinator(after), b->id) == 0,
                 "the rebuilt broker's path of %s", shown[0]);
    H_CHECK(strcmp(hc_str(after, "client_key"), shown[0]) == 0 &&
                hc_int(after, "term") == hc_int(before, "term") &&
                json_array_size(json_object_get(after, "referrals")) ==
                    json_array_size(json_object_get(before, "referrals")),
            "after kill -9 the broker shows client 0 as %s again, same "
            "term and referrals",
            shown[0]);
    json_decref(before);
    json_decref(after);
    for (int i = 1; i < N_KEYS; i++) {
        json_t *p = shown_path(r, shown[i]);
        H_CHECK(p && strcmp(hc_str(p, "client_key"), shown[i]) == 0,
                "after the restart client %d is still %s", i, shown[i]);
        json_decref(p);
    }
    H_WAIT_UNTIL(H_SEC(15), alert_listed(r, alert),
                 "the rebuilt broker to list alert %s again", alert);
    own = shared_path(a, key[0]);
    H_CHECK(own && strcmp(hc_str(own, "client_key"), key[0]) == 0,
            "after the restart %s's path query still answers with the "
            "client key",
            a->id);
    json_decref(own);

    /* and the rebuilt broker shows no client key either */
    h_sse_close(&sse);
    sse = h_sse_open_broker(r, NULL);
    gather(&all, r, &ks, shown, sse, sub, &pub, &pub_len);
    bytes = expect_no_keys(&all, &ks);
    h_note("after kill -9: none in %d broker surfaces (%zu bytes)", all.n,
           bytes);
    H_CHECK(surface_has(find_surface(&all, "GET /api/v1/pending"), shown[2]),
            "the rebuilt /api/v1/pending names client 2 as %s", shown[2]);
    free_surfaces(&all);
    free(pub);
    h_sse_close(&sse);
    zmq_close(sub);
    zmq_ctx_term(zctx);
}

int main(int argc, char **argv)
{
    /* the most talkative logs are the strictest test of what they hold */
    setenv("POLKU_IT_LOG_LEVEL", "debug", 0);
    if (sodium_init() < 0)
        return 1;
    h_init(argc, argv, "it_display");
    H_CASE(case_client_keys_stay_on_the_links);
    return h_finish();
}
