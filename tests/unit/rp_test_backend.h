/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_test_backend.h: a scripted HTTP/1.1 backend for core/'s unit tests.
 *
 * tb_start() listens on 127.0.0.1 (ephemeral port) and serves each accepted
 * connection from its own thread. Connection i plays scripts[i], a list of
 * steps ended by TB_END; connections beyond the scripts read one request,
 * answer nothing and wait for the peer to close. Each step:
 *
 *   read    the request head (up to the empty line) and, for
 *           TB_READ_REQUEST, its body by Content-Length or chunked framing;
 *   delay   delay_ms, then write send, pause pause_ms, write send2;
 *   ack     with ack_wait, between send and the pause: wait (up to
 *           TB_WAIT_MS) until the peer's kernel has acknowledged every
 *           byte sent so far, and record how long that took (tb_ack_ms);
 *           with split_mss, send is written in two parts, the first one
 *           full segment (the connection's MSS), and ack_wait comes
 *           between them;
 *   then    go on (TB_NEXT), close (TB_CLOSE: FIN) or reset (TB_RESET:
 *           SO_LINGER 0, so the peer gets a RST).
 *
 * After the last step the connection stays open until the peer closes it
 * (recorded as peer_closed) or the backend stops; bytes that arrive then are
 * counted as "unexpected".
 *
 * Every request read is recorded byte for byte (tb_request()), so a test can
 * assert exactly what went on the wire. Every wait is bounded: socket waits
 * by TB_WAIT_MS and by tb_stop(), which the test calls at its end; it joins
 * every thread and closes every descriptor the backend opened.
 *
 * Each connection records its peer's address (tb->conns[i].peer), so a
 * test can see where the proxy connected from.
 *
 * Lifetimes: a tb_backend_t is malloc'd by tb_start() and freed by
 * tb_stop(). Scripts (and the bytes they send) are borrowed until then.
 * Threads: tb_* accessors may be called from the test thread at any time. */

#ifndef RP_TEST_BACKEND_H
#define RP_TEST_BACKEND_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sockios.h>

#define TB_MAX_CONNS 8  /* connections served with a thread */
#define TB_MAX_REQS 32  /* requests recorded */
#define TB_SLICE_MS 10  /* how often a waiting thread looks at stop */
#define TB_WAIT_MS 3000 /* longest wait for one read or write */
#define TB_NPOS ((size_t)-1)

#define TB_FN static __attribute__((unused))

typedef enum tb_read_t {
    TB_READ_REQUEST = 0, /* the head and its body */
    TB_READ_HEAD,        /* the head alone; body bytes stay unread */
    TB_READ_NOTHING      /* no read: write at once */
} tb_read_t;

typedef enum tb_then_t {
    TB_NEXT = 0, /* next step; after the last, wait for the peer's close */
    TB_CLOSE,    /* close the connection (FIN) */
    TB_RESET     /* close with SO_LINGER 0 (RST) */
} tb_then_t;

typedef struct tb_step_t {
    tb_read_t read;
    int delay_ms;      /* after the read, before send */
    const char *send;  /* borrowed; NULL: write nothing */
    size_t send_len;   /* 0: strlen(send) */
    int pause_ms;      /* between send and send2 */
    const char *send2; /* borrowed; NULL: nothing */
    size_t send2_len;  /* 0: strlen(send2) */
    tb_then_t then;
    unsigned ack_wait:1;  /* after send: time the peer's acknowledgement */
    unsigned split_mss:1; /* send: one full segment first, then the rest */
    unsigned end:1;       /* the script's end marker: TB_END */
} tb_step_t;

#define TB_END                                                                 \
    {                                                                          \
        .end = 1                                                               \
    }

/* One request as it arrived. */
typedef struct tb_req_t {
    int conn;        /* index of the connection, in accept order */
    char *raw;       /* owned: head and body, NUL-terminated */
    size_t len;      /* bytes in raw */
    size_t head_len; /* bytes of the head, empty line included */
    int complete;    /* 0: the peer closed in the middle of it */
} tb_req_t;

typedef struct tb_backend_t tb_backend_t;

typedef struct tb_conn_t {
    tb_backend_t *tb;        /* borrowed: owner */
    int index;               /* accept order, from 0 */
    int fd;                  /* owned: closed by the connection's thread */
    pthread_t thread;        /* joined by tb_stop() */
    const tb_step_t *script; /* borrowed */
    /* Received, not yet consumed: buf[0..have), capacity cap. */
    char *buf; /* owned */
    size_t have, cap;
    /* Under tb->mu. */
    int peer_closed;   /* EOF or reset from the peer */
    int reset;         /* ... and it was a reset */
    int done;          /* our side is closed */
    size_t unexpected; /* bytes that came after the script */
    long ack_ms;       /* last ack_wait: ms until acknowledged; -1: never */
    char peer[64];     /* the client's address (TCP), "" otherwise */
} tb_conn_t;

struct tb_backend_t {
    int lfd;  /* owned: listening socket */
    int port; /* in host order */
    pthread_t acceptor;
    int stop; /* set once by tb_stop(); read atomically */
    pthread_mutex_t mu;
    const tb_step_t *scripts[TB_MAX_CONNS]; /* borrowed */
    int nscripts;
    tb_conn_t conns[TB_MAX_CONNS];
    int naccepted; /* under mu; counts also connections past the cap */
    int open_now;  /* served connections open now; under mu */
    int open_max;  /* most of them open at once; under mu */
    tb_req_t reqs[TB_MAX_REQS];
    int nreqs; /* under mu */
};

/* The script of connections nobody scripted: read, stay silent. */
static const tb_step_t tb_default_script[] = {{.read = TB_READ_REQUEST},
                                              TB_END};

TB_FN void tb_die(const char *what)
{
    perror(what);
    exit(2);
}

TB_FN long long tb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TB_FN int tb_stopping(tb_backend_t *tb)
{
    return __atomic_load_n(&tb->stop, __ATOMIC_ACQUIRE);
}

/* Sleep ms, waking early when the backend stops. */
TB_FN void tb_sleep_ms(tb_backend_t *tb, int ms)
{
    long long end = tb_now_ms() + ms;
    while (!tb_stopping(tb) && tb_now_ms() < end) {
        usleep(2000);
    }
}

/* Wait up to max_ms for events on fd. 1: ready; 0: timeout or stop. */
TB_FN int tb_poll(tb_backend_t *tb, int fd, short events, int max_ms)
{
    long long end = tb_now_ms() + max_ms;
    while (!tb_stopping(tb)) {
        struct pollfd p = {.fd = fd, .events = events};
        long long left = end - tb_now_ms();
        int r;
        if (left <= 0) {
            return 0;
        }
        r = poll(&p, 1, left < TB_SLICE_MS ? (int)left : TB_SLICE_MS);
        if (r > 0) {
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            return 0;
        }
    }
    return 0;
}

/* Offset of needle in buf[from..len), or TB_NPOS. */
TB_FN size_t tb_find(const char *buf, size_t len, size_t from,
                     const char *needle)
{
    size_t n = strlen(needle), i;
    for (i = from; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0) {
            return i;
        }
    }
    return TB_NPOS;
}

/* Copy the value of the first field called name in head[0..len) into out
 * (OWS trimmed). Returns 1 when found. */
TB_FN int tb_head_value(const char *head, size_t len, const char *name,
                        char *out, size_t outsz)
{
    size_t pos = tb_find(head, len, 0, "\r\n"), nl = strlen(name);
    while (pos != TB_NPOS && pos + 2 < len) {
        size_t line = pos + 2, eol = tb_find(head, len, line, "\r\n");
        if (eol == TB_NPOS || eol == line) {
            return 0;
        }
        if (eol - line > nl && head[line + nl] == ':' &&
            strncasecmp(head + line, name, nl) == 0) {
            size_t v = line + nl + 1, e = eol, n;
            while (v < e && (head[v] == ' ' || head[v] == '\t')) {
                v++;
            }
            while (e > v && (head[e - 1] == ' ' || head[e - 1] == '\t')) {
                e--;
            }
            n = e - v < outsz - 1 ? e - v : outsz - 1;
            memcpy(out, head + v, n);
            out[n] = '\0';
            return 1;
        }
        pos = eol;
    }
    return 0;
}

/* Offset just past a complete chunked body starting at buf[pos] (last
 * chunk and trailer section included), or 0 when more bytes are needed. */
TB_FN size_t tb_chunked_end(const char *buf, size_t len, size_t pos)
{
    for (;;) {
        size_t eol = tb_find(buf, len, pos, "\r\n"), size = 0, i;
        if (eol == TB_NPOS) {
            return 0;
        }
        for (i = pos; i < eol; i++) {
            int c = buf[i], d;
            if (c >= '0' && c <= '9') {
                d = c - '0';
            }
            else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
                d = (c | 0x20) - 'a' + 10;
            }
            else {
                break; /* extensions */
            }
            size = size * 16 + (size_t)d;
        }
        pos = eol + 2;
        if (size == 0) {
            for (;;) {
                eol = tb_find(buf, len, pos, "\r\n");
                if (eol == TB_NPOS) {
                    return 0;
                }
                if (eol == pos) {
                    return eol + 2;
                }
                pos = eol + 2;
            }
        }
        if (len < pos + size + 2) {
            return 0;
        }
        pos += size + 2;
    }
}

TB_FN void tb_mark(tb_conn_t *c, int *field, int value)
{
    pthread_mutex_lock(&c->tb->mu);
    *field = value;
    pthread_mutex_unlock(&c->tb->mu);
}

/* Receive more bytes. 1: got some (or try again); 0: the peer closed or
 * reset; -1: timeout or stop. */
TB_FN int tb_recv(tb_conn_t *c, int max_ms)
{
    ssize_t n;
    if (c->cap - c->have < 4096) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap + 1);
        if (!c->buf) {
            tb_die("realloc");
        }
    }
    if (!tb_poll(c->tb, c->fd, POLLIN, max_ms)) {
        return -1;
    }
    n = recv(c->fd, c->buf + c->have, c->cap - c->have, 0);
    if (n > 0) {
        c->have += (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return 1;
    }
    pthread_mutex_lock(&c->tb->mu);
    c->peer_closed = 1;
    c->reset = n < 0;
    pthread_mutex_unlock(&c->tb->mu);
    return 0;
}

/* Record buf[0..len) as a request and drop it from the buffer. */
TB_FN void tb_record(tb_conn_t *c, size_t len, size_t head_len, int complete)
{
    tb_backend_t *tb = c->tb;
    char *raw = malloc(len + 1);
    if (!raw) {
        tb_die("malloc");
    }
    memcpy(raw, c->buf, len);
    raw[len] = '\0';
    memmove(c->buf, c->buf + len, c->have - len);
    c->have -= len;
    pthread_mutex_lock(&tb->mu);
    if (tb->nreqs < TB_MAX_REQS) {
        tb_req_t *r = &tb->reqs[tb->nreqs++];
        r->conn = c->index;
        r->raw = raw;
        r->len = len;
        r->head_len = head_len;
        r->complete = complete;
        raw = NULL;
    }
    pthread_mutex_unlock(&tb->mu);
    free(raw);
}

/* Bytes the body of the request whose head ends at head_len needs in total,
 * or 0 while more bytes must come first. */
TB_FN size_t tb_request_end(tb_conn_t *c, size_t head_len)
{
    char v[64];
    if (tb_head_value(c->buf, head_len, "Transfer-Encoding", v, sizeof(v)) &&
        strcasecmp(v, "chunked") == 0) {
        return tb_chunked_end(c->buf, c->have, head_len);
    }
    if (tb_head_value(c->buf, head_len, "Content-Length", v, sizeof(v))) {
        size_t need = head_len + (size_t)strtoull(v, NULL, 10);
        return c->have >= need ? need : 0;
    }
    return head_len;
}

/* Read and record one request. 1: recorded; 0: the peer closed (what came
 * of a request is recorded as incomplete); -1: timeout or stop. */
TB_FN int tb_read_request(tb_conn_t *c, tb_read_t mode)
{
    size_t head_len = 0, end = 0;
    int r;
    for (;;) {
        size_t e = c->buf ? tb_find(c->buf, c->have, 0, "\r\n\r\n") : TB_NPOS;
        if (e != TB_NPOS) {
            head_len = e + 4;
            end = mode == TB_READ_HEAD ? head_len : tb_request_end(c, head_len);
            if (end) {
                tb_record(c, end, head_len, 1);
                return 1;
            }
        }
        r = tb_recv(c, TB_WAIT_MS);
        if (r <= 0) {
            if (r == 0 && c->have) {
                tb_record(c, c->have, head_len, 0);
            }
            return r;
        }
    }
}

/* Write all of p[0..n). 0 on success, -1 on failure, timeout or stop. */
TB_FN int tb_send(tb_conn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (!tb_poll(c->tb, c->fd, POLLOUT, TB_WAIT_MS)) {
            return -1;
        }
        w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

TB_FN void tb_close_conn(tb_conn_t *c, int reset)
{
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    pthread_mutex_lock(&c->tb->mu);
    c->fd = -1;
    c->done = 1;
    c->tb->open_now--;
    pthread_mutex_unlock(&c->tb->mu);
}

/* After the script: wait for the peer's close, counting what comes. */
TB_FN void tb_linger(tb_conn_t *c)
{
    while (!tb_stopping(c->tb)) {
        int r = tb_recv(c, TB_WAIT_MS);
        if (c->have) {
            pthread_mutex_lock(&c->tb->mu);
            c->unexpected += c->have;
            pthread_mutex_unlock(&c->tb->mu);
            c->have = 0;
        }
        if (r == 0) {
            return;
        }
    }
}

/* Wait until the peer has acknowledged all we sent (nothing left in our
 * send queue, SIOCOUTQ) and record how long that took, in ms; -1 when it
 * did not within TB_WAIT_MS. */
TB_FN void tb_time_ack(tb_conn_t *c)
{
    long long start = tb_now_ms(), waited = -1;
    int queued = 1;

    while (!tb_stopping(c->tb) && tb_now_ms() - start < TB_WAIT_MS) {
        if (ioctl(c->fd, SIOCOUTQ, &queued) != 0) {
            break;
        }
        if (queued == 0) {
            waited = tb_now_ms() - start;
            break;
        }
        usleep(200);
    }
    pthread_mutex_lock(&c->tb->mu);
    c->ack_ms = (long)waited;
    pthread_mutex_unlock(&c->tb->mu);
}

TB_FN int tb_play(tb_conn_t *c, const tb_step_t *s)
{
    if (s->read != TB_READ_NOTHING && tb_read_request(c, s->read) <= 0) {
        return -1;
    }
    if (s->delay_ms) {
        tb_sleep_ms(c->tb, s->delay_ms);
    }
    if (s->send) {
        size_t n = s->send_len ? s->send_len : strlen(s->send), first = n;
        int mss = 0;
        socklen_t sl = sizeof(mss);

        if (s->split_mss &&
            getsockopt(c->fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &sl) == 0 &&
            mss > 0 && (size_t)mss < n) {
            first = (size_t)mss;
        }
        if (tb_send(c, s->send, first)) {
            return -1;
        }
        if (s->ack_wait) {
            tb_time_ack(c);
        }
        if (first < n && tb_send(c, s->send + first, n - first)) {
            return -1;
        }
    }
    if (s->pause_ms) {
        tb_sleep_ms(c->tb, s->pause_ms);
    }
    if (s->send2 &&
        tb_send(c, s->send2, s->send2_len ? s->send2_len : strlen(s->send2))) {
        return -1;
    }
    return 0;
}

TB_FN void *tb_conn_main(void *arg)
{
    tb_conn_t *c = arg;
    const tb_step_t *s;
    for (s = c->script; !s->end; s++) {
        if (tb_play(c, s) != 0) {
            tb_close_conn(c, 0);
            return NULL;
        }
        if (s->then != TB_NEXT) {
            tb_close_conn(c, s->then == TB_RESET);
            return NULL;
        }
    }
    tb_linger(c);
    tb_close_conn(c, 0);
    return NULL;
}

/* The peer's address as text (IPv4 or IPv6), or "". */
TB_FN void tb_peer(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
                  (socklen_t)len);
    }
    else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
                  (socklen_t)len);
    }
}

TB_FN void tb_serve(tb_backend_t *tb, int fd)
{
    tb_conn_t *c;
    pthread_mutex_lock(&tb->mu);
    if (tb->naccepted >= TB_MAX_CONNS) {
        tb->naccepted++;
        pthread_mutex_unlock(&tb->mu);
        close(fd);
        return;
    }
    c = &tb->conns[tb->naccepted];
    memset(c, 0, sizeof(*c));
    c->ack_ms = -1;
    c->tb = tb;
    c->index = tb->naccepted;
    c->fd = fd;
    tb_peer(fd, c->peer, sizeof(c->peer));
    c->script =
        c->index < tb->nscripts ? tb->scripts[c->index] : tb_default_script;
    if (pthread_create(&c->thread, NULL, tb_conn_main, c) != 0) {
        tb_die("pthread_create");
    }
    tb->naccepted++;
    if (++tb->open_now > tb->open_max) {
        tb->open_max = tb->open_now;
    }
    pthread_mutex_unlock(&tb->mu);
}

TB_FN void *tb_accept_main(void *arg)
{
    tb_backend_t *tb = arg;
    while (!tb_stopping(tb)) {
        int fd;
        if (!tb_poll(tb, tb->lfd, POLLIN, 100)) {
            continue;
        }
        fd = accept(tb->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        tb_serve(tb, fd);
    }
    return NULL;
}

/* Serve scripts on the listening socket lfd (taken over). */
TB_FN tb_backend_t *tb_start_on(int lfd, const tb_step_t *const *scripts,
                                int nscripts)
{
    tb_backend_t *tb = calloc(1, sizeof(*tb));
    int i;

    if (!tb || nscripts > TB_MAX_CONNS) {
        tb_die("tb_start");
    }
    tb->lfd = lfd;
    for (i = 0; i < nscripts; i++) {
        tb->scripts[i] = scripts[i];
    }
    tb->nscripts = nscripts;
    pthread_mutex_init(&tb->mu, NULL);
    if (pthread_create(&tb->acceptor, NULL, tb_accept_main, tb) != 0) {
        tb_die("pthread_create");
    }
    return tb;
}

/* Start a backend whose connection i plays scripts[i] (i < nscripts). */
TB_FN tb_backend_t *tb_start(const tb_step_t *const *scripts, int nscripts)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    tb_backend_t *tb;
    int lfd;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sl) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        tb_die("tb_start: listen");
    }
    tb = tb_start_on(lfd, scripts, nscripts);
    tb->port = ntohs(sa.sin_port);
    return tb;
}

/* The same on a Unix domain socket at path (port 0); the caller removes
 * the socket file after tb_stop(). */
TB_FN tb_backend_t *tb_start_unix(const tb_step_t *const *scripts, int nscripts,
                                  const char *path)
{
    struct sockaddr_un sa;
    int lfd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        tb_die("tb_start_unix: path too long");
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(lfd, 16) != 0) {
        tb_die("tb_start_unix: listen");
    }
    return tb_start_on(lfd, scripts, nscripts);
}

/* A backend of one scripted connection. */
TB_FN tb_backend_t *tb_start1(const tb_step_t *script)
{
    return tb_start(&script, 1);
}

/* Stop serving, join every thread, close every socket, free everything. */
TB_FN void tb_stop(tb_backend_t *tb)
{
    int i, n;
    if (!tb) {
        return;
    }
    __atomic_store_n(&tb->stop, 1, __ATOMIC_RELEASE);
    pthread_join(tb->acceptor, NULL);
    n = tb->naccepted < TB_MAX_CONNS ? tb->naccepted : TB_MAX_CONNS;
    for (i = 0; i < n; i++) {
        pthread_join(tb->conns[i].thread, NULL);
        free(tb->conns[i].buf);
    }
    for (i = 0; i < tb->nreqs; i++) {
        free(tb->reqs[i].raw);
    }
    close(tb->lfd);
    pthread_mutex_destroy(&tb->mu);
    free(tb);
}

TB_FN int tb_accepted(tb_backend_t *tb)
{
    int n;
    pthread_mutex_lock(&tb->mu);
    n = tb->naccepted;
    pthread_mutex_unlock(&tb->mu);
    return n;
}

TB_FN int tb_nrequests(tb_backend_t *tb)
{
    int n;
    pthread_mutex_lock(&tb->mu);
    n = tb->nreqs;
    pthread_mutex_unlock(&tb->mu);
    return n;
}

/* Request i in arrival order, or NULL. Entries never change once made. */
TB_FN const tb_req_t *tb_request(tb_backend_t *tb, int i)
{
    const tb_req_t *r;
    pthread_mutex_lock(&tb->mu);
    r = i >= 0 && i < tb->nreqs ? &tb->reqs[i] : NULL;
    pthread_mutex_unlock(&tb->mu);
    return r;
}

/* Read a per-connection fact under the lock; -1 for no such connection. */
TB_FN long tb_conn_fact(tb_backend_t *tb, int conn, int which)
{
    long v = -1;
    pthread_mutex_lock(&tb->mu);
    if (conn >= 0 && conn < tb->naccepted && conn < TB_MAX_CONNS) {
        tb_conn_t *c = &tb->conns[conn];
        v = which == 0   ? c->peer_closed
            : which == 1 ? c->done
            : which == 2 ? (long)c->unexpected
            : which == 3 ? c->reset
                         : c->ack_ms;
    }
    pthread_mutex_unlock(&tb->mu);
    return v;
}

/* The most connections that were open at the same time. */
TB_FN int tb_open_max(tb_backend_t *tb)
{
    int n;
    pthread_mutex_lock(&tb->mu);
    n = tb->open_max;
    pthread_mutex_unlock(&tb->mu);
    return n;
}

TB_FN int tb_peer_closed(tb_backend_t *tb, int conn)
{
    return tb_conn_fact(tb, conn, 0) == 1;
}

TB_FN long tb_unexpected(tb_backend_t *tb, int conn)
{
    return tb_conn_fact(tb, conn, 2);
}

/* How long the last ack_wait step of connection conn waited for the
 * peer's acknowledgement, in ms; -1: it did not come (or no such step). */
TB_FN long tb_ack_ms(tb_backend_t *tb, int conn)
{
    return tb_conn_fact(tb, conn, 4);
}

/* Bounded waits: 1 when the condition held within ms, else 0. */
TB_FN int tb_wait_accepted(tb_backend_t *tb, int n, int ms)
{
    long long end = tb_now_ms() + ms;
    while (tb_accepted(tb) < n) {
        if (tb_now_ms() >= end) {
            return 0;
        }
        usleep(2000);
    }
    return 1;
}

TB_FN int tb_wait_requests(tb_backend_t *tb, int n, int ms)
{
    long long end = tb_now_ms() + ms;
    while (tb_nrequests(tb) < n) {
        if (tb_now_ms() >= end) {
            return 0;
        }
        usleep(2000);
    }
    return 1;
}

/* Wait until the peer closed connection conn (EOF or reset seen). */
TB_FN int tb_wait_peer_closed(tb_backend_t *tb, int conn, int ms)
{
    long long end = tb_now_ms() + ms;
    while (!tb_peer_closed(tb, conn)) {
        if (tb_now_ms() >= end) {
            return 0;
        }
        usleep(2000);
    }
    return 1;
}

/* Wait until the backend closed its side of connection conn. */
TB_FN int tb_wait_done(tb_backend_t *tb, int conn, int ms)
{
    long long end = tb_now_ms() + ms;
    while (tb_conn_fact(tb, conn, 1) != 1) {
        if (tb_now_ms() >= end) {
            return 0;
        }
        usleep(2000);
    }
    return 1;
}

/* Open descriptors of the process (the directory's own included, so two
 * counts compare). */
TB_FN int tb_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* A TCP port on 127.0.0.1 where nothing listens: bound, then closed. */
TB_FN int tb_closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sl) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        tb_die("tb_closed_port");
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The value of the first field called name in request r's head, copied
 * into out; NULL when absent. */
TB_FN const char *tb_req_header(const tb_req_t *r, const char *name, char *out,
                                size_t outsz)
{
    return tb_head_value(r->raw, r->head_len, name, out, outsz) ? out : NULL;
}

/* How many fields called name request r's head holds. */
TB_FN int tb_req_header_count(const tb_req_t *r, const char *name)
{
    size_t pos = tb_find(r->raw, r->head_len, 0, "\r\n"), nl = strlen(name);
    int n = 0;
    while (pos != TB_NPOS && pos + 2 < r->head_len) {
        size_t line = pos + 2, eol = tb_find(r->raw, r->head_len, line, "\r\n");
        if (eol == TB_NPOS || eol == line) {
            break;
        }
        n += (nl == 0 || (eol - line > nl && r->raw[line + nl] == ':' &&
                          strncasecmp(r->raw + line, name, nl) == 0));
        pos = eol;
    }
    return n;
}

/* ---- a client that reads a socket (direct writes) ---------------------- */

/* The client's side of a direct write: a socket pair; the test gives
 * fds[0] to the code under test, a thread reads fds[1] into buf (at most
 * cap bytes) until the test's end closes. gone: the thread closes its end
 * at once instead, a client that left. */
typedef struct tb_sink_t {
    int fds[2];
    pthread_t thread;
    char *buf; /* borrowed: the test's */
    size_t cap, got;
    int gone;
} tb_sink_t;

TB_FN void *tb_sink_main(void *data)
{
    tb_sink_t *k = data;
    ssize_t n;

    while (!k->gone && k->got < k->cap &&
           (n = read(k->fds[1], k->buf + k->got, k->cap - k->got)) > 0) {
        k->got += (size_t)n;
    }
    close(k->fds[1]);
    return NULL;
}

TB_FN void tb_sink_open(tb_sink_t *k, char *buf, size_t cap, int gone)
{
    memset(k, 0, sizeof(*k));
    k->buf = buf;
    k->cap = cap;
    k->gone = gone;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k->fds) != 0 ||
        pthread_create(&k->thread, NULL, tb_sink_main, k) != 0) {
        tb_die("tb_sink_open");
    }
    if (gone) {
        pthread_join(k->thread, NULL); /* its end is closed */
    }
}

/* The test's end closes (the response is over); the reader ends. */
TB_FN void tb_sink_close(tb_sink_t *k)
{
    close(k->fds[0]);
    if (!k->gone) {
        pthread_join(k->thread, NULL);
    }
}

/* ---- crash isolation ---------------------------------------------------- */

#ifdef RP_TEST_H
/* Run fn in a forked child so that a crash in core/ fails that test alone
 * and the rest still run. The child prints its own FAIL lines; the parent
 * adds one when the child died of a signal. RP_TEST_NOFORK=1 runs fn in
 * the process itself (for a debugger). A sanitizer report in the child
 * fails the test too. Every test leaves no thread behind,
 * so the fork copies a single-threaded process. */
#define TB_EXIT_FAILED 77 /* the child ran and printed its failures */
static void (*tb_isolated_fn)(void);

TB_FN void tb_isolated(void)
{
    pid_t pid;
    int st = 0;

    if (getenv("RP_TEST_NOFORK")) {
        tb_isolated_fn();
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        tb_die("fork");
    }
    if (pid == 0) {
        tb_isolated_fn();
        fflush(stdout);
        exit(rp_test_cur_failed ? TB_EXIT_FAILED : 0);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st)) {
        rp_test_fail(__FILE__, __LINE__, "crashed with signal %d (%s)",
                     WTERMSIG(st), strsignal(WTERMSIG(st)));
    }
    else if (WIFEXITED(st) && WEXITSTATUS(st) == TB_EXIT_FAILED) {
        rp_test_cur_failed++; /* the child printed why */
    }
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        /* A sanitizer report ends the child with its own exit code. */
        rp_test_fail(
            __FILE__, __LINE__,
            "child exited with status %d (sanitizer report on stderr?)",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
}

#define TB_RUN(fn)                                                             \
    do {                                                                       \
        tb_isolated_fn = fn;                                                   \
        rp_test_run(#fn, tb_isolated);                                         \
    } while (0)
#endif /* RP_TEST_H */

#endif /* RP_TEST_BACKEND_H */
