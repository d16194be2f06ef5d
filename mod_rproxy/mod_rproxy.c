/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* mod_rproxy.c: the httpd adapter. It maps requests to routes, builds an
 * exchange from request_rec and hands it to core/rp_proxy; it decides no
 * proxy policy itself.
 *
 *   post_read_request:  note X-Forwarded-For before and after the other
 *                       modules' hooks (mod_remoteip edits it there)
 *   pre_translate_name: remember the raw (still percent-encoded) path and
 *                       match server-level RProxyPass routes on it
 *   translate_name / map_to_storage: keep httpd from mapping a routed
 *                       request to a file
 *   fixups:             <Location> routes set the handler
 *   handler "rproxy":   run the exchange, answer errors with their status
 *   child_init:         one transport (connection pool) per process */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "mod_rproxy.h"

#define RPX_XFF "X-Forwarded-For"

/* The per-process transport; created in child_init, lives with pchild. */
static rp_transport_t *rpx_transport;

static rpx_req_t *req_state(request_rec *r, int create)
{
    rpx_req_t *rq = ap_get_module_config(r->request_config, &rproxy_module);

    if (!rq && create) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        ap_set_module_config(r->request_config, &rproxy_module, rq);
    }
    return rq;
}

/* First matching route wins; "!" routes stop the search unproxied. */
static const rpx_route_t *match_route(const rpx_server_conf_t *sc,
                                      const char *path, const char **rest)
{
    const rpx_route_t *routes = (const rpx_route_t *)sc->routes->elts;
    int i;

    for (i = 0; i < sc->routes->nelts; i++) {
        const char *rem = rp_url_match_prefix(path, routes[i].prefix);
        if (rem) {
            *rest = rem;
            return routes[i].target ? &routes[i] : NULL;
        }
    }
    return NULL;
}

/* The route for a raw path: a <Location> with RProxyPass (or "!") decides
 * first, as the more specific configuration; then the server's routes in
 * order. httpd has merged the <Location> sections for the undecoded path
 * before pre_translate_name runs. */
static const rpx_route_t *find_route(request_rec *r, const char *path,
                                     const char **rest)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(r->server->module_config, &rproxy_module);
    rpx_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &rproxy_module);

    if (dc && dc->route) {
        if (!dc->route->target) {
            return NULL;
        }
        *rest = rp_url_match_prefix(path, dc->route->prefix);
        if (!*rest) {
            *rest = path; /* the location matched in a way we cannot strip */
        }
        return dc->route;
    }
    return match_route(sc, path, rest);
}

/* Runs before httpd decodes the path, so "%2F" and "%25" reach the backend
 * as the client sent them. Dot segments are already resolved here. */
static int rpx_pre_translate(request_rec *r)
{
    const rpx_route_t *route;
    const char *rest = NULL;
    rpx_req_t *rq;

    if (!r->uri || r->uri[0] != '/' || r->proxyreq) {
        return DECLINED;
    }
    rq = req_state(r, 1);
    rq->raw_path = r->uri;
    route = find_route(r, r->uri, &rest);
    if (!route) {
        return DECLINED;
    }
    rq->route = route;
    rq->remainder = rest;
    r->filename = apr_pstrcat(r->pool, "rproxy:", r->uri, NULL);
    r->handler = RPX_HANDLER;
    /* DONE: httpd must not decode this path any further. */
    return DONE;
}

static int rpx_translate(request_rec *r)
{
    rpx_req_t *rq = req_state(r, 0);

    return rq && rq->route ? OK : DECLINED;
}

/* A routed request names no file: skip the directory walk. */
static int rpx_map_to_storage(request_rec *r)
{
    rpx_req_t *rq = req_state(r, 0);

    return rq && rq->route ? OK : DECLINED;
}

/* A path a RewriteRule rewrote ([PT]) after pre_translate_name: the
 * server's routes are matched on the new, decoded path, whose remainder is
 * encoded once for the backend (rewrite.c). Runs after mod_rewrite. */
static int rpx_translate_rewritten(request_rec *r)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(r->server->module_config, &rproxy_module);
    rpx_req_t *rq = req_state(r, 0);
    const char *uri = rpx_rewritten_uri(r, rq);
    const rpx_route_t *route;
    const char *rest = NULL;

    if (!uri || rq->route) {
        return DECLINED;
    }
    route = match_route(sc, uri, &rest);
    if (!route) {
        return DECLINED;
    }
    rq->route = route;
    rq->after_rewrite = 1;
    rq->remainder = rpx_rewritten_rest(r, rq, uri, route->prefix);
    r->filename = apr_pstrcat(r->pool, "rproxy:", uri, NULL);
    r->handler = RPX_HANDLER;
    return OK;
}

/* <Location> routes: the location walk has chosen the configuration. */
static int rpx_fixups(request_rec *r)
{
    rpx_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &rproxy_module);
    rpx_req_t *rq = req_state(r, 0);

    if (rq && rq->route) {
        return DECLINED;
    }
    if (dc && dc->route && dc->route->target) {
        r->handler = RPX_HANDLER;
    }
    return DECLINED;
}

/* The raw path below the route's prefix. For a <Location> route the raw
 * path is matched against the location's path; a path that no longer
 * matches (the location matched only after decoding) is sent whole. */
static const char *route_remainder(request_rec *r, rpx_req_t *rq,
                                   const rpx_route_t **route)
{
    rpx_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &rproxy_module);
    const char *raw = rq && rq->raw_path ? rq->raw_path : r->uri;
    const char *rest;

    if (dc && dc->route) {
        if (!dc->route->target) {
            *route = NULL; /* RProxyPass ! in a <Location> wins */
            return NULL;
        }
        /* the location walk after a rewrite is more specific than a
         * server route matched on the rewritten path */
        if (!rq || !rq->route || rq->after_rewrite) {
            *route = dc->route;
            if (rpx_rewritten_uri(r, rq)) {
                return rpx_rewritten_rest(r, rq, r->uri, dc->route->prefix);
            }
            rest = rp_url_match_prefix(raw, dc->route->prefix);
            return rest ? rest : raw;
        }
    }
    *route = rq ? rq->route : NULL;
    return rq ? rq->remainder : NULL;
}

/* mod_http2 with H2WebSockets on turns an RFC 8441 extended CONNECT into
 * a GET with Upgrade on the stream's secondary connection (c->master set),
 * and marks the stream's DATA, the tunnel's bytes to come, as a chunked
 * body. It is no body: the request has none. */
static int h2_upgrade(request_rec *r)
{
    const char *conn;

    if (r->connection->master == NULL) {
        return 0; /* HTTP/1.x: no table lookups per request */
    }
    conn = apr_table_get(r->headers_in, "Connection");
    return conn != NULL && apr_table_get(r->headers_in, "Upgrade") != NULL &&
           ap_find_token(r->pool, conn, "upgrade");
}

static apr_off_t body_length(request_rec *r)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t len = 0;
    char *end;

    if (h2_upgrade(r)) {
        return 0;
    }
    if (te) {
        return -1; /* chunked last: httpd refuses other requests; the
                    * core refuses a coding before it ("gzip, chunked") */
    }
    if (cl && apr_strtoff(&len, cl, &end, 10) == APR_SUCCESS && !*end &&
        len >= 0) {
        return len;
    }
    return 0;
}

static void set_notes(request_rec *r, const rp_exchange_t *ex)
{
    if (ex->backend_addr) {
        apr_table_setn(r->notes, "rproxy-backend", ex->backend_addr);
        /* apr_off_t_toa(): no formatter on every request; apr_off_t is
         * as wide as apr_time_t wherever httpd builds with large files */
        apr_table_setn(
            r->notes, "rproxy-backend-time",
            sizeof(apr_off_t) >= sizeof(apr_time_t)
                ? apr_off_t_toa(r->pool, (apr_off_t)ex->backend_time)
                : apr_psprintf(r->pool, "%" APR_TIME_T_FMT, ex->backend_time));
    }
    if (ex->error && ex->error != RP_ECLIENT_GONE) {
        char buf[120];
        apr_table_setn(
            r->notes, "rproxy-error",
            apr_pstrdup(r->pool, rp_strerror(ex->error, buf, sizeof(buf))));
    }
}

/* ---- RFC 9209 Proxy-Status and the rproxy-status note ---------------- */

/* This proxy's name in Proxy-Status: the virtual host's ServerName (as
 * configured or as httpd guessed it), never the request's Host, which the
 * client chooses. */
static const char *proxy_name(const request_rec *r)
{
    const char *n = r->server->server_hostname;

    return n && *n ? n : "mod_rproxy";
}

/* An error the proxy generated says why in Proxy-Status. It goes in
 * err_headers_out: httpd keeps those on error responses, and an
 * ErrorDocument's internal redirect takes them along. */
static void set_proxy_status(request_rec *r, const rp_exchange_t *ex)
{
    const char *details = ex->error_detail;
    char buf[120];

    if (ex->head_sent || !ex->status || !ex->error ||
        ex->error == RP_ECLIENT_GONE || !rp_conf_status_header(ex->conf)) {
        return;
    }
    if (!details) {
        details = rp_strerror(ex->error, buf, sizeof(buf));
    }
    apr_table_setn(
        r->err_headers_out, "Proxy-Status",
        rp_fault_proxy_status(r->pool, proxy_name(r), ex->fault, details));
}

/* A field the backend's error answer had, for httpd's error page. httpd
 * writes Allow itself on a 405 page, from r->allowed_methods: the
 * backend's methods go there (TRACE joins them when TraceEnable allows
 * it, as httpd answers TRACE itself). */
static int add_err_field(void *baton, const char *key, const char *val)
{
    request_rec *r = baton;
    char *list, *m, *last;

    if (strcasecmp(key, "Allow") != 0) {
        apr_table_addn(r->err_headers_out, key, val);
        return 1;
    }
    list = apr_pstrdup(r->pool, val);
    for (m = apr_strtok(list, ", \t", &last); m;
         m = apr_strtok(NULL, ", \t", &last)) {
        ap_method_list_add(r->allowed_methods, m);
        if (ap_method_number_of(m) == M_INVALID) {
            /* make_allow() lists extension methods only with this bit */
            r->allowed_methods->method_mask |= AP_METHOD_BIT << M_INVALID;
        }
    }
    return 1;
}

/* RProxyErrorOverride took the backend's error answer: httpd answers the
 * status with its error page (ErrorDocument, or its own), keeping the
 * fields the core kept from the backend. Proxy-Status says which status
 * came (RFC 9209 received-status). */
static int error_page(request_rec *r, const rp_exchange_t *ex)
{
    apr_table_do(add_err_field, r, ex->override_fields, NULL);
    if (rp_conf_status_header(ex->conf)) {
        apr_table_setn(
            r->err_headers_out, "Proxy-Status",
            rp_fault_proxy_status_received(r->pool, proxy_name(r), ex->status));
    }
    return ex->status;
}

/* %{rproxy-status}n: the status sent, or 499 when the client went away
 * before the response was complete (nginx's number for it). A tunnel the
 * client ends after its 101 was complete. */
static void set_status_note(request_rec *r, const rp_exchange_t *ex,
                            apr_status_t rv)
{
    int status = ex->status;

    if (rv == RP_ECLIENT_GONE && !(ex->head_sent && ex->status == 101)) {
        status = 499;
    }
    if (status) {
        apr_table_setn(r->notes, "rproxy-status", apr_itoa(r->pool, status));
    }
}

/* The effective settings: the server's, overridden by the <Location>'s. */
static const rp_conf_t *effective_conf(request_rec *r)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(r->server->module_config, &rproxy_module);
    rpx_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &rproxy_module);
    rp_conf_t *c = apr_palloc(r->pool, sizeof(*c));

    rp_conf_merge(c, &sc->conf, &dc->conf);
    return c;
}

/* mod_remoteip (RemoteIPHeader X-Forwarded-For) removes from that field,
 * in post_read_request, the addresses it took from it. The field is noted
 * before and after the post_read_request hooks so that a peer trusted by
 * RProxyTrustedProxies has its whole chain forwarded, not the part that
 * mod_remoteip left. */
static int rpx_xff_first(request_rec *r)
{
    const char *xff = apr_table_getm(r->pool, r->headers_in, RPX_XFF);
    rpx_req_t *rq;

    if (xff && !r->main && !r->prev) {
        rq = req_state(r, 1);
        rq->xff_first = xff;
        rq->xff_seen = 1;
    }
    return DECLINED;
}

static int rpx_xff_last(request_rec *r)
{
    rpx_req_t *rq = req_state(r, 0);

    if (rq && rq->xff_seen) {
        rq->xff_last = apr_table_getm(r->pool, r->headers_in, RPX_XFF);
    }
    return DECLINED;
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The client's X-Forwarded-For when a post_read_request hook rewrote it
 * and nothing touched it since (a RequestHeader edit of mod_headers, in
 * fixups, wins); NULL otherwise: the fields in r->headers_in are meant. */
static const char *xff_received(request_rec *r)
{
    rpx_req_t *rq = req_state(r, 0);

    if (!rq || !rq->xff_seen || same(rq->xff_first, rq->xff_last) ||
        !same(rq->xff_last, apr_table_getm(r->pool, r->headers_in, RPX_XFF))) {
        return NULL;
    }
    return rq->xff_first;
}

/* This proxy in Via: the ServerName of the (virtual) server, with the
 * port when it is not the scheme's default. Never the client's Host,
 * which would let a client write what Via says. */
static const char *via_name(request_rec *r)
{
    server_rec *s = r->server;
    const char *name = s->server_hostname ? s->server_hostname : "-";
    apr_port_t port = s->port;

    if (port == 0 && r->connection->local_addr) {
        port = r->connection->local_addr->port;
    }
    if (port == 0 || port == ap_default_port(r)) {
        return name;
    }
    return apr_psprintf(r->pool, "%s:%u", name, (unsigned)port);
}

/* The route's prefix that rest was cut from, for mapping the backend's
 * URLs back (RProxyRewriteLocation): "" when a <Location> matched a path
 * it could not strip, so that rest is the whole raw path. */
static const char *front_prefix(request_rec *r, const rpx_route_t *route,
                                const char *rest)
{
    rpx_req_t *rq = req_state(r, 0);
    const char *raw = rq && rq->raw_path ? rq->raw_path : r->uri;

    return rest == raw ? "" : route->prefix;
}

static void init_exchange(request_rec *r, rp_exchange_t *ex, rpx_front_t *front,
                          const rpx_route_t *route, const char *rest)
{
    memset(ex, 0, sizeof(*ex));
    front->r = r;
    ex->pool = r->pool;
    ex->ba = r->connection->bucket_alloc;
    ex->front.ops = &rpx_front_ops;
    ex->front.ctx = front;
    ex->conf = effective_conf(r);
    ex->target = route->target;
    ex->tls = route->tls;
    ex->backend_slot = &((rpx_route_t *)route)->backend; /* see config.h */
    ex->balancer = route->balancer ? &route->balancer->lb : NULL;
    ex->transport = rpx_transport;
    ex->hooks = &rpx_hooks;
    ex->method = r->method;
    ex->path = rest;
    ex->query = r->args;
    ex->in_headers = r->headers_in;
    /* Trust is decided on the TCP peer: r->useragent_ip may already be
     * what mod_remoteip read from a field the client wrote. */
    ex->fwd.client_ip = r->connection->client_ip;
    ex->fwd.host = apr_table_get(r->headers_in, "Host");
    ex->fwd.proto = ap_ssl_conn_is_ssl(r->connection) ? "https" : "http";
    ex->fwd.version = r->proto_num;
    ex->fwd.via_name = rp_conf_via(ex->conf) ? via_name(r) : NULL;
    ex->fwd.xff_received = xff_received(r);
    ex->body_length = body_length(r);
    ex->prefix = front_prefix(r, route, rest);
}

static int rpx_handler(request_rec *r)
{
    rpx_front_t front = {0};
    const rpx_route_t *route = NULL;
    rpx_req_t *rq = req_state(r, 0);
    rpx_route_t rule;
    rp_exchange_t ex;
    const char *rest, *rule_query = NULL;
    apr_status_t rv;
    int status;

    if (!r->handler || strcmp(r->handler, RPX_HANDLER) != 0) {
        return DECLINED;
    }
    rest = route_remainder(r, rq, &route);
    if (!route && rq && rq->route) {
        return DECLINED; /* our route, excluded by <Location> RProxyPass ! */
    }
    if (!route) {
        /* no RProxyPass route: a RewriteRule named the backend */
        status = rpx_rule_route(r, &rule, &rest, &rule_query);
        if (status != OK) {
            return status;
        }
        route = &rule;
    }
    if (!rpx_transport) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      RPLOGNO(00201) "no transport in this process");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    init_exchange(r, &ex, &front, route, rest);
    if (route == &rule) {
        ex.query = rule_query;
    }
    /* LimitRequestBody: HTTP_IN leaves it to the proxy once r->proxyreq
     * is set (as it does for mod_proxy), and r->proxyreq keeps the
     * backend's Server and Date fields. A Content-Length over it is
     * refused before the backend is asked; a chunked body when it gets
     * there (front_read_body). */
    front.body_limit = ap_get_limit_req_body(r);
    if (front.body_limit > 0 && ex.body_length > front.body_limit) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      RPLOGNO(00296) "refusing to forward %s %s: a request "
                                     "body of %" APR_OFF_T_FMT " bytes is over "
                                     "LimitRequestBody %" APR_OFF_T_FMT,
                      r->method, rest, ex.body_length, front.body_limit);
        apr_table_setn(r->notes, "rproxy-status", "413");
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    r->proxyreq = PROXYREQ_REVERSE;
    rv = rp_proxy_run(&ex);
    if (front.too_large) {
        ex.status = HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (front.replaced) {
        /* The client never saw the backend's head (front_abort): for what
         * follows, the exchange failed before it. */
        ex.head_sent = 0;
        ex.status = HTTP_BAD_GATEWAY;
    }
    if (front.answered) {
        /* The error response is out already (HTTP_IN's own): the notes say
         * what it was, and nothing more is sent. */
        ex.status = r->status;
    }
    set_notes(r, &ex);
    set_status_note(r, &ex, rv);
    if (front.answered) {
        return AP_FILTER_ERROR;
    }
    set_proxy_status(r, &ex);
    if (ex.overridden) {
        return error_page(r, &ex);
    }
    if (rv == APR_SUCCESS || rv == RP_ECLIENT_GONE || ex.head_sent) {
        return OK;
    }
    return ex.status ? ex.status : OK;
}

/* Transport messages concern no request: they go to the main log. */
static void transport_log(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "%s", msg);
}

static void rpx_child_init(apr_pool_t *pchild, server_rec *s)
{
    rpx_server_conf_t *sc;
    int threads = 0;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    rv = rp_transport_create(pchild, threads > 0 ? (apr_size_t)threads : 64,
                             &rpx_transport);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     RPLOGNO(00202) "cannot create the backend transport");
        rpx_transport = NULL;
        return;
    }
    rp_transport_set_log(rpx_transport, transport_log, s);
    sc = ap_get_module_config(s->module_config, &rproxy_module);
    rp_transport_set_source(rpx_transport, sc->source4, sc->source6);
    rv = rpx_rule_tls_child_init(pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     RPLOGNO(00299) "cannot create the lock of the TLS "
                                    "contexts made on first use");
    }
    rpx_health_child_init(pchild, s);
}

rp_transport_t *rpx_current_transport(void)
{
    return rpx_transport;
}

static int rpx_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    int rv;

    rpx_hooks_post_config();
    rpx_front_post_config();
    rv = rpx_make_tls_contexts(pconf, s);
    if (rv == OK) {
        rv = rpx_balancers_post_config(pconf, ptemp, s);
    }
    if (rv == OK) {
        rv = rpx_status_state_load(pconf, ptemp, s);
    }
    return rv == OK ? rpx_make_rule_tls(pconf, s) : rv;
}

/* Runs for `apache2 -t` too: a balancer:// target naming no balancer is a
 * configuration error, found before any process starts. */
static int rpx_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    return rpx_balancers_check(pconf, s);
}

static void rpx_register_hooks(apr_pool_t *p)
{
    static const char *const after_rewrite[] = {"mod_rewrite.c", NULL};

    ap_hook_post_config(rpx_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(rpx_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(rpx_xff_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_post_read_request(rpx_xff_last, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_pre_translate_name(rpx_pre_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_translate_name(rpx_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_translate_name(rpx_translate_first, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_translate_name(rpx_translate_rewritten, after_rewrite, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(rpx_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_fixups(rpx_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(rpx_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(rpx_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(rpx_dump_config, NULL, NULL, APR_HOOK_MIDDLE);
    rpx_status_register_hooks(p);
}

AP_DECLARE_MODULE(rproxy) = {
    STANDARD20_MODULE_STUFF,
    rpx_create_dir_conf,    /* per-directory config */
    rpx_merge_dir_conf,     /* merge per-directory */
    rpx_create_server_conf, /* per-server config */
    rpx_merge_server_conf,  /* merge per-server */
    rpx_cmds,               /* directives */
    rpx_register_hooks      /* hooks */
};
