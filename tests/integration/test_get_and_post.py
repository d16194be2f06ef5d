"""GET and POST pass through the proxy: method, target, body and status."""

import backends
import client

import pytest


def test_get_and_post_pass_through(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)

    r = client.get(h.port, "/app/hello?x=1")
    assert r.status == 200, "GET through the proxy answers 200 (got %r)" % r
    assert r.complete, "GET response is complete and well framed"
    info = r.json()
    assert info["method"] == "GET", "backend saw the GET method"
    assert info["target"] == "/base/hello?x=1", \
        "backend saw the mapped target (got %r)" % info["target"]
    assert info["body_len"] == 0, "GET carried no body to the backend"

    body = backends.payload(100000, seed=5)
    r = client.request(h.port, "POST", "/app/submit", body=body,
                       headers=[("Content-Type", "application/octet-stream")])
    assert r.status == 200, "POST through the proxy answers 200 (got %r)" % r
    info = r.json()
    assert info["method"] == "POST", "backend saw the POST method"
    assert info["body_len"] == len(body), "backend got every POST body byte"
    assert info["body_sha256"] == backends.sha256(body), \
        "backend got the POST body unchanged (sha256)"


def test_chunked_request_body_passes(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    body = backends.payload(300000, seed=6)
    r = client.request(h.port, "PUT", "/app/up", body=body, chunked_body=True)
    assert r.status == 200, "chunked PUT answers 200 (got %r)" % r
    info = r.json()
    assert info["method"] == "PUT", "backend saw the PUT method"
    assert info["body_sha256"] == backends.sha256(body), \
        "backend got the chunked request body unchanged (sha256)"


def test_backend_status_and_headers_pass(httpd_factory, backend_factory):
    def handler(req, conn):
        req.drain()
        conn.send_response(201, [("X-Backend", "yes"),
                                 ("Content-Type", "text/plain")], b"made\n")
    b = backend_factory(handler)
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/x")
    assert r.status == 201, "backend status 201 reaches the client (got %r)" % r
    assert r.header("X-Backend") == "yes", "end-to-end header reaches the client"
    assert r.body == b"made\n", "backend body reaches the client"


def test_head_has_no_body(httpd_factory, backend_factory):
    b = backend_factory(backends.make_download_handler(b"x" * 1000))
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.request(h.port, "HEAD", "/app/x")
    assert r.status == 200, "HEAD answers 200 (got %r)" % r
    # after a HEAD the connection must still be usable: no stray body bytes
    with client.Session(h.port) as s:
        r1 = s.request("HEAD", "/app/x")
        r2 = s.request("GET", "/app/x")
    assert r1.status == 200 and r2.status == 200, \
        "HEAD then GET on one client connection both answer 200"
    assert r2.body == b"x" * 1000, "GET after HEAD gets its whole body"


def test_ipv6_literal_backend_dialed_for_each_connection(httpd_factory, backend_factory):
    """http://[::1]:port/ is dialed over IPv6 (the literal's own family, no
    lookup of the machine's addresses), for each new connection."""
    try:
        b = backend_factory(backends.echo_handler, host="::1")
    except OSError as e:
        pytest.skip("no IPv6 loopback here: %s" % e)
    h = httpd_factory("RProxyMaxRequestsPerConnection 1\n"
                      "RProxyPass /v6 %s/base\n" % b.url)
    conns = set()
    for i in range(3):
        r = client.get(h.port, "/v6/x%d" % i)
        assert r.status == 200, "a request to an IPv6 literal backend answers 200 " \
            "(%r)\n%s" % (r, h.error_log)
        info = r.json()
        assert info["target"] == "/base/x%d" % i
        assert info["peer"].startswith("::1:"), "the backend saw an IPv6 peer (%r)" % info["peer"]
        conns.add(info["conn_id"])
    assert len(conns) == 3, "each request had a new backend connection (%r)" % conns
