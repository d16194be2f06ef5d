/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_tunnel.c: the relay after a protocol switch.
 *
 *   client ──client_read──► bb ──rp_response_write_raw──► backend
 *   client ◄─client_write── bb ◄──rp_response_read_raw─── backend
 *
 * Each turn drains both directions without waiting (so bytes that TLS
 * layers hold decrypted are never left behind a poll), then polls both
 * sockets for the idle time. A direction that stops at its read quota may
 * have more bytes held above its socket (httpd's input filters keep what
 * they read past the 64 KB asked for): the next turn then starts without
 * polling. Writes block within their I/O timeouts, so a slow reader slows
 * its writer down instead of filling memory.
 *
 * A tunnel has no end of its own: when the host stops (an httpd restart or
 * stop), a tunnel left open would hold its worker thread, and with it the
 * process and the restart, until the host kills the process. So the poll
 * is cut into slices of RP_TUNNEL_STOP_CHECK, and the tunnel ends when the
 * front says that the host is stopping. */

#include <string.h>
#include <apr_poll.h>
#include "rp_tunnel.h"

#define RP_TUNNEL_READS 16 /* reads per direction per turn: fairness */

typedef struct tunnel_t {
    rp_exchange_t *ex;
    apr_bucket_brigade *bb;
    unsigned client_eof:1;  /* the client closed; passed on as half-close */
    unsigned backend_eof:1; /* the backend closed: the tunnel ends */
    unsigned more:1;        /* a pump stopped at its quota: do not poll */
} tunnel_t;

/* Client to backend. */
static apr_status_t pump_up(tunnel_t *tn)
{
    rp_exchange_t *ex = tn->ex;
    apr_status_t rv;
    int i;

    for (i = 0; i < RP_TUNNEL_READS; i++) {
        rv = ex->front.ops->client_read(ex->front.ctx, tn->bb);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv == APR_EOF) {
            tn->client_eof = 1;
            rp_response_shutdown_write(ex->resp);
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(tn->bb);
            return RP_ECLIENT_GONE;
        }
        if (rp_response_write_raw(ex->resp, tn->bb) != APR_SUCCESS) {
            return RP_EBACKEND_BROKE;
        }
    }
    tn->more = 1;
    return APR_SUCCESS;
}

/* Backend to client. */
static apr_status_t pump_down(tunnel_t *tn)
{
    rp_exchange_t *ex = tn->ex;
    apr_off_t len;
    apr_status_t rv;
    int i;

    for (i = 0; i < RP_TUNNEL_READS; i++) {
        rv = rp_response_read_raw(ex->resp, tn->bb);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return APR_SUCCESS;
        }
        if (rv == APR_EOF) {
            tn->backend_eof = 1;
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(tn->bb);
            return RP_EBACKEND_BROKE;
        }
        apr_brigade_length(tn->bb, 0, &len);
        ex->body_bytes += len;
        if (ex->front.ops->client_write(ex->front.ctx, tn->bb) != APR_SUCCESS) {
            apr_brigade_cleanup(tn->bb);
            return RP_ECLIENT_GONE;
        }
    }
    tn->more = 1;
    return APR_SUCCESS;
}

/* What to poll for the client's input: the front's descriptor when it
 * has one (an HTTP/2 stream's pipe), else its socket. */
static void client_pollfd(rp_exchange_t *ex, apr_pollfd_t *pfd)
{
    const rp_front_ops_t *ops = ex->front.ops;

    memset(pfd, 0, sizeof(*pfd));
    if (!ops->client_pollfd ||
        ops->client_pollfd(ex->front.ctx, pfd) != APR_SUCCESS) {
        pfd->desc_type = APR_POLL_SOCKET;
        pfd->desc.s = ops->client_socket(ex->front.ctx);
    }
    pfd->p = ex->pool;
    pfd->reqevents = APR_POLLIN;
}

static apr_status_t add_socket(apr_pollset_t *ps, apr_pool_t *p,
                               apr_socket_t *s)
{
    apr_pollfd_t pfd;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = p;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = s;
    return apr_pollset_add(ps, &pfd);
}

static int host_stopping(const rp_exchange_t *ex)
{
    const rp_front_ops_t *ops = ex->front.ops;

    return ops->stopping && ops->stopping(ex->front.ctx);
}

/* Wait until either socket is readable (APR_SUCCESS; the idle deadline
 * moves on), the idle deadline passes (APR_TIMEUP) or the host stops
 * (RP_ESTOPPING). */
static apr_status_t wait_turn(rp_exchange_t *ex, apr_pollset_t *ps,
                              apr_interval_time_t idle, apr_time_t *idle_until)
{
    const apr_pollfd_t *ready;
    apr_interval_time_t left;
    apr_int32_t n;
    apr_status_t rv;

    for (;;) {
        if (host_stopping(ex)) {
            return RP_ESTOPPING;
        }
        left = *idle_until - apr_time_now();
        if (left <= 0) {
            return APR_TIMEUP;
        }
        if (ex->front.ops->stopping && left > RP_TUNNEL_STOP_CHECK) {
            left = RP_TUNNEL_STOP_CHECK;
        }
        rv = apr_pollset_poll(ps, left, &n, &ready);
        if (rv == APR_SUCCESS) {
            *idle_until = apr_time_now() + idle;
            return APR_SUCCESS;
        }
        if (!APR_STATUS_IS_EINTR(rv) && !APR_STATUS_IS_TIMEUP(rv)) {
            return rv;
        }
    }
}

apr_status_t rp_tunnel_run(rp_exchange_t *ex, apr_interval_time_t idle)
{
    apr_socket_t *bs = rp_response_socket(ex->resp);
    apr_pollfd_t cpfd;
    tunnel_t tn = {ex, apr_brigade_create(ex->pool, ex->ba), 0, 0, 0};
    apr_time_t idle_until = apr_time_now() + idle;
    apr_pollset_t *ps;
    apr_status_t rv;
    int polling_client = 1;

    client_pollfd(ex, &cpfd);
    rv = apr_pollset_create(&ps, 2, ex->pool, 0);
    if (rv == APR_SUCCESS && cpfd.desc_type == APR_NO_DESC) {
        tn.client_eof = 1; /* the front says its input is closed */
        polling_client = 0;
        rp_response_shutdown_write(ex->resp);
    }
    else if (rv == APR_SUCCESS) {
        rv = apr_pollset_add(ps, &cpfd);
    }
    if (rv == APR_SUCCESS) {
        rv = add_socket(ps, ex->pool, bs);
    }
    while (rv == APR_SUCCESS) {
        tn.more = 0;
        rv = tn.client_eof ? APR_SUCCESS : pump_up(&tn);
        if (rv == APR_SUCCESS) {
            rv = pump_down(&tn);
        }
        if (rv != APR_SUCCESS || tn.backend_eof) {
            break;
        }
        if (tn.client_eof && polling_client) {
            apr_pollset_remove(ps, &cpfd); /* EOF stays readable */
            polling_client = 0;
        }
        if (tn.more) {
            /* bytes moved: the idle time starts again */
            idle_until = apr_time_now() + idle;
            continue;
        }
        rv = wait_turn(ex, ps, idle, &idle_until);
    }
    apr_brigade_destroy(tn.bb);
    return APR_STATUS_IS_TIMEUP(rv) ? APR_SUCCESS : rv;
}
