/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_rewrite.c: response URLs and cookie attributes mapped back to the
 * front. Everything here is a pure function over the caller's strings. */

#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "rp_rewrite.h"

/* ---- paths ------------------------------------------------------------ */

/* Length of s without one trailing '/' ("/" counts as ""). */
static apr_size_t trimmed_len(const char *s)
{
    apr_size_t n = strlen(s);

    return n > 0 && s[n - 1] == '/' ? n - 1 : n;
}

const char *rp_rewrite_map_path(apr_pool_t *p, const char *path, apr_size_t len,
                                const char *from, const char *to)
{
    apr_size_t flen, tlen;
    const char *rest;

    from = from ? from : "";
    to = to ? to : "";
    /* Equal to from: exactly the configured counterpart. */
    if (len == strlen(from) && !memcmp(path, from, len)) {
        return *to ? to : "/";
    }
    flen = trimmed_len(from);
    if (len < flen || memcmp(path, from, flen) != 0) {
        return NULL;
    }
    /* A segment boundary: "/basement" does not lie under "/base". */
    rest = path + flen;
    if (len > flen && *rest != '/') {
        return NULL;
    }
    tlen = trimmed_len(to);
    if (tlen == 0 && len == flen) {
        return "/";
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, to, tlen),
                       apr_pstrmemdup(p, rest, len - flen), NULL);
}

/* ---- URLs ------------------------------------------------------------- */

/* A URI reference cut into its parts (RFC 3986 section 4.1). Spans point
 * into the value; scheme_len is 0 for a reference without a scheme. */
typedef struct uri_ref_t {
    const char *scheme;
    apr_size_t scheme_len;
    const char *authority; /* NULL: no "//" authority */
    apr_size_t authority_len;
    const char *path; /* up to '?', '#' or the end */
    apr_size_t path_len;
    const char *rest; /* '?' or '#' onwards, or "" */
} uri_ref_t;

/* The scheme's length when v starts with "scheme:", else 0. */
static apr_size_t scheme_len(const char *v)
{
    apr_size_t n = 0;

    if (!apr_isalpha(v[0])) {
        return 0;
    }
    while (apr_isalnum(v[n]) || v[n] == '+' || v[n] == '-' || v[n] == '.') {
        n++;
    }
    return v[n] == ':' ? n : 0;
}

static void split_ref(const char *v, uri_ref_t *u)
{
    memset(u, 0, sizeof(*u));
    u->scheme_len = scheme_len(v);
    if (u->scheme_len) {
        u->scheme = v;
        v += u->scheme_len + 1;
    }
    if (v[0] == '/' && v[1] == '/') {
        u->authority = v + 2;
        u->authority_len = strcspn(u->authority, "/?#");
        v = u->authority + u->authority_len;
    }
    u->path = v;
    u->path_len = strcspn(v, "?#");
    u->rest = v + u->path_len;
}

/* An authority cut into host and port. */
typedef struct authority_t {
    const char *host; /* without brackets; points into the authority */
    apr_size_t host_len;
    long port; /* the scheme's default when none or empty */
} authority_t;

/* Parse host, "host:port" or "[v6]:port" (an empty port is the default
 * one). Userinfo is refused: such a URL was not made by the backend for
 * itself. Returns 0 when a is not such an authority. */
static int parse_authority(const char *a, apr_size_t alen, apr_port_t dflt,
                           authority_t *out)
{
    const char *end = a + alen, *colon;

    if (alen == 0 || memchr(a, '@', alen)) {
        return 0;
    }
    if (*a == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb || (rb + 1 < end && rb[1] != ':')) {
            return 0;
        }
        out->host = a + 1;
        out->host_len = (apr_size_t)(rb - out->host);
        colon = rb + 1 < end ? rb + 1 : NULL;
    }
    else {
        colon = memchr(a, ':', alen);
        out->host = a;
        out->host_len = (apr_size_t)((colon ? colon : end) - a);
    }
    out->port = dflt;
    if (!colon || colon + 1 == end) {
        return out->host_len > 0;
    }
    for (out->port = 0, colon++; colon < end; colon++) {
        if (!apr_isdigit(*colon) ||
            (out->port = out->port * 10 + (*colon - '0')) > 65535) {
            return 0;
        }
    }
    return out->host_len > 0;
}

static int same_authority(const authority_t *a, const authority_t *b)
{
    return a->port == b->port && a->host_len == b->host_len &&
           strncasecmp(a->host, b->host, a->host_len) == 0;
}

/* Is the reference's authority the backend's own: the target's host and
 * port, or the Host field the backend was sent? */
static int backend_authority(const rp_rewrite_map_t *m, const uri_ref_t *u)
{
    const rp_url_t *t = m->target;
    apr_port_t dflt = t->tls ? 443 : 80;
    authority_t got, mine;

    if (!parse_authority(u->authority, u->authority_len, dflt, &got)) {
        return 0;
    }
    mine.host = t->host;
    mine.host_len = strlen(t->host);
    mine.port = t->port;
    if (same_authority(&got, &mine)) {
        return 1;
    }
    return m->backend_host &&
           parse_authority(m->backend_host, strlen(m->backend_host), dflt,
                           &mine) &&
           same_authority(&got, &mine);
}

/* The reference's path mapped under the front prefix, or NULL when it
 * does not lie under the target's base path. An absolute URL's empty path
 * is "/" (RFC 3986 section 6.2.3). */
static const char *mapped_path(apr_pool_t *p, const rp_rewrite_map_t *m,
                               const uri_ref_t *u)
{
    const char *path = u->path;
    apr_size_t len = u->path_len;

    if (len == 0 && u->authority) {
        path = "/";
        len = 1;
    }
    if (len == 0 || path[0] != '/') {
        return NULL;
    }
    return rp_rewrite_map_path(p, path, len, m->target->path,
                               m->front_prefix ? m->front_prefix : "");
}

/* Is h fit to become a URL's authority: only the characters RFC 3986
 * section 3.2 allows there, and no userinfo? The client's Host ends up in
 * a response that caches may keep: nothing odd goes through. */
static int valid_host(const char *h)
{
    const char *s;

    if (!h || !*h) {
        return 0;
    }
    for (s = h; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("-._~!$&'()*+,;=:[]%", *s)) {
            return 0;
        }
    }
    return 1;
}

/* out, or value itself when out holds the same bytes: a mapping may write
 * back what was there (a front prefix equal to the base path, a cookie rule
 * whose from equals its to), and callers tell "unchanged" by the pointer. */
static const char *same_or(const char *value, const char *out)
{
    return out != value && strcmp(out, value) == 0 ? value : out;
}

static const char *rewrite_url(apr_pool_t *p, const rp_rewrite_map_t *m,
                               const char *value)
{
    const char *path;
    uri_ref_t u;

    split_ref(value, &u);
    if (u.scheme && (u.scheme_len != strlen(m->target->scheme) ||
                     strncasecmp(u.scheme, m->target->scheme, u.scheme_len) ||
                     !u.authority)) {
        return value; /* another scheme, or "http:path" */
    }
    if (u.authority && !backend_authority(m, &u)) {
        return value;
    }
    path = mapped_path(p, m, &u);
    if (!path) {
        return value;
    }
    if (!u.authority || !valid_host(m->front_host)) {
        return apr_pstrcat(p, path, u.rest, NULL);
    }
    if (!u.scheme) {
        return apr_pstrcat(p, "//", m->front_host, path, u.rest, NULL);
    }
    return apr_pstrcat(p, m->front_scheme, "://", m->front_host, path, u.rest,
                       NULL);
}

/* Do two route paths name the same route? A trailing '/' aside, as
 * "RProxyPass /app/" and "RProxyPassReverse /app" do. */
static int same_prefix(const char *a, const char *b)
{
    apr_size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;

    la -= la && a[la - 1] == '/';
    lb -= lb && b[lb - 1] == '/';
    return la == lb && (la == 0 || memcmp(a, b, la) == 0);
}

const char *rp_rewrite_url(apr_pool_t *p, const rp_rewrite_map_t *m,
                           const char *value)
{
    const char *out = rewrite_url(p, m, value);
    rp_rewrite_map_t am;
    int i;

    for (i = 0; out == value && m->aliases && i < m->aliases->nelts; i++) {
        const rp_rewrite_alias_t *a =
            &APR_ARRAY_IDX(m->aliases, i, rp_rewrite_alias_t);

        if (a->prefix && !same_prefix(a->prefix, m->front_prefix)) {
            continue;
        }
        am = *m;
        am.target = &a->url;
        am.backend_host = NULL;
        out = rewrite_url(p, &am, value);
    }
    return same_or(value, out);
}

/* ---- Refresh ---------------------------------------------------------- */

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

/* "delay; url=URL", "delay, URL=\"URL\"": the URL's span, or NULL. */
static const char *refresh_url(const char *v, apr_size_t *len)
{
    const char *s = v + strcspn(v, ";,"), *end;
    char q = 0;

    if (!*s) {
        return NULL;
    }
    s = skip_ows(s + 1);
    if (strncasecmp(s, "url", 3) != 0) {
        return NULL;
    }
    s = skip_ows(s + 3);
    if (*s != '=') {
        return NULL;
    }
    s = skip_ows(s + 1);
    if (*s == '"' || *s == '\'') {
        q = *s++;
    }
    end = q && strchr(s, q) ? strchr(s, q) : s + strlen(s);
    while (!q && end > s && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    *len = (apr_size_t)(end - s);
    return s;
}

const char *rp_rewrite_refresh(apr_pool_t *p, const rp_rewrite_map_t *m,
                               const char *value)
{
    apr_size_t len = 0;
    const char *url = refresh_url(value, &len), *mapped, *copy;

    if (!url || len == 0) {
        return value;
    }
    copy = apr_pstrmemdup(p, url, len);
    mapped = rp_rewrite_url(p, m, copy);
    if (mapped == copy) {
        return value;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, value, (apr_size_t)(url - value)),
                       mapped, url + len, NULL);
}

/* ---- Set-Cookie ------------------------------------------------------- */

/* One cookie attribute: name and value spans inside the field value. */
typedef struct cookie_attr_t {
    const char *name;
    apr_size_t name_len;
    const char *val; /* NULL: no '=' */
    apr_size_t val_len;
    const char *next; /* the ';' after it, or the end */
} cookie_attr_t;

/* Cut the attribute that starts after the ';' at s. */
static void next_attr(const char *s, cookie_attr_t *a)
{
    const char *e;

    a->name = skip_ows(s);
    a->next = a->name + strcspn(a->name, ";");
    e = a->name + strcspn(a->name, "=;");
    a->val = *e == '=' ? skip_ows(e + 1) : NULL;
    while (e > a->name && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    a->name_len = (apr_size_t)(e - a->name);
    if (a->val) {
        e = a->next;
        while (e > a->val && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        a->val_len = (apr_size_t)(e - a->val);
    }
}

static int attr_is(const cookie_attr_t *a, const char *name)
{
    return a->val && a->name_len == strlen(name) &&
           !strncasecmp(a->name, name, a->name_len);
}

/* The replacement for a Domain value, or NULL. A leading '.' is ignored
 * on both sides, as user agents do (RFC 6265 section 5.2.3). */
static const char *map_domain(const cookie_attr_t *a,
                              const apr_array_header_t *rules)
{
    const rp_rewrite_pair_t *r;
    const char *v = a->val;
    apr_size_t n = a->val_len;
    int i;

    if (n > 0 && *v == '.') {
        v++, n--;
    }
    for (i = 0; rules && i < rules->nelts; i++) {
        const char *from;
        r = &APR_ARRAY_IDX(rules, i, rp_rewrite_pair_t);
        from = r->from[0] == '.' ? r->from + 1 : r->from;
        if (n > 0 && strlen(from) == n && !strncasecmp(v, from, n)) {
            return r->to;
        }
    }
    return NULL;
}

static const char *map_cookie_path(apr_pool_t *p, const cookie_attr_t *a,
                                   const apr_array_header_t *rules)
{
    const char *to;
    int i;

    for (i = 0; rules && i < rules->nelts && a->val_len > 0; i++) {
        const rp_rewrite_pair_t *r =
            &APR_ARRAY_IDX(rules, i, rp_rewrite_pair_t);
        to = rp_rewrite_map_path(p, a->val, a->val_len, r->from, r->to);
        if (to) {
            return to;
        }
    }
    return NULL;
}

int rp_rewrite_cookie_domain_ok(const char *s)
{
    if (!*s || !strcmp(s, ".")) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isalnum(*s) && !strchr("-._", *s)) {
            return 0;
        }
    }
    return 1;
}

int rp_rewrite_cookie_path_ok(const char *s)
{
    if (*s != '/') {
        return 0;
    }
    for (; *s; s++) {
        if (*s == ';' || *s == ' ' || apr_iscntrl(*s) || (*s & 0x80)) {
            return 0;
        }
    }
    return 1;
}

/* The cookie's own name=value comes first and is never an attribute, even
 * when the cookie is called "Path". Only the value bytes of a matched
 * attribute change. */
const char *rp_rewrite_set_cookie(apr_pool_t *p, const char *value,
                                  const apr_array_header_t *domains,
                                  const apr_array_header_t *paths)
{
    const char *s = value + strcspn(value, ";"), *done = value, *to;
    const char *out = NULL;
    cookie_attr_t a;

    while (*s == ';') {
        next_attr(s + 1, &a);
        to = attr_is(&a, "domain") ? map_domain(&a, domains)
             : attr_is(&a, "path") ? map_cookie_path(p, &a, paths)
                                   : NULL;
        if (to) {
            out = apr_pstrcat(
                p, out ? out : "",
                apr_pstrmemdup(p, done, (apr_size_t)(a.val - done)), to, NULL);
            done = a.val + a.val_len;
        }
        s = a.next;
    }
    return out ? same_or(value, apr_pstrcat(p, out, done, NULL)) : value;
}

/* ---- a response head -------------------------------------------------- */

/* The response fields rp_rewrite_response() may change. */
typedef enum rewritten_t {
    RW_NONE,
    RW_URL,     /* Location, Content-Location */
    RW_REFRESH, /* Refresh */
    RW_SET_COOKIE
} rewritten_t;

/* Which of them the field called k is: the first letter leaves at most
 * one name to compare. */
static rewritten_t rewritten_field(const char *k)
{
    const char *name;
    rewritten_t kind;

    switch (k[0]) {
    case 'L':
    case 'l':
        name = "Location";
        kind = RW_URL;
        break;
    case 'C':
    case 'c':
        name = "Content-Location";
        kind = RW_URL;
        break;
    case 'R':
    case 'r':
        name = "Refresh";
        kind = RW_REFRESH;
        break;
    case 'S':
    case 's':
        name = "Set-Cookie";
        kind = RW_SET_COOKIE;
        break;
    default:
        return RW_NONE;
    }
    return strcasecmp(k, name) == 0 ? kind : RW_NONE;
}

void rp_rewrite_response(apr_pool_t *p, apr_table_t *headers,
                         const rp_rewrite_map_t *m,
                         const apr_array_header_t *domains,
                         const apr_array_header_t *paths)
{
    const apr_array_header_t *arr = apr_table_elts(headers);
    apr_table_entry_t *e = (apr_table_entry_t *)arr->elts;
    int cookies = (domains && domains->nelts) || (paths && paths->nelts);
    int i;

    if (!m && !cookies) {
        return;
    }
    /* In place: a field keeps its position among its namesakes. The first
     * letter spares most fields the string compare. */
    for (i = 0; i < arr->nelts; i++) {
        const char *k = e[i].key, *v = e[i].val;
        if (!k || !v) {
            continue;
        }
        switch (rewritten_field(k)) {
        case RW_URL:
            if (m) {
                e[i].val = (char *)rp_rewrite_url(p, m, v);
            }
            break;
        case RW_REFRESH:
            if (m) {
                e[i].val = (char *)rp_rewrite_refresh(p, m, v);
            }
            break;
        case RW_SET_COOKIE:
            if (cookies) {
                e[i].val = (char *)rp_rewrite_set_cookie(p, v, domains, paths);
            }
            break;
        default:
            break;
        }
    }
}
