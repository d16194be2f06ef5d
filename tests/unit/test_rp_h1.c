/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License. You may obtain a copy
 * of the License at http://www.apache.org/licenses/LICENSE-2.0 */

/* test_rp_h1.c: unit tests of core/rp_h1.c.
 *
 * Wire cases live in tables named after the RFC rule they check. Every
 * parser case runs three ways: whole, grown one byte at a time (each prefix
 * ending at a guard page), and whole at a guard page; all three must give
 * the same exact result. Chunked cases run whole, split in two at every
 * offset and fed byte by byte, every call's input ending at a guard page. */

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "rp_h1.h"
#include "rp_test.h"

#define WIRE(s) .wire = s, .wire_len = sizeof(s) - 1
#define DEFAULT_MAX_FIELDS 16
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- response heads and trailers ----------------------------------- */

typedef struct head_case_t {
    const char *name;
    const char *wire;
    size_t wire_len;
    size_t extra;              /* bytes after the head (body) in wire */
    unsigned trailers:1;       /* parse with rp_h1_parse_trailers() */
    unsigned http10:1;         /* expect minor_version 0 */
    const char *method;        /* request method; NULL means GET */
    apr_size_t max_fields;     /* 0 means DEFAULT_MAX_FIELDS */
    const char *parse_error;   /* NULL: the head must parse */
    int status;                /* checked when the head parses */
    const char *reason;        /* NULL: not checked */
    const char *fields;        /* "Name: value|..."; NULL: not checked */
    const char *framing_error; /* NULL: framing must succeed */
    rp_h1_body_kind_t kind;
    apr_uint64_t length;
    int keep_alive;
} head_case_t;

#define NONE RP_H1_BODY_NONE
#define LENGTH RP_H1_BODY_LENGTH
#define CHUNKED RP_H1_BODY_CHUNKED
#define CLOSE RP_H1_BODY_CLOSE

static const head_case_t response_cases[] = {
    /* RFC 9112 4: status line */
    {.name = "rfc9112-4-status-line-with-body-after",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
     .extra = 5,
     .status = 200,
     .reason = "OK",
     .fields = "Content-Length: 5",
     .kind = LENGTH,
     .length = 5,
     .keep_alive = 1},
    {.name = "rfc9112-4-reason-may-be-empty",
     WIRE("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"),
     .status = 200,
     .reason = "",
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-4-missing-sp-and-reason-accepted",
     WIRE("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"),
     .status = 404,
     .reason = "",
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-4-reason-keeps-sp-htab-obs-text",
     WIRE("HTTP/1.1 299 Very \xa0Good\tDay \r\nContent-Length: 0\r\n\r\n"),
     .status = 299,
     .reason = "Very \xa0Good\tDay ",
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9110-2.5-higher-minor-read-as-1.1",
     WIRE("HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 1},
    {.name = "rfc9112-4-http2-version-is-bad",
     WIRE("HTTP/2.0 200 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-2.3-http-name-is-case-sensitive",
     WIRE("http/1.1 200 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-two-digit-status-is-bad",
     WIRE("HTTP/1.1 20 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-four-digit-status-is-bad",
     WIRE("HTTP/1.1 2000 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-status-glued-to-reason-is-bad",
     WIRE("HTTP/1.1 200OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-double-sp-is-bad",
     WIRE("HTTP/1.1  200 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-leading-sp-is-bad",
     WIRE(" HTTP/1.1 200 OK\r\n\r\n"),
     .parse_error = "bad status line"},
    {.name = "rfc9112-4-empty-status-line-is-bad",
     WIRE("\r\nHTTP/1.1 200 OK\r\n\r\n"),
     .extra = sizeof("HTTP/1.1 200 OK\r\n\r\n") - 1,
     .parse_error = "bad status line"},
    {.name = "rfc9110-15-status-below-100-is-bad",
     WIRE("HTTP/1.1 099 Low\r\n\r\n"),
     .parse_error = "status code out of range"},
    {.name = "rfc9110-15-status-above-599-is-bad",
     WIRE("HTTP/1.1 600 High\r\n\r\n"),
     .parse_error = "status code out of range"},
    {.name = "rfc9112-4-ctl-in-reason-is-bad",
     WIRE("HTTP/1.1 200 O\x01K\r\n\r\n"),
     .parse_error = "control character in reason phrase"},

    /* RFC 9112 2.2: line ends */
    {.name = "rfc9112-2.2-bare-lf-line-ends",
     WIRE("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"),
     .extra = 2,
     .status = 200,
     .reason = "OK",
     .fields = "Content-Length: 2",
     .kind = LENGTH,
     .length = 2,
     .keep_alive = 1},
    {.name = "rfc9112-2.2-mixed-crlf-and-lf",
     WIRE("HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\n"),
     .status = 200,
     .fields = "A: 1|B: 2",
     .kind = CLOSE},
    {.name = "rfc9112-2.2-bare-cr-in-status-line-is-bad",
     WIRE("HTTP/1.1 200 O\rK\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "rfc9112-2.2-bare-cr-in-value-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "rfc9112-2.2-cr-cr-lf-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "rfc9112-2.2-bare-cr-in-name-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX\rY: a\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "rfc9112-2.2-ws-before-first-field-is-bad",
     WIRE("HTTP/1.1 200 OK\r\n X: a\r\n\r\n"),
     .parse_error = "whitespace before first header field"},

    /* RFC 9112 5 and RFC 9110 5: field lines */
    {.name = "rfc9112-5.1-ows-around-value-trimmed",
     WIRE("HTTP/1.1 200 OK\r\nX-A: \t v a l \t \r\nX-B:x\r\n\r\n"),
     .status = 200,
     .fields = "X-A: v a l|X-B: x",
     .kind = CLOSE},
    {.name = "rfc9110-5.5-empty-value-allowed",
     WIRE("HTTP/1.1 204 No Content\r\nX-Empty:\r\nX-Blank:   \r\n\r\n"),
     .status = 204,
     .fields = "X-Empty: |X-Blank: ",
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9110-5.5-obs-text-in-value-allowed",
     WIRE("HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\n\r\n"),
     .status = 200,
     .fields = "X: caf\xc3\xa9",
     .kind = CLOSE},
    {.name = "rfc9110-5.6.2-all-tchars-in-name",
     WIRE("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"),
     .status = 200,
     .fields = "!#$%&'*+-.^_`|~09azAZ: v",
     .kind = CLOSE},
    {.name = "rfc9112-5.2-obs-fold-sp-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
     .parse_error = "obs-fold in header"},
    {.name = "rfc9112-5.2-obs-fold-htab-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n"),
     .parse_error = "obs-fold in header"},
    {.name = "rfc9112-5.1-sp-before-colon-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"),
     .parse_error = "whitespace before colon in header"},
    {.name = "rfc9112-5.1-htab-before-colon-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\n"),
     .parse_error = "whitespace before colon in header"},
    {.name = "rfc9112-5-missing-colon-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n"),
     .parse_error = "missing colon in header"},
    {.name = "hostile-bare-cr-line-named-as-such",
     WIRE("HTTP/1.1 200 OK\r\nA: 1\r\n\r\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "hostile-bare-cr-in-colonless-line-named-as-such",
     WIRE("HTTP/1.1 200 OK\r\nX-A 1\rX-B 2\r\n\r\n"),
     .parse_error = "bare CR in head"},
    {.name = "rfc9110-5.1-empty-name-is-bad",
     WIRE("HTTP/1.1 200 OK\r\n: value\r\n\r\n"),
     .parse_error = "empty header name"},
    {.name = "rfc9110-5.1-non-tchar-in-name-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nBad@Name: v\r\n\r\n"),
     .parse_error = "bad character in header name"},
    {.name = "rfc9110-5.1-space-inside-name-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX Y: v\r\n\r\n"),
     .parse_error = "bad character in header name"},
    {.name = "rfc9110-5.5-nul-in-value-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"),
     .parse_error = "NUL in head"},
    {.name = "rfc9110-5.5-nul-in-name-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX\0: a\r\n\r\n"),
     .parse_error = "NUL in head"},
    {.name = "rfc9110-5.5-del-in-value-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n"),
     .parse_error = "control character in header value"},
    {.name = "rfc9110-5.5-esc-in-value-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nX: \x1b[0m\r\n\r\n"),
     .parse_error = "control character in header value"},
    {.name = "rfc9112-5-fields-up-to-max",
     WIRE("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
     .max_fields = 3,
     .status = 200,
     .fields = "A: 1|B: 2|C: 3",
     .kind = CLOSE},
    {.name = "rfc9112-5-more-fields-than-max-is-bad",
     WIRE("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
     .max_fields = 3,
     .parse_error = "too many header fields"},

    /* RFC 9112 6.3: message body length */
    {.name = "rfc9112-6.3-r1-head-has-no-body",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
     .method = "HEAD",
     .status = 200,
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-6.3-r1-1xx-has-no-body",
     WIRE("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"),
     .status = 103,
     .reason = "Early Hints",
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-6.3-r1-204-has-no-body",
     WIRE("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"),
     .status = 204,
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-6.3-r1-304-ignores-te",
     WIRE("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .status = 304,
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9110-15.2.2-101-leaves-http",
     WIRE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\n\r\n"),
     .status = 101,
     .kind = NONE,
     .keep_alive = 0},
    {.name = "rfc9112-6.3-r2-connect-2xx-is-tunnel",
     WIRE("HTTP/1.1 200 Connection Established\r\n\r\n"),
     .method = "CONNECT",
     .status = 200,
     .kind = NONE,
     .keep_alive = 0},
    {.name = "rfc9112-6.3-r3-cl-with-te-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
          "Transfer-Encoding: chunked\r\n\r\n"),
     .status = 200,
     .framing_error = "both Transfer-Encoding and Content-Length"},
    {.name = "rfc9112-6.3-r4-chunked-last",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"),
     .extra = 3,
     .status = 200,
     .kind = CHUNKED,
     .keep_alive = 1},
    /* Only a lone "chunked" is read: Transfer-Encoding is hop-by-hop and
     * any other coding would reach the client dropped (see rp_h1.h). */
    {.name = "hostile-gzip-then-chunked-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
     .status = 200,
     .framing_error = "transfer coding other than chunked"},
    {.name = "hostile-codings-across-fields-are-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
          "Transfer-Encoding: ,CHUNKED\r\n\r\n"),
     .status = 200,
     .fields = "Transfer-Encoding: gzip|Transfer-Encoding: ,CHUNKED",
     .framing_error = "transfer coding other than chunked"},
    {.name = "rfc9112-6.3-r4-chunked-across-fields",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n"
          "Transfer-Encoding: ,CHUNKED\r\n\r\n"),
     .status = 200,
     .fields = "Transfer-Encoding: ,|Transfer-Encoding: ,CHUNKED",
     .kind = CHUNKED,
     .keep_alive = 1},
    {.name = "hostile-chunked-not-last-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
     .status = 200,
     .framing_error = "chunked is not the last transfer coding"},
    {.name = "hostile-chunked-not-last-across-fields-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
          "Transfer-Encoding: foo\r\n\r\n"),
     .status = 200,
     .fields = "Transfer-Encoding: chunked|Transfer-Encoding: foo",
     .framing_error = "chunked is not the last transfer coding"},
    {.name = "hostile-gzip-only-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: x-gzip\r\n\r\n"),
     .status = 200,
     .framing_error = "transfer coding other than chunked"},
    {.name = "rfc9112-6.1-unknown-coding-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: foo, chunked\r\n\r\n"),
     .status = 200,
     .framing_error = "unknown transfer coding"},
    {.name = "rfc9112-6.1-identity-is-unknown",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n"),
     .status = 200,
     .framing_error = "unknown transfer coding"},
    {.name = "rfc9112-7-chunked-with-parameter-is-unknown",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
     .status = 200,
     .framing_error = "unknown transfer coding"},
    {.name = "rfc9112-6.1-chunked-twice-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
          "Transfer-Encoding: chunked\r\n\r\n"),
     .status = 200,
     .framing_error = "chunked applied more than once"},
    {.name = "rfc9112-6.1-empty-te-is-error",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: , \r\n\r\n"),
     .status = 200,
     .framing_error = "empty Transfer-Encoding"},
    {.name = "rfc9112-6.1-te-in-http10-is-error",
     WIRE("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
     .http10 = 1,
     .status = 200,
     .framing_error = "Transfer-Encoding in HTTP/1.0 response"},
    {.name = "rfc9112-6.3-r6-cl-zero-has-no-body",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
     .status = 200,
     .kind = NONE,
     .keep_alive = 1},
    {.name = "rfc9112-6.3-r7-no-framing-reads-to-close",
     WIRE("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"),
     .status = 200,
     .kind = CLOSE,
     .keep_alive = 0},
    {.name = "rfc9110-8.6-cl-repeated-fields-agree",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 7,
     .keep_alive = 1},
    {.name = "rfc9110-8.6-cl-list-agrees",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 7 ,7\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 7,
     .keep_alive = 1},
    {.name = "rfc9110-8.6-cl-leading-zeros-are-digits",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 7,
     .keep_alive = 1},
    {.name = "rfc9110-8.6-cl-2^63-minus-1-accepted",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 9223372036854775807ULL,
     .keep_alive = 1},
    {.name = "rfc9110-8.6-cl-fields-disagree-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
     .status = 200,
     .framing_error = "conflicting Content-Length values"},
    {.name = "rfc9110-8.6-cl-list-disagrees-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"),
     .status = 200,
     .framing_error = "conflicting Content-Length values"},
    {.name = "rfc9110-8.6-cl-plus-sign-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-minus-sign-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-inner-space-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length:  5 5\r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-hex-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-empty-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-empty-list-element-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n"),
     .status = 200,
     .framing_error = "bad Content-Length"},
    {.name = "rfc9110-8.6-cl-2^63-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"),
     .status = 200,
     .framing_error = "Content-Length too large"},
    {.name = "rfc9110-8.6-cl-20-digit-overflow-is-error",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n"),
     .status = 200,
     .framing_error = "Content-Length too large"},

    /* RFC 9112 9.3 and 9.6: persistence */
    {.name = "rfc9112-9.3-http10-default-is-close",
     WIRE("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"),
     .http10 = 1,
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 0},
    {.name = "rfc9112-c.2.2-http10-keep-alive-token",
     WIRE("HTTP/1.0 200 OK\r\nConnection: foo, Keep-Alive\r\n"
          "Content-Length: 1\r\n\r\n"),
     .http10 = 1,
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 1},
    {.name = "rfc9112-9.3-http10-keep-alive-but-no-length",
     WIRE("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"),
     .http10 = 1,
     .status = 200,
     .kind = CLOSE,
     .keep_alive = 0},
    {.name = "rfc9112-9.6-close-token-in-list",
     WIRE("HTTP/1.1 200 OK\r\nConnection: Upgrade,\tCLOSE \r\n"
          "Content-Length: 1\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 0},
    {.name = "rfc9112-9.6-close-in-second-connection-field",
     WIRE("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\n\r\n"),
     .status = 200,
     .kind = CHUNKED,
     .keep_alive = 0},
    {.name = "rfc9110-7.6.1-close-with-parameters-still-closes",
     WIRE("HTTP/1.1 200 OK\r\nConnection: x-a, close ;ext=0\r\n"
          "Content-Length: 1\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 0},
    {.name = "rfc9112-9.3-keep-alive-with-parameters-is-not-keep-alive-1.0",
     WIRE("HTTP/1.0 200 OK\r\nConnection: keep-alive;x\r\n"
          "Content-Length: 1\r\n\r\n"),
     .http10 = 1,
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 0},
    {.name = "rfc9110-7.6.1-close-needs-whole-token",
     WIRE("HTTP/1.1 200 OK\r\nConnection: closed, x-close\r\n"
          "Content-Length: 1\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 1},
    /* The framing fields are found in one pass by the length of their
     * names, then compared: names of the same length (Keep-Alive,
     * Accept-Charset, Transfer-Encodinx) and any case must not confuse it,
     * nor a repeat between the first and the last of a name. */
    {.name = "rfc9110-5.1-framing-names-in-any-case",
     WIRE("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nCONNECTION: Close\r\n"
          "\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 5,
     .keep_alive = 0},
    {.name = "rfc9110-8.6-cl-middle-of-three-disagrees",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAccept-Charset: x\r\n"
          "CONTENT-LENGTH: 6\r\nX: y\r\nContent-Length: 5\r\n\r\n"),
     .status = 200,
     .framing_error = "conflicting Content-Length values"},
    {.name = "rfc9110-8.6-cl-three-agree-with-namesakes-by-length-between",
     WIRE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAccept-Charset: 6\r\n"
          "Content-Length: 5\r\nContent-Lengtx: 7\r\n"
          "Content-Length: 5\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 5,
     .keep_alive = 1},
    {.name = "rfc9112-9.6-close-in-middle-of-three-connection-fields",
     WIRE("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
          "Keep-Alive: close\r\nconnection: close\r\nConnection: x\r\n"
          "Content-Length: 1\r\n\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 0},
    {.name = "rfc9112-9.6-keep-alive-field-is-not-connection",
     WIRE("HTTP/1.1 200 OK\r\nKeep-Alive: close\r\nContent-Length: 1\r\n"
          "\r\n"),
     .status = 200,
     .kind = LENGTH,
     .length = 1,
     .keep_alive = 1},
    {.name = "rfc9112-6.1-te-among-names-of-its-length",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encodinx: gzip\r\n"
          "transfer-encoding: chunked\r\nXransfer-Encoding: gzip\r\n\r\n"),
     .status = 200,
     .kind = CHUNKED,
     .keep_alive = 1},
    {.name = "rfc9112-6.1-te-second-of-two-adds-a-coding",
     WIRE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n"
          "TRANSFER-ENCODING: gzip\r\n\r\n"),
     .status = 200,
     .framing_error = "chunked is not the last transfer coding"},
};

/* Trailer sections (RFC 9112 7.1.2): same field rules, no status line. */
static const head_case_t trailer_cases[] = {
    {.name = "rfc9112-7.1.2-trailer-fields",
     WIRE("X-Sum: abc\r\nX-B:  1 \r\n\r\n"),
     .trailers = 1,
     .fields = "X-Sum: abc|X-B: 1"},
    {.name = "rfc9112-7.1.2-empty-trailer-section",
     WIRE("\r\n"),
     .trailers = 1,
     .fields = ""},
    {.name = "rfc9112-2.2-trailer-bare-lf",
     WIRE("X: y\n\nNEXT"),
     .extra = 4,
     .trailers = 1,
     .fields = "X: y"},
    {.name = "rfc9112-5.2-trailer-obs-fold-is-bad",
     WIRE(" X: y\r\n\r\n"),
     .trailers = 1,
     .parse_error = "obs-fold in header"},
    {.name = "rfc9112-5.1-trailer-ws-before-colon-is-bad",
     WIRE("X : y\r\n\r\n"),
     .trailers = 1,
     .parse_error = "whitespace before colon in header"},
    {.name = "rfc9112-5-trailer-too-many-fields",
     WIRE("A: 1\r\nB: 2\r\n\r\n"),
     .trailers = 1,
     .max_fields = 1,
     .parse_error = "too many header fields"},
};

/* "Name: value|Name: value" of the parsed fields, for exact comparison. */
static void join_fields(const rp_h1_head_t *h, char *out, size_t cap)
{
    size_t used = 0, i;

    out[0] = '\0';
    for (i = 0; i < h->nfields && used < cap; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%.*s: %.*s",
                                 i ? "|" : "", (int)h->fields[i].name_len,
                                 h->fields[i].name, (int)h->fields[i].value_len,
                                 h->fields[i].value);
    }
}

static void check_framing(const head_case_t *tc, const char *how,
                          const rp_h1_head_t *h)
{
    rp_h1_framing_t f;
    apr_status_t rv =
        rp_h1_response_framing(h, tc->method ? tc->method : "GET", &f);

    if (tc->framing_error != NULL) {
        if (rv != RP_EBAD_RESPONSE || f.error == NULL ||
            strcmp(f.error, tc->framing_error) != 0) {
            RP_FAIL_CASE(tc->name, "%s: framing error \"%s\", expected \"%s\"",
                         how, f.error ? f.error : "(none)", tc->framing_error);
        }
        return;
    }
    if (rv != APR_SUCCESS || f.error != NULL) {
        RP_FAIL_CASE(tc->name, "%s: framing failed: %s", how,
                     f.error ? f.error : "(no text)");
        return;
    }
    if (f.kind != tc->kind || f.length != tc->length ||
        (int)f.keep_alive != tc->keep_alive) {
        RP_FAIL_CASE(tc->name,
                     "%s: framing kind %d length %llu ka %d, "
                     "expected %d %llu %d",
                     how, (int)f.kind, (unsigned long long)f.length,
                     (int)f.keep_alive, (int)tc->kind,
                     (unsigned long long)tc->length, tc->keep_alive);
    }
}

static void check_status(const head_case_t *tc, const char *how,
                         const rp_h1_head_t *h)
{
    if (h->status != tc->status || h->minor_version != (tc->http10 ? 0 : 1)) {
        RP_FAIL_CASE(tc->name, "%s: HTTP/1.%d %d, expected HTTP/1.%d %d", how,
                     h->minor_version, h->status, tc->http10 ? 0 : 1,
                     tc->status);
    }
    if (tc->reason != NULL &&
        (h->reason_len != strlen(tc->reason) ||
         memcmp(h->reason, tc->reason, h->reason_len) != 0)) {
        RP_FAIL_CASE(tc->name, "%s: reason \"%.*s\", expected \"%s\"", how,
                     (int)h->reason_len, h->reason, tc->reason);
    }
}

/* Compare one parse result with the case's expectations. Pointers in h
 * point into the buffer just parsed, so this runs before it is freed. */
static void check_head(const head_case_t *tc, const char *how, apr_ssize_t rv,
                       const rp_h1_head_t *h)
{
    apr_ssize_t want = tc->parse_error
                           ? RP_H1_EBADMSG
                           : (apr_ssize_t)(tc->wire_len - tc->extra);
    char got[1024];

    if (rv != want) {
        RP_FAIL_CASE(tc->name, "%s: returned %ld, expected %ld (%s)", how,
                     (long)rv, (long)want, h->error ? h->error : "");
        return;
    }
    if (tc->parse_error != NULL) {
        if (h->error == NULL || strcmp(h->error, tc->parse_error) != 0) {
            RP_FAIL_CASE(tc->name, "%s: error \"%s\", expected \"%s\"", how,
                         h->error ? h->error : "(null)", tc->parse_error);
        }
        return;
    }
    if (h->error != NULL) {
        RP_FAIL_CASE(tc->name, "%s: error set on success", how);
    }
    if (tc->fields != NULL) {
        join_fields(h, got, sizeof(got));
        if (strcmp(got, tc->fields) != 0) {
            RP_FAIL_CASE(tc->name, "%s: fields \"%s\", expected \"%s\"", how,
                         got, tc->fields);
        }
    }
    if (!tc->trailers) {
        check_status(tc, how, h);
        check_framing(tc, how, h);
    }
}

static apr_ssize_t parse(const head_case_t *tc, const char *buf, size_t len,
                         size_t last_len, rp_h1_head_t *h)
{
    if (tc->trailers) {
        return rp_h1_parse_trailers(buf, len, h);
    }
    return rp_h1_parse_response(buf, len, last_len, h);
}

/* The fields array is malloc'd at exactly max_fields entries so that ASan
 * catches a parser that writes one field too many. */
static void init_head(const head_case_t *tc, rp_h1_head_t *h)
{
    memset(h, 0, sizeof(*h));
    h->max_fields = tc->max_fields ? tc->max_fields : DEFAULT_MAX_FIELDS;
    h->fields = malloc(h->max_fields * sizeof(*h->fields));
}

/* Whole: the exact bytes in a heap block of exactly that size. */
static void run_head_whole(const head_case_t *tc)
{
    rp_h1_head_t h;
    char *buf = malloc(tc->wire_len);

    init_head(tc, &h);
    memcpy(buf, tc->wire, tc->wire_len);
    check_head(tc, "whole", parse(tc, buf, tc->wire_len, 0, &h), &h);
    free(buf);
    free(h.fields);
}

/* Per byte: prefixes of length 1..n, each ending at a guard page, with
 * last_len the last prefix that was INCOMPLETE, as a reader passes it.
 * INCOMPLETE until the head is complete, then the same result. */
static void run_head_per_byte(const head_case_t *tc)
{
    size_t head_len = tc->wire_len - tc->extra, k, maplen, last_len = 0;
    rp_h1_head_t h;
    apr_ssize_t rv;
    void *map;
    char *g, how[64];

    init_head(tc, &h);
    for (k = 1; k <= tc->wire_len; k++) {
        g = rp_test_guard(tc->wire, k, &map, &maplen);
        rv = parse(tc, g, k, last_len, &h);
        if (rv == RP_H1_INCOMPLETE) {
            last_len = k;
        }
        snprintf(how, sizeof(how), "prefix %zu", k);
        if (k < head_len && rv != RP_H1_INCOMPLETE) {
            RP_FAIL_CASE(tc->name, "%s: returned %ld before the head ended",
                         how, (long)rv);
        }
        else if (k >= head_len) {
            check_head(tc, how, rv, &h);
        }
        rp_test_unguard(map, maplen);
    }
    free(h.fields);
}

static void run_head_guard(const head_case_t *tc)
{
    rp_h1_head_t h;
    size_t maplen;
    void *map;
    char *g = rp_test_guard(tc->wire, tc->wire_len, &map, &maplen);

    init_head(tc, &h);
    check_head(tc, "guard page", parse(tc, g, tc->wire_len, 0, &h), &h);
    rp_test_unguard(map, maplen);
    free(h.fields);
}

/* Table cases run as tests of their own, so each reports under its RFC
 * name; rp_test_run() takes no argument, hence the current-case pointer. */
static const head_case_t *cur_head;

static void run_cur_head(void)
{
    run_head_whole(cur_head);
    run_head_per_byte(cur_head);
    run_head_guard(cur_head);
}

static void run_head_table(const head_case_t *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        cur_head = &cases[i];
        rp_test_run(cases[i].name, run_cur_head);
    }
}

/* last_len is trusted: bytes before it are not scanned again for the end. */
static void test_last_len_skips_rescan(void)
{
    static const char wire[] = "HTTP/1.1 200 OK\r\n\r\n";
    rp_h1_field_t fields[4];
    rp_h1_head_t h = {.fields = fields, .max_fields = 4};
    size_t n = sizeof(wire) - 1;

    RP_EXPECT_INT(rp_h1_parse_response(wire, n, n, &h), RP_H1_INCOMPLETE);
    RP_EXPECT_INT(rp_h1_parse_response(wire, n, n - 1, &h), n);
    /* A last_len beyond len is a caller bug; the parser rescans. */
    RP_EXPECT_INT(rp_h1_parse_response(wire, n, n + 10, &h), n);
    RP_EXPECT_INT(rp_h1_parse_response(wire, 0, 0, &h), RP_H1_INCOMPLETE);
}

static void test_find_field(void)
{
    static const char wire[] = "HTTP/1.1 200 OK\r\nSet-Cookie: a\r\n"
                               "Content-Length: 0\r\nset-cookie: b\r\n\r\n";
    rp_h1_field_t fields[4];
    rp_h1_head_t h = {.fields = fields, .max_fields = 4};

    RP_EXPECT_INT(rp_h1_parse_response(wire, sizeof(wire) - 1, 0, &h),
                  sizeof(wire) - 1);
    RP_EXPECT_INT(rp_h1_find_field(&h, "content-length", 0), 1);
    RP_EXPECT_INT(rp_h1_find_field(&h, "SET-COOKIE", 0), 0);
    RP_EXPECT_INT(rp_h1_find_field(&h, "Set-Cookie", 1), 2);
    RP_EXPECT_INT(rp_h1_find_field(&h, "Set-Cookie", 3), -1);
    RP_EXPECT_INT(rp_h1_find_field(&h, "Set-Cookie", -5), 0);
    RP_EXPECT_INT(rp_h1_find_field(&h, "Set-Cooki", 0), -1);
    RP_EXPECT_INT(rp_h1_find_field(&h, "Set-Cookies", 0), -1);
    RP_EXPECT_INT(rp_h1_find_field(&h, "", 0), -1);
}

/* ---- chunked decoder ----------------------------------------------- */

typedef enum outcome_t { OUT_DONE = 0, OUT_MORE, OUT_ERROR } outcome_t;

typedef struct chunk_case_t {
    const char *name;
    const char *wire;
    size_t wire_len;
    size_t extra;           /* bytes after the message: never consumed */
    apr_size_t max_trailer; /* 0: the decoder's default */
    outcome_t outcome;
    const char *error;   /* OUT_ERROR only */
    const char *body;    /* concatenated DATA spans */
    const char *trailer; /* concatenated TRAILER spans; not on error */
    int trailer_fields;  /* fields rp_h1_parse_trailers() finds after DONE */
} chunk_case_t;

static const chunk_case_t chunk_cases[] = {
    {.name = "rfc9112-7.1-one-chunk",
     WIRE("5\r\nhello\r\n0\r\n\r\n"),
     .body = "hello",
     .trailer = ""},
    {.name = "rfc9112-7.1-several-chunks",
     WIRE("5\r\nhello\r\n6\r\n world\r\n1\r\n!\r\n0\r\n\r\n"),
     .body = "hello world!",
     .trailer = ""},
    {.name = "rfc9112-7.1-hexdig-any-case",
     WIRE("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n"),
     .body = "0123456789abcdefghij",
     .trailer = ""},
    {.name = "rfc9112-7.1-data-may-hold-crlf",
     WIRE("4\r\n\r\n\r\n\r\n0\r\n\r\n"),
     .body = "\r\n\r\n",
     .trailer = ""},
    {.name = "rfc9112-7.1-leading-zeros-16-digits",
     WIRE("0000000000000005\r\nhello\r\n000\r\n\r\n"),
     .body = "hello",
     .trailer = ""},
    {.name = "rfc9112-7.1-17-digits-is-bad",
     WIRE("00000000000000005\r\nhello\r\n0\r\n\r\n"),
     .outcome = OUT_ERROR,
     .error = "chunk size too long",
     .body = ""},
    {.name = "rfc9112-7.1-size-2^63-is-bad",
     WIRE("8000000000000000\r\n"),
     .outcome = OUT_ERROR,
     .error = "chunk size overflow",
     .body = ""},
    {.name = "rfc9112-7.1-size-2^64-minus-1-is-bad",
     WIRE("ffffffffffffffff\r\n"),
     .outcome = OUT_ERROR,
     .error = "chunk size overflow",
     .body = ""},
    {.name = "rfc9112-7.1-size-2^63-minus-1-accepted",
     WIRE("7fffffffffffffff\r\nabc"),
     .outcome = OUT_MORE,
     .body = "abc",
     .trailer = ""},
    {.name = "rfc9112-7.1-empty-size-is-bad",
     WIRE("\r\nhello"),
     .outcome = OUT_ERROR,
     .error = "bad chunk size",
     .body = ""},
    {.name = "rfc9112-7.1-negative-size-is-bad",
     WIRE("-5\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "bad chunk size",
     .body = ""},
    {.name = "rfc9112-7.1-0x-prefix-is-junk",
     WIRE("0x5\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "junk after chunk size",
     .body = ""},
    {.name = "rfc9112-7.1-junk-after-size",
     WIRE("5z\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "junk after chunk size",
     .body = ""},
    {.name = "rfc9112-7.1-space-inside-size-is-junk",
     WIRE("5 5\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "junk after chunk size",
     .body = ""},
    {.name = "rfc9112-7.1.1-extensions-skipped",
     WIRE("5;name=value;flag\r\nhello\r\n0;last=1\r\n\r\n"),
     .body = "hello",
     .trailer = ""},
    {.name = "rfc9112-7.1.1-bws-around-extension",
     WIRE("5 \t; a = b\r\nhello\r\n0 \r\n\r\n"),
     .body = "hello",
     .trailer = ""},
    {.name = "rfc9112-7.1.1-quoted-extension-value",
     WIRE("5;a=\"x;y\\\"z\\\\\"\r\nhello\r\n0\r\n\r\n"),
     .body = "hello",
     .trailer = ""},
    {.name = "rfc9112-7.1.1-ctl-in-extension-is-bad",
     WIRE("5;a\x01\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "bad chunk extension",
     .body = ""},
    {.name = "rfc9112-7.1.1-line-end-in-quoted-string-is-bad",
     WIRE("5;a=\"x\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "bad chunk extension",
     .body = ""},
    {.name = "rfc9112-7.1.1-bare-cr-in-extension-is-bad",
     WIRE("5;a\rb\r\nhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "bare CR in chunk size line",
     .body = ""},
    {.name = "rfc9112-2.2-bare-cr-after-size-is-bad",
     WIRE("5\rhello\r\n"),
     .outcome = OUT_ERROR,
     .error = "bare CR in chunk size line",
     .body = ""},
    {.name = "rfc9112-7.1-missing-crlf-after-data",
     WIRE("5\r\nhelloX\r\n0\r\n\r\n"),
     .outcome = OUT_ERROR,
     .error = "missing CRLF after chunk data",
     .body = "hello"},
    {.name = "rfc9112-7.1-bare-cr-after-data-is-bad",
     WIRE("5\r\nhello\rworld"),
     .outcome = OUT_ERROR,
     .error = "missing CRLF after chunk data",
     .body = "hello"},
    {.name = "rfc9112-2.2-bare-lf-everywhere",
     WIRE("5\nhello\n0\nX: y\n\n"),
     .body = "hello",
     .trailer = "X: y\n\n",
     .trailer_fields = 1},
    {.name = "rfc9112-7.1.2-trailer-section",
     WIRE("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-B: 1\r\n\r\n"),
     .body = "hello",
     .trailer = "X-Sum: abc\r\nX-B: 1\r\n\r\n",
     .trailer_fields = 2},
    {.name = "rfc9112-7.1.2-trailer-after-last-chunk-ext",
     WIRE("0;ext=\"v\"\r\nX: y\r\n\r\n"),
     .body = "",
     .trailer = "X: y\r\n\r\n",
     .trailer_fields = 1},
    {.name = "rfc9112-7.1.2-trailer-at-limit",
     WIRE("0\r\nX-Long: 0123456789\r\n\r\n"),
     .max_trailer = 22,
     .body = "",
     .trailer = "X-Long: 0123456789\r\n\r\n",
     .trailer_fields = 1},
    {.name = "rfc9112-7.1.2-trailer-over-limit",
     WIRE("0\r\nX-Long: 0123456789\r\n\r\n"),
     .max_trailer = 21,
     .outcome = OUT_ERROR,
     .error = "trailer section too large",
     .body = ""},
    {.name = "rfc9112-2.2-bare-cr-in-trailer-is-bad",
     WIRE("0\r\nX: a\rb\r\n\r\n"),
     .outcome = OUT_ERROR,
     .error = "bare CR in trailer",
     .body = ""},
    {.name = "rfc9112-2.2-bare-cr-ending-trailer-is-bad",
     WIRE("0\r\nX: a\r\n\r\r\n"),
     .outcome = OUT_ERROR,
     .error = "bare CR in trailer",
     .body = ""},
    {.name = "rfc9112-2.2-bare-cr-as-empty-trailer-is-bad",
     WIRE("0\r\n\rX"),
     .outcome = OUT_ERROR,
     .error = "bare CR in trailer",
     .body = ""},
    {.name = "rfc9112-7.1-bytes-after-done-not-consumed",
     WIRE("3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
     .extra = sizeof("HTTP/1.1 200 OK\r\n") - 1,
     .body = "abc",
     .trailer = ""},
    {.name = "rfc9112-7.1.2-bytes-after-trailer-not-consumed",
     WIRE("0\r\nA: b\r\n\r\nNEXT"),
     .extra = 4,
     .body = "",
     .trailer = "A: b\r\n\r\n",
     .trailer_fields = 1},
    {.name = "rfc9112-7.1-incomplete-data",
     WIRE("5\r\nhel"),
     .outcome = OUT_MORE,
     .body = "hel",
     .trailer = ""},
    {.name = "rfc9112-7.1-incomplete-trailer",
     WIRE("0\r\nX: y\r\n"),
     .outcome = OUT_MORE,
     .body = "",
     .trailer = "X: y\r\n"},
};

/* What feeding a case produced. */
typedef struct feed_t {
    outcome_t outcome;
    const char *error;
    char body[256];
    size_t body_len;
    char trailer[256];
    size_t trailer_len;
    size_t used; /* bytes consumed */
    int finished;
} feed_t;

static void append(char *dst, size_t *dst_len, size_t cap, const char *src,
                   size_t n)
{
    if (*dst_len + n < cap) {
        memcpy(dst + *dst_len, src, n);
        *dst_len += n;
    }
}

/* One decode call on a guard-page copy of buf[0..len); records spans. */
static apr_ssize_t decode_once(const chunk_case_t *tc, rp_h1_chunked_t *dec,
                               const char *buf, size_t len, feed_t *r)
{
    rp_h1_span_t span;
    size_t maplen;
    void *map;
    char *g = rp_test_guard(buf, len, &map, &maplen);
    apr_ssize_t rv = rp_h1_chunked_decode(dec, g, len, &span, &r->error);

    if (rv >= 0 &&
        (span.kind == RP_H1_SPAN_DATA || span.kind == RP_H1_SPAN_TRAILER)) {
        /* Contract: consumed bytes end with the span, which is not empty. */
        if (span.len == 0 || span.off + span.len != (size_t)rv) {
            RP_FAIL_CASE(tc->name, "span off %zu len %zu but consumed %ld",
                         (size_t)span.off, (size_t)span.len, (long)rv);
        }
        if (span.kind == RP_H1_SPAN_DATA) {
            append(r->body, &r->body_len, sizeof(r->body), g + span.off,
                   span.len);
        }
        else {
            append(r->trailer, &r->trailer_len, sizeof(r->trailer),
                   g + span.off, span.len);
        }
    }
    if (rv == RP_H1_EBADMSG) {
        r->outcome = OUT_ERROR;
        r->finished = 1;
    }
    else if (span.kind == RP_H1_SPAN_DONE) {
        r->outcome = OUT_DONE;
        r->finished = 1;
    }
    rp_test_unguard(map, maplen);
    return rv;
}

/* Give the decoder buf[0..len) as a reader would: call until it stops
 * consuming. A call with bytes left must consume some unless DONE. */
static void feed(const chunk_case_t *tc, rp_h1_chunked_t *dec, const char *buf,
                 size_t len, feed_t *r)
{
    size_t pos = 0;
    apr_ssize_t rv;

    while (!r->finished) {
        rv = decode_once(tc, dec, buf + pos, len - pos, r);
        if (rv < 0) {
            return;
        }
        pos += (size_t)rv;
        r->used += (size_t)rv;
        if (rv == 0 && !r->finished) {
            if (pos != len) {
                RP_FAIL_CASE(tc->name, "stalled with %zu bytes", len - pos);
            }
            return;
        }
    }
}

static void check_chunked(const chunk_case_t *tc, const char *how,
                          const feed_t *r)
{
    size_t want_used = tc->wire_len - tc->extra;

    if (r->outcome != tc->outcome) {
        RP_FAIL_CASE(tc->name, "%s: outcome %d (%s), expected %d", how,
                     (int)r->outcome, r->error ? r->error : "", tc->outcome);
        return;
    }
    if (tc->outcome == OUT_ERROR &&
        (r->error == NULL || strcmp(r->error, tc->error) != 0)) {
        RP_FAIL_CASE(tc->name, "%s: error \"%s\", expected \"%s\"", how,
                     r->error ? r->error : "(null)", tc->error);
    }
    if (r->body_len != strlen(tc->body) ||
        memcmp(r->body, tc->body, r->body_len) != 0) {
        RP_FAIL_CASE(tc->name, "%s: body \"%.*s\", expected \"%s\"", how,
                     (int)r->body_len, r->body, tc->body);
    }
    if (tc->outcome == OUT_ERROR) {
        return;
    }
    if (r->trailer_len != strlen(tc->trailer) ||
        memcmp(r->trailer, tc->trailer, r->trailer_len) != 0) {
        RP_FAIL_CASE(tc->name, "%s: trailer \"%.*s\", expected \"%s\"", how,
                     (int)r->trailer_len, r->trailer, tc->trailer);
    }
    if (r->used != want_used) {
        RP_FAIL_CASE(tc->name, "%s: consumed %zu, expected %zu", how, r->used,
                     want_used);
    }
}

/* After DONE, trailers must parse and the decoder must stay DONE. */
static void check_after_done(const chunk_case_t *tc, rp_h1_chunked_t *dec,
                             const feed_t *r)
{
    rp_h1_field_t fields[8];
    rp_h1_head_t h = {.fields = fields, .max_fields = 8};
    rp_h1_span_t span;
    const char *err = NULL;

    if (r->trailer_len > 0) {
        RP_EXPECT_INT(rp_h1_parse_trailers(r->trailer, r->trailer_len, &h),
                      r->trailer_len);
        RP_EXPECT_INT(h.nfields, tc->trailer_fields);
    }
    RP_EXPECT_INT(
        rp_h1_chunked_decode(dec, tc->wire, tc->wire_len, &span, &err), 0);
    RP_EXPECT_INT(span.kind, RP_H1_SPAN_DONE);
}

static void start_feed(const chunk_case_t *tc, rp_h1_chunked_t *dec, feed_t *r)
{
    memset(dec, 0, sizeof(*dec));
    dec->max_trailer_bytes = tc->max_trailer;
    memset(r, 0, sizeof(*r));
    r->outcome = OUT_MORE; /* until DONE or an error is seen */
}

static void run_chunked_case(const chunk_case_t *tc)
{
    rp_h1_chunked_t dec;
    feed_t r;
    size_t k, i;
    char how[64];

    /* whole */
    start_feed(tc, &dec, &r);
    feed(tc, &dec, tc->wire, tc->wire_len, &r);
    check_chunked(tc, "whole", &r);
    if (r.outcome == OUT_DONE) {
        check_after_done(tc, &dec, &r);
    }
    /* split in two at every offset */
    for (k = 0; k <= tc->wire_len; k++) {
        start_feed(tc, &dec, &r);
        feed(tc, &dec, tc->wire, k, &r);
        feed(tc, &dec, tc->wire + r.used, tc->wire_len - r.used, &r);
        snprintf(how, sizeof(how), "split at %zu", k);
        check_chunked(tc, how, &r);
    }
    /* byte by byte */
    start_feed(tc, &dec, &r);
    for (i = 0; i < tc->wire_len && !r.finished; i++) {
        feed(tc, &dec, tc->wire + i, 1, &r);
    }
    check_chunked(tc, "byte by byte", &r);
}

static const chunk_case_t *cur_chunk;

static void run_cur_chunk(void)
{
    run_chunked_case(cur_chunk);
}

static void run_chunked_table(void)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(chunk_cases); i++) {
        cur_chunk = &chunk_cases[i];
        rp_test_run(chunk_cases[i].name, run_cur_chunk);
    }
}

/* The brief's floor on coverage, kept honest as tables change. */
static void test_table_sizes(void)
{
    RP_EXPECT(ARRAY_LEN(response_cases) >= 40);
    RP_EXPECT(ARRAY_LEN(chunk_cases) >= 25);
}

/* The trailer limit defaults to 16 KiB when left at 0. */
static void test_chunked_default_trailer_limit(void)
{
    size_t fill, n;
    char *wire = malloc(16400);
    rp_h1_chunked_t dec;
    rp_h1_span_t span;
    const char *err = NULL;
    apr_ssize_t rv;

    for (fill = 16384 - 7; fill <= 16384 - 6; fill++) {
        /* "0\r\n" + "X: " + fill + "\r\n" + "\r\n": trailer = fill + 7 */
        memcpy(wire, "0\r\nX: ", 6);
        memset(wire + 6, 'a', fill);
        memcpy(wire + 6 + fill, "\r\n\r\n", 4);
        n = 6 + fill + 4;
        memset(&dec, 0, sizeof(dec));
        /* One call: the last-chunk line, then the whole trailer span. */
        rv = rp_h1_chunked_decode(&dec, wire, n, &span, &err);
        if (fill + 7 <= 16384) {
            RP_EXPECT_INT(rv, n);
            RP_EXPECT_INT(span.kind, RP_H1_SPAN_TRAILER);
            RP_EXPECT_INT(span.off, 3);
            RP_EXPECT_INT(span.len, fill + 7);
        }
        else {
            RP_EXPECT_INT(rv, RP_H1_EBADMSG);
            RP_EXPECT_STR(err, "trailer section too large");
        }
    }
    free(wire);
}

/* Calls on an empty buffer, after DONE and after an error. */
static void test_chunked_call_contract(void)
{
    rp_h1_chunked_t dec = {0};
    rp_h1_span_t span;
    const char *err = NULL;

    RP_EXPECT_INT(rp_h1_chunked_decode(&dec, "", 0, &span, &err), 0);
    RP_EXPECT_INT(span.kind, RP_H1_SPAN_NONE);
    RP_EXPECT_INT(
        rp_h1_chunked_decode(&dec, "0\r\nA: b\r\n\r\n", 11, &span, &err), 11);
    RP_EXPECT_INT(span.kind, RP_H1_SPAN_TRAILER);
    RP_EXPECT_INT(span.off, 3);
    RP_EXPECT_INT(span.len, 8);
    /* The final empty line went out in the TRAILER span: DONE comes next,
     * consuming nothing, even with an empty buffer. */
    RP_EXPECT_INT(rp_h1_chunked_decode(&dec, "", 0, &span, &err), 0);
    RP_EXPECT_INT(span.kind, RP_H1_SPAN_DONE);
    RP_EXPECT_INT(rp_h1_chunked_decode(&dec, "5\r\n", 3, &span, &err), 0);
    RP_EXPECT_INT(span.kind, RP_H1_SPAN_DONE);

    memset(&dec, 0, sizeof(dec));
    RP_EXPECT_INT(rp_h1_chunked_decode(&dec, "q", 1, &span, &err),
                  RP_H1_EBADMSG);
    RP_EXPECT_STR(err, "bad chunk size");
    err = NULL;
    RP_EXPECT_INT(rp_h1_chunked_decode(&dec, "5\r\n", 3, &span, &err),
                  RP_H1_EBADMSG);
    RP_EXPECT_STR(err, "chunked decoder used after an error");
}

/* What the decoder was reading, named for the log line of a backend that
 * closes inside a chunked body: one prefix per place it can stop. */
static void test_chunked_state_str_names_where_input_stopped(void)
{
    static const struct {
        const char *wire;
        const char *state;
    } cases[] = {
        {"", "the start of a chunk"},
        {"1a", "a chunk size"},
        {"5 ", "whitespace after a chunk size"},
        {"5;name=v", "a chunk extension"},
        {"5;name=\"a,b", "a quoted string in a chunk extension"},
        {"5;n=\"\\", "a quoted string in a chunk extension"},
        {"5\r", "the line end of a chunk-size line"},
        {"5\r\nab", "chunk data"},
        {"2\r\nab", "the line end after chunk data"},
        {"2\r\nab\r", "the line end after chunk data"},
        {"2\r\nab\r\n", "the start of a chunk"},
        {"0\r\n", "the start of the trailer section"},
        {"0\r\n\r", "the start of the trailer section"},
        {"0\r\nX: 1\r\n", "the start of a trailer line"},
        {"0\r\nX: 1", "a trailer field line"},
        {"0\r\n\r\n", "nothing: the body is complete"},
        {"zz", "nothing: the decoder failed"},
    };
    rp_h1_span_t span;
    const char *err;
    size_t i, off, len;
    apr_ssize_t n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rp_h1_chunked_t dec = {0};
        len = strlen(cases[i].wire);
        /* feed everything; spans are consumed as they come */
        for (off = 0;;) {
            err = NULL;
            n = rp_h1_chunked_decode(&dec, cases[i].wire + off, len - off,
                                     &span, &err);
            if (n < 0 || (n == 0 && span.kind != RP_H1_SPAN_TRAILER)) {
                break;
            }
            off += (size_t)n;
        }
        if (strcmp(rp_h1_chunked_state_str(&dec), cases[i].state) != 0) {
            printf("    wire \"%s\"\n", cases[i].wire);
        }
        RP_EXPECT_STR(rp_h1_chunked_state_str(&dec), cases[i].state);
    }
}

/* ---- request head -------------------------------------------------- */

static void test_request_head(void)
{
    apr_pool_t *p;
    apr_table_t *t;
    apr_size_t len = 0;
    char *s;
    static const char want[] = "POST /p?q=1 HTTP/1.1\r\nHost: backend\r\n"
                               "X-A: 1\r\nX-A: 2\r\nX-Empty: \r\n\r\n";

    apr_pool_create(&p, NULL);
    t = apr_table_make(p, 4);
    apr_table_set(t, "Host", "backend");
    apr_table_add(t, "X-A", "1");
    apr_table_add(t, "X-A", "2");
    apr_table_set(t, "X-Empty", "");
    s = rp_h1_request_head(p, "POST", "/p?q=1", t, &len);
    RP_EXPECT_STR(s, want);
    RP_EXPECT_INT(len, sizeof(want) - 1);

    apr_table_clear(t);
    s = rp_h1_request_head(p, "GET", "/", t, &len);
    RP_EXPECT_STR(s, "GET / HTTP/1.1\r\n\r\n");
    RP_EXPECT_INT(len, 18);
    s = rp_h1_request_head(p, "OPTIONS", "*", NULL, NULL);
    RP_EXPECT_STR(s, "OPTIONS * HTTP/1.1\r\n\r\n");
    apr_pool_destroy(p);
}

/* A serialized head with a body marker parses back as a message would. */
static void test_request_head_round_trip_framing(void)
{
    apr_pool_t *p;
    apr_table_t *t;
    apr_size_t len;
    char *s;

    apr_pool_create(&p, NULL);
    t = apr_table_make(p, 2);
    apr_table_set(t, "Connection", "close");
    s = rp_h1_request_head(p, "GET", "/x", t, &len);
    RP_EXPECT_INT(len, strlen(s));
    RP_EXPECT(len >= 4 && memcmp(s + len - 4, "\r\n\r\n", 4) == 0);
    RP_EXPECT(strstr(s, "\r\nConnection: close\r\n") != NULL);
    apr_pool_destroy(p);
}

/* rp_h1_ctype[] against RFC 9110's definitions, byte by byte, through the
 * parser: a name byte is accepted exactly when it is a tchar (5.6.2), a
 * value byte exactly when it is not a CTL other than HTAB (5.5). ':' and the
 * line-end bytes change the line's structure and are covered elsewhere. */
static int spec_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static void test_ctype_table_matches_rfc9110(void)
{
    rp_h1_field_t fields[4];
    rp_h1_head_t h = {.fields = fields, .max_fields = 4};
    char wire[64];
    int c, ok;

    for (c = 0; c < 256; c++) {
        if (c == ':' || c == '\r' || c == '\n') {
            continue;
        }
        memcpy(wire, "HTTP/1.1 200 OK\r\nX?Y: v\r\n\r\n", 28);
        wire[18] = (char)c;
        ok = rp_h1_parse_response(wire, 27, 0, &h) == 27;
        RP_EXPECT_INT(ok, spec_tchar(c) ? 1 : 0);
        RP_EXPECT_INT(RP_H1_IS_TCHAR(c) ? 1 : 0, spec_tchar(c) ? 1 : 0);
        wire[18] = 'Z';
        wire[22] = (char)c; /* "X: v" -> the value's only byte */
        ok = rp_h1_parse_response(wire, 27, 0, &h) == 27;
        RP_EXPECT_INT(ok, ((c < 0x20 && c != '\t') || c == 0x7f) ? 0 : 1);
    }
}

/* A field value is checked eight bytes at a time while they are plain
 * text: every byte value at every position of a 24-byte value must get the
 * verdict rp_h1_ctype[] gives it alone (HTAB and obs-text allowed, other
 * CTLs and DEL refused), whichever word and place in it the byte falls on. */
static void test_value_bytes_checked_at_every_position(void)
{
    rp_h1_field_t fields[4];
    rp_h1_head_t h = {.fields = fields, .max_fields = 4};
    static const char pre[] = "HTTP/1.1 200 OK\r\nX: ";
    char wire[64];
    apr_size_t n = sizeof(pre) - 1, len = n + 24 + 4;
    int c, pos, ok, bad;

    for (c = 0; c < 256; c++) {
        if (c == '\n') {
            continue;
        }
        bad = (c < 0x20 && c != '\t') || c == 0x7f;
        for (pos = 0; pos < 24; pos++) {
            memcpy(wire, pre, n);
            memset(wire + n, 0xa5, 24); /* obs-text around it */
            wire[n + pos] = (char)c;
            memcpy(wire + n + 24, "\r\n\r\n", 4);
            ok = rp_h1_parse_response(wire, len, 0, &h) == (apr_ssize_t)len;
            RP_EXPECT_INT(ok, bad ? 0 : 1);
            if (bad && c == 0) {
                RP_EXPECT_STR(h.error, "NUL in head");
            }
            else if (bad && c == '\r') {
                RP_EXPECT_STR(h.error, "bare CR in head");
            }
            else if (bad) {
                RP_EXPECT_STR(h.error, "control character in header value");
            }
        }
    }
}

/* RFC 9112 7.1.2: last-chunk, then the trailer fields, then CRLF. */
static void test_rfc9112_7_1_2_last_chunk_with_trailers(void)
{
    apr_pool_t *p;
    apr_table_t *t;
    apr_size_t len = 0;
    char *s;
    static const char want[] = "0\r\nX-Sum: 42\r\nX-A: 1\r\nX-A: 2\r\n\r\n";

    apr_pool_create(&p, NULL);
    t = apr_table_make(p, 4);
    apr_table_set(t, "X-Sum", "42");
    apr_table_add(t, "X-A", "1");
    apr_table_add(t, "X-A", "2");
    s = rp_h1_last_chunk(p, t, &len);
    RP_EXPECT_STR(s, want);
    RP_EXPECT_INT(len, sizeof(want) - 1);
    apr_table_clear(t);
    s = rp_h1_last_chunk(p, t, &len);
    RP_EXPECT_STR(s, "0\r\n\r\n");
    RP_EXPECT_INT(len, 5);
    RP_EXPECT_STR(rp_h1_last_chunk(p, NULL, NULL), "0\r\n\r\n");
    apr_pool_destroy(p);
}

int main(void)
{
    int rc;

    apr_initialize();
    RP_TEST_RUN(test_table_sizes);
    run_head_table(response_cases, ARRAY_LEN(response_cases));
    run_head_table(trailer_cases, ARRAY_LEN(trailer_cases));
    RP_TEST_RUN(test_last_len_skips_rescan);
    RP_TEST_RUN(test_find_field);
    RP_TEST_RUN(test_ctype_table_matches_rfc9110);
    RP_TEST_RUN(test_value_bytes_checked_at_every_position);
    run_chunked_table();
    RP_TEST_RUN(test_chunked_default_trailer_limit);
    RP_TEST_RUN(test_chunked_call_contract);
    RP_TEST_RUN(test_chunked_state_str_names_where_input_stopped);
    RP_TEST_RUN(test_request_head);
    RP_TEST_RUN(test_request_head_round_trip_framing);
    RP_TEST_RUN(test_rfc9112_7_1_2_last_chunk_with_trailers);
    rc = rp_test_done();
    apr_terminate();
    return rc;
}
