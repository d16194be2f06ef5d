"""Response trailers reach an HTTP/2 client (RFC 9110 6.5, RFC 9113 8.1):
mod_http2 sends r->trailers_out as a final HEADERS frame, so the trailer
fields of a chunked backend response arrive there, announced with Trailer,
while hop-by-hop fields in the trailer section are dropped. Debian's curl
(--http2-prior-knowledge over h2c) shows them after the body."""

import subprocess

CURL = "/usr/bin/curl"


def _chunked_with_trailers(req, conn):
    req.drain()
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              b"Trailer: X-Checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
              b"0\r\nX-Checksum: abc123\r\nKeep-Alive: timeout=1\r\n"
              b"Content-Length: 99\r\n\r\n")


def _h2_trace(url):
    out = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", "--max-time",
                          "20", "--trace-ascii", "-", "-o", "/dev/null", url],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, "curl over h2c works: %s" % out.stderr
    return out.stdout.decode("latin-1")


def _received_headers(trace):
    """The header lines curl received, in order, with a marker for the
    body: ["HTTP/2 200", "trailer: X-Checksum", ..., "<data>", "x-checksum: ..."]."""
    lines, want = [], None
    for line in trace.splitlines():
        if line.startswith("<= Recv header"):
            want = "header"
        elif line.startswith("<= Recv data"):
            if not lines or lines[-1] != "<data>":
                lines.append("<data>")
            want = None
        elif line.startswith(("=>", "<=", "==")):
            want = None
        elif want == "header" and line.startswith("0000: "):
            text = line[6:].strip()
            if text:
                lines.append(text)
            want = None
    return lines


def _h2_answer(httpd_factory, backend_factory, handler):
    """What curl received over h2c from httpd proxying to the handler."""
    b = backend_factory(handler, name="trailers")
    h = httpd_factory(
        "LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so\n"
        "Protocols h2c http/1.1\n"
        "RProxyPass /app %s/\n" % b.url)
    return _received_headers(_h2_trace(h.url + "/app/t"))


def test_response_trailers_reach_http2_client(httpd_factory, backend_factory):
    got = _h2_answer(httpd_factory, backend_factory, _chunked_with_trailers)
    assert got and got[0] == "HTTP/2 200", "the response came over HTTP/2 (%r)" % got
    assert "<data>" in got, "a body came (%r)" % got
    head, tail = got[:got.index("<data>")], got[got.index("<data>") + 1:]
    assert "trailer: X-Checksum" in head, "the trailer is announced to an h2 client (%r)" % head
    assert "x-checksum: abc123" in tail, "the trailer field arrives after the body (%r)" % got
    names = [l.split(":", 1)[0].lower() for l in tail]
    assert "keep-alive" not in names, "no hop-by-hop field in the trailers (%r)" % tail
    assert "content-length" not in names, "no framing field in the trailers (%r)" % tail


def _chunked_with_many_trailers(req, conn):
    req.drain()
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n"
              + b"".join(b"X-T%d: v%d\r\n" % (i, i) for i in range(300))
              + b"\r\n")


def test_trailer_section_of_300_fields_arrives_whole(httpd_factory,
                                                     backend_factory):
    """The number of trailer fields is bounded by the section's size (16
    KiB) alone, not by a count."""
    got = _h2_answer(httpd_factory, backend_factory,
                     _chunked_with_many_trailers)
    assert got and got[0] == "HTTP/2 200" and "<data>" in got, \
        "a 200 with its body came over HTTP/2 (%r)" % got[:5]
    tail = got[got.index("<data>") + 1:]
    fields = [l for l in tail if l.startswith("x-t")]
    assert len(fields) == 300 and "x-t299: v299" in fields, \
        "all 300 trailer fields arrive after the body (%d: %r)" % (
            len(fields), fields[-3:])
