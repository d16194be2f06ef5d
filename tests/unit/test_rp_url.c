/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_url.c: rp_url.c. Every table row runs as its own test, named after
 * the rule it checks, with a fresh pool. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "rp_url.h"
#include "rp_test.h"
#include "rp_test_table.h"

/* ---- rp_url_parse: valid targets ---- */

typedef struct parse_ok_t {
    const char *name;
    const char *in;
    const char *scheme, *host;
    int port;
    const char *hostport, *path, *query; /* query NULL: none */
    int tls;
    const char *socket; /* unix: targets; NULL for the others */
} parse_ok_t;

/* 10 bytes; a socket path of 107 is "/" and 106 more */
#define TEN "abcdefghij"
#define PATH107 "/" TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN "klmnop"

static const parse_ok_t parse_ok[] = {
    {"rfc9110-4.2.1-http-default-port-80", "http://example.com", "http",
     "example.com", 80, "example.com", "", NULL, 0},
    {"rfc9110-4.2.2-https-default-port-443", "https://example.com/", "https",
     "example.com", 443, "example.com", "/", NULL, 1},
    {"rfc3986-3.2.3-explicit-port-path-query", "http://10.0.0.5:8080/base?x=1",
     "http", "10.0.0.5", 8080, "10.0.0.5:8080", "/base", "x=1", 0},
    {"rfc3986-3.2.2-ipv6-literal-with-port", "http://[::1]:8080/", "http",
     "::1", 8080, "[::1]:8080", "/", NULL, 0},
    {"rfc3986-3.2.2-ipv6-default-port-lower-cased", "https://[2001:DB8::A]",
     "https", "2001:db8::a", 443, "[2001:db8::a]", "", NULL, 1},
    {"rfc3986-6.2.2.1-scheme-and-host-lower-cased-path-kept",
     "HTTPS://API.Example.COM:8443/A/b", "https", "api.example.com", 8443,
     "api.example.com:8443", "/A/b", NULL, 1},
    {"rfc3986-6.2.3-default-port-left-out-of-hostport", "http://h:80/x", "http",
     "h", 80, "h", "/x", NULL, 0},
    {"rfc3986-3.4-empty-query-is-not-no-query", "http://h/p?", "http", "h", 80,
     "h", "/p", "", 0},
    {"rfc3986-3.3-query-without-path", "http://h?a=b&c", "http", "h", 80, "h",
     "", "a=b&c", 0},
    {"rfc3986-2.1-path-keeps-percent-encoding", "http://h/a%2Fb/%7e", "http",
     "h", 80, "h", "/a%2Fb/%7e", NULL, 0},
    {"rfc3986-3.2.3-port-65535-is-max", "https://h:65535", "https", "h", 65535,
     "h:65535", "", NULL, 1},
    {"rp-unix-socket-then-the-url", "unix:/run/app.sock|http://App.local/base",
     "http", "app.local", 80, "app.local", "/base", NULL, 0, "/run/app.sock"},
    {"rp-unix-socket-any-case-https-with-port",
     "UNIX:/r/a b.sock|https://n:8443/?q", "https", "n", 8443, "n:8443", "/",
     "q", 1, "/r/a b.sock"},
    {"rp-unix-socket-path-of-107-bytes", "unix:" PATH107 "|http://h", "http",
     "h", 80, "h", "", NULL, 0, PATH107},
};

static void check_parse_ok(const void *arg)
{
    const parse_ok_t *tc = arg;
    rp_url_t u;
    const char *why = NULL;
    guarded_t in;
    guard(&in, tc->in);
    RP_EXPECT_INT(rp_url_parse(pool, in.s, &u, &why), APR_SUCCESS);
    unguard(&in); /* nothing may borrow the input */
    if (why != NULL) {
        RP_FAIL_CASE(tc->name, "refused: %s", why);
        return;
    }
    RP_EXPECT_STR(u.scheme, tc->scheme);
    RP_EXPECT_STR(u.host, tc->host);
    RP_EXPECT_INT(u.port, tc->port);
    RP_EXPECT_STR(u.hostport, tc->hostport);
    RP_EXPECT_STR(u.path, tc->path);
    RP_EXPECT_STR(u.query, tc->query);
    RP_EXPECT_INT(u.tls, tc->tls);
    RP_EXPECT_STR(u.socket, tc->socket);
    RP_EXPECT_STR(rp_url_origin(pool, &u),
                  apr_pstrcat(pool, tc->socket ? "unix:" : "",
                              tc->socket ? tc->socket : "",
                              tc->socket ? "|" : "", tc->scheme, "://",
                              tc->hostport, NULL));
}

/* ---- rp_url_parse: refused targets ---- */

typedef struct parse_bad_t {
    const char *name;
    const char *in;
    const char *why; /* a phrase the reason must hold */
} parse_bad_t;

static const parse_bad_t parse_bad[] = {
    {"rp-scheme-ftp-refused", "ftp://example.com/", "scheme"},
    {"rp-scheme-missing-refused", "example.com/base", "scheme"},
    {"rfc3986-3.2.1-userinfo-refused", "http://user:pw@h/", "userinfo"},
    {"rfc3986-3.5-fragment-refused", "http://h/p#frag", "fragment"},
    {"rfc3986-3.2.2-empty-host-refused", "http:///path", "empty host"},
    {"rfc3986-3.2.2-empty-host-with-port-refused", "http://:8080/",
     "empty host"},
    {"rfc3986-3.2.3-port-0-refused", "http://h:0/", "port out of range"},
    {"rfc3986-3.2.3-port-65536-refused", "http://h:65536/",
     "port out of range"},
    {"rfc3986-3.2.3-port-wrapping-to-80-refused", "http://h:4294967376/",
     "port out of range"},
    {"rfc3986-3.2.3-port-junk-refused", "http://h:80a/", "not a number"},
    {"rfc3986-3.2.3-empty-port-refused", "http://h:/", "empty port"},
    {"rfc3986-2-space-refused", "http://h/a b", "not allowed in a URI"},
    {"rfc3986-2-control-refused", "http://h/a\tb", "not allowed in a URI"},
    {"rfc3986-2-non-ascii-refused", "http://h/caf\xc3\xa9",
     "not allowed in a URI"},
    {"rfc3986-2.1-bad-percent-hex-refused", "http://h/a%zz",
     "percent-encoding"},
    {"rfc3986-2.1-truncated-percent-refused", "http://h/a%2",
     "percent-encoding"},
    {"rfc3986-3.2.2-unclosed-ipv6-refused", "http://[::1/", "without ']'"},
    {"rfc3986-3.2.2-bad-ipv6-refused", "http://[::g]/", "IPv6"},
    {"rfc3986-3.2.2-ipv6-zone-id-refused", "http://[fe80::1%25eth0]/", "IPv6"},
    {"rfc3986-3.2.2-ipv4-octet-out-of-range-refused", "http://300.1.1.1/",
     "IPv4"},
    {"rfc3986-3.2.2-percent-in-host-refused", "http://ex%41mple.com/",
     "host name"},
    {"rfc3986-3.3-bracket-in-path-refused", "http://h/[x]", "IPv6 host"},
    {"rp-unix-socket-without-url-refused", "unix:/run/a.sock", "unix:/path|"},
    {"rp-unix-socket-relative-path-refused", "unix:run/a.sock|http://h/",
     "absolute"},
    {"rp-unix-socket-empty-path-refused", "unix:|http://h/", "absolute"},
    {"rp-unix-socket-path-of-108-bytes-refused", "unix:" PATH107 "x|http://h/",
     "too long"},
    {"rp-unix-socket-control-character-refused", "unix:/a\x01b|http://h/",
     "control character"},
    {"rp-unix-socket-then-ftp-refused", "unix:/a.sock|ftp://h/", "scheme"},
    {"rp-unix-socket-then-nothing-refused", "unix:/a.sock|", "scheme"},
    {"rp-unix-socket-then-bad-host-refused", "unix:/a.sock|http:///x",
     "empty host"},
};

static void check_parse_bad(const void *arg)
{
    const parse_bad_t *tc = arg;
    rp_url_t u;
    const char *why = NULL;
    guarded_t in;
    memset(&u, 0, sizeof(u));
    u.host = "untouched";
    guard(&in, tc->in);
    RP_EXPECT_INT(rp_url_parse(pool, in.s, &u, &why), APR_EINVAL);
    unguard(&in);
    RP_EXPECT(why != NULL && strstr(why, tc->why) != NULL);
    /* A refused URL leaves the caller's struct alone. */
    RP_EXPECT_STR(u.host, "untouched");
}

/* ---- rp_url_join_path ---- */

typedef struct join_t {
    const char *name;
    const char *base, *req;
    const char *want; /* NULL: refused */
} join_t;

static const join_t joins[] = {
    {"rfc3986-join-keeps-percent-encoding", "/base", "/a%2Fb", "/base/a%2Fb"},
    {"rp-join-base-trailing-slash-one-slash", "/base/", "/a", "/base/a"},
    {"rp-join-empty-base", "", "/a", "/a"},
    {"rp-join-empty-request-keeps-base", "/base", "", "/base"},
    {"rp-join-both-empty-is-root", "", "", "/"},
    {"rp-join-relative-request-gets-slash", "/base", "a", "/base/a"},
    {"rfc3986-5.2.4-dotdot-segment-refused", "/base", "/../etc/passwd", NULL},
    {"rfc3986-5.2.4-dot-segment-refused", "/base", "/a/./b", NULL},
    {"rfc3986-5.2.4-trailing-dotdot-refused", "/base", "/a/..", NULL},
    {"rfc3986-5.2.4-bare-dotdot-refused", "/base", "..", NULL},
    {"rfc3986-6.2.2.2-encoded-dotdot-any-case-refused", "/base", "/%2e%2E/x",
     NULL},
    {"rfc3986-6.2.2.2-half-encoded-dotdot-refused", "/base", "/.%2e/x", NULL},
    {"rp-join-dotdot-before-encoded-slash-refused", "/base", "/..%2Fetc", NULL},
    {"rp-join-dotdot-between-backslashes-refused", "/base", "/a\\..\\b", NULL},
    {"rp-join-dotdot-with-path-parameter-refused", "/base", "/..;x/admin",
     NULL},
    {"rfc3986-3.3-dots-inside-segment-allowed", "/base", "/a..b", "/base/a..b"},
    {"rfc8615-well-known-allowed", "/base", "/.well-known/acme",
     "/base/.well-known/acme"},
    {"rfc3986-3.3-three-dots-is-not-a-dot-segment", "/base", "/...",
     "/base/..."},
    {"rfc3986-2.4-double-encoded-dot-passed-as-sent", "/base", "/%252e%252e/x",
     "/base/%252e%252e/x"},
};

static void check_join(const void *arg)
{
    const join_t *tc = arg;
    guarded_t req;
    guard(&req, tc->req);
    RP_EXPECT_STR(rp_url_join_path(pool, tc->base, req.s), tc->want);
    unguard(&req);
}

/* ---- rp_url_merge_query ---- */

typedef struct merge_t {
    const char *name;
    const char *target, *req;
    const char *want;
} merge_t;

static const merge_t merges[] = {
    {"rp-query-both-joined-target-first", "a=1", "b=2&c", "a=1&b=2&c"},
    {"rp-query-target-alone", "a=1", NULL, "a=1"},
    {"rp-query-request-alone", NULL, "b=2", "b=2"},
    {"rp-query-empty-target-ignored", "", "b=2", "b=2"},
    {"rp-query-neither-is-null", NULL, NULL, NULL},
    {"rp-query-both-empty-is-null", "", "", NULL},
};

static void check_merge(const void *arg)
{
    const merge_t *tc = arg;
    const char *got = rp_url_merge_query(pool, tc->target, tc->req);
    RP_EXPECT_STR(got, tc->want);
    /* Results come from the pool, never the caller's strings. */
    RP_EXPECT(got == NULL || (got != tc->target && got != tc->req));
}

/* ---- rp_url_match_prefix ---- */

typedef struct prefix_t {
    const char *name;
    const char *path, *prefix;
    const char *want; /* NULL: no match */
} prefix_t;

static const prefix_t prefixes[] = {
    {"rp-prefix-segment-remainder", "/app/x", "/app", "/x"},
    {"rp-prefix-exact-is-empty", "/app", "/app", ""},
    {"rp-prefix-not-on-segment-boundary", "/appx", "/app", NULL},
    {"rp-prefix-with-trailing-slash", "/app/x", "/app/", "x"},
    {"rp-prefix-root-matches-all", "/anything", "/", "anything"},
    {"rp-prefix-slash-prefix-needs-slash", "/app", "/app/", NULL},
    {"rfc3986-6.2.2.1-prefix-path-case-sensitive", "/App/x", "/app", NULL},
    {"rp-prefix-encoded-slash-is-no-boundary", "/app%2Fx", "/app", NULL},
};

static void check_prefix(const void *arg)
{
    const prefix_t *tc = arg;
    const char *got = rp_url_match_prefix(tc->path, tc->prefix);
    RP_EXPECT_STR(got, tc->want);
    /* The remainder points into path: no copy. */
    RP_EXPECT(got == NULL ||
              (got >= tc->path && got <= tc->path + strlen(tc->path)));
}

/* ---- rp_url_escape_unsafe / rp_url_escape_path ---- */

typedef struct esc_t {
    const char *name;
    int path; /* 1: rp_url_escape_path, 2: ... keeping %2F; 0: unsafe */
    const char *in, *want;
} esc_t;

static const esc_t escapes[] = {
    {"rfc3986-2.1-unsafe-space-and-angles-encoded", 0, "http://b/a b?x=<1>",
     "http://b/a%20b?x=%3C1%3E"},
    {"rfc3986-2.4-unsafe-keeps-encoded-slash-no-double-encoding", 0,
     "http://b/a%2Fb%25", "http://b/a%2Fb%25"},
    {"rfc3986-2.2-unsafe-keeps-reserved", 0,
     "http://b/p;x=1?a=1&b=$,@:", "http://b/p;x=1?a=1&b=$,@:"},
    {"rfc3986-3.5-unsafe-encodes-fragment-mark", 0, "http://b/a#b",
     "http://b/a%23b"},
    {"rfc3986-2.1-unsafe-lone-percent-encoded", 0, "/100%/%zz/%4",
     "/100%25/%25zz/%254"},
    {"rfc3986-2.1-unsafe-non-ascii-and-controls", 0, "/\xc3\xa9\t\x7f",
     "/%C3%A9%09%7F"},
    {"rfc3986-3.3-path-percent-encoded", 1, "/a b/100%", "/a%20b/100%25"},
    {"rfc3986-3.3-path-query-and-fragment-marks-encoded", 1, "/x?y#z",
     "/x%3Fy%23z"},
    {"rfc3986-3.3-path-keeps-pchar-and-slash", 1, "/a:b@c/d;e=f,g!h~i",
     "/a:b@c/d;e=f,g!h~i"},
    {"rp-path-encoded-slash-encoded-again-when-decoded", 1, "/a%2Fb",
     "/a%252Fb"},
    {"rp-path-nodecode-keeps-encoded-slash-only", 2, "/a%2fb%2F%25 c",
     "/a%2fb%2F%2525%20c"},
};

static void check_escape(const void *arg)
{
    const esc_t *tc = arg;
    const char *got = tc->path ? rp_url_escape_path(pool, tc->in, tc->path == 2)
                               : rp_url_escape_unsafe(pool, tc->in);
    RP_EXPECT_STR(got, tc->want);
}

int main(void)
{
    apr_initialize();
    RUN_TABLE(parse_ok, check_parse_ok);
    RUN_TABLE(parse_bad, check_parse_bad);
    RUN_TABLE(joins, check_join);
    RUN_TABLE(merges, check_merge);
    RUN_TABLE(prefixes, check_prefix);
    RUN_TABLE(escapes, check_escape);
    apr_terminate();
    return rp_test_done();
}
