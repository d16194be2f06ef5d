/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_proxy.h: one proxied exchange, from the client's request to the last
 * byte of the backend's response:
 *
 *   prepare (hop-by-hop, X-Forwarded-*, Host, target join)
 *     -> rewrite hook -> round trip -> modify-response hook
 *     -> head to the client -> body copied with the flush policy -> trailers
 *   any failure -> error hook (default: 400/502/504 and a log line)
 *
 * The host (httpd, or the unit tests) plugs in through a "front": a table of
 * operations on the client side of the exchange.
 *
 * Lifetimes: rp_exchange_t and everything it points to that it allocates
 * live in ex->pool (httpd: r->pool). Configuration, target, transport and
 * hooks are borrowed and outlive the exchange. */

#ifndef RP_PROXY_H
#define RP_PROXY_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_buckets.h>
#include <apr_poll.h>
#include "rp_core.h"
#include "rp_conf.h"
#include "rp_url.h"
#include "rp_headers.h"
#include "rp_transport.h"
#include "rp_balancer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_exchange_t rp_exchange_t;

/* The client side of an exchange. Every brigade passed in stays the
 * caller's and is empty on return. Every operation returns RP_ECLIENT_GONE
 * once the client has left. */
typedef struct rp_front_ops_t {
    /* Append the next part of the client's request body to bb; set *eos
     * after the last byte. RP_EBAD_REQUEST when the body is malformed. */
    apr_status_t (*read_body)(void *ctx, apr_bucket_brigade *bb, int *eos);
    /* Send an interim 1xx response. */
    apr_status_t (*send_interim)(void *ctx, int status, apr_table_t *headers);
    /* Start the final response; headers are already filtered. */
    apr_status_t (*send_head)(void *ctx, int status, const char *reason,
                              apr_table_t *headers);
    /* Pass bb's data on towards the client, followed by a flush when
     * flush is set. */
    apr_status_t (*send_body)(void *ctx, apr_bucket_brigade *bb, int flush);
    /* End the response: bb's data (the body's last part, possibly none)
     * goes with the end of the response, and trailers when not NULL. */
    apr_status_t (*finish)(void *ctx, apr_bucket_brigade *bb,
                           apr_table_t *trailers);
    /* The backend failed after the head was sent: end the response so that
     * the client cannot take it for complete (no final chunk, connection
     * closed). */
    void (*abort)(void *ctx);
    /* Tunnels (after a 101): the client connection as a byte stream. The
     * socket is for polling only; client_read reads without waiting
     * (APR_EAGAIN: nothing yet, APR_EOF: closed), client_write writes and
     * flushes. end_tunnel makes sure nothing else is written to the
     * connection afterwards and that it is closed. */
    apr_socket_t *(*client_socket)(void *ctx);
    /* The client connection's input as a pollable descriptor (desc_type
     * and desc filled; APR_NO_DESC: input already closed), when it is not
     * (only) a socket: an HTTP/2 stream's pipe. NULL op, or a failure:
     * client_socket is polled. */
    apr_status_t (*client_pollfd)(void *ctx, apr_pollfd_t *pfd);
    apr_status_t (*client_read)(void *ctx, apr_bucket_brigade *bb);
    apr_status_t (*client_write)(void *ctx, apr_bucket_brigade *bb);
    void (*end_tunnel)(void *ctx);
    /* Can the client receive response trailers? NULL means yes. */
    int (*trailers_ok)(void *ctx);
    /* Write one log line; msg starts with its RPLOGNO. */
    void (*log)(void *ctx, int level, apr_status_t rv, const char *msg);
    /* Called once read_body has reported eos of a chunked body: the
     * trailer fields that ended it, or NULL. The table stays the host's;
     * the core forwards what its trailer policy allows. NULL op: none. */
    apr_table_t *(*request_trailers)(void *ctx);
    /* Direct writes of the body (rp_response_splice()): after what was
     * passed so far has reached the client's socket, that socket, with how
     * long a write to it may wait (*timeout). APR_ENOTIMPL when the body
     * must go through the host (its filters change or count it, the
     * connection is not a plain socket, ...), RP_ECLIENT_GONE when the
     * client left. NULL op: never. */
    apr_status_t (*direct_socket)(void *ctx, apr_socket_t **sock,
                                  apr_interval_time_t *timeout);
    /* Bytes written to the direct socket (for the host's counts); failed:
     * the write failed, the client is gone. */
    void (*direct_sent)(void *ctx, apr_off_t bytes, int failed);
    /* Is the host process stopping (restart or stop, graceful or not)?
     * Open tunnels then end within RP_TUNNEL_STOP_CHECK. NULL means never. */
    int (*stopping)(void *ctx);
} rp_front_ops_t;

typedef struct rp_front_t {
    const rp_front_ops_t *ops; /* borrowed: static table */
    void *ctx;                 /* borrowed: the host's per-request state */
} rp_front_t;

/* Hooks for module authors, Go's Rewrite / ModifyResponse / ErrorHandler.
 * Each may be NULL. */
typedef struct rp_hooks_t {
    /* Edit ex->out (method, target, headers) after the default rewrite and
     * hop-by-hop removal, so any header may be added. A non-success return
     * goes to the error hook. */
    apr_status_t (*rewrite)(rp_exchange_t *ex, void *baton);
    /* Edit ex->resp status, reason and headers before the head is sent. */
    apr_status_t (*modify_response)(rp_exchange_t *ex, void *baton);
    /* Decide the status for a failure (err is an rp_ code). Return an HTTP
     * status for the host to answer with, or 0 when the hook sent a
     * response itself through the front. */
    int (*error)(rp_exchange_t *ex, apr_status_t err, void *baton);
    void *baton;
} rp_hooks_t;

struct rp_exchange_t {
    apr_pool_t *pool;       /* borrowed: request pool */
    apr_bucket_alloc_t *ba; /* borrowed: the client connection's */
    rp_front_t front;
    const rp_conf_t *conf;     /* borrowed: merged configuration */
    const rp_url_t *target;    /* borrowed: configuration pool */
    rp_tls_ctx_t *tls;         /* borrowed: an https target's TLS context */
    rp_transport_t *transport; /* borrowed: process lifetime */
    const rp_hooks_t *hooks;   /* borrowed; may be NULL */
    /* borrowed: the host's cache of the target's backend (one slot per
     * route, process lifetime), or NULL; see rp_transport_backend_cached */
    rp_backend_t **backend_slot;
    /* borrowed: the route's balancer (configuration), or NULL. With one,
     * target gives only the path and query; rp_proxy_run() chooses a
     * member and replaces target, tls and backend_slot with the member's
     * (see "Balancers" in rp_proxy.c). */
    rp_balancer_t *balancer;

    /* The client's request, set by the host before rp_proxy_run(). */
    const char *method;
    const char *path;        /* raw (still percent-encoded) remainder */
    const char *query;       /* raw, without '?'; NULL when none */
    apr_table_t *in_headers; /* borrowed: the client's fields */
    rp_fwd_info_t fwd;
    apr_off_t body_length; /* 0 none, > 0 Content-Length, -1 chunked */
    /* The route's path prefix that path was cut from, as configured ("" or
     * NULL: none): the backend's URLs in the response map back under it
     * (RProxyRewriteLocation), with fwd.proto and fwd.host. */
    const char *prefix;

    /* The outgoing request: built by rp_proxy_run(), editable by rewrite. */
    rp_request_t out;
    /* The response once its head arrived; NULL before. */
    rp_response_t *resp;

    /* Outcome, for logs and the host. */
    int status;                       /* status sent or to send */
    apr_status_t error;               /* rp_ code of a failure, or 0 */
    const char *error_detail;         /* fault text for the log, or NULL */
    const char *backend_addr;         /* "ip:port" once connected */
    apr_interval_time_t backend_time; /* request sent -> body done */
    apr_off_t body_bytes;             /* response body bytes passed on */
    unsigned head_sent:1;             /* the response has started */
    /* RProxyErrorOverride took the backend's answer (status, its body
     * read and dropped): the host answers status with its own error page,
     * adding override_fields, the backend's fields that page needs
     * (WWW-Authenticate, Allow, Retry-After; in pool). */
    unsigned overridden:1;
    apr_table_t *override_fields;
    /* What exactly failed (rp_fault.h), set with error; the error hook
     * sees it. */
    rp_fault_t fault;

    /* Balancer state of this exchange (rp_proxy.c's own). */
    const rp_url_t *route_target; /* borrowed: the balancer:// target */
    int member;                   /* index of the member in use (lb_active) */
    int attempts;                 /* members tried so far */
    apr_uint64_t tried;           /* bit i: member i was tried */
    rp_lb_outcome_t lb_outcome;   /* what to report when it ends */
    apr_interval_time_t lb_head;  /* request sent -> response head */
    const char *sticky_id;        /* borrowed: the client's sticky id */
    unsigned stuck:1;             /* the sticky id chose the member */
    unsigned lb_active:1;         /* member started, not yet done */
    unsigned body_pulled:1;       /* the client's body began to be sent */
};

/* From the rewrite hook only: send the request to origin (scheme, host and
 * port; its path and query are ignored) instead of the route's backend,
 * as Go's ProxyRequest.SetURL does. tls is the context for an https
 * origin. The Host field follows the new origin when it named the old one
 * (so not with RProxyPreserveHost, nor when the hook set its own). On a
 * balancer route the member chosen is released, its outcome not counted,
 * and the request no longer moves to another member. */
void rp_proxy_set_origin(rp_exchange_t *ex, const rp_url_t *origin,
                         rp_tls_ctx_t *tls);

/* Run the exchange. Returns APR_SUCCESS when a response (backend's or
 * error hook's own) was completed, RP_ECLIENT_GONE when the client left
 * (quietly: the backend connection is closed, the abort counted), or
 * another rp_ code with ex->status set to the HTTP status the host must
 * answer with (the head was not sent), after the error hook ran. */
apr_status_t rp_proxy_run(rp_exchange_t *ex);

/* The status the default error policy gives err: 400 for RP_EBAD_REQUEST,
 * 503 for RP_EPOOL_FULL and RP_ENO_MEMBER, 504 for RP_EBACKEND_TIMEOUT, 502
 * otherwise. */
int rp_proxy_error_status(apr_status_t err);

#ifdef __cplusplus
}
#endif
#endif /* RP_PROXY_H */
