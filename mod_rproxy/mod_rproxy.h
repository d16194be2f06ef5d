/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* mod_rproxy.h: what the adapter's files share (not installed).
 *
 * Lifetimes: rpx_req_t lives in r->pool; the transport in the child
 * process pool. */

#ifndef MOD_RPROXY_H
#define MOD_RPROXY_H

#include "httpd.h"
#include "http_config.h"
#include "rp_proxy.h"
#include "config.h"

extern module AP_MODULE_DECLARE_DATA rproxy_module;

#define RPX_HANDLER "rproxy"

/* Per-request state, in r->request_config. */
typedef struct rpx_req_t {
    const char *raw_path;     /* borrowed: r->uri before decoding */
    const rpx_route_t *route; /* borrowed: server route that matched */
    const char *remainder;    /* raw path below the route's prefix */
    /* X-Forwarded-For (fields joined) before and after the other
     * post_read_request hooks, when the client sent one (mod_rproxy.c) */
    const char *xff_first; /* borrowed: r->pool */
    const char *xff_last;  /* borrowed: r->pool; NULL: none left */
    unsigned xff_seen:1;   /* the client sent X-Forwarded-For */
    /* mod_rewrite (rewrite.c) */
    const char *translate_uri; /* borrowed: decoded r->uri as translate_name
                                * began, before any rule ran */
    unsigned after_rewrite:1;  /* route matched on a rewritten path */
    unsigned kept_2f:1;        /* httpd left "%2F" encoded in r->uri
                                * (AllowEncodedSlashes NoDecode) */
} rpx_req_t;

/* The httpd side of an exchange (front.c). */
typedef struct rpx_front_t {
    request_rec *r;         /* borrowed */
    apr_bucket_brigade *bb; /* owned: scratch for reading the client body */
    int hook_status;        /* a hook's refusal status, or 0 */
    unsigned ended:1;       /* EOS (or the abort) was passed */
    unsigned replaced:1;    /* the body broke before the head reached the
                             * client: the handler answers 502 instead */
    unsigned answered:1;    /* httpd's HTTP_IN refused the client's body
                             * and sent its own error response */
    unsigned too_large:1;   /* the body went over body_limit */
    unsigned h2_eos_seen:1; /* an HTTP/2 stream's tunnel: the EOS that
                             * ends the upgrade request came */
    apr_off_t body_limit;   /* LimitRequestBody; 0: none */
    apr_off_t body_read;    /* client body bytes read so far */
} rpx_front_t;

extern const rp_front_ops_t rpx_front_ops;
/* post_config: mod_logio's byte count, for direct writes (front.c). */
void rpx_front_post_config(void);

/* The core's hooks, running the optional hooks of mod_rproxy_hooks.h. */
extern const rp_hooks_t rpx_hooks;

/* post_config: note which optional hooks have registrants (hooks.c). */
void rpx_hooks_post_config(void);
/* mod_rewrite integration (rewrite.c). */
#define RPX_TARGET_ENV "rproxy-target"
/* Handler without a route: the backend a rule named in RPX_TARGET_ENV.
 * Fills route (target and TLS context), *path and *query (raw, as sent)
 * and returns OK, or logs why and returns 500. */
int rpx_rule_route(request_rec *r, rpx_route_t *route, const char **path,
                   const char **query);
/* translate_name, before mod_rewrite: remember the decoded path. */
int rpx_translate_first(request_rec *r);
/* The decoded r->uri when a translate_name hook (a RewriteRule) changed
 * it, else NULL. */
const char *rpx_rewritten_uri(request_rec *r, const rpx_req_t *rq);
/* The part of the decoded uri below prefix (all of it when it does not
 * match), encoded once for the backend. */
const char *rpx_rewritten_rest(request_rec *r, const rpx_req_t *rq,
                               const char *uri, const char *prefix);
/* post_config: the TLS context of each server's https rule targets. */
int rpx_make_rule_tls(apr_pool_t *pconf, server_rec *s);
/* The TLS context for an https backend chosen per request (a rule's
 * target, a rewrite hook's backend): the server's RProxyTLS* settings.
 * NULL, after logging why once, when it cannot be made. */
rp_tls_ctx_t *rpx_origin_tls(request_rec *r);
/* child_init: the lock and pool of the contexts made on first use. */
apr_status_t rpx_rule_tls_child_init(apr_pool_t *pchild);

/* child_init: the balancers' health checker thread (health.c). */
void rpx_health_child_init(apr_pool_t *pchild, server_rec *s);
/* The rproxy-status handler and the mod_status section (status.c). The
 * per-process transport is where pool sizes come from. */
#define RPX_STATUS_HANDLER "rproxy-status"
int rpx_status_handler(request_rec *r);
void rpx_status_register_hooks(apr_pool_t *p);
rp_transport_t *rpx_current_transport(void);
/* RProxyStatusStateFile: apply the saved operator state in post_config
 * (after the balancers' shared state is mapped); its path for dump.c. */
const char *rpx_status_state_path(apr_pool_t *pconf);
int rpx_status_state_load(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* test_config hook: print routes and effective settings (dump.c). */
void rpx_dump_config(apr_pool_t *p, server_rec *s);

#endif /* MOD_RPROXY_H */
