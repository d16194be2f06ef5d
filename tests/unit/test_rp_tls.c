/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_tls.c: unit tests of core/rp_tls.c against the OpenSSL server of
 * rp_test_tls.h, with a PKI made at start in a temporary directory.
 *
 * Each test runs in a forked child (TB_RUN) with its own APR pool, context
 * and server; fx_close() destroys the pool (closing every connection),
 * stops the server and checks that the process holds as many descriptors
 * as before the test. Each connection gets its own subpool, as the
 * transport gives each backend connection its own pool. */

#include <signal.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_network_io.h>
#include "rp_tls.h"
#include "rp_test.h"
#include "rp_test_backend.h"
#include "rp_test_tls.h"

#define MS(n) apr_time_from_msec(n)
#define HS_TIMEOUT MS(3000)
#define IO_TIMEOUT MS(3000)
#define MIB (1024 * 1024)

static ts_pki_t pki;

typedef struct fx_t {
    apr_pool_t *pool;
    ts_server_t *ts;
    rp_tls_conf_t conf;
    rp_tls_ctx_t *ctx;
    int fds; /* descriptors open before the test */
} fx_t;

/* One client connection: its pool owns the socket and the TLS state. */
typedef struct cx_t {
    apr_pool_t *pool;
    apr_socket_t *sock;
    rp_tls_conn_t *tls;
    const char *why;
    apr_status_t rv;
} cx_t;

/* Conf trusting the test CA, everything else default. */
static void fx_conf(fx_t *fx)
{
    memset(&fx->conf, 0, sizeof(fx->conf));
    fx->conf.verify = RP_UNSET;
    fx->conf.ca_file = pki.ca;
}

static void fx_server(fx_t *fx, const ts_conf_t *sc)
{
    fx->ts = ts_start(sc);
}

/* Start a test: pool, a server playing sc (NULL: none), default conf. */
static void fx_open(fx_t *fx, const ts_conf_t *sc)
{
    memset(fx, 0, sizeof(*fx));
    fx->fds = tb_count_fds();
    apr_pool_create(&fx->pool, NULL);
    fx_conf(fx);
    if (sc) {
        fx_server(fx, sc);
    }
}

/* Build the context from fx->conf; the test fails when it does not. */
static int fx_ctx(fx_t *fx)
{
    const char *why = NULL;
    apr_status_t rv = rp_tls_ctx_create(fx->pool, &fx->conf, &fx->ctx, &why);
    if (rv != APR_SUCCESS) {
        rp_test_fail(__FILE__, __LINE__, "rp_tls_ctx_create: %s",
                     why ? why : "?");
        return 0;
    }
    return 1;
}

static void fx_close(fx_t *fx)
{
    apr_pool_destroy(fx->pool);
    ts_stop(fx->ts);
    RP_EXPECT_INT(tb_count_fds(), fx->fds);
}

/* A TCP connection to 127.0.0.1:port in a fresh subpool of fx->pool. */
static void cx_dial(fx_t *fx, cx_t *cx, int port)
{
    apr_sockaddr_t *sa;

    memset(cx, 0, sizeof(*cx));
    apr_pool_create(&cx->pool, fx->pool);
    if (apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, (apr_port_t)port, 0,
                              cx->pool) != APR_SUCCESS ||
        apr_socket_create(&cx->sock, APR_INET, SOCK_STREAM, APR_PROTO_TCP,
                          cx->pool) != APR_SUCCESS) {
        tb_die("cx_dial");
    }
    apr_socket_timeout_set(cx->sock, MS(2000));
    if (apr_socket_connect(cx->sock, sa) != APR_SUCCESS) {
        tb_die("cx_dial: connect");
    }
}

/* Dial the test server and run the handshake for host, telling the layer
 * that the backend's port is port (the session is saved for host:port). */
static apr_status_t cx_open_as(fx_t *fx, cx_t *cx, const char *host, int port)
{
    cx_dial(fx, cx, fx->ts->port);
    cx->rv = rp_tls_connect(fx->ctx, cx->pool, cx->sock, host, (apr_port_t)port,
                            HS_TIMEOUT, &cx->tls, &cx->why);
    if (cx->rv != APR_SUCCESS) {
        cx->tls = NULL;
    }
    return cx->rv;
}

/* Dial the test server and run the handshake for host. */
static apr_status_t cx_open(fx_t *fx, cx_t *cx, const char *host)
{
    return cx_open_as(fx, cx, host, fx->ts->port);
}

/* Destroy the connection's pool: close_notify, SSL freed, socket closed. */
static void cx_close(cx_t *cx)
{
    if (cx->pool) {
        apr_pool_destroy(cx->pool);
        cx->pool = NULL;
    }
}

/* Read exactly n bytes into buf. */
static apr_status_t cx_read_n(cx_t *cx, char *buf, apr_size_t n)
{
    apr_size_t got = 0, len;
    apr_status_t rv = APR_SUCCESS;

    while (got < n && rv == APR_SUCCESS) {
        len = n - got;
        rv = rp_tls_read(cx->tls, buf + got, &len, IO_TIMEOUT);
        got += len;
    }
    return rv;
}

static int contains(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

#define EXPECT_CONTAINS(s, needle)                                             \
    do {                                                                       \
        const char *s_ = (s);                                                  \
        if (!contains(s_, needle)) {                                           \
            rp_test_fail(__FILE__, __LINE__, "%s == \"%s\", lacks \"%s\"", #s, \
                         s_ ? s_ : "(null)", needle);                          \
        }                                                                      \
    } while (0)

/* A server for the given certificate that greets with "hello\n". */
static ts_conf_t server_with(const char *cert, const char *key)
{
    ts_conf_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.cert = cert;
    sc.key = key;
    sc.greet = "hello\n";
    return sc;
}

/* Connect to host, expect success and the greeting. */
static void expect_connects(fx_t *fx, const char *host)
{
    char buf[6];
    cx_t cx;

    RP_EXPECT_INT(cx_open(fx, &cx, host), APR_SUCCESS);
    if (cx.rv != APR_SUCCESS) {
        printf("    why: %s\n", cx.why ? cx.why : "(null)");
    }
    else {
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        RP_EXPECT(memcmp(buf, "hello\n", 6) == 0);
    }
    cx_close(&cx);
}

/* Connect to host, expect RP_ETLS with needle in why. */
static void expect_refused(fx_t *fx, const char *host, const char *needle)
{
    cx_t cx;

    RP_EXPECT_INT(cx_open(fx, &cx, host), RP_ETLS);
    EXPECT_CONTAINS(cx.why, needle);
    cx_close(&cx);
}

/* ---- verification ------------------------------------------------------ */

static void test_rfc6125_good_cert_verifies_by_dns_name(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "localhost");
    }
    fx_close(&fx);
}

static void test_rfc6125_good_cert_verifies_by_ip_san(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "127.0.0.1");
    }
    fx_close(&fx);
}

static void test_rfc6125_wrong_host_is_hostname_mismatch(void)
{
    ts_conf_t sc = server_with(pki.wrong, pki.wrong_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost", "certificate verify failed: ");
        expect_refused(&fx, "localhost", "hostname mismatch");
        expect_refused(&fx, "127.0.0.1", "IP address mismatch");
        /* "*.example" style partial matches are not asked for here, but a
         * sub-name must not match a name it only ends with. */
        expect_refused(&fx, "x.wrong.example", "hostname mismatch");
    }
    fx_close(&fx);
}

static void test_rfc5280_expired_cert_is_refused_as_expired(void)
{
    ts_conf_t sc = server_with(pki.expired, pki.expired_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost",
                       "certificate verify failed: certificate has expired");
    }
    fx_close(&fx);
}

static void test_rfc5280_self_signed_cert_is_refused(void)
{
    ts_conf_t sc = server_with(pki.self, pki.self_key);
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        RP_EXPECT_INT(cx_open(&fx, &cx, "localhost"), RP_ETLS);
        RP_EXPECT(contains(cx.why, "self-signed") ||
                  contains(cx.why, "self signed"));
        EXPECT_CONTAINS(cx.why, "certificate verify failed");
        cx_close(&cx);
    }
    fx_close(&fx);
}

static void test_rfc5280_unknown_ca_is_refused(void)
{
    ts_conf_t sc = server_with(pki.other, pki.other_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost",
                       "unable to get local issuer certificate");
    }
    fx_close(&fx);
}

static void test_verify_off_accepts_unknown_ca_and_any_name(void)
{
    ts_conf_t sc = server_with(pki.self, pki.self_key);
    fx_t fx;

    fx_open(&fx, &sc);
    fx.conf.verify = 0;
    fx.conf.ca_file = NULL; /* and no system store is needed */
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "localhost");
        expect_connects(&fx, "not-the-name.example");
    }
    fx_close(&fx);
}

static void test_server_name_is_sent_and_verified_instead_of_host(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    fx.conf.server_name = "localhost";
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "127.0.0.2"); /* the URL's host: not used */
        RP_EXPECT_STR(ts_rec(fx.ts, 0).sni, "localhost");
    }
    fx_close(&fx);
}

static void test_server_name_mismatch_is_refused(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    fx.conf.server_name = "wrong.example";
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost", "hostname mismatch");
    }
    fx_close(&fx);
}

/* ---- client certificates ---------------------------------------------- */

static void test_client_cert_required_without_cert_fails_tls12(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    sc.client_ca = pki.ca;
    sc.tls12_only = 1;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost", "handshake failed: ");
    }
    fx_close(&fx);
}

/* TLS 1.3 (RFC 8446 4.4.2.4): the server judges the client's certificate
 * after the client finished, so the refusal arrives on the first read. */
static void test_client_cert_required_without_cert_fails_tls13(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[16];
    apr_size_t len = sizeof(buf);
    cx_t cx;
    fx_t fx;

    sc.client_ca = pki.ca;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        if (cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
            RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, IO_TIMEOUT), RP_ETLS);
            RP_EXPECT_INT(len, 0);
            EXPECT_CONTAINS(rp_tls_error(cx.tls), "certificate required");
            len = sizeof(buf); /* and it stays failed */
            RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, 0), RP_ETLS);
        }
        else {
            RP_EXPECT_INT(cx.rv, RP_ETLS);
        }
        cx_close(&cx);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).handshake_ok, 0);
    }
    fx_close(&fx);
}

static void test_client_cert_presented_when_configured(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    sc.client_ca = pki.ca;
    fx_open(&fx, &sc);
    fx.conf.cert_file = pki.client;
    fx.conf.key_file = pki.client_key;
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "localhost");
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).handshake_ok, 1);
        RP_EXPECT_INT(ts_rec(fx.ts, 0).peer_cert, 1);
    }
    fx_close(&fx);
}

/* ---- SNI and ALPN ------------------------------------------------------ */

static void test_rfc6066_3_sni_is_the_host_name(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "localhost");
        RP_EXPECT_INT(ts_rec(fx.ts, 0).has_sni, 1);
        RP_EXPECT_STR(ts_rec(fx.ts, 0).sni, "localhost");
    }
    fx_close(&fx);
}

static void test_rfc6066_3_no_sni_for_ip_literal(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "127.0.0.1");
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).handshake_ok, 1);
        RP_EXPECT_INT(ts_rec(fx.ts, 0).has_sni, 0);
    }
    fx_close(&fx);
}

static void test_rfc7301_alpn_offers_exactly_http11(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    ts_rec_t r;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_connects(&fx, "localhost");
        r = ts_rec(fx.ts, 0);
        RP_EXPECT_INT(r.alpn_seen, 1);
        RP_EXPECT_INT(r.alpn_len, 9);
        RP_EXPECT(memcmp(r.alpn, "\x08http/1.1", 9) == 0);
    }
    fx_close(&fx);
}

/* ---- versions and resumption ------------------------------------------ */

/* Two connections in a row: the second resumes the first one's session. */
static void expect_second_resumes(fx_t *fx, const char *version)
{
    char buf[6];
    cx_t cx;
    int i;

    for (i = 0; i < 2; i++) {
        RP_EXPECT_INT(cx_open(fx, &cx, "localhost"), APR_SUCCESS);
        if (cx.rv != APR_SUCCESS) {
            printf("    why: %s\n", cx.why);
            return;
        }
        RP_EXPECT_STR(rp_tls_version(cx.tls), version);
        RP_EXPECT_INT(rp_tls_resumed(cx.tls), i);
        /* Reading lets a TLS 1.3 client take in the session tickets that
         * follow the handshake. */
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        cx_close(&cx);
        RP_EXPECT(ts_wait_done(fx->ts, i, 2000));
        RP_EXPECT_INT(ts_rec(fx->ts, i).resumed, i);
    }
}

static void test_rfc5077_tls12_session_resumed_on_second_connection(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    sc.tls12_only = 1;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_second_resumes(&fx, "TLSv1.2");
    }
    fx_close(&fx);
}

static void test_rfc8446_4_6_1_tls13_ticket_resumed_on_second_connection(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        expect_second_resumes(&fx, "TLSv1.3");
    }
    fx_close(&fx);
}

/* A session verified for one name is never offered for another: resuming
 * skips certificate verification. */
static void test_session_not_offered_for_another_name(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[6];
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        RP_EXPECT_INT(cx_open(&fx, &cx, "localhost"), APR_SUCCESS);
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        cx_close(&cx);
        RP_EXPECT_INT(cx_open(&fx, &cx, "127.0.0.1"), APR_SUCCESS);
        RP_EXPECT_INT(cx.tls ? rp_tls_resumed(cx.tls) : -1, 0);
        cx_close(&cx);
    }
    fx_close(&fx);
}

/* One context serves backends with the same settings: connections to two
 * names in turn each resume their own name's session (a single saved
 * session would be replaced by the other name's every time). */
static void test_session_kept_per_name_for_alternating_backends(void)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "localhost",
                                        "127.0.0.1"};
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[6];
    cx_t cx;
    fx_t fx;
    int i;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        for (i = 0; i < 4; i++) {
            RP_EXPECT_INT(cx_open(&fx, &cx, names[i]), APR_SUCCESS);
            if (cx.rv != APR_SUCCESS) {
                printf("    why: %s\n", cx.why);
                break;
            }
            RP_EXPECT_INT(rp_tls_resumed(cx.tls), i >= 2);
            RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
            cx_close(&cx);
            RP_EXPECT(ts_wait_done(fx.ts, i, 2000));
            RP_EXPECT_INT(ts_rec(fx.ts, i).resumed, i >= 2);
        }
    }
    fx_close(&fx);
}

/* Two backends with the same name on two ports are two backends: the
 * session of one is not offered to the other, and neither replaces the
 * other's. (One test server plays both; the layer knows only the port it
 * is told.) */
static void test_session_kept_per_backend_port(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[6];
    cx_t cx;
    fx_t fx;
    int i, port, resumed[3];

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        for (i = 0; i < 3; i++) {
            /* port P, then P + 1, then P again */
            port = fx.ts->port + (i == 1);
            resumed[i] = -1;
            if (cx_open_as(&fx, &cx, "localhost", port) == APR_SUCCESS) {
                resumed[i] = rp_tls_resumed(cx.tls);
                RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
            }
            cx_close(&cx);
        }
        RP_EXPECT_INT(resumed[0], 0);
        RP_EXPECT_INT(resumed[1], 0); /* nothing saved for port P + 1 */
        RP_EXPECT_INT(resumed[2], 1); /* P's session is still there */
    }
    fx_close(&fx);
}

/* A half-close over TLS (a tunnel whose client shut its write side): our
 * close_notify reaches the server, which still answers, and we still read
 * that answer and then its own close_notify; we write nothing more. */
static void test_shutdown_write_is_a_half_close(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    struct iovec one = {(void *)"x", 1};
    char buf[8];
    apr_size_t n = sizeof(buf);
    cx_t cx;
    fx_t fx;

    sc.farewell = "BYE";
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        RP_EXPECT_INT(rp_tls_shutdown_write(cx.tls, IO_TIMEOUT), APR_SUCCESS);
        RP_EXPECT_INT(rp_tls_shutdown_write(cx.tls, IO_TIMEOUT), APR_SUCCESS);
        RP_EXPECT_INT(rp_tls_write(cx.tls, &one, 1, IO_TIMEOUT), APR_EPIPE);
        /* the greeting, sent before, then the answer to the half-close */
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        RP_EXPECT(memcmp(buf, "hello\n", 6) == 0);
        RP_EXPECT_INT(cx_read_n(&cx, buf, 3), APR_SUCCESS);
        RP_EXPECT(memcmp(buf, "BYE", 3) == 0);
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &n, IO_TIMEOUT), APR_EOF);
        RP_EXPECT_INT(rp_tls_unclean_eof(cx.tls), 0);
        cx_close(&cx);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).close_notify, 1);
    }
    fx_close(&fx);
}

static void test_min_version_13_against_tls12_only_server_fails(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    fx_t fx;

    sc.tls12_only = 1;
    fx_open(&fx, &sc);
    fx.conf.min_version = RP_TLS_V1_3;
    if (fx_ctx(&fx)) {
        expect_refused(&fx, "localhost", "handshake failed: ");
    }
    fx_close(&fx);
}

static void test_default_min_version_negotiates_tls12_with_12_only_server(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    cx_t cx;
    fx_t fx;

    sc.tls12_only = 1;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        RP_EXPECT_INT(cx_open(&fx, &cx, "localhost"), APR_SUCCESS);
        RP_EXPECT_STR(cx.tls ? rp_tls_version(cx.tls) : "", "TLSv1.2");
        cx_close(&cx);
    }
    fx_close(&fx);
}

/* ---- reading and writing ---------------------------------------------- */

/* 1 MiB out as vectors of awkward sizes (gathered and straight-through),
 * the same 1 MiB back, both checked byte for byte. */
static void test_round_trip_1mib_both_ways_byte_exact(void)
{
    static const apr_size_t sizes[] = {1,     2,     5000, 16384,  3,
                                       40000, 16383, 7,    100000, 11};
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char *out = malloc(MIB), *in = calloc(1, MIB);
    struct iovec vec[64];
    apr_size_t off = 0, i;
    int n;
    cx_t cx;
    fx_t fx;

    for (i = 0; i < MIB; i++) {
        out[i] = (char)ts_pattern(i);
    }
    sc.greet = NULL;
    sc.echo = MIB;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        while (off < MIB) {
            for (n = 0; n < 64 && off < MIB; n++) {
                apr_size_t k = sizes[(off + n) % 10];
                k = k < MIB - off ? k : MIB - off;
                vec[n].iov_base = out + off;
                vec[n].iov_len = k;
                off += k;
            }
            RP_EXPECT_INT(rp_tls_write(cx.tls, vec, n, IO_TIMEOUT),
                          APR_SUCCESS);
        }
        RP_EXPECT_INT(cx_read_n(&cx, in, MIB), APR_SUCCESS);
        RP_EXPECT(memcmp(in, out, MIB) == 0);
        RP_EXPECT_INT(rp_tls_pending(cx.tls), 0);
        cx_close(&cx);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).echo_ok, 1);
    }
    fx_close(&fx);
    free(out);
    free(in);
}

/* Records that arrived together come back from one read (OpenSSL reads
 * ahead), and the close_notify read ahead behind them is kept for the
 * next call: the data first, then the end. */
static void test_records_read_ahead_come_in_one_read_then_the_end(void)
{
    enum { N = 3 * 16384 };
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char *out = malloc(N), *in = calloc(1, 65536);
    struct iovec v;
    apr_size_t len, i;
    cx_t cx;
    fx_t fx;

    for (i = 0; i < N; i++) {
        out[i] = (char)ts_pattern(i);
    }
    sc.greet = NULL;
    sc.echo = N; /* three full records back, then close_notify */
    sc.end = TS_CLOSE_NOTIFY;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        v.iov_base = out;
        v.iov_len = N;
        RP_EXPECT_INT(rp_tls_write(cx.tls, &v, 1, IO_TIMEOUT), APR_SUCCESS);
        apr_sleep(MS(300)); /* all of it is in our socket by then */
        len = 65536;
        RP_EXPECT_INT(rp_tls_read(cx.tls, in, &len, IO_TIMEOUT), APR_SUCCESS);
        RP_EXPECT_INT(len, N);
        RP_EXPECT(memcmp(in, out, N) == 0);
        len = 65536;
        RP_EXPECT_INT(rp_tls_read(cx.tls, in, &len, 0), APR_EOF);
        RP_EXPECT_INT(len, 0);
        RP_EXPECT_INT(rp_tls_unclean_eof(cx.tls), 0);
        cx_close(&cx);
    }
    fx_close(&fx);
    free(out);
    free(in);
}

static void test_read_timeout_is_timeup_when_server_silent(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[16];
    apr_size_t len;
    apr_time_t t0;
    struct iovec v = {"x", 1};
    cx_t cx;
    fx_t fx;

    sc.greet = NULL;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        len = sizeof(buf);
        t0 = apr_time_now();
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, MS(200)), APR_TIMEUP);
        RP_EXPECT_INT(len, 0);
        RP_EXPECT(apr_time_now() - t0 >= MS(190));
        RP_EXPECT(apr_time_now() - t0 < MS(1500));
        len = sizeof(buf);
        t0 = apr_time_now();
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, 0), APR_TIMEUP);
        RP_EXPECT(apr_time_now() - t0 < MS(100));
        /* A timeout leaves the connection usable. */
        RP_EXPECT_INT(rp_tls_write(cx.tls, &v, 1, IO_TIMEOUT), APR_SUCCESS);
        RP_EXPECT_INT(rp_tls_pending(cx.tls), 0);
        cx_close(&cx);
    }
    fx_close(&fx);
}

static void test_pending_counts_decrypted_unread_bytes(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[8];
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        RP_EXPECT_INT(cx_read_n(&cx, buf, 2), APR_SUCCESS);
        RP_EXPECT(rp_tls_pending(cx.tls) != 0);
        RP_EXPECT_INT(cx_read_n(&cx, buf, 4), APR_SUCCESS);
        RP_EXPECT(memcmp(buf, "llo\n", 4) == 0);
        RP_EXPECT_INT(rp_tls_pending(cx.tls), 0);
        cx_close(&cx);
    }
    fx_close(&fx);
}

static void test_rfc8446_6_1_close_notify_is_eof(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[16];
    apr_size_t len;
    cx_t cx;
    fx_t fx;

    sc.end = TS_CLOSE_NOTIFY;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        len = sizeof(buf);
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, IO_TIMEOUT), APR_EOF);
        RP_EXPECT_INT(len, 0);
        RP_EXPECT_INT(rp_tls_unclean_eof(cx.tls), 0);
        len = sizeof(buf);
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, 0), APR_EOF);
        cx_close(&cx);
        /* We answered with our own close_notify. */
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).close_notify, 1);
    }
    fx_close(&fx);
}

static void test_tcp_close_without_close_notify_is_eof_and_recorded(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[16];
    apr_size_t len;
    cx_t cx;
    fx_t fx;

    sc.end = TS_TCP_CLOSE;
    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
        len = sizeof(buf);
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, IO_TIMEOUT), APR_EOF);
        RP_EXPECT_INT(rp_tls_unclean_eof(cx.tls), 1);
        len = sizeof(buf);
        RP_EXPECT_INT(rp_tls_read(cx.tls, buf, &len, 0), APR_EOF);
        cx_close(&cx);
    }
    fx_close(&fx);
}

/* A peer that accepts TCP and never answers the ClientHello. */
static void test_handshake_against_silent_peer_is_timeup(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    apr_time_t t0;
    int lfd;
    cx_t cx;
    fx_t fx;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx_open(&fx, NULL);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sl) != 0 ||
        listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        tb_die("listen");
    }
    if (fx_ctx(&fx)) {
        cx_dial(&fx, &cx, ntohs(sa.sin_port));
        t0 = apr_time_now();
        RP_EXPECT_INT(rp_tls_connect(fx.ctx, cx.pool, cx.sock, "localhost",
                                     ntohs(sa.sin_port), MS(300), &cx.tls,
                                     &cx.why),
                      APR_TIMEUP);
        RP_EXPECT(apr_time_now() - t0 >= MS(290));
        RP_EXPECT(apr_time_now() - t0 < MS(2000));
        EXPECT_CONTAINS(cx.why, "timed out");
        cx_close(&cx);
    }
    close(lfd);
    fx_close(&fx);
}

/* ---- closing ---------------------------------------------------------- */

static void test_close_is_idempotent_and_sends_close_notify(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    char buf[8];
    apr_size_t len = sizeof(buf);
    struct iovec v = {"x", 1};
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        rp_tls_close(cx.tls);
        rp_tls_close(cx.tls);
        RP_EXPECT(rp_tls_read(cx.tls, buf, &len, 0) != APR_SUCCESS);
        RP_EXPECT(rp_tls_write(cx.tls, &v, 1, 0) != APR_SUCCESS);
        RP_EXPECT_INT(rp_tls_pending(cx.tls), 0);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).close_notify, 1);
        cx_close(&cx);
    }
    fx_close(&fx);
}

/* A connection nobody closed goes with its pool, close_notify included. */
static void test_pool_cleanup_closes_connection(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        cx_close(&cx);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).close_notify, 1);
    }
    fx_close(&fx);
}

/* After the owner closed the socket, closing TLS must not write to the old
 * descriptor number (it may be someone else's by now). */
static void test_close_after_socket_closed_writes_nothing(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx) && cx_open(&fx, &cx, "localhost") == APR_SUCCESS) {
        apr_socket_close(cx.sock);
        rp_tls_close(cx.tls);
        RP_EXPECT(ts_wait_done(fx.ts, 0, 2000));
        RP_EXPECT_INT(ts_rec(fx.ts, 0).close_notify, 0);
        cx_close(&cx);
    }
    fx_close(&fx);
}

static void test_no_fd_leak_over_good_and_failed_connections(void)
{
    ts_conf_t sc = server_with(pki.wrong, pki.wrong_key);
    char buf[6];
    int i, before;
    cx_t cx;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        before = tb_count_fds();
        for (i = 0; i < 8; i++) {
            /* even: refused for the name; odd: verify the name it has */
            const char *host = i % 2 ? "wrong.example" : "localhost";
            if (cx_open(&fx, &cx, host) == APR_SUCCESS) {
                RP_EXPECT_INT(cx_read_n(&cx, buf, 6), APR_SUCCESS);
            }
            RP_EXPECT_INT(cx.rv, i % 2 ? APR_SUCCESS : RP_ETLS);
            cx_close(&cx);
            RP_EXPECT(ts_wait_done(fx.ts, i, 2000));
        }
        RP_EXPECT_INT(tb_count_fds(), before);
    }
    fx_close(&fx);
}

/* ---- the shared context ------------------------------------------------ */

typedef struct par_t {
    fx_t *fx;
    int ok, resumed;
} par_t;

static void *par_main(void *arg)
{
    par_t *pa = arg;
    char buf[6];
    cx_t cx;
    int i;

    for (i = 0; i < 3; i++) {
        apr_pool_t *p;
        apr_sockaddr_t *sa;
        memset(&cx, 0, sizeof(cx));
        apr_pool_create_unmanaged_ex(&p, NULL, NULL); /* own thread */
        apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET,
                              (apr_port_t)pa->fx->ts->port, 0, p);
        apr_socket_create(&cx.sock, APR_INET, SOCK_STREAM, APR_PROTO_TCP, p);
        apr_socket_timeout_set(cx.sock, MS(5000));
        if (apr_socket_connect(cx.sock, sa) == APR_SUCCESS &&
            rp_tls_connect(pa->fx->ctx, p, cx.sock, "localhost",
                           (apr_port_t)pa->fx->ts->port, MS(8000), &cx.tls,
                           &cx.why) == APR_SUCCESS) {
            cx.rv = cx_read_n(&cx, buf, 6);
            pa->ok += cx.rv == APR_SUCCESS;
            pa->resumed += rp_tls_resumed(cx.tls);
        }
        apr_pool_destroy(p);
    }
    return NULL;
}

/* Four threads share one context (and its saved session). The server is
 * serial, so they also queue on it; all must get through. */
static void test_ctx_shared_by_threads(void)
{
    ts_conf_t sc = server_with(pki.server, pki.server_key);
    pthread_t th[4];
    par_t pa[4];
    int i, ok = 0, resumed = 0;
    fx_t fx;

    fx_open(&fx, &sc);
    if (fx_ctx(&fx)) {
        for (i = 0; i < 4; i++) {
            pa[i].fx = &fx;
            pa[i].ok = pa[i].resumed = 0;
            pthread_create(&th[i], NULL, par_main, &pa[i]);
        }
        for (i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            ok += pa[i].ok;
            resumed += pa[i].resumed;
        }
        RP_EXPECT_INT(ok, 12);
        RP_EXPECT(resumed >= 1);
    }
    fx_close(&fx);
}

/* ---- configuration ----------------------------------------------------- */

/* ctx creation refuses conf with a why containing needle. */
static void expect_conf_refused(fx_t *fx, const char *needle)
{
    const char *why = NULL;
    rp_tls_ctx_t *ctx = NULL;

    RP_EXPECT_INT(rp_tls_ctx_create(fx->pool, &fx->conf, &ctx, &why),
                  APR_EINVAL);
    EXPECT_CONTAINS(why, needle);
    RP_EXPECT(ctx == NULL);
}

static void test_ctx_refuses_missing_ca_file_naming_it(void)
{
    fx_t fx;

    fx_open(&fx, NULL);
    fx.conf.ca_file = "/nonexistent/rp-ca.pem";
    expect_conf_refused(&fx, "ca_file /nonexistent/rp-ca.pem: ");
    fx_conf(&fx);
    fx.conf.ca_file = pki.server_key; /* a file, but no certificate */
    expect_conf_refused(&fx, pki.server_key);
    fx_conf(&fx);
    fx.conf.ca_path = "/nonexistent/rp-ca-dir";
    expect_conf_refused(&fx, "ca_path /nonexistent/rp-ca-dir: ");
    fx_close(&fx);
}

static void test_ctx_refuses_key_not_matching_cert_naming_it(void)
{
    fx_t fx;

    fx_open(&fx, NULL);
    fx.conf.cert_file = pki.client;
    fx.conf.key_file = pki.server_key;
    expect_conf_refused(&fx, pki.server_key);
    expect_conf_refused(&fx, "mismatch");
    fx_close(&fx);
}

static void test_ctx_refuses_missing_cert_and_lone_key(void)
{
    fx_t fx;

    fx_open(&fx, NULL);
    fx.conf.cert_file = "/nonexistent/client.pem";
    expect_conf_refused(&fx, "cert_file /nonexistent/client.pem: ");
    fx_conf(&fx);
    fx.conf.cert_file = pki.client; /* no key_file: the key is not in it */
    expect_conf_refused(&fx, pki.client);
    fx_conf(&fx);
    fx.conf.key_file = pki.client_key;
    expect_conf_refused(&fx, "no cert_file");
    fx_close(&fx);
}

/* An encrypted key must fail at once, not prompt for a passphrase. */
static void test_ctx_refuses_encrypted_key_without_prompting(void)
{
    fx_t fx;

    fx_open(&fx, NULL);
    fx.conf.cert_file = pki.server;
    fx.conf.key_file = pki.locked_key;
    expect_conf_refused(&fx, pki.locked_key);
    fx_close(&fx);
}

static void test_ctx_refuses_bad_versions_and_cipher_lists(void)
{
    fx_t fx;

    fx_open(&fx, NULL);
    fx.conf.min_version = 11;
    expect_conf_refused(&fx, "min_version 11");
    fx_conf(&fx);
    fx.conf.ciphers = "NO-SUCH-CIPHER";
    expect_conf_refused(&fx, "ciphers NO-SUCH-CIPHER: ");
    fx_conf(&fx);
    fx.conf.ciphersuites = "TLS_NO_SUCH_SUITE";
    expect_conf_refused(&fx, "ciphersuites TLS_NO_SUCH_SUITE: ");
    fx_close(&fx);
}

static void test_ctx_accepts_client_cert_with_key_in_same_file(void)
{
    char path[TS_PATH + 16];
    FILE *out, *in;
    int ch, i;
    fx_t fx;

    snprintf(path, sizeof(path), "%s/both.pem", pki.dir);
    out = fopen(path, "w");
    for (i = 0; out && i < 2; i++) {
        in = fopen(i ? pki.client_key : pki.client, "r");
        while (in && (ch = fgetc(in)) != EOF) {
            fputc(ch, out);
        }
        if (in) {
            fclose(in);
        }
    }
    if (out) {
        fclose(out);
    }
    fx_open(&fx, NULL);
    fx.conf.cert_file = path;
    fx_ctx(&fx);
    fx_close(&fx);
    unlink(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as httpd does: a closed peer is EPIPE */
    apr_initialize();
    ts_pki_make(&pki);
    TB_RUN(test_rfc6125_good_cert_verifies_by_dns_name);
    TB_RUN(test_rfc6125_good_cert_verifies_by_ip_san);
    TB_RUN(test_rfc6125_wrong_host_is_hostname_mismatch);
    TB_RUN(test_rfc5280_expired_cert_is_refused_as_expired);
    TB_RUN(test_rfc5280_self_signed_cert_is_refused);
    TB_RUN(test_rfc5280_unknown_ca_is_refused);
    TB_RUN(test_verify_off_accepts_unknown_ca_and_any_name);
    TB_RUN(test_server_name_is_sent_and_verified_instead_of_host);
    TB_RUN(test_server_name_mismatch_is_refused);
    TB_RUN(test_client_cert_required_without_cert_fails_tls12);
    TB_RUN(test_client_cert_required_without_cert_fails_tls13);
    TB_RUN(test_client_cert_presented_when_configured);
    TB_RUN(test_rfc6066_3_sni_is_the_host_name);
    TB_RUN(test_rfc6066_3_no_sni_for_ip_literal);
    TB_RUN(test_rfc7301_alpn_offers_exactly_http11);
    TB_RUN(test_rfc5077_tls12_session_resumed_on_second_connection);
    TB_RUN(test_rfc8446_4_6_1_tls13_ticket_resumed_on_second_connection);
    TB_RUN(test_session_kept_per_name_for_alternating_backends);
    TB_RUN(test_session_kept_per_backend_port);
    TB_RUN(test_shutdown_write_is_a_half_close);
    TB_RUN(test_session_not_offered_for_another_name);
    TB_RUN(test_min_version_13_against_tls12_only_server_fails);
    TB_RUN(test_default_min_version_negotiates_tls12_with_12_only_server);
    TB_RUN(test_round_trip_1mib_both_ways_byte_exact);
    TB_RUN(test_records_read_ahead_come_in_one_read_then_the_end);
    TB_RUN(test_read_timeout_is_timeup_when_server_silent);
    TB_RUN(test_pending_counts_decrypted_unread_bytes);
    TB_RUN(test_rfc8446_6_1_close_notify_is_eof);
    TB_RUN(test_tcp_close_without_close_notify_is_eof_and_recorded);
    TB_RUN(test_handshake_against_silent_peer_is_timeup);
    TB_RUN(test_close_is_idempotent_and_sends_close_notify);
    TB_RUN(test_pool_cleanup_closes_connection);
    TB_RUN(test_close_after_socket_closed_writes_nothing);
    TB_RUN(test_no_fd_leak_over_good_and_failed_connections);
    TB_RUN(test_ctx_shared_by_threads);
    TB_RUN(test_ctx_refuses_missing_ca_file_naming_it);
    TB_RUN(test_ctx_refuses_key_not_matching_cert_naming_it);
    TB_RUN(test_ctx_refuses_missing_cert_and_lone_key);
    TB_RUN(test_ctx_refuses_encrypted_key_without_prompting);
    TB_RUN(test_ctx_refuses_bad_versions_and_cipher_lists);
    TB_RUN(test_ctx_accepts_client_cert_with_key_in_same_file);
    ts_pki_remove(&pki);
    apr_terminate();
    return rp_test_done();
}
