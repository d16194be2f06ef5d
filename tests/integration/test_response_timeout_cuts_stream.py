"""RProxyResponseTimeout bounds a whole response, streaming included: a
backend still streaming when it runs out has its response cut off (not
well framed) and the error log says why; without it, a slow stream that
keeps moving is not cut."""

import time

import client


def _slow_stream(req, conn):
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(10):
        conn.send(b"4\r\ntick\r\n")
        time.sleep(0.25)
    conn.send(b"0\r\n\r\n")


def test_total_timeout_cuts_a_stream(httpd_factory, backend_factory):
    b = backend_factory(_slow_stream, name="slow-stream")
    h = httpd_factory("RProxyResponseTimeout 1\nRProxyPass /app %s/\n" % b.url)
    t0 = time.monotonic()
    r = client.get(h.port, "/app/s", timeout=10)
    took = time.monotonic() - t0
    assert not r.complete, "the stream is cut, not well framed (%r)" % r
    assert took < 2.0, "at about the response timeout (%.2fs)" % took
    assert "RProxyResponseTimeout" in h.error_log, "the error log says why"


def test_no_total_timeout_by_default(httpd_factory, backend_factory):
    b = backend_factory(_slow_stream, name="slow-stream-ok")
    h = httpd_factory("RProxyIOTimeout 1\nRProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/s", timeout=10)
    assert r.status == 200 and r.complete and r.body == b"tick" * 10, \
        "a 2.5 s stream that keeps moving passes whole (%r)" % r
