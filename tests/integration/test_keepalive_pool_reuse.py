"""Backend connections are kept alive and pooled: sequential requests reuse
one backend connection; a pooled connection that the backend closed while
idle (FIN or RST) is detected, and the next GET still succeeds."""

import time

import pytest

import backends
import client

N = 6


def test_sequential_requests_reuse_one_connection(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    conn_ids = []
    for i in range(N):
        # a fresh client connection each time: reuse must come from the
        # proxy's pool, not from the client's keep-alive
        r = client.get(h.port, "/app/seq%d" % i)
        assert r.status == 200, "request %d answers 200 (%r)" % (i, r)
        conn_ids.append(r.json()["conn_id"])
    assert echo_backend.total_connections == 1, \
        "%d sequential requests used one backend connection (backend saw %d: %r)" % (
            N, echo_backend.total_connections, conn_ids)
    with client.Session(h.port) as s:
        for i in range(N):
            r = s.request("GET", "/app/ka%d" % i)
            assert r.status == 200, "keep-alive client request %d answers 200" % i
            body = backends.payload(20000 + i, seed=i)
            r = s.request("POST", "/app/post%d" % i, body=body)
            assert r.status == 200 and r.json()["body_sha256"] == backends.sha256(body), \
                "POST %d on a pooled connection delivers its body intact" % i
    assert echo_backend.total_connections == 1, \
        "requests with and without bodies keep using the one pooled connection (saw %d)" % (
            echo_backend.total_connections)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_idle_connection_closed_by_backend_is_detected(httpd_factory, echo_backend, how):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    for round_ in range(3):
        r = client.get(h.port, "/app/warm%d" % round_)
        assert r.status == 200, "round %d: warm-up GET answers 200 (%r)" % (round_, r)
        deadline = time.monotonic() + 3
        while echo_backend.idle_connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert echo_backend.idle_connections >= 1, \
            "round %d: the proxy kept its backend connection open after the response" % round_
        closed = echo_backend.close_idle_connections(rst=(how == "rst"))
        assert closed >= 1, "round %d: the backend closed the pooled connection" % round_
        n = echo_backend.wait_open_connections(0, timeout=3)
        assert n == 0, "round %d: backend side of the pooled connection is gone" % round_
        time.sleep(0.1)
        r = client.get(h.port, "/app/after-close%d" % round_)
        assert r.status == 200, \
            "round %d: GET after the backend closed the idle pooled connection (%s) succeeds (%r)" % (
                round_, how, r)
        assert r.json()["conn_index"] == 0, \
            "round %d: the GET went on a new backend connection" % round_


def test_backend_connection_close_is_not_reused(httpd_factory, backend_factory):
    """A response with 'Connection: close' ends that backend connection; the
    next request opens a new one and succeeds."""
    def handler(req, conn):
        req.drain()
        conn.send_response(200, [("Connection", "close"),
                                 ("Content-Type", "text/plain")], b"bye\n")
        conn.close_after = True
    b = backend_factory(handler)
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    for i in range(4):
        r = client.get(h.port, "/app/c%d" % i)
        assert r.status == 200 and r.body == b"bye\n", \
            "request %d after a 'Connection: close' response succeeds (%r)" % (i, r)
    assert b.total_connections == 4, \
        "each 'Connection: close' response ended its backend connection (saw %d)" % b.total_connections


def test_idle_pooled_connection_reaped(httpd_factory, echo_backend):
    """RProxyIdleTimeout 1: an idle pooled connection is closed by the
    per-process reaper, without any further request."""
    h = httpd_factory("RProxyIdleTimeout 1\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    r = client.get(h.port, "/app/once")
    assert r.status == 200, "GET answers 200 (%r)" % r
    time.sleep(0.3)
    assert echo_backend.open_connections == 1, \
        "the backend connection stays pooled right after the response"
    t0 = time.monotonic()
    n = echo_backend.wait_open_connections(0, timeout=6)
    assert n == 0, "the idle pooled connection is closed after RProxyIdleTimeout 1s (+ margin)"
    assert time.monotonic() - t0 >= 0.4, \
        "the pooled connection was not closed long before RProxyIdleTimeout"
    r = client.get(h.port, "/app/again")
    assert r.status == 200, "a GET after the reaper ran succeeds (%r)" % r
