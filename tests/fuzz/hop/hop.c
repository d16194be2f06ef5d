/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: rp_headers_strip_hop(), the hop-by-hop table and the
 * Connection-token pass (RFC 9110 section 7.6.1).
 *
 * Input: one byte (bit 0: a request, else a response), then NUL-separated
 * name, value, name, value... strings that become the header table.
 *
 * Properties beyond "no crash":
 * - no hop-by-hop field remains and no field named by a token of any
 *   Connection or Proxy-Connection field; every other field stays, in
 *   order, with its value; on a request whose TE listed "trailers" the
 *   table ends with "TE: trailers" and nothing else was added;
 * - the expected table is computed here from the RFC's list and a list
 *   splitter of our own, not from rp_headers' rule table;
 * - stripping twice changes nothing more. */

#include <strings.h>
#include "../fuzz.h"
#include <apr_tables.h>
#include "rp_headers.h"

/* RFC 9110 7.6.1, plus Proxy-Authenticate/-Authorization and Trailer, as
 * rp_headers.h documents. */
static const char *const hop_fields[] = {
    "Connection", "Proxy-Connection",   "Keep-Alive",
    "TE",         "Transfer-Encoding",  "Upgrade",
    "Trailer",    "Proxy-Authenticate", "Proxy-Authorization"};

static int is_hop(const char *name)
{
    apr_size_t i;

    for (i = 0; i < sizeof(hop_fields) / sizeof(hop_fields[0]); i++) {
        if (!strcasecmp(name, hop_fields[i])) {
            return 1;
        }
    }
    return 0;
}

/* The elements of a #list (RFC 9110 5.6.1): split at commas outside
 * quoted-strings, OWS trimmed, ";parameters" cut, empty ones dropped. */
static void list_elements(const char *v, apr_array_header_t *out)
{
    const char *s = v, *start, *semi;
    int quoted;

    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        if (!*s) {
            return;
        }
        start = s;
        semi = NULL;
        for (quoted = 0; *s && (quoted || *s != ','); s++) {
            if (quoted && *s == '\\' && s[1]) {
                s++;
            }
            else if (*s == '"') {
                quoted = !quoted;
            }
            else if (*s == ';' && !quoted && !semi) {
                semi = s;
            }
        }
        semi = semi ? semi : s;
        while (semi > start && (semi[-1] == ' ' || semi[-1] == '\t')) {
            semi--;
        }
        if (semi > start) {
            APR_ARRAY_PUSH(out, const char *) =
                apr_pstrmemdup(fuzz_pool, start, (apr_size_t)(semi - start));
        }
    }
}

static int in_list(const apr_array_header_t *a, const char *name)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        if (!strcasecmp(APR_ARRAY_IDX(a, i, const char *), name)) {
            return 1;
        }
    }
    return 0;
}

/* The table rp_headers_strip_hop() must leave, from the one given. */
static apr_table_t *expected(const apr_table_t *t, int is_request)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *tokens = apr_array_make(fuzz_pool, 4, sizeof(char *));
    apr_array_header_t *te = apr_array_make(fuzz_pool, 4, sizeof(char *));
    apr_table_t *want = apr_table_make(fuzz_pool, arr->nelts + 1);
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (!strcasecmp(e[i].key, "Connection") ||
            !strcasecmp(e[i].key, "Proxy-Connection")) {
            list_elements(e[i].val, tokens);
        }
        else if (!strcasecmp(e[i].key, "TE")) {
            list_elements(e[i].val, te);
        }
    }
    for (i = 0; i < arr->nelts; i++) {
        if (!is_hop(e[i].key) && !in_list(tokens, e[i].key)) {
            apr_table_addn(want, e[i].key, e[i].val);
        }
    }
    if (is_request && in_list(te, "trailers")) {
        apr_table_addn(want, "TE", "trailers");
    }
    return want;
}

static void check_equal(const apr_table_t *got, const apr_table_t *want,
                        const char *what)
{
    const apr_array_header_t *g = apr_table_elts(got),
                             *w = apr_table_elts(want);
    const apr_table_entry_t *ge = (const apr_table_entry_t *)g->elts;
    const apr_table_entry_t *we = (const apr_table_entry_t *)w->elts;
    int i;

    FUZZ_CHECK(g->nelts == w->nelts, "%s: %d fields, expected %d", what,
               g->nelts, w->nelts);
    for (i = 0; i < g->nelts; i++) {
        FUZZ_CHECK(!strcmp(ge[i].key, we[i].key) &&
                       !strcmp(ge[i].val, we[i].val),
                   "%s: field %d is '%s: %s', expected '%s: %s'", what, i,
                   ge[i].key, ge[i].val, we[i].key, we[i].val);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    int is_request = fuzz_take_byte(&in) & 1;
    apr_table_t *t = apr_table_make(fuzz_pool, 8), *want, *once;
    const char *name, *value;

    while (in.pos < in.len) {
        name = fuzz_take_str(&in);
        value = fuzz_take_str(&in);
        apr_table_addn(t, name, value);
    }
    want = expected(t, is_request);
    rp_headers_strip_hop(t, is_request);
    check_equal(t, want, "strip");
    once = apr_table_copy(fuzz_pool, t);
    rp_headers_strip_hop(t, is_request);
    check_equal(t, once, "strip twice");
    FUZZ_END();
    return 0;
}
