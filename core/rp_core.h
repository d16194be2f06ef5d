/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_core.h: what every layer of core/ shares: error codes, assertions and
 * the log-ID convention.
 *
 * Lifetimes: nothing here allocates but rp_pool_create_own(), whose pool
 * is the caller's to destroy. */

#ifndef RP_CORE_H
#define RP_CORE_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes beyond apr_status_t. Only the error hook turns them into an
 * HTTP status (rp_proxy.c: default_error). */
#define RP_ERRSPACE (APR_OS_START_USERERR + 7200)
/* Could not connect, or the connection broke before any response byte. */
#define RP_EBACKEND_UNREACHABLE (RP_ERRSPACE + 1)
/* The backend did not answer the request head within the header timeout. */
#define RP_EBACKEND_TIMEOUT (RP_ERRSPACE + 2)
/* The backend's response violates HTTP/1.1 (bad status line, framing...). */
#define RP_EBAD_RESPONSE (RP_ERRSPACE + 3)
/* The client went away; a normal event, never logged as an error. */
#define RP_ECLIENT_GONE (RP_ERRSPACE + 4)
/* The backend failed after the response head was sent to the client. */
#define RP_EBACKEND_BROKE (RP_ERRSPACE + 5)
/* The request cannot be forwarded safely (bad header value, bad path). */
#define RP_EBAD_REQUEST (RP_ERRSPACE + 6)
/* A hook refused the exchange. */
#define RP_EHOOK (RP_ERRSPACE + 7)
/* Every connection to the backend stayed busy past the queue timeout. */
#define RP_EPOOL_FULL (RP_ERRSPACE + 8)
/* No member of the route's balancer can take a request (all ejected,
 * disabled, down or draining). */
#define RP_ENO_MEMBER (RP_ERRSPACE + 9)
/* The host is stopping (a restart or stop of the process): a tunnel was
 * ended for it. Not an error. */
#define RP_ESTOPPING (RP_ERRSPACE + 10)
/* TLS with the backend failed (handshake, verification, record layer). */
#define RP_ETLS (RP_ERRSPACE + 20)

/* A short, static description of rv: rp_ codes get their own text, other
 * values go through apr_strerror() into buf. Never returns NULL. */
const char *rp_strerror(apr_status_t rv, char *buf, apr_size_t bufsize);

/* Log levels understood by the host's log callback; same numbers as
 * syslog and httpd's APLOG_*. */
#define RP_LOG_ERR 3
#define RP_LOG_WARNING 4
#define RP_LOG_NOTICE 5
#define RP_LOG_INFO 6
#define RP_LOG_DEBUG 7

/* Every log call site carries a unique ID, checked by tests/check-logno.sh:
 * RPLOGNO(00042) "backend %s: bad status line". Client aborts carry none. */
#define RPLOGNO(n) "RP" #n ": "

#ifdef RP_DEBUG
#include <assert.h>
#define RP_ASSERT(x) assert(x)
#else
#define RP_ASSERT(x) ((void)0)
#endif

/* Allocation points that report failure to their callers (read blocks,
 * the pools core/ makes for itself) ask rp_alloc_fails() first: always 0,
 * except in RP_DEBUG builds, where the allocation-failure tests make each
 * point fail in turn. rp_alloc_fail_at(n) starts counting the points passed
 * from zero and makes the nth fail (0: none); rp_alloc_calls() is the count
 * so far. Process-wide: for tests that run one exchange at a time. */
#ifdef RP_DEBUG
int rp_alloc_fails(void);
void rp_alloc_fail_at(unsigned long n);
unsigned long rp_alloc_calls(void);
#else
#define rp_alloc_fails() 0
#endif

/* An unmanaged pool (an allocator of its own, for one thread at a time),
 * or APR_ENOMEM: apr_pool_create_unmanaged_ex() behind rp_alloc_fails(). */
apr_status_t rp_pool_create_own(apr_pool_t **p);

/* Wait until fd is readable (or, for_write, writable) or deadline passes:
 * APR_TIMEUP then. An error or hang-up counts as ready: the next call on
 * fd reports it. */
apr_status_t rp_wait_fd(int fd, int for_write, apr_time_t deadline);

/* "Not set" sentinels for configuration merges (rp_conf.h). */
#define RP_UNSET (-1)
#define RP_UNSET_TIME ((apr_interval_time_t)APR_INT64_MIN)

#ifdef __cplusplus
}
#endif
#endif /* RP_CORE_H */
