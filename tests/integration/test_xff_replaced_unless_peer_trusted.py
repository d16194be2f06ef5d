"""X-Forwarded-For/-Host/-Proto/-Prefix follow the trust rule
(RProxyTrustedProxies).

A client that is not a trusted proxy (the default: none is) cannot pass for
someone else: every X-Forwarded-For, -Host, -Proto and Forwarded field it
sent is dropped and ours are written fresh (X-Forwarded-For is its address
alone). A trusted peer's fields are extended: its X-Forwarded-For gets the
peer appended with ", ", its X-Forwarded-Host/-Proto are kept (ours only
when it sent none). Trust is decided on the TCP peer address."""


import client

SPOOF = [("X-Forwarded-For", "6.6.6.6"),
         ("X-Forwarded-Host", "evil.example"),
         ("X-Forwarded-Proto", "https"),
         ("Forwarded", "for=6.6.6.6")]


def _fwd(info):
    h = {}
    for n, v in info["headers"]:
        h.setdefault(n.lower(), []).append(v)
    return h


def _sent(h, path="/app/x", headers=SPOOF, host="front.example:8080"):
    r = client.get(h.port, path, headers=headers, host=host)
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    return _fwd(r.json())


def _assert_replaced(f, why):
    assert f.get("x-forwarded-for") == ["127.0.0.1"], \
        "%s: a spoofed X-Forwarded-For is replaced by the client address " \
        "alone (got %r)" % (why, f.get("x-forwarded-for"))
    assert f.get("x-forwarded-host") == ["front.example:8080"], \
        "%s: a spoofed X-Forwarded-Host is replaced by the client's Host " \
        "(got %r)" % (why, f.get("x-forwarded-host"))
    assert f.get("x-forwarded-proto") == ["http"], \
        "%s: a spoofed X-Forwarded-Proto is replaced by the real scheme " \
        "(got %r)" % (why, f.get("x-forwarded-proto"))
    assert "forwarded" not in f, \
        "%s: a spoofed Forwarded is dropped (got %r)" % (why, f.get("forwarded"))


def _assert_extended(f, why):
    assert f.get("x-forwarded-for") == ["6.6.6.6, 127.0.0.1"], \
        "%s: a trusted peer's X-Forwarded-For gets the peer appended " \
        "(got %r)" % (why, f.get("x-forwarded-for"))
    assert f.get("x-forwarded-host") == ["evil.example"], \
        "%s: a trusted peer's X-Forwarded-Host is kept (got %r)" % (
            why, f.get("x-forwarded-host"))
    assert f.get("x-forwarded-proto") == ["https"], \
        "%s: a trusted peer's X-Forwarded-Proto is kept (got %r)" % (
            why, f.get("x-forwarded-proto"))


def test_xff_added_without_prior_value(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    f = _sent(h, headers=[])
    assert f.get("x-forwarded-for") == ["127.0.0.1"], \
        "X-Forwarded-For is the client address (got %r)" % f.get("x-forwarded-for")
    assert f.get("x-forwarded-host") == ["front.example:8080"], \
        "X-Forwarded-Host is the client's Host (got %r)" % f.get("x-forwarded-host")
    assert f.get("x-forwarded-proto") == ["http"], \
        "X-Forwarded-Proto is http on a plain connection (got %r)" % f.get("x-forwarded-proto")


def test_untrusted_client_spoofed_fields_replaced(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    _assert_replaced(_sent(h), "no RProxyTrustedProxies")


def test_client_outside_trusted_list_spoofed_fields_replaced(httpd_factory,
                                                             echo_backend):
    h = httpd_factory("RProxyTrustedProxies 10.0.0.0/8 ::1 192.0.2.7\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    _assert_replaced(_sent(h), "127.0.0.1 is not in the list")


def test_trusted_proxy_fields_extended(httpd_factory, echo_backend):
    h = httpd_factory("RProxyTrustedProxies 127.0.0.1\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    _assert_extended(_sent(h), "RProxyTrustedProxies 127.0.0.1")


def test_trusted_proxy_cidr_and_several_prior_fields(httpd_factory,
                                                     echo_backend):
    h = httpd_factory("RProxyTrustedProxies 2001:db8::/32\n"
                      "RProxyTrustedProxies 127.0.0.0/8\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    f = _sent(h, headers=[("X-Forwarded-For", "203.0.113.9, 198.51.100.2"),
                          ("X-Forwarded-For", "192.0.2.1")])
    assert f.get("x-forwarded-for") == \
        ["203.0.113.9, 198.51.100.2, 192.0.2.1, 127.0.0.1"], \
        "a peer inside a trusted CIDR range: every prior field is joined " \
        "in order and the peer appended (got %r)" % f.get("x-forwarded-for")
    assert f.get("x-forwarded-host") == ["front.example:8080"], \
        "a trusted peer that sent no X-Forwarded-Host gets ours (got %r)" % \
        f.get("x-forwarded-host")
    assert f.get("x-forwarded-proto") == ["http"], \
        "a trusted peer that sent no X-Forwarded-Proto gets ours (got %r)" % \
        f.get("x-forwarded-proto")


def test_trust_per_location_and_none(httpd_factory, echo_backend):
    h = httpd_factory("RProxyTrustedProxies 127.0.0.1\n"
                      "RProxyPass /app %s/\n"
                      "<Location /app/public>\n"
                      "  RProxyTrustedProxies none\n"
                      "</Location>\n"
                      "<Location /inner>\n"
                      "  RProxyPass %s/\n"
                      "</Location>\n" % (echo_backend.url, echo_backend.url))
    _assert_extended(_sent(h, "/app/x"), "server-level list")
    _assert_replaced(_sent(h, "/app/public/x"),
                     "RProxyTrustedProxies none in a <Location>")
    _assert_extended(_sent(h, "/inner/x"),
                     "a <Location> route inherits the server's list")


def test_trusted_ipv6_peer(httpd_factory, echo_backend):
    h = httpd_factory("Listen [::1]:@PORT@\n"
                      "RProxyTrustedProxies ::1\n"
                      "RProxyForwarded On\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    s = client.connect(h.port, host="::1")
    try:
        s.sendall(client.build_request(
            "GET", "/app/x", [("X-Forwarded-For", "6.6.6.6"),
                              ("Forwarded", "for=6.6.6.6")], host="h.example"))
        r = client.read_response(s)
    finally:
        s.close()
    assert r.status == 200, "proxied GET over IPv6 answers 200 (%r)" % r
    f = _fwd(r.json())
    assert f.get("x-forwarded-for") == ["6.6.6.6, ::1"], \
        "a trusted IPv6 peer is appended as written (got %r)" % \
        f.get("x-forwarded-for")
    assert f.get("forwarded") == \
        ['for=6.6.6.6, for="[::1]";host=h.example;proto=http'], \
        "an IPv6 node is quoted in brackets (RFC 7239 section 6) " \
        "(got %r)" % f.get("forwarded")


def test_add_forwarded_off(httpd_factory, echo_backend):
    h = httpd_factory("RProxyAddForwarded Off\nRProxyPass /app %s/\n"
                      "<Location /app/trusted>\n"
                      "  RProxyTrustedProxies 127.0.0.1\n"
                      "</Location>\n" % echo_backend.url)
    f = _sent(h)
    for n in ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
              "forwarded"):
        assert n not in f, \
            "with RProxyAddForwarded Off an untrusted client's %s is " \
            "dropped and none is added (got %r)" % (n, f.get(n))
    f = _sent(h, "/app/trusted/x")
    assert f.get("x-forwarded-for") == ["6.6.6.6"] and \
        f.get("x-forwarded-host") == ["evil.example"] and \
        f.get("x-forwarded-proto") == ["https"], \
        "with RProxyAddForwarded Off a trusted peer's fields pass unchanged " \
        "(got %r)" % f


APP_SPOOF = [("X-Forwarded-Prefix", "//evil.example"),
             ("X-Forwarded-Port", "1"), ("X-Forwarded-Ssl", "on"),
             ("X-Forwarded-Server", "evil"), ("X-Real-IP", "6.6.6.6")]


def test_x_forwarded_prefix_and_the_other_names_apps_believe(httpd_factory,
                                                             echo_backend):
    """X-Forwarded-Prefix names the path the route takes off (frameworks
    build their links from it); from an untrusted client it and the other
    fields applications read for the client's address or scheme
    (X-Forwarded-Port, -Ssl, -Server, X-Real-IP) are dropped. A trusted
    peer's prefix is extended with ours, its other fields kept."""
    h = httpd_factory("RProxyPass /app/ %s/base/\n"
                      "RProxyPass / %s/\n"
                      "<Location /trusted/>\n"
                      "  RProxyPass %s/\n"
                      "  RProxyTrustedProxies 127.0.0.1\n"
                      "</Location>\n" % ((echo_backend.url,) * 3))
    f = _sent(h, "/app/x", headers=APP_SPOOF)
    assert f.get("x-forwarded-prefix") == ["/app"], \
        "the route's prefix, without its slash, replaces the client's " \
        "(got %r)" % f.get("x-forwarded-prefix")
    for name in ("x-forwarded-port", "x-forwarded-ssl", "x-forwarded-server",
                 "x-real-ip"):
        assert name not in f, "an untrusted client's %s is dropped (%r)" % (
            name, f.get(name))
    f = _sent(h, "/x", headers=APP_SPOOF)
    assert "x-forwarded-prefix" not in f, \
        "RProxyPass / takes no prefix off: none is sent (%r)" % (
            f.get("x-forwarded-prefix"),)
    f = _sent(h, "/trusted/x", headers=[("X-Forwarded-Prefix", "/outer"),
                                        ("X-Real-IP", "192.0.2.7")])
    assert f.get("x-forwarded-prefix") == ["/outer/trusted"], \
        "a trusted peer's prefix comes first (%r)" % (
            f.get("x-forwarded-prefix"),)
    assert f.get("x-real-ip") == ["192.0.2.7"], \
        "a trusted peer's X-Real-IP passes (%r)" % f.get("x-real-ip")
