/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_headers.h: header policy for proxied messages: hop-by-hop removal
 * (RFC 9110 section 7.6.1) driven by one table, the Connection-token pass,
 * the forwarding fields (X-Forwarded-*, RFC 7239 Forwarded, Via) with their
 * trust rule, and field validation.
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
    const char *client_ip; /* borrowed: TCP peer address as text */
    const char *host;      /* borrowed: client's Host; NULL if none */
    const char *proto;     /* borrowed: "http" or "https" */
    int version;           /* client's HTTP version, major * 1000 + minor
                            * (1001 is HTTP/1.1); 0: unknown, taken as 1.1 */
    const char *via_name;  /* borrowed: this proxy's name in Via; NULL: none */
    /* borrowed: the X-Forwarded-For fields as the client sent them, when
     * the host knows that one of its modules (mod_remoteip) rewrote them;
     * NULL: the table's own are the client's */
    const char *xff_received;
    /* borrowed: the path prefix the route takes off the client's path
     * ("/app/" of RProxyPass /app/ ...), for X-Forwarded-Prefix; NULL,
     * "" or "/": none */
    const char *prefix;
} rp_fwd_info_t;

/* Which forwarding fields to write (from RProxyAddForwarded,
 * RProxyForwarded, RProxyVia and RProxyTrustedProxies). */
typedef struct rp_fwd_policy_t {
    const apr_array_header_t *trusted; /* borrowed: rp_cidr_t (rp_addr.h);
                                        * NULL or empty: trust no peer */
    unsigned x_forwarded:1;            /* X-Forwarded-For, -Host, -Proto */
    unsigned forwarded:1;              /* RFC 7239 Forwarded */
    unsigned via:1;                    /* Via (RFC 9110 section 7.6.3) */
} rp_fwd_policy_t;

/* The forwarding fields of a request to the backend. Trust is decided on
 * info->client_ip, the TCP peer, alone:
 *
 * - peer not in pol->trusted: every X-Forwarded-For, -Host, -Proto,
 *   -Prefix, -Port, -Ssl, -Server, X-Real-IP and Forwarded field of t is
 *   removed (a client can write anything there, and applications believe
 *   them), then ours are written fresh: X-Forwarded-For: client_ip,
 *   X-Forwarded-Host: host (none without a Host), X-Forwarded-Proto: proto,
 *   X-Forwarded-Prefix: the prefix without its trailing '/' (none for "" or
 *   "/"), and Forwarded: for=...;host=...;proto=... when asked for.
 * - trusted peer: the prior fields stay; X-Forwarded-For and Forwarded are
 *   extended with ", " and our value (several prior fields joined in
 *   order; X-Forwarded-For starts from info->xff_received when set);
 *   X-Forwarded-Host and -Proto are kept when present, else ours; our
 *   prefix is appended to a prior X-Forwarded-Prefix ("/outer" + "/app").
 *
 * Fields of a kind the policy does not write are left out (untrusted) or
 * passed as received (trusted). With pol->via and info->via_name, Via is
 * extended with "<client version> <via_name>".
 *
 * p must be t's pool or an ancestor of it: values are set without a copy
 * (apr_table_setn), and a pool-debug build checks exactly that. */
void rp_headers_forward(apr_pool_t *p, apr_table_t *t,
                        const rp_fwd_info_t *info, const rp_fwd_policy_t *pol);

/* Is the peer client_ip in the trusted list? */
int rp_headers_peer_trusted(const rp_fwd_policy_t *pol, const char *client_ip);

/* Extend Via (every prior field joined in order) with "<version> <name>":
 * version is major * 1000 + minor of the message as this hop received it,
 * written "1.0", "1.1", "2", "3" (RFC 9110 section 7.6.3 leaves out the
 * protocol name for HTTP); 0 is taken as 1.1. Same pool rule as above. */
void rp_headers_add_via(apr_pool_t *p, apr_table_t *t, int version,
                        const char *name);

/* value as an RFC 9110 section 5.6 token when every byte is a tchar, else as
 * a quoted-string with '"' and '\' escaped; "" becomes "\"\"". NULL when
 * value holds a byte no quoted-string may carry (a CTL other than HTAB,
 * DEL). Allocated in p (or value itself when it is a token). */
const char *rp_headers_quote(apr_pool_t *p, const char *value);

/* An RFC 7239 section 6 node for the address ip and port (0: none):
 * 192.0.2.1, "[2001:db8::1]", "192.0.2.1:8080", "[2001:db8::1]:8080",
 * quoted where the syntax needs it; an IPv6 zone is dropped. "unknown" when
 * ip is NULL or no address. Allocated in p. */
const char *rp_headers_forwarded_node(apr_pool_t *p, const char *ip,
                                      unsigned port);

/* One RFC 7239 forwarded-element for info: for=<node>;host=<Host>;
 * proto=<proto>, each value quoted where needed; a parameter whose value is
 * missing or cannot be written is left out (for= is always there). */
const char *rp_headers_forwarded_element(apr_pool_t *p,
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
