/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_tls.c: TLS client connections to backends over OpenSSL.
 *
 *   rp_tls_ctx_create ──► SSL_CTX (trust, client cert, floor, ALPN)
 *                              │ a saved session per name (mutex)
 *                              ▼        ▲ new-session callback
 *   rp_tls_connect ──► SSL on the socket's fd ──► handshake ──► conn
 *   rp_tls_read / rp_tls_write: SSL_*_ex, and on WANT_READ / WANT_WRITE
 *   a poll(2) on the fd bounded by the caller's timeout.
 *
 * The socket stays non-blocking for its whole TLS life: OpenSSL never sleeps
 * inside a call, so every wait is ours and has a deadline.
 *
 * Reading ahead: OpenSSL reads up to RP_TLS_READ_AHEAD bytes from the socket
 * at once (several records) instead of a record header and then its body,
 * and rp_tls_read() takes every record that is already there. Records read
 * ahead sit in OpenSSL's buffer, where a poll(2) cannot see them, so a wait
 * is only ever entered on WANT_READ; AUTO_RETRY makes OpenSSL go on past a
 * record without application data (a TLS 1.3 session ticket, a key update)
 * to the records behind it, and return WANT_READ only when it needs bytes
 * the socket does not have yet.
 *
 * Errors: OpenSSL's error queue is per thread and shared with whatever else
 * runs on the thread (mod_ssl serving the client). Each operation starts
 * with an empty queue and leaves it empty, turning what it found into text. */

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <apr_strings.h>
#include <apr_file_info.h>
#include <apr_portable.h>
#include <apr_thread_mutex.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "rp_tls.h"

#define RP_TLS_GATHER 16384 /* one full TLS record of plaintext */
/* One read(2) from the socket: four full records, and what the transport
 * reads into at once (a 64 KiB block). */
#define RP_TLS_READ_AHEAD (64 * 1024)
#define RP_TLS_NAME_MAX 256 /* longest DNS name (253) and then some */
#define RP_TLS_SESSIONS 16  /* names a context keeps a session for */

/* ALPN in wire format: one protocol, length-prefixed. A proxy that speaks
 * HTTP/1.1 to the backend must not let it pick h2. */
static const unsigned char alpn_http11[] = "\x08http/1.1";
#define ALPN_HTTP11_LEN (sizeof(alpn_http11) - 1)

/* The newest session verified for one backend. */
typedef struct saved_session_t {
    SSL_SESSION *session;          /* owned reference, or NULL: free */
    apr_uint64_t stored;           /* ctx->stores when it was saved */
    char backend[RP_TLS_NAME_MAX]; /* "name:port": the name it was verified
                                    * for and the port it came from */
} saved_session_t;

/* A context serves every backend with the same settings (the adapter
 * shares it), so it keeps a session per backend: with one, two backends
 * would take turns replacing each other's and neither would resume. */
struct rp_tls_ctx_t {
    SSL_CTX *ssl_ctx;                       /* owned: freed by ctx_cleanup */
    apr_thread_mutex_t *mutex;              /* guards saved and stores */
    saved_session_t saved[RP_TLS_SESSIONS]; /* the oldest goes first */
    apr_uint64_t stores;                    /* sessions saved so far */
    const char *server_name; /* owned: copy in the ctx pool, or NULL */
    unsigned verify:1;       /* verify chain and name */
};

struct rp_tls_conn_t {
    SSL *ssl;             /* owned: freed by conn_free, or NULL once closed */
    rp_tls_ctx_t *ctx;    /* borrowed: outlives the connection */
    apr_socket_t *sock;   /* borrowed: closed by its owner after us */
    apr_pool_t *pool;     /* borrowed: holds this struct and our cleanup */
    apr_os_sock_t fd;     /* sock's descriptor, for OpenSSL and poll */
    const char *name;     /* owned: SNI / verified name, in pool */
    const char *backend;  /* owned: "name:port", whose session is saved */
    const char *version;  /* static (OpenSSL's table) */
    apr_status_t fail_rv; /* what made the connection unusable */
    char err[200];        /* last read/write failure, "" if none */
    unsigned connected:1; /* handshake done */
    unsigned resumed:1;   /* handshake resumed a saved session */
    unsigned failed:1;    /* fatal error: no close_notify, no more I/O */
    unsigned eof:1;       /* the peer closed; reads return APR_EOF */
    unsigned unclean:1;   /* ... without close_notify */
    unsigned write_closed:1; /* our close_notify and TCP FIN are sent */
};

/* ---- errors ----------------------------------------------------------- */

/* The reasons on this thread's error queue, oldest first, joined by ": ";
 * leaves the queue empty. "" when it was empty. */
static void err_drain(char *buf, apr_size_t size)
{
    unsigned long e;
    apr_size_t used = 0;
    char one[256];

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
            /* errno, e.g. from fopen(): "No such file or directory" */
            r = apr_strerror(APR_FROM_OS_ERROR(ERR_GET_REASON(e)), one,
                             sizeof(one));
        }
        else if (!r) {
            ERR_error_string_n(e, one, sizeof(one));
            r = one;
        }
        if (strstr(buf, r)) {
            continue; /* OpenSSL repeats itself across layers */
        }
        used +=
            apr_snprintf(buf + used, size - used, "%s%s", used ? ": " : "", r);
    }
}

/* "<what> <path>: <OpenSSL's reason>" in p, for configuration errors. */
static const char *file_error(apr_pool_t *p, const char *what, const char *path)
{
    char reason[512];

    err_drain(reason, sizeof(reason));
    return apr_psprintf(p, "%s %s: %s", what, path,
                        reason[0] ? reason : "unknown error");
}

/* ---- the context ------------------------------------------------------ */

static apr_status_t ctx_cleanup(void *data)
{
    rp_tls_ctx_t *ctx = data;
    int i;

    for (i = 0; i < RP_TLS_SESSIONS; i++) {
        if (ctx->saved[i].session) {
            SSL_SESSION_free(ctx->saved[i].session);
            ctx->saved[i].session = NULL;
        }
    }
    if (ctx->ssl_ctx) {
        SSL_CTX_free(ctx->ssl_ctx);
        ctx->ssl_ctx = NULL;
    }
    return APR_SUCCESS;
}

/* An encrypted key would make OpenSSL prompt on the terminal, which hangs a
 * daemon at startup: refuse it instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* The slot of backend, or NULL; under the mutex. */
static saved_session_t *saved_for(rp_tls_ctx_t *ctx, const char *backend)
{
    int i;

    for (i = 0; i < RP_TLS_SESSIONS; i++) {
        if (ctx->saved[i].session &&
            strcmp(ctx->saved[i].backend, backend) == 0) {
            return &ctx->saved[i];
        }
    }
    return NULL;
}

/* Where a session for backend goes: its own slot, else a free one, else
 * the one saved longest ago; under the mutex. */
static saved_session_t *slot_for(rp_tls_ctx_t *ctx, const char *backend)
{
    saved_session_t *slot = saved_for(ctx, backend);
    int i;

    for (i = 0; !slot && i < RP_TLS_SESSIONS; i++) {
        if (!ctx->saved[i].session) {
            slot = &ctx->saved[i];
        }
    }
    if (!slot) {
        slot = &ctx->saved[0];
        for (i = 1; i < RP_TLS_SESSIONS; i++) {
            if (ctx->saved[i].stored < slot->stored) {
                slot = &ctx->saved[i];
            }
        }
    }
    return slot;
}

/* Keep the newest session of a verified handshake for the next connection
 * to the same backend. Called after each full handshake (TLS 1.2) and for
 * each ticket (TLS 1.3, after the handshake, from inside SSL_read).
 * Returning 1 keeps the reference OpenSSL handed us. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    rp_tls_conn_t *c = SSL_get_app_data(ssl);
    rp_tls_ctx_t *ctx;
    saved_session_t *slot;
    SSL_SESSION *old;

    if (!c || !SSL_SESSION_is_resumable(sess) ||
        strlen(c->backend) >= RP_TLS_NAME_MAX) {
        return 0;
    }
    ctx = c->ctx;
    if (ctx->verify && SSL_get_verify_result(ssl) != X509_V_OK) {
        return 0;
    }
    apr_thread_mutex_lock(ctx->mutex);
    slot = slot_for(ctx, c->backend);
    old = slot->session;
    slot->session = sess;
    slot->stored = ++ctx->stores;
    apr_cpystrn(slot->backend, c->backend, sizeof(slot->backend));
    apr_thread_mutex_unlock(ctx->mutex);
    if (old) {
        SSL_SESSION_free(old);
    }
    return 1;
}

/* Settings that do not depend on the configuration. */
static const char *ctx_defaults(SSL_CTX *sc)
{
    /* Partial writes and a moving buffer let rp_tls_write() hand over
     * whatever it has; released buffers keep idle pooled connections
     * small (the read-ahead buffer and the write buffer go back once
     * empty). Reading ahead and AUTO_RETRY: see the top of this file. */
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_read_ahead(sc, 1);
    SSL_CTX_set_default_read_buffer_len(sc, RP_TLS_READ_AHEAD);
    SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION);
    /* Sessions go to on_new_session() only: OpenSSL's client cache is not
     * searched by anyone, so storing there would only grow. */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT |
                                           SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(sc, on_new_session);
    SSL_CTX_set_default_passwd_cb(sc, no_passphrase);
    /* SSL_CTX_set_alpn_protos() returns 0 on success. */
    if (SSL_CTX_set_alpn_protos(sc, alpn_http11, ALPN_HTTP11_LEN) != 0) {
        return "cannot set ALPN";
    }
    return NULL;
}

static const char *set_protocol(SSL_CTX *sc, const rp_tls_conf_t *conf,
                                apr_pool_t *p)
{
    int v = conf->min_version, floor;

    if (v == 0 || v == RP_UNSET || v == RP_TLS_V1_2) {
        floor = TLS1_2_VERSION;
    }
    else if (v == RP_TLS_V1_3) {
        floor = TLS1_3_VERSION;
    }
    else {
        return apr_psprintf(p, "min_version %d: not 1.2 or 1.3", v);
    }
    if (!SSL_CTX_set_min_proto_version(sc, floor)) {
        return file_error(p, "min_version", v == RP_TLS_V1_3 ? "1.3" : "1.2");
    }
    if (conf->ciphers && !SSL_CTX_set_cipher_list(sc, conf->ciphers)) {
        return file_error(p, "ciphers", conf->ciphers);
    }
    if (conf->ciphersuites &&
        !SSL_CTX_set_ciphersuites(sc, conf->ciphersuites)) {
        return file_error(p, "ciphersuites", conf->ciphersuites);
    }
    return NULL;
}

/* Trust anchors. They are loaded even with verification off, so that a
 * wrong path is still refused at startup rather than when turned on. */
static const char *set_trust(rp_tls_ctx_t *ctx, const rp_tls_conf_t *conf,
                             apr_pool_t *p)
{
    SSL_CTX *sc = ctx->ssl_ctx;
    apr_finfo_t fi;

    SSL_CTX_set_verify(sc, ctx->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    if (conf->ca_file &&
        !SSL_CTX_load_verify_locations(sc, conf->ca_file, NULL)) {
        return file_error(p, "ca_file", conf->ca_file);
    }
    if (conf->ca_path) {
        /* A hashed directory is searched lazily: a missing one would only
         * show up as "unable to get local issuer certificate" later. */
        if (apr_stat(&fi, conf->ca_path, APR_FINFO_TYPE, p) != APR_SUCCESS ||
            fi.filetype != APR_DIR) {
            return apr_psprintf(p, "ca_path %s: not a directory",
                                conf->ca_path);
        }
        if (!SSL_CTX_load_verify_locations(sc, NULL, conf->ca_path)) {
            return file_error(p, "ca_path", conf->ca_path);
        }
    }
    if (!conf->ca_file && !conf->ca_path && ctx->verify &&
        !SSL_CTX_set_default_verify_paths(sc)) {
        return file_error(p, "system CA store", X509_get_default_cert_file());
    }
    return NULL;
}

static const char *set_client_cert(SSL_CTX *sc, const rp_tls_conf_t *conf,
                                   apr_pool_t *p)
{
    const char *key = conf->key_file ? conf->key_file : conf->cert_file;

    if (!conf->cert_file) {
        return conf->key_file ? apr_psprintf(p,
                                             "key_file %s: no cert_file "
                                             "to go with it",
                                             conf->key_file)
                              : NULL;
    }
    if (!SSL_CTX_use_certificate_chain_file(sc, conf->cert_file)) {
        return file_error(p, "cert_file", conf->cert_file);
    }
    /* OpenSSL compares the key with the certificate while loading it and
     * says "key values mismatch"; the explicit check below catches a key
     * of another type, which it lets pass. */
    if (!SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM)) {
        return file_error(p, "key_file", key);
    }
    if (!SSL_CTX_check_private_key(sc)) {
        return file_error(p, "key_file",
                          apr_pstrcat(p, key, " (for cert_file ",
                                      conf->cert_file, ")", NULL));
    }
    return NULL;
}

apr_status_t rp_tls_ctx_create(apr_pool_t *p, const rp_tls_conf_t *conf,
                               rp_tls_ctx_t **out, const char **why)
{
    rp_tls_ctx_t *ctx = apr_pcalloc(p, sizeof(*ctx));
    apr_status_t rv;

    *why = NULL;
    ERR_clear_error();
    /* The mutex is created first so that its cleanup runs after ours. */
    rv = apr_thread_mutex_create(&ctx->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        *why = "cannot create the session mutex";
        return rv;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl_ctx) {
        *why = file_error(p, "SSL_CTX_new", "(client)");
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, ctx, ctx_cleanup, apr_pool_cleanup_null);
    ctx->verify = conf->verify != 0; /* RP_UNSET too */
    if (conf->server_name) {
        ctx->server_name = apr_pstrdup(p, conf->server_name);
    }
    *why = ctx_defaults(ctx->ssl_ctx);
    if (!*why) {
        *why = set_protocol(ctx->ssl_ctx, conf, p);
    }
    if (!*why) {
        *why = set_trust(ctx, conf, p);
    }
    if (!*why) {
        *why = set_client_cert(ctx->ssl_ctx, conf, p);
    }
    ERR_clear_error();
    if (*why) {
        return APR_EINVAL; /* the SSL_CTX goes with p */
    }
    *out = ctx;
    return APR_SUCCESS;
}

/* ---- connections ------------------------------------------------------ */

/* The session to offer: the one saved for this backend (name and port). */
static void offer_session(rp_tls_conn_t *c)
{
    rp_tls_ctx_t *ctx = c->ctx;
    saved_session_t *slot;
    SSL_SESSION *s = NULL;

    apr_thread_mutex_lock(ctx->mutex);
    slot = saved_for(ctx, c->backend);
    if (slot) {
        s = slot->session;
        SSL_SESSION_up_ref(s); /* ours until SSL_set_session took its own */
    }
    apr_thread_mutex_unlock(ctx->mutex);
    if (s) {
        SSL_set_session(c->ssl, s);
        SSL_SESSION_free(s);
    }
}

/* An IP literal gets no SNI (RFC 6066 section 3) and is verified against the
 * certificate's IP SANs. Host names never contain ':', IPv6 always does. */
static int is_ip_literal(const char *name)
{
    unsigned char a[16];

    return strchr(name, ':') != NULL || inet_pton(AF_INET, name, a) == 1;
}

/* Create the SSL for c on its fd with SNI, the name to verify and the
 * session to resume. Returns NULL or why not (in p). */
static const char *conn_setup(rp_tls_conn_t *c, apr_pool_t *p)
{
    int ip = is_ip_literal(c->name);
    X509_VERIFY_PARAM *vp;

    if (!c->name[0]) {
        return "no server name to connect to";
    }
    c->ssl = SSL_new(c->ctx->ssl_ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, (int)c->fd)) {
        return file_error(p, "cannot set up TLS for", c->name);
    }
    SSL_set_app_data(c->ssl, c);
    if (!ip && !SSL_set_tlsext_host_name(c->ssl, c->name)) {
        return file_error(p, "cannot send SNI", c->name);
    }
    if (c->ctx->verify) {
        vp = SSL_get0_param(c->ssl);
        X509_VERIFY_PARAM_set_hostflags(vp,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(vp, c->name)
               : !SSL_set1_host(c->ssl, c->name)) {
            return file_error(p, "cannot verify against", c->name);
        }
    }
    offer_session(c);
    return NULL;
}

/* Free the SSL, first sending close_notify when the connection is healthy
 * and the socket is still the one we were given (a closed APR socket says
 * -1; its old number may already belong to someone else). */
static void conn_free(rp_tls_conn_t *c)
{
    apr_os_sock_t fd = -1;

    if (!c->ssl) {
        return;
    }
    if (c->connected && !c->failed && !c->write_closed &&
        apr_os_sock_get(&fd, c->sock) == APR_SUCCESS && fd == c->fd) {
        apr_socket_timeout_set(c->sock, 0); /* never wait here */
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
}

static apr_status_t conn_cleanup(void *data)
{
    conn_free(data);
    return APR_SUCCESS;
}

/* Text for a failed handshake; sys is errno after the SSL call. */
static apr_status_t handshake_error(rp_tls_conn_t *c, int e, int sys,
                                    apr_pool_t *p, const char **why)
{
    long vr = SSL_get_verify_result(c->ssl);
    char reason[512];

    c->failed = 1;
    err_drain(reason, sizeof(reason));
    if (c->ctx->verify && vr != X509_V_OK) {
        *why = apr_pstrcat(p, RP_TLS_WHY_CERT,
                           X509_verify_cert_error_string(vr), NULL);
        return RP_ETLS;
    }
    if (e == SSL_ERROR_SYSCALL && !reason[0] && sys != 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(sys);
        *why = apr_psprintf(p, "handshake failed: %pm", &rv);
        return rv;
    }
    if (!reason[0]) {
        apr_cpystrn(reason,
                    e == SSL_ERROR_SYSCALL ? "connection closed"
                                           : "unknown error",
                    sizeof(reason));
    }
    *why = apr_pstrcat(p, "handshake failed: ", reason, NULL);
    return RP_ETLS;
}

static apr_status_t handshake(rp_tls_conn_t *c, apr_interval_time_t timeout,
                              apr_pool_t *p, const char **why)
{
    apr_time_t deadline = apr_time_now() + (timeout > 0 ? timeout : 0);
    apr_status_t rv;
    int r, e, sys;

    for (;;) {
        ERR_clear_error();
        errno = 0;
        r = SSL_connect(c->ssl);
        sys = errno;
        if (r == 1) {
            return APR_SUCCESS;
        }
        e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            return handshake_error(c, e, sys, p, why);
        }
        rv = rp_wait_fd(c->fd, e == SSL_ERROR_WANT_WRITE, deadline);
        if (rv != APR_SUCCESS) {
            *why = rv == APR_TIMEUP
                       ? "handshake timed out"
                       : apr_psprintf(p, "waiting for the handshake: %pm", &rv);
            return rv;
        }
    }
}

apr_status_t rp_tls_connect(rp_tls_ctx_t *ctx, apr_pool_t *p,
                            apr_socket_t *sock, const char *host,
                            apr_port_t port, apr_interval_time_t timeout,
                            rp_tls_conn_t **out, const char **why)
{
    rp_tls_conn_t *c = apr_pcalloc(p, sizeof(*c));
    apr_status_t rv;

    *why = NULL;
    c->ctx = ctx;
    c->sock = sock;
    c->pool = p;
    c->name = apr_pstrdup(p, ctx->server_name ? ctx->server_name
                             : host           ? host
                                              : "");
    c->backend = apr_psprintf(p, "%s:%u", c->name, (unsigned)port);
    rv = apr_os_sock_get(&c->fd, sock);
    if (rv == APR_SUCCESS) {
        rv = apr_socket_timeout_set(sock, 0); /* O_NONBLOCK */
    }
    if (rv != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot use the socket: %pm", &rv);
        return rv;
    }
    apr_pool_cleanup_register(p, c, conn_cleanup, apr_pool_cleanup_null);
    ERR_clear_error();
    *why = conn_setup(c, p);
    rv = *why ? RP_ETLS : handshake(c, timeout, p, why);
    if (rv != APR_SUCCESS) {
        rp_tls_close(c);
        return rv;
    }
    c->connected = 1;
    c->resumed = SSL_session_reused(c->ssl) == 1;
    c->version = SSL_get_version(c->ssl);
    ERR_clear_error();
    *out = c;
    return APR_SUCCESS;
}

/* ---- reading and writing ---------------------------------------------- */

/* Mark c unusable; returns rv. */
static apr_status_t conn_fail(rp_tls_conn_t *c, apr_status_t rv)
{
    c->failed = 1;
    c->fail_rv = rv;
    return rv;
}

/* Many servers close without close_notify; for HTTP the framing tells
 * whether anything was lost, so this is an EOF, remembered. OpenSSL forbids
 * SSL_shutdown after it, hence failed. */
static apr_status_t unclean_eof(rp_tls_conn_t *c)
{
    ERR_clear_error();
    c->eof = c->unclean = 1;
    return conn_fail(c, APR_EOF);
}

/* What an SSL_read/SSL_write that returned 0 means. APR_SUCCESS: waited,
 * call again. Any other value ends the call; fatal ones mark c failed.
 * sys is errno right after the SSL call. */
static apr_status_t io_error(rp_tls_conn_t *c, int e, int sys,
                             apr_time_t deadline)
{
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return rp_wait_fd(c->fd, e == SSL_ERROR_WANT_WRITE, deadline);
    case SSL_ERROR_ZERO_RETURN:
        c->eof = 1; /* close_notify: a clean end */
        return APR_EOF;
    case SSL_ERROR_SSL:
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING /* OpenSSL 3 */
        if (ERR_GET_REASON(ERR_peek_error()) ==
            SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            return unclean_eof(c); /* TCP FIN without close_notify */
        }
#endif
        err_drain(c->err, sizeof(c->err));
        return conn_fail(c, RP_ETLS);
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() != 0) {
            err_drain(c->err, sizeof(c->err));
            return conn_fail(c, RP_ETLS);
        }
        if (sys == 0) {
            return unclean_eof(c); /* OpenSSL 1.1.1 says EOF this way */
        }
        apr_strerror(APR_FROM_OS_ERROR(sys), c->err, sizeof(c->err));
        return conn_fail(c, APR_FROM_OS_ERROR(sys));
    default:
        apr_snprintf(c->err, sizeof(c->err), "unexpected SSL error %d", e);
        return conn_fail(c, RP_ETLS);
    }
}

/* Whether c can still carry bytes; sets *rv when not. */
static int usable(rp_tls_conn_t *c, apr_status_t *rv)
{
    *rv = APR_SUCCESS;
    if (!c->ssl) {
        *rv = APR_EBADF;
    }
    else if (c->eof) {
        *rv = APR_EOF;
    }
    else if (c->failed) {
        *rv = c->fail_rv;
    }
    else {
        return 1;
    }
    return 0;
}

apr_status_t rp_tls_read(rp_tls_conn_t *c, char *buf, apr_size_t *len,
                         apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + (timeout > 0 ? timeout : 0);
    apr_size_t want = *len, got = 0;
    apr_status_t rv;
    size_t n;
    int sys, e;

    *len = 0;
    if (!usable(c, &rv)) {
        return rv;
    }
    apr_socket_timeout_set(c->sock, 0); /* in case the owner changed it */
    do {
        n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_read_ex(c->ssl, buf + got, want - got, &n)) {
            got += n;
            if (!SSL_has_pending(c->ssl)) {
                break; /* the socket is asked again by the next call */
            }
            continue; /* records read ahead are taken without waiting */
        }
        sys = errno;
        e = SSL_get_error(c->ssl, 0);
        if (got > 0) {
            /* What came is returned now. A failure is recorded for the
             * next call (usable()); running out of data is not one. */
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                io_error(c, e, sys, deadline);
            }
            break;
        }
        /* One deadline for the whole call: records that carry no data
         * (tickets, key updates) do not extend it. */
        rv = io_error(c, e, sys, deadline);
    } while (rv == APR_SUCCESS && got < want);
    ERR_clear_error();
    *len = got;
    return got > 0 ? APR_SUCCESS : rv;
}

/* Write p[0..len) completely; each wait is bounded by timeout. */
static apr_status_t write_buf(rp_tls_conn_t *c, const char *p, apr_size_t len,
                              apr_interval_time_t timeout)
{
    apr_status_t rv = APR_SUCCESS;
    size_t n;
    int sys;

    while (len > 0 && rv == APR_SUCCESS) {
        n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_write_ex(c->ssl, p, len, &n)) {
            p += n;
            len -= n;
            continue;
        }
        sys = errno;
        rv = io_error(c, SSL_get_error(c->ssl, 0), sys,
                      apr_time_now() + (timeout > 0 ? timeout : 0));
    }
    ERR_clear_error();
    return rv;
}

apr_status_t rp_tls_write(rp_tls_conn_t *c, const struct iovec *vec, int nvec,
                          apr_interval_time_t timeout)
{
    char gather[RP_TLS_GATHER];
    apr_size_t used = 0, n;
    apr_status_t rv = APR_SUCCESS;
    int i;

    if (!usable(c, &rv)) {
        return rv;
    }
    if (c->write_closed) {
        return APR_EPIPE; /* rp_tls_shutdown_write() ended this direction */
    }
    apr_socket_timeout_set(c->sock, 0);
    /* Each SSL_write makes at least one record: copy small vectors (a chunk
     * header, a CRLF) together rather than sending a record for each. */
    for (i = 0; i < nvec && rv == APR_SUCCESS; i++) {
        n = vec[i].iov_len;
        if (n == 0) {
            continue;
        }
        if (used && n > sizeof(gather) - used) {
            rv = write_buf(c, gather, used, timeout);
            used = 0;
        }
        if (rv == APR_SUCCESS && n >= sizeof(gather)) {
            rv = write_buf(c, vec[i].iov_base, n, timeout);
        }
        else if (rv == APR_SUCCESS) {
            memcpy(gather + used, vec[i].iov_base, n);
            used += n;
        }
    }
    if (rv == APR_SUCCESS && used) {
        rv = write_buf(c, gather, used, timeout);
    }
    if (rv != APR_SUCCESS && !c->failed) {
        /* A write cut short leaves OpenSSL expecting the same bytes again;
         * nothing else may be written, so the connection is done. */
        conn_fail(c, rv);
    }
    return rv;
}

apr_status_t rp_tls_shutdown_write(rp_tls_conn_t *c,
                                   apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + (timeout > 0 ? timeout : 0);
    apr_status_t rv;
    int r, e, sys;

    if (!usable(c, &rv) || c->write_closed) {
        return rv;
    }
    apr_socket_timeout_set(c->sock, 0);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        r = SSL_shutdown(c->ssl); /* 0: sent; the peer's is yet to come */
        if (r >= 0) {
            break;
        }
        e = SSL_get_error(c->ssl, r);
        sys = errno;
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            err_drain(c->err, sizeof(c->err));
            return conn_fail(c, sys ? APR_FROM_OS_ERROR(sys) : RP_ETLS);
        }
        rv = rp_wait_fd(c->fd, e == SSL_ERROR_WANT_WRITE, deadline);
        if (rv != APR_SUCCESS) {
            return conn_fail(c, rv);
        }
    }
    ERR_clear_error();
    c->write_closed = 1;
    /* TCP too: a server that reads the socket below TLS sees the end */
    shutdown(c->fd, SHUT_WR);
    return APR_SUCCESS;
}

/* ---- small accessors -------------------------------------------------- */

int rp_tls_pending(rp_tls_conn_t *c)
{
    if (!c->ssl) {
        return 0;
    }
    /* SSL_pending: decrypted bytes; SSL_has_pending: also bytes of a
     * record not yet processed. */
    return SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl);
}

void rp_tls_close(rp_tls_conn_t *c)
{
    if (c) {
        apr_pool_cleanup_kill(c->pool, c, conn_cleanup);
        conn_free(c);
    }
}

const char *rp_tls_version(rp_tls_conn_t *c)
{
    return c->version ? c->version : "none";
}

int rp_tls_resumed(rp_tls_conn_t *c)
{
    return c->resumed;
}

int rp_tls_unclean_eof(rp_tls_conn_t *c)
{
    return c->unclean;
}

const char *rp_tls_error(rp_tls_conn_t *c)
{
    return c->err;
}
