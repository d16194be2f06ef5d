"""Ends of an upgrade tunnel travel through the proxy (RFC 9110 7.8: after
the 101 the connection is the new protocol's, and each end of it is
end-to-end): a client that shuts down its write side (TCP, or TLS
close_notify on an https front) gives the backend an EOF while the backend
can still send its last bytes to the client; a backend that closes gives
the client an EOF after every byte it sent; a client that disappears (TCP
RST, plain or https), idle or while the backend streams to it, gets the
backend connection closed at once, well before any timeout, with no
error-level log line."""

import socket
import ssl
import struct
import threading
import time

import pytest

import backends
import wsutil
from pki import make_pki

TAIL = backends.payload(300000, seed=9)  # more than one read of the tunnel
EOF_BOUND = 5  # seconds: far below every timeout in play (30 s and more)


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


class Seen:
    def __init__(self):
        self.received = b""
        self.eof_at = None  # monotonic time the backend read EOF
        self.error = None  # how a send failed, when it did
        self.done = threading.Event()

    def read_to_eof(self, sock):
        """The backend's side: keep what comes until EOF, note when."""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            self.received += data
        self.eof_at = time.monotonic()


def tunnel_handler(seen, after_eof=b"", send_first=b"", stream=False):
    """101, then: send send_first; stream endlessly when `stream` (until
    a send fails), else read to EOF and answer after_eof; then close."""
    def handler(req, conn):
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\n"
                  b"Connection: Upgrade\r\n\r\n")
        sock = conn.sock
        sock.settimeout(30)
        try:
            if send_first:
                sock.sendall(send_first)
            if stream:
                chunk = b"z" * 65536
                while True:
                    sock.sendall(chunk)
            seen.read_to_eof(sock)
            if after_eof:
                sock.sendall(after_eof)
        except OSError as e:
            seen.eof_at = time.monotonic()
            seen.error = repr(e)
        finally:
            seen.done.set()
            conn._close()
    return handler


def upgrade(h, front="plain", pki=None):
    s = wsutil.open_front(h, front, pki, timeout=10)
    s.sendall(b"GET /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
              b"Upgrade: raw\r\n\r\n")
    status, _, head = wsutil.read_head(s)
    assert status == 101, "the tunnel opens (%r)" % head
    return s


def read_to_eof(s, timeout=10):
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def start_tunnel(httpd_factory, backend_factory, seen, front="plain",
                 pki=None, **kw):
    b = backend_factory(tunnel_handler(seen, **kw), name="tunnel")
    pre = wsutil.tls_front_snippet(pki) if front == "https" else ""
    h = httpd_factory(pre + "RProxyUpgrade raw\nRProxyPass /t %s/\n" % b.url)
    return b, h


def reset(s):
    """Close with a TCP RST (on TLS too: no close_notify goes out)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_client_half_close_reaches_backend_which_still_answers(
        httpd_factory, backend_factory):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, after_eof=TAIL)
    s = upgrade(h)
    s.sendall(b"last request")
    s.shutdown(socket.SHUT_WR)
    got = read_to_eof(s)
    s.close()
    assert seen.done.wait(10) and seen.error is None, \
        "the backend read the client's half-close as EOF (%r)" % seen.error
    assert seen.received == b"last request", \
        "every byte before the half-close reached the backend"
    assert got == TAIL, \
        "the backend's answer after the EOF reached the client whole " \
        "(%d of %d bytes), then the end" % (len(got), len(TAIL))
    assert b.wait_open_connections(0, timeout=5) == 0, "both ends are closed"


def test_backend_close_is_client_eof_after_its_last_bytes(httpd_factory,
                                                          backend_factory):
    seen = Seen()
    b = backend_factory(lambda req, conn: (
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\n"
                  b"Connection: Upgrade\r\n\r\n" + TAIL), conn._close()),
        name="tunnel-close")
    h = httpd_factory("RProxyUpgrade raw\nRProxyPass /t %s/\n" % b.url)
    s = upgrade(h)
    got = read_to_eof(s)  # the client never closes first
    s.close()
    assert got == TAIL, "the client got every byte the backend sent (%d of " \
        "%d), then EOF" % (len(got), len(TAIL))
    states = wsutil.wait_no_close_wait(b.port, 5, h.child_pids())
    assert "CLOSE_WAIT" not in states, \
        "the proxy closed its backend connection (%r)" % states


@pytest.mark.parametrize("front", ["plain", "https"])
def test_client_reset_while_idle_closes_backend_at_once(httpd_factory,
                                                        backend_factory,
                                                        pki, front):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, front, pki)
    s = upgrade(h, front, pki)
    s.sendall(b"hello")
    time.sleep(0.2)  # the bytes are through; the tunnel is idle
    t0 = time.monotonic()
    reset(s)
    assert seen.done.wait(EOF_BOUND + 5), "the backend's side ended"
    assert seen.eof_at - t0 < EOF_BOUND, \
        "a client that disappears closes the backend connection at once, " \
        "not at a timeout (%.1f s)" % (seen.eof_at - t0)
    assert seen.received == b"hello"
    assert h.error_level_lines() == [], \
        "a client that leaves is no error (%r)" % h.error_level_lines()


@pytest.mark.parametrize("front", ["plain", "https"])
def test_client_reset_while_backend_streams_closes_backend(httpd_factory,
                                                           backend_factory,
                                                           pki, front):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, front, pki,
                        stream=True)
    s = upgrade(h, front, pki)
    s.settimeout(10)
    assert len(s.recv(65536)) > 0, "the stream flows to the client"
    time.sleep(0.3)  # let the buffers fill: the proxy blocks writing
    t0 = time.monotonic()
    reset(s)
    assert seen.done.wait(EOF_BOUND + 5), "the backend's side ended"
    assert seen.error is not None, \
        "the backend's sends fail: the proxy closed its connection"
    assert seen.eof_at - t0 < EOF_BOUND, \
        "at once, not at a timeout (%.1f s)" % (seen.eof_at - t0)
    assert b.wait_open_connections(0, timeout=5) == 0
    assert h.error_level_lines() == [], \
        "a client that leaves is no error (%r)" % h.error_level_lines()


class BioTls:
    """A TLS client over a socket through memory BIOs: unlike SSLSocket it
    can send close_notify (a TLS half-close) and still read afterwards."""

    def __init__(self, raw, ctx):
        self.raw = raw
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inb, self.outb,
                                server_hostname="localhost")
        self._step(self.obj.do_handshake)

    def _flush(self):
        data = self.outb.read()
        if data:
            self.raw.sendall(data)

    def _step(self, fn, *args):
        """fn(*args), moving bytes both ways until it needs no more."""
        while True:
            try:
                out = fn(*args)
                self._flush()
                return out
            except ssl.SSLWantReadError:
                self._flush()
                data = self.raw.recv(65536)
                if not data:
                    self.inb.write_eof()
                else:
                    self.inb.write(data)

    def send(self, data):
        self._step(self.obj.write, data)

    def recv(self, n):
        """b"" once the peer's close_notify came; raises on a TCP end
        without it."""
        try:
            return self._step(self.obj.read, n)
        except ssl.SSLZeroReturnError:
            return b""

    def send_close_notify(self):
        try:
            self.obj.unwrap()  # sends it; wants the peer's, not yet
        except ssl.SSLWantReadError:
            pass
        self._flush()


def test_client_tls_close_notify_is_half_close(httpd_factory, backend_factory,
                                               pki):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, "https", pki,
                        after_eof=TAIL)
    raw = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    t = BioTls(raw, ctx)
    t.send(b"GET /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
           b"Upgrade: raw\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += t.recv(1)
    assert got.startswith(b"HTTP/1.1 101"), "the tunnel opens (%r)" % got
    t.send(b"last request")
    t.send_close_notify()
    got = b""
    while True:
        data = t.recv(65536)
        if not data:
            break
        got += data
    raw.close()
    assert seen.done.wait(10) and seen.error is None, \
        "the client's close_notify reached the backend as EOF (%r)" % seen.error
    assert seen.received == b"last request", "after every byte before it"
    assert got == TAIL, \
        "the backend's answer after the EOF reached the client whole " \
        "(%d of %d bytes), then the proxy's close_notify" % (len(got),
                                                             len(TAIL))


def tls_tunnel_backend(pki, seen, after_eof):
    """An https backend for one tunnel: 101, then read to the end of the
    client's direction (the proxy's close_notify: recv gives b""), then
    send after_eof and close with its own close_notify. Returns (port,
    thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki.pair("good"))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(30)

    def serve():
        try:
            raw, _ = lsock.accept()
            raw.settimeout(30)
            s = ctx.wrap_socket(raw, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1)
                if not chunk:
                    raise OSError("no request")
                head += chunk
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            seen.read_to_eof(s)
            s.sendall(after_eof)
            try:
                s.unwrap()  # our close_notify; the proxy's came already
            except (OSError, ValueError):
                pass
            raw.close()
        except (OSError, ssl.SSLError) as e:
            seen.error = repr(e)
        finally:
            seen.done.set()
            lsock.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def test_client_half_close_reaches_https_backend_which_still_answers(
        httpd_factory, pki):
    """The same over TLS to the backend: the proxy sends close_notify (and a
    TCP FIN) for the client's half-close, and still relays what the backend
    sends after it, to the backend's own end."""
    seen = Seen()
    port, t = tls_tunnel_backend(pki, seen, TAIL)
    h = httpd_factory("RProxyTLSCACertificateFile %s\nRProxyUpgrade raw\n"
                      "RProxyPass /t https://localhost:%d/\n" % (pki.ca, port))
    s = upgrade(h)
    s.sendall(b"last request")
    s.shutdown(socket.SHUT_WR)
    got = read_to_eof(s)
    s.close()
    t.join(15)
    assert seen.done.is_set() and seen.error is None, \
        "the https backend read the client's half-close as the end of the " \
        "stream (%r)\n%s" % (seen.error, h.error_log)
    assert seen.received == b"last request", \
        "every byte before the half-close reached the backend (%r)" % seen.received[:40]
    assert got == TAIL, \
        "the backend's answer after the half-close reached the client whole " \
        "(%d of %d bytes), then the end" % (len(got), len(TAIL))
