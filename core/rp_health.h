/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_health.h: one active health check of one balancer member, sent with
 * the core transport, and one round over a balancer's members.
 *
 * The caller gives a transport of its own (the checker's, not the one that
 * carries requests: checks never wait for a busy request pool, and a check
 * on a fresh connection says whether the member still accepts them). Each
 * check asks for "Connection: close" and reads no body.
 *
 * Lifetimes: everything a check allocates is in the pool p given to it
 * (the caller clears it between checks). Threads: any thread; a balancer's
 * round is run by one process (the lease holder, see rp_lb_lease), with
 * threads of its own for the checks. */

#ifndef RP_HEALTH_H
#define RP_HEALTH_H

#include "rp_balancer.h"
#include "rp_transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Check member i of b (b->hc set): the response's status, or 0 when none
 * came (then *why says why, static or in p). */
int rp_health_check(rp_transport_t *t, rp_balancer_t *b, int i, apr_pool_t *p,
                    const char **why);

/* Told of each member whose health changed in a round (for the log):
 * change is RP_LB_HC_DOWN or RP_LB_HC_UP; status and why as above. */
typedef void (*rp_health_report_fn)(void *baton, rp_balancer_t *b, int i,
                                    int change, int status, const char *why);

/* Check every member of b once, recording each result in the shared state
 * (rp_lb_hc_result). Up to 8 checks run at once: the calling thread and
 * threads started for the round (signals blocked) and joined before it
 * returns. stop and report (both may be NULL) are therefore called from
 * any of those threads: stop before each member (a non-zero answer ends
 * the round early; checks under way finish), report for each change.
 * p is the calling thread's; the others use pools of their own. Returns
 * the members checked. */
int rp_health_round(rp_transport_t *t, rp_balancer_t *b, apr_pool_t *p,
                    int (*stop)(void *), void *stop_baton,
                    rp_health_report_fn report, void *report_baton);

#ifdef __cplusplus
}
#endif
#endif /* RP_HEALTH_H */
