"""The backend's own URLs in Location, Content-Location and Refresh come back
in the front's URL space (RProxyRewriteLocation, On by default), and
Set-Cookie Domain= / Path= are rewritten by RProxyCookieDomain and
RProxyCookiePath, with every other byte of the cookie kept.

The scripted backend answers with the status and fields the test asks for in
X-Send-* request fields; "@SELF@" in a value stands for the backend's own
URL (http://127.0.0.1:<port>) and "@HOST@" for the Host field it got."""

import http.client
import ssl

import pytest

import client
from pki import make_pki

COOKIES = [
    "a=1; Path=/base/; Domain=backend.internal; HttpOnly",
    "b=2; domain=.Backend.Internal; Expires=Wed, 21 Oct 2037 07:28:00 GMT; "
    "path=/base/deep",
    "Path=/base/; Max-Age=60",  # a cookie called Path: not an attribute
    "c=3",
]


def redirect_handler(req, conn):
    req.drain()
    me = "http://127.0.0.1:%d" % conn.sock.getsockname()[1]
    host = req.header("Host") or ""

    def fill(v):
        return v.replace("@SELF@", me).replace("@HOST@", host)

    status = int(req.header("X-Send-Status") or 302)
    headers = []
    for name in ("Location", "Content-Location", "Refresh"):
        v = req.header("X-Send-" + name)
        if v is not None:
            headers.append((name, fill(v)))
    if req.header("X-Send-Cookies"):
        headers += [("Set-Cookie", c) for c in COOKIES]
    headers.append(("X-Self", me))  # never rewritten: not a URL field
    conn.send_response(status, headers, b"")


def ask(h, path, host="front.example", **send):
    hdrs = [("X-Send-" + k.replace("_", "-"), v) for k, v in send.items()]
    r = client.get(h.port, path, host=host, headers=hdrs)
    assert r.status in (int(send.get("Status", 302)),), \
        "the backend's status passes (%r)" % r
    return r


def test_server_route_redirects_map_to_front(httpd_factory, backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("RProxyPass /app/ %s/base/\n" % b.url)
    front = "Front.Example:%d" % h.port
    r = ask(h, "/app/go", host=front, Location="@SELF@/base/x?y=1%2F2#f")
    assert r.header("Location") == "http://%s/app/x?y=1%%2F2#f" % front, \
        "an absolute backend URL becomes front scheme + client's Host + " \
        "prefix, query, encoding and fragment kept (%r)" % r.header("Location")
    assert r.header("X-Self") == b.url, "other fields are not touched"
    r = ask(h, "/app/go", host=front, Location="/base/x")
    assert r.header("Location") == "/app/x", \
        "an absolute path under the base path maps under the prefix"
    r = ask(h, "/app/go", host=front, Location="@SELF@/base")
    assert r.header("Location") == "http://%s/app" % front, \
        "the base path without its slash maps to the prefix without it"
    for v in ("/basement/x", "@SELF@/other/x", "http://other.example/base/x",
              "https://127.0.0.1:%d/base/x" % b.port, "relative/x"):
        r = ask(h, "/app/go", host=front, Location=v)
        want = v.replace("@SELF@", b.url)
        assert r.header("Location") == want, \
            "%s passes unchanged (outside the base path, another host or " \
            "scheme, or relative): got %r" % (v, r.header("Location"))


def test_201_content_location_and_refresh_map_to_front(httpd_factory,
                                                       backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("RProxyPass /app %s/base\n" % b.url)
    r = ask(h, "/app/items", host="front.example", Status="201",
            Location="@SELF@/base/items/7",
            Content_Location="/base/items/7",
            Refresh="0; url=@SELF@/base/done")
    assert r.header("Location") == "http://front.example/app/items/7", \
        "a 201's Location is rewritten like a redirect's"
    assert r.header("Content-Location") == "/app/items/7", \
        "Content-Location is rewritten"
    assert r.header("Refresh") == "0; url=http://front.example/app/done", \
        "Refresh's url= is rewritten"


def test_location_route_redirects_map_to_location_path(httpd_factory,
                                                       backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("<Location /loc>\n"
                      "    RProxyPass %s/lbase/\n"
                      "</Location>\n" % b.url)
    r = ask(h, "/loc/a", Location="@SELF@/lbase/y?q")
    assert r.header("Location") == "http://front.example/loc/y?q", \
        "a <Location> route maps the backend's base path to the " \
        "location's path (%r)" % r.header("Location")
    r = ask(h, "/loc/a", Location="/lbase/")
    assert r.header("Location") == "/loc", \
        "the base path itself maps to the location's path (the inverse of " \
        "/loc -> /lbase/)"


def test_preserve_host_backend_redirect_to_client_host(httpd_factory,
                                                       backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("RProxyPreserveHost On\n"
                      "RProxyPass /app/ %s/base/\n" % b.url)
    r = ask(h, "/app/go", host="front.example", Location="http://@HOST@/base/x")
    assert r.header("Location") == "http://front.example/app/x", \
        "with RProxyPreserveHost the backend names itself by the client's " \
        "Host: its path still maps under the prefix (%r)" % r.header("Location")
    r = ask(h, "/app/go", host="front.example",
            Location="https://@HOST@/base/x")
    assert r.header("Location") == "https://front.example/base/x", \
        "a redirect to another scheme (an upgrade to https) passes unchanged"


def test_rewrite_location_off_passes_urls(httpd_factory, backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("RProxyPass /app/ %s/base/\n"
                      "<Location /raw>\n"
                      "    RProxyPass %s/base/\n"
                      "    RProxyRewriteLocation Off\n"
                      "</Location>\n" % (b.url, b.url))
    r = ask(h, "/raw/go", Location="@SELF@/base/x", Content_Location="/base/c")
    assert r.header("Location") == b.url + "/base/x", \
        "RProxyRewriteLocation Off in a <Location> leaves Location as sent"
    assert r.header("Content-Location") == "/base/c", \
        "... and Content-Location"
    r = ask(h, "/app/go", Location="@SELF@/base/x")
    assert r.header("Location") == "http://front.example/app/x", \
        "other routes keep the default (On)"


def test_set_cookie_domain_and_path_rewritten(httpd_factory, backend_factory):
    b = backend_factory(redirect_handler, name="cookies")
    h = httpd_factory("RProxyCookieDomain backend.internal front.example\n"
                      "RProxyCookiePath /base/deep /deep\n"
                      "RProxyCookiePath /base/ /app/\n"
                      "RProxyPass /app/ %s/base/\n"
                      "<Location /plain>\n"
                      "    RProxyPass %s/base/\n"
                      "    RProxyCookiePath off\n"
                      "</Location>\n" % (b.url, b.url))
    r = ask(h, "/app/login", Status="200", Cookies="1")
    assert r.header_all("Set-Cookie") == [
        "a=1; Path=/app/; Domain=front.example; HttpOnly",
        "b=2; domain=front.example; Expires=Wed, 21 Oct 2037 07:28:00 GMT; "
        "path=/deep",
        "Path=/base/; Max-Age=60",
        "c=3",
    ], "each Set-Cookie field keeps its place; Domain and Path are " \
       "rewritten (any case, any order, leading dot ignored, first path " \
       "rule wins), every other byte is kept: %r" % r.header_all("Set-Cookie")
    r = ask(h, "/plain/login", Status="200", Cookies="1")
    cookies = r.header_all("Set-Cookie")
    assert cookies[0] == "a=1; Path=/base/; Domain=front.example; HttpOnly", \
        "RProxyCookiePath off in a <Location> drops the inherited path " \
        "rules and keeps the domain rules: %r" % cookies


def test_mod_headers_edits_see_the_front_url(httpd_factory, backend_factory):
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("LoadModule headers_module "
                      "/usr/lib/apache2/modules/mod_headers.so\n"
                      "Header edit Location ^/app/ /app/edited/\n"
                      "RProxyPass /app/ %s/base/\n" % b.url)
    r = ask(h, "/app/go", Location="/base/x")
    assert r.header("Location") == "/app/edited/x", \
        "mod_headers' Header edit runs on the rewritten Location (%r)" \
        % r.header("Location")


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def test_https_front_gets_https_urls(httpd_factory, backend_factory, pki):
    b = backend_factory(redirect_handler, name="redirects")
    cert, key = pki.pair("good")
    h = httpd_factory("LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n"
                      "SSLEngine on\n"
                      "SSLCertificateFile %s\n"
                      "SSLCertificateKeyFile %s\n"
                      "RProxyPass /app/ %s/base/\n" % (cert, key, b.url))
    ctx = ssl.create_default_context(cafile=pki.ca)
    conn = http.client.HTTPSConnection("localhost", h.port, context=ctx,
                                       timeout=10)
    try:
        conn.request("GET", "/app/go",
                     headers={"X-Send-Location": "@SELF@/base/x?y"})
        r = conn.getresponse()
        r.read()
    finally:
        conn.close()
    assert r.status == 302, "the redirect passes over TLS"
    assert r.getheader("Location") == "https://localhost:%d/app/x?y" % h.port, \
        "on a mod_ssl connection the backend's http:// URL becomes https:// " \
        "with the client's Host (%r)" % r.getheader("Location")


def test_pass_reverse_maps_the_backends_other_names(httpd_factory,
                                                    backend_factory):
    """A backend that redirects to its canonical name (not the address the
    proxy uses) is mapped with RProxyPassReverse: in the server with the
    route's path, or inside <Location> with the URL alone."""
    b = backend_factory(redirect_handler, name="redirects")
    h = httpd_factory("RProxyPass /app/ %s/base/\n"
                      "RProxyPassReverse /app/ http://app.internal.example/base/\n"
                      "RProxyPass /other/ %s/base/\n"
                      "<Location /loc/>\n"
                      "  RProxyPass %s/\n"
                      "  RProxyPassReverse https://public.example/\n"
                      "</Location>\n" % (b.url, b.url, b.url))
    front = "front.example:%d" % h.port
    r = ask(h, "/app/go", host=front,
            Location="http://app.internal.example/base/x?y")
    assert r.header("Location") == "http://%s/app/x?y" % front, \
        "the backend's canonical URL maps to the front (%r)" % (
            r.header("Location"),)
    r = ask(h, "/app/go", host=front, Location="@SELF@/base/z")
    assert r.header("Location") == "http://%s/app/z" % front, \
        "the target's own URLs still map (%r)" % r.header("Location")
    r = ask(h, "/other/go", host=front,
            Location="http://app.internal.example/base/x")
    assert r.header("Location") == "http://app.internal.example/base/x", \
        "the alias serves /app/ only, not another route (%r)" % (
            r.header("Location"),)
    r = ask(h, "/loc/go", host=front, Location="https://public.example/a/b",
            Refresh="0; url=https://public.example/c")
    assert r.header("Location") == "http://%s/loc/a/b" % front, \
        "inside <Location> the URL alone maps there, with the client's " \
        "scheme (%r)" % r.header("Location")
    assert r.header("Refresh") == "0; url=http://%s/loc/c" % front, \
        "Refresh's url= too (%r)" % r.header("Refresh")
