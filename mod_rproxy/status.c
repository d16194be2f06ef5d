/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* status.c: `SetHandler rproxy-status` and the rproxy section of
 * mod_status.
 *
 *   GET   an HTML page, or JSON with ?json or "Accept: application/json":
 *         every balancer and member, read from the shared segment (so the
 *         same in every child), plus the pool sizes of this process's
 *         transport (per process: each child has its own pools)
 *   POST  balancer=NAME&member=URL&action=drain|undrain|disable|enable
 *         &token=T: sets or clears RP_LB_F_DRAIN / RP_LB_F_DISABLED in the
 *         shared segment (every child, and across graceful restarts). T is
 *         the member's HMAC token (rp_lb_token) under the per-boot secret
 *         of the segment, embedded in the page's forms and the JSON; a
 *         POST without a valid token, or whose Origin / Referer names
 *         another host, is refused with 403. Who may use the handler at all
 *         is httpd's access control (<Location> + Require).
 *
 * Nothing here is kept between requests. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "apr_atomic.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"
#include "mod_status.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

/* One member's numbers, read once for both output forms. */
typedef struct mview_t {
    const char *state;
    apr_int64_t eff_weight; /* x1000 */
    apr_uint32_t in_flight, ewma_us, ejections_row, flags;
    apr_uint32_t hc_status, hc_passes, hc_fails;
    apr_uint64_t requests, failures, ejected_total, hc_last;
    apr_size_t idle, busy; /* this process's pool */
    char token[RP_LB_TOKEN_LEN + 1];
} mview_t;

static void view(request_rec *r, rpx_balancer_t *b, int i, mview_t *v)
{
    rp_lb_member_t *m = &b->lb.members[i];
    rp_lb_slot_t *st = m->st;
    rp_backend_t *be;
    apr_time_t now = apr_time_now();
    const unsigned char *key;
    apr_size_t klen;

    v->state = rp_lb_state_str(&b->lb, i, now);
    v->eff_weight = rp_lb_effective_weight(&b->lb, i, now);
    v->in_flight = apr_atomic_read32(&st->in_flight);
    v->ewma_us = apr_atomic_read32(&st->ewma_us);
    v->ejections_row = apr_atomic_read32(&st->ejections);
    v->flags = apr_atomic_read32(&st->flags);
    v->hc_status = apr_atomic_read32(&st->hc_status);
    v->hc_passes = apr_atomic_read32(&st->hc_passes);
    v->hc_fails = apr_atomic_read32(&st->hc_fails);
    v->requests = apr_atomic_read64(&st->requests);
    v->failures = apr_atomic_read64(&st->failures);
    v->ejected_total = apr_atomic_read64(&st->ejected_total);
    v->hc_last = apr_atomic_read64(&st->hc_last);
    v->idle = v->busy = 0;
    /* the member's backend in this process's transport, if it has one */
    be = apr_atomic_casptr((void *)&m->backend, NULL, NULL);
    if (be) {
        rp_backend_counts(be, &v->idle, &v->busy);
    }
    key = rpx_balancers_secret(r->server, &klen);
    v->token[0] = '\0';
    if (key) {
        rp_lb_token(key, klen, b->lb.name, m->url, v->token);
    }
}

static int wants_json(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    if (r->args && (!strcmp(r->args, "json") || !strncmp(r->args, "json&", 5) ||
                    ap_strstr_c(r->args, "&json"))) {
        return 1;
    }
    return accept && ap_strcasestr(accept, "application/json") != NULL;
}

static const char *iso_time(apr_pool_t *p, apr_uint64_t t)
{
    char *buf;

    if (!t) {
        return NULL;
    }
    buf = apr_palloc(p, APR_RFC822_DATE_LEN);
    apr_rfc822_date(buf, (apr_time_t)t);
    return buf;
}

/* ---- JSON --------------------------------------------------------------- */

/* Names and URLs are restricted at configuration (no quote, no backslash,
 * no control character), so they go into JSON strings as they are. */
static void json_member(request_rec *r, rpx_balancer_t *b, int i)
{
    rp_lb_member_t *m = &b->lb.members[i];
    const char *last;
    mview_t v;

    view(r, b, i, &v);
    last = iso_time(r->pool, v.hc_last);
    ap_rprintf(r,
               "{\"url\":\"%s\",\"id\":\"%s\",\"state\":\"%s\","
               "\"weight\":%d,\"effective_weight\":%.3f,\"standby\":%s,"
               "\"draining\":%s,\"disabled\":%s,\"health_down\":%s,"
               "\"in_flight\":%u,\"requests\":%" APR_UINT64_T_FMT
               ",\"errors\":%" APR_UINT64_T_FMT ",\"ewma_ms\":%.3f,"
               "\"ejections\":%" APR_UINT64_T_FMT ",\"ejections_in_a_row\":%u,",
               m->url, m->id, v.state, m->weight, (double)v.eff_weight / 1000.0,
               m->standby ? "true" : "false",
               v.flags & RP_LB_F_DRAIN ? "true" : "false",
               v.flags & RP_LB_F_DISABLED ? "true" : "false",
               v.flags & RP_LB_F_HEALTH_DOWN ? "true" : "false", v.in_flight,
               v.requests, v.failures, (double)v.ewma_us / 1000.0,
               v.ejected_total, v.ejections_row);
    ap_rprintf(r,
               "\"pool\":{\"scope\":\"process\",\"pid\":%d,\"idle\":%lu,"
               "\"busy\":%lu},",
               (int)getpid(), (unsigned long)v.idle, (unsigned long)v.busy);
    if (b->lb.hc) {
        ap_rprintf(
            r,
            "\"health\":{\"status\":%u,\"ok\":%s,\"passes\":%u,"
            "\"fails\":%u,\"last\":%s%s%s,\"last_us\":%" APR_UINT64_T_FMT "},",
            v.hc_status,
            v.hc_last
                ? (rp_lb_hc_pass(b->lb.hc, (int)v.hc_status) ? "true" : "false")
                : "null",
            v.hc_passes, v.hc_fails, last ? "\"" : "", last ? last : "null",
            last ? "\"" : "", v.hc_last);
    }
    else {
        ap_rputs("\"health\":null,", r);
    }
    ap_rprintf(r, "\"token\":\"%s\"}", v.token);
}

static void json_balancer(request_rec *r, rpx_balancer_t *b)
{
    const rp_lb_hc_t *hc = b->lb.hc;
    int i;

    ap_rprintf(r, "{\"name\":\"%s\",\"method\":\"%s\",", b->lb.name,
               rp_lb_method_str(b->lb.method));
    if (hc) {
        ap_rprintf(r,
                   "\"health_check\":{\"method\":\"%s\",\"path\":\"%s\","
                   "\"status\":\"%d-%d\",\"interval_ms\":%" APR_TIME_T_FMT
                   ",\"timeout_ms\":%" APR_TIME_T_FMT
                   ",\"passes\":%d,\"fails\":%d,\"checker_pid\":%u},",
                   hc->method, ap_escape_quotes(r->pool, hc->path),
                   hc->status_lo, hc->status_hi, apr_time_as_msec(hc->interval),
                   apr_time_as_msec(hc->timeout), hc->passes, hc->fails,
                   apr_atomic_read32(&b->lb.shared->hc_owner));
    }
    else {
        ap_rputs("\"health_check\":null,", r);
    }
    ap_rputs("\"members\":[", r);
    for (i = 0; i < b->lb.n; i++) {
        if (i) {
            ap_rputs(",", r);
        }
        json_member(r, b, i);
    }
    ap_rputs("]}", r);
}

static int send_json(request_rec *r, apr_array_header_t *all)
{
    int i;

    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "{\"pid\":%d,\"balancers\":[", (int)getpid());
    for (i = 0; i < all->nelts; i++) {
        if (i) {
            ap_rputs(",", r);
        }
        json_balancer(r, APR_ARRAY_IDX(all, i, rpx_balancer_t *));
    }
    ap_rputs("]}\n", r);
    return OK;
}

/* ---- HTML --------------------------------------------------------------- */

static void html_button(request_rec *r, rpx_balancer_t *b, int i,
                        const mview_t *v, const char *action)
{
    ap_rprintf(r,
               "<form method=\"post\" style=\"display:inline\">"
               "<input type=\"hidden\" name=\"balancer\" value=\"%s\">"
               "<input type=\"hidden\" name=\"member\" value=\"%s\">"
               "<input type=\"hidden\" name=\"token\" value=\"%s\">"
               "<button name=\"action\" value=\"%s\">%s</button></form>",
               b->lb.name, ap_escape_html(r->pool, b->lb.members[i].url),
               v->token, action, action);
}

static void html_member(request_rec *r, rpx_balancer_t *b, int i)
{
    rp_lb_member_t *m = &b->lb.members[i];
    const char *last;
    mview_t v;

    view(r, b, i, &v);
    last = iso_time(r->pool, v.hc_last);
    ap_rprintf(r,
               "<tr><td>%s%s</td><td>%s</td><td>%d (%.2f)</td><td>%u</td>"
               "<td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT
               "</td><td>%.3f</td><td>%" APR_UINT64_T_FMT
               "</td><td>%lu / %lu</td><td>%s</td><td>",
               ap_escape_html(r->pool, m->url), m->standby ? " (standby)" : "",
               v.state, m->weight, (double)v.eff_weight / 1000.0, v.in_flight,
               v.requests, v.failures, (double)v.ewma_us / 1000.0,
               v.ejected_total, (unsigned long)v.idle, (unsigned long)v.busy,
               last ? apr_psprintf(r->pool, "%u at %s", v.hc_status, last)
                    : "-");
    html_button(r, b, i, &v, v.flags & RP_LB_F_DRAIN ? "undrain" : "drain");
    html_button(r, b, i, &v, v.flags & RP_LB_F_DISABLED ? "enable" : "disable");
    ap_rputs("</td></tr>\n", r);
}

static int send_html(request_rec *r, apr_array_header_t *all)
{
    int i, k;

    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rputs("<!DOCTYPE html>\n<html><head><title>mod_rproxy status</title>"
             "</head><body><h1>mod_rproxy balancers</h1>\n",
             r);
    ap_rprintf(r,
               "<p>Pool sizes (idle / busy) are those of this process "
               "(pid %d); everything else is shared by all processes.</p>\n",
               (int)getpid());
    for (i = 0; i < all->nelts; i++) {
        rpx_balancer_t *b = APR_ARRAY_IDX(all, i, rpx_balancer_t *);
        ap_rprintf(r, "<h2>%s (%s)</h2>\n", b->lb.name,
                   rp_lb_method_str(b->lb.method));
        ap_rputs("<table border=\"1\"><tr><th>member</th><th>state</th>"
                 "<th>weight (effective)</th><th>in flight</th>"
                 "<th>requests</th><th>errors</th><th>EWMA ms</th>"
                 "<th>ejections</th><th>pool idle / busy</th>"
                 "<th>last check</th><th>actions</th></tr>\n",
                 r);
        for (k = 0; k < b->lb.n; k++) {
            html_member(r, b, k);
        }
        ap_rputs("</table>\n", r);
    }
    ap_rputs("</body></html>\n", r);
    return OK;
}

/* ---- RProxyStatusStateFile ---------------------------------------------- */

/* The path lives in pconf's userdata: a restart whose configuration drops
 * the directive has none. */
#define RPX_STATE_FILE "mod_rproxy:status-state-file"

const char *rpx_status_state_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *path;

    if (err) {
        return err;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path || !*arg) {
        return apr_psprintf(cmd->pool, "%s: \"%s\" is not a valid path",
                            cmd->cmd->name, arg);
    }
    apr_pool_userdata_set(path, RPX_STATE_FILE, apr_pool_cleanup_null,
                          cmd->pool);
    return NULL;
}

const char *rpx_status_state_path(apr_pool_t *pconf)
{
    void *path = NULL;

    apr_pool_userdata_get(&path, RPX_STATE_FILE, pconf);
    return path;
}

/* One line per operator flag set: "drain|disable balancer url". */
static void state_write(apr_file_t *f, apr_array_header_t *all)
{
    int i, k;

    apr_file_puts("# mod_rproxy operator state (RProxyStatusStateFile)\n", f);
    for (i = 0; i < all->nelts; i++) {
        rpx_balancer_t *b = APR_ARRAY_IDX(all, i, rpx_balancer_t *);
        for (k = 0; k < b->lb.n; k++) {
            apr_uint32_t fl = apr_atomic_read32(&b->lb.members[k].st->flags);
            if (fl & RP_LB_F_DRAIN) {
                apr_file_printf(f, "drain %s %s\n", b->lb.name,
                                b->lb.members[k].url);
            }
            if (fl & RP_LB_F_DISABLED) {
                apr_file_printf(f, "disable %s %s\n", b->lb.name,
                                b->lb.members[k].url);
            }
        }
    }
}

/* Written to a file of this process's own and renamed over the state file:
 * a reader never sees half of it, and two children saving at once each
 * write the whole state as they saw it after their own change. */
static void state_save(request_rec *r)
{
    apr_pool_t *pconf = r->server->process->pconf;
    const char *path = rpx_status_state_path(pconf), *tmp;
    apr_file_t *f = NULL;
    apr_status_t rv;

    if (!path) {
        return;
    }
    tmp = apr_psprintf(r->pool, "%s.%d.tmp", path, (int)getpid());
    rv = apr_file_open(&f, tmp,
                       APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE |
                           APR_FOPEN_BUFFERED,
                       APR_FPROT_OS_DEFAULT, r->pool);
    if (rv == APR_SUCCESS) {
        state_write(f, rpx_balancers_all(pconf, r->pool));
        rv = apr_file_close(f);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, r->pool);
    }
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, r->pool);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r,
                      RPLOGNO(00407) "RProxyStatusStateFile %s: cannot save "
                                     "the operator state (the change holds "
                                     "until the next full restart)",
                      path);
    }
}

/* Sets member (balancer, url)'s flags from one line; unknown names (a
 * member since removed) are skipped. */
static void state_line(apr_pool_t *pconf, apr_pool_t *p, char *line)
{
    char *last = NULL;
    char *what = apr_strtok(line, " \t\r\n", &last);
    char *name = apr_strtok(NULL, " \t\r\n", &last);
    char *url = apr_strtok(NULL, " \t\r\n", &last);
    rpx_balancer_t *b;
    int i;

    (void)p;
    if (!what || !name || !url || *what == '#') {
        return;
    }
    b = rpx_balancer_find(pconf, name);
    for (i = 0; b && i < b->lb.n; i++) {
        if (!strcmp(b->lb.members[i].url, url)) {
            rp_lb_set_flag(
                &b->lb, i,
                !strcmp(what, "drain") ? RP_LB_F_DRAIN : RP_LB_F_DISABLED, 1);
        }
    }
}

int rpx_status_state_load(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *all = rpx_balancers_all(pconf, ptemp);
    const char *path = rpx_status_state_path(pconf);
    apr_file_t *f = NULL;
    apr_status_t rv;
    char line[1024];
    int i, k;

    if (!path || all->nelts == 0) {
        return OK;
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BUFFERED,
                       APR_FPROT_OS_DEFAULT, ptemp);
    if (APR_STATUS_IS_ENOENT(rv)) {
        return OK; /* nothing saved yet */
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     RPLOGNO(00408) "RProxyStatusStateFile %s: cannot read "
                                    "it: members keep their state",
                     path);
        return OK;
    }
    /* the file is the operator state: flags it does not list are cleared */
    for (i = 0; i < all->nelts; i++) {
        rpx_balancer_t *b = APR_ARRAY_IDX(all, i, rpx_balancer_t *);
        for (k = 0; k < b->lb.n; k++) {
            rp_lb_set_flag(&b->lb, k, RP_LB_F_DRAIN | RP_LB_F_DISABLED, 0);
        }
    }
    while (apr_file_gets(line, sizeof(line), f) == APR_SUCCESS) {
        state_line(pconf, ptemp, line);
    }
    apr_file_close(f);
    return OK;
}

/* ---- POST --------------------------------------------------------------- */

/* The host and port part of an Origin or Referer value. */
static const char *authority_of(apr_pool_t *p, const char *url)
{
    const char *a = ap_strstr_c(url, "://");

    if (!a) {
        return "";
    }
    a += 3;
    return apr_pstrndup(p, a, strcspn(a, "/?#"));
}

/* A browser names the page that sent the form: it must be this host. */
static int same_origin(request_rec *r)
{
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *o = apr_table_get(r->headers_in, "Origin");

    if (!o) {
        o = apr_table_get(r->headers_in, "Referer");
    }
    if (!o) {
        return 1;
    }
    return host && !strcasecmp(authority_of(r->pool, o), host);
}

typedef struct post_t {
    const char *balancer, *member, *action, *token;
} post_t;

static int read_form(request_rec *r, post_t *f)
{
    apr_array_header_t *pairs = NULL;
    int i;

    if (ap_parse_form_data(r, NULL, &pairs, 16, 8192) != OK || !pairs) {
        return HTTP_BAD_REQUEST;
    }
    for (i = 0; i < pairs->nelts; i++) {
        ap_form_pair_t *pair = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        apr_off_t len = 0;
        apr_size_t size;
        char *v;
        apr_brigade_length(pair->value, 1, &len);
        if (len < 0 || len > 1024) {
            return HTTP_BAD_REQUEST;
        }
        size = (apr_size_t)len;
        v = apr_palloc(r->pool, size + 1);
        apr_brigade_flatten(pair->value, v, &size);
        v[size] = '\0';
        if (!strcmp(pair->name, "balancer"))
            f->balancer = v;
        else if (!strcmp(pair->name, "member"))
            f->member = v;
        else if (!strcmp(pair->name, "action"))
            f->action = v;
        else if (!strcmp(pair->name, "token"))
            f->token = v;
    }
    return f->balancer && f->member && f->action ? OK : HTTP_BAD_REQUEST;
}

static int find_member(const rpx_balancer_t *b, const char *url)
{
    int i;

    for (i = 0; i < b->lb.n; i++) {
        if (!strcmp(b->lb.members[i].url, url)) {
            return i;
        }
    }
    return -1;
}

/* Apply f to member i; returns the HTTP status. */
static int act(request_rec *r, rpx_balancer_t *b, int i, const post_t *f)
{
    apr_uint32_t bit;
    int on;

    if (!strcmp(f->action, "drain") || !strcmp(f->action, "undrain")) {
        bit = RP_LB_F_DRAIN;
        on = f->action[0] == 'd';
    }
    else if (!strcmp(f->action, "disable") || !strcmp(f->action, "enable")) {
        bit = RP_LB_F_DISABLED;
        on = f->action[0] == 'd';
    }
    else {
        return HTTP_BAD_REQUEST;
    }
    rp_lb_set_flag(&b->lb, i, bit, on);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  RPLOGNO(00405) "balancer %s: member %s: %s by %s", b->lb.name,
                  b->lb.members[i].url, f->action, r->useragent_ip);
    state_save(r);
    return OK;
}

static int handle_post(request_rec *r)
{
    const unsigned char *key;
    rpx_balancer_t *b;
    apr_size_t klen;
    post_t f = {0};
    int rv, i;

    if ((rv = read_form(r, &f)) != OK) {
        return rv;
    }
    b = rpx_balancer_find(r->server->process->pconf, f.balancer);
    i = b ? find_member(b, f.member) : -1;
    if (i < 0) {
        return HTTP_NOT_FOUND;
    }
    key = rpx_balancers_secret(r->server, &klen);
    if (!same_origin(r) || !key ||
        !rp_lb_token_ok(key, klen, b->lb.name, f.member, f.token)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      RPLOGNO(00406) "rproxy-status: %s of %s %s refused: "
                                     "bad token or foreign origin",
                      f.action, f.balancer, f.member);
        return HTTP_FORBIDDEN;
    }
    if ((rv = act(r, b, i, &f)) != OK) {
        return rv;
    }
    if (wants_json(r)) {
        return send_json(r,
                         rpx_balancers_all(r->server->process->pconf, r->pool));
    }
    apr_table_setn(r->headers_out, "Location",
                   ap_construct_url(r->pool, r->uri, r));
    return HTTP_SEE_OTHER;
}

int rpx_status_handler(request_rec *r)
{
    apr_array_header_t *all;

    if (!r->handler || strcmp(r->handler, RPX_STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    if (r->method_number == M_POST) {
        return handle_post(r);
    }
    r->allowed |= (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    all = rpx_balancers_all(r->server->process->pconf, r->pool);
    return wants_json(r) ? send_json(r, all) : send_html(r, all);
}

/* ---- mod_status --------------------------------------------------------- */

static int status_section(request_rec *r, int flags)
{
    apr_array_header_t *all =
        rpx_balancers_all(r->server->process->pconf, r->pool);
    apr_time_t now = apr_time_now();
    int i, k;

    if (all->nelts == 0) {
        return OK;
    }
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("<hr><h2>mod_rproxy balancers</h2>\n<pre>", r);
    }
    for (i = 0; i < all->nelts; i++) {
        rpx_balancer_t *b = APR_ARRAY_IDX(all, i, rpx_balancer_t *);
        for (k = 0; k < b->lb.n; k++) {
            rp_lb_slot_t *st = b->lb.members[k].st;
            ap_rprintf(
                r,
                "RProxyMember: %s %s %s in_flight=%u "
                "requests=%" APR_UINT64_T_FMT " errors=%" APR_UINT64_T_FMT "\n",
                b->lb.name, ap_escape_html(r->pool, b->lb.members[k].url),
                rp_lb_state_str(&b->lb, k, now),
                apr_atomic_read32(&st->in_flight),
                apr_atomic_read64(&st->requests),
                apr_atomic_read64(&st->failures));
        }
    }
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("</pre>\n", r);
    }
    return OK;
}

void rpx_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(rpx_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* mod_status runs it when loaded; without mod_status it is unused */
    APR_OPTIONAL_HOOK(ap, status_hook, status_section, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
