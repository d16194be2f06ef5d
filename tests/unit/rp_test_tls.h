/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_test_tls.h: a throw-away PKI and a scripted TLS server for the unit
 * tests of core/rp_tls.c.
 *
 * ts_pki_make() creates a directory under /tmp and writes, as PEM:
 *   ca.pem                      the test CA (the client's trust anchor)
 *   server.pem / server.key     "localhost" + IP 127.0.0.1, signed by the CA
 *   expired.pem / .key          the same names, expired yesterday
 *   wrong.pem / .key            "wrong.example" only
 *   self.pem / .key             "localhost", self-signed (no CA knows it)
 *   other.pem / .key            "localhost", signed by a CA nobody trusts
 *   client.pem / client.key     a client certificate signed by the CA
 *   locked.key                  server.key encrypted with a passphrase
 * ts_pki_remove() deletes them again. Keys are P-256: fast to make.
 *
 * ts_start() runs an OpenSSL server on 127.0.0.1 (ephemeral port) in one
 * thread that serves connections one after another, as its ts_conf_t says:
 * handshake, optional greeting, optional echo of N bytes, optional answers
 * to HTTP requests (ts_http_t, paced), then an ending.
 * Per connection it records (ts_rec()) the SNI and the ALPN list the client
 * sent, whether the session was resumed, whether a client certificate came,
 * and whether the client sent close_notify. Every wait is bounded: socket
 * timeouts of TS_WAIT_MS, and ts_stop() shuts the current socket down.
 *
 * Lifetimes: a ts_server_t is malloc'd by ts_start() and freed by
 * ts_stop(); the conf's strings are borrowed until then. */

#ifndef RP_TEST_TLS_H
#define RP_TEST_TLS_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define TS_FN static __attribute__((unused))
#define TS_MAX_CONNS 32
#define TS_WAIT_MS 3000
#define TS_PATH 128

/* ---- the PKI ------------------------------------------------------------ */

typedef struct ts_pki_t {
    char dir[32]; /* "/tmp/rp_tls_XXXXXX" */
    char ca[TS_PATH];
    char server[TS_PATH], server_key[TS_PATH];
    char expired[TS_PATH], expired_key[TS_PATH];
    char wrong[TS_PATH], wrong_key[TS_PATH];
    char self[TS_PATH], self_key[TS_PATH];
    char other[TS_PATH], other_key[TS_PATH];
    char client[TS_PATH], client_key[TS_PATH];
    char locked_key[TS_PATH];
} ts_pki_t;

#define TS_LOCKED_PASS "secret"

TS_FN void ts_die(const char *what)
{
    fprintf(stderr, "rp_test_tls: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

TS_FN void ts_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!e || !X509_add_ext(x, e, -1)) {
        ts_die("X509_add_ext");
    }
    X509_EXTENSION_free(e);
}

/* A certificate for cn (and san when not NULL) over key, valid from
 * `from` to `to` seconds from now, signed by issuer (NULL: by itself). */
typedef struct ts_cert_spec_t {
    const char *cn;
    const char *san; /* "DNS:localhost,IP:127.0.0.1" or NULL */
    const char *eku; /* "serverAuth", "clientAuth" or NULL */
    int ca;
    long from, to;
    long serial;
} ts_cert_spec_t;

TS_FN X509 *ts_cert(const ts_cert_spec_t *s, EVP_PKEY *key, X509 *issuer,
                    EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;

    if (!x || !X509_set_version(x, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), s->from) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), s->to) ||
        !X509_set_pubkey(x, key)) {
        ts_die("X509 fields");
    }
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    ts_add_ext(x, &v3, NID_basic_constraints,
               s->ca ? "critical,CA:TRUE" : "CA:FALSE");
    ts_add_ext(x, &v3, NID_key_usage,
               s->ca ? "critical,keyCertSign,cRLSign"
                     : "critical,digitalSignature");
    ts_add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (issuer) {
        ts_add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
    }
    if (s->san) {
        ts_add_ext(x, &v3, NID_subject_alt_name, s->san);
    }
    if (s->eku) {
        ts_add_ext(x, &v3, NID_ext_key_usage, s->eku);
    }
    if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        ts_die("X509_sign");
    }
    return x;
}

TS_FN EVP_PKEY *ts_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k) {
        ts_die("EVP_EC_gen");
    }
    return k;
}

TS_FN void ts_write(const char *path, X509 *x, EVP_PKEY *k, const char *pass)
{
    FILE *f = fopen(path, "w");
    int ok;
    if (!f) {
        ts_die(path);
    }
    if (x) {
        ok = PEM_write_X509(f, x);
    }
    else if (pass) {
        ok = PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(), NULL, 0, NULL,
                                  (void *)pass);
    }
    else {
        ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    }
    if (!ok || fclose(f) != 0) {
        ts_die(path);
    }
}

/* Make a leaf under issuer (NULL: self-signed), write it and its key. */
TS_FN void ts_leaf(const ts_cert_spec_t *s, X509 *issuer, EVP_PKEY *ikey,
                   const char *cert_path, const char *key_path)
{
    EVP_PKEY *k = ts_key();
    X509 *x = ts_cert(s, k, issuer, ikey);
    ts_write(cert_path, x, NULL, NULL);
    ts_write(key_path, NULL, k, NULL);
    X509_free(x);
    EVP_PKEY_free(k);
}

TS_FN void ts_pki_paths(ts_pki_t *pk)
{
#define TS_P(field, name)                                                      \
    snprintf(pk->field, sizeof(pk->field), "%s/%s", pk->dir, name)
    TS_P(ca, "ca.pem");
    TS_P(server, "server.pem");
    TS_P(server_key, "server.key");
    TS_P(expired, "expired.pem");
    TS_P(expired_key, "expired.key");
    TS_P(wrong, "wrong.pem");
    TS_P(wrong_key, "wrong.key");
    TS_P(self, "self.pem");
    TS_P(self_key, "self.key");
    TS_P(other, "other.pem");
    TS_P(other_key, "other.key");
    TS_P(client, "client.pem");
    TS_P(client_key, "client.key");
    TS_P(locked_key, "locked.key");
#undef TS_P
}

#define TS_DAY 86400L
#define TS_SAN_LOCAL "DNS:localhost,IP:127.0.0.1"
static const ts_cert_spec_t ts_spec_ca = {.cn = "rp test CA",
                                          .ca = 1,
                                          .from = -TS_DAY,
                                          .to = 30 * TS_DAY,
                                          .serial = 1};
static const ts_cert_spec_t ts_spec_other_ca = {.cn = "rp other CA",
                                                .ca = 1,
                                                .from = -TS_DAY,
                                                .to = 30 * TS_DAY,
                                                .serial = 2};
static const ts_cert_spec_t ts_spec_server = {.cn = "localhost",
                                              .san = TS_SAN_LOCAL,
                                              .eku = "serverAuth",
                                              .from = -TS_DAY,
                                              .to = 30 * TS_DAY,
                                              .serial = 10};
static const ts_cert_spec_t ts_spec_expired = {.cn = "localhost",
                                               .san = TS_SAN_LOCAL,
                                               .eku = "serverAuth",
                                               .from = -3 * TS_DAY,
                                               .to = -TS_DAY,
                                               .serial = 11};
static const ts_cert_spec_t ts_spec_wrong = {.cn = "wrong.example",
                                             .san = "DNS:wrong.example",
                                             .eku = "serverAuth",
                                             .from = -TS_DAY,
                                             .to = 30 * TS_DAY,
                                             .serial = 12};
static const ts_cert_spec_t ts_spec_client = {.cn = "rp test client",
                                              .eku = "clientAuth",
                                              .from = -TS_DAY,
                                              .to = 30 * TS_DAY,
                                              .serial = 13};

/* The good server certificate, its key, and the key once more encrypted. */
TS_FN void ts_server_files(ts_pki_t *pk, X509 *ca, EVP_PKEY *cakey)
{
    EVP_PKEY *k = ts_key();
    X509 *x = ts_cert(&ts_spec_server, k, ca, cakey);
    ts_write(pk->server, x, NULL, NULL);
    ts_write(pk->server_key, NULL, k, NULL);
    ts_write(pk->locked_key, NULL, k, TS_LOCKED_PASS);
    X509_free(x);
    EVP_PKEY_free(k);
}

TS_FN void ts_pki_make(ts_pki_t *pk)
{
    EVP_PKEY *cak = ts_key(), *ocak = ts_key();
    X509 *cax = ts_cert(&ts_spec_ca, cak, NULL, NULL);
    X509 *ocax = ts_cert(&ts_spec_other_ca, ocak, NULL, NULL);

    snprintf(pk->dir, sizeof(pk->dir), "/tmp/rp_tls_XXXXXX");
    if (!mkdtemp(pk->dir)) {
        ts_die("mkdtemp");
    }
    ts_pki_paths(pk);
    ts_write(pk->ca, cax, NULL, NULL);
    ts_server_files(pk, cax, cak);
    ts_leaf(&ts_spec_expired, cax, cak, pk->expired, pk->expired_key);
    ts_leaf(&ts_spec_wrong, cax, cak, pk->wrong, pk->wrong_key);
    ts_leaf(&ts_spec_server, NULL, NULL, pk->self, pk->self_key);
    ts_leaf(&ts_spec_server, ocax, ocak, pk->other, pk->other_key);
    ts_leaf(&ts_spec_client, cax, cak, pk->client, pk->client_key);
    X509_free(ocax);
    X509_free(cax);
    EVP_PKEY_free(ocak);
    EVP_PKEY_free(cak);
}

TS_FN void ts_pki_remove(ts_pki_t *pk)
{
    const char *files[] = {pk->ca,         pk->server,      pk->server_key,
                           pk->expired,    pk->expired_key, pk->wrong,
                           pk->wrong_key,  pk->self,        pk->self_key,
                           pk->other,      pk->other_key,   pk->client,
                           pk->client_key, pk->locked_key};
    size_t i;
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        unlink(files[i]);
    }
    rmdir(pk->dir);
}

/* ---- the server --------------------------------------------------------- */

typedef enum ts_end_t {
    TS_WAIT_CLOSE = 0, /* read until the client closes */
    TS_CLOSE_NOTIFY,   /* send close_notify, then wait for the client */
    TS_TCP_CLOSE       /* FIN without close_notify */
} ts_end_t;

/* One answer of the HTTP mode (ts_conf_t.http): once a request head has
 * come, first is written, then after pause_ms the rest (each with one
 * SSL_write, so one record for up to 16 KiB). */
typedef struct ts_http_t {
    const char *first; /* NULL ends the list */
    int pause_ms;
    const char *rest; /* or NULL */
} ts_http_t;

typedef struct ts_conf_t {
    const char *cert, *key; /* borrowed: server certificate and key */
    const char *client_ca;  /* borrowed: require a client cert under it */
    int tls12_only;         /* cap the server at TLS 1.2 */
    const char *greet;      /* borrowed: sent after the handshake */
    size_t echo;            /* read this many pattern bytes, send them back */
    ts_end_t end;
    const char *farewell;  /* borrowed: with TS_WAIT_CLOSE, sent after the
                            * client's close_notify (a half-close), then
                            * the server's own close_notify */
    const ts_http_t *http; /* borrowed: answers to the requests of each
                            * connection in turn, after greet and echo */
} ts_conf_t;

/* What one connection showed; under the server's mutex. */
typedef struct ts_rec_t {
    int handshake_ok;
    int has_sni;
    char sni[256];
    int alpn_seen;
    unsigned char alpn[64];
    size_t alpn_len;
    int resumed;
    int peer_cert;    /* the client presented a certificate */
    int echo_ok;      /* the echo bytes matched the pattern */
    int close_notify; /* the client sent close_notify */
    int done;         /* the server is finished with it */
} ts_rec_t;

typedef struct ts_server_t {
    ts_conf_t conf;
    SSL_CTX *ctx; /* owned */
    int lfd;      /* owned: listening socket */
    int port;
    pthread_t thread;
    int stop; /* atomic */
    pthread_mutex_t mu;
    int cur_fd; /* under mu: the connection being served, or -1 */
    int nconns; /* under mu */
    ts_rec_t recs[TS_MAX_CONNS];
} ts_server_t;

/* Byte i of the echo test's stream: not periodic at any small length. */
TS_FN unsigned char ts_pattern(size_t i)
{
    return (unsigned char)(((i * 2654435761u) >> 13) ^ (i >> 9));
}

TS_FN ts_rec_t *ts_rec_of(SSL *ssl)
{
    return SSL_get_app_data(ssl);
}

TS_FN int ts_on_sni(SSL *ssl, int *alert, void *arg)
{
    ts_server_t *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    ts_rec_t *r = ts_rec_of(ssl);
    (void)alert;
    pthread_mutex_lock(&s->mu);
    r->has_sni = name != NULL;
    snprintf(r->sni, sizeof(r->sni), "%s", name ? name : "");
    pthread_mutex_unlock(&s->mu);
    return SSL_TLSEXT_ERR_OK;
}

TS_FN int ts_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char mine[] = "\x02h2\x08http/1.1";
    ts_server_t *s = arg;
    ts_rec_t *r = ts_rec_of(ssl);
    pthread_mutex_lock(&s->mu);
    r->alpn_seen = 1;
    r->alpn_len = inlen < sizeof(r->alpn) ? inlen : sizeof(r->alpn);
    memcpy(r->alpn, in, r->alpn_len);
    pthread_mutex_unlock(&s->mu);
    if (SSL_select_next_proto((unsigned char **)out, outlen, mine,
                              sizeof(mine) - 1, in,
                              inlen) == OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

TS_FN SSL_CTX *ts_ctx(ts_server_t *s)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const ts_conf_t *c = &s->conf;
    if (!ctx || !SSL_CTX_use_certificate_chain_file(ctx, c->cert) ||
        !SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM)) {
        ts_die("server SSL_CTX");
    }
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"rp", 2);
    SSL_CTX_set_tlsext_servername_callback(ctx, ts_on_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx, s);
    SSL_CTX_set_alpn_select_cb(ctx, ts_on_alpn, s);
    if (c->tls12_only) {
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    if (c->client_ca) {
        if (!SSL_CTX_load_verify_file(ctx, c->client_ca)) {
            ts_die("server client CA");
        }
        SSL_CTX_set_verify(
            ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

/* Read exactly n bytes (blocking, with the socket's timeout). */
TS_FN int ts_read_n(SSL *ssl, unsigned char *buf, size_t n)
{
    size_t got = 0, k;
    while (got < n) {
        if (!SSL_read_ex(ssl, buf + got, n - got, &k)) {
            return 0;
        }
        got += k;
    }
    return 1;
}

TS_FN void ts_echo(ts_server_t *s, SSL *ssl, ts_rec_t *r)
{
    size_t n = s->conf.echo, i, k;
    unsigned char *buf = malloc(n);
    int ok;
    if (!buf) {
        ts_die("malloc");
    }
    ok = ts_read_n(ssl, buf, n);
    for (i = 0; ok && i < n; i++) {
        ok = buf[i] == ts_pattern(i);
    }
    pthread_mutex_lock(&s->mu);
    r->echo_ok = ok;
    pthread_mutex_unlock(&s->mu);
    if (ok && (!SSL_write_ex(ssl, buf, n, &k) || k != n)) {
        fprintf(stderr, "ts_echo: write failed\n");
    }
    free(buf);
}

/* Read a request head (up to its blank line, at most 8 KiB); 0 when the
 * client closed or the socket timed out first. */
TS_FN int ts_read_head(SSL *ssl)
{
    char buf[8192];
    size_t have = 0, k;
    while (have < sizeof(buf)) {
        if (!SSL_read_ex(ssl, buf + have, 1, &k)) {
            return 0;
        }
        have += k;
        if (have >= 4 && !memcmp(buf + have - 4, "\r\n\r\n", 4)) {
            return 1;
        }
    }
    return 0;
}

TS_FN void ts_http(ts_server_t *s, SSL *ssl)
{
    const ts_http_t *h;
    size_t k;
    for (h = s->conf.http; h->first; h++) {
        if (!ts_read_head(ssl) ||
            !SSL_write_ex(ssl, h->first, strlen(h->first), &k)) {
            return;
        }
        if (h->pause_ms > 0) {
            usleep((useconds_t)h->pause_ms * 1000);
        }
        if (h->rest && !SSL_write_ex(ssl, h->rest, strlen(h->rest), &k)) {
            return;
        }
    }
}

/* Read until the client closes; note whether it said close_notify. */
TS_FN void ts_wait_close(ts_server_t *s, SSL *ssl, ts_rec_t *r)
{
    char buf[4096];
    size_t k;
    while (SSL_read_ex(ssl, buf, sizeof(buf), &k)) {
    }
    if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN) {
        pthread_mutex_lock(&s->mu);
        r->close_notify = 1;
        pthread_mutex_unlock(&s->mu);
    }
}

/* FIN without close_notify, then wait for the client's close. */
TS_FN void ts_tcp_close(int fd)
{
    char buf[4096];
    shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof(buf), 0) > 0) {
    }
}

TS_FN void ts_serve(ts_server_t *s, int fd, ts_rec_t *r)
{
    SSL *ssl = SSL_new(s->ctx);
    size_t k;
    if (!ssl || !SSL_set_fd(ssl, fd)) {
        ts_die("server SSL_new");
    }
    SSL_set_app_data(ssl, r);
    if (SSL_accept(ssl) == 1) {
        pthread_mutex_lock(&s->mu);
        r->handshake_ok = 1;
        r->resumed = SSL_session_reused(ssl);
        r->peer_cert = SSL_get0_peer_certificate(ssl) != NULL;
        pthread_mutex_unlock(&s->mu);
        if (s->conf.greet) {
            SSL_write_ex(ssl, s->conf.greet, strlen(s->conf.greet), &k);
        }
        if (s->conf.echo) {
            ts_echo(s, ssl, r);
        }
        if (s->conf.http) {
            ts_http(s, ssl);
        }
        if (s->conf.end == TS_TCP_CLOSE) {
            ts_tcp_close(fd);
        }
        else {
            if (s->conf.end == TS_CLOSE_NOTIFY) {
                SSL_shutdown(ssl);
            }
            ts_wait_close(s, ssl, r);
            if (s->conf.farewell && r->close_notify) {
                SSL_write_ex(ssl, s->conf.farewell, strlen(s->conf.farewell),
                             &k);
                SSL_shutdown(ssl);
            }
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
}

TS_FN int ts_stopping(ts_server_t *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

TS_FN void ts_accept_one(ts_server_t *s)
{
    struct timeval tv = {TS_WAIT_MS / 1000, 0};
    int fd = accept(s->lfd, NULL, NULL), i;
    if (fd < 0) {
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    pthread_mutex_lock(&s->mu);
    i = s->nconns < TS_MAX_CONNS ? s->nconns++ : -1;
    s->cur_fd = fd;
    pthread_mutex_unlock(&s->mu);
    if (i >= 0) {
        ts_serve(s, fd, &s->recs[i]);
    }
    pthread_mutex_lock(&s->mu);
    s->cur_fd = -1;
    if (i >= 0) {
        s->recs[i].done = 1;
    }
    pthread_mutex_unlock(&s->mu);
    close(fd);
}

TS_FN void *ts_main(void *arg)
{
    ts_server_t *s = arg;
    while (!ts_stopping(s)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0) {
            ts_accept_one(s);
        }
    }
    return NULL;
}

TS_FN ts_server_t *ts_start(const ts_conf_t *conf)
{
    ts_server_t *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (!s) {
        ts_die("calloc");
    }
    s->conf = *conf;
    s->cur_fd = -1;
    s->ctx = ts_ctx(s);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sl) != 0 ||
        listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        ts_die("listen");
    }
    s->port = ntohs(sa.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, ts_main, s) != 0) {
        ts_die("pthread_create");
    }
    return s;
}

TS_FN void ts_stop(ts_server_t *s)
{
    if (!s) {
        return;
    }
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&s->mu);
    if (s->cur_fd >= 0) {
        shutdown(s->cur_fd, SHUT_RDWR); /* wakes a blocked SSL call */
    }
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A copy of connection i's record; zeroed when there is none. */
TS_FN ts_rec_t ts_rec(ts_server_t *s, int i)
{
    ts_rec_t r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_lock(&s->mu);
    if (i >= 0 && i < s->nconns) {
        r = s->recs[i];
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Wait until the server is finished with connection i. 1: it is. */
TS_FN int ts_wait_done(ts_server_t *s, int i, int ms)
{
    int n;
    for (n = 0; n < ms; n += 2) {
        if (ts_rec(s, i).done) {
            return 1;
        }
        usleep(2000);
    }
    return 0;
}

#endif /* RP_TEST_TLS_H */
