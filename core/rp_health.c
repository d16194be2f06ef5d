/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_health.c: active health checks over the core transport (rp_health.h). */

#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include "rp_health.h"

/* Checks of one round that run at once: a member that does not answer
 * costs its timeout, and in turn N such members would hold the round (and
 * the news about the others) for N timeouts. */
#define RP_HEALTH_PARALLEL 8

/* One round, shared by the threads that run its checks. Members are taken
 * in order from next; everything else is read only. */
typedef struct round_t {
    rp_transport_t *t;
    rp_balancer_t *b;
    int (*stop)(void *);
    void *stop_baton;
    rp_health_report_fn report;
    void *report_baton;
    volatile apr_uint32_t next;    /* the next member to check */
    volatile apr_uint32_t checked; /* checks done */
} round_t;

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

/* Take members and check them until none is left or stop says so. p is
 * this thread's own. */
static void run_checks(round_t *r, apr_pool_t *p)
{
    const char *why;
    int i, status, change;

    while (!(r->stop && r->stop(r->stop_baton))) {
        i = (int)apr_atomic_inc32(&r->next);
        if (i >= r->b->n) {
            break;
        }
        apr_pool_clear(p);
        status = rp_health_check(r->t, r->b, i, p, &why);
        change = rp_lb_hc_result(r->b, i, status, apr_time_now());
        apr_atomic_inc32(&r->checked);
        if (change && r->report) {
            r->report(r->report_baton, r->b, i, change, status, why);
        }
    }
}

/* Returns instead of calling apr_thread_exit(): pthread_exit() unwinds
 * past the frames' epilogues, and under ASan their stale redzones then
 * trip the thread's own teardown. The thread's pool goes with the round's
 * threads pool, after the join. */
static void *APR_THREAD_FUNC checks_main(apr_thread_t *thd, void *data)
{
    apr_pool_t *p = NULL;

    (void)thd;
    /* a pool with an allocator of its own: no other thread touches it */
    if (rp_pool_create_own(&p) == APR_SUCCESS) {
        run_checks(data, p);
        apr_pool_destroy(p);
    }
    return NULL;
}

/* A pool the round's threads may be made from while they run: its
 * allocator has a lock. NULL when it cannot be made (then no threads). */
static apr_pool_t *threads_pool(void)
{
    apr_thread_mutex_t *lock;
    apr_pool_t *tp = NULL;

    if (rp_pool_create_own(&tp) != APR_SUCCESS) {
        return NULL;
    }
    if (apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, tp) !=
        APR_SUCCESS) {
        apr_pool_destroy(tp);
        return NULL;
    }
    apr_allocator_mutex_set(apr_pool_allocator_get(tp), lock);
    return tp;
}

int rp_health_round(rp_transport_t *t, rp_balancer_t *b, apr_pool_t *p,
                    int (*stop)(void *), void *stop_baton,
                    rp_health_report_fn report, void *report_baton)
{
    apr_thread_t *thd[RP_HEALTH_PARALLEL - 1];
    apr_pool_t *tp = NULL;
    apr_status_t trv;
    round_t r;
    int i, n = 0;

    memset(&r, 0, sizeof(r));
    r.t = t;
    r.b = b;
    r.stop = stop;
    r.stop_baton = stop_baton;
    r.report = report;
    r.report_baton = report_baton;
    /* this thread checks too: helpers only for the members beyond one */
    if (b->n > 1 && (tp = threads_pool()) != NULL) {
        while (n < RP_HEALTH_PARALLEL - 1 && n < b->n - 1 &&
               rp_thread_start(&thd[n], checks_main, &r, tp) == APR_SUCCESS) {
            n++;
        }
    }
    run_checks(&r, p);
    for (i = 0; i < n; i++) {
        apr_thread_join(&trv, thd[i]);
    }
    if (tp) {
        apr_pool_destroy(tp);
    }
    return (int)apr_atomic_read32(&r.checked);
}
