/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_proxy.c: one exchange. Policy lives here (which headers go, when to
 * flush, what a failure becomes); the transport moves bytes and the front
 * talks to the client. */

#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_atomic.h>
#include "rp_proxy.h"
#include "rp_tunnel.h"
#include "rp_rewrite.h"

#define RP_LOGBUF 512

static void logf_(rp_exchange_t *ex, int level, apr_status_t rv,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void logf_(rp_exchange_t *ex, int level, apr_status_t rv,
                  const char *fmt, ...)
{
    char msg[RP_LOGBUF];
    va_list ap;

    if (!ex->front.ops->log) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A host's log cannot name an rp_ code (httpd prints "APR does not
     * understand this error code"): the message says it in words. */
    if (rv >= RP_ERRSPACE && rv < RP_ERRSPACE + 100) {
        rv = 0;
    }
    ex->front.ops->log(ex->front.ctx, level, rv, msg);
}

int rp_proxy_error_status(apr_status_t err)
{
    switch (err) {
    case RP_EBAD_REQUEST:
        return 400;
    case RP_EBACKEND_TIMEOUT:
        return 504;
    case RP_EPOOL_FULL:
    case RP_ENO_MEMBER:
        return 503;
    default:
        return 502;
    }
}

/* ---- failures --------------------------------------------------------- */

static const char *backend_name(const rp_exchange_t *ex)
{
    const char *addr = ex->backend_addr ? ex->backend_addr : "-";
    return apr_psprintf(ex->pool, "%s://%s (%s)", ex->target->scheme,
                        ex->target->hostport, addr);
}

/* One log line per failure, at a level that matches whose fault it is. */
static void log_failure(rp_exchange_t *ex, apr_status_t err)
{
    const char *d = ex->error_detail ? ex->error_detail : "";

    switch (err) {
    case RP_EBAD_REQUEST:
        logf_(ex, RP_LOG_INFO, 0,
              RPLOGNO(00101) "refusing to forward %s %s: %s", ex->method,
              ex->path, d);
        break;
    case RP_EBACKEND_TIMEOUT:
        logf_(ex, RP_LOG_ERR, 0,
              RPLOGNO(
                  00102) "backend %s: no response head within %" APR_TIME_T_FMT
                         " ms",
              backend_name(ex),
              apr_time_as_msec(rp_conf_header_timeout(ex->conf)));
        break;
    case RP_EBAD_RESPONSE:
        logf_(ex, RP_LOG_ERR, 0, RPLOGNO(00103) "backend %s: bad response: %s",
              backend_name(ex), d);
        break;
    case RP_EHOOK:
        logf_(ex, RP_LOG_ERR, 0, RPLOGNO(00104) "a hook refused %s %s: %s",
              ex->method, ex->path, d);
        break;
    case RP_ETLS:
        logf_(ex, RP_LOG_ERR, 0, RPLOGNO(00108) "backend %s: %s",
              backend_name(ex), d);
        break;
    case RP_EPOOL_FULL:
        logf_(ex, RP_LOG_ERR, 0,
              RPLOGNO(00107) "backend %s: %s for %" APR_TIME_T_FMT
                             " ms (RProxyMaxConnections); answering 503",
              backend_name(ex), d,
              apr_time_as_msec(rp_conf_queue_timeout(ex->conf)));
        break;
    case RP_ENO_MEMBER:
        logf_(ex, RP_LOG_ERR, 0, RPLOGNO(00192) "%s; answering 503", d);
        break;
    default:
        logf_(ex, RP_LOG_ERR, 0, RPLOGNO(00105) "backend %s unreachable: %s",
              backend_name(ex), d);
        break;
    }
}

/* A client that leaves is a normal event: counted, logged at debug. */
static apr_status_t client_gone(rp_exchange_t *ex)
{
    ex->error = RP_ECLIENT_GONE;
    rp_transport_count_client_abort(ex->transport);
    logf_(ex, RP_LOG_DEBUG, 0, "client went away during %s %s", ex->method,
          ex->path);
    return RP_ECLIENT_GONE;
}

/* A client that leaves in the middle of a response need not cost the
 * backend connection: when the rest of the body is at most this long and
 * comes within this time, it is read and dropped and the connection goes
 * back to the pool (mod_proxy_http keeps it too, having read ahead). A
 * longer or slower rest closes it. */
#define RP_DISCARD_MAX (1024 * 1024)
#define RP_DISCARD_WAIT apr_time_from_msec(50)

/* The client left after the response head came from the backend. */
static apr_status_t client_left(rp_exchange_t *ex)
{
    rp_response_discard(ex->resp, RP_DISCARD_MAX, RP_DISCARD_WAIT);
    rp_response_close(ex->resp);
    return client_gone(ex);
}

/* Before the head was sent: log, ask the error hook for the status. */
static apr_status_t fail(rp_exchange_t *ex, apr_status_t err)
{
    int status;

    if (err == RP_ECLIENT_GONE) {
        return client_gone(ex);
    }
    ex->error = err;
    if (ex->fault == RP_FAULT_NONE) {
        ex->fault = rp_fault_of_code(err); /* no layer said more */
    }
    log_failure(ex, err);
    if (ex->hooks && ex->hooks->error) {
        status = ex->hooks->error(ex, err, ex->hooks->baton);
    }
    else {
        status = rp_proxy_error_status(err);
    }
    ex->status = status;
    return status == 0 ? APR_SUCCESS : err;
}

/* ---- the outgoing request --------------------------------------------- */

/* apr_table_do callback: every field but Host, which is decided here. */
static int copy_field(void *rec, const char *key, const char *value)
{
    if (strcasecmp(key, "Host") != 0) {
        apr_table_addn(rec, key, value);
    }
    return 1;
}

/* The protocol of an upgrade the client asked for (Connection: upgrade
 * and Upgrade: proto), when the route allows it and the request has no
 * body; else NULL and the request goes on as an ordinary one. */
static const char *upgrade_asked(const rp_exchange_t *ex)
{
    const char *up = apr_table_get(ex->in_headers, "Upgrade");
    const char *conn = apr_table_get(ex->in_headers, "Connection");
    apr_size_t n;
    char *proto;

    if (!up || !conn || !rp_headers_has_token(conn, "upgrade") ||
        ex->body_length != 0) {
        return NULL;
    }
    n = strcspn(up, ",/ \t");
    if (n == 0) {
        return NULL;
    }
    proto = apr_pstrmemdup(ex->pool, up, n);
    return rp_headers_has_token(rp_conf_upgrades(ex->conf), proto) ? proto
                                                                   : NULL;
}

/* Default rewrite: Go's Director with httpd's habits. The target's path and
 * query are joined with the client's, hop-by-hop fields go, Host is the
 * target's unless preserved, the forwarding fields follow the policy of
 * rp_headers_forward(). */
static apr_status_t build_request(rp_exchange_t *ex)
{
    apr_pool_t *p = ex->pool;
    const char *path, *query, *host;
    rp_fwd_policy_t fwd;
    apr_table_t *h;

    path = rp_url_join_path(p, ex->target->path, ex->path);
    if (!path) {
        ex->error_detail = "dot segment in the request path";
        return RP_EBAD_REQUEST;
    }
    query = rp_url_merge_query(p, ex->target->query, ex->query);
    ex->out.target = query ? apr_pstrcat(p, path, "?", query, NULL) : path;
    ex->out.method = ex->method;

    host = ex->target->hostport;
    if (rp_conf_preserve_host(ex->conf) && ex->fwd.host) {
        host = ex->fwd.host;
    }
    h = apr_table_make(p, apr_table_elts(ex->in_headers)->nelts + 4);
    apr_table_setn(h, "Host", host); /* first, as clients send it */
    apr_table_do(copy_field, h, ex->in_headers, NULL);
    rp_headers_strip_hop(h, 1);
    ex->out.upgrade = upgrade_asked(ex);
    if (ex->out.upgrade) {
        /* hop-by-hop, so set again for this hop */
        apr_table_setn(h, "Connection", "Upgrade");
        apr_table_setn(h, "Upgrade", apr_table_get(ex->in_headers, "Upgrade"));
    }
    /* Expect: 100-continue goes end to end: the backend's 100 makes the
     * transport read the client's body, and that first read is when httpd
     * sends the client its own 100. Any other expectation is dropped. */
    apr_table_unset(h, "Expect");
    if (ex->body_length != 0 &&
        rp_headers_has_token(apr_table_get(ex->in_headers, "Expect"),
                             "100-continue")) {
        apr_table_setn(h, "Expect", "100-continue");
        ex->out.expect_continue = 1;
    }
    rp_conf_fwd_policy(ex->conf, &fwd);
    ex->fwd.prefix = ex->prefix; /* X-Forwarded-Prefix */
    rp_headers_forward(p, h, &ex->fwd, &fwd);
    ex->out.headers = h;
    return APR_SUCCESS;
}

/* Is the list te one "chunked" and nothing else (empty elements and OWS
 * aside)? */
static int only_chunked(const char *te)
{
    const char *s = te, *e;
    int n = 0, chunked = 0;

    while (*(s += strspn(s, " \t,")) != '\0') {
        e = s + strcspn(s, ",");
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        n++;
        chunked = e - s == 7 && strncasecmp(s, "chunked", 7) == 0;
        s += strcspn(s, ",");
    }
    return n == 1 && chunked;
}

/* request-target bytes: visible ASCII. A CTL, space or non-ASCII byte has
 * no place in any form of it (RFC 9112 3.2, RFC 3986 2), and the first two
 * would end the request line early. */
static int valid_target(const char *t)
{
    if (t == NULL || *t == '\0') {
        return 0;
    }
    for (; *t != '\0'; t++) {
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* The request line goes out as it will be read: a token method (RFC 9110
 * 9.1) and a target of visible ASCII. httpd lets other bytes through with
 * "HttpProtocolOptions Unsafe", and a rewrite hook may set anything. */
static apr_status_t check_request_line(rp_exchange_t *ex)
{
    if (!rp_headers_valid_name(ex->out.method)) {
        ex->error_detail = "method is not a token";
        return RP_EBAD_REQUEST;
    }
    if (!valid_target(ex->out.target)) {
        ex->error_detail = "invalid byte in the request target";
        return RP_EBAD_REQUEST;
    }
    return APR_SUCCESS;
}

/* Framing is set after the rewrite hook so that no hook can make the
 * backend read the body differently from how it is sent. */
static apr_status_t frame_request(rp_exchange_t *ex)
{
    apr_table_t *h = ex->out.headers;
    const char *te = NULL, *bad;

    /* The front hands over the body decoded of its chunked framing only:
     * with another coding ("gzip, chunked", which httpd lets through) the
     * body would reach the backend with that coding dropped. RFC 9112 6.1
     * suggests 501; a 400 like every request this proxy will not forward. */
    if (ex->body_length < 0) {
        te = apr_table_getm(ex->pool, ex->in_headers, "Transfer-Encoding");
    }
    if (te != NULL && !only_chunked(te)) {
        ex->error_detail = apr_psprintf(
            ex->pool, "transfer coding other than chunked (\"%s\")", te);
        return RP_EBAD_REQUEST;
    }
    apr_table_unset(h, "Content-Length");
    apr_table_unset(h, "Transfer-Encoding");
    ex->out.body_length = ex->body_length;
    if (ex->body_length > 0 ||
        (ex->body_length == 0 &&
         apr_table_get(ex->in_headers, "Content-Length"))) {
        apr_table_setn(h, "Content-Length",
                       apr_off_t_toa(ex->pool, ex->body_length));
    }
    else if (ex->body_length < 0) {
        apr_table_setn(h, "Transfer-Encoding", "chunked");
        /* Trailer is hop-by-hop, the trailers are not: announce again */
        if (apr_table_get(ex->in_headers, "Trailer")) {
            apr_table_setn(h, "Trailer",
                           apr_table_get(ex->in_headers, "Trailer"));
        }
    }
    if (rp_headers_validate(h, &bad) != APR_SUCCESS) {
        ex->error_detail =
            apr_psprintf(ex->pool, "invalid header field \"%s\"", bad);
        return RP_EBAD_REQUEST;
    }
    return check_request_line(ex);
}

/* Request trailers (RFC 9110 6.5): what the client sent after its chunked
 * body goes on in the last chunk, minus what the trailer policy refuses. */
static void take_request_trailers(rp_exchange_t *ex)
{
    apr_table_t *t = ex->front.ops->request_trailers(ex->front.ctx);
    int dropped = 0;

    ex->out.trailers = rp_headers_forwardable_trailers(
        ex->pool, t, apr_table_get(ex->in_headers, "Connection"), &dropped);
    if (dropped) {
        logf_(ex, RP_LOG_DEBUG, 0,
              RPLOGNO(00140) "%d request trailer field(s) of %s %s not "
                             "forwarded (hop-by-hop, not allowed in a "
                             "trailer, or invalid)",
              dropped, ex->method, ex->path);
    }
}

static apr_status_t body_source(void *baton, apr_bucket_brigade *bb, int *eos)
{
    rp_exchange_t *ex = baton;
    apr_status_t rv;

    ex->body_pulled = 1; /* no other member may be tried after this */
    rv = ex->front.ops->read_body(ex->front.ctx, bb, eos);

    if (rv == APR_SUCCESS && *eos && ex->out.body_length < 0 &&
        ex->front.ops->request_trailers) {
        take_request_trailers(ex);
    }
    return rv;
}

/* RProxyVia: this proxy joins Via on a response the backend sent in
 * HTTP/1.minor (RFC 9110 7.6.3: forwarded messages, 1xx included). */
static void add_response_via(rp_exchange_t *ex, apr_table_t *headers, int minor)
{
    if (rp_conf_via(ex->conf) && ex->fwd.via_name) {
        rp_headers_add_via(ex->pool, headers, 1000 + minor, ex->fwd.via_name);
    }
}

/* 103 Early Hints go on to the client; other 1xx stop here. */
static void on_interim(void *baton, int status, apr_table_t *headers)
{
    rp_exchange_t *ex = baton;

    if (status != 103 || ex->front.ops->send_interim == NULL) {
        logf_(ex, RP_LOG_DEBUG, 0, "dropping interim %d from backend %s",
              status, backend_name(ex));
        return;
    }
    rp_headers_strip_hop(headers, 0);
    add_response_via(ex, headers, 1); /* HTTP/1.0 has no 1xx */
    ex->front.ops->send_interim(ex->front.ctx, status, headers);
}

/* ---- the response ----------------------------------------------------- */

static int is_event_stream(apr_table_t *h)
{
    const char *ct = apr_table_get(h, "Content-Type");

    return ct && !strncasecmp(ct, "text/event-stream", 17) &&
           (ct[17] == '\0' || ct[17] == ';' || apr_isspace(ct[17]));
}

/* The backend's own URLs (Location, Content-Location, Refresh) and the
 * cookies' Domain and Path back into the front's URL space. Runs before
 * the modify-response hook, so that hooks see what the client will see,
 * and for every status alike (3xx, 201, ...). The Host the backend got is
 * a name of the backend too: with RProxyPreserveHost it is the client's,
 * and the backend's URLs for it still need their path mapped. */
static void rewrite_to_front(rp_exchange_t *ex)
{
    rp_rewrite_map_t m;

    memset(&m, 0, sizeof(m));
    m.target = ex->target;
    m.backend_host =
        ex->out.headers ? apr_table_get(ex->out.headers, "Host") : NULL;
    m.front_scheme = ex->fwd.proto ? ex->fwd.proto : "http";
    m.front_host = ex->fwd.host;
    m.front_prefix = ex->prefix;
    m.aliases = rp_conf_pass_reverse(ex->conf);
    rp_rewrite_response(ex->pool, ex->resp->headers,
                        rp_conf_rewrite_location(ex->conf) ? &m : NULL,
                        rp_conf_cookie_domains(ex->conf),
                        rp_conf_cookie_paths(ex->conf));
}

/* ---- balancers ---------------------------------------------------------

   A route whose target is a balancer picks a member before the request is
   built (the Host field names the member), counts it in flight until the
   exchange ends, and reports how it went (rp_lb_done: EWMA, passive
   health).

   Failover: a request moves to another member at most once
   (RP_LB_MAX_ATTEMPTS members in all), and only when the first member
   cannot have acted on it and the client's body was not read yet:
     - nothing was sent: the connect was refused or timed out, the address
       was unroutable, the name did not resolve, TLS failed, or every
       connection slot stayed busy (RP_EPOOL_FULL);
     - the connection broke before any response byte and the method is
       idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
   Each attempt is one rp_transport_round_trip(), which itself retries a
   refused connect RProxyConnectRetries times and a stale pooled
   connection once; so a request is sent at most 2 x 2 times. */

#define RP_LB_MAX_ATTEMPTS 2

static int idempotent(const char *m)
{
    static const char *const safe[] = {"GET",   "HEAD", "OPTIONS",
                                       "TRACE", "PUT",  "DELETE"};
    apr_size_t i;

    for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
        if (!strcmp(m, safe[i])) {
            return 1;
        }
    }
    return 0;
}

/* Choose a member not tried yet and make it the exchange's target. */
static apr_status_t lb_choose(rp_exchange_t *ex)
{
    rp_balancer_t *b = ex->balancer;
    rp_lb_member_t *m;
    const char *key = NULL;
    apr_size_t klen = 0;
    rp_url_t *u;
    int i, stuck = 0;

    if (b->method == RP_LB_HASH) {
        key = rp_lb_request_key(b, ex->pool, ex->fwd.client_ip, ex->in_headers,
                                ex->path, &klen);
    }
    i = rp_lb_pick(b, key, klen, ex->sticky_id, ex->tried, &stuck);
    if (i < 0) {
        ex->error_detail =
            apr_psprintf(ex->pool, "balancer %s: no usable member (%d tried)",
                         b->name, ex->attempts);
        ex->fault = RP_FAULT_DESTINATION_UNAVAILABLE;
        return RP_ENO_MEMBER;
    }
    m = &b->members[i];
    u = apr_pmemdup(ex->pool, m->origin, sizeof(*u));
    u->path = ex->route_target->path;
    u->query = ex->route_target->query;
    ex->target = u;
    ex->tls = m->tls;
    ex->backend_slot = &m->backend;
    ex->member = i;
    ex->tried |= (apr_uint64_t)1 << i;
    ex->attempts++;
    ex->stuck = stuck;
    ex->lb_outcome = RP_LB_NEUTRAL;
    ex->lb_active = 1;
    rp_lb_start(b, i);
    return APR_SUCCESS;
}

static apr_status_t lb_begin(rp_exchange_t *ex)
{
    rp_balancer_t *b = ex->balancer;

    ex->route_target = ex->target;
    if (b->sticky) {
        ex->sticky_id = rp_lb_cookie(ex->pool, ex->in_headers, b->sticky);
    }
    return lb_choose(ex);
}

/* The member's request is over: report the outcome once. */
static void lb_finish(rp_exchange_t *ex)
{
    rp_balancer_t *b = ex->balancer;
    rp_lb_member_t *m;

    if (!b || !ex->lb_active) {
        return;
    }
    ex->lb_active = 0;
    m = &b->members[ex->member];
    if (rp_lb_done(b, ex->member, ex->lb_outcome, ex->lb_head)) {
        logf_(ex, RP_LOG_WARNING, 0,
              RPLOGNO(00190) "balancer %s: member %s ejected after %d "
                             "failures in a row (ejection %u in a row)",
              b->name, m->url, b->params.eject_after,
              apr_atomic_read32(&m->st->ejections));
    }
}

/* How a failed round trip reflects on the member. */
static rp_lb_outcome_t failure_outcome(apr_status_t rv)
{
    switch (rv) {
    case RP_EBACKEND_UNREACHABLE:
    case RP_EBACKEND_TIMEOUT:
    case RP_EBAD_RESPONSE:
    case RP_ETLS:
        return RP_LB_FAILED;
    default:
        return RP_LB_NEUTRAL; /* the client's doing, or our limits */
    }
}

static int lb_may_move(const rp_exchange_t *ex, apr_status_t rv)
{
    if (ex->attempts >= RP_LB_MAX_ATTEMPTS || ex->body_pulled) {
        return 0;
    }
    if (rv == RP_ETLS || rv == RP_EPOOL_FULL) {
        return 1;
    }
    if (rv != RP_EBACKEND_UNREACHABLE) {
        return 0;
    }
    switch (ex->fault) {
    case RP_FAULT_CONNECTION_REFUSED:
    case RP_FAULT_CONNECTION_TIMEOUT:
    case RP_FAULT_DESTINATION_IP_UNROUTABLE:
    case RP_FAULT_DNS_ERROR:
    case RP_FAULT_DNS_TIMEOUT:
        return 1;
    default:
        return idempotent(ex->method);
    }
}

/* The request moved from the origin old to ex->target: Host follows when
 * it named old (not a preserved client Host, nor one a hook set). */
static void host_follows(rp_exchange_t *ex, const char *old)
{
    const char *host = apr_table_get(ex->out.headers, "Host");

    if (host && !strcasecmp(host, old)) {
        apr_table_setn(ex->out.headers, "Host", ex->target->hostport);
    }
}

/* After a failed round trip: report it, and move the request to another
 * member when the failover rule allows. Returns 1 when it moved. */
static int lb_move(rp_exchange_t *ex, apr_status_t rv)
{
    const char *old = ex->target->hostport;
    const char *detail = ex->error_detail;
    rp_fault_t fault = ex->fault;
    int may = lb_may_move(ex, rv);

    ex->lb_outcome = failure_outcome(rv);
    lb_finish(ex);
    if (!may || lb_choose(ex) != APR_SUCCESS) {
        ex->error_detail = detail; /* the member's failure is the news */
        ex->fault = fault;
        return 0;
    }
    logf_(ex, RP_LOG_INFO, 0,
          RPLOGNO(00191) "balancer %s: %s %s failed on %s (%s); moved to %s",
          ex->balancer->name, ex->method, ex->out.target, old,
          detail ? detail : rp_fault_str(fault), ex->target->hostport);
    host_follows(ex, old);
    ex->error_detail = NULL;
    ex->fault = RP_FAULT_NONE;
    ex->backend_addr = NULL;
    return 1;
}

void rp_proxy_set_origin(rp_exchange_t *ex, const rp_url_t *origin,
                         rp_tls_ctx_t *tls)
{
    rp_url_t *u = apr_pmemdup(ex->pool, origin, sizeof(*u));
    const char *old = ex->target->hostport;

    u->path = ex->target->path; /* for mapping its URLs back to the front */
    u->query = ex->target->query;
    ex->target = u;
    host_follows(ex, old);
    ex->tls = tls;
    ex->backend_slot = NULL;
    if (ex->lb_active) {
        ex->lb_outcome = RP_LB_NEUTRAL;
        lb_finish(ex);
    }
}

/* The member's response head came. */
static void lb_answered(rp_exchange_t *ex, apr_time_t started)
{
    if (!ex->lb_active) {
        return;
    }
    ex->lb_head = apr_time_now() - started;
    ex->lb_outcome = rp_lb_status_fails(ex->balancer, ex->resp->status)
                         ? RP_LB_FAILED
                         : RP_LB_OK;
}

/* With RProxyStickyCookie, responses name the member unless the client's
 * cookie already does. The id is opaque: a hash of the member's URL. */
static void lb_set_sticky(rp_exchange_t *ex)
{
    const rp_balancer_t *b = ex->balancer;
    const char *id, *path;

    if (!b || !b->sticky || !ex->lb_active) {
        return;
    }
    id = b->members[ex->member].id;
    if (ex->sticky_id && !strcmp(ex->sticky_id, id)) {
        return;
    }
    path = ex->prefix && *ex->prefix ? ex->prefix : "/";
    apr_table_addn(ex->resp->headers, "Set-Cookie",
                   apr_psprintf(ex->pool, "%s=%s; Path=%s; HttpOnly%s",
                                b->sticky, id, path,
                                ex->fwd.proto && !strcmp(ex->fwd.proto, "https")
                                    ? "; Secure"
                                    : ""));
}

static int keep_field(void *baton, const char *key, const char *val)
{
    rp_exchange_t *ex = baton;

    apr_table_addn(ex->override_fields, apr_pstrdup(ex->pool, key),
                   apr_pstrdup(ex->pool, val));
    return 1;
}

/* RProxyErrorOverride: the backend's error answer is not forwarded; its
 * body is read and dropped (the connection is kept when the rest is short
 * and quick, as when a client leaves) and the host answers with its error
 * page for the status. The fields that page still needs are kept: the
 * challenge of a 401 (a client could not authenticate without it), the
 * methods of a 405, when to come back after a 429 or 503. */
static apr_status_t override_error(rp_exchange_t *ex)
{
    rp_response_t *resp = ex->resp;

    ex->override_fields = apr_table_make(ex->pool, 2);
    apr_table_do(keep_field, ex, resp->headers, "WWW-Authenticate", "Allow",
                 "Retry-After", NULL);
    ex->status = resp->status;
    ex->overridden = 1;
    rp_response_discard(resp, RP_DISCARD_MAX, RP_DISCARD_WAIT);
    rp_response_close(resp);
    return APR_SUCCESS;
}

static apr_status_t send_head(rp_exchange_t *ex)
{
    rp_response_t *resp = ex->resp;
    const char *announced = apr_table_get(resp->headers, "Trailer");
    apr_status_t rv;

    /* Trailer is hop-by-hop, but the trailers themselves are forwarded:
     * announce them again when the body keeps a chunked framing and the
     * client side can deliver them. */
    rp_headers_strip_hop(resp->headers, 0);
    add_response_via(ex, resp->headers, resp->minor_version);
    if (announced && resp->framing.kind == RP_H1_BODY_CHUNKED &&
        (!ex->front.ops->trailers_ok ||
         ex->front.ops->trailers_ok(ex->front.ctx))) {
        apr_table_setn(resp->headers, "Trailer", announced);
    }
    rewrite_to_front(ex);
    lb_set_sticky(ex);
    if (ex->hooks && ex->hooks->modify_response) {
        rv = ex->hooks->modify_response(ex, ex->hooks->baton);
        if (rv != APR_SUCCESS) {
            rp_response_close(resp);
            ex->error_detail = "modify_response failed";
            return fail(ex, RP_EHOOK);
        }
    }
    if (rp_conf_error_override(ex->conf, resp->status)) {
        return override_error(ex);
    }
    ex->status = resp->status;
    rv = ex->front.ops->send_head(ex->front.ctx, resp->status, resp->reason,
                                  resp->headers);
    if (rv != APR_SUCCESS) {
        return client_left(ex);
    }
    ex->head_sent = 1;
    return APR_SUCCESS;
}

/* Longest a read of a large Content-Length body waits for 128 KiB to be
 * there before it takes what came (rp_response_t.gather). A backend that
 * sends nothing for this long is read as it arrives from then on. */
#define RP_GATHER_WAIT apr_time_from_msec(20)

/* Flush state of copy_body(). */
typedef struct flusher_t {
    int always;              /* flush after every write */
    apr_interval_time_t max; /* > 0: longest a byte may wait unflushed */
    int pending;             /* unflushed data was passed on */
    apr_time_t flush_at;     /* when pending data must be flushed */
} flusher_t;

static void flusher_init(flusher_t *f, rp_exchange_t *ex)
{
    apr_interval_time_t fi = rp_conf_flush_interval(ex->conf);

    memset(f, 0, sizeof(*f));
    /* Unknown length (chunked, until close) and event streams flush at
     * once: a client waiting on them cannot know more is coming. */
    f->always = fi < 0 || ex->resp->framing.kind != RP_H1_BODY_LENGTH ||
                is_event_stream(ex->resp->headers);
    f->max = fi > 0 ? fi : 0;
    /* "Buffer as httpd likes" (0): a large body may wait a little in the
     * backend socket so that it is read and passed on in larger parts. */
    if (!f->always && fi == 0) {
        ex->resp->gather = RP_GATHER_WAIT;
    }
}

/* How long to wait for the backend before something has to happen: the
 * idle deadline, or the flush deadline when that comes first. */
static apr_interval_time_t next_wait(const flusher_t *f, apr_time_t io_dl)
{
    apr_time_t now = apr_time_now();
    apr_time_t dl = io_dl;

    if (f->pending && f->flush_at < dl) {
        dl = f->flush_at;
    }
    return dl > now ? dl - now : 0;
}

/* The fault of a body that broke: a malformed one (chunk framing,
 * trailers), one that stalled, or one cut short. */
static rp_fault_t body_fault_of(apr_status_t rv)
{
    if (rv == RP_EBAD_RESPONSE) {
        return RP_FAULT_HTTP_PROTOCOL_ERROR;
    }
    return rv == APR_TIMEUP ? RP_FAULT_HTTP_RESPONSE_TIMEOUT
                            : RP_FAULT_HTTP_RESPONSE_INCOMPLETE;
}

/* The backend failed after the head was handed to the front: the client
 * must not take what it got for a complete response. The fault and its
 * text are kept on the exchange: a host whose head has not reached the
 * client yet answers an error instead, and can say why. */
static apr_status_t broke(rp_exchange_t *ex, apr_status_t rv)
{
    char buf[120];
    const char *why = rv == APR_TIMEUP  ? "idle timeout"
                      : ex->resp->error ? ex->resp->error
                                        : rp_strerror(rv, buf, sizeof(buf));

    ex->error = RP_EBACKEND_BROKE;
    if (ex->fault == RP_FAULT_NONE) {
        ex->fault = body_fault_of(rv);
    }
    ex->error_detail = apr_psprintf(
        ex->pool, "response body broken after %" APR_OFF_T_FMT " bytes: %s",
        ex->body_bytes, why);
    logf_(ex, RP_LOG_ERR, rv, RPLOGNO(00106) "backend %s: %s", backend_name(ex),
          ex->error_detail);
    rp_response_close(ex->resp);
    ex->front.ops->abort(ex->front.ctx);
    return RP_EBACKEND_BROKE;
}

/* Pass bb on; flush when the policy says so. */
static apr_status_t pass_on(rp_exchange_t *ex, flusher_t *f,
                            apr_bucket_brigade *bb, int timed_out)
{
    apr_time_t now = apr_time_now();
    apr_off_t len = 0;
    int flush;

    apr_brigade_length(bb, 0, &len);
    ex->body_bytes += len;
    if (len > 0 && f->max > 0 && !f->pending) {
        f->pending = 1;
        f->flush_at = now + f->max;
    }
    flush = f->always || (f->pending && (timed_out || now >= f->flush_at));
    if (flush) {
        f->pending = 0;
    }
    if (APR_BRIGADE_EMPTY(bb) && !flush) {
        return APR_SUCCESS;
    }
    return ex->front.ops->send_body(ex->front.ctx, bb, flush);
}

/* The idle deadline from now, capped by the response deadline (0: none). */
static apr_time_t idle_deadline(apr_interval_time_t io, apr_time_t end_dl)
{
    apr_time_t dl = apr_time_now() + io;

    return end_dl && end_dl < dl ? end_dl : dl;
}

/* The response's time limit passed (rv APR_TIMEUP at end_dl): say so. */
static apr_status_t past_deadline(rp_exchange_t *ex, apr_time_t end_dl,
                                  apr_status_t rv)
{
    if (rv == APR_TIMEUP && end_dl && apr_time_now() >= end_dl) {
        ex->resp->error = "the response took longer than "
                          "RProxyResponseTimeout";
        ex->fault = RP_FAULT_HTTP_RESPONSE_TIMEOUT;
        rv = APR_EGENERAL;
    }
    return rv;
}

/* Least body still to come for direct writes: below it, the pipe and the
 * direct socket cost more calls than they save copies. */
#define RP_DIRECT_MIN (64 * 1024)

/* The rest of the body straight from the backend's socket to the client's
 * (rp_response_splice()), when the front allows it. APR_ENOTIMPL: it does
 * not, or no pipe could be made; nothing was read, copy_body() goes on. */
static apr_status_t copy_direct(rp_exchange_t *ex, apr_interval_time_t io,
                                apr_time_t end_dl)
{
    const rp_front_ops_t *ops = ex->front.ops;
    apr_time_t io_dl = idle_deadline(io, end_dl), now;
    apr_interval_time_t out_timeout;
    apr_socket_t *out;
    apr_size_t moved;
    apr_off_t first = ex->body_bytes;
    apr_status_t rv;
    int eos = 0;

    rv = ops->direct_socket(ex->front.ctx, &out, &out_timeout);
    if (rv == RP_ECLIENT_GONE) {
        return client_left(ex);
    }
    if (rv != APR_SUCCESS) {
        return APR_ENOTIMPL;
    }
    while (!eos) {
        now = apr_time_now();
        rv = rp_response_splice(ex->resp, out, io_dl > now ? io_dl - now : 0,
                                out_timeout, &moved, &eos);
        if (moved) {
            ex->body_bytes += (apr_off_t)moved;
            ops->direct_sent(ex->front.ctx, (apr_off_t)moved, 0);
        }
        if (rv == APR_ENOTIMPL) {
            return rv;
        }
        if (rv == RP_ECLIENT_GONE) {
            ops->direct_sent(ex->front.ctx, 0, 1);
            return client_left(ex);
        }
        if (rv == APR_TIMEUP && apr_time_now() < io_dl) {
            continue;
        }
        rv = past_deadline(ex, end_dl, rv);
        if (rv != APR_SUCCESS) {
            return broke(ex, rv);
        }
        io_dl = idle_deadline(io, end_dl);
    }
    logf_(ex, RP_LOG_DEBUG, 0,
          RPLOGNO(00193) "backend %s: body of %s %s spliced to the client "
                         "after its first %" APR_OFF_T_FMT " bytes",
          backend_name(ex), ex->method, ex->path, first);
    return APR_SUCCESS;
}

/* Body bytes until the end; the last part is left in bb for finish(), so
 * that it goes down the output filters together with the end of the
 * response (one pass instead of two). After the first part, the rest may
 * go straight to the client's socket (copy_direct()). */
static apr_status_t copy_body(rp_exchange_t *ex, apr_time_t started,
                              apr_bucket_brigade *bb)
{
    apr_interval_time_t io = rp_conf_io_timeout(ex->conf);
    apr_interval_time_t total = rp_conf_response_timeout(ex->conf);
    apr_time_t end_dl = total > 0 ? started + total : 0;
    apr_time_t io_dl = idle_deadline(io, end_dl);
    apr_off_t len = 0;
    apr_status_t rv;
    flusher_t f;
    int eos = 0;
    int direct = ex->front.ops->direct_socket && rp_conf_splice(ex->conf) &&
                 ex->resp->framing.kind == RP_H1_BODY_LENGTH;

    flusher_init(&f, ex);
    for (;;) {
        rv = rp_response_read(ex->resp, bb, next_wait(&f, io_dl), &eos);
        if (rv == APR_TIMEUP && apr_time_now() < io_dl) {
            rv = pass_on(ex, &f, bb, 1); /* the flush deadline came */
            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(bb);
                return client_left(ex);
            }
            continue;
        }
        rv = past_deadline(ex, end_dl, rv);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return broke(ex, rv);
        }
        if (eos && !ex->resp->trailers) {
            apr_brigade_length(bb, 0, &len);
            ex->body_bytes += len;
            return APR_SUCCESS;
        }
        if (eos) {
            /* Data and EOS in one brigade make httpd compute a
             * Content-Length, and a response with one ends without the
             * trailers (mod_http2 ends the stream with the data). */
            if (pass_on(ex, &f, bb, 0) != APR_SUCCESS) {
                return client_left(ex); /* the body is complete */
            }
            return APR_SUCCESS;
        }
        io_dl = idle_deadline(io, end_dl);
        if (pass_on(ex, &f, bb, 0) != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return client_left(ex);
        }
        if (direct && rp_response_can_splice(ex->resp, RP_DIRECT_MIN)) {
            direct = 0; /* one try per response */
            rv = copy_direct(ex, io, end_dl);
            if (rv != APR_ENOTIMPL) {
                return rv;
            }
        }
    }
}

/* The backend's trailers pass the same policy as the client's (the
 * response's Connection field is gone by now; its tokens were hop-by-hop
 * names of the head). */
static apr_table_t *response_trailers(rp_exchange_t *ex)
{
    return rp_headers_forwardable_trailers(ex->pool, ex->resp->trailers, NULL,
                                           NULL);
}

/* ---- the exchange ----------------------------------------------------- */

static void backend_opts(const rp_conf_t *c, rp_backend_opts_t *bo)
{
    memset(bo, 0, sizeof(*bo));
    bo->idle_timeout = rp_conf_idle_timeout(c);
    bo->max_idle = (apr_size_t)rp_conf_max_idle(c);
    bo->max_conns = (apr_size_t)rp_conf_max_conns(c);
    bo->queue_timeout = rp_conf_queue_timeout(c);
    bo->max_requests = (apr_uint32_t)rp_conf_max_requests(c);
    bo->max_age = rp_conf_max_age(c);
    bo->connect_retries = rp_conf_connect_retries(c);
    bo->dns_ttl = rp_conf_dns_ttl(c);
    bo->tls_timeout = rp_conf_tls_timeout(c);
    bo->proxy = rp_conf_upstream(c, &bo->proxy_auth);
}

static apr_status_t round_trip(rp_exchange_t *ex, apr_time_t *started)
{
    rp_backend_opts_t bo;
    rp_backend_t *be;
    rp_rt_opts_t opts;
    const char *why = NULL;
    apr_status_t rv;

    if (ex->target->tls && !ex->tls) {
        ex->error_detail = "no TLS context for an https:// target";
        ex->fault = RP_FAULT_PROXY_INTERNAL_ERROR;
        return RP_ETLS; /* never send plain text to a TLS port */
    }
    backend_opts(ex->conf, &bo);
    bo.tls = ex->tls;
    be = ex->backend_slot
             ? rp_transport_backend_cached(ex->transport, ex->target, &bo,
                                           ex->backend_slot)
             : rp_transport_backend(ex->transport, ex->target, &bo);
    memset(&opts, 0, sizeof(opts));
    opts.connect_timeout = rp_conf_connect_timeout(ex->conf);
    opts.header_timeout = rp_conf_header_timeout(ex->conf);
    opts.io_timeout = rp_conf_io_timeout(ex->conf);
    opts.expect_timeout = rp_conf_expect_timeout(ex->conf);
    opts.max_head = (apr_size_t)rp_conf_max_head_bytes(ex->conf);
    opts.interim_fn = on_interim;
    opts.interim_baton = ex;
    opts.peer = &ex->backend_addr; /* a failure's log line names it */
    ex->out.body_fn = body_source;
    ex->out.body_baton = ex;
    *started = apr_time_now();
    rv = rp_transport_round_trip(ex->transport, be, &ex->out, &opts, ex->pool,
                                 ex->ba, &ex->resp, &why, &ex->fault);
    if (rv != APR_SUCCESS) {
        ex->error_detail = why;
        ex->resp = NULL;
        return rv;
    }
    return APR_SUCCESS;
}

/* 101: the head goes to the client as an interim response with the
 * upgrade fields (hop-by-hop, so set again), then both byte streams are
 * relayed until one side ends. */
static apr_status_t switch_protocols(rp_exchange_t *ex, apr_time_t started)
{
    rp_response_t *resp = ex->resp;
    const char *up = apr_table_get(resp->headers, "Upgrade");
    apr_status_t rv;

    rp_headers_strip_hop(resp->headers, 0);
    add_response_via(ex, resp->headers, resp->minor_version);
    apr_table_setn(resp->headers, "Upgrade", up);
    apr_table_setn(resp->headers, "Connection", "Upgrade");
    ex->status = 101;
    rv = ex->front.ops->send_interim(ex->front.ctx, 101, resp->headers);
    ex->head_sent = 1;
    if (rv == APR_SUCCESS) {
        rv = rp_tunnel_run(ex, rp_conf_io_timeout(ex->conf));
    }
    ex->backend_time = apr_time_now() - started;
    rp_response_close(resp);
    ex->front.ops->end_tunnel(ex->front.ctx);
    if (rv == RP_ECLIENT_GONE) {
        return client_gone(ex);
    }
    if (rv == RP_ESTOPPING) {
        /* expected at every restart: both sides see the connection close */
        logf_(
            ex, RP_LOG_DEBUG, 0,
            RPLOGNO(00180) "backend %s: %s tunnel closed after %" APR_OFF_T_FMT
                           " bytes: the server is stopping",
            backend_name(ex), ex->out.upgrade, ex->body_bytes);
        return APR_SUCCESS;
    }
    if (rv != APR_SUCCESS) {
        logf_(ex, RP_LOG_INFO, rv,
              RPLOGNO(00109) "backend %s: %s tunnel ended by an error after "
                             "%" APR_OFF_T_FMT " bytes",
              backend_name(ex), ex->out.upgrade, ex->body_bytes);
    }
    return APR_SUCCESS;
}

static apr_status_t run(rp_exchange_t *ex)
{
    apr_bucket_brigade *bb = NULL;
    apr_time_t started = 0;
    apr_status_t rv;

    rv = ex->balancer ? lb_begin(ex) : APR_SUCCESS;
    if (rv == APR_SUCCESS) {
        rv = build_request(ex);
    }
    if (rv == APR_SUCCESS && ex->hooks && ex->hooks->rewrite) {
        rv = ex->hooks->rewrite(ex, ex->hooks->baton);
        if (rv != APR_SUCCESS) {
            if (!ex->error_detail) {
                ex->error_detail = "rewrite hook failed";
            }
            rv = RP_EHOOK;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = frame_request(ex);
    }
    if (rv == APR_SUCCESS) {
        rv = round_trip(ex, &started);
        while (rv != APR_SUCCESS && ex->lb_active && lb_move(ex, rv)) {
            rv = round_trip(ex, &started);
        }
    }
    if (rv != APR_SUCCESS) {
        if (ex->lb_active) {
            ex->lb_outcome = failure_outcome(rv);
        }
        if (ex->backend_addr) { /* it failed on a connection: for the notes */
            ex->backend_time = apr_time_now() - started;
        }
        return fail(ex, rv);
    }
    lb_answered(ex, started);
    if (ex->resp->status == 101) {
        return switch_protocols(ex, started);
    }
    rv = send_head(ex);
    if (rv == APR_SUCCESS && ex->head_sent) {
        bb = apr_brigade_create(ex->pool, ex->ba);
        rv = copy_body(ex, started, bb);
    }
    ex->backend_time = apr_time_now() - started;
    if (rv != APR_SUCCESS || !ex->head_sent) {
        return rv;
    }
    rp_response_close(ex->resp);
    rv = ex->front.ops->finish(ex->front.ctx, bb, response_trailers(ex));
    return rv == APR_SUCCESS ? APR_SUCCESS : client_gone(ex);
}

apr_status_t rp_proxy_run(rp_exchange_t *ex)
{
    apr_status_t rv = run(ex);

    lb_finish(ex); /* the member's in-flight count ends with the exchange */
    return rv;
}
