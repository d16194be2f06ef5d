"""A large Content-Length body goes from the backend's socket to the
client's through the kernel (splice(2), `RProxySplice On`, the default)
when nothing in httpd would change or count it on the way: after the head
and the first part went down the output filters, the rest never enters
httpd's memory. The body must still arrive byte-exact, twice on one
keep-alive client connection; the access log's %B (bytes of the body) and
mod_logio's %O (bytes on the wire) must count it; and the debug line
RP00193 says which responses were spliced.

Whatever would see the body keeps seeing all of it, unspliced: an output
filter (mod_deflate), TLS to the client (mod_ssl), and `RProxySplice
Off`. A client that leaves in the middle of a spliced body
is a normal event: no error-level line, no crash, and the next request is
served. The backend is Debian's nginx serving a file (sendfile), as in
production; a scripted backend only where it must ignore the Range."""

import gzip
import re
import socket

import pytest

import backends
import client
import hclib
import hostile
from pki import make_pki

MODDIR = "/usr/lib/apache2/modules"
SIZE = 2 * 1024 * 1024
SPLICED = "RP00193"


@pytest.fixture
def big(nginx_factory):
    ng = nginx_factory()
    data = backends.payload(SIZE, seed=93)
    ng.add_file("big.bin", data)
    ng.start()
    return ng, data


def spliced_lines(h, since_mark=False):
    text = h.error_log_since_mark() if since_mark else h.error_log
    return [l for l in text.splitlines() if SPLICED in l]


def spliced_count(h, fn, *args, **kw):
    """fn(*args, **kw) and the number of responses spliced meanwhile (the
    line comes as the exchange ends, which may be just after the client
    has the last byte: it is waited for, up to 0.5 s)."""
    h.mark_logs()
    fn(*args, **kw)
    text = hostile.wait_log(h, SPLICED, timeout=0.5)
    return sum(SPLICED in l for l in text.splitlines())


def get_whole(h, target, data, headers=()):
    r = client.get(h.port, target, headers=headers, hash_body=True,
                   timeout=20)
    assert r.status == 200 and r.complete, \
        "GET %s: a complete 200 (%r)" % (target, r)
    assert r.sha256 == backends.sha256(data), \
        "GET %s: the body arrived byte-exact" % target
    return r


def test_large_body_spliced_byte_exact_and_counted(httpd_factory, big,
                                                   workdir):
    ng, data = big
    wire_log = "%s/wire.log" % workdir
    h = httpd_factory(
        "LogFormat \"%%U %%B %%O\" wire\n"
        "CustomLog %s wire\n"
        "RProxyPass /dl/ %s/\n" % (wire_log, ng.url))
    with client.Session(h.port, timeout=20) as s:
        for i in range(2):
            r = s.request("GET", "/dl/big.bin", hash_body=True)
            assert r.status == 200 and r.complete, \
                "request %d: a complete 200 (%r)" % (i, r)
            assert r.sha256 == backends.sha256(data), \
                "request %d: the body arrived byte-exact" % i
    h.wait_access_entries(2)
    hclib.wait_for(lambda: len(spliced_lines(h)) >= 2, 5,
                   "two responses spliced")
    lines = spliced_lines(h)
    assert len(lines) == 2, \
        "both responses were spliced after their first part (%r)" % \
        h.error_log[-2000:]
    first = int(re.search(r"after its first (\d+) bytes", lines[0]).group(1))
    assert 0 < first < SIZE, "the first part went down the filters (%d)" % first
    def wire_lines():
        with open(wire_log) as f:
            return [l.split() for l in f.read().splitlines()]

    hclib.wait_for(lambda: len(wire_lines()) >= 2, 5, "two wire log lines")
    counts = wire_lines()
    assert len(counts) == 2, "two lines in the wire log (%r)" % counts
    for path, body, wire in counts:
        assert path == "/dl/big.bin"
        assert int(body) == SIZE, \
            "%%B counts the whole body, spliced part included (%s)" % body
        assert SIZE < int(wire) < SIZE + 2048, \
            "%%O counts the head and the whole body (%s)" % wire
    assert not h.error_level_lines(), \
        "no error-level line: %r" % h.error_level_lines()


def gzipped(h, target, data):
    r = client.get(h.port, target, headers=[("Accept-Encoding", "gzip")],
                   timeout=20)
    assert r.status == 200 and r.complete, "a complete 200 (%r)" % r
    assert r.header("Content-Encoding") == "gzip", \
        "mod_deflate compressed %s (%r)" % (target, r.headers)
    assert gzip.decompress(r.body) == data, \
        "mod_deflate saw every byte of %s" % target


def test_splice_off_and_body_filters_see_the_whole_body(httpd_factory,
                                                        nginx_factory):
    """Debian's default configuration compresses text types with
    `AddOutputFilterByType DEFLATE` (mod_filter): such a response goes
    through mod_deflate whole; an application/octet-stream one on the same
    server is spliced (mod_filter's harness leaves the chain when no type
    matched). SetOutputFilter and RProxySplice Off: not spliced."""
    ng = nginx_factory()
    data = backends.payload(SIZE, seed=95)
    ng.add_file("big.bin", data)
    ng.add_file("big.html", data)
    ng.server_extra = "types { text/html html; application/octet-stream bin; }"
    ng.start()
    h = httpd_factory(
        "LoadModule filter_module %s/mod_filter.so\n"
        "LoadModule deflate_module %s/mod_deflate.so\n"
        "AddOutputFilterByType DEFLATE text/html text/plain text/css\n"
        "RProxyPass /dl/ %s/\n"
        "<Location /gz/>\n"
        "  RProxyPass %s/\n"
        "  SetOutputFilter DEFLATE\n"
        "</Location>\n"
        "<Location /off/>\n"
        "  RProxyPass %s/\n"
        "  RProxySplice Off\n"
        "</Location>\n" % (MODDIR, MODDIR, ng.url, ng.url, ng.url))
    assert spliced_count(h, gzipped, h, "/dl/big.html", data) == 0, \
        "a type mod_deflate compresses: not spliced"
    assert spliced_count(h, gzipped, h, "/gz/big.bin", data) == 0, \
        "SetOutputFilter DEFLATE: not spliced"
    assert spliced_count(h, get_whole, h, "/off/big.bin", data) == 0, \
        "RProxySplice Off: not spliced"
    assert spliced_count(h, get_whole, h, "/dl/big.bin", data,
                         headers=[("Accept-Encoding", "gzip")]) == 1, \
        "a type nothing filters, in the same server: spliced"


def test_range_the_backend_ignored_is_a_whole_200(httpd_factory,
                                                  backend_factory):
    """httpd's byterange filter cuts only a body it gets whole in its first
    brigade; a large proxied body streams, so a Range the backend ignored
    gets the whole 200 (as with mod_proxy_http), spliced."""
    data = backends.payload(SIZE, seed=94)

    def whole_body(req, conn):  # a backend that ignores Range
        req.drain()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                  b"\r\nContent-Length: %d\r\n\r\n" % SIZE)
        conn.send(data)

    b = backend_factory(whole_body, name="norange")
    h = httpd_factory("RProxyPass /dl/ %s/\n" % b.url)
    assert spliced_count(h, get_whole, h, "/dl/x", data,
                         headers=[("Range", "bytes=1500000-1500999")]) == 1, \
        "the whole 200, spliced"


def test_tls_front_not_spliced(httpd_factory, big, request):
    import http.client
    import ssl

    ng, data = big
    pki = make_pki(request.config._rptest_base)
    cert, key = pki.pair("good")
    h = httpd_factory(
        "LoadModule ssl_module %s/mod_ssl.so\n"
        "SSLEngine on\n"
        "SSLCertificateFile %s\n"
        "SSLCertificateKeyFile %s\n"
        "RProxyPass /dl/ %s/\n" % (MODDIR, cert, key, ng.url))
    ctx = ssl.create_default_context(cafile=pki.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", h.port, context=ctx,
                                       timeout=20)
    try:
        conn.request("GET", "/dl/big.bin")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200 and body == data, \
        "the body arrived whole over TLS (%d, %d bytes)" % (resp.status,
                                                            len(body))
    assert not spliced_lines(h), "mod_ssl encrypts it: not spliced"


def test_client_leaving_mid_splice_is_a_normal_event(httpd_factory, big):
    """64 MiB, more than the sockets on the way can hold: the client leaves
    (FIN, then RST) while the body is being spliced."""
    ng, data = big
    huge = backends.payload(64 * 1024 * 1024, seed=96)
    ng.add_file("huge.bin", huge)
    h = httpd_factory("RProxyPass /dl/ %s/\n" % ng.url)
    get_whole(h, "/dl/big.bin", data)  # the backend connection is pooled
    h.mark_logs()
    for rst in (False, True):
        got = client.read_then_close(h.port, "/dl/huge.bin", 600 * 1024, rst)
        assert got >= 600 * 1024, "the client read part of the body (%r)" % got
    get_whole(h, "/dl/big.bin", data)
    hclib.wait_for(lambda: h.error_log_since_mark().count(
        "client went away during GET") >= 2, 5, "both clients left")
    log = h.error_log_since_mark()
    assert log.count("client went away during GET") == 2, \
        "both clients left in the middle of the body (%r)" % log[-2000:]
    hclib.wait_for(lambda: spliced_lines(h, since_mark=True), 5,
                   "a spliced response after them")
    assert len(spliced_lines(h, since_mark=True)) == 1, \
        "the complete response after them was spliced"
    assert not h.error_level_lines(), \
        "a client leaving is no error: %r" % h.error_level_lines()
    h.check_no_crash()


def test_http10_client_gets_the_whole_body_then_close(httpd_factory, big):
    ng, data = big
    h = httpd_factory("RProxyPass /dl/ %s/\n" % ng.url)
    s = socket.create_connection(("127.0.0.1", h.port), timeout=20)
    try:
        s.sendall(b"GET /dl/big.bin HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        raw = b""
        while True:
            piece = s.recv(1 << 20)
            if not piece:
                break
            raw += piece
    finally:
        s.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), "a 200 (%r)" % head[:200]
    assert body == data, "the whole body, then the server closed (%d bytes)" \
        % len(body)
    hclib.wait_for(lambda: spliced_lines(h), 5, "a spliced response")
    assert len(spliced_lines(h)) == 1, "the body was spliced"
