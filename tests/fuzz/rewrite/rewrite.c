/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: core/rp_rewrite.c: Location, Refresh and Set-Cookie values
 * mapped back to the front.
 *
 * Input: NUL-separated strings: target URL, backend Host, front Host, front
 * prefix, then a Location, a Refresh and a Set-Cookie value, then cookie
 * rules as from/to pairs (two domain rules, then two path rules), then an
 * RProxyPassReverse URL and a byte: for the route's prefix or, when even,
 * the <Location> form. One byte after a string picks http or https for
 * the front. Configuration strings
 * go through the checks config.c makes (a rule that fails them is left
 * out, as httpd would refuse it at start-up); the values and the client's
 * Host are used as they come.
 *
 * Properties beyond "no crash":
 * - from a valid field value comes a valid field value;
 * - a result with the same bytes as the input is the input pointer itself
 *   (callers rely on that to know nothing changed);
 * - a Location keeps its query and fragment as written; a Set-Cookie keeps
 *   its name=value pair;
 * - rp_rewrite_response() over a table gives each field what the single
 *   functions give, in the same order. */

#include <strings.h>
#include "../fuzz.h"
#include <apr_lib.h>
#include <apr_tables.h>
#include "rp_headers.h"
#include "rp_rewrite.h"

static apr_array_header_t *rules(fuzz_in_t *in, int (*ok)(const char *))
{
    apr_array_header_t *a =
        apr_array_make(fuzz_pool, 2, sizeof(rp_rewrite_pair_t));
    int i;

    for (i = 0; i < 2; i++) {
        const char *from = fuzz_take_str(in), *to = fuzz_take_str(in);
        if (ok(from) && ok(to)) {
            rp_rewrite_pair_t *r = apr_array_push(a);
            r->from = from;
            r->to = to;
        }
    }
    return a;
}

/* "Nothing changed" must be told by the pointer alone. */
static void check_result(const char *what, const char *in, const char *out)
{
    FUZZ_CHECK(out != NULL, "%s: NULL", what);
    FUZZ_CHECK(out == in || strcmp(out, in) != 0,
               "%s: '%s' unchanged but copied", what, in);
    FUZZ_CHECK(!rp_headers_valid_value(in) || rp_headers_valid_value(out),
               "%s: '%s' became an invalid value '%s'", what, in, out);
}

static void check_url(apr_pool_t *p, const rp_rewrite_map_t *m, const char *v)
{
    const char *out = rp_rewrite_url(p, m, v);
    const char *rest = v + strcspn(v, "?#");
    apr_size_t olen = strlen(out), rlen = strlen(rest);

    check_result("Location", v, out);
    FUZZ_CHECK(olen >= rlen && !strcmp(out + olen - rlen, rest),
               "Location '%s' -> '%s' lost its query or fragment", v, out);
}

static void check_cookie(const char *v, const apr_array_header_t *d,
                         const apr_array_header_t *p)
{
    const char *out = rp_rewrite_set_cookie(fuzz_pool, v, d, p);
    apr_size_t pair = strcspn(v, ";");

    check_result("Set-Cookie", v, out);
    FUZZ_CHECK(!strncmp(out, v, pair), "Set-Cookie '%s' -> '%s': pair changed",
               v, out);
}

static void check_table(const rp_rewrite_map_t *m, const char *loc,
                        const char *refresh, const char *cookie,
                        const apr_array_header_t *d,
                        const apr_array_header_t *p)
{
    apr_table_t *t = apr_table_make(fuzz_pool, 5);
    const apr_table_entry_t *e;
    const char *want[5];
    int i;

    apr_table_addn(t, "Set-Cookie", cookie);
    apr_table_addn(t, "location", loc);
    apr_table_addn(t, "Refresh", refresh);
    apr_table_addn(t, "Set-Cookie", loc);
    apr_table_addn(t, "Content-Location", cookie);
    want[0] = rp_rewrite_set_cookie(fuzz_pool, cookie, d, p);
    want[1] = m ? rp_rewrite_url(fuzz_pool, m, loc) : loc;
    want[2] = m ? rp_rewrite_refresh(fuzz_pool, m, refresh) : refresh;
    want[3] = rp_rewrite_set_cookie(fuzz_pool, loc, d, p);
    want[4] = m ? rp_rewrite_url(fuzz_pool, m, cookie) : cookie;
    rp_rewrite_response(fuzz_pool, t, m, d, p);
    e = (const apr_table_entry_t *)apr_table_elts(t)->elts;
    FUZZ_CHECK(apr_table_elts(t)->nelts == 5, "fields added or lost");
    for (i = 0; i < 5; i++) {
        FUZZ_CHECK(!strcmp(e[i].val, want[i]), "field %d: '%s', not '%s'", i,
                   e[i].val, want[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    const char *target = fuzz_take_str(&in), *bhost = fuzz_take_str(&in);
    const char *fhost = fuzz_take_str(&in), *prefix = fuzz_take_str(&in);
    unsigned tls = fuzz_take_byte(&in) & 1;
    const char *loc = fuzz_take_str(&in), *refresh = fuzz_take_str(&in);
    const char *cookie = fuzz_take_str(&in);
    apr_array_header_t *d = rules(&in, rp_rewrite_cookie_domain_ok);
    apr_array_header_t *p = rules(&in, rp_rewrite_cookie_path_ok);
    const char *alias = fuzz_take_str(&in);
    unsigned alias_routed = fuzz_take_byte(&in) & 1;
    rp_rewrite_map_t map, *m = NULL;
    rp_rewrite_alias_t a;
    rp_url_t url;

    memset(&map, 0, sizeof(map));
    if (rp_url_parse(fuzz_pool, alias, &a.url, NULL) == APR_SUCCESS &&
        !a.url.query) { /* RProxyPassReverse refuses a query */
        apr_array_header_t *al =
            apr_array_make(fuzz_pool, 1, sizeof(rp_rewrite_alias_t));
        a.prefix = alias_routed ? prefix : NULL;
        APR_ARRAY_PUSH(al, rp_rewrite_alias_t) = a;
        map.aliases = al;
    }
    if (rp_url_parse(fuzz_pool, target, &url, NULL) == APR_SUCCESS &&
        (*prefix == '\0' || rp_rewrite_cookie_path_ok(prefix))) {
        map.target = &url;
        map.backend_host =
            rp_headers_valid_value(bhost) && *bhost ? bhost : NULL;
        map.front_scheme = tls ? "https" : "http";
        map.front_host = *fhost ? fhost : NULL;
        map.front_prefix = prefix;
        m = &map;
        check_url(fuzz_pool, m, loc);
        check_url(fuzz_pool, m, cookie);
        check_result("Refresh", refresh,
                     rp_rewrite_refresh(fuzz_pool, m, refresh));
    }
    check_cookie(cookie, d, p);
    check_cookie(loc, d, NULL);
    check_cookie(refresh, NULL, p);
    check_table(m, loc, refresh, cookie, d, p);
    FUZZ_END();
    return 0;
}
