"""RProxyAddForwarded On (default): X-Forwarded-For gets the client address
appended with ", " to any prior value; X-Forwarded-Host is the client's
Host; X-Forwarded-Proto is http.  Off: none of them is added."""

import client


def _fwd(info):
    h = {}
    for n, v in info["headers"]:
        h.setdefault(n.lower(), []).append(v)
    return h


def test_xff_added_without_prior_value(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", host="front.example:8080")
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    f = _fwd(r.json())
    assert f.get("x-forwarded-for") == ["127.0.0.1"], \
        "X-Forwarded-For is the client address (got %r)" % f.get("x-forwarded-for")
    assert f.get("x-forwarded-host") == ["front.example:8080"], \
        "X-Forwarded-Host is the client's Host (got %r)" % f.get("x-forwarded-host")
    assert f.get("x-forwarded-proto") == ["http"], \
        "X-Forwarded-Proto is http on a plain connection (got %r)" % f.get("x-forwarded-proto")


def test_xff_appended_to_prior_value(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x",
                   headers=[("X-Forwarded-For", "203.0.113.9, 198.51.100.2")])
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    xff = _fwd(r.json()).get("x-forwarded-for")
    assert xff == ["203.0.113.9, 198.51.100.2, 127.0.0.1"], \
        "client address is appended with ', ' to the prior X-Forwarded-For (got %r)" % xff


def test_add_forwarded_off(httpd_factory, echo_backend):
    h = httpd_factory("RProxyAddForwarded Off\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    r = client.get(h.port, "/app/x",
                   headers=[("X-Forwarded-For", "203.0.113.9")])
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    f = _fwd(r.json())
    assert f.get("x-forwarded-for") == ["203.0.113.9"], \
        "with RProxyAddForwarded Off the client address is not appended (got %r)" % f.get("x-forwarded-for")
    assert "x-forwarded-host" not in f, \
        "with RProxyAddForwarded Off no X-Forwarded-Host is added"
    assert "x-forwarded-proto" not in f, \
        "with RProxyAddForwarded Off no X-Forwarded-Proto is added"
