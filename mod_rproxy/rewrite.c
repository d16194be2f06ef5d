/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rewrite.c: mod_rewrite (and any module that sets a handler and an
 * environment variable) working with mod_rproxy.
 *
 * 1. A rule sends a request to a backend of its choosing:
 *
 *      RewriteRule "^/u/(\d+)$" -
 * [E=rproxy-target:http://b:9000/users/$1,H=rproxy]
 *
 *    mod_rewrite answers an absolute URL substitution with a redirect
 *    unless the rule has [P] (which needs mod_proxy), and [H=] applies only
 *    to a local result, so the URL travels in the environment variable
 *    "rproxy-target" and [H=rproxy] gives the request to our handler. The
 *    handler takes the variable only when no RProxyPass route applies.
 *
 * 2. A rule rewrites the path onto a route (RewriteRule ... [PT]): routes
 *    are matched before mod_rewrite runs, on the raw path; when r->uri has
 *    changed since translate_name began, the new (decoded) path is what
 *    the route maps, encoded once on the way out.
 *
 * Lifetimes: the parsed rule target lives in r->pool; the TLS context for
 * https rule targets (rpx_server_conf_t.rule_tls) in pconf. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

static rp_tls_ctx_t *rule_tls(request_rec *r, rpx_server_conf_t *sc);

/* ---- rules that name a backend ----------------------------------------- */

/* The query a rule target sends, as mod_rewrite does for [P]: the URL's
 * own query when it has one ("...?" alone drops the client's), else the
 * client's. */
static const char *rule_query(request_rec *r, const rp_url_t *u)
{
    if (u->query) {
        return *u->query ? u->query : NULL;
    }
    return r->args;
}

static rp_url_t *bad_target(request_rec *r, const char *raw, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  RPLOGNO(00294) RPX_TARGET_ENV " \"%s\" is not a balancer "
                                                "URL: %s",
                  ap_escape_logitem(r->pool, raw), why);
    return NULL;
}

/* The URL in rproxy-target, parsed, or NULL after logging why not. */
static rp_url_t *rule_target(request_rec *r, const rpx_server_conf_t *sc)
{
    const char *raw = apr_table_get(r->subprocess_env, RPX_TARGET_ENV);
    const char *why = NULL;
    apr_status_t rv;
    rp_url_t *u;

    if (!raw) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            RPLOGNO(00240) "handler " RPX_HANDLER " for %s, but "
                           "no RProxyPass route applies and " RPX_TARGET_ENV
                           " is not set",
            ap_escape_logitem(r->pool, r->uri));
        return NULL;
    }
    u = apr_pcalloc(r->pool, sizeof(*u));
    if (!strncasecmp(raw, "balancer://", 11)) {
        /* parsed as an http URL, for the path and query; balancer.c
         * looks the name up */
        raw = apr_pstrcat(r->pool, "http://", raw + 11, NULL);
        rv = rp_url_parse(r->pool, rp_url_escape_unsafe(r->pool, raw), u, &why);
        if (rv == APR_SUCCESS) {
            u->scheme = "balancer";
        }
        return rv == APR_SUCCESS ? u : bad_target(r, raw, why);
    }
    if (!strncasecmp(raw, "unix:", 5)) {
        /* a rule's URL may carry the request's own bytes: a socket path
         * must come from the configuration alone */
        why = "a unix: socket target is for RProxyPass and RProxyMember "
              "(rewrite onto such a route with [PT])";
        rv = APR_EINVAL;
    }
    else {
        rv = rp_url_parse(r->pool, rp_url_escape_unsafe(r->pool, raw), u, &why);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      RPLOGNO(00241) RPX_TARGET_ENV " \"%s\" is not a "
                                                    "backend URL: %s",
                      ap_escape_logitem(r->pool, raw), why);
        return NULL;
    }
    return u;
}

int rpx_rule_route(request_rec *r, rpx_route_t *route, const char **path,
                   const char **query)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(r->server->module_config, &rproxy_module);
    rp_url_t *u = rule_target(r, sc);
    rp_tls_ctx_t *tls = NULL;

    if (!u) {
        return HTTP_INTERNAL_SERVER_ERROR; /* never a half-proxied request */
    }
    if (u->tls && !(tls = rule_tls(r, sc))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      RPLOGNO(00242) RPX_TARGET_ENV
                      " %s://%s: no TLS "
                      "context for https rule targets in "
                      "this server (see the error log of the start-up "
                      "or of the first such request)",
                      u->scheme, u->hostport);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The path and query go as written: the target keeps only the
     * origin, so the core joins nothing to them (and still refuses a dot
     * segment in the path). */
    *path = u->path;
    *query = rule_query(r, u);
    u->path = "";
    u->query = NULL;
    memset(route, 0, sizeof(*route));
    route->prefix = "";
    route->target = u;
    route->tls = tls;
    if (!strcmp(u->scheme, "balancer")) {
        route->balancer = rpx_balancer_find(r->server->process->pconf, u->host);
        if (!route->balancer) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          RPLOGNO(00295) RPX_TARGET_ENV
                          " balancer://%s: no "
                          "<RProxyBalancer %s> is defined",
                          u->host, u->host);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ---- paths rewritten onto a route -------------------------------------- */

/* Runs first in translate_name, before mod_rewrite: remember the decoded
 * path, to tell later whether a rule changed it. */
int rpx_translate_first(request_rec *r)
{
    rpx_req_t *rq = ap_get_module_config(r->request_config, &rproxy_module);
    core_dir_config *d;

    if (rq && !rq->route) {
        /* the settings httpd has just decoded the path with */
        d = ap_get_core_module_config(r->per_dir_config);
        rq->translate_uri = r->uri;
        rq->kept_2f = d->allow_encoded_slashes && !d->decode_encoded_slashes;
    }
    return DECLINED;
}

const char *rpx_rewritten_uri(request_rec *r, const rpx_req_t *rq)
{
    if (!rq || !rq->translate_uri || !r->uri || r->uri[0] != '/' ||
        !strcmp(rq->translate_uri, r->uri)) {
        return NULL;
    }
    return r->uri;
}

/* r->uri is decoded, but AllowEncodedSlashes NoDecode leaves "%2F" in it
 * encoded: that one must not be encoded again. */
const char *rpx_rewritten_rest(request_rec *r, const rpx_req_t *rq,
                               const char *uri, const char *prefix)
{
    const char *rest = rp_url_match_prefix(uri, prefix);

    return rp_url_escape_path(r->pool, rest ? rest : uri, rq->kept_2f);
}

/* ---- TLS for https rule targets ---------------------------------------- */

/* A context of its own for a server without https routes. A failure does
 * not stop httpd (no route needs it): https rule targets then get 500. */
static rp_tls_ctx_t *own_ctx(apr_pool_t *pconf, server_rec *s,
                             const rpx_server_conf_t *sc)
{
    int reported =
        ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
    rp_tls_ctx_t *ctx = NULL;
    const char *why = NULL;

    if (rpx_tls_ctx(pconf, &sc->conf.tls, &ctx, &why) != APR_SUCCESS) {
        if (reported) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         RPLOGNO(00243) "no TLS context for https rule "
                                        "targets (" RPX_TARGET_ENV "): %s",
                         why ? why : "unknown reason");
        }
        return NULL;
    }
    if (sc->conf.tls.verify == 0 && reported) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     RPLOGNO(00244) "RProxyTLSVerify Off: the certificates "
                                    "of https rule targets are not checked");
    }
    return ctx;
}

/* Settings that name no file and no list can only give a working context:
 * that one waits for its first use. Loading the system's CA store costs
 * about 1.4 MB of heap in every process (and the time at each start),
 * which a server that never names an https rule target should not pay. */
static int may_defer(const rp_tls_conf_t *c)
{
    return c->verify != 0 && !c->ca_file && !c->ca_path && !c->cert_file &&
           !c->key_file && !c->ciphers && !c->ciphersuites;
}

int rpx_make_rule_tls(apr_pool_t *pconf, server_rec *main_server)
{
    rpx_server_conf_t *msc =
        ap_get_module_config(main_server->module_config, &rproxy_module);
    server_rec *s;

    for (s = main_server; s; s = s->next) {
        rpx_server_conf_t *sc =
            ap_get_module_config(s->module_config, &rproxy_module);

        /* RProxyTLS* are server-wide: the context of a route or member
         * with these settings (made already) serves rule targets too, and
         * shares its pooled connections with them */
        sc->rule_tls_from = NULL;
        sc->rule_tls = rpx_tls_ctx_find(pconf, &sc->conf.tls);
        if (sc->rule_tls) {
            continue;
        }
        if (!may_defer(&sc->conf.tls)) {
            sc->rule_tls = own_ctx(pconf, s, sc);
        }
        else if (s != main_server &&
                 rpx_same_tls(&sc->conf.tls, &msc->conf.tls)) {
            sc->rule_tls_from = msc; /* made on first use, once for both */
        }
        else {
            sc->rule_tls_from = sc;
        }
    }
    return OK;
}

/* Contexts made on first use live in a pool of the child's, made and used
 * under the lock only. */
static apr_thread_mutex_t *deferred_lock;
static apr_pool_t *deferred_pool;

apr_status_t rpx_rule_tls_child_init(apr_pool_t *pchild)
{
    apr_status_t rv;

    deferred_lock = NULL;
    rv = apr_pool_create(&deferred_pool, pchild);
    if (rv == APR_SUCCESS) {
        apr_pool_tag(deferred_pool, "rproxy_rule_tls");
        rv = apr_thread_mutex_create(&deferred_lock, APR_THREAD_MUTEX_DEFAULT,
                                     pchild);
    }
    return rv;
}

/* The context of sc's https rule targets, made now if it waited for its
 * first use; NULL when there is none (logged once, when making it failed).
 * The pointer is published with an atomic store: readers that find it set
 * take no lock. */
static rp_tls_ctx_t *rule_tls(request_rec *r, rpx_server_conf_t *sc)
{
    rpx_server_conf_t *from = sc->rule_tls_from;
    rp_tls_ctx_t *ctx;
    const char *why = NULL;

    if (!from) {
        return sc->rule_tls;
    }
    ctx = apr_atomic_casptr((void *)&from->rule_tls, NULL, NULL);
    if (ctx || !deferred_lock) {
        return ctx;
    }
    apr_thread_mutex_lock(deferred_lock);
    ctx = from->rule_tls;
    if (!ctx && !from->rule_tls_failed) {
        if (rp_tls_ctx_create(deferred_pool, &from->conf.tls, &ctx, &why) ==
            APR_SUCCESS) {
            apr_atomic_casptr((void *)&from->rule_tls, ctx, NULL);
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          RPLOGNO(00297) "made the TLS context for https "
                                         "rule targets (" RPX_TARGET_ENV
                                         ") of this process");
        }
        else {
            from->rule_tls_failed = 1; /* no second try, no second line */
            ctx = NULL;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          RPLOGNO(00298) "no TLS context for https rule "
                                         "targets (" RPX_TARGET_ENV "): %s",
                          why ? why : "unknown reason");
        }
    }
    apr_thread_mutex_unlock(deferred_lock);
    return ctx;
}

rp_tls_ctx_t *rpx_origin_tls(request_rec *r)
{
    return rule_tls(
        r, ap_get_module_config(r->server->module_config, &rproxy_module));
}
