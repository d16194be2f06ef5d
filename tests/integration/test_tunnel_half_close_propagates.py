"""Ends of an upgrade tunnel travel through the proxy (RFC 9110 7.8: after
the 101 the connection is the new protocol's, and each end of it is
end-to-end): a client that shuts down its write side gives the backend an
EOF while the backend can still send its last bytes to the client; a
backend that closes gives the client an EOF after every byte it sent; a
client that disappears (TCP RST), idle or while the backend streams to it,
gets the backend connection closed at once, well before any timeout."""

import socket
import struct
import threading
import time

import backends
import client
import wsutil

TAIL = backends.payload(300000, seed=9)  # more than one read of the tunnel
EOF_BOUND = 5  # seconds: far below every timeout in play (30 s and more)


class Seen:
    def __init__(self):
        self.received = b""
        self.eof_at = None  # monotonic time the backend read EOF
        self.error = None  # how a send failed, when it did
        self.done = threading.Event()


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
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                seen.received += data
            seen.eof_at = time.monotonic()
            if after_eof:
                sock.sendall(after_eof)
        except OSError as e:
            seen.eof_at = time.monotonic()
            seen.error = repr(e)
        finally:
            seen.done.set()
            conn._close()
    return handler


def upgrade(port):
    s = client.connect(port, timeout=10)
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


def start_tunnel(httpd_factory, backend_factory, seen, **kw):
    b = backend_factory(tunnel_handler(seen, **kw), name="tunnel")
    h = httpd_factory("RProxyUpgrade raw\nRProxyPass /t %s/\n" % b.url)
    return b, h


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_client_half_close_reaches_backend_which_still_answers(
        httpd_factory, backend_factory):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, after_eof=TAIL)
    s = upgrade(h.port)
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
    s = upgrade(h.port)
    got = read_to_eof(s)  # the client never closes first
    s.close()
    assert got == TAIL, "the client got every byte the backend sent (%d of " \
        "%d), then EOF" % (len(got), len(TAIL))
    states = wsutil.wait_no_close_wait(b.port, 5)
    assert "CLOSE_WAIT" not in states, \
        "the proxy closed its backend connection (%r)" % states


def test_client_reset_while_idle_closes_backend_at_once(httpd_factory,
                                                        backend_factory):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen)
    s = upgrade(h.port)
    s.sendall(b"hello")
    time.sleep(0.2)  # the bytes are through; the tunnel is idle
    t0 = time.monotonic()
    reset(s)
    assert seen.done.wait(EOF_BOUND + 5), "the backend's side ended"
    assert seen.eof_at - t0 < EOF_BOUND, \
        "a client that disappears closes the backend connection at once, " \
        "not at a timeout (%.1f s)" % (seen.eof_at - t0)
    assert seen.received == b"hello"


def test_client_reset_while_backend_streams_closes_backend(httpd_factory,
                                                           backend_factory):
    seen = Seen()
    b, h = start_tunnel(httpd_factory, backend_factory, seen, stream=True)
    s = upgrade(h.port)
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
