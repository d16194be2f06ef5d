"""Request bodies refused while mod_rproxy streams them to the backend.

- Bad chunked framing (RFC 9112 7.1) is found by httpd's HTTP_IN filter,
  which answers 400 itself: mod_rproxy sends nothing after it.
- LimitRequestBody holds for proxied requests as it does for mod_proxy
  (HTTP_IN leaves it to the proxy): a chunked body that goes over it gets
  413 from mod_rproxy; a Content-Length over it gets 413 before the backend
  is asked at all.

Each refusal is logged once with its reason (info), `%{rproxy-status}n` is
the status the client got (not 499: the client did not go away), and the
backend, which may have seen the head, never sees the body complete."""

import time

import pytest

import backends
import client
from test_client_abort_logged_as_499 import LOGFORMAT, log_fields

ECHOED = []


def _echo(req, conn):
    backends.echo_handler(req, conn)  # reads the whole body first
    ECHOED.append(req.target)


def _send(port, raw):
    s = client.connect(port, timeout=10)
    try:
        s.sendall(raw)
        r = client.read_response(s, method="POST")
        rest = client.read_to_close(s, timeout=2, stop_at_error=True)
    finally:
        s.close()
    return r, rest


CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"
CASES = {
    # RFC 9112 7.1: chunk-size is 1*HEXDIG
    "bad-chunk-size": (CHUNKED + b"5x\r\nhello\r\n0\r\n\r\n", "", 400,
                       "RP00101"),
    # RFC 9112 7.1: chunk-data is exactly chunk-size octets, then CRLF
    "chunk-data-too-long": (CHUNKED + b"3\r\nhello\r\n0\r\n\r\n", "", 400,
                            "RP00101"),
    # LimitRequestBody, met in the middle of a chunked body
    "chunked-over-limit": (CHUNKED + b"40\r\n" + b"x" * 64 + b"\r\n"
                           + b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n",
                           "LimitRequestBody 100\n", 413, "RP00101"),
    # a Content-Length over LimitRequestBody: refused before the backend
    "length-over-limit": (b"Content-Length: 1024\r\n\r\n" + b"x" * 1024,
                          "LimitRequestBody 100\n", 413, "RP00296"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_body_refused_by_httpd_answered_once_and_logged(
        httpd_factory, backend_factory, case):
    body, extra, status, logid = CASES[case]
    b = backend_factory(_echo, name="echo")
    h = httpd_factory(LOGFORMAT + extra + "RProxyPass /app %s/\n" % b.url)
    h.mark_logs()
    n0 = len(ECHOED)
    heads0 = len(b.raw_heads)
    raw = b"POST /app/up HTTP/1.1\r\nHost: 127.0.0.1\r\n" + body
    r, rest = _send(h.port, raw)
    assert r is not None and r.status == status, \
        "%s: httpd answers %d (%r)" % (case, status, r)
    assert rest == b"", \
        "%s: one response, nothing after it (%r)" % (case, rest[:200])
    f = log_fields(h, "/app/up")
    assert f and f[1] == str(status) and f[2] == str(status), \
        "%s: access log and rproxy-status say %d, not 499 (%r)" % (
            case, status, f)
    log = h.error_log_since_mark()
    refused = [l for l in log.splitlines() if "RP001" in l or "RP002" in l]
    assert len(refused) == 1 and logid in refused[0] and \
        "request body" in refused[0], \
        "%s: one refusal logged (%s) with its reason:\n%s" % (
            case, logid, log[-2000:])
    assert "client went away" not in log, \
        "%s: not taken for a client abort:\n%s" % (case, log[-2000:])
    if logid == "RP00296":
        assert b.raw_heads[heads0:] == [], \
            "%s: the backend is not asked (%r)" % (case, b.raw_heads[heads0:])
    time.sleep(0.2)
    assert ECHOED[n0:] == [], \
        "%s: the body never completes at the backend (%r)" % (
            case, ECHOED[n0:])


def test_limit_request_body_0_lets_any_body_through(httpd_factory,
                                                    backend_factory):
    b = backend_factory(backends.echo_handler, name="echo")
    h = httpd_factory("LimitRequestBody 0\nRProxyPass /app %s/\n" % b.url)
    body = backends.payload(3 * 1024 * 1024, seed=9)
    for chunked in (False, True):
        r = client.request(h.port, "POST", "/app/big", body=body,
                           chunked_body=chunked)
        assert r.status == 200, "no limit: forwarded (%r)" % r
        info = r.json()
        assert info["body_len"] == len(body) and \
            info["body_sha256"] == backends.sha256(body), \
            "the backend reads the whole body (chunked=%s)" % chunked
