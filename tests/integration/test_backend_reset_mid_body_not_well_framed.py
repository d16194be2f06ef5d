"""A backend that resets the connection mid-body must not produce a complete,
well-framed response at the client: for Content-Length, fewer bytes and then
close; for chunked, no terminating 0-chunk.  The same holds for a backend
that stalls mid-body past RProxyIOTimeout."""

import pytest

import backends
import client

TOTAL = 1000000
SENT = 200000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_reset_mid_body(httpd_factory, backend_factory, chunked):
    b = backend_factory(backends.make_reset_mid_body_handler(
        TOTAL, SENT, chunked=chunked))
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/big", timeout=15)
    if r.status != 200:
        # the proxy noticed before sending the head: an error status is fine
        assert r.status in (502, 504), "a failed exchange gives 200-truncated or 502 (got %r)" % r
        return
    assert not r.complete, \
        "reset mid-body: the client does not get a complete, well-framed response (%r)" % r
    assert r.end in ("eof", "reset"), \
        "the client connection is closed after the partial body (end=%s)" % r.end
    assert r.body_len < TOTAL, "fewer than the announced bytes arrive (%d)" % r.body_len
    if chunked:
        assert r.framing == "chunked", "a chunked response stays chunked"
    else:
        assert r.framing == "length", "the Content-Length is passed on"
    expected = backends.payload(TOTAL, seed=77)[:r.body_len]
    assert r.body == expected, "the bytes that did arrive are the backend's bytes"
    r2 = client.get(h.port, "/app/again", timeout=15)
    assert r2.status in (200, 502), "the proxy still answers afterwards (%r)" % r2


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_io_timeout_mid_body(httpd_factory, backend_factory, chunked):
    b = backend_factory(backends.make_stall_mid_body_handler(
        TOTAL, 50000, stall=20, chunked=chunked))
    h = httpd_factory("RProxyIOTimeout 1\nRProxyResponseHeaderTimeout 5\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/big", timeout=20)
    assert r.status == 200, "the head was sent before the stall: 200 (got %r)" % r
    assert not r.complete, \
        "a stalled body does not end as a complete, well-framed response (%r)" % r
    assert r.end in ("eof", "reset"), "the client connection is closed (end=%s)" % r.end
    assert r.elapsed < 8, "the stall ends within a bounded time after the IO timeout (%.2fs)" % r.elapsed
    n = b.wait_open_connections(0, timeout=5)
    assert n == 0, "the stalled backend connection is closed (%d open)" % n
