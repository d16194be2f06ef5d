/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* rp_h1.h: HTTP/1.1 wire format (RFC 9112) as pure functions over the
 * caller's bytes: the response-head parser, body framing, the chunked
 * decoder and the request-head serializer.
 *
 * Lifetimes: the parser and the decoder never allocate and never do I/O.
 * Every pointer they return points into the caller's buffer and lives as long
 * as that buffer. rp_h1_request_head() allocates its result from the pool it
 * is given. */

#ifndef RP_H1_H
#define RP_H1_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "rp_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of the parsers besides "bytes used" (>= 0). */
#define RP_H1_EBADMSG (-1)    /* not a valid message: see head->error */
#define RP_H1_INCOMPLETE (-2) /* need more bytes; call again with more */

/* Character classes of RFC 9110, one table lookup each:
 *   RP_H1_IS_TCHAR: tchar (5.6.2), the characters of a field name or token
 *   RP_H1_IS_BAD_TEXT: a CTL other than HTAB, which may not appear in a
 *   field value, a reason phrase or a chunk extension (5.5); obs-text
 *   (0x80-0xff) is allowed. */
extern const unsigned char rp_h1_ctype[256];
#define RP_H1_CT_TCHAR 1
#define RP_H1_CT_BAD 2
#define RP_H1_IS_TCHAR(c) (rp_h1_ctype[(unsigned char)(c)] & RP_H1_CT_TCHAR)
#define RP_H1_IS_BAD_TEXT(c) (rp_h1_ctype[(unsigned char)(c)] & RP_H1_CT_BAD)

/* The size limit on a response head a caller applies when it is given
 * none (RProxyMaxResponseHeaderSize's default). */
#define RP_H1_DEFAULT_MAX_HEAD (64 * 1024)

typedef struct rp_h1_field_t {
    const char *name; /* borrowed: points into the parsed buffer */
    apr_size_t name_len;
    const char *value; /* borrowed: OWS trimmed on both sides */
    apr_size_t value_len;
} rp_h1_field_t;

/* Result of rp_h1_parse_response(). The caller sets fields/max_fields;
 * the parser fills the rest. */
typedef struct rp_h1_head_t {
    int minor_version;  /* 0 or 1: only HTTP/1.x is accepted */
    int status;         /* 100..599 */
    const char *reason; /* borrowed; may be empty */
    apr_size_t reason_len;
    rp_h1_field_t *fields; /* borrowed: caller's array of max_fields */
    apr_size_t max_fields; /* in: capacity of fields */
    apr_size_t nfields;    /* out: fields used */
    const char *error;     /* out: static text naming the fault on EBADMSG */
} rp_h1_head_t;

/* Parse one response head (status line, fields, empty line) from buf[0..len).
 *
 * last_len is the len of the previous call on the same head (0 on the first
 * call): bytes before it are known not to hold the end of the head, which
 * keeps repeated calls on a growing buffer linear.
 *
 * Returns the number of bytes the head used (the body starts there),
 * RP_H1_INCOMPLETE, or RP_H1_EBADMSG with head->error set. Accepts CRLF and,
 * as RFC 9112 section 2.2 allows, bare LF as line ends; rejects a bare CR,
 * NUL, obs-fold (RFC 9112 5.2), whitespace between field name and colon
 * (RFC 9112 5.1), a field line without a colon, an empty field name, a status
 * outside 100..599 and more fields than max_fields. Size limits on the whole
 * head are the caller's: stop calling once len passes the limit. */
apr_ssize_t rp_h1_parse_response(const char *buf, apr_size_t len,
                                 apr_size_t last_len, rp_h1_head_t *head);

/* Parse a trailer section (field lines then an empty line, RFC 9112 7.1.2)
 * from buf[0..len). Same contract and same field rules as
 * rp_h1_parse_response(), without the status line: head->fields/nfields are
 * filled, status/reason are left alone. */
apr_ssize_t rp_h1_parse_trailers(const char *buf, apr_size_t len,
                                 rp_h1_head_t *head);

/* How the body of a response is delimited (RFC 9112 section 6.3). */
typedef enum rp_h1_body_kind_t {
    RP_H1_BODY_NONE = 0, /* no body: HEAD, 1xx, 204, 304, or length 0 */
    RP_H1_BODY_LENGTH,   /* exactly framing.length bytes */
    RP_H1_BODY_CHUNKED,  /* chunked transfer coding */
    RP_H1_BODY_CLOSE     /* until the backend closes the connection */
} rp_h1_body_kind_t;

typedef struct rp_h1_framing_t {
    rp_h1_body_kind_t kind;
    apr_uint64_t length;   /* RP_H1_BODY_LENGTH only */
    unsigned keep_alive:1; /* the connection may carry another request */
    const char *error;     /* static text when framing fails */
} rp_h1_framing_t;

/* Decide the body framing of a parsed response. request_method is the
 * method the response answers ("HEAD" has no body). Fails with
 * RP_EBAD_RESPONSE and framing->error set when: Transfer-Encoding and
 * Content-Length are both present; Content-Length values disagree or are not
 * plain decimal digits or overflow; Transfer-Encoding is anything but one
 * "chunked" (another coding, before or after it, would reach the client
 * with the coding dropped: refused rather than read until close as RFC 9112
 * 6.3 rule 4 has it); the response is HTTP/1.0 with Transfer-Encoding.
 * keep_alive is off for HTTP/1.0 without "Connection: keep-alive", for any
 * "Connection: close", and for RP_H1_BODY_CLOSE. */
apr_status_t rp_h1_response_framing(const rp_h1_head_t *head,
                                    const char *request_method,
                                    rp_h1_framing_t *framing);

/* Resumable chunked decoder (RFC 9112 section 7.1).
 * zero-fill before first use; max_trailer_bytes 0 means 16 KiB. */
typedef struct rp_h1_chunked_t {
    apr_size_t max_trailer_bytes; /* set by the caller before first use */
    /* the rest is the decoder's own */
    int _state;
    apr_uint64_t _remaining; /* data bytes left in the current chunk */
    apr_size_t _trailer_bytes;
    unsigned _hex_digits;
    int _crlf_seen; /* internal progress through line ends */
} rp_h1_chunked_t;

/* What one call of rp_h1_chunked_decode() found. */
typedef enum rp_h1_span_kind_t {
    RP_H1_SPAN_NONE = 0, /* only framing bytes consumed; call again */
    RP_H1_SPAN_DATA,     /* body bytes at buf[off..off+len) */
    RP_H1_SPAN_TRAILER,  /* trailer-section bytes at buf[off..off+len) */
    RP_H1_SPAN_DONE      /* last chunk and trailers complete */
} rp_h1_span_kind_t;

typedef struct rp_h1_span_t {
    rp_h1_span_kind_t kind;
    apr_size_t off; /* offset into buf of the span */
    apr_size_t len; /* 0 for NONE and DONE */
} rp_h1_span_t;

/* Decode from buf[0..len) up to and including at most one span of data or
 * trailer bytes. Returns the bytes consumed (everything before and including
 * the span; the caller advances by that much and calls again), or
 * RP_H1_EBADMSG with *error set (bad chunk size, size overflow past 2^63,
 * junk after the size or its extensions, missing CRLF after data, a trailer
 * section over max_trailer_bytes). Returns 0 with kind NONE only when len is 0
 * or more bytes are needed.
 *
 * Trailer bytes are handed out raw, including their final empty line, so the
 * caller can collect them and run rp_h1_parse_trailers() once DONE is seen.
 * When the trailer section is empty no TRAILER span is produced. After DONE
 * the decoder consumes nothing more: bytes after it belong to the next
 * message.
 *
 * DONE comes from the call that consumes the last framing byte when the
 * trailer section is empty; otherwise the final empty line is part of the
 * last TRAILER span and the next call returns DONE consuming 0 bytes (also
 * when len is 0). After an error every later call fails again. */
apr_ssize_t rp_h1_chunked_decode(rp_h1_chunked_t *dec, const char *buf,
                                 apr_size_t len, rp_h1_span_t *span,
                                 const char **error);

/* What the decoder was reading when it stopped, for logs: "the start of a
 * chunk", "chunk data", "a trailer field line", ... (static strings). */
const char *rp_h1_chunked_state_str(const rp_h1_chunked_t *dec);

/* Find a field by case-insensitive name; returns its index or -1. */
int rp_h1_find_field(const rp_h1_head_t *head, const char *name, int start);

/* Serialize a request head: "METHOD target HTTP/1.1\r\n", each entry of
 * headers as "Name: value\r\n" in table order, then "\r\n". The caller has
 * validated names and values (rp_headers_validate). The result and *len
 * come from pool p. */
char *rp_h1_request_head(apr_pool_t *p, const char *method, const char *target,
                         const apr_table_t *headers, apr_size_t *len);

/* Serialize the end of a chunked body (RFC 9112 7.1.2): the last chunk
 * "0\r\n", each entry of trailers as "Name: value\r\n" in table order, then
 * "\r\n". trailers may be NULL or empty. The caller has filtered and
 * validated the fields (rp_headers_forwardable_trailers). The result and
 * *len come from pool p. */
char *rp_h1_last_chunk(apr_pool_t *p, const apr_table_t *trailers,
                       apr_size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* RP_H1_H */
