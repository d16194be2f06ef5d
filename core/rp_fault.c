/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_fault.c: fault kinds, their RFC 9209 names, and the Proxy-Status
 * field value. Pure: no I/O, no state. */

#include <string.h>
#include <netdb.h>
#include <apr_errno.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include "rp_fault.h"

/* Indexed by rp_fault_t; the names are RFC 9209 section 2.3's. */
static const char *const fault_names[RP_FAULT_MAX_] = {
    [RP_FAULT_NONE] = "none",
    [RP_FAULT_DNS_ERROR] = "dns_error",
    [RP_FAULT_DNS_TIMEOUT] = "dns_timeout",
    [RP_FAULT_DESTINATION_UNAVAILABLE] = "destination_unavailable",
    [RP_FAULT_DESTINATION_IP_UNROUTABLE] = "destination_ip_unroutable",
    [RP_FAULT_CONNECTION_REFUSED] = "connection_refused",
    [RP_FAULT_CONNECTION_TIMEOUT] = "connection_timeout",
    [RP_FAULT_CONNECTION_TERMINATED] = "connection_terminated",
    [RP_FAULT_CONNECTION_LIMIT_REACHED] = "connection_limit_reached",
    [RP_FAULT_TLS_PROTOCOL_ERROR] = "tls_protocol_error",
    [RP_FAULT_TLS_CERTIFICATE_ERROR] = "tls_certificate_error",
    [RP_FAULT_HTTP_REQUEST_ERROR] = "http_request_error",
    [RP_FAULT_HTTP_REQUEST_DENIED] = "http_request_denied",
    [RP_FAULT_HTTP_RESPONSE_INCOMPLETE] = "http_response_incomplete",
    [RP_FAULT_HTTP_RESPONSE_HEADER_SECTION_SIZE] =
        "http_response_header_section_size",
    [RP_FAULT_HTTP_RESPONSE_TIMEOUT] = "http_response_timeout",
    [RP_FAULT_HTTP_PROTOCOL_ERROR] = "http_protocol_error",
    [RP_FAULT_HTTP_UPGRADE_FAILED] = "http_upgrade_failed",
    [RP_FAULT_PROXY_INTERNAL_ERROR] = "proxy_internal_error",
};

const char *rp_fault_str(rp_fault_t f)
{
    if ((int)f < 0 || f >= RP_FAULT_MAX_ || !fault_names[f]) {
        return "proxy_internal_error";
    }
    return fault_names[f];
}

/* APR folds getaddrinfo()'s EAI_* codes into their own range; glibc's are
 * negative and APR stores them negated, other systems' positive. */
static int is_eai(apr_status_t rv, int *eai)
{
    if (rv < APR_OS_START_EAIERR ||
        rv >= APR_OS_START_EAIERR + APR_OS_ERRSPACE_SIZE) {
        return 0;
    }
    *eai = (int)(rv - APR_OS_START_EAIERR);
    return 1;
}

rp_fault_t rp_fault_of_status(apr_status_t rv, rp_fault_t dflt)
{
    int eai;

    if (is_eai(rv, &eai)) {
        /* EAI_AGAIN is what the resolver returns when no server answered
         * in time: the one DNS failure that is a timeout. */
        return eai == EAI_AGAIN || eai == -EAI_AGAIN ? RP_FAULT_DNS_TIMEOUT
                                                     : RP_FAULT_DNS_ERROR;
    }
    if (APR_STATUS_IS_ECONNREFUSED(rv)) {
        return RP_FAULT_CONNECTION_REFUSED;
    }
    if (APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_ETIMEDOUT(rv)) {
        return RP_FAULT_CONNECTION_TIMEOUT;
    }
    if (APR_STATUS_IS_EHOSTUNREACH(rv) || APR_STATUS_IS_ENETUNREACH(rv)) {
        return RP_FAULT_DESTINATION_IP_UNROUTABLE;
    }
    if (APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_EPIPE(rv) ||
        APR_STATUS_IS_EOF(rv) || APR_STATUS_IS_ECONNABORTED(rv)) {
        return RP_FAULT_CONNECTION_TERMINATED;
    }
    return dflt;
}

rp_fault_t rp_fault_of_code(apr_status_t err)
{
    switch (err) {
    case RP_EBAD_REQUEST:
        return RP_FAULT_HTTP_REQUEST_ERROR;
    case RP_EPOOL_FULL:
        return RP_FAULT_CONNECTION_LIMIT_REACHED;
    case RP_ENO_MEMBER:
        return RP_FAULT_DESTINATION_UNAVAILABLE;
    case RP_EBACKEND_TIMEOUT:
        return RP_FAULT_HTTP_RESPONSE_TIMEOUT;
    case RP_EBAD_RESPONSE:
        return RP_FAULT_HTTP_PROTOCOL_ERROR;
    case RP_ETLS:
        return RP_FAULT_TLS_PROTOCOL_ERROR;
    case RP_EBACKEND_UNREACHABLE:
        return RP_FAULT_DESTINATION_UNAVAILABLE;
    default:
        return RP_FAULT_PROXY_INTERNAL_ERROR; /* RP_EHOOK and the unknown */
    }
}

/* RFC 9110 tchar, plus ":" and "/" as RFC 8941 sf-token allows. */
static int is_token_char(int c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~:/", c));
}

static int is_sf_token(const char *s)
{
    if (!s || !(apr_isalpha(*s) || *s == '*')) {
        return 0;
    }
    for (s++; *s; s++) {
        if (!is_token_char((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/* s as an RFC 8941 sf-string, at most max bytes of s: printable ASCII
 * only (others become "?"), '"' and '\' escaped. */
static char *sf_string(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = s ? strlen(s) : 0, i;
    char *out, *o;

    if (n > max) {
        n = max;
    }
    o = out = apr_palloc(p, 2 * n + 3);
    *o++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
        }
        *o++ = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

const char *rp_fault_proxy_status_received(apr_pool_t *p, const char *name,
                                           int status)
{
    const char *n =
        is_sf_token(name) ? name : sf_string(p, name, RP_FAULT_DETAILS_MAX);

    return apr_psprintf(p, "%s; received-status=%d", n, status);
}

const char *rp_fault_proxy_status(apr_pool_t *p, const char *name,
                                  rp_fault_t fault, const char *details)
{
    const char *n =
        is_sf_token(name) ? name : sf_string(p, name, RP_FAULT_DETAILS_MAX);

    if (fault == RP_FAULT_NONE) {
        fault = RP_FAULT_PROXY_INTERNAL_ERROR; /* an error with no cause */
    }
    if (!details || !*details) {
        return apr_pstrcat(p, n, "; error=", rp_fault_str(fault), NULL);
    }
    return apr_pstrcat(p, n, "; error=", rp_fault_str(fault), "; details=",
                       sf_string(p, details, RP_FAULT_DETAILS_MAX), NULL);
}
