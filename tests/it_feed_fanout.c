/* it_feed_fanout — a thousand dashboards on the broker's feed all get it.
 *
 * The broker's /events is where a region's dashboards and monitors watch
 * it. 1 000 plain sockets (more than the 512 connections the HTTP server
 * once held) each ask for GET /events and must all be answered 200 and
 * stay open; then one referral is made, and every one of them must read
 * its `referral.requested` event, within a deadline. The broker must still
 * answer its API meanwhile. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "harness.h"
#include "harness_coord.h"
#include "polku/clock.h"

#define SUBSCRIBERS 1000
#define SEEN_TAIL 64 /* bytes of each stream kept to find a line across reads  \
                      */

typedef struct sub {
    int fd;
    bool ok;   /* "HTTP/1.1 200" seen */
    bool seen; /* the awaited event seen */
    bool gone; /* closed by the broker */
    char tail[SEEN_TAIL + 1];
} sub;

static sub subs[SUBSCRIBERS];

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char req[128];
    int n =
        snprintf(req, sizeof req,
                 "GET /events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads what arrived on every stream (up to timeout_ms), looking for the
 * status line and for needle (NULL: none yet). */
static void pump(struct pollfd *p, const char *needle, int timeout_ms)
{
    if (poll(p, SUBSCRIBERS, timeout_ms) <= 0)
        return;
    for (int i = 0; i < SUBSCRIBERS; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[8192 + SEEN_TAIL + 1];
        size_t keep = strlen(subs[i].tail);
        memcpy(buf, subs[i].tail, keep);
        ssize_t n = read(subs[i].fd, buf + keep, 8192);
        if (n <= 0) {
            subs[i].gone = true;
            p[i].fd = -1;
            continue;
        }
        buf[keep + (size_t)n] = '\0';
        if (strstr(buf, "HTTP/1.1 200"))
            subs[i].ok = true;
        if (needle && strstr(buf, needle))
            subs[i].seen = true;
        size_t len = keep + (size_t)n;
        size_t from = len > SEEN_TAIL ? len - SEEN_TAIL : 0;
        memcpy(subs[i].tail, buf + from, len - from);
        subs[i].tail[len - from] = '\0';
    }
}

static int streaming(void)
{
    int n = 0;
    for (int i = 0; i < SUBSCRIBERS; i++)
        n += subs[i].ok && !subs[i].gone;
    return n;
}

static int seen(void)
{
    int n = 0;
    for (int i = 0; i < SUBSCRIBERS; i++)
        n += subs[i].seen && !subs[i].gone;
    return n;
}

static void case_thousand_subscribers_all_get_the_event(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    H_REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
                  lim.rlim_cur >= SUBSCRIBERS + 256,
              "the descriptor limit (%llu) holds %d sockets",
              (unsigned long long)lim.rlim_cur, SUBSCRIBERS);
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "sote-keskus", "coordination");
    h_org *b = h_region_add_org(r, "tyokykytiimi", "work-ability-assessment");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    hc_wait_replayed(r, H_SEC(15));

    static struct pollfd p[SUBSCRIBERS];
    for (int i = 0; i < SUBSCRIBERS; i++) {
        subs[i].fd = connect_to(r->broker_http_port);
        H_REQUIRE(subs[i].fd >= 0, "subscriber %d connects: %s", i,
                  strerror(errno));
        p[i] = (struct pollfd){.fd = subs[i].fd, .events = POLLIN};
    }
    H_WAIT_UNTIL(H_SEC(30), (pump(p, NULL, 50), streaming() == SUBSCRIBERS),
                 "all %d subscribers answered 200 and open (%d are)",
                 SUBSCRIBERS, streaming());
    h_note("%d subscribers streaming", streaming());

    char key[33], cid[64], rid[64];
    h_org *bb[1] = {b};
    h_client_key(key);
    hc_consent(a, key, bb, 1, NULL, cid);
    hc_wait_consent(b, key, cid);
    h_resp resp;
    long st =
        h_referral_create(a, key, b->id, NULL, "fan-out test", rid, &resp);
    H_REQUIRE(st == 201 && rid[0], "referral created: HTTP %ld %s", st,
              hc_body(&resp));
    h_resp_free(&resp);
    uint64_t t0 = polku_mono_ms();
    H_WAIT_UNTIL(
        H_SEC(30),
        (pump(p, "event: referral.requested", 50), seen() == SUBSCRIBERS),
        "every subscriber reads referral.requested (%d of %d; %d "
        "closed)",
        seen(), SUBSCRIBERS, SUBSCRIBERS - streaming());
    h_note("all %d subscribers had the event %llu ms after the 201",
           SUBSCRIBERS, (unsigned long long)(polku_mono_ms() - t0));
    json_t *s = hc_broker_stats(r);
    H_CHECK(s != NULL, "the broker answers /api/v1/stats with them attached");
    json_decref(s);
    for (int i = 0; i < SUBSCRIBERS; i++)
        close(subs[i].fd);
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "it_feed_fanout");
    H_CASE(case_thousand_subscribers_all_get_the_event);
    return h_finish();
}
