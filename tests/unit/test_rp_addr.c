/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_addr.c: rp_addr.c. Ranges are parsed from their text, shown back
 * with rp_cidr_format() and matched against addresses; every string is read
 * from right before an unmapped page. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_addr.h"
#include "rp_test.h"

#define NELTS(a) (sizeof(a) / sizeof((a)[0]))

static apr_pool_t *pool; /* per case: created and destroyed by run_one */
static const void *cur_case;
static void (*cur_fn)(const void *);

static void run_one(void)
{
    apr_pool_create(&pool, NULL);
    cur_fn(cur_case);
    apr_pool_destroy(pool);
    pool = NULL;
}

#define RUN_TABLE(table, fn)                                                   \
    do {                                                                       \
        size_t i_;                                                             \
        for (i_ = 0; i_ < NELTS(table); i_++) {                                \
            cur_fn = fn;                                                       \
            cur_case = &(table)[i_];                                           \
            rp_test_run((table)[i_].name, run_one);                            \
        }                                                                      \
    } while (0)

/* s copied so that its NUL is the last byte before an unmapped page. */
static const char *guarded(const char *s, void **map, size_t *maplen)
{
    return rp_test_guard(s, strlen(s) + 1, map, maplen);
}

/* ---- rp_cidr_parse / rp_cidr_format ---- */

typedef struct parse_t {
    const char *name;
    const char *text;
    int ok;
    const char *shown; /* rp_cidr_format of the result when ok */
} parse_t;

static const parse_t parses[] = {
    {"cidr-ipv4-address-alone", "127.0.0.1", 1, "127.0.0.1"},
    {"cidr-ipv4-range", "10.0.0.0/8", 1, "10.0.0.0/8"},
    {"cidr-ipv4-everything", "0.0.0.0/0", 1, "0.0.0.0/0"},
    {"cidr-ipv4-full-length-shown-bare", "192.0.2.1/32", 1, "192.0.2.1"},
    {"cidr-ipv6-loopback", "::1", 1, "::1"},
    {"cidr-ipv6-range", "2001:db8::/32", 1, "2001:db8::/32"},
    {"cidr-ipv6-odd-prefix", "2001:db8:8000::/33", 1, "2001:db8:8000::/33"},
    {"cidr-ipv4-mapped-range-is-ipv4", "::ffff:10.0.0.0/104", 1, "10.0.0.0/8"},
    {"cidr-ipv4-mapped-address-is-ipv4", "::ffff:192.0.2.1", 1, "192.0.2.1"},
    {"cidr-host-bits-set-refused", "10.0.0.1/8", 0, NULL},
    {"cidr-ipv6-host-bits-set-refused", "2001:db8::1/32", 0, NULL},
    {"cidr-ipv4-prefix-too-long", "10.0.0.0/33", 0, NULL},
    {"cidr-ipv6-prefix-too-long", "::/129", 0, NULL},
    {"cidr-mapped-prefix-below-96-refused", "::ffff:0.0.0.0/95", 0, NULL},
    {"cidr-empty-prefix", "10.0.0.0/", 0, NULL},
    {"cidr-signed-prefix", "10.0.0.0/+8", 0, NULL},
    {"cidr-long-prefix-digits", "10.0.0.0/0008", 0, NULL},
    {"cidr-two-slashes", "10.0.0.0/8/8", 0, NULL},
    {"cidr-hostname-refused", "localhost", 0, NULL},
    {"cidr-short-ipv4-refused", "10.1", 0, NULL},
    {"cidr-ipv4-octet-too-big", "10.0.0.256", 0, NULL},
    {"cidr-zone-refused", "fe80::1%eth0", 0, NULL},
    {"cidr-empty-refused", "", 0, NULL},
    {"cidr-very-long-text-refused",
     "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee", 0,
     NULL},
};

static void check_parse(const void *arg)
{
    const parse_t *tc = arg;
    const char *why = NULL;
    rp_cidr_t c;
    void *map;
    size_t maplen;
    const char *s = guarded(tc->text, &map, &maplen);
    apr_status_t rv = rp_cidr_parse(s, &c, &why);

    RP_EXPECT_INT(rv == APR_SUCCESS, tc->ok);
    if (rv == APR_SUCCESS && tc->ok) {
        RP_EXPECT_STR(rp_cidr_format(pool, &c), tc->shown);
    }
    else if (rv != APR_SUCCESS) {
        RP_EXPECT(why != NULL && *why != '\0');
    }
    rp_test_unguard(map, maplen);
}

/* ---- rp_cidr_match / rp_addr_in_list ---- */

typedef struct match_t {
    const char *name;
    const char *range, *ip;
    int want;
} match_t;

static const match_t matches[] = {
    {"match-ipv4-inside", "10.0.0.0/8", "10.255.1.2", 1},
    {"match-ipv4-outside", "10.0.0.0/8", "11.0.0.1", 0},
    {"match-ipv4-exact", "127.0.0.1", "127.0.0.1", 1},
    {"match-ipv4-neighbour", "127.0.0.1", "127.0.0.2", 0},
    {"match-ipv4-odd-prefix-edge-in", "192.0.2.128/25", "192.0.2.255", 1},
    {"match-ipv4-odd-prefix-edge-out", "192.0.2.128/25", "192.0.2.127", 0},
    {"match-zero-prefix-takes-all-ipv4", "0.0.0.0/0", "203.0.113.9", 1},
    {"match-ipv4-range-not-ipv6", "0.0.0.0/0", "2001:db8::1", 0},
    {"match-ipv6-range-not-ipv4", "::/0", "10.0.0.1", 0},
    {"match-ipv6-inside", "2001:db8::/32", "2001:db8:ffff::1", 1},
    {"match-ipv6-outside", "2001:db8::/32", "2001:db9::1", 0},
    {"match-ipv6-other-spelling", "::1", "0:0:0:0:0:0:0:1", 1},
    {"match-ipv6-zone-ignored", "fe80::/10", "fe80::1%eth0", 1},
    {"match-mapped-client-in-ipv4-range", "127.0.0.0/8", "::ffff:127.0.0.1", 1},
    {"match-ipv4-client-in-mapped-range", "::ffff:10.0.0.0/104", "10.1.1.1", 1},
    {"match-garbage-matches-nothing", "0.0.0.0/0", "unknown", 0},
    {"match-empty-matches-nothing", "0.0.0.0/0", "", 0},
    {"match-trailing-junk-matches-nothing", "10.0.0.0/8", "10.0.0.1 ", 0},
};

static void check_match(const void *arg)
{
    const match_t *tc = arg;
    apr_array_header_t *list = apr_array_make(pool, 1, sizeof(rp_cidr_t));
    const char *why = NULL;
    void *map;
    size_t maplen;
    const char *ip = guarded(tc->ip, &map, &maplen);
    rp_cidr_t *c = apr_array_push(list);

    RP_EXPECT_INT(rp_cidr_parse(tc->range, c, &why), APR_SUCCESS);
    RP_EXPECT_INT(rp_cidr_match(c, ip), tc->want);
    RP_EXPECT_INT(rp_addr_in_list(list, ip), tc->want);
    rp_test_unguard(map, maplen);
}

typedef struct list_t {
    const char *name;
    int n; /* ranges used: 0 is an empty list */
    const char *ip;
    int want;
} list_t;

static const char *const list_ranges[] = {"10.0.0.0/8", "::1", "192.0.2.7"};

static const list_t lists[] = {
    {"list-empty-trusts-nobody", 0, "10.0.0.1", 0},
    {"list-first-range", 3, "10.9.9.9", 1},
    {"list-middle-range", 3, "::1", 1},
    {"list-last-range", 3, "192.0.2.7", 1},
    {"list-in-none", 3, "192.0.2.8", 0},
    {"list-null-ip", 3, NULL, 0},
};

static void check_list(const void *arg)
{
    const list_t *tc = arg;
    apr_array_header_t *list = apr_array_make(pool, 3, sizeof(rp_cidr_t));
    const char *why = NULL;
    int i;

    for (i = 0; i < tc->n; i++) {
        RP_EXPECT_INT(rp_cidr_parse(list_ranges[i], apr_array_push(list), &why),
                      APR_SUCCESS);
    }
    RP_EXPECT_INT(rp_addr_in_list(list, tc->ip), tc->want);
    if (tc->n == 0) {
        RP_EXPECT_INT(rp_addr_in_list(NULL, tc->ip), 0);
    }
}

/* ---- rp_addr_interleave ---- */

typedef struct order_t {
    const char *name;
    const char *in;   /* space-separated, as resolved */
    const char *want; /* the order of the attempts */
} order_t;

static const order_t orders[] = {
    {"order-empty", "", ""},
    {"order-one", "::1", "::1"},
    {"order-two-same-family", "10.0.0.1 10.0.0.2", "10.0.0.1 10.0.0.2"},
    {"order-v6-first-alternates",
     "2001:db8::1 2001:db8::2 2001:db8::3 "
     "192.0.2.1 192.0.2.2",
     "2001:db8::1 192.0.2.1 2001:db8::2 192.0.2.2 2001:db8::3"},
    {"order-v4-first-alternates", "192.0.2.1 192.0.2.2 2001:db8::1",
     "192.0.2.1 2001:db8::1 192.0.2.2"},
    {"order-one-v4-among-v6", "::1 ::2 ::3 127.0.0.1", "::1 127.0.0.1 ::2 ::3"},
    {"order-single-family-kept", "::3 ::1 ::2", "::3 ::1 ::2"},
    {"order-mapped-is-v6-socket", "192.0.2.1 ::ffff:192.0.2.2 192.0.2.3",
     "192.0.2.1 ::ffff:192.0.2.2 192.0.2.3"},
};

static void check_order(const void *arg)
{
    const order_t *tc = arg;
    char *in = apr_pstrdup(pool, tc->in), *last = NULL, *tok;
    const char *ips[8];
    int n = 0, i;
    const char *got = "";

    for (tok = apr_strtok(in, " ", &last); tok && n < 8;
         tok = apr_strtok(NULL, " ", &last)) {
        ips[n++] = tok;
    }
    rp_addr_interleave(ips, n, pool);
    for (i = 0; i < n; i++) {
        got = apr_pstrcat(pool, got, i ? " " : "", ips[i], NULL);
    }
    RP_EXPECT_STR(got, tc->want);
}

int main(void)
{
    apr_initialize();
    RUN_TABLE(parses, check_parse);
    RUN_TABLE(matches, check_match);
    RUN_TABLE(lists, check_list);
    RUN_TABLE(orders, check_order);
    apr_terminate();
    return rp_test_done();
}
