/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_url.c: backend target URLs (RFC 3986) and the mapping of a request path
 * onto them. Pure string work: no I/O, no name resolution.
 *
 * The parser is strict on purpose. A target comes from the configuration, so
 * a refusal is a clear startup error, while a lenient parse would hand odd
 * bytes to the transport or to the Host field of every request.
 *
 * Every character test works on ASCII ranges, never on <ctype.h>, so that
 * the process locale cannot widen what is accepted. */

#include <string.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include "rp_url.h"

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* Characters RFC 3986 allows anywhere in a URI: unreserved, gen-delims,
 * sub-delims and '%' (checked by the caller for two hex digits). */
static int is_uri_char(unsigned char c)
{
    return is_alnum(c) ||
           (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

/* Letters, digits, '-', '.' and '_': what a DNS name or an IPv4 address
 * needs. Percent-encoded or sub-delim host names are legal URI syntax but
 * no resolver understands them, so they are refused. */
static int is_host_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

static void lower_ascii(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

/* Does s start with prefix, ignoring ASCII case? prefix is lower case. */
static int has_prefix_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        char c = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
        if (c != *prefix) {
            return 0;
        }
    }
    return 1;
}

/* NULL when every byte of s may appear in a URI, else why not. */
static const char *check_chars(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!is_uri_char(c)) {
            return "character not allowed in a URI (space, control, "
                   "non-ASCII or one of \"<>\\^`{|})";
        }
        /* is_hex('\0') is false, so this never reads past the end. */
        if (c == '%' && !(is_hex(s[1]) && is_hex(s[2]))) {
            return "malformed percent-encoding (expected %XX)";
        }
    }
    return NULL;
}

/* Consume "http://" or "https://" (any case) from *s. */
static const char *parse_scheme(const char **s, rp_url_t *u)
{
    if (has_prefix_nocase(*s, "http://")) {
        u->scheme = "http";
        u->port = 80;
        *s += 7;
        return NULL;
    }
    if (has_prefix_nocase(*s, "https://")) {
        u->scheme = "https";
        u->port = 443;
        u->tls = 1;
        *s += 8;
        return NULL;
    }
    return "scheme must be http:// or https://";
}

/* Port digits [s, end): 1..65535, digits only, not empty. Leading zeros
 * are allowed but more than five digits are not, so the sum cannot
 * overflow. */
static const char *parse_port(const char *s, const char *end, apr_port_t *port)
{
    unsigned long n = 0;
    const char *c;
    if (s == end) {
        return "empty port";
    }
    for (c = s; c < end; c++) {
        if (*c < '0' || *c > '9') {
            return "port is not a number";
        }
    }
    if (end - s > 5) {
        return "port out of range 1..65535";
    }
    for (c = s; c < end; c++) {
        n = n * 10 + (unsigned long)(*c - '0');
    }
    if (n == 0 || n > 65535) {
        return "port out of range 1..65535";
    }
    *port = (apr_port_t)n;
    return NULL;
}

/* "[v6]" at [s, end): the text between the brackets must be an IPv6
 * address as inet_pton() reads it (so zone IDs are refused). It is kept
 * as written but lower-cased. *after is set past the ']'. */
static const char *parse_ipv6(apr_pool_t *p, const char *s, const char *end,
                              rp_url_t *u, const char **after)
{
    const char *close = memchr(s, ']', (apr_size_t)(end - s));
    struct in6_addr a6;
    char *host;
    if (close == NULL) {
        return "'[' without ']' in host";
    }
    host = apr_pstrmemdup(p, s + 1, (apr_size_t)(close - s - 1));
    if (inet_pton(AF_INET6, host, &a6) != 1) {
        return "bad IPv6 address in brackets";
    }
    lower_ascii(host);
    u->host = host;
    *after = close + 1;
    return NULL;
}

/* A host name or an IPv4 address at [s, end). A name made of digits and
 * dots alone must be a dotted quad: "10.1" or "300.1.1.1" would otherwise
 * reach the resolver, which reads them in surprising ways. Lower-cased:
 * DNS names are case-insensitive (RFC 4343). */
static const char *parse_name(apr_pool_t *p, const char *s, const char *end,
                              rp_url_t *u)
{
    const char *c;
    int numeric = 1;
    struct in_addr a4;
    char *host;
    if (s >= end) { /* ">=" also tells the compiler end - s is positive */
        return "empty host";
    }
    for (c = s; c < end; c++) {
        if (!is_host_char((unsigned char)*c)) {
            return "bad character in host name";
        }
        numeric = numeric && ((*c >= '0' && *c <= '9') || *c == '.');
    }
    host = apr_pstrmemdup(p, s, (apr_size_t)(end - s));
    if (numeric && inet_pton(AF_INET, host, &a4) != 1) {
        return "bad IPv4 address";
    }
    lower_ascii(host);
    u->host = host;
    return NULL;
}

/* The authority [s, end): a host name, an IPv4 address or an IPv6 address
 * in brackets, then an optional ":port". Sets host and port. */
static const char *parse_authority(apr_pool_t *p, const char *s,
                                   const char *end, rp_url_t *u)
{
    const char *why, *after;
    if (memchr(s, '@', (apr_size_t)(end - s)) != NULL) {
        return "userinfo (user@) is not allowed";
    }
    if (s < end && *s == '[') {
        why = parse_ipv6(p, s, end, u, &after);
    }
    else {
        after = memchr(s, ':', (apr_size_t)(end - s));
        if (after == NULL) {
            after = end;
        }
        why = parse_name(p, s, after, u);
    }
    if (why == NULL && after < end) {
        why = (*after == ':') ? parse_port(after + 1, end, &u->port)
                              : "junk after the IPv6 address";
    }
    return why;
}

/* Host field value: the port is left out when it is the scheme's default,
 * as RFC 9110 section 7.2 lets a client do. */
static const char *make_hostport(apr_pool_t *p, const rp_url_t *u)
{
    int v6 = strchr(u->host, ':') != NULL;
    apr_port_t dflt = u->tls ? 443 : 80;
    const char *h = v6 ? apr_pstrcat(p, "[", u->host, "]", NULL) : u->host;
    if (u->port == dflt) {
        return h;
    }
    return apr_psprintf(p, "%s:%u", h, (unsigned)u->port);
}

/* Brackets belong to an IPv6 host alone (RFC 3986 section 3.2.2); the
 * fragment never reaches a server, so a target that has one is a mistake. */
static const char *check_path_query(const char *s)
{
    if (strchr(s, '#') != NULL) {
        return "fragment (#) is not allowed";
    }
    if (strpbrk(s, "[]") != NULL) {
        return "'[' or ']' outside an IPv6 host";
    }
    return NULL;
}

/* "unix:/path|" before the URL: the socket's path, absolute, short enough
 * for a sockaddr_un, no control characters. Moves *s past the '|'. */
static const char *parse_socket(apr_pool_t *p, const char **s, rp_url_t *u)
{
    const char *path = *s + 5, *bar = strchr(path, '|'), *c;

    if (bar == NULL) {
        return "a unix: target is unix:/path|http://host/...";
    }
    if (*path != '/') {
        return "the socket's path must be absolute";
    }
    if ((apr_size_t)(bar - path) > RP_URL_SOCKET_MAX) {
        return "the socket's path is too long (at most 107 bytes)";
    }
    for (c = path; c < bar; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return "control character in the socket's path";
        }
    }
    u->socket = apr_pstrmemdup(p, path, (apr_size_t)(bar - path));
    *s = bar + 1;
    return NULL;
}

/* The result is written to *url only on success, so a refused URL leaves
 * the caller's struct as it was. */
apr_status_t rp_url_parse(apr_pool_t *p, const char *s, rp_url_t *url,
                          const char **why)
{
    rp_url_t u;
    const char *w = NULL, *auth_end = NULL, *q;
    memset(&u, 0, sizeof(u));
    if (s != NULL && has_prefix_nocase(s, "unix:")) {
        w = parse_socket(p, &s, &u);
    }
    if (w == NULL) {
        w = (s == NULL) ? "empty URL" : parse_scheme(&s, &u);
    }
    if (w == NULL) {
        w = check_chars(s);
    }
    if (w == NULL) {
        auth_end = s + strcspn(s, "/?#");
        w = parse_authority(p, s, auth_end, &u);
    }
    if (w == NULL) {
        w = check_path_query(auth_end);
    }
    if (w != NULL) {
        if (why != NULL) {
            *why = w;
        }
        return APR_EINVAL;
    }
    q = strchr(auth_end, '?');
    u.path = q ? apr_pstrmemdup(p, auth_end, (apr_size_t)(q - auth_end))
               : apr_pstrdup(p, auth_end);
    u.query = q ? apr_pstrdup(p, q + 1) : NULL;
    u.hostport = make_hostport(p, &u);
    *url = u;
    return APR_SUCCESS;
}

const char *rp_url_origin(apr_pool_t *p, const rp_url_t *u)
{
    return apr_pstrcat(p, u->socket ? "unix:" : "", u->socket ? u->socket : "",
                       u->socket ? "|" : "", u->scheme, "://", u->hostport,
                       NULL);
}

/* Length of a dot at s: "." or its percent-encoded form "%2e" (any case);
 * 0 if none. Reads s[1] only when s[0] matched, and s[2] only when s[1]
 * did, so it never passes the terminating NUL. */
static apr_size_t dot_len(const char *s)
{
    if (s[0] == '.') {
        return 1;
    }
    if (s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E')) {
        return 3;
    }
    return 0;
}

/* Length of a segment separator at s, 0 if none. Besides '/', this counts
 * '\' and the encoded forms %2F and %5C: some backends (IIS, and any that
 * decode before they normalise) split on them, so "..%2F" climbs there. */
static apr_size_t sep_len(const char *s)
{
    if (s[0] == '/' || s[0] == '\\') {
        return 1;
    }
    if (s[0] == '%' && s[1] == '2' && (s[2] == 'f' || s[2] == 'F')) {
        return 3;
    }
    if (s[0] == '%' && s[1] == '5' && (s[2] == 'c' || s[2] == 'C')) {
        return 3;
    }
    return 0;
}

/* Does path hold a segment that is "." or ".." once decoded? A ';' also
 * ends the segment: Tomcat and other servlet containers drop path
 * parameters before they resolve dots, so "/..;x/" climbs there. */
static int has_dot_segment(const char *s)
{
    apr_size_t n;
    while (*s != '\0') {
        int dots = 0;
        while ((n = dot_len(s)) > 0) {
            dots++;
            s += n;
        }
        if (dots >= 1 && dots <= 2 &&
            (*s == '\0' || *s == ';' || sep_len(s) > 0)) {
            return 1;
        }
        while (*s != '\0' && sep_len(s) == 0) {
            s++;
        }
        s += sep_len(s); /* 0 at the end of the string */
    }
    return 0;
}

/* NULL arguments count as "". The check is on req_path alone: the base
 * path comes from the configuration, which the administrator controls. */
const char *rp_url_join_path(apr_pool_t *p, const char *base,
                             const char *req_path)
{
    apr_size_t blen;
    base = base ? base : "";
    req_path = req_path ? req_path : "";
    if (has_dot_segment(req_path)) {
        return NULL;
    }
    if (*req_path == '\0') {
        return apr_pstrdup(p, *base ? base : "/");
    }
    blen = strlen(base);
    if (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    if (*req_path == '/') {
        req_path++;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, base, blen), "/", req_path, NULL);
}

/* NULL counts as empty; the result is always a copy in p. */
const char *rp_url_merge_query(apr_pool_t *p, const char *target_query,
                               const char *req_query)
{
    int has_t = target_query != NULL && *target_query != '\0';
    int has_r = req_query != NULL && *req_query != '\0';
    if (has_t && has_r) {
        return apr_pstrcat(p, target_query, "&", req_query, NULL);
    }
    if (has_t || has_r) {
        return apr_pstrdup(p, has_t ? target_query : req_query);
    }
    return NULL;
}

/* Byte-exact comparison: paths are case-sensitive, and both sides are taken
 * as sent (no decoding), so "/app%2Fx" does not lie under "/app". The result
 * points into path and allocates nothing. */
const char *rp_url_match_prefix(const char *path, const char *prefix)
{
    apr_size_t plen;
    const char *rest;
    if (path == NULL || prefix == NULL) {
        return NULL;
    }
    plen = strlen(prefix);
    if (strncmp(path, prefix, plen) != 0) {
        return NULL;
    }
    rest = path + plen;
    if (*rest == '\0' || *rest == '/' ||
        (plen > 0 && prefix[plen - 1] == '/')) {
        return rest;
    }
    return NULL;
}

/* ---- percent-encoding ----------------------------------------------- */

/* Bytes a URI may hold as they are, for rp_url_escape_unsafe(): a '%'
 * only as the start of %XX (a lone one can only be a literal percent). */
static int keep_unsafe(const char *s)
{
    if (*s == '%') {
        return is_hex((unsigned char)s[1]) && is_hex((unsigned char)s[2]);
    }
    return *s != '#' && is_uri_char((unsigned char)*s);
}

/* pchar and '/' (RFC 3986 3.3) without '%', for rp_url_escape_path(). */
static int keep_path(const char *s)
{
    return is_alnum((unsigned char)*s) ||
           (*s != '\0' && strchr("-._~!$&'()*+,;=:@/", *s) != NULL);
}

/* ... and "%2F" as one unit (the caller skips the two digits). */
static int is_2f(const char *s)
{
    return s[0] == '%' && s[1] == '2' && (s[2] == 'F' || s[2] == 'f');
}

/* Encode every byte of s that keep() refuses; with keep_2f, "%2F" is
 * copied as is. */
static const char *escape(apr_pool_t *p, const char *s,
                          int (*keep)(const char *), int keep_2f)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = 0;
    const char *r;
    char *out, *w;

    for (r = s; *r; r++) {
        n += keep(r) || (keep_2f && is_2f(r)) ? 0 : 2;
    }
    if (n == 0) {
        return s;
    }
    out = w = apr_palloc(p, strlen(s) + n + 1);
    for (r = s; *r; r++) {
        unsigned char c = (unsigned char)*r;
        if (keep(r) || (keep_2f && is_2f(r))) {
            *w++ = (char)c;
            continue;
        }
        *w++ = '%';
        *w++ = hex[c >> 4];
        *w++ = hex[c & 15];
    }
    *w = '\0';
    return out;
}

const char *rp_url_escape_unsafe(apr_pool_t *p, const char *s)
{
    return escape(p, s, keep_unsafe, 0);
}

const char *rp_url_escape_path(apr_pool_t *p, const char *s, int keep_2f)
{
    return escape(p, s, keep_path, keep_2f);
}
