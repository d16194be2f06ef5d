/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_fault.h: what exactly went wrong with an exchange, machine-readable.
 *
 * The rp_ codes of rp_core.h say what a failure becomes (502, 503, 504...);
 * a fault says what it was (refused, timed out, DNS, certificate...), with
 * the error types of RFC 9209 section 2.3 as names. The layer that meets a
 * failure sets the fault where it happens (rp_pool.c while dialing,
 * rp_transport.c while reading the head, rp_proxy.c for its own refusals);
 * rp_fault_of_code() gives a fallback for an rp_ code that came without one.
 *
 * rp_fault_proxy_status() builds the Proxy-Status field value (RFC 9209
 * section 2) that the host adds to the error responses the proxy generates,
 * rp_fault_proxy_status_received() the one for a backend's error answer
 * replaced by the host's error page.
 *
 * Lifetimes: names are static; field values are allocated in the pool
 * given. */

#ifndef RP_FAULT_H
#define RP_FAULT_H

#include <apr.h>
#include <apr_pools.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One value per RFC 9209 error type that this proxy can meet. Zero means
 * "nothing known", so a zero-filled exchange starts without a fault. */
typedef enum rp_fault_t {
    RP_FAULT_NONE = 0,
    RP_FAULT_DNS_ERROR,               /* the name did not resolve */
    RP_FAULT_DNS_TIMEOUT,             /* resolver gave no answer (EAI_AGAIN) */
    RP_FAULT_DESTINATION_UNAVAILABLE, /* upstream proxy refused to relay */
    RP_FAULT_DESTINATION_IP_UNROUTABLE, /* no route to the address */
    RP_FAULT_CONNECTION_REFUSED,        /* RST to our SYN */
    RP_FAULT_CONNECTION_TIMEOUT,        /* connect not done in time */
    RP_FAULT_CONNECTION_TERMINATED,     /* closed/reset before any byte */
    RP_FAULT_CONNECTION_LIMIT_REACHED,  /* RProxyMaxConnections queue timeout */
    RP_FAULT_TLS_PROTOCOL_ERROR,        /* handshake or record layer failed */
    RP_FAULT_TLS_CERTIFICATE_ERROR,     /* the backend's certificate refused */
    RP_FAULT_HTTP_REQUEST_ERROR,        /* we refuse to forward (400) */
    RP_FAULT_HTTP_REQUEST_DENIED,       /* a hook refused it with a 4xx */
    RP_FAULT_HTTP_RESPONSE_INCOMPLETE,  /* closed inside the response head */
    RP_FAULT_HTTP_RESPONSE_HEADER_SECTION_SIZE, /* head over the limits */
    RP_FAULT_HTTP_RESPONSE_TIMEOUT, /* no head within the header timeout */
    RP_FAULT_HTTP_PROTOCOL_ERROR,   /* malformed response */
    RP_FAULT_HTTP_UPGRADE_FAILED,   /* 101 to a protocol nobody asked for */
    RP_FAULT_PROXY_INTERNAL_ERROR,  /* a hook failed, or a bug of ours */
    RP_FAULT_MAX_                   /* count; not a fault */
} rp_fault_t;

/* The RFC 9209 error type, e.g. "connection_refused"; "none" for
 * RP_FAULT_NONE and "proxy_internal_error" for values out of range. */
const char *rp_fault_str(rp_fault_t f);

/* The fault an OS-level failure of a backend connection stands for:
 * getaddrinfo() errors (folded into APR_OS_START_EAIERR) are DNS faults,
 * ECONNREFUSED is connection_refused, a timeout connection_timeout,
 * EHOSTUNREACH/ENETUNREACH destination_ip_unroutable, a reset, broken pipe
 * or EOF connection_terminated. Anything else gives dflt. */
rp_fault_t rp_fault_of_status(apr_status_t rv, rp_fault_t dflt);

/* The fault to report for an rp_ code when the layer that failed set none:
 * the broadest type that is still true of that code. */
rp_fault_t rp_fault_of_code(apr_status_t err);

/* Longest details parameter rp_fault_proxy_status() writes, in bytes of
 * text before escaping: enough for a reason, not an essay. */
#define RP_FAULT_DETAILS_MAX 256

/* The Proxy-Status field value for an error this proxy generated:
 *
 *   <name>; error=<type>[; details="<text>"]
 *
 * name identifies this proxy: sent as an sf-token when it is one (starts
 * with a letter or "*", then tchar, ":" or "/"), else as an sf-string.
 * details (may be NULL) becomes a valid sf-string: bytes outside printable
 * ASCII become "?", '"' and '\' are escaped, the text is cut at
 * RP_FAULT_DETAILS_MAX. received-status is never added: no response came.
 * The result is allocated in p. */
const char *rp_fault_proxy_status(apr_pool_t *p, const char *name,
                                  rp_fault_t fault, const char *details);

/* The Proxy-Status field value for a backend's answer this proxy did not
 * forward as it came (RProxyErrorOverride put the host's error page in its
 * place): "<name>; received-status=<status>", name as above. In p. */
const char *rp_fault_proxy_status_received(apr_pool_t *p, const char *name,
                                           int status);

#ifdef __cplusplus
}
#endif
#endif /* RP_FAULT_H */
