/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* Fuzz target: core/rp_addr.c: CIDR ranges and addresses.
 *
 * Input: two NUL-separated strings: a range ("addr" or "addr/bits") and an
 * address to test against it.
 *
 * Properties beyond "no crash":
 * - round trip: an accepted range formats to text that parses to the same
 *   range and formats to the same text again;
 * - an accepted range has no bits set past its prefix, and its address is
 *   valid text;
 * - membership: the range's own address is inside it (also written as an
 *   IPv4-mapped IPv6 address for IPv4), the address with its last host bit
 *   flipped is inside, the one with its last prefix bit flipped is not;
 * - rp_cidr_match() and rp_addr_in_list() agree, and text that is no
 *   address (rp_addr_valid) matches nothing. */

#include "../fuzz.h"
#include <arpa/inet.h>
#include <apr_tables.h>
#include "rp_addr.h"

static int same_range(const rp_cidr_t *a, const rp_cidr_t *b)
{
    return a->bits == b->bits && a->v6 == b->v6 &&
           !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static const char *addr_text(const rp_cidr_t *c, const unsigned char *b)
{
    char buf[INET6_ADDRSTRLEN];

    FUZZ_CHECK(inet_ntop(c->v6 ? AF_INET6 : AF_INET, b, buf, sizeof(buf)),
               "inet_ntop");
    return apr_pstrdup(fuzz_pool, buf);
}

static void flip(unsigned char *b, unsigned bit)
{
    b[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
}

static void check_membership(const rp_cidr_t *c)
{
    unsigned max = c->v6 ? 128 : 32, i;
    unsigned char b[16];
    const char *own = addr_text(c, c->addr);

    for (i = c->bits; i < max; i++) {
        FUZZ_CHECK(!(c->addr[i / 8] & (0x80 >> (i % 8))), "bit %u set past /%u",
                   i, c->bits);
    }
    FUZZ_CHECK(rp_addr_valid(own, NULL) && rp_cidr_match(c, own),
               "%s not inside its own range", own);
    if (!c->v6) {
        FUZZ_CHECK(
            rp_cidr_match(c, apr_pstrcat(fuzz_pool, "::ffff:", own, NULL)),
            "::ffff:%s not inside", own);
    }
    if (c->bits < max) {
        memcpy(b, c->addr, sizeof(b));
        flip(b, max - 1);
        FUZZ_CHECK(rp_cidr_match(c, addr_text(c, b)), "host bit flipped: out");
    }
    if (c->bits > 0) {
        memcpy(b, c->addr, sizeof(b));
        flip(b, c->bits - 1);
        FUZZ_CHECK(!rp_cidr_match(c, addr_text(c, b)),
                   "prefix bit flipped: in");
    }
}

static void check_range(const char *s)
{
    rp_cidr_t c, again;
    const char *why = NULL, *text, *text2;

    if (rp_cidr_parse(s, &c, &why) != APR_SUCCESS) {
        FUZZ_CHECK(why != NULL, "refused without a reason");
        return;
    }
    FUZZ_CHECK(c.bits <= (c.v6 ? 128u : 32u), "/%u", c.bits);
    text = rp_cidr_format(fuzz_pool, &c);
    FUZZ_CHECK(rp_cidr_parse(text, &again, &why) == APR_SUCCESS,
               "'%s' formats as '%s', refused: %s", s, text, why);
    FUZZ_CHECK(same_range(&c, &again), "'%s' -> '%s' parses to another range",
               s, text);
    text2 = rp_cidr_format(fuzz_pool, &again);
    FUZZ_CHECK(!strcmp(text, text2), "'%s' formats as '%s'", text, text2);
    check_membership(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size, 0};
    const char *range = fuzz_take_str(&in), *ip = fuzz_take_str(&in);
    apr_array_header_t *list;
    rp_cidr_t c;
    const char *why;
    int m;

    check_range(range);
    check_range(ip);
    if (rp_cidr_parse(range, &c, &why) == APR_SUCCESS) {
        list = apr_array_make(fuzz_pool, 1, sizeof(rp_cidr_t));
        APR_ARRAY_PUSH(list, rp_cidr_t) = c;
        m = rp_cidr_match(&c, ip);
        FUZZ_CHECK(m == rp_addr_in_list(list, ip), "match and list disagree");
        FUZZ_CHECK(!m || rp_addr_valid(ip, NULL), "'%s' is no address", ip);
    }
    FUZZ_END();
    return 0;
}
