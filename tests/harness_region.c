/* harness_region.c — a temporary region: directory, keys, tokens, ports,
 * configs, and starting/stopping its broker and agents. */
#include "harness.h"
#include "polku/chain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "harness_internal.h"

/* Ports handed out by this process, so two picks never collide even if the
 * kernel offers a just-closed port again. */
static int g_ports[256];
static int g_nports;

/* The kernel's range for the local ports of outgoing connections
 * (net.ipv4.ip_local_port_range), [*lo, *hi]; Linux's default if unread. */
static void ephemeral_range(int *lo, int *hi)
{
    *lo = 32768;
    *hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f)
        return;
    int a, b;
    if (fscanf(f, "%d %d", &a, &b) == 2 && a > 0 && b >= a) {
        *lo = a;
        *hi = b;
    }
    fclose(f);
}

static bool handed_out(int port)
{
    for (int i = 0; i < g_nports; i++)
        if (g_ports[i] == port)
            return true;
    return false;
}

static int hand_out(int port)
{
    if (g_nports < (int)(sizeof g_ports / sizeof g_ports[0]))
        g_ports[g_nports++] = port;
    return port;
}

/* True if nothing holds 127.0.0.1:port now and this process has not
 * handed it out before. */
static bool port_free(int port)
{
    if (handed_out(port))
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    H_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* A port for a broker or agent to listen on, picked below the ephemeral
 * range: a port there that is free now can become the local port of any
 * process's outgoing connection (an agent reconnecting, a test's HTTP
 * client) before the server binds it, and the server then fails with
 * "Address already in use" — it happened on a busy machine. Below the
 * range only another listener can take it. */
static int free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)h_now_ms();
    int lo, hi;
    ephemeral_range(&lo, &hi);
    const int base = 10000;
    if (lo - base >= 1000)
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = base + (int)(rand_r(&seed) % (unsigned)(lo - base));
            if (port_free(port))
                return hand_out(port);
        }
    /* no room below the range (or none free there): the kernel's pick */
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        H_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = 0};
        socklen_t alen = sizeof a;
        int rc = bind(fd, (struct sockaddr *)&a, sizeof a) ||
                 getsockname(fd, (struct sockaddr *)&a, &alen);
        int e = errno;
        close(fd);
        H_REQUIRE(rc == 0, "bind 127.0.0.1:0: %s", strerror(e));
        int port = ntohs(a.sin_port);
        if (!handed_out(port))
            return hand_out(port);
    }
    H_FAIL("could not find a free port (below the ephemeral range %d..%d, "
           "or in it)",
           lo, hi);
}

static void write_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    H_REQUIRE(fd >= 0, "create %s: %s", path, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        H_REQUIRE(w > 0, "write %s: %s", path, strerror(errno));
        off += (size_t)w;
    }
    fchmod(fd, mode);
    close(fd);
}

static void make_keypair(polku_keypair *kp, const char *path)
{
    H_REQUIRE(zmq_curve_keypair(kp->public_z85, kp->secret_z85) == 0,
              "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
    char text[256];
    snprintf(text, sizeof text, "[curve]\npublic = %s\nsecret = %s\n",
             kp->public_z85, kp->secret_z85);
    write_file(path, 0600, text);
}

h_region *h_region_new(void)
{
    h_region *r = calloc(1, sizeof *r);
    H_REQUIRE(r, "out of memory");
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/polku-it-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        int e = errno;
        free(r);
        H_FAIL("mkdtemp: %s", strerror(e));
    }
    h_register_region(r);
    snprintf(r->broker_key_file, sizeof r->broker_key_file, "%s/broker.key",
             r->dir);
    make_keypair(&r->broker_key, r->broker_key_file);
    /* the broker's display secret (display.h), as 'polku secret' makes it */
    snprintf(r->display_secret_file, sizeof r->display_secret_file,
             "%s/display.secret", r->dir);
    randombytes_buf(r->display_secret, sizeof r->display_secret);
    char secret_hex[2 * sizeof r->display_secret + 2];
    sodium_bin2hex(secret_hex, sizeof secret_hex, r->display_secret,
                   sizeof r->display_secret);
    strcat(secret_hex, "\n");
    write_file(r->display_secret_file, 0600, secret_hex);
    r->broker_port = free_port();
    r->broker_http_port = free_port();
    snprintf(r->broker_endpoint, sizeof r->broker_endpoint,
             "tcp://127.0.0.1:%d", r->broker_port);
    snprintf(r->broker_url, sizeof r->broker_url, "http://127.0.0.1:%d",
             r->broker_http_port);
    h_proc *b = &r->broker;
    snprintf(b->name, sizeof b->name, "polku-broker");
    snprintf(b->bin, sizeof b->bin, "%s", POLKU_BROKER_BIN);
    snprintf(b->config, sizeof b->config, "%s/broker.ini", r->dir);
    snprintf(b->log, sizeof b->log, "%s/broker.log", r->dir);
    r->broker_http = h_http_new(r->broker_url, "broker");
    h_note("region %s: broker %s, http %d", r->dir, r->broker_endpoint,
           r->broker_http_port);
    return r;
}

h_org *h_region_add_org(h_region *r, const char *id, const char *services)
{
    H_REQUIRE(r->norgs < H_MAX_ORGS, "too many organisations");
    H_REQUIRE(!r->written, "add organisations before the region is written");
    char dir[sizeof r->dir];
    memcpy(dir, r->dir, sizeof dir);
    h_org *o = &r->orgs[r->norgs++];
    memset(o, 0, sizeof *o);
    o->region = r;
    snprintf(o->id, sizeof o->id, "%s", id);
    snprintf(o->name, sizeof o->name, "Organisation %s", id);
    snprintf(o->services, sizeof o->services, "%s", services ? services : "");
    snprintf(o->key_file, sizeof o->key_file, "%s/%s.key", dir, id);
    make_keypair(&o->key, o->key_file);
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(o->token, sizeof o->token, raw, sizeof raw);
    snprintf(o->token_file, sizeof o->token_file, "%s/%s.token", dir, id);
    char line[80];
    snprintf(line, sizeof line, "%s\n", o->token);
    write_file(o->token_file, 0600, line);
    snprintf(o->store, sizeof o->store, "%s/data/%s", dir, id);
    o->http_port = free_port();
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d", o->http_port);
    h_proc *p = &o->proc;
    snprintf(p->name, sizeof p->name, "polku-agent %s", id);
    snprintf(p->bin, sizeof p->bin, "%s", POLKU_AGENT_BIN);
    snprintf(p->config, sizeof p->config, "%s/%s.ini", dir, id);
    snprintf(p->log, sizeof p->log, "%s/%s.log", dir, id);
    o->http = h_http_new(o->url, "agent");
    return o;
}

h_org *h_region_add_twin(h_region *r, const h_org *of)
{
    char twin[48];
    snprintf(twin, sizeof twin, "%s-twin", of->id);
    h_org *o = h_region_add_org(r, twin, of->services);
    snprintf(o->id, sizeof o->id, "%s", of->id);
    o->key = of->key;
    snprintf(o->key_file, sizeof o->key_file, "%s", of->key_file);
    o->not_in_directory = true;
    snprintf(o->proc.name, sizeof o->proc.name, "polku-agent %.24s (2nd)",
             of->id);
    return o;
}

void h_display_name(const h_region *r, const char *client_key, char out[33])
{
    static const char domain[] = "polku-display:";
    uint8_t key[16], mac[crypto_auth_hmacsha256_BYTES];
    size_t n = 0;
    H_REQUIRE(strlen(client_key) == 32 &&
                  sodium_hex2bin(key, sizeof key, client_key, 32, NULL, &n,
                                 NULL) == 0 &&
                  n == 16,
              "'%s' is not a client key", client_key);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, r->display_secret,
                                sizeof r->display_secret);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)domain,
                                  sizeof domain - 1);
    crypto_auth_hmacsha256_update(&st, key, sizeof key);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 33, mac, 16);
}

h_org *h_org_get(h_region *r, const char *id)
{
    for (int i = 0; i < r->norgs; i++)
        if (strcmp(r->orgs[i].id, id) == 0)
            return &r->orgs[i];
    H_FAIL("no organisation %s in the region", id);
}

static const char *log_level(void)
{
    const char *l = getenv("POLKU_IT_LOG_LEVEL");
    return l && *l ? l : "info";
}

void h_region_write(h_region *r)
{
    char buf[16384];
    int n = snprintf(buf, sizeof buf,
                     "; written by the polku integration test harness\n"
                     "[broker]\n"
                     "listen = %s\n"
                     "key_file = %s\n"
                     "display_secret_file = %s\n"
                     "http = 127.0.0.1:%d\n"
                     "heartbeat = 200ms\n"
                     "log_level = %s\n",
                     r->broker_endpoint, r->broker_key_file,
                     r->display_secret_file, r->broker_http_port, log_level());
    for (int i = 0; i < r->norgs; i++) {
        h_org *o = &r->orgs[i];
        if (o->not_in_directory)
            continue;
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "\n[org %s]\nname = %s\npublic_key = %s\n", o->id,
                      o->name, o->key.public_z85);
        if (o->services[0])
            n += snprintf(buf + n, sizeof buf - (size_t)n, "services = %s\n",
                          o->services);
        if (o->overrides[0])
            n += snprintf(buf + n, sizeof buf - (size_t)n, "overrides = %s\n",
                          o->overrides);
        char sign[41]; /* the chain signing key, as `polku log key` says */
        if (polku_sign_public_z85(o->key.secret_z85, sign) == 0)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "sign_key = %s\n",
                          sign);
    }
    H_REQUIRE(n < (int)sizeof buf, "broker config too long");
    write_file(r->broker.config, 0644, buf);

    for (int i = 0; i < r->norgs; i++) {
        h_org *o = &r->orgs[i];
        snprintf(buf, sizeof buf,
                 "; written by the polku integration test harness\n"
                 "[agent]\n"
                 "org = %s\n"
                 "broker = %s\n"
                 "broker_public_key = %s\n"
                 "key_file = %s\n"
                 "store = %s\n"
                 "http = 127.0.0.1:%d\n"
                 "http_token_file = %s\n"
                 "heartbeat = 200ms\n"
                 "retry_min = 50ms\n"
                 "retry_max = 1s\n"
                 "log_level = %s\n",
                 o->id, r->broker_endpoint, r->broker_key.public_z85,
                 o->key_file, o->store, o->http_port, o->token_file,
                 log_level());
        write_file(o->proc.config, 0644, buf);
    }
    r->written = true;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void h_region_destroy(h_region *r, bool keep)
{
    h_proc_kill(&r->broker);
    h_unregister_proc(&r->broker);
    for (int i = 0; i < r->norgs; i++) {
        h_proc_kill(&r->orgs[i].proc);
        h_unregister_proc(&r->orgs[i].proc);
        h_http_free(&r->orgs[i].http);
    }
    h_http_free(&r->broker_http);
    if (keep)
        printf("   (region directory kept: %s)\n", r->dir);
    else
        nftw(r->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(r);
}

/* --------------------------------------------------------- start / stop */

static bool broker_http_up(h_region *r)
{
    json_t *j = h_broker_health(r);
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

void h_broker_start(h_region *r)
{
    if (!r->written)
        h_region_write(r);
    h_proc_start(&r->broker);
    H_WAIT_UNTIL(H_SEC(10), broker_http_up(r),
                 "broker /healthz on port %d to answer 200",
                 r->broker_http_port);
}

int h_broker_stop(h_region *r)
{
    return h_proc_stop(&r->broker);
}

void h_broker_kill(h_region *r)
{
    h_proc_kill(&r->broker);
}

static bool agent_http_up(h_org *o)
{
    json_t *j = h_agent_health(o);
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

void h_agent_start(h_org *o)
{
    if (!o->region->written)
        h_region_write(o->region);
    h_proc_start(&o->proc);
    H_WAIT_UNTIL(H_SEC(10), agent_http_up(o),
                 "agent %s /healthz on port %d to answer 200", o->id,
                 o->http_port);
}

void h_agent_start_connected(h_org *o)
{
    h_agent_start(o);
    h_wait_agent_connected(o, H_SEC(10));
}

int h_agent_stop(h_org *o)
{
    return h_proc_stop(&o->proc);
}

void h_agent_kill(h_org *o)
{
    h_proc_kill(&o->proc);
}
