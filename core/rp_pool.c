/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_pool.c: backend connections and their pool: dialing (the name's
 * addresses raced as RFC 8305 says, an upstream proxy's CONNECT, then TLS),
 * DNS answers refreshed after their TTL, idle lists with their reuse guards,
 * per-backend limits with a wait queue, and the reaper thread that closes idle
 * connections nobody will use in time. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_poll.h>
#include <apr_portable.h>
#include "rp_addr.h"
#include "rp_block.h"
#include "rp_pool.h"

/* ---- connections ------------------------------------------------------ */

void rp_conn_drop_buffer(rp_conn_t *c)
{
    if (c->hb) {
        apr_bucket_destroy(c->hb);
        c->hb = NULL;
    }
    c->buf = NULL;
    c->pos = c->last = c->cap = 0;
}

/* Give back the backend slot a connection (or a dial) held. */
static void slot_release(rp_backend_t *be)
{
    apr_thread_mutex_lock(be->t->mutex);
    be->nconns--;
    apr_thread_cond_signal(be->slot_freed);
    apr_thread_mutex_unlock(be->t->mutex);
}

void rp_conn_close(rp_conn_t *c)
{
    rp_backend_t *be = c->backend;

    rp_conn_drop_buffer(c);
    if (c->tls) {
        rp_tls_close(c->tls); /* close_notify while the socket is open */
    }
    apr_socket_close(c->sock);
    apr_pool_destroy(c->pool);
    slot_release(be);
}

static void tlog(rp_transport_t *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tlog(rp_transport_t *t, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!t->log) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    t->log(t->log_baton, level, msg);
}

/* The current answer copied into p, in the order to try it: the address
 * the last successful dial reached first, so that an address that does not
 * answer costs its attempt delay (RP_DIAL_STAGGER) once, not at every new
 * connection; the rest in the resolver's order. Caller holds the mutex. */
static const char **copy_ips(const rp_backend_t *be, apr_pool_t *p, int *n)
{
    const char **ips = apr_palloc(p, sizeof(*ips) * (be->nips + 1));
    int i, good = -1;

    for (i = 0; i < be->nips; i++) {
        ips[i] = apr_pstrdup(p, be->ips[i]);
        if (good < 0 && !strcmp(ips[i], be->good_ip)) {
            good = i;
        }
    }
    if (good > 0) {
        const char *first = ips[good];
        memmove(ips + 1, ips, sizeof(*ips) * (apr_size_t)good);
        ips[0] = first;
    }
    *n = be->nips;
    return ips;
}

static int same_answer(const rp_backend_t *be, const char **ips, int n)
{
    int i;

    if (n != be->nips) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(ips[i], be->ips[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The family of an IP literal, APR_UNSPEC for a name. Given a family, APR
 * asks getaddrinfo() without AI_ADDRCONFIG, whose check of the local
 * addresses costs glibc a netlink socket and 7 syscalls per call: at every
 * dial, since the answer is kept as text. */
static apr_int32_t literal_family(const char *host)
{
    if (!rp_addr_valid(host, NULL)) {
        return APR_UNSPEC;
    }
    /* by its text: an IPv4-mapped IPv6 literal is still IPv6 to APR */
    if (strchr(host, ':')) {
#if APR_HAVE_IPV6
        return APR_INET6;
#else
        return APR_UNSPEC;
#endif
    }
    return APR_INET;
}

/* Resolve the backend's name into a fresh pool: all A and AAAA answers. */
static apr_status_t resolve(rp_backend_t *be, apr_pool_t **np,
                            const char ***ips, int *n)
{
    apr_sockaddr_t *sa, *a;
    apr_status_t rv;
    int cnt = 0;

    rv = rp_pool_create_own(np);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv =
        apr_sockaddr_info_get(&sa, be->dial_host, literal_family(be->dial_host),
                              be->dial_port, 0, *np);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(*np);
        return rv;
    }
    for (a = sa; a; a = a->next) {
        cnt++;
    }
    *ips = apr_palloc(*np, sizeof(**ips) * cnt);
    for (*n = 0, a = sa; a; a = a->next) {
        char buf[64];
        apr_sockaddr_ip_getbuf(buf, sizeof(buf), a);
        (*ips)[(*n)++] = apr_pstrdup(*np, buf);
    }
    return APR_SUCCESS;
}

/* Store a new answer (caller holds the mutex). A changed answer bumps
 * dns_gen so pooled connections to dropped addresses get retired. */
static void store_answer(rp_backend_t *be, apr_pool_t *np, const char **ips,
                         int n)
{
    if (be->nips && same_answer(be, ips, n)) {
        apr_pool_destroy(np);
        return;
    }
    if (be->dns_pool) {
        apr_pool_destroy(be->dns_pool);
    }
    be->dns_pool = np;
    be->ips = ips;
    be->nips = n;
    be->dns_gen++;
}

/* The addresses to try, copied into p. The name is resolved again once
 * the answer is older than the DNS TTL (0: at every new connection); one
 * thread resolves while the others keep using the previous answer, and a
 * failed resolution keeps the last good answer. */
static apr_status_t backend_addresses(rp_backend_t *be, apr_pool_t *p,
                                      const char ***out, int *n)
{
    rp_transport_t *t = be->t;
    apr_time_t now = apr_time_now();
    apr_pool_t *np = NULL;
    const char **ips = NULL;
    apr_status_t rv;
    int cnt = 0;

    apr_thread_mutex_lock(t->mutex);
    if (be->nips &&
        (be->resolving ||
         (be->opts.dns_ttl > 0 && now - be->resolved_at < be->opts.dns_ttl))) {
        *out = copy_ips(be, p, n);
        apr_thread_mutex_unlock(t->mutex);
        return APR_SUCCESS;
    }
    be->resolving = 1;
    apr_thread_mutex_unlock(t->mutex);
    rv = resolve(be, &np, &ips, &cnt);
    apr_thread_mutex_lock(t->mutex);
    be->resolving = 0;
    be->resolved_at = now;
    if (rv == APR_SUCCESS) {
        store_answer(be, np, ips, cnt);
    }
    else if (be->nips) {
        tlog(t, RP_LOG_WARNING,
             RPLOGNO(00301) "resolving %s failed (%pm); keeping its last "
                            "known addresses",
             be->dial_host, &rv);
    }
    *out = copy_ips(be, p, n);
    apr_thread_mutex_unlock(t->mutex);
    return *n ? APR_SUCCESS : rv;
}

static apr_status_t send_text(apr_socket_t *s, const char *text)
{
    apr_size_t left = strlen(text), n;
    apr_status_t rv = APR_SUCCESS;

    while (left && rv == APR_SUCCESS) {
        n = left;
        rv = apr_socket_send(s, text, &n);
        text += n;
        left -= n;
    }
    return rv;
}

/* Read the proxy's answer to CONNECT: a 2xx head and nothing after it (the
 * TLS handshake comes next, and a proxy has nothing else to say). */
static apr_status_t read_connect_reply(apr_socket_t *s, int *status,
                                       const char **why)
{
    char buf[8192];
    rp_h1_field_t fields[64];
    rp_h1_head_t head;
    apr_size_t len = 0, last = 0, n;
    apr_ssize_t used = RP_H1_INCOMPLETE;
    apr_status_t rv = APR_SUCCESS;

    while (used == RP_H1_INCOMPLETE && len < sizeof(buf)) {
        n = sizeof(buf) - len;
        rv = apr_socket_recv(s, buf + len, &n);
        if (n == 0) {
            *why = "the connection closed before its answer";
            return rv == APR_SUCCESS ? APR_EOF : rv;
        }
        last = len;
        len += n;
        memset(&head, 0, sizeof(head));
        head.fields = fields;
        head.max_fields = 64;
        used = rp_h1_parse_response(buf, len, last, &head);
    }
    if (used < 0) {
        *why = used == RP_H1_EBADMSG ? head.error : "answer too large";
        return APR_EGENERAL;
    }
    *status = head.status;
    if (head.status >= 200 && head.status <= 299 && (apr_size_t)used != len) {
        *why = "bytes after the answer to CONNECT";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Open a tunnel to the backend through the upstream proxy (RFC 9110
 * section 9.3.6) on the connected socket s. */
static apr_status_t proxy_connect(rp_backend_t *be, apr_socket_t *s,
                                  apr_interval_time_t timeout, apr_pool_t *ep,
                                  const char **why)
{
    const char *auth = be->opts.proxy_auth;
    const char *detail = NULL;
    apr_status_t rv;
    int status = 0;

    apr_socket_timeout_set(s, timeout);
    rv = send_text(s, apr_psprintf(ep,
                                   "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
                                   "\r\n",
                                   be->authority, be->authority,
                                   auth ? "Proxy-Authorization: " : "",
                                   auth ? auth : "", auth ? "\r\n" : ""));
    if (rv == APR_SUCCESS) {
        rv = read_connect_reply(s, &status, &detail);
    }
    if (rv == APR_SUCCESS && (status < 200 || status > 299)) {
        *why = apr_psprintf(ep, "upstream proxy %s answered %d to CONNECT %s",
                            be->opts.proxy->hostport, status, be->authority);
        return RP_EBACKEND_UNREACHABLE;
    }
    if (rv != APR_SUCCESS) {
        *why = apr_psprintf(ep, "CONNECT %s through upstream proxy %s: %s",
                            be->authority, be->opts.proxy->hostport,
                            detail ? detail : apr_psprintf(ep, "%pm", &rv));
        return RP_EBACKEND_UNREACHABLE;
    }
    return APR_SUCCESS;
}

static const char *addr_text(apr_pool_t *p, const char *ip, apr_port_t port)
{
    if (*ip == '/') { /* a Unix domain socket's path */
        return apr_pstrcat(p, "unix:", ip, NULL);
    }
    return apr_psprintf(p, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
                        (unsigned)port);
}

/* What a dial did, for the failure's log line: the address it last tried
 * and, when the name had several, each address with its error. In the
 * caller's pool. */
typedef struct dial_note_t {
    const char *addr;
    const char *tried;
    int ntried;
} dial_note_t;

static void note_tried(dial_note_t *dn, apr_pool_t *ep, const char *addr,
                       apr_status_t rv)
{
    dn->addr = apr_pstrdup(ep, addr);
    dn->tried = apr_psprintf(ep, "%s%s%s: %pm", dn->tried ? dn->tried : "",
                             dn->tried ? "; " : "", addr, &rv);
    dn->ntried++;
}

/* ---- racing the addresses (RFC 8305) ---------------------------------- */

/* When a name has several addresses, the next one is tried when the
 * attempts in flight have all failed, or after this delay, whichever comes
 * first; the attempts already started go on. The first to connect wins and
 * the others are closed. So an address that drops SYNs costs this delay
 * once, not a share of RProxyConnectTimeout, which bounds the whole race.
 * RFC 8305 recommends 250 ms. */
#define RP_DIAL_STAGGER apr_time_from_msec(250)

typedef struct race_t {
    apr_pollfd_t *pfd; /* the attempts in flight */
    int *idx;          /* their addresses' indexes */
    int inflight;
    apr_status_t last;             /* the last failure */
    const char *source4, *source6; /* local addresses to bind, or NULL */
} race_t;

/* Bind sock to the configured local address of its family, if any. */
static apr_status_t bind_source(const race_t *r, apr_socket_t *sock,
                                apr_int32_t family, apr_pool_t *p)
{
    const char *src = family == APR_INET    ? r->source4
                      : family == APR_INET6 ? r->source6
                                            : NULL;
    apr_sockaddr_t *la;
    apr_status_t rv;

    if (!src) {
        return APR_SUCCESS;
    }
    rv = apr_sockaddr_info_get(&la, src, family, 0, 0, p);
    return rv == APR_SUCCESS ? apr_socket_bind(sock, la) : rv;
}

/* Start a non-blocking connect to ips[i]. Returns APR_SUCCESS with *s set
 * when it connected at once, APR_EINPROGRESS when it joined the race, or
 * the failure (noted). */
static apr_status_t race_start(race_t *r, const char *ip, int i,
                               apr_port_t port, apr_pool_t *p, apr_socket_t **s,
                               dial_note_t *dn, apr_pool_t *ep)
{
    apr_sockaddr_t *sa;
    apr_socket_t *sock = NULL;
    apr_status_t rv;
    int local = *ip == '/'; /* a Unix domain socket's path */

    rv = apr_sockaddr_info_get(&sa, ip, local ? APR_UNIX : literal_family(ip),
                               local ? 0 : port, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_create(&sock, sa->family, SOCK_STREAM,
                               local ? 0 : APR_PROTO_TCP, p);
    }
    if (rv == APR_SUCCESS && !local) {
        apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);
        rv = bind_source(r, sock, sa->family, p);
    }
    if (rv == APR_SUCCESS) {
        apr_socket_timeout_set(sock, 0); /* non-blocking */
        rv = apr_socket_connect(sock, sa);
    }
    if (rv == APR_SUCCESS) {
        *s = sock;
        return APR_SUCCESS;
    }
    if (APR_STATUS_IS_EINPROGRESS(rv)) {
        r->pfd[r->inflight].p = p;
        r->pfd[r->inflight].desc_type = APR_POLL_SOCKET;
        r->pfd[r->inflight].reqevents = APR_POLLOUT;
        r->pfd[r->inflight].rtnevents = 0;
        r->pfd[r->inflight].desc.s = sock;
        r->idx[r->inflight++] = i;
        return APR_EINPROGRESS;
    }
    if (sock) {
        apr_socket_close(sock);
    }
    note_tried(dn, ep, addr_text(p, ip, port), rv);
    r->last = rv;
    return rv;
}

/* The outcome of an attempt its socket reported ready: APR_SUCCESS when it
 * connected, else its error (SO_ERROR). */
static apr_status_t race_result(const apr_pollfd_t *pfd)
{
    apr_os_sock_t fd;
    int err = 0;
    socklen_t len = sizeof(err);
    apr_status_t rv = apr_os_sock_get(&fd, pfd->desc.s);

    if (rv == APR_SUCCESS &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        rv = errno;
    }
    return rv == APR_SUCCESS ? err : rv;
}

/* Wait for the attempts in flight until next (or the deadline). A winner
 * is returned in *s with its index in *win; losers are closed and noted. */
static void race_wait(race_t *r, apr_time_t until, apr_port_t port,
                      const char **ips, apr_pool_t *p, apr_socket_t **s,
                      int *win, dial_note_t *dn, apr_pool_t *ep)
{
    apr_interval_time_t wait = until - apr_time_now();
    apr_int32_t nready = 0;
    apr_status_t prv;
    int k = 0;

    prv = apr_poll(r->pfd, r->inflight, &nready, wait > 0 ? wait : 0);
    if (APR_STATUS_IS_TIMEUP(prv) || APR_STATUS_IS_EINTR(prv) ||
        (prv == APR_SUCCESS && nready == 0)) {
        return; /* the delay passed: the caller looks again */
    }
    while (k < r->inflight) {
        apr_status_t rv = prv;

        if (prv == APR_SUCCESS && (!r->pfd[k].rtnevents || *s)) {
            k++;
            continue;
        }
        if (prv == APR_SUCCESS) {
            rv = race_result(&r->pfd[k]);
        }
        if (rv == APR_SUCCESS) {
            *s = r->pfd[k].desc.s;
            *win = r->idx[k];
            k++;
            continue;
        }
        apr_socket_close(r->pfd[k].desc.s);
        note_tried(dn, ep, addr_text(p, ips[r->idx[k]], port), rv);
        r->last = rv;
        r->inflight--;
        r->pfd[k] = r->pfd[r->inflight];
        r->idx[k] = r->idx[r->inflight];
    }
}

/* Connect to one of ips[0..n) (be's dial port, from the transport's
 * source address of each one's family) before the deadline: returns the
 * socket and the winner's index, or the last failure (APR_TIMEUP when time
 * ran out; each address tried is noted). Every other socket is closed. */
static apr_status_t race(const rp_backend_t *be, const char **ips, int n,
                         apr_time_t deadline, apr_pool_t *p, apr_socket_t **s,
                         int *win, dial_note_t *dn, apr_pool_t *ep)
{
    apr_port_t port = be->dial_port;
    race_t r;
    apr_time_t next = 0;
    int started = 0, k;

    r.pfd = apr_pcalloc(p, sizeof(*r.pfd) * (apr_size_t)n);
    r.idx = apr_palloc(p, sizeof(*r.idx) * (apr_size_t)n);
    r.inflight = 0;
    r.last = APR_ECONNREFUSED;
    r.source4 = be->t->source4;
    r.source6 = be->t->source6;
    *s = NULL;
    for (;;) {
        apr_time_t now = apr_time_now();

        if (*s || now >= deadline || (started == n && r.inflight == 0)) {
            break;
        }
        if (started < n && (r.inflight == 0 || now >= next)) {
            if (race_start(&r, ips[started], started, port, p, s, dn, ep) ==
                APR_SUCCESS) {
                *win = started;
            }
            started++;
            next = now + RP_DIAL_STAGGER;
            continue;
        }
        race_wait(&r, started < n && next < deadline ? next : deadline, port,
                  ips, p, s, win, dn, ep);
    }
    for (k = 0; k < r.inflight; k++) {
        if (r.pfd[k].desc.s == *s) {
            continue;
        }
        apr_socket_close(r.pfd[k].desc.s);
        if (!*s) {
            note_tried(dn, ep, addr_text(p, ips[r.idx[k]], port), APR_TIMEUP);
            r.last = APR_TIMEUP;
        }
    }
    if (*s) {
        return APR_SUCCESS;
    }
    return started < n ? APR_TIMEUP : r.last;
}

/* Race the backend's addresses within the connect timeout (race()), then
 * the upstream proxy's CONNECT and the TLS handshake as they apply. */
static apr_status_t conn_dial(rp_backend_t *be, apr_interval_time_t timeout,
                              rp_conn_t **out, const char **why,
                              dial_note_t *dn, apr_pool_t *ep)
{
    apr_pool_t *p;
    apr_socket_t *s = NULL;
    apr_status_t rv;
    const char **ips;
    rp_conn_t *c;
    int n, i = 0;

    rv = rp_pool_create_own(&p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (be->socket) {
        ips = &be->socket;
        n = 1;
        rv = APR_SUCCESS;
    }
    else {
        rv = backend_addresses(be, p, &ips, &n);
    }
    if (rv == APR_SUCCESS) {
        rp_addr_interleave(ips, n, p);
        rv = race(be, ips, n, apr_time_now() + timeout, p, &s, &i, dn, ep);
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(p);
        return rv;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    c->sock = s;
    c->backend = be;
    c->ka_timeout = -1;
    c->ka_max = -1;
    apr_socket_timeout_set(s, timeout);
    c->sock_timeout = -1; /* not the exchange's yet: conn_timeout() sets */
    c->lowat = 1;
    c->created = apr_time_now();
    c->ip = ips[i];
    c->addr = addr_text(p, c->ip, be->dial_port);
    apr_thread_mutex_lock(be->t->mutex);
    c->dns_gen = be->dns_gen;
    if (!be->socket) {
        apr_cpystrn(be->good_ip, c->ip, sizeof(be->good_ip));
    }
    apr_thread_mutex_unlock(be->t->mutex);
    apr_atomic_inc32(&be->t->stats.conns_opened);
    if (be->opts.proxy && be->opts.tls) {
        rv = proxy_connect(be, s, timeout, ep, why);
    }
    if (rv == APR_SUCCESS && be->opts.tls) {
        rv = rp_tls_connect(be->opts.tls, p, s, be->host, be->port,
                            be->opts.tls_timeout, &c->tls, why);
        if (rv != APR_SUCCESS) {
            /* why lives in the connection's pool, about to go */
            *why = rv == APR_TIMEUP ? "TLS handshake timed out"
                                    : apr_pstrdup(ep, *why ? *why : "");
            if (c->tls) {
                rp_tls_close(c->tls);
            }
            rv = RP_ETLS;
        }
    }
    if (rv != APR_SUCCESS) {
        dn->addr = apr_pstrdup(ep, c->addr); /* the address it failed on */
        apr_socket_close(s);
        apr_pool_destroy(p);
        return rv;
    }
    *out = c;
    return APR_SUCCESS;
}

/* Is the answer past its TTL, with nobody refreshing it yet? Caller holds
 * the mutex. */
static int answer_stale(const rp_backend_t *be, apr_time_t now)
{
    return be->opts.dns_ttl > 0 && be->nips && !be->resolving &&
           now - be->resolved_at >= be->opts.dns_ttl;
}

/* Is the connection's address still in the backend's answer? A pooled
 * connection to an address the name no longer has is retired. Caller holds
 * the mutex; the generation makes the common case one comparison. */
static int address_current(const rp_backend_t *be, rp_conn_t *c)
{
    int i, ok = c->dns_gen == be->dns_gen;

    for (i = 0; !ok && i < be->nips; i++) {
        ok = !strcmp(be->ips[i], c->ip);
    }
    if (ok) {
        c->dns_gen = be->dns_gen;
    }
    return ok;
}

/* A pooled connection can be reused only when it has nothing to say: a
 * readable socket means the backend closed it (EOF) or sent bytes nobody
 * asked for, and either way the next request must not go there. */
static int conn_is_quiet(rp_conn_t *c)
{
    apr_pollfd_t pfd;
    apr_int32_t n = 0;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = c->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = c->sock;
    if (apr_poll(&pfd, 1, &n, 0) == APR_TIMEUP && n == 0) {
        return 1;
    }
    if (c->tls) {
        /* TLS 1.3 sends session tickets after the handshake: readable, yet
         * nothing for HTTP. Only application data or a close is stale. */
        char b;
        apr_size_t one = 1;
        return rp_tls_read(c->tls, &b, &one, 0) == APR_TIMEUP;
    }
    return 0;
}

/* Take the most recently used live idle connection, closing stale and
 * expired ones on the way. An answer past its DNS TTL is refreshed first
 * (into p), so that connections to an address the name left are retired
 * even while the pool keeps requests from dialing. One lock per look. */
static rp_conn_t *pool_take(rp_backend_t *be, apr_pool_t *p)
{
    rp_transport_t *t = be->t;
    apr_time_t now = apr_time_now();
    int current = 0, refreshed = 0, n;
    const char **ips;
    rp_conn_t *c;

    for (;;) {
        apr_thread_mutex_lock(t->mutex);
        if (!refreshed && answer_stale(be, now)) {
            apr_thread_mutex_unlock(t->mutex);
            backend_addresses(be, p, &ips, &n);
            refreshed = 1;
            continue;
        }
        c = be->idle;
        if (c) {
            be->idle = c->next;
            be->nidle--;
            apr_atomic_dec32(&t->stats.conns_idle);
            current = address_current(be, c);
        }
        apr_thread_mutex_unlock(t->mutex);
        if (!c) {
            return NULL;
        }
        c->next = NULL;
        if (current && now - c->idle_since < be->opts.idle_timeout &&
            (!be->opts.max_age || now - c->created < be->opts.max_age) &&
            (!c->retire_at || now < c->retire_at) && conn_is_quiet(c)) {
            c->reused = 1;
            return c;
        }
        rp_conn_close(c);
    }
}

/* The backend closes an idle connection after its Keep-Alive timeout; a
 * request sent just before that moment meets a closed connection. Retire
 * it earlier: a second before, or a quarter of the timeout when shorter. */
static apr_time_t keep_alive_deadline(const rp_conn_t *c, apr_time_t now)
{
    apr_interval_time_t t, margin;

    if (c->ka_timeout < 0) {
        return 0;
    }
    t = apr_time_from_sec(c->ka_timeout);
    margin = t / 4 < apr_time_from_sec(1) ? t / 4 : apr_time_from_sec(1);
    return now + t - margin;
}

/* Return a connection to its backend's idle list. Every reason to refuse
 * is its own guard; the caller has checked that the response was read to
 * its end and allowed keep-alive. */
void rp_pool_put(rp_conn_t *c)
{
    rp_backend_t *be = c->backend;
    rp_transport_t *t = be->t;

    if (c->pos != c->last || (c->tls && rp_tls_pending(c->tls))) {
        goto close; /* bytes after the response: the stream is confused */
    }
    if (c->ka_max == 0 || c->ka_timeout == 0) {
        goto close; /* the backend said it takes no further request */
    }
    if (be->opts.max_requests && c->nrequests >= be->opts.max_requests) {
        goto close; /* served its share */
    }
    if (be->opts.max_age && apr_time_now() - c->created >= be->opts.max_age) {
        goto close; /* old enough to be replaced */
    }
    rp_conn_drop_buffer(c);
    c->idle_since = apr_time_now();
    c->retire_at = keep_alive_deadline(c, c->idle_since);
    c->reused = 0;
    apr_thread_mutex_lock(t->mutex);
    if (t->stopping || be->nidle >= be->opts.max_idle) {
        apr_thread_mutex_unlock(t->mutex);
        goto close;
    }
    c->next = be->idle;
    be->idle = c;
    be->nidle++;
    apr_thread_cond_signal(be->slot_freed); /* a waiter can take it */
    apr_atomic_inc32(&t->stats.conns_idle);
    apr_thread_mutex_unlock(t->mutex);
    return;
close:
    rp_conn_close(c);
}

/* ---- the reaper ------------------------------------------------------- */

void rp_pool_drain(rp_conn_t *c, apr_uint64_t left, const rp_h1_chunked_t *dec)
{
    rp_transport_t *t = c->backend->t;

    c->drain_chunked = dec != NULL;
    c->drain_fresh = c->tls != NULL; /* a plain socket's poll sees all */
    if (dec) {
        c->drain_dec = *dec;
    }
    c->drain_left = left;
    c->drain_until = apr_time_now() + RP_DRAIN_TIME;
    apr_thread_mutex_lock(t->mutex);
    if (t->stopping || t->ndraining >= RP_DRAIN_CONNS) {
        apr_thread_mutex_unlock(t->mutex);
        rp_conn_close(c);
        return;
    }
    c->next = t->draining;
    t->draining = c;
    t->ndraining++;
    apr_thread_cond_signal(t->wake);
    apr_thread_mutex_unlock(t->mutex);
}

/* Run c's chunked decoder over buf[0..len): 1 at the end of the body with
 * every byte of buf used, 0 when more must come, -1 for a decoding error
 * or bytes after the end (a response nobody asked for: never pooled). */
static int drain_decode(rp_conn_t *c, const char *buf, apr_size_t len)
{
    apr_size_t off = 0;
    rp_h1_span_t span;
    const char *err;
    apr_ssize_t n;

    for (;;) {
        n = rp_h1_chunked_decode(&c->drain_dec, buf + off, len - off, &span,
                                 &err);
        if (n < 0) {
            return -1;
        }
        off += (apr_size_t)n;
        if (span.kind == RP_H1_SPAN_DONE) {
            return off == len ? 1 : -1;
        }
        if (n == 0 && span.kind == RP_H1_SPAN_NONE) {
            return 0; /* all of buf taken; more must come */
        }
    }
}

/* Bytes after the end of a rest that a read already took in: a TLS
 * record that went on past the body (a response nobody asked for).
 * rp_pool_put() would refuse the connection too; checked here so that the
 * rest counts as failed, not drained. On a plain socket such bytes are
 * still in the kernel, where rp_pool_put() and the next take see them. */
static int drain_stray(rp_conn_t *c)
{
    return c->tls && rp_tls_pending(c->tls);
}

/* One read of a rest without waiting: bytes read (> 0), 0 when nothing is
 * there yet, -1 at EOF or on an error. Over TLS, what the record layer
 * holds counts as there; rp_tls_read() never returns more than want, so
 * decrypted bytes past it stay in the TLS layer (rp_tls_pending()). */
static apr_ssize_t drain_recv(rp_conn_t *c, apr_os_sock_t fd, char *buf,
                              apr_size_t want)
{
    ssize_t n;

    if (c->tls) {
        apr_size_t got = want;
        apr_status_t rv = rp_tls_read(c->tls, buf, &got, 0);

        return rv == APR_SUCCESS          ? (apr_ssize_t)got
               : APR_STATUS_IS_TIMEUP(rv) ? 0
                                          : -1;
    }
    n = recv(fd, buf, want, MSG_DONTWAIT);
    if (n > 0) {
        return n;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
               ? 0
               : -1;
}

/* Read and drop what c has of its rest, without waiting. 1: drained to the
 * end; 0: more to come; -1: closed, failed or reset before the end, or (a
 * chunked rest) malformed, longer than allowed or followed by more. */
static int drain_some(rp_conn_t *c, char *scratch, apr_size_t len)
{
    apr_os_sock_t fd;

    if (apr_os_sock_get(&fd, c->sock) != APR_SUCCESS) {
        return -1;
    }
    /* A Content-Length rest ends at its count (and no byte past it is
     * read); a chunked one where its decoder says, within its budget. */
    while (c->drain_chunked || c->drain_left > 0) {
        apr_size_t want = c->drain_chunked || c->drain_left >= len
                              ? len
                              : (apr_size_t)c->drain_left;
        apr_ssize_t n = drain_recv(c, fd, scratch, want);
        int r;

        if (n <= 0) {
            return (int)n; /* 0: more to come; -1: EOF or an error */
        }
        if ((apr_uint64_t)n > c->drain_left) {
            return -1; /* a chunked rest over its budget */
        }
        c->drain_left -= (apr_uint64_t)n;
        if (c->drain_chunked &&
            (r = drain_decode(c, scratch, (apr_size_t)n)) != 0) {
            return r < 0 || drain_stray(c) ? -1 : 1;
        }
    }
    return drain_stray(c) ? -1 : 1;
}

/* One pass over the connections being drained: wait up to 20 ms for any
 * of them to be readable, read what came, pool those done, close those
 * that failed or ran out of time. Returns those still draining. A TLS
 * connection just handed over is read at once, without a wait: its record
 * layer may hold whole records that poll() cannot see. After one read all
 * such records are taken (a read goes on until the TLS layer wants the
 * socket), and what the layer may still hold is the start of a record
 * whose rest the socket will announce. */
static rp_conn_t *drain_pass(rp_transport_t *t, rp_conn_t *list)
{
    struct pollfd pfd[RP_DRAIN_CONNS];
    rp_conn_t *c, *keep = NULL, *conns[RP_DRAIN_CONNS];
    char scratch[16384], fresh[RP_DRAIN_CONNS];
    apr_time_t now;
    int n = 0, i, done = 0, wait = 20;

    /* ndraining bounds the list: every one fits */
    for (c = list; c && n < RP_DRAIN_CONNS; c = c->next) {
        apr_os_sock_t fd = -1;

        apr_os_sock_get(&fd, c->sock);
        pfd[n].fd = fd;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        fresh[n] = c->drain_fresh;
        c->drain_fresh = 0;
        wait = fresh[n] ? 0 : wait;
        conns[n++] = c;
    }
    if (poll(pfd, (nfds_t)n, wait) < 0) {
        for (i = 0; i < n; i++) {
            pfd[i].revents = 0;
        }
    }
    now = apr_time_now();
    for (i = 0; i < n; i++) {
        int r = pfd[i].revents || fresh[i]
                    ? drain_some(conns[i], scratch, sizeof(scratch))
                    : 0;

        c = conns[i];
        if (r == 0 && now < c->drain_until) {
            c->next = keep;
            keep = c;
            continue;
        }
        done++;
        c->next = NULL;
        if (r == 1) {
            apr_atomic_inc32(&t->stats.drained);
            rp_pool_put(c);
        }
        else {
            rp_conn_close(c);
        }
    }
    apr_thread_mutex_lock(t->mutex);
    t->ndraining -= done;
    apr_thread_mutex_unlock(t->mutex);
    return keep;
}

/* Unlink the idle connections of be that expired by now; caller holds the
 * mutex. Returns them as a list to close outside the lock. */
static rp_conn_t *reap_backend(rp_backend_t *be, apr_time_t now, int all,
                               rp_conn_t *dead)
{
    rp_conn_t **pp = &be->idle;

    while (*pp) {
        rp_conn_t *c = *pp;
        if (all || now - c->idle_since >= be->opts.idle_timeout ||
            (c->retire_at && now >= c->retire_at)) {
            *pp = c->next;
            be->nidle--;
            apr_atomic_dec32(&be->t->stats.conns_idle);
            c->next = dead;
            dead = c;
        }
        else {
            pp = &c->next;
        }
    }
    return dead;
}

static void reap(rp_transport_t *t, int all)
{
    apr_hash_index_t *hi;
    rp_conn_t *dead = NULL, *next;
    apr_time_t now = apr_time_now();

    apr_thread_mutex_lock(t->mutex);
    for (hi = apr_hash_first(NULL, t->backends); hi; hi = apr_hash_next(hi)) {
        dead = reap_backend(apr_hash_this_val(hi), now, all, dead);
    }
    apr_thread_mutex_unlock(t->mutex);
    for (; dead; dead = next) {
        next = dead->next;
        rp_conn_close(dead);
    }
    rp_block_trim(all);
}

/* Wakes twice a second so that an idle timeout of N seconds closes a
 * connection within N + 0.5 s even when no request comes. Returns instead
 * of calling apr_thread_exit(), which destroys the thread's pool there and
 * then: that pool is a child of the transport's, whose cleanup is what
 * joins this thread, and with APR's pool debugging the parent is locked
 * for the whole of its cleanups (a deadlock). The thread's pool goes with
 * its parent. */
static void *APR_THREAD_FUNC reaper_main(apr_thread_t *thd, void *data)
{
    rp_transport_t *t = data;
    rp_conn_t *mine = NULL, *c;
    apr_time_t next_reap = apr_time_now() + apr_time_from_msec(500);

    (void)thd;
    apr_thread_mutex_lock(t->mutex);
    while (!t->stopping) {
        apr_time_t now = apr_time_now();

        if (!mine && !t->draining && now < next_reap) {
            apr_thread_cond_timedwait(t->wake, t->mutex, next_reap - now);
        }
        if (t->stopping) {
            break;
        }
        while ((c = t->draining) != NULL) { /* newly handed over */
            t->draining = c->next;
            c->next = mine;
            mine = c;
        }
        apr_thread_mutex_unlock(t->mutex);
        if (mine) {
            mine = drain_pass(t, mine);
        }
        if (apr_time_now() >= next_reap) {
            reap(t, 0);
            next_reap = apr_time_now() + apr_time_from_msec(500);
        }
        apr_thread_mutex_lock(t->mutex);
    }
    t->ndraining = 0;
    apr_thread_mutex_unlock(t->mutex);
    for (; mine; mine = c) { /* stopping: what is still draining closes */
        c = mine->next;
        rp_conn_close(mine);
    }
    return NULL;
}

/* The DNS answers live in unmanaged pools of their own. */
static void free_answers(rp_transport_t *t)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, t->backends); hi; hi = apr_hash_next(hi)) {
        rp_backend_t *be = apr_hash_this_val(hi);
        if (be->dns_pool) {
            apr_pool_destroy(be->dns_pool);
            be->dns_pool = NULL;
            be->nips = 0;
        }
    }
}

apr_status_t rp_thread_start(apr_thread_t **thd, apr_thread_start_t fn,
                             void *data, apr_pool_t *p)
{
    sigset_t all, old;
    apr_status_t rv;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(thd, NULL, fn, data, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rv;
}

/* The reaper must never run a signal handler: one that tears the process
 * pool down would free the reaper's own state under it. */
static apr_status_t start_reaper(rp_transport_t *t, apr_pool_t *p)
{
    return rp_thread_start(&t->reaper, reaper_main, t, p);
}

static apr_status_t transport_cleanup(void *data)
{
    rp_transport_t *t = data;
    apr_status_t trv;

    apr_thread_mutex_lock(t->mutex);
    t->stopping = 1;
    apr_thread_cond_broadcast(t->wake);
    apr_thread_mutex_unlock(t->mutex);
    if (t->reaper) {
        apr_thread_join(&trv, t->reaper);
        t->reaper = NULL;
    }
    while (t->draining) { /* handed over after the reaper stopped */
        rp_conn_t *c = t->draining;

        t->draining = c->next;
        rp_conn_close(c);
    }
    reap(t, 1);
    free_answers(t);
    return APR_SUCCESS;
}

apr_status_t rp_transport_create(apr_pool_t *p, apr_size_t max_idle,
                                 rp_transport_t **out)
{
    rp_transport_t *t = apr_pcalloc(p, sizeof(*t));
    apr_status_t rv;

    t->pool = p;
    t->max_idle = max_idle ? max_idle : 1;
    t->backends = apr_hash_make(p);
    rv = apr_thread_mutex_create(&t->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&t->wake, p);
    }
    if (rv == APR_SUCCESS) {
        rv = start_reaper(t, p);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* Registered after the thread exists and before anything else in p:
     * the cleanup runs before p's mutex and condition are destroyed. */
    apr_pool_pre_cleanup_register(p, t, transport_cleanup);
    *out = t;
    return APR_SUCCESS;
}

/* The upstream proxy a target is reached through: opts' one, never for a
 * Unix domain socket. */
static const rp_url_t *proxy_for(const rp_url_t *target,
                                 const rp_backend_opts_t *opts)
{
    return target->socket ? NULL : opts->proxy;
}

rp_backend_t *rp_transport_backend(rp_transport_t *t, const rp_url_t *target,
                                   const rp_backend_opts_t *opts)
{
    const rp_url_t *proxy = proxy_for(target, opts);
    char key[640];
    rp_backend_t *be;
    int n;

    n = apr_snprintf(
        key, sizeof(key), "%s%s%s%s://%s:%u", target->socket ? "unix:" : "",
        target->socket ? target->socket : "", target->socket ? "|" : "",
        target->scheme, target->host, (unsigned)target->port);
    if (opts->tls) {
        n += apr_snprintf(key + n, sizeof(key) - n, "#tls%pp", opts->tls);
    }
    if (proxy) {
        n += apr_snprintf(key + n, sizeof(key) - n, "#via%s#%pp",
                          proxy->hostport, opts->proxy_auth);
    }
    apr_thread_mutex_lock(t->mutex);
    be = apr_hash_get(t->backends, key, n);
    if (!be) {
        be = apr_pcalloc(t->pool, sizeof(*be));
        be->key = apr_pstrmemdup(t->pool, key, n);
        be->name = target->socket
                       ? rp_url_origin(t->pool, target)
                       : apr_psprintf(t->pool, "%s://%s:%u", target->scheme,
                                      target->host, (unsigned)target->port);
        be->socket =
            target->socket ? apr_pstrdup(t->pool, target->socket) : NULL;
        be->host = apr_pstrdup(t->pool, target->host);
        be->scheme = apr_pstrdup(t->pool, target->scheme);
        be->port = target->port;
        be->authority = apr_psprintf(
            t->pool, strchr(target->host, ':') ? "[%s]:%u" : "%s:%u",
            target->host, (unsigned)target->port);
        be->origin =
            apr_pstrcat(t->pool, target->scheme, "://", target->hostport, NULL);
        be->dial_host = proxy ? proxy->host : be->host;
        be->dial_port = proxy ? proxy->port : be->port;
        be->opts = *opts;
        be->opts.proxy = proxy;
        be->opts.proxy_auth = proxy ? opts->proxy_auth : NULL;
        if (!be->opts.max_idle) {
            be->opts.max_idle = t->max_idle;
        }
        be->t = t;
        apr_thread_cond_create(&be->slot_freed, t->pool);
        apr_hash_set(t->backends, be->key, n, be);
    }
    apr_thread_mutex_unlock(t->mutex);
    return be;
}

/* Does be stand for target with opts, as rp_transport_backend() keys it? */
static int backend_is(const rp_backend_t *be, const rp_url_t *target,
                      const rp_backend_opts_t *opts)
{
    const rp_url_t *proxy = proxy_for(target, opts);

    return be->port == target->port && be->opts.tls == opts->tls &&
           be->opts.proxy == proxy &&
           (!proxy || be->opts.proxy_auth == opts->proxy_auth) &&
           !be->socket == !target->socket &&
           (!be->socket || strcmp(be->socket, target->socket) == 0) &&
           strcmp(be->host, target->host) == 0 &&
           strcmp(be->scheme, target->scheme) == 0;
}

rp_backend_t *rp_transport_backend_cached(rp_transport_t *t,
                                          const rp_url_t *target,
                                          const rp_backend_opts_t *opts,
                                          rp_backend_t **slot)
{
    rp_backend_t *be = apr_atomic_casptr((void *)slot, NULL, NULL);

    if (be && be->t == t && backend_is(be, target, opts)) {
        return be;
    }
    be = rp_transport_backend(t, target, opts);
    apr_atomic_xchgptr((void *)slot, be);
    return be;
}

void rp_transport_stats(rp_transport_t *t, rp_transport_stats_t *st)
{
    st->conns_opened = apr_atomic_read32(&t->stats.conns_opened);
    st->conns_reused = apr_atomic_read32(&t->stats.conns_reused);
    st->conns_idle = apr_atomic_read32(&t->stats.conns_idle);
    st->retries = apr_atomic_read32(&t->stats.retries);
    st->client_aborts = apr_atomic_read32(&t->stats.client_aborts);
    st->backend_errors = apr_atomic_read32(&t->stats.backend_errors);
    st->drained = apr_atomic_read32(&t->stats.drained);
    apr_thread_mutex_lock(t->mutex);
    st->draining = (apr_uint32_t)t->ndraining;
    apr_thread_mutex_unlock(t->mutex);
}

void rp_backend_counts(rp_backend_t *be, apr_size_t *idle, apr_size_t *busy)
{
    apr_thread_mutex_lock(be->t->mutex);
    *idle = be->nidle;
    *busy = be->nconns - be->nidle;
    apr_thread_mutex_unlock(be->t->mutex);
}

void rp_transport_set_log(rp_transport_t *t, rp_log_fn fn, void *baton)
{
    t->log = fn;
    t->log_baton = baton;
}

void rp_transport_set_source(rp_transport_t *t, const char *v4, const char *v6)
{
    t->source4 = v4 ? apr_pstrdup(t->pool, v4) : NULL;
    t->source6 = v6 ? apr_pstrdup(t->pool, v6) : NULL;
}

void rp_transport_count_client_abort(rp_transport_t *t)
{
    apr_atomic_inc32(&t->stats.client_aborts);
}

/* A refused or reset connect sent nothing, so it can always be tried again:
 * a backend restarting, or a listen queue overflowing, is often back a
 * moment later. On a Unix domain socket those two read "no such file" (the
 * server removes its socket while it restarts) and EAGAIN (a full queue).
 * Timeouts are not retried: they already took their time. */
static int dial_retryable(const rp_backend_t *be, apr_status_t rv)
{
    if (APR_STATUS_IS_ECONNREFUSED(rv) || APR_STATUS_IS_ECONNRESET(rv)) {
        return 1;
    }
    return be->socket && (APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_EAGAIN(rv));
}

static apr_status_t dial_with_retries(rp_backend_t *be,
                                      const rp_rt_opts_t *opts, rp_conn_t **out,
                                      const char **why, dial_note_t *dn,
                                      apr_pool_t *p)
{
    apr_status_t rv;
    int attempt = 0;

    for (;;) {
        memset(dn, 0, sizeof(*dn)); /* the last attempt's story */
        rv = conn_dial(be, opts->connect_timeout, out, why, dn, p);
        if (!dial_retryable(be, rv) || attempt >= be->opts.connect_retries) {
            return rv;
        }
        attempt++;
        apr_atomic_inc32(&be->t->stats.retries);
        apr_sleep(apr_time_from_msec(50 * attempt));
    }
}

/* What a failed dial was, from conn_dial()'s answer: RP_ETLS with the TLS
 * layer's text, RP_EBACKEND_UNREACHABLE when the upstream proxy would not
 * open a tunnel, else the socket's or resolver's own error. */
static rp_fault_t dial_fault(apr_status_t rv, const char *why)
{
    if (rv == RP_ETLS) {
        return why && !strncmp(why, RP_TLS_WHY_CERT, strlen(RP_TLS_WHY_CERT))
                   ? RP_FAULT_TLS_CERTIFICATE_ERROR
                   : RP_FAULT_TLS_PROTOCOL_ERROR;
    }
    if (rv == RP_EBACKEND_UNREACHABLE) {
        return RP_FAULT_DESTINATION_UNAVAILABLE;
    }
    return rp_fault_of_status(rv, RP_FAULT_DESTINATION_UNAVAILABLE);
}

/* A connection for one attempt: a live idle one unless fresh is set, else
 * a new one once the backend has a free slot. Waits for a slot at most the
 * queue timeout: a request that cannot get a connection soon is better
 * answered 503 than left to pile up behind a saturated backend. */
apr_status_t rp_pool_acquire(rp_backend_t *be, const rp_rt_opts_t *opts,
                             int fresh, rp_conn_t **out, const char **why,
                             rp_fault_t *fault, apr_pool_t *p)
{
    apr_time_t deadline = apr_time_now() + be->opts.queue_timeout;
    dial_note_t dn;
    apr_status_t rv;

    for (;;) {
        if (!fresh && (*out = pool_take(be, p)) != NULL) {
            return APR_SUCCESS;
        }
        apr_thread_mutex_lock(be->t->mutex);
        if (!be->opts.max_conns || be->nconns < be->opts.max_conns) {
            be->nconns++; /* this dial's slot */
            apr_thread_mutex_unlock(be->t->mutex);
            break;
        }
        if (!(be->idle && !fresh)) {
            apr_time_t now = apr_time_now();
            if (now >= deadline) {
                apr_thread_mutex_unlock(be->t->mutex);
                *why = apr_psprintf(
                    p, "all %" APR_SIZE_T_FMT " connections to %s stayed busy",
                    be->opts.max_conns, be->name);
                *fault = RP_FAULT_CONNECTION_LIMIT_REACHED;
                return RP_EPOOL_FULL;
            }
            apr_thread_cond_timedwait(be->slot_freed, be->t->mutex,
                                      deadline - now);
        }
        apr_thread_mutex_unlock(be->t->mutex);
    }
    rv = dial_with_retries(be, opts, out, why, &dn, p);
    if (rv != APR_SUCCESS) {
        *fault = dial_fault(rv, *why);
        if (opts->peer && dn.addr) {
            *opts->peer = dn.addr;
        }
    }
    if (rv == RP_EBACKEND_UNREACHABLE) {
        slot_release(be); /* *why names the upstream proxy's answer */
        return rv;
    }
    if (rv == RP_ETLS) {
        slot_release(be);
        *why = apr_psprintf(p, "TLS handshake with %s failed: %s", be->name,
                            *why ? *why : "unknown reason");
        return RP_ETLS;
    }
    if (rv != APR_SUCCESS) {
        slot_release(be);
        *why =
            dn.ntried > 1
                ? apr_psprintf(p,
                               "connect to %s failed at each of the "
                               "%d addresses tried: %s",
                               be->name, dn.ntried, dn.tried)
                : apr_psprintf(p, "connect to %s failed: %pm", be->name, &rv);
        return RP_EBACKEND_UNREACHABLE;
    }
    return APR_SUCCESS;
}
