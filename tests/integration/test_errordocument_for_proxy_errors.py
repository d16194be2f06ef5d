"""ErrorDocument applies to the errors the proxy generates: a local page
(`ErrorDocument 502 /errors/502.html`, an internal redirect) and a literal
text (`ErrorDocument 504 "text"`) replace the body, the status stays the
proxy's, and Proxy-Status (RFC 9209) survives both, because it is set in
err_headers_out.  After the internal redirect, `%{rproxy-status}<n` (the
original request's note) still gives the status."""

import os
import threading
import time

import backends
import client

PAGE = b"<html><body>our backend is down (local page)</body></html>\n"
LOGFORMAT = 'LogFormat "%U\\t%>s\\t%{rproxy-status}<n" errdoc\n' \
            "CustomLog errdoc.log errdoc\n"


def wait_log_line(h, name, uri, timeout=5):
    path = os.path.join(h.workdir, name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            for line in open(path).read().splitlines():
                f = line.split("\t")
                if f[0] == uri:
                    return f
        time.sleep(0.05)
    return None


def test_errordocument_local_page_for_502(httpd_factory):
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory(LOGFORMAT +
                          "ErrorDocument 502 /errors/502.html\n"
                          "RProxyConnectRetries 0\n"
                          "RProxyPass /app http://127.0.0.1:%d/\n" % port)
        os.makedirs(os.path.join(h.docroot, "errors"), exist_ok=True)
        with open(os.path.join(h.docroot, "errors", "502.html"), "wb") as f:
            f.write(PAGE)
        r = client.get(h.port, "/app/x", timeout=15)
        assert r.status == 502, "the refused backend still gives 502 (%r)" % r
        assert r.complete, "the 502 is well framed"
        assert r.body == PAGE, "the body is the local ErrorDocument (%r)" % (
            r.body[:200],)
        assert (r.header("Content-Type") or "").startswith("text/html"), \
            "served as the file's type (%r)" % r.header("Content-Type")
        ps = r.header("Proxy-Status") or ""
        assert "error=connection_refused" in ps, \
            "Proxy-Status survives the internal redirect (%r)" % r.headers
        f = wait_log_line(h, "errdoc.log", "/app/x")
        assert f and f[1] == "502" and f[2] == "502", \
            "access log: %%>s and %%{rproxy-status}<n are 502 (%r)" % (f,)
    finally:
        dead.close()


def test_errordocument_text_for_504(httpd_factory, backend_factory):
    b = backend_factory(backends.make_silent_handler(max_wait=20))
    h = httpd_factory('ErrorDocument 504 "the backend is too slow today"\n'
                      "RProxyResponseHeaderTimeout 500ms\n"
                      "RProxyPass /app " + b.url + "/\n")
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 504, "a stalled backend gives 504 (%r)" % r
    assert r.complete, "the 504 is well framed"
    assert r.body == b"the backend is too slow today", \
        "the body is the ErrorDocument text (%r)" % (r.body[:200],)
    ps = r.header("Proxy-Status") or ""
    assert "error=http_response_timeout" in ps, \
        "Proxy-Status is on the ErrorDocument text response (%r)" % r.headers


def test_errordocument_for_503_connection_limit(httpd_factory):
    def slow(req, conn):
        time.sleep(1.5)
        backends.echo_handler(req, conn)

    b = backends.Backend(slow, name="slow").start()
    try:
        h = httpd_factory('ErrorDocument 503 "busy, try again"\n'
                          "RProxyMaxConnections 1\nRProxyQueueTimeout 200ms\n"
                          "RProxyPass /app " + b.url + "/\n")
        t = threading.Thread(target=client.get, args=(h.port, "/app/slow"),
                             kwargs={"timeout": 10}, daemon=True)
        t.start()
        deadline = time.monotonic() + 5
        while b.open_connections < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        r = client.get(h.port, "/app/queued", timeout=10)
        assert r.status == 503, "all connections busy gives 503 (%r)" % r
        assert r.body == b"busy, try again", \
            "the body is the ErrorDocument text (%r)" % (r.body[:200],)
        assert "error=connection_limit_reached" in (
            r.header("Proxy-Status") or ""), \
            "Proxy-Status says connection_limit_reached (%r)" % r.headers
        t.join(10)
    finally:
        b.stop()
