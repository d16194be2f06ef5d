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
#include <strings.h>
#include <apr_tables.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "rp_headers.h"
#include "rp_addr.h"
#include "rp_h1.h"

typedef struct rp_hdr_rule_t {
    const char *name; /* canonical spelling; matched without case */
    apr_size_t len;   /* strlen(name): compared before the bytes */
    unsigned flags;   /* RP_HDR_* */
} rp_hdr_rule_t;

#define RP_HDR_RULE(name, flags)                                               \
    {                                                                          \
        name, sizeof(name) - 1, flags                                          \
    }

/* RFC 9110 section 7.6.1 lists Connection, Proxy-Connection, Keep-Alive,
 * TE, Transfer-Encoding and Upgrade; Proxy-Authenticate/-Authorization
 * (section 11.7) and Trailer are consumed by the next hop too, as in Go's
 * httputil.ReverseProxy. At most 32 rules: matches are kept in a bit set. */
static const rp_hdr_rule_t rp_hdr_rules[] = {
    RP_HDR_RULE("Connection", RP_HDR_HOP),
    RP_HDR_RULE("Proxy-Connection", RP_HDR_HOP),
    RP_HDR_RULE("Keep-Alive", RP_HDR_HOP),
    RP_HDR_RULE("Proxy-Authenticate", RP_HDR_HOP),
    RP_HDR_RULE("Proxy-Authorization", RP_HDR_HOP),
    RP_HDR_RULE("TE", RP_HDR_HOP | RP_HDR_TE_TRAILERS_OK),
    RP_HDR_RULE("Trailer", RP_HDR_HOP),
    RP_HDR_RULE("Transfer-Encoding", RP_HDR_HOP),
    RP_HDR_RULE("Upgrade", RP_HDR_HOP),
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

/* The lengths of the rule names as a bit set: most field names have
 * another length and are passed over without comparing a byte. Keep in
 * step with rp_hdr_rules[] (test_rp_headers checks every rule's name). */
#define RP_HDR_RULE_LENS                                                       \
    ((1u << 2) | (1u << 7) | (1u << 10) | (1u << 16) | (1u << 17) |            \
     (1u << 18) | (1u << 19))

/* Index of the rule for name, or -1. */
static int rule_index(const char *name)
{
    apr_size_t i, n = strlen(name);

    if (n >= 32 || !(RP_HDR_RULE_LENS & (1u << n))) {
        return -1;
    }
    for (i = 0; i < RP_HDR_NRULES; i++) {
        if (rp_hdr_rules[i].len == n &&
            eq_nocase(name, n, rp_hdr_rules[i].name)) {
            return (int)i;
        }
    }
    return -1;
}

unsigned rp_headers_flags(const char *name)
{
    int i = name ? rule_index(name) : -1;

    return i >= 0 ? rp_hdr_rules[i].flags : 0;
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

/* Copy each token of a Connection field into names, so that the fields
 * can be unset once the walk over the table is over. */
static void collect_tokens(apr_array_header_t *names, const char *value)
{
    const char *pos = value ? value : "", *start;
    apr_size_t len;

    while (next_elem(&pos, &start, &len)) {
        if (len > 0) {
            APR_ARRAY_PUSH(names, const char *) =
                apr_pstrmemdup(names->pool, start, len);
        }
    }
}

#define RP_RULE_CONNECTION 0 /* rp_hdr_rules[] indexes read below */
#define RP_RULE_PROXY_CONNECTION 1

/* One walk over the table notes which rules match (a bit each), reads the
 * Connection tokens before Connection itself goes, and whether TE asked for
 * trailers; then only the names present are unset (usually none or two),
 * each apr_table_unset() being a scan of its own.
 *
 * "TE: trailers" is put back last: the backend may only send trailers to a
 * recipient that said it accepts them (RFC 9110 section 10.1.4), and a
 * client that sends TE must also list "TE" in Connection, so the token pass
 * would remove it again. Tokens such as "close" name no field and unset
 * nothing. */
void rp_headers_strip_hop(apr_table_t *t, int is_request)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *names = NULL;
    apr_uint32_t found = 0;
    int i, r, trailers = 0;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key == NULL || (r = rule_index(e[i].key)) < 0) {
            continue;
        }
        if (rp_hdr_rules[r].flags & RP_HDR_HOP) {
            found |= (apr_uint32_t)1 << r;
        }
        if (r == RP_RULE_CONNECTION || r == RP_RULE_PROXY_CONNECTION) {
            if (!names) {
                names = apr_array_make(arr->pool, 4, sizeof(const char *));
            }
            collect_tokens(names, e[i].val);
        }
        else if (is_request &&
                 (rp_hdr_rules[r].flags & RP_HDR_TE_TRAILERS_OK) &&
                 rp_headers_has_token(e[i].val, "trailers")) {
            trailers = r + 1;
        }
    }
    for (r = 0; found != 0; r++, found >>= 1) {
        if (found & 1) {
            apr_table_unset(t, rp_hdr_rules[r].name);
        }
    }
    for (i = 0; names && i < names->nelts; i++) {
        apr_table_unset(t, APR_ARRAY_IDX(names, i, const char *));
    }
    if (trailers) {
        apr_table_setn(t, rp_hdr_rules[trailers - 1].name, "trailers");
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

/* All prior fields called name in order, then elem, joined with ", " in
 * one allocation: many prior fields cost linear, not quadratic, memory. */
static void extend_list(apr_pool_t *p, apr_table_t *t, const char *name,
                        const char *elem)
{
    apr_array_header_t *vec = apr_array_make(p, 8, sizeof(struct iovec));
    apr_table_do(push_prior, vec, t, name, NULL);
    push_iov(vec, elem);
    apr_table_setn(t, name,
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

/* Set name unless a trusted peer already sent it: the proxy before us
 * knew the original Host and scheme, we only know its connection. */
static void set_unless_trusted(apr_pool_t *p, apr_table_t *t, const char *name,
                               const char *value, int trusted)
{
    if (!trusted || apr_table_get(t, name) == NULL) {
        set_or_unset(p, t, name, value);
    }
}

/* X-Forwarded-Prefix: the route's prefix without its trailing '/', after
 * a trusted peer's own ("/outer" + "/app": the client's path began with
 * both). A prior value ending in '/' loses it. */
static void add_prefix(apr_pool_t *p, apr_table_t *t, const char *prefix,
                       int trusted)
{
    const char *prior = trusted ? apr_table_get(t, "X-Forwarded-Prefix") : "";
    apr_size_t len = prefix ? strlen(prefix) : 0, plen;

    len -= len && prefix[len - 1] == '/';
    if (len == 0 || !rp_headers_valid_value(prefix)) {
        return;
    }
    prior = prior ? prior : "";
    plen = strlen(prior);
    plen -= plen && prior[plen - 1] == '/';
    apr_table_setn(t, "X-Forwarded-Prefix",
                   apr_pstrcat(p, apr_pstrmemdup(p, prior, plen),
                               apr_pstrmemdup(p, prefix, len), NULL));
}

/* A NULL client_ip leaves X-Forwarded-For alone (trusted) or absent. */
static void add_x_forwarded(apr_pool_t *p, apr_table_t *t,
                            const rp_fwd_info_t *info, int trusted)
{
    if (trusted && info->xff_received != NULL) {
        /* the chain as the trusted peer sent it, not what is left of it */
        apr_table_setn(t, "X-Forwarded-For", info->xff_received);
    }
    if (info->client_ip != NULL) {
        extend_list(p, t, "X-Forwarded-For", info->client_ip);
    }
    set_unless_trusted(p, t, "X-Forwarded-Host", info->host, trusted);
    set_unless_trusted(p, t, "X-Forwarded-Proto", info->proto, trusted);
    add_prefix(p, t, info->prefix, trusted);
}

int rp_headers_peer_trusted(const rp_fwd_policy_t *pol, const char *client_ip)
{
    return rp_addr_in_list(pol->trusted, client_ip);
}

/* The fields a client could use to pass for someone else. */
static const char *const forwarding_fields[] = {
    "X-Forwarded-For",    "X-Forwarded-Host", "X-Forwarded-Proto",
    "X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Ssl",
    "X-Forwarded-Server", "X-Real-IP",        "Forwarded",
};

/* Remove every forwarding field of t: one walk of the table (all these
 * names begin with X or F), then an unset only for the names present. */
static void drop_forwarding(apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    const apr_size_t nf = sizeof(forwarding_fields) / sizeof(char *);
    unsigned present = 0;
    apr_size_t j;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        const char *k = e[i].key;
        if (!k || !k[0] || !strchr("xXfF", k[0])) {
            continue;
        }
        for (j = 0; j < nf; j++) {
            if (!strcasecmp(k, forwarding_fields[j])) {
                present |= 1u << j;
            }
        }
    }
    for (j = 0; present && j < nf; j++) {
        if (present & (1u << j)) {
            apr_table_unset(t, forwarding_fields[j]);
        }
    }
}

void rp_headers_forward(apr_pool_t *p, apr_table_t *t,
                        const rp_fwd_info_t *info, const rp_fwd_policy_t *pol)
{
    int trusted = rp_headers_peer_trusted(pol, info->client_ip);

    if (!trusted) {
        drop_forwarding(t);
    }
    if (pol->x_forwarded) {
        add_x_forwarded(p, t, info, trusted);
    }
    if (pol->forwarded) {
        extend_list(p, t, "Forwarded", rp_headers_forwarded_element(p, info));
    }
    if (pol->via && info->via_name != NULL) {
        rp_headers_add_via(p, t, info->version, info->via_name);
    }
}

void rp_headers_add_via(apr_pool_t *p, apr_table_t *t, int version,
                        const char *name)
{
    int major = version > 0 ? version / 1000 : 1;
    int minor = version > 0 ? version % 1000 : 1;
    const char *elem;

    /* HTTP/2 and HTTP/3 have no minor version (RFC 9113, RFC 9114). */
    if (major >= 2 && minor == 0) {
        elem = apr_psprintf(p, "%d %s", major, name);
    }
    else {
        elem = apr_psprintf(p, "%d.%d %s", major, minor, name);
    }
    extend_list(p, t, "Via", elem);
}

int rp_headers_valid_name(const char *name)
{
    if (name == NULL || *name == '\0') {
        return 0;
    }
    for (; *name != '\0'; name++) {
        if (!RP_H1_IS_TCHAR(*name)) {
            return 0;
        }
    }
    return 1;
}

/* qdtext and the byte after a "\\" in a quoted-pair (RFC 9110 section
 * 5.6.4): HTAB, SP, VCHAR, obs-text; everything else but CTLs and DEL. */
static int quotable(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

const char *rp_headers_quote(apr_pool_t *p, const char *value)
{
    apr_size_t n = 0, len = strlen(value);
    char *out, *o;
    const char *v;

    if (rp_headers_valid_name(value)) {
        return value; /* a token needs no quotes */
    }
    for (v = value; *v != '\0'; v++) {
        if (!quotable((unsigned char)*v)) {
            return NULL;
        }
        n += (*v == '"' || *v == '\\');
    }
    o = out = apr_palloc(p, len + n + 3);
    *o++ = '"';
    for (v = value; *v != '\0'; v++) {
        if (*v == '"' || *v == '\\') {
            *o++ = '\\';
        }
        *o++ = *v;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* RFC 7239 section 6: IPv6 goes in brackets, which are no tchar, so such a
 * node (as any with a port: ':' is no tchar either) is a quoted-string. */
const char *rp_headers_forwarded_node(apr_pool_t *p, const char *ip,
                                      unsigned port)
{
    const char *name, *zone;
    int v6 = 0;

    if (ip == NULL || !rp_addr_valid(ip, &v6)) {
        return "unknown";
    }
    zone = strchr(ip, '%');
    name = zone ? apr_pstrmemdup(p, ip, (apr_size_t)(zone - ip)) : ip;
    if (strchr(name, ':') != NULL) {
        name = apr_pstrcat(p, "[", name, "]", NULL);
    }
    if (port > 0) {
        name = apr_psprintf(p, "%s:%u", name, port);
    }
    return rp_headers_quote(p, name);
}

/* ";name=value" or "" when value is NULL or cannot be quoted. */
static const char *param(apr_pool_t *p, const char *name, const char *value)
{
    const char *q = value ? rp_headers_quote(p, value) : NULL;

    return q && *value ? apr_pstrcat(p, ";", name, "=", q, NULL) : "";
}

const char *rp_headers_forwarded_element(apr_pool_t *p,
                                         const rp_fwd_info_t *info)
{
    return apr_pstrcat(
        p, "for=", rp_headers_forwarded_node(p, info->client_ip, 0),
        param(p, "host", info->host), param(p, "proto", info->proto), NULL);
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
        if (RP_H1_IS_BAD_TEXT(*value)) {
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
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Proto",
    "X-Forwarded-Server",
    "X-Forwarded-Ssl",
    "X-Real-IP",
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
