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
    rp_headers_forward(p, h, &ex->fwd, &fwd);
    ex->out.headers = h;
    return APR_SUCCESS;
}

/* Framing is set after the rewrite hook so that no hook can make the
 * backend read the body differently from how it is sent. */
static apr_status_t frame_request(rp_exchange_t *ex)
{
    apr_table_t *h = ex->out.headers;
    const char *bad;

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
    }
    if (rp_headers_validate(h, &bad) != APR_SUCCESS) {
        ex->error_detail =
            apr_psprintf(ex->pool, "invalid header field \"%s\"", bad);
        return RP_EBAD_REQUEST;
    }
    return APR_SUCCESS;
}

static apr_status_t body_source(void *baton, apr_bucket_brigade *bb, int *eos)
{
    rp_exchange_t *ex = baton;

    return ex->front.ops->read_body(ex->front.ctx, bb, eos);
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
    rp_rewrite_response(ex->pool, ex->resp->headers,
                        rp_conf_rewrite_location(ex->conf) ? &m : NULL,
                        rp_conf_cookie_domains(ex->conf),
                        rp_conf_cookie_paths(ex->conf));
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
    if (rp_conf_via(ex->conf) && ex->fwd.via_name) {
        rp_headers_add_via(ex->pool, resp->headers, 1000 + resp->minor_version,
                           ex->fwd.via_name);
    }
    if (announced && resp->framing.kind == RP_H1_BODY_CHUNKED &&
        (!ex->front.ops->trailers_ok ||
         ex->front.ops->trailers_ok(ex->front.ctx))) {
        apr_table_setn(resp->headers, "Trailer", announced);
    }
    rewrite_to_front(ex);
    if (ex->hooks && ex->hooks->modify_response) {
        rv = ex->hooks->modify_response(ex, ex->hooks->baton);
        if (rv != APR_SUCCESS) {
            rp_response_close(resp);
            ex->error_detail = "modify_response failed";
            return fail(ex, RP_EHOOK);
        }
    }
    ex->status = resp->status;
    rv = ex->front.ops->send_head(ex->front.ctx, resp->status, resp->reason,
                                  resp->headers);
    if (rv != APR_SUCCESS) {
        rp_response_close(resp);
        return client_gone(ex);
    }
    ex->head_sent = 1;
    return APR_SUCCESS;
}

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

/* The backend failed after the head went out: the client must not take
 * what it got for a complete response. */
static apr_status_t broke(rp_exchange_t *ex, apr_status_t rv)
{
    char buf[120];

    ex->error = RP_EBACKEND_BROKE;
    logf_(
        ex, RP_LOG_ERR, rv,
        RPLOGNO(00106) "backend %s: response body broken after %" APR_OFF_T_FMT
                       " bytes: %s",
        backend_name(ex), ex->body_bytes,
        rv == APR_TIMEUP  ? "idle timeout"
        : ex->resp->error ? ex->resp->error
                          : rp_strerror(rv, buf, sizeof(buf)));
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

/* Body bytes until the end; the last part is left in bb for finish(), so
 * that it goes down the output filters together with the end of the
 * response (one pass instead of two). */
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

    flusher_init(&f, ex);
    for (;;) {
        rv = rp_response_read(ex->resp, bb, next_wait(&f, io_dl), &eos);
        if (rv == APR_TIMEUP && apr_time_now() < io_dl) {
            rv = pass_on(ex, &f, bb, 1); /* the flush deadline came */
            if (rv != APR_SUCCESS) {
                rp_response_close(ex->resp);
                return client_gone(ex);
            }
            continue;
        }
        if (rv == APR_TIMEUP && end_dl && apr_time_now() >= end_dl) {
            ex->resp->error = "the response took longer than "
                              "RProxyResponseTimeout";
            rv = APR_EGENERAL;
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return broke(ex, rv);
        }
        if (eos) {
            apr_brigade_length(bb, 0, &len);
            ex->body_bytes += len;
            return APR_SUCCESS;
        }
        io_dl = idle_deadline(io, end_dl);
        if (pass_on(ex, &f, bb, 0) != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            rp_response_close(ex->resp);
            return client_gone(ex);
        }
    }
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
    opts.interim_fn = on_interim;
    opts.interim_baton = ex;
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
    ex->backend_addr = ex->resp->backend_addr;
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

apr_status_t rp_proxy_run(rp_exchange_t *ex)
{
    apr_bucket_brigade *bb = NULL;
    apr_time_t started = 0;
    apr_status_t rv;

    rv = build_request(ex);
    if (rv == APR_SUCCESS && ex->hooks && ex->hooks->rewrite) {
        rv = ex->hooks->rewrite(ex, ex->hooks->baton);
        if (rv != APR_SUCCESS) {
            ex->error_detail = "rewrite hook failed";
            rv = RP_EHOOK;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = frame_request(ex);
    }
    if (rv == APR_SUCCESS) {
        rv = round_trip(ex, &started);
    }
    if (rv != APR_SUCCESS) {
        return fail(ex, rv);
    }
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
    rv = ex->front.ops->finish(ex->front.ctx, bb, ex->resp->trailers);
    return rv == APR_SUCCESS ? APR_SUCCESS : client_gone(ex);
}
