/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_rewrite.c: rp_rewrite.c. Every table row runs as its own test,
 * named after the rule it checks, with a fresh pool; every input string
 * ends right before an unmapped page, so a scan past its NUL crashes. An
 * unchanged value must come back as the very same pointer. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_rewrite.h"
#include "rp_test.h"
#include "rp_test_table.h"

/* ---- rp_rewrite_map_path ---------------------------------------------- */

typedef struct path_case_t {
    const char *name;
    const char *path, *from, *to;
    const char *want; /* NULL: not under from */
} path_case_t;

static const path_case_t paths[] = {
    {"map-path-under-from-with-slashes", "/base/x", "/base/", "/app/",
     "/app/x"},
    {"map-path-trailing-slash-of-from-does-not-matter", "/base/x", "/base",
     "/app/", "/app/x"},
    {"map-path-from-without-its-slash-drops-it-too", "/base", "/base/", "/app/",
     "/app"},
    {"map-path-equal-to-from-is-to-exactly", "/base/", "/base/", "/app",
     "/app"},
    {"map-path-equal-to-from-without-slash", "/base", "/base", "/app/",
     "/app/"},
    {"map-path-empty-from-maps-every-path", "/x", "", "/app", "/app/x"},
    {"map-path-root-from-maps-every-path", "/x/y", "/", "/app/", "/app/x/y"},
    {"map-path-from-longer-than-path", "/base", "/base/x", "", NULL},
    {"map-path-empty-to-and-equal-from-is-root", "/base", "/base", "", "/"},
    {"map-path-root-to-strips-from", "/base/x", "/base/", "/", "/x"},
    {"map-path-segment-boundary-basement-not-under-base", "/basement", "/base",
     "/app", NULL},
    {"map-path-segment-boundary-basement-not-under-base-slash", "/basement",
     "/base/", "/app/", NULL},
    {"map-path-case-sensitive", "/BASE/x", "/base", "/app", NULL},
    {"map-path-shorter-than-from", "/ba", "/base", "/app", NULL},
    {"map-path-percent-encoding-compared-as-written", "/b%61se/x", "/base",
     "/app", NULL},
    {"map-path-percent-encoding-kept", "/base/a%2Fb%25", "/base", "/app",
     "/app/a%2Fb%25"},
};

static void check_path(const void *tcv)
{
    const path_case_t *tc = tcv;
    guarded_t g;
    const char *got;

    guard(&g, tc->path);
    got = rp_rewrite_map_path(pool, g.s, strlen(g.s), tc->from, tc->to);
    if ((got == NULL) != (tc->want == NULL) ||
        (got && strcmp(got, tc->want) != 0)) {
        RP_FAIL_CASE(tc->name, "map(%s, %s, %s) = %s, expected %s", tc->path,
                     tc->from, tc->to, got ? got : "NULL",
                     tc->want ? tc->want : "NULL");
    }
    unguard(&g);
}

/* The length bounds the path: a query after it stays outside. */
static void test_map_path_stops_at_len(void)
{
    apr_pool_t *p;
    const char *s = "/base/x?q=/base/y";

    apr_pool_create(&p, NULL);
    RP_EXPECT_STR(rp_rewrite_map_path(p, s, 7, "/base", "/app"), "/app/x");
    apr_pool_destroy(p);
}

/* ---- rp_rewrite_url ---------------------------------------------------- */

typedef struct url_case_t {
    const char *name;
    const char *target;       /* backend URL of the route */
    const char *prefix;       /* the route's front prefix */
    const char *backend_host; /* Host the backend got; NULL: the target's */
    const char *front_host;   /* NULL: none; "-": the default */
    const char *in;
    const char *want; /* NULL: unchanged (the same pointer) */
} url_case_t;

#define T8080 "http://127.0.0.1:8080/base/"
#define FRONT "https://front.example"

static const url_case_t urls[] = {
    {"absolute-backend-url-becomes-front-url", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080/base/x?y", FRONT "/app/x?y"},
    {"absolute-path-under-base-becomes-prefix", T8080, "/app/", NULL, "-",
     "/base/x", "/app/x"},
    {"absolute-path-query-kept", T8080, "/app/", NULL, "-", "/base/x?a=/base/",
     "/app/x?a=/base/"},
    {"rfc3986-3.5-fragment-kept", T8080, "/app/", NULL, "-", "/base/x#/base/",
     "/app/x#/base/"},
    {"base-without-slash-maps-to-prefix-without-slash", T8080, "/app/", NULL,
     "-", "/base", "/app"},
    {"base-itself-maps-to-prefix", T8080, "/app/", NULL, "-", "/base/",
     "/app/"},
    {"base-with-query-only", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080/base?x", FRONT "/app?x"},
    {"segment-boundary-basement-path-unchanged", T8080, "/app/", NULL, "-",
     "/basement/x", NULL},
    {"segment-boundary-basement-url-unchanged", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080/basement", NULL},
    {"outside-base-path-unchanged", T8080, "/app/", NULL, "-", "/other/x",
     NULL},
    {"outside-base-url-unchanged", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080/other/x", NULL},
    {"other-host-unchanged", T8080, "/app/", NULL, "-",
     "http://example.com/base/x", NULL},
    {"other-port-unchanged", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8081/base/x", NULL},
    {"other-scheme-unchanged", T8080, "/app/", NULL, "-",
     "https://127.0.0.1:8080/base/x", NULL},
    {"scheme-without-authority-unchanged", T8080, "/app/", NULL, "-",
     "http:/base/x", NULL},
    {"rfc3986-6.2.3-explicit-default-port-matches", "http://b.internal/base",
     "/app", NULL, "-", "http://b.internal:80/base/x", FRONT "/app/x"},
    {"rfc3986-6.2.3-omitted-port-matches-explicit-80",
     "http://b.internal:80/base", "/app", NULL, "-", "http://b.internal/base/x",
     FRONT "/app/x"},
    {"rfc3986-6.2.3-empty-port-is-default", "http://b.internal/base", "/app",
     NULL, "-", "http://b.internal:/base/x", FRONT "/app/x"},
    {"rfc3986-6.2.3-https-default-port-443", "https://b.internal/base", "/app",
     NULL, "-", "https://b.internal:443/base/x", FRONT "/app/x"},
    {"rfc3986-6.2.3-port-80-is-not-https-default", "https://b.internal/base",
     "/app", NULL, "-", "https://b.internal:80/base/x", NULL},
    {"rfc3986-6.2.2.1-scheme-and-host-without-case", "http://b.internal/base",
     "/app", NULL, "-", "HTTP://B.Internal/base/x", FRONT "/app/x"},
    {"path-compared-with-case", T8080, "/app/", NULL, "-", "/BASE/x", NULL},
    {"percent-encoding-kept-as-is", T8080, "/app/", NULL, "-",
     "/base/a%2Fb%25?q=%20", "/app/a%2Fb%25?q=%20"},
    {"percent-encoded-base-is-another-path", T8080, "/app/", NULL, "-",
     "/b%61se/x", NULL},
    {"empty-path-of-url-is-root", "http://127.0.0.1:8080", "/app/", NULL, "-",
     "http://127.0.0.1:8080", FRONT "/app/"},
    {"empty-path-of-url-is-not-under-base", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080?x", NULL},
    {"userinfo-unchanged", T8080, "/app/", NULL, "-",
     "http://u@127.0.0.1:8080/base/x", NULL},
    {"relative-reference-unchanged", T8080, "/app/", NULL, "-", "x/y", NULL},
    {"dot-relative-reference-unchanged", T8080, "/app/", NULL, "-", "../x",
     NULL},
    {"query-only-reference-unchanged", T8080, "/app/", NULL, "-", "?q", NULL},
    {"empty-value-unchanged", T8080, "/app/", NULL, "-", "", NULL},
    {"rfc3986-4.2-network-path-reference", T8080, "/app/", NULL, "-",
     "//127.0.0.1:8080/base/x", "//front.example/app/x"},
    {"network-path-reference-other-host-unchanged", T8080, "/app/", NULL, "-",
     "//example.com/base/x", NULL},
    {"ipv6-literal-matches", "http://[::1]:8080/base", "/app", NULL, "-",
     "http://[::1]:8080/base/x", FRONT "/app/x"},
    {"ipv6-literal-without-case", "http://[2001:db8::a]/base", "/app", NULL,
     "-", "http://[2001:DB8::A]/base/x", FRONT "/app/x"},
    {"ipv6-other-address-unchanged", "http://[::1]:8080/base", "/app", NULL,
     "-", "http://[::2]:8080/base/x", NULL},
    {"ipv6-other-port-unchanged", "http://[::1]:8080/base", "/app", NULL, "-",
     "http://[::1]/base/x", NULL},
    {"bad-port-unchanged", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:8080x/base/x", NULL},
    {"huge-port-unchanged", T8080, "/app/", NULL, "-",
     "http://127.0.0.1:99999999999999999999/base/x", NULL},
    {"preserve-host-sent-host-names-the-backend", T8080, "/app/",
     "front.example", "-", "http://front.example/base/x?y", FRONT "/app/x?y"},
    {"preserve-host-target-name-still-matches", T8080, "/app/", "front.example",
     "-", "http://127.0.0.1:8080/base/x", FRONT "/app/x"},
    {"preserve-host-other-scheme-is-a-deliberate-upgrade", T8080, "/app/",
     "front.example", "-", "https://front.example/base/x", NULL},
    {"preserve-host-sent-port-must-match", T8080, "/app/", "front.example:8443",
     "-", "http://front.example/base/x", NULL},
    {"preserve-host-sent-port-matches", T8080, "/app/", "Front.Example:8443",
     "-", "http://front.example:8443/base/x", FRONT "/app/x"},
    {"no-front-host-url-becomes-absolute-path", T8080, "/app/", NULL, NULL,
     "http://127.0.0.1:8080/base/x?y", "/app/x?y"},
    {"odd-front-host-url-becomes-absolute-path", T8080, "/app/", NULL,
     "evil.example/x?", "http://127.0.0.1:8080/base/x?y", "/app/x?y"},
    {"front-host-with-port-kept-as-sent", T8080, "/app/", NULL,
     "Front.Example:8443", "http://127.0.0.1:8080/base/x",
     "https://Front.Example:8443/app/x"},
    {"prefix-root-strips-base", T8080, "/", NULL, "-", "/base/x", "/x"},
    {"prefix-root-base-itself-is-root", T8080, "/", NULL, "-", "/base", "/"},
    {"target-root-gets-prefix", "http://127.0.0.1:8080", "/app", NULL, "-",
     "/x/y", "/app/x/y"},
    {"target-slash-root-equal-is-prefix", "http://127.0.0.1:8080/", "/app",
     NULL, "-", "/", "/app"},
    {"unstripped-location-prefix-empty-drops-base", T8080, "", NULL, "-",
     "/base/loc/x", "/loc/x"},
};

/* rp_rewrite_url(m, in) read from right before an unmapped page: want, or
 * in itself (the same pointer) when want is NULL. */
static void expect_url(const char *name, const rp_rewrite_map_t *m,
                       const char *in, const char *want)
{
    const char *got;
    guarded_t g;

    guard(&g, in);
    got = rp_rewrite_url(pool, m, g.s);
    if (want == NULL && got != g.s) {
        RP_FAIL_CASE(name, "%s became %s, expected it unchanged", in, got);
    }
    else if (want && strcmp(got, want) != 0) {
        RP_FAIL_CASE(name, "%s became %s, expected %s", in, got, want);
    }
    unguard(&g);
}

static void check_url(const void *tcv)
{
    const url_case_t *tc = tcv;
    const char *why = NULL;
    rp_rewrite_map_t m;
    rp_url_t t;

    if (rp_url_parse(pool, tc->target, &t, &why) != APR_SUCCESS) {
        RP_FAIL_CASE(tc->name, "bad target %s: %s", tc->target, why);
        return;
    }
    memset(&m, 0, sizeof(m));
    m.target = &t;
    m.backend_host = tc->backend_host ? tc->backend_host : t.hostport;
    m.front_scheme = "https";
    m.front_host = tc->front_host && !strcmp(tc->front_host, "-")
                       ? "front.example"
                       : tc->front_host;
    m.front_prefix = tc->prefix;
    expect_url(tc->name, &m, tc->in, tc->want);
}

/* ---- RProxyPassReverse: the backend's other URLs ----------------------- */

typedef struct alias_case_t {
    const char *name;
    const char *alias;        /* the alias URL */
    const char *alias_prefix; /* NULL: the <Location> form */
    const char *in;
    const char *want; /* NULL: unchanged (the same pointer) */
} alias_case_t;

/* The route: RProxyPass /app/ http://127.0.0.1:8080/base/, front
 * https://front.example. */
static const alias_case_t aliases[] = {
    {"alias-absolute-url-maps", "http://app.internal/base/", NULL,
     "http://app.internal/base/x?y", FRONT "/app/x?y"},
    {"alias-other-base-path-maps", "https://public.example/pub/", NULL,
     "https://public.example/pub/z", FRONT "/app/z"},
    {"alias-absolute-path-under-its-base-maps", "https://public.example/pub/",
     NULL, "/pub/x", "/app/x"},
    {"alias-at-root-maps-every-absolute-path", "http://public.example/", NULL,
     "/login?next=/", "/app/login?next=/"},
    {"alias-default-port-is-the-same", "http://app.internal:80/base/", NULL,
     "http://APP.internal/base/x", FRONT "/app/x"},
    {"alias-for-this-route-maps", "http://app.internal/base/", "/app/",
     "http://app.internal/base/x", FRONT "/app/x"},
    {"alias-route-path-trailing-slash-aside", "http://app.internal/base/",
     "/app", "http://app.internal/base/x", FRONT "/app/x"},
    {"alias-for-another-route-ignored", "http://app.internal/base/", "/other/",
     "http://app.internal/base/x", NULL},
    {"alias-route-path-prefix-only-is-another", "http://app.internal/base/",
     "/ap", "http://app.internal/base/x", NULL},
    {"alias-other-scheme-unchanged", "http://app.internal/base/", NULL,
     "https://app.internal/base/x", NULL},
    {"alias-other-port-unchanged", "http://app.internal/base/", NULL,
     "http://app.internal:8081/base/x", NULL},
    {"alias-path-outside-its-base-unchanged", "http://app.internal/base/", NULL,
     "http://app.internal/elsewhere", NULL},
    {"alias-target-still-maps-first", "http://app.internal/other/", NULL,
     "http://127.0.0.1:8080/base/x", FRONT "/app/x"},
    {"alias-userinfo-never-matches", "http://app.internal/base/", NULL,
     "http://u@app.internal/base/x", NULL},
};

static void check_alias(const void *tcv)
{
    const alias_case_t *tc = tcv;
    apr_array_header_t *list =
        apr_array_make(pool, 2, sizeof(rp_rewrite_alias_t));
    rp_rewrite_alias_t *decoy = apr_array_push(list), *a = apr_array_push(list);
    const char *why = NULL;
    rp_rewrite_map_t m;
    rp_url_t t;

    /* a first alias that never matches: the list is walked */
    RP_EXPECT_INT(
        rp_url_parse(pool, "http://decoy.example/nothing/", &decoy->url, &why),
        APR_SUCCESS);
    decoy->prefix = NULL;
    RP_EXPECT_INT(rp_url_parse(pool, tc->alias, &a->url, &why), APR_SUCCESS);
    a->prefix = tc->alias_prefix;
    RP_EXPECT_INT(rp_url_parse(pool, T8080, &t, &why), APR_SUCCESS);
    memset(&m, 0, sizeof(m));
    m.target = &t;
    m.backend_host = t.hostport;
    m.front_scheme = "https";
    m.front_host = "front.example";
    m.front_prefix = "/app/";
    m.aliases = list;
    expect_url(tc->name, &m, tc->in, tc->want);
}

/* ---- Refresh ----------------------------------------------------------- */

typedef struct refresh_case_t {
    const char *name;
    const char *in;
    const char *want; /* NULL: unchanged */
} refresh_case_t;

static const refresh_case_t refreshes[] = {
    {"refresh-url-absolute", "0; url=http://127.0.0.1:8080/base/x",
     "0; url=" FRONT "/app/x"},
    {"refresh-url-single-quoted-name-without-case", "5;URL='/base/x'",
     "5;URL='/app/x'"},
    {"refresh-url-double-quoted-with-spaces", "3 , url = \"/base/y?q\" ",
     "3 , url = \"/app/y?q\" "},
    {"refresh-trailing-space-kept", "5; url=/base/x  ", "5; url=/app/x  "},
    {"refresh-delay-only-unchanged", "5", NULL},
    {"refresh-other-path-unchanged", "5; url=/other", NULL},
    {"refresh-no-url-parameter-unchanged", "5; foo=/base/x", NULL},
    {"refresh-empty-url-unchanged", "5; url=", NULL},
};

static void check_refresh(const void *tcv)
{
    const refresh_case_t *tc = tcv;
    const char *why = NULL, *got;
    rp_rewrite_map_t m;
    rp_url_t t;
    guarded_t g;

    rp_url_parse(pool, T8080, &t, &why);
    memset(&m, 0, sizeof(m));
    m.target = &t;
    m.front_scheme = "https";
    m.front_host = "front.example";
    m.front_prefix = "/app/";
    guard(&g, tc->in);
    got = rp_rewrite_refresh(pool, &m, g.s);
    if (tc->want == NULL && got != g.s) {
        RP_FAIL_CASE(tc->name, "[%s] became [%s], expected it unchanged",
                     tc->in, got);
    }
    else if (tc->want && strcmp(got, tc->want) != 0) {
        RP_FAIL_CASE(tc->name, "[%s] became [%s], expected [%s]", tc->in, got,
                     tc->want);
    }
    unguard(&g);
}

/* ---- Set-Cookie -------------------------------------------------------- */

static const rp_rewrite_pair_t domain_rules[] = {
    {"backend.internal", "front.example"},
    {".other.internal", ".front.example"},
};

static const rp_rewrite_pair_t path_rules[] = {
    {"/base/admin", "/adm"},
    {"/base/", "/app/"},
};

static apr_array_header_t *rules(apr_pool_t *p, const rp_rewrite_pair_t *r,
                                 int n)
{
    apr_array_header_t *a = apr_array_make(p, n, sizeof(*r));
    int i;

    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(a, rp_rewrite_pair_t) = r[i];
    }
    return a;
}

typedef struct cookie_case_t {
    const char *name;
    const char *in;
    const char *want; /* NULL: unchanged */
} cookie_case_t;

static const cookie_case_t cookies[] = {
    {"cookie-domain-and-path-rewritten-rest-byte-identical",
     "id=1; Path=/base/; Domain=backend.internal; HttpOnly",
     "id=1; Path=/app/; Domain=front.example; HttpOnly"},
    {"rfc6265-5.2-attribute-names-without-case",
     "id=1; path=/base/x; DOMAIN=Backend.Internal",
     "id=1; path=/app/x; DOMAIN=front.example"},
    {"cookie-attributes-in-any-order",
     "id=1; Secure; Domain=backend.internal; Max-Age=5; Path=/base",
     "id=1; Secure; Domain=front.example; Max-Age=5; Path=/app"},
    {"rfc6265-5.2.3-leading-dot-of-domain-ignored",
     "id=1; Domain=.backend.internal", "id=1; Domain=front.example"},
    {"cookie-rule-with-leading-dot-matches-without",
     "id=1; Domain=other.internal", "id=1; Domain=.front.example"},
    {"cookie-domain-must-be-equal-not-a-suffix",
     "id=1; Domain=sub.backend.internal", NULL},
    {"cookie-named-path-is-not-an-attribute", "Path=/base/; Domain=x", NULL},
    {"cookie-unknown-attribute-unchanged", "id=a; b=1", NULL},
    {"cookie-value-with-path-text-untouched", "id=Path=/base/; Secure", NULL},
    {"cookie-whitespace-around-attributes-kept",
     "id=1 ;  Path = /base/x ; Secure", "id=1 ;  Path = /app/x ; Secure"},
    {"cookie-path-segment-boundary", "id=1; Path=/basement", NULL},
    {"cookie-path-first-rule-wins", "id=1; Path=/base/admin/x",
     "id=1; Path=/adm/x"},
    {"cookie-expires-comma-untouched",
     "id=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/base/",
     "id=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/app/"},
    {"cookie-empty-path-value-unchanged", "id=1; Path=; Domain=", NULL},
    {"cookie-attribute-without-value-unchanged", "id=1; Path; Domain", NULL},
    {"rfc6265-5.3-every-domain-attribute-rewritten",
     "id=1; Domain=backend.internal; Domain=other.internal",
     "id=1; Domain=front.example; Domain=.front.example"},
    {"cookie-without-attributes-unchanged", "id=1", NULL},
    {"cookie-trailing-semicolon-kept", "id=1; Path=/base/;",
     "id=1; Path=/app/;"},
};

static void check_cookie(const void *tcv)
{
    const cookie_case_t *tc = tcv;
    apr_array_header_t *d = rules(pool, domain_rules, NELTS(domain_rules));
    apr_array_header_t *p = rules(pool, path_rules, NELTS(path_rules));
    const char *got;
    guarded_t g;

    guard(&g, tc->in);
    got = rp_rewrite_set_cookie(pool, g.s, d, p);
    if (tc->want == NULL && got != g.s) {
        RP_FAIL_CASE(tc->name, "[%s] became [%s], expected it unchanged",
                     tc->in, got);
    }
    else if (tc->want && strcmp(got, tc->want) != 0) {
        RP_FAIL_CASE(tc->name, "[%s] became [%s], expected [%s]", tc->in, got,
                     tc->want);
    }
    unguard(&g);
}

static void test_cookie_without_rules_unchanged(void)
{
    apr_pool_t *p;
    const char *v = "id=1; Path=/base/; Domain=backend.internal";

    apr_pool_create(&p, NULL);
    RP_EXPECT(rp_rewrite_set_cookie(p, v, NULL, NULL) == v);
    RP_EXPECT(
        rp_rewrite_set_cookie(
            p, v, apr_array_make(p, 1, sizeof(rp_rewrite_pair_t)), NULL) == v);
    apr_pool_destroy(p);
}

/* ---- a whole response head --------------------------------------------- */

static apr_table_t *response_head(apr_pool_t *p)
{
    apr_table_t *h = apr_table_make(p, 8);

    apr_table_addn(h, "Set-Cookie", "a=1; Path=/base/");
    apr_table_addn(h, "Location", "http://127.0.0.1:8080/base/new");
    apr_table_addn(h, "X-Other", "http://127.0.0.1:8080/base/x");
    apr_table_addn(h, "set-cookie", "b=2; Domain=backend.internal");
    apr_table_addn(h, "Content-Location", "/base/c");
    apr_table_addn(h, "Refresh", "1; url=/base/r");
    apr_table_addn(h, "Set-Cookie", "c=3");
    /* names in another case, and names that share a first letter and a
     * length, or a prefix, with the rewritten ones */
    apr_table_addn(h, "CONTENT-LOCATION", "/base/u");
    apr_table_addn(h, "Content-Locatiox", "/base/q");
    apr_table_addn(h, "Locations", "/base/z");
    apr_table_addn(h, "Refreshx", "1; url=/base/r");
    apr_table_addn(h, "Set-Cookie2", "d=4; Path=/base/");
    return h;
}

static void setup_map(apr_pool_t *p, rp_rewrite_map_t *m, rp_url_t *t)
{
    const char *why = NULL;

    rp_url_parse(p, T8080, t, &why);
    memset(m, 0, sizeof(*m));
    m->target = t;
    m->front_scheme = "https";
    m->front_host = "front.example";
    m->front_prefix = "/app/";
}

/* Each field keeps its place among the others; only the named ones change. */
static void test_response_fields_rewritten_in_place_order_kept(void)
{
    apr_pool_t *p;
    apr_table_t *h;
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    rp_rewrite_map_t m;
    rp_url_t t;

    apr_pool_create(&p, NULL);
    setup_map(p, &m, &t);
    h = response_head(p);
    rp_rewrite_response(p, h, &m, rules(p, domain_rules, NELTS(domain_rules)),
                        rules(p, path_rules, NELTS(path_rules)));
    arr = apr_table_elts(h);
    e = (const apr_table_entry_t *)arr->elts;
    RP_EXPECT_INT(arr->nelts, 12);
    if (arr->nelts == 12) {
        RP_EXPECT_STR(e[0].val, "a=1; Path=/app/");
        RP_EXPECT_STR(e[1].val, "https://front.example/app/new");
        RP_EXPECT_STR(e[2].val, "http://127.0.0.1:8080/base/x");
        RP_EXPECT_STR(e[3].key, "set-cookie");
        RP_EXPECT_STR(e[3].val, "b=2; Domain=front.example");
        RP_EXPECT_STR(e[4].val, "/app/c");
        RP_EXPECT_STR(e[5].val, "1; url=/app/r");
        RP_EXPECT_STR(e[6].val, "c=3");
        RP_EXPECT_STR(e[7].val, "/app/u");
        RP_EXPECT_STR(e[8].val, "/base/q");
        RP_EXPECT_STR(e[9].val, "/base/z");
        RP_EXPECT_STR(e[10].val, "1; url=/base/r");
        RP_EXPECT_STR(e[11].val, "d=4; Path=/base/");
    }
    apr_pool_destroy(p);
}

/* RProxyRewriteLocation Off (no map): URLs stay, cookie rules still apply;
 * no rules: cookies stay. */
static void test_response_without_map_or_rules(void)
{
    apr_pool_t *p;
    apr_table_t *h;
    rp_rewrite_map_t m;
    rp_url_t t;

    apr_pool_create(&p, NULL);
    setup_map(p, &m, &t);
    h = response_head(p);
    rp_rewrite_response(p, h, NULL, NULL,
                        rules(p, path_rules, NELTS(path_rules)));
    RP_EXPECT_STR(apr_table_get(h, "Location"),
                  "http://127.0.0.1:8080/base/new");
    RP_EXPECT_STR(apr_table_get(h, "Content-Location"), "/base/c");
    RP_EXPECT_STR(apr_table_get(h, "Refresh"), "1; url=/base/r");
    RP_EXPECT_STR(apr_table_get(h, "Set-Cookie"), "a=1; Path=/app/");
    h = response_head(p);
    rp_rewrite_response(p, h, &m, NULL, NULL);
    RP_EXPECT_STR(apr_table_get(h, "Location"),
                  "https://front.example/app/new");
    RP_EXPECT_STR(apr_table_get(h, "Set-Cookie"), "a=1; Path=/base/");
    apr_pool_destroy(p);
}

/* ---- identity mappings (found by tests/fuzz/rewrite) ------------------ */

/* A mapping that writes the same bytes back (front prefix equal to the base
 * path, a cookie rule whose from equals its to) changes nothing, so the
 * value must come back as the very same pointer, as for any unchanged
 * value. */
static void test_identity_mapping_returns_same_pointer(void)
{
    static const rp_rewrite_pair_t same_domain[] = {{"b.example", "b.example"}};
    static const rp_rewrite_pair_t same_path[] = {{"/base/", "/base/"}};
    const char *loc = "http://127.0.0.1:8080/base/x?y";
    const char *path = "/base/x", *refresh = "7;url='/base/' ";
    const char *cookie = "n=v; Path=/base/; Domain=b.example";
    apr_pool_t *p;
    rp_rewrite_map_t m;
    rp_url_t t;

    apr_pool_create(&p, NULL);
    setup_map(p, &m, &t);
    m.front_prefix = "/base/";
    m.front_scheme = "http";
    m.front_host = "127.0.0.1:8080";
    RP_EXPECT(rp_rewrite_url(p, &m, path) == path);
    RP_EXPECT(rp_rewrite_url(p, &m, loc) == loc);
    RP_EXPECT(rp_rewrite_refresh(p, &m, refresh) == refresh);
    RP_EXPECT(rp_rewrite_set_cookie(p, cookie, rules(p, same_domain, 1),
                                    rules(p, same_path, 1)) == cookie);
    apr_pool_destroy(p);
}

/* The values a cookie rule may hold (RFC 6265 4.1.1): what config.c
 * refuses at startup and the fuzz target's rules are drawn from. */
static void test_cookie_rule_values_rfc6265_4_1_1(void)
{
    static const struct {
        const char *v;
        int domain_ok, path_ok;
    } cases[] = {
        {"example.com", 1, 0},
        {".example.com", 1, 0},
        {"a-b_c.d9", 1, 0},
        {"", 0, 0},
        {".", 0, 0},
        {"exa mple.com", 0, 0},
        {"example.com;", 0, 0},
        {"ex\xc3\xa9.com", 0, 0},
        {"/", 0, 1},
        {"/app/v1", 0, 1},
        {"/a.b-c_d~e", 0, 1},
        {"app", 1, 0},
        {"/a;b", 0, 0},
        {"/a b", 0, 0},
        {"/a\tb", 0, 0},
        {"/a\x7f", 0, 0},
        {"/caf\xc3\xa9", 0, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rp_rewrite_cookie_domain_ok(cases[i].v) != cases[i].domain_ok) {
            RP_FAIL_CASE(cases[i].v, "domain ok %d, expected %d",
                         !cases[i].domain_ok, cases[i].domain_ok);
        }
        if (rp_rewrite_cookie_path_ok(cases[i].v) != cases[i].path_ok) {
            RP_FAIL_CASE(cases[i].v, "path ok %d, expected %d",
                         !cases[i].path_ok, cases[i].path_ok);
        }
    }
}

int main(void)
{
    apr_initialize();
    RUN_TABLE(paths, check_path);
    RP_TEST_RUN(test_map_path_stops_at_len);
    RUN_TABLE(urls, check_url);
    RUN_TABLE(aliases, check_alias);
    RUN_TABLE(refreshes, check_refresh);
    RUN_TABLE(cookies, check_cookie);
    RP_TEST_RUN(test_cookie_without_rules_unchanged);
    RP_TEST_RUN(test_response_fields_rewritten_in_place_order_kept);
    RP_TEST_RUN(test_response_without_map_or_rules);
    RP_TEST_RUN(test_identity_mapping_returns_same_pointer);
    RP_TEST_RUN(test_cookie_rule_values_rfc6265_4_1_1);
    apr_terminate();
    return rp_test_done();
}
