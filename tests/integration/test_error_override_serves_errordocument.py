"""RProxyErrorOverride (mod_proxy's ProxyErrorOverride): with On, a
backend's error answer (4xx or 5xx, or only the statuses listed) is not
forwarded; httpd answers the same status with its own error page, the
ErrorDocument when one is set. The backend's body is read and dropped (the
connection is kept when the rest is short), the fields the page still needs
come along (WWW-Authenticate, Allow, Retry-After), and Proxy-Status names
the status received. Off (the default), and statuses not listed, pass as
they came."""

import os
import re

import pytest

import backends
import client
import wsutil

BIG = 3 * 1024 * 1024


def _handler(req, conn):
    path = req.target.split("?")[0]
    mark = [("X-Backend", "1"), ("Content-Type", "text/plain")]
    if path.endswith("/nf"):
        conn.send_response(404, mark, b"backend's own 404 page")
    elif path.endswith("/auth"):
        conn.send_response(401, mark + [
            ("WWW-Authenticate", 'Basic realm="backend"'),
            ("WWW-Authenticate", 'Bearer realm="backend"')],
            b"backend's own 401 page")
    elif path.endswith("/busy"):
        conn.send_response(503, mark + [("Retry-After", "7")],
                           b"backend's own 503 page")
    elif path.endswith("/method"):
        conn.send_response(405, mark + [("Allow", "GET, HEAD, PUT, PURGE")],
                           b"backend's own 405 page")
    elif path.endswith("/big404"):
        conn.send_response(404, mark, b"x" * BIG)
    else:
        conn.send_response(200, mark, b"backend's 200")


ERRORDOCS = ("ErrorDocument 404 /errors/404.html\n"
             "ErrorDocument 503 \"Busy here, try again later\"\n")


@pytest.fixture
def setup(httpd_factory, backend_factory):
    b = backend_factory(_handler, name="errors")
    h = httpd_factory(ERRORDOCS +
                      "RProxyErrorOverride On\n"
                      "RProxyPass /app/ %s/\n"
                      "<Location /narrow>\n"
                      "  RProxyPass %s/\n"
                      "  RProxyErrorOverride On 503 405\n"
                      "</Location>\n"
                      "<Location /off>\n"
                      "  RProxyPass %s/\n"
                      "  RProxyErrorOverride Off\n"
                      "</Location>\n" % (b.url, b.url, b.url))
    os.makedirs(os.path.join(h.docroot, "errors"), exist_ok=True)
    with open(os.path.join(h.docroot, "errors", "404.html"), "wb") as f:
        f.write(b"<p>our branded 404</p>\n")
    return b, h


def test_404_gets_the_errordocument(setup):
    b, h = setup
    r = client.get(h.port, "/app/nf")
    assert r.status == 404, "the status is the backend's (%r)" % r
    assert r.body == b"<p>our branded 404</p>\n", \
        "the body is httpd's ErrorDocument, not the backend's (%r)" % r.body
    assert r.header("X-Backend") is None, \
        "the backend's fields are not forwarded (%r)" % r.headers
    assert re.search(r";\s*received-status=404\b",
                     r.header("Proxy-Status") or ""), \
        "Proxy-Status says which status came (%r)" % r.header("Proxy-Status")


def test_fields_the_error_page_needs_are_kept(setup):
    b, h = setup
    r = client.get(h.port, "/app/auth")
    assert r.status == 401 and b"backend's own" not in r.body, \
        "401 answered with httpd's page (%r)" % r
    assert r.header_all("WWW-Authenticate") == [
        'Basic realm="backend"', 'Bearer realm="backend"'], \
        "both challenges reach the client (%r)" % r.headers
    r = client.get(h.port, "/app/busy")
    assert r.status == 503 and r.body.strip() == b"Busy here, try again later", \
        "503 answered with the string ErrorDocument (%r)" % r.body
    assert r.header("Retry-After") == "7", "Retry-After kept (%r)" % r.headers
    r = client.get(h.port, "/app/method")
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert r.status == 405 and {"GET", "PUT", "PURGE"} <= allow, \
        "httpd's 405 page lists the backend's methods in Allow (%r)" % \
        r.headers


def test_success_passes_and_connection_is_kept(setup):
    b, h = setup
    # (no 503 here: httpd closes the client's connection after one)
    with client.Session(h.port) as c:
        for path in ("/app/ok", "/app/nf", "/app/auth", "/app/ok"):
            r = c.request("GET", path)
            assert r.status in (200, 401, 404), "%s (%r)" % (path, r)
        assert r.status == 200 and r.body == b"backend's 200" and \
            r.header("X-Backend") == "1", "a 200 passes as it came (%r)" % r
    assert b.total_connections == 1, \
        "short error bodies were read and dropped: one backend connection " \
        "served all four (%d)" % b.total_connections


def test_only_the_listed_statuses_in_a_location(setup):
    b, h = setup
    r = client.get(h.port, "/narrow/nf")
    assert r.status == 404 and r.body == b"backend's own 404 page", \
        "404 is not in the location's list: forwarded (%r)" % r.body
    r = client.get(h.port, "/narrow/busy")
    assert r.status == 503 and b"Busy here" in r.body, \
        "503 is: overridden (%r)" % r.body


def test_off_in_a_location_forwards_errors(setup):
    b, h = setup
    r = client.get(h.port, "/off/nf")
    assert r.status == 404 and r.body == b"backend's own 404 page" and \
        r.header("X-Backend") == "1", "Off forwards the backend's page (%r)" % r
    assert r.header("Proxy-Status") is None, \
        "a forwarded answer carries no Proxy-Status (%r)" % r.headers


def test_head_and_large_error_bodies(setup):
    b, h = setup
    r = client.request(h.port, "HEAD", "/app/nf")
    assert r.status == 404 and r.body == b"", "HEAD: 404, no body (%r)" % r
    r = client.get(h.port, "/app/big404", timeout=15)
    assert r.status == 404 and r.body == b"<p>our branded 404</p>\n", \
        "a 3 MiB error body is not forwarded (%r)" % r
    states = wsutil.wait_no_close_wait(b.port, 5, h.child_pids())
    assert "CLOSE_WAIT" not in states, \
        "the backend connection with the long rest was closed, not leaked " \
        "(%r)" % states
    r = client.get(h.port, "/app/ok")
    assert r.status == 200, "the next request is served (%r)" % r


def test_errors_the_proxy_makes_are_unchanged(httpd_factory):
    """Override is about the backend's answers: a 502 the proxy generates
    keeps its Proxy-Status error."""
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory("RProxyErrorOverride On\nRProxyConnectRetries 0\n"
                          "RProxyPass /app/ http://127.0.0.1:%d/\n" % port)
        r = client.get(h.port, "/app/x", timeout=15)
        assert r.status == 502 and \
            "error=connection_refused" in (r.header("Proxy-Status") or ""), \
            "a refused connect is still the proxy's own 502 (%r)" % r.headers
    finally:
        dead.close()


BAD = {
    "below-400": ("RProxyErrorOverride On 399", "399"),
    "above-599": ("RProxyErrorOverride On 600", "600"),
    "not-a-number": ("RProxyErrorOverride On 4o4", "4o4"),
    "off-with-codes": ("RProxyErrorOverride Off 404", "404"),
    "not-on-off": ("RProxyErrorOverride Sometimes", "Sometimes"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_values_refused_with_file_and_line(httpd_factory, case):
    line, value = BAD[case]
    tester = httpd_factory(start=False)
    tester.configtest("# first\n" + line + "\n").assert_refused(
        case, 2, "RProxyErrorOverride", value)


def test_dump_shows_the_setting(httpd_factory):
    tester = httpd_factory(start=False)
    res = tester.configtest("RProxyPass /a/ http://127.0.0.1:9/\n"
                            "<Location /b>\n"
                            "  RProxyPass http://127.0.0.1:9/\n"
                            "  RProxyErrorOverride On 502 404\n"
                            "</Location>\n"
                            "<Location /c>\n"
                            "  RProxyPass http://127.0.0.1:9/\n"
                            "  RProxyErrorOverride On\n"
                            "</Location>\n", defines=["DUMP_RPROXY"])
    rc, out = res
    assert rc == 0, out
    assert "error override off" in out, out
    assert "error override on 404 502" in out, out
    assert "error override on (400-599)" in out, out
