/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: core/rp_url.c: rp_url_parse(), rp_url_join_path(),
 * rp_url_merge_query() and rp_url_match_prefix().
 *
 * Input: four NUL-separated strings: a target URL, a request path, a
 * request query and a route prefix.
 *
 * Properties beyond "no crash":
 * - parse: a refused URL leaves the caller's struct alone; an accepted one
 *   has scheme http/https matching tls, a lower-case host, a port, a path
 *   that is empty or absolute, a Host value without the default port, and
 *   written back as scheme://hostport path?query it parses to the same;
 * - join: NULL exactly when the request path holds a "." or ".." segment
 *   once %2e, %2f, %5c and '\' are decoded and ";params" cut (checked by a
 *   decoder written here); otherwise base and path with exactly one '/'
 *   between them and nothing else changed;
 * - merge: "t&r", either alone, or NULL, as the header says;
 * - prefix: the remainder is the tail of the path after the prefix, given
 *   only on a segment boundary. */

#include <strings.h>
#include "../fuzz.h"
#include "rp_url.h"

static int has_upper(const char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            return 1;
        }
    }
    return 0;
}

static void check_parse(const char *s)
{
    rp_url_t u, again, untouched;
    const char *why = NULL, *text, *host;
    apr_port_t dflt;

    memset(&u, 0x5a, sizeof(u));
    memcpy(&untouched, &u, sizeof(u));
    if (rp_url_parse(fuzz_pool, s, &u, &why) != APR_SUCCESS) {
        FUZZ_CHECK(why != NULL && !memcmp(&u, &untouched, sizeof(u)),
                   "refused URL without a reason or with the struct changed");
        return;
    }
    FUZZ_CHECK(!strcmp(u.scheme, u.tls ? "https" : "http"), "scheme %s",
               u.scheme);
    FUZZ_CHECK(*u.host && !has_upper(u.host), "host '%s'", u.host);
    FUZZ_CHECK(u.port > 0, "port 0");
    FUZZ_CHECK(*u.path == '\0' || *u.path == '/', "path '%s'", u.path);
    FUZZ_CHECK(!strchr(u.path, '?') && !strchr(u.path, '#') &&
                   (!u.query || !strchr(u.query, '#')),
               "path or query holds ? or #");
    dflt = u.tls ? 443 : 80;
    host =
        strchr(u.host, ':') ? apr_psprintf(fuzz_pool, "[%s]", u.host) : u.host;
    FUZZ_CHECK(!strcmp(u.hostport, u.port == dflt
                                       ? host
                                       : apr_psprintf(fuzz_pool, "%s:%u", host,
                                                      (unsigned)u.port)),
               "hostport '%s' for %s port %u", u.hostport, u.host,
               (unsigned)u.port);
    text = apr_pstrcat(fuzz_pool, u.scheme, "://", u.hostport, u.path,
                       u.query ? "?" : "", u.query ? u.query : "", NULL);
    FUZZ_CHECK(rp_url_parse(fuzz_pool, text, &again, &why) == APR_SUCCESS,
               "written back as '%s', refused: %s", text, why);
    FUZZ_CHECK(!strcmp(again.scheme, u.scheme) && !strcmp(again.host, u.host) &&
                   again.port == u.port && again.tls == u.tls &&
                   !strcmp(again.hostport, u.hostport) &&
                   !strcmp(again.path, u.path) &&
                   (again.query == NULL) == (u.query == NULL) &&
                   (!u.query || !strcmp(again.query, u.query)),
               "round trip of '%s' differs", text);
}

/* The reference for dot segments: decode the separators and dots a
 * backend might decode, then look at each segment up to its ';'. */
static int ref_has_dot_segment(const char *path)
{
    char *d = apr_palloc(fuzz_pool, strlen(path) + 1), *w = d, *seg;
    const char *s;

    for (s = path; *s;) {
        if (!strncasecmp(s, "%2e", 3)) {
            *w++ = '.', s += 3;
        }
        else if (!strncasecmp(s, "%2f", 3) || !strncasecmp(s, "%5c", 3)) {
            *w++ = '/', s += 3;
        }
        else {
            *w++ = *s == '\\' ? '/' : *s;
            s++;
        }
    }
    *w = '\0';
    for (seg = d;; seg = w + 1) {
        apr_size_t n;
        w = strchr(seg, '/');
        n = w ? (apr_size_t)(w - seg) : strlen(seg);
        n = strcspn(seg, ";") < n ? strcspn(seg, ";") : n;
        if ((n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2))) {
            return 1;
        }
        if (!w) {
            return 0;
        }
    }
}

static void check_join(const char *base, const char *req)
{
    const char *j = rp_url_join_path(fuzz_pool, base, req), *want;
    apr_size_t blen = strlen(base);

    FUZZ_CHECK((j == NULL) == ref_has_dot_segment(req),
               "join('%s', '%s') = %s, reference says %s", base, req,
               j ? j : "NULL", ref_has_dot_segment(req) ? "dots" : "fine");
    if (j == NULL) {
        return;
    }
    if (blen && base[blen - 1] == '/') {
        blen--;
    }
    want = *req ? apr_pstrcat(fuzz_pool, apr_pstrmemdup(fuzz_pool, base, blen),
                              "/", req + (*req == '/'), NULL)
                : (*base ? base : "/");
    FUZZ_CHECK(!strcmp(j, want), "join('%s', '%s') = '%s', not '%s'", base, req,
               j, want);
}

static void check_merge(const char *t, const char *r)
{
    const char *m = rp_url_merge_query(fuzz_pool, t, r);

    if (*t && *r) {
        FUZZ_CHECK(m && !strcmp(m, apr_pstrcat(fuzz_pool, t, "&", r, NULL)),
                   "merge both");
    }
    else if (*t || *r) {
        FUZZ_CHECK(m && !strcmp(m, *t ? t : r) && m != t && m != r,
                   "merge one (result must be a copy)");
    }
    else {
        FUZZ_CHECK(m == NULL &&
                       rp_url_merge_query(fuzz_pool, NULL, NULL) == NULL,
                   "merge none");
    }
}

static void check_prefix(const char *path, const char *prefix)
{
    const char *rest = rp_url_match_prefix(path, prefix);
    apr_size_t n = strlen(prefix);
    int under =
        !strncmp(path, prefix, n) &&
        (path[n] == '\0' || path[n] == '/' || (n > 0 && prefix[n - 1] == '/'));

    FUZZ_CHECK((rest != NULL) == under && (!rest || rest == path + n),
               "match_prefix('%s', '%s') = %s", path, prefix,
               rest ? rest : "NULL");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    const char *url = fuzz_take_str(&in), *path = fuzz_take_str(&in);
    const char *query = fuzz_take_str(&in), *prefix = fuzz_take_str(&in);
    rp_url_t u;

    check_parse(url);
    if (rp_url_parse(fuzz_pool, url, &u, NULL) == APR_SUCCESS) {
        check_join(u.path, path);
        check_merge(u.query ? u.query : "", query);
    }
    check_join(prefix, path);
    check_merge(query, prefix);
    check_prefix(path, prefix);
    FUZZ_END();
    return 0;
}
