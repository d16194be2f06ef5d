/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_tls.h: TLS to backends. The only layer of the project that touches
 * OpenSSL; nothing of OpenSSL shows through this header.
 *
 * A context holds what one set of settings needs (trust store, client
 * certificate, protocol floor) and, for each of up to 16 backends (name and
 * port), the last session that backend gave us, so that the next connection to
 * it can resume instead of running a full handshake. One context can serve
 * every backend that uses the same settings. A connection wraps a connected
 * apr_socket_t: the handshake, reads and writes run over the socket's
 * descriptor in non-blocking mode and wait with poll(2), each wait bounded by
 * the caller's timeout.
 *
 * Lifetimes:
 *   rp_tls_ctx_t:  the pool given to rp_tls_ctx_create() (process lifetime);
 *                  its SSL_CTX and saved sessions are freed when that pool is
 *                  cleared. It must outlive every connection made from it.
 *   rp_tls_conn_t: the pool given to rp_tls_connect() (the connection's
 *                  pool); rp_tls_close() or that pool's cleanup frees it.
 *                  It borrows the socket, which must stay open until
 *                  rp_tls_close() (the cleanup runs before the socket's own
 *                  when the socket was created earlier in the same pool).
 *   why strings:   static text or strings in the pool passed to the call
 *                  (rp_tls_error(): the connection's own buffer, valid until
 *                  the next call on it).
 *
 * Threads: a context may be shared by any number of threads (the saved
 * sessions sit behind a mutex). A connection is used by one thread at a
 * time. OpenSSL's error queue is per thread; every call here clears it
 * before and after use, so no error leaks into other code on the thread.
 *
 * Signals: OpenSSL writes with write(2); the process must ignore SIGPIPE
 * (httpd does), as it must for plain APR sockets. */

#ifndef RP_TLS_H
#define RP_TLS_H

#include <sys/uio.h>
#include <apr.h>
#include <apr_pools.h>
#include <apr_network_io.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Failures are RP_ETLS (rp_core.h): handshake refused, certificate not
 * trusted, bad record; *why (or rp_tls_error()) says which. A refused
 * certificate's *why starts with RP_TLS_WHY_CERT, so that callers can tell
 * it from other handshake failures (RFC 9209 tls_certificate_error). */
#define RP_TLS_WHY_CERT "certificate verify failed: "

/* Protocol floors for rp_tls_conf_t.min_version. */
#define RP_TLS_V1_2 12
#define RP_TLS_V1_3 13

/* Settings of one context. Zero or RP_UNSET fields take the defaults. The
 * strings are borrowed during rp_tls_ctx_create(); the context keeps copies
 * of the ones it needs later. */
typedef struct rp_tls_conf_t {
    int verify;               /* RP_UNSET or != 0: verify chain and name;
                               * 0: no verification at all */
    const char *ca_file;      /* borrowed: PEM bundle of trusted CAs */
    const char *ca_path;      /* borrowed: hashed directory of trusted CAs;
                               * neither set: the system store */
    const char *cert_file;    /* borrowed: client certificate for mutual TLS,
                               * PEM, may hold the chain after the leaf */
    const char *key_file;     /* borrowed: its key (PEM, not encrypted);
                               * NULL: read from cert_file */
    const char *server_name;  /* borrowed: SNI and name to verify; NULL: the
                               * host given to rp_tls_connect() */
    int min_version;          /* 0 or RP_UNSET: RP_TLS_V1_2 */
    const char *ciphers;      /* borrowed: TLS <= 1.2 cipher list; NULL:
                               * OpenSSL's default */
    const char *ciphersuites; /* borrowed: TLS 1.3 suites; NULL: default */
} rp_tls_conf_t;

typedef struct rp_tls_ctx_t rp_tls_ctx_t;
typedef struct rp_tls_conn_t rp_tls_conn_t;

/* Build a context in p from conf, loading and checking every file now (CA
 * bundle or directory, client certificate and key, and that the key matches
 * the certificate), so that a bad configuration is refused at startup.
 * Returns APR_SUCCESS, or APR_EINVAL with *why naming the setting, the file
 * and OpenSSL's reason (a string in p). */
apr_status_t rp_tls_ctx_create(apr_pool_t *p, const rp_tls_conf_t *conf,
                               rp_tls_ctx_t **ctx, const char **why);

/* Run the client handshake on sock, a connected TCP socket, within timeout
 * for the whole handshake (<= 0: no waiting). host is the backend's host as
 * in the URL (IPv6 without brackets); it names the server unless
 * conf->server_name does. Sends SNI unless the name is an IP literal,
 * offers ALPN "http/1.1" only, verifies the certificate against the name
 * (DNS name, or IP address for a literal; no partial wildcards), and offers
 * the session the context saved for that name and port (the backend's, as
 * in the URL) for resumption.
 *
 * Leaves sock in non-blocking mode (APR timeout 0); the socket must not be
 * read or written except through this layer afterwards.
 *
 * Returns APR_SUCCESS with *conn set (freed with p or by rp_tls_close()),
 * APR_TIMEUP, RP_ETLS with *why (a string in p) such as "certificate verify
 * failed: certificate has expired" or "handshake failed: tlsv1 alert
 * protocol version", or an OS error (the connection broke: *why says so).
 *
 * With TLS 1.3 the server checks a client certificate after the client's
 * handshake is over: a refusal shows up as RP_ETLS from the first read. */
apr_status_t rp_tls_connect(rp_tls_ctx_t *ctx, apr_pool_t *p,
                            apr_socket_t *sock, const char *host,
                            apr_port_t port, apr_interval_time_t timeout,
                            rp_tls_conn_t **conn, const char **why);

/* Write all of vec. Small vectors are gathered into records of up to 16 KiB.
 * Each wait for the socket is bounded by timeout. Returns APR_SUCCESS,
 * APR_TIMEUP, RP_ETLS or an OS error (EPIPE, ECONNRESET...). After an error
 * the connection is unusable: close it. vec is not modified. */
apr_status_t rp_tls_write(rp_tls_conn_t *c, const struct iovec *vec, int nvec,
                          apr_interval_time_t timeout);

/* Read up to *len bytes into buf and set *len to the count: the first
 * record's data and every record already read ahead behind it. Waits at
 * most timeout for the first byte (0: do not wait). Returns APR_SUCCESS
 * (*len > 0), APR_TIMEUP (nothing arrived; the connection stays usable),
 * APR_EOF (close_notify, or a TCP close without one: see
 * rp_tls_unclean_eof()), RP_ETLS (see rp_tls_error()) or an OS error such
 * as ECONNRESET. On any return but APR_SUCCESS, *len is 0. A failure met
 * after some bytes is returned by the next call, those bytes by this one. */
apr_status_t rp_tls_read(rp_tls_conn_t *c, char *buf, apr_size_t *len,
                         apr_interval_time_t timeout);

/* Nonzero when decrypted or received bytes wait inside the TLS layer: a
 * pooled connection holding some is not reusable. (Polling the socket does
 * not see them.) */
int rp_tls_pending(rp_tls_conn_t *c);

/* Half-close: send close_notify (waiting at most timeout for the socket to
 * take it), then shut the TCP write side, while reads go on until the
 * peer's own end (TLS 1.3 keeps the directions apart; a TLS 1.2 peer may
 * answer with its close_notify at once). Later writes fail with
 * APR_EPIPE. APR_SUCCESS, or an error that marks c failed. */
apr_status_t rp_tls_shutdown_write(rp_tls_conn_t *c,
                                   apr_interval_time_t timeout);

/* Send close_notify if the socket takes it at once (never waits), then free
 * the TLS state. Idempotent; also run by the cleanup registered on the pool
 * given to rp_tls_connect(). Call it before closing the socket. */
void rp_tls_close(rp_tls_conn_t *c);

/* The negotiated protocol for logs, e.g. "TLSv1.3"; static. */
const char *rp_tls_version(rp_tls_conn_t *c);

/* 1 when the handshake resumed a saved session. */
int rp_tls_resumed(rp_tls_conn_t *c);

/* 1 when the peer closed TCP without close_notify. Many servers do; a body
 * delimited by the close alone may then be truncated. */
int rp_tls_unclean_eof(rp_tls_conn_t *c);

/* What the last failed rp_tls_read() or rp_tls_write() met, e.g. "tlsv13
 * alert certificate required"; "" when nothing failed. */
const char *rp_tls_error(rp_tls_conn_t *c);

#ifdef __cplusplus
}
#endif
#endif /* RP_TLS_H */
