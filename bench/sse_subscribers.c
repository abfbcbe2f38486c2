/* sse_subscribers.c — see sse_subscribers.h. */
#include "sse_subscribers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PER_ADDRESS 200
/* One read takes all a flush brought (a gzip flush to 1 000 subscribers
 * is ~60 KB each, a plain one up to 512 KiB): a read per readiness, not
 * one per 16 KiB plus one more to see EAGAIN. */
#define READ_BUF ((size_t)1 << 20)

typedef struct sub {
    int fd;
    bool header, ok, closed;
} sub;

struct sse_subs {
    sub *subs;
    size_t n;
    int ep;
    pthread_t reader;
    bool reading;
    char *buf; /* READ_BUF, the reader's */
    atomic_bool stop;
    atomic_size_t streaming, answered;
    atomic_ullong bytes;
};

static int connect_one(int port, size_t i, bool gzip)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in from = {.sin_family = AF_INET};
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    from.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / PER_ADDRESS));
    to.sin_addr.s_addr = htonl(0x7f000001u);
    char req[192];
    int len =
        snprintf(req, sizeof req,
                 "GET /events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Accept: text/event-stream\r\n%s\r\n",
                 port, gzip ? "Accept-Encoding: gzip, deflate, br\r\n" : "");
    if (bind(fd, (struct sockaddr *)&from, sizeof from) ||
        connect(fd, (struct sockaddr *)&to, sizeof to) ||
        write(fd, req, (size_t)len) != len) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Reads what c has; epoll is level-triggered, so a read that did not
 * fill the buffer need not be followed by one that fails with EAGAIN. */
static void on_readable(sse_subs *s, sub *c)
{
    char *buf = s->buf;
    for (;;) {
        ssize_t n = read(c->fd, buf, READ_BUF);
        if (n > 0) {
            atomic_fetch_add(&s->bytes, (unsigned long long)n);
            if (!c->header) {
                c->header = true;
                c->ok = n >= 12 && memcmp(buf + 9, "200", 3) == 0;
                atomic_fetch_add(&s->answered, 1);
                if (c->ok)
                    atomic_fetch_add(&s->streaming, 1);
            }
            if ((size_t)n < READ_BUF)
                return;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (!c->closed) {
                c->closed = true;
                if (c->ok)
                    atomic_fetch_sub(&s->streaming, 1);
                if (!c->header)
                    atomic_fetch_add(&s->answered, 1);
                epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
        return;
    }
}

static void *reader(void *arg)
{
    sse_subs *s = arg;
    struct epoll_event evs[1024];
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->ep, evs, 1024, 50);
        for (int i = 0; i < n; i++)
            on_readable(s, &s->subs[evs[i].data.u64]);
    }
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

sse_subs *sse_subs_open(int port, size_t n, bool gzip, unsigned timeout_ms)
{
    sse_subs *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->subs = calloc(n ? n : 1, sizeof *s->subs);
    s->buf = malloc(READ_BUF);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s->subs || !s->buf || s->ep < 0) {
        sse_subs_close(&s);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        sub *c = &s->subs[s->n];
        c->fd = connect_one(port, i, gzip);
        if (c->fd < 0) {
            /* refused at once: counted as answered, not streaming */
            atomic_fetch_add(&s->answered, 1);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = s->n};
        epoll_ctl(s->ep, EPOLL_CTL_ADD, c->fd, &ev);
        s->n++;
    }
    if (pthread_create(&s->reader, NULL, reader, s) != 0) {
        sse_subs_close(&s);
        return NULL;
    }
    s->reading = true;
    double t0 = now_ms();
    while (atomic_load(&s->answered) < n && now_ms() - t0 < timeout_ms)
        usleep(10000);
    return s;
}

size_t sse_subs_streaming(sse_subs *s)
{
    return atomic_load(&s->streaming);
}

unsigned long long sse_subs_bytes(sse_subs *s)
{
    return atomic_load(&s->bytes);
}

double sse_subs_cpu_ms(sse_subs *s)
{
    clockid_t clock;
    struct timespec ts;
    if (!s->reading || pthread_getcpuclockid(s->reader, &clock) != 0 ||
        clock_gettime(clock, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sse_subs_close(sse_subs **sp)
{
    sse_subs *s = *sp;
    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->reading)
        pthread_join(s->reader, NULL);
    for (size_t i = 0; i < s->n; i++)
        close(s->subs[i].fd);
    if (s->ep >= 0)
        close(s->ep);
    free(s->subs);
    free(s->buf);
    free(s);
    *sp = NULL;
}
