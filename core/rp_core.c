/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <apr_strings.h>
#include "rp_core.h"

const char *rp_strerror(apr_status_t rv, char *buf, apr_size_t bufsize)
{
    switch (rv) {
    case RP_EBACKEND_UNREACHABLE:
        return "backend unreachable";
    case RP_EBACKEND_TIMEOUT:
        return "backend timed out";
    case RP_EBAD_RESPONSE:
        return "bad backend response";
    case RP_ECLIENT_GONE:
        return "client went away";
    case RP_EBACKEND_BROKE:
        return "backend failed during the response body";
    case RP_EBAD_REQUEST:
        return "request cannot be forwarded";
    case RP_EHOOK:
        return "refused by a hook";
    case RP_EPOOL_FULL:
        return "all backend connections busy";
    case RP_ENO_MEMBER:
        return "no usable member in the balancer";
    case RP_ETLS:
        return "TLS with the backend failed";
    default:
        return apr_strerror(rv, buf, bufsize);
    }
}

#ifdef RP_DEBUG
static unsigned long alloc_calls, alloc_fail_at; /* atomically accessed */

int rp_alloc_fails(void)
{
    unsigned long at = __atomic_load_n(&alloc_fail_at, __ATOMIC_ACQUIRE);
    unsigned long n = __atomic_add_fetch(&alloc_calls, 1, __ATOMIC_ACQ_REL);

    return at > 0 && n == at;
}

void rp_alloc_fail_at(unsigned long n)
{
    __atomic_store_n(&alloc_calls, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&alloc_fail_at, n, __ATOMIC_RELEASE);
}

unsigned long rp_alloc_calls(void)
{
    return __atomic_load_n(&alloc_calls, __ATOMIC_ACQUIRE);
}
#endif

apr_status_t rp_pool_create_own(apr_pool_t **p)
{
    *p = NULL;
    if (rp_alloc_fails()) {
        return APR_ENOMEM;
    }
    return apr_pool_create_unmanaged_ex(p, NULL, NULL);
}

apr_status_t rp_wait_fd(int fd, int for_write, apr_time_t deadline)
{
    struct pollfd pfd;
    int r;

    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();
        apr_int64_t ms = left > 0 ? (left + 999) / 1000 : 0;

        pfd.fd = fd;
        pfd.events = for_write ? POLLOUT : POLLIN;
        pfd.revents = 0;
        r = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (r > 0) {
            return APR_SUCCESS;
        }
        if (r == 0) {
            return APR_TIMEUP;
        }
        if (errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
    }
}
