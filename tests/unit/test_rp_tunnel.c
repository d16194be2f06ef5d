/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_tunnel.c: unit tests of core/rp_tunnel.c, driven through
 * rp_proxy_run() (a 101 starts the tunnel) with an in-memory front against
 * the scripted backend of rp_test_backend.h.
 *
 * The front (tun_front_t) plays the client side of a tunnel: client_read
 * hands out parts the host "holds" above its socket (as httpd's input
 * filters do with bytes read past what was asked for), then EAGAIN, EOF or
 * an error; client_write records what reached the client. The client
 * socket it returns for polling is a connected loopback socket nobody ever
 * writes to: only what the front holds can make the tunnel read.
 *
 * Each test gets its own APR pool, transport and backend; tun_close()
 * destroys the pool, stops the backend and checks that the process holds
 * as many descriptors as before. */

#include <signal.h>
#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_file_io.h>
#include "rp_proxy.h"
#include "rp_test.h"
#include "rp_test_backend.h"

#define MS(n) apr_time_from_msec(n)
#define PART (64 * 1024) /* one client_read: what httpd's front asks for */

#define SWITCH                                                                 \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"               \
    "Connection: Upgrade\r\n\r\n"

static char part_bytes[PART];

typedef struct tun_front_t {
    apr_socket_t *quiet; /* owned by the test pool: never readable */
    int parts;           /* PART-sized reads the host holds */
    int given;
    apr_status_t after;  /* once the parts are out: EAGAIN, EOF, ... */
    char got[4096];      /* the start of what reached the client */
    apr_size_t got_len;  /* all bytes that reached the client */
    int ninterim, nends; /* 101s sent, end_tunnel calls */
    int interim_status;
} tun_front_t;

static apr_status_t tf_send_interim(void *ctx, int status, apr_table_t *h)
{
    tun_front_t *f = ctx;

    (void)h;
    f->ninterim++;
    f->interim_status = status;
    return APR_SUCCESS;
}

static apr_socket_t *tf_client_socket(void *ctx)
{
    return ((tun_front_t *)ctx)->quiet;
}

static apr_status_t tf_client_read(void *ctx, apr_bucket_brigade *bb)
{
    tun_front_t *f = ctx;

    if (f->given < f->parts) {
        f->given++;
        APR_BRIGADE_INSERT_TAIL(
            bb, apr_bucket_immortal_create(part_bytes, PART, bb->bucket_alloc));
        return APR_SUCCESS;
    }
    return f->after;
}

static apr_status_t tf_client_write(void *ctx, apr_bucket_brigade *bb)
{
    tun_front_t *f = ctx;
    apr_off_t len = 0;
    apr_size_t n;

    apr_brigade_length(bb, 1, &len);
    if (f->got_len < sizeof(f->got)) {
        n = sizeof(f->got) - f->got_len;
        apr_brigade_flatten(bb, f->got + f->got_len, &n);
    }
    f->got_len += (apr_size_t)len;
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

static void tf_end_tunnel(void *ctx)
{
    ((tun_front_t *)ctx)->nends++;
}

static const rp_front_ops_t tun_front_ops = {
    .send_interim = tf_send_interim,
    .client_socket = tf_client_socket,
    .client_read = tf_client_read,
    .client_write = tf_client_write,
    .end_tunnel = tf_end_tunnel,
};

/* ---- fixture ----------------------------------------------------------- */

typedef struct tun_t {
    apr_pool_t *pool;
    rp_transport_t *t;
    tb_backend_t *tb;
    rp_url_t url;
    rp_conf_t conf;
    tun_front_t fr;
    rp_exchange_t ex;
    int fds;
} tun_t;

/* A connected loopback socket that nothing is ever written to. */
static apr_socket_t *quiet_socket(apr_pool_t *p)
{
    apr_socket_t *l, *c, *a;
    apr_sockaddr_t *sa;

    if (apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, p) ||
        apr_socket_create(&l, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p) ||
        apr_socket_bind(l, sa) || apr_socket_listen(l, 1) ||
        apr_socket_addr_get(&sa, APR_LOCAL, l) ||
        apr_socket_create(&c, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p) ||
        apr_socket_connect(c, sa) || apr_socket_accept(&a, l, p)) {
        fprintf(stderr, "quiet_socket: setup failed\n");
        exit(2);
    }
    return c;
}

/* A websocket upgrade from the front to a backend playing script. */
static void tun_open(tun_t *tn, const tb_step_t *script)
{
    const tb_step_t *scripts[1] = {script};
    rp_exchange_t *ex = &tn->ex;
    const char *why = NULL;

    memset(tn, 0, sizeof(*tn));
    tn->fds = tb_count_fds();
    tn->tb = tb_start(scripts, 1);
    apr_pool_create(&tn->pool, NULL);
    if (rp_transport_create(tn->pool, 8, &tn->t) != APR_SUCCESS ||
        rp_url_parse(
            tn->pool,
            apr_psprintf(tn->pool, "http://127.0.0.1:%d", tn->tb->port),
            &tn->url, &why) != APR_SUCCESS) {
        fprintf(stderr, "tun_open: setup failed: %s\n", why ? why : "");
        exit(2);
    }
    rp_conf_init(&tn->conf);
    tn->conf.connect_timeout = MS(1000);
    tn->conf.header_timeout = MS(1000);
    tn->conf.io_timeout = MS(300); /* the tunnel's idle limit */
    tn->fr.quiet = quiet_socket(tn->pool);
    tn->fr.after = APR_EAGAIN;
    ex->pool = tn->pool;
    ex->ba = apr_bucket_alloc_create(tn->pool);
    ex->front.ops = &tun_front_ops;
    ex->front.ctx = &tn->fr;
    ex->conf = &tn->conf;
    ex->target = &tn->url;
    ex->transport = tn->t;
    ex->method = "GET";
    ex->path = "/chat";
    ex->in_headers = apr_table_make(tn->pool, 4);
    apr_table_setn(ex->in_headers, "Host", "front.example");
    apr_table_setn(ex->in_headers, "Connection", "Upgrade");
    apr_table_setn(ex->in_headers, "Upgrade", "websocket");
    ex->fwd.client_ip = "192.0.2.7";
    ex->fwd.host = "front.example";
    ex->fwd.proto = "http";
}

static void tun_close(tun_t *tn)
{
    apr_pool_destroy(tn->pool);
    tb_stop(tn->tb);
    RP_EXPECT_INT(tb_count_fds(), tn->fds);
}

/* ---- tests ------------------------------------------------------------- */

static const tb_step_t switch_then_listen[] = {
    {.read = TB_READ_HEAD, .send = SWITCH}, TB_END};

/* More parts than one turn's read quota, all held above a socket that
 * never becomes readable: every byte must still reach the backend before
 * the tunnel waits (it used to wait for the idle timeout with the rest). */
static void test_bytes_held_past_the_read_quota_reach_backend(void)
{
    tun_t tn;
    apr_status_t rv;

    tun_open(&tn, switch_then_listen);
    tn.fr.parts = 40; /* 2.5 MiB: more than two turns' quota */
    rv = rp_proxy_run(&tn.ex);
    RP_EXPECT_INT(rv, APR_SUCCESS); /* ended by the idle limit */
    RP_EXPECT_INT(tn.fr.ninterim, 1);
    RP_EXPECT_INT(tn.fr.interim_status, 101);
    RP_EXPECT_INT(tn.fr.given, 40);
    RP_EXPECT(tb_wait_peer_closed(tn.tb, 0, 3000));
    RP_EXPECT_INT(tb_unexpected(tn.tb, 0), 40L * PART);
    RP_EXPECT_INT(tn.fr.nends, 1);
    tun_close(&tn);
}

static const tb_step_t switch_say_close[] = {{.read = TB_READ_HEAD,
                                              .send = SWITCH,
                                              .send2 = "last words",
                                              .then = TB_CLOSE},
                                             TB_END};

/* The backend's close ends the tunnel after its last bytes reached the
 * client, well before the idle limit. */
static void test_backend_close_ends_tunnel_after_its_bytes(void)
{
    tun_t tn;
    apr_time_t t0;
    apr_status_t rv;

    tun_open(&tn, switch_say_close);
    tn.conf.io_timeout = MS(5000);
    t0 = apr_time_now();
    rv = rp_proxy_run(&tn.ex);
    RP_EXPECT_INT(rv, APR_SUCCESS);
    RP_EXPECT(apr_time_now() - t0 < MS(4000));
    RP_EXPECT_INT(tn.fr.got_len, 10);
    RP_EXPECT(memcmp(tn.fr.got, "last words", 10) == 0);
    RP_EXPECT_INT(tn.fr.nends, 1);
    RP_EXPECT_INT(tn.ex.body_bytes, 10);
    tun_close(&tn);
}

/* A client read failing (reset) ends the tunnel as a client abort and
 * closes the backend connection at once. */
static void test_client_reset_is_client_gone_and_closes_backend(void)
{
    tun_t tn;
    apr_status_t rv;

    tun_open(&tn, switch_then_listen);
    tn.conf.io_timeout = MS(5000);
    tn.fr.parts = 1;
    tn.fr.after = APR_ECONNRESET;
    rv = rp_proxy_run(&tn.ex);
    RP_EXPECT_INT(rv, RP_ECLIENT_GONE);
    RP_EXPECT(tb_wait_peer_closed(tn.tb, 0, 1000));
    RP_EXPECT_INT(tb_unexpected(tn.tb, 0), PART);
    RP_EXPECT_INT(tn.fr.nends, 1);
    tun_close(&tn);
}

/* ---- a front whose input is a pipe (HTTP/2 stream) ---------------------- */

typedef struct pipe_front_t {
    tun_front_t base; /* first: the other ops see a tun_front_t */
    apr_file_t *in, *out;
} pipe_front_t;

static apr_status_t pf_client_pollfd(void *ctx, apr_pollfd_t *pfd)
{
    pfd->desc_type = APR_POLL_FILE;
    pfd->desc.f = ((pipe_front_t *)ctx)->in;
    return APR_SUCCESS;
}

static apr_status_t pf_client_read(void *ctx, apr_bucket_brigade *bb)
{
    pipe_front_t *f = ctx;
    char buf[256];
    apr_size_t n = sizeof(buf);
    apr_status_t rv = apr_file_read(f->in, buf, &n);

    if (rv == APR_SUCCESS && n > 0) {
        apr_brigade_write(bb, NULL, NULL, buf, n);
        return APR_SUCCESS;
    }
    return APR_STATUS_IS_EOF(rv) ? APR_EOF : APR_EAGAIN;
}

static const rp_front_ops_t pipe_front_ops = {
    .send_interim = tf_send_interim,
    .client_socket = tf_client_socket, /* the quiet socket: never used */
    .client_pollfd = pf_client_pollfd,
    .client_read = pf_client_read,
    .client_write = tf_client_write,
    .end_tunnel = tf_end_tunnel,
};

static void *APR_THREAD_FUNC late_writer(apr_thread_t *thd, void *data)
{
    pipe_front_t *f = data;
    apr_size_t n = 5;

    (void)thd;
    apr_sleep(MS(200));
    apr_file_write(f->out, "hello", &n);
    apr_file_close(f->out);
    return NULL;
}

/* Bytes that come on the front's pipe after the tunnel began to wait wake
 * it at once (the pipe is polled, not the quiet socket), and the pipe's
 * end is the client's end: passed on as a half-close, after which the
 * backend closes and the tunnel ends. */
static void test_front_pollfd_pipe_wakes_the_tunnel(void)
{
    pipe_front_t pf;
    apr_thread_t *thd;
    apr_status_t rv, trv;
    apr_time_t t0;
    tun_t tn;

    tun_open(&tn, switch_then_listen);
    tn.conf.io_timeout = MS(5000);
    memset(&pf, 0, sizeof(pf));
    pf.base = tn.fr;
    /* the read end does not block, as an h2 stream's pipe is read */
    RP_EXPECT_INT(
        apr_file_pipe_create_ex(&pf.in, &pf.out, APR_WRITE_BLOCK, tn.pool),
        APR_SUCCESS);
    tn.ex.front.ops = &pipe_front_ops;
    tn.ex.front.ctx = &pf;
    RP_EXPECT_INT(apr_thread_create(&thd, NULL, late_writer, &pf, tn.pool),
                  APR_SUCCESS);
    t0 = apr_time_now();
    rv = rp_proxy_run(&tn.ex);
    apr_thread_join(&trv, thd);
    RP_EXPECT_INT(rv, APR_SUCCESS);
    RP_EXPECT(apr_time_now() - t0 < MS(3000));
    RP_EXPECT_INT(tb_unexpected(tn.tb, 0), 5);
    RP_EXPECT_INT(pf.base.nends, 1);
    apr_file_close(pf.in);
    tun_close(&tn);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as httpd does: a closed peer is EPIPE */
    apr_initialize();
    memset(part_bytes, 'p', sizeof(part_bytes));
    TB_RUN(test_bytes_held_past_the_read_quota_reach_backend);
    TB_RUN(test_backend_close_ends_tunnel_after_its_bytes);
    TB_RUN(test_client_reset_is_client_gone_and_closes_backend);
    TB_RUN(test_front_pollfd_pipe_wakes_the_tunnel);
    apr_terminate();
    return rp_test_done();
}
