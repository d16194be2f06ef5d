/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_url.h: backend target URLs and the mapping of a request path onto them.
 *
 * Lifetimes: every string returned comes from the pool passed in; an
 * rp_url_t borrows nothing after rp_url_parse() returns. */

#ifndef RP_URL_H
#define RP_URL_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_network_io.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A parsed backend target such as "http://10.0.0.5:8080/base?x=1". */
typedef struct rp_url_t {
    const char *scheme;   /* "http" or "https", lower case */
    const char *host;     /* lower case; IPv6 without brackets */
    apr_port_t port;      /* explicit or the scheme's default */
    const char *hostport; /* for Host: "host", "host:port", "[v6]:port";
                           * the port is left out when it is the default */
    const char *path;     /* base path as written: "" or starts with '/' */
    const char *query;    /* without '?'; NULL when the URL has none */
    const char *socket;   /* "unix:" targets: the socket's path; else NULL */
    unsigned tls:1;       /* scheme is https */
} rp_url_t;

/* The longest socket path: a sockaddr_un's sun_path less its NUL. */
#define RP_URL_SOCKET_MAX 107

/* Parse and validate a target URL. Accepts http:// and https:// with a
 * host name, an IPv4 address or a bracketed IPv6 address, an optional port
 * 1..65535, an optional path and query. Refuses (APR_EINVAL, *why set to a
 * static text) other schemes, userinfo, a fragment, an empty host, bad ports,
 * and characters that are not allowed in a URI (spaces, controls, non-ASCII,
 * malformed %XX).
 *
 * A target on a Unix domain socket is written as mod_proxy writes it:
 * "unix:/run/app.sock|http://app.local/base". The connection goes to the
 * socket (an absolute path of at most RP_URL_SOCKET_MAX bytes, no control
 * characters) and the URL after '|' gives everything else: the scheme,
 * the Host field, the path. socket is NULL for every other target; callers
 * that take URLs from requests rather than configuration must refuse a
 * target whose socket is set. */
apr_status_t rp_url_parse(apr_pool_t *p, const char *s, rp_url_t *url,
                          const char **why);

/* The target's origin as the configuration writes it: "scheme://hostport",
 * or "unix:/path|scheme://hostport" for a socket target. From p. */
const char *rp_url_origin(apr_pool_t *p, const rp_url_t *u);

/* Join the target's base path and the request path with exactly one slash
 * between them, keeping the request's percent-encoding as sent:
 *   ("/base", "/a%2Fb") -> "/base/a%2Fb"    ("/base/", "/a") -> "/base/a"
 *   ("", "/a") -> "/a"   ("/base", "") -> "/base"   ("", "") -> "/"
 *   ("/base", "a") -> "/base/a"
 * Returns NULL when req_path holds a dot segment ("." or "..", also when
 * percent-encoded, in any case): such a path could climb out of the base path
 * and must be refused, not forwarded. */
const char *rp_url_join_path(apr_pool_t *p, const char *base,
                             const char *req_path);

/* Merge queries: both -> "target&request"; either alone as is; neither or
 * both empty -> NULL. */
const char *rp_url_merge_query(apr_pool_t *p, const char *target_query,
                               const char *req_query);

/* If path lies under prefix on a segment boundary, return the remainder
 * (pointing into path; "" when path == prefix), else NULL.
 *   ("/app/x", "/app") -> "/x"   ("/app", "/app") -> ""
 *   ("/appx", "/app") -> NULL    ("/app/x", "/app/") -> "x"
 *   ("/anything", "/") -> "anything" */
const char *rp_url_match_prefix(const char *path, const char *prefix);

/* Percent-encoding for URLs built at request time (mod_rewrite rules).
 *
 * rp_url_escape_unsafe(): encode only the bytes a URI can never hold
 * (controls, space, non-ASCII, "<>\\^`{|}), '#' (a fragment is never
 * sent) and a '%' not followed by two hex digits; %XX and every reserved
 * character stay as they are, so a URL that is already encoded is not
 * encoded twice.
 *   "http://b/a b?x=<1>" -> "http://b/a%20b?x=%3C1%3E"   "/a%2Fb" -> "/a%2Fb"
 *   "/100%" -> "/100%25"   "/%zz" -> "/%25zz"
 *
 * rp_url_escape_path(): a decoded path (httpd's r->uri) to its encoded
 * form: everything but unreserved characters, sub-delims, ':', '@' and '/'
 * is encoded, '%' included, except that with keep_2f a "%2F" (any case)
 * stays as it is: the host left encoded slashes encoded while decoding the
 * rest (httpd's AllowEncodedSlashes NoDecode).
 *   "/a b/100%" -> "/a%20b/100%25"   "/x?y#z" -> "/x%3Fy%23z"
 *   keep_2f: "/a%2Fb%25" -> "/a%2Fb%2525"
 *
 * Both return s itself when nothing needs encoding, else a string from p. */
const char *rp_url_escape_unsafe(apr_pool_t *p, const char *s);
const char *rp_url_escape_path(apr_pool_t *p, const char *s, int keep_2f);

#ifdef __cplusplus
}
#endif
#endif /* RP_URL_H */
