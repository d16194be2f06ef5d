"""200 idle WebSocket tunnels stay open for 10 s while ordinary requests
through the same proxy keep being answered, each with its own (correct)
body; afterwards every one of the 200 tunnels still echoes a message and
closes with a close handshake.

In httpd 2.4.71 a tunnel keeps its worker thread while it is open (see
docs/internals/adapter.md, "Tunnels and threads"), so httpd is given 200
threads for the tunnels plus some for the ordinary requests: that is the
sizing docs/directives.md (RProxyUpgrade) asks of an administrator."""

import resource
import selectors
import threading
import time

import pytest

import backends
import client
import wsutil

TUNNELS = 200
SPARE_THREADS = 40
HOLD_S = 10
REQUEST_THREADS = 8
REQUESTS_PER_THREAD = 60  # a bound; the loop ends at HOLD_S anyway


def raise_nofile(want):
    """Soft RLIMIT_NOFILE up to `want` (httpd, started after, inherits it):
    this process holds 2 sockets per tunnel (client and backend ends)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        top = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ordinary_requests(port, worker, stop_at, results):
    """GETs on fresh connections until stop_at; each result is (path,
    status, target the backend saw) or (path, error)."""
    for i in range(REQUESTS_PER_THREAD):
        if time.monotonic() >= stop_at:
            break
        path = "/ws/plain/w%d/r%d" % (worker, i)
        try:
            r = client.get(port, path, timeout=10)
            target = r.json()["target"] if r.status == 200 else None
            results.append((path, r.status, target))
        except Exception as e:  # reported by the test, not swallowed
            results.append((path, repr(e)))
        time.sleep(0.05)


def echo_all(socks, readers, timeout=30):
    """Send one text message on every tunnel, then collect the echoes
    with a selector; return {index: payload or error text}."""
    for i, s in enumerate(socks):
        s.sendall(wsutil.encode_frame(wsutil.OP_TEXT, b"tunnel %d" % i))
    got = {}
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    deadline = time.monotonic() + timeout
    try:
        while len(got) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                i = key.data
                s = socks[i]
                s.setblocking(True)
                s.settimeout(5)
                try:
                    got[i] = readers[i].read_frame().payload
                except Exception as e:
                    got[i] = repr(e)
                sel.unregister(s)
    finally:
        sel.close()
    for s in socks:
        s.setblocking(True)
        s.settimeout(10)
    return got


@pytest.mark.timeout_s(150)
def test_200_idle_websockets_while_requests_are_served(httpd_factory,
                                                       backend_factory):
    nofile = raise_nofile(4096)
    assert nofile >= 4 * TUNNELS + 100, \
        "test setup: RLIMIT_NOFILE %d is too low for %d tunnels" % (
            nofile, TUNNELS)
    state = wsutil.EchoState()
    b = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(state, idle=120))],
        default=backends.echo_handler), name="ws-many")
    h = httpd_factory("RProxyPass /ws %s/\n" % b.url,
                      threads=TUNNELS + SPARE_THREADS)

    socks, readers = [], []
    try:
        for i in range(TUNNELS):
            s = client.connect(h.port, timeout=20)
            socks.append(s)
            status, _, head = wsutil.client_handshake(s, "/ws/chat")
            assert status == 101, "tunnel %d opens (%r)" % (i, head)
            readers.append(wsutil.FrameReader(s))
        assert b.open_connections == TUNNELS, \
            "every tunnel has its backend connection"

        results = []
        stop_at = time.monotonic() + HOLD_S
        workers = [threading.Thread(target=ordinary_requests,
                                    args=(h.port, w, stop_at, results),
                                    daemon=True)
                   for w in range(REQUEST_THREADS)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(HOLD_S + 60)
        assert not any(t.is_alive() for t in workers), \
            "the ordinary requests finished"
        while time.monotonic() < stop_at:  # hold the full time
            time.sleep(0.1)
        bad = [r for r in results if len(r) != 3 or r[1] != 200 or
               r[2] != r[0][len("/ws"):]]
        assert results and not bad, \
            "%d ordinary requests during the hold, all 200 with their own " \
            "body; failures: %r" % (len(results), bad[:5])

        got = echo_all(socks, readers)
        wrong = [i for i in range(TUNNELS) if got.get(i) != b"tunnel %d" % i]
        assert not wrong, "after %d s every tunnel still echoes; not: %r" % (
            HOLD_S, [(i, got.get(i)) for i in wrong[:5]])

        for i, s in enumerate(socks):
            s.sendall(wsutil.encode_frame(wsutil.OP_CLOSE,
                                          wsutil.close_payload(1000)))
        closed = 0
        for i, s in enumerate(socks):
            f = readers[i].read_frame()
            if f is not None and f.opcode == wsutil.OP_CLOSE and \
                    wsutil.recv_eof(s, 10)[0]:
                closed += 1
        assert closed == TUNNELS, \
            "every tunnel closes with a close handshake (%d)" % closed
    finally:
        for s in socks:
            s.close()
    assert state.wait_finished(TUNNELS, 20) == TUNNELS, \
        "the backend saw every tunnel end"
    assert len(state.closes) == TUNNELS and not state.errors, \
        "each through its close frame (%d, errors %r)" % (
            len(state.closes), state.errors[:3])
    deadline = time.monotonic() + 10
    while b.open_connections != b.idle_connections and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.open_connections == b.idle_connections, \
        "no tunnel's backend connection is left open: what remains are the " \
        "ordinary requests' pooled ones (%d open, %d idle)" % (
            b.open_connections, b.idle_connections)
    assert h.error_level_lines() == [], \
        "and nothing was logged as an error (%r)" % h.error_level_lines()[:5]
