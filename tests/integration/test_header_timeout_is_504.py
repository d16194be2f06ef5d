"""RProxyResponseHeaderTimeout: a backend silent past it gives 504, in a
bounded time, and the backend connection is closed."""

import backends
import client


def test_silent_backend_is_504(httpd_factory, backend_factory):
    b = backend_factory(backends.make_silent_handler(max_wait=20))
    h = httpd_factory("RProxyResponseHeaderTimeout 1\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=20)
    assert r.status == 504, "silent backend gives 504 (got %r)" % r
    assert r.complete, "the 504 is a well-framed response"
    assert r.elapsed >= 0.9, "the 504 does not come before the 1s timeout (%.2fs)" % r.elapsed
    assert r.elapsed < 6, "the 504 comes within a bounded time (%.2fs)" % r.elapsed
    n = b.wait_open_connections(0, timeout=5)
    assert n == 0, "the timed-out backend connection is closed, not pooled (%d open)" % n


def test_timeout_in_milliseconds(httpd_factory, backend_factory):
    b = backend_factory(backends.make_silent_handler(max_wait=20))
    h = httpd_factory("RProxyResponseHeaderTimeout 500ms\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=20)
    assert r.status == 504, "silent backend with a 500ms timeout gives 504 (got %r)" % r
    assert 0.4 <= r.elapsed < 4, "the 504 comes after about 500ms (%.2fs)" % r.elapsed
