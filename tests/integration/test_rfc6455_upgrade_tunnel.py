"""Protocol upgrades (RFC 9110 7.8, WebSocket per RFC 6455): a client asking
for websocket gets the backend's 101 and then a two-way tunnel to it; the
backend switching to another protocol than asked is a 502; a protocol the
route does not allow is not forwarded (ordinary request); the client closing
its side is passed on as a half-close; a backend that closes ends the
tunnel and its connection is not pooled."""

import socket
import threading
import time

import backends
import client


def _ws_echo(proto_answer=None):
    def handler(req, conn):
        asked = req.header("upgrade")
        conn_hdr = req.header("connection") or ""
        if not asked or "upgrade" not in conn_hdr.lower():
            conn.send_json({"upgrade": None, "conn": conn_hdr})
            return
        conn.send(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\n"
                   "Connection: Upgrade\r\nX-Hop: drop\r\n\r\n"
                   % (proto_answer or asked)).encode())
        sock = conn.sock
        sock.settimeout(10)
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:  # the proxy passed the client's half-close on
                try:
                    sock.sendall(b"BYE")
                except OSError:
                    pass
                break
            sock.sendall(data.upper())
        conn._close()
    return handler


def _upgrade(port, proto="websocket", extra=""):
    s = client.connect(port, timeout=10)
    s.sendall(("GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
               "Upgrade: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n" % (proto, extra)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.decode("latin-1")


def _recv_exact(s, n, timeout=5):
    s.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_websocket_switch_and_two_way_tunnel(httpd_factory, backend_factory):
    b = backend_factory(_ws_echo(), name="ws")
    h = httpd_factory("RProxyPass /ws %s/\n" % b.url)
    s, head = _upgrade(h.port)
    assert head.startswith("HTTP/1.1 101"), "the backend's 101 reaches the client (%r)" % head
    assert "upgrade: websocket" in head.lower(), "with its Upgrade field"
    for msg in (b"hello", b"x" * 100000):
        s.sendall(msg)
        got = _recv_exact(s, len(msg))
        assert got == msg.upper(), "bytes cross the tunnel both ways (%d bytes)" % len(msg)
    s.shutdown(socket.SHUT_WR)
    bye = _recv_exact(s, 3)
    assert bye == b"BYE", "the client's half-close reaches the backend, which answers"
    s.settimeout(5)
    assert s.recv(10) == b"", "the backend's close ends the tunnel"
    s.close()
    req = b.requests[0]
    names = {n.lower(): v for n, v in req["headers"]}
    assert names.get("upgrade") == "websocket" and "upgrade" in names.get("connection", "").lower(), \
        "the backend was asked for the upgrade (%r)" % req["headers"]
    r = client.get(h.port, "/ws/after")
    assert r.status == 200, "ordinary requests still work after a tunnel"
    assert b.total_connections == 2, "the tunnel's backend connection was not pooled"


def test_switch_to_other_protocol_is_502(httpd_factory, backend_factory):
    b = backend_factory(_ws_echo(proto_answer="h2c"), name="ws-wrong")
    h = httpd_factory("RProxyPass /ws %s/\n" % b.url)
    s, head = _upgrade(h.port)
    s.close()
    assert head.startswith("HTTP/1.1 502"), "a 101 to a protocol nobody asked for is 502 (%r)" % head[:30]
    assert "not the \"websocket\" asked for" in h.error_log, "the fault is logged"


def test_upgrade_not_allowed_goes_as_ordinary_request(httpd_factory, backend_factory):
    b = backend_factory(_ws_echo(), name="ws-off")
    h = httpd_factory("RProxyUpgrade none\nRProxyPass /ws %s/\n" % b.url)
    s, head = _upgrade(h.port)
    s.close()
    assert head.startswith("HTTP/1.1 200"), \
        "with RProxyUpgrade none the request is forwarded without Upgrade (%r)" % head[:30]
    names = {n.lower() for n, v in b.requests[0]["headers"]}
    assert "upgrade" not in names, "the backend was not asked to switch"


def test_client_disappearing_closes_backend(httpd_factory, backend_factory):
    b = backend_factory(_ws_echo(), name="ws-gone")
    h = httpd_factory("RProxyPass /ws %s/\n" % b.url)
    s, head = _upgrade(h.port)
    assert head.startswith("HTTP/1.1 101")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # reset
    assert b.wait_open_connections(0, timeout=5) == 0, \
        "a client that disappears closes the backend side of the tunnel"
