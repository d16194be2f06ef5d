"""RProxyConnectTimeout: a backend whose connect() never completes (SYNs
dropped) fails the exchange after about that time with a 502 or 504, not
after the kernel's own minutes-long retry."""

import backends
import client


def test_connect_timeout(httpd_factory):
    with backends.Blackhole() as bh:
        assert bh.hangs(), "test setup: connect() to the blackhole port hangs"
        h = httpd_factory("RProxyConnectTimeout 1\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % bh.port)
        r = client.get(h.port, "/app/x", timeout=20)
        assert r.status in (502, 504), \
            "a connect that never completes gives 502/504 (got %r)" % r
        assert r.complete, "the error is a well-framed response"
        assert 0.9 <= r.elapsed < 5, \
            "the error comes after about RProxyConnectTimeout 1s (%.2fs)" % r.elapsed
