"""RFC 6455 WebSocket through the proxy, on a plain and on an https (mod_ssl)
front: the opening handshake reaches a real (scripted) WebSocket server and
its Sec-WebSocket-Accept comes back intact (4.2.2); masked client frames
reach the server masked and the server's unmasked frames reach the client
byte-exact, whatever the length form (7, 16 or 64 bits, 5.2), including a
1 MiB binary message; pings get the server's pongs (5.5.2/5.5.3); the close
handshake (5.5.1, 7.1.1) completes: the server sees the client's close
frame, answers it, closes its TCP connection first, and the client then sees
both the close frame and the end of its connection. The proxy closes its
backend connection (nothing left in CLOSE_WAIT) and does not pool it."""

import pytest

import backends
import client
import wsutil
from pki import make_pki

SIZES = (0, 5, 125, 126, 65535, 65536)  # around the length-form limits
MIB = 1048576


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def start(httpd_factory, backend_factory, front, pki, state):
    b = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(state))],
        default=backends.echo_handler), name="ws-echo")
    pre = wsutil.tls_front_snippet(pki) if front == "https" else ""
    h = httpd_factory(pre + "RProxyPass /ws %s/\n" % b.url)
    return b, h


def expect_echo(rd, opcode, data, what):
    f = rd.read_frame()
    assert f is not None, "%s: an echo comes back" % what
    assert not f.masked, "%s: server frames reach the client unmasked" % what
    assert (f.opcode, f.fin) == (opcode, True), \
        "%s: same opcode, one final frame (%r)" % (what, f)
    assert f.payload == data, "%s: echoed byte-exact (%d bytes, got %d)" % (
        what, len(data), len(f.payload))
    return f


@pytest.mark.timeout_s(90)
@pytest.mark.parametrize("front", ["plain", "https"])
def test_websocket_echo_ping_and_close_handshake(httpd_factory,
                                                 backend_factory, pki, front):
    state = wsutil.EchoState()
    b, h = start(httpd_factory, backend_factory, front, pki, state)
    s = wsutil.open_front(h, front, pki)
    status, fields, head = wsutil.client_handshake(s, "/ws/chat")
    assert status == 101, "the server's 101 reaches the client (%r)" % head
    assert fields.get("upgrade", "").lower() == "websocket", \
        "the 101 names websocket (%r)" % head
    assert "sec-websocket-accept" in fields, \
        "Sec-WebSocket-Accept comes through (checked against the key)"
    rd = wsutil.FrameReader(s)
    assert "ESTABLISHED" in wsutil.tcp_states_towards(b.port, h.child_pids()), \
        "the proxy's backend socket is seen while the tunnel is open"

    for i, n in enumerate(SIZES):
        text = ("ü" * (n // 2) + "x" * (n % 2)).encode("utf-8")
        s.sendall(wsutil.encode_frame(wsutil.OP_TEXT, text))
        f = expect_echo(rd, wsutil.OP_TEXT, text, "text frame of %d bytes" % n)
        want = 7 if n < 126 else 16 if n < 65536 else 64
        assert f.length_form == want, \
            "a %d-byte frame uses the %d-bit length" % (n, want)

    s.sendall(wsutil.encode_frame(wsutil.OP_PING, b"are you there?"))
    f = rd.read_frame()
    assert (f.opcode, f.payload) == (wsutil.OP_PONG, b"are you there?"), \
        "a ping is answered by the server's pong with the same data (%r)" % f

    data = backends.payload(MIB, seed=6455)
    s.sendall(wsutil.encode_frame(wsutil.OP_BINARY, data))
    expect_echo(rd, wsutil.OP_BINARY, data, "1 MiB binary message")

    s.sendall(wsutil.encode_frame(wsutil.OP_CLOSE,
                                  wsutil.close_payload(1000, "bye")))
    f = rd.read_frame()
    assert f is not None and f.opcode == wsutil.OP_CLOSE, \
        "the server's close frame reaches the client (%r)" % f
    assert wsutil.parse_close(f.payload)[0] == 1000, \
        "with the status code the client sent"
    got_eof, extra = wsutil.recv_eof(s, 10)
    assert got_eof and extra == 0, \
        "then the client's connection ends, nothing after the close frame"
    s.close()

    assert state.wait_finished(1, 10) == 1, "the server's side ended"
    assert state.closes == [(1000, "bye")], \
        "the server saw the client's close frame (%r)" % state.closes
    assert state.errors == [], "every client frame reached it masked"
    assert [n for (_, n) in state.messages] == list(SIZES) + [MIB], \
        "the server saw each message once, whole (%r)" % state.messages
    assert state.pings == [b"are you there?"], "and the ping"
    states = wsutil.wait_no_close_wait(b.port, 10, h.child_pids())
    assert "CLOSE_WAIT" not in states, \
        "the proxy closed its side of the backend connection (%r)" % states
    assert b.wait_open_connections(0, timeout=10) == 0, \
        "no backend connection is left open"

    r = wsutil.front_get(h, front, pki, "/ws/after")
    assert r.status == 200, "ordinary requests work after the tunnel"
    assert b.total_connections == 2, \
        "the tunnel's backend connection was not pooled (%d connections)" \
        % b.total_connections
    assert h.error_level_lines() == [], \
        "a tunnel that ends normally logs no error (%r)" % h.error_level_lines()


def test_handshake_refused_by_server_is_ordinary_response(httpd_factory,
                                                          backend_factory):
    state = wsutil.EchoState()
    b = backend_factory(wsutil.make_echo_handler(state), name="ws-refuse")
    h = httpd_factory("RProxyPass /ws %s/\n" % b.url)
    s = client.connect(h.port, timeout=10)
    s.sendall(b"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
    r = client.read_response(s)
    s.close()
    assert r.status == 400 and b"Sec-WebSocket-Key" in r.body, \
        "a server refusing the handshake answers the client itself (%r)" % r
    assert state.opened == 0, "no tunnel was opened"
