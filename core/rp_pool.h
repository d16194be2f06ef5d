/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_pool.h: what rp_pool.c (connections, their pool, the reaper, DNS,
 * dialing through proxies and TLS) and rp_transport.c (one round trip on a
 * connection) share. Internal to core/: not installed, not for the adapter.
 *
 * Lifetimes:
 *   rp_transport_t: the pool given to rp_transport_create() (httpd: pchild).
 *   rp_backend_t:   owned by the transport, process lifetime.
 *   rp_conn_t:      its own unmanaged pool, destroyed by rp_conn_close();
 *                   between exchanges it sits on its backend's idle list.
 * Locking: the transport's mutex guards the backend table, the idle lists,
 * the connection counts and the DNS answers; a connection off the idle list
 * belongs to one thread. */

#ifndef RP_POOL_H
#define RP_POOL_H

#include <apr_buckets.h>
#include <apr_hash.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "rp_transport.h"

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
    apr_bucket *hb;      /* owned: heap bucket over buf, or NULL */
    apr_uint64_t expect; /* bytes the message still needs; 0 unknown */
    apr_interval_time_t sock_timeout; /* last set on sock; -1 unknown */
    unsigned full:1;                  /* the last read filled all the room */
    int lowat; /* SO_RCVLOWAT set on sock; 1 (the default) when pooled */
    apr_time_t created;     /* when it was dialed */
    apr_time_t idle_since;  /* when it went on the idle list */
    apr_time_t retire_at;   /* before the backend's Keep-Alive timeout; 0 */
    long ka_timeout;        /* Keep-Alive timeout=, seconds; -1 unknown */
    long ka_max;            /* Keep-Alive max=, requests left; -1 unknown */
    apr_uint32_t nrequests; /* round trips carried */
    unsigned reused:1;      /* taken from the idle list for this exchange */
    /* Being drained by the reaper (rp_pool_drain), under the reaper
     * alone: the bytes still to read and drop (a chunked rest: the most it
     * may still take), until when, and for a chunked rest its decoder. */
    apr_uint64_t drain_left;
    apr_time_t drain_until;
    rp_h1_chunked_t drain_dec;
    unsigned drain_chunked:1;
    unsigned drain_fresh:1; /* TLS, not read by the reaper yet: read it
                             * before any wait (its record layer may hold
                             * bytes that poll() cannot see) */
};

struct rp_backend_t {
    const char *key;    /* "scheme://host:port[#tls...]", transport pool */
    const char *name;   /* "scheme://host:port" for logs, transport pool */
    const char *host;   /* transport pool */
    const char *scheme; /* transport pool */
    apr_port_t port;
    const char *authority; /* "host:port" ([v6]:port) for CONNECT */
    const char *origin;    /* "scheme://hostport" for absolute-form */
    const char *socket;    /* Unix domain socket's path, or NULL (TCP) */
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
    char good_ip[64];     /* under mutex: the address the last successful
                           * dial reached, tried first ("" none) */
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
    const char *source4, *source6; /* local addresses to bind, or NULL */
    rp_conn_t *draining;           /* handed to the reaper; under mutex */
    int ndraining;                 /* draining, listed or in the reaper's
                                    * hands; under mutex */
    rp_transport_stats_t stats;    /* atomics */
};

/* Drop the read buffer (the heap bucket over it); the block itself lives
 * on while buckets handed out still point into it. */
void rp_conn_drop_buffer(rp_conn_t *c);

/* Close the connection (close_notify first on TLS) and free its slot. */
void rp_conn_close(rp_conn_t *c);

/* Back to the idle list when every guard allows it, else closed. The
 * caller has read the response to its end and keep-alive allowed it. */
void rp_pool_put(rp_conn_t *c);

/* The rest of a response body on c is read and dropped by the reaper
 * thread (within RP_DRAIN_TIME), and c then goes to the idle list as
 * rp_pool_put() allows; c is the reaper's from here on. With dec NULL the
 * rest is left bytes of a Content-Length body; otherwise it is the rest
 * of a chunked body, read by a copy of *dec (the decoder where the
 * response left it), at most left bytes of it. Any byte after the end
 * (over TLS, also one the record layer took in with the last bytes), a
 * decoding error or a longer rest closes c instead. A connection the
 * reaper cannot take (RP_DRAIN_CONNS already draining, or the transport
 * stopping) is closed. The caller has dropped c's buffer: the reaper
 * reads into its own. */
#define RP_DRAIN_TIME apr_time_from_sec(1)
#define RP_DRAIN_CONNS 64
void rp_pool_drain(rp_conn_t *c, apr_uint64_t left, const rp_h1_chunked_t *dec);

/* A connection for one attempt: a live pooled one (after the readability
 * check of pool_take) unless fresh is set, else
 * a new one once a slot is free (RP_EPOOL_FULL after the queue timeout);
 * RP_EBACKEND_UNREACHABLE or RP_ETLS with *why (in p) when dialing fails.
 * On failure *fault names it: DNS, refused, timed out, TLS, certificate. */
apr_status_t rp_pool_acquire(rp_backend_t *be, const rp_rt_opts_t *opts,
                             int fresh, rp_conn_t **out, const char **why,
                             rp_fault_t *fault, apr_pool_t *p);

#endif /* RP_POOL_H */
