/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* mod_rproxy_hooks.h: hooks other modules register to shape what
 * mod_rproxy forwards (installed with the module).
 *
 * They are APR optional hooks: register them from your module's
 * register_hooks whether or not mod_rproxy is loaded, e.g.
 *
 *   static int my_rewrite(request_rec *r, rproxy_request_t *out)
 *   {
 *       apr_table_setn(out->headers, "X-Tenant", "blue");
 *       return OK;
 *   }
 *   ...
 *   APR_OPTIONAL_HOOK(rproxy, rproxy_rewrite, my_rewrite, NULL, NULL,
 *                     APR_HOOK_MIDDLE);
 *
 * Every hook runs for each proxied request in the request's thread;
 * everything it allocates belongs in r->pool. A hook returns OK or
 * DECLINED to let the exchange go on; rewrite and modify_response may
 * return an HTTP error status (400-599) to stop it: the client then gets
 * that status (after the error hook), and the reason is logged. */

#ifndef MOD_RPROXY_HOOKS_H
#define MOD_RPROXY_HOOKS_H

#include "httpd.h"
#include "apr_hooks.h"
#include "apr_optional_hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RPROXY_DECLARE(type) type
#define RPROXY_DECLARE_NONSTD(type) type
#define RPROXY_DECLARE_DATA

/* The request about to go to the backend. Hop-by-hop fields are already
 * removed and X-Forwarded-* added, so a hook may set any field; framing
 * fields (Content-Length, Transfer-Encoding) are set after the hooks and
 * cannot be changed. */
typedef struct rproxy_request_t {
    const char *method;   /* may be replaced (a string in r->pool) */
    const char *target;   /* origin-form "/path?query"; may be replaced */
    apr_table_t *headers; /* the outgoing fields; edit in place */
    /* "scheme://host[:port]" of the backend the request goes to, with
     * "unix:/path|" before it for one on a Unix domain socket; a hook
     * may point it at another one (Go's SetURL), a string in r->pool of
     * the same form ("http://" or "https://", no path, no query). Host
     * follows unless RProxyPreserveHost kept the client's or a hook set
     * its own; on a balancer route the request then leaves the balancer
     * (no failover, no sticky cookie). An https backend uses the server's
     * RProxyTLS* settings. A malformed value is answered 500 and logged. */
    const char *backend;
} rproxy_request_t;

/* The backend's response before its head goes to the client. Hop-by-hop
 * fields are already removed. */
typedef struct rproxy_response_t {
    int status;           /* may be changed (100-599) */
    const char *reason;   /* may be replaced; "" for the standard text */
    apr_table_t *headers; /* the response fields; edit in place */
} rproxy_response_t;

/* Edit the outgoing request (Go's Rewrite). */
APR_DECLARE_EXTERNAL_HOOK(rproxy, RPROXY, int, rproxy_rewrite,
                          (request_rec * r, rproxy_request_t *out))

/* Edit the response head (Go's ModifyResponse). */
APR_DECLARE_EXTERNAL_HOOK(rproxy, RPROXY, int, rproxy_modify_response,
                          (request_rec * r, rproxy_response_t *resp))

/* Decide the status for a failure (Go's ErrorHandler): *status holds the
 * default (400, 502, 503 or 504, or a hook's refusal); fault is a short
 * text. The precise cause, as an RFC 9209 error type such as
 * "connection_refused" or "http_response_timeout", is in
 * apr_table_get(r->notes, "rproxy-fault"). Change *status to answer
 * differently; ErrorDocument then applies as usual. */
APR_DECLARE_EXTERNAL_HOOK(rproxy, RPROXY, int, rproxy_error,
                          (request_rec * r, int *status, const char *fault))

#ifdef __cplusplus
}
#endif
#endif /* MOD_RPROXY_HOOKS_H */
