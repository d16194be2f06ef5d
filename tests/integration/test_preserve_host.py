"""RProxyPreserveHost Off (default): the backend's Host is the target's
host[:port].  On: the client's Host passes unchanged."""

import client


def _host(info):
    return [v for n, v in info["headers"] if n.lower() == "host"]


def test_default_host_is_target(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example")
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    assert _host(r.json()) == [echo_backend.hostport], \
        "by default Host is the target's host:port (got %r)" % _host(r.json())


def test_preserve_host_on(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPreserveHost On\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example")
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    assert _host(r.json()) == ["front.example"], \
        "with RProxyPreserveHost On the client's Host passes (got %r)" % _host(r.json())
