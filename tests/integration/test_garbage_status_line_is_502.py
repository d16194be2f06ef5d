"""A malformed backend response, or none at all, is a 502, with an error-log
line that names the backend and the address of the connection that failed."""

import pytest

import backends
import client

CASES = {
    "garbage-status-line": b"HELLO WORLD THIS IS NOT HTTP\r\n\r\n",
    "bad-status-code": b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    "bad-header-line": b"HTTP/1.1 200 OK\r\nthis line has no colon\r\n"
                       b"Content-Length: 2\r\n\r\nok",
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "bad-content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nok",
    "closed-without-answer": b"",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_response_is_502(httpd_factory, backend_factory, case):
    b = backend_factory(backends.make_raw_handler(CASES[case]))
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    h.mark_logs()
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "%s from the backend gives 502 (got %r)" % (case, r)
    assert r.complete, "the 502 is a well-framed response"
    log = h.error_log_since_mark()
    named = [l for l in log.splitlines() if b.hostport in l]
    assert named, "an error-log line names the backend %s; log was:\n%s" % (
        b.hostport, log)
    # "backend http://name:port (ip:port)": the address the request went to
    addr = "http://%s (%s)" % (b.hostport, b.hostport)
    assert any(addr in l for l in named), \
        "the line names the address that failed, %r:\n%s" % (addr, log)
