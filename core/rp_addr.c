/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_addr.c: addresses and CIDR ranges as bytes. inet_pton() (POSIX) reads
 * the text; everything after it compares bytes, so the match is exact and
 * cannot depend on the locale or on name resolution. */

#include <string.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include "rp_addr.h"

/* Longest address text accepted, zone included (INET6_ADDRSTRLEN is 46;
 * a zone adds an interface name). */
#define RP_ADDR_MAXTEXT 64

typedef struct ip_t {
    unsigned char b[16];
    unsigned v6:1;
} ip_t;

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

/* [s, s+len) as an address; an IPv4-mapped IPv6 address becomes IPv4. A
 * zone ("%eth0", the scope of a link-local IPv6 address) is skipped. */
static int parse_ip(const char *s, apr_size_t len, ip_t *out)
{
    char buf[RP_ADDR_MAXTEXT];
    const char *zone = memchr(s, '%', len);

    if (zone != NULL) {
        if (zone + 1 == s + len) {
            return 0; /* an empty zone name */
        }
        len = (apr_size_t)(zone - s);
    }
    if (len == 0 || len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (zone == NULL && inet_pton(AF_INET, buf, out->b) == 1) {
        return 1;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1) {
        return 0;
    }
    out->v6 = 1;
    if (memcmp(out->b, v4_mapped, sizeof(v4_mapped)) == 0) {
        memmove(out->b, out->b + 12, 4);
        memset(out->b + 4, 0, 12);
        out->v6 = 0;
    }
    return 1;
}

/* Do the first bits of a and b agree? */
static int prefix_equal(const unsigned char *a, const unsigned char *b,
                        unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    unsigned char mask;

    if (memcmp(a, b, whole) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Are all bits of a after the first bits zero? */
static int host_bits_zero(const unsigned char *a, unsigned bits, unsigned max)
{
    unsigned i;

    for (i = bits; i < max; i++) {
        if (a[i / 8] & (0x80 >> (i % 8))) {
            return 0;
        }
    }
    return 1;
}

/* "/bits": 1 to 3 digits, at most max. Returns -1 when it is not. */
static int parse_bits(const char *s, unsigned max)
{
    unsigned n = 0;
    apr_size_t i, len = strlen(s);

    if (len == 0 || len > 3) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        n = n * 10 + (unsigned)(s[i] - '0');
    }
    return n <= max ? (int)n : -1;
}

/* The prefix of a mapped range (::ffff:10.0.0.0/104) counts over the
 * whole IPv6 address: it becomes the IPv4 range less 96 bits. */
apr_status_t rp_cidr_parse(const char *s, rp_cidr_t *out, const char **why)
{
    const char *slash = strchr(s, '/');
    apr_size_t len = slash ? (apr_size_t)(slash - s) : strlen(s);
    int text_v6 = memchr(s, ':', len) != NULL;
    unsigned max;
    int bits;
    ip_t ip;

    if (memchr(s, '%', len) != NULL || !parse_ip(s, len, &ip)) {
        *why = "not an IPv4 or IPv6 address";
        return APR_EINVAL;
    }
    max = ip.v6 ? 128 : 32;
    bits = slash ? parse_bits(slash + 1, text_v6 ? 128 : 32) : -2;
    if (bits == -2) {
        bits = (int)max;
    }
    else if (bits >= 0 && text_v6 && !ip.v6) {
        bits = bits >= 96 ? bits - 96 : -1;
    }
    if (bits < 0) {
        *why = "the prefix length after / is not a number within the "
               "address size";
        return APR_EINVAL;
    }
    if (!host_bits_zero(ip.b, (unsigned)bits, max)) {
        *why = "address bits are set past the prefix length";
        return APR_EINVAL;
    }
    memcpy(out->addr, ip.b, sizeof(out->addr));
    out->bits = (unsigned)bits;
    out->v6 = ip.v6;
    return APR_SUCCESS;
}

static int match_ip(const rp_cidr_t *c, const ip_t *ip)
{
    return c->v6 == ip->v6 && prefix_equal(c->addr, ip->b, c->bits);
}

int rp_cidr_match(const rp_cidr_t *c, const char *ip)
{
    ip_t a;

    return ip != NULL && parse_ip(ip, strlen(ip), &a) && match_ip(c, &a);
}

int rp_addr_in_list(const apr_array_header_t *list, const char *ip)
{
    ip_t a;
    int i;

    if (list == NULL || list->nelts == 0 || ip == NULL ||
        !parse_ip(ip, strlen(ip), &a)) {
        return 0;
    }
    for (i = 0; i < list->nelts; i++) {
        if (match_ip(&APR_ARRAY_IDX(list, i, rp_cidr_t), &a)) {
            return 1;
        }
    }
    return 0;
}

int rp_addr_valid(const char *ip, int *is_v6)
{
    ip_t a;

    if (ip == NULL || !parse_ip(ip, strlen(ip), &a)) {
        return 0;
    }
    if (is_v6 != NULL) {
        *is_v6 = a.v6;
    }
    return 1;
}

const char *rp_cidr_format(apr_pool_t *p, const rp_cidr_t *c)
{
    char buf[RP_ADDR_MAXTEXT];
    unsigned max = c->v6 ? 128 : 32;

    if (inet_ntop(c->v6 ? AF_INET6 : AF_INET, c->addr, buf, sizeof(buf)) ==
        NULL) {
        return "?";
    }
    if (c->bits == max) {
        return apr_pstrdup(p, buf);
    }
    return apr_psprintf(p, "%s/%u", buf, c->bits);
}

void rp_addr_interleave(const char **ips, int n, apr_pool_t *p)
{
    const char **v6, **v4;
    int n6 = 0, n4 = 0, i6 = 0, i4 = 0, i, six;

    if (n < 3) {
        return; /* two addresses alternate whatever their families */
    }
    v6 = apr_palloc(p, sizeof(*v6) * (apr_size_t)n * 2);
    v4 = v6 + n;
    for (i = 0; i < n; i++) {
        if (strchr(ips[i], ':')) {
            v6[n6++] = ips[i];
        }
        else {
            v4[n4++] = ips[i];
        }
    }
    six = strchr(ips[0], ':') != NULL;
    for (i = 0; i < n; i++, six = !six) {
        if ((six && i6 < n6) || i4 == n4) {
            ips[i] = v6[i6++];
        }
        else {
            ips[i] = v4[i4++];
        }
    }
}
