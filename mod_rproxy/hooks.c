/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* hooks.c: the optional hooks of mod_rproxy_hooks.h, run from the core's
 * rp_hooks_t so that other modules see httpd types, not core ones. */

#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"
#include "apr_optional_hooks.h"
#include "mod_rproxy.h"
#include "mod_rproxy_hooks.h"

APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(rproxy, RPROXY, int, rproxy_rewrite,
                                    (request_rec * r, rproxy_request_t *out),
                                    (r, out), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(rproxy, RPROXY, int, rproxy_modify_response,
                                    (request_rec * r, rproxy_response_t *resp),
                                    (r, resp), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(rproxy, RPROXY, int, rproxy_error,
                                    (request_rec * r, int *status,
                                     const char *fault),
                                    (r, status, fault), OK, DECLINED)

/* Whether any module registered each hook, read at post_config (modules
 * register theirs in register_hooks, before): with none, an exchange skips
 * the hook's name lookup and argument set-up. */
static int has_rewrite, has_modify_response;

static int registered(const char *name)
{
    apr_array_header_t *a = apr_optional_hook_get(name);

    return a != NULL && a->nelts > 0;
}

void rpx_hooks_post_config(void)
{
    has_rewrite = registered("rproxy_rewrite");
    has_modify_response = registered("rproxy_modify_response");
}

/* A hook's refusal must be an HTTP error status; anything else is taken
 * for a bug in the hook and answered 500. A 4xx is policy (RFC 9209
 * http_request_denied), anything else a failure of the proxy. */
static apr_status_t refused(rpx_front_t *f, rp_exchange_t *ex, int rv,
                            const char *which)
{
    f->hook_status = ap_is_HTTP_ERROR(rv) ? rv : HTTP_INTERNAL_SERVER_ERROR;
    ex->fault = ap_is_HTTP_CLIENT_ERROR(f->hook_status)
                    ? RP_FAULT_HTTP_REQUEST_DENIED
                    : RP_FAULT_PROXY_INTERNAL_ERROR;
    ex->error_detail = apr_psprintf(ex->pool, "%s hook answered %d", which, rv);
    return RP_EHOOK;
}

/* The rewrite hook chose another backend (Go's SetURL). It must be an
 * origin, "http(s)://host[:port]" with "/" at most for a path; anything
 * else is a bug in the hook, answered 500 with the reason logged. */
static apr_status_t hook_origin(rpx_front_t *f, rp_exchange_t *ex,
                                const char *text)
{
    const char *why = NULL;
    rp_tls_ctx_t *tls = NULL;
    rp_url_t u;

    if (rp_url_parse(ex->pool, text, &u, &why) != APR_SUCCESS) {
        /* why says what is wrong */
    }
    else if ((*u.path && strcmp(u.path, "/") != 0) || u.query) {
        why = "a backend is scheme://host[:port], without a path or query";
    }
    else if (u.tls && !(tls = rpx_origin_tls(f->r))) {
        why = "no TLS context for https backends in this server";
    }
    if (why) {
        f->hook_status = HTTP_INTERNAL_SERVER_ERROR;
        ex->fault = RP_FAULT_PROXY_INTERNAL_ERROR;
        ex->error_detail =
            apr_psprintf(ex->pool, "rewrite hook set the backend \"%s\": %s",
                         ap_escape_logitem(ex->pool, text), why);
        return RP_EHOOK;
    }
    rp_proxy_set_origin(ex, &u, tls);
    return APR_SUCCESS;
}

static apr_status_t run_rewrite(rp_exchange_t *ex, void *baton)
{
    rpx_front_t *f = ex->front.ctx;
    rproxy_request_t out;
    const char *backend;
    int rv;

    if (!has_rewrite) {
        return APR_SUCCESS;
    }
    out.method = ex->out.method;
    out.target = ex->out.target;
    out.headers = ex->out.headers;
    out.backend = backend = rp_url_origin(ex->pool, ex->target);
    rv = rproxy_run_rproxy_rewrite(f->r, &out);
    if (rv != OK && rv != DECLINED) {
        return refused(f, ex, rv, "rewrite");
    }
    ex->out.method = out.method;
    ex->out.target = out.target;
    ex->out.headers = out.headers;
    if (out.backend != backend && strcmp(out.backend, backend) != 0) {
        return hook_origin(f, ex, out.backend);
    }
    return APR_SUCCESS;
}

static apr_status_t run_modify_response(rp_exchange_t *ex, void *baton)
{
    rpx_front_t *f = ex->front.ctx;
    rproxy_response_t resp;
    int rv;

    if (!has_modify_response) {
        return APR_SUCCESS;
    }
    resp.status = ex->resp->status;
    resp.reason = ex->resp->reason;
    resp.headers = ex->resp->headers;
    rv = rproxy_run_rproxy_modify_response(f->r, &resp);
    if (rv != OK && rv != DECLINED) {
        return refused(f, ex, rv, "modify_response");
    }
    if (resp.status >= 100 && resp.status <= 599) {
        ex->resp->status = resp.status;
    }
    ex->resp->reason = resp.reason ? resp.reason : "";
    ex->resp->headers = resp.headers;
    return APR_SUCCESS;
}

static int run_error(rp_exchange_t *ex, apr_status_t err, void *baton)
{
    rpx_front_t *f = ex->front.ctx;
    int status = f->hook_status ? f->hook_status : rp_proxy_error_status(err);
    char buf[120];

    /* the precise fault, for the hooks (and %{rproxy-fault}n) */
    apr_table_setn(f->r->notes, "rproxy-fault", rp_fault_str(ex->fault));
    rproxy_run_rproxy_error(f->r, &status,
                            ex->error_detail
                                ? ex->error_detail
                                : rp_strerror(err, buf, sizeof(buf)));
    return ap_is_HTTP_ERROR(status) ? status : HTTP_BAD_GATEWAY;
}

const rp_hooks_t rpx_hooks = {
    .rewrite = run_rewrite,
    .modify_response = run_modify_response,
    .error = run_error,
};
