/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_health.c: active health checks over the core transport (rp_health.h). */

#include <apr_strings.h>
#include "rp_health.h"

static rp_backend_t *check_backend(rp_transport_t *t, rp_balancer_t *b,
                                   rp_lb_member_t *m)
{
    rp_backend_opts_t o;

    memset(&o, 0, sizeof(o));
    o.idle_timeout = apr_time_from_sec(1);
    o.max_idle = 1;
    o.tls = m->tls;
    o.tls_timeout = b->hc->timeout;
    return rp_transport_backend(t, m->origin, &o);
}

int rp_health_check(rp_transport_t *t, rp_balancer_t *b, int i, apr_pool_t *p,
                    const char **why)
{
    rp_lb_member_t *m = &b->members[i];
    rp_backend_t *be = check_backend(t, b, m);
    rp_request_t req;
    rp_rt_opts_t o;
    rp_response_t *resp = NULL;
    rp_fault_t fault = RP_FAULT_NONE;
    char buf[120];
    apr_status_t rv;
    int status;

    *why = NULL;
    memset(&req, 0, sizeof(req));
    memset(&o, 0, sizeof(o));
    req.method = b->hc->method;
    req.target = b->hc->path;
    req.headers = apr_table_make(p, 3);
    apr_table_setn(req.headers, "Host", m->origin->hostport);
    apr_table_setn(req.headers, "User-Agent", "mod_rproxy-health-check");
    apr_table_setn(req.headers, "Connection", "close");
    o.connect_timeout = o.header_timeout = o.io_timeout = b->hc->timeout;
    rv = rp_transport_round_trip(t, be, &req, &o, p, apr_bucket_alloc_create(p),
                                 &resp, why, &fault);
    if (rv != APR_SUCCESS) {
        if (!*why) {
            *why = apr_pstrdup(p, rp_strerror(rv, buf, sizeof(buf)));
        }
        return 0;
    }
    status = resp->status;
    rp_response_close(resp);
    return status;
}

int rp_health_round(rp_transport_t *t, rp_balancer_t *b, apr_pool_t *p,
                    int (*stop)(void *), void *stop_baton,
                    rp_health_report_fn report, void *report_baton)
{
    const char *why;
    int i, status, change;

    for (i = 0; i < b->n; i++) {
        if (stop && stop(stop_baton)) {
            break;
        }
        apr_pool_clear(p);
        status = rp_health_check(t, b, i, p, &why);
        change = rp_lb_hc_result(b, i, status, apr_time_now());
        if (change && report) {
            report(report_baton, b, i, change, status, why);
        }
    }
    return i;
}
