/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* dump.c: `apache2 -t -D DUMP_RPROXY` prints every route with the settings
 * that will really apply to it, defaults included, so that nobody has to
 * guess which value won a merge. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "apr_strings.h"
#include "mod_rproxy.h"
#include "rp_addr.h"

static const char *url_text(apr_pool_t *p, const rp_url_t *u)
{
    if (!u) {
        return "!";
    }
    return apr_pstrcat(p, rp_url_origin(p, u), u->path, u->query ? "?" : "",
                       u->query ? u->query : "", NULL);
}

/* RProxyErrorOverride: off, on (every error status), or on and its list. */
static void print_error_override(apr_file_t *out, const rp_conf_t *c)
{
    int s;

    if (c->error_override != 1) {
        apr_file_printf(out, "      error override off\n");
        return;
    }
    apr_file_printf(out, "      error override on");
    if (!c->error_codes) {
        apr_file_printf(out, " (400-599)");
    }
    for (s = 400; c->error_codes && s <= 599; s++) {
        if (rp_conf_error_override(c, s)) {
            apr_file_printf(out, " %d", s);
        }
    }
    apr_file_printf(out, "\n");
}

/* Times print as milliseconds below a second, else as seconds. */
static const char *time_text(apr_pool_t *p, apr_interval_time_t t)
{
    if (t < 0) {
        return "every write";
    }
    if (t % APR_USEC_PER_SEC) {
        return apr_psprintf(p, "%" APR_TIME_T_FMT "ms", apr_time_as_msec(t));
    }
    return apr_psprintf(p, "%" APR_TIME_T_FMT "s", apr_time_sec(t));
}

static void print_tls(apr_file_t *out, apr_pool_t *p, const rp_conf_t *c)
{
    const rp_tls_conf_t *t = &c->tls;

    apr_file_printf(
        out,
        "      tls verify %s, ca %s, client certificate %s, server name %s, "
        "min %s, handshake timeout %s\n",
        t->verify == 0 ? "OFF" : "on",
        t->ca_file   ? t->ca_file
        : t->ca_path ? t->ca_path
                     : "system store",
        t->cert_file ? t->cert_file : "none",
        t->server_name ? t->server_name : "(URL host)",
        t->min_version == RP_TLS_V1_3 ? "TLSv1.3" : "TLSv1.2",
        time_text(p, rp_conf_tls_timeout(c)));
}

/* The forwarding settings on a line of their own. */
static void print_forwarding(apr_file_t *out, apr_pool_t *p, const rp_conf_t *c)
{
    const apr_array_header_t *tp = rp_conf_trusted_proxies(c);
    const char *list = "none";
    int i;

    for (i = 0; tp && i < tp->nelts; i++) {
        const char *one = rp_cidr_format(p, &APR_ARRAY_IDX(tp, i, rp_cidr_t));
        list = i == 0 ? one : apr_pstrcat(p, list, " ", one, NULL);
    }
    apr_file_printf(out,
                    "      forwarded (RFC 7239) %s, via %s, trusted proxies "
                    "%s\n",
                    rp_conf_forwarded(c) ? "on" : "off",
                    rp_conf_via(c) ? "on" : "off", list);
}

/* RProxyRewriteLocation, the cookie rules and RProxyPassReverse. */
static void print_rewrite(apr_file_t *out, const rp_conf_t *c)
{
    const apr_array_header_t *lists[2] = {rp_conf_cookie_domains(c),
                                          rp_conf_cookie_paths(c)};
    const apr_array_header_t *aliases = rp_conf_pass_reverse(c);
    static const char *const names[2] = {"cookie domain", "cookie path"};
    int i, j;

    apr_file_printf(out, "      rewrite location %s",
                    rp_conf_rewrite_location(c) ? "on" : "off");
    for (i = 0; i < 2; i++) {
        apr_file_printf(out, ", %s", names[i]);
        if (!lists[i]) {
            apr_file_printf(out, " none");
        }
        for (j = 0; lists[i] && j < lists[i]->nelts; j++) {
            const rp_rewrite_pair_t *r =
                &APR_ARRAY_IDX(lists[i], j, rp_rewrite_pair_t);
            apr_file_printf(out, "%s %s -> %s", j ? ";" : "", r->from, r->to);
        }
    }
    apr_file_printf(out, "\n");
    for (j = 0; aliases && j < aliases->nelts; j++) {
        const rp_rewrite_alias_t *a =
            &APR_ARRAY_IDX(aliases, j, rp_rewrite_alias_t);
        apr_file_printf(out, "      pass reverse %s%s%s://%s%s\n",
                        a->prefix ? a->prefix : "", a->prefix ? " " : "",
                        a->url.scheme, a->url.hostport, a->url.path);
    }
}

static void print_route(apr_file_t *out, apr_pool_t *p, const char *where,
                        const rpx_route_t *route, const rp_conf_t *c)
{
    apr_interval_time_t fi = rp_conf_flush_interval(c);
    const char *auth;

    apr_file_printf(out, "  %s %s -> %s\n", where, route->prefix,
                    url_text(p, route->target));
    if (!route->target) {
        return;
    }
    apr_file_printf(
        out,
        "      connect timeout %s, response header timeout %s, io timeout "
        "%s, idle timeout %s, expect-continue timeout %s, response timeout "
        "%s\n"
        "      flush interval %s, splice %s, preserve host %s, add "
        "forwarded %s\n"
        "      max connections %d, queue timeout %s, max idle %d, max "
        "requests per connection %d, max connection age %s\n"
        "      dns ttl %s, max response header size %d\n",
        time_text(p, rp_conf_connect_timeout(c)),
        time_text(p, rp_conf_header_timeout(c)),
        time_text(p, rp_conf_io_timeout(c)),
        time_text(p, rp_conf_idle_timeout(c)),
        time_text(p, rp_conf_expect_timeout(c)),
        rp_conf_response_timeout(c) ? time_text(p, rp_conf_response_timeout(c))
                                    : "none",
        fi == 0 ? "0 (httpd buffers)" : time_text(p, fi),
        rp_conf_splice(c) ? "on" : "off",
        rp_conf_preserve_host(c) ? "on" : "off",
        rp_conf_add_forwarded(c) ? "on" : "off", rp_conf_max_conns(c),
        time_text(p, rp_conf_queue_timeout(c)), rp_conf_max_idle(c),
        rp_conf_max_requests(c), time_text(p, rp_conf_max_age(c)),
        time_text(p, rp_conf_dns_ttl(c)), rp_conf_max_head_bytes(c));
    print_forwarding(out, p, c);
    print_rewrite(out, c);
    if (route->target->tls) {
        print_tls(out, p, c);
    }
    apr_file_printf(out, "      proxy-status header %s\n",
                    rp_conf_status_header(c) ? "on" : "off");
    print_error_override(out, c);
    if (rp_conf_upstream(c, &auth)) {
        apr_file_printf(out, "      through upstream proxy http://%s%s\n",
                        rp_conf_upstream(c, &auth)->hostport,
                        auth ? " (with credentials)" : "");
    }
}

/* <Location> routes live in core's per-server list of location sections. */
static void print_locations(apr_file_t *out, apr_pool_t *p, server_rec *s,
                            const rpx_server_conf_t *sc)
{
    core_server_config *core = ap_get_core_module_config(s->module_config);
    ap_conf_vector_t **sec = (ap_conf_vector_t **)core->sec_url->elts;
    rp_conf_t c;
    int i;

    for (i = 0; i < core->sec_url->nelts; i++) {
        rpx_dir_conf_t *dc = ap_get_module_config(sec[i], &rproxy_module);
        if (dc && dc->route) {
            rp_conf_merge(&c, &sc->conf, &dc->conf);
            print_route(out, p, "<Location>", dc->route, &c);
        }
    }
}

void rpx_dump_config(apr_pool_t *p, server_rec *main_server)
{
    apr_file_t *out;
    server_rec *s;

    if (!ap_exists_config_define("DUMP_RPROXY") ||
        apr_file_open_stdout(&out, p) != APR_SUCCESS) {
        return;
    }
    apr_file_printf(out, "mod_rproxy routes and effective settings:\n");
    {
        rpx_server_conf_t *msc =
            ap_get_module_config(main_server->module_config, &rproxy_module);

        if (msc->source4 || msc->source6) {
            apr_file_printf(
                out, "source address%s%s%s%s\n", msc->source4 ? " " : "",
                msc->source4 ? msc->source4 : "", msc->source6 ? " " : "",
                msc->source6 ? msc->source6 : "");
        }
    }
    for (s = main_server; s; s = s->next) {
        rpx_server_conf_t *sc =
            ap_get_module_config(s->module_config, &rproxy_module);
        const rpx_route_t *routes = (const rpx_route_t *)sc->routes->elts;
        int i;

        if (s == main_server) {
            apr_file_printf(out, "main server %s\n",
                            s->server_hostname ? s->server_hostname : "");
        }
        else {
            apr_file_printf(out, "virtual host %s (%s:%d)\n",
                            s->server_hostname ? s->server_hostname : "-",
                            s->defn_name ? s->defn_name : "-",
                            s->defn_line_number);
        }
        for (i = 0; i < sc->routes->nelts; i++) {
            print_route(out, p, "RProxyPass", &routes[i], &sc->conf);
        }
        print_locations(out, p, s, sc);
    }
    rpx_balancers_dump(out, p);
    /* status handler (status.c) */
    apr_file_printf(out, "status state file: %s\n",
                    rpx_status_state_path(p) ? rpx_status_state_path(p)
                                             : "none");
}
