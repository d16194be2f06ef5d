"""RFC 9209: every error response the proxy generates (400 refusal, 502,
503, 504) carries `Proxy-Status: <ServerName>; error=<type>;
details="..."` with the error type of section 2.3 that names the failure
precisely, never received-status (no response came), details a valid
sf-string.  The ServerName of the tests is 127.0.0.1, not an sf-token, so
the name is the sf-string "127.0.0.1".  `RProxyStatusHeader Off` removes
the field; a bad value is refused at startup.  The error hook sees the
same type in the request note rproxy-fault."""

import os
import re
import threading
import time

import pytest

import backends
import client
from pki import make_pki, tls_nginx

NAME = '"127.0.0.1"'  # the tests' ServerName, quoted: not an sf-token

# RFC 8941: sf-token and sf-string
_TOKEN = r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*"
_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'
_ITEM_RE = re.compile(r"^(%s|%s)((?:;\s*[a-z*][a-z0-9_\-.*]*(?:=(?:%s|%s|-?\d+))?)*)$"
                      % (_TOKEN, _STRING, _TOKEN, _STRING))
_PARAM_RE = re.compile(r";\s*([a-z*][a-z0-9_\-.*]*)(?:=(%s|%s|-?\d+))?"
                       % (_STRING, _TOKEN))


def parse_proxy_status(value):
    """(name, {param: value}) of a one-member Proxy-Status, strings
    unquoted; None when the value is not a valid sf-item with parameters."""
    m = _ITEM_RE.match(value or "")
    if not m:
        return None
    params = {}
    for k, v in _PARAM_RE.findall(m.group(2)):
        if v.startswith('"'):
            v = re.sub(r'\\(["\\])', r"\1", v[1:-1])
        params[k] = v
    return m.group(1), params


def check_proxy_status(r, want_status, want_error, what):
    assert r.status == want_status, "%s gives %d (got %r)" % (
        what, want_status, r)
    v = r.header("Proxy-Status")
    assert v, "%s: the %d carries Proxy-Status (headers %r)" % (
        what, want_status, r.headers)
    parsed = parse_proxy_status(v)
    assert parsed, "%s: Proxy-Status is one valid sf-item with parameters " \
        "(%r)" % (what, v)
    name, params = parsed
    assert name == NAME, "%s: the proxy is named by its ServerName (%r)" % (
        what, v)
    assert params.get("error") == want_error, \
        "%s: error=%s (got %r)" % (what, want_error, v)
    assert "received-status" not in params, \
        "%s: no received-status on an error the proxy generated (%r)" % (
            what, v)
    assert params.get("details"), "%s: details say more (%r)" % (what, v)
    return params


def _garbage():
    return backends.make_raw_handler(b"HELLO WORLD THIS IS NOT HTTP\r\n\r\n")


def _close_after_request():
    return backends.make_raw_handler(b"")  # reads the request, closes


def test_connection_refused(httpd_factory):
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory("RProxyConnectRetries 0\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % port)
        r = client.get(h.port, "/app/x", timeout=15)
        check_proxy_status(r, 502, "connection_refused", "a refused connect")
    finally:
        dead.close()


def test_connection_timeout(httpd_factory):
    with backends.Blackhole() as bh:
        assert bh.hangs(), "test setup: connect() to the blackhole port hangs"
        h = httpd_factory("RProxyConnectTimeout 500ms\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % bh.port)
        r = client.get(h.port, "/app/x", timeout=15)
        check_proxy_status(r, 502, "connection_timeout",
                           "a connect that never completes")


def test_dns_error(httpd_factory):
    # RFC 6761 6.4: .invalid names never resolve
    h = httpd_factory("RProxyPass /app http://rptest-nosuch.invalid:8080/\n")
    r = client.get(h.port, "/app/x", timeout=15)
    check_proxy_status(r, 502, "dns_error", "an unresolvable backend name")


def test_http_response_timeout(httpd_factory, backend_factory):
    b = backend_factory(backends.make_silent_handler(max_wait=20))
    h = httpd_factory("RProxyResponseHeaderTimeout 500ms\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=15)
    p = check_proxy_status(r, 504, "http_response_timeout",
                           "no response head within the header timeout")
    assert "timed out" in p["details"], \
        "details say the backend timed out (%r)" % p


def test_http_protocol_error(httpd_factory, backend_factory):
    b = backend_factory(_garbage())
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=15)
    check_proxy_status(r, 502, "http_protocol_error", "a garbage status line")


def test_connection_terminated(httpd_factory, backend_factory):
    b = backend_factory(_close_after_request())
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=15)
    check_proxy_status(r, 502, "connection_terminated",
                       "a backend closing after reading the request")


def test_http_response_incomplete(httpd_factory, backend_factory):
    b = backend_factory(backends.make_raw_handler(
        b"HTTP/1.1 200 OK\r\nContent-Le"))
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=15)
    check_proxy_status(r, 502, "http_response_incomplete",
                       "a backend closing inside the response head")


def test_http_response_header_section_size(httpd_factory, backend_factory):
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(
        b"X-F%d: v\r\n" % i for i in range(300)) + b"Content-Length: 0\r\n\r\n"
    b = backend_factory(backends.make_raw_handler(head))
    h = httpd_factory("RProxyMaxResponseHeaderSize 2048\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x", timeout=15)
    check_proxy_status(r, 502, "http_response_header_section_size",
                       "a response head of 3.3 KB over a 2 KiB limit")


def test_http_request_error(httpd_factory, echo_backend):
    # httpd lets "X(Y" through when Unsafe; the proxy will not forward a
    # field name that is not a token
    h = httpd_factory("HttpProtocolOptions Unsafe\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", headers=[("X(Y", "1")], timeout=15)
    p = check_proxy_status(r, 400, "http_request_error",
                           "a request the proxy refuses to forward")
    assert p["details"] == 'invalid header field "X(Y"', \
        "details name the field, the quotes escaped in the value (%r)" % p


def test_connection_limit_reached(httpd_factory):
    def slow(req, conn):
        time.sleep(1.5)
        backends.echo_handler(req, conn)

    b = backends.Backend(slow, name="slow").start()
    try:
        h = httpd_factory("RProxyMaxConnections 1\nRProxyQueueTimeout 200ms\n"
                          "RProxyPass /app %s/\n" % b.url)
        first = {}
        t = threading.Thread(target=lambda: first.setdefault(
            "r", client.get(h.port, "/app/slow", timeout=10)), daemon=True)
        t.start()
        deadline = time.monotonic() + 5
        while b.open_connections < 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # the first request holds the only connection
        r = client.get(h.port, "/app/queued", timeout=10)
        check_proxy_status(r, 503, "connection_limit_reached",
                           "every connection busy past the queue timeout")
        t.join(10)
        assert first["r"].status == 200, "the request holding the connection completes"
        assert first["r"].header("Proxy-Status") is None, \
            "a proxied response carries no Proxy-Status of ours"
    finally:
        b.stop()


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def test_tls_certificate_error(httpd_factory, pki, nginx_factory,
                               echo_backend):
    # nginx's certificate is issued by the test CA, which is not trusted
    # here (the system store is): verification fails
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    h = httpd_factory("RProxyPass /app https://localhost:%d/\n" % ng.port)
    r = client.get(h.port, "/app/x", timeout=15)
    p = check_proxy_status(r, 502, "tls_certificate_error",
                           "a backend certificate from an untrusted CA")
    assert "certificate verify failed" in p["details"], \
        "details give the verification failure (%r)" % p


def test_status_header_off_removes_it(httpd_factory):
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory("RProxyStatusHeader Off\nRProxyConnectRetries 0\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % port)
        r = client.get(h.port, "/app/x", timeout=15)
        assert r.status == 502, "a refused connect still gives 502 (%r)" % r
        assert r.header("Proxy-Status") is None, \
            "RProxyStatusHeader Off: no Proxy-Status (%r)" % r.headers
    finally:
        dead.close()


def test_status_header_off_in_location_only(httpd_factory):
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory(
            "RProxyConnectRetries 0\n"
            "RProxyPass /on http://127.0.0.1:%d/\n"
            "<Location /quiet>\n"
            "  RProxyPass http://127.0.0.1:%d/\n"
            "  RProxyStatusHeader Off\n"
            "</Location>\n" % (port, port))
        r = client.get(h.port, "/quiet/x", timeout=15)
        assert r.status == 502 and r.header("Proxy-Status") is None, \
            "Off in a <Location> removes it there (%r)" % r
        r = client.get(h.port, "/on/x", timeout=15)
        check_proxy_status(r, 502, "connection_refused",
                           "the server's other route keeps the default On")
    finally:
        dead.close()


def test_bad_value_refused_at_startup(httpd_factory):
    t = httpd_factory(start=False)
    res = t.configtest("RProxyStatusHeader maybe\n")
    assert res.rc != 0, "httpd -t refuses RProxyStatusHeader maybe"
    assert "RProxyStatusHeader" in res.output, \
        "the error names the directive (%s)" % res.output
    assert "line" in res.output, "the error gives the line number"


def test_error_hook_sees_the_fault_in_a_note(httpd_factory, backend_factory):
    b = backend_factory(_garbage())
    h = httpd_factory(
        'LogFormat "%U %{rproxy-fault}n" faults\n'
        "CustomLog faults.log faults\n"
        "RProxyPass /app " + b.url + "/\n")
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "garbage gives 502 (%r)" % r
    path = os.path.join(h.workdir, "faults.log")
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = open(path).read() if os.path.exists(path) else ""
        if "/app/x" in text:
            break
        time.sleep(0.05)
    assert "/app/x http_protocol_error" in text, \
        "%%{rproxy-fault}n holds the RFC 9209 type (log: %r)" % text
