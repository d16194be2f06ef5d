"""RFC 8441 WebSockets over HTTP/2: with mod_http2's `H2WebSockets on`, an
extended CONNECT becomes an HTTP/1.1 upgrade request on a secondary
connection; mod_rproxy tunnels it to the backend like any upgrade, polling
the stream's input as httpd offers it (ap_get_pollfd_from_conn), not the
HTTP/2 connection's socket. The h2 client gets 200, frames both ways
byte-exact, and the close handshake completes."""

import pytest

import backends
import wsutil
from h2ws import H2WebSocket

H2 = ("LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so\n"
      "Protocols h2c http/1.1\n"
      "H2WebSockets on\n")


def _open(httpd_factory, backend_factory):
    """An echoing WebSocket backend, httpd with h2c and H2WebSockets in
    front of it, and an h2 WebSocket stream opened through both."""
    b = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(wsutil.EchoState()))],
        default=backends.echo_handler), name="ws-echo")
    h = httpd_factory(H2 + "RProxyPass /ws %s/\n" % b.url)
    return b, h, H2WebSocket(h.port, "/ws/chat")


def _echo_one(ws):
    """The tunnel is open and echoes a frame; its FrameReader."""
    assert ws.status == 200, "the tunnel opens (%r)" % ws.status
    rd = wsutil.FrameReader(ws)
    f = wsutil.round_trip(ws, rd, wsutil.OP_TEXT, b"one")
    assert f is not None and f.payload == b"one", "a frame is echoed"
    return rd


def _assert_backend_closed(b, h):
    states = wsutil.wait_no_close_wait(b.port, 5, h.child_pids(),
                                       ("CLOSE_WAIT", "ESTABLISHED"))
    assert "CLOSE_WAIT" not in states and "ESTABLISHED" not in states, \
        "the proxy closed its backend connection (%r)" % states


@pytest.mark.timeout_s(60)
def test_websocket_over_h2_echo_and_close(httpd_factory, backend_factory):
    b, h, ws = _open(httpd_factory, backend_factory)
    try:
        assert ws.connect_protocol, \
            "test setup: httpd offers extended CONNECT (H2WebSockets on)"
        assert ws.status == 200, \
            "the backend's 101 reaches the h2 client as 200 (status %r, " \
            "reset %r)\n%s" % (ws.status, ws.reset, h.error_log)
        rd = wsutil.FrameReader(ws)
        for n in (5, 125, 126, 70000):  # 70000: past the h2 window
            data = backends.payload(n, seed=n)
            f = wsutil.round_trip(ws, rd, wsutil.OP_BINARY, data)
            assert f is not None and f.payload == data, \
                "a %d-byte frame is echoed byte-exact (%r)" % (n, f)
        f = wsutil.round_trip(ws, rd, wsutil.OP_PING, b"there?")
        assert (f.opcode, f.payload) == (wsutil.OP_PONG, b"there?"), \
            "a ping gets the server's pong (%r)" % f
        f = wsutil.close_handshake(ws, rd)
        assert f is not None and f.opcode == wsutil.OP_CLOSE, \
            "the server's close frame comes back (%r)" % f
        assert rd.read_frame() is None and ws.ended, \
            "the server closed its connection: the stream ends"
        _assert_backend_closed(b, h)
    finally:
        ws.close()


def test_websocket_over_h2_client_end_reaches_backend(httpd_factory,
                                                     backend_factory):
    """The h2 client half-closes its stream (END_STREAM): the backend sees
    the end of its connection, closes, and the stream ends."""
    b, h, ws = _open(httpd_factory, backend_factory)
    try:
        rd = _echo_one(ws)
        ws.end()
        assert rd.read_frame() is None and ws.ended, \
            "the backend saw the end and closed; so does the stream"
        _assert_backend_closed(b, h)
    finally:
        ws.close()


@pytest.mark.parametrize("how", ["reset", "drop"])
def test_websocket_over_h2_client_gone_closes_backend(httpd_factory,
                                                     backend_factory, how):
    """The h2 client resets the stream, or drops the whole connection, in
    the middle of the tunnel: the proxy closes its backend connection at
    once, not after RProxyIOTimeout (60 s)."""
    b, h, ws = _open(httpd_factory, backend_factory)
    try:
        _echo_one(ws)
        assert "ESTABLISHED" in wsutil.tcp_states_towards(
            b.port, h.child_pids()), "test setup: the backend leg is open"
        if how == "reset":
            ws.cancel()
        else:
            ws.close()
        _assert_backend_closed(b, h)
    finally:
        ws.close()
