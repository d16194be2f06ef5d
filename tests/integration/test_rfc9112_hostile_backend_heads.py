"""RFC 9112 sections 2-6 and RFC 9110 15.2: a backend's malformed response
head is never forwarded.  Each case is a 502 that httpd frames itself, with
`Proxy-Status: "127.0.0.1"; error=<type>; details=...` (RFC 9209), no field
or body byte of the backend's message, and an error-log line that names
the backend and the fault.  The answer for every input is tabled in
docs/internals/hostile-input.md.

Bare LF line ends (RFC 9112 2.2 lets a recipient accept them) are accepted:
a correct 200.  The limits (64 KiB head, whatever its number of fields;
16 interim responses) are checked on both sides of the line.
"""

import pytest

import backends
import client
import hostile
from hostile import MARKER_BODY, MARKER_NAME

M = ("%s: 1\r\n" % MARKER_NAME).encode()
BODY = MARKER_BODY  # 12 bytes
CL = b"Content-Length: %d\r\n" % len(BODY)


def msg(status_line, *fields, body=BODY, cl=True):
    """A response: status line, the marker, fields, Content-Length, body."""
    head = status_line + b"\r\n" + M + b"".join(f + b"\r\n" for f in fields)
    return head + (CL if cl else b"") + b"\r\n" + body


def big_fields(nfields, total):
    """`nfields` X-Pad fields making a head of exactly `total` bytes
    (status line, marker and Content-Length included)."""
    fixed = len(msg(b"HTTP/1.1 200 OK", body=b""))
    per = (total - fixed) // nfields
    fields = []
    for i in range(nfields):
        name = b"X-Pad%03d: " % i
        n = per - len(name) - 2 if i < nfields - 1 else \
            total - fixed - per * (nfields - 1) - len(name) - 2
        fields.append(name + b"a" * n)
    out = msg(b"HTTP/1.1 200 OK", *fields, body=b"")
    assert len(out) == total, (len(out), total)
    return fields


def interims(n, status=b"100 Continue", extra=b""):
    return (b"HTTP/1.1 " + status + b"\r\n" + extra + b"\r\n") * n


# name -> (response bytes, RFC 9209 error type, text of the log line)
PROTO = "http_protocol_error"
SIZE = "http_response_header_section_size"
BAD = {
    # status line (RFC 9112 4)
    "status-garbage": (b"HELLO WORLD THIS IS NOT HTTP\r\n" + M + CL + b"\r\n"
                       + BODY, PROTO, "bad status line"),
    "status-missing": (M + CL + b"\r\n" + BODY, PROTO, "bad status line"),
    "status-empty-line-first": (b"\r\n" + msg(b"HTTP/1.1 200 OK"), PROTO,
                                "bad status line"),
    "status-099": (msg(b"HTTP/1.1 099 Low"), PROTO, "status code out of range"),
    "status-000": (msg(b"HTTP/1.1 000 Zero"), PROTO,
                   "status code out of range"),
    "status-600": (msg(b"HTTP/1.1 600 High"), PROTO,
                   "status code out of range"),
    "status-999": (msg(b"HTTP/1.1 999 High"), PROTO,
                   "status code out of range"),
    "status-1000": (msg(b"HTTP/1.1 1000 OK"), PROTO, "bad status line"),
    "status-two-digits": (msg(b"HTTP/1.1 20 OK"), PROTO, "bad status line"),
    "status-sign": (msg(b"HTTP/1.1 +200 OK"), PROTO, "bad status line"),
    "status-http2": (msg(b"HTTP/2 200 OK"), PROTO, "bad status line"),
    "status-http09-lowercase": (msg(b"http/1.1 200 OK"), PROTO,
                                "bad status line"),
    "status-double-space": (msg(b"HTTP/1.1  200 OK"), PROTO,
                            "bad status line"),
    "status-reason-ctl": (msg(b"HTTP/1.1 200 O\x01K"), PROTO,
                          "control character in reason phrase"),
    "status-reason-bare-cr": (msg(b"HTTP/1.1 200 O\rK"), PROTO,
                              "bare CR in head"),
    # field lines (RFC 9112 5)
    "field-no-colon": (msg(b"HTTP/1.1 200 OK", b"this line has no colon"),
                       PROTO, "missing colon in header"),
    "field-space-before-colon": (
        msg(b"HTTP/1.1 200 OK", b"Content-Length : 12", cl=False), PROTO,
        "whitespace before colon in header"),
    "field-tab-before-colon": (msg(b"HTTP/1.1 200 OK", b"X-A\t: 1"), PROTO,
                               "whitespace before colon in header"),
    "field-empty-name": (msg(b"HTTP/1.1 200 OK", b": x"), PROTO,
                         "empty header name"),
    "field-bad-name-char": (msg(b"HTTP/1.1 200 OK", b"X(A): 1"), PROTO,
                            "bad character in header name"),
    "field-space-in-name": (msg(b"HTTP/1.1 200 OK", b"X A: 1"), PROTO,
                            "bad character in header name"),
    "field-bare-cr-in-value": (msg(b"HTTP/1.1 200 OK", b"X-A: a\rb"), PROTO,
                               "bare CR in head"),
    "field-bare-cr-line-end": (
        msg(b"HTTP/1.1 200 OK", b"X-A: a\rContent-Length: 12", cl=False),
        PROTO, "bare CR in head"),
    "field-bare-cr-line": (
        b"HTTP/1.1 200 OK\r\n" + M + CL + b"\r\r\n\r\n" + BODY, PROTO,
        "bare CR in head"),
    # "\r\r\n" is no empty line: the head never ends before the backend
    # closes (were it to wait, RProxyResponseHeaderTimeout gives a 504)
    "head-ends-in-bare-cr": (
        b"HTTP/1.1 200 OK\r\n" + M + CL + b"\r\r\n" + BODY,
        "http_response_incomplete",
        "connection closed inside the response head"),
    "field-nul-in-value": (msg(b"HTTP/1.1 200 OK", b"X-A: a\x00b"), PROTO,
                           "NUL in head"),
    "field-nul-in-name": (msg(b"HTTP/1.1 200 OK", b"X\x00A: b"), PROTO,
                          "NUL in head"),
    "field-ctl-in-value": (msg(b"HTTP/1.1 200 OK", b"X-A: a\x07b"), PROTO,
                           "control character in header value"),
    "field-del-in-value": (msg(b"HTTP/1.1 200 OK", b"X-A: a\x7fb"), PROTO,
                           "control character in header value"),
    "field-obs-fold": (msg(b"HTTP/1.1 200 OK", b"X-A: a", b" X-Injected: 1"),
                       PROTO, "obs-fold in header"),
    "field-space-before-first": (
        b"HTTP/1.1 200 OK\r\n X-A: 1\r\n" + M + CL + b"\r\n" + BODY, PROTO,
        "whitespace before first header field"),
    # limits
    "head-one-field-over-64k": (
        msg(b"HTTP/1.1 200 OK", b"X-Big: " + b"a" * 70000), SIZE,
        "response head too large"),
    "head-100-fields-over-64k": (
        msg(b"HTTP/1.1 200 OK", *big_fields(100, 65537)), SIZE,
        "response head too large"),
    "head-20000-tiny-fields-over-64k": (
        msg(b"HTTP/1.1 200 OK", *[b"a:"] * 20000), SIZE,
        "response head too large"),
    "head-never-ends": (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 9000, SIZE,
                        "response head too large"),
    # Content-Length (RFC 9112 6.3, RFC 9110 8.6)
    "cl-plus": (msg(b"HTTP/1.1 200 OK", b"Content-Length: +12", cl=False),
                PROTO, "bad Content-Length"),
    "cl-minus": (msg(b"HTTP/1.1 200 OK", b"Content-Length: -12", cl=False),
                 PROTO, "bad Content-Length"),
    "cl-inner-space": (msg(b"HTTP/1.1 200 OK", b"Content-Length: 1 2",
                           cl=False), PROTO, "bad Content-Length"),
    "cl-hex": (msg(b"HTTP/1.1 200 OK", b"Content-Length: 0xc", cl=False),
               PROTO, "bad Content-Length"),
    "cl-empty": (msg(b"HTTP/1.1 200 OK", b"Content-Length: ", cl=False),
                 PROTO, "bad Content-Length"),
    "cl-decimal-point": (msg(b"HTTP/1.1 200 OK", b"Content-Length: 12.0",
                             cl=False), PROTO, "bad Content-Length"),
    "cl-overflow-2e63": (msg(b"HTTP/1.1 200 OK",
                             b"Content-Length: 9223372036854775808",
                             cl=False), PROTO, "Content-Length too large"),
    "cl-overflow-20-digits": (msg(b"HTTP/1.1 200 OK",
                                  b"Content-Length: 99999999999999999999",
                                  cl=False), PROTO,
                              "Content-Length too large"),
    "cl-conflicting-fields": (msg(b"HTTP/1.1 200 OK", b"Content-Length: 12",
                                  b"Content-Length: 13", cl=False), PROTO,
                              "conflicting Content-Length values"),
    "cl-conflicting-list": (msg(b"HTTP/1.1 200 OK",
                                b"Content-Length: 12, 13", cl=False), PROTO,
                            "conflicting Content-Length values"),
    # Transfer-Encoding (RFC 9112 6.1, 6.3)
    "te-and-cl": (msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked",
                      body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n"), PROTO,
                  "both Transfer-Encoding and Content-Length"),
    "te-unknown": (msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: foo",
                       cl=False), PROTO, "unknown transfer coding"),
    "te-identity": (msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: identity",
                        cl=False), PROTO, "unknown transfer coding"),
    "te-unknown-then-chunked": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: foo, chunked",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "unknown transfer coding"),
    "te-gzip-only": (msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: gzip",
                         cl=False), PROTO,
                     "transfer coding other than chunked"),
    "te-gzip-then-chunked": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: gzip, chunked",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "transfer coding other than chunked"),
    "te-chunked-not-last": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked, gzip",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "chunked is not the last transfer coding"),
    "te-chunked-not-last-across-fields": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: foo",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "chunked is not the last transfer coding"),
    "te-chunked-twice": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked, chunked",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "chunked applied more than once"),
    "te-chunked-with-parameter": (
        msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: chunked;x=1",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "unknown transfer coding"),
    "te-empty": (msg(b"HTTP/1.1 200 OK", b"Transfer-Encoding: ,",
                     cl=False), PROTO, "empty Transfer-Encoding"),
    "te-in-http10": (
        msg(b"HTTP/1.0 200 OK", b"Transfer-Encoding: chunked",
            body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n", cl=False), PROTO,
        "Transfer-Encoding in HTTP/1.0 response"),
    # interim responses (RFC 9110 15.2)
    "endless-100": (interims(200) + msg(b"HTTP/1.1 200 OK"), PROTO,
                    "too many 1xx responses"),
    "endless-102": (interims(200, b"102 Processing") + msg(b"HTTP/1.1 200 OK"),
                    PROTO, "too many 1xx responses"),
    "endless-103": (interims(200, b"103 Early Hints",
                             b"Link: </x.css>; rel=preload\r\n")
                    + msg(b"HTTP/1.1 200 OK"), PROTO,
                    "too many 1xx responses"),
    "101-unasked": (b"HTTP/1.1 101 Switching Protocols\r\n" + M
                    + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    + BODY, "http_upgrade_failed",
                    "101 Switching Protocols without an upgrade request"),
}

# Inputs on the accepted side of a rule: a correct 200 with the body.
GOOD = {
    "lf-line-ends": b"HTTP/1.1 200 OK\n" + M.replace(b"\r", b"")
                    + b"Content-Length: 12\n\n" + BODY,
    "lf-and-crlf-mixed": b"HTTP/1.1 200 OK\n" + M + b"X-B: 2\n"
                         + CL + b"\n" + BODY,
    "status-no-reason": msg(b"HTTP/1.1 200"),
    "status-http12-read-as-11": msg(b"HTTP/1.2 200 OK"),
    "status-599": msg(b"HTTP/1.1 599 Custom"),
    "cl-same-value-twice": msg(b"HTTP/1.1 200 OK", b"Content-Length: 12, 12",
                               b"Content-Length: 12", cl=False),
    "cl-leading-zeros": msg(b"HTTP/1.1 200 OK", b"Content-Length: 0012",
                            cl=False),
    "te-chunked-any-case": msg(b"HTTP/1.1 200 OK",
                               b"Transfer-Encoding: ,ChUnKeD ,",
                               body=b"c\r\n" + BODY + b"\r\n0\r\n\r\n",
                               cl=False),
    "head-exactly-64k": msg(b"HTTP/1.1 200 OK", *big_fields(100, 65536)),
    "head-3000-fields": msg(b"HTTP/1.1 200 OK",
                            *[b"X-F%d: v" % i for i in range(3000)]),
    "sixteen-100-then-200": interims(16) + msg(b"HTTP/1.1 200 OK"),
}


@pytest.fixture(scope="module")
def setup(request):
    cases = {k: v[0] for k, v in BAD.items()}
    cases.update(GOOD)
    return hostile.module_setup(
        request, backends.make_raw_by_name_handler(cases), name="heads")


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_head_is_502_with_proxy_status_and_log(setup, case):
    raw, error, fault = BAD[case]
    h, b = setup.httpd, setup.backend
    h.mark_logs()
    r = client.get(h.port, "/app/" + case, timeout=10)
    assert r.status == 502, "%s from the backend gives 502 (got %r)" % (
        case, r)
    assert r.complete, "%s: the 502 is a well-framed response (%r)" % (
        case, r)
    hostile.check_not_leaked(r, case)
    p = hostile.check_proxy_status(r, error, case)
    assert fault in p["details"], \
        "%s: Proxy-Status details name the fault %r (%r)" % (
            case, fault, p["details"])
    hostile.check_log_names(h, b, fault, case)


@pytest.mark.parametrize("case", sorted(GOOD))
def test_well_formed_edge_is_forwarded(setup, case):
    h = setup.httpd
    r = client.get(h.port, "/app/" + case, timeout=10)
    want = 599 if case == "status-599" else 200
    assert r.status == want, "%s is forwarded as %d (got %r)" % (
        case, want, r)
    assert r.complete and r.body == BODY, \
        "%s: the body arrives whole and well framed (%r, %r)" % (
            case, r, r.body[:60])
    assert r.header(MARKER_NAME) == "1", \
        "%s: the backend's fields are forwarded (%r)" % (case, r.headers)
    assert r.header("Proxy-Status") is None, \
        "%s: no Proxy-Status on a forwarded response" % case
    assert r.header_all("Content-Length") in ([], ["12"]), \
        "%s: at most one Content-Length, the body's (%r)" % (
            case, r.headers)
