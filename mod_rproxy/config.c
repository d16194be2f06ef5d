/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* config.c: directives. The only file that knows cmd_parms. Each error
 * names the directive and the bad value; httpd adds the file and line. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_base64.h"
#include "apr_lib.h"
#include "config.h"
#include "rp_headers.h"
#include "rp_addr.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

void *rpx_create_server_conf(apr_pool_t *p, server_rec *s)
{
    rpx_server_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->routes = apr_array_make(p, 4, sizeof(rpx_route_t));
    rp_conf_init(&sc->conf);
    return sc;
}

/* A virtual host's routes come first, then the main server's: the most
 * specific configuration is tried first. */
void *rpx_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    rpx_server_conf_t *base = basev, *add = addv;
    rpx_server_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->routes = apr_array_append(p, add->routes, base->routes);
    rp_conf_merge(&sc->conf, &base->conf, &add->conf);
    return sc;
}

void *rpx_create_dir_conf(apr_pool_t *p, char *dir)
{
    rpx_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));

    rp_conf_init(&dc->conf);
    return dc;
}

void *rpx_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    rpx_dir_conf_t *base = basev, *add = addv;
    rpx_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));

    dc->route = add->route ? add->route : base->route;
    rp_conf_merge(&dc->conf, &base->conf, &add->conf);
    return dc;
}

/* The rp_conf_t a directive writes to: the <Location>'s or the server's. */
static rp_conf_t *target_conf(cmd_parms *cmd, void *dconf)
{
    rpx_server_conf_t *sc;

    if (cmd->path) {
        return &((rpx_dir_conf_t *)dconf)->conf;
    }
    sc = ap_get_module_config(cmd->server->module_config, &rproxy_module);
    return &sc->conf;
}

/* RProxyPass only makes sense where a path prefix is known: the server, a
 * virtual host, or a plain <Location>. */
static const char *check_context(cmd_parms *cmd)
{
    const char *parent;

    if (!cmd->path) {
        return NULL;
    }
    parent = cmd->directive->parent ? cmd->directive->parent->directive : "";
    if (strcasecmp(parent, "<Location") != 0) {
        return apr_psprintf(cmd->pool,
                            "%s is allowed in the server, <VirtualHost> and "
                            "<Location> (not %s>)",
                            cmd->cmd->name, parent);
    }
    if (cmd->directive->parent->args &&
        cmd->directive->parent->args[0] == '~') {
        return apr_psprintf(cmd->pool, "%s is not allowed in <Location ~>",
                            cmd->cmd->name);
    }
    return NULL;
}

/* balancer://name[/path][?query]: the members give scheme, host and port;
 * the path and query are parsed as those of an http URL. The name is
 * looked up once the whole configuration is read (check_config). */
static const char *parse_balancer(cmd_parms *cmd, rpx_route_t *route,
                                  const char *arg)
{
    const char *why = NULL;
    rp_url_t *u = apr_pcalloc(cmd->pool, sizeof(*u));
    apr_size_t name_len = strcspn(arg + 11, "/?");

    if (memchr(arg + 11, ':', name_len) || memchr(arg + 11, '@', name_len)) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": a balancer:// target has a name, "
                            "not a port or user",
                            cmd->cmd->name, arg);
    }
    if (rp_url_parse(cmd->pool,
                     apr_pstrcat(cmd->pool, "http://", arg + 11, NULL), u,
                     &why) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: bad target URL \"%s\": %s",
                            cmd->cmd->name, arg, why);
    }
    u->scheme = "balancer";
    route->balancer_name = u->host;
    route->target = u;
    return NULL;
}

const char *rpx_socket_target(apr_pool_t *p, const char *arg)
{
    const char *path = arg + 5, *bar;
    char *abs;

    if (strncasecmp(arg, "unix:", 5) || *path == '/' ||
        !(bar = strchr(path, '|')) || bar == path) {
        return arg; /* rp_url_parse() says what is wrong, if anything */
    }
    abs = ap_runtime_dir_relative(
        p, apr_pstrmemdup(p, path, (apr_size_t)(bar - path)));
    return abs ? apr_pstrcat(p, "unix:", abs, bar, NULL) : arg;
}

static const char *parse_target(cmd_parms *cmd, rpx_route_t *route,
                                const char *arg)
{
    rp_url_t **out = &route->target;
    const char *why = NULL;
    rp_url_t *u;

    route->file = cmd->directive->filename;
    route->line = cmd->directive->line_num;
    if (!strcmp(arg, "!")) {
        *out = NULL;
        return NULL;
    }
    if (!strncasecmp(arg, "balancer://", 11)) {
        return parse_balancer(cmd, route, arg);
    }
    u = apr_pcalloc(cmd->pool, sizeof(*u));
    if (rp_url_parse(cmd->pool, rpx_socket_target(cmd->pool, arg), u, &why) !=
        APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: bad target URL \"%s\": %s",
                            cmd->cmd->name, arg, why);
    }
    *out = u;
    return NULL;
}

static const char *set_pass(cmd_parms *cmd, void *dconf, const char *a1,
                            const char *a2)
{
    const char *err = check_context(cmd);
    rpx_route_t *route;
    rpx_server_conf_t *sc;

    if (err) {
        return err;
    }
    if (cmd->path) {
        if (a2) {
            return apr_psprintf(cmd->pool,
                                "%s: inside <Location> give only the target "
                                "URL (or !), not \"%s %s\"",
                                cmd->cmd->name, a1, a2);
        }
        route = apr_pcalloc(cmd->pool, sizeof(*route));
        route->prefix = cmd->path;
        ((rpx_dir_conf_t *)dconf)->route = route;
        return parse_target(cmd, route, a1);
    }
    if (!a2) {
        return apr_psprintf(cmd->pool,
                            "%s needs a path and a target URL (or !), got "
                            "only \"%s\"",
                            cmd->cmd->name, a1);
    }
    if (a1[0] != '/') {
        return apr_psprintf(cmd->pool, "%s: the path \"%s\" must start with /",
                            cmd->cmd->name, a1);
    }
    sc = ap_get_module_config(cmd->server->module_config, &rproxy_module);
    route = apr_array_push(sc->routes);
    route->prefix = a1;
    return parse_target(cmd, route, a2);
}

/* A positive time in httpd's syntax: "5" (seconds), "500ms", "2s", "1m". */
static const char *store_time(cmd_parms *cmd, void *dconf, const char *arg,
                              int zero_ok)
{
    apr_interval_time_t t;
    rp_conf_t *c = target_conf(cmd, dconf);
    int off = (int)(long)cmd->info;

    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS || t < 0 ||
        (t == 0 && !zero_ok)) {
        return apr_psprintf(cmd->pool,
                            zero_ok ? "%s: \"%s\" is not a time (examples: 0, "
                                      "500ms, 2s, 10m)"
                                    : "%s: \"%s\" is not a positive time "
                                      "(examples: 5, 500ms, 2s, 1m)",
                            cmd->cmd->name, arg);
    }
    *(apr_interval_time_t *)((char *)c + off) = t;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    return store_time(cmd, dconf, arg, 0);
}

/* Milliseconds: 0 lets httpd buffer, negative flushes after every write. */
static const char *set_flush_interval(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    char *end;
    apr_int64_t ms;

    errno = 0;
    ms = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || ms > 3600 * 1000 || ms < -1000000) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a number of milliseconds "
                            "(0 = let httpd buffer, -1 = flush every write)",
                            cmd->cmd->name, arg);
    }
    target_conf(cmd, dconf)->flush_interval =
        ms < 0 ? -1 : apr_time_from_msec(ms);
    return NULL;
}

/* A count: 0 (no limit) or a positive number up to a million. */
static const char *set_count(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    int off = (int)(long)cmd->info;
    apr_int64_t n;
    char *end;

    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || n < 0 || n > 1000000) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a count (0 = no limit, or "
                            "1..1000000)",
                            cmd->cmd->name, arg);
    }
    *(int *)((char *)c + off) = (int)n;
    return NULL;
}

/* RProxyMaxResponseHeaderSize: bytes, 1 KiB to 16 MiB. */
#define RPX_MIN_HEAD 1024
#define RPX_MAX_HEAD (16 * 1024 * 1024)

static const char *set_head_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    apr_int64_t n;
    char *end;

    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || n < RPX_MIN_HEAD || n > RPX_MAX_HEAD) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not a size in bytes from %d to %d",
                            cmd->cmd->name, arg, RPX_MIN_HEAD, RPX_MAX_HEAD);
    }
    target_conf(cmd, dconf)->max_head_bytes = (int)n;
    return NULL;
}

/* A time that may be 0 (meaning "no limit"). */
static const char *set_limit_time(cmd_parms *cmd, void *dconf, const char *arg)
{
    return store_time(cmd, dconf, arg, 1);
}

/* A file or directory that must be readable now, so that a typo stops the
 * start with the file and line instead of failing the first request. */
static const char *set_tls_path(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    int off = (int)(long)cmd->info;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;
    apr_status_t rv;

    rv = path ? apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool) : APR_EBADPATH;
    if (rv != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: cannot read \"%s\": %pm",
                            cmd->cmd->name, arg, &rv);
    }
    *(const char **)((char *)c + off) = path;
    return NULL;
}

static const char *set_tls_string(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    int off = (int)(long)cmd->info;

    *(const char **)((char *)c + off) = arg;
    return NULL;
}

static const char *set_tls_min(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);

    if (!strcasecmp(arg, "TLSv1.2")) {
        c->tls.min_version = RP_TLS_V1_2;
    }
    else if (!strcasecmp(arg, "TLSv1.3")) {
        c->tls.min_version = RP_TLS_V1_3;
    }
    else {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not TLSv1.2 or TLSv1.3 (older "
                            "protocols are not offered)",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* RProxyTLSCipherSuite [TLSv1.3] spec: like mod_ssl's SSLProxyCipherSuite,
 * the optional first word says which protocol's list is meant. */
static const char *set_tls_ciphers(cmd_parms *cmd, void *dconf, const char *a1,
                                   const char *a2)
{
    rp_conf_t *c = target_conf(cmd, dconf);

    if (!a2) {
        c->tls.ciphers = a1;
    }
    else if (!strcasecmp(a1, "TLSv1.3")) {
        c->tls.ciphersuites = a2;
    }
    else if (!strcasecmp(a1, "SSL") || !strcasecmp(a1, "TLSv1.2")) {
        c->tls.ciphers = a2;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not TLSv1.2 or TLSv1.3",
                            cmd->cmd->name, a1);
    }
    return NULL;
}

/* RProxyUpstreamProxy http://[user:password@]host[:port] | none. The
 * credentials are cut off before the URL check (which refuses userinfo
 * in targets) and kept as a ready "Basic ..." value. */
static const char *set_upstream(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    const char *rest, *at, *why = NULL;
    char *userinfo = NULL, *b64;
    rp_url_t *u;

    if (!strcasecmp(arg, "none")) {
        c->upstream = &rp_conf_no_upstream;
        c->upstream_auth = NULL;
        return NULL;
    }
    if (strncasecmp(arg, "http://", 7) != 0) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": only http:// upstream proxies are "
                            "supported (or none)",
                            cmd->cmd->name, arg);
    }
    rest = arg + 7;
    at = strchr(rest, '@');
    if (at && (!strchr(rest, '/') || at < strchr(rest, '/'))) {
        userinfo = apr_pstrmemdup(cmd->pool, rest, (apr_size_t)(at - rest));
        rest = at + 1;
    }
    u = apr_pcalloc(cmd->pool, sizeof(*u));
    if (rp_url_parse(cmd->pool, apr_pstrcat(cmd->pool, "http://", rest, NULL),
                     u, &why) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: bad proxy URL \"%s\": %s",
                            cmd->cmd->name, arg, why);
    }
    if ((*u->path && strcmp(u->path, "/")) || u->query) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": a proxy URL has no path or query",
                            cmd->cmd->name, arg);
    }
    if (userinfo) {
        b64 = apr_palloc(cmd->pool, apr_base64_encode_len(strlen(userinfo)));
        apr_base64_encode(b64, userinfo, (int)strlen(userinfo));
        c->upstream_auth = apr_pstrcat(cmd->pool, "Basic ", b64, NULL);
    }
    else {
        c->upstream_auth = NULL;
    }
    c->upstream = u;
    return NULL;
}

/* RProxyUpgrade proto [proto ...] | none: the protocols a client may switch
 * to through this route (default websocket). */
static const char *set_upgrades(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    const char *list = c->upgrades && *c->upgrades ? c->upgrades : NULL;

    if (!strcasecmp(arg, "none")) {
        c->upgrades = "";
        return NULL;
    }
    if (!rp_headers_valid_name(arg)) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a protocol token",
                            cmd->cmd->name, arg);
    }
    c->upgrades = list ? apr_pstrcat(cmd->pool, list, ", ", arg, NULL)
                       : apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* RProxyTrustedProxies addr|cidr ... | none: peers whose forwarding fields
 * are extended instead of replaced. Several lines in one context add up;
 * "none" empties the list (and overrides an inherited one). */
static const char *set_trusted(cmd_parms *cmd, void *dconf, const char *arg)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    apr_array_header_t *list;
    const char *why = NULL;
    rp_cidr_t cidr;

    if (!strcasecmp(arg, "none")) {
        c->trusted_proxies = apr_array_make(cmd->pool, 1, sizeof(rp_cidr_t));
        return NULL;
    }
    if (rp_cidr_parse(arg, &cidr, &why) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\" is not an address or CIDR range "
                            "(examples: 10.0.0.0/8, ::1, 2001:db8::/32): %s",
                            cmd->cmd->name, arg, why);
    }
    list = c->trusted_proxies ? apr_array_copy(cmd->pool, c->trusted_proxies)
                              : apr_array_make(cmd->pool, 4, sizeof(rp_cidr_t));
    APR_ARRAY_PUSH(list, rp_cidr_t) = cidr;
    c->trusted_proxies = list;
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dconf, int on)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    int off = (int)(long)cmd->info;

    *(int *)((char *)c + off) = on ? 1 : 0;
    return NULL;
}

/* RProxyErrorOverride On|Off [code ...]: the codes (400 to 599) narrow
 * On to those statuses; a context's setting replaces the inherited one. */
static const char *set_error_override(cmd_parms *cmd, void *dconf, int argc,
                                      char *const argv[])
{
    rp_conf_t *c = target_conf(cmd, dconf);
    unsigned char *codes;
    int i;

    if (argc < 1 || (strcasecmp(argv[0], "on") && strcasecmp(argv[0], "off"))) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not On or Off",
                            cmd->cmd->name, argc ? argv[0] : "");
    }
    if (!strcasecmp(argv[0], "off")) {
        if (argc > 1) {
            return apr_psprintf(cmd->pool,
                                "%s Off takes no status codes (got \"%s\")",
                                cmd->cmd->name, argv[1]);
        }
        c->error_override = 0;
        c->error_codes = NULL;
        return NULL;
    }
    codes = argc > 1 ? apr_pcalloc(cmd->pool, RP_CONF_ERROR_CODES_LEN) : NULL;
    for (i = 1; i < argc; i++) {
        char *end = NULL;
        long n = strtol(argv[i], &end, 10);

        if (!apr_isdigit(argv[i][0]) || *end || n < 400 || n > 599) {
            return apr_psprintf(cmd->pool,
                                "%s: \"%s\" is not an error status (400 to "
                                "599)",
                                cmd->cmd->name, argv[i]);
        }
        codes[(n - 400) / 8] |= (unsigned char)(1u << ((n - 400) % 8));
    }
    c->error_override = 1;
    c->error_codes = codes;
    return NULL;
}

/* RProxySourceAddress addr [addr]: one IPv4 and/or one IPv6 literal, for
 * every backend connection of the process (health checks included), so
 * the main server's configuration alone. */
static const char *set_source_address(cmd_parms *cmd, void *dconf,
                                      const char *a1, const char *a2)
{
    rpx_server_conf_t *sc =
        ap_get_module_config(cmd->server->module_config, &rproxy_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *args[2] = {a1, a2};
    int i, v6;

    (void)dconf;
    if (err) {
        return err;
    }
    sc->source4 = sc->source6 = NULL;
    for (i = 0; i < 2 && args[i]; i++) {
        const char **slot;

        if (!rp_addr_valid(args[i], &v6)) {
            return apr_psprintf(cmd->pool,
                                "%s: \"%s\" is not an IPv4 or IPv6 address",
                                cmd->cmd->name, args[i]);
        }
        slot = v6 ? &sc->source6 : &sc->source4;
        if (*slot) {
            return apr_psprintf(cmd->pool,
                                "%s: two IPv%d addresses (\"%s\", \"%s\"); "
                                "give at most one of each family",
                                cmd->cmd->name, v6 ? 6 : 4, *slot, args[i]);
        }
        *slot = args[i];
    }
    return NULL;
}

/* ---- response rewriting (RProxyRewriteLocation, RProxyCookie*) ---- */

/* RProxyCookieDomain / RProxyCookiePath from to | off. Rules add up in
 * order within one context; "off" empties the list, so that a <Location>
 * or virtual host can drop the rules it would inherit. */
static const char *set_cookie_rule(cmd_parms *cmd, void *dconf,
                                   const char *from, const char *to)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    const apr_array_header_t **list =
        (const apr_array_header_t **)((char *)c + (int)(long)cmd->info);
    int (*ok)(const char *) = list == &c->cookie_domains
                                  ? rp_rewrite_cookie_domain_ok
                                  : rp_rewrite_cookie_path_ok;
    const char *what = ok == rp_rewrite_cookie_domain_ok ? "domain" : "path";
    apr_array_header_t *a;
    rp_rewrite_pair_t *r;

    if (!to && !strcasecmp(from, "off")) {
        *list = apr_array_make(cmd->pool, 1, sizeof(rp_rewrite_pair_t));
        return NULL;
    }
    if (!to) {
        return apr_psprintf(cmd->pool,
                            "%s needs the backend's %s and the front's %s "
                            "(or off), got only \"%s\"",
                            cmd->cmd->name, what, what, from);
    }
    if (!ok(from) || !ok(to)) {
        return apr_psprintf(
            cmd->pool, "%s: \"%s\" is not a cookie %s%s", cmd->cmd->name,
            ok(from) ? to : from, what,
            ok == rp_rewrite_cookie_path_ok ? " (starting with /)" : "");
    }
    /* A copy: the configured list stays read-only once made. */
    a = *list ? apr_array_copy(cmd->pool, *list)
              : apr_array_make(cmd->pool, 2, sizeof(rp_rewrite_pair_t));
    r = apr_array_push(a);
    r->from = from;
    r->to = to;
    *list = a;
    return NULL;
}

/* RProxyPassReverse [path] url | off: another URL of the backend whose
 * Location (and Content-Location, Refresh) URLs map to the route, as
 * RProxyRewriteLocation maps the target's. In <Location> the URL alone;
 * elsewhere the RProxyPass path it serves first. Entries add up in order
 * within one context; "off" empties the list (a context's list replaces
 * the one it would inherit, as the cookie rules' do). */
static const char *set_pass_reverse(cmd_parms *cmd, void *dconf, const char *a1,
                                    const char *a2)
{
    rp_conf_t *c = target_conf(cmd, dconf);
    const char *url = a2 ? a2 : a1, *why = NULL;
    apr_array_header_t *a;
    rp_rewrite_alias_t *al;
    rp_url_t u;

    if (!a2 && !strcasecmp(a1, "off")) {
        c->pass_reverse = apr_array_make(cmd->pool, 1, sizeof(*al));
        return NULL;
    }
    if (cmd->path && a2) {
        return apr_psprintf(cmd->pool,
                            "%s: inside <Location> give only the backend's "
                            "URL, not \"%s %s\"",
                            cmd->cmd->name, a1, a2);
    }
    if (!cmd->path && (!a2 || a1[0] != '/')) {
        return apr_psprintf(cmd->pool,
                            "%s needs the path of the RProxyPass it serves "
                            "(starting with /) and the backend's URL, got "
                            "\"%s%s%s\"",
                            cmd->cmd->name, a1, a2 ? " " : "", a2 ? a2 : "");
    }
    if (rp_url_parse(cmd->pool, url, &u, &why) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a backend URL: %s",
                            cmd->cmd->name, url, why);
    }
    if (u.socket) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": give the URL the backend writes in "
                            "its Location fields (for a unix: target, the "
                            "http://host/ part after '|')",
                            cmd->cmd->name, url);
    }
    if (u.query) {
        return apr_psprintf(cmd->pool,
                            "%s: \"%s\": a query has no place here (only "
                            "scheme, host, port and path are matched)",
                            cmd->cmd->name, url);
    }
    /* A copy: the configured list stays read-only once made. */
    a = c->pass_reverse ? apr_array_copy(cmd->pool, c->pass_reverse)
                        : apr_array_make(cmd->pool, 2, sizeof(*al));
    al = apr_array_push(a);
    al->prefix = a2 ? a1 : NULL;
    al->url = u;
    c->pass_reverse = a;
    return NULL;
}

#define RPX_CTX (RSRC_CONF | ACCESS_CONF)
#define RPX_OFF(f) ((void *)APR_OFFSETOF(rp_conf_t, f))

const command_rec rpx_cmds[] = {
    AP_INIT_TAKE12("RProxyPass", set_pass, NULL, RPX_CTX,
                   "RProxyPass <path> <url>|! (inside <Location>: <url>|!)"),
    AP_INIT_TAKE1("RProxyFlushInterval", set_flush_interval, NULL, RPX_CTX,
                  "milliseconds: 0 lets httpd buffer, -1 flushes every write"),
    AP_INIT_TAKE1("RProxyConnectTimeout", set_timeout, RPX_OFF(connect_timeout),
                  RPX_CTX,
                  "time allowed to connect to a backend (default 10s)"),
    AP_INIT_TAKE1("RProxyResponseHeaderTimeout", set_timeout,
                  RPX_OFF(header_timeout), RPX_CTX,
                  "time from request sent to response head (default 60s)"),
    AP_INIT_TAKE1("RProxyResponseTimeout", set_limit_time,
                  RPX_OFF(response_timeout), RPX_CTX,
                  "longest a whole response may take, streaming included "
                  "(default 0: no limit)"),
    AP_INIT_TAKE1("RProxyMaxResponseHeaderSize", set_head_size, NULL, RPX_CTX,
                  "largest response head from a backend, in bytes (default "
                  "65536)"),
    AP_INIT_TAKE1("RProxyIOTimeout", set_timeout, RPX_OFF(io_timeout), RPX_CTX,
                  "longest wait between body reads or writes (default 60s)"),
    AP_INIT_TAKE1("RProxyExpectContinueTimeout", set_timeout,
                  RPX_OFF(expect_timeout), RPX_CTX,
                  "wait for the backend's 100 Continue before sending the "
                  "body anyway (default 1s)"),
    AP_INIT_TAKE1("RProxyIdleTimeout", set_timeout, RPX_OFF(idle_timeout),
                  RSRC_CONF,
                  "idle time after which a pooled backend connection is "
                  "closed (default 60s)"),
    AP_INIT_FLAG("RProxyPreserveHost", set_flag, RPX_OFF(preserve_host),
                 RPX_CTX, "On: send the client's Host to the backend"),
    AP_INIT_FLAG("RProxyAddForwarded", set_flag, RPX_OFF(add_forwarded),
                 RPX_CTX, "Off: do not add X-Forwarded-For/-Host/-Proto"),
    AP_INIT_FLAG("RProxySplice", set_flag, RPX_OFF(splice), RPX_CTX,
                 "Off: large bodies through httpd's output filters, never "
                 "socket to socket"),
    AP_INIT_TAKE1("RProxyMaxConnections", set_count, RPX_OFF(max_conns),
                  RSRC_CONF,
                  "most connections to one backend per process (0 = no "
                  "limit)"),
    AP_INIT_TAKE1("RProxyConnectRetries", set_count, RPX_OFF(connect_retries),
                  RSRC_CONF,
                  "times a refused connect is tried again (default 1)"),
    AP_INIT_TAKE1("RProxyMaxIdleConnections", set_count, RPX_OFF(max_idle),
                  RSRC_CONF,
                  "most idle pooled connections to one backend per process "
                  "(0 = ThreadsPerChild)"),
    AP_INIT_TAKE1("RProxyQueueTimeout", set_timeout, RPX_OFF(queue_timeout),
                  RSRC_CONF,
                  "wait for a free connection slot before answering 503 "
                  "(default 5s)"),
    AP_INIT_TAKE1("RProxyMaxRequestsPerConnection", set_count,
                  RPX_OFF(max_requests), RSRC_CONF,
                  "requests after which a backend connection is closed "
                  "(0 = no limit)"),
    AP_INIT_TAKE1("RProxyMaxConnectionAge", set_limit_time, RPX_OFF(max_age),
                  RSRC_CONF,
                  "age after which a backend connection is not reused "
                  "(0 = no limit)"),
    AP_INIT_TAKE1("RProxyDNSTTL", set_limit_time, RPX_OFF(dns_ttl), RSRC_CONF,
                  "age after which a backend name is resolved again (0 = "
                  "at every new connection; default 60s)"),
    AP_INIT_FLAG("RProxyTLSVerify", set_flag, RPX_OFF(tls.verify), RSRC_CONF,
                 "Off: do not verify https backends' certificates (logged "
                 "as a warning)"),
    AP_INIT_TAKE1("RProxyTLSCACertificateFile", set_tls_path,
                  RPX_OFF(tls.ca_file), RSRC_CONF,
                  "PEM file of CAs trusted for backends (default: system)"),
    AP_INIT_TAKE1("RProxyTLSCACertificatePath", set_tls_path,
                  RPX_OFF(tls.ca_path), RSRC_CONF,
                  "hashed directory of CAs trusted for backends"),
    AP_INIT_TAKE1("RProxyTLSCertificateFile", set_tls_path,
                  RPX_OFF(tls.cert_file), RSRC_CONF,
                  "client certificate (PEM) presented to backends"),
    AP_INIT_TAKE1("RProxyTLSCertificateKeyFile", set_tls_path,
                  RPX_OFF(tls.key_file), RSRC_CONF,
                  "key of the client certificate (PEM, unencrypted)"),
    AP_INIT_TAKE1("RProxyTLSServerName", set_tls_string,
                  RPX_OFF(tls.server_name), RSRC_CONF,
                  "SNI and certificate name to expect instead of the URL host"),
    AP_INIT_TAKE1("RProxyTLSProtocolMin", set_tls_min, NULL, RSRC_CONF,
                  "TLSv1.2 (default) or TLSv1.3"),
    AP_INIT_TAKE12("RProxyTLSCipherSuite", set_tls_ciphers, NULL, RSRC_CONF,
                   "[TLSv1.3] cipher list for backend connections"),
    AP_INIT_TAKE1("RProxyTLSHandshakeTimeout", set_timeout,
                  RPX_OFF(tls_timeout), RSRC_CONF,
                  "time allowed for the TLS handshake (default 10s)"),
    AP_INIT_TAKE1("RProxyUpstreamProxy", set_upstream, NULL, RPX_CTX,
                  "http://[user:password@]host:port of a forward proxy to "
                  "reach the backends through, or none"),
    AP_INIT_ITERATE("RProxyUpgrade", set_upgrades, NULL, RPX_CTX,
                    "protocols clients may switch to (default websocket), "
                    "or none"),
    /* forwarding fields and trust */
    AP_INIT_ITERATE("RProxyTrustedProxies", set_trusted, NULL, RPX_CTX,
                    "addresses or CIDR ranges of proxies whose forwarding "
                    "fields are extended, not replaced (default none)"),
    AP_INIT_FLAG("RProxyForwarded", set_flag, RPX_OFF(forwarded), RPX_CTX,
                 "On: add an RFC 7239 Forwarded field (default Off)"),
    AP_INIT_FLAG("RProxyVia", set_flag, RPX_OFF(via), RPX_CTX,
                 "On: add Via to requests and responses (default Off)"),
    /* response rewriting */
    AP_INIT_FLAG("RProxyRewriteLocation", set_flag, RPX_OFF(rewrite_location),
                 RPX_CTX,
                 "On (default): map the backend's URLs in Location, "
                 "Content-Location and Refresh back to the front"),
    AP_INIT_TAKE12("RProxyCookieDomain", set_cookie_rule,
                   RPX_OFF(cookie_domains), RPX_CTX,
                   "backend-domain front-domain: rewrite Set-Cookie Domain= "
                   "(repeatable), or off"),
    AP_INIT_TAKE12("RProxyPassReverse", set_pass_reverse, NULL, RPX_CTX,
                   "[path] URL: another URL of the backend whose redirects "
                   "map back to the route (inside <Location>: the URL "
                   "only), or off"),
    AP_INIT_TAKE12("RProxyCookiePath", set_cookie_rule, RPX_OFF(cookie_paths),
                   RPX_CTX,
                   "backend-path front-path: rewrite Set-Cookie Path= "
                   "(repeatable), or off"),
    AP_INIT_TAKE_ARGV("RProxyErrorOverride", set_error_override, NULL, RPX_CTX,
                      "On [code ...]: a backend's error answer (these "
                      "statuses, else 400-599) gets httpd's error page "
                      "(ErrorDocument) instead; Off (default)"),
    AP_INIT_FLAG("RProxyStatusHeader", set_flag, RPX_OFF(status_header),
                 RPX_CTX,
                 "Off: no Proxy-Status field on the errors the proxy "
                 "generates (default On)"),
    /* balancers (balancer.c) */
    AP_INIT_RAW_ARGS("<RProxyBalancer", rpx_balancer_section, NULL, RSRC_CONF,
                     "<RProxyBalancer name>: a group of members that "
                     "RProxyPass reaches as balancer://name/"),
    AP_INIT_RAW_ARGS("RProxyMember", rpx_balancer_member, NULL, RSRC_CONF,
                     "scheme://host[:port] [weight=1..1000] [standby]"),
    AP_INIT_TAKE1("RProxyBalancerMethod", rpx_balancer_method, NULL, RSRC_CONF,
                  "rr (default), least, p2c or hash"),
    AP_INIT_TAKE12("RProxyBalancerHashKey", rpx_balancer_hash_key, NULL,
                   RSRC_CONF,
                   "client (default), path, header NAME or cookie NAME"),
    AP_INIT_TAKE1("RProxyStickyCookie", rpx_balancer_sticky, NULL, RSRC_CONF,
                  "cookie naming the member a client sticks to"),
    AP_INIT_RAW_ARGS("RProxyEject", rpx_balancer_eject, NULL, RSRC_CONF,
                     "failures [base [max [share%]]] (default 5 10s 5m "
                     "50%), or off"),
    AP_INIT_TAKE1("RProxySlowStart", rpx_balancer_slow_start, NULL, RSRC_CONF,
                  "time a returning member's weight ramps up (default 0)"),
    AP_INIT_FLAG("RProxyEjectOn5xx", rpx_balancer_eject_5xx, NULL, RSRC_CONF,
                 "Off: a member's 502/503/504 is not a failure (default On)"),
    AP_INIT_RAW_ARGS("RProxyHealthCheck", rpx_balancer_health_check, NULL,
                     RSRC_CONF,
                     "GET|HEAD|OPTIONS /path [status=200-399] [interval=5s] "
                     "[timeout=2s] [passes=2] [fails=3]"),
    AP_INIT_TAKE12("RProxySourceAddress", set_source_address, NULL, RSRC_CONF,
                   "local address(es) backend connections are made from: "
                   "an IPv4 and/or an IPv6 literal (main server only)"),
    AP_INIT_TAKE1("RProxyStatusStateFile", rpx_status_state_file, NULL,
                  RSRC_CONF,
                  "file keeping drained/disabled members across full "
                  "restarts (status.c)"),
    {NULL}};

/* ---- TLS contexts ----------------------------------------------------- */

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* What a setting means, not how it was written: a directive that states
 * the default makes the same context as leaving it out. */
static int tls_min_version(int v)
{
    return v == 0 || v == RP_UNSET ? RP_TLS_V1_2 : v;
}

int rpx_same_tls(const rp_tls_conf_t *a, const rp_tls_conf_t *b)
{
    return (a->verify != 0) == (b->verify != 0) &&
           tls_min_version(a->min_version) == tls_min_version(b->min_version) &&
           same_str(a->ca_file, b->ca_file) &&
           same_str(a->ca_path, b->ca_path) &&
           same_str(a->cert_file, b->cert_file) &&
           same_str(a->key_file, b->key_file) &&
           same_str(a->server_name, b->server_name) &&
           same_str(a->ciphers, b->ciphers) &&
           same_str(a->ciphersuites, b->ciphersuites);
}

/* The contexts made for this configuration, in pconf's user data (gone
 * with pconf at a restart). */
typedef struct made_ctx_t {
    rp_tls_conf_t conf; /* strings in pconf */
    rp_tls_ctx_t *ctx;
} made_ctx_t;

#define RPX_MADE_CTX_KEY "rproxy-tls-contexts"

static apr_array_header_t *made_ctxs(apr_pool_t *pconf)
{
    void *made = NULL;

    apr_pool_userdata_get(&made, RPX_MADE_CTX_KEY, pconf);
    if (!made) {
        made = apr_array_make(pconf, 4, sizeof(made_ctx_t));
        apr_pool_userdata_setn(made, RPX_MADE_CTX_KEY, NULL, pconf);
    }
    return made;
}

rp_tls_ctx_t *rpx_tls_ctx_find(apr_pool_t *pconf, const rp_tls_conf_t *conf)
{
    apr_array_header_t *made = made_ctxs(pconf);
    int i;

    for (i = 0; i < made->nelts; i++) {
        made_ctx_t *m = &APR_ARRAY_IDX(made, i, made_ctx_t);
        if (rpx_same_tls(&m->conf, conf)) {
            return m->ctx;
        }
    }
    return NULL;
}

static const char *dup_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

apr_status_t rpx_tls_ctx(apr_pool_t *pconf, const rp_tls_conf_t *conf,
                         rp_tls_ctx_t **ctx, const char **why)
{
    made_ctx_t *m;
    apr_status_t rv;

    *why = NULL;
    *ctx = rpx_tls_ctx_find(pconf, conf);
    if (*ctx) {
        return APR_SUCCESS;
    }
    rv = rp_tls_ctx_create(pconf, conf, ctx, why);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    m = apr_array_push(made_ctxs(pconf));
    m->conf = *conf;
    m->conf.ca_file = dup_or_null(pconf, conf->ca_file);
    m->conf.ca_path = dup_or_null(pconf, conf->ca_path);
    m->conf.cert_file = dup_or_null(pconf, conf->cert_file);
    m->conf.key_file = dup_or_null(pconf, conf->key_file);
    m->conf.server_name = dup_or_null(pconf, conf->server_name);
    m->conf.ciphers = dup_or_null(pconf, conf->ciphers);
    m->conf.ciphersuites = dup_or_null(pconf, conf->ciphersuites);
    m->ctx = *ctx;
    return APR_SUCCESS;
}

/* The context of an https route, from the settings of the route's server
 * (and <Location>), made in the configuration pool: children inherit it. */
static int make_ctx(apr_pool_t *pconf, server_rec *s, rpx_route_t *route,
                    const rp_conf_t *conf)
{
    const char *why = NULL;

    if (!route->target || !route->target->tls) {
        return OK;
    }
    if (rpx_tls_ctx(pconf, &conf->tls, &route->tls, &why) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     RPLOGNO(00203) "RProxyPass %s %s%s: TLS settings "
                                    "refused: %s",
                     route->prefix, rp_url_origin(pconf, route->target),
                     route->target->path, why ? why : "unknown reason");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* httpd reads its configuration twice at startup: warn once. */
    if (conf->tls.verify == 0 &&
        ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     RPLOGNO(00204) "RProxyTLSVerify Off for RProxyPass %s "
                                    "%s: backend certificates are not "
                                    "checked",
                     route->prefix, rp_url_origin(pconf, route->target));
    }
    return OK;
}

int rpx_for_each_route(apr_pool_t *pconf, server_rec *main_server,
                       rpx_route_fn fn)
{
    server_rec *s;
    int i, rv = OK;

    for (s = main_server; s && rv == OK; s = s->next) {
        rpx_server_conf_t *sc =
            ap_get_module_config(s->module_config, &rproxy_module);
        core_server_config *core = ap_get_core_module_config(s->module_config);
        ap_conf_vector_t **sec = (ap_conf_vector_t **)core->sec_url->elts;
        rpx_route_t *routes = (rpx_route_t *)sc->routes->elts;

        for (i = 0; i < sc->routes->nelts && rv == OK; i++) {
            rv = fn(pconf, s, &routes[i], &sc->conf);
        }
        for (i = 0; i < core->sec_url->nelts && rv == OK; i++) {
            rpx_dir_conf_t *dc = ap_get_module_config(sec[i], &rproxy_module);
            if (dc && dc->route) {
                rp_conf_t c;
                rp_conf_merge(&c, &sc->conf, &dc->conf);
                rv = fn(pconf, s, dc->route, &c);
            }
        }
    }
    return rv;
}

/* A route shared by several servers (inherited by a virtual host) gets
 * its context from the first. */
static int route_tls(apr_pool_t *pconf, server_rec *s, rpx_route_t *route,
                     const rp_conf_t *conf)
{
    return route->tls ? OK : make_ctx(pconf, s, route, conf);
}

int rpx_make_tls_contexts(apr_pool_t *pconf, server_rec *main_server)
{
    return rpx_for_each_route(pconf, main_server, route_tls);
}
