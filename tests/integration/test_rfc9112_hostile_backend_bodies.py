"""RFC 9112 sections 6 and 7: a backend's malformed body is never forwarded
as a complete message.

- The fault comes before the first body byte went out: a 502 that httpd
  frames itself, with Proxy-Status (RFC 9209) naming the fault, and none of
  the backend's fields.
- The fault comes after body bytes went out: the response is cut short, a
  chunked one without its last chunk, a Content-Length one short of the
  length, and the connection is closed; the bytes that did arrive are the
  good ones only.
Either way an error-log line names the backend and the fault.

Also: bytes a backend sends after a complete response (a second response
nobody asked for, a body to a HEAD) never answer the next request.  The
answer for every input is tabled in docs/internals/hostile-input.md.
"""

import time

import pytest

import backends
import client
import hostile
from hostile import MARKER_BODY, MARKER_NAME

M = ("%s: 1\r\n" % MARKER_NAME).encode()
BODY = MARKER_BODY
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\n" + M + \
    b"Transfer-Encoding: chunked\r\n\r\n"
GOOD = b"good-data-0123456789"
GOOD_CHUNK = b"%x\r\n%s\r\n" % (len(GOOD), GOOD)
PAUSE = 0.2  # lets the proxy pass the good bytes on before the fault

PROTO = "http_protocol_error"
CUT = "http_response_incomplete"
EOF_TEXT = "backend closed the connection before the end of the body"

# name -> (bytes after the chunked head (or after a good chunk), fault
# text in the log and Proxy-Status details, RFC 9209 error type); the
# backend closes after sending them
CHUNK_FAULTS = {
    "size-17-digits": (b"0000000000000000c\r\n" + BODY + b"\r\n0\r\n\r\n",
                       "chunk size too long", PROTO),
    "size-ffff-16-digits": (b"ffffffffffffffff\r\n" + BODY + b"\r\n0\r\n\r\n",
                            "chunk size overflow", PROTO),
    "size-2e63": (b"8000000000000000\r\n" + BODY + b"\r\n0\r\n\r\n",
                  "chunk size overflow", PROTO),
    "size-junk": (b"5x\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                  "junk after chunk size", PROTO),
    "size-two-numbers": (b"5 5\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                         "junk after chunk size", PROTO),
    "size-hex-prefix": (b"0x5\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                        "junk after chunk size", PROTO),
    "size-negative": (b"-5\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                      "bad chunk size", PROTO),
    "size-leading-space": (b" 5\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                           "bad chunk size", PROTO),
    "size-empty-line": (b"\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                        "bad chunk size", PROTO),
    "size-bare-cr": (b"5\r" + BODY[:5] + b"\r\n0\r\n\r\n",
                     "bare CR in chunk size line", PROTO),
    "ext-control-char": (b"5;a=\x01\r\n" + BODY[:5] + b"\r\n0\r\n\r\n",
                         "bad chunk extension", PROTO),
    "ext-line-end-in-quotes": (b'5;a="x\r\n"\r\n' + BODY[:5]
                               + b"\r\n0\r\n\r\n", "bad chunk extension",
                               PROTO),
    "data-longer-than-size": (b"5\r\n" + BODY + b"\r\n0\r\n\r\n",
                              "missing CRLF after chunk data", PROTO),
    "data-then-bare-cr": (b"5\r\n" + BODY[:5] + b"\rX\r\n0\r\n\r\n",
                          "missing CRLF after chunk data", PROTO),
    "trailer-over-16k": (b"0\r\nX-T: " + b"a" * 20000 + b"\r\n\r\n",
                         "trailer section too large", PROTO),
    "trailer-no-colon": (b"0\r\nno colon here\r\n\r\n",
                         "bad trailer section", PROTO),
    "trailer-obs-fold": (b"0\r\nX-T: a\r\n b\r\n\r\n",
                         "bad trailer section", PROTO),
    "trailer-bare-cr": (b"0\r\nX-T: a\rb\r\n\r\n", "bare CR in trailer",
                        PROTO),
    # a close names what the decoder was reading
    "eof-in-size-line": (b"5", EOF_TEXT + " (while reading a chunk size)", CUT),
    "eof-after-size-line": (b"5\r\n", EOF_TEXT + " (while reading chunk data)",
                            CUT),
    "eof-before-last-chunk": (
        b"", EOF_TEXT + " (while reading the start of a chunk)", CUT),
    "eof-in-trailers": (b"0\r\nX-T: 1\r\n",
                        EOF_TEXT + " (while reading the start of a trailer line)",
                        CUT),
}

LENGTH_HEAD = b"HTTP/1.1 200 OK\r\n" + M + b"Content-Length: 100\r\n\r\n"
SMUGGLED = b"HTTP/1.1 200 OK\r\n" + M + b"Content-Length: %d\r\n\r\n" % \
    len(BODY) + BODY
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"


def _close_after(data):
    def answer(req, conn):
        conn.send(data)
        conn.close_after = True
    return answer


def _after_good(head, good, fault):
    """Head and good body bytes; a pause; then the fault and a close."""
    def answer(req, conn):
        conn.send(head + good)
        time.sleep(PAUSE)
        conn.send(fault)
        conn.close_after = True
    return answer


def _then_late(first, late):
    """A complete response, then, a moment later, bytes nobody asked for;
    the connection stays open (keep-alive)."""
    def answer(req, conn):
        conn.send(first)
        time.sleep(0.1)
        conn.send(late)
    return answer


def _cases():
    cases = {"plain": PLAIN}
    for name, (fault, _, _) in CHUNK_FAULTS.items():
        cases["first-" + name] = _close_after(CHUNKED_HEAD + fault)
        cases["after-" + name] = _after_good(CHUNKED_HEAD, GOOD_CHUNK, fault)
    cases["first-length-short"] = _close_after(LENGTH_HEAD)
    cases["after-length-short"] = _after_good(LENGTH_HEAD, GOOD, b"")
    cases["extra-same-segment"] = lambda req, conn: conn.send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + SMUGGLED)
    cases["extra-late"] = _then_late(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", SMUGGLED)
    cases["head-body-late"] = _then_late(
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", BODY)
    return cases


@pytest.fixture(scope="module")
def setup(request):
    return hostile.module_setup(
        request, backends.make_raw_by_name_handler(_cases(), close=False),
        name="bodies")


FIRST = sorted(CHUNK_FAULTS) + ["length-short"]


@pytest.mark.parametrize("case", FIRST)
def test_fault_before_first_body_byte_is_502(setup, case):
    h, b = setup.httpd, setup.backend
    fault, error = (EOF_TEXT + " (100 of 100 bytes missing)", CUT) \
        if case == "length-short" else CHUNK_FAULTS[case][1:]
    h.mark_logs()
    r = client.get(h.port, "/app/first-" + case, timeout=10)
    assert r.status == 502, "%s before any body byte gives 502 (got %r)" % (
        case, r)
    assert r.complete, "%s: the 502 is well framed (%r)" % (case, r)
    hostile.check_not_leaked(r, case)
    p = hostile.check_proxy_status(r, error, case)
    assert fault in p["details"], "%s: details name %r (%r)" % (
        case, fault, p["details"])
    hostile.check_log_names(h, b, fault, case)


@pytest.mark.parametrize("case", FIRST)
def test_fault_after_body_bytes_cuts_the_response_short(setup, case):
    h, b = setup.httpd, setup.backend
    fault = EOF_TEXT + " (%d of 100 bytes missing)" % (100 - len(GOOD)) \
        if case == "length-short" else CHUNK_FAULTS[case][1]
    h.mark_logs()
    r = client.get(h.port, "/app/after-" + case, timeout=10)
    assert r.status == 200, "%s: the head went out first: 200 (got %r)" % (
        case, r)
    assert not r.complete, \
        "%s: the response is never complete and well framed (%r)" % (case, r)
    assert r.end in ("eof", "reset"), \
        "%s: the client connection is closed (end=%s)" % (case, r.end)
    want = "length" if case == "length-short" else "chunked"
    assert r.framing == want, "%s: framed as %s (%r)" % (case, want, r)
    assert r.body == GOOD, \
        "%s: only the good bytes arrive, nothing of the fault (%r)" % (
            case, r.body[:80])
    hostile.check_log_names(h, b, fault, case)


@pytest.mark.parametrize("case,method", [("extra-same-segment", "GET"),
                                         ("extra-late", "GET"),
                                         ("head-body-late", "HEAD")])
def test_bytes_after_response_never_answer_next_request(setup, case, method):
    h, b = setup.httpd, setup.backend
    r = client.request(h.port, method, "/app/" + case, timeout=10)
    assert r.status == 200 and r.complete, "%s: answered 200 (%r)" % (case, r)
    time.sleep(0.3)  # the late bytes have reached the idle connection
    r2 = client.get(h.port, "/app/plain", timeout=10)
    assert r2.status == 200 and r2.body == b"plain", \
        "%s: the next request gets its own answer, not the bytes left on " \
        "the connection (%r %r)" % (case, r2, r2.body[:40])
    hostile.check_not_leaked(r2, case + " then plain")
