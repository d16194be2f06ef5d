/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_addr.h: IP addresses and CIDR ranges, for deciding whom to trust
 * (RProxyTrustedProxies), and the order in which to dial a backend's
 * addresses. Pure functions over text: no I/O, no DNS.
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address it
 * maps, both in ranges (::ffff:10.0.0.0/104 is 10.0.0.0/8) and in the
 * addresses tested, so one range covers a client whatever socket family
 * accepted it.
 *
 * Lifetimes: rp_cidr_t is a plain value; the lists of them are arrays in
 * the caller's pool (the configuration pool for RProxyTrustedProxies). */

#ifndef RP_ADDR_H
#define RP_ADDR_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One range; an address alone is a range of one (/32 or /128). */
typedef struct rp_cidr_t {
    unsigned char addr[16]; /* network bytes; IPv4 uses the first 4 */
    unsigned bits;          /* prefix length, 0..32 or 0..128 */
    unsigned v6:1;          /* addr is IPv6 */
} rp_cidr_t;

/* Parse "addr" or "addr/bits" (IPv4 dotted quad, IPv6 text form). Bits are
 * 1 to 3 decimal digits. A range with address bits set past its prefix
 * (10.0.0.1/8) is refused: it is most likely a typo for something else.
 * Returns APR_SUCCESS, or APR_EINVAL with *why set to static text. */
apr_status_t rp_cidr_parse(const char *s, rp_cidr_t *out, const char **why);

/* Is the address written in ip inside c? An IPv6 zone ("%eth0") is
 * ignored. Text that is no address matches nothing. */
int rp_cidr_match(const rp_cidr_t *c, const char *ip);

/* Is ip inside any range of list (an array of rp_cidr_t)? NULL or empty
 * list: no. ip is parsed once whatever the length of the list. */
int rp_addr_in_list(const apr_array_header_t *list, const char *ip);

/* Is ip the text of an IPv4 or IPv6 address (zone allowed)? *is_v6 is
 * set when it is IPv6 and not IPv4-mapped (may be NULL). */
int rp_addr_valid(const char *ip, int *is_v6);

/* Order a name's addresses for connection attempts (RFC 8305, section
 * 4): the first stays first, then IPv6 and IPv4 alternate, each family in
 * its own order, so that a family whose addresses all fail costs one
 * attempt delay, not one per address. The family is read from the text
 * (a colon: IPv6). In place; scratch space from p. */
void rp_addr_interleave(const char **ips, int n, apr_pool_t *p);

/* "10.0.0.0/8", "2001:db8::/32", or the address alone for a full-length
 * range. Allocated in p. */
const char *rp_cidr_format(apr_pool_t *p, const rp_cidr_t *c);

#ifdef __cplusplus
}
#endif
#endif /* RP_ADDR_H */
