"""RProxyIOTimeout ends an idle tunnel: when nothing moves either way for
that long, the proxy closes both connections (the client sees the end of
its connection, cleanly on https, and the backend sees EOF), and the
backend connection is not pooled. Traffic in either direction restarts the
wait: a tunnel busy at shorter intervals outlives the timeout."""

import time

import pytest

import backends
import wsutil
from pki import make_pki

IO_TIMEOUT_S = 3
GAP_S = 1  # well below the timeout: a tunnel used this often stays open
END_BOUND_S = 20  # the tunnel must have ended long before this


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


@pytest.mark.parametrize("front", ["plain", "https"])
def test_idle_tunnel_closed_after_io_timeout(httpd_factory, backend_factory,
                                             pki, front):
    state = wsutil.EchoState()
    b = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(state, idle=60))],
        default=backends.echo_handler), name="ws-idle")
    pre = wsutil.tls_front_snippet(pki) if front == "https" else ""
    h = httpd_factory(pre + "RProxyIOTimeout %d\nRProxyPass /ws %s/\n"
                      % (IO_TIMEOUT_S, b.url))
    s = wsutil.open_front(h, front, pki)
    status, _, head = wsutil.client_handshake(s, "/ws/chat")
    assert status == 101, "the tunnel opens (%r)" % head
    rd = wsutil.FrameReader(s)
    assert "ESTABLISHED" in wsutil.tcp_states_towards(b.port, h.child_pids()), \
        "the proxy's backend socket is seen while the tunnel is open"

    t_open = time.monotonic()
    for i in range(2 * IO_TIMEOUT_S // GAP_S + 1):
        time.sleep(GAP_S)
        s.sendall(wsutil.encode_frame(wsutil.OP_TEXT, b"tick %d" % i))
        f = rd.read_frame()
        assert f is not None and f.payload == b"tick %d" % i, \
            "a tunnel used every %d s outlives RProxyIOTimeout %d " \
            "(message %d, %.1f s after opening)" % (
                GAP_S, IO_TIMEOUT_S, i, time.monotonic() - t_open)

    got_eof, extra = wsutil.recv_eof(s, END_BOUND_S)
    s.close()
    assert got_eof and extra == 0, \
        "once idle for RProxyIOTimeout the client's connection ends"
    assert state.wait_finished(1, 10) == 1, "the backend's side ended"
    assert state.eofs == 1 and state.closes == [], \
        "the backend saw its connection closed by the proxy (EOF), not a " \
        "close frame and not its own idle limit (60 s)"
    states = wsutil.wait_no_close_wait(b.port, 5, h.child_pids())
    assert "CLOSE_WAIT" not in states, \
        "the proxy's side of the backend connection is closed (%r)" % states
    r = wsutil.front_get(h, front, pki, "/ws/after")
    assert r.status == 200, "ordinary requests work after the timeout"
    assert b.total_connections == 2, \
        "the timed-out tunnel's backend connection was not pooled"
