/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_headers.c: rp_headers.c. Every table row runs as its own test,
 * named after the rule it checks, with a fresh pool.
 *
 * Header sets are written as "Name: value\n" lines, in order; the result is
 * the whole table written the same way, so order, spelling, repeated fields
 * and anything left behind all count. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_headers.h"
#include "rp_addr.h"
#include "rp_test.h"
#include "rp_test_table.h"

/* "A: 1\nB: 2\n" -> table with A and B, in that order ("A:" is empty). */
static apr_table_t *make_table(const char *lines)
{
    apr_table_t *t = apr_table_make(pool, 8);
    char *copy = apr_pstrdup(pool, lines), *line, *last, *colon;
    for (line = apr_strtok(copy, "\n", &last); line != NULL;
         line = apr_strtok(NULL, "\n", &last)) {
        colon = strchr(line, ':');
        if (colon == NULL) {
            RP_FAIL_CASE("make_table", "no colon in \"%s\"", line);
            continue;
        }
        *colon++ = '\0';
        apr_table_add(t, line, *colon == ' ' ? colon + 1 : colon);
    }
    return t;
}

static int dump_one(void *rec, const char *key, const char *value)
{
    char **out = rec;
    *out = apr_pstrcat(pool, *out, key, ": ", value, "\n", NULL);
    return 1;
}

static const char *dump_table(const apr_table_t *t)
{
    char *out = "";
    apr_table_do(dump_one, &out, t, NULL);
    return out;
}

/* ---- rp_headers_strip_hop ---- */

typedef struct strip_t {
    const char *name;
    int is_request;
    const char *in, *want;
} strip_t;

static const strip_t strips[] = {
    {"rfc9110-7.6.1-every-hop-field-removed-from-request", 1,
     "Host: h\nConnection: keep-alive\nProxy-Connection: keep-alive\n"
     "Keep-Alive: timeout=5\nProxy-Authenticate: Basic\n"
     "Proxy-Authorization: Basic eA==\nTE: gzip\nTrailer: X-Sum\n"
     "Transfer-Encoding: chunked\nUpgrade: websocket\nAccept: */*\n",
     "Host: h\nAccept: */*\n"},
    {"rfc9110-7.6.1-every-hop-field-removed-from-response", 0,
     "Connection: keep-alive\nProxy-Connection: close\n"
     "Keep-Alive: timeout=5, max=100\nContent-Type: text/plain\n"
     "Proxy-Authenticate: Basic realm=\"p\"\nProxy-Authorization: x\n"
     "TE: trailers\nTrailer: X-Sum\nTransfer-Encoding: chunked\n"
     "Upgrade: h2c\nETag: \"1\"\n",
     "Content-Type: text/plain\nETag: \"1\"\n"},
    {"rfc9110-5.1-hop-field-names-match-any-case", 1,
     "connection: close\nUPGRADE: h2c\nkeep-ALIVE: 1\nX: y\n", "X: y\n"},
    {"rfc9110-5.3-repeated-hop-fields-all-removed", 0,
     "Transfer-Encoding: gzip\nA: 1\nTransfer-Encoding: chunked\n", "A: 1\n"},
    {"rfc9110-7.6.1-connection-token-removed", 1,
     "Connection: X-Foo\nX-Foo: 1\nX-Bar: 2\n", "X-Bar: 2\n"},
    {"rfc9110-7.6.1-tokens-of-every-connection-field-removed", 1,
     "Connection: X-A\nX-A: 1\nX-B: 2\nConnection: X-B\nX-C: 3\n", "X-C: 3\n"},
    {"rfc9110-7.6.1-connection-tokens-any-case-and-ows", 1,
     "Connection: \t x-a ,X-B\t,  ,x-c\nX-A: 1\nX-b: 2\nx-C: 3\nX-D: 4\n",
     "X-D: 4\n"},
    {"rfc9110-7.6.1-proxy-connection-tokens-removed", 1,
     "Proxy-Connection: X-Legacy\nX-Legacy: 1\nA: 2\n", "A: 2\n"},
    {"rfc9110-7.6.1-token-removes-every-field-of-its-name", 1,
     "Connection: X-A\nX-A: 1\nB: 3\nX-A: 2\n", "B: 3\n"},
    {"rfc9110-7.6.1-token-removed-from-response", 0,
     "Connection: X-Internal\nX-Internal: secret\nContent-Length: 5\n",
     "Content-Length: 5\n"},
    {"rfc9112-9.6-close-and-keep-alive-tokens-harmless", 1,
     "Connection: close, keep-alive\nKeep-Alive: timeout=5\nHost: h\n"
     "Close-Reason: x\n",
     "Host: h\nClose-Reason: x\n"},
    {"rfc9110-7.6.1-end-to-end-fields-untouched", 1,
     "Host: h\nAccept: a\nCookie: c\nAccept: b\n",
     "Host: h\nAccept: a\nCookie: c\nAccept: b\n"},
    {"rfc9110-10.1.4-te-trailers-kept-alone", 1,
     "TE: trailers, deflate\nConnection: TE\nHost: h\n",
     "Host: h\nTE: trailers\n"},
    {"rfc9110-10.1.4-te-trailers-any-case-after-weighted-coding", 1,
     "TE: deflate;q=0.5, Trailers\n", "TE: trailers\n"},
    {"rfc9110-10.1.4-te-trailers-in-second-field", 1,
     "TE: gzip\nHost: h\nTE: trailers\n", "Host: h\nTE: trailers\n"},
    {"rfc9110-10.1.4-te-without-trailers-removed", 1, "TE: deflate\nHost: h\n",
     "Host: h\n"},
    {"rfc9110-10.1.4-te-removed-from-response", 0, "TE: trailers\nA: 1\n",
     "A: 1\n"},
    {"rfc9110-10.1.4-te-parameter-is-not-a-token", 1,
     "TE: deflate;x=trailers\n", ""},
    {"rfc9110-5.6.4-comma-in-quoted-string-does-not-split", 1,
     "TE: gzip;x=\"a,trailers,b\"\n", ""},
};

static void check_strip(const void *arg)
{
    const strip_t *tc = arg;
    apr_table_t *t = make_table(tc->in);
    rp_headers_strip_hop(t, tc->is_request);
    RP_EXPECT_STR(dump_table(t), tc->want);
}

/* ---- rp_headers_has_token ---- */

typedef struct token_t {
    const char *name;
    const char *value, *token;
    int want;
} token_t;

static const token_t tokens[] = {
    {"rfc9110-5.6.1-token-any-case", "keep-alive, Close", "close", 1},
    {"rfc9110-5.6.1-empty-elements-and-ows-ignored", " ,\t, upgrade ,",
     "upgrade", 1},
    {"rfc9110-5.6.1-prefix-is-not-a-token", "closed, foo", "close", 0},
    {"rfc9110-5.6.6-parameters-ignored", "trailers;q=1", "trailers", 1},
    {"rfc9110-5.6.1-empty-value-has-no-token", "", "close", 0},
};

static void check_token(const void *arg)
{
    const token_t *tc = arg;
    guarded_t v;
    guard(&v, tc->value);
    RP_EXPECT_INT(rp_headers_has_token(v.s, tc->token), tc->want);
    unguard(&v);
}

/* ---- rp_headers_flags ---- */

typedef struct flags_t {
    const char *name;
    const char *field;
    unsigned want;
} flags_t;

static const flags_t flags[] = {
    {"rfc9110-7.6.1-te-is-hop-with-trailers", "te",
     RP_HDR_HOP | RP_HDR_TE_TRAILERS_OK},
    {"rfc9110-7.6.1-connection-is-hop", "CONNECTION", RP_HDR_HOP},
    {"rp-hdr-end-to-end-field-has-no-rule", "Host", 0},
    {"rp-hdr-rule-needs-whole-name", "Connections", 0},
    /* every rule, whatever the case: catches a rule whose name length is
     * missing from the length filter */
    {"rfc9110-7.6.1-proxy-connection-is-hop", "proxy-connection", RP_HDR_HOP},
    {"rfc9110-7.6.1-keep-alive-is-hop", "Keep-alive", RP_HDR_HOP},
    {"rfc9110-11.7-proxy-authenticate-is-hop", "Proxy-Authenticate",
     RP_HDR_HOP},
    {"rfc9110-11.7-proxy-authorization-is-hop", "PROXY-AUTHORIZATION",
     RP_HDR_HOP},
    {"rfc9110-7.6.1-trailer-is-hop", "Trailer", RP_HDR_HOP},
    {"rfc9110-7.6.1-transfer-encoding-is-hop", "transfer-encoding", RP_HDR_HOP},
    {"rfc9110-7.6.1-upgrade-is-hop", "Upgrade", RP_HDR_HOP},
    {"rp-hdr-same-length-other-name-has-no-rule", "User-Agent", 0},
    {"rp-hdr-long-name-has-no-rule",
     "X-A-Very-Long-Field-Name-Beyond-Thirty-Two-Bytes", 0},
};

static void check_flags(const void *arg)
{
    const flags_t *tc = arg;
    RP_EXPECT_INT(rp_headers_flags(tc->field), tc->want);
}

/* ---- rp_headers_forward ---- */

/* Which policy a case runs with. */
enum {
    XF = 1,       /* X-Forwarded-* */
    FWD = 2,      /* RFC 7239 Forwarded */
    VIA = 4,      /* Via */
    TRUST_10 = 8, /* 10.0.0.0/8 and 2001:db8::/32 trusted */
};

typedef struct fwd_t {
    const char *name;
    int policy;
    const char *in;
    rp_fwd_info_t info;
    const char *want;
} fwd_t;

#define FWD_H "X-Forwarded-Host: h\nX-Forwarded-Proto: http\n"
#define SPOOF                                                                  \
    "X-Forwarded-For: 6.6.6.6\nX-Forwarded-Host: evil\n"                       \
    "X-Forwarded-Proto: gopher\nForwarded: for=6.6.6.6\n"

static const fwd_t fwds[] = {
    {"rp-xff-set-when-none",
     XF,
     "Host: h\n",
     {"192.0.2.1", "h", "http"},
     "Host: h\nX-Forwarded-For: 192.0.2.1\n" FWD_H},
    {"rp-untrusted-peer-xff-replaced-not-appended",
     XF,
     "X-Forwarded-For: 10.0.0.1\n",
     {"192.0.2.1", "h", "http"},
     "X-Forwarded-For: 192.0.2.1\n" FWD_H},
    {"rp-untrusted-peer-every-forwarding-field-replaced",
     XF | TRUST_10,
     SPOOF "A: 1\n",
     {"192.0.2.1", "h:8443", "https"},
     "A: 1\nX-Forwarded-For: 192.0.2.1\nX-Forwarded-Host: h:8443\n"
     "X-Forwarded-Proto: https\n"},
    {"rp-untrusted-peer-fields-dropped-even-when-not-written",
     0,
     SPOOF "Via: 1.1 x\n",
     {"192.0.2.1", "h", "http"},
     "Via: 1.1 x\n"},
    {"rp-trusted-peer-xff-appended-to-one-prior",
     XF | TRUST_10,
     "X-Forwarded-For: 192.0.2.9\n",
     {"10.1.2.3", "h", "http"},
     "X-Forwarded-For: 192.0.2.9, 10.1.2.3\n" FWD_H},
    {"rfc9110-5.3-trusted-xff-joins-two-prior-fields",
     XF | TRUST_10,
     "X-Forwarded-For: 10.0.0.1, 10.0.0.2\nA: 1\n"
     "x-forwarded-for: 10.0.0.3\n",
     {"10.0.0.9", "h", "http"},
     "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.9\nA: 1\n" FWD_H},
    {"rp-trusted-xff-empty-prior-field-skipped",
     XF | TRUST_10,
     "X-Forwarded-For:\n",
     {"10.0.0.9", "h", "http"},
     "X-Forwarded-For: 10.0.0.9\n" FWD_H},
    {"rp-trusted-peer-keeps-x-forwarded-host-and-proto",
     XF | TRUST_10,
     SPOOF,
     {"10.0.0.9", "h", "http"},
     "X-Forwarded-For: 6.6.6.6, 10.0.0.9\nX-Forwarded-Host: evil\n"
     "X-Forwarded-Proto: gopher\nForwarded: for=6.6.6.6\n"},
    {"rp-trusted-peer-without-x-forwarded-host-gets-ours",
     XF | TRUST_10,
     "X-Forwarded-For: 6.6.6.6\n",
     {"2001:db8::5", "h", "https"},
     "X-Forwarded-For: 6.6.6.6, 2001:db8::5\nX-Forwarded-Host: h\n"
     "X-Forwarded-Proto: https\n"},
    {"rp-trusted-xff-starts-from-the-chain-as-received",
     XF | TRUST_10,
     "X-Forwarded-For: 10.0.0.2\n",
     {"10.0.0.9", "h", "http", 0, NULL, "192.0.2.5, 10.0.0.2"},
     "X-Forwarded-For: 192.0.2.5, 10.0.0.2, 10.0.0.9\n" FWD_H},
    {"rp-trusted-xff-chain-as-received-when-none-is-left",
     XF | TRUST_10,
     "",
     {"10.0.0.9", "h", "http", 0, NULL, "192.0.2.5"},
     "X-Forwarded-For: 192.0.2.5, 10.0.0.9\n" FWD_H},
    {"rp-untrusted-peer-chain-as-received-ignored",
     XF,
     "",
     {"192.0.2.1", "h", "http", 0, NULL, "6.6.6.6"},
     "X-Forwarded-For: 192.0.2.1\n" FWD_H},
    {"rp-xff-ipv6-client",
     XF,
     "",
     {"2001:db8::1", "h", "http"},
     "X-Forwarded-For: 2001:db8::1\n" FWD_H},
    {"rp-x-forwarded-host-removed-without-host",
     XF,
     "X-Forwarded-Host: evil\n",
     {"192.0.2.1", NULL, "http"},
     "X-Forwarded-For: 192.0.2.1\nX-Forwarded-Proto: http\n"},
    {"rfc7239-4-untrusted-forwarded-written-fresh",
     FWD,
     "Forwarded: for=6.6.6.6;proto=https\n",
     {"192.0.2.1", "h", "http"},
     "Forwarded: for=192.0.2.1;host=h;proto=http\n"},
    {"rfc7239-4-trusted-forwarded-extended",
     FWD | TRUST_10,
     "Forwarded: for=192.0.2.43\nforwarded: for=\"[2001:db8::9]\"\n",
     {"10.0.0.9", "front.example:8080", "https"},
     "Forwarded: for=192.0.2.43, for=\"[2001:db8::9]\", "
     "for=10.0.0.9;host=\"front.example:8080\";proto=https\n"},
    {"rfc7239-6-ipv6-node-quoted-in-brackets",
     FWD,
     "",
     {"2001:db8::1", "h", "http"},
     "Forwarded: for=\"[2001:db8::1]\";host=h;proto=http\n"},
    {"rp-ipv4-mapped-peer-matches-ipv4-range",
     XF | TRUST_10,
     "X-Forwarded-For: 6.6.6.6\n",
     {"::ffff:10.0.0.7", "h", "http"},
     "X-Forwarded-For: 6.6.6.6, ::ffff:10.0.0.7\n" FWD_H},
    {"rfc9110-7.6.3-via-request-appended-with-client-version",
     VIA,
     "Via: 1.1 a, 1.0 b\nVia: 2 c\n",
     {"192.0.2.1", "h", "http", 1000, "gw"},
     "Via: 1.1 a, 1.0 b, 2 c, 1.0 gw\n"},
    {"rfc9110-7.6.3-via-http2-client-has-no-minor",
     VIA,
     "",
     {"192.0.2.1", "h", "http", 2000, "gw:8080"},
     "Via: 2 gw:8080\n"},
    {"rfc9110-7.6.3-via-unknown-version-is-1.1",
     VIA,
     "",
     {"192.0.2.1", "h", "http", 0, "gw"},
     "Via: 1.1 gw\n"},
    {"rp-x-forwarded-prefix-is-the-route-prefix",
     XF,
     "",
     {"192.0.2.1", "h", "http", 0, NULL, NULL, "/app/"},
     "X-Forwarded-For: 192.0.2.1\n" FWD_H "X-Forwarded-Prefix: /app\n"},
    {"rp-x-forwarded-prefix-none-for-root",
     XF,
     "",
     {"192.0.2.1", "h", "http", 0, NULL, NULL, "/"},
     "X-Forwarded-For: 192.0.2.1\n" FWD_H},
    {"rp-untrusted-peer-other-x-forwarded-fields-dropped",
     XF,
     "X-Forwarded-Prefix: //evil.example\nX-Forwarded-Port: 1\n"
     "X-Forwarded-Ssl: on\nX-Forwarded-Server: evil\nX-Real-IP: 6.6.6.6\n"
     "A: 1\n",
     {"192.0.2.1", "h", "http", 0, NULL, NULL, "/app"},
     "A: 1\nX-Forwarded-For: 192.0.2.1\n" FWD_H "X-Forwarded-Prefix: /app\n"},
    {"rp-untrusted-peer-prefix-dropped-when-not-written",
     0,
     "X-Forwarded-Prefix: /x\nX-Real-IP: 6.6.6.6\n",
     {"192.0.2.1", "h", "http", 0, NULL, NULL, "/app"},
     ""},
    {"rp-trusted-peer-prefix-extended",
     XF | TRUST_10,
     "X-Forwarded-Prefix: /outer/\nX-Real-IP: 192.0.2.7\n",
     {"10.0.0.9", "h", "http", 0, NULL, NULL, "/app/"},
     "X-Forwarded-Prefix: /outer/app\nX-Real-IP: 192.0.2.7\n"
     "X-Forwarded-For: 10.0.0.9\n" FWD_H},
    {"rp-trusted-peer-prefix-kept-without-ours",
     XF | TRUST_10,
     "X-Forwarded-Prefix: /outer\n",
     {"10.0.0.9", "h", "http"},
     "X-Forwarded-Prefix: /outer\nX-Forwarded-For: 10.0.0.9\n" FWD_H},
    {"rp-via-needs-a-name",
     VIA,
     "",
     {"192.0.2.1", "h", "http", 1001, NULL},
     ""},
};

static void check_fwd(const void *arg)
{
    const fwd_t *tc = arg;
    apr_table_t *t = make_table(tc->in);
    apr_array_header_t *trusted = apr_array_make(pool, 2, sizeof(rp_cidr_t));
    rp_fwd_policy_t pol;
    const char *why;

    memset(&pol, 0, sizeof(pol));
    if (tc->policy & TRUST_10) {
        RP_EXPECT_INT(
            rp_cidr_parse("10.0.0.0/8", apr_array_push(trusted), &why),
            APR_SUCCESS);
        RP_EXPECT_INT(
            rp_cidr_parse("2001:db8::/32", apr_array_push(trusted), &why),
            APR_SUCCESS);
        pol.trusted = trusted;
    }
    pol.x_forwarded = (tc->policy & XF) != 0;
    pol.forwarded = (tc->policy & FWD) != 0;
    pol.via = (tc->policy & VIA) != 0;
    rp_headers_forward(pool, t, &tc->info, &pol);
    RP_EXPECT_STR(dump_table(t), tc->want);
}

/* ---- RFC 7239 serializer: rp_headers_quote, _forwarded_node, _element */

typedef struct quote_t {
    const char *name;
    const char *value, *want;
} quote_t;

static const quote_t quotes[] = {
    {"rfc9110-5.6.2-token-stays-bare", "https", "https"},
    {"rfc9110-5.6.4-colon-needs-quoted-string", "example.com:8080",
     "\"example.com:8080\""},
    {"rfc9110-5.6.4-dquote-and-backslash-escaped", "a\"b\\c",
     "\"a\\\"b\\\\c\""},
    {"rfc9110-5.6.4-space-and-htab-quoted", "a b\tc", "\"a b\tc\""},
    {"rfc9110-5.6.4-empty-value-is-empty-quoted-string", "", "\"\""},
    {"rfc9110-5.6.4-obs-text-quoted", "caf\xe9", "\"caf\xe9\""},
    {"rfc9110-5.6.4-ctl-cannot-be-quoted", "a\x01b", NULL},
    {"rfc9110-5.6.4-del-cannot-be-quoted", "a\x7f", NULL},
    {"rfc9110-5.6.4-lf-cannot-be-quoted", "a\nb", NULL},
};

static void check_quote(const void *arg)
{
    const quote_t *tc = arg;
    guarded_t v;
    guard(&v, tc->value);
    RP_EXPECT_STR(rp_headers_quote(pool, v.s), tc->want);
    unguard(&v);
}

typedef struct node_t {
    const char *name;
    const char *ip;
    unsigned port;
    const char *want;
} node_t;

static const node_t nodes[] = {
    {"rfc7239-6-ipv4-node-is-a-token", "192.0.2.43", 0, "192.0.2.43"},
    {"rfc7239-6-ipv6-node-bracketed-and-quoted", "2001:db8:cafe::17", 0,
     "\"[2001:db8:cafe::17]\""},
    {"rfc7239-6-ipv4-node-with-port-quoted", "192.0.2.43", 4711,
     "\"192.0.2.43:4711\""},
    {"rfc7239-6-ipv6-node-with-port-quoted", "2001:db8::1", 8080,
     "\"[2001:db8::1]:8080\""},
    {"rfc7239-6-ipv6-zone-dropped", "fe80::1%eth0", 0, "\"[fe80::1]\""},
    {"rfc7239-6-no-address-is-unknown", NULL, 0, "unknown"},
    {"rfc7239-6-garbage-is-unknown", "not\"an;address", 0, "unknown"},
};

static void check_node(const void *arg)
{
    const node_t *tc = arg;
    RP_EXPECT_STR(rp_headers_forwarded_node(pool, tc->ip, tc->port), tc->want);
}

typedef struct elem_t {
    const char *name;
    rp_fwd_info_t info;
    const char *want;
} elem_t;

static const elem_t elems[] = {
    {"rfc7239-4-for-host-proto",
     {"192.0.2.60", "example.com", "http"},
     "for=192.0.2.60;host=example.com;proto=http"},
    {"rfc7239-5.3-host-with-port-quoted",
     {"192.0.2.60", "example.com:8443", "https"},
     "for=192.0.2.60;host=\"example.com:8443\";proto=https"},
    {"rfc7239-5.3-ipv6-literal-host-quoted",
     {"::1", "[::1]:8080", "http"},
     "for=\"[::1]\";host=\"[::1]:8080\";proto=http"},
    {"rfc7239-5.3-host-with-dquote-escaped",
     {"192.0.2.60", "a\"b", "http"},
     "for=192.0.2.60;host=\"a\\\"b\";proto=http"},
    {"rfc7239-4-unwritable-host-left-out",
     {"192.0.2.60", "a\x01", "http"},
     "for=192.0.2.60;proto=http"},
    {"rfc7239-4-no-host-left-out",
     {"192.0.2.60", NULL, "https"},
     "for=192.0.2.60;proto=https"},
    {"rfc7239-6-no-peer-is-unknown",
     {NULL, "h", "http"},
     "for=unknown;host=h;proto=http"},
};

static void check_elem(const void *arg)
{
    const elem_t *tc = arg;
    RP_EXPECT_STR(rp_headers_forwarded_element(pool, &tc->info), tc->want);
}

/* ---- rp_headers_valid_name / rp_headers_valid_value ---- */

typedef struct valid_t {
    const char *name;
    const char *field, *value;
    int name_ok, value_ok;
} valid_t;

static const valid_t valids[] = {
    {"rfc9110-5.6.2-every-tchar-ok", "X-a_1.b~!#$%&'*+^`|", "v", 1, 1},
    {"rfc9110-5.1-empty-name-invalid", "", "v", 0, 1},
    {"rfc9110-5.1-space-in-name-invalid", "a b", "v", 0, 1},
    {"rfc9112-5.1-colon-in-name-invalid", "a:b", "v", 0, 1},
    {"rfc9110-5.6.2-delimiter-in-name-invalid", "a(b)", "v", 0, 1},
    {"rfc9110-5.1-ctl-in-name-invalid", "a\x01", "v", 0, 1},
    {"rfc9110-5.1-non-ascii-name-invalid", "caf\xc3\xa9", "v", 0, 1},
    {"rfc9110-5.5-cr-in-value-invalid", "A", "a\rb", 1, 0},
    {"rfc9110-5.5-lf-in-value-invalid", "A", "a\nInjected: 1", 1, 0},
    {"rfc9110-5.5-ctl-in-value-invalid", "A", "a\x1b[0m", 1, 0},
    {"rfc9110-5.5-del-in-value-invalid", "A", "a\x7f", 1, 0},
    {"rfc9110-5.5-htab-in-value-ok", "A", "a\tb", 1, 1},
    {"rfc9110-5.5-obs-text-in-value-ok", "A", "caf\xe9 \x80\xff", 1, 1},
    {"rfc9110-5.5-empty-value-ok", "A", "", 1, 1},
    /* NUL ends a C string: bytes after it are never seen, and never
     * written (serializers use the string's length). The wire parser is
     * what refuses a NUL. */
    {"rfc9110-5.5-nul-ends-the-value", "A", "ok\0\r\n", 1, 1},
};

static void check_valid(const void *arg)
{
    const valid_t *tc = arg;
    guarded_t n, v;
    guard(&n, tc->field);
    guard(&v, tc->value);
    RP_EXPECT_INT(rp_headers_valid_name(n.s), tc->name_ok);
    RP_EXPECT_INT(rp_headers_valid_value(v.s), tc->value_ok);
    unguard(&n);
    unguard(&v);
}

/* ---- rp_headers_validate ---- */

typedef struct validate_t {
    const char *name;
    const char *fields[8]; /* name, value pairs; NULL ends */
    apr_status_t want;
    const char *bad_name; /* expected *bad_name; NULL: left untouched */
} validate_t;

static const validate_t validates[] = {
    {"rp-validate-good-table",
     {"Host", "h", "X", "caf\xe9\t1", NULL},
     APR_SUCCESS,
     NULL},
    {"rp-validate-names-first-bad-value",
     {"A", "1", "B", "x\ry", "C", "\n", NULL},
     RP_EBAD_REQUEST,
     "B"},
    {"rp-validate-names-bad-name",
     {"A", "1", "a b", "1", NULL},
     RP_EBAD_REQUEST,
     "a b"},
};

static void check_validate(const void *arg)
{
    const validate_t *tc = arg;
    apr_table_t *t = apr_table_make(pool, 4);
    const char *bad = NULL;
    int i;
    for (i = 0; tc->fields[i] != NULL; i += 2) {
        apr_table_add(t, tc->fields[i], tc->fields[i + 1]);
    }
    RP_EXPECT_INT(rp_headers_validate(t, &bad), tc->want);
    RP_EXPECT_STR(bad, tc->bad_name);
}

/* Keep-Alive parameters (RFC 2068 19.7.1.1, still sent by httpd, nginx). */
typedef struct keepalive_t {
    const char *name;
    const char *value;
    long timeout, max;
} keepalive_t;

static const keepalive_t keepalives[] = {
    {"keep-alive-timeout-and-max", "timeout=5, max=100", 5, 100},
    {"keep-alive-ows-and-case", "  Timeout = 15 ,MAX=0", 15, 0},
    {"keep-alive-quoted-value", "timeout=\"3\"", 3, -1},
    {"keep-alive-absent-field", NULL, -1, -1},
    {"keep-alive-empty", "", -1, -1},
    {"keep-alive-not-a-number-ignored", "timeout=5s, max=-1", -1, -1},
    {"keep-alive-overflow-refused", "timeout=99999999999999999999", -1, -1},
    {"keep-alive-unknown-params-skipped", "foo, bar=1, timeout=2", 2, -1},
    {"keep-alive-empty-value", "timeout=, max=", -1, -1},
};

static void check_keepalive(const void *arg)
{
    const keepalive_t *tc = arg;
    long timeout = 7, max = 7;
    rp_headers_keep_alive(tc->value, &timeout, &max);
    RP_EXPECT_INT(timeout, tc->timeout);
    RP_EXPECT_INT(max, tc->max);
}

/* RFC 9110 6.5.1: a proxy forwards trailer fields, never hop-by-hop ones,
 * nor those a recipient must have before the content. */
static void test_rfc9110_6_5_1_forwardable_trailers(void)
{
    apr_pool_t *p;
    apr_table_t *in, *out;
    int dropped = -1;

    apr_pool_create(&p, NULL);
    in = apr_table_make(p, 16);
    apr_table_addn(in, "X-Checksum", "abc");
    apr_table_addn(in, "Connection", "close");
    apr_table_addn(in, "keep-alive", "timeout=5");
    apr_table_addn(in, "TE", "trailers");
    apr_table_addn(in, "Trailer", "X-Checksum");
    apr_table_addn(in, "Transfer-Encoding", "chunked");
    apr_table_addn(in, "Content-Length", "5");
    apr_table_addn(in, "host", "evil.example");
    apr_table_addn(in, "Authorization", "Basic eA==");
    apr_table_addn(in, "X-Forwarded-For", "10.9.9.9");
    apr_table_addn(in, "x-forwarded-prefix", "/evil");
    apr_table_addn(in, "X-Real-IP", "10.9.9.9");
    apr_table_addn(in, "X-Hop", "named by Connection");
    apr_table_addn(in, "Bad Name", "1");
    apr_table_addn(in, "X-Bad-Value", "a\r\nX-Injected: 1");
    apr_table_addn(in, "X-Sum", "42");
    apr_table_addn(in, "X-Sum", "43");
    out = rp_headers_forwardable_trailers(p, in, "keep-alive, X-Hop", &dropped);
    RP_EXPECT(out != NULL);
    if (out) {
        RP_EXPECT_INT(apr_table_elts(out)->nelts, 3);
        RP_EXPECT_STR(apr_table_get(out, "X-Checksum"), "abc");
        RP_EXPECT_STR(apr_table_get(out, "X-Sum"), "42");
    }
    RP_EXPECT_INT(dropped, 14);

    apr_table_clear(in);
    apr_table_addn(in, "Content-Length", "5");
    RP_EXPECT(rp_headers_forwardable_trailers(p, in, NULL, &dropped) == NULL);
    RP_EXPECT_INT(dropped, 1);
    RP_EXPECT(rp_headers_forwardable_trailers(p, NULL, NULL, &dropped) == NULL);
    RP_EXPECT_INT(dropped, 0);
    apr_pool_destroy(p);
}

int main(void)
{
    apr_initialize();
    RUN_TABLE(strips, check_strip);
    RUN_TABLE(tokens, check_token);
    RUN_TABLE(flags, check_flags);
    RUN_TABLE(fwds, check_fwd);
    RUN_TABLE(quotes, check_quote);
    RUN_TABLE(nodes, check_node);
    RUN_TABLE(elems, check_elem);
    RUN_TABLE(valids, check_valid);
    RUN_TABLE(validates, check_validate);
    RUN_TABLE(keepalives, check_keepalive);
    RP_TEST_RUN(test_rfc9110_6_5_1_forwardable_trailers);
    apr_terminate();
    return rp_test_done();
}
