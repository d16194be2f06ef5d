"""A backend that refuses connections is a 502, answered promptly."""

import backends
import client


def test_connection_refused_is_502(httpd_factory):
    dead, port = backends.bound_unlistened_port()  # bound, not listening
    try:
        h = httpd_factory("RProxyConnectTimeout 2\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % port)
        h.mark_logs()
        r = client.get(h.port, "/app/x", timeout=15)
        assert r.status == 502, "refused backend connection gives 502 (got %r)" % r
        assert r.complete, "the 502 is a well-framed response"
        assert r.elapsed < 5, "the 502 comes promptly (%.2fs)" % r.elapsed
        r2 = client.get(h.port, "/app/y", timeout=15)
        assert r2.status == 502, "a second request also gets 502 (got %r)" % r2
    finally:
        dead.close()
