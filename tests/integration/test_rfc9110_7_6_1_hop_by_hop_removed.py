"""RFC 9110 7.6.1: hop-by-hop fields (Connection, Proxy-Connection, Keep-Alive,
Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding,
Upgrade, and every token named in Connection) are removed in both
directions; "TE: trailers" passes to the backend when the client sent TE
with trailers."""

import client


def _conf(backend):
    return "RProxyPass /app %s/base\n" % backend.url


def test_request_hop_by_hop_removed(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend))
    r = client.get(h.port, "/app/x", headers=[
        ("Connection", "keep-alive, X-Foo, x-bar-token"),
        ("X-Foo", "1"),
        ("X-Bar-Token", "2"),
        ("Keep-Alive", "timeout=99, max=7"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c-made-up"),
        ("X-End-To-End", "kept"),
    ])
    assert r.status == 200, "request with hop-by-hop fields answers 200 (%r)" % r
    seen = {n.lower(): v for n, v in r.json()["headers"]}
    assert "x-foo" not in seen, \
        "field named by a Connection token (X-Foo) does not reach the backend"
    assert "x-bar-token" not in seen, \
        "second Connection token (x-bar-token, other case) does not reach the backend"
    assert seen.get("connection", "").lower() in ("", "keep-alive", "close"), \
        "client's Connection value is not forwarded (backend got %r)" % seen.get("connection")
    assert "x-foo" not in seen.get("connection", "").lower(), \
        "client's Connection tokens are not forwarded"
    assert seen.get("keep-alive") != "timeout=99, max=7", \
        "client's Keep-Alive does not reach the backend"
    assert "proxy-connection" not in seen, "Proxy-Connection is removed"
    assert "proxy-authorization" not in seen, "Proxy-Authorization is removed"
    assert "trailer" not in seen, "Trailer is removed"
    assert "upgrade" not in seen, \
        "Upgrade not named in Connection is removed (backend got %r)" % seen.get("upgrade")
    assert seen.get("x-end-to-end") == "kept", "end-to-end field passes"


def test_te_trailers_passes(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend))
    r = client.get(h.port, "/app/te", headers=[
        ("Connection", "TE"), ("TE", "trailers, deflate;q=0.5")])
    assert r.status == 200, "request with TE answers 200 (%r)" % r
    te = [v for n, v in r.json()["headers"] if n.lower() == "te"]
    assert te, "TE: trailers reaches the backend when the client sent TE with trailers"
    assert [t.strip().lower() for t in ",".join(te).split(",")] == ["trailers"], \
        "only the trailers member of TE is forwarded (backend got %r)" % te


def test_te_without_trailers_removed(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend))
    r = client.get(h.port, "/app/te", headers=[
        ("Connection", "TE"), ("TE", "gzip")])
    assert r.status == 200, "request with TE: gzip answers 200 (%r)" % r
    te = [v for n, v in r.json()["headers"] if n.lower() == "te"]
    assert not te, "TE without trailers does not reach the backend (got %r)" % te


def test_response_hop_by_hop_removed(httpd_factory, backend_factory):
    def handler(req, conn):
        req.drain()
        body = b"hello\n"
        conn.send(b"HTTP/1.1 200 OK\r\n"
                  b"Content-Type: text/plain\r\n"
                  b"Connection: X-Resp-Token, Keep-Alive\r\n"
                  b"X-Resp-Token: secret\r\n"
                  b"Keep-Alive: timeout=99, max=7\r\n"
                  b"Proxy-Connection: keep-alive\r\n"
                  b"Proxy-Authenticate: Basic realm=\"backend\"\r\n"
                  b"Trailer: X-Checksum\r\n"
                  b"Upgrade: h2c-made-up\r\n"
                  b"X-End-To-End: kept\r\n"
                  b"Content-Length: 6\r\n\r\n" + body)
    b = backend_factory(handler)
    h = httpd_factory(_conf(b))
    r = client.get(h.port, "/app/x")
    assert r.status == 200, "response with hop-by-hop fields answers 200 (%r)" % r
    assert r.body == b"hello\n", "response body passes unchanged"
    assert not r.has_header("X-Resp-Token"), \
        "field named by the backend's Connection token does not reach the client"
    assert "x-resp-token" not in (r.header("Connection") or "").lower(), \
        "backend's Connection tokens are not forwarded to the client"
    assert "timeout=99" not in (r.header("Keep-Alive") or ""), \
        "backend's Keep-Alive does not reach the client"
    assert not r.has_header("Proxy-Connection"), "Proxy-Connection is removed"
    assert not r.has_header("Proxy-Authenticate"), "Proxy-Authenticate is removed"
    assert not r.has_header("Trailer"), \
        "Trailer of a Content-Length response is removed"
    assert not r.has_header("Upgrade"), "Upgrade on a 200 is removed"
    assert r.header("X-End-To-End") == "kept", "end-to-end field passes"


def test_response_transfer_encoding_reframed(httpd_factory, backend_factory):
    def handler(req, conn):
        req.drain()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    b = backend_factory(handler)
    h = httpd_factory(_conf(b))
    r = client.get(h.port, "/app/x")
    assert r.status == 200, "chunked backend response answers 200 (%r)" % r
    assert r.complete, "client gets a well-framed response"
    assert r.body == b"hello world", "chunked body is de-chunked and re-framed intact"
    r10 = _http10_get(h.port, "/app/x")
    assert b"transfer-encoding" not in r10.split(b"\r\n\r\n")[0].lower(), \
        "backend's Transfer-Encoding is not copied to an HTTP/1.0 client"
    assert r10.endswith(b"hello world"), "HTTP/1.0 client gets the plain body"


def _http10_get(port, target):
    s = client.connect(port)
    try:
        s.sendall(("GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n"
                   % (target, port)).encode())
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                return data
            data += piece
    finally:
        s.close()
