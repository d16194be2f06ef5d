/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* front.c: the core's front implemented on httpd: the client body comes
 * through r->input_filters, the response goes down r->output_filters, so
 * every filter (mod_ssl, mod_deflate, mod_headers) sees it as usual. */

#include "httpd.h"
#include "http_protocol.h"
#include "http_log.h"
#include "http_request.h"
#include "util_filter.h"
#include "http_core.h"
#include "http_connection.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "mod_rproxy.h"

APLOG_USE_MODULE(rproxy);

#define RPX_READ_MAX (64 * 1024)

/* httpd's HTTP_IN filter turns the end of the connection inside a body
 * (Content-Length or chunked) into APR_INCOMPLETE: the client went away, it
 * did not send a malformed body. */
static int client_left(request_rec *r, apr_status_t rv)
{
    return r->connection->aborted || APR_STATUS_IS_ECONNABORTED(rv) ||
           APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_EOF(rv) ||
           APR_STATUS_IS_INCOMPLETE(rv) || APR_STATUS_IS_TIMEUP(rv);
}

/* Moves data buckets to bb; EOS ends the body. */
static apr_status_t front_read_body(void *ctx, apr_bucket_brigade *bb, int *eos)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;
    apr_status_t rv;
    apr_bucket *b;

    if (!f->bb) {
        f->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    }
    rv = ap_get_brigade(r->input_filters, f->bb, AP_MODE_READBYTES,
                        APR_BLOCK_READ, RPX_READ_MAX);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(f->bb);
        if (rv == AP_FILTER_ERROR && !r->connection->aborted) {
            /* HTTP_IN refused the body (bad chunked framing) and has sent
             * its error response itself. (LimitRequestBody it leaves to
             * us for proxied requests: see body_limit.) */
            f->answered = 1;
            return RP_EBAD_REQUEST;
        }
        return client_left(r, rv) ? RP_ECLIENT_GONE : RP_EBAD_REQUEST;
    }
    while ((b = APR_BRIGADE_FIRST(f->bb)) != APR_BRIGADE_SENTINEL(f->bb)) {
        APR_BUCKET_REMOVE(b);
        if (APR_BUCKET_IS_EOS(b)) {
            *eos = 1;
            apr_bucket_destroy(b);
        }
        else if (APR_BUCKET_IS_METADATA(b)) {
            apr_bucket_destroy(b);
        }
        else {
            f->body_read += b->length;
            APR_BRIGADE_INSERT_TAIL(bb, b);
        }
    }
    if (f->body_limit > 0 && f->body_read > f->body_limit) {
        f->too_large = 1; /* a chunked body: the handler answers 413 */
        return RP_EBAD_REQUEST;
    }
    return APR_SUCCESS;
}

static int copy_out(void *rec, const char *key, const char *value)
{
    apr_table_addn(rec, key, value);
    return 1;
}

/* httpd sends 1xx from r->status and r->headers_out; both are restored. */
static apr_status_t front_send_interim(void *ctx, int status,
                                       apr_table_t *headers)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;
    int saved_status = r->status;
    const char *saved_line = r->status_line;
    apr_table_t *saved_headers = r->headers_out;

    r->status = status;
    r->status_line = NULL;
    r->headers_out = headers;
    ap_send_interim_response(r, 1);
    r->status = saved_status;
    r->status_line = saved_line;
    r->headers_out = saved_headers;
    return r->connection->aborted ? RP_ECLIENT_GONE : APR_SUCCESS;
}

/* The head becomes r's. A reason phrase other than the standard one is
 * kept through status_line; the fields are handed over as a table when
 * nothing is in r->headers_out yet (the usual case), and Content-Length,
 * already a field, only sets r->clength. */
static apr_status_t front_send_head(void *ctx, int status, const char *reason,
                                    apr_table_t *headers)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;
    const char *ct, *cl, *std;
    apr_off_t len;
    char *end;

    r->status = status;
    if (reason && *reason) {
        /* "200 OK"; for an unknown code, another code's line */
        std = ap_get_status_line(status);
        if (std[0] - '0' != status / 100 ||
            std[1] - '0' != (status / 10) % 10 || std[2] - '0' != status % 10 ||
            strcmp(std + 4, reason) != 0) {
            r->status_line = apr_psprintf(r->pool, "%d %s", status, reason);
        }
    }
    if (apr_is_empty_table(r->headers_out)) {
        r->headers_out = headers;
    }
    else {
        apr_table_do(copy_out, r->headers_out, headers, NULL);
    }
    ct = apr_table_get(headers, "Content-Type");
    if (ct) {
        ap_set_content_type(r, ct);
    }
    cl = apr_table_get(headers, "Content-Length");
    if (cl && apr_strtoff(&len, cl, &end, 10) == APR_SUCCESS && !*end) {
        r->clength = len;
    }
    return APR_SUCCESS;
}

static apr_status_t pass(rpx_front_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    apr_status_t rv = ap_pass_brigade(r->output_filters, bb);

    apr_brigade_cleanup(bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        return RP_ECLIENT_GONE;
    }
    return APR_SUCCESS;
}

static apr_status_t front_send_body(void *ctx, apr_bucket_brigade *bb,
                                    int flush)
{
    rpx_front_t *f = ctx;

    if (flush) {
        APR_BRIGADE_INSERT_TAIL(
            bb, apr_bucket_flush_create(f->r->connection->bucket_alloc));
    }
    return pass(f, bb);
}

static apr_status_t front_finish(void *ctx, apr_bucket_brigade *bb,
                                 apr_table_t *trailers)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;

    if (trailers) {
        apr_table_do(copy_out, r->trailers_out, trailers, NULL);
    }
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    f->ended = 1;
    return pass(f, bb);
}

/* An error bucket with 502 tells httpd's HTTP filters the body is broken:
 * the chunked encoder leaves out the last chunk and the connection is
 * closed after this response, so a short body never looks complete.
 * Before the first body byte the head has not gone out either (the header
 * filter sets sent_bodyct): then the backend's head is forgotten and the
 * handler answers 502 like any failure before the head, with Proxy-Status
 * and ErrorDocument. (An error bucket there would make httpd answer a bare
 * 502 whose field tables it clears.) */
static void front_abort(void *ctx)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;

    if (!r->sent_bodyct) {
        r->status_line = NULL;
        r->headers_out = apr_table_make(r->pool, 4);
        f->replaced = 1;
        return;
    }
    c->keepalive = AP_CONN_CLOSE;
    r->no_cache = 1;
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb,
                            ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                   r->pool, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    f->ended = 1;
    pass(f, bb);
}

/* A tunnel reads the connection below the request: no HTTP framing, and no
 * request-reading timeouts from mod_reqtimeout (an idle WebSocket is not a
 * slow request). */
static apr_socket_t *front_client_socket(void *ctx)
{
    rpx_front_t *f = ctx;
    conn_rec *c = f->r->connection;

    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    return ap_get_conn_socket(c);
}

/* On an HTTP/2 stream (mod_http2's H2WebSockets), the stream's input is a
 * pipe httpd gives through ap_get_pollfd_from_conn() (httpd 2.4.58); on a
 * plain connection the same call gives the socket. */
static apr_status_t front_client_pollfd(void *ctx, apr_pollfd_t *pfd)
{
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 129)
    rpx_front_t *f = ctx;
    conn_rec *c = f->r->connection;

    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    return ap_get_pollfd_from_conn(c, pfd, NULL);
#else
    (void)ctx;
    (void)pfd;
    return APR_ENOTIMPL;
#endif
}

static apr_status_t front_client_read(void *ctx, apr_bucket_brigade *bb)
{
    rpx_front_t *f = ctx;
    conn_rec *c = f->r->connection;
    apr_status_t rv;
    apr_bucket *b;
    int eof = 0;

    rv = ap_get_brigade(c->input_filters, bb, AP_MODE_READBYTES,
                        APR_NONBLOCK_READ, RPX_READ_MAX);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(bb);
        return APR_STATUS_IS_EAGAIN(rv) ? APR_EAGAIN
               : APR_STATUS_IS_EOF(rv)  ? APR_EOF
                                        : rv;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);) {
        apr_bucket *next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_EOS(b) && c->master && !f->h2_eos_seen) {
            /* mod_http2 ends the upgrade request with an EOS, then the
             * stream's DATA follow: the tunnel's bytes */
            f->h2_eos_seen = 1;
        }
        else if (APR_BUCKET_IS_EOS(b)) {
            eof = 1;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            apr_bucket_delete(b);
        }
        b = next;
    }
    if (APR_BRIGADE_EMPTY(bb)) {
        return eof ? APR_EOF : APR_EAGAIN;
    }
    return APR_SUCCESS;
}

static apr_status_t front_client_write(void *ctx, apr_bucket_brigade *bb)
{
    rpx_front_t *f = ctx;
    conn_rec *c = f->r->connection;
    apr_status_t rv;

    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = ap_pass_brigade(c->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv == APR_SUCCESS && !c->aborted ? APR_SUCCESS : RP_ECLIENT_GONE;
}

/* The connection carried another protocol: httpd must not write an HTTP
 * ending to it, nor read another request from it. An end-of-connection
 * bucket goes down first, while the connection is not marked aborted: on
 * https it makes mod_ssl send its close_notify, so the client sees a clean
 * TLS close rather than a truncation (aborted connections get none). */
static void front_end_tunnel(void *ctx)
{
    rpx_front_t *f = ctx;
    conn_rec *c = f->r->connection;
    apr_bucket_brigade *bb;

    if (!c->aborted) {
        bb = apr_brigade_create(f->r->pool, c->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
        APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_eoc_create(c->bucket_alloc));
        ap_pass_brigade(c->output_filters, bb);
        apr_brigade_destroy(bb);
    }
    c->keepalive = AP_CONN_CLOSE;
    c->aborted = 1;
    f->ended = 1;
}

/* httpd 2.4's HTTP/1.1 chunk filter writes no trailer section, so only
 * HTTP/2 clients (mod_http2 sends r->trailers_out) can get trailers; to
 * others the proxy must not announce what will not come. */
static int front_trailers_ok(void *ctx)
{
    rpx_front_t *f = ctx;

    return f->r->proto_num >= HTTP_VERSION(2, 0);
}

/* httpd's HTTP_IN filter keeps the trailer section of a chunked request
 * body in r->trailers_in once it has read the last chunk, before it passes
 * the EOS (MergeTrailers only decides whether headers_in gets them too). */
static apr_table_t *front_request_trailers(void *ctx)
{
    rpx_front_t *f = ctx;
    return f->r->trailers_in;
}

static void front_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    rpx_front_t *f = ctx;

    ap_log_rerror(APLOG_MARK, level, rv, f->r, "%s", msg);
}

/* ---- direct writes (rp_response_splice()) ---------------------------- */

/* mod_logio's count of bytes written, fed by the core output filter for
 * what goes through it; direct writes feed it themselves. */
static APR_OPTIONAL_FN_TYPE(ap_logio_add_bytes_out) * logio_add_bytes_out;

void rpx_front_post_config(void)
{
    logio_add_bytes_out = APR_RETRIEVE_OPTIONAL_FN(ap_logio_add_bytes_out);
}

/* Output filters that pass a Content-Length body on unchanged: httpd's
 * own for HTTP/1.x and the core's write to the socket. (BYTERANGE cuts a
 * body only when the first brigade holds all of it; it removed itself
 * when the first part passed.) Any other (mod_ssl, mod_deflate,
 * mod_substitute, a module's own) sees the body as usual. */
static int direct_ok(request_rec *r)
{
    static const char *const plain[] = {"byterange",   "content_length",
                                        "http_header", "http_outerror",
                                        "core",        NULL};
    ap_filter_t *flt;
    int i;

    if (r->connection->master || r->header_only ||
        !ap_get_conn_socket(r->connection)) {
        return 0;
    }
    for (flt = r->output_filters; flt; flt = flt->next) {
        for (i = 0; plain[i] && strcmp(flt->frec->name, plain[i]) != 0; i++) {
        }
        if (!plain[i]) {
            return 0;
        }
    }
    return 1;
}

static apr_status_t front_direct_socket(void *ctx, apr_socket_t **sock,
                                        apr_interval_time_t *timeout)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;
    apr_status_t rv;

    if (!direct_ok(r)) {
        return APR_ENOTIMPL;
    }
    /* what went down the filters so far (the head, the first part) must
     * be on the socket before the rest is written beside them */
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = pass(f, bb);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *sock = ap_get_conn_socket(c);
    *timeout = r->server->timeout;
    return APR_SUCCESS;
}

/* The content-length filter counts r->bytes_sent (%B) as the body passes
 * it; direct bytes are added the same way. */
static void front_direct_sent(void *ctx, apr_off_t bytes, int failed)
{
    rpx_front_t *f = ctx;
    request_rec *r = f->r;

    r->bytes_sent += bytes;
    if (bytes && logio_add_bytes_out) {
        logio_add_bytes_out(r->connection, bytes);
    }
    if (failed) {
        r->connection->aborted = 1;
        r->connection->keepalive = AP_CONN_CLOSE;
    }
}

/* The MPM sets AP_MPMQ_STOPPING in a child at a restart or stop, graceful
 * or not: its tunnels end, so that the process can exit. */
static int front_stopping(void *ctx)
{
    int state = AP_MPMQ_RUNNING;

    (void)ctx;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
           state == AP_MPMQ_STOPPING;
}

const rp_front_ops_t rpx_front_ops = {
    .read_body = front_read_body,
    .send_interim = front_send_interim,
    .send_head = front_send_head,
    .send_body = front_send_body,
    .finish = front_finish,
    .abort = front_abort,
    .client_socket = front_client_socket,
    .client_pollfd = front_client_pollfd,
    .client_read = front_client_read,
    .client_write = front_client_write,
    .end_tunnel = front_end_tunnel,
    .trailers_ok = front_trailers_ok,
    .log = front_log,
    .request_trailers = front_request_trailers,
    .stopping = front_stopping,
    .direct_socket = front_direct_socket,
    .direct_sent = front_direct_sent,
};
