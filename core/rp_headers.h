/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_headers.h: header policy for proxied messages: hop-by-hop removal
 * (RFC 9110 section 7.6.1) driven by one table, the Connection-token pass,
 * X-Forwarded-* and field validation.
 *
 * Lifetimes: tables are the caller's; new strings come from the pool
 * given (or the table's own pool where none is given). */

#ifndef RP_HEADERS_H
#define RP_HEADERS_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of a header rule. */
#define RP_HDR_HOP 0x0001            /* hop-by-hop: never forwarded as is */
#define RP_HDR_TE_TRAILERS_OK 0x0002 /* "TE: trailers" passes on requests */

/* Flags of the named field (0 when the table has no rule for it). */
unsigned rp_headers_flags(const char *name);

/* Does the comma-separated list in value hold token (case-insensitive,
 * OWS around elements ignored, parameters after ';' ignored)? */
int rp_headers_has_token(const char *value, const char *token);

/* Remove from t every hop-by-hop field of the table and every field named by
 * a token of any Connection (or Proxy-Connection) field. When is_request and
 * the client's TE held the "trailers" token, t ends with "TE: trailers"
 * (and no other TE value). */
void rp_headers_strip_hop(apr_table_t *t, int is_request);

/* Facts about the front side of the exchange for the forwarding headers. */
typedef struct rp_fwd_info_t {
    const char *client_ip; /* borrowed: peer address as text */
    const char *host;      /* borrowed: client's Host; NULL if none */
    const char *proto;     /* borrowed: "http" or "https" */
} rp_fwd_info_t;

/* X-Forwarded-For: the prior value(s) of t (several fields joined with
 * ", ") with ", client_ip" appended, or client_ip alone; X-Forwarded-Host set
 * to info->host (removed when NULL); X-Forwarded-Proto set to info->proto. */
void rp_headers_add_forwarded(apr_pool_t *p, apr_table_t *t,
                              const rp_fwd_info_t *info);

/* Parse a Keep-Alive field ("timeout=5, max=100", RFC 2068 19.7.1.1 as
 * servers still send it): *timeout in seconds and *max requests, each -1
 * when absent or not a plain number of at most 9 digits. value may be NULL. */
void rp_headers_keep_alive(const char *value, long *timeout, long *max);

/* Is name a valid field-name (RFC 9110 5.1: one or more tchar)? */
int rp_headers_valid_name(const char *name);

/* Is value a valid field-value to put on the wire: no CR, LF or NUL, and no
 * other control character but HTAB? */
int rp_headers_valid_value(const char *value);

/* Check every entry of t. Returns APR_SUCCESS, or RP_EBAD_REQUEST with
 * *bad_name set to the first offending field name. */
apr_status_t rp_headers_validate(const apr_table_t *t, const char **bad_name);

/* Trailer policy (RFC 9110 6.5.1): the fields of trailers that may go on
 * to the next hop, as a new table from p, or NULL when none is left. Left
 * out: hop-by-hop fields (the rule table, and every name listed in
 * connection, the message head's Connection value, which may be NULL);
 * fields that frame, route, authenticate or modify the message and so must
 * be known before the content (Content-Length, Host, Authorization, ...,
 * and X-Forwarded-* / Forwarded, which the proxy alone writes); and fields
 * with an invalid name or value. trailers may be NULL. *dropped (may be
 * NULL) gets the number of fields left out. */
apr_table_t *rp_headers_forwardable_trailers(apr_pool_t *p,
                                             const apr_table_t *trailers,
                                             const char *connection,
                                             int *dropped);

#ifdef __cplusplus
}
#endif
#endif /* RP_HEADERS_H */
