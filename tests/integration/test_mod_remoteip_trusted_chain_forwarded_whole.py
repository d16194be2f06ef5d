"""mod_remoteip (RemoteIPHeader X-Forwarded-For) takes the client address
out of X-Forwarded-For before mod_rproxy runs and removes from the field the
addresses it used. mod_rproxy still decides on its own, from the TCP peer
and RProxyTrustedProxies: a peer it trusts has the chain it really sent
extended (not what mod_remoteip left of it); a peer it does not trust gets
X-Forwarded-For replaced by the peer address, whatever mod_remoteip
concluded. A RequestHeader edit of X-Forwarded-For (mod_headers, later)
wins over the chain as received."""

import client

MODDIR = "/usr/lib/apache2/modules"
REMOTEIP = ("LoadModule remoteip_module %s/mod_remoteip.so\n"
            "RemoteIPHeader X-Forwarded-For\n"
            "RemoteIPInternalProxy 127.0.0.1\n" % MODDIR)


def _xff(h, path, xff):
    r = client.get(h.port, path, headers=[("X-Forwarded-For", xff)])
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    return [v for n, v in r.json()["headers"]
            if n.lower() == "x-forwarded-for"]


def test_trusted_peer_whole_chain_forwarded(httpd_factory, echo_backend):
    h = httpd_factory(REMOTEIP + "RProxyTrustedProxies 127.0.0.1\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    assert _xff(h, "/app/x", "203.0.113.7") == ["203.0.113.7, 127.0.0.1"], \
        "the address mod_remoteip took (and removed) is still forwarded"
    assert _xff(h, "/app/x", "198.51.100.1, 203.0.113.7") == \
        ["198.51.100.1, 203.0.113.7, 127.0.0.1"], \
        "the whole chain is forwarded, not the part mod_remoteip left"
    hosts = [e["client"] for e in h.wait_access_entries(2)]
    assert hosts[:2] == ["203.0.113.7", "203.0.113.7"], \
        "mod_remoteip did take the client address from the field " \
        "(access log %%h: %r)" % hosts


def test_peer_untrusted_by_rproxy_replaced(httpd_factory, echo_backend):
    h = httpd_factory(REMOTEIP + "RProxyPass /app %s/\n" % echo_backend.url)
    assert _xff(h, "/app/x", "203.0.113.7") == ["127.0.0.1"], \
        "without RProxyTrustedProxies the peer address alone is sent, " \
        "whatever mod_remoteip trusts"


def test_request_header_edit_wins(httpd_factory, echo_backend):
    h = httpd_factory(REMOTEIP + "RProxyTrustedProxies 127.0.0.1\n"
                      "LoadModule headers_module %s/mod_headers.so\n"
                      "RequestHeader set X-Forwarded-For 192.0.2.99\n"
                      "RProxyPass /app %s/\n" % (MODDIR, echo_backend.url))
    assert _xff(h, "/app/x", "203.0.113.7") == ["192.0.2.99, 127.0.0.1"], \
        "an X-Forwarded-For set by RequestHeader is the one extended"
