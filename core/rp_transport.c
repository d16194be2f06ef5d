/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_transport.c: one round trip on a pooled connection (rp_pool.c), and
 * the response body read back as buckets.
 *
 * Data flow of a round trip:
 *
 *   acquire ──► write head ──► stream body ──► read head (deadline) ──► resp
 *      ▲  stale pooled conn, idempotent, nothing received: retry once  │
 *      └───────────────────────────────────────────────────────────────┘
 *
 * Reading: a connection reads into 64 KiB blocks owned by a heap bucket
 * (conn->hb). Body bytes leave as copies of that bucket narrowed to the
 * span, so the body is never copied here; the block is freed when the last
 * bucket pointing into it is gone. conn->hb belongs to the exchange's bucket
 * allocator and is dropped before the connection goes back to the pool. */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_portable.h>
#include "rp_block.h"
#include "rp_pool.h"
#include "rp_headers.h"

/* Read blocks come from malloc() (rp_block.h) and go back when the last
 * bucket pointing into them is gone; body-sized ones through a small cache.
 * Not from the bucket allocator: its apr_allocator belongs to the client
 * connection and keeps freed nodes (up to MaxMemFree each), and with a
 * connection's few blocks of 64 KiB in flight that held 3-4x
 * mod_proxy_http's RSS after a load of 1 MiB or chunked responses at 256
 * connections (bench/RESULTS.md); with malloc it is 0.94-0.96x. A block is
 * a little less than a page multiple, so that the allocation with malloc's
 * header still fits whole pages. */
#define RP_BLOCK_SIZE(kib) ((kib)*1024 - 128)
#define RP_HEAD_BLOCK RP_BLOCK_SIZE(16) /* first read: head, small body */
#define RP_READ_BLOCK RP_BLOCK_CACHED   /* largest body read: 64 KiB */
#define RP_MIN_READ 4096                /* a smaller tail gets a fresh block */
#define RP_BATCH (256 * 1024) /* body bytes one rp_response_read may gather */
#define RP_MAX_FIELDS 128     /* fields parsed without an allocation */
#define RP_MAX_INTERIM 16     /* 1xx responses before the final one */
#define RP_MAX_IOV 64
#define RP_REPLAY_MAX (64 * 1024) /* request body kept for a retry */
/* Gathered waits (rp_response_t.gather): body bytes still to come for one,
 * and the largest mark. 256 KiB saved no more CPU than 128 KiB and held
 * more read blocks per thread (RSS after a 1 MiB load 1.00x instead of
 * 0.93x mod_proxy_http's; docs/internals/performance.md). */
#define RP_GATHER_MIN RP_READ_BLOCK
#define RP_GATHER_MAX (128 * 1024)

/* ---- reading ---------------------------------------------------------- */

/* The size of the next block: what the rest of the message is expected to
 * need (c->expect; no 64 KiB block for a 1 KiB response), else the largest,
 * rounded so that the allocator's node is whole pages. */
static apr_size_t block_size(const rp_conn_t *c, apr_size_t unread)
{
    apr_size_t cap = RP_READ_BLOCK;

    if (c->expect > 0 && c->expect < (apr_uint64_t)RP_READ_BLOCK) {
        cap = (apr_size_t)c->expect + unread;
        cap = cap < RP_MIN_READ ? RP_MIN_READ : cap;
        cap = (cap + 128 + 4095) / 4096 * 4096 - 128;
    }
    if (unread > cap / 2) {
        cap = unread + RP_READ_BLOCK / 2; /* a head longer than a block */
    }
    return cap;
}

/* Make room for at least RP_MIN_READ bytes after last. A new block takes over
 * the unread bytes; the old one lives on as long as buckets point into it. */
static apr_status_t conn_make_room(rp_conn_t *c, apr_bucket_alloc_t *ba)
{
    apr_size_t unread = c->last - c->pos;
    apr_size_t cap;
    char *nb;

    if (c->hb && c->cap - c->last >= RP_MIN_READ) {
        return APR_SUCCESS;
    }
    cap = block_size(c, unread);
    nb = rp_block_get(cap);
    if (!nb) {
        return APR_ENOMEM;
    }
    if (unread) {
        memcpy(nb, c->buf + c->pos, unread);
    }
    rp_conn_drop_buffer(c);
    c->hb = apr_bucket_heap_create(nb, cap, rp_block_free_fn_for(cap), ba);
    c->buf = nb;
    c->cap = cap;
    c->pos = 0;
    c->last = unread;
    return APR_SUCCESS;
}

/* Set an int socket option on c's socket. 1: set. */
static int conn_sockopt(rp_conn_t *c, int level, int name, int value)
{
    apr_os_sock_t fd;

    return apr_os_sock_get(&fd, c->sock) == APR_SUCCESS &&
           setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

/* The socket's receive low-water mark: a wait for data ends once this many
 * bytes are there (or the peer closed, or the receive window is full, so
 * it cannot wait for more than the backend may send). A read still returns
 * whatever is there. The last value is kept, as for the timeout; when the
 * call fails, c->lowat stays as it was. */
static void conn_lowat(rp_conn_t *c, int lowat)
{
#ifdef SO_RCVLOWAT
    if (lowat != c->lowat && conn_sockopt(c, SOL_SOCKET, SO_RCVLOWAT, lowat)) {
        c->lowat = lowat;
    }
#else
    (void)c;
    (void)lowat;
#endif
}

/* Acknowledge at once what was read: called before a gathered wait. Linux
 * acknowledges on arrival only more than one full segment, and on a read
 * only when the read freed much of the receive window; on a pooled
 * connection whose window has grown, the last full segment read waits for
 * the delayed acknowledgement (40 ms or more). A backend with a large body
 * still to send may be waiting for just that (congestion window, pacing).
 * The call sends it if one is due; it also leaves the kernel's interactive
 * mode (entered as each request went out right after a response) until the
 * next request goes out. A failure only loses the hint. */
static void conn_ack_now(rp_conn_t *c)
{
#ifdef TCP_QUICKACK
    (void)conn_sockopt(c, IPPROTO_TCP, TCP_QUICKACK, 1);
#else
    (void)c;
#endif
}

/* Every change of the socket's timeout goes through here: the last value
 * is kept so that the common case, no change, costs no call. */
static void conn_timeout(rp_conn_t *c, apr_interval_time_t timeout)
{
    if (timeout != c->sock_timeout) {
        apr_socket_timeout_set(c->sock, timeout);
        c->sock_timeout = timeout;
    }
}

/* One recv into the buffer, waiting at most timeout (0: not at all).
 * APR_EOF when the backend closed its side, APR_TIMEUP when nothing came.
 * c->full tells whether the read filled all the room: more may be waiting. */
static apr_status_t conn_fill(rp_conn_t *c, apr_bucket_alloc_t *ba,
                              apr_interval_time_t timeout)
{
    apr_size_t n, room;
    apr_status_t rv;

    rv = conn_make_room(c, ba);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    room = n = c->cap - c->last;
    if (timeout < 0) {
        timeout = 0;
    }
    if (c->tls) {
        rv = rp_tls_read(c->tls, c->buf + c->last, &n, timeout);
        c->last += n;
        c->full = n == room;
        return n > 0 ? APR_SUCCESS : rv;
    }
    conn_timeout(c, timeout);
    rv = apr_socket_recv(c->sock, c->buf + c->last, &n);
    c->last += n;
    c->full = n == room;
    if (n > 0) {
        return APR_SUCCESS;
    }
    if (rv == APR_SUCCESS) {
        rv = APR_EOF;
    }
    if (APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_EAGAIN(rv)) {
        rv = APR_TIMEUP;
    }
    return rv;
}

/* A bucket for buf[off..off+len) sharing the block's storage. */
static apr_bucket *span_bucket(rp_conn_t *c, apr_size_t off, apr_size_t len)
{
    apr_bucket *b;

    apr_bucket_copy(c->hb, &b);
    b->start = off;
    b->length = len;
    return b;
}

/* ---- writing ---------------------------------------------------------- */

static apr_status_t send_all(rp_conn_t *c, struct iovec *vec, int nvec)
{
    apr_status_t rv = APR_SUCCESS;
    apr_size_t n;

    if (c->tls) {
        return rp_tls_write(c->tls, vec, nvec, c->io_timeout);
    }
    while (nvec > 0) {
        rv = apr_socket_sendv(c->sock, vec, nvec, &n);
        while (nvec > 0 && n >= vec->iov_len) {
            n -= vec->iov_len;
            vec++;
            nvec--;
        }
        if (nvec > 0) {
            vec->iov_base = (char *)vec->iov_base + n;
            vec->iov_len -= n;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return rv;
}

/* Write the data buckets of bb, framed as one chunk when chunked. bb stays
 * the caller's; it is empty on return. Buckets are deleted only after the
 * vectors pointing into them were written. */
static apr_status_t send_brigade(rp_conn_t *c, apr_bucket_brigade *bb,
                                 int chunked)
{
    struct iovec vec[RP_MAX_IOV + 2];
    char hdr[24];
    apr_off_t total = 0;
    apr_status_t rv = APR_SUCCESS;
    apr_bucket *b;
    int n = 0;

    if (chunked) {
        rv = apr_brigade_length(bb, 1, &total);
        if (rv == APR_SUCCESS && total > 0) {
            vec[n].iov_base = hdr;
            vec[n++].iov_len =
                apr_snprintf(hdr, sizeof(hdr), "%" APR_UINT64_T_HEX_FMT "\r\n",
                             (apr_uint64_t)total);
        }
    }
    b = APR_BRIGADE_FIRST(bb);
    while (rv == APR_SUCCESS && b != APR_BRIGADE_SENTINEL(bb)) {
        const char *data;
        apr_size_t len;
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv == APR_SUCCESS && len > 0) {
            vec[n].iov_base = (char *)data;
            vec[n++].iov_len = len;
        }
        b = APR_BUCKET_NEXT(b);
        if (rv == APR_SUCCESS && n >= RP_MAX_IOV) {
            rv = send_all(c, vec, n);
            n = 0;
            while (APR_BRIGADE_FIRST(bb) != b) {
                apr_bucket_delete(APR_BRIGADE_FIRST(bb));
            }
        }
    }
    if (rv == APR_SUCCESS && chunked && total > 0) {
        vec[n].iov_base = "\r\n";
        vec[n++].iov_len = 2;
    }
    if (rv == APR_SUCCESS && n > 0) {
        rv = send_all(c, vec, n);
    }
    apr_brigade_cleanup(bb);
    return rv;
}

/* ---- one round trip --------------------------------------------------- */

/* Methods RFC 9110 section 9.2.2 calls idempotent. */
static int is_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
           !strcmp(m, "TRACE") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

/* A request may be sent twice when repeating it cannot do harm: an
 * idempotent method, or a client that said so with an idempotency key. */
static int may_send_twice(const rp_request_t *req)
{
    return is_idempotent(req->method) ||
           apr_table_get(req->headers, "Idempotency-Key") ||
           apr_table_get(req->headers, "X-Idempotency-Key");
}

/* What was sent of the client's body, kept so that a retry can send it
 * again: at most RP_REPLAY_MAX bytes, else nothing is kept and the request
 * is not retried. Lives in the exchange pool. */
typedef struct replay_t {
    apr_bucket_brigade *kept; /* copies, set aside in the exchange pool */
    apr_off_t len;
    unsigned overflow:1; /* more than RP_REPLAY_MAX was sent */
    unsigned eos:1;      /* the client's body was read to its end */
} replay_t;

static void keep_for_replay(replay_t *rp, apr_bucket_brigade *bb, apr_pool_t *p,
                            apr_off_t len)
{
    apr_bucket *b, *copy;

    if (rp->overflow) {
        return;
    }
    if (rp->len + len > RP_REPLAY_MAX) {
        rp->overflow = 1;
        apr_brigade_cleanup(rp->kept);
        return;
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (apr_bucket_copy(b, &copy) != APR_SUCCESS ||
            apr_bucket_setaside(copy, p) != APR_SUCCESS) {
            rp->overflow = 1;
            apr_brigade_cleanup(rp->kept);
            return;
        }
        APR_BRIGADE_INSERT_TAIL(rp->kept, copy);
    }
    rp->len += len;
}

/* The last chunk, carrying the client's trailer fields when the body
 * source handed over any (req->trailers is read only after its eos). */
static apr_status_t send_last_chunk(rp_conn_t *c, const rp_request_t *req,
                                    apr_pool_t *p)
{
    struct iovec end = {"0\r\n\r\n", 5};

    if (req->trailers && !apr_is_empty_table(req->trailers)) {
        end.iov_base = rp_h1_last_chunk(p, req->trailers, &end.iov_len);
    }
    return send_all(c, &end, 1);
}

/* Stream the client's body after the head: first what a previous attempt
 * kept (on a retry), then fresh data from the client. *client_side tells
 * a failure to read from the client apart from a failure to write to the
 * backend; *why then says what was wrong with the client's body. */
static apr_status_t send_body(rp_conn_t *c, const rp_request_t *req,
                              replay_t *rp, apr_pool_t *p,
                              apr_bucket_alloc_t *ba, int *client_side,
                              const char **why)
{
    apr_bucket_brigade *bb = apr_brigade_create(p, ba);
    int chunked = req->body_length < 0, eos = rp->eos;
    apr_off_t sent = rp->len, len;
    apr_status_t rv = APR_SUCCESS;

    if (rp->len) {
        rv = send_brigade(c, rp->kept, chunked); /* a retry: replay */
    }
    while (!eos && rv == APR_SUCCESS) {
        rv = req->body_fn(req->body_baton, bb, &eos);
        if (rv != APR_SUCCESS) {
            *client_side = 1;
            *why = chunked ? "the request body could not be read (bad "
                             "chunked framing, or over a size limit)"
                           : "the request body could not be read";
            break;
        }
        len = 0;
        apr_brigade_length(bb, 1, &len);
        sent += len;
        if (!chunked && sent > req->body_length) {
            *client_side = 1; /* more than announced: never forward it */
            *why = "the request body is longer than its Content-Length";
            rv = RP_EBAD_REQUEST;
            break;
        }
        keep_for_replay(rp, bb, p, len);
        rp->eos = eos;
        rv = send_brigade(c, bb, chunked);
    }
    if (rv == APR_SUCCESS && !chunked && sent != req->body_length) {
        *client_side = 1; /* the client's body ended early */
        *why = "the request body ended before its Content-Length";
        rv = RP_EBAD_REQUEST;
    }
    if (rv == APR_SUCCESS && chunked) {
        rv = send_last_chunk(c, req, p);
    }
    apr_brigade_destroy(bb);
    return rv;
}

/* The head's fields as a table. One copy of the whole head goes into the
 * pool and names and values are cut out of it in place: the byte after a
 * name is its ':' and the byte after a value is OWS, CR or LF, so writing a
 * NUL there loses nothing; the same holds for the reason phrase, cut out
 * into *reason when reason is not NULL. base is the head's first byte, len
 * its length. */
static apr_table_t *fields_table(apr_pool_t *p, const rp_h1_head_t *head,
                                 const char *base, apr_size_t len,
                                 const char **reason)
{
    apr_table_t *t = apr_table_make(p, (int)head->nfields + 4);
    char *copy = apr_pmemdup(p, base, len);
    apr_size_t i;

    for (i = 0; i < head->nfields; i++) {
        const rp_h1_field_t *f = &head->fields[i];
        char *name = copy + (f->name - base);
        char *value = copy + (f->value - base);

        RP_ASSERT(f->value + f->value_len < base + len);
        name[f->name_len] = '\0';
        value[f->value_len] = '\0';
        apr_table_addn(t, name, value);
    }
    if (reason) {
        char *r = copy + (head->reason - base);
        r[head->reason_len] = '\0';
        *reason = r;
    }
    return t;
}

/* The state read_head() shares with its caller. */
typedef struct head_ctx_t {
    rp_conn_t *c;
    rp_response_t *resp;
    const rp_request_t *req;
    const rp_rt_opts_t *opts;
    replay_t *replay; /* the body sent so far, for a retry */
    apr_time_t deadline;
    int got_bytes;            /* any response byte arrived */
    int interim;              /* 1xx responses seen */
    unsigned want_continue:1; /* stop at a 100 (Expect: 100-continue) */
    unsigned got_continue:1;  /* ... and one came */
    const char *why;
    rp_fault_t fault; /* set with why, where the failure is met */
} head_ctx_t;

/* The response head size limit (RProxyMaxResponseHeaderSize). */
static apr_size_t head_limit(const rp_rt_opts_t *opts)
{
    return opts->max_head ? opts->max_head : RP_H1_DEFAULT_MAX_HEAD;
}

/* Wait for more head bytes until the deadline. */
static apr_status_t fill_head(head_ctx_t *h)
{
    rp_conn_t *c = h->c;
    apr_time_t now = apr_time_now();
    apr_status_t rv;

    if (c->last - c->pos >= head_limit(h->opts)) {
        h->why = "response head too large";
        h->fault = RP_FAULT_HTTP_RESPONSE_HEADER_SECTION_SIZE;
        return RP_EBAD_RESPONSE;
    }
    if (now >= h->deadline) {
        h->fault = RP_FAULT_HTTP_RESPONSE_TIMEOUT;
        return RP_EBACKEND_TIMEOUT;
    }
    rv = conn_fill(c, h->resp->_ba, h->deadline - now);
    if (rv == APR_SUCCESS) {
        h->got_bytes = 1;
        return APR_SUCCESS;
    }
    if (rv == APR_TIMEUP) {
        h->fault = RP_FAULT_HTTP_RESPONSE_TIMEOUT;
        return RP_EBACKEND_TIMEOUT;
    }
    if (h->got_bytes) {
        h->why = "connection closed inside the response head";
        h->fault = RP_FAULT_HTTP_RESPONSE_INCOMPLETE;
        return RP_EBAD_RESPONSE;
    }
    h->fault = rp_fault_of_status(rv, RP_FAULT_CONNECTION_TERMINATED);
    if (rv == RP_ETLS && c->tls) {
        h->fault = RP_FAULT_TLS_PROTOCOL_ERROR;
        h->why = apr_psprintf(h->resp->_pool, "reading the response: TLS: %s",
                              rp_tls_error(c->tls));
    }
    else {
        h->why = apr_psprintf(h->resp->_pool, "reading the response: %pm", &rv);
    }
    return RP_EBACKEND_UNREACHABLE;
}

/* The backend's Keep-Alive hints. A timeout stays known once announced
 * (servers repeat it, and a missing one does not mean it changed); max
 * counts down per response, so only the latest value is meaningful. */
static void note_keep_alive(rp_conn_t *c, apr_table_t *headers)
{
    long timeout, max;

    rp_headers_keep_alive(apr_table_get(headers, "Keep-Alive"), &timeout, &max);
    if (timeout >= 0) {
        c->ka_timeout = timeout;
    }
    c->ka_max = max;
}

/* Turn a complete final head into resp. */
static apr_status_t take_head(head_ctx_t *h, rp_h1_head_t *head,
                              const char *base, apr_size_t len)
{
    rp_response_t *resp = h->resp;
    apr_status_t rv;

    resp->status = head->status;
    resp->minor_version = head->minor_version;
    resp->headers = fields_table(resp->_pool, head, base, len, &resp->reason);
    rv = rp_h1_response_framing(head, h->req->method, &resp->framing);
    if (rv != APR_SUCCESS) {
        h->why = resp->framing.error;
        h->fault = RP_FAULT_HTTP_PROTOCOL_ERROR;
        return RP_EBAD_RESPONSE;
    }
    if (resp->framing.kind == RP_H1_BODY_NONE) {
        resp->_done = 1;
    }
    note_keep_alive(h->c, resp->headers);
    resp->_remaining = resp->framing.length;
    /* size the body's read blocks: see block_size() */
    h->c->expect =
        resp->framing.kind == RP_H1_BODY_LENGTH ? resp->framing.length : 0;
    return APR_SUCCESS;
}

/* A 101 is a final answer only to a request that asked for an upgrade,
 * and only to the protocol it asked for: a backend switching to another
 * protocol (or unasked) speaks something nobody agreed to. */
static apr_status_t take_switch(head_ctx_t *h, rp_h1_head_t *head,
                                const char *base, apr_size_t len)
{
    const char *proto = h->req->upgrade;
    apr_status_t rv;
    const char *got;

    if (!proto) {
        h->why = "101 Switching Protocols without an upgrade request";
        h->fault = RP_FAULT_HTTP_UPGRADE_FAILED;
        return RP_EBAD_RESPONSE;
    }
    rv = take_head(h, head, base, len);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    got = apr_table_get(h->resp->headers, "Upgrade");
    if (!got || !rp_headers_has_token(got, proto)) {
        h->why = apr_psprintf(
            h->resp->_pool, "101 switched to \"%s\", not the \"%s\" asked for",
            got ? got : "", proto);
        h->fault = RP_FAULT_HTTP_UPGRADE_FAILED;
        return RP_EBAD_RESPONSE;
    }
    h->resp->framing.keep_alive = 0; /* the connection becomes the tunnel */
    h->resp->_done = 1;
    return APR_SUCCESS;
}

/* The parser stopped with its field array full: when the size limit
 * leaves room for more fields (the shortest field line takes 3 bytes), a
 * larger array from p, and 1; else 0, and the head is refused. */
static int more_fields(rp_h1_head_t *head, apr_size_t limit, apr_pool_t *p,
                       rp_h1_field_t **fields, apr_size_t *cap)
{
    apr_size_t most = limit / 3 + 1;

    if (head->nfields < head->max_fields || *cap >= most) {
        return 0;
    }
    *cap = *cap * 4 < most ? *cap * 4 : most;
    *fields = apr_palloc(p, sizeof(**fields) * *cap);
    return 1;
}

/* Read 1xx heads (to the interim callback) and then the final head. */
static apr_status_t read_head(head_ctx_t *h)
{
    rp_h1_field_t stack_fields[RP_MAX_FIELDS], *fields = stack_fields;
    apr_size_t cap = RP_MAX_FIELDS, limit = head_limit(h->opts);
    rp_h1_head_t head;
    rp_conn_t *c = h->c;
    apr_size_t last_len = 0;
    const char *base;
    apr_ssize_t n;
    apr_status_t rv;

    for (;;) {
        memset(&head, 0, sizeof(head));
        head.fields = fields;
        head.max_fields = cap;
        n = RP_H1_INCOMPLETE;
        if (c->last > c->pos) {
            n = rp_h1_parse_response(c->buf + c->pos, c->last - c->pos,
                                     last_len, &head);
        }
        if (n == RP_H1_EBADMSG &&
            more_fields(&head, limit, h->resp->_pool, &fields, &cap)) {
            continue; /* parse again from the start, into the larger array */
        }
        if (n == RP_H1_EBADMSG) {
            /* the parser stops with a full field array: too many fields */
            h->why = head.error;
            h->fault = head.nfields >= head.max_fields
                           ? RP_FAULT_HTTP_RESPONSE_HEADER_SECTION_SIZE
                           : RP_FAULT_HTTP_PROTOCOL_ERROR;
            return RP_EBAD_RESPONSE;
        }
        if (n == RP_H1_INCOMPLETE) {
            last_len = c->last - c->pos;
            rv = fill_head(h);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            continue;
        }
        if (n > (apr_ssize_t)limit) {
            /* A read block may hold more than the limit (fill_head() checks
             * only before reading on): the limit is on the head itself. */
            h->why = "response head too large";
            h->fault = RP_FAULT_HTTP_RESPONSE_HEADER_SECTION_SIZE;
            return RP_EBAD_RESPONSE;
        }
        base = c->buf + c->pos;
        c->pos += (apr_size_t)n;
        last_len = 0;
        if (head.status == 101) {
            return take_switch(h, &head, base, (apr_size_t)n);
        }
        if (head.status == 407 && c->backend->opts.proxy &&
            !c->backend->opts.tls) {
            /* Only the upstream proxy sends 407: the request never reached
             * the backend, and the client has no business with it. */
            h->why = apr_psprintf(h->resp->_pool,
                                  "upstream proxy %s answered 407 (check the "
                                  "credentials of RProxyUpstreamProxy)",
                                  c->backend->opts.proxy->hostport);
            h->fault = RP_FAULT_DESTINATION_UNAVAILABLE;
            return RP_EBACKEND_UNREACHABLE;
        }
        if (head.status >= 200) {
            return take_head(h, &head, base, (apr_size_t)n);
        }
        if (head.status == 100 && h->want_continue) {
            h->got_continue = 1;
            return APR_SUCCESS;
        }
        if (++h->interim > RP_MAX_INTERIM) {
            h->why = "too many 1xx responses";
            h->fault = RP_FAULT_HTTP_PROTOCOL_ERROR;
            return RP_EBAD_RESPONSE;
        }
        if (h->opts->interim_fn) {
            h->opts->interim_fn(
                h->opts->interim_baton, head.status,
                fields_table(h->resp->_pool, &head, base, (apr_size_t)n, NULL));
        }
    }
}

/* After a head with "Expect: 100-continue": wait for the backend's verdict
 * (RFC 9110 section 10.1.1). *final is set when the backend answered with
 * a final response instead; then the body is never sent, and since the
 * backend could read it as the next request, the connection is not kept. */
static apr_status_t await_continue(head_ctx_t *h, int *final)
{
    apr_status_t rv;

    h->want_continue = 1;
    h->deadline = apr_time_now() + h->opts->expect_timeout;
    rv = read_head(h);
    h->want_continue = 0;
    *final = rv == APR_SUCCESS && !h->got_continue;
    if (*final) {
        h->resp->framing.keep_alive = 0;
    }
    if (rv == RP_EBACKEND_TIMEOUT) {
        rv = APR_SUCCESS; /* no verdict in time: send the body anyway */
    }
    return rv;
}

/* Write the request on c and read the response head. */
static apr_status_t exchange(head_ctx_t *h, const char *head, apr_size_t len,
                             int *client_side)
{
    rp_conn_t *c = h->c;
    const rp_request_t *req = h->req;
    struct iovec vec = {(void *)head, len};
    apr_status_t rv;

    c->io_timeout = h->opts->io_timeout;
    c->expect = RP_HEAD_BLOCK;
    if (!c->tls) {
        conn_timeout(c, h->opts->io_timeout);
    }
    rv = send_all(c, &vec, 1);
    if (rv == APR_SUCCESS && req->body_length != 0 && req->expect_continue) {
        int final = 0;
        rv = await_continue(h, &final);
        if (rv != APR_SUCCESS || final) {
            return rv;
        }
    }
    if (rv == APR_SUCCESS && req->body_length != 0) {
        rv = send_body(c, req, h->replay, h->resp->_pool, h->resp->_ba,
                       client_side, &h->why);
    }
    if (rv != APR_SUCCESS) {
        if (*client_side) {
            return rv;
        }
        h->why = apr_psprintf(h->resp->_pool, "sending the request: %pm", &rv);
        /* a backend that stops reading our request is not answering it */
        h->fault = APR_STATUS_IS_TIMEUP(rv) ? RP_FAULT_HTTP_RESPONSE_TIMEOUT
                                            : RP_FAULT_CONNECTION_TERMINATED;
        return RP_EBACKEND_UNREACHABLE;
    }
    h->deadline = apr_time_now() + h->opts->header_timeout;
    return read_head(h);
}

static apr_status_t response_cleanup(void *data)
{
    rp_response_t *resp = data;

    if (resp->_conn) {
        rp_conn_close(resp->_conn);
        resp->_conn = NULL;
    }
    return APR_SUCCESS;
}

/* A failure on a reused connection before any response byte is the
 * keep-alive race: the backend closed it while our request was on the way.
 * Only then, and only for a request that is safe to send twice and whose
 * body (if any) was kept whole, retry. */
static int may_retry(const head_ctx_t *h, apr_status_t rv, int client_side)
{
    return may_send_twice(h->req) && !h->replay->overflow && !client_side &&
           h->c->reused && !h->got_bytes && rv == RP_EBACKEND_UNREACHABLE;
}

/* The request head; through an upstream proxy (not tunnelled) the target
 * is in absolute form and the proxy gets its credentials. */
static char *request_head(const rp_backend_t *be, const rp_request_t *req,
                          apr_pool_t *p, apr_size_t *len)
{
    const char *target = req->target;
    apr_table_t *h = req->headers;

    if (be->opts.proxy && !be->opts.tls) {
        target = apr_pstrcat(p, be->origin, req->target, NULL);
        if (be->opts.proxy_auth) {
            h = apr_table_copy(p, req->headers);
            apr_table_setn(h, "Proxy-Authorization", be->opts.proxy_auth);
        }
    }
    return rp_h1_request_head(p, req->method, target, h, len);
}

apr_status_t rp_transport_round_trip(rp_transport_t *t, rp_backend_t *be,
                                     const rp_request_t *req,
                                     const rp_rt_opts_t *opts, apr_pool_t *p,
                                     apr_bucket_alloc_t *ba,
                                     rp_response_t **out, const char **why,
                                     rp_fault_t *fault)
{
    replay_t replay = {apr_brigade_create(p, ba), 0, 0, 0};
    apr_size_t len;
    char *head = request_head(be, req, p, &len);
    int attempt, client_side = 0, retry;
    apr_status_t rv = APR_SUCCESS;
    head_ctx_t h;

    for (attempt = 0; attempt < 2; attempt++) {
        memset(&h, 0, sizeof(h));
        h.req = req;
        h.opts = opts;
        h.replay = &replay;
        h.resp = apr_pcalloc(p, sizeof(*h.resp));
        h.resp->_pool = p;
        h.resp->_ba = ba;
        rv = rp_pool_acquire(be, opts, attempt > 0, &h.c, why, fault, p);
        if (rv != APR_SUCCESS) {
            apr_atomic_inc32(&t->stats.backend_errors);
            return rv;
        }
        if (h.c->reused) {
            apr_atomic_inc32(&t->stats.conns_reused);
        }
        h.resp->backend_addr = apr_pstrdup(p, h.c->addr);
        if (opts->peer) {
            *opts->peer = h.resp->backend_addr;
        }
        rv = exchange(&h, head, len, &client_side);
        if (rv == APR_SUCCESS) {
            h.c->nrequests++;
            h.resp->_conn = h.c;
            apr_pool_cleanup_register(p, h.resp, response_cleanup,
                                      apr_pool_cleanup_null);
            *out = h.resp;
            return APR_SUCCESS;
        }
        retry = may_retry(&h, rv, client_side);
        rp_conn_close(h.c);
        if (!retry) {
            break;
        }
        apr_atomic_inc32(&t->stats.retries);
    }
    *why = h.why;
    if (client_side) {
        /* The body source speaks for the client: RP_ECLIENT_GONE or
         * RP_EBAD_REQUEST, anything else counts as a bad request. */
        return rv == RP_ECLIENT_GONE ? rv : RP_EBAD_REQUEST;
    }
    *fault = h.fault;
    apr_atomic_inc32(&t->stats.backend_errors);
    return rv;
}

/* ---- the response body ------------------------------------------------ */

static apr_status_t keep_trailer(rp_response_t *resp, const char *data,
                                 apr_size_t len)
{
    if (resp->_trailer_len + len > resp->_trailer_cap) {
        apr_size_t cap = (resp->_trailer_len + len) * 2 + 256;
        char *nb = apr_palloc(resp->_pool, cap);
        if (resp->_trailer_len) {
            memcpy(nb, resp->_trailer_buf, resp->_trailer_len);
        }
        resp->_trailer_buf = nb;
        resp->_trailer_cap = cap;
    }
    memcpy(resp->_trailer_buf + resp->_trailer_len, data, len);
    resp->_trailer_len += len;
    return APR_SUCCESS;
}

static apr_status_t finish_trailers(rp_response_t *resp)
{
    rp_h1_field_t stack_fields[RP_MAX_FIELDS], *fields = stack_fields;
    apr_size_t cap = RP_MAX_FIELDS;
    rp_h1_head_t head;
    apr_ssize_t n;

    if (!resp->_trailer_len) {
        return APR_SUCCESS;
    }
    do { /* the section is whole: its length bounds its fields */
        memset(&head, 0, sizeof(head));
        head.fields = fields;
        head.max_fields = cap;
        n = rp_h1_parse_trailers(resp->_trailer_buf, resp->_trailer_len, &head);
    } while (n == RP_H1_EBADMSG && more_fields(&head, resp->_trailer_len,
                                               resp->_pool, &fields, &cap));
    if (n < 0) {
        return RP_EBAD_RESPONSE;
    }
    resp->trailers = fields_table(resp->_pool, &head, resp->_trailer_buf,
                                  resp->_trailer_len, NULL);
    return APR_SUCCESS;
}

/* Decode what is buffered; *emitted tells whether bb got data or the body
 * ended. The decoder is called even on an empty buffer: after the last
 * trailer span it reports DONE without consuming anything. */
static apr_status_t emit_chunked(rp_response_t *resp, apr_bucket_brigade *bb,
                                 int *emitted)
{
    rp_conn_t *c = resp->_conn;
    rp_h1_span_t span;
    apr_ssize_t n;

    while (!resp->_done) {
        const char *base = c->buf ? c->buf + c->pos : "";
        n = rp_h1_chunked_decode(&resp->_chunked, base, c->last - c->pos, &span,
                                 &resp->error);
        if (n < 0) {
            return RP_EBAD_RESPONSE;
        }
        if (span.kind == RP_H1_SPAN_DATA && span.len) {
            APR_BRIGADE_INSERT_TAIL(
                bb, span_bucket(c, c->pos + span.off, span.len));
            resp->_batch += span.len;
            *emitted = 1;
        }
        else if (span.kind == RP_H1_SPAN_TRAILER) {
            keep_trailer(resp, base + span.off, span.len);
        }
        else if (span.kind == RP_H1_SPAN_DONE) {
            resp->_done = 1;
            *emitted = 1;
        }
        c->pos += (apr_size_t)n;
        if (n == 0 && span.kind == RP_H1_SPAN_NONE) {
            break; /* needs more bytes */
        }
    }
    if (resp->_done && finish_trailers(resp) != APR_SUCCESS) {
        resp->error = "bad trailer section";
        return RP_EBAD_RESPONSE;
    }
    return APR_SUCCESS;
}

static void emit_plain(rp_response_t *resp, apr_bucket_brigade *bb,
                       int *emitted)
{
    rp_conn_t *c = resp->_conn;
    apr_size_t n = c->last - c->pos;

    if (resp->framing.kind == RP_H1_BODY_LENGTH && n > resp->_remaining) {
        n = (apr_size_t)resp->_remaining;
    }
    if (n) {
        APR_BRIGADE_INSERT_TAIL(bb, span_bucket(c, c->pos, n));
        c->pos += n;
        resp->_batch += n;
        *emitted = 1;
    }
    if (resp->framing.kind == RP_H1_BODY_LENGTH) {
        resp->_remaining -= n;
        c->expect = resp->_remaining;
        if (resp->_remaining == 0) {
            resp->_done = 1;
            *emitted = 1;
        }
    }
}

/* Why the body could not be read on: rv from conn_fill(). A close says
 * where in the body it came, for the log line. */
static apr_status_t body_fault(rp_response_t *resp, apr_status_t rv)
{
    static const char eof[] = "backend closed the connection before the end "
                              "of the body";

    if (rv != APR_EOF) {
        return rv;
    }
    if (resp->framing.kind == RP_H1_BODY_LENGTH) {
        resp->error = apr_psprintf(resp->_pool,
                                   "%s (%" APR_UINT64_T_FMT
                                   " of %" APR_UINT64_T_FMT " bytes missing)",
                                   eof, resp->_remaining, resp->framing.length);
    }
    else if (resp->framing.kind == RP_H1_BODY_CHUNKED) {
        resp->error = apr_psprintf(resp->_pool, "%s (while reading %s)", eof,
                                   rp_h1_chunked_state_str(&resp->_chunked));
    }
    else {
        resp->error = eof;
    }
    return rv;
}

/* The low-water mark for the next wait on a body (see resp->gather): up to
 * RP_GATHER_MAX, never more than the body still needs (the wait would then end
 * only by its time limit), 1 when the body is not gathered (TLS, and Unix
 * domain sockets, whose poll() ignores the mark). A mark that
 * still fits is kept, so a body costs one call to set it, at most one to
 * lower it for the last part, and one to clear it before pooling. */
static int gather_mark(const rp_response_t *resp, const rp_conn_t *c)
{
    apr_uint64_t need = resp->_remaining;

    if (resp->gather <= 0 || resp->_gather_off || c->tls ||
        c->backend->socket || resp->framing.kind != RP_H1_BODY_LENGTH ||
        c->last - c->pos >= need) {
        return 1;
    }
    need -= c->last - c->pos;
    if (c->lowat > 1 && (apr_uint64_t)c->lowat <= need) {
        return c->lowat;
    }
    if (c->lowat <= 1 && need <= RP_GATHER_MIN) {
        return 1;
    }
    return need < RP_GATHER_MAX ? (int)need : RP_GATHER_MAX;
}

/* One take of body bytes from the socket, waiting at most timeout for any
 * (as conn_fill(): APR_TIMEUP when none came, APR_EOF at a close): into
 * the read buffer, or into the pipe (splice_in()). */
typedef apr_status_t (*take_fn)(rp_response_t *resp,
                                apr_interval_time_t timeout);

static apr_status_t take_read(rp_response_t *resp, apr_interval_time_t timeout)
{
    return conn_fill(resp->_conn, resp->_ba, timeout);
}

/* Wait up to timeout for more body bytes and take them. A gathered wait
 * ends when the mark is reached or after resp->gather, whichever comes
 * first; then what came is taken. When nothing came at all, the backend is
 * slow or paused: the rest of this body is taken as it arrives, as without
 * gathering. */
static apr_status_t fill_body(rp_response_t *resp, apr_interval_time_t timeout,
                              take_fn take)
{
    rp_conn_t *c = resp->_conn;
    apr_interval_time_t wait;
    apr_status_t rv;

    conn_lowat(c, gather_mark(resp, c));
    if (c->lowat <= 1) {
        return take(resp, timeout);
    }
    if (!c->full) {
        conn_ack_now(c); /* the socket is empty: this is a wait */
    }
    wait = timeout < resp->gather ? timeout : resp->gather;
    rv = take(resp, wait);
    if (rv != APR_TIMEUP) {
        return rv;
    }
    rv = take(resp, 0);
    if (rv != APR_TIMEUP) {
        return rv;
    }
    resp->_gather_off = 1;
    conn_lowat(c, 1);
    return take(resp, timeout - wait);
}

/* Data is ready in bb. When the last read filled its block, more is likely
 * waiting in the socket: take it without waiting, up to RP_BATCH bytes, so
 * that fewer and larger brigades go down the output filters (one pass of
 * the filter chain and one writev per batch, not per block). A failure of
 * that read is kept for the next call, after this data is passed on. */
static apr_status_t read_more(rp_response_t *resp, int *more)
{
    rp_conn_t *c = resp->_conn;
    apr_status_t rv;

    *more = 0;
    if (!c->full || resp->_batch >= RP_BATCH) {
        return APR_SUCCESS;
    }
    rv = conn_fill(c, resp->_ba, 0);
    if (rv == APR_SUCCESS) {
        *more = 1;
    }
    else if (rv == APR_EOF && resp->framing.kind == RP_H1_BODY_CLOSE) {
        resp->_done = 1;
    }
    else if (rv != APR_TIMEUP) {
        resp->_deferred = rv;
    }
    return APR_SUCCESS;
}

apr_status_t rp_response_read(rp_response_t *resp, apr_bucket_brigade *bb,
                              apr_interval_time_t timeout, int *eos)
{
    rp_conn_t *c = resp->_conn;
    apr_status_t rv = APR_SUCCESS;
    int emitted = 0, more;

    if (resp->_deferred) {
        rv = resp->_deferred;
        resp->_deferred = APR_SUCCESS;
        return body_fault(resp, rv);
    }
    resp->_batch = 0;
    while (!resp->_done) {
        if (!c) {
            return APR_EOF;
        }
        if (resp->framing.kind == RP_H1_BODY_CHUNKED) {
            rv = emit_chunked(resp, bb, &emitted);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        else if (c->pos < c->last) {
            emit_plain(resp, bb, &emitted);
        }
        if (resp->_done) {
            break;
        }
        if (emitted) {
            read_more(resp, &more);
            if (!more) {
                break;
            }
            continue;
        }
        rv = fill_body(resp, timeout, take_read);
        if (rv == APR_EOF && resp->framing.kind == RP_H1_BODY_CLOSE) {
            resp->_done = 1;
            break;
        }
        if (rv != APR_SUCCESS) {
            return body_fault(resp, rv);
        }
    }
    *eos = resp->_done;
    return APR_SUCCESS;
}

/* ---- moving a body socket to socket ---------------------------------- */

#if defined(__linux__) && defined(SPLICE_F_MOVE)
#define RP_SPLICE 1
/* The pipe between the two sockets: as large as the largest gathered wait,
 * so that what one wait gathers moves in one splice() each way. */
#define RP_PIPE_SIZE RP_GATHER_MAX

static apr_status_t pipe_cleanup(void *data)
{
    rp_response_t *resp = data;

    if (resp->_pipe_cap) {
        close(resp->_pipe[0]);
        close(resp->_pipe[1]);
        resp->_pipe_cap = 0;
    }
    return APR_SUCCESS;
}

static apr_status_t open_pipe(rp_response_t *resp)
{
    int size;

    if (pipe2(resp->_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    /* The default is 64 KiB; a process over its pipe quota keeps less. */
    (void)fcntl(resp->_pipe[1], F_SETPIPE_SZ, RP_PIPE_SIZE);
    size = fcntl(resp->_pipe[1], F_GETPIPE_SZ);
    resp->_pipe_cap = size > 0 ? (apr_size_t)size : 4096;
    apr_pool_cleanup_register(resp->_pool, resp, pipe_cleanup,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* take_fn into the empty pipe: one splice() of body bytes from the
 * backend (resp->_in_pipe: how many), after a wait of at most timeout for
 * the socket to be readable (its low-water mark applies). */
static apr_status_t splice_in(rp_response_t *resp, apr_interval_time_t timeout)
{
    rp_conn_t *c = resp->_conn;
    apr_size_t max = resp->_pipe_cap;
    apr_os_sock_t fd;
    apr_status_t rv;
    ssize_t got;
    int waited = 0;

    if (max > resp->_remaining) {
        max = (apr_size_t)resp->_remaining;
    }
    conn_timeout(c, 0); /* O_NONBLOCK: tcp_splice_read() honours only that */
    apr_os_sock_get(&fd, c->sock);
    for (;;) {
        got = splice(fd, NULL, resp->_pipe[1], NULL, max,
                     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (got > 0) {
            resp->_in_pipe = (apr_size_t)got;
            c->full = resp->_in_pipe == max;
            resp->_remaining -= resp->_in_pipe;
            c->expect = resp->_remaining;
            return APR_SUCCESS;
        }
        if (got == 0) {
            return APR_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return APR_FROM_OS_ERROR(errno);
        }
        if (waited || timeout <= 0) {
            return APR_TIMEUP;
        }
        rv = rp_wait_fd(fd, 0, apr_time_now() + timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        waited = 1;
    }
}

/* Everything in the pipe to out, waiting up to out_timeout whenever out
 * takes nothing; *moved: what out took. MSG_MORE while body bytes follow. */
static apr_status_t splice_out(rp_response_t *resp, apr_socket_t *out,
                               apr_interval_time_t out_timeout,
                               apr_size_t *moved)
{
    apr_size_t n = resp->_in_pipe;
    int more = resp->_remaining > 0;
    unsigned int flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    apr_os_sock_t fd;
    ssize_t put;

    if (more) {
        flags |= SPLICE_F_MORE;
    }
    if (apr_os_sock_get(&fd, out) != APR_SUCCESS) {
        return RP_ECLIENT_GONE;
    }
    while (n > 0) {
        put = splice(resp->_pipe[0], NULL, fd, NULL, n, flags);
        if (put > 0) {
            n -= (apr_size_t)put;
            resp->_in_pipe = n;
            *moved += (apr_size_t)put;
        }
        else if (put < 0 && errno == EINTR) {
            continue;
        }
        else if (put < 0 && errno == EAGAIN) {
            if (rp_wait_fd(fd, 1, apr_time_now() + out_timeout) !=
                APR_SUCCESS) {
                return RP_ECLIENT_GONE;
            }
        }
        else {
            return RP_ECLIENT_GONE;
        }
    }
    return APR_SUCCESS;
}
#endif /* RP_SPLICE */

int rp_response_can_splice(const rp_response_t *resp, apr_uint64_t min)
{
#ifdef RP_SPLICE
    const rp_conn_t *c = resp->_conn;

    return c && !c->tls && !resp->_done && resp->_deferred == APR_SUCCESS &&
           resp->framing.kind == RP_H1_BODY_LENGTH && c->pos == c->last &&
           resp->_remaining >= min;
#else
    (void)resp;
    (void)min;
    return 0;
#endif
}

apr_status_t rp_response_splice(rp_response_t *resp, apr_socket_t *out,
                                apr_interval_time_t timeout,
                                apr_interval_time_t out_timeout,
                                apr_size_t *moved, int *eos)
{
#ifdef RP_SPLICE
    apr_status_t rv;

    *moved = 0;
    *eos = resp->_done;
    if (resp->_done) {
        return APR_SUCCESS;
    }
    if (!resp->_conn) {
        return APR_EOF;
    }
    if (!resp->_pipe_cap && open_pipe(resp) != APR_SUCCESS) {
        return APR_ENOTIMPL;
    }
    rv = fill_body(resp, timeout, splice_in);
    if (rv != APR_SUCCESS) {
        return body_fault(resp, rv);
    }
    rv = splice_out(resp, out, out_timeout, moved);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp->_remaining == 0) {
        resp->_done = 1;
        *eos = 1;
    }
    return APR_SUCCESS;
#else
    (void)resp;
    (void)out;
    (void)timeout;
    (void)out_timeout;
    *moved = 0;
    *eos = 0;
    return APR_ENOTIMPL;
#endif
}

/* What rp_response_discard() could not read within its wait goes to the
 * reaper, when that is safe: a Content-Length or chunked body, plain or
 * TLS (the TLS state lives in the connection's pool and goes with it), no
 * read failure so far, at most max bytes left. Bytes buffered of a
 * Content-Length body are part of it and dropped with the buffer. A
 * chunked rest goes with a copy of the decoder and nothing buffered:
 * rp_response_read() decodes all it buffers, so there is none after a
 * read, and the rare rest with some undecoded (no read yet) is not
 * handed over. 1: handed over. */
static int drain_later(rp_response_t *resp, apr_uint64_t max)
{
    rp_conn_t *c = resp->_conn;
    apr_uint64_t buffered = c->last - c->pos, left;
    int chunked = resp->framing.kind == RP_H1_BODY_CHUNKED;

    if (resp->_done || resp->error || resp->_deferred != APR_SUCCESS ||
        !resp->framing.keep_alive) {
        return 0;
    }
    if (chunked && buffered == 0) {
        left = max;
    }
    else if (resp->framing.kind == RP_H1_BODY_LENGTH &&
             buffered <= resp->_remaining &&
             resp->_remaining - buffered <= max) {
        left = resp->_remaining - buffered;
    }
    else {
        return 0;
    }
    conn_lowat(c, 1); /* the reaper polls: every byte must wake it */
    if (c->lowat != 1) {
        return 0;
    }
    rp_conn_drop_buffer(c);
    resp->_conn = NULL;
    apr_pool_cleanup_kill(resp->_pool, resp, response_cleanup);
    rp_pool_drain(c, left, chunked ? &resp->_chunked : NULL);
    return 1;
}

int rp_response_discard(rp_response_t *resp, apr_uint64_t max,
                        apr_interval_time_t wait)
{
    apr_time_t deadline = apr_time_now() + wait;
    apr_bucket_brigade *bb;
    apr_uint64_t seen = 0;
    apr_status_t rv = APR_SUCCESS;
    int eos = 0;

    if (!resp->_conn || resp->_done || !resp->framing.keep_alive ||
        resp->framing.kind == RP_H1_BODY_CLOSE ||
        (resp->framing.kind == RP_H1_BODY_LENGTH && resp->_remaining > max)) {
        return resp->_done;
    }
    bb = apr_brigade_create(resp->_pool, resp->_ba);
    while (!eos && rv == APR_SUCCESS && seen <= max) {
        apr_time_t now = apr_time_now();
        apr_off_t len = 0;

        if (now >= deadline) {
            break;
        }
        rv = rp_response_read(resp, bb, deadline - now, &eos);
        apr_brigade_length(bb, 0, &len);
        seen += (apr_uint64_t)len;
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    if (!resp->_done && (rv == APR_SUCCESS || APR_STATUS_IS_TIMEUP(rv)) &&
        seen <= max) {
        return drain_later(resp, max - seen);
    }
    return resp->_done;
}

void rp_response_close(rp_response_t *resp)
{
    rp_conn_t *c = resp->_conn;

#ifdef RP_SPLICE
    if (resp->_pipe_cap) {
        apr_pool_cleanup_run(resp->_pool, resp, pipe_cleanup);
    }
#endif
    if (!c) {
        return;
    }
    resp->_conn = NULL;
    apr_pool_cleanup_kill(resp->_pool, resp, response_cleanup);
    if (resp->_done && resp->framing.keep_alive) {
        conn_lowat(c, 1); /* the pool's readability check sees every byte */
        if (c->lowat == 1) {
            rp_pool_put(c);
            return;
        }
    }
    rp_conn_close(c);
}

/* ---- after a 101: the raw stream ----------------------------------- */

apr_socket_t *rp_response_socket(rp_response_t *resp)
{
    return resp->_conn ? resp->_conn->sock : NULL;
}

/* TLS may hold decrypted bytes the socket no longer shows; they count as
 * readable, so the caller's poll never waits on data already here. */
apr_status_t rp_response_read_raw(rp_response_t *resp, apr_bucket_brigade *bb)
{
    rp_conn_t *c = resp->_conn;
    apr_status_t rv = APR_SUCCESS;

    if (!c) {
        return APR_EOF;
    }
    if (c->pos == c->last) {
        rv = conn_fill(c, resp->_ba, 0);
        if (rv == APR_TIMEUP) {
            return APR_EAGAIN;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    APR_BRIGADE_INSERT_TAIL(bb, span_bucket(c, c->pos, c->last - c->pos));
    c->pos = c->last;
    return APR_SUCCESS;
}

apr_status_t rp_response_write_raw(rp_response_t *resp, apr_bucket_brigade *bb)
{
    rp_conn_t *c = resp->_conn;

    if (!c) {
        apr_brigade_cleanup(bb);
        return APR_EOF;
    }
    if (!c->tls) {
        conn_timeout(c, c->io_timeout); /* reads use 0 */
    }
    return send_brigade(c, bb, 0);
}

void rp_response_shutdown_write(rp_response_t *resp)
{
    rp_conn_t *c = resp->_conn;

    if (!c) {
        return;
    }
    if (c->tls) {
        /* a failure marks the TLS connection failed: the next read says */
        rp_tls_shutdown_write(c->tls, c->io_timeout);
        return;
    }
    apr_socket_shutdown(c->sock, APR_SHUTDOWN_WRITE);
}
