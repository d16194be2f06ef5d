/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_transport.h: the HTTP/1.1 client side of the proxy: a keep-alive pool of
 * backend connections per process, dialing with a connect timeout, one
 * round trip (request head and streamed body out, response head in, with a
 * response-header deadline), body reading as bucket brigades, and the one
 * safe retry of an idempotent request on a connection the backend closed.
 *
 * Lifetimes:
 *   rp_transport_t: the pool given to rp_transport_create() (httpd: pchild);
 *                   its backends and its reaper thread live as long.
 *   rp_backend_t:   owned by the transport, process lifetime.
 *   rp_conn_t:      its own unmanaged pool, destroyed on close; between
 *                   exchanges it sits on its backend's idle list.
 *   rp_response_t:  the exchange pool given to rp_transport_round_trip();
 *                   it borrows its connection until rp_response_close().
 *
 * Threads: rp_transport_backend(), rp_transport_round_trip() and
 * rp_response_close() may be called from any thread; a response and its
 * connection are used by one thread at a time. */

#ifndef RP_TRANSPORT_H
#define RP_TRANSPORT_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_buckets.h>
#include <apr_thread_proc.h>
#include "rp_core.h"
#include "rp_url.h"
#include "rp_h1.h"
#include "rp_tls.h"
#include "rp_fault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_transport_t rp_transport_t;
typedef struct rp_backend_t rp_backend_t;
typedef struct rp_conn_t rp_conn_t;

/* Counters of one process, read with rp_transport_stats(). */
typedef struct rp_transport_stats_t {
    apr_uint32_t conns_opened;   /* connections dialed */
    apr_uint32_t conns_reused;   /* round trips on a pooled connection */
    apr_uint32_t conns_idle;     /* now on idle lists */
    apr_uint32_t retries;        /* retries after a stale pooled connection */
    apr_uint32_t client_aborts;  /* exchanges ended by the client leaving */
    apr_uint32_t backend_errors; /* exchanges that failed at the backend */
    apr_uint32_t drained;        /* rests the reaper read to their end */
    apr_uint32_t draining;       /* with the reaper now */
} rp_transport_stats_t;

/* Start a thread with every signal blocked: the host's signal handlers may
 * tear down pools (httpd's child does on SIGTERM) and must never run on a
 * thread of ours. A thread inherits its creator's mask, so the mask is set
 * around the creation. Arguments as apr_thread_create(). */
apr_status_t rp_thread_start(apr_thread_t **thd, apr_thread_start_t fn,
                             void *data, apr_pool_t *p);

/* Create the transport in pool p (process lifetime). max_idle bounds each
 * backend's idle list (httpd: the MPM's threads per child). Starts the
 * reaper thread that closes idle connections past their idle timeout; the
 * thread is stopped and every idle connection closed when p is cleared. */
apr_status_t rp_transport_create(apr_pool_t *p, apr_size_t max_idle,
                                 rp_transport_t **t);

/* Limits of one backend's connections in this process. */
typedef struct rp_backend_opts_t {
    apr_interval_time_t idle_timeout;  /* close idle connections after */
    apr_size_t max_idle;               /* 0: the transport's max_idle */
    apr_size_t max_conns;              /* in use + idle + dialing; 0: none */
    apr_interval_time_t queue_timeout; /* wait for a free slot, then 503 */
    apr_uint32_t max_requests;         /* per connection; 0: no limit */
    apr_interval_time_t max_age;       /* per connection; 0: no limit */
    apr_interval_time_t dns_ttl;       /* re-resolve after; 0: every dial */
    rp_tls_ctx_t *tls; /* borrowed: https backends' context; else NULL */
    apr_interval_time_t tls_timeout; /* TLS handshake */
    int connect_retries;    /* refused connects tried again, 50 ms apart
                             * times the attempt */
    const rp_url_t *proxy;  /* borrowed: upstream HTTP proxy, or NULL */
    const char *proxy_auth; /* borrowed: Proxy-Authorization value, or NULL */
} rp_backend_opts_t;

/* The backend for target (scheme, host, port, TLS context and upstream
 * proxy: routes with different TLS or proxy settings never share
 * connections), created on first use
 * with opts; later callers get the same backend whatever their opts. */
rp_backend_t *rp_transport_backend(rp_transport_t *t, const rp_url_t *target,
                                   const rp_backend_opts_t *opts);

/* rp_transport_backend() through a cache slot of the caller's (one per
 * route, say; zero-filled before first use, and read and written from any
 * thread): when *slot holds the backend for the same target and key opts,
 * it is returned without a lock or a lookup; else the backend is looked up
 * and stored in *slot. */
rp_backend_t *rp_transport_backend_cached(rp_transport_t *t,
                                          const rp_url_t *target,
                                          const rp_backend_opts_t *opts,
                                          rp_backend_t **slot);

void rp_transport_stats(rp_transport_t *t, rp_transport_stats_t *st);

/* One backend's connections in this process now: idle ones, and the others
 * (in use or dialing). For status pages; any thread. */
void rp_backend_counts(rp_backend_t *be, apr_size_t *idle, apr_size_t *busy);

/* Where the transport reports what concerns no single request (a failed
 * DNS refresh); msg starts with its RPLOGNO. Called from any thread. */
typedef void (*rp_log_fn)(void *baton, int level, const char *msg);
void rp_transport_set_log(rp_transport_t *t, rp_log_fn fn, void *baton);

/* The local addresses new TCP connections are made from (Go's
 * Dialer.LocalAddr, mod_proxy's ProxySourceAddress): v4 for IPv4
 * destinations, v6 for IPv6 ones, each an address literal or NULL (the
 * kernel chooses). Copied. Call before the first round trip. */
void rp_transport_set_source(rp_transport_t *t, const char *v4, const char *v6);
void rp_transport_count_client_abort(rp_transport_t *t);

/* Pulls the client's request body: appends data buckets to bb (which stays
 * the caller's) and sets *eos after the last byte. */
typedef apr_status_t (*rp_body_source_fn)(void *baton, apr_bucket_brigade *bb,
                                          int *eos);

/* Called for each 1xx response (other than 101) before the final one. */
typedef void (*rp_interim_fn)(void *baton, int status, apr_table_t *headers);

/* One outgoing request. */
typedef struct rp_request_t {
    const char *method;    /* borrowed */
    const char *target;    /* borrowed: origin-form, "/path?query" */
    apr_table_t *headers;  /* borrowed: final and validated, framing included */
    apr_off_t body_length; /* 0: no body; > 0: Content-Length; -1: chunked */
    rp_body_source_fn body_fn; /* required when body_length != 0 */
    void *body_baton;
    const char *upgrade;        /* borrowed: protocol asked for with Upgrade
                                 * (a 101 must switch to it), or NULL */
    unsigned expect_continue:1; /* headers carry "Expect: 100-continue":
                                 * wait for 100 before sending the body */
    /* borrowed: trailer fields for the last chunk of a chunked body,
     * filtered and validated; body_fn may set it up to the call that
     * reports eos. NULL: none. */
    apr_table_t *trailers;
} rp_request_t;

typedef struct rp_rt_opts_t {
    apr_interval_time_t connect_timeout;
    apr_interval_time_t header_timeout; /* request written -> head read */
    apr_interval_time_t io_timeout;     /* each body read or write */
    apr_interval_time_t expect_timeout; /* wait for 100 Continue, then
                                         * send the body anyway */
    apr_size_t max_head;                /* response head limit in bytes, 1xx
                                         * heads each; 0: RP_H1_DEFAULT_MAX_HEAD */
    rp_interim_fn interim_fn;           /* may be NULL */
    void *interim_baton;
    const char **peer; /* may be NULL: set to "ip:port" (in the exchange
                        * pool) once a connection is taken, so that a
                        * failure can name the address that failed */
} rp_rt_opts_t;

/* A response whose head has been read. status/reason/headers may be changed
 * by the modify-response hook; the rest is the transport's. */
typedef struct rp_response_t {
    int status;
    int minor_version;     /* HTTP/1.x of the status line: 0 or 1 */
    const char *reason;    /* pool string, may be "" */
    apr_table_t *headers;  /* as received, hop-by-hop not yet removed */
    apr_table_t *trailers; /* filled when a chunked body ends; or NULL */
    rp_h1_framing_t framing;
    const char *backend_addr; /* "ip:port" of the peer, for logs */
    const char *error;        /* naming a body fault, or NULL: static text
                               * or a string in _pool */
    /* > 0: the caller passes body bytes on without flushing each part, so
     * while more than 64 KiB of a Content-Length body are to come on a
     * plain connection, a read waits for up to 128 KiB at once (the
     * socket's SO_RCVLOWAT) instead of waking for every segment: fewer
     * wake-ups, reads and passes. It waits so at most this long; what came
     * by then is returned, and if nothing came the rest of the body is read
     * as it arrives. 0 (the default): every read returns what is there. */
    apr_interval_time_t gather;
    /* the transport's own */
    rp_conn_t *_conn;        /* borrowed from the pool until close */
    apr_pool_t *_pool;       /* borrowed: exchange pool */
    apr_bucket_alloc_t *_ba; /* borrowed: exchange allocator */
    apr_uint64_t _remaining; /* RP_H1_BODY_LENGTH: bytes left */
    apr_size_t _batch;       /* body bytes given out by this read call */
    apr_status_t _deferred;  /* a read failure to report on the next call */
    rp_h1_chunked_t _chunked;
    char *_trailer_buf; /* collected raw trailer bytes */
    apr_size_t _trailer_len;
    apr_size_t _trailer_cap;
    int _pipe[2];           /* rp_response_splice()'s pipe: read, write */
    apr_size_t _pipe_cap;   /* its capacity; 0: no pipe (yet) */
    apr_size_t _in_pipe;    /* body bytes in it, not yet written out */
    unsigned _done:1;       /* body complete */
    unsigned _gather_off:1; /* a gathering wait saw nothing: no more */
} rp_response_t;

/* Send req to backend be and read the final response head (1xx answers go
 * to opts->interim_fn). Takes a pooled connection when a live one exists.
 * When that connection turns out to be closed by the backend before any
 * response byte, the request is sent once more on a fresh connection if it
 * is safe to send twice: an idempotent method (GET, HEAD, OPTIONS, TRACE,
 * PUT, DELETE) or an Idempotency-Key / X-Idempotency-Key field, and a body
 * of at most 64 KiB (kept while it is sent, to be sent again).
 *
 * Returns APR_SUCCESS with *resp set, or: RP_EBACKEND_UNREACHABLE (connect
 * failed, or the connection broke before a response byte), RP_EBACKEND_TIMEOUT
 * (no head within header_timeout), RP_EBAD_RESPONSE (*why set),
 * RP_ECLIENT_GONE (reading the client's body failed because it left),
 * RP_EBAD_REQUEST (the client's body could not be read). On error no
 * connection is left borrowed. p and ba are the exchange's. On a backend
 * failure *fault says precisely what it was (rp_fault.h); it is left alone
 * on success and on the client's failures. */
apr_status_t rp_transport_round_trip(rp_transport_t *t, rp_backend_t *be,
                                     const rp_request_t *req,
                                     const rp_rt_opts_t *opts, apr_pool_t *p,
                                     apr_bucket_alloc_t *ba,
                                     rp_response_t **resp, const char **why,
                                     rp_fault_t *fault);

/* Read what the backend has of the body, waiting at most timeout for it, and
 * append it to bb (the caller's) as heap buckets; no copy is made of body
 * bytes. Sets *eos once the body is complete (trailers are then in
 * resp->trailers). Returns APR_TIMEUP when nothing came within timeout (the
 * response stays usable), RP_EBAD_RESPONSE on bad framing, another error
 * when the connection broke (APR_EOF when it closed early). */
apr_status_t rp_response_read(rp_response_t *resp, apr_bucket_brigade *bb,
                              apr_interval_time_t timeout, int *eos);

/* Can the rest of the body be moved by rp_response_splice()? A
 * Content-Length body on a plain connection (TCP or Unix domain), at least
 * min bytes still to come, nothing of it buffered (a read has just taken
 * all that was), on a system with splice(). */
int rp_response_can_splice(const rp_response_t *resp, apr_uint64_t min);

/* Move what the backend has of the body, waiting at most timeout for it,
 * straight to the socket out, through a pipe in the kernel (splice()):
 * the bytes are never copied to or from user space. out gets all of them
 * before the call returns; it may take out_timeout for each part. *moved:
 * the bytes out took. Sets *eos once the body is complete. Returns
 * APR_TIMEUP when nothing came within timeout, RP_EBAD_RESPONSE or a read
 * error as rp_response_read() (APR_EOF: the backend closed early),
 * RP_ECLIENT_GONE when out failed or took nothing for out_timeout (what the
 * pipe held is lost), APR_ENOTIMPL when no pipe could be made (nothing was
 * read: rp_response_read() goes on). Gathers as rp_response_read() does
 * (resp->gather). */
apr_status_t rp_response_splice(rp_response_t *resp, apr_socket_t *out,
                                apr_interval_time_t timeout,
                                apr_interval_time_t out_timeout,
                                apr_size_t *moved, int *eos);

/* The body's reader is gone (the client left): read the rest of the body
 * and drop it, so that rp_response_close() can keep the connection, when
 * that is cheap: at most max bytes (a longer Content-Length is not read
 * at all), all within wait. What has not come by then, of a Content-Length
 * or chunked body (plain or TLS), the transport's reaper thread
 * reads and drops for up to RP_DRAIN_TIME more (rp_pool_drain), then pools
 * the connection: the caller is not kept waiting for a slow rest. Returns 1
 * when the body was read to its end or handed over so; the response is
 * then done with its connection. Not for bodies that end with the
 * connection: those cannot be kept. */
int rp_response_discard(rp_response_t *resp, apr_uint64_t max,
                        apr_interval_time_t wait);

/* Give the connection back: to the idle list when the body was read to its
 * end and the connection may be kept alive, else closed. Idempotent. */
void rp_response_close(rp_response_t *resp);

/* After a 101: the connection as a raw byte stream for a tunnel. */
apr_socket_t *rp_response_socket(rp_response_t *resp);
/* Append what the backend has sent (buffered bytes first) to bb without
 * waiting: APR_SUCCESS with data, APR_EAGAIN when there is none, APR_EOF
 * when the backend closed. */
apr_status_t rp_response_read_raw(rp_response_t *resp, apr_bucket_brigade *bb);
/* Write bb's data to the backend (within the I/O timeout); bb is emptied. */
apr_status_t rp_response_write_raw(rp_response_t *resp, apr_bucket_brigade *bb);
/* Tell the backend nothing more will come (half-close). */
void rp_response_shutdown_write(rp_response_t *resp);

#ifdef __cplusplus
}
#endif
#endif /* RP_TRANSPORT_H */
