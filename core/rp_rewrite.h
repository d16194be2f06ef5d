/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_rewrite.h: the backend's URLs in a response, mapped back into the
 * front's URL space (httpd's ProxyPassReverse and ProxyPassReverseCookie*,
 * nginx's proxy_redirect and proxy_cookie_*).
 *
 *   Location, Content-Location, Refresh's url=   rp_rewrite_url()
 *     <target scheme>://<target host:port | Host sent><base>/x?y#z
 *        -> <front scheme>://<client's Host><prefix>/x?y#z
 *     <base>/x?y -> <prefix>/x?y
 *   Set-Cookie Domain= and Path=                 rp_rewrite_set_cookie()
 *
 * Pure functions over strings: no I/O, no logging. Every comparison is on
 * the bytes as written (percent-encoding is neither decoded nor added);
 * only schemes and host names compare without regard to case.
 *
 * Lifetimes: every rp_rewrite_*_t borrows its strings (configuration pool
 * or request pool); results come from the pool passed in, or are the input
 * pointer itself when nothing changed. */

#ifndef RP_REWRITE_H
#define RP_REWRITE_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "rp_url.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One RProxyPassReverse: another URL by which the backend names itself
 * (a canonical or public name it redirects to). */
typedef struct rp_rewrite_alias_t {
    const char *prefix; /* borrowed: the route path it serves, as in
                         * "RProxyPassReverse /app/ url"; NULL: the route
                         * of the <Location> it was given in */
    rp_url_t url;       /* scheme, host, port and base path; no query */
} rp_rewrite_alias_t;

/* Where the backend's URL space lies and where it maps to on the front. */
typedef struct rp_rewrite_map_t {
    const rp_url_t *target;   /* borrowed: scheme, host, port, base path */
    const char *backend_host; /* borrowed: the Host field the backend got
                               * (a second name for it, e.g. with
                               * RProxyPreserveHost); NULL: none */
    const char *front_scheme; /* borrowed: "http" or "https" */
    const char *front_host;   /* borrowed: the client's Host as sent; NULL
                               * (or not a plain host[:port]): absolute
                               * URLs become absolute paths */
    const char *front_prefix; /* borrowed: the route's path prefix; "" or
                               * NULL when the path was not stripped */
    /* borrowed: rp_rewrite_alias_t, the backend's other URLs, tried in
     * order after the target when their prefix is the route's (a trailing
     * '/' aside); NULL: none */
    const apr_array_header_t *aliases;
} rp_rewrite_map_t;

/* One RProxyCookieDomain or RProxyCookiePath rule. */
typedef struct rp_rewrite_pair_t {
    const char *from; /* borrowed: configuration pool */
    const char *to;   /* borrowed: configuration pool */
} rp_rewrite_pair_t;

/* Map a path that lies under from (on a segment boundary) to the same place
 * under to. len is the length of path (it need not end in a NUL), so the
 * query of a URL can stay outside. A trailing '/' of from or to does not
 * matter for the match, but a path equal to from becomes to exactly:
 *   ("/base/x", "/base/", "/app/") -> "/app/x"
 *   ("/base/x", "/base", "/app/")  -> "/app/x"
 *   ("/base", "/base/", "/app/")   -> "/app"     ("/base/", "/base/", "/app")
 *   -> "/app"   ("/x", "", "/app") -> "/app/x"   ("/base", "/base", "")
 *   -> "/"      ("/basement", "/base", "/app") -> NULL (not under)
 * Returns NULL when path is not under from. */
const char *rp_rewrite_map_path(apr_pool_t *p, const char *path, apr_size_t len,
                                const char *from, const char *to);

/* Rewrite one URI reference (a Location or Content-Location value):
 * - an absolute URL whose scheme is the target's and whose authority is the
 *   target's host and port (default ports count: http://h == http://h:80),
 *   or the backend_host, and whose path lies under the target's base path:
 *   front scheme, front host and the path mapped under the front prefix;
 * - a network-path reference ("//authority/path") alike, keeping no scheme;
 * - an absolute path under the base path: the path mapped;
 * - failing those, the same with each alias that serves the route in
 *   place of the target (and no backend_host);
 * - anything else (relative references, other hosts, schemes or ports,
 *   userinfo, paths outside the base path): value itself.
 * Query and fragment are kept as written. */
const char *rp_rewrite_url(apr_pool_t *p, const rp_rewrite_map_t *m,
                           const char *value);

/* Rewrite the url= part of a Refresh value ("5; url=/base/x", the URL
 * optionally quoted) with rp_rewrite_url(); value itself when unchanged. */
const char *rp_rewrite_refresh(apr_pool_t *p, const rp_rewrite_map_t *m,
                               const char *value);

/* Rewrite the Domain= and Path= attributes of one Set-Cookie value. The
 * first rule of domains whose from equals the Domain value (without case,
 * a leading '.' on either side ignored) replaces it with its to; the first
 * rule of paths whose from the Path value lies under (rp_rewrite_map_path)
 * maps it. Attribute names match without case, in any order; the
 * cookie's name=value pair and every other byte stay as they were. Either
 * array (of rp_rewrite_pair_t) may be NULL. Returns value itself when
 * nothing changed. */
const char *rp_rewrite_set_cookie(apr_pool_t *p, const char *value,
                                  const apr_array_header_t *domains,
                                  const apr_array_header_t *paths);

/* Values a cookie rule (RProxyCookieDomain / RProxyCookiePath) may hold,
 * from and to alike, so that a rewritten attribute stays well formed: a
 * Domain is a host name (letters, digits, '-', '.', '_'), optionally with a
 * leading '.'; a Path starts with '/' and holds no ';', space, control or
 * non-ASCII byte (RFC 6265 section 4.1.1, path-value). */
int rp_rewrite_cookie_domain_ok(const char *s);
int rp_rewrite_cookie_path_ok(const char *s);

/* Apply the above to a response head in place: Location, Content-Location
 * and Refresh when m is not NULL, every Set-Cookie field when a rule array
 * is not empty. Fields keep their order; new values come from p. */
void rp_rewrite_response(apr_pool_t *p, apr_table_t *headers,
                         const rp_rewrite_map_t *m,
                         const apr_array_header_t *domains,
                         const apr_array_header_t *paths);

#ifdef __cplusplus
}
#endif
#endif /* RP_REWRITE_H */
