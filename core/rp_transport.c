/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_transport.c: backend connections, their pool, and one round trip.
 *
 * Data flow of a round trip:
 *
 *   acquire ──► write head ──► stream body ──► read head (deadline) ──► resp
 *      ▲  stale pooled conn, idempotent, nothing received: retry once  │
 *      └───────────────────────────────────────────────────────────────┘
 *
 * Reading: a connection reads into 64 KiB blocks owned by a heap bucket
 * (conn->hb). Body bytes leave as copies of that bucket narrowed to the
 * span, so the body is never copied here; the block is freed when the last
 * bucket pointing into it is gone. conn->hb belongs to the exchange's bucket
 * allocator and is dropped before the connection goes back to the pool. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_poll.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "rp_transport.h"
#include "rp_headers.h"

#define RP_READ_BLOCK (64 * 1024) /* bytes per read buffer */
#define RP_MIN_READ 4096          /* a smaller tail gets a fresh block */
#define RP_MAX_HEAD 65536         /* response head size limit */
#define RP_MAX_FIELDS 128         /* response header fields limit */
#define RP_MAX_INTERIM 16         /* 1xx responses before the final one */
#define RP_MAX_IOV 64
#define RP_REPLAY_MAX (64 * 1024) /* request body kept for a retry */

struct rp_conn_t {
    apr_pool_t *pool;      /* owned: unmanaged, destroyed on close */
    apr_socket_t *sock;    /* owned: closed by pool destruction */
    rp_backend_t *backend; /* borrowed: process lifetime */
    rp_conn_t *next;       /* idle list link; guarded by transport mutex */
    const char *addr;      /* "ip:port" of the peer, in pool */
    const char *ip;        /* the peer's address as text, in pool */
    rp_tls_conn_t *tls;    /* owned: closed before the socket, or NULL */
    apr_interval_time_t io_timeout; /* of the current exchange (TLS) */
    apr_uint32_t dns_gen; /* backend's dns_gen when the address was valid */
    /* Read buffer: 0 <= pos <= last <= cap; [pos, last) is unread. */
    char *buf; /* borrowed from hb */
    apr_size_t pos, last, cap;
    apr_bucket *hb;         /* owned: heap bucket over buf, or NULL */
    apr_time_t created;     /* when it was dialed */
    apr_time_t idle_since;  /* when it went on the idle list */
    apr_time_t retire_at;   /* before the backend's Keep-Alive timeout; 0 */
    long ka_timeout;        /* Keep-Alive timeout=, seconds; -1 unknown */
    long ka_max;            /* Keep-Alive max=, requests left; -1 unknown */
    apr_uint32_t nrequests; /* round trips carried */
    unsigned reused:1;      /* taken from the idle list for this exchange */
};

struct rp_backend_t {
    const char *key;  /* "scheme://host:port[#tls...]", transport pool */
    const char *name; /* "scheme://host:port" for logs, transport pool */
    const char *host; /* transport pool */
    apr_port_t port;
    const char *authority; /* "host:port" ([v6]:port) for CONNECT */
    const char *origin;    /* "scheme://hostport" for absolute-form */
    const char *dial_host; /* the upstream proxy's host, or host */
    apr_port_t dial_port;
    rp_backend_opts_t opts; /* limits, fixed at creation */
    rp_conn_t *idle;        /* LIFO: most recently used first; under mutex */
    apr_size_t nidle;       /* length of idle; under mutex */
    apr_size_t nconns;      /* in use + idle + dialing; under mutex */
    apr_thread_cond_t *slot_freed; /* a connection closed or went idle */
    /* DNS answer, under mutex: text addresses in dns_pool (owned, replaced
     * with each new answer; readers copy what they need). */
    apr_pool_t *dns_pool;
    const char **ips;
    int nips;
    apr_time_t resolved_at;
    apr_uint32_t dns_gen; /* bumped when the answer changes */
    unsigned resolving:1; /* a thread is resolving; others use the old */
    rp_transport_t *t;    /* borrowed: owner */
};

struct rp_transport_t {
    apr_pool_t *pool;          /* borrowed: process pool */
    apr_thread_mutex_t *mutex; /* guards backends and idle lists */
    apr_thread_cond_t *wake;   /* wakes the reaper to stop */
    apr_hash_t *backends;      /* key -> rp_backend_t; under mutex */
    apr_size_t max_idle;
    apr_thread_t *reaper; /* owned: joined by the pool cleanup */
    int stopping;         /* under mutex */
    rp_log_fn log;        /* may be NULL */
    void *log_baton;
    rp_transport_stats_t stats; /* atomics */
};

/* ---- connections ------------------------------------------------------ */

static void conn_drop_buffer(rp_conn_t *c)
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

static void conn_close(rp_conn_t *c)
{
    rp_backend_t *be = c->backend;

    conn_drop_buffer(c);
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

/* Copy the current answer into p; caller holds the mutex. */
static const char **copy_ips(const rp_backend_t *be, apr_pool_t *p, int *n)
{
    const char **ips = apr_palloc(p, sizeof(*ips) * (be->nips + 1));
    int i;

    for (i = 0; i < be->nips; i++) {
        ips[i] = apr_pstrdup(p, be->ips[i]);
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

/* Resolve the backend's name into a fresh pool: all A and AAAA answers. */
static apr_status_t resolve(rp_backend_t *be, apr_pool_t **np,
                            const char ***ips, int *n)
{
    apr_sockaddr_t *sa, *a;
    apr_status_t rv;
    int cnt = 0;

    apr_pool_create_unmanaged_ex(np, NULL, NULL);
    rv = apr_sockaddr_info_get(&sa, be->dial_host, APR_UNSPEC, be->dial_port, 0,
                               *np);
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

/* Connect to one address within the timeout. */
static apr_status_t dial_one(const char *ip, apr_port_t port,
                             apr_interval_time_t timeout, apr_pool_t *p,
                             apr_socket_t **s)
{
    apr_sockaddr_t *sa;
    apr_status_t rv;

    rv = apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, port, 0, p);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_create(s, sa->family, SOCK_STREAM, APR_PROTO_TCP, p);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_socket_opt_set(*s, APR_TCP_NODELAY, 1);
    apr_socket_timeout_set(*s, timeout);
    rv = apr_socket_connect(*s, sa);
    if (rv != APR_SUCCESS) {
        apr_socket_close(*s);
    }
    return rv;
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

/* Try the backend's addresses in turn, each with the connect timeout,
 * then the TLS handshake for an https backend. */
static apr_status_t conn_dial(rp_backend_t *be, apr_interval_time_t timeout,
                              rp_conn_t **out, const char **why, apr_pool_t *ep)
{
    apr_pool_t *p;
    apr_socket_t *s = NULL;
    apr_status_t rv;
    const char **ips;
    rp_conn_t *c;
    int n, i;

    rv = apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = backend_addresses(be, p, &ips, &n);
    for (i = 0; rv == APR_SUCCESS && i < n; i++) {
        rv = dial_one(ips[i], be->dial_port, timeout, p, &s);
        if (rv == APR_SUCCESS) {
            break;
        }
        if (i + 1 < n) {
            rv = APR_SUCCESS; /* try the next address */
        }
    }
    if (rv != APR_SUCCESS || i == n) {
        apr_pool_destroy(p);
        return rv != APR_SUCCESS ? rv : APR_ECONNREFUSED;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    c->sock = s;
    c->backend = be;
    c->ka_timeout = -1;
    c->ka_max = -1;
    c->created = apr_time_now();
    c->ip = ips[i];
    c->addr = apr_psprintf(p, strchr(c->ip, ':') ? "[%s]:%u" : "%s:%u", c->ip,
                           (unsigned)be->dial_port);
    apr_thread_mutex_lock(be->t->mutex);
    c->dns_gen = be->dns_gen;
    apr_thread_mutex_unlock(be->t->mutex);
    apr_atomic_inc32(&be->t->stats.conns_opened);
    if (be->opts.proxy && be->opts.tls) {
        rv = proxy_connect(be, s, timeout, ep, why);
        if (rv != APR_SUCCESS) {
            apr_socket_close(s);
            apr_pool_destroy(p);
            return rv;
        }
    }
    if (be->opts.tls) {
        rv = rp_tls_connect(be->opts.tls, p, s, be->host, be->opts.tls_timeout,
                            &c->tls, why);
        if (rv != APR_SUCCESS) {
            /* why lives in the connection's pool, about to go */
            *why = rv == APR_TIMEUP ? "TLS handshake timed out"
                                    : apr_pstrdup(ep, *why ? *why : "");
            if (c->tls) {
                rp_tls_close(c->tls);
            }
            apr_socket_close(s);
            apr_pool_destroy(p);
            return RP_ETLS;
        }
    }
    *out = c;
    return APR_SUCCESS;
}

/* Refresh an answer past its TTL before a pooled connection is taken, so
 * that connections to an address the name left are retired even while the
 * pool keeps requests from dialing. */
static void refresh_if_stale(rp_backend_t *be, apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    const char **ips;
    int stale, n;

    apr_thread_mutex_lock(be->t->mutex);
    stale = be->opts.dns_ttl > 0 && be->nips && !be->resolving &&
            now - be->resolved_at >= be->opts.dns_ttl;
    apr_thread_mutex_unlock(be->t->mutex);
    if (stale) {
        backend_addresses(be, p, &ips, &n);
    }
}

/* Is the connection's address still in the backend's answer? A pooled
 * connection to an address the name no longer has is retired. */
static int address_current(rp_conn_t *c)
{
    rp_backend_t *be = c->backend;
    int i, ok = 0;

    apr_thread_mutex_lock(be->t->mutex);
    if (c->dns_gen == be->dns_gen) {
        ok = 1;
    }
    for (i = 0; !ok && i < be->nips; i++) {
        ok = !strcmp(be->ips[i], c->ip);
    }
    if (ok) {
        c->dns_gen = be->dns_gen;
    }
    apr_thread_mutex_unlock(be->t->mutex);
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
 * expired ones on the way. */
static rp_conn_t *pool_take(rp_backend_t *be)
{
    rp_transport_t *t = be->t;
    apr_time_t now = apr_time_now();
    rp_conn_t *c;

    for (;;) {
        apr_thread_mutex_lock(t->mutex);
        c = be->idle;
        if (c) {
            be->idle = c->next;
            be->nidle--;
            apr_atomic_dec32(&t->stats.conns_idle);
        }
        apr_thread_mutex_unlock(t->mutex);
        if (!c) {
            return NULL;
        }
        c->next = NULL;
        if (now - c->idle_since < be->opts.idle_timeout &&
            (!be->opts.max_age || now - c->created < be->opts.max_age) &&
            (!c->retire_at || now < c->retire_at) && address_current(c) &&
            conn_is_quiet(c)) {
            c->reused = 1;
            return c;
        }
        conn_close(c);
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
static void pool_put(rp_conn_t *c)
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
    conn_drop_buffer(c);
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
    conn_close(c);
}

/* ---- the reaper ------------------------------------------------------- */

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
        conn_close(dead);
    }
}

/* Wakes twice a second so that an idle timeout of N seconds closes a
 * connection within N + 0.5 s even when no request comes. */
static void *APR_THREAD_FUNC reaper_main(apr_thread_t *thd, void *data)
{
    rp_transport_t *t = data;

    apr_thread_mutex_lock(t->mutex);
    while (!t->stopping) {
        apr_thread_cond_timedwait(t->wake, t->mutex, apr_time_from_msec(500));
        if (t->stopping) {
            break;
        }
        apr_thread_mutex_unlock(t->mutex);
        reap(t, 0);
        apr_thread_mutex_lock(t->mutex);
    }
    apr_thread_mutex_unlock(t->mutex);
    apr_thread_exit(thd, APR_SUCCESS);
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
        rv = apr_thread_create(&t->reaper, NULL, reaper_main, t, p);
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

rp_backend_t *rp_transport_backend(rp_transport_t *t, const rp_url_t *target,
                                   const rp_backend_opts_t *opts)
{
    char key[512];
    rp_backend_t *be;
    int n;

    n = apr_snprintf(key, sizeof(key), "%s://%s:%u", target->scheme,
                     target->host, (unsigned)target->port);
    if (opts->tls) {
        n += apr_snprintf(key + n, sizeof(key) - n, "#tls%pp", opts->tls);
    }
    if (opts->proxy) {
        n += apr_snprintf(key + n, sizeof(key) - n, "#via%s#%pp",
                          opts->proxy->hostport, opts->proxy_auth);
    }
    apr_thread_mutex_lock(t->mutex);
    be = apr_hash_get(t->backends, key, n);
    if (!be) {
        be = apr_pcalloc(t->pool, sizeof(*be));
        be->key = apr_pstrmemdup(t->pool, key, n);
        be->name = apr_psprintf(t->pool, "%s://%s:%u", target->scheme,
                                target->host, (unsigned)target->port);
        be->host = apr_pstrdup(t->pool, target->host);
        be->port = target->port;
        be->authority = apr_psprintf(
            t->pool, strchr(target->host, ':') ? "[%s]:%u" : "%s:%u",
            target->host, (unsigned)target->port);
        be->origin =
            apr_pstrcat(t->pool, target->scheme, "://", target->hostport, NULL);
        be->dial_host = opts->proxy ? opts->proxy->host : be->host;
        be->dial_port = opts->proxy ? opts->proxy->port : be->port;
        be->opts = *opts;
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

void rp_transport_stats(rp_transport_t *t, rp_transport_stats_t *st)
{
    st->conns_opened = apr_atomic_read32(&t->stats.conns_opened);
    st->conns_reused = apr_atomic_read32(&t->stats.conns_reused);
    st->conns_idle = apr_atomic_read32(&t->stats.conns_idle);
    st->retries = apr_atomic_read32(&t->stats.retries);
    st->client_aborts = apr_atomic_read32(&t->stats.client_aborts);
    st->backend_errors = apr_atomic_read32(&t->stats.backend_errors);
}

void rp_transport_set_log(rp_transport_t *t, rp_log_fn fn, void *baton)
{
    t->log = fn;
    t->log_baton = baton;
}

void rp_transport_count_client_abort(rp_transport_t *t)
{
    apr_atomic_inc32(&t->stats.client_aborts);
}

/* ---- reading ---------------------------------------------------------- */

/* Make room for at least RP_MIN_READ bytes after last. A new block takes over
 * the unread bytes; the old one lives on as long as buckets point into it. */
static apr_status_t conn_make_room(rp_conn_t *c, apr_bucket_alloc_t *ba)
{
    apr_size_t unread = c->last - c->pos;
    apr_size_t cap = RP_READ_BLOCK;
    char *nb;

    if (c->hb && c->cap - c->last >= RP_MIN_READ) {
        return APR_SUCCESS;
    }
    if (unread > RP_READ_BLOCK / 2) {
        cap = unread + RP_READ_BLOCK / 2;
    }
    nb = malloc(cap);
    if (!nb) {
        return APR_ENOMEM;
    }
    if (unread) {
        memcpy(nb, c->buf + c->pos, unread);
    }
    conn_drop_buffer(c);
    c->hb = apr_bucket_heap_create(nb, cap, free, ba);
    c->buf = nb;
    c->cap = cap;
    c->pos = 0;
    c->last = unread;
    return APR_SUCCESS;
}

/* One recv into the buffer, waiting at most timeout. APR_EOF when the
 * backend closed its side. */
static apr_status_t conn_fill(rp_conn_t *c, apr_bucket_alloc_t *ba,
                              apr_interval_time_t timeout)
{
    apr_size_t n;
    apr_status_t rv;

    rv = conn_make_room(c, ba);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    n = c->cap - c->last;
    if (c->tls) {
        rv = rp_tls_read(c->tls, c->buf + c->last, &n,
                         timeout > 0 ? timeout : 0);
        c->last += n;
        return n > 0 ? APR_SUCCESS : rv;
    }
    apr_socket_timeout_set(c->sock, timeout > 0 ? timeout : 0);
    rv = apr_socket_recv(c->sock, c->buf + c->last, &n);
    c->last += n;
    if (n > 0) {
        return APR_SUCCESS;
    }
    if (rv == APR_SUCCESS) {
        rv = APR_EOF;
    }
    if (APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_EAGAIN(rv)) {
        rv = APR_TIMEUP;
    }
    return rv;
}

/* A bucket for buf[off..off+len) sharing the block's storage. */
static apr_bucket *span_bucket(rp_conn_t *c, apr_size_t off, apr_size_t len)
{
    apr_bucket *b;

    apr_bucket_copy(c->hb, &b);
    b->start = off;
    b->length = len;
    return b;
}

/* ---- writing ---------------------------------------------------------- */

static apr_status_t send_all(rp_conn_t *c, struct iovec *vec, int nvec)
{
    apr_status_t rv = APR_SUCCESS;
    apr_size_t n;

    if (c->tls) {
        return rp_tls_write(c->tls, vec, nvec, c->io_timeout);
    }
    while (nvec > 0) {
        rv = apr_socket_sendv(c->sock, vec, nvec, &n);
        while (nvec > 0 && n >= vec->iov_len) {
            n -= vec->iov_len;
            vec++;
            nvec--;
        }
        if (nvec > 0) {
            vec->iov_base = (char *)vec->iov_base + n;
            vec->iov_len -= n;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return rv;
}

/* Write the data buckets of bb, framed as one chunk when chunked. bb stays
 * the caller's; it is empty on return. Buckets are deleted only after the
 * vectors pointing into them were written. */
static apr_status_t send_brigade(rp_conn_t *c, apr_bucket_brigade *bb,
                                 int chunked)
{
    struct iovec vec[RP_MAX_IOV + 2];
    char hdr[24];
    apr_off_t total = 0;
    apr_status_t rv = APR_SUCCESS;
    apr_bucket *b;
    int n = 0;

    if (chunked) {
        rv = apr_brigade_length(bb, 1, &total);
        if (rv == APR_SUCCESS && total > 0) {
            vec[n].iov_base = hdr;
            vec[n++].iov_len =
                apr_snprintf(hdr, sizeof(hdr), "%" APR_UINT64_T_HEX_FMT "\r\n",
                             (apr_uint64_t)total);
        }
    }
    b = APR_BRIGADE_FIRST(bb);
    while (rv == APR_SUCCESS && b != APR_BRIGADE_SENTINEL(bb)) {
        const char *data;
        apr_size_t len;
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv == APR_SUCCESS && len > 0) {
            vec[n].iov_base = (char *)data;
            vec[n++].iov_len = len;
        }
        b = APR_BUCKET_NEXT(b);
        if (rv == APR_SUCCESS && n >= RP_MAX_IOV) {
            rv = send_all(c, vec, n);
            n = 0;
            while (APR_BRIGADE_FIRST(bb) != b) {
                apr_bucket_delete(APR_BRIGADE_FIRST(bb));
            }
        }
    }
    if (rv == APR_SUCCESS && chunked && total > 0) {
        vec[n].iov_base = "\r\n";
        vec[n++].iov_len = 2;
    }
    if (rv == APR_SUCCESS && n > 0) {
        rv = send_all(c, vec, n);
    }
    apr_brigade_cleanup(bb);
    return rv;
}

/* ---- one round trip --------------------------------------------------- */

/* Methods RFC 9110 section 9.2.2 calls idempotent. */
static int is_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
           !strcmp(m, "TRACE") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

/* A request may be sent twice when repeating it cannot do harm: an
 * idempotent method, or a client that said so with an idempotency key. */
static int may_send_twice(const rp_request_t *req)
{
    return is_idempotent(req->method) ||
           apr_table_get(req->headers, "Idempotency-Key") ||
           apr_table_get(req->headers, "X-Idempotency-Key");
}

/* What was sent of the client's body, kept so that a retry can send it
 * again: at most RP_REPLAY_MAX bytes, else nothing is kept and the request
 * is not retried. Lives in the exchange pool. */
typedef struct replay_t {
    apr_bucket_brigade *kept; /* copies, set aside in the exchange pool */
    apr_off_t len;
    unsigned overflow:1; /* more than RP_REPLAY_MAX was sent */
    unsigned eos:1;      /* the client's body was read to its end */
} replay_t;

static void keep_for_replay(replay_t *rp, apr_bucket_brigade *bb, apr_pool_t *p,
                            apr_off_t len)
{
    apr_bucket *b, *copy;

    if (rp->overflow) {
        return;
    }
    if (rp->len + len > RP_REPLAY_MAX) {
        rp->overflow = 1;
        apr_brigade_cleanup(rp->kept);
        return;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (apr_bucket_copy(b, &copy) != APR_SUCCESS ||
            apr_bucket_setaside(copy, p) != APR_SUCCESS) {
            rp->overflow = 1;
            apr_brigade_cleanup(rp->kept);
            return;
        }
        APR_BRIGADE_INSERT_TAIL(rp->kept, copy);
    }
    rp->len += len;
}

/* Stream the client's body after the head: first what a previous attempt
 * kept (on a retry), then fresh data from the client. *client_side tells
 * a failure to read from the client apart from a failure to write to the
 * backend. */
static apr_status_t send_body(rp_conn_t *c, const rp_request_t *req,
                              replay_t *rp, apr_pool_t *p,
                              apr_bucket_alloc_t *ba, int *client_side)
{
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    int chunked = req->body_length < 0, eos = rp->eos;
    apr_off_t sent = rp->len, len;
    apr_status_t rv = APR_SUCCESS;

    if (rp->len) {
        rv = send_brigade(c, rp->kept, chunked); /* a retry: replay */
    }
    while (!eos && rv == APR_SUCCESS) {
        rv = req->body_fn(req->body_baton, bb, &eos);
        if (rv != APR_SUCCESS) {
            *client_side = 1;
            break;
        }
        len = 0;
        apr_brigade_length(bb, 1, &len);
        sent += len;
        if (!chunked && sent > req->body_length) {
            *client_side = 1; /* more than announced: never forward it */
            rv = RP_EBAD_REQUEST;
            break;
        }
        keep_for_replay(rp, bb, p, len);
        rp->eos = eos;
        rv = send_brigade(c, bb, chunked);
    }
    if (rv == APR_SUCCESS && !chunked && sent != req->body_length) {
        *client_side = 1; /* the client's body ended early */
        rv = RP_EBAD_REQUEST;
    }
    if (rv == APR_SUCCESS && chunked) {
        struct iovec end = {"0\r\n\r\n", 5};
        rv = send_all(c, &end, 1);
    }
    apr_brigade_destroy(bb);
    return rv;
}

static apr_table_t *fields_table(apr_pool_t *p, const rp_h1_head_t *head)
{
    apr_table_t *t = apr_table_make(p, (int)head->nfields + 4);
    apr_size_t i;

    for (i = 0; i < head->nfields; i++) {
        const rp_h1_field_t *f = &head->fields[i];
        apr_table_addn(t, apr_pstrmemdup(p, f->name, f->name_len),
                       apr_pstrmemdup(p, f->value, f->value_len));
    }
    return t;
}

/* The state read_head() shares with its caller. */
typedef struct head_ctx_t {
    rp_conn_t *c;
    rp_response_t *resp;
    const rp_request_t *req;
    const rp_rt_opts_t *opts;
    replay_t *replay; /* the body sent so far, for a retry */
    apr_time_t deadline;
    int got_bytes;            /* any response byte arrived */
    int interim;              /* 1xx responses seen */
    unsigned want_continue:1; /* stop at a 100 (Expect: 100-continue) */
    unsigned got_continue:1;  /* ... and one came */
    const char *why;
} head_ctx_t;

/* Wait for more head bytes until the deadline. */
static apr_status_t fill_head(head_ctx_t *h)
{
    rp_conn_t *c = h->c;
    apr_time_t now = apr_time_now();
    apr_status_t rv;

    if (c->last - c->pos >= RP_MAX_HEAD) {
        h->why = "response head too large";
        return RP_EBAD_RESPONSE;
    }
    if (now >= h->deadline) {
        return RP_EBACKEND_TIMEOUT;
    }
    rv = conn_fill(c, h->resp->_ba, h->deadline - now);
    if (rv == APR_SUCCESS) {
        h->got_bytes = 1;
        return APR_SUCCESS;
    }
    if (rv == APR_TIMEUP) {
        return RP_EBACKEND_TIMEOUT;
    }
    if (h->got_bytes) {
        h->why = "connection closed inside the response head";
        return RP_EBAD_RESPONSE;
    }
    if (rv == RP_ETLS && c->tls) {
        h->why = apr_psprintf(h->resp->_pool, "reading the response: TLS: %s",
                              rp_tls_error(c->tls));
    }
    else {
        h->why = apr_psprintf(h->resp->_pool, "reading the response: %pm", &rv);
    }
    return RP_EBACKEND_UNREACHABLE;
}

/* The backend's Keep-Alive hints. A timeout stays known once announced
 * (servers repeat it, and a missing one does not mean it changed); max
 * counts down per response, so only the latest value is meaningful. */
static void note_keep_alive(rp_conn_t *c, apr_table_t *headers)
{
    long timeout, max;

    rp_headers_keep_alive(apr_table_get(headers, "Keep-Alive"), &timeout, &max);
    if (timeout >= 0) {
        c->ka_timeout = timeout;
    }
    c->ka_max = max;
}

/* Turn a complete final head into resp. */
static apr_status_t take_head(head_ctx_t *h, rp_h1_head_t *head)
{
    rp_response_t *resp = h->resp;
    apr_status_t rv;

    resp->status = head->status;
    resp->reason = apr_pstrmemdup(resp->_pool, head->reason, head->reason_len);
    resp->headers = fields_table(resp->_pool, head);
    rv = rp_h1_response_framing(head, h->req->method, &resp->framing);
    if (rv != APR_SUCCESS) {
        h->why = resp->framing.error;
        return RP_EBAD_RESPONSE;
    }
    if (resp->framing.kind == RP_H1_BODY_NONE) {
        resp->_done = 1;
    }
    note_keep_alive(h->c, resp->headers);
    resp->_remaining = resp->framing.length;
    return APR_SUCCESS;
}

/* Read 1xx heads (to the interim callback) and then the final head. */
static apr_status_t read_head(head_ctx_t *h)
{
    rp_h1_field_t fields[RP_MAX_FIELDS];
    rp_h1_head_t head;
    rp_conn_t *c = h->c;
    apr_size_t last_len = 0;
    apr_ssize_t n;
    apr_status_t rv;

    for (;;) {
        memset(&head, 0, sizeof(head));
        head.fields = fields;
        head.max_fields = RP_MAX_FIELDS;
        n = RP_H1_INCOMPLETE;
        if (c->last > c->pos) {
            n = rp_h1_parse_response(c->buf + c->pos, c->last - c->pos,
                                     last_len, &head);
        }
        if (n == RP_H1_EBADMSG) {
            h->why = head.error;
            return RP_EBAD_RESPONSE;
        }
        if (n == RP_H1_INCOMPLETE) {
            last_len = c->last - c->pos;
            rv = fill_head(h);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            continue;
        }
        c->pos += (apr_size_t)n;
        last_len = 0;
        if (head.status == 101) {
            /* We never ask for an upgrade here, so a switch is a backend
             * speaking a protocol nobody agreed to. */
            h->why = "101 Switching Protocols without an upgrade request";
            return RP_EBAD_RESPONSE;
        }
        if (head.status == 407 && c->backend->opts.proxy &&
            !c->backend->opts.tls) {
            /* Only the upstream proxy sends 407: the request never reached
             * the backend, and the client has no business with it. */
            h->why = apr_psprintf(h->resp->_pool,
                                  "upstream proxy %s answered 407 (check the "
                                  "credentials of RProxyUpstreamProxy)",
                                  c->backend->opts.proxy->hostport);
            return RP_EBACKEND_UNREACHABLE;
        }
        if (head.status >= 200) {
            return take_head(h, &head);
        }
        if (head.status == 100 && h->want_continue) {
            h->got_continue = 1;
            return APR_SUCCESS;
        }
        if (++h->interim > RP_MAX_INTERIM) {
            h->why = "too many 1xx responses";
            return RP_EBAD_RESPONSE;
        }
        if (h->opts->interim_fn) {
            h->opts->interim_fn(h->opts->interim_baton, head.status,
                                fields_table(h->resp->_pool, &head));
        }
    }
}

/* After a head with "Expect: 100-continue": wait for the backend's verdict
 * (RFC 9110 section 10.1.1). *final is set when the backend answered with
 * a final response instead; then the body is never sent, and since the
 * backend could read it as the next request, the connection is not kept. */
static apr_status_t await_continue(head_ctx_t *h, int *final)
{
    apr_status_t rv;

    h->want_continue = 1;
    h->deadline = apr_time_now() + h->opts->expect_timeout;
    rv = read_head(h);
    h->want_continue = 0;
    *final = rv == APR_SUCCESS && !h->got_continue;
    if (*final) {
        h->resp->framing.keep_alive = 0;
    }
    if (rv == RP_EBACKEND_TIMEOUT) {
        rv = APR_SUCCESS; /* no verdict in time: send the body anyway */
    }
    return rv;
}

/* Write the request on c and read the response head. */
static apr_status_t exchange(head_ctx_t *h, const char *head, apr_size_t len,
                             int *client_side)
{
    rp_conn_t *c = h->c;
    const rp_request_t *req = h->req;
    struct iovec vec = {(void *)head, len};
    apr_status_t rv;

    c->io_timeout = h->opts->io_timeout;
    if (!c->tls) {
        apr_socket_timeout_set(c->sock, h->opts->io_timeout);
    }
    rv = send_all(c, &vec, 1);
    if (rv == APR_SUCCESS && req->body_length != 0 && req->expect_continue) {
        int final = 0;
        rv = await_continue(h, &final);
        if (rv != APR_SUCCESS || final) {
            return rv;
        }
    }
    if (rv == APR_SUCCESS && req->body_length != 0) {
        rv = send_body(c, req, h->replay, h->resp->_pool, h->resp->_ba,
                       client_side);
    }
    if (rv != APR_SUCCESS) {
        if (*client_side) {
            return rv;
        }
        h->why = apr_psprintf(h->resp->_pool, "sending the request: %pm", &rv);
        return RP_EBACKEND_UNREACHABLE;
    }
    h->deadline = apr_time_now() + h->opts->header_timeout;
    return read_head(h);
}

static apr_status_t response_cleanup(void *data)
{
    rp_response_t *resp = data;

    if (resp->_conn) {
        conn_close(resp->_conn);
        resp->_conn = NULL;
    }
    return APR_SUCCESS;
}

/* A failure on a reused connection before any response byte is the
 * keep-alive race: the backend closed it while our request was on the way.
 * Only then, and only for a request that is safe to send twice and whose
 * body (if any) was kept whole, retry. */
static int may_retry(const head_ctx_t *h, apr_status_t rv, int client_side)
{
    return may_send_twice(h->req) && !h->replay->overflow && !client_side &&
           h->c->reused && !h->got_bytes && rv == RP_EBACKEND_UNREACHABLE;
}

/* The request head; through an upstream proxy (not tunnelled) the target
 * is in absolute form and the proxy gets its credentials. */
static char *request_head(const rp_backend_t *be, const rp_request_t *req,
                          apr_pool_t *p, apr_size_t *len)
{
    const char *target = req->target;
    apr_table_t *h = req->headers;

    if (be->opts.proxy && !be->opts.tls) {
        target = apr_pstrcat(p, be->origin, req->target, NULL);
        if (be->opts.proxy_auth) {
            h = apr_table_copy(p, req->headers);
            apr_table_setn(h, "Proxy-Authorization", be->opts.proxy_auth);
        }
    }
    return rp_h1_request_head(p, req->method, target, h, len);
}

/* A connection for one attempt: a live idle one unless fresh is set, else
 * a new one once the backend has a free slot. Waits for a slot at most the
 * queue timeout: a request that cannot get a connection soon is better
 * answered 503 than left to pile up behind a saturated backend. */
static apr_status_t acquire(rp_backend_t *be, const rp_rt_opts_t *opts,
                            int fresh, rp_conn_t **out, const char **why,
                            apr_pool_t *p)
{
    apr_time_t deadline = apr_time_now() + be->opts.queue_timeout;
    apr_status_t rv;

    refresh_if_stale(be, p);
    for (;;) {
        if (!fresh && (*out = pool_take(be)) != NULL) {
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
                return RP_EPOOL_FULL;
            }
            apr_thread_cond_timedwait(be->slot_freed, be->t->mutex,
                                      deadline - now);
        }
        apr_thread_mutex_unlock(be->t->mutex);
    }
    rv = conn_dial(be, opts->connect_timeout, out, why, p);
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
        *why = apr_psprintf(p, "connect to %s failed: %pm", be->name, &rv);
        return RP_EBACKEND_UNREACHABLE;
    }
    return APR_SUCCESS;
}

apr_status_t rp_transport_round_trip(rp_transport_t *t, rp_backend_t *be,
                                     const rp_request_t *req,
                                     const rp_rt_opts_t *opts, apr_pool_t *p,
                                     apr_bucket_alloc_t *ba,
                                     rp_response_t **out, const char **why)
{
    replay_t replay = {apr_brigade_create(p, ba), 0, 0, 0};
    apr_size_t len;
    char *head = request_head(be, req, p, &len);
    int attempt, client_side = 0, retry;
    apr_status_t rv = APR_SUCCESS;
    head_ctx_t h;

    for (attempt = 0; attempt < 2; attempt++) {
        memset(&h, 0, sizeof(h));
        h.req = req;
        h.opts = opts;
        h.replay = &replay;
        h.resp = apr_pcalloc(p, sizeof(*h.resp));
        h.resp->_pool = p;
        h.resp->_ba = ba;
        rv = acquire(be, opts, attempt > 0, &h.c, why, p);
        if (rv != APR_SUCCESS) {
            apr_atomic_inc32(&t->stats.backend_errors);
            return rv;
        }
        if (h.c->reused) {
            apr_atomic_inc32(&t->stats.conns_reused);
        }
        h.resp->backend_addr = apr_pstrdup(p, h.c->addr);
        rv = exchange(&h, head, len, &client_side);
        if (rv == APR_SUCCESS) {
            h.c->nrequests++;
            h.resp->_conn = h.c;
            apr_pool_cleanup_register(p, h.resp, response_cleanup,
                                      apr_pool_cleanup_null);
            *out = h.resp;
            return APR_SUCCESS;
        }
        retry = may_retry(&h, rv, client_side);
        conn_close(h.c);
        if (!retry) {
            break;
        }
        apr_atomic_inc32(&t->stats.retries);
    }
    *why = h.why;
    if (client_side) {
        /* The body source speaks for the client: RP_ECLIENT_GONE or
         * RP_EBAD_REQUEST, anything else counts as a bad request. */
        return rv == RP_ECLIENT_GONE ? rv : RP_EBAD_REQUEST;
    }
    apr_atomic_inc32(&t->stats.backend_errors);
    return rv;
}

/* ---- the response body ------------------------------------------------ */

static apr_status_t keep_trailer(rp_response_t *resp, const char *data,
                                 apr_size_t len)
{
    if (resp->_trailer_len + len > resp->_trailer_cap) {
        apr_size_t cap = (resp->_trailer_len + len) * 2 + 256;
        char *nb = apr_palloc(resp->_pool, cap);
        if (resp->_trailer_len) {
            memcpy(nb, resp->_trailer_buf, resp->_trailer_len);
        }
        resp->_trailer_buf = nb;
        resp->_trailer_cap = cap;
    }
    memcpy(resp->_trailer_buf + resp->_trailer_len, data, len);
    resp->_trailer_len += len;
    return APR_SUCCESS;
}

static apr_status_t finish_trailers(rp_response_t *resp)
{
    rp_h1_field_t fields[RP_MAX_FIELDS];
    rp_h1_head_t head;

    if (!resp->_trailer_len) {
        return APR_SUCCESS;
    }
    memset(&head, 0, sizeof(head));
    head.fields = fields;
    head.max_fields = RP_MAX_FIELDS;
    if (rp_h1_parse_trailers(resp->_trailer_buf, resp->_trailer_len, &head) <
        0) {
        return RP_EBAD_RESPONSE;
    }
    resp->trailers = fields_table(resp->_pool, &head);
    return APR_SUCCESS;
}

/* Decode what is buffered; *emitted tells whether bb got data or the body
 * ended. The decoder is called even on an empty buffer: after the last
 * trailer span it reports DONE without consuming anything. */
static apr_status_t emit_chunked(rp_response_t *resp, apr_bucket_brigade *bb,
                                 int *emitted)
{
    rp_conn_t *c = resp->_conn;
    rp_h1_span_t span;
    apr_ssize_t n;

    while (!resp->_done) {
        const char *base = c->buf ? c->buf + c->pos : "";
        n = rp_h1_chunked_decode(&resp->_chunked, base, c->last - c->pos, &span,
                                 &resp->error);
        if (n < 0) {
            return RP_EBAD_RESPONSE;
        }
        if (span.kind == RP_H1_SPAN_DATA && span.len) {
            APR_BRIGADE_INSERT_TAIL(
                bb, span_bucket(c, c->pos + span.off, span.len));
            *emitted = 1;
        }
        else if (span.kind == RP_H1_SPAN_TRAILER) {
            keep_trailer(resp, base + span.off, span.len);
        }
        else if (span.kind == RP_H1_SPAN_DONE) {
            resp->_done = 1;
            *emitted = 1;
        }
        c->pos += (apr_size_t)n;
        if (n == 0 && span.kind == RP_H1_SPAN_NONE) {
            break; /* needs more bytes */
        }
    }
    if (resp->_done && finish_trailers(resp) != APR_SUCCESS) {
        resp->error = "bad trailer section";
        return RP_EBAD_RESPONSE;
    }
    return APR_SUCCESS;
}

static void emit_plain(rp_response_t *resp, apr_bucket_brigade *bb,
                       int *emitted)
{
    rp_conn_t *c = resp->_conn;
    apr_size_t n = c->last - c->pos;

    if (resp->framing.kind == RP_H1_BODY_LENGTH && n > resp->_remaining) {
        n = (apr_size_t)resp->_remaining;
    }
    if (n) {
        APR_BRIGADE_INSERT_TAIL(bb, span_bucket(c, c->pos, n));
        c->pos += n;
        *emitted = 1;
    }
    if (resp->framing.kind == RP_H1_BODY_LENGTH) {
        resp->_remaining -= n;
        if (resp->_remaining == 0) {
            resp->_done = 1;
            *emitted = 1;
        }
    }
}

apr_status_t rp_response_read(rp_response_t *resp, apr_bucket_brigade *bb,
                              apr_interval_time_t timeout, int *eos)
{
    rp_conn_t *c = resp->_conn;
    apr_status_t rv = APR_SUCCESS;
    int emitted = 0;

    while (!resp->_done) {
        if (!c) {
            return APR_EOF;
        }
        if (resp->framing.kind == RP_H1_BODY_CHUNKED) {
            rv = emit_chunked(resp, bb, &emitted);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        else if (c->pos < c->last) {
            emit_plain(resp, bb, &emitted);
        }
        if (emitted || resp->_done) {
            break;
        }
        rv = conn_fill(c, resp->_ba, timeout);
        if (rv == APR_EOF && resp->framing.kind == RP_H1_BODY_CLOSE) {
            resp->_done = 1;
            break;
        }
        if (rv != APR_SUCCESS) {
            if (rv == APR_EOF) {
                resp->error = "backend closed the connection before the "
                              "end of the body";
            }
            return rv;
        }
    }
    *eos = resp->_done;
    return APR_SUCCESS;
}

void rp_response_close(rp_response_t *resp)
{
    rp_conn_t *c = resp->_conn;

    if (!c) {
        return;
    }
    resp->_conn = NULL;
    apr_pool_cleanup_kill(resp->_pool, resp, response_cleanup);
    if (resp->_done && resp->framing.keep_alive) {
        pool_put(c);
    }
    else {
        conn_close(c);
    }
}
