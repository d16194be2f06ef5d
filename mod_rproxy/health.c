/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* health.c: running the active health checks of balancers once per server.
 *
 * Every child process that has a balancer with RProxyHealthCheck starts one
 * checker thread (child_init). Every 100 ms the thread asks, for each such
 * balancer, for the balancer's lease in the shared segment (rp_lb_lease: a
 * pid and an expiry, under the balancer's spinlock). One process holds it;
 * the others only ask. The holder runs a round of checks when the last
 * round (rp_lb_shared_t.hc_round, also shared) is an interval old, so the
 * rhythm holds when the lease changes hands. The lease passes to another
 * child when its holder
 *   - stops (graceful restart or stop: the MPM state is STOPPING; the
 *     thread drops its leases and ends, and the child exits without
 *     waiting for more than the check under way, bounded by its timeout),
 *   - dies (its pid no longer exists), or
 *   - hangs past the expiry (2 intervals + one timeout per member).
 *
 * Why not mod_watchdog (compiled into Debian's apache2): its parent
 * watchdogs cannot use a child's transport, and its singleton child
 * watchdogs serialise children with an apr_proc_mutex (a lock file or
 * semaphore more) and call back on their own schedule; the lease needs
 * nothing but the segment the balancers already share, passes on at once
 * when its holder dies, and keeps the stop check (MPM state) in our hands.
 *
 * Each checker has a transport of its own (made when its process first
 * holds a lease), so that checks never queue behind the requests' pools.
 *
 * Lifetimes: the checker lives in a sub-pool of pchild that only its
 * thread uses; a pre-cleanup of pchild stops and joins the thread before
 * that pool (and the transport in it) is destroyed. */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_atomic.h"
#include "apr_thread_proc.h"
#include "rp_health.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

/* How often a checker looks at its leases and at the MPM's state. */
#define RPX_HC_TICK apr_time_from_msec(100)

typedef struct checker_t {
    server_rec *s;            /* borrowed: main server, for the log */
    apr_pool_t *pool;         /* owned: the thread's */
    apr_array_header_t *bals; /* rpx_balancer_t * with checks */
    rp_transport_t *t;        /* the checks' transport, or NULL yet */
    apr_thread_t *thread;
    volatile apr_uint32_t stop; /* set by the pre-cleanup */
    int t_failed;               /* the transport could not be made */
} checker_t;

static int stopping(void *baton)
{
    checker_t *ck = baton;
    int state = AP_MPMQ_RUNNING;

    if (apr_atomic_read32(&ck->stop)) {
        return 1;
    }
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
           state == AP_MPMQ_STOPPING;
}

static void report(void *baton, rp_balancer_t *b, int i, int change, int status,
                   const char *why)
{
    checker_t *ck = baton;
    const char *last = why ? why : "";

    if (change == RP_LB_HC_DOWN) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ck->s,
                     RPLOGNO(00401) "balancer %s: member %s is down after %d "
                                    "failed health checks (last: %d %s)",
                     b->name, b->members[i].url, b->hc->fails, status, last);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ck->s,
                     RPLOGNO(00402) "balancer %s: member %s is up again "
                                    "after %d passed health checks",
                     b->name, b->members[i].url, b->hc->passes);
    }
}

static void transport_log(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "%s", msg);
}

/* Longest a holder may go without renewing: two intervals and a round in
 * which every member times out. */
static apr_interval_time_t lease_ttl(const rp_balancer_t *b)
{
    return 2 * b->hc->interval + (apr_interval_time_t)b->n * b->hc->timeout;
}

static void check_balancer(checker_t *ck, rp_balancer_t *b, apr_pool_t *p)
{
    apr_uint32_t me = (apr_uint32_t)getpid();
    apr_time_t now = apr_time_now();
    rpx_server_conf_t *sc;
    apr_status_t rv;

    if (!rp_lb_lease(b->shared, me, now, lease_ttl(b)) ||
        (apr_time_t)apr_atomic_read64(&b->shared->hc_round) + b->hc->interval >
            now) {
        return;
    }
    if (!ck->t && !ck->t_failed) {
        rv = rp_transport_create(ck->pool, 1, &ck->t);
        if (rv != APR_SUCCESS) {
            ck->t_failed = 1;
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, ck->s,
                         RPLOGNO(00403) "cannot create the health checks' "
                                        "transport: no checks in this process");
            rp_lb_lease_drop(b->shared, me);
            return;
        }
        rp_transport_set_log(ck->t, transport_log, ck->s);
        sc = ap_get_module_config(ck->s->module_config, &rproxy_module);
        rp_transport_set_source(ck->t, sc->source4, sc->source6);
    }
    if (!ck->t) {
        return;
    }
    apr_atomic_set64(&b->shared->hc_round, (apr_uint64_t)now);
    rp_health_round(ck->t, b, p, stopping, ck, report, ck);
    rp_lb_lease(b->shared, me, apr_time_now(), lease_ttl(b));
}

static void checker_loop(checker_t *ck)
{
    apr_pool_t *scratch = NULL;
    int i;

    apr_pool_create(&scratch, ck->pool);
    while (!stopping(ck)) {
        for (i = 0; i < ck->bals->nelts && !stopping(ck); i++) {
            check_balancer(
                ck, &APR_ARRAY_IDX(ck->bals, i, rpx_balancer_t *)->lb, scratch);
        }
        apr_sleep(RPX_HC_TICK);
    }
    /* the next generation's checkers (or a sibling) take over at once */
    for (i = 0; i < ck->bals->nelts; i++) {
        rp_lb_lease_drop(
            APR_ARRAY_IDX(ck->bals, i, rpx_balancer_t *)->lb.shared,
            (apr_uint32_t)getpid());
    }
    apr_pool_destroy(scratch);
}

/* Returns instead of calling apr_thread_exit (the thread's pool goes with
 * ck->pool): pthread_exit unwinds past the frames' epilogues, and under
 * ASan their stale redzones then trip the thread's own teardown. */
static void *APR_THREAD_FUNC checker_main(apr_thread_t *th, void *arg)
{
    (void)th;
    checker_loop(arg);
    return NULL;
}

static apr_status_t checker_stop(void *data)
{
    checker_t *ck = data;
    apr_status_t ignored;

    apr_atomic_set32(&ck->stop, 1);
    if (ck->thread) {
        apr_thread_join(&ignored, ck->thread);
        ck->thread = NULL;
    }
    return APR_SUCCESS;
}

void rpx_health_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_array_header_t *all = rpx_balancers_all(s->process->pconf, pchild);
    checker_t *ck = apr_pcalloc(pchild, sizeof(*ck));
    apr_allocator_t *alloc = NULL;
    apr_status_t rv;
    int i;

    ck->s = s;
    ck->bals = apr_array_make(pchild, 4, sizeof(rpx_balancer_t *));
    for (i = 0; i < all->nelts; i++) {
        rpx_balancer_t *b = APR_ARRAY_IDX(all, i, rpx_balancer_t *);
        if (b->lb.hc && b->lb.shared) {
            APR_ARRAY_PUSH(ck->bals, rpx_balancer_t *) = b;
        }
    }
    if (ck->bals->nelts == 0) {
        return;
    }
    /* an allocator of its own: the thread's pools never share one with
     * the workers' */
    if (apr_allocator_create(&alloc) != APR_SUCCESS ||
        apr_pool_create_ex(&ck->pool, pchild, NULL, alloc) != APR_SUCCESS) {
        return;
    }
    apr_allocator_owner_set(alloc, ck->pool);
    apr_pool_pre_cleanup_register(pchild, ck, checker_stop);
    /* no signal handler of httpd's may run on it (rp_thread_start) */
    rv = rp_thread_start(&ck->thread, checker_main, ck, ck->pool);
    if (rv != APR_SUCCESS) {
        ck->thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     RPLOGNO(00404) "cannot start the health checker thread: "
                                    "this process runs no checks");
    }
}
