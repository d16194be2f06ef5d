"""Clients that disconnect mid-download are a normal event: 50 clients start
a large download and close after reading a part.  Afterwards normal requests
still succeed, the error log has no error-level line, the child did not
crash, and once RProxyIdleTimeout (2s here) has passed the backend sees no
connection from the proxy left open."""

import re
import threading
import time

import pytest

import backends
import client

CLIENTS = 50
SIZE = 50 * 1024 * 1024
READ_BEFORE_CLOSE = 256 * 1024
IDLE = 2.0


def _abort_one(port, target, results, i, rst):
    try:
        results[i] = client.read_then_close(port, target, READ_BEFORE_CLOSE,
                                            rst)
    except OSError as e:
        results[i] = e


@pytest.mark.timeout_s(120)
def test_client_aborts_no_leak(httpd_factory, backend_factory):
    data = backends.payload(SIZE)
    b = backend_factory(backends.route([
        ("/cl", backends.make_download_handler(data)),
        ("/chunked", backends.make_download_handler(data, chunked=True)),
    ], default=backends.echo_handler), name="abort")
    h = httpd_factory("RProxyIdleTimeout 2\nRProxyIOTimeout 10\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/warmup")
    assert r.status == 200, "warm-up request answers 200 (%r)" % r
    kids = h.child_pids()
    h.mark_logs()

    results = [None] * CLIENTS
    threads = []
    for i in range(CLIENTS):
        target = "/app/cl" if i % 2 == 0 else "/app/chunked"
        t = threading.Thread(target=_abort_one,
                             args=(h.port, target, results, i, i % 4 == 3),
                             daemon=True)
        threads.append(t)
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "all 50 aborting clients finished in time"
    started = [x for x in results if isinstance(x, int) and x > 0]
    assert len(started) == CLIENTS, \
        "all 50 clients received part of their download before closing (%r)" % [
            x for x in results if not (isinstance(x, int) and x > 0)][:5]

    for i in range(10):
        r = client.get(h.port, "/app/after%d" % i)
        assert r.status == 200 and r.complete, \
            "normal request %d after the aborts succeeds (%r)" % (i, r)
    body = backends.payload(300000, seed=9)
    r = client.request(h.port, "POST", "/app/post-after", body=body)
    assert r.status == 200 and r.json()["body_sha256"] == backends.sha256(body), \
        "a POST after the aborts delivers its body intact"
    assert h.child_pids() == kids, \
        "the httpd child survived the aborts (before %r, after %r)" % (kids, h.child_pids())

    # Pooled connections are reaped after RProxyIdleTimeout; aborted
    # exchanges must have closed theirs already.
    n = b.wait_open_connections(0, timeout=IDLE + 6)
    assert n == 0, \
        "after RProxyIdleTimeout %ss + margin the backend sees no open connection from the proxy (%d open)" % (
            IDLE, n)
    log = h.error_log_since_mark()
    errs = h.error_level_lines(log)
    assert not errs, "client aborts leave no error-level line in the error log:\n%s" % "\n".join(errs[:20])
    loud = [l for l in log.splitlines()
            if re.search(r"\[rproxy:(info|notice|warn)\]", l)]
    assert not loud, "client aborts are logged at debug level only:\n%s" % "\n".join(loud[:20])


def test_short_rest_after_abort_keeps_backend_connection(httpd_factory,
                                                         backend_factory):
    """A client that leaves 100 KiB into a 600 KiB download does not cost
    the backend connection: the proxy reads the rest (it is at most 1 MiB
    and comes at once) and the next request goes over the same connection.
    100 KiB into an 8 MiB download the rest is too long to read for
    nobody: that connection is closed and the next request opens one."""
    short = backends.payload(600 * 1024, seed=5)
    long_ = backends.payload(8 * 1024 * 1024, seed=6)
    b = backend_factory(backends.route([
        ("/short", backends.make_download_handler(short)),
        ("/long", backends.make_download_handler(long_)),
    ], default=backends.echo_handler), name="rest")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/warmup")
    assert r.status == 200, "warm-up request answers 200 (%r)" % r
    h.mark_logs()

    for target, size, conns in (("/app/short", "600 KiB", 1),
                                ("/app/long", "8 MiB", 2)):
        got = client.read_then_close(h.port, target, 100 * 1024)
        assert got >= 100 * 1024, "test setup: %d bytes before closing" % got
        time.sleep(0.3)
        r = client.get(h.port, "/app/next")
        assert r.status == 200 and r.complete, \
            "a request after the abort (%r)" % r
        assert b.total_connections == conns, (
            "after a client left 100 KiB into %s, the next request %s "
            "(backend connections: %d)" % (
                size, "used the same backend connection" if conns == 1
                else "opened a new one", b.total_connections))
    errs = h.error_level_lines(h.error_log_since_mark())
    assert not errs, "no error-level line:\n%s" % "\n".join(errs[:20])


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_slow_rest_after_abort_drained_in_background(httpd_factory,
                                                     backend_factory, framing):
    """The rest comes in pieces 0.5 s and 0.3 s apart, after the client
    left: the request's thread does not wait for it (50 ms), a background
    thread of the child reads it (up to 1 s more) and the connection is
    kept for the next request. The last piece comes 0.8 s after the first,
    within the second whenever the proxy notices the client's RST (at once,
    or at its next write after 0.5 s). A chunked body is decoded to its
    last chunk and trailer section the same way."""
    data = backends.payload(600 * 1024, seed=8)
    slow = backends.make_paced_rest_handler(
        data, (0, 200 * 1024, 300 * 1024, len(data)), (0, 0.5, 0.3),
        chunked=framing == "chunked")
    b = backend_factory(backends.route([("/slow", slow)],
                                       default=backends.echo_handler),
                        name="slow-rest")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    h.mark_logs()
    got = client.read_then_close(h.port, "/app/slow", 100 * 1024, rst=True)
    assert got >= 100 * 1024, "test setup: %d bytes before closing" % got
    deadline = time.monotonic() + 10
    while b.idle_connections < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the background thread polls every 20 ms
    r = client.get(h.port, "/app/next")
    assert r.status == 200 and r.complete, "a request after the abort (%r)" % r
    assert b.total_connections == 1, \
        "the rest was read in the background and the connection kept " \
        "(backend connections: %d)" % b.total_connections
    errs = h.error_level_lines(h.error_log_since_mark())
    assert not errs, "no error-level line:\n%s" % "\n".join(errs[:20])
