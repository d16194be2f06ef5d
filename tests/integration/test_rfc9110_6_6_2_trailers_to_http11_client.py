"""Response trailers from a chunked backend response: httpd 2.4's HTTP/1.1
chunk filter writes no trailer section, so an HTTP/1.1 client gets the body
intact and well framed, and the proxy does not announce (Trailer:) fields
that will not come (RFC 9110 6.6.2)."""

import backends
import client


def _chunked_with_trailer(req, conn):
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              b"Trailer: X-Checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
              b"0\r\nX-Checksum: abc123\r\n\r\n")


def test_http11_client_gets_body_without_false_announcement(httpd_factory, backend_factory):
    b = backend_factory(_chunked_with_trailer, name="trailers")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/t", headers=[("TE", "trailers")])
    assert r.status == 200 and r.complete, "the chunked body arrives well framed (%r)" % r
    assert r.body == b"hello world", "byte-exact"
    assert not r.has_header("Trailer"), "no Trailer field is announced to an HTTP/1.1 client"
    sent = {n.lower(): v for n, v in b.requests[0]["headers"]}
    assert sent.get("te") == "trailers", "the client's TE: trailers reached the backend"
