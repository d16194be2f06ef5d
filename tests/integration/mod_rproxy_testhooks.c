/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* mod_rproxy_testhooks.c: a module built only for the integration tests; it
 * registers all three optional hooks of mod_rproxy_hooks.h:
 *   rewrite:          adds "X-Hooked: rewrite"; a request carrying
 *                     "X-Test-Deny" is refused with 403; "X-Test-Target"
 *                     replaces the target sent to the backend and
 *                     "X-Test-Backend" the backend itself
 *   modify_response:  turns a 200 into 203 when the backend sent
 *                     "X-Test-Modify", and adds "X-Hooked: response";
 *                     "X-Test-Refuse" makes it refuse with 451
 *   error:            answers 503 instead of 502 under /app/soft, with
 *                     the fault text in X-Hooked-Fault and the note
 *                     rproxy-fault in X-Hooked-Fault-Type */

#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"
#include "mod_rproxy_hooks.h"

static int test_rewrite(request_rec *r, rproxy_request_t *out)
{
    const char *t = apr_table_get(r->headers_in, "X-Test-Target");
    const char *b = apr_table_get(r->headers_in, "X-Test-Backend");

    if (apr_table_get(r->headers_in, "X-Test-Deny")) {
        return HTTP_FORBIDDEN;
    }
    if (t) {
        out->target = apr_pstrdup(r->pool, t);
    }
    apr_table_setn(out->headers, "X-Hooked", "rewrite");
    apr_table_setn(out->headers, "X-Hooked-Backend", out->backend);
    if (b) {
        out->backend = apr_pstrdup(r->pool, b);
    }
    return OK;
}

static int test_modify_response(request_rec *r, rproxy_response_t *resp)
{
    if (apr_table_get(resp->headers, "X-Test-Refuse")) {
        return HTTP_UNAVAILABLE_FOR_LEGAL_REASONS;
    }
    if (resp->status == 200 && apr_table_get(resp->headers, "X-Test-Modify")) {
        resp->status = 203;
        resp->reason = "Rewritten";
    }
    apr_table_setn(resp->headers, "X-Hooked", "response");
    return OK;
}

static int test_error(request_rec *r, int *status, const char *fault)
{
    if (*status == HTTP_BAD_GATEWAY && strstr(r->uri, "/app/soft")) {
        *status = HTTP_SERVICE_UNAVAILABLE;
        apr_table_setn(r->err_headers_out, "X-Hooked-Fault",
                       apr_pstrdup(r->pool, fault));
        apr_table_setn(
            r->err_headers_out, "X-Hooked-Fault-Type",
            apr_pstrdup(r->pool, apr_table_get(r->notes, "rproxy-fault")));
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    APR_OPTIONAL_HOOK(rproxy, rproxy_rewrite, test_rewrite, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(rproxy, rproxy_modify_response, test_modify_response,
                      NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(rproxy, rproxy_error, test_error, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(rproxy_testhooks) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks};
