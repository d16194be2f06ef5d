/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* config.h: mod_rproxy's configuration records and directives.
 *
 * Lifetimes: every record lives in the configuration pool (pconf) and is
 * read-only once the configuration is loaded. */

#ifndef MOD_RPROXY_CONFIG_H
#define MOD_RPROXY_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "rp_conf.h"
#include "rp_url.h"
#include "rp_transport.h"

/* One RProxyPass line. */
typedef struct rpx_route_t {
    const char *prefix; /* path prefix; the <Location> path inside one */
    rp_url_t *target;   /* NULL for "!": not proxied */
    rp_tls_ctx_t *tls;  /* owned by pconf: https targets, made in
                         * post_config from the server's TLS settings */
    /* The one field written after start-up: each child's cache of the
     * target's backend in its transport (rp_transport_backend_cached). */
    rp_backend_t *backend;
} rpx_route_t;

/* Server and virtual-host record. */
typedef struct rpx_server_conf_t {
    apr_array_header_t *routes; /* rpx_route_t, first match wins */
    rp_conf_t conf;
    rp_tls_ctx_t *rule_tls; /* borrowed (pconf): https targets named by
                             * rules (rewrite.c), set in post_config */
} rpx_server_conf_t;

/* <Location> record. */
typedef struct rpx_dir_conf_t {
    rpx_route_t *route; /* RProxyPass in this location, or NULL */
    rp_conf_t conf;
} rpx_dir_conf_t;

extern const command_rec rpx_cmds[];

/* post_config: a TLS context for every https route; refuses the start
 * (returns non-OK after logging why) when one cannot be made. */
int rpx_make_tls_contexts(apr_pool_t *pconf, server_rec *s);

void *rpx_create_server_conf(apr_pool_t *p, server_rec *s);
void *rpx_merge_server_conf(apr_pool_t *p, void *base, void *add);
void *rpx_create_dir_conf(apr_pool_t *p, char *dir);
void *rpx_merge_dir_conf(apr_pool_t *p, void *base, void *add);

#endif /* MOD_RPROXY_CONFIG_H */
