"""mod_rewrite sends a request to mod_rproxy:

    RewriteRule "^/u/(\\d+)$" - [E=rproxy-target:http://backend/users/$1,H=rproxy]

mod_rewrite answers an absolute-URL substitution with a redirect unless the
rule has [P] (which needs mod_proxy), so the backend URL travels in the
environment variable rproxy-target and [H=rproxy] hands the request to
mod_rproxy. The URL's path and query are sent as written (unsafe bytes
encoded once, nothing encoded twice; a URL without '?' keeps the client's
query, as [P] does), with RProxyPass semantics (hop-by-hop, X-Forwarded-*,
pooled connections) and the settings of the server / <Location> in effect.
A URL with a bad scheme or form is a 500 with a log line, before any byte
goes to a backend. An RProxyPass route still wins: it is decided before
mod_rewrite runs. Works in server and per-directory (<Directory>,
<Location>) context."""

import concurrent.futures
import os

import client
from pki import make_pki, tls_nginx

import pytest

REWRITE = "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"


def _sent(info):
    return {n.lower(): v for n, v in info["headers"]}


def test_server_context_rule_target_path_and_query_as_written(httpd_factory, echo_backend):
    u = echo_backend.url
    h = httpd_factory(
        REWRITE + "AllowEncodedSlashes NoDecode\n"
        "RewriteEngine On\n"
        'RewriteRule "^/u/(.+)$" - [E=rproxy-target:%s/users/$1,H=rproxy]\n'
        'RewriteRule "^/fixed/(.+)$" - [E=rproxy-target:%s/f/$1?a=1,H=rproxy]\n'
        'RewriteRule "^/drop/(.+)$" - [E=rproxy-target:%s/d/$1?,H=rproxy]\n'
        % (u, u, u))
    r = client.get(h.port, "/u/7?x=1&y=%2F")
    assert r.status == 200, "the rule's request is proxied (%r)\n%s" % (r, h.error_log)
    assert r.json()["target"] == "/users/7?x=1&y=%2F", \
        "the URL's path, and the client's query as sent when the URL has none"
    r = client.get(h.port, "/fixed/7?x=1")
    assert r.json()["target"] == "/f/7?a=1", "a query in the URL replaces the client's (as [P])"
    r = client.get(h.port, "/drop/7?x=1")
    assert r.json()["target"] == "/d/7", "a URL ending in '?' drops the client's query"
    r = client.get(h.port, "/u/a%20b%2Fc%25")
    assert r.status == 200, "an encoded path is proxied (%r)" % r
    assert r.json()["target"] == "/users/a%20b%2Fc%25", \
        "decoded bytes of $1 are encoded once; a kept %2F is not encoded again"


def test_rule_request_gets_rproxypass_semantics(httpd_factory, echo_backend):
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteRule "^/u/(\\d+)$" - [E=rproxy-target:%s/users/$1,H=rproxy]\n'
        % echo_backend.url)
    with client.Session(h.port) as s:
        for i in range(3):
            r = s.request("GET", "/u/%d" % i,
                          headers=[("Connection", "X-Hop"), ("X-Hop", "1"),
                                   ("X-Forwarded-For", "192.0.2.1")])
            assert r.status == 200, "request %d proxied (%r)" % (i, r)
    sent = _sent(r.json())
    assert "x-hop" not in sent, "a field named by Connection is hop-by-hop"
    assert sent.get("x-forwarded-for") == "127.0.0.1", \
        "an untrusted client's X-Forwarded-For is replaced (%r)" % sent
    assert sent.get("host") == echo_backend.hostport, "Host is the target's"
    assert sent.get("x-forwarded-host") == h.hostport, "X-Forwarded-Host is the client's Host"
    assert echo_backend.total_connections == 1, \
        "3 rule requests to one backend share one pooled connection"
    assert "rproxy-backend" not in h.error_log, "sanity: nothing odd logged"
    entries = h.wait_access_entries(3)
    assert entries[-1]["backend"] == echo_backend.hostport, \
        "the access log notes name the backend (%r)" % entries[-1]


def test_rule_settings_come_from_location_in_effect(httpd_factory, echo_backend):
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteRule "^/(a|b)/(\\d+)$" - [E=rproxy-target:%s/users/$2,H=rproxy]\n'
        "<Location /b>\n"
        "    RProxyAddForwarded Off\n"
        "    RProxyPreserveHost On\n"
        "</Location>\n" % echo_backend.url)
    sent = _sent(client.get(h.port, "/a/1").json())
    assert "x-forwarded-for" in sent and sent["host"] == echo_backend.hostport, \
        "server defaults apply outside the location"
    sent = _sent(client.get(h.port, "/b/1", host="front.example").json())
    assert "x-forwarded-for" not in sent, "RProxyAddForwarded Off of <Location /b> applies"
    assert sent["host"] == "front.example", "RProxyPreserveHost On of <Location /b> applies"


@pytest.mark.parametrize("value,why", [
    ("ftp://127.0.0.1/x", "scheme must be http"),
    ("http:///nohost", ""),
    ("/just/a/path", ""),
    ("http://127.0.0.1:99999/x", ""),
], ids=["bad-scheme", "no-host", "no-scheme", "bad-port"])
def test_bad_rule_target_is_500_with_log_line(httpd_factory, echo_backend, value, why):
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteRule "^/u$" - [E=rproxy-target:%s,H=rproxy]\n' % value)
    r = client.get(h.port, "/u")
    assert r.status == 500, "an unusable rproxy-target is a 500 (%r)" % r
    lines = [l for l in h.error_log.splitlines() if "RP00241" in l]
    assert lines and value in lines[0] and why in lines[0], \
        "one error line names the variable, its value and why:\n%s" % h.error_log
    assert "[rproxy:error]" in lines[0], "at level error"
    assert echo_backend.total_connections == 0, "nothing reached any backend"


def test_handler_without_target_is_500_with_log_line(httpd_factory, echo_backend):
    h = httpd_factory(REWRITE + "RewriteEngine On\n"
                      'RewriteRule "^/u$" - [H=rproxy]\n')
    r = client.get(h.port, "/u")
    assert r.status == 500, "[H=rproxy] without rproxy-target is a 500 (%r)" % r
    assert "RP00240" in h.error_log and "rproxy-target" in h.error_log, \
        "the log says the variable is missing:\n%s" % h.error_log


def test_dot_segment_in_rule_target_is_refused(httpd_factory, echo_backend):
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteCond "%%{QUERY_STRING}" "^p=(.*)$"\n'
        'RewriteRule "^/files$" - [E=rproxy-target:%s/static/%%1?,H=rproxy]\n'
        % echo_backend.url)
    r = client.get(h.port, "/files?p=a.txt")
    assert r.status == 200 and r.json()["target"] == "/static/a.txt", \
        "sanity: the rule proxies (%r)" % r
    n = len(echo_backend.requests)
    r = client.get(h.port, "/files?p=../secret")
    assert r.status == 400, "a dot segment in the URL's path is refused (%r)" % r
    r = client.get(h.port, "/files?p=%2e%2E/secret")
    assert r.status == 400, "also when percent-encoded (%r)" % r
    assert len(echo_backend.requests) == n, "no escape from /static reached the backend"


def test_rproxypass_route_still_wins(httpd_factory, echo_backend, backend_factory):
    other = backend_factory(lambda req, conn: conn.send_response(200, body=b"rule"),
                            name="rule-target")
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteRule "^/app/(.*)$" - [E=rproxy-target:%s/x/$1,H=rproxy]\n'
        "RProxyPass /app %s/base\n"
        "<Location /loc>\n    RProxyPass %s/lbase\n</Location>\n"
        'RewriteRule "^/loc/(.*)$" - [E=rproxy-target:%s/x/$1,H=rproxy]\n'
        % (other.url, echo_backend.url, echo_backend.url, other.url))
    r = client.get(h.port, "/app/1")
    assert r.status == 200 and r.json()["target"] == "/base/1", \
        "a server-level RProxyPass route wins over a rule (%r)" % r
    r = client.get(h.port, "/loc/1")
    assert r.status == 200 and r.json()["target"] == "/lbase/1", \
        "a <Location> RProxyPass route wins over a rule (%r)" % r
    assert other.total_connections == 0, "the rule's backend was never used"


def test_per_directory_context_rules(httpd_factory, echo_backend, workdir):
    h = httpd_factory(start=False, snippet="")
    dd = os.path.join(h.docroot, "dd")
    os.makedirs(dd)
    h.snippet = (
        REWRITE +
        "<Directory %s>\n"
        "    RewriteEngine On\n"
        '    RewriteRule "^y/(.*)$" - [E=rproxy-target:%s/dir/$1,H=rproxy]\n'
        "</Directory>\n"
        "<Location /lx>\n"
        "    RewriteEngine On\n"
        '    RewriteRule "/lx/(.*)$" - [E=rproxy-target:%s/loc/$1,H=rproxy]\n'
        "</Location>\n" % (dd, echo_backend.url, echo_backend.url))
    h.start()
    try:
        r = client.get(h.port, "/dd/y/6?z=1")
        assert r.status == 200 and r.json()["target"] == "/dir/6?z=1", \
            "a <Directory> rule proxies (%r)\n%s" % (r, h.error_log)
        r = client.get(h.port, "/lx/7")
        assert r.status == 200 and r.json()["target"] == "/loc/7", \
            "a <Location> rule proxies (%r)\n%s" % (r, h.error_log)
    finally:
        h.stop()


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def test_https_rule_target_uses_server_tls_settings(httpd_factory, pki, nginx_factory,
                                                    echo_backend):
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    h = httpd_factory(
        REWRITE + "RProxyTLSCACertificateFile %s\n" % pki.ca +
        "RewriteEngine On\n"
        'RewriteRule "^/s/(.*)$" - [E=rproxy-target:https://localhost:%d/echo/$1,H=rproxy]\n'
        % ng.port)
    r = client.get(h.port, "/s/hello", timeout=15)
    assert r.status == 200, "an https rule target is reached over verified TLS " \
        "without any https RProxyPass route (%r)\n%s" % (r, h.error_log)
    assert r.header("X-TLS-Protocol") in ("TLSv1.2", "TLSv1.3"), "the backend saw TLS"
    assert r.json()["target"] == "/hello", "the path went as written"


def test_https_rule_target_is_verified(httpd_factory, pki, nginx_factory):
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(
        REWRITE + "RewriteEngine On\n"
        'RewriteRule "^/s/(.*)$" - [E=rproxy-target:https://localhost:%d/$1,H=rproxy]\n'
        % ng.port)
    r = client.get(h.port, "/s/x", timeout=15)
    assert r.status == 502, "a backend certificate from an untrusted CA is refused (%r)" % r
    assert "certificate verify failed" in h.error_log, "and logged:\n%s" % h.error_log


def test_default_tls_context_made_on_first_https_rule_target(httpd_factory, pki,
                                                             nginx_factory, echo_backend,
                                                             monkeypatch):
    """With default RProxyTLS* settings and no https route, the context of
    https rule targets (the system's CA store, about 1.4 MB in each process)
    is made on the first request that needs it, once per process, also when
    that first request comes from many threads at once; a virtual host with
    the same settings uses the same one. SSL_CERT_FILE points OpenSSL's
    default store at the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca)
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    rule = ('RewriteRule "^/s/(.*)$" - [E=rproxy-target:https://localhost:%d/echo/$1,'
            'H=rproxy]\n' % ng.port)
    vhost = ("<VirtualHost 127.0.0.1:*>\n"
             "    ServerName %s\n"
             "    RewriteEngine On\n"
             "    " + rule + "</VirtualHost>\n")
    h = httpd_factory(REWRITE + "LogLevel rproxy:debug\n" +
                      vhost % "a.test" + vhost % "b.test")
    r = client.get(h.port, "/plain", timeout=15)
    assert "RP00297" not in h.error_log, \
        "nothing is made at start-up or for other requests:\n%s" % h.error_log

    def one(i):
        return client.get(h.port, "/s/%d" % i, timeout=30,
                          host="b.test" if i % 2 else "a.test")

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(16)))
    assert [x.status for x in results] == [200] * 16, \
        "concurrent first https rule targets all pass verification with the " \
        "default store (%r)\n%s" % ([x.status for x in results], h.error_log)
    assert all(x.json()["target"] == "/%d" % i for i, x in enumerate(results))
    assert h.error_log.count("RP00297") == 1, \
        "one context in the process, shared by the virtual hosts with the " \
        "main server's settings:\n%s" % h.error_log
