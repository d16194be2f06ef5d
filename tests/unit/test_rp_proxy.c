/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_proxy.c: unit tests of core/rp_proxy.c: rp_proxy_run() with an
 * in-memory front against the scripted backend of rp_test_backend.h.
 *
 * The front (mem_front_t) records everything the core does to the client
 * side: interim responses, the head, each body write with its flush flag
 * and the time it came, finish with its trailers, abort calls and log lines
 * with their levels. It can also play a client that leaves.
 *
 * Each test gets its own APR pool, bucket allocator, transport and backend;
 * px_close() destroys the pool, stops the backend and checks that the
 * process holds as many descriptors as before. */

#include <signal.h>
#include <apr_general.h>
#include <apr_portable.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_buckets.h>
#include "rp_proxy.h"
#include "rp_addr.h"
#include "rp_test.h"
#include "rp_test_backend.h"

#define MS(n) apr_time_from_msec(n)
#define MAX_SENDS 64
#define MAX_LOGS 16

/* ---- the in-memory front ---------------------------------------------- */

typedef struct mem_front_t {
    apr_pool_t *pool; /* borrowed: the test's */
    /* The client's request body, one part per read_body call. */
    const char *const *in_parts;
    int in_nparts, in_next;
    apr_status_t in_fail; /* returned after the parts, when set */
    /* A client that leaves: that call (1-based) returns RP_ECLIENT_GONE. */
    int gone_at_send_body;
    int gone_at_head;
    /* What the core did. */
    int ninterim;
    int interim_status[4];
    apr_table_t *interim_headers[4];
    int nhead;
    int status;
    const char *reason;
    apr_table_t *headers;
    char *body; /* NUL-terminated copy of every byte sent */
    apr_size_t body_len;
    int nsend;              /* send_body calls */
    int nsend_data;         /* ... that carried data */
    int nsend_data_noflush; /* ... that carried data without a flush */
    int nflush;
    apr_size_t flush_pos[MAX_SENDS]; /* body_len at each flush */
    apr_time_t flush_time[MAX_SENDS];
    apr_time_t data_time[MAX_SENDS]; /* when each data write came */
    int nfinish;
    apr_table_t *trailers;
    apr_size_t body_len_at_finish;
    int naborts;
    /* Request trailers handed to the core, and when it asked for them. */
    apr_table_t *in_trailers;
    int ntrailer_calls;
    int trailers_asked_before_eos;
    int nlogs;
    int log_level[MAX_LOGS];
    char log_msg[MAX_LOGS][512];
    /* Direct writes: 1 offers a socket, 0 or 2 refuse (APR_ENOTIMPL);
     * direct_gone: its reader leaves at once. The client reads the
     * socket's other end (sink, dcap bytes at most). */
    int direct, direct_gone;
    int ndirect_calls;
    apr_size_t direct_at;   /* body_len when the direct socket was asked for */
    apr_off_t direct_bytes; /* as direct_sent() reported them */
    int direct_failed;
    tb_sink_t sink;
    apr_socket_t *dsock; /* over sink.fds[0], while open */
    apr_size_t dcap;
} mem_front_t;

static apr_status_t mf_read_body(void *ctx, apr_bucket_brigade *bb, int *eos)
{
    mem_front_t *f = ctx;
    const char *part;

    if (f->in_next >= f->in_nparts) {
        if (f->in_fail) {
            return f->in_fail;
        }
        *eos = 1;
        return APR_SUCCESS;
    }
    part = f->in_parts[f->in_next++];
    APR_BRIGADE_INSERT_TAIL(
        bb, apr_bucket_immortal_create(part, strlen(part), bb->bucket_alloc));
    *eos = f->in_next == f->in_nparts && !f->in_fail;
    return APR_SUCCESS;
}

static apr_status_t mf_send_interim(void *ctx, int status, apr_table_t *h)
{
    mem_front_t *f = ctx;

    if (f->ninterim < 4) {
        f->interim_status[f->ninterim] = status;
        f->interim_headers[f->ninterim] = apr_table_copy(f->pool, h);
    }
    f->ninterim++;
    return APR_SUCCESS;
}

static apr_status_t mf_send_head(void *ctx, int status, const char *reason,
                                 apr_table_t *headers)
{
    mem_front_t *f = ctx;

    if (++f->nhead == f->gone_at_head) {
        return RP_ECLIENT_GONE;
    }
    f->status = status;
    f->reason = apr_pstrdup(f->pool, reason ? reason : "(null)");
    f->headers = apr_table_copy(f->pool, headers);
    return APR_SUCCESS;
}

static apr_status_t mf_send_body(void *ctx, apr_bucket_brigade *bb, int flush)
{
    mem_front_t *f = ctx;
    apr_time_t now = apr_time_now();
    apr_off_t len = 0;
    apr_size_t n;
    char *data;

    f->nsend++;
    if (f->nsend == f->gone_at_send_body) {
        apr_brigade_cleanup(bb);
        return RP_ECLIENT_GONE;
    }
    apr_brigade_length(bb, 1, &len);
    if (len > 0) {
        apr_brigade_pflatten(bb, &data, &n, f->pool);
        f->body = apr_pstrcat(f->pool, f->body,
                              apr_pstrmemdup(f->pool, data, n), NULL);
        f->body_len += n;
        if (f->nsend_data < MAX_SENDS) {
            f->data_time[f->nsend_data] = now;
        }
        f->nsend_data++;
        f->nsend_data_noflush += !flush;
    }
    if (flush) {
        if (f->nflush < MAX_SENDS) {
            f->flush_pos[f->nflush] = f->body_len;
            f->flush_time[f->nflush] = now;
        }
        f->nflush++;
    }
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

/* finish() delivers the body's last part with the end of the response:
 * counted as a data send (that needs no flush of its own). */
static apr_status_t mf_finish(void *ctx, apr_bucket_brigade *bb,
                              apr_table_t *trailers)
{
    mem_front_t *f = ctx;
    apr_off_t len = 0;
    apr_size_t n;
    char *data;

    apr_brigade_length(bb, 1, &len);
    if (len > 0) {
        apr_brigade_pflatten(bb, &data, &n, f->pool);
        f->body = apr_pstrcat(f->pool, f->body,
                              apr_pstrmemdup(f->pool, data, n), NULL);
        f->body_len += n;
        if (f->nsend_data < MAX_SENDS) {
            f->data_time[f->nsend_data] = apr_time_now();
        }
        f->nsend_data++;
    }
    apr_brigade_cleanup(bb);
    f->nfinish++;
    f->trailers = trailers ? apr_table_copy(f->pool, trailers) : NULL;
    f->body_len_at_finish = f->body_len;
    return APR_SUCCESS;
}

static void mf_abort(void *ctx)
{
    mem_front_t *f = ctx;

    f->naborts++;
}

static void mf_log(void *ctx, int level, apr_status_t rv, const char *msg)
{
    mem_front_t *f = ctx;

    if (f->nlogs < MAX_LOGS) {
        f->log_level[f->nlogs] = level;
        apr_cpystrn(f->log_msg[f->nlogs], msg, sizeof(f->log_msg[0]));
    }
    f->nlogs++;
}

static apr_table_t *mf_request_trailers(void *ctx)
{
    mem_front_t *f = ctx;

    f->ntrailer_calls++;
    if (f->in_next < f->in_nparts) {
        f->trailers_asked_before_eos = 1;
    }
    return f->in_trailers;
}

static apr_status_t mf_direct_socket(void *ctx, apr_socket_t **sock,
                                     apr_interval_time_t *timeout)
{
    mem_front_t *f = ctx;

    f->ndirect_calls++;
    if (f->direct != 1) {
        return APR_ENOTIMPL;
    }
    f->direct_at = f->body_len;
    tb_sink_open(&f->sink, apr_palloc(f->pool, f->dcap), f->dcap,
                 f->direct_gone);
    if (apr_os_sock_put(&f->dsock, &f->sink.fds[0], f->pool) != APR_SUCCESS) {
        tb_die("mf_direct_socket");
    }
    *sock = f->dsock;
    *timeout = MS(1000);
    return APR_SUCCESS;
}

static void mf_direct_sent(void *ctx, apr_off_t bytes, int failed)
{
    mem_front_t *f = ctx;

    f->direct_bytes += bytes;
    f->direct_failed |= failed;
}

/* The response is over: the direct socket closes, its reader ends. */
static void mf_direct_end(mem_front_t *f)
{
    if (f->dsock) {
        tb_sink_close(&f->sink);
        f->dsock = NULL;
    }
}

/* The front's ops; direct writes only for a test that set f->direct. */
static const rp_front_ops_t mem_front_ops = {
    .read_body = mf_read_body,
    .send_interim = mf_send_interim,
    .send_head = mf_send_head,
    .send_body = mf_send_body,
    .finish = mf_finish,
    .abort = mf_abort,
    .log = mf_log,
    .request_trailers = mf_request_trailers,
    .direct_socket = mf_direct_socket,
    .direct_sent = mf_direct_sent,
};

/* Log lines at level or more severe (a lower number). */
static int logs_at_most(const mem_front_t *f, int level)
{
    int i, n = 0;
    for (i = 0; i < f->nlogs && i < MAX_LOGS; i++) {
        n += f->log_level[i] <= level;
    }
    return n;
}

/* Is there a log line at level that contains text? */
static int has_log(const mem_front_t *f, int level, const char *text)
{
    int i;
    for (i = 0; i < f->nlogs && i < MAX_LOGS; i++) {
        if (f->log_level[i] == level && strstr(f->log_msg[i], text)) {
            return 1;
        }
    }
    return 0;
}

/* ---- fixture ----------------------------------------------------------- */

typedef struct px_t {
    apr_pool_t *pool;
    apr_bucket_alloc_t *ba;
    rp_transport_t *t;
    tb_backend_t *tb; /* NULL: the target port has no listener */
    rp_url_t url;
    rp_conf_t conf;
    mem_front_t *fr;
    rp_exchange_t *ex;
    int fds;
} px_t;

/* A fresh exchange on px's target: GET path from a client at 192.0.2.7
 * that asked for https://front.example. */
static rp_exchange_t *px_exchange(px_t *px, const char *path)
{
    rp_exchange_t *ex = apr_pcalloc(px->pool, sizeof(*ex));
    mem_front_t *fr = apr_pcalloc(px->pool, sizeof(*fr));

    fr->pool = px->pool;
    fr->body = "";
    ex->pool = px->pool;
    ex->ba = px->ba;
    ex->front.ops = &mem_front_ops;
    ex->front.ctx = fr;
    ex->conf = &px->conf;
    ex->target = &px->url;
    ex->transport = px->t;
    ex->method = "GET";
    ex->path = path;
    ex->in_headers = apr_table_make(px->pool, 8);
    apr_table_setn(ex->in_headers, "Host", "front.example");
    ex->fwd.client_ip = "192.0.2.7";
    ex->fwd.host = "front.example";
    ex->fwd.proto = "https";
    px->ex = ex;
    px->fr = fr;
    return ex;
}

/* Set up a test whose target is http://127.0.0.1:<port><base>. nscripts
 * < 0: nothing listens on the port. */
static void px_open_base(px_t *px, const tb_step_t *const *scripts,
                         int nscripts, const char *base)
{
    const char *why = NULL;
    int port;

    memset(px, 0, sizeof(*px));
    px->fds = tb_count_fds();
    if (nscripts >= 0) {
        px->tb = tb_start(scripts, nscripts);
        port = px->tb->port;
    }
    else {
        port = tb_closed_port();
    }
    apr_pool_create(&px->pool, NULL);
    px->ba = apr_bucket_alloc_create(px->pool);
    if (rp_transport_create(px->pool, 8, &px->t) != APR_SUCCESS ||
        rp_url_parse(
            px->pool,
            apr_psprintf(px->pool, "http://127.0.0.1:%d%s", port, base),
            &px->url, &why) != APR_SUCCESS) {
        fprintf(stderr, "px_open: setup failed: %s\n", why ? why : "");
        exit(2);
    }
    rp_conf_init(&px->conf);
    px->conf.connect_timeout = MS(1000);
    px->conf.header_timeout = MS(1000);
    px->conf.io_timeout = MS(1000);
    px_exchange(px, "/x");
}

static void px_open(px_t *px, const tb_step_t *const *scripts, int nscripts)
{
    px_open_base(px, scripts, nscripts, "");
}

static void px_close(px_t *px)
{
    apr_pool_destroy(px->pool);
    tb_stop(px->tb);
    RP_EXPECT_INT(tb_count_fds(), px->fds);
}

static rp_transport_stats_t stats(px_t *px)
{
    rp_transport_stats_t st;
    rp_transport_stats(px->t, &st);
    return st;
}

/* The value of name in the backend's request i, or NULL. */
static const char *wire_header(px_t *px, int i, const char *name)
{
    const tb_req_t *r = tb_request(px->tb, i);
    char buf[512];

    if (!r || !tb_req_header(r, name, buf, sizeof(buf))) {
        return NULL;
    }
    return apr_pstrdup(px->pool, buf);
}

/* The request line of the backend's request i, or NULL. */
static const char *wire_line(px_t *px, int i)
{
    const tb_req_t *r = tb_request(px->tb, i);
    const char *eol = r ? strstr(r->raw, "\r\n") : NULL;

    return eol ? apr_pstrmemdup(px->pool, r->raw, eol - r->raw) : NULL;
}

static int wire_fields(px_t *px, int i)
{
    const tb_req_t *r = tb_request(px->tb, i);
    return r ? tb_req_header_count(r, "") : -1;
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

/* ---- the outgoing request ---------------------------------------------- */

static void test_rfc9110_7_6_1_request_hop_by_hop_fields_removed(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_table_t *in;
    px_t px;

    px_open(&px, sc, 1);
    in = px.ex->in_headers;
    apr_table_addn(in, "Connection", "keep-alive, X-Hop-Token");
    apr_table_addn(in, "X-Hop-Token", "secret");
    apr_table_addn(in, "Keep-Alive", "timeout=5");
    apr_table_addn(in, "Proxy-Connection", "keep-alive");
    apr_table_addn(in, "Proxy-Authorization", "Basic eHl6");
    apr_table_addn(in, "Upgrade", "h2c");
    apr_table_addn(in, "Trailer", "X-T");
    apr_table_addn(in, "Transfer-Encoding", "chunked");
    apr_table_addn(in, "TE", "deflate");
    apr_table_addn(in, "Expect", "100-continue");
    apr_table_addn(in, "X-Keep", "yes");
    apr_table_addn(in, "Accept", "*/*");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello");
    RP_EXPECT_STR(wire_line(&px, 0), "GET /x HTTP/1.1");
    RP_EXPECT_STR(wire_header(&px, 0, "X-Keep"), "yes");
    RP_EXPECT_STR(wire_header(&px, 0, "Accept"), "*/*");
    RP_EXPECT_STR(wire_header(&px, 0, "X-Hop-Token"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Connection"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Keep-Alive"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Proxy-Connection"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Proxy-Authorization"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Upgrade"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Trailer"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Transfer-Encoding"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "TE"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Expect"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Content-Length"), NULL);
    /* Host, X-Keep, Accept and the three X-Forwarded-* */
    RP_EXPECT_INT(wire_fields(&px, 0), 6);
    px_close(&px);
}

static void test_rfc9110_10_1_4_te_trailers_passes(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    apr_table_addn(px.ex->in_headers, "Connection", "TE");
    apr_table_addn(px.ex->in_headers, "TE", "trailers, deflate;q=0.5");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "TE"), "trailers");
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "TE"), 1);
    RP_EXPECT_STR(wire_header(&px, 0, "Connection"), NULL);
    px_close(&px);
}

/* The client's forwarding fields, as a spoofing client would send them. */
static void add_spoofed_forwarding(px_t *px)
{
    apr_table_addn(px->ex->in_headers, "X-Forwarded-For", "10.0.0.1");
    apr_table_addn(px->ex->in_headers, "X-Forwarded-For", "10.0.0.2");
    apr_table_addn(px->ex->in_headers, "X-Forwarded-Host", "spoofed.example");
    apr_table_addn(px->ex->in_headers, "X-Forwarded-Proto", "gopher");
    apr_table_addn(px->ex->in_headers, "Forwarded", "for=10.0.0.1");
}

static void test_untrusted_peer_forwarding_fields_replaced_host_is_target(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    add_spoofed_forwarding(&px);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Host"), px.url.hostport);
    RP_EXPECT_STR(px.url.hostport,
                  apr_psprintf(px.pool, "127.0.0.1:%d", px.tb->port));
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "Host"), 1);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-For"), "192.0.2.7");
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "X-Forwarded-For"),
                  1);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Host"), "front.example");
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Proto"), "https");
    RP_EXPECT_STR(wire_header(&px, 0, "Forwarded"), NULL);
    px_close(&px);
}

static void test_trusted_peer_forwarding_fields_extended(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_array_header_t *trusted;
    const char *why = NULL;
    px_t px;

    px_open(&px, sc, 1);
    trusted = apr_array_make(px.pool, 1, sizeof(rp_cidr_t));
    RP_EXPECT_INT(rp_cidr_parse("192.0.2.0/24", apr_array_push(trusted), &why),
                  APR_SUCCESS);
    px.conf.trusted_proxies = trusted;
    px.conf.forwarded = 1;
    add_spoofed_forwarding(&px);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-For"),
                  "10.0.0.1, 10.0.0.2, 192.0.2.7");
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "X-Forwarded-For"),
                  1);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Host"), "spoofed.example");
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Proto"), "gopher");
    RP_EXPECT_STR(wire_header(&px, 0, "Forwarded"),
                  "for=10.0.0.1, for=192.0.2.7;host=front.example;proto=https");
    px_close(&px);
}

/* RFC 9110 7.6.3: each hop names the version it received: the client's on
 * the request, the backend's on the response. */
static void test_rfc9110_7_6_3_via_names_each_hops_version(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.0 200 OK\r\nVia: 1.1 origin-cache\r\n"
                 "Content-Length: 5\r\n\r\nhello"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.via = 1;
    px.ex->fwd.version = 1000;
    px.ex->fwd.via_name = "gw.example:8080";
    apr_table_addn(px.ex->in_headers, "Via", "1.1 client-proxy");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Via"),
                  "1.1 client-proxy, 1.0 gw.example:8080");
    RP_EXPECT(px.fr->headers != NULL);
    if (px.fr->headers) {
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "Via"),
                      "1.1 origin-cache, 1.0 gw.example:8080");
    }
    px_close(&px);
}

static void test_via_off_by_default(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.ex->fwd.via_name = "gw.example";
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Via"), NULL);
    if (px.fr->headers) {
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "Via"), NULL);
    }
    px_close(&px);
}

static void test_preserve_host_sends_client_host(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.preserve_host = 1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Host"), "front.example");
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "Host"), 1);
    px_close(&px);
}

static void test_add_forwarded_off_sends_no_x_forwarded(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.add_forwarded = 0;
    add_spoofed_forwarding(&px); /* dropped all the same: untrusted peer */
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-For"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Host"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "X-Forwarded-Proto"), NULL);
    px_close(&px);
}

static void test_path_join_and_query_merge_on_the_wire(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open_base(&px, sc, 1, "/base?a=1");
    px.ex->path = "/x%2Fy/z";
    px.ex->query = "b=2&c";
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_line(&px, 0), "GET /base/x%2Fy/z?a=1&b=2&c HTTP/1.1");
    px_close(&px);
}

static void test_dot_segment_in_path_is_400_without_backend_connection(void)
{
    px_t px;

    px_open(&px, NULL, 0);
    px.ex->path = "/a/%2e%2E/b";
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_REQUEST);
    RP_EXPECT_INT(px.ex->status, 400);
    RP_EXPECT_INT(px.ex->error, RP_EBAD_REQUEST);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_REQUEST_ERROR);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_INFO, "RP00101"));
    RP_EXPECT_INT(logs_at_most(px.fr, RP_LOG_WARNING), 0);
    usleep(100000);
    RP_EXPECT_INT(tb_accepted(px.tb), 0);
    px_close(&px);
}

/* ---- hooks ------------------------------------------------------------- */

typedef struct hook_rec_t {
    int nrewrite, nmodify, nerror;
    apr_status_t err;        /* what the error hook was given */
    int error_status;        /* what the error hook answers */
    apr_status_t rewrite_rv; /* what the rewrite hook returns */
    apr_status_t modify_rv;  /* what the modify-response hook returns */
    int error_saw_head_sent; /* ex->head_sent inside the error hook */
    rp_fault_t error_fault;  /* ex->fault inside the error hook */
} hook_rec_t;

/* Adds a field, changes the target, and tries to frame a GET with a body:
 * framing is the core's, so the last two edits must not reach the wire. */
static apr_status_t hk_rewrite(rp_exchange_t *ex, void *baton)
{
    hook_rec_t *h = baton;

    h->nrewrite++;
    if (h->rewrite_rv) {
        return h->rewrite_rv;
    }
    apr_table_setn(ex->out.headers, "X-Added", "by-rewrite");
    apr_table_setn(ex->out.headers, "Content-Length", "99");
    apr_table_setn(ex->out.headers, "Transfer-Encoding", "chunked");
    ex->out.target = "/rewritten?q=1";
    return APR_SUCCESS;
}

static apr_status_t hk_modify(rp_exchange_t *ex, void *baton)
{
    hook_rec_t *h = baton;

    h->nmodify++;
    if (h->modify_rv) {
        return h->modify_rv;
    }
    ex->resp->status = 203;
    ex->resp->reason = "Changed";
    apr_table_setn(ex->resp->headers, "X-Mod", "yes");
    apr_table_unset(ex->resp->headers, "X-Remove");
    return APR_SUCCESS;
}

static int hk_error(rp_exchange_t *ex, apr_status_t err, void *baton)
{
    hook_rec_t *h = baton;

    h->nerror++;
    h->err = err;
    h->error_saw_head_sent = ex->head_sent;
    h->error_fault = ex->fault;
    return h->error_status;
}

static void test_rewrite_hook_edits_reach_backend_but_framing_stays(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    hook_rec_t rec;
    rp_hooks_t hooks = {.rewrite = hk_rewrite, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    px_open(&px, sc, 1);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(rec.nrewrite, 1);
    RP_EXPECT_STR(wire_line(&px, 0), "GET /rewritten?q=1 HTTP/1.1");
    RP_EXPECT_STR(wire_header(&px, 0, "X-Added"), "by-rewrite");
    RP_EXPECT_STR(wire_header(&px, 0, "Content-Length"), NULL);
    RP_EXPECT_STR(wire_header(&px, 0, "Transfer-Encoding"), NULL);
    RP_EXPECT_STR(px.fr->body, "hello");
    RP_EXPECT_INT(tb_unexpected(px.tb, 0), 0);
    px_close(&px);
}

static void test_rewrite_hook_failure_is_502_without_backend_connection(void)
{
    hook_rec_t rec;
    rp_hooks_t hooks = {.rewrite = hk_rewrite, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    rec.rewrite_rv = APR_EGENERAL;
    px_open(&px, NULL, 0);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EHOOK);
    RP_EXPECT_INT(px.ex->status, 502);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_PROXY_INTERNAL_ERROR);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00104"));
    usleep(100000);
    RP_EXPECT_INT(tb_accepted(px.tb), 0);
    px_close(&px);
}

/* A rewrite hook that sends the request to another origin (Go's SetURL):
 * the baton is the origin's URL. */
static apr_status_t hk_origin(rp_exchange_t *ex, void *baton)
{
    rp_proxy_set_origin(ex, baton, NULL);
    return APR_SUCCESS;
}

/* The route's backend is a closed port; the hook's origin answers, and
 * the Host field it gets names it. */
static void test_rewrite_hook_moves_the_request_to_another_origin(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    tb_backend_t *other;
    rp_hooks_t hooks = {.rewrite = hk_origin};
    const char *why = NULL;
    const tb_req_t *req;
    rp_url_t origin;
    char host[64];
    px_t px;

    px_open(&px, NULL, -1);
    other = tb_start(sc, 1);
    px.tb = other; /* stopped by px_close(), before its descriptor count */
    RP_EXPECT_INT(
        rp_url_parse(px.pool,
                     apr_psprintf(px.pool, "http://127.0.0.1:%d", other->port),
                     &origin, &why),
        APR_SUCCESS);
    hooks.baton = &origin;
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello");
    req = tb_request(other, 0);
    RP_EXPECT(req != NULL);
    RP_EXPECT(req && tb_req_header(req, "Host", host, sizeof(host)));
    RP_EXPECT_STR(host, origin.hostport);
    px_close(&px);
}

static void test_modify_response_hook_changes_what_front_sees(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nX-Remove: 1\r\nX-Stay: 2\r\n"
                 "Content-Length: 5\r\n\r\nhello"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    hook_rec_t rec;
    rp_hooks_t hooks = {.modify_response = hk_modify, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    px_open(&px, sc, 1);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(rec.nmodify, 1);
    RP_EXPECT_INT(px.fr->nhead, 1);
    RP_EXPECT_INT(px.fr->status, 203);
    RP_EXPECT_STR(px.fr->reason, "Changed");
    RP_EXPECT_INT(px.ex->status, 203);
    if (px.fr->headers) {
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "X-Mod"), "yes");
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "X-Remove"), NULL);
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "X-Stay"), "2");
    }
    RP_EXPECT_STR(px.fr->body, "hello");
    RP_EXPECT_INT(px.fr->nfinish, 1);
    px_close(&px);
}

/* RProxyErrorOverride: a backend's 401 is not sent on; the exchange ends
 * with overridden set, the status, and the challenges kept for the host's
 * error page; the short body is read and the connection pooled. A status
 * outside the configured list, and a 200, go through as usual. */
static void test_error_override_keeps_status_and_challenge_only(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
                 "realm=\"a\"\r\nWWW-Authenticate: Bearer\r\nX-Other: 1\r\n"
                 "Retry-After: 3\r\nContent-Length: 9\r\n\r\nno access"},
        {.send = "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnone"},
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    unsigned char codes[RP_CONF_ERROR_CODES_LEN] = {0};
    const apr_array_header_t *kept;
    px_t px;

    codes[(401 - 400) / 8] |= 1u << ((401 - 400) % 8);
    px_open(&px, sc, 1);
    px.conf.error_override = 1;
    px.conf.error_codes = codes;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT(px.ex->overridden);
    RP_EXPECT_INT(px.ex->status, 401);
    RP_EXPECT(!px.ex->head_sent);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    kept = apr_table_elts(px.ex->override_fields);
    RP_EXPECT_INT(kept->nelts, 3);
    RP_EXPECT_STR(apr_table_get(px.ex->override_fields, "Retry-After"), "3");
    RP_EXPECT_STR(apr_table_get(px.ex->override_fields, "X-Other"), NULL);
    RP_EXPECT_STR(((const apr_table_entry_t *)kept->elts)[1].val, "Bearer");
    RP_EXPECT_INT(stats(&px).conns_idle, 1); /* body read, pooled */

    px_exchange(&px, "/nf"); /* 404: not in the list */
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT(!px.ex->overridden);
    RP_EXPECT_INT(px.fr->status, 404);
    RP_EXPECT_STR(px.fr->body, "none");

    px.conf.error_codes = NULL; /* every error status; a 200 still passes */
    px_exchange(&px, "/ok");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT(!px.ex->overridden);
    RP_EXPECT_STR(px.fr->body, "ok");
    RP_EXPECT_INT(tb_accepted(px.tb), 1);
    px_close(&px);
}

static void test_modify_response_failure_is_502_and_head_not_sent(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    hook_rec_t rec;
    rp_hooks_t hooks = {.modify_response = hk_modify, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    rec.modify_rv = APR_EGENERAL;
    px_open(&px, sc, 1);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EHOOK);
    RP_EXPECT_INT(px.ex->status, 502);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_PROXY_INTERNAL_ERROR);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00104"));
    px_close(&px);
}

static void test_error_hook_decides_the_status(void)
{
    hook_rec_t rec;
    rp_hooks_t hooks = {.error = hk_error, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    rec.error_status = 503;
    px_open(&px, NULL, -1);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_UNREACHABLE);
    RP_EXPECT_INT(rec.nerror, 1);
    RP_EXPECT_INT(rec.err, RP_EBACKEND_UNREACHABLE);
    RP_EXPECT_INT(rec.error_saw_head_sent, 0);
    /* the hook sees the precise fault, already set */
    RP_EXPECT_INT(rec.error_fault, RP_FAULT_CONNECTION_REFUSED);
    RP_EXPECT_INT(px.ex->status, 503);
    RP_EXPECT_INT(px.fr->nhead, 0);
    px_close(&px);
}

static void test_error_hook_answering_itself_returns_success(void)
{
    hook_rec_t rec;
    rp_hooks_t hooks = {.error = hk_error, .baton = &rec};
    px_t px;

    memset(&rec, 0, sizeof(rec));
    rec.error_status = 0;
    px_open(&px, NULL, -1);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(rec.nerror, 1);
    RP_EXPECT_INT(px.ex->status, 0);
    RP_EXPECT_INT(px.ex->error, RP_EBACKEND_UNREACHABLE);
    px_close(&px);
}

/* ---- failures before the head ------------------------------------------ */

/* ---- response rewriting (RProxyRewriteLocation, RProxyCookie*) -------- */

/* What the modify-response hook saw. */
typedef struct seen_t {
    const char *location, *content_location, *cookie;
} seen_t;

static apr_status_t hk_see(rp_exchange_t *ex, void *baton)
{
    seen_t *seen = baton;

    seen->location = apr_table_get(ex->resp->headers, "Location");
    seen->content_location =
        apr_table_get(ex->resp->headers, "Content-Location");
    seen->cookie = apr_table_get(ex->resp->headers, "Set-Cookie");
    return APR_SUCCESS;
}

#define REDIRECT_302                                                           \
    "HTTP/1.1 302 Found\r\nLocation: http://front.example/base/x?y\r\n"        \
    "Set-Cookie: a=1; Path=/base/; Domain=backend.internal\r\n"                \
    "Content-Length: 0\r\n\r\n"
#define CREATED_201                                                            \
    "HTTP/1.1 201 Created\r\nLocation: /base/new\r\n"                          \
    "Content-Location: /base/new\r\nContent-Length: 0\r\n\r\n"

/* With RProxyPreserveHost the backend's name is the client's Host: its
 * absolute redirect maps to the front's scheme and prefix, and the hook
 * already sees the rewritten value. */
static void test_location_rewritten_before_modify_response_hook(void)
{
    static const tb_step_t s0[] = {{.send = REDIRECT_302}, TB_END};
    const tb_step_t *const sc[] = {s0};
    seen_t seen = {0};
    rp_hooks_t hooks = {.modify_response = hk_see, .baton = &seen};
    px_t px;

    px_open_base(&px, sc, 1, "/base/");
    px.conf.preserve_host = 1;
    px.ex->prefix = "/app/";
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->status, 302);
    RP_EXPECT_STR(seen.location, "https://front.example/app/x?y");
    if (px.fr->headers) {
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "Location"),
                      "https://front.example/app/x?y");
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "Set-Cookie"),
                      "a=1; Path=/base/; Domain=backend.internal");
    }
    px_close(&px);
}

/* Without RProxyPreserveHost front.example is another host: unchanged. */
static void test_location_for_another_host_unchanged(void)
{
    static const tb_step_t s0[] = {{.send = REDIRECT_302}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open_base(&px, sc, 1, "/base/");
    px.ex->prefix = "/app/";
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    if (px.fr->headers) {
        RP_EXPECT_STR(apr_table_get(px.fr->headers, "Location"),
                      "http://front.example/base/x?y");
    }
    px_close(&px);
}

/* A 201 is rewritten like a 3xx; cookie rules apply on their own. */
static void test_201_location_content_location_and_cookie_rules(void)
{
    static const tb_step_t s0[] = {
        {.send = CREATED_201}, {.send = REDIRECT_302}, TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_array_header_t *paths, *domains;
    seen_t seen = {0};
    rp_hooks_t hooks = {.modify_response = hk_see, .baton = &seen};
    px_t px;

    px_open_base(&px, sc, 1, "/base/");
    px.ex->prefix = "/app/";
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->status, 201);
    RP_EXPECT_STR(seen.location, "/app/new");
    RP_EXPECT_STR(seen.content_location, "/app/new");
    /* Off: URLs stay; the cookie rules still apply. */
    paths = apr_array_make(px.pool, 1, sizeof(rp_rewrite_pair_t));
    APR_ARRAY_PUSH(paths, rp_rewrite_pair_t) =
        (rp_rewrite_pair_t){"/base/", "/app/"};
    domains = apr_array_make(px.pool, 1, sizeof(rp_rewrite_pair_t));
    APR_ARRAY_PUSH(domains, rp_rewrite_pair_t) =
        (rp_rewrite_pair_t){"backend.internal", "front.example"};
    px.conf.rewrite_location = 0;
    px.conf.preserve_host = 1;
    px.conf.cookie_paths = paths;
    px.conf.cookie_domains = domains;
    px_exchange(&px, "/x")->prefix = "/app/";
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(seen.location, "http://front.example/base/x?y");
    RP_EXPECT_STR(seen.cookie, "a=1; Path=/app/; Domain=front.example");
    px_close(&px);
}

static void test_unreachable_backend_is_502(void)
{
    px_t px;

    px_open(&px, NULL, -1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_UNREACHABLE);
    RP_EXPECT_INT(px.ex->status, 502);
    RP_EXPECT_INT(px.ex->error, RP_EBACKEND_UNREACHABLE);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_CONNECTION_REFUSED);
    RP_EXPECT(px.ex->error_detail != NULL);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT_INT(px.ex->head_sent, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00105"));
    RP_EXPECT_INT(stats(&px).backend_errors, 1);
    px_close(&px);
}

static void test_header_timeout_is_504(void)
{
    static const tb_step_t s0[] = {{.read = TB_READ_REQUEST}, TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_time_t t0, took;
    px_t px;

    px_open(&px, sc, 1);
    px.conf.header_timeout = MS(300);
    t0 = apr_time_now();
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_TIMEOUT);
    took = apr_time_now() - t0;
    RP_EXPECT(took >= MS(290) && took < MS(1000));
    RP_EXPECT_INT(px.ex->status, 504);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_RESPONSE_TIMEOUT);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00102"));
    RP_EXPECT(tb_wait_peer_closed(px.tb, 0, 1000));
    px_close(&px);
}

static void test_garbage_status_line_is_502(void)
{
    static const tb_step_t s0[] = {{.send = "garbage\r\n\r\n"}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_RESPONSE);
    RP_EXPECT_INT(px.ex->status, 502);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_PROTOCOL_ERROR);
    RP_EXPECT(px.ex->error_detail != NULL);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00103"));
    px_close(&px);
}

/* ---- the response ------------------------------------------------------ */

static void test_rfc9110_7_6_1_response_hop_by_hop_fields_removed(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop, keep-alive\r\n"
                 "X-Resp-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
                 "Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\n"
                 "X-Keep: yes\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_table_t *h;
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->nhead, 1);
    h = px.fr->headers;
    if (h) {
        RP_EXPECT_STR(apr_table_get(h, "X-Keep"), "yes");
        RP_EXPECT_STR(apr_table_get(h, "Connection"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "X-Resp-Hop"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "Keep-Alive"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "Proxy-Authenticate"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "Upgrade"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "Transfer-Encoding"), NULL);
        RP_EXPECT_INT(apr_table_elts(h)->nelts, 1);
    }
    RP_EXPECT_STR(px.fr->body, "hello");
    px_close(&px);
}

static void test_trailers_of_chunked_response_reach_finish(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 "Trailer: X-Sum\r\n\r\n5\r\nhello\r\n",
         .pause_ms = 30,
         .send2 = "0\r\nX-Sum: 42\r\nX-Checksum: abc\r\n\r\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    apr_table_addn(px.ex->in_headers, "TE", "trailers");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    RP_EXPECT_STR(px.fr->body, "hello");
    RP_EXPECT(px.fr->trailers != NULL);
    if (px.fr->trailers) {
        RP_EXPECT_STR(apr_table_get(px.fr->trailers, "X-Sum"), "42");
        RP_EXPECT_STR(apr_table_get(px.fr->trailers, "X-Checksum"), "abc");
        RP_EXPECT_INT(apr_table_elts(px.fr->trailers)->nelts, 2);
    }
    px_close(&px);
}

/* DESIGN.md: trailers are "announced and forwarded". Trailer is consumed
 * as a hop-by-hop field, so the proxy must announce again what it will
 * forward (as Go's ReverseProxy does): the front's head carries the names
 * the backend announced. */
static void test_rfc9110_6_6_2_trailer_announcement_reaches_front_head(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 "Trailer: X-Sum, X-Checksum\r\n\r\n5\r\nhello\r\n"
                 "0\r\nX-Sum: 42\r\nX-Checksum: abc\r\n\r\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    const char *announced = NULL;
    px_t px;

    px_open(&px, sc, 1);
    apr_table_addn(px.ex->in_headers, "TE", "trailers");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->nhead, 1);
    if (px.fr->headers) {
        announced = apr_table_get(px.fr->headers, "Trailer");
    }
    RP_EXPECT(announced != NULL);
    RP_EXPECT(rp_headers_has_token(announced, "X-Sum"));
    RP_EXPECT(rp_headers_has_token(announced, "X-Checksum"));
    RP_EXPECT_INT(px.fr->nfinish, 1);
    px_close(&px);
}

static void test_rfc8297_103_reaches_front_other_1xx_do_not(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 100 Continue\r\n\r\n"
                 "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
                 "Connection: X-Hint-Hop\r\nX-Hint-Hop: 1\r\n\r\n" OK_HELLO},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->ninterim, 1);
    RP_EXPECT_INT(px.fr->interim_status[0], 103);
    if (px.fr->ninterim >= 1) {
        apr_table_t *h = px.fr->interim_headers[0];
        RP_EXPECT_STR(apr_table_get(h, "Link"), "</s.css>; rel=preload");
        RP_EXPECT_STR(apr_table_get(h, "X-Hint-Hop"), NULL);
        RP_EXPECT_STR(apr_table_get(h, "Connection"), NULL);
    }
    RP_EXPECT_INT(px.fr->status, 200);
    RP_EXPECT_STR(px.fr->body, "hello");
    px_close(&px);
}

/* ---- the flush policy -------------------------------------------------- */

/* A Content-Length body in two writes 100 ms apart. */
static const tb_step_t two_part_cl[] = {
    {.send = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello",
     .pause_ms = 100,
     .send2 = " world"},
    TB_END};

static void test_flush_interval_0_content_length_no_flush_before_finish(void)
{
    const tb_step_t *const sc[] = {two_part_cl};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.flush_interval = 0;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello world");
    RP_EXPECT_INT(px.fr->nsend_data, 2);
    RP_EXPECT_INT(px.fr->nflush, 0);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    RP_EXPECT_INT(px.fr->body_len_at_finish, 11);
    RP_EXPECT_INT(px.ex->body_bytes, 11);
    px_close(&px);
}

static void test_flush_interval_negative_flushes_every_write(void)
{
    const tb_step_t *const sc[] = {two_part_cl};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.flush_interval = -1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello world");
    RP_EXPECT_INT(px.fr->nsend_data, 2);
    RP_EXPECT_INT(px.fr->nsend_data_noflush, 0);
    /* the last part goes with finish(), the end of the response */
    RP_EXPECT(px.fr->nflush >= 1);
    RP_EXPECT_INT(px.fr->flush_pos[0], 5);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    RP_EXPECT_INT(px.fr->body_len_at_finish, 11);
    px_close(&px);
}

static void test_chunked_response_flushes_every_write(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n",
         .pause_ms = 100,
         .send2 = "6\r\n world\r\n0\r\n\r\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.flush_interval = 0;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello world");
    RP_EXPECT_INT(px.fr->nsend_data, 2);
    RP_EXPECT_INT(px.fr->nsend_data_noflush, 0);
    RP_EXPECT_INT(px.fr->flush_pos[0], 5);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    px_close(&px);
}

static void test_event_stream_flushes_every_write(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
                 "charset=utf-8\r\nContent-Length: 23\r\n\r\ndata: a\n\n",
         .pause_ms = 100,
         .send2 = "data: bcdefg\n\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.flush_interval = 0;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "data: a\n\ndata: bcdefg\n\n");
    RP_EXPECT_INT(px.fr->nsend_data, 2);
    RP_EXPECT_INT(px.fr->nsend_data_noflush, 0);
    RP_EXPECT_INT(px.fr->flush_pos[0], 9);
    px_close(&px);
}

static void test_flush_interval_100ms_flushes_between_parts_400ms_apart(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\naaaa",
         .pause_ms = 400,
         .send2 = "bbbb"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    apr_time_t lag;
    px_t px;

    px_open(&px, sc, 1);
    px.conf.flush_interval = MS(100);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "aaaabbbb");
    RP_EXPECT_INT(px.fr->nsend_data, 2);
    /* One flush, after the first part, about 100 ms after it came; the
     * second part is left to finish(). */
    RP_EXPECT_INT(px.fr->nflush, 1);
    RP_EXPECT_INT(px.fr->flush_pos[0], 4);
    lag = px.fr->flush_time[0] - px.fr->data_time[0];
    RP_EXPECT(lag >= MS(80) && lag <= MS(300));
    RP_EXPECT(px.fr->flush_time[0] < px.fr->data_time[1]);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    px_close(&px);
}

/* ---- failures after the head ------------------------------------------- */

static void test_backend_close_mid_body_aborts_front_backend_broke(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
         .then = TB_CLOSE},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.ex->error, RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.ex->head_sent, 1);
    RP_EXPECT_INT(px.fr->nhead, 1);
    RP_EXPECT_INT(px.fr->status, 200);
    RP_EXPECT_STR(px.fr->body, "abc");
    RP_EXPECT_INT(px.fr->naborts, 1);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00106"));
    RP_EXPECT_INT(stats(&px).conns_idle, 0);
    px_close(&px);
}

static void test_backend_silent_mid_body_past_io_timeout_aborts(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.conf.io_timeout = MS(200);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.fr->naborts, 1);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    RP_EXPECT(tb_wait_peer_closed(px.tb, 0, 1000));
    px_close(&px);
}

static void expect_quiet_client_abort(px_t *px)
{
    int i;

    RP_EXPECT_INT(px->ex->error, RP_ECLIENT_GONE);
    RP_EXPECT_INT(stats(px).client_aborts, 1);
    RP_EXPECT_INT(stats(px).conns_idle, 0);
    RP_EXPECT_INT(px->fr->nfinish, 0);
    /* Counted and logged at debug, without a log ID. */
    RP_EXPECT_INT(logs_at_most(px->fr, RP_LOG_INFO), 0);
    RP_EXPECT(px->fr->nlogs >= 1);
    for (i = 0; i < px->fr->nlogs && i < MAX_LOGS; i++) {
        RP_EXPECT(strncmp(px->fr->log_msg[i], "RP", 2) != 0);
    }
}

static void test_client_gone_in_send_body_closes_backend_conn_quietly(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.fr->gone_at_send_body = 1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_ECLIENT_GONE);
    expect_quiet_client_abort(&px);
    RP_EXPECT_INT(px.fr->nhead, 1);
    /* The backend sees its connection closed, not kept for later: the rest
     * does not come, so the reaper gives up on it after RP_DRAIN_TIME. */
    RP_EXPECT_INT(stats(&px).draining, 1);
    RP_EXPECT(tb_wait_peer_closed(px.tb, 0, 3000));
    RP_EXPECT_INT(stats(&px).draining, 0);
    px_close(&px);
}

/* When the rest of the body is short and comes at once, the client's
 * leaving costs no backend connection: the rest is read and dropped, and
 * the connection goes back to the pool. Still quiet, still counted. */
static void test_client_gone_with_short_rest_keeps_backend_conn(void)
{
    static char rest[99990];
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789",
         .pause_ms = 20,
         .send2 = rest,
         .send2_len = sizeof(rest)},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    memset(rest, 'r', sizeof(rest));
    px_open(&px, sc, 1);
    px.fr->gone_at_send_body = 1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_ECLIENT_GONE);
    RP_EXPECT_INT(px.ex->error, RP_ECLIENT_GONE);
    RP_EXPECT_INT(stats(&px).client_aborts, 1);
    RP_EXPECT_INT(stats(&px).conns_idle, 1);
    RP_EXPECT_INT(logs_at_most(px.fr, RP_LOG_INFO), 0);
    RP_EXPECT_INT(tb_peer_closed(px.tb, 0), 0);
    px_close(&px);
}

static void test_client_gone_in_send_head_closes_backend_conn_quietly(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.fr->gone_at_head = 1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_ECLIENT_GONE);
    expect_quiet_client_abort(&px);
    RP_EXPECT_INT(px.fr->nsend, 0);
    RP_EXPECT(tb_wait_peer_closed(px.tb, 0, 3000)); /* by the reaper */
    px_close(&px);
}

static void test_client_gone_while_reading_its_body_is_quiet(void)
{
    static const char *const parts[] = {"abc"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = 10;
    apr_table_setn(px.ex->in_headers, "Content-Length", "10");
    px.fr->in_parts = parts;
    px.fr->in_nparts = 1;
    px.fr->in_fail = RP_ECLIENT_GONE;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_ECLIENT_GONE);
    expect_quiet_client_abort(&px);
    RP_EXPECT_INT(px.fr->nhead, 0);
    RP_EXPECT(tb_wait_peer_closed(px.tb, 0, 1000));
    px_close(&px);
}

/* ---- request bodies and reuse ------------------------------------------ */

static void test_request_body_with_content_length_forwarded_exactly(void)
{
    static const char *const parts[] = {"hel", "lo", " wor", "ld"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    const tb_req_t *r;
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = 11;
    apr_table_setn(px.ex->in_headers, "Content-Length", "11");
    px.fr->in_parts = parts;
    px.fr->in_nparts = 4;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_line(&px, 0), "POST /x HTTP/1.1");
    RP_EXPECT_STR(wire_header(&px, 0, "Content-Length"), "11");
    RP_EXPECT_INT(tb_req_header_count(tb_request(px.tb, 0), "Content-Length"),
                  1);
    RP_EXPECT_STR(wire_header(&px, 0, "Transfer-Encoding"), NULL);
    r = tb_request(px.tb, 0);
    RP_EXPECT(r != NULL);
    if (r) {
        RP_EXPECT_STR(r->raw + r->head_len, "hello world");
    }
    px_close(&px);
}

static void test_request_body_chunked_forwarded_chunked(void)
{
    static const char *const parts[] = {"abc", "defg"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    const tb_req_t *r;
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = -1;
    apr_table_setn(px.ex->in_headers, "Transfer-Encoding", "chunked");
    px.fr->in_parts = parts;
    px.fr->in_nparts = 2;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Transfer-Encoding"), "chunked");
    RP_EXPECT_STR(wire_header(&px, 0, "Content-Length"), NULL);
    r = tb_request(px.tb, 0);
    RP_EXPECT(r != NULL);
    if (r) {
        RP_EXPECT_STR(r->raw + r->head_len,
                      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    }
    px_close(&px);
}

/* ---- hostile input: request transfer codings -------------------------- */

/* The front decodes chunked only: another coding named with it would reach
 * the backend dropped, so such a request is refused before any connection;
 * a lone "chunked", in any case and with empty list elements, is not. */
static void test_request_te_other_than_chunked_is_400_without_backend(void)
{
    static const char *const bad[] = {"gzip, chunked", "chunked, chunked",
                                      "x-foo,chunked", "chunked;q=1"};
    static const char *const parts[] = {"abc"};
    apr_size_t i;
    px_t px;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        px_open(&px, NULL, 0);
        px.ex->method = "POST";
        px.ex->body_length = -1;
        apr_table_setn(px.ex->in_headers, "Transfer-Encoding", bad[i]);
        px.fr->in_parts = parts;
        px.fr->in_nparts = 1;
        RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_REQUEST);
        RP_EXPECT_INT(px.ex->status, 400);
        RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_REQUEST_ERROR);
        RP_EXPECT(px.ex->error_detail &&
                  strstr(px.ex->error_detail, "other than chunked"));
        RP_EXPECT_INT(px.fr->nhead, 0);
        usleep(20000);
        RP_EXPECT_INT(tb_accepted(px.tb), 0);
        px_close(&px);
    }
}

static void test_request_te_lone_chunked_any_spelling_forwarded(void)
{
    static const char *const parts[] = {"abc"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = -1;
    apr_table_setn(px.ex->in_headers, "Transfer-Encoding", " , CHUNKED ,");
    px.fr->in_parts = parts;
    px.fr->in_nparts = 1;
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(wire_header(&px, 0, "Transfer-Encoding"), "chunked");
    RP_EXPECT_STR(wire_header(&px, 0, "Content-Length"), NULL);
    px_close(&px);
}

/* ---- hostile input: the request line --------------------------------- */

/* A method that is not a token, or a target with a CTL, space or non-ASCII
 * byte (httpd's "HttpProtocolOptions Unsafe" lets them through; a rewrite
 * hook may set them), never goes out: 400 before any connection. */
static apr_status_t hk_bad_target(rp_exchange_t *ex, void *baton)
{
    (void)baton;
    ex->out.target = "/a\r\nX-Injected: 1";
    return APR_SUCCESS;
}

static void test_request_line_not_token_or_invisible_is_400(void)
{
    static const char *const methods[] = {"GET:", "GE\"T", "G(T)", "G\x80T",
                                          ""};
    static const char *const paths[] = {"/a\x80", "/a b", "/a\x7f", "/a\t"};
    rp_hooks_t hooks = {.rewrite = hk_bad_target};
    apr_size_t i;
    px_t px;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        px_open(&px, NULL, 0);
        px.ex->method = methods[i];
        RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_REQUEST);
        RP_EXPECT_STR(px.ex->error_detail, "method is not a token");
        px_close(&px);
    }
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        px_open(&px, NULL, 0);
        px.ex->path = paths[i];
        RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_REQUEST);
        RP_EXPECT_STR(px.ex->error_detail,
                      "invalid byte in the request target");
        px_close(&px);
    }
    px_open(&px, NULL, 0);
    px.ex->hooks = &hooks;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBAD_REQUEST);
    RP_EXPECT_INT(px.ex->status, 400);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_REQUEST_ERROR);
    RP_EXPECT_INT(px.fr->nhead, 0);
    usleep(20000);
    RP_EXPECT_INT(tb_accepted(px.tb), 0);
    px_close(&px);
}

/* ---- hostile input: a body that breaks keeps its fault ----------------- */

/* After the head was handed over, a broken body still leaves its RFC 9209
 * fault and text on the exchange, for a host whose head has not reached
 * the client yet (it answers 502 with Proxy-Status instead). */
static void test_broken_body_fault_and_detail_kept(void)
{
    static const tb_step_t junk[] = {
        {.send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5x\r\nhello\r\n0\r\n\r\n"},
        TB_END};
    static const tb_step_t shortcl[] = {
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
         .then = TB_CLOSE},
        TB_END};
    const tb_step_t *const sc1[] = {junk};
    const tb_step_t *const sc2[] = {shortcl};
    px_t px;

    px_open(&px, sc1, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.fr->naborts, 1);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_PROTOCOL_ERROR);
    RP_EXPECT(px.ex->error_detail &&
              strstr(px.ex->error_detail, "junk after chunk size"));
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00106"));
    px_close(&px);

    px_open(&px, sc2, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_HTTP_RESPONSE_INCOMPLETE);
    RP_EXPECT(px.ex->error_detail &&
              strstr(px.ex->error_detail, "after 3 bytes"));
    px_close(&px);
}

static void test_second_exchange_reuses_the_backend_connection(void)
{
    static const tb_step_t s0[] = {
        {.send = OK_HELLO},
        {.send = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "hello");
    px_exchange(&px, "/y");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_STR(px.fr->body, "bye");
    RP_EXPECT_INT(px.fr->nfinish, 1);
    RP_EXPECT_INT(tb_accepted(px.tb), 1);
    RP_EXPECT_INT(stats(&px).conns_reused, 1);
    RP_EXPECT_STR(wire_line(&px, 1), "GET /y HTTP/1.1");
    RP_EXPECT(px.ex->backend_addr != NULL);
    px_close(&px);
}

/* RFC 9110 6.5: the client's trailer fields go on in the last chunk, after
 * its body; hop-by-hop and framing fields never do, and the Trailer
 * announcement (hop-by-hop itself) is made again. */
static void test_rfc9110_6_5_request_trailers_forwarded_in_last_chunk(void)
{
    static const char *const parts[] = {"abc", "defg"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    const tb_req_t *r;
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = -1;
    apr_table_setn(px.ex->in_headers, "Transfer-Encoding", "chunked");
    apr_table_setn(px.ex->in_headers, "Trailer", "X-Checksum");
    apr_table_setn(px.ex->in_headers, "Connection", "X-Hop");
    px.fr->in_parts = parts;
    px.fr->in_nparts = 2;
    px.fr->in_trailers = apr_table_make(px.pool, 4);
    apr_table_setn(px.fr->in_trailers, "X-Checksum", "abc123");
    apr_table_setn(px.fr->in_trailers, "X-Hop", "1");
    apr_table_setn(px.fr->in_trailers, "Keep-Alive", "timeout=1");
    apr_table_setn(px.fr->in_trailers, "Content-Length", "7");
    apr_table_setn(px.fr->in_trailers, "Host", "evil.example");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->ntrailer_calls, 1);
    RP_EXPECT_INT(px.fr->trailers_asked_before_eos, 0);
    RP_EXPECT_STR(wire_header(&px, 0, "Trailer"), "X-Checksum");
    r = tb_request(px.tb, 0);
    RP_EXPECT(r != NULL);
    if (r) {
        RP_EXPECT_STR(r->raw + r->head_len, "3\r\nabc\r\n4\r\ndefg\r\n"
                                            "0\r\nX-Checksum: abc123\r\n\r\n");
    }
    RP_EXPECT(has_log(px.fr, RP_LOG_DEBUG, "4 request trailer field(s)"));
    px_close(&px);
}

/* A body with Content-Length has no trailer section: the front is not
 * asked for one. */
static void test_request_trailers_not_asked_for_content_length_body(void)
{
    static const char *const parts[] = {"hello"};
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    px.ex->method = "POST";
    px.ex->body_length = 5;
    px.fr->in_parts = parts;
    px.fr->in_nparts = 1;
    px.fr->in_trailers = apr_table_make(px.pool, 1);
    apr_table_setn(px.fr->in_trailers, "X-Checksum", "abc");
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->ntrailer_calls, 0);
    px_close(&px);
}

/* The backend's trailers pass the same policy on their way to the client. */
static void test_response_trailers_hop_by_hop_and_framing_dropped(void)
{
    static const tb_step_t s0[] = {
        {.send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\nX-Sum: 42\r\nKeep-Alive: timeout=1\r\n"
                 "Content-Length: 99\r\nTransfer-Encoding: gzip\r\n\r\n"},
        TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open(&px, sc, 1);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT(px.fr->trailers != NULL);
    if (px.fr->trailers) {
        RP_EXPECT_STR(apr_table_get(px.fr->trailers, "X-Sum"), "42");
        RP_EXPECT_INT(apr_table_elts(px.fr->trailers)->nelts, 1);
    }
    px_close(&px);
}

/* ---- balancers (rp_proxy.c "Balancers") -------------------------------- */

typedef struct lbx_t {
    rp_balancer_t b;
    rp_lb_member_t m[2];
    rp_lb_slot_t st[2];
    rp_lb_shared_t sh;
    rp_url_t origin[2];
    rp_url_t route; /* balancer://t/base */
} lbx_t;

/* A balancer of two members on 127.0.0.1: port0, then port1; the
 * exchange's target becomes the route's balancer:// target. */
static lbx_t *lb_attach(px_t *px, int port0, int port1)
{
    lbx_t *l = apr_pcalloc(px->pool, sizeof(*l));
    int ports[2] = {port0, port1}, i;
    const char *why;

    l->b.name = "t";
    l->b.members = l->m;
    l->b.n = 2;
    l->b.shared = &l->sh;
    rp_lb_params_default(&l->b.params);
    for (i = 0; i < 2; i++) {
        l->m[i].url = apr_psprintf(px->pool, "http://127.0.0.1:%d", ports[i]);
        rp_url_parse(px->pool, l->m[i].url, &l->origin[i], &why);
        l->m[i].origin = &l->origin[i];
        l->m[i].weight = 1;
        l->m[i].st = &l->st[i];
        rp_lb_member_init_id(&l->m[i]);
    }
    rp_url_parse(px->pool, "http://t/base", &l->route, &why);
    px->ex->target = &l->route;
    px->ex->balancer = &l->b;
    return l;
}

/* A refused connect sent nothing: the request moves to the other member,
 * with that member's Host, and the refusal counts against the first. */
static void test_balancer_connect_refused_moves_to_next_member(void)
{
    static const tb_step_t s0[] = {{.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;
    lbx_t *l;

    px_open(&px, sc, 1);
    l = lb_attach(&px, tb_closed_port(), px.tb->port);
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->status, 200);
    RP_EXPECT_STR(wire_header(&px, 0, "Host"), l->origin[1].hostport);
    RP_EXPECT_STR(wire_line(&px, 0), "GET /base/x HTTP/1.1");
    RP_EXPECT(has_log(px.fr, RP_LOG_INFO, "RP00191"));
    RP_EXPECT_INT(l->st[0].failures, 1);
    RP_EXPECT_INT(l->st[0].consec_fail, 1);
    RP_EXPECT_INT(l->st[1].requests, 1);
    RP_EXPECT_INT(l->st[0].in_flight + l->st[1].in_flight, 0);
    RP_EXPECT(l->st[1].ewma_us > 0);
    px_close(&px);
}

/* Two members refusing: one move, then the 502 of the second. */
static void test_balancer_moves_at_most_once(void)
{
    px_t px;
    lbx_t *l;

    px_open(&px, NULL, -1);
    l = lb_attach(&px, tb_closed_port(), tb_closed_port());
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_EBACKEND_UNREACHABLE);
    RP_EXPECT_INT(px.ex->status, 502);
    RP_EXPECT_INT(px.ex->attempts, 2);
    RP_EXPECT_INT(l->st[0].failures + l->st[1].failures, 2);
    RP_EXPECT_INT(l->st[0].in_flight + l->st[1].in_flight, 0);
    px_close(&px);
}

/* With a sticky cookie name, the response names the member; a request
 * that carries the id goes to that member and gets no new cookie. */
static void test_balancer_sticky_cookie_set_and_honoured(void)
{
    static const tb_step_t s0[] = {
        {.send = OK_HELLO}, {.send = OK_HELLO}, TB_END};
    const tb_step_t *const sc[] = {s0};
    char want[64];
    px_t px;
    lbx_t *l;

    px_open(&px, sc, 1);
    l = lb_attach(&px, tb_closed_port(), px.tb->port);
    l->b.sticky = "RPROUTE";
    px.ex->prefix = "/app/";
    l->st[1].swrr_current = 5; /* member 1 first */
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    snprintf(want, sizeof(want), "RPROUTE=%s; Path=/app/; HttpOnly; Secure",
             l->m[1].id);
    RP_EXPECT_STR(apr_table_get(px.fr->headers, "Set-Cookie"), want);
    px_exchange(&px, "/y");
    px.ex->target = &l->route;
    px.ex->balancer = &l->b;
    apr_table_setn(px.ex->in_headers, "Cookie",
                   apr_pstrcat(px.pool, "a=b; RPROUTE=", l->m[1].id, NULL));
    RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->status, 200);
    RP_EXPECT(px.ex->stuck);
    RP_EXPECT_STR(apr_table_get(px.fr->headers, "Set-Cookie"), NULL);
    RP_EXPECT_INT(l->st[1].requests, 2);
    px_close(&px);
}

/* Every member out: 503 with destination_unavailable, nothing dialed. */
static void test_balancer_without_usable_member_is_503(void)
{
    px_t px;
    lbx_t *l;

    px_open(&px, NULL, -1);
    l = lb_attach(&px, tb_closed_port(), tb_closed_port());
    l->st[0].flags = RP_LB_F_DISABLED;
    l->st[1].flags = RP_LB_F_HEALTH_DOWN;
    RP_EXPECT_INT(rp_proxy_run(px.ex), RP_ENO_MEMBER);
    RP_EXPECT_INT(px.ex->status, 503);
    RP_EXPECT_INT(px.ex->fault, RP_FAULT_DESTINATION_UNAVAILABLE);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00192"));
    RP_EXPECT_INT(stats(&px).conns_opened, 0);
    px_close(&px);
}

/* ---- direct writes (splice) --------------------------------------------- */

/* A body of DIRECT_LEN bytes, each 1 + its offset mod 251: 10 come with the
 * head, the rest 50 ms later. */
#define DIRECT_LEN 300000
#define DIRECT_HEAD "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n"
static char direct_body[DIRECT_LEN];
static char direct_first[sizeof(DIRECT_HEAD) + 10];

static void direct_fill(void)
{
    int i;

    for (i = 0; i < DIRECT_LEN; i++) {
        direct_body[i] =
            (char)(1 + i % 251); /* no NUL: the front keeps strings */
    }
    memcpy(direct_first, DIRECT_HEAD, sizeof(DIRECT_HEAD) - 1);
    memcpy(direct_first + sizeof(DIRECT_HEAD) - 1, direct_body, 10);
}

#define DIRECT_STEP(rest, then_)                                               \
    {                                                                          \
        .send = direct_first, .send_len = sizeof(direct_first) - 1,            \
        .pause_ms = 50, .send2 = direct_body + 10, .send2_len = (rest),        \
        .then = (then_)                                                        \
    }

/* px_open() with the body DIRECT_LEN long and the front's direct writes
 * set (direct as in mem_front_t; gone: the reader leaves at once). */
static void px_open_direct(px_t *px, const tb_step_t *const *scripts,
                           int direct, int gone)
{
    direct_fill();
    px_open(px, scripts, 1);
    px->fr->direct = direct;
    px->fr->direct_gone = gone;
    px->fr->dcap = DIRECT_LEN;
}

/* The usual script: the whole body, its rest 50 ms after the head. */
static const tb_step_t direct_s0[] = {DIRECT_STEP(DIRECT_LEN - 10, 0), TB_END};
static const tb_step_t *const direct_sc[] = {direct_s0};

/* rp_proxy_run(), then the direct socket closes (the response is over). */
static apr_status_t px_run_direct(px_t *px)
{
    apr_status_t rv = rp_proxy_run(px->ex);

    mf_direct_end(px->fr);
    return rv;
}

/* The first part goes down send_body; then the front offers its socket
 * and the rest of the body goes there, byte for byte, counted on the
 * exchange and by direct_sent(), logged at debug (RP00193); the response
 * ends with finish() and the backend connection is pooled. */
static void test_direct_socket_gets_the_rest_of_a_large_body(void)
{
    px_t px;

    px_open_direct(&px, direct_sc, 1, 0);
    RP_EXPECT_INT(px_run_direct(&px), APR_SUCCESS);
    RP_EXPECT_INT(px.fr->ndirect_calls, 1);
    RP_EXPECT_INT(px.fr->direct_at, 10);
    RP_EXPECT_INT(px.fr->body_len, 10);
    RP_EXPECT(memcmp(px.fr->body, direct_body, 10) == 0);
    RP_EXPECT_INT(px.fr->sink.got, DIRECT_LEN - 10);
    RP_EXPECT(memcmp(px.fr->sink.buf, direct_body + 10, DIRECT_LEN - 10) == 0);
    RP_EXPECT_INT(px.fr->direct_bytes, DIRECT_LEN - 10);
    RP_EXPECT_INT(px.ex->body_bytes, DIRECT_LEN);
    RP_EXPECT_INT(px.fr->nfinish, 1);
    RP_EXPECT_INT(px.fr->body_len_at_finish, 10);
    RP_EXPECT_INT(px.fr->naborts, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_DEBUG, "RP00193"));
    RP_EXPECT_INT(logs_at_most(px.fr, RP_LOG_INFO), 0);
    RP_EXPECT_INT(stats(&px).conns_idle, 1);
    px_close(&px);
}

/* The backend closes in the middle of the direct part: the response is
 * broken as any other (abort, RP00106 naming the missing bytes), what
 * came reached the client, the connection is not kept. */
static void test_direct_backend_close_mid_body_aborts_front(void)
{
    static const tb_step_t s0[] = {DIRECT_STEP(100000, TB_CLOSE), TB_END};
    const tb_step_t *const sc[] = {s0};
    px_t px;

    px_open_direct(&px, sc, 1, 0);
    RP_EXPECT_INT(px_run_direct(&px), RP_EBACKEND_BROKE);
    RP_EXPECT_INT(px.fr->naborts, 1);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "RP00106"));
    RP_EXPECT(has_log(px.fr, RP_LOG_ERR, "(199990 of 300000 bytes missing)"));
    RP_EXPECT_INT(px.fr->sink.got, 100000);
    RP_EXPECT(memcmp(px.fr->sink.buf, direct_body + 10, 100000) == 0);
    RP_EXPECT_INT(stats(&px).conns_idle, 0);
    px_close(&px);
}

/* The client leaves (the direct socket's reader is gone): as when it
 * leaves during send_body, quiet and counted; the front hears of it. */
static void test_direct_client_gone_is_quiet(void)
{
    px_t px;

    px_open_direct(&px, direct_sc, 1, 1);
    RP_EXPECT_INT(px_run_direct(&px), RP_ECLIENT_GONE);
    RP_EXPECT_INT(px.fr->direct_failed, 1);
    RP_EXPECT_INT(px.fr->naborts, 0);
    RP_EXPECT_INT(px.fr->nfinish, 0);
    RP_EXPECT_INT(stats(&px).client_aborts, 1);
    RP_EXPECT_INT(logs_at_most(px.fr, RP_LOG_INFO), 0);
    px_close(&px);
}

/* A front that refuses (its filters must see the body), and RProxySplice
 * Off (the front is not even asked): the whole body goes down send_body
 * and finish(). */
static void test_direct_refused_or_off_body_through_the_front(void)
{
    int off;
    px_t px;

    for (off = 0; off < 2; off++) {
        px_open_direct(&px, direct_sc, off ? 1 : 2, 0);
        px.conf.splice = off ? 0 : 1;
        RP_EXPECT_INT(rp_proxy_run(px.ex), APR_SUCCESS);
        RP_EXPECT_INT(px.fr->ndirect_calls, off ? 0 : 1);
        RP_EXPECT_INT(px.fr->body_len, DIRECT_LEN);
        RP_EXPECT(memcmp(px.fr->body, direct_body, DIRECT_LEN) == 0);
        RP_EXPECT_INT(px.fr->direct_bytes, 0);
        RP_EXPECT(!has_log(px.fr, RP_LOG_DEBUG, "RP00193"));
        RP_EXPECT_INT(stats(&px).conns_idle, 1);
        px_close(&px);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as httpd does: a closed peer is EPIPE */
    apr_initialize();
    TB_RUN(test_rfc9110_7_6_1_request_hop_by_hop_fields_removed);
    TB_RUN(test_rfc9110_10_1_4_te_trailers_passes);
    TB_RUN(test_untrusted_peer_forwarding_fields_replaced_host_is_target);
    TB_RUN(test_preserve_host_sends_client_host);
    TB_RUN(test_add_forwarded_off_sends_no_x_forwarded);
    TB_RUN(test_trusted_peer_forwarding_fields_extended);
    TB_RUN(test_rfc9110_7_6_3_via_names_each_hops_version);
    TB_RUN(test_via_off_by_default);
    TB_RUN(test_path_join_and_query_merge_on_the_wire);
    TB_RUN(test_dot_segment_in_path_is_400_without_backend_connection);
    TB_RUN(test_rewrite_hook_edits_reach_backend_but_framing_stays);
    TB_RUN(test_rewrite_hook_failure_is_502_without_backend_connection);
    TB_RUN(test_rewrite_hook_moves_the_request_to_another_origin);
    TB_RUN(test_modify_response_hook_changes_what_front_sees);
    TB_RUN(test_error_override_keeps_status_and_challenge_only);
    TB_RUN(test_modify_response_failure_is_502_and_head_not_sent);
    TB_RUN(test_error_hook_decides_the_status);
    TB_RUN(test_error_hook_answering_itself_returns_success);
    TB_RUN(test_location_rewritten_before_modify_response_hook);
    TB_RUN(test_location_for_another_host_unchanged);
    TB_RUN(test_201_location_content_location_and_cookie_rules);
    TB_RUN(test_unreachable_backend_is_502);
    TB_RUN(test_header_timeout_is_504);
    TB_RUN(test_garbage_status_line_is_502);
    TB_RUN(test_rfc9110_7_6_1_response_hop_by_hop_fields_removed);
    TB_RUN(test_trailers_of_chunked_response_reach_finish);
    TB_RUN(test_rfc9110_6_6_2_trailer_announcement_reaches_front_head);
    TB_RUN(test_rfc8297_103_reaches_front_other_1xx_do_not);
    TB_RUN(test_flush_interval_0_content_length_no_flush_before_finish);
    TB_RUN(test_flush_interval_negative_flushes_every_write);
    TB_RUN(test_chunked_response_flushes_every_write);
    TB_RUN(test_event_stream_flushes_every_write);
    TB_RUN(test_flush_interval_100ms_flushes_between_parts_400ms_apart);
    TB_RUN(test_backend_close_mid_body_aborts_front_backend_broke);
    TB_RUN(test_backend_silent_mid_body_past_io_timeout_aborts);
    TB_RUN(test_client_gone_in_send_body_closes_backend_conn_quietly);
    TB_RUN(test_client_gone_with_short_rest_keeps_backend_conn);
    TB_RUN(test_client_gone_in_send_head_closes_backend_conn_quietly);
    TB_RUN(test_client_gone_while_reading_its_body_is_quiet);
    TB_RUN(test_direct_socket_gets_the_rest_of_a_large_body);
    TB_RUN(test_direct_backend_close_mid_body_aborts_front);
    TB_RUN(test_direct_client_gone_is_quiet);
    TB_RUN(test_direct_refused_or_off_body_through_the_front);
    TB_RUN(test_request_body_with_content_length_forwarded_exactly);
    TB_RUN(test_request_body_chunked_forwarded_chunked);
    TB_RUN(test_second_exchange_reuses_the_backend_connection);
    TB_RUN(test_rfc9110_6_5_request_trailers_forwarded_in_last_chunk);
    TB_RUN(test_request_trailers_not_asked_for_content_length_body);
    TB_RUN(test_response_trailers_hop_by_hop_and_framing_dropped);
    TB_RUN(test_request_te_other_than_chunked_is_400_without_backend);
    TB_RUN(test_request_te_lone_chunked_any_spelling_forwarded);
    TB_RUN(test_broken_body_fault_and_detail_kept);
    TB_RUN(test_request_line_not_token_or_invisible_is_400);
    TB_RUN(test_balancer_connect_refused_moves_to_next_member);
    TB_RUN(test_balancer_moves_at_most_once);
    TB_RUN(test_balancer_sticky_cookie_set_and_honoured);
    TB_RUN(test_balancer_without_usable_member_is_503);
    apr_terminate();
    return rp_test_done();
}
