"""RFC 7239 Forwarded (RProxyForwarded On; Off by default): the backend
gets a forwarded-element for=<client>;host=<Host>;proto=<scheme>, values
quoted where the syntax needs it (a Host with a port is a quoted-string).
An untrusted client's own Forwarded is dropped and ours written fresh; a
trusted proxy's is extended with ", " and ours."""

import client


def _forwarded(r):
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    return [v for n, v in r.json()["headers"] if n.lower() == "forwarded"]


def test_forwarded_written_fresh_for_untrusted_client(httpd_factory,
                                                      echo_backend):
    h = httpd_factory("RProxyForwarded On\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example:8080",
                   headers=[("Forwarded", "for=6.6.6.6;proto=https")])
    assert _forwarded(r) == \
        ['for=127.0.0.1;host="front.example:8080";proto=http'], \
        "a spoofed Forwarded is replaced; host with a port is a " \
        "quoted-string (got %r)" % _forwarded(r)


def test_forwarded_token_host_unquoted(httpd_factory, echo_backend):
    h = httpd_factory("RProxyForwarded On\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example")
    assert _forwarded(r) == ["for=127.0.0.1;host=front.example;proto=http"], \
        "token values stay bare (got %r)" % _forwarded(r)


def test_forwarded_extended_for_trusted_proxy(httpd_factory, echo_backend):
    h = httpd_factory("RProxyForwarded On\nRProxyTrustedProxies 127.0.0.1\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example",
                   headers=[("Forwarded", 'for="[2001:db8::7]";proto=https'),
                            ("Forwarded", "for=192.0.2.43")])
    assert _forwarded(r) == ['for="[2001:db8::7]";proto=https, '
                             'for=192.0.2.43, '
                             'for=127.0.0.1;host=front.example;proto=http'], \
        "a trusted proxy's Forwarded fields are joined in order and ours " \
        "appended (got %r)" % _forwarded(r)


def test_forwarded_off_by_default(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n"
                      "<Location /app/t>\n"
                      "  RProxyTrustedProxies 127.0.0.1\n"
                      "</Location>\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", headers=[("Forwarded", "for=6.6.6.6")])
    assert _forwarded(r) == [], \
        "without RProxyForwarded an untrusted client's Forwarded is " \
        "dropped and none added (got %r)" % _forwarded(r)
    r = client.get(h.port, "/app/t/x", headers=[("Forwarded", "for=6.6.6.6")])
    assert _forwarded(r) == ["for=6.6.6.6"], \
        "without RProxyForwarded a trusted proxy's Forwarded passes " \
        "unchanged (got %r)" % _forwarded(r)
