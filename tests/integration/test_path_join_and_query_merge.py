"""Mapping: /prefix matches on a path-segment boundary (/app and /app/x,
not /appx); the target path is joined with exactly one slash; the client's
percent-encoding is preserved; the target's query and the request's are
merged as target&request."""

import client


def _target(h, path):
    r = client.get(h.port, path)
    assert r.status == 200, "GET %s is proxied with 200 (got %r)" % (path, r)
    return r.json()["target"]


def test_segment_boundary(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    assert _target(h, "/app/x") == "/base/x", "/app/x maps to /base/x"
    assert _target(h, "/app") in ("/base", "/base/"), \
        "/app itself maps to the base path"
    r = client.get(h.port, "/appx")
    assert r.status == 404, \
        "/appx is not under /app (segment boundary): not proxied, 404 (got %r)" % r
    r = client.get(h.port, "/appx/y")
    assert r.status == 404, "/appx/y is not proxied (got %r)" % r


def test_exactly_one_slash(httpd_factory, echo_backend):
    u = echo_backend.url
    h = httpd_factory("RProxyPass /a %s/base\n"
                      "RProxyPass /b %s/base/\n"
                      "RProxyPass /c/ %s/base\n"
                      "RProxyPass /d/ %s/base/\n"
                      "RProxyPass /e %s\n" % (u, u, u, u, u))
    assert _target(h, "/a/x") == "/base/x", "prefix /a, base /base: one slash"
    assert _target(h, "/b/x") == "/base/x", "base with trailing slash: no //"
    assert _target(h, "/c/x") == "/base/x", "prefix with trailing slash, base without: one slash"
    assert _target(h, "/d/x") == "/base/x", "both with trailing slash: no //"
    assert _target(h, "/e/x") == "/x", "target without a path maps /e/x to /x"
    assert _target(h, "/a/x/") == "/base/x/", "a trailing slash of the request is kept"


def test_percent_encoding_preserved(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    assert _target(h, "/app/a%20b") == "/base/a%20b", "%20 is passed as sent"
    assert _target(h, "/app/x%3By") == "/base/x%3By", "%3B is passed as sent"
    assert _target(h, "/app/caf%C3%A9") == "/base/caf%C3%A9", \
        "UTF-8 percent-encoding is passed as sent"
    assert _target(h, "/app/a%3fb") == "/base/a%3fb", \
        "lower-case hex digits are passed as sent"


def test_rfc3986_6_2_2_2_unreserved_decoded_reserved_kept(httpd_factory,
                                                        echo_backend):
    """httpd (>= 2.4.49) decodes percent-encoded unreserved characters before
    any module maps the path (RFC 3986 6.2.2.2: an equivalent URI). The
    proxy forwards the path httpd's access control saw, so %41 arrives as A,
    while reserved characters and %25 keep the client's encoding."""
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    assert _target(h, "/app/%41bc") == "/base/Abc", \
        "%41 (unreserved) arrives normalised, as httpd's access checks saw it"
    assert _target(h, "/app/a%7Eb") == "/base/a~b", \
        "%7E (unreserved) arrives normalised"
    assert _target(h, "/app/a%3Bb%3Fc") == "/base/a%3Bb%3Fc", \
        "%3B and %3F (reserved) reach the backend as sent"


def test_encoded_slash_and_percent_preserved(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    assert _target(h, "/app/a%2Fb") == "/base/a%2Fb", \
        "%2F reaches the backend as sent (mapping before httpd decodes)"
    assert _target(h, "/app/100%25") == "/base/100%25", \
        "%25 reaches the backend as sent"


def test_query_merge(httpd_factory, echo_backend):
    u = echo_backend.url
    h = httpd_factory("RProxyPass /q %s/base?k=v\n"
                      "RProxyPass /p %s/base\n" % (u, u))
    assert _target(h, "/q/x?a=1&b=2") == "/base/x?k=v&a=1&b=2", \
        "target query then request query, joined with &"
    assert _target(h, "/q/x") == "/base/x?k=v", \
        "target query alone when the request has none"
    assert _target(h, "/p/x?a=1") == "/base/x?a=1", \
        "request query alone when the target has none"
    assert _target(h, "/p/x?a=%20&b") == "/base/x?a=%20&b", \
        "request query passes byte for byte"
