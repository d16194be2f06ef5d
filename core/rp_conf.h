/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_conf.h: the settings of one route, independent of httpd.
 *
 * Fields start out unset (RP_UNSET / RP_UNSET_TIME / NULL) so that a merge can
 * tell "not said here" from "said, with the default value"; rp_conf_get_*()
 * apply the documented defaults at the point of use.
 *
 * Lifetimes: an rp_conf_t lives in the configuration pool (pconf); its
 * target is borrowed from the same pool. */

#ifndef RP_CONF_H
#define RP_CONF_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_time.h>
#include "rp_core.h"
#include "rp_url.h"
#include "rp_h1.h"
#include "rp_tls.h"
#include "rp_headers.h"
#include "rp_rewrite.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Documented defaults (docs/directives.md). */
#define RP_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(10)
#define RP_DEFAULT_HEADER_TIMEOUT apr_time_from_sec(60)
#define RP_DEFAULT_IO_TIMEOUT apr_time_from_sec(60)
#define RP_DEFAULT_IDLE_TIMEOUT apr_time_from_sec(60)
#define RP_DEFAULT_FLUSH_INTERVAL 0
#define RP_DEFAULT_QUEUE_TIMEOUT apr_time_from_sec(5)
#define RP_DEFAULT_DNS_TTL apr_time_from_sec(60)
#define RP_DEFAULT_TLS_TIMEOUT apr_time_from_sec(10)
#define RP_DEFAULT_EXPECT_TIMEOUT apr_time_from_sec(1)
#define RP_DEFAULT_MAX_HEAD_BYTES RP_H1_DEFAULT_MAX_HEAD

typedef struct rp_conf_t {
    apr_interval_time_t connect_timeout;  /* RProxyConnectTimeout */
    apr_interval_time_t header_timeout;   /* RProxyResponseHeaderTimeout */
    apr_interval_time_t io_timeout;       /* RProxyIOTimeout */
    apr_interval_time_t idle_timeout;     /* RProxyIdleTimeout (pool) */
    apr_interval_time_t flush_interval;   /* RProxyFlushInterval; <0 always */
    apr_interval_time_t expect_timeout;   /* RProxyExpectContinueTimeout */
    apr_interval_time_t response_timeout; /* RProxyResponseTimeout, 0 none */
    int preserve_host;                    /* RProxyPreserveHost */
    int add_forwarded;                    /* RProxyAddForwarded */
    int splice;                           /* RProxySplice */
    const char *upgrades; /* RProxyUpgrade: comma list; "" none; NULL unset */
    int max_head_bytes;   /* RProxyMaxResponseHeaderSize */
    /* Per backend and process; the first route to a backend decides. */
    int max_conns;                     /* RProxyMaxConnections, 0: none */
    int max_idle;                      /* RProxyMaxIdleConnections */
    int max_requests;                  /* RProxyMaxRequestsPerConnection */
    int connect_retries;               /* RProxyConnectRetries */
    apr_interval_time_t queue_timeout; /* RProxyQueueTimeout */
    apr_interval_time_t max_age;       /* RProxyMaxConnectionAge, 0: none */
    apr_interval_time_t dns_ttl;       /* RProxyDNSTTL, 0: every dial */
    /* TLS to https:// backends (RProxyTLS*); strings borrowed from pconf */
    rp_tls_conf_t tls;
    apr_interval_time_t tls_timeout; /* RProxyTLSHandshakeTimeout */
    /* RProxyUpstreamProxy: NULL unset, rp_conf_no_upstream for "none" */
    const rp_url_t *upstream;  /* borrowed: pconf */
    const char *upstream_auth; /* borrowed: "Basic ..." or NULL */
    /* Forwarding fields and whom to trust (rp_headers_forward) */
    /* RProxyTrustedProxies: rp_cidr_t (rp_addr.h), borrowed from pconf;
     * NULL unset, empty for "none" */
    const apr_array_header_t *trusted_proxies;
    int forwarded; /* RProxyForwarded */
    int via;       /* RProxyVia */
    /* Response URLs and cookies mapped back to the front (rp_rewrite.h).
     * The rule arrays hold rp_rewrite_pair_t in pconf: NULL unset, empty
     * for "off"; a location's list replaces the server's. */
    int rewrite_location;                     /* RProxyRewriteLocation */
    const apr_array_header_t *cookie_domains; /* RProxyCookieDomain */
    const apr_array_header_t *cookie_paths;   /* RProxyCookiePath */
    const apr_array_header_t *pass_reverse;   /* RProxyPassReverse:
                                               * rp_rewrite_alias_t */
    /* RProxyStatusHeader: Proxy-Status on the errors the proxy makes */
    int status_header;
    /* RProxyErrorOverride: a backend's error answer (4xx/5xx) is left to
     * the host's error page; error_codes goes with it: a bitmap of the
     * statuses 400..599 it applies to (bit s - 400), NULL for all */
    int error_override;
    const unsigned char *error_codes; /* borrowed: pconf */
} rp_conf_t;

#define RP_CONF_ERROR_CODES_LEN 25 /* bytes of error_codes: 200 bits */

/* The value of upstream that means "none" (overrides an inherited one). */
extern const rp_url_t rp_conf_no_upstream;

/* Set every field to "unset". */
void rp_conf_init(rp_conf_t *conf);

/* conf = add over base, field by field: a field set in add wins. conf may
 * be the same object as base or add. */
void rp_conf_merge(rp_conf_t *conf, const rp_conf_t *base,
                   const rp_conf_t *add);

/* Effective values with the documented defaults applied. */
apr_interval_time_t rp_conf_connect_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_header_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_io_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_idle_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_flush_interval(const rp_conf_t *conf);
apr_interval_time_t rp_conf_expect_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_response_timeout(const rp_conf_t *conf);
int rp_conf_preserve_host(const rp_conf_t *conf);
int rp_conf_add_forwarded(const rp_conf_t *conf);
int rp_conf_splice(const rp_conf_t *conf);           /* default 1 */
const char *rp_conf_upgrades(const rp_conf_t *conf); /* "websocket" */
int rp_conf_max_conns(const rp_conf_t *conf);        /* default 0: no limit */
int rp_conf_max_idle(const rp_conf_t *conf);         /* default 0: threads */
int rp_conf_max_requests(const rp_conf_t *conf);     /* default 0: no limit */
int rp_conf_connect_retries(const rp_conf_t *conf);  /* default 1 */
int rp_conf_max_head_bytes(const rp_conf_t *conf);   /* default 64 KiB */
apr_interval_time_t rp_conf_queue_timeout(const rp_conf_t *conf);
apr_interval_time_t rp_conf_max_age(const rp_conf_t *conf); /* 0: none */
apr_interval_time_t rp_conf_dns_ttl(const rp_conf_t *conf);
apr_interval_time_t rp_conf_tls_timeout(const rp_conf_t *conf);
/* The upstream proxy to use, or NULL; *auth its credentials or NULL. */
const rp_url_t *rp_conf_upstream(const rp_conf_t *conf, const char **auth);
/* Forwarding: RProxyForwarded and RProxyVia default to off; no peer is
 * trusted by default. */
int rp_conf_forwarded(const rp_conf_t *conf);
int rp_conf_via(const rp_conf_t *conf);
const apr_array_header_t *rp_conf_trusted_proxies(const rp_conf_t *conf);
/* The forwarding policy the settings give, for rp_headers_forward(). */
void rp_conf_fwd_policy(const rp_conf_t *conf, rp_fwd_policy_t *pol);
/* Response rewriting: default On; the rule arrays, NULL when none. */
int rp_conf_rewrite_location(const rp_conf_t *conf);
const apr_array_header_t *rp_conf_cookie_domains(const rp_conf_t *conf);
const apr_array_header_t *rp_conf_cookie_paths(const rp_conf_t *conf);
const apr_array_header_t *rp_conf_pass_reverse(const rp_conf_t *conf);
int rp_conf_status_header(const rp_conf_t *conf); /* default 1: on */
/* Does RProxyErrorOverride apply to a backend's status? (default: no) */
int rp_conf_error_override(const rp_conf_t *conf, int status);

#ifdef __cplusplus
}
#endif
#endif /* RP_CONF_H */
