"""A backend that restarts, or whose port refuses connections for a while
and then accepts them, costs no request once it is back: the first request
after the backend returns succeeds, whatever its method, even when the
child's idle list still holds connections to the old backend process (closed
by it with FIN, or reset), and whether those were used a moment ago (reused
without a poll for a GET) or long ago."""

import socket
import struct
import threading
import time

import pytest

import backends
import client

POOLED = 6  # connections in the idle list when the backend goes away


def _slow_echo(req, conn):
    time.sleep(0.3)  # concurrent requests need their own connections
    backends.echo_handler(req, conn)


def _fill_pool(h, b):
    """POOLED concurrent requests: the child keeps POOLED idle connections."""
    results = [None] * POOLED

    def one(i):
        results[i] = client.get(h.port, "/app/fill%d" % i).status
    threads = [threading.Thread(target=one, args=(i,)) for i in range(POOLED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [200] * POOLED, "the pool-filling requests answer 200 (%r)" % results
    deadline = time.monotonic() + 5
    while b.idle_connections < POOLED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert b.idle_connections == POOLED, \
        "test setup: %d backend connections idle in the pool (%d)" % (
            POOLED, b.idle_connections)


def _kill(b, how):
    """The backend process goes away: its connections end with FIN, or with
    RST (how == "rst"); its port then refuses connections."""
    if how == "rst":
        with b.lock:
            conns = list(b.conns.values())
        for c in conns:
            # SO_LINGER 0, then wake the serving thread: its close is a RST
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
            c.sock.shutdown(socket.SHUT_RD)
        assert b.wait_open_connections(0, 5) == 0, "test setup: connections reset"
    b.stop()


def _request(h, method, i):
    body = backends.payload(1000, seed=i) if method != "GET" else None
    r = client.request(h.port, method, "/app/%s-%d" % (method.lower(), i),
                       body=body)
    if r.status == 200 and body is not None:
        assert r.json()["body_sha256"] == backends.sha256(body), \
            "the %s body arrived intact" % method
    return r


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("down", [0.0, 1.5], ids=["restart", "down-1.5s"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_first_request_after_backend_restart_succeeds(
        httpd_factory, method, down, how):
    b = backends.Backend(_slow_echo, name="old").start()
    port = b.port
    new = None
    try:
        h = httpd_factory("RProxyConnectRetries 0\n"
                          "RProxyPass /app %s/\n" % b.url)
        _fill_pool(h, b)
        _kill(b, how)
        if down:
            r = _request(h, method, 0)
            assert r.status == 502, \
                "while nothing listens on the port the answer is 502 (%r)" % r
            time.sleep(down)
        new = backends.Backend(backends.echo_handler, name="new",
                               port=port).start()
        r = _request(h, method, 1)
        assert r.status == 200, \
            "the first %s after the backend is back (%s, down %.1fs) succeeds (%r)" % (
                method, how, down, r)
        for i in range(2, 2 + POOLED):
            r = _request(h, method, i)
            assert r.status == 200, \
                "%s %d after the restart succeeds too (%r)" % (method, i, r)
        assert new.total_connections >= 1, "the new backend process answered"
    finally:
        b.stop()
        if new is not None:
            new.stop()


def test_refused_port_then_accepting_first_request_succeeds(httpd_factory):
    dead, port = backends.bound_unlistened_port()
    new = None
    try:
        h = httpd_factory("RProxyPass /app http://127.0.0.1:%d/\n" % port)
        for i in range(3):
            r = client.get(h.port, "/app/refused%d" % i)
            assert r.status == 502, "a port that refuses connections is 502 (%r)" % r
        dead.close()
        new = backends.Backend(backends.echo_handler, name="late",
                               port=port).start()
        r = client.get(h.port, "/app/first")
        assert r.status == 200, \
            "the first request after the port accepts succeeds (%r)" % r
        r = client.request(h.port, "POST", "/app/post", body=b"x" * 100)
        assert r.status == 200, "and so does a POST (%r)" % r
    finally:
        dead.close()
        if new is not None:
            new.stop()
