"""Request trailers (RFC 9110 6.5): the trailer fields that end a client's
chunked request body reach the backend in the last chunk of the forwarded
body; hop-by-hop fields (RFC 9110 7.6.1) and fields that must not appear in
a trailer section (framing, routing, authentication: RFC 9110 6.5.1) never
do, and the Trailer announcement is made again for the next hop."""

import backends
import client


def _send_chunked_with_trailers(port, trailer_lines, extra_head=b""):
    s = client.connect(port)
    try:
        s.sendall(b"POST /app/t HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n"
                  % port + extra_head + b"\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
                  + b"".join(l + b"\r\n" for l in trailer_lines) + b"\r\n")
        return client.read_response(s, "POST")
    finally:
        s.close()


def test_request_trailers_reach_backend_in_last_chunk(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = _send_chunked_with_trailers(
        h.port,
        [b"X-Checksum: sha256=abc123", b"X-Hop: named-by-connection",
         b"Keep-Alive: timeout=1", b"X-Forwarded-For: 6.6.6.6",
         b"Authorization: Basic eDp5"],
        extra_head=b"Connection: X-Hop\r\n")
    assert r.status == 200 and r.complete, "the request is proxied (%r)" % r
    info = r.json()
    assert info["body_len"] == 11, "the body arrives whole"
    got = {n.lower(): v for n, v in info["trailers"]}
    assert got.get("x-checksum") == "sha256=abc123", \
        "an end-to-end trailer field reaches the backend (%r)" % got
    assert "x-hop" not in got, "a field named by Connection is hop-by-hop, even in a trailer"
    assert "keep-alive" not in got, "Keep-Alive is hop-by-hop, even in a trailer"
    assert "x-forwarded-for" not in got, "no routing field can be smuggled in a trailer"
    assert "authorization" not in got, "no authentication field in a trailer (RFC 9110 6.5.1)"
    sent = {n.lower(): v for n, v in info["headers"]}
    assert sent.get("trailer") == "X-Checksum", "the Trailer announcement reaches the backend"
    assert sent.get("transfer-encoding") == "chunked", "the body stays chunked"


def test_request_without_trailers_ends_with_plain_last_chunk(httpd_factory, backend_factory):
    seen = []

    def raw_body(req, conn):
        # the chunked body as the proxy framed it, byte for byte
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            piece = conn.rfile.read1(4096) if hasattr(conn.rfile, "read1") else conn.rfile.read(1)
            if not piece:
                break
            data += piece
        seen.append(data)
        req._done = True
        conn.send_response(200, [("Content-Type", "text/plain")], b"ok")

    b = backend_factory(raw_body, name="raw-body")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = _send_chunked_with_trailers(h.port, [b"Content-Length: 99",
                                             b"Host: evil.example"])
    assert r.status == 200, "the request is proxied (%r)" % r
    assert seen and seen[0].endswith(b"\r\n0\r\n\r\n"), \
        "only refused fields: the body ends with an empty trailer section (%r)" % seen
    assert b"evil" not in seen[0], "a Host trailer never reaches the backend"
