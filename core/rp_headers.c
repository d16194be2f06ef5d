/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_headers.c: header policy for proxied messages.
 *
 * Hop-by-hop fields (RFC 9110 section 7.6.1) are one table, rp_hdr_rules[],
 * applied by one loop; a second pass drops every field named by a token of
 * Connection or Proxy-Connection. Both directions use the same code.
 *
 * apr_table_t may hold several fields with one name, so every read goes
 * through apr_table_do(), which visits them all; apr_table_get() would see
 * the first alone. Nothing is unset while apr_table_do() runs: names are
 * collected first and removed afterwards. */

#include <string.h>
#include <apr_tables.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "rp_headers.h"

typedef struct rp_hdr_rule_t {
    const char *name; /* canonical spelling; matched without case */
    unsigned flags;   /* RP_HDR_* */
} rp_hdr_rule_t;

/* RFC 9110 section 7.6.1 lists Connection, Proxy-Connection, Keep-Alive,
 * TE, Transfer-Encoding and Upgrade; Proxy-Authenticate/-Authorization
 * (section 11.7) and Trailer are consumed by the next hop too, as in Go's
 * httputil.ReverseProxy. */
static const rp_hdr_rule_t rp_hdr_rules[] = {
    {"Connection", RP_HDR_HOP},
    {"Proxy-Connection", RP_HDR_HOP},
    {"Keep-Alive", RP_HDR_HOP},
    {"Proxy-Authenticate", RP_HDR_HOP},
    {"Proxy-Authorization", RP_HDR_HOP},
    {"TE", RP_HDR_HOP | RP_HDR_TE_TRAILERS_OK},
    {"Trailer", RP_HDR_HOP},
    {"Transfer-Encoding", RP_HDR_HOP},
    {"Upgrade", RP_HDR_HOP},
};

#define RP_HDR_NRULES (sizeof(rp_hdr_rules) / sizeof(rp_hdr_rules[0]))

/* Does [s, s+len) equal the NUL-terminated b, ignoring ASCII case? */
static int eq_nocase(const char *s, apr_size_t len, const char *b)
{
    apr_size_t i;
    for (i = 0; i < len; i++) {
        if (b[i] == '\0' || apr_tolower(s[i]) != apr_tolower(b[i])) {
            return 0;
        }
    }
    return b[len] == '\0';
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

unsigned rp_headers_flags(const char *name)
{
    apr_size_t i;
    if (name == NULL) {
        return 0;
    }
    for (i = 0; i < RP_HDR_NRULES; i++) {
        if (eq_nocase(name, strlen(name), rp_hdr_rules[i].name)) {
            return rp_hdr_rules[i].flags;
        }
    }
    return 0;
}

/* Next element of a comma-separated list (RFC 9110 section 5.6.1) from
 * *pos: [*start, *start + *len) is the element with OWS trimmed and any
 * ";parameters" cut off; *len may be 0 (";x"). Empty elements are skipped,
 * and a comma inside a quoted string (a parameter value) does not split.
 * Returns 0 at the end of the list. */
static int next_elem(const char **pos, const char **start, apr_size_t *len)
{
    const char *s = *pos, *name_end = NULL;
    int quoted = 0;
    while (is_ows(*s) || *s == ',') {
        s++;
    }
    if (*s == '\0') {
        *pos = s;
        return 0;
    }
    for (*start = s; *s != '\0' && (quoted || *s != ','); s++) {
        if (quoted && *s == '\\' && s[1] != '\0') {
            s++; /* quoted-pair: the next byte is literal */
        }
        else if (*s == '"') {
            quoted = !quoted;
        }
        else if (*s == ';' && !quoted && name_end == NULL) {
            name_end = s;
        }
    }
    name_end = name_end ? name_end : s;
    while (name_end > *start && is_ows(name_end[-1])) {
        name_end--;
    }
    *len = (apr_size_t)(name_end - *start);
    *pos = s;
    return 1;
}

int rp_headers_has_token(const char *value, const char *token)
{
    const char *start;
    apr_size_t len;
    if (value == NULL || token == NULL) {
        return 0;
    }
    while (next_elem(&value, &start, &len)) {
        if (len > 0 && eq_nocase(start, len, token)) {
            return 1;
        }
    }
    return 0;
}

/* A parameter value of at most 9 decimal digits, optionally quoted; -1 when
 * it is anything else. Bounded so that no overflow is possible. */
static long small_number(const char *s, apr_size_t len)
{
    long n = 0;
    apr_size_t i;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    if (len == 0 || len > 9) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

void rp_headers_keep_alive(const char *value, long *timeout, long *max)
{
    const char *start, *eq, *v;
    apr_size_t len, nlen;

    *timeout = -1;
    *max = -1;
    while (value && next_elem(&value, &start, &len)) {
        eq = memchr(start, '=', len);
        if (eq == NULL) {
            continue;
        }
        for (nlen = (apr_size_t)(eq - start); nlen && is_ows(start[nlen - 1]);
             nlen--) {
        }
        for (v = eq + 1; v < start + len && is_ows(*v); v++) {
        }
        if (eq_nocase(start, nlen, "timeout")) {
            *timeout = small_number(v, (apr_size_t)(start + len - v));
        }
        else if (eq_nocase(start, nlen, "max")) {
            *max = small_number(v, (apr_size_t)(start + len - v));
        }
    }
}

/* apr_table_do callback: note in *rec whether a field holds "trailers". */
static int find_trailers(void *rec, const char *key, const char *value)
{
    int *found = rec;
    if (rp_headers_has_token(value, "trailers")) {
        *found = 1;
        return 0; /* stop: one is enough */
    }
    return 1;
}

/* apr_table_do callback: copy each token of a Connection field into the
 * array rec, so that the fields can be unset once the walk is over. */
static int collect_tokens(void *rec, const char *key, const char *value)
{
    apr_array_header_t *names = rec;
    const char *pos = value ? value : "", *start;
    apr_size_t len;
    while (next_elem(&pos, &start, &len)) {
        if (len > 0) {
            APR_ARRAY_PUSH(names, const char *) =
                apr_pstrmemdup(names->pool, start, len);
        }
    }
    return 1;
}

/* The one loop over the table. Returns the name of the field to put back as
 * "<name>: trailers", or NULL: a request keeps "TE: trailers" when the
 * client's TE asked for trailers (RFC 9110 section 10.1.4), because the
 * backend may only send trailers to a recipient that said it accepts them. */
static const char *apply_rules(apr_table_t *t, int is_request)
{
    const char *keep = NULL;
    apr_size_t i;
    for (i = 0; i < RP_HDR_NRULES; i++) {
        const rp_hdr_rule_t *r = &rp_hdr_rules[i];
        int trailers = 0;
        if (!(r->flags & RP_HDR_HOP)) {
            continue;
        }
        if (is_request && (r->flags & RP_HDR_TE_TRAILERS_OK)) {
            apr_table_do(find_trailers, &trailers, t, r->name, NULL);
            keep = trailers ? r->name : keep;
        }
        apr_table_unset(t, r->name);
    }
    return keep;
}

/* Connection tokens are read before the loop removes Connection itself.
 * "TE: trailers" is put back last: a client that sends TE must also list
 * "TE" in Connection (RFC 9110 section 10.1.4), so the token pass would
 * remove it again. Tokens such as "close" name no field and unset
 * nothing. */
void rp_headers_strip_hop(apr_table_t *t, int is_request)
{
    apr_pool_t *pool = apr_table_elts(t)->pool;
    apr_array_header_t *names = apr_array_make(pool, 4, sizeof(const char *));
    const char *keep;
    int i;
    apr_table_do(collect_tokens, names, t, "Connection", "Proxy-Connection",
                 NULL);
    keep = apply_rules(t, is_request);
    for (i = 0; i < names->nelts; i++) {
        apr_table_unset(t, APR_ARRAY_IDX(names, i, const char *));
    }
    if (keep != NULL) {
        apr_table_setn(t, keep, "trailers");
    }
}

static int is_blank(const char *s)
{
    while (is_ows(*s)) {
        s++;
    }
    return *s == '\0';
}

static void push_iov(apr_array_header_t *vec, const char *s)
{
    struct iovec *v = apr_array_push(vec);
    v->iov_base = (void *)(apr_uintptr_t)s; /* apr_pstrcatv only reads */
    v->iov_len = strlen(s);
}

/* apr_table_do callback: append "value, " to the iovec array rec. Empty
 * fields are skipped: they would leave ", ," in the list. */
static int push_prior(void *rec, const char *key, const char *value)
{
    if (value != NULL && !is_blank(value)) {
        push_iov(rec, value);
        push_iov(rec, ", ");
    }
    return 1;
}

/* All prior X-Forwarded-For fields in order, then client_ip, joined in one
 * allocation: many prior fields cost linear, not quadratic, memory. */
static void set_xff(apr_pool_t *p, apr_table_t *t, const char *client_ip)
{
    apr_array_header_t *vec = apr_array_make(p, 8, sizeof(struct iovec));
    apr_table_do(push_prior, vec, t, "X-Forwarded-For", NULL);
    push_iov(vec, client_ip);
    apr_table_setn(t, "X-Forwarded-For",
                   apr_pstrcatv(p, (const struct iovec *)vec->elts,
                                (apr_size_t)vec->nelts, NULL));
}

/* Set name to a copy of value in p, or remove it when value is NULL. */
static void set_or_unset(apr_pool_t *p, apr_table_t *t, const char *name,
                         const char *value)
{
    if (value != NULL) {
        apr_table_setn(t, name, apr_pstrdup(p, value));
    }
    else {
        apr_table_unset(t, name);
    }
}

/* p must be t's pool or an ancestor of it: the values are set without a
 * copy (apr_table_setn), and a pool-debug build checks exactly that. A NULL
 * client_ip leaves X-Forwarded-For as it is; a NULL proto removes
 * X-Forwarded-Proto, as a NULL host removes X-Forwarded-Host, so a value
 * the client sent never passes for ours. */
void rp_headers_add_forwarded(apr_pool_t *p, apr_table_t *t,
                              const rp_fwd_info_t *info)
{
    if (info->client_ip != NULL) {
        set_xff(p, t, info->client_ip);
    }
    set_or_unset(p, t, "X-Forwarded-Host", info->host);
    set_or_unset(p, t, "X-Forwarded-Proto", info->proto);
}

/* tchar (RFC 9110 section 5.6.2), on ASCII ranges so that the locale
 * cannot widen it. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int rp_headers_valid_name(const char *name)
{
    if (name == NULL || *name == '\0') {
        return 0;
    }
    for (; *name != '\0'; name++) {
        if (!is_tchar((unsigned char)*name)) {
            return 0;
        }
    }
    return 1;
}

/* A C string cannot hold NUL, so that part of the contract is kept by
 * whoever builds the string (rp_h1 refuses NUL on the wire). obs-text
 * (0x80-0xFF) is allowed: RFC 9110 section 5.5 keeps it valid. */
int rp_headers_valid_value(const char *value)
{
    if (value == NULL) {
        return 0;
    }
    for (; *value != '\0'; value++) {
        unsigned char c = (unsigned char)*value;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

apr_status_t rp_headers_validate(const apr_table_t *t, const char **bad_name)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;
    for (i = 0; i < arr->nelts; i++) {
        if (!rp_headers_valid_name(e[i].key) ||
            !rp_headers_valid_value(e[i].val)) {
            if (bad_name != NULL) {
                *bad_name = e[i].key ? e[i].key : "";
            }
            return RP_EBAD_REQUEST;
        }
    }
    return APR_SUCCESS;
}

/* ---- trailers ------------------------------------------------------- */

/* Fields a trailer section must not carry on (RFC 9110 6.5.1): they decide
 * framing, routing, authentication, request modifiers, response controls or
 * content format, all of which a recipient needs before the content. The
 * list follows RFC 7230 4.1.2 and Go's net/http, plus the fields this proxy
 * writes itself (a client must not smuggle X-Forwarded-For in a trailer that
 * a backend merges into its headers). */
static const char *const rp_not_in_trailers[] = {
    "Age",
    "Authorization",
    "Cache-Control",
    "Content-Encoding",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "Cookie",
    "Expect",
    "Expires",
    "Forwarded",
    "Host",
    "If-Match",
    "If-Modified-Since",
    "If-None-Match",
    "If-Range",
    "If-Unmodified-Since",
    "Location",
    "Max-Forwards",
    "Pragma",
    "Range",
    "Retry-After",
    "Set-Cookie",
    "Vary",
    "WWW-Authenticate",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
};

static int trailer_ok(const char *name, const char *value,
                      const char *connection)
{
    apr_size_t i;

    if (!rp_headers_valid_name(name) || !rp_headers_valid_value(value) ||
        (rp_headers_flags(name) & RP_HDR_HOP) ||
        rp_headers_has_token(connection, name)) {
        return 0;
    }
    for (i = 0; i < sizeof(rp_not_in_trailers) / sizeof(rp_not_in_trailers[0]);
         i++) {
        if (eq_nocase(name, strlen(name), rp_not_in_trailers[i])) {
            return 0;
        }
    }
    return 1;
}

apr_table_t *rp_headers_forwardable_trailers(apr_pool_t *p,
                                             const apr_table_t *trailers,
                                             const char *connection,
                                             int *dropped)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    apr_table_t *out = NULL;
    int i, n = 0;

    arr = trailers ? apr_table_elts(trailers) : NULL;
    for (i = 0; arr != NULL && i < arr->nelts; i++) {
        e = &((const apr_table_entry_t *)arr->elts)[i];
        if (e->key == NULL) {
            continue;
        }
        if (!trailer_ok(e->key, e->val, connection)) {
            n++;
            continue;
        }
        if (out == NULL) {
            out = apr_table_make(p, arr->nelts);
        }
        apr_table_addn(out, e->key, e->val);
    }
    if (dropped != NULL) {
        *dropped = n;
    }
    return out;
}
