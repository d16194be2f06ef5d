/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_tunnel_stop.c: the tunnel after a 101, with a front whose client side
 * is a real loopback socket pair (the tunnel polls it) and a scripted
 * backend: bytes cross both ways, and a tunnel ends when the host says that
 * it is stopping (an httpd restart or stop) instead of holding its thread
 * until the idle timeout. */

#include <signal.h>
#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_buckets.h>
#include "rp_proxy.h"
#include "rp_tunnel.h"
#include "rp_test.h"
#include "rp_test_backend.h"

#define MS(n) apr_time_from_msec(n)
#define SWITCH                                                                 \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"               \
    "Connection: Upgrade\r\n\r\n"

/* The front: `peer` is the test's end of the client connection, `sock` the
 * proxy's. stop_at: from then on the host says it is stopping (0: never). */
typedef struct sock_front_t {
    apr_pool_t *pool;
    apr_socket_t *sock, *peer;
    apr_time_t stop_at;
    int nstopping; /* stopping() calls */
    int interim;   /* the 1xx sent */
    int ended;     /* end_tunnel() calls */
    int nlogs;
    int log_level[8];
    char log_msg[8][512];
} sock_front_t;

static apr_status_t sf_read_body(void *ctx, apr_bucket_brigade *bb, int *eos)
{
    (void)ctx;
    (void)bb;
    *eos = 1;
    return APR_SUCCESS;
}

static apr_status_t sf_send_interim(void *ctx, int status, apr_table_t *h)
{
    sock_front_t *f = ctx;

    (void)h;
    f->interim = status;
    return APR_SUCCESS;
}

static apr_socket_t *sf_client_socket(void *ctx)
{
    return ((sock_front_t *)ctx)->sock;
}

static apr_status_t sf_client_read(void *ctx, apr_bucket_brigade *bb)
{
    sock_front_t *f = ctx;
    char buf[4096];
    apr_size_t n = sizeof(buf);
    apr_status_t rv;

    apr_socket_timeout_set(f->sock, 0);
    rv = apr_socket_recv(f->sock, buf, &n);
    if (n > 0) {
        apr_brigade_write(bb, NULL, NULL, buf, n);
        return APR_SUCCESS;
    }
    return APR_STATUS_IS_EAGAIN(rv) ? APR_EAGAIN : APR_EOF;
}

static apr_status_t sf_client_write(void *ctx, apr_bucket_brigade *bb)
{
    sock_front_t *f = ctx;
    char buf[4096];
    apr_size_t n = sizeof(buf);
    apr_status_t rv;

    apr_brigade_flatten(bb, buf, &n);
    apr_brigade_cleanup(bb);
    apr_socket_timeout_set(f->sock, MS(1000));
    rv = apr_socket_send(f->sock, buf, &n);
    return rv;
}

static void sf_end_tunnel(void *ctx)
{
    sock_front_t *f = ctx;

    f->ended++;
    apr_socket_close(f->sock);
}

static void sf_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    sock_front_t *f = ctx;

    (void)rv;
    if (f->nlogs < 8) {
        f->log_level[f->nlogs] = level;
        apr_cpystrn(f->log_msg[f->nlogs], msg, sizeof(f->log_msg[0]));
    }
    f->nlogs++;
}

static int sf_stopping(void *ctx)
{
    sock_front_t *f = ctx;

    f->nstopping++;
    return f->stop_at && apr_time_now() >= f->stop_at;
}

static const rp_front_ops_t sock_front_ops = {
    .read_body = sf_read_body,
    .send_interim = sf_send_interim,
    .client_socket = sf_client_socket,
    .client_read = sf_client_read,
    .client_write = sf_client_write,
    .end_tunnel = sf_end_tunnel,
    .log = sf_log,
    .stopping = sf_stopping,
};

/* A connected pair of loopback sockets: *a is accepted, *b connected. */
static void socket_pair(apr_pool_t *p, apr_socket_t **a, apr_socket_t **b)
{
    apr_sockaddr_t *sa;
    apr_socket_t *l;

    if (apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p) ||
        apr_socket_create(&l, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p) ||
        apr_socket_bind(l, sa) || apr_socket_listen(l, 1) ||
        apr_socket_addr_get(&sa, APR_LOCAL, l) ||
        apr_socket_create(b, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p) ||
        apr_socket_connect(*b, sa) || apr_socket_accept(a, l, p)) {
        tb_die("socket_pair");
    }
    apr_socket_close(l);
    apr_socket_timeout_set(*b, MS(3000));
}

typedef struct tun_t {
    apr_pool_t *pool;
    rp_transport_t *t;
    tb_backend_t *tb;
    rp_url_t url;
    rp_conf_t conf;
    sock_front_t *fr;
    rp_exchange_t *ex;
    int fds;
} tun_t;

/* An upgrade request for websocket to a backend playing script. */
static void tun_open(tun_t *tu, const tb_step_t *script)
{
    rp_exchange_t *ex;
    const char *why = NULL;

    memset(tu, 0, sizeof(*tu));
    tu->fds = tb_count_fds();
    tu->tb = tb_start1(script);
    apr_pool_create(&tu->pool, NULL);
    if (rp_transport_create(tu->pool, 8, &tu->t) != APR_SUCCESS ||
        rp_url_parse(
            tu->pool,
            apr_psprintf(tu->pool, "http://127.0.0.1:%d", tu->tb->port),
            &tu->url, &why) != APR_SUCCESS) {
        tb_die("tun_open");
    }
    rp_conf_init(&tu->conf);
    tu->conf.connect_timeout = MS(1000);
    tu->conf.header_timeout = MS(1000);
    tu->conf.io_timeout = MS(20000); /* idle: far longer than the tests */
    tu->fr = apr_pcalloc(tu->pool, sizeof(*tu->fr));
    tu->fr->pool = tu->pool;
    socket_pair(tu->pool, &tu->fr->sock, &tu->fr->peer);
    tu->ex = ex = apr_pcalloc(tu->pool, sizeof(*ex));
    ex->pool = tu->pool;
    ex->ba = apr_bucket_alloc_create(tu->pool);
    ex->front.ops = &sock_front_ops;
    ex->front.ctx = tu->fr;
    ex->conf = &tu->conf;
    ex->target = &tu->url;
    ex->transport = tu->t;
    ex->method = "GET";
    ex->path = "/chat";
    ex->in_headers = apr_table_make(tu->pool, 8);
    apr_table_setn(ex->in_headers, "Host", "front.example");
    apr_table_setn(ex->in_headers, "Connection", "Upgrade");
    apr_table_setn(ex->in_headers, "Upgrade", "websocket");
    ex->fwd.client_ip = "192.0.2.7";
    ex->fwd.host = "front.example";
    ex->fwd.proto = "http";
}

static void tun_close(tun_t *tu)
{
    apr_pool_destroy(tu->pool);
    tb_stop(tu->tb);
    RP_EXPECT_INT(tb_count_fds(), tu->fds);
}

static int has_log(const sock_front_t *f, int level, const char *text)
{
    int i;

    for (i = 0; i < f->nlogs && i < 8; i++) {
        if (f->log_level[i] == level && strstr(f->log_msg[i], text)) {
            return 1;
        }
    }
    return 0;
}

static void test_tunnel_relays_both_ways_until_backend_closes(void)
{
    /* the backend answers 101, sends "hi" and closes after 200 ms */
    static const tb_step_t s[] = {{.read = TB_READ_HEAD,
                                   .send = SWITCH "hi",
                                   .pause_ms = 200,
                                   .then = TB_CLOSE},
                                  TB_END};
    char buf[8];
    apr_size_t n = sizeof(buf);
    apr_status_t rv;
    tun_t tu;

    tun_open(&tu, s);
    rv = rp_proxy_run(tu.ex);
    RP_EXPECT_INT(rv, APR_SUCCESS);
    RP_EXPECT_INT(tu.fr->interim, 101);
    RP_EXPECT_INT(tu.fr->ended, 1);
    RP_EXPECT(apr_socket_recv(tu.fr->peer, buf, &n) == APR_SUCCESS && n == 2 &&
              !memcmp(buf, "hi", 2));
    RP_EXPECT(!has_log(tu.fr, RP_LOG_DEBUG, "RP00180"));
    tun_close(&tu);
}

static void test_tunnel_ends_when_host_stops(void)
{
    /* the backend answers 101 and then waits for the proxy to close */
    static const tb_step_t s[] = {{.read = TB_READ_HEAD, .send = SWITCH},
                                  TB_END};
    char buf[8];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;
    apr_status_t rv;
    tun_t tu;

    tun_open(&tu, s);
    t0 = apr_time_now();
    tu.fr->stop_at = t0 + MS(300);
    rv = rp_proxy_run(tu.ex);
    RP_EXPECT_INT(rv, APR_SUCCESS);
    RP_EXPECT_INT(tu.fr->interim, 101);
    /* within a slice of the stop, far before the 20 s idle timeout */
    RP_EXPECT(apr_time_now() - t0 < MS(300) + RP_TUNNEL_STOP_CHECK + MS(2000));
    RP_EXPECT(tu.fr->nstopping >= 2);
    RP_EXPECT_INT(tu.fr->ended, 1);
    RP_EXPECT(has_log(tu.fr, RP_LOG_DEBUG, "RP00180"));
    RP_EXPECT(has_log(tu.fr, RP_LOG_DEBUG, "server is stopping"));
    RP_EXPECT(tb_wait_peer_closed(tu.tb, 0, 3000));
    /* the client's end sees the close */
    RP_EXPECT(apr_socket_recv(tu.fr->peer, buf, &n) == APR_EOF);
    tun_close(&tu);
}

static void test_tunnel_without_stopping_op_keeps_relaying(void)
{
    /* no stopping op (a host that cannot tell): the backend's close ends it */
    static const tb_step_t s[] = {{.read = TB_READ_HEAD,
                                   .send = SWITCH,
                                   .pause_ms = 1500,
                                   .send2 = "late",
                                   .then = TB_CLOSE},
                                  TB_END};
    static rp_front_ops_t ops;
    char buf[8];
    apr_size_t n = sizeof(buf);
    tun_t tu;

    ops = sock_front_ops;
    ops.stopping = NULL;
    tun_open(&tu, s);
    tu.ex->front.ops = &ops;
    RP_EXPECT_INT(rp_proxy_run(tu.ex), APR_SUCCESS);
    RP_EXPECT(apr_socket_recv(tu.fr->peer, buf, &n) == APR_SUCCESS && n == 4 &&
              !memcmp(buf, "late", 4));
    RP_EXPECT_INT(tu.fr->nstopping, 0);
    tun_close(&tu);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    apr_initialize();
    TB_RUN(test_tunnel_relays_both_ways_until_backend_closes);
    TB_RUN(test_tunnel_ends_when_host_stops);
    TB_RUN(test_tunnel_without_stopping_op_keeps_relaying);
    apr_terminate();
    return rp_test_done();
}
