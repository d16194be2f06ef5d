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
#include "rp_balancer.h"

/* One <RProxyBalancer> section (balancer.c). lb.members and lb.n are set
 * when the section closes; lb.shared and each member's st in post_config
 * (shared memory); each member's tls in post_config too. */
typedef struct rpx_balancer_t {
    rp_balancer_t lb;
    apr_array_header_t *members; /* rp_lb_member_t; lb.members = elts */
    server_rec *s;               /* borrowed: where it was declared; its
                                  * RProxyTLS* settings apply to members */
    const char *file;            /* borrowed: where it was declared */
    int line;
} rpx_balancer_t;

/* One RProxyPass line. */
typedef struct rpx_route_t {
    const char *prefix; /* path prefix; the <Location> path inside one */
    rp_url_t *target;   /* NULL for "!": not proxied */
    rp_tls_ctx_t *tls;  /* owned by pconf: https targets, made in
                         * post_config from the server's TLS settings */
    /* The one field written after start-up: each child's cache of the
     * target's backend in its transport (rp_transport_backend_cached). */
    rp_backend_t *backend;
    /* balancer://name targets: target holds the path and query only */
    const char *balancer_name; /* borrowed: pconf; NULL: a plain URL */
    rpx_balancer_t *balancer;  /* borrowed: resolved in check_config */
    const char *file;          /* borrowed: the RProxyPass line, for */
    int line;                  /* errors found after parsing */
} rpx_route_t;

/* Server and virtual-host record. */
typedef struct rpx_server_conf_t {
    apr_array_header_t *routes; /* rpx_route_t, first match wins */
    rp_conf_t conf;
    rp_tls_ctx_t *rule_tls; /* borrowed (pconf, or the child's pool when
                             * deferred): https targets named by rules
                             * (rewrite.c), set in post_config */
    /* default TLS settings and no https route: the server whose rule_tls
     * is made on the child's first https rule target (this one, or the
     * main server with the same settings); NULL: rule_tls is final */
    struct rpx_server_conf_t *rule_tls_from;
    int rule_tls_failed; /* making it on first use failed (under the lock
                          * of rewrite.c) */
    /* RProxySourceAddress (main server only): local addresses of backend
     * connections per family, literals in pconf, or NULL */
    const char *source4, *source6;
} rpx_server_conf_t;

/* <Location> record. */
typedef struct rpx_dir_conf_t {
    rpx_route_t *route; /* RProxyPass in this location, or NULL */
    rp_conf_t conf;
} rpx_dir_conf_t;

extern const command_rec rpx_cmds[];

/* A target URL as rp_url_parse() takes it: a unix: target's relative
 * socket path made absolute under DefaultRuntimeDir (as mod_proxy does);
 * anything else as it is. */
const char *rpx_socket_target(apr_pool_t *p, const char *arg);

/* TLS contexts are shared: every route, balancer member and rule target
 * with the same RProxyTLS* settings uses one (a context keeps a session
 * per backend name), so that N https routes do not parse the CA store N
 * times. rpx_tls_ctx() returns the configuration's context for conf,
 * making it in pconf if there is none yet (failures: as
 * rp_tls_ctx_create(), not remembered); rpx_tls_ctx_find() only looks. */
int rpx_same_tls(const rp_tls_conf_t *a, const rp_tls_conf_t *b);
apr_status_t rpx_tls_ctx(apr_pool_t *pconf, const rp_tls_conf_t *conf,
                         rp_tls_ctx_t **ctx, const char **why);
rp_tls_ctx_t *rpx_tls_ctx_find(apr_pool_t *pconf, const rp_tls_conf_t *conf);

/* Call fn for every route of the configuration: each server's RProxyPass
 * routes with the server's settings, then each <Location> route with the
 * server's settings merged with the location's (conf lives only during
 * the call). Stops at, and returns, the first result other than OK. */
typedef int (*rpx_route_fn)(apr_pool_t *pconf, server_rec *s,
                            rpx_route_t *route, const rp_conf_t *conf);
int rpx_for_each_route(apr_pool_t *pconf, server_rec *main_server,
                       rpx_route_fn fn);

/* post_config: a TLS context for every https route; refuses the start
 * (returns non-OK after logging why) when one cannot be made. */
int rpx_make_tls_contexts(apr_pool_t *pconf, server_rec *s);

/* Balancers (balancer.c). */
const char *rpx_balancer_section(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_member(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_method(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_hash_key(cmd_parms *cmd, void *dconf, const char *a1,
                                  const char *a2);
const char *rpx_balancer_sticky(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_eject(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_slow_start(cmd_parms *cmd, void *dconf, const char *a);
const char *rpx_balancer_eject_5xx(cmd_parms *cmd, void *dconf, int on);
const char *rpx_balancer_health_check(cmd_parms *cmd, void *dconf,
                                      const char *a);
/* RProxyStatusStateFile (status.c). */
const char *rpx_status_state_file(cmd_parms *cmd, void *dconf, const char *arg);
/* The balancers of this configuration, sorted by name (an array of
 * rpx_balancer_t *, in p). */
apr_array_header_t *rpx_balancers_all(apr_pool_t *pconf, apr_pool_t *p);
/* The key of the status handler's tokens (per boot, in the shared
 * segment; NULL when there is no balancer), *len bytes. */
const unsigned char *rpx_balancers_secret(server_rec *s, apr_size_t *len);
/* The balancer of that name in this configuration, or NULL. */
rpx_balancer_t *rpx_balancer_find(apr_pool_t *pconf, const char *name);
/* check_config: every balancer:// target names a balancer. */
int rpx_balancers_check(apr_pool_t *pconf, server_rec *s);
/* post_config: members' TLS contexts and the shared state segment. */
int rpx_balancers_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                              server_rec *s);
/* DUMP_RPROXY: every balancer with its effective settings. */
void rpx_balancers_dump(apr_file_t *out, apr_pool_t *pconf);

void *rpx_create_server_conf(apr_pool_t *p, server_rec *s);
void *rpx_merge_server_conf(apr_pool_t *p, void *base, void *add);
void *rpx_create_dir_conf(apr_pool_t *p, char *dir);
void *rpx_merge_dir_conf(apr_pool_t *p, void *base, void *add);

#endif /* MOD_RPROXY_CONFIG_H */
